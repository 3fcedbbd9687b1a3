//! `status` and `token`: the commands that only read the token file.
//!
//! Neither takes the lock nor makes a request: a reader sees either the old file or the
//! new one (the writer renames), and both are quick enough for a shell prompt.
//! `status FILE...` is the many-sellers view: one row per file and a state each.

use std::path::Path;

use serde_json::{Value, json};

use crate::cli::StatusOptions;
use crate::error::Error;
use crate::secret::clean;
use crate::token_file::{TokenFile, kind_of, shown};
use crate::{expiry, summary};

pub fn status(opts: &StatusOptions) -> Result<(), Error> {
    if !opts.files.is_empty() {
        return many(opts);
    }
    let file = TokenFile::new(&opts.token_file)?;
    let (value, tokens) = file.read()?;
    let now = expiry::now();
    if opts.json {
        outln!("{}", summary::json(&value, file.path(), now));
    } else {
        out!("{}", summary::text(&value, file.path(), now));
    }
    tokens.check_access(file.path(), now)
}

pub fn token(path: &Path) -> Result<(), Error> {
    let file = TokenFile::new(path)?;
    let (_, tokens) = file.read()?;
    tokens.check_access(file.path(), expiry::now())?;
    outln!("{}", tokens.access_token.expose());
    Ok(())
}

/// How soon "expiring" starts: the access token within a day, the refresh token (the
/// seller's re-consent) within 30 days.
const ACCESS_EXPIRING: i64 = 86_400;
const REFRESH_EXPIRING: i64 = 30 * 86_400;

/// One file's row: what it holds and its state.
fn row(path: &Path, now: i64) -> Value {
    let shown = shown(path);
    let read = TokenFile::new(path).and_then(|f| f.read());
    let (value, tokens) = match read {
        Ok(ok) => ok,
        Err(e) => {
            // Say what the path is: a directory or a FIFO is not a corrupt token file.
            let state = match &e {
                Error::NeedLogin(_) => "needs login".to_string(),
                Error::CorruptTokenFile { .. } => "corrupt".to_string(),
                Error::Usage(_) => std::fs::metadata(path)
                    .map(|m| kind_of(&m).trim_start_matches("a ").to_string())
                    .unwrap_or_else(|_| "not a file".into()),
                _ => "unreadable".to_string(),
            };
            return json!({ "token_file": shown, "state": state, "error": e.to_string() });
        }
    };
    let state = if !expiry::is_valid(tokens.refresh_expires_at, now) {
        "needs login"
    } else if !expiry::is_valid(tokens.access_expires_at, now) {
        "expired"
    } else if expiry::remaining(tokens.access_expires_at, now) < ACCESS_EXPIRING
        || tokens.refresh_expires_at - now < REFRESH_EXPIRING
    {
        "expiring"
    } else {
        "ok"
    };
    let text = |name: &str| clean(value.pointer(&format!("/data/{name}")).and_then(Value::as_str).unwrap_or(""));
    json!({
        "token_file": shown,
        "seller_name": text("seller_name"),
        "seller_base_region": text("seller_base_region"),
        "access_expires_at": tokens.access_expires_at,
        "access_expires_utc": expiry::utc(tokens.access_expires_at),
        "refresh_expires_at": tokens.refresh_expires_at,
        "refresh_expires_utc": expiry::utc(tokens.refresh_expires_at),
        "state": state,
    })
}

/// `status FILE...`: exit 1 for an unreadable or corrupt file (or one that is not a file), else 5 unless every access
/// token is valid.
fn many(opts: &StatusOptions) -> Result<(), Error> {
    let now = expiry::now();
    let rows: Vec<Value> = opts.files.iter().map(|p| row(p, now)).collect();
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
