//! `refresh`, `status` and `token`: the commands that live on the saved token file.
//!
//! `refresh` is built for cron: never interactive, quiet when asked, and it holds the token
//! file's lock from the read to the write and reads the file only once it holds the lock,
//! so two overlapping runs cannot both spend the same (rotating) refresh token.

use crate::cli::{RefreshOptions, StatusOptions};
use crate::error::Error;
use crate::{expiry, summary, tiktok, token_file};
use std::path::Path;

pub fn refresh(opts: &RefreshOptions) -> Result<(), Error> {
    let agent = tiktok::agent()?;
    let _lock = token_file::lock(&opts.token_file, opts.lock_wait)?;
    let (_, tokens) = token_file::read(&opts.token_file)?;
    let now = expiry::now();
    if let Some(within) = opts.if_expiring_within
        && expiry::remaining(tokens.access_expires_at, now) > within
    {
        if !opts.quiet {
            println!(
                "still valid: access token expires {} ({}); not refreshed",
                expiry::utc(tokens.access_expires_at),
                expiry::relative(tokens.access_expires_at, now)
            );
        }
        warn_if_ending(&opts.token_file, tokens.refresh_expires_at, now);
        return Ok(());
    }
    let path = opts.token_file.display();
    if !expiry::is_valid(tokens.refresh_expires_at, now) {
        return Err(Error::NeedLogin(format!(
            "the refresh token in `{path}` expired {} ({}): run `tiktok-shop-auth login`",
            expiry::utc(tokens.refresh_expires_at),
            expiry::relative(tokens.refresh_expires_at, now)
        )));
    }
    // The refresh token may be spent by the call: be sure the answer can be saved first.
    token_file::check_writable(&opts.token_file)?;
    let answer = tiktok::refresh(&agent, &opts.auth_base, &opts.app, &tokens.refresh_token).map_err(|e| match e {
        Error::TikTok(api) if tiktok::needs_new_login(api.code) => Error::NeedLogin(format!(
            "{api}: the refresh token in `{path}` is no longer accepted; run `tiktok-shop-auth login` (the file was left as it was)"
        )),
        other => other,
    })?;
    token_file::write_atomically(&opts.token_file, &answer.body)?;
    let (access, refresh) = (answer.tokens.access_expires_at, answer.tokens.refresh_expires_at);
    if !opts.quiet {
        println!("refreshed: access token expires {} ({})", expiry::utc(access), expiry::relative(access, now));
    }
    warn_if_ending(&opts.token_file, refresh, now);
    Ok(())
}

/// How long before the refresh token's end `refresh` starts saying a login is coming due.
pub const LOGIN_DUE_WARNING: i64 = 7 * 86_400;

/// A refresh token cannot be refreshed: once it ends, only a new login helps. Say so on
/// stderr (which cron mails, even with --quiet) a week ahead, while everything still works.
fn warn_if_ending(path: &Path, refresh_expires_at: i64, now: i64) {
    if refresh_expires_at - now < LOGIN_DUE_WARNING {
        eprintln!(
            "tiktok-shop-auth: warning: the refresh token in `{}` ends {} ({}); run `tiktok-shop-auth login` before then",
            path.display(),
            expiry::utc(refresh_expires_at),
            expiry::relative(refresh_expires_at, now)
        );
    }
}

pub fn status(opts: &StatusOptions) -> Result<(), Error> {
    let (value, tokens) = token_file::read(&opts.token_file)?;
    let now = expiry::now();
    if opts.json {
        println!("{}", summary::json(&value, &opts.token_file, now));
    } else {
        print!("{}", summary::text(&value, &opts.token_file, now));
    }
    check_access_valid(&opts.token_file, tokens.access_expires_at, now)
}

pub fn token(path: &Path) -> Result<(), Error> {
    let (_, tokens) = token_file::read(path)?;
    check_access_valid(path, tokens.access_expires_at, expiry::now())?;
    println!("{}", tokens.access_token.expose());
    Ok(())
}

pub fn check_access_valid(path: &Path, expires_at: i64, now: i64) -> Result<(), Error> {
    if expiry::is_valid(expires_at, now) {
        return Ok(());
    }
    Err(Error::NeedLogin(format!(
        "the access token in `{}` expired {} ({}, counting {} s for clock skew): run `tiktok-shop-auth refresh`",
        path.display(),
        expiry::utc(expires_at),
        expiry::relative(expires_at, now),
        expiry::SKEW_MARGIN
    )))
}
