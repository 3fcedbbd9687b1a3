//! `exec`: hand a fresh access token to another program, never on its command line.
//!
//! The token is refreshed first when it expires within `--if-expiring-within` (through the
//! same locked path as `refresh`; the app secret is needed only then), and the command gets
//! `TIKTOK_SHOP_ACCESS_TOKEN`, `TIKTOK_SHOP_APP_KEY` and the shop's (`--shop`'s, else a
//! one-shop seller's) `TIKTOK_SHOP_SHOP_CIPHER` and `TIKTOK_SHOP_SHOP_ID` in its environment. The app secret
//! is taken out of that environment unless `--with-secret`. On Unix the command replaces
//! this process (exec), so no parent is left waiting and signals reach it directly; on
//! Windows it is spawned and its exit code passed on. 127 when it is not found, 126 when
//! it is found but cannot be run.

use std::ffi::OsString;
use std::process::Command;

use crate::cli::Args;
use crate::config::{ENV_APP_KEY, ENV_APP_SECRET};
use crate::error::Error;
use crate::expiry;
use crate::session::{Session, SessionOptions, cipher_for};

pub const ENV_ACCESS_TOKEN: &str = "TIKTOK_SHOP_ACCESS_TOKEN";
pub const ENV_SHOP_CIPHER: &str = "TIKTOK_SHOP_SHOP_CIPHER";
pub const ENV_SHOP_ID: &str = "TIKTOK_SHOP_SHOP_ID";

pub use crate::flags::EXEC_WITHIN_SECONDS as WITHIN;

pub struct Options {
    pub session: SessionOptions,
    pub shop: Option<String>,
    /// Refresh when the access token expires within this many seconds.
    pub within: i64,
    pub with_secret: bool,
    pub command: Vec<OsString>,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let with_secret = args.flag("--with-secret");
    let shop = args.string("--shop")?;
    let within = args.duration("--if-expiring-within")?.unwrap_or(WITHIN);
    let session = SessionOptions::parse_secret_optional(args)?;
    let command = args.trailing();
    if command.is_empty() {
        return Err(Error::Usage(
            "exec: give the command to run after `--`, e.g. `tiktok-shop-auth exec -- python3 etl.py`".into(),
        ));
    }
    Ok(Options { session, shop, within, with_secret, command })
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth exec: run a command with a fresh access token in its environment

USAGE:
    tiktok-shop-auth exec [--shop SELECTOR] [--if-expiring-within DURATION] [--with-secret] -- CMD [ARG]...

    tiktok-shop-auth exec --shop GB -- python3 etl.py --since yesterday

Refreshes the token first when it expires within DURATION (the app secret is needed only
then), then runs CMD with TIKTOK_SHOP_ACCESS_TOKEN and TIKTOK_SHOP_APP_KEY (and the shop's
TIKTOK_SHOP_SHOP_CIPHER and TIKTOK_SHOP_SHOP_ID: --shop's, else a one-shop seller's only
shop, as `api` picks it) added to its environment. Nothing goes on
its command line. TIKTOK_SHOP_APP_SECRET is removed from its environment unless --with-secret.
On Unix CMD replaces this process; its exit status is the command's.

{options_exec}
EXIT STATUS:
    the command's own; 127 not found, 126 found but not runnable; 2 usage error; 5 the token has expired and
    cannot be refreshed here (no secret, or the refresh token is dead); 1 other failures
",
        options_exec = crate::flags::options("exec"),
    )
}

/// Runs the command; returns its exit status (only on platforms without exec()).
pub fn run(opts: &Options) -> Result<u8, Error> {
    let session = Session::open(&opts.session)?;
    let saved = session.fresh(opts.within)?;
    let tokens = &saved.tokens;
    let Some((program, args)) = opts.command.split_first() else {
        return Err(Error::Usage("exec: give the command to run after `--`".into()));
    };
    let mut command = Command::new(program);
    command.args(args).env(ENV_ACCESS_TOKEN, tokens.access_token.expose());
    if let Some(key) = &opts.session.tokens.app_key() {
        command.env(ENV_APP_KEY, key);
    }
    match (session.app(), opts.with_secret) {
        (Some(app), true) => command.env(ENV_APP_SECRET, app.secret.expose()),
        (None, true) => {
            return Err(Error::Usage(format!(
                "--with-secret: no app secret to pass on (set {ENV_APP_SECRET} or --app-secret-file)"
            )));
        }
        (_, false) => command.env_remove(ENV_APP_SECRET),
    };
    if let Some(selector) = &opts.shop {
        let mut list = session.shops(&saved);
        let client = session.client();
        if client.is_none() {
            if !list.is_cached() {
                return Err(Error::Usage(format!(
                    "--shop needs the seller's shop list, which is not cached beside `{}` yet: set {ENV_APP_SECRET} \
                     (or --app-secret-file) once, or run `tiktok-shop-auth shops`",
                    session.home().shown()
                )));
            }
            // Nothing can check the cached list without the secret: say how old it is.
            let age = list.fetched_at.map_or("of unknown age".to_string(), |at| {
                let ago = expiry::describe_span((expiry::now() - at).unsigned_abs());
                format!("fetched {} ({ago} ago)", expiry::utc(at))
            });
            noteln!(
                "tiktok-shop-auth: warning: the shop cipher comes from the shop list cached beside `{}`, {age}; \
                 without the app secret it cannot be checked against TikTok (run `tiktok-shop-auth shops` to renew it)",
                session.home().shown()
            );
        }
        let network = client.as_ref().map(|c| (c, &tokens.access_token));
        let shop = cipher_for(&mut list, Some(selector), None, network)?.unwrap_or_default();
        pass_shop(&mut command, &shop);
    } else {
        // As `api` does: a one-shop seller's shop goes without --shop. The list comes from the
        // cache, else (with the secret) from TikTok; when it cannot be had the command runs
        // without the shop, as it would have, with a line saying why.
        let mut list = session.shops(&saved);
        let client = session.client();
        let network = client.as_ref().map(|c| (c, &tokens.access_token));
        match cipher_for(&mut list, None, None, network) {
            Ok(Some(shop)) => pass_shop(&mut command, &shop),
            Ok(None) => {}
            Err(e) => noteln!("tiktok-shop-auth: warning: no shop passed on ({e}); pass --shop to choose one"),
        }
    }
    start(command, &program.to_string_lossy())
}

/// A shop's cipher and id, into the command's environment.
fn pass_shop(command: &mut Command, shop: &serde_json::Value) {
    for (var, key) in [(ENV_SHOP_CIPHER, "cipher"), (ENV_SHOP_ID, "id")] {
        if let Some(value) = shop[key].as_str() {
            command.env(var, value);
        }
    }
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
