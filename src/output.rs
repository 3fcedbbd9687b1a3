//! The only way the tool writes to stdout and stderr.
//!
//! `println!` panics when its reader has gone (`tiktok-shop-auth token | head -c0`), and
//! with `panic = "abort"` that is a SIGABRT in the middle of whatever was under way. Here a
//! closed stdout means "the reader left": nothing more is written to it, nothing panics,
//! any token-file write that was due still completes, and the exit status stays the
//! command's own (0 on success, as ripgrep does). Any other stdout error (a full disk
//! behind `> file`) is kept and reported at the end, exit 1.
//!
//! Everything written to stderr passes through `secret::scrub` (no secret the process
//! knows is ever printed there) and loses the terminal control characters that text from
//! outside could smuggle in (ESC, BEL, C1 controls): only `\n`, `\r` (the countdown) and
//! `\t` survive. The crate denies `print!`/`eprint!` so nothing can go around this module.

use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Error;

static READER_GONE: AtomicBool = AtomicBool::new(false);
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);

/// Writes to stdout; see the module doc for what a failure does.
pub fn stdout(args: fmt::Arguments) {
    write_stdout(|out| out.write_fmt(args));
}

/// Writes raw bytes to stdout (an answer as received).
pub fn stdout_bytes(bytes: &[u8]) {
    write_stdout(|out| out.write_all(bytes));
}

/// True once stdout's reader has gone: long outputs (pagination) stop early.
pub fn reader_gone() -> bool {
    READER_GONE.load(Ordering::Relaxed)
}

fn write_stdout(write: impl FnOnce(&mut io::StdoutLock<'static>) -> io::Result<()>) {
    if READER_GONE.load(Ordering::Relaxed) {
        return;
    }
    let mut out = io::stdout().lock();
    if let Err(e) = write(&mut out).and_then(|()| out.flush()) {
        READER_GONE.store(true, Ordering::Relaxed);
        if e.kind() != io::ErrorKind::BrokenPipe
            && let Ok(mut slot) = STDOUT_ERROR.lock()
        {
            slot.get_or_insert(e.to_string());
        }
    }
}

/// Writes to stderr, scrubbed of secrets and terminal controls; errors are ignored (there
/// is nowhere left to report them).
pub fn stderr(args: fmt::Arguments) {
    let text = terminal_safe(&crate::secret::scrub(&args.to_string()));
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// An stdout error other than a closed pipe, for `main` to report (exit 1).
pub fn finish() -> Result<(), Error> {
    match STDOUT_ERROR.lock().ok().and_then(|mut e| e.take()) {
        Some(e) => Err(Error::Local(format!("failed to write to stdout: {e}"))),
        None => Ok(()),
    }
}

/// Drops every control character but newline, carriage return and tab.
fn terminal_safe(text: &str) -> String {
    text.chars().filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')).collect()
}

/// `print!` through `output::stdout`.
macro_rules! out {
    ($($arg:tt)*) => { $crate::output::stdout(format_args!($($arg)*)) };
}

/// `println!` through `output::stdout`.
macro_rules! outln {
    () => { $crate::output::stdout(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` through `output::stderr`.
macro_rules! note {
    ($($arg:tt)*) => { $crate::output::stderr(format_args!($($arg)*)) };
}

/// `eprintln!` through `output::stderr`.
macro_rules! noteln {
    () => { $crate::output::stderr(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*))) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_controls_are_dropped_but_layout_kept() {
        assert_eq!(terminal_safe("a\x1b]0;pwned\x07b\x1b[2Jc\u{9b}d\n\r\te"), "a]0;pwnedb[2Jcd\n\r\te");
    }
}
