//! Ctrl-C and SIGTERM wait while a grant is in flight.
//!
//! From the moment a token request (a code or a refresh token, each single-use) is sent
//! until its answer is kept on disk, an interrupt would throw away the only copy of new
//! tokens that TikTok has already paid out: the seller would have to sign in again. So
//! while a `Hold` is alive SIGINT and SIGTERM are held: the first says so on stderr in one
//! line and the run finishes the exchange and the save (bounded by the request timeout),
//! then stops as asked (`check`: exit 130 or 143); a second one abandons it at once, which
//! the first line warned spends the grant. With no hold alive both keep their default
//! action: the process dies at once, as it always did, and nothing is spent.
//!
//! std has no signal API and the crate forbids `unsafe`, so this sits on `signal-hook`'s
//! safe registrations: `conditional_default` (the default action while no hold is alive),
//! `conditional_shutdown` (the second signal), two flags, and a self-pipe whose reader
//! thread prints the line (nothing else may print from inside a signal handler). Unix
//! only: on Windows a Ctrl-C still ends the run at once.

use crate::error::Error;

#[cfg(unix)]
mod imp {
    use std::io::Read;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Mutex, Once, PoisonError};

    use signal_hook::consts::{SIGINT, SIGTERM};
    use signal_hook::{flag, low_level};

    /// No hold is alive: a signal takes its default action.
    static OUTSIDE: AtomicBool = AtomicBool::new(true);
    /// A first signal came while held: the next one abandons the exchange.
    static ARMED: AtomicBool = AtomicBool::new(false);
    /// The signal that came while held (0: none).
    static SEEN: AtomicUsize = AtomicUsize::new(0);
    /// How many holds are alive (`refresh FILE...` spends on several threads).
    static HOLDS: Mutex<usize> = Mutex::new(0);
    static INSTALL: Once = Once::new();

    /// Registers the handlers once a process, the first time a grant is about to be spent
    /// (a failure to register leaves the default actions: the run goes on, unheld).
    fn install() {
        INSTALL.call_once(|| {
            // The line is printed by a thread that wakes on the self-pipe; without a pipe
            // (no sockets left, say) the hold still works, only silently.
            let pipe = UnixStream::pair().ok().and_then(|(mut reader, writer)| {
                let spawned = std::thread::Builder::new().name("interrupts".into()).spawn(move || {
                    let mut byte = [0u8; 1];
                    let mut said = false;
                    while matches!(reader.read(&mut byte), Ok(1)) {
                        if !said {
                            said = true;
                            noteln!(
                                "\ntiktok-shop-auth: interrupted: finishing the token request first, so that its answer is \
                                 saved (the code or refresh token is spent once the request is sent); \
                                 interrupt again to abandon it and lose that answer"
                            );
                        }
                    }
                });
                spawned.ok().map(|_| writer)
            });
            for (signal, status) in [(SIGINT, 130), (SIGTERM, 143)] {
                // Order matters: each action runs in the order it was registered.
                let _ = flag::register_conditional_default(signal, &OUTSIDE);
                let _ = flag::register_conditional_shutdown(signal, status, &ARMED);
                let _ = flag::register_usize(signal, &SEEN, signal as usize);
                let _ = flag::register(signal, &ARMED);
                if let Some(writer) = pipe.as_ref().and_then(|w| w.try_clone().ok()) {
                    let _ = low_level::pipe::register(signal, writer);
                }
            }
        });
    }

    pub fn begin() -> Option<i32> {
        install();
        let mut holds = HOLDS.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(signal) = received() {
            return Some(signal);
        }
        *holds += 1;
        OUTSIDE.store(false, Ordering::SeqCst);
        None
    }

    pub fn end() {
        let mut holds = HOLDS.lock().unwrap_or_else(PoisonError::into_inner);
        *holds = holds.saturating_sub(1);
        if *holds == 0 {
            OUTSIDE.store(true, Ordering::SeqCst);
        }
    }

    pub fn received() -> Option<i32> {
        match SEEN.load(Ordering::SeqCst) {
            0 => None,
            signal => Some(signal as i32),
        }
    }

    pub fn name(signal: i32) -> &'static str {
        if signal == SIGTERM { "SIGTERM" } else { "SIGINT" }
    }
}

#[cfg(not(unix))]
mod imp {
    pub fn begin() -> Option<i32> {
        None
    }
    pub fn end() {}
    pub fn received() -> Option<i32> {
        None
    }
    pub fn name(_: i32) -> &'static str {
        "an interrupt"
    }
}

/// While alive, SIGINT and SIGTERM wait (see the module doc).
pub struct Hold(());

/// Holds interrupts from now on; an interrupt already held (another file of a fleet was in
/// flight) means this run was asked to stop: nothing more is sent.
pub fn hold() -> Result<Hold, Error> {
    match imp::begin() {
        Some(signal) => Err(interrupted(signal, "before its request was sent, so nothing was spent")),
        None => Ok(Hold(())),
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        imp::end();
    }
}

/// After a hold: an interrupt that came during it stops the run now, saying what was done.
pub fn check(done: &str) -> Result<(), Error> {
    match imp::received() {
        Some(signal) => Err(interrupted(signal, done)),
        None => Ok(()),
    }
}

/// The exit status an interrupt held during the run asks for (130, 143), and its name.
pub fn exit_status() -> Option<(u8, &'static str)> {
    imp::received().map(|signal| ((128 + signal) as u8, imp::name(signal)))
}

fn interrupted(signal: i32, done: &str) -> Error {
    Error::Interrupted { status: (128 + signal) as u8, message: format!("stopped by {} {done}", imp::name(signal)) }
}
