//! `refresh`: new tokens from the saved refresh token, made for cron.
//!
//! Never interactive, quiet when asked. The order (lock, read again under the lock, check
//! room, spend, save) is not this file's to keep: `token_file`'s types only allow it, so
//! overlapping runs cannot both spend the same rotating refresh token and a full disk
//! cannot cost one. `renew` is that locked path, shared with every command that refreshes.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::cli::RefreshOptions;
use crate::config::App;
use crate::error::Error;
use crate::expiry;
use crate::secret::clean;
use crate::tiktok::{self, Auth};
use crate::token_file::{FileId, TokenFile, Tokens, shown};

pub fn refresh(opts: &RefreshOptions) -> Result<(), Error> {
    let agent = tiktok::agent()?;
    if !opts.files.is_empty() {
        return fleet(opts, &agent);
    }
    let outcome = refresh_file(&opts.token_file, opts, &agent)?;
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
    warn_if_ending(&opts.token_file, outcome.refresh_expires_at, outcome.now);
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

/// One file: lock, read again, refresh unless still valid for longer than asked.
fn refresh_file(path: &Path, opts: &RefreshOptions, agent: &ureq::Agent) -> Result<Outcome, Error> {
    let file = TokenFile::new(path)?;
    let guard = file.lock(opts.lock_wait)?;
    let (value, tokens) = guard.read()?;
    let now = expiry::now();
    let seller = |v: &serde_json::Value| clean(v.pointer("/data/seller_name").and_then(|s| s.as_str()).unwrap_or("-"));
    if let Some(within) = opts.if_expiring_within
        && expiry::remaining(tokens.access_expires_at, now) > within
    {
        return Ok(Outcome {
            refreshed: false,
            seller: seller(&value),
            access_expires_at: tokens.access_expires_at,
            refresh_expires_at: tokens.refresh_expires_at,
            now,
        });
    }
    let answer = guard.renew(&Auth { agent, base: &opts.auth_base, app: &opts.app })?;
    Ok(Outcome {
        refreshed: true,
        seller: seller(&answer.json),
        access_expires_at: answer.tokens.access_expires_at,
        refresh_expires_at: answer.tokens.refresh_expires_at,
        now,
    })
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
    NeedsLogin,
    Failed,
}

/// The files to refresh: each distinct file once, whatever names it is given by (the same
/// name twice, a link and its target); a repeat is said on stderr and left out.
fn distinct(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut seen: HashMap<FileId, &Path> = HashMap::new();
    let mut out = Vec::new();
    for path in files {
        match TokenFile::new(path).map(|f| f.id()) {
            Ok(id) => match seen.get(&id) {
                Some(first) => noteln!(
                    "tiktok-shop-auth: `{}` is the same file as `{}`: refreshed once",
                    shown(path),
                    shown(first)
                ),
                None => {
                    seen.insert(id, path);
                    out.push(path.clone());
                }
            },
            // Reported as that file's failure, in its place.
            Err(_) => out.push(path.clone()),
        }
    }
    out
}

/// `refresh FILE...`: up to `--jobs` files at once on std threads sharing one agent (and
/// so its connections), each under its own lock; a failure never stops the others. Lines
/// come out in argument order, each as soon as it and all before it are done.
fn fleet(opts: &RefreshOptions, agent: &ureq::Agent) -> Result<(), Error> {
    let files = &distinct(&opts.files);
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
    let summary = format!(
        "{} token files: {} refreshed, {} still valid, {login} need a new login, {failed} failed",
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
fn report(path: &Path, result: &Result<Outcome, Error>, quiet: bool) -> Tally {
    let shown = shown(path);
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
            warn_if_ending(path, o.refresh_expires_at, o.now);
            if o.refreshed { Tally::Refreshed } else { Tally::StillValid }
        }
        Err(e @ Error::NeedLogin(_)) => {
            noteln!("{shown}: needs a new login: {e}");
            Tally::NeedsLogin
        }
        Err(e) => {
            noteln!("{shown}: failed: {e}");
            Tally::Failed
        }
    }
}

/// The token response and tokens to use now: the saved ones while the access token is
/// valid for longer than `within` seconds (beyond the skew margin); else refreshed first,
/// exactly as `refresh` does (lock, read again, and refresh only if no other run did
/// meanwhile). Without the app (`exec` with no secret), a token that is still valid is
/// used as it is.
pub fn fresh_tokens(
    file: &TokenFile,
    within: i64,
    agent: &ureq::Agent,
    auth_base: &str,
    app: Option<&App>,
    lock_wait: std::time::Duration,
) -> Result<(serde_json::Value, Tokens), Error> {
    let (value, tokens) = file.read()?;
    let now = expiry::now();
    if expiry::remaining(tokens.access_expires_at, now) > within {
        return Ok((value, tokens));
    }
    let Some(app) = app else {
        tokens.check_access(file.path(), now).map_err(|e| {
            Error::NeedLogin(format!(
                "{e} (or set TIKTOK_SHOP_APP_SECRET / --app-secret-file so it can be refreshed here)"
            ))
        })?;
        noteln!(
            "tiktok-shop-auth: warning: the access token in `{}` expires {}; set TIKTOK_SHOP_APP_SECRET (or --app-secret-file) to have it refreshed",
            shown(file.path()),
            expiry::describe(tokens.access_expires_at, now)
        );
        return Ok((value, tokens));
    };
    let guard = file.lock(lock_wait)?;
    let (value, tokens) = guard.read()?;
    if expiry::remaining(tokens.access_expires_at, expiry::now()) > within {
        return Ok((value, tokens));
    }
    let answer = guard.renew(&Auth { agent, base: auth_base, app })?;
    Ok((answer.json, answer.tokens))
}

/// After TikTok refused `used` (105001, 105002) although the file believed in it: the
/// file's newer tokens if another run replaced them meanwhile, else a refresh.
pub fn replace_refused(
    file: &TokenFile,
    used: &crate::secret::Secret,
    agent: &ureq::Agent,
    auth_base: &str,
    app: &App,
    lock_wait: std::time::Duration,
) -> Result<Tokens, Error> {
    let guard = file.lock(lock_wait)?;
    let (_, tokens) = guard.read()?;
    if tokens.access_token != *used {
        return Ok(tokens);
    }
    Ok(guard.renew(&Auth { agent, base: auth_base, app })?.tokens)
}

/// How long before the refresh token's end `refresh` starts saying a login is coming due.
pub const LOGIN_DUE_WARNING: i64 = 7 * 86_400;

/// A refresh token cannot be refreshed: once it ends, only a new login helps. Say so on
/// stderr (which cron mails, even with --quiet) a week ahead, while everything still works.
fn warn_if_ending(path: &Path, refresh_expires_at: i64, now: i64) {
    if refresh_expires_at - now < LOGIN_DUE_WARNING {
        noteln!(
            "tiktok-shop-auth: warning: the refresh token in `{}` ends {}; run `tiktok-shop-auth login` before then",
            shown(path),
            expiry::describe(refresh_expires_at, now)
        );
    }
}
