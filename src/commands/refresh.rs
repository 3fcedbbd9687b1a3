//! `refresh`: new tokens from the saved refresh token, made for cron.
//!
//! Never interactive, quiet when asked. The order (lock, read again under the lock, check
//! room, spend, save) is not this file's to keep: `token_file`'s types only allow it, so
//! overlapping runs cannot both spend the same rotating refresh token and a full disk
//! cannot cost one. `session::renew` is that locked path, shared with every command that
//! refreshes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cli::{Args, Files, TokenOptions};
use crate::config::App;
use crate::error::Error;
use crate::secret::clean;
use crate::session::{self, LOCK_WAIT};
use crate::store::{Home, HomeId, Location};
use crate::token_api::Auth;
use crate::token_response::TokenResponse;
use crate::{expiry, http, interrupt};

pub use crate::flags::JOBS_AT_ONCE as JOBS;
const MAX_JOBS: usize = 64;

pub struct Options {
    pub app: App,
    /// The token location, or with `refresh FILE...` the files given, each on its own.
    pub tokens: TokenOptions,
    pub jobs: usize,
    pub auth_base: String,
    pub if_expiring_within: Option<i64>,
    pub quiet: bool,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let quiet = args.flag("--quiet");
    let jobs = args.number("--jobs", 1..=MAX_JOBS as i64)?.unwrap_or(JOBS);
    let if_expiring_within = args.duration("--if-expiring-within")?;
    let auth_base = args.auth_base()?;
    let tokens = args.token_options(Some(LOCK_WAIT), Files::Many)?;
    let app = tokens.app()?;
    Ok(Options { app, tokens, jobs, auth_base, if_expiring_within, quiet })
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth refresh: new tokens from the saved refresh token

USAGE:
    tiktok-shop-auth refresh [OPTIONS]
    tiktok-shop-auth refresh [OPTIONS] FILE...      (many sellers: tokens/*.json)

Never interactive, never opens a browser: made for cron and systemd timers. Takes an
exclusive lock (<token file>.lock) for the whole read, request and write, reads the file
again once it holds the lock (so overlapping runs each use the newest refresh token), calls
GET /api/v2/token/refresh and replaces the file atomically with the whole new response.
A failure leaves the file exactly as it was. Tokens count as expired {skew} s before their
stated expiry, to allow for clock skew. From {due} before the refresh token itself ends, a
warning on stderr (even with --quiet, so cron mails it) says a new login is due.

{options_refresh}
With FILE..., each file is refreshed under its own lock, one failure never stopping the
others; one line per file (path, seller, outcome, new expiry), problems on stderr, then a
tally. A file given twice (or through a link) is refreshed once. --token-file is a usage
error beside FILE..., and TIKTOK_SHOP_TOKEN_FILE is not used then.

EXIT STATUS:
    0 refreshed or still valid   1 failed (network, TikTok error, unreadable or corrupt file, lock)
    2 usage error   5 a new login is needed (no file, refresh token rejected or expired)
    With FILE...: 5 if any file needs a new login, else 1 if any failed, else 0
",
        options_refresh = crate::flags::options("refresh"),
        skew = expiry::SKEW_MARGIN,
        due = expiry::describe_span(expiry::LOGIN_DUE_WARNING as u64),
    )
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let agent = http::agent()?;
    if !opts.tokens.files.is_empty() {
        return fleet(opts, &agent);
    }
    let location = &opts.tokens.location;
    let outcome = refresh_file(location, opts, &agent)?;
    if !opts.quiet {
        match outcome.refreshed {
            true => {
                outln!("refreshed: access token expires {}", expiry::describe(outcome.access_expires_at, outcome.now))
            }
            false => outln!(
                "still valid: access token expires {}; not refreshed",
                expiry::describe(outcome.access_expires_at, outcome.now)
            ),
        }
    }
    warn_if_ending(&location.shown(), outcome.refresh_expires_at, outcome.now);
    Ok(())
}

/// What a refresh of one file came to.
struct Outcome {
    refreshed: bool,
    seller: String,
    access_expires_at: i64,
    refresh_expires_at: i64,
    now: i64,
}

/// One seller: lock, read again, refresh unless still valid for longer than asked.
fn refresh_file(location: &Location, opts: &Options, agent: &ureq::Agent) -> Result<Outcome, Error> {
    // A fleet interrupted while other files were in flight begins no more.
    interrupt::check("before this file was begun, so nothing was spent")?;
    let home = Home::open(location)?;
    // A fleet in a store shared by many machines does not wait for a seller another run
    // holds: that run is refreshing it.
    let shared_fleet = !opts.tokens.files.is_empty() && matches!(location, Location::Etcd(_));
    // There, a read first (no write): a seller another run holds is left without touching
    // its lock.
    if shared_fleet && home.locked_elsewhere() {
        return Err(Error::Busy("locked by another run, which is refreshing it".into()));
    }
    // Still fresh, as a read sees it, with nothing an earlier run kept to install: done, with
    // no lock (a cron line every few minutes then writes nothing, and works in a directory
    // it cannot write to while there is nothing to do).
    if let (Some(saved), Some(within)) = (home.peek(), opts.if_expiring_within) {
        let now = expiry::now();
        if expiry::remaining(saved.access_expires(), now) > within && home.nothing_kept() {
            return Ok(Outcome {
                refreshed: false,
                seller: clean(saved.seller().unwrap_or("-")),
                access_expires_at: saved.access_expires(),
                refresh_expires_at: saved.refresh_expires(),
                now,
            });
        }
    }
    let guard = match home.lock(if shared_fleet { std::time::Duration::ZERO } else { opts.tokens.lock_wait }) {
        Err(Error::Busy(_)) if shared_fleet => {
            return Err(Error::Busy("locked by another run, which is refreshing it".into()));
        }
        other => other?,
    };
    let saved = guard.read()?;
    let now = expiry::now();
    let outcome = |refreshed: bool, r: &TokenResponse| Outcome {
        refreshed,
        seller: clean(r.seller().unwrap_or("-")),
        access_expires_at: r.access_expires(),
        refresh_expires_at: r.refresh_expires(),
        now,
    };
    if let Some(within) = opts.if_expiring_within
        && expiry::remaining(saved.access_expires(), now) > within
    {
        return Ok(outcome(false, &saved));
    }
    let answer = session::renew(&guard, &Auth { agent, base: &opts.auth_base, app: &opts.app })?;
    Ok(outcome(true, &answer))
}

/// The fleet's results not yet printed, and the index of the next line to print.
struct Pending {
    printed: usize,
    results: Vec<Option<Result<Outcome, Error>>>,
}

/// What one file of a fleet came to, for the tally.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tally {
    Refreshed,
    StillValid,
    /// Not begun: an interrupt came while other files were in flight.
    Stopped,
    /// Another run (another machine of a shared fleet) held it: that run refreshes it.
    Locked,
    NeedsLogin,
    Failed,
}

/// The files to refresh: each distinct file once, whatever names it is given by (the same
/// name twice, a link and its target); a repeat is said on stderr and left out.
fn distinct(files: &[Location]) -> Vec<Location> {
    // A list, not a map: a scan of even a few thousand ids is quick, and a map type costs
    // kilobytes of code.
    let mut seen: Vec<(HomeId, &Location)> = Vec::new();
    let mut out = Vec::new();
    for location in files {
        match Home::open(location).map(|h| h.id()) {
            Ok(id) => match seen.iter().find(|(seen, _)| *seen == id).map(|(_, first)| first) {
                Some(first) => noteln!(
                    "tiktok-shop-auth: `{}` is the same file as `{}`: refreshed once",
                    location.shown(),
                    first.shown()
                ),
                None => {
                    seen.push((id, location));
                    out.push(location.clone());
                }
            },
            // Reported as that file's failure, in its place.
            Err(_) => out.push(location.clone()),
        }
    }
    out
}

/// `refresh FILE...`: up to `--jobs` files at once on std threads sharing one agent (and
/// so its connections), each under its own lock; a failure never stops the others. Lines
/// come out in argument order, each as soon as it and all before it are done.
fn fleet(opts: &Options, agent: &ureq::Agent) -> Result<(), Error> {
    let files = &distinct(&opts.tokens.files);
    let next = AtomicUsize::new(0);
    let pending = Mutex::new(Pending { printed: 0, results: files.iter().map(|_| None).collect() });
    let tally = Mutex::new(Vec::with_capacity(files.len()));
    std::thread::scope(|scope| {
        for _ in 0..opts.jobs.min(files.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(path) = files.get(i) else { break };
                    let result = refresh_file(path, opts, agent);
                    let Ok(mut guard) = pending.lock() else { break };
                    let Pending { printed, results } = &mut *guard;
                    results[i] = Some(result);
                    while let Some(Some(result)) = results.get_mut(*printed).map(Option::take) {
                        let kind = report(&files[*printed], &result, opts.quiet);
                        if let Ok(mut t) = tally.lock() {
                            t.push(kind);
                        }
                        *printed += 1;
                    }
                }
            });
        }
    });
    let tally = tally.into_inner().unwrap_or_default();
    let count = |kind: Tally| tally.iter().filter(|t| **t == kind).count();
    let (login, failed) = (count(Tally::NeedsLogin), count(Tally::Failed));
    let stopped = match (count(Tally::Stopped), count(Tally::Locked)) {
        (0, 0) => String::new(),
        (0, locked) => format!(", {locked} locked by another run"),
        (n, 0) => format!(", {n} not begun (stopped)"),
        (n, locked) => format!(", {locked} locked by another run, {n} not begun (stopped)"),
    };
    let summary = format!(
        "{} token files: {} refreshed, {} still valid, {login} need a new login, {failed} failed{stopped}",
        files.len(),
        count(Tally::Refreshed),
        count(Tally::StillValid)
    );
    if !opts.quiet {
        outln!("{summary}");
    }
    match (login, failed) {
        (0, 0) => Ok(()),
        (0, _) => Err(Error::Local(summary)),
        _ => Err(Error::NeedLogin(format!("{summary}: run `tiktok-shop-auth login --token-file FILE` for each"))),
    }
}

/// One line for one file (problems on stderr); returns what it counts as.
fn report(location: &Location, result: &Result<Outcome, Error>, quiet: bool) -> Tally {
    let shown = location.shown();
    match result {
        Ok(o) => {
            if !quiet {
                let what = if o.refreshed { "refreshed" } else { "still valid, not refreshed" };
                outln!(
                    "{shown}: {}: {what}: access token expires {}",
                    o.seller,
                    expiry::describe(o.access_expires_at, o.now)
                );
            }
            warn_if_ending(&shown, o.refresh_expires_at, o.now);
            if o.refreshed { Tally::Refreshed } else { Tally::StillValid }
        }
        Err(e @ Error::NeedLogin(_)) => {
            noteln!("{shown}: needs a new login: {e}");
            Tally::NeedsLogin
        }
        Err(e @ Error::Interrupted { .. }) => {
            noteln!("{shown}: not refreshed: {e}");
            Tally::Stopped
        }
        Err(Error::Busy(why)) if why.starts_with("locked by another run") => {
            if !quiet {
                outln!("{shown}: {why}");
            }
            Tally::Locked
        }
        Err(e) => {
            noteln!("{shown}: failed: {e}");
            Tally::Failed
        }
    }
}

/// A refresh token cannot be refreshed: once it ends, only a new login helps. Say so on
/// stderr (which cron mails, even with --quiet) a week ahead, while everything still works.
fn warn_if_ending(shown: &str, refresh_expires_at: i64, now: i64) {
    if refresh_expires_at - now < expiry::LOGIN_DUE_WARNING {
        noteln!(
            "tiktok-shop-auth: warning: the refresh token in `{}` ends {}; run `{}` before then",
            crate::error::for_people(shown),
            expiry::describe(refresh_expires_at, now),
            crate::error::fix("login", shown)
        );
    }
}
