//! `refresh`: new tokens from the saved refresh token, made for cron.
//!
//! Never interactive, quiet when asked. The order (lock, read again under the lock, check
//! room, spend, save) is not this file's to keep: `token_file`'s types only allow it, so
//! overlapping runs cannot both spend the same rotating refresh token and a full disk
//! cannot cost one. `renew` is that locked path, shared with every command that refreshes.

use std::path::Path;

use crate::cli::RefreshOptions;
use crate::config::App;
use crate::error::Error;
use crate::expiry;
use crate::tiktok::{self, TokenAnswer};
use crate::token_file::{Guard, TokenFile, Tokens};

pub fn refresh(opts: &RefreshOptions) -> Result<(), Error> {
    let agent = tiktok::agent()?;
    let file = TokenFile::new(&opts.token_file)?;
    let guard = file.lock(opts.lock_wait)?;
    let (_, tokens) = guard.read()?;
    let now = expiry::now();
    if let Some(within) = opts.if_expiring_within
        && expiry::remaining(tokens.access_expires_at, now) > within
    {
        if !opts.quiet {
            outln!(
                "still valid: access token expires {}; not refreshed",
                expiry::describe(tokens.access_expires_at, now)
            );
        }
        warn_if_ending(file.path(), tokens.refresh_expires_at, now);
        return Ok(());
    }
    let answer = renew(&guard, &file, &tokens, &agent, &opts.auth_base, &opts.app)?;
    let access = answer.tokens.access_expires_at;
    if !opts.quiet {
        outln!("refreshed: access token expires {}", expiry::describe(access, now));
    }
    warn_if_ending(file.path(), answer.tokens.refresh_expires_at, now);
    Ok(())
}

/// Spends `tokens`' refresh token under `guard` and saves the answer: the one way every
/// command refreshes. A refresh token TikTok no longer accepts is exit 5, file untouched.
pub fn renew(
    guard: &Guard,
    file: &TokenFile,
    tokens: &Tokens,
    agent: &ureq::Agent,
    auth_base: &str,
    app: &App,
) -> Result<TokenAnswer, Error> {
    let now = expiry::now();
    tokens.check_refresh(file.path(), now)?;
    let path = file.path().display();
    guard.reserve()?.spend(|room| {
        tiktok::refresh(agent, auth_base, app, &tokens.refresh_token, room).map_err(|e| match e {
            Error::TikTok(api) if tiktok::needs_new_login(api.code) => Error::NeedLogin(format!(
                "{api}: the refresh token in `{path}` is no longer accepted; run `tiktok-shop-auth login` (the file was left as it was)"
            )),
            other => other,
        })
    })
}

/// The tokens to use now: the saved ones while the access token is valid for longer than
/// `within` seconds (beyond the skew margin); else refreshed first, exactly as `refresh`
/// does (lock, read again, and refresh only if no other run did meanwhile). Without the
/// app (`exec` with no secret), a token that is still valid is used as it is.
pub fn fresh_tokens(
    file: &TokenFile,
    within: i64,
    agent: &ureq::Agent,
    auth_base: &str,
    app: Option<&App>,
    lock_wait: std::time::Duration,
) -> Result<Tokens, Error> {
    let (_, tokens) = file.read()?;
    let now = expiry::now();
    if expiry::remaining(tokens.access_expires_at, now) > within {
        return Ok(tokens);
    }
    let Some(app) = app else {
        tokens.check_access(file.path(), now).map_err(|e| {
            Error::NeedLogin(format!(
                "{e} (or set TIKTOK_SHOP_APP_SECRET / --app-secret-file so it can be refreshed here)"
            ))
        })?;
        noteln!(
            "tiktok-shop-auth: warning: the access token in `{}` expires {}; set TIKTOK_SHOP_APP_SECRET (or --app-secret-file) to have it refreshed",
            file.path().display(),
            expiry::describe(tokens.access_expires_at, now)
        );
        return Ok(tokens);
    };
    let guard = file.lock(lock_wait)?;
    let (_, tokens) = guard.read()?;
    if expiry::remaining(tokens.access_expires_at, expiry::now()) > within {
        return Ok(tokens);
    }
    Ok(renew(&guard, file, &tokens, agent, auth_base, app)?.tokens)
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
    Ok(renew(&guard, file, &tokens, agent, auth_base, app)?.tokens)
}

/// How long before the refresh token's end `refresh` starts saying a login is coming due.
pub const LOGIN_DUE_WARNING: i64 = 7 * 86_400;

/// A refresh token cannot be refreshed: once it ends, only a new login helps. Say so on
/// stderr (which cron mails, even with --quiet) a week ahead, while everything still works.
fn warn_if_ending(path: &Path, refresh_expires_at: i64, now: i64) {
    if refresh_expires_at - now < LOGIN_DUE_WARNING {
        noteln!(
            "tiktok-shop-auth: warning: the refresh token in `{}` ends {}; run `tiktok-shop-auth login` before then",
            path.display(),
            expiry::describe(refresh_expires_at, now)
        );
    }
}
