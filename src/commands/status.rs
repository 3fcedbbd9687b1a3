//! `status` and `token`: the commands that only read the token file.
//!
//! Neither takes the lock nor makes a request: a reader sees either the old file or the
//! new one (the writer renames), and both are quick enough for a shell prompt.
//! `status FILE...` is the many-sellers view: one row per file and a state each.

use serde_json::{Value, json};

use crate::cli::{Args, Files, TokenOptions};
use crate::error::Error;
use crate::secret::clean;
use crate::store::{Home, Location};
use crate::{expiry, summary};

pub struct Options {
    /// The location, or with `status FILE...` the files given (one row each).
    pub tokens: TokenOptions,
    pub json: bool,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let json = args.flag("--json");
    let tokens = args.token_options(None, Files::Many)?;
    Ok(Options { tokens, json })
}

/// `token`'s one option: the location.
pub fn parse_token(args: &mut Args) -> Result<Location, Error> {
    let tokens = args.token_options(None, Files::Many)?;
    match tokens.files.as_slice() {
        [] => Ok(tokens.location),
        [one] => Ok(one.clone()),
        _ => Err(Error::Usage("token takes one token file; for several, use `status FILE...`".into())),
    }
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth status: what the token file holds and whether it is still valid

USAGE:
    tiktok-shop-auth status [--token-file PATH] [--json]
    tiktok-shop-auth status [--json] FILE...     (one row per file)

Reads only the file; makes no request. Tokens are shown masked. The access token counts as
expired {skew} s before its stated expiry, to allow for clock skew.

{options_status}
With FILE...: one row per file (path, seller, region, access expiry, refresh expiry, state:
ok, expiring (access token within {soon}, or the refresh token within {ending}), expired
(run refresh), needs login, corrupt, unreadable, or what the path is instead of a file:
directory, FIFO (named pipe)); --json prints a JSON array. --token-file and FILE... do
not go together.

EXIT STATUS:
    0 the access token is valid (every one, with FILE...)   1 an unreadable or corrupt file
    5 expired or no file: refresh or log in
",
        options_status = crate::flags::options("status"),
        skew = expiry::SKEW_MARGIN,
        soon = expiry::describe_span(expiry::ACCESS_ENDING_SOON as u64),
        ending = expiry::describe_span(expiry::REFRESH_ENDING_SOON as u64),
    )
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn token_help() -> String {
    format!(
        "\
tiktok-shop-auth token: print the access token alone, for scripts

USAGE:
    tiktok-shop-auth token [--token-file PATH | FILE]

    curl -H \"x-tts-access-token: $(tiktok-shop-auth token)\" ...

Prints the bare access token and a newline, nothing else. The token counts as expired {skew} s
before its stated expiry, to allow for clock skew.

{options_token}
EXIT STATUS:
    0 printed   1 unreadable or corrupt file   5 expired (run refresh) or no file (run login); stdout stays empty
",
        options_token = crate::flags::options("token"),
        skew = expiry::SKEW_MARGIN,
    )
}

pub fn status(opts: &Options) -> Result<(), Error> {
    if !opts.tokens.files.is_empty() {
        return many(opts);
    }
    let home = Home::open(&opts.tokens.location)?;
    let saved = home.read()?;
    let now = expiry::now();
    if opts.json {
        let mut shown = summary::json(&saved.json, &home.shown(), now);
        // The same `state` as each row of `status --json FILE...` has.
        shown["state"] = state_of(&saved.tokens, now).into();
        outln!("{}", shown);
    } else {
        out!("{}", summary::text(&saved.json, &home.shown(), now));
    }
    saved.tokens.check_access(&home.shown(), now)
}

pub fn token(location: &Location) -> Result<(), Error> {
    let home = Home::open(location)?;
    let tokens = home.read()?.tokens;
    tokens.check_access(&home.shown(), expiry::now())?;
    outln!("{}", tokens.access_token.expose());
    Ok(())
}

/// One file's row: what it holds and its state.
fn row(location: &Location, now: i64) -> Value {
    let shown = location.shown();
    let read = Home::open(location).and_then(|h| h.read());
    let saved = match read {
        Ok(saved) => saved,
        Err(e) => {
            // Say what the path is: a directory or a FIFO is not a corrupt token file.
            let state = match &e {
                Error::NeedLogin(_) => "needs login".to_string(),
                Error::CorruptTokenFile { .. } => "corrupt".to_string(),
                Error::Usage(_) => location.kind().unwrap_or_else(|| "not a file".into()),
                _ => "unreadable".to_string(),
            };
            return json!({ "token_file": shown, "state": state, "error": e.to_string() });
        }
    };
    let tokens = &saved.tokens;
    let state = state_of(tokens, now);
    json!({
        "token_file": shown,
        "seller_name": clean(saved.seller().unwrap_or("")),
        "seller_base_region": clean(saved.region().unwrap_or("")),
        "access_expires_at": tokens.access_expires_at,
        "access_expires_utc": expiry::utc(tokens.access_expires_at),
        "refresh_expires_at": tokens.refresh_expires_at,
        "refresh_expires_utc": expiry::utc(tokens.refresh_expires_at),
        "state": state,
    })
}

/// What a file's tokens are good for now: `ok`, `expiring`, `expired` (run refresh),
/// `needs login`.
fn state_of(tokens: &crate::token_response::Tokens, now: i64) -> &'static str {
    if !expiry::is_valid(tokens.refresh_expires_at, now) {
        "needs login"
    } else if !expiry::is_valid(tokens.access_expires_at, now) {
        "expired"
    } else if expiry::remaining(tokens.access_expires_at, now) < expiry::ACCESS_ENDING_SOON
        || tokens.refresh_expires_at - now < expiry::REFRESH_ENDING_SOON
    {
        "expiring"
    } else {
        "ok"
    }
}

/// `status FILE...`: exit 1 for an unreadable or corrupt file (or one that is not a file), else 5 unless every access
/// token is valid.
fn many(opts: &Options) -> Result<(), Error> {
    let now = expiry::now();
    let rows: Vec<Value> = opts.tokens.files.iter().map(|p| row(p, now)).collect();
    if opts.json {
        outln!("{}", Value::Array(rows.clone()));
    } else {
        let cell = |r: &Value, k: &str| r[k].as_str().filter(|s| !s.is_empty()).unwrap_or("-").to_string();
        let cells: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                [
                    "token_file",
                    "seller_name",
                    "seller_base_region",
                    "access_expires_utc",
                    "refresh_expires_utc",
                    "state",
                ]
                .iter()
                .map(|k| cell(r, k))
                .collect()
            })
            .collect();
        out!("{}", summary::table(&["FILE", "SELLER", "REGION", "ACCESS EXPIRES", "REFRESH EXPIRES", "STATE"], &cells));
        for r in rows.iter().filter(|r| r["error"].is_string()) {
            noteln!("{}: {}", cell(r, "token_file"), cell(r, "error"));
        }
    }
    let count = |state: &str| rows.iter().filter(|r| r["state"] == state).count();
    let invalid = count("expired") + count("needs login");
    let corrupt = rows.iter().filter(|r| r["error"].is_string()).count() - count("needs login");
    match (corrupt, invalid) {
        (0, 0) => Ok(()),
        (0, n) => Err(Error::NeedLogin(format!(
            "{n} of {} token files hold no valid access token: `tiktok-shop-auth refresh` them (or log in again for those that need it)",
            rows.len()
        ))),
        (n, _) => Err(Error::Local(format!("{n} of {} token files could not be read", rows.len()))),
    }
}
