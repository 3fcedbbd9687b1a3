//! `exec`: hand a fresh access token to another program, never on its command line.
//!
//! The token is refreshed first when it expires within `--if-expiring-within` (through the
//! same locked path as `refresh`; the app secret is needed only then), and the command gets
//! `TIKTOK_SHOP_ACCESS_TOKEN`, `TIKTOK_SHOP_APP_KEY` and, with `--shop`,
//! `TIKTOK_SHOP_SHOP_CIPHER` and `TIKTOK_SHOP_SHOP_ID` in its environment. The app secret
//! is taken out of that environment unless `--with-secret`. On Unix the command replaces
//! this process (exec), so no parent is left waiting and signals reach it directly; on
//! Windows it is spawned and its exit code passed on. 127 when it is not found, 126 when
//! it is found but cannot be run.

use std::process::Command;

use crate::cli::ExecOptions;
use crate::commands::refresh;
use crate::config::{ENV_APP_KEY, ENV_APP_SECRET};
use crate::error::Error;
use crate::open_api::{Client, ShopList};
use crate::tiktok;
use crate::token_file::{self, TokenFile};

pub const ENV_ACCESS_TOKEN: &str = "TIKTOK_SHOP_ACCESS_TOKEN";
pub const ENV_SHOP_CIPHER: &str = "TIKTOK_SHOP_SHOP_CIPHER";
pub const ENV_SHOP_ID: &str = "TIKTOK_SHOP_SHOP_ID";

/// Runs the command; returns its exit status (only on platforms without exec()).
pub fn run(opts: &ExecOptions) -> Result<u8, Error> {
    let agent = tiktok::agent()?;
    let file = TokenFile::new(&opts.token_file)?;
    let (value, tokens) =
        refresh::fresh_tokens(&file, opts.within, &agent, &opts.auth_base, opts.app.as_ref(), opts.lock_wait)?;
    let Some((program, args)) = opts.command.split_first() else {
        return Err(Error::Usage("exec: give the command to run after `--`".into()));
    };
    let mut command = Command::new(program);
    command.args(args).env(ENV_ACCESS_TOKEN, tokens.access_token.expose());
    if let Some(key) = &opts.app_key {
        command.env(ENV_APP_KEY, key);
    }
    match (&opts.app, opts.with_secret) {
        (Some(app), true) => command.env(ENV_APP_SECRET, app.secret.expose()),
        (None, true) => {
            return Err(Error::Usage(format!(
                "--with-secret: no app secret to pass on (set {ENV_APP_SECRET} or --app-secret-file)"
            )));
        }
        (_, false) => command.env_remove(ENV_APP_SECRET),
    };
    if let Some(selector) = &opts.shop {
        let mut list = ShopList::cached(&file, token_file::open_id(&value));
        let shop = match &opts.app {
            Some(app) => {
                list.select(selector, &Client { agent: &agent, base: &opts.api_base, app }, &tokens.access_token)?
            }
            None if list.is_cached() => {
                // Nothing can check the cached list without the secret: say how old it is.
                let age = list.fetched_at.map_or("of unknown age".to_string(), |at| {
                    let ago = crate::expiry::describe_span((crate::expiry::now() - at).unsigned_abs());
                    format!("fetched {} ({ago} ago)", crate::expiry::utc(at))
                });
                noteln!(
                    "tiktok-shop-auth: warning: the shop cipher comes from the shop list cached beside `{}`, {age}; \
                     without the app secret it cannot be checked against TikTok (run `tiktok-shop-auth shops` to renew it)",
                    token_file::shown(file.path())
                );
                list.choose(selector)?
            }
            None => {
                return Err(Error::Usage(format!(
                    "--shop needs the seller's shop list, which is not cached beside `{}` yet: set {ENV_APP_SECRET} \
                     (or --app-secret-file) once, or run `tiktok-shop-auth shops`",
                    file.path().display()
                )));
            }
        };
        for (var, key) in [(ENV_SHOP_CIPHER, "cipher"), (ENV_SHOP_ID, "id")] {
            if let Some(value) = shop[key].as_str() {
                command.env(var, value);
            }
        }
    }
    start(command, &program.to_string_lossy())
}

#[cfg(unix)]
fn start(mut command: Command, program: &str) -> Result<u8, Error> {
    use std::os::unix::process::CommandExt;
    let e = command.exec();
    Err(cannot_start(program, &e))
}

/// As a shell says it: 127 when the command is not found, 126 when it is found but cannot
/// be run (not executable, a directory).
fn cannot_start(program: &str, e: &std::io::Error) -> Error {
    let program = crate::secret::clean(program);
    match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound(format!("cannot run `{program}`: command not found ({e})")),
        _ => Error::CannotRun(format!("cannot run `{program}`: it was found but cannot be run ({e})")),
    }
}

#[cfg(not(unix))]
fn start(mut command: Command, program: &str) -> Result<u8, Error> {
    let status = command.status().map_err(|e| cannot_start(program, &e))?;
    Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
}
