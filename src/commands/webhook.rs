//! `webhook`: the receiving end of TikTok Shop's event deliveries, without TikTok.
//!
//! `verify` is what a receiver in any language can call on a delivery (and a developer on a
//! captured one): the signature over the raw bytes, never re-serialised JSON. `send` is
//! `stripe trigger` for TikTok Shop: a delivery built, signed and judged as TikTok would,
//! so a receiver can be tested before TikTok ever calls it. The wire facts (events,
//! envelope, signature, the 3 s limit and the retry schedule) live in `crate::delivery`;
//! this file owns the command's interface (options, parsing, help) and its output.
//!
//! Everything a receiver answers is outside text: read bounded and cleaned before printing.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{self, Args};
use crate::config::App;
use crate::delivery::{self, Delivery, Event};
use crate::error::Error;
use crate::expiry;
use crate::files::Input;
use crate::open_api::Call;
use crate::secret::clean;
use crate::session::{self, Session, SessionOptions, cipher_for};
use crate::url::{self, HttpUrl};

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    let events: Vec<String> = delivery::EVENTS.iter().map(|e| format!("    {:>2} {}", e.number, e.name)).collect();
    HELP.replace("{events_path}", EVENTS_PATH)
        .replace("{events}", &events.join("\n"))
        .replace("{options_webhook}", &crate::flags::options("webhook"))
}

/// TikTok's Events API: a shop's webhook subscriptions.
pub const EVENTS_PATH: &str = "/event/202309/webhooks";

const HELP: &str = "\
tiktok-shop-auth webhook: verify a delivery's signature, send a signed test delivery, manage subscriptions

USAGE:
    tiktok-shop-auth webhook verify --signature HEX [FILE | -]
    tiktok-shop-auth webhook send EVENT --to URL [--shop-id ID] [--data JSON | @FILE | -] [--bad-signature]
    tiktok-shop-auth webhook list [--shop SELECTOR] [--json]
    tiktok-shop-auth webhook subscribe EVENT URL [--shop SELECTOR]
    tiktok-shop-auth webhook unsubscribe EVENT [--shop SELECTOR]

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
list, subscribe and unsubscribe call the Events API (GET, PUT and DELETE {events_path}) for
one shop, signed and with the saved token as `api` sends it (refreshed when it has expired).
TikTok delivers only to https:// on a domain name without a port; subscribe warns otherwise
(except to a loopback sandbox). A shop has one address per event type: subscribe replaces
the earlier one, and says which it replaced.

{options_webhook}
EVENTS:
{events}

EXIT STATUS:
    verify: 0 the signature matches   1 it does not, or the body cannot be read   2 usage error
    send:   0 answered 200 within 3 s (with --bad-signature: refused with a 4xx)
            1 anything else: another status, too slow, no connection, a forged event accepted
            2 usage error
    list, subscribe, unsubscribe: as for `api` (0 done, 1 TikTok or network error,
            2 usage error, 5 the token was refused and could not be refreshed)
";

/// The largest body `verify` reads and `--data` takes: TikTok's deliveries are far smaller.
const MAX_BODY: u64 = 16 * 1024 * 1024;

pub enum Options {
    Verify(VerifyOptions),
    Send(SendOptions),
    Manage(Box<ManageOptions>),
}

/// `list`, `subscribe` and `unsubscribe`: one shop's subscriptions through the Events API.
pub struct ManageOptions {
    pub session: SessionOptions,
    pub shop: Option<String>,
    pub change: Change,
}

pub enum Change {
    List { json: bool },
    Subscribe { event: &'static Event, address: HttpUrl },
    Unsubscribe { event: &'static Event },
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

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let sub = args.subcommand()?;
    match sub.as_deref() {
        Some("verify") => parse_verify(args).map(Options::Verify),
        Some("send") => parse_send(args).map(Options::Send),
        Some("help") => Err(Error::Usage("webhook: for its help, run `tiktok-shop-auth webhook --help`".into())),
        Some(sub @ ("list" | "subscribe" | "unsubscribe")) => {
            parse_manage(sub, args).map(|o| Options::Manage(Box::new(o)))
        }
        Some(other) => Err(Error::Usage(format!(
            "webhook: unknown subcommand `{}`; it is {SUBCOMMANDS} (see `tiktok-shop-auth webhook --help`)",
            clean(other)
        ))),
        None => Err(Error::Usage(format!(
            "webhook: give a subcommand, {SUBCOMMANDS}; see `tiktok-shop-auth webhook --help`"
        ))),
    }
}

const SUBCOMMANDS: &str = "`verify`, `send`, `list`, `subscribe` or `unsubscribe`";

fn parse_manage(sub: &str, args: &mut Args) -> Result<ManageOptions, Error> {
    let shop = args.string("--shop")?;
    let json = args.flag("--json");
    let session = SessionOptions::parse(args)?;
    let change = match sub {
        "subscribe" => {
            let event = event(sub, free(args)?)?;
            let Some(address) = free(args)? else {
                return Err(Error::Usage("webhook subscribe: give the URL that TikTok is to deliver to".into()));
            };
            let text = address.to_string_lossy().into_owned();
            let address = HttpUrl::parse(&text)
                .ok()
                .filter(|_| !text.contains(|c: char| c.is_whitespace() || c.is_control()))
                .ok_or_else(|| {
                    Error::Usage(format!("webhook subscribe: `{}` is not a usable URL", clean(&url::masked(&text))))
                })?;
            Change::Subscribe { event, address }
        }
        "unsubscribe" => Change::Unsubscribe { event: event(sub, free(args)?)? },
        _ => Change::List { json },
    };
    if json && !matches!(change, Change::List { .. }) {
        return Err(Error::Usage(format!("webhook {sub}: --json is for `webhook list`")));
    }
    Ok(ManageOptions { session, shop, change })
}

/// `webhook SUB`'s EVENT argument: a name (any case) or number.
fn event(sub: &str, given: Option<PathBuf>) -> Result<&'static Event, Error> {
    let Some(given) = given.map(|g| g.to_string_lossy().into_owned()) else {
        return Err(Error::Usage(format!("webhook {sub}: give the EVENT, a name or number: {}", event_names())));
    };
    Event::find(&given).ok_or_else(|| {
        Error::Usage(format!("webhook {sub}: `{}` is not an event; one of {}", clean(&given), event_names()))
    })
}

/// `1 ORDER_STATUS_CHANGE, 2 ...`: what EVENT may be.
fn event_names() -> String {
    delivery::EVENTS.iter().map(|e| format!("{} {}", e.number, e.name)).collect::<Vec<_>>().join(", ")
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
    let shop_id = args.string("--shop-id")?.unwrap_or_else(|| delivery::EXAMPLE_SHOP_ID.into());
    let data = args.string("--data")?.map(Input::from_flag);
    let bad_signature = args.flag("--bad-signature");
    let app = args.app()?;
    let event = event("send", free(args)?)?;
    let Some(to) = to else {
        return Err(Error::Usage("webhook send: give --to URL, the receiver's address".into()));
    };
    let to = HttpUrl::parse(&to)
        .map_err(|e| Error::Usage(format!("--to `{}` is not a usable URL: {e}", clean(&url::masked(&to)))))?;
    if to.to_string().contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err(Error::Usage("--to: a URL has no spaces or control characters; encode them (%20)".into()));
    }
    if shop_id.is_empty() || shop_id.chars().any(char::is_control) {
        return Err(Error::Usage("--shop-id is empty or has control characters".into()));
    }
    Ok(SendOptions { app, event, to, shop_id, data, bad_signature })
}

/// The one free argument (a file, `-`, an event); anything that looks like an option here
/// is one this command does not know.
fn free(args: &mut Args) -> Result<Option<PathBuf>, Error> {
    match args.free()? {
        Some(a) if a != "-" && a.starts_with('-') => Err(cli::unexpected("webhook", &a, "")),
        other => Ok(other.map(PathBuf::from)),
    }
}

pub fn run(opts: &Options) -> Result<(), Error> {
    match opts {
        Options::Verify(opts) => verify(opts),
        Options::Send(opts) => send(opts),
        Options::Manage(opts) => manage(opts),
    }
}

/// `list`, `subscribe`, `unsubscribe`: one Events API call for one shop.
fn manage(opts: &ManageOptions) -> Result<(), Error> {
    let session = Session::open(&opts.session)?;
    let client = session.signing_client()?;
    let saved = session.fresh(0)?;
    let mut shops = session.shops(&saved);
    let mut tokens = saved.tokens;
    let network = Some((&client, &tokens.access_token));
    let Some(shop) = cipher_for(&mut shops, opts.shop.as_deref(), Some(EVENTS_PATH), network)? else {
        return Err(Error::Usage(format!(
            "webhook: this seller has {} shops and subscriptions are per shop: choose one with --shop (an id, code, \
             name, region or cipher; `tiktok-shop-auth shops` lists them)",
            shops.shops.len()
        )));
    };
    let shop_name = clean(shop["name"].as_str().or(shop["id"].as_str()).unwrap_or("the shop"));
    let (method, body) = match &opts.change {
        Change::List { .. } => ("GET", None),
        Change::Subscribe { event, address } => {
            if let Some(why) = undeliverable(address, &opts.session.api_base) {
                noteln!(
                    "tiktok-shop-auth: warning: {why}; TikTok delivers only to https:// on a domain name without a port"
                );
            }
            let body = serde_json::json!({ "address": address.to_string(), "event_type": event.name });
            ("PUT", Some(body.to_string().into_bytes()))
        }
        Change::Unsubscribe { event } => {
            ("DELETE", Some(serde_json::json!({ "event_type": event.name }).to_string().into_bytes()))
        }
    };
    let call = |method: &str, body: Option<Vec<u8>>| Call {
        method: method.into(),
        path: EVENTS_PATH.into(),
        query: Vec::new(),
        shop_cipher: session::cipher_of(&shop),
        body,
        content_type: None,
    };
    // TikTok keeps one address per shop and event type, and a PUT replaces it without a word:
    // look first, so that the replaced address can be named (a failed look only loses that).
    let before = match &opts.change {
        Change::Subscribe { event, .. } => session
            .send(&client, &call("GET", None), &mut tokens, &mut |_| {})
            .ok()
            .and_then(|(_, answer)| answer.ok())
            .and_then(|answer| address_for(&answer, event.name)),
        _ => None,
    };
    let answer = session.send(&client, &call(method, body), &mut tokens, &mut |_| {})?.1?;
    match &opts.change {
        Change::List { json } => list(&answer, *json, &shop_name),
        Change::Subscribe { event, address } => {
            outln!(
                "subscribed: {shop_name} delivers {} (type {}) to {}",
                event.name,
                event.number,
                clean(&address.to_string())
            );
            match before {
                Some(old) if old != address.to_string() => noteln!(
                    "tiktok-shop-auth: this replaced {}: TikTok keeps one address per shop and event type",
                    clean(&old)
                ),
                _ => {}
            }
        }
        Change::Unsubscribe { event } => {
            outln!("unsubscribed: {shop_name} no longer delivers {} (type {})", event.name, event.number)
        }
    }
    Ok(())
}

/// Why TikTok would not deliver to `address`, unless both it and the API are on loopback
/// (the sandbox delivers there over plain http).
fn undeliverable(address: &HttpUrl, api_base: &str) -> Option<String> {
    let sandbox = HttpUrl::parse(api_base).is_ok_and(|api| api.is_loopback());
    if sandbox && address.is_loopback() {
        return None;
    }
    let shown = clean(&address.to_string());
    if address.scheme != "https" {
        Some(format!("`{shown}` is not https://"))
    } else if address.ip().is_some() {
        Some(format!("`{shown}` is an IP address, not a domain name"))
    } else if address.port.is_some() {
        Some(format!("`{shown}` names a port"))
    } else {
        None
    }
}

/// The subscriptions a list answer holds.
fn webhooks(answer: &Value) -> &[Value] {
    answer.pointer("/data/webhooks").and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

/// The address a list answer has for `event`.
fn address_for(answer: &Value, event: &str) -> Option<String> {
    webhooks(answer).iter().find(|h| h["event_type"] == event)?["address"].as_str().map(str::to_string)
}

/// The shop's subscriptions: a table, or `--json`'s array.
fn list(answer: &Value, json: bool, shop_name: &str) {
    let hooks: Vec<Value> = webhooks(answer).to_vec();
    if json {
        outln!("{}", Value::Array(hooks));
        return;
    }
    if hooks.is_empty() {
        noteln!("{shop_name} has no webhook subscriptions");
        return;
    }
    let text = |v: &Value| match v {
        Value::String(s) => clean(s),
        Value::Null => "-".into(),
        other => clean(&other.to_string()),
    };
    let rows: Vec<Vec<String>> = hooks
        .iter()
        .map(|h| {
            let number =
                h["event_type"].as_str().and_then(Event::find).map_or("-".to_string(), |e| e.number.to_string());
            let created = h["create_time"].as_i64().map_or("-".to_string(), expiry::utc);
            vec![text(&h["event_type"]), number, text(&h["address"]), created]
        })
        .collect();
    out!("{}", crate::summary::table(&["EVENT", "TYPE", "ADDRESS", "CREATED"], &rows));
}

/// The bytes exactly as given, at most `MAX_BODY`; `too_big` says what a larger one is.
fn read(input: &Input, what: &str, too_big: fn(String) -> Error) -> Result<Vec<u8>, Error> {
    input.read(MAX_BODY)?.ok_or_else(|| too_big(format!("{what} is larger than {} MiB", MAX_BODY / 1024 / 1024)))
}

fn verify(opts: &VerifyOptions) -> Result<(), Error> {
    let body = read(&opts.body, &opts.body.describe("the body"), |m| Error::Local(format!("{m}: not verified")))?;
    let key = &opts.app.key;
    if delivery::parse_hex(&opts.signature).is_none() {
        return Err(Error::Local(format!(
            "the signature `{}` is not 64 hex digits, so it is not an HMAC-SHA256: the body is not verified",
            clean(opts.signature.trim())
        )));
    }
    if !delivery::verify(key, opts.app.secret.expose(), &body, &opts.signature) {
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
                Error::Usage(format!("{what} is not valid JSON ({e}); --data must be JSON (it goes into the delivery as given, not re-serialised)"))
            })?;
            String::from_utf8(bytes).map_err(|_| Error::Usage(format!("{what} is not UTF-8 text")))?.trim().to_string()
        }
        None => opts.event.example_data(&opts.shop_id, now),
    };
    let id = delivery::notification_id()?;
    let body = delivery::envelope(opts.event, &opts.shop_id, &data, now, &id);
    let secret = opts.app.secret.expose();
    // A key that differs from the secret whatever the secret is: the signature looks right
    // and is wrong.
    let forged = format!("{secret}-forged");
    let signature =
        delivery::signature(&opts.app.key, if opts.bad_signature { &forged } else { secret }, body.as_bytes());
    let what = format!("{} (type {}, notification {id})", opts.event.name, opts.event.number);
    let to = clean(&opts.to.to_string());
    let agent = delivery::agent()?;
    let (answer, took) = delivery::deliver(&agent, &opts.to.to_string(), body.as_bytes(), &signature);
    let answer = answer.map_err(|e| undelivered(opts, &what, failure(&e, &to, took)))?;
    let status = answer.status;
    let shown = shown_body(&answer.body);
    let late = if took > delivery::ANSWER_WITHIN {
        format!(", beyond TikTok's {} s limit", delivery::ANSWER_WITHIN.as_secs())
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
        delivery::ANSWER_WITHIN.as_secs(),
        delivery::RETRY_SCHEDULE
    ))
}

/// What went wrong, in the words a person debugging a receiver needs: no answer within the
/// limit, or none at all.
fn failure(e: &Error, to: &str, took: Duration) -> String {
    if took >= delivery::ANSWER_WITHIN {
        format!(
            "{to} did not answer within TikTok's {} s limit (gave up after {})",
            delivery::ANSWER_WITHIN.as_secs(),
            span(took)
        )
    } else if e.to_string().contains("reading the answer") {
        format!("{to} answered, but its answer could not be read: {e}")
    } else {
        format!("could not connect to {to}: {e}")
    }
}

/// `` (body, 12 bytes: `…`)`` when the answer had one, cleaned and bounded.
fn shown_body(body: &[u8]) -> String {
    if body.is_empty() {
        return String::new();
    }
    format!(" (body, {} bytes: `{}`)", body.len(), clean(&String::from_utf8_lossy(body)))
}

/// `12 ms`, `3030 ms`, `12 s` (integer arithmetic: float formatting would add some 20 KB to
/// the binary).
fn span(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    if ms < 10_000 { format!("{ms} ms") } else { format!("{} s", ms / 1000) }
}
