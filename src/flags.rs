//! Every flag, defined once (its names, value name, environment variable, default and a
//! line of doc), and every command's list of them, as ripgrep's `flags/defs.rs` does; from
//! this one definition come each command's OPTIONS in `--help`, the unknown-option check,
//! the shell completions (`completions`), the man page (`man`) and, checked by a test, the
//! README's configuration table. The parsers read flags by these names; in debug builds a
//! read of a flag the command does not define panics, so the two cannot drift apart.

use crate::config::*;

// The defaults, here beside the flags they are the defaults of (the commands use them from
// here: this module sits below every command).

/// How long `login` waits for the browser's redirect.
pub const LOGIN_TIMEOUT: i64 = 60;
/// With `--manual`, how long it waits for the pasted address.
pub const MANUAL_TIMEOUT: i64 = 600;
/// How long `login`, once the redirect arrives, waits for a refresh holding the lock.
pub const LOGIN_LOCK_WAIT_SECONDS: i64 = 30;
/// How long a command that refreshes (`refresh`, `api`, `exec`, `webhook`) waits for
/// another run holding the seller's lock before giving up with exit 1.
pub const LOCK_WAIT_SECONDS: i64 = 120;
/// `exec` refreshes first when the access token expires within this.
pub const EXEC_WITHIN_SECONDS: i64 = 600;
/// `refresh FILE...`: how many files at once.
pub const JOBS_AT_ONCE: usize = 4;
/// `--paginate`'s page cap when `--max-pages` is not given.
pub const PAGES_AT_MOST: u64 = 10_000;
/// The sandbox's own test app, used when no app key, secret or service id is given (any
/// value works against it; these are no real app's).
pub const SANDBOX_APP_KEY: &str = "sandbox_app_key";
pub const SANDBOX_APP_SECRET: &str = "sandbox_test_secret_not_a_real_one";
pub const SANDBOX_SERVICE_ID: &str = "7001";
/// The sandbox's test seller.
pub const SANDBOX_OPEN_ID: &str = "7010736057180325637";
pub const SANDBOX_SELLER: &str = "Sandbox Test Shop";
/// Where the sandbox listens when `--listen` is not given.
pub const SANDBOX_LISTEN: &str = "127.0.0.1:8017";
/// The sandbox's token lifetimes when `--access-ttl` / `--refresh-ttl` are not given: TikTok's.
pub const SANDBOX_ACCESS_TTL: i64 = 7 * 86_400;
pub const SANDBOX_REFRESH_TTL: i64 = 365 * 86_400;
/// The sandbox seller's shops, and each shop's seeded orders.
pub const SANDBOX_SHOPS: u32 = 1;
pub const SANDBOX_ORDERS: usize = 30;
/// What the waits between webhook retries are multiplied by when `--webhook-retry-scale`
/// is not given: TikTok's own schedule.
pub const SANDBOX_RETRY_SCALE: u32 = 1;

/// What a flag's value (or a command's argument) completes to in a shell.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Complete {
    Nothing,
    File,
    Choices(&'static [&'static str]),
    /// A webhook event's name (`delivery::EVENTS`).
    Events,
}

/// One flag.
#[derive(Debug)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<&'static str>,
    /// The value's name (`PATH`, `URL`), or `None` for a switch.
    pub value: Option<&'static str>,
    pub env: Option<&'static str>,
    /// The default as shown; `None`: none (or required, which `doc` says).
    pub default: Option<fn() -> String>,
    pub doc: &'static str,
    pub complete: Complete,
    /// Given more than once adds to it (`--query`).
    pub repeats: bool,
}

impl Flag {
    const fn new(long: &'static str, value: Option<&'static str>, doc: &'static str) -> Flag {
        Flag { long, short: None, value, env: None, default: None, doc, complete: Complete::Nothing, repeats: false }
    }
    const fn env(mut self, var: &'static str) -> Flag {
        self.env = Some(var);
        self
    }
    const fn default(mut self, value: fn() -> String) -> Flag {
        self.default = Some(value);
        self
    }
    const fn short(mut self, s: &'static str) -> Flag {
        self.short = Some(s);
        self
    }
    const fn complete(mut self, c: Complete) -> Flag {
        self.complete = c;
        self
    }
    const fn repeats(mut self) -> Flag {
        self.repeats = true;
        self
    }
}

/// A default that is a constant string, as a `fn` (so that a `const` flag can hold it).
macro_rules! def {
    ($text:expr) => {{
        fn default() -> String {
            $text.to_string()
        }
        default
    }};
}

pub const APP_KEY: Flag =
    Flag::new("--app-key", Some("KEY"), "the app key (Partner Center, the app's page); required").env(ENV_APP_KEY);
pub const APP_SECRET_FILE: Flag = Flag::new(
    "--app-secret-file",
    Some("PATH"),
    "a file whose first line is the app secret (the variable holds the secret itself; never a flag value); required \
     (sandbox: a test one when not given)",
)
.env(ENV_APP_SECRET)
.complete(Complete::File);
pub const SERVICE_ID: Flag =
    Flag::new("--service-id", Some("ID"), "the app's service id (not needed when --authorize-url has service_id)")
        .env(ENV_SERVICE_ID);
pub const TOKEN_FILE: Flag = Flag::new(
    "--token-file",
    Some("PATH"),
    "the token file, or etcd://HOST:PORT[,...]/PREFIX/NAME (the tokens in an etcd cluster)",
)
.env(ENV_TOKEN_FILE)
.default(def!(DEFAULT_TOKEN_FILE))
.complete(Complete::File);
pub const ETCD_PASSWORD_FILE: Flag = Flag::new(
    "--etcd-password-file",
    Some("PATH"),
    "the etcd user's password (TIKTOK_SHOP_ETCD_USER's), for an etcd:// location",
)
.env("TIKTOK_SHOP_ETCD_PASSWORD")
.complete(Complete::File);
pub const AUTHORIZE_URL: Flag = Flag::new(
    "--authorize-url",
    Some("URL"),
    "the authorization page, or the whole link from Partner Center (US: https://services.us.tiktokshop.com/open/authorize)",
)
.env(ENV_AUTHORIZE_URL)
.default(def!(DEFAULT_AUTHORIZE_URL));
pub const AUTH_BASE: Flag =
    Flag::new("--auth-base", Some("URL"), "the token service").env(ENV_AUTH_BASE).default(def!(DEFAULT_AUTH_BASE));
pub const API_BASE: Flag =
    Flag::new("--api-base", Some("URL"), "the Open API").env(ENV_API_BASE).default(def!(DEFAULT_API_BASE));
pub const REDIRECT_URL: Flag = Flag::new(
    "--redirect-url",
    Some("URL"),
    "the redirect URL registered on the app, exactly; for the listener http:// on localhost, 127.0.0.1 or [::1] \
     (with --manual, any)",
)
.env(ENV_REDIRECT_URL)
.default(def!(DEFAULT_REDIRECT_URL));
pub const PORT: Flag = Flag::new("--port", Some("N"), "listen on port N instead of the redirect URL's");
pub const TIMEOUT: Flag = Flag::new("--timeout", Some("SECONDS"), "how long to wait for the browser (90, 90s, 5m)")
    .default(|| format!("{}; with --manual: {}", LOGIN_TIMEOUT, MANUAL_TIMEOUT));
pub const NO_BROWSER: Flag = Flag::new("--no-browser", None, "keep the listener but only print the link");
pub const MANUAL: Flag = Flag::new(
    "--manual",
    None,
    "no listener, no browser: print the link, then paste the address the browser was sent to (or the code) on stdin",
);
pub const JSON: Flag = Flag::new("--json", None, "JSON on stdout");
pub const REPLACE: Flag = Flag::new(
    "--replace",
    None,
    "replace the token file even when another seller authorizes (else their tokens are kept beside it, exit 1); \
     with --recover, FILE may be another seller's",
);
pub const LOGIN_LOCK_WAIT: Flag = Flag::new(
    "--lock-wait",
    Some("DURATION"),
    "how long to wait for another login of the same token file, and at the redirect for a refresh holding its lock",
)
.default(|| crate::expiry::short(LOGIN_LOCK_WAIT_SECONDS));
pub const LOCK_WAIT: Flag =
    Flag::new("--lock-wait", Some("DURATION"), "how long to wait for another run holding the lock, then exit 1")
        .default(|| crate::expiry::short(LOCK_WAIT_SECONDS));
pub const RECOVER: Flag = Flag::new(
    "--recover",
    Some("FILE"),
    "install FILE (a recovery file a failed save left) as the token file, under the lock; no browser, no request",
)
.complete(Complete::File);
pub const IF_EXPIRING_WITHIN: Flag = Flag::new(
    "--if-expiring-within",
    Some("DURATION"),
    "refresh only when the access token expires within DURATION (90s, 30m, 12h, 2d)",
);
pub const EXEC_WITHIN: Flag =
    Flag::new("--if-expiring-within", Some("DURATION"), "refresh first when the access token expires within DURATION")
        .default(|| crate::expiry::short(EXEC_WITHIN_SECONDS));
pub const QUIET: Flag = Flag::new("--quiet", None, "print nothing on success; only problems").short("-q");
pub const API_QUIET: Flag =
    Flag::new("--quiet", None, "no line on stderr for each wait of a throttled call").short("-q");
pub const JOBS: Flag =
    Flag::new("--jobs", Some("N"), "with FILE...: refresh up to N at once").default(|| JOBS_AT_ONCE.to_string());
pub const QUERY: Flag = Flag::new(
    "--query",
    Some("KEY=VALUE"),
    "a query parameter (repeatable); the keys the tool sets or that carry grants are refused",
)
.repeats();
pub const SHOP: Flag = Flag::new(
    "--shop",
    Some("SELECTOR"),
    "the shop: its id, code, name, region or cipher (a one-shop seller's is chosen without it)",
);
pub const DATA: Flag = Flag::new(
    "--data",
    Some("JSON|@FILE|-"),
    "the JSON body, sent and signed byte for byte as given (makes the method POST)",
)
.complete(Complete::File);
pub const FORM: Flag = Flag::new(
    "--form",
    Some("NAME=VALUE|NAME=@FILE"),
    "a multipart/form-data body instead (repeatable; unsigned, as TikTok signs path and query only; a file's type \
     from its extension; 10 MiB at most)",
)
.repeats();
pub const RETRIES: Flag = Flag::new(
    "--retries",
    Some("N"),
    "how often a throttled read (GET, a POST to .../search; HTTP 429 or 503, 36009002) is tried again, backing off \
     1, 2, 4 s with jitter or its Retry-After up to 60 s; 0: never",
)
.default(|| crate::open_api::RETRIES.to_string());
pub const PAGINATE: Flag = Flag::new(
    "--paginate",
    None,
    "follow data.next_page_token to the last page, a page of compact JSON a line; a repeated token is exit 1",
);
pub const MAX_PAGES: Flag = Flag::new("--max-pages", Some("N"), "with --paginate: stop after N pages (exit 1 if more)")
    .default(|| PAGES_AT_MOST.to_string());
pub const PICK: Flag = Flag::new(
    "--pick",
    Some("POINTER"),
    "print only the JSON value at an RFC 6901 pointer (/data/shops/0/cipher; strings raw, a line each; each page \
     with --paginate; repeatable); none there is exit 1",
)
.repeats();
pub const INCLUDE: Flag = Flag::new("--include", None, "print each answer's HTTP status and headers on stderr");
pub const DRY_RUN: Flag = Flag::new(
    "--dry-run",
    None,
    "send nothing: print the request, the headers (token masked) and the signature's input (secret masked)",
);
pub const VERBOSE: Flag = Flag::new(
    "--verbose",
    None,
    "a line on stderr for each HTTP request: method, URL with every secret masked, status, time, request_id",
)
.short("-v")
.repeats();
pub const WITH_SECRET: Flag = Flag::new("--with-secret", None, "pass the app secret on as TIKTOK_SHOP_APP_SECRET");
pub const SIGNATURE: Flag =
    Flag::new("--signature", Some("HEX"), "verify: the delivery's Authorization value (hex, either case)");
pub const TO: Flag = Flag::new("--to", Some("URL"), "send: the receiver, http:// or https://");
pub const SHOP_ID: Flag =
    Flag::new("--shop-id", Some("ID"), "send: the envelope's shop_id").default(def!(crate::delivery::EXAMPLE_SHOP_ID));
pub const WEBHOOK_DATA: Flag =
    Flag::new("--data", Some("JSON|@FILE|-"), "send: the event's data instead of the example, put in as given")
        .complete(Complete::File);
pub const BAD_SIGNATURE: Flag =
    Flag::new("--bad-signature", None, "send: sign with a wrong secret; the receiver must refuse it (4xx)");
pub const REVOKE: Flag = Flag::new(
    "--revoke",
    None,
    "end the grant at TikTok first (DELETE /authorization/202403/shops); when that fails nothing is removed",
);
pub const LISTEN: Flag = Flag::new("--listen", Some("ADDR"), "loopback address and port (port 0 picks a free one)")
    .default(def!(SANDBOX_LISTEN));
pub const AUTO_APPROVE: Flag = Flag::new("--auto-approve", None, "redirect at once instead of showing the page");
pub const ACCESS_TTL: Flag = Flag::new("--access-ttl", Some("DURATION"), "access token lifetime")
    .default(|| crate::expiry::short(SANDBOX_ACCESS_TTL));
pub const REFRESH_TTL: Flag = Flag::new("--refresh-ttl", Some("DURATION"), "refresh token lifetime")
    .default(|| crate::expiry::short(SANDBOX_REFRESH_TTL));
pub const FAULT: Flag = Flag::new(
    "--fault",
    Some("KIND"),
    "a test fault: the token endpoints answer html-502, empty, truncated, ip-denied (36009033) or echo (the request \
     repeated, secrets included); the order search repeat-page or cycle-pages",
)
.complete(Complete::Choices(&["html-502", "empty", "truncated", "ip-denied", "echo", "repeat-page", "cycle-pages"]));
pub const LATENCY: Flag = Flag::new("--latency", Some("DURATION"), "wait this long before every answer (20ms, 1s)");
pub const SHOPS: Flag =
    Flag::new("--shops", Some("N"), "shops the test seller has").default(|| SANDBOX_SHOPS.to_string());
pub const ORDERS: Flag =
    Flag::new("--orders", Some("N"), "seeded orders per shop").default(|| SANDBOX_ORDERS.to_string());
pub const OPEN_ID: Flag =
    Flag::new("--open-id", Some("ID"), "the test seller's open_id").default(def!(SANDBOX_OPEN_ID));
pub const SELLER_NAME: Flag =
    Flag::new("--seller-name", Some("NAME"), "the test seller's name").default(def!(SANDBOX_SELLER));
pub const RATE_LIMIT: Flag = Flag::new(
    "--rate-limit",
    Some("N"),
    "the N+1th Open API call within a second is throttled as TikTok does: HTTP 429, code 36009002",
);
pub const THROTTLE_EVERY: Flag = Flag::new("--throttle-every", Some("N"), "every Nth Open API call is throttled");
pub const RETRY_AFTER: Flag = Flag::new(
    "--retry-after",
    Some("SECONDS"),
    "throttled answers carry Retry-After: SECONDS (TikTok's seen ones carry none)",
);
pub const CLOCK_SKEW: Flag =
    Flag::new("--clock-skew", Some("SECONDS"), "run the sandbox's clock this far ahead (or behind, negative)");
pub const SELLERS: Flag = Flag::new(
    "--sellers",
    Some("N"),
    "test sellers: each login signs in the next one (an open_id and name of its own), round and round",
)
.default(|| "1".into());
pub const WEBHOOK_RETRY_SCALE: Flag = Flag::new(
    "--webhook-retry-scale",
    Some("FACTOR"),
    "multiply the waits between webhook retries (0 < FACTOR <= 1; 0.001 makes 2 min 120 ms)",
)
.default(|| SANDBOX_RETRY_SCALE.to_string());

/// A command, as the help, the completions and the man page show it.
#[derive(Debug)]
pub struct Command {
    pub name: &'static str,
    pub summary: &'static str,
    /// Its arguments after the flags, as the usage line shows them (`FILE...`).
    pub args: &'static str,
    /// What each argument completes to, in order; the last one for every further argument.
    pub args_complete: &'static [Complete],
    pub flags: &'static [&'static Flag],
}

/// The sub-command words `webhook` and `completions` take (completed like arguments).
pub const WEBHOOK_SUBCOMMANDS: &[&str] = &["verify", "send", "list", "subscribe", "unsubscribe"];
pub const SHELLS: &[&str] = &["bash", "zsh", "fish", "powershell"];

pub static COMMANDS: &[Command] = &[
    Command {
        name: "login",
        summary: "sign in through the browser and save the token file",
        args: "",
        args_complete: &[],
        flags: &[
            &APP_KEY,
            &APP_SECRET_FILE,
            &SERVICE_ID,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &AUTHORIZE_URL,
            &AUTH_BASE,
            &REDIRECT_URL,
            &PORT,
            &TIMEOUT,
            &NO_BROWSER,
            &MANUAL,
            &JSON,
            &REPLACE,
            &LOGIN_LOCK_WAIT,
            &RECOVER,
            &VERBOSE,
        ],
    },
    Command {
        name: "refresh",
        summary: "new tokens from the saved refresh token (cron-safe, never interactive)",
        args: "[FILE...]",
        args_complete: &[Complete::File],
        flags: &[
            &IF_EXPIRING_WITHIN,
            &QUIET,
            &JOBS,
            &LOCK_WAIT,
            &APP_KEY,
            &APP_SECRET_FILE,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &AUTH_BASE,
            &VERBOSE,
        ],
    },
    Command {
        name: "status",
        summary: "what the token file holds and whether it is still valid",
        args: "[FILE...]",
        args_complete: &[Complete::File],
        flags: &[&TOKEN_FILE, &ETCD_PASSWORD_FILE, &JSON, &VERBOSE],
    },
    Command {
        name: "token",
        summary: "print the access token alone, for scripts",
        args: "[FILE]",
        args_complete: &[Complete::File],
        flags: &[&TOKEN_FILE, &ETCD_PASSWORD_FILE, &VERBOSE],
    },
    Command {
        name: "shops",
        summary: "a signed Open API call that proves the token works and lists shop ciphers",
        args: "",
        args_complete: &[],
        flags: &[&APP_KEY, &APP_SECRET_FILE, &TOKEN_FILE, &ETCD_PASSWORD_FILE, &API_BASE, &JSON, &VERBOSE],
    },
    Command {
        name: "api",
        summary: "a signed call to any Open API endpoint, like `gh api`",
        args: "[METHOD] PATH",
        args_complete: &[Complete::Choices(&["GET", "POST", "PUT", "DELETE", "PATCH"]), Complete::Nothing],
        flags: &[
            &QUERY,
            &SHOP,
            &DATA,
            &FORM,
            &PAGINATE,
            &MAX_PAGES,
            &PICK,
            &INCLUDE,
            &DRY_RUN,
            &RETRIES,
            &API_QUIET,
            &APP_KEY,
            &APP_SECRET_FILE,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &API_BASE,
            &AUTH_BASE,
            &LOCK_WAIT,
            &VERBOSE,
        ],
    },
    Command {
        name: "exec",
        summary: "run a command with a fresh access token in its environment",
        args: "-- CMD [ARG]...",
        args_complete: &[],
        flags: &[
            &EXEC_WITHIN,
            &SHOP,
            &WITH_SECRET,
            &APP_KEY,
            &APP_SECRET_FILE,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &API_BASE,
            &AUTH_BASE,
            &LOCK_WAIT,
            &VERBOSE,
        ],
    },
    Command {
        name: "doctor",
        summary: "check configuration, clock, network and token, one line each",
        args: "",
        args_complete: &[],
        flags: &[
            &APP_KEY,
            &APP_SECRET_FILE,
            &SERVICE_ID,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &AUTHORIZE_URL,
            &AUTH_BASE,
            &API_BASE,
            &REDIRECT_URL,
            &PORT,
            &JSON,
            &VERBOSE,
        ],
    },
    Command {
        name: "sandbox",
        summary: "a local stand-in for TikTok Shop (authorization, Open API, webhooks)",
        args: "",
        args_complete: &[],
        flags: &[
            &LISTEN,
            &AUTO_APPROVE,
            &APP_KEY,
            &APP_SECRET_FILE,
            &SERVICE_ID,
            &REDIRECT_URL,
            &SELLERS,
            &ACCESS_TTL,
            &REFRESH_TTL,
            &FAULT,
            &LATENCY,
            &SHOPS,
            &ORDERS,
            &OPEN_ID,
            &SELLER_NAME,
            &RATE_LIMIT,
            &THROTTLE_EVERY,
            &RETRY_AFTER,
            &CLOCK_SKEW,
            &WEBHOOK_RETRY_SCALE,
        ],
    },
    Command {
        name: "webhook",
        summary: "verify a delivery's signature, send a signed test delivery, manage subscriptions",
        args: "verify|send|list|subscribe|unsubscribe [EVENT] [URL|FILE]",
        args_complete: &[Complete::Choices(WEBHOOK_SUBCOMMANDS), Complete::Events, Complete::File],
        flags: &[
            &SIGNATURE,
            &TO,
            &SHOP_ID,
            &WEBHOOK_DATA,
            &BAD_SIGNATURE,
            &SHOP,
            &JSON,
            &APP_KEY,
            &APP_SECRET_FILE,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &API_BASE,
            &AUTH_BASE,
            &LOCK_WAIT,
            &VERBOSE,
        ],
    },
    Command {
        name: "copy",
        summary: "sellers' tokens between token files and an etcd store",
        args: "SRC... DEST",
        args_complete: &[Complete::File],
        flags: &[&QUIET, &LOCK_WAIT, &ETCD_PASSWORD_FILE, &VERBOSE],
    },
    Command {
        name: "logout",
        summary: "forget a seller's tokens (--revoke: end the grant at TikTok too)",
        args: "",
        args_complete: &[],
        flags: &[
            &REVOKE,
            &SHOP,
            &APP_KEY,
            &APP_SECRET_FILE,
            &TOKEN_FILE,
            &ETCD_PASSWORD_FILE,
            &API_BASE,
            &AUTH_BASE,
            &LOCK_WAIT,
            &VERBOSE,
        ],
    },
    Command {
        name: "completions",
        summary: "a shell completion script: bash, zsh, fish or powershell",
        args: "SHELL",
        args_complete: &[Complete::Choices(SHELLS), Complete::Nothing],
        flags: &[],
    },
    Command {
        name: "man",
        summary: "the manual page (roff), for man -l or /usr/share/man/man1",
        args: "",
        args_complete: &[],
        flags: &[],
    },
];

/// The variables read without a flag of their own, with what they do (the top-level help,
/// the man page's ENVIRONMENT).
pub const MORE_ENVIRONMENT: &[(&str, &str)] = &[
    ("TIKTOK_SHOP_ETCD_USER", "the etcd user (its password: --etcd-password-file or TIKTOK_SHOP_ETCD_PASSWORD)"),
    ("TIKTOK_SHOP_ETCD_CA", "the CA certificates (PEM) an etcd+https:// cluster's are checked against"),
    ("TIKTOK_SHOP_ETCD_CERT", "a client certificate (PEM) for an etcd+https:// cluster, with TIKTOK_SHOP_ETCD_KEY"),
    ("TIKTOK_SHOP_ETCD_KEY", "the client certificate's private key (PEM)"),
    ("TIKTOK_SHOP_ETCD_LEASE_TTL", "seconds an etcd lock outlives a machine that stops keeping it alive [default: 10]"),
    ("BROWSER", "the browser login opens the link in"),
    ("ALL_PROXY, HTTPS_PROXY, HTTP_PROXY, NO_PROXY", "proxies, honoured"),
    ("SSL_CERT_FILE", "CA certificates instead of the built-in roots"),
];

/// The command named `name`.
pub fn command(name: &str) -> Option<&'static Command> {
    COMMANDS.iter().find(|c| c.name == name)
}

/// Whether `command` defines `flag` (a long or short name).
pub fn defines(name: &str, flag: &str) -> bool {
    command(name).is_some_and(|c| c.flags.iter().any(|f| f.long == flag || f.short == Some(flag)))
}

/// The flag of `name` nearest to `given` (one or two edits away: a typo), for "did you mean".
pub fn nearest(name: &str, given: &str) -> Option<&'static str> {
    let c = command(name)?;
    c.flags.iter().map(|f| (distance(f.long, given), f.long)).filter(|(d, _)| *d <= 2).min().map(|(_, l)| l)
}

/// Levenshtein distance (flags are short: the plain table is quick).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut last = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let next = (last + usize::from(ca != cb)).min(row[j] + 1).min(row[j + 1] + 1);
            last = row[j + 1];
            row[j + 1] = next;
        }
    }
    row[b.len()]
}

/// A flag's names and value, as `--help` and the man page show them: `-q, --quiet`,
/// `--token-file PATH`.
pub fn names(flag: &Flag) -> String {
    let mut out = String::new();
    if let Some(s) = flag.short {
        out.push_str(s);
        out.push_str(", ");
    }
    out.push_str(flag.long);
    if let Some(v) = flag.value {
        out.push(' ');
        out.push_str(v);
    }
    out
}

/// A flag's doc with its environment variable and default, as one line of text.
pub fn described(flag: &Flag) -> String {
    let mut doc = flag.doc.to_string();
    match (flag.env, flag.default) {
        (Some(env), Some(d)) => doc.push_str(&format!(" [env: {env}, default: {}]", d())),
        (Some(env), None) => doc.push_str(&format!(" [env: {env}]")),
        (None, Some(d)) => doc.push_str(&format!(" [default: {}]", d())),
        (None, None) => {}
    }
    doc
}

/// The OPTIONS section of `command`'s `--help`: each flag's names, then its doc wrapped
/// beside them; `-h, --help` last.
pub fn options(command: &str) -> String {
    let Some(c) = self::command(command) else { return String::new() };
    let mut out = String::from("OPTIONS:\n");
    out.push_str(&table(c.flags, &[("-h, --help", "this text")]));
    out
}

/// Flags in two columns, names then doc (wrapped), and then `more` rows as given.
pub fn table(flags: &[&Flag], more: &[(&str, &str)]) -> String {
    let width = flags.iter().map(|f| names(f).len()).max().unwrap_or(0).clamp(10, 28) + 2;
    let mut out = String::new();
    let mut line = |name: &str, doc: &str| {
        let rows = wrap(doc, 96usize.saturating_sub(width + 4).max(40));
        let mut rows = rows.iter();
        if name.len() + 2 > width {
            out.push_str(&format!("    {name}\n"));
        } else {
            out.push_str(&format!("    {name:width$}{}\n", rows.next().map_or("", |r| r.as_str())));
        }
        for row in rows {
            out.push_str(&format!("    {:width$}{row}\n", ""));
        }
    };
    for flag in flags {
        line(&names(flag), &described(flag));
    }
    for (name, doc) in more {
        line(name, doc);
    }
    out
}

/// `text` in lines of at most `width` characters, broken at spaces.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    let mut row = String::new();
    for word in text.split(' ') {
        if !row.is_empty() && row.chars().count() + 1 + word.chars().count() > width {
            rows.push(std::mem::take(&mut row));
        }
        if !row.is_empty() {
            row.push(' ');
        }
        row.push_str(word);
    }
    if !row.is_empty() {
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's configuration table, row by row: the flags cell, the commands cell and
    /// the environment cell.
    fn readme_rows() -> Vec<(String, String, String)> {
        let readme = include_str!("../README.md");
        let table = readme.split("\n## Configuration\n").nth(1).unwrap_or_default();
        let table = table.split("\n## ").next().unwrap_or_default();
        table
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let cell = |i: usize| cells.get(i).copied().unwrap_or_default().to_string();
                (cell(1), cell(2), cell(3))
            })
            .collect()
    }

    /// Every flag of every command has a README row that names it, its variable and every
    /// command that takes it: the table is checked against the one definition.
    #[test]
    fn the_readme_table_matches_the_definitions() {
        let rows = readme_rows();
        assert!(rows.len() > 40, "the README's configuration table was not found");
        let mut wrong = Vec::new();
        for command in COMMANDS {
            for flag in command.flags {
                let names = |cell: &str| cell.split(['`', ',', ' ']).any(|w| w == flag.long);
                let Some((cell, commands, env)) = rows.iter().find(|(f, ..)| names(f)) else {
                    wrong.push(format!("no row for `{}`", flag.long));
                    continue;
                };
                let named =
                    commands.starts_with("every command") || commands.split([',', ' ']).any(|c| c == command.name);
                if !named {
                    wrong.push(format!("the row for `{}` does not name `{}` ({commands})", flag.long, command.name));
                }
                if let Some(var) = flag.env.filter(|var| !env.contains(var)) {
                    wrong.push(format!("the row for `{}` does not name {var}", flag.long));
                }
                if let Some(short) = flag.short.filter(|s| !cell.split(['`', ',', ' ']).any(|w| w == *s)) {
                    wrong.push(format!("the row for `{}` does not show `{short}`", flag.long));
                }
            }
        }
        assert!(wrong.is_empty(), "README's configuration table:\n{}", wrong.join("\n"));
    }

    #[test]
    fn a_typo_is_one_or_two_edits() {
        assert_eq!(nearest("refresh", "--if-expring-within"), Some("--if-expiring-within"));
        assert_eq!(nearest("api", "--paginat"), Some("--paginate"));
        assert_eq!(nearest("api", "--completely-else"), None);
        assert!(defines("api", "-v") && defines("api", "--pick") && !defines("sandbox", "--pick"));
    }
}
