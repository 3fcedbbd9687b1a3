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
    api        a signed call to any Open API endpoint, like `gh api`
    exec       run a command with a fresh access token in its environment
    doctor     check configuration, clock, network and token, one line each
    sandbox    a local stand-in for TikTok Shop's authorization service
    webhook    verify a delivery's signature, send a signed test delivery, manage subscriptions

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
    tiktok-shop-auth refresh [OPTIONS] FILE...      (many sellers: tokens/*.json)

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
    -q, --quiet                     print nothing on success (cron mails any output); with
                                    FILE..., only the files with problems
    --jobs N                        with FILE...: refresh up to N files at once [default: 4]
    --lock-wait DURATION            how long to wait for another refresh or login holding the lock
                                    before giving up with exit 1   [default: 2m]
    --app-key KEY                   [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH          [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    --token-file PATH               [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --auth-base URL                 [env: TIKTOK_SHOP_AUTH_BASE, default: https://auth.tiktok-shops.com]
    -h, --help                      this text

With FILE..., each file is refreshed under its own lock, one failure never stopping the
others; one line per file (path, seller, outcome, new expiry), problems on stderr, then a
tally. A file given twice (or through a link) is refreshed once. --token-file is a usage
error beside FILE..., and TIKTOK_SHOP_TOKEN_FILE is not used then.

EXIT STATUS:
    0 refreshed or still valid   1 failed (network, TikTok error, unreadable or corrupt file, lock)
    2 usage error   5 a new login is needed (no file, refresh token rejected or expired)
    With FILE...: 5 if any file needs a new login, else 1 if any failed, else 0
";

pub const STATUS_HELP: &str = "\
tiktok-shop-auth status: what the token file holds and whether it is still valid

USAGE:
    tiktok-shop-auth status [--token-file PATH] [--json]
    tiktok-shop-auth status [--json] FILE...     (one row per file)

Reads only the file; makes no request. Tokens are shown masked. The access token counts as
expired 60 s before its stated expiry, to allow for clock skew.

OPTIONS:
    --token-file PATH   [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --json              one JSON object on stdout
    -h, --help          this text

With FILE...: one row per file (path, seller, region, access expiry, refresh expiry, state:
ok, expiring (access token within a day, or the refresh token within 30 days), expired
(run refresh), needs login, corrupt, unreadable, or what the path is instead of a file:
directory, FIFO (named pipe)); --json prints a JSON array. --token-file and FILE... do
not go together.

EXIT STATUS:
    0 the access token is valid (every one, with FILE...)   1 an unreadable or corrupt file
    5 expired or no file: refresh or log in
";

pub const TOKEN_HELP: &str = "\
tiktok-shop-auth token: print the access token alone, for scripts

USAGE:
    tiktok-shop-auth token [--token-file PATH | FILE]

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

pub const API_HELP: &str = "\
tiktok-shop-auth api: a signed call to any Open API endpoint, like `gh api`

USAGE:
    tiktok-shop-auth api [METHOD] PATH [--query KEY=VALUE]... [--shop SELECTOR]
                         [--data JSON | --data @FILE | --data -] [--paginate [--max-pages N]] [--include] [--dry-run]

    tiktok-shop-auth api /seller/202309/shops
    tiktok-shop-auth api POST /order/202309/orders/search --query page_size=50 --shop GB \\
        --data '{\"order_status\": \"AWAITING_SHIPMENT\"}' --paginate
    tiktok-shop-auth api /product/202309/products/1729382476852921560 --shop GB | jq .data.title

Builds the request from PATH (joined to --api-base; a query in it is kept), adds app_key,
timestamp, each --query KEY=VALUE and, when a shop is chosen, shop_cipher; signs it (HMAC-SHA256
over the path, the sorted query and the body exactly as sent) and sends it with the saved
access token in x-tts-access-token. An expired access token is refreshed first, exactly as
`refresh` does. The answer's JSON goes to stdout as received (re-indented).

OPTIONS:
    METHOD                    GET, POST, PUT, DELETE or PATCH [default: GET, or POST with --data]
    --query KEY=VALUE         a query parameter (repeatable); app_key, timestamp, sign,
                              access_token, shop_cipher (use --shop) and the grant keys are refused
    --shop SELECTOR           the shop whose shop_cipher to send: its id, code, name, region or
                              cipher (the seller's shops are fetched once and cached beside the
                              token file). Without it, a one-shop seller's cipher is sent on every
                              path but /authorization/* and /seller/*, which never take one
    --data JSON | @FILE | -   the JSON body, sent and signed byte for byte as given
    --paginate                follow data.next_page_token (sent back as page_token) to the last
                              page, printing each page as one line of compact JSON (JSON Lines);
                              a token seen before stops it (exit 1, naming the token)
    --max-pages N             with --paginate: stop after N pages, exit 1 if more were to follow
                              [default: 10000]
    --include                 print each answer's HTTP status and headers on stderr
    --dry-run                 send nothing: print the method, the signed URL, the headers (token
                              masked), the body and the signature's input with the secret masked
    --app-key KEY             [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH    [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    --token-file PATH         [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --api-base URL            [env: TIKTOK_SHOP_API_BASE, default: https://open-api.tiktokglobalshop.com]
    --auth-base URL           for the refresh [env: TIKTOK_SHOP_AUTH_BASE, default: https://auth.tiktok-shops.com]
    --lock-wait DURATION      how long to wait for the token file's lock to refresh [default: 2m]
    -h, --help                this text

GET is tried again on HTTP 429 and 5xx (3 tries at most, Retry-After honoured up to 10 s);
POST, PUT, DELETE and PATCH never are.

EXIT STATUS:
    0 TikTok answered code 0   1 a non-zero code (the answer still goes to stdout; code,
    message and request_id on stderr), or a network or file error   2 usage error
    5 the access token was refused and could not be refreshed: run refresh, or login
";

pub const EXEC_HELP: &str = "\
tiktok-shop-auth exec: run a command with a fresh access token in its environment

USAGE:
    tiktok-shop-auth exec [--shop SELECTOR] [--if-expiring-within DURATION] [--with-secret] -- CMD [ARG]...

    tiktok-shop-auth exec --shop GB -- python3 etl.py --since yesterday

Refreshes the token first when it expires within DURATION (the app secret is needed only
then), then runs CMD with TIKTOK_SHOP_ACCESS_TOKEN and TIKTOK_SHOP_APP_KEY (and, with --shop,
TIKTOK_SHOP_SHOP_CIPHER and TIKTOK_SHOP_SHOP_ID) added to its environment. Nothing goes on
its command line. TIKTOK_SHOP_APP_SECRET is removed from its environment unless --with-secret.
On Unix CMD replaces this process; its exit status is the command's.

OPTIONS:
    --if-expiring-within DURATION   refresh when the access token expires within this [default: 10m]
    --shop SELECTOR                 also pass this shop's cipher and id (id, code, name, region or cipher)
    --with-secret                   pass the app secret on as TIKTOK_SHOP_APP_SECRET
    --app-key KEY                   [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH          [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    --token-file PATH               [env: TIKTOK_SHOP_TOKEN_FILE, default: tiktok-shop-token.json]
    --api-base URL, --auth-base URL, --lock-wait DURATION   as for `api`
    -h, --help                      this text

EXIT STATUS:
    the command's own; 127 it could not be started; 2 usage error; 5 the token has expired and
    cannot be refreshed here (no secret, or the refresh token is dead); 1 other failures
";

pub const DOCTOR_HELP: &str = "\
tiktok-shop-auth doctor: check configuration, clock, network and token, one line each

USAGE:
    tiktok-shop-auth doctor [OPTIONS] [--json]

Checks, each `ok`, `warn` or `fail` with what to do: the app key, secret and service id
(and an app key given as the service id, or the reverse); the redirect URL and its port on
both loopback families; the token file (mode 0600, a token response, both expiries, the
refresh token's end within 30 days); DNS, TCP and TLS to the authorize host (both US hosts
for US sellers), the auth host and the API host, through the configured proxy and
SSL_CERT_FILE, with the time each took; this machine's clock against the Date of those
answers; a signed shops call (36009033 explained as the app's IP allow list) and the
granted scopes. It never spends a code or a refresh token, and never refreshes.

OPTIONS:
    --json                    the checks as a JSON array
    --app-key, --app-secret-file, --service-id, --token-file, --authorize-url, --auth-base,
    --api-base, --redirect-url, --port: as for login (and their environment variables)
    -h, --help                this text

EXIT STATUS:
    0 nothing failed (warnings allowed)   1 a check failed   2 usage error
";

pub const SANDBOX_HELP: &str = "\
tiktok-shop-auth sandbox: a local stand-in for TikTok Shop's authorization service

USAGE:
    tiktok-shop-auth sandbox [OPTIONS]

Serves, on loopback only, what TikTok Shop does in the flow: GET /open/authorize (a page with
Authorize and Deny), the redirect to the redirect URL with code, state, app_key, locale and
shop_region (or error=access_denied&code=null), GET /api/v2/token/get and
GET /api/v2/token/refresh (single-use codes valid 30 minutes, rotating refresh tokens,
non-zero codes with HTTP 200 for a wrong secret, code or refresh token, 404 for POST), and
the Open API: GET /authorization/202309/shops, GET /seller/202309/shops,
POST /order/202309/orders/search (seeded orders; page_size, page_token, order_status) and
GET /product/202309/products/{id}, each checking the signature over the body (106001), the
timestamp window (106002), the token (105001, 105002) and shop_cipher (106013 when missing
or not the seller's; refused on /authorization and /seller paths).
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
                              terminal escapes included); or the order search answers
                              repeat-page (the same next_page_token every time) or
                              cycle-pages (tokens A, B, A, ...)
    --latency DURATION        test hook, off by default: wait this long before every answer
                              (20ms, 1s); requests then overlap
    --shops N                 how many shops the test seller has        [default: 1]
    --orders N                how many seeded orders each shop has      [default: 30]
    --open-id ID              the test seller's open_id   [default: 7010736057180325637]
    --seller-name NAME        the test seller's name      [default: Sandbox Test Shop]
    --rate-limit N            test hook, off by default: the N+1th Open API call within a
                              second gets HTTP 429 with Retry-After: 1
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
    Api(ApiOptions),
    Exec(ExecOptions),
    Doctor(DoctorOptions),
    Sandbox(SandboxOptions),
    Webhook(crate::commands::webhook::Options),
}

/// `doctor` takes the configuration as given: a missing or bad value is a finding, not a
/// usage error.
pub struct DoctorOptions {
    pub app_key: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub service_id: Option<String>,
    pub token_file: PathBuf,
    pub authorize_url: Option<String>,
    pub auth_base: Option<String>,
    pub api_base: Option<String>,
    pub redirect: Option<String>,
    pub port: Option<u16>,
    pub json: bool,
}

/// Where `api --data` comes from.
pub enum DataSource {
    Literal(String),
    File(PathBuf),
    Stdin,
}

pub struct ApiOptions {
    pub app: App,
    pub token_file: PathBuf,
    pub api_base: String,
    pub auth_base: String,
    pub lock_wait: Duration,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub shop: Option<String>,
    pub data: Option<DataSource>,
    pub paginate: bool,
    /// `--paginate` stops (exit 1) after this many pages.
    pub max_pages: u64,
    pub include: bool,
    pub dry_run: bool,
}

/// `api --paginate`'s page cap when `--max-pages` is not given.
pub const DEFAULT_MAX_PAGES: u64 = 10_000;

pub struct ExecOptions {
    pub app_key: Option<String>,
    /// The app, when the secret is available (it is needed only to refresh).
    pub app: Option<App>,
    pub token_file: PathBuf,
    pub api_base: String,
    pub auth_base: String,
    pub lock_wait: Duration,
    pub shop: Option<String>,
    /// Refresh when the access token expires within this many seconds.
    pub within: i64,
    pub with_secret: bool,
    pub command: Vec<OsString>,
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
    /// `refresh FILE...`: these instead of `token_file`, each on its own.
    pub files: Vec<PathBuf>,
    pub jobs: usize,
    pub auth_base: String,
    pub if_expiring_within: Option<i64>,
    pub quiet: bool,
    pub lock_wait: Duration,
}

pub struct StatusOptions {
    pub token_file: PathBuf,
    /// `status FILE...`: one row per file instead of the summary.
    pub files: Vec<PathBuf>,
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
    /// Open API: every page of orders names the same `next_page_token`.
    RepeatPage,
    /// Open API: the pages of orders name tokens A, B, A, ...
    CyclePages,
}

impl Fault {
    /// Whether the token endpoints answer with this fault (the others are the Open API's).
    pub fn on_token_endpoints(self) -> bool {
        !matches!(self, Fault::RepeatPage | Fault::CyclePages)
    }
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
    /// How many shops the test seller has.
    pub shops: u32,
    /// The test seller's `open_id` and name (two sandboxes stand for two sellers).
    pub open_id: String,
    pub seller_name: String,
    /// How many seeded orders each shop has.
    pub orders: usize,
    /// Open API calls allowed per second before HTTP 429.
    pub rate_limit: Option<u32>,
}

pub fn parse(mut args: Vec<OsString>) -> Result<Command, Error> {
    // `exec ... -- CMD ARGS`: what follows `--` is the command's, untouched by parsing.
    let trailing = match args.first().and_then(|a| a.to_str()) {
        Some("exec") => args.iter().position(|a| a == "--").map(|i| args.split_off(i).split_off(1)),
        _ => None,
    };
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
            let json = a.contains("--json");
            let (token_file, files) = token_file_or_files(a, "status")?;
            Ok(Command::Status(StatusOptions { token_file, json, files }))
        }),
        "token" => (TOKEN_HELP, |a| {
            let (flag, files) = token_file_or_files(a, "token")?;
            match files.as_slice() {
                [] => Ok(Command::Token(flag)),
                [one] => Ok(Command::Token(one.clone())),
                _ => Err(Error::Usage("token takes one token file; for several, use `status FILE...`".into())),
            }
        }),
        "shops" => (SHOPS_HELP, |a| parse_shops(a).map(Command::Shops)),
        "api" => (API_HELP, |a| parse_api(a).map(Command::Api)),
        "exec" => (EXEC_HELP, |a| parse_exec(a).map(Command::Exec)),
        "doctor" => (DOCTOR_HELP, |a| parse_doctor(a).map(Command::Doctor)),
        "sandbox" => (SANDBOX_HELP, |a| parse_sandbox(a).map(Command::Sandbox)),
        "webhook" => (crate::commands::webhook::HELP, |a| crate::commands::webhook::parse(a).map(Command::Webhook)),
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
    let mut parsed = parser(&mut args)?;
    if let Command::Exec(opts) = &mut parsed {
        opts.command = trailing.unwrap_or_default();
        if opts.command.is_empty() {
            return Err(Error::Usage(
                "exec: give the command to run after `--`, e.g. `tiktok-shop-auth exec -- python3 etl.py`".into(),
            ));
        }
    }
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

pub(crate) fn usage(command: &str, e: pico_args::Error) -> Error {
    let see = if command.is_empty() {
        "tiktok-shop-auth --help".to_string()
    } else {
        format!("tiktok-shop-auth {command} --help")
    };
    Error::Usage(format!("{e}; see `{see}`"))
}

pub(crate) fn string(args: &mut Arguments, command: &str, flag: &'static str) -> Result<Option<String>, Error> {
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

/// `--token-file` (or its variable and default), or token files as arguments: not both, so
/// a flag is never silently ignored.
fn token_file_or_files(args: &mut Arguments, command: &str) -> Result<(PathBuf, Vec<PathBuf>), Error> {
    let flag = path(args, command, "--token-file")?;
    let files = files(args, command)?;
    if let (Some(flag), false) = (&flag, files.is_empty()) {
        return Err(Error::Usage(format!(
            "{command}: --token-file `{}` and token files as arguments were both given; pass one or the other",
            crate::secret::clean(&flag.display().to_string())
        )));
    }
    Ok((config::token_file(flag), files))
}

pub(crate) fn app(args: &mut Arguments, command: &str) -> Result<App, Error> {
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

/// The free arguments: token files (`refresh tokens/*.json`). Anything that looks like an
/// option here is one this command does not know.
fn files(args: &mut Arguments, command: &str) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    while let Some(file) = args
        .opt_free_from_os_str(|s| Ok::<_, std::convert::Infallible>(PathBuf::from(s)))
        .map_err(|e| usage(command, e))?
    {
        if file.as_os_str().to_string_lossy().starts_with('-') {
            return Err(Error::Usage(format!(
                "unexpected argument `{}` for `{command}`; see `tiktok-shop-auth {command} --help`",
                file.display()
            )));
        }
        files.push(file);
    }
    Ok(files)
}

fn parse_refresh(args: &mut Arguments) -> Result<RefreshOptions, Error> {
    let c = "refresh";
    let quiet = args.contains(["-q", "--quiet"]);
    let jobs: usize = args
        .opt_value_from_str("--jobs")
        .map_err(|_| Error::Usage("--jobs must be a whole number from 1 to 64".into()))?
        .unwrap_or(4);
    if !(1..=64).contains(&jobs) {
        return Err(Error::Usage("--jobs must be a whole number from 1 to 64".into()));
    }
    let if_expiring_within = duration(args, c, "--if-expiring-within")?;
    let lock_wait = duration(args, c, "--lock-wait")?.unwrap_or(120);
    let auth_base = string(args, c, "--auth-base")?;
    let app = app(args, c)?;
    let (token_file, files) = token_file_or_files(args, c)?;
    Ok(RefreshOptions {
        app,
        token_file,
        files,
        jobs,
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

/// The Open API and auth bases, and the lock wait, as `api` and `exec` share them.
fn bases(args: &mut Arguments, c: &str) -> Result<(String, String, Duration), Error> {
    let api_base = string(args, c, "--api-base")?;
    let auth_base = string(args, c, "--auth-base")?;
    let lock_wait = Duration::from_secs(duration(args, c, "--lock-wait")?.unwrap_or(120) as u64);
    Ok((
        config::base_url("--api-base", ENV_API_BASE, api_base, config::DEFAULT_API_BASE)?,
        config::base_url("--auth-base", ENV_AUTH_BASE, auth_base, config::DEFAULT_AUTH_BASE)?,
        lock_wait,
    ))
}

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
/// Query keys the tool sets itself (`shop_cipher` through `--shop`), or that carry a grant
/// or the secret: `api` never sends them from the command line.
const RESERVED_QUERY_KEYS: [&str; 8] =
    ["app_key", "timestamp", "sign", "access_token", "shop_cipher", "app_secret", "refresh_token", "auth_code"];
/// The token endpoints: only the locked refresh (and login) may call them.
const TOKEN_PATHS: &str = "/api/v2/token/";

fn parse_api(args: &mut Arguments) -> Result<ApiOptions, Error> {
    let c = "api";
    let paginate = args.contains("--paginate");
    let max_pages: u64 = args
        .opt_value_from_str("--max-pages")
        .map_err(|_| Error::Usage("--max-pages must be a whole number of at least 1".into()))?
        .unwrap_or(DEFAULT_MAX_PAGES);
    if max_pages == 0 {
        return Err(Error::Usage("--max-pages must be a whole number of at least 1".into()));
    }
    let include = args.contains("--include");
    let dry_run = args.contains("--dry-run");
    let shop = string(args, c, "--shop")?;
    let data = string(args, c, "--data")?.map(|d| match d.as_str() {
        "-" => DataSource::Stdin,
        _ => match d.strip_prefix('@') {
            Some(file) => DataSource::File(PathBuf::from(file)),
            None => DataSource::Literal(d),
        },
    });
    if args.contains("-q") {
        return Err(Error::Usage(
            "api: `-q` means --quiet in every command; query pairs are `--query KEY=VALUE`".into(),
        ));
    }
    let mut query = Vec::new();
    for pair in args.values_from_str::<_, String>("--query").map_err(|e| usage(c, e))? {
        let Some((k, v)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::Usage(format!("--query `{}` is not KEY=VALUE", crate::secret::clean(&pair))));
        };
        query.push((k.to_string(), v.to_string()));
    }
    let (api_base, auth_base, lock_wait) = bases(args, c)?;
    let token_file = token_file(args, c)?;
    let app = app(args, c)?;
    let first: Option<String> = args.opt_free_from_str().map_err(|e| usage(c, e))?;
    let second: Option<String> = args.opt_free_from_str().map_err(|e| usage(c, e))?;
    let (method, path) = match (first, second) {
        (Some(m), Some(p)) => (m.to_ascii_uppercase(), p),
        (Some(p), None) => (if data.is_some() { "POST" } else { "GET" }.to_string(), p),
        (None, _) => return Err(Error::Usage("api: give the Open API PATH, e.g. `/seller/202309/shops`".into())),
    };
    if !METHODS.contains(&method.as_str()) {
        return Err(Error::Usage(format!("api: METHOD `{method}` is not one of {}", METHODS.join(", "))));
    }
    if !path.starts_with('/') || path.contains(['#', ' ']) {
        return Err(Error::Usage(format!("api: PATH `{path}` must start with `/`, like /seller/202309/shops")));
    }
    let (path, in_path) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), crate::url::parse_query(q)),
        None => (path, Vec::new()),
    };
    if path.to_ascii_lowercase().starts_with(TOKEN_PATHS) {
        return Err(Error::Usage(format!(
            "api: `{}` is a token endpoint, which spends a grant: only `tiktok-shop-auth refresh` (under the token \
             file's lock) and `login` call it; nothing was sent",
            crate::secret::clean(&path)
        )));
    }
    let query: Vec<(String, String)> = in_path.into_iter().chain(query).collect();
    if let Some((k, _)) = query.iter().find(|(k, _)| RESERVED_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str())) {
        let k = crate::secret::clean(k);
        let why = match k.as_str() {
            "shop_cipher" => "choose the shop with --shop (an id, code, name, region or cipher)".to_string(),
            "app_secret" | "refresh_token" | "auth_code" => {
                "it carries a secret or a grant, which api never sends from the command line".to_string()
            }
            _ => "the tool sets it itself".to_string(),
        };
        return Err(Error::Usage(format!("api: `{k}` is not taken in --query or PATH: {why}; nothing was sent")));
    }
    Ok(ApiOptions {
        app,
        token_file,
        api_base,
        auth_base,
        lock_wait,
        method,
        path,
        query,
        shop,
        data,
        paginate,
        max_pages,
        include,
        dry_run,
    })
}

fn parse_exec(args: &mut Arguments) -> Result<ExecOptions, Error> {
    let c = "exec";
    let with_secret = args.contains("--with-secret");
    let shop = string(args, c, "--shop")?;
    let within = duration(args, c, "--if-expiring-within")?.unwrap_or(600);
    let (api_base, auth_base, lock_wait) = bases(args, c)?;
    let token_file = token_file(args, c)?;
    let key = string(args, c, "--app-key")?;
    let secret_file = path(args, c, "--app-secret-file")?;
    let app_key = config::setting(key.clone(), config::ENV_APP_KEY);
    let secret_given = secret_file.is_some() || std::env::var_os(config::ENV_APP_SECRET).is_some_and(|v| !v.is_empty());
    let app = if secret_given { Some(config::app(key, secret_file)?) } else { None };
    Ok(ExecOptions {
        app_key,
        app,
        token_file,
        api_base,
        auth_base,
        lock_wait,
        shop,
        within,
        with_secret,
        command: Vec::new(),
    })
}

fn parse_doctor(args: &mut Arguments) -> Result<DoctorOptions, Error> {
    let c = "doctor";
    Ok(DoctorOptions {
        json: args.contains("--json"),
        port: args
            .opt_value_from_str("--port")
            .map_err(|_| Error::Usage("--port must be a number from 1 to 65535".into()))?,
        app_key: string(args, c, "--app-key")?,
        secret_file: path(args, c, "--app-secret-file")?,
        service_id: string(args, c, "--service-id")?,
        token_file: token_file(args, c)?,
        authorize_url: string(args, c, "--authorize-url")?,
        auth_base: string(args, c, "--auth-base")?,
        api_base: string(args, c, "--api-base")?,
        redirect: string(args, c, "--redirect-url")?,
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
        Some("repeat-page") => Some(Fault::RepeatPage),
        Some("cycle-pages") => Some(Fault::CyclePages),
        Some(other) => {
            return Err(Error::Usage(format!(
                "--fault `{other}` is not one of html-502, empty, truncated, ip-denied, echo, repeat-page, cycle-pages"
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
    let number = |args: &mut Arguments, flag: &'static str, range: std::ops::RangeInclusive<u64>| {
        let value: Option<u64> = args.opt_value_from_str(flag).map_err(|_| {
            Error::Usage(format!("{flag} must be a whole number from {} to {}", range.start(), range.end()))
        })?;
        match value {
            Some(n) if !range.contains(&n) => {
                Err(Error::Usage(format!("{flag} must be a whole number from {} to {}", range.start(), range.end())))
            }
            other => Ok(other),
        }
    };
    let shops = number(args, "--shops", 1..=50)?.unwrap_or(1) as u32;
    let orders = number(args, "--orders", 0..=1_000_000)?.unwrap_or(30) as usize;
    let rate_limit = number(args, "--rate-limit", 1..=10_000)?.map(|n| n as u32);
    let open_id = string(args, c, "--open-id")?.unwrap_or_else(|| crate::sandbox::OPEN_ID.into());
    let seller_name = string(args, c, "--seller-name")?.unwrap_or_else(|| crate::sandbox::SELLER.into());
    let redirect = string(args, c, "--redirect-url")?;
    let app = app(args, c)?;
    Ok(SandboxOptions {
        open_id,
        seller_name,
        latency,
        shops,
        orders,
        rate_limit,
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
