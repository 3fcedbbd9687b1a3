//! `webhook`: the receiving end of TikTok Shop's event deliveries, without TikTok.
//!
//! `verify` is what a receiver in any language can call on a delivery (and a developer on a
//! captured one): the signature over the raw bytes, never re-serialised JSON. `send` is
//! `stripe trigger` for TikTok Shop: a delivery built, signed and judged as TikTok would,
//! so a receiver can be tested before TikTok ever calls it. The wire facts (events,
//! envelope, signature, the 3 s limit and the retry schedule) live in `crate::webhook`;
//! this file owns the command's interface (options, parsing, help) and its output.
//!
//! Everything a receiver answers is outside text: read bounded and cleaned before printing.

use std::io::Read;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cli::Args;
use crate::config::App;
use crate::error::Error;
use crate::expiry;
use crate::secret::clean;
use crate::url::HttpUrl;
use crate::webhook::{self, Delivery, Event};

/// `--help`.
pub fn help() -> String {
    HELP.to_string()
}

const HELP: &str = "\
tiktok-shop-auth webhook: check a delivery's signature, send a signed test delivery

USAGE:
    tiktok-shop-auth webhook verify --signature HEX [FILE | -]
    tiktok-shop-auth webhook send EVENT --to URL [--shop-id ID] [--data JSON | @FILE | -] [--bad-signature]

    tiktok-shop-auth webhook verify --signature \"$HTTP_AUTHORIZATION\" delivery.json
    tiktok-shop-auth webhook send ORDER_STATUS_CHANGE --to http://localhost:8000/tiktok/events

TikTok Shop POSTs each event as JSON with `Authorization: <hex>`, the lowercase HMAC-SHA256
keyed by the app secret over the app key followed by the raw body (no timestamp is signed).
The receiver must answer 200 within 3 s (401 for a bad signature); otherwise TikTok tries
again after 2 min, 30 min, 3 h and 12 h, then drops the event.

verify reads the body (FILE, or stdin) and checks the signature over its bytes exactly as
received; it prints one line naming the event, shop, notification id and time.
send builds a delivery of EVENT as TikTok does (the documented shape of its data, a fresh
tts_notification_id, the current timestamp), signs it, POSTs it to URL and judges the
answer as TikTok would.

OPTIONS:
    --signature HEX           verify: the delivery's Authorization value (hex, either case)
    EVENT                     send: an event name (any case) or number, from the list below
    --to URL                  send: the receiver, http:// or https://
    --shop-id ID              send: the envelope's shop_id   [default: 7495540735365777507]
    --data JSON | @FILE | -   send: the event's data instead of the example, put in as given
    --bad-signature           send: sign with a wrong secret; the receiver must refuse it (4xx)
    --app-key KEY             [env: TIKTOK_SHOP_APP_KEY]
    --app-secret-file PATH    [env: TIKTOK_SHOP_APP_SECRET holds the secret itself]
    -h, --help                this text

EVENTS:
    1 ORDER_STATUS_CHANGE        2 REVERSE_STATUS_UPDATE       3 RECIPIENT_ADDRESS_UPDATE
    4 PACKAGE_UPDATE             5 PRODUCT_STATUS_CHANGE       6 SELLER_DEAUTHORIZATION
    7 UPCOMING_AUTHORIZATION_EXPIRATION                       11 CANCELLATION_STATUS_CHANGE
    12 RETURN_STATUS_CHANGE      13 NEW_CONVERSATION           14 NEW_MESSAGE
    15 PRODUCT_INFORMATION_CHANGE                             16 PRODUCT_CREATION

EXIT STATUS:
    verify: 0 the signature matches   1 it does not, or the body cannot be read   2 usage error
    send:   0 answered 200 within 3 s (with --bad-signature: refused with a 4xx)
            1 anything else: another status, too slow, no connection, a forged event accepted
            2 usage error
";

/// The largest body `verify` reads and `--data` takes: TikTok's deliveries are far smaller.
const MAX_BODY: u64 = 16 * 1024 * 1024;

pub enum Options {
    Verify(VerifyOptions),
    Send(SendOptions),
}

pub struct VerifyOptions {
    pub app: App,
    /// As given; checked when run, so a malformed one is a failed check (exit 1).
    pub signature: String,
    pub body: Input,
}

pub struct SendOptions {
    pub app: App,
    pub event: &'static Event,
    pub to: HttpUrl,
    pub shop_id: String,
    pub data: Option<Input>,
    pub bad_signature: bool,
}

/// Where bytes come from: `--data`'s literal, a file, or stdin.
pub enum Input {
    Text(String),
    File(PathBuf),
    Stdin,
}

impl Input {
    fn describe(&self, flag: &str) -> String {
        match self {
            Input::Text(_) => flag.to_string(),
            Input::File(path) => format!("{flag} `{}`", clean(&path.display().to_string())),
            Input::Stdin => format!("{flag} (stdin)"),
        }
    }
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let sub = args.subcommand()?;
    match sub.as_deref() {
        Some("verify") => parse_verify(args).map(Options::Verify),
        Some("send") => parse_send(args).map(Options::Send),
        Some(other) => Err(Error::Usage(format!(
            "webhook: unknown subcommand `{}`; it is `verify` or `send` (see `tiktok-shop-auth webhook --help`)",
            clean(other)
        ))),
        None => Err(Error::Usage(
            "webhook: give a subcommand, `verify` or `send`; see `tiktok-shop-auth webhook --help`".into(),
        )),
    }
}

fn parse_verify(args: &mut Args) -> Result<VerifyOptions, Error> {
    let signature = args.string("--signature")?;
    let Some(signature) = signature else {
        return Err(Error::Usage(
            "webhook verify: give --signature HEX, the delivery's Authorization header; nothing was checked".into(),
        ));
    };
    let app = args.app()?;
    let body = match free(args)? {
        None => Input::Stdin,
        Some(path) if path.as_os_str() == "-" => Input::Stdin,
        Some(path) => Input::File(path),
    };
    Ok(VerifyOptions { app, signature, body })
}

fn parse_send(args: &mut Args) -> Result<SendOptions, Error> {
    let to = args.string("--to")?;
    let shop_id = args.string("--shop-id")?.unwrap_or_else(|| webhook::EXAMPLE_SHOP_ID.into());
    let data = args.string("--data")?.map(|d| match d.as_str() {
        "-" => Input::Stdin,
        _ => match d.strip_prefix('@') {
            Some(file) => Input::File(PathBuf::from(file)),
            None => Input::Text(d),
        },
    });
    let bad_signature = args.flag("--bad-signature");
    let app = args.app()?;
    let names = || webhook::EVENTS.iter().map(|e| format!("{} {}", e.number, e.name)).collect::<Vec<_>>().join(", ");
    let event = match free(args)? {
        None => return Err(Error::Usage(format!("webhook send: give the EVENT, a name or number: {}", names()))),
        Some(given) => {
            let given = given.to_string_lossy().into_owned();
            Event::find(&given).ok_or_else(|| {
                Error::Usage(format!("webhook send: `{}` is not an event; one of {}", clean(&given), names()))
            })?
        }
    };
    let Some(to) = to else {
        return Err(Error::Usage("webhook send: give --to URL, the receiver's address".into()));
    };
    let to =
        HttpUrl::parse(&to).map_err(|e| Error::Usage(format!("--to `{}` is not a usable URL: {e}", clean(&to))))?;
    if shop_id.is_empty() || shop_id.chars().any(char::is_control) {
        return Err(Error::Usage("--shop-id is empty or has control characters".into()));
    }
    Ok(SendOptions { app, event, to, shop_id, data, bad_signature })
}

/// The one free argument (a file, `-`, an event); anything that looks like an option here
/// is one this command does not know.
fn free(args: &mut Args) -> Result<Option<PathBuf>, Error> {
    match args.free()? {
        Some(a) if a != "-" && a.starts_with('-') => Err(Error::Usage(format!(
            "unexpected argument `{}` for `webhook`; see `tiktok-shop-auth webhook --help`",
            clean(&a)
        ))),
        other => Ok(other.map(PathBuf::from)),
    }
}

pub fn run(opts: &Options) -> Result<(), Error> {
    match opts {
        Options::Verify(opts) => verify(opts),
        Options::Send(opts) => send(opts),
    }
}

/// The bytes exactly as given, at most `MAX_BODY`; `too_big` says what a larger one is.
fn read(input: &Input, what: &str, too_big: fn(String) -> Error) -> Result<Vec<u8>, Error> {
    let mut bytes = Vec::new();
    match input {
        Input::Text(text) => bytes.extend_from_slice(text.as_bytes()),
        Input::File(path) => {
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_BODY + 1).read_to_end(&mut bytes))
                .map_err(|e| Error::file("read", path, e))?;
        }
        Input::Stdin => {
            std::io::stdin()
                .take(MAX_BODY + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Local(format!("cannot read {what} from stdin: {e}")))?;
        }
    }
    if bytes.len() as u64 > MAX_BODY {
        return Err(too_big(format!("{what} is larger than {} MiB", MAX_BODY / 1024 / 1024)));
    }
    Ok(bytes)
}

fn verify(opts: &VerifyOptions) -> Result<(), Error> {
    let body = read(&opts.body, &opts.body.describe("the body"), |m| Error::Local(format!("{m}: not verified")))?;
    let key = &opts.app.key;
    if webhook::parse_hex(&opts.signature).is_none() {
        return Err(Error::Local(format!(
            "the signature `{}` is not 64 hex digits, so it is not an HMAC-SHA256: the body is not verified",
            clean(opts.signature.trim())
        )));
    }
    if !webhook::verify(key, opts.app.secret.expose(), &body, &opts.signature) {
        return Err(Error::Local(format!(
            "signature mismatch: it is not the HMAC-SHA256, keyed by the app secret, of `app key + body` \
             ({} + {} = {} bytes, app key `{}`); check the app key and secret, and give the body exactly as \
             received (the raw bytes, not re-serialised JSON)",
            key.len(),
            body.len(),
            key.len() + body.len(),
            clean(key)
        )));
    }
    match Delivery::parse(&body) {
        Ok(delivery) => outln!("valid signature: {}", describe(&delivery)),
        Err(e) => outln!(
            "valid signature over `app key + body` ({} bytes), but the body is not JSON ({e}), so it is no event",
            body.len()
        ),
    }
    Ok(())
}

/// `ORDER_STATUS_CHANGE (type 1), shop 7495…, notification 7380…, sent 2024-06-13 19:06:25 UTC`.
fn describe(d: &Delivery) -> String {
    let event = match d.type_number {
        Some(n) => match Event::by_number(n) {
            Some(e) => format!("{} (type {n})", e.name),
            None => format!("type {n} (not an event this tool knows)"),
        },
        None => "no type".to_string(),
    };
    let or_none = |v: &Option<String>| v.as_deref().map(clean).unwrap_or_else(|| "(none)".into());
    let sent = d.timestamp.map(expiry::utc).unwrap_or_else(|| "(no timestamp)".into());
    format!("{event}, shop {}, notification {}, sent {sent}", or_none(&d.shop_id), or_none(&d.notification_id))
}

fn send(opts: &SendOptions) -> Result<(), Error> {
    let now = expiry::now();
    let data = match &opts.data {
        Some(input) => {
            let what = input.describe("--data");
            let bytes = read(input, &what, Error::Usage)?;
            // from_slice, not from_str: one JSON parser in the binary, not two.
            serde_json::from_slice::<Value>(&bytes).map_err(|e| {
                Error::Usage(format!("{what} is not valid JSON ({e}); it is put in the delivery as given"))
            })?;
            String::from_utf8(bytes).map_err(|_| Error::Usage(format!("{what} is not UTF-8 text")))?.trim().to_string()
        }
        None => opts.event.example_data(&opts.shop_id, now),
    };
    let id = webhook::notification_id()?;
    let body = webhook::envelope(opts.event, &opts.shop_id, &data, now, &id);
    let secret = opts.app.secret.expose();
    // A key that differs from the secret whatever the secret is: the signature looks right
    // and is wrong.
    let forged = format!("{secret}-forged");
    let signature =
        webhook::signature(&opts.app.key, if opts.bad_signature { &forged } else { secret }, body.as_bytes());
    let what = format!("{} (type {}, notification {id})", opts.event.name, opts.event.number);
    let to = clean(&opts.to.to_string());
    let agent = webhook::agent()?;
    let (answer, took) = webhook::deliver(&agent, &opts.to.to_string(), body.as_bytes(), &signature);
    let answer = answer.map_err(|e| undelivered(opts, &what, failure(&e, &to, took)))?;
    let status = answer.status;
    let shown = shown_body(&answer.body);
    let late = if took > webhook::ANSWER_WITHIN {
        format!(", beyond TikTok's {} s limit", webhook::ANSWER_WITHIN.as_secs())
    } else {
        String::new()
    };
    match (opts.bad_signature, status) {
        (false, _) if answer.delivered(took) => {
            outln!("delivered {what} to {to}: HTTP 200 in {}", span(took));
            if !answer.body.is_empty() {
                noteln!("note: the answer had a body{shown}; TikTok ignores it (it documents an empty one)");
            }
            Ok(())
        }
        (false, _) => {
            Err(undelivered(opts, &what, format!("{to} answered HTTP {status} in {}{late}{shown}", span(took))))
        }
        (true, 400..=499) => {
            let hint = if status == 401 { "" } else { " (TikTok documents 401 for a bad signature)" };
            outln!("refused the forged {what}: HTTP {status} in {}{hint}", span(took));
            Ok(())
        }
        (true, 200..=299) => Err(Error::Local(format!(
            "the receiver accepted a forged event: {to} answered HTTP {status} in {}{shown} to {what} signed with a \
             wrong secret; it must check Authorization (HMAC-SHA256, keyed by the app secret, of the app key \
             followed by the raw body) and answer 401",
            span(took)
        ))),
        (true, _) => Err(Error::Local(format!(
            "{to} answered HTTP {status} in {}{shown} to a forged {what}; a receiver refuses a wrong signature \
             with 401",
            span(took)
        ))),
    }
}

/// Why a delivery failed, with what TikTok would do next.
fn undelivered(opts: &SendOptions, what: &str, happened: String) -> Error {
    if opts.bad_signature {
        return Error::Local(format!(
            "the forged {what} was not refused: {happened}; a receiver refuses a wrong signature with 401"
        ));
    }
    Error::Local(format!(
        "not delivered: {happened}; TikTok counts only HTTP 200 within {} s as delivered, so it would send {what} \
         again after {}, then drop it",
        webhook::ANSWER_WITHIN.as_secs(),
        webhook::retry_schedule()
    ))
}

/// What went wrong, in the words a person debugging a receiver needs.
fn failure(e: &ureq::Error, to: &str, took: Duration) -> String {
    let timed_out = matches!(e, ureq::Error::Timeout(_))
        || matches!(e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut);
    let refused = matches!(e, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused);
    if timed_out {
        format!(
            "{to} did not answer within TikTok's {} s limit (gave up after {})",
            webhook::ANSWER_WITHIN.as_secs(),
            span(took)
        )
    } else if refused {
        format!("could not connect to {to}: connection refused")
    } else {
        match e {
            ureq::Error::HostNotFound => format!("could not connect to {to}: host not found"),
            ureq::Error::ConnectionFailed => format!("could not connect to {to}"),
            other => format!("the request to {to} failed: {}", clean(&other.to_string())),
        }
    }
}

/// `` (body, 12 bytes: `…`)`` when the answer had one, cleaned and bounded.
fn shown_body(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    format!(" (body, {} bytes: `{}`)", body.len(), clean(&String::from_utf8_lossy(body)))
}

/// `12 ms`, `3.0 s` (integer arithmetic: float formatting would add some 20 KB to the binary).
fn span(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 1000 { format!("{ms} ms") } else { format!("{}.{} s", ms / 1000, ms % 1000 / 100) }
}
