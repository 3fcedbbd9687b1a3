//! Command-line parsing: one place, `--help` texts as constants, leftovers are errors.
//!
//! Parsing resolves the whole configuration (flag, then environment, then default, see
//! `config`) into one options struct per command, so every command starts with values
//! that are already checked, and a bad one is a usage error (exit 2) before anything runs.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

use crate::config::{self, App, ENV_API_BASE, ENV_AUTH_BASE};
use crate::error::Error;
use crate::expiry;
use crate::url::HttpUrl;

pub const VERSION: &str = concat!("tiktok-shop-auth ", env!("CARGO_PKG_VERSION"));

pub const HELP: &str = "\
tiktok-shop-auth: get a TikTok Shop seller's OAuth tokens, keep them in a file, keep them fresh

USAGE:
    tiktok-shop-auth <COMMAND> [OPTIONS]

COMMANDS:
    login      sign in through the browser and save the token file
    refresh    new tokens from the saved refresh token (cron-safe, never interactive)
    status     what the token file holds and whether it is still valid
    token      print the access token alone, for scripts
    shops      a signed Open API call that proves the token works and lists shop ciphers
    sandbox    a local stand-in for TikTok Shop's authorization service

OPTIONS:
    -h, --help       this text; `tiktok-shop-auth <COMMAND> --help` for a command
    -V, --version    the version

CONFIGURATION (flag, then environment variable, then default):
    --app-key KEY             TIKTOK_SHOP_APP_KEY
    --app-secret-file PATH    TIKTOK_SHOP_APP_SECRET (the secret itself; never a flag value)
    --service-id ID           TIKTOK_SHOP_SERVICE_ID
    --token-file PATH         TIKTOK_SHOP_TOKEN_FILE       [default: tiktok-shop-token.json]
    --authorize-url URL       TIKTOK_SHOP_AUTHORIZE_URL    [default: https://services.tiktokshop.com/open/authorize]
    --auth-base URL           TIKTOK_SHOP_AUTH_BASE        [default: https://auth.tiktok-shops.com]
    --api-base URL            TIKTOK_SHOP_API_BASE         [default: https://open-api.tiktokglobalshop.com]
    --redirect-url URL        TIKTOK_SHOP_REDIRECT_URL     [default: http://localhost:3017/]
    HTTPS_PROXY, HTTP_PROXY, NO_PROXY and SSL_CERT_FILE are honoured.

EXIT STATUS:
    0 success   1 failed (network, TLS, HTTP, TikTok error, file)   2 usage or configuration error
    3 timed out waiting for the browser   4 the seller denied   5 a new login is needed
";

pub const LOGIN_HELP: &str = "\
tiktok-shop-auth login: sign in through the browser and save the token file

USAGE:
    tiktok-shop-auth login [OPTIONS]

Binds the redirect URL's port on loopback, opens the authorization link in the browser
($BROWSER, else the system's opener), waits for TikTok Shop's redirect, exchanges the code
(GET /api/v2/token/get), writes the token file (mode 0600, atomically), answers the browser
with the outcome and prints a summary (tokens masked).

OPTIONS:
    --app-key KEY             app key                  [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH    file whose first line is the app secret
                              [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    --service-id ID           the app's service id     [env: TIKTOK_SHOP_SERVICE_ID]
                              (not needed when --authorize-url already has service_id)
    --token-file PATH         where to save            [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --authorize-url URL       authorization page, or the whole link copied from Partner Center
                              [env: TIKTOK_SHOP_AUTHORIZE_URL, default: https://services.tiktokshop.com/open/authorize;
                               US sellers: https://services.us.tiktokshop.com/open/authorize]
    --auth-base URL           token service            [env: TIKTOK_SHOP_AUTH_BASE, default: https://auth.tiktok-shops.com]
    --redirect-url URL        the redirect URL registered on the app, exactly (http, host localhost,
                              127.0.0.1 or [::1])      [env: TIKTOK_SHOP_REDIRECT_URL, default: http://localhost:3017/]
    --port N                  listen on port N instead of the redirect URL's port
    --timeout SECONDS         how long to wait for the browser [default: 60; with --manual: 600]
                              (90, 90s, 5m also work)
    --no-browser              keep the listener but only print the link (open it yourself,
                              e.g. through `ssh -L 3017:localhost:3017 host`)
    --manual                  no listener, no browser: print the link, then paste the address the
                              browser was sent to (or just the code) on stdin; for SSH sessions,
                              containers and scripts
    --json                    print the summary as one JSON object
    --lock-wait DURATION      how long to wait, once the redirect arrives, for a refresh that holds
                              the token file's lock; the code is spent only under the lock [default: 30s]
    --recover FILE            install FILE (a `<token file>.recovered-<time>` written when a save
                              failed after the code or refresh token was spent) as the token file,
                              under the lock; no browser, no request
    -h, --help                this text

Before the browser opens, the token file's directory must have room for the new file (it is
reserved, not just checked); the code is exchanged only while the file's lock is held.

EXIT STATUS:
    0 saved   1 failed (port in use, network, TikTok error, file, lock)   2 usage error
    3 no redirect before the timeout   4 the seller denied
    5 the code was spent but the answer could not be saved anywhere: sign in again
";

pub const REFRESH_HELP: &str = "\
tiktok-shop-auth refresh: new tokens from the saved refresh token

USAGE:
    tiktok-shop-auth refresh [OPTIONS]

Never interactive, never opens a browser: made for cron and systemd timers. Takes an
exclusive lock (<token file>.lock) for the whole read, request and write, reads the file
again once it holds the lock (so overlapping runs each use the newest refresh token), calls
GET /api/v2/token/refresh and replaces the file atomically with the whole new response.
A failure leaves the file exactly as it was. Tokens count as expired 60 s before their
stated expiry, to allow for clock skew. From 7 days before the refresh token itself ends, a
warning on stderr (even with --quiet, so cron mails it) says a new login is due.

OPTIONS:
    --if-expiring-within DURATION   do nothing (exit 0) while the access token is valid for longer
                                    than DURATION: 90s, 30m, 12h, 2d
    -q, --quiet                     print nothing on success (cron mails any output)
    --lock-wait DURATION            how long to wait for another refresh or login holding the lock
                                    before giving up with exit 1   [default: 2m]
    --app-key KEY                   [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH          [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    --token-file PATH               [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --auth-base URL                 [env: TIKTOK_SHOP_AUTH_BASE, default: https://auth.tiktok-shops.com]
    -h, --help                      this text

EXIT STATUS:
    0 refreshed or still valid   1 failed (network, TikTok error, unreadable or corrupt file, lock)
    2 usage error   5 a new login is needed (no file, refresh token rejected or expired)
";

pub const STATUS_HELP: &str = "\
tiktok-shop-auth status: what the token file holds and whether it is still valid

USAGE:
    tiktok-shop-auth status [--token-file PATH] [--json]

Reads only the file; makes no request. Tokens are shown masked. The access token counts as
expired 60 s before its stated expiry, to allow for clock skew.

OPTIONS:
    --token-file PATH   [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --json              one JSON object on stdout
    -h, --help          this text

EXIT STATUS:
    0 the access token is valid   1 unreadable or corrupt file   5 expired or no file: refresh or log in
";

pub const TOKEN_HELP: &str = "\
tiktok-shop-auth token: print the access token alone, for scripts

USAGE:
    tiktok-shop-auth token [--token-file PATH]

    curl -H \"x-tts-access-token: $(tiktok-shop-auth token)\" ...

Prints the bare access token and a newline, nothing else. The token counts as expired 60 s
before its stated expiry, to allow for clock skew.

OPTIONS:
    --token-file PATH   [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    -h, --help          this text

EXIT STATUS:
    0 printed   1 unreadable or corrupt file   5 expired (run refresh) or no file (run login); stdout stays empty
";

pub const SHOPS_HELP: &str = "\
tiktok-shop-auth shops: a signed Open API call that proves the token works and lists shop ciphers

USAGE:
    tiktok-shop-auth shops [OPTIONS]

Calls GET /authorization/202309/shops (\"Get Authorized Shops\"), signed with the app secret
(HMAC-SHA256) and carrying the access token in x-tts-access-token, and prints each shop's
id, name, region, seller type, code and cipher: the shop_cipher every shop API call needs.

OPTIONS:
    --app-key KEY             [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH    [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    --token-file PATH         [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --api-base URL            [env: TIKTOK_SHOP_API_BASE, default: https://open-api.tiktokglobalshop.com]
    --json                    the shops as a JSON array
    -h, --help                this text

EXIT STATUS:
    0 listed   1 failed (network, TikTok error such as a bad signature or clock skew)
    2 usage error   5 the access token has expired (run refresh) or no file (run login)
";

pub const SANDBOX_HELP: &str = "\
tiktok-shop-auth sandbox: a local stand-in for TikTok Shop's authorization service

USAGE:
    tiktok-shop-auth sandbox [OPTIONS]

Serves, on loopback only, what TikTok Shop does in the flow: GET /open/authorize (a page with
Authorize and Deny), the redirect to the redirect URL with code, state, app_key, locale and
shop_region (or error=access_denied&code=null), GET /api/v2/token/get and
GET /api/v2/token/refresh (single-use codes valid 30 minutes, rotating refresh tokens,
non-zero codes with HTTP 200 for a wrong secret, code or refresh token, 404 for POST) and
GET /authorization/202309/shops (signature, timestamp window and token checked).
Prints `sandbox listening on http://ADDR` on stdout, then each request on stderr with secrets
masked. Point the tool at it with:
    --authorize-url http://ADDR/open/authorize --auth-base http://ADDR --api-base http://ADDR

OPTIONS:
    --listen ADDR             loopback address and port   [default: 127.0.0.1:8017; port 0 picks a free one]
    --auto-approve            redirect at once instead of showing the page
    --app-key KEY             the app key it accepts      [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH    the secret it accepts       [env: TIKTOK_SHOP_APP_SECRET]
    --redirect-url URL        where sellers are sent back [env: TIKTOK_SHOP_REDIRECT_URL, default: http://localhost:3017/]
    --access-ttl DURATION     access token lifetime       [default: 7d]
    --refresh-ttl DURATION    refresh token lifetime      [default: 365d]
    --fault KIND              test hook, off by default: the token endpoints answer with
                              html-502, empty, truncated, ip-denied (code 36009033), or echo
                              (an error whose message repeats the request, secrets and
                              terminal escapes included)
    --latency DURATION        test hook, off by default: wait this long before every answer
                              (20ms, 1s); requests then overlap
    --clock-skew SECONDS      test hook, off by default: run the sandbox's clock this far
                              ahead (or behind, negative) of this machine's
    -h, --help                this text
";

pub enum Command {
    Help(&'static str),
    Version,
    Login(LoginOptions),
    Recover(RecoverOptions),
    Refresh(RefreshOptions),
    Status(StatusOptions),
    Token(PathBuf),
    Shops(ShopsOptions),
    Sandbox(SandboxOptions),
}

pub struct LoginOptions {
    pub app: App,
    /// The authorization link without `state`.
    pub link: HttpUrl,
    pub token_file: PathBuf,
    pub auth_base: String,
    pub redirect: HttpUrl,
    pub timeout: Duration,
    pub no_browser: bool,
    pub manual: bool,
    pub json: bool,
    pub lock_wait: Duration,
}

/// `login --recover FILE`: install a recovery file as the token file.
pub struct RecoverOptions {
    pub from: PathBuf,
    pub token_file: PathBuf,
    pub lock_wait: Duration,
    pub json: bool,
}

pub struct RefreshOptions {
    pub app: App,
    pub token_file: PathBuf,
    pub auth_base: String,
    pub if_expiring_within: Option<i64>,
    pub quiet: bool,
    pub lock_wait: Duration,
}

pub struct StatusOptions {
    pub token_file: PathBuf,
    pub json: bool,
}

pub struct ShopsOptions {
    pub app: App,
    pub token_file: PathBuf,
    pub api_base: String,
    pub json: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    Html502,
    Empty,
    Truncated,
    IpDenied,
    Echo,
}

pub struct SandboxOptions {
    pub app: App,
    pub listen: SocketAddr,
    pub redirect: HttpUrl,
    pub auto_approve: bool,
    pub access_ttl: i64,
    pub refresh_ttl: i64,
    pub fault: Option<Fault>,
    /// Seconds added to the sandbox's clock (a test hook for clock-skew errors).
    pub clock_skew: i64,
    /// Added before every answer (a test and bench hook).
    pub latency: Duration,
}

pub fn parse(args: Vec<OsString>) -> Result<Command, Error> {
    refuse_secret_values(&args)?;
    let mut args = Arguments::from_vec(args);
    let command: Option<String> = args.subcommand().map_err(|e| usage("", e))?;
    let Some(command) = command else {
        return if args.contains(["-V", "--version"]) {
            Ok(Command::Version)
        } else if args.contains(["-h", "--help"]) {
            Ok(Command::Help(HELP))
        } else {
            Err(Error::Usage("no command given; try `tiktok-shop-auth --help`".into()))
        };
    };
    type Parser = fn(&mut Arguments) -> Result<Command, Error>;
    let (help, parser): (&'static str, Parser) = match command.as_str() {
        "login" => (LOGIN_HELP, parse_login),
        "refresh" => (REFRESH_HELP, |a| parse_refresh(a).map(Command::Refresh)),
        "status" => (STATUS_HELP, |a| {
            Ok(Command::Status(StatusOptions { token_file: token_file(a, "status")?, json: a.contains("--json") }))
        }),
        "token" => (TOKEN_HELP, |a| Ok(Command::Token(token_file(a, "token")?))),
        "shops" => (SHOPS_HELP, |a| parse_shops(a).map(Command::Shops)),
        "sandbox" => (SANDBOX_HELP, |a| parse_sandbox(a).map(Command::Sandbox)),
        "help" => {
            let topic: Option<String> = args.opt_free_from_str().map_err(|e| usage("", e))?;
            return match topic.as_deref() {
                None => Ok(Command::Help(HELP)),
                Some(t) => parse(vec![OsString::from(t), OsString::from("--help")]),
            };
        }
        "version" => return Ok(Command::Version),
        other => return Err(Error::Usage(format!("unknown command `{other}`; try `tiktok-shop-auth --help`"))),
    };
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help(help));
    }
    let parsed = parser(&mut args)?;
    let rest = args.finish();
    if let Some(first) = rest.first() {
        return Err(Error::Usage(format!(
            "unexpected argument `{}` for `{command}`; see `tiktok-shop-auth {command} --help`",
            first.to_string_lossy()
        )));
    }
    Ok(parsed)
}

/// The app secret on the command line would show in `ps` and shell history: refuse it
/// before anything else, whatever the spelling, and never echo it.
fn refuse_secret_values(args: &[OsString]) -> Result<(), Error> {
    let refused = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == "--app-secret" || a.starts_with("--app-secret=") || a == "--secret" || a.starts_with("--secret=")
    });
    if refused {
        return Err(Error::Usage(format!(
            "the app secret is never taken as a command-line value (it would show in `ps` and shell history): \
             set {} or pass --app-secret-file PATH",
            config::ENV_APP_SECRET
        )));
    }
    Ok(())
}

fn usage(command: &str, e: pico_args::Error) -> Error {
    let see = if command.is_empty() {
        "tiktok-shop-auth --help".to_string()
    } else {
        format!("tiktok-shop-auth {command} --help")
    };
    Error::Usage(format!("{e}; see `{see}`"))
}

fn string(args: &mut Arguments, command: &str, flag: &'static str) -> Result<Option<String>, Error> {
    args.opt_value_from_str(flag).map_err(|e| usage(command, e))
}

fn path(args: &mut Arguments, command: &str, flag: &'static str) -> Result<Option<PathBuf>, Error> {
    args.opt_value_from_os_str(flag, |s| Ok::<_, std::convert::Infallible>(PathBuf::from(s)))
        .map_err(|e| usage(command, e))
}

fn duration(args: &mut Arguments, command: &str, flag: &'static str) -> Result<Option<i64>, Error> {
    match string(args, command, flag)? {
        None => Ok(None),
        Some(text) => expiry::parse_duration(&text).map(Some).map_err(|e| Error::Usage(format!("{flag}: {e}"))),
    }
}

fn token_file(args: &mut Arguments, command: &str) -> Result<PathBuf, Error> {
    Ok(config::token_file(path(args, command, "--token-file")?))
}

fn app(args: &mut Arguments, command: &str) -> Result<App, Error> {
    let key = string(args, command, "--app-key")?;
    let secret_file = path(args, command, "--app-secret-file")?;
    config::app(key, secret_file)
}

fn parse_login(args: &mut Arguments) -> Result<Command, Error> {
    let c = "login";
    let manual = args.contains("--manual");
    let no_browser = args.contains("--no-browser");
    let json = args.contains("--json");
    let lock_wait = Duration::from_secs(duration(args, c, "--lock-wait")?.unwrap_or(30) as u64);
    if let Some(from) = path(args, c, "--recover")? {
        return Ok(Command::Recover(RecoverOptions { from, token_file: token_file(args, c)?, lock_wait, json }));
    }
    let port: Option<u16> = args
        .opt_value_from_str("--port")
        .map_err(|_| Error::Usage("--port must be a number from 1 to 65535".into()))?;
    let timeout = duration(args, c, "--timeout")?.unwrap_or(if manual { 600 } else { 60 });
    if timeout < 1 {
        return Err(Error::Usage("--timeout must be at least 1 second".into()));
    }
    let service_id = string(args, c, "--service-id")?;
    let authorize_url = string(args, c, "--authorize-url")?;
    let auth_base = string(args, c, "--auth-base")?;
    let redirect = string(args, c, "--redirect-url")?;
    let token_file = token_file(args, c)?;
    let app = app(args, c)?;
    if manual && no_browser {
        return Err(Error::Usage("--manual already opens no browser; pass either --manual or --no-browser".into()));
    }
    Ok(Command::Login(LoginOptions {
        app,
        link: config::authorize_link(authorize_url, service_id)?,
        token_file,
        auth_base: config::base_url("--auth-base", ENV_AUTH_BASE, auth_base, config::DEFAULT_AUTH_BASE)?,
        redirect: config::redirect_url(redirect, port)?,
        timeout: Duration::from_secs(timeout as u64),
        no_browser,
        manual,
        json,
        lock_wait,
    }))
}

fn parse_refresh(args: &mut Arguments) -> Result<RefreshOptions, Error> {
    let c = "refresh";
    let quiet = args.contains(["-q", "--quiet"]);
    let if_expiring_within = duration(args, c, "--if-expiring-within")?;
    let lock_wait = duration(args, c, "--lock-wait")?.unwrap_or(120);
    let auth_base = string(args, c, "--auth-base")?;
    let token_file = token_file(args, c)?;
    let app = app(args, c)?;
    Ok(RefreshOptions {
        app,
        token_file,
        auth_base: config::base_url("--auth-base", ENV_AUTH_BASE, auth_base, config::DEFAULT_AUTH_BASE)?,
        if_expiring_within,
        quiet,
        lock_wait: Duration::from_secs(lock_wait as u64),
    })
}

fn parse_shops(args: &mut Arguments) -> Result<ShopsOptions, Error> {
    let c = "shops";
    let json = args.contains("--json");
    let api_base = string(args, c, "--api-base")?;
    let token_file = token_file(args, c)?;
    let app = app(args, c)?;
    Ok(ShopsOptions {
        app,
        token_file,
        api_base: config::base_url("--api-base", ENV_API_BASE, api_base, config::DEFAULT_API_BASE)?,
        json,
    })
}

fn parse_sandbox(args: &mut Arguments) -> Result<SandboxOptions, Error> {
    let c = "sandbox";
    let auto_approve = args.contains("--auto-approve");
    let listen = string(args, c, "--listen")?.unwrap_or_else(|| "127.0.0.1:8017".into());
    let listen: SocketAddr = listen.parse().map_err(|_| {
        Error::Usage(format!("--listen `{listen}` is not an address like 127.0.0.1:8017 or [::1]:8017"))
    })?;
    if !listen.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--listen `{listen}` is not a loopback address: the sandbox serves this machine only"
        )));
    }
    let fault = match string(args, c, "--fault")?.as_deref() {
        None => None,
        Some("html-502") => Some(Fault::Html502),
        Some("empty") => Some(Fault::Empty),
        Some("truncated") => Some(Fault::Truncated),
        Some("ip-denied") => Some(Fault::IpDenied),
        Some("echo") => Some(Fault::Echo),
        Some(other) => {
            return Err(Error::Usage(format!(
                "--fault `{other}` is not one of html-502, empty, truncated, ip-denied, echo"
            )));
        }
    };
    let access_ttl = duration(args, c, "--access-ttl")?.unwrap_or(7 * 86_400);
    let refresh_ttl = duration(args, c, "--refresh-ttl")?.unwrap_or(365 * 86_400);
    let clock_skew: i64 = args
        .opt_value_from_str("--clock-skew")
        .map_err(|_| Error::Usage("--clock-skew must be a whole number of seconds, like 600 or -600".into()))?
        .unwrap_or(0);
    let latency = match string(args, c, "--latency")? {
        None => Duration::ZERO,
        Some(text) => expiry::parse_millis(&text).map_err(|e| Error::Usage(format!("--latency: {e}")))?,
    };
    let redirect = string(args, c, "--redirect-url")?;
    let app = app(args, c)?;
    Ok(SandboxOptions {
        latency,
        app,
        listen,
        redirect: config::redirect_url(redirect, None)?,
        auto_approve,
        access_ttl,
        refresh_ttl,
        fault,
        clock_skew,
    })
}
