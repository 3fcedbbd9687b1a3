//! `sandbox`: a local stand-in for TikTok Shop's side of the flow, for tests, the demo and
//! anyone who wants to try their scripts without a real seller. One file per part of
//! TikTok it stands in for: `authorize` (the page and the redirect), `tokens` (the token
//! endpoints), `open_api` (the Open API routes), `events` (the Events API, the webhook
//! deliveries and the controls that set them off), `faults` (the test hooks that make it
//! misbehave); this file holds its options, its state and the server loop.
//!
//! It follows the facts page as strictly as the real service is known to behave: the token
//! endpoints answer GET only (POST gets Go's plain `404 page not found`), errors come as a
//! non-zero `code` with HTTP 200, codes are single-use and live 30 minutes, refresh tokens
//! rotate (the old one and its access token stop working), expiry fields are absolute Unix
//! times, and the Open API checks the HMAC signature, the timestamp window and the token.
//! The state is a few maps behind one mutex: requests change it one at a time. Where the
//! real service's behaviour is unknown (exact codes for a wrong secret or a bad
//! timestamp), the choice is noted in the README.

mod authorize;
mod events;
mod faults;
mod shop_api;
mod tokens;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::cli::Args;
use crate::config::{self, App};
use crate::error::Error;
use crate::html;
use crate::secret::{clean, mask, random_urlsafe};
use crate::url::{self, HttpUrl};
use crate::{expiry, token_api};
pub use faults::Fault;
use shop_api::{OpenApiCall, route};

const CODE_LIFETIME: i64 = 30 * 60;
const SCOPES: [&str; 4] =
    ["seller.authorization.info", "seller.shop.info", "seller.order.info", "seller.product.basic"];
pub use crate::flags::{SANDBOX_OPEN_ID as OPEN_ID, SANDBOX_SELLER as SELLER};
const REGION: &str = "GB";
/// Query keys whose values are masked in the request log.
const SECRET_KEYS: [&str; 5] = ["app_secret", "auth_code", "code", "refresh_token", "access_token"];

/// The largest request body the sandbox reads.
const MAX_REQUEST_BODY: u64 = 1024 * 1024;
/// The largest upload read (over TikTok's 10 MB image cap, to answer 36009021).
const MAX_UPLOAD_BODY: u64 = 12 * 1024 * 1024;
/// The code a body over `MAX_REQUEST_BODY` is answered with (HTTP 413): not TikTok's
/// (its limit and code are not documented), and never the signature's 106001.
const REQUEST_TOO_LARGE: i64 = 41_300;
pub use crate::flags::{
    SANDBOX_ACCESS_TTL as ACCESS_TTL, SANDBOX_LISTEN as DEFAULT_LISTEN, SANDBOX_ORDERS as ORDERS,
    SANDBOX_REFRESH_TTL as REFRESH_TTL, SANDBOX_RETRY_SCALE as RETRY_SCALE, SANDBOX_SHOPS as SHOPS,
};

pub struct Options {
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
    /// The first test seller's `open_id` and name (see `seller`).
    pub open_id: String,
    pub seller_name: String,
    /// How many test sellers: each code goes to the next.
    pub sellers: u32,
    pub service_id: String,
    /// No secret was given: the sandbox's own test secret, which its lines show.
    pub test_secret: bool,
    /// How many seeded orders each shop has.
    pub orders: usize,
    /// Open API calls allowed per second before HTTP 429.
    pub rate_limit: Option<u32>,
    /// Every Nth Open API call is throttled (HTTP 429, code 36009002), whatever the rate.
    pub throttle_every: Option<u64>,
    /// The `Retry-After` a throttled answer carries (none by default, as TikTok's seen ones).
    pub retry_after: Option<u64>,
    /// What the waits between webhook retries are multiplied by, in billionths (1 to 10^9).
    pub retry_scale: u64,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let auto_approve = args.flag("--auto-approve");
    let listen = args.string("--listen")?.unwrap_or_else(|| DEFAULT_LISTEN.into());
    let listen: SocketAddr = listen.parse().map_err(|_| {
        Error::Usage(format!("--listen `{}` is not an address like 127.0.0.1:8017 or [::1]:8017", clean(&listen)))
    })?;
    if !listen.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "--listen `{listen}` is not a loopback address: the sandbox serves this machine only"
        )));
    }
    let fault = args.string("--fault")?.map(|f| Fault::parse(&f)).transpose()?;
    let access_ttl = args.duration("--access-ttl")?.unwrap_or(ACCESS_TTL);
    let refresh_ttl = args.duration("--refresh-ttl")?.unwrap_or(REFRESH_TTL);
    let clock_skew = args.number("--clock-skew", -(100 * 365 * 86_400)..=100 * 365 * 86_400)?.unwrap_or(0);
    let latency = match args.string("--latency")? {
        None => Duration::ZERO,
        Some(text) => expiry::parse_millis(&text).map_err(|e| Error::Usage(format!("--latency: {e}")))?,
    };
    let shops = args.number("--shops", 1..=50)?.unwrap_or(SHOPS);
    let orders = args.number("--orders", 0..=1_000_000)?.unwrap_or(ORDERS);
    let rate_limit = args.number("--rate-limit", 1..=10_000)?;
    let throttle_every = args.number("--throttle-every", 1..=1_000_000)?;
    let retry_after = args.number("--retry-after", 0..=3600)?;
    let retry_scale = match args.string("--webhook-retry-scale")? {
        None => u64::from(RETRY_SCALE) * BILLION,
        Some(text) => billionths(&text).ok_or_else(|| {
            Error::Usage(format!(
                "--webhook-retry-scale `{}` must be a decimal number above 0 and at most 1, such as 0.001",
                clean(&text)
            ))
        })?,
    };
    let open_id = args.string("--open-id")?.unwrap_or_else(|| OPEN_ID.into());
    let seller_name = args.string("--seller-name")?.unwrap_or_else(|| SELLER.into());
    let redirect = args.string("--redirect-url")?;
    let sellers = args.number("--sellers", 1..=1000)?.unwrap_or(1);
    let service_id = config::setting(args.string("--service-id")?, config::ENV_SERVICE_ID)
        .unwrap_or_else(|| crate::flags::SANDBOX_SERVICE_ID.into());
    // Nothing to configure: without an app key or secret, the sandbox's own test ones.
    let key = config::setting(args.string("--app-key")?, config::ENV_APP_KEY)
        .unwrap_or_else(|| crate::flags::SANDBOX_APP_KEY.into());
    let secret_file = args.path("--app-secret-file")?;
    let test_secret = secret_file.is_none() && config::setting(None, config::ENV_APP_SECRET).is_none();
    let app = match test_secret {
        false => config::app(Some(key), secret_file)?,
        true => App {
            key: config::checked_app_key(key)?,
            secret: crate::secret::Secret::new(crate::flags::SANDBOX_APP_SECRET.to_string()),
            secret_source: "the sandbox's test secret".into(),
        },
    };
    Ok(Options {
        app,
        sellers,
        service_id,
        test_secret,
        listen,
        // It only sends the browser there: any address the app may register will do.
        redirect: config::any_redirect_url(redirect)?,
        auto_approve,
        access_ttl,
        refresh_ttl,
        fault,
        clock_skew,
        latency,
        shops,
        open_id,
        seller_name,
        orders,
        rate_limit,
        throttle_every,
        retry_after,
        retry_scale,
    })
}

const BILLION: u64 = 1_000_000_000;

/// A decimal number above 0 and at most 1 (`0.001`, `.5`, `1`) in billionths. Integer
/// arithmetic: parsing and multiplying floats would add some 3 KB to the binary.
fn billionths(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.len() > 1 || fraction.len() > 9 {
        return None;
    }
    let digits = whole.bytes().chain(fraction.bytes().chain(std::iter::repeat(b'0')).take(9));
    let mut n: u64 = 0;
    for d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + u64::from(d - b'0');
    }
    (1..=BILLION).contains(&n).then_some(n)
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth sandbox: a local stand-in for TikTok Shop (authorization, Open API, webhooks)

USAGE:
    tiktok-shop-auth sandbox [OPTIONS]

Serves, on loopback only, what TikTok Shop does in the flow: GET /open/authorize (a page with
Authorize and Deny), the redirect to the redirect URL with code, state, app_key, locale and
shop_region (or error=access_denied&code=null), GET /api/v2/token/get and
GET /api/v2/token/refresh (single-use codes valid 30 minutes, rotating refresh tokens,
non-zero codes with HTTP 200 for a wrong secret, code or refresh token, 404 for POST), and
the Open API: GET /authorization/202309/shops, GET /seller/202309/shops,
POST /order/202309/orders/search (seeded orders; page_size, page_token, order_status) and
GET /product/202309/products/{{id}}, POST /product/202309/images/upload (multipart: `data`
and `use_case`; a body that is not multipart is 36009022, an image over 10 MB 36009021; the
signature covers path and query only) and DELETE /authorization/202403/shops (a shop call: the
grant ends, as /sandbox/revoke), each checking the signature over the body (106001), the
timestamp window (106002), the token (105001, 105002) and shop_cipher (106013 when missing
or not the seller's; refused on /authorization and /seller paths); and the Events API:
GET, PUT {{\"address\": URL, \"event_type\": NAME}} and DELETE {{\"event_type\": NAME}}
/event/202309/webhooks (a shop call; one https or loopback http address per shop and event
type; 36009004 with HTTP 400 for a bad request).

Webhooks are signed as TikTok signs them (with the app secret given here), delivered only to
loopback addresses (an https subscription is kept but never sent to), never through a proxy,
and each attempt is logged; one not answered 200 within {answer} s is retried after
{retries} (times --webhook-retry-scale), then dropped. These set them off:
    POST /sandbox/revoke                      every token of the seller stops working at once;
                                              SELLER_DEAUTHORIZATION to each shop; nothing more
                                              is delivered until a new login
    POST /sandbox/orders/ID/status?to=STATUS  the order moves (to another status);
                                              ORDER_STATUS_CHANGE
    POST /sandbox/shops/ID/deactivate         calls for that shop are refused, as TikTok
                                              refuses inactive shops (HTTP 401, 36009043)
    POST /sandbox/seller/deactivate           every call is refused (HTTP 401, 36009044)
    POST /sandbox/throttle?count=N            the next N Open API calls are throttled
    a refresh token ending within 30 days     UPCOMING_AUTHORIZATION_EXPIRATION, once per
                                              authorization and subscribed shop (a refresh
                                              keeps the authorization's end)
The controls take no credentials and answer JSON: {{\"revoked\":true,\"deliveries\":1}}.

Needs no configuration: with no app key and secret given it uses its own test app
(key {test_key}, secret {test_secret}, service id {test_service}). It prints
`sandbox listening on http://ADDR` on stdout, then the lines to paste into a shell (export
TIKTOK_SHOP_APP_KEY=... TIKTOK_SHOP_AUTHORIZE_URL=http://ADDR/open/authorize and the rest),
then logs each request on stderr with secrets masked. To approve without a browser:
    curl -s http://ADDR/sandbox/code | tiktok-shop-auth login --manual
(GET /sandbox/code: a fresh code for the next seller, as the redirect would carry it), or
--auto-approve (the authorize page redirects at once). With --sellers N, each code or approval
is for the next of N test sellers in turn (open_id --open-id, then +1, +2...).

{options_sandbox}",
        options_sandbox = crate::flags::options("sandbox"),
        test_key = crate::flags::SANDBOX_APP_KEY,
        test_secret = crate::flags::SANDBOX_APP_SECRET,
        test_service = crate::flags::SANDBOX_SERVICE_ID,
        answer = crate::delivery::ANSWER_WITHIN.as_secs(),
        retries = crate::delivery::RETRY_SCHEDULE,
    )
}

impl Sandbox<'_> {
    /// A fresh single-use code, for the next test seller in turn.
    fn new_code(&mut self) -> String {
        let seller = self.next_seller % self.opts.sellers.max(1);
        self.next_seller = self.next_seller.wrapping_add(1);
        let now = self.now();
        self.codes.issue("ROW_", 24, (now, seller))
    }

    /// Test seller `i`'s `open_id` and name: the first is `--open-id` and `--seller-name`,
    /// each further one the next number and the name with its number.
    fn seller(&self, i: u32) -> (String, String) {
        if i == 0 {
            return (self.opts.open_id.clone(), self.opts.seller_name.clone());
        }
        let open_id = match self.opts.open_id.parse::<u64>() {
            Ok(n) => n.wrapping_add(u64::from(i)).to_string(),
            Err(_) => format!("{}-{}", self.opts.open_id, i + 1),
        };
        (open_id, format!("{} {}", self.opts.seller_name, i + 1))
    }
}

/// What the sandbox prints first after its address: the shell lines that point the tool at
/// it (the test secret too: it is nobody's), and how to sign in without a browser.
fn paste_lines(opts: &Options, addr: SocketAddr) -> String {
    let base = format!("http://{addr}");
    let secret = match opts.test_secret {
        true => format!(" {}={}", config::ENV_APP_SECRET, crate::error::shell_word(opts.app.secret.expose())),
        false => String::new(),
    };
    let redirect = match opts.redirect.to_string() {
        r if r == config::DEFAULT_REDIRECT_URL => String::new(),
        r => format!(" {}={}", config::ENV_REDIRECT_URL, crate::error::shell_word(&r)),
    };
    let whose = match (opts.test_secret, opts.app.key == crate::flags::SANDBOX_APP_KEY) {
        (true, true) => "its own test app",
        (true, false) => "your app key and its test secret",
        (false, _) => "the app you gave it",
    };
    let sellers = match opts.sellers {
        1 => String::new(),
        n => format!("# {n} test sellers: each login signs in the next one.\n"),
    };
    format!(
        "# The sandbox, with {whose}. Paste into the shell you run tiktok-shop-auth in:\n\
         export {}={}{secret} {}={}\n\
         export {}={base}/open/authorize {}={base} {}={base}{redirect}\n\
         {sellers}# Then sign in: `tiktok-shop-auth login` ({}), or with no browser:\n\
         #   curl -s {base}/sandbox/code | tiktok-shop-auth login --manual\n",
        config::ENV_APP_KEY,
        crate::error::shell_word(&opts.app.key),
        config::ENV_SERVICE_ID,
        crate::error::shell_word(&opts.service_id),
        config::ENV_AUTHORIZE_URL,
        config::ENV_AUTH_BASE,
        config::ENV_API_BASE,
        if opts.auto_approve { "approved at once: --auto-approve" } else { "the page has Authorize" },
    )
}

struct Grant {
    /// The test seller (0-based) it is for.
    seller: u32,
    access_token: String,
    refresh_expires_at: i64,
    /// The shops (bit `shop - 1`) already sent UPCOMING_AUTHORIZATION_EXPIRATION for it.
    warned: u64,
}

/// Codes and tokens the sandbox issued, with what it knows of each. Each carries its slot
/// after a dot (`TTP_<random>.<slot>`; TikTok's tokens are opaque to clients too), so it is
/// found at once, with no search and no map type (a map costs kilobytes of code in the
/// binary every user ships). A key is taken only whole: a slot holds its token or nothing,
/// and a slot freed by a use or a rotation is given to the next key, so a sandbox left
/// running for months holds only its live tokens.
struct Issued<V> {
    slots: Vec<Option<(String, V)>>,
    free: Vec<usize>,
}

impl<V> Issued<V> {
    fn new() -> Self {
        Issued { slots: Vec::new(), free: Vec::new() }
    }

    /// A new key, `prefix` and `random_bytes` of randomness, for `value`.
    fn issue(&mut self, prefix: &str, random_bytes: usize, value: V) -> String {
        let i = self.free.pop().unwrap_or(self.slots.len());
        let key = format!("{prefix}{}.{i}", random_urlsafe(random_bytes).unwrap_or_default());
        match self.slots.get_mut(i) {
            Some(slot) => *slot = Some((key.clone(), value)),
            None => self.slots.push(Some((key.clone(), value))),
        }
        key
    }

    /// The slot holding `key`, if it is one of ours and still held.
    fn slot(&self, key: &str) -> Option<usize> {
        let i = key.rsplit_once('.')?.1.parse::<usize>().ok()?;
        matches!(self.slots.get(i), Some(Some((held, _))) if held == key).then_some(i)
    }

    fn get(&self, key: &str) -> Option<&V> {
        self.slots.get(self.slot(key)?)?.as_ref().map(|(_, v)| v)
    }

    fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.slot(key)?;
        let (_, value) = self.slots.get_mut(i)?.take()?;
        self.free.push(i);
        Some(value)
    }

    fn clear(&mut self) {
        self.slots.clear();
        self.free.clear();
    }

    fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.slots.iter_mut().flatten().map(|(_, v)| v)
    }
}

struct Sandbox<'a> {
    opts: &'a Options,
    /// Unused authorization codes: each one's issue time and seller (0-based).
    codes: Issued<(i64, u32)>,
    /// The seller the next code signs in (`--sellers`).
    next_seller: u32,
    /// Live access tokens and their expiry.
    access: Issued<i64>,
    /// Live refresh tokens and the grant they belong to.
    refresh: Issued<Grant>,
    /// When the Open API calls of the last second came (for `--rate-limit`).
    recent: Vec<std::time::Instant>,
    /// Open API calls so far (for --throttle-every).
    calls: u64,
    /// Shops made inactive by a control, and whether the seller is.
    inactive_shops: Vec<u32>,
    seller_inactive: bool,
    /// How many of the next Open API calls are throttled (a control sets it).
    throttle_next: u64,
    /// Webhook subscriptions and moved orders.
    events: events::Events,
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let listener = TcpListener::bind(opts.listen).map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => Error::Local(format!(
            "--listen {}: the port is already in use; pick another, or port 0 for a free one",
            opts.listen
        )),
        _ => Error::Local(format!("--listen {}: {e}", opts.listen)),
    })?;
    let listener = without_nagle(listener);
    let addr = listener.local_addr().map_err(|e| Error::Local(format!("cannot read the sandbox's address: {e}")))?;
    let server =
        Server::from_listener(listener, None).map_err(|e| Error::Local(format!("cannot serve on {addr}: {e}")))?;
    outln!("sandbox listening on http://{addr}");
    out!("{}", paste_lines(opts, addr));
    let _ = std::io::stdout().flush();
    noteln!(
        "sandbox: app key {}, service id {}, {} seller{}, redirect URL {}",
        opts.app.key,
        clean(&opts.service_id),
        opts.sellers,
        if opts.sellers == 1 { "" } else { "s" },
        opts.redirect,
    );
    if let Some(f) = opts.fault {
        noteln!("sandbox: fault {f:?} on the token endpoints");
    }
    let sandbox = Mutex::new(Sandbox {
        opts,
        codes: Issued::new(),
        next_seller: 0,
        access: Issued::new(),
        refresh: Issued::new(),
        recent: Vec::new(),
        calls: 0,
        inactive_shops: Vec::new(),
        seller_inactive: false,
        throttle_next: 0,
        events: events::Events::default(),
    });
    let sandbox = &sandbox;
    let handle = move |request| {
        let mut sandbox = sandbox.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        sandbox.handle(request);
        // After every request: tokens it issued, or a subscription it made, may be due one.
        sandbox.warn_expiring();
    };
    // With --latency, each request waits on a thread of its own, so that slow answers
    // overlap as they would at TikTok; the state is still changed one request at a time.
    // How many requests are being answered at once, in each log line: a test sees from it
    // that a client's requests overlapped.
    let in_flight = &std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for request in server.incoming_requests() {
            // Logged on arrival (before any --latency), so a test can act while it waits.
            let now = in_flight.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            log_request(&request, now);
            let done = move || in_flight.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            if opts.latency.is_zero() {
                handle(request);
                done();
            } else {
                scope.spawn(move || {
                    std::thread::sleep(opts.latency);
                    handle(request);
                    done();
                });
            }
        }
    });
    Ok(())
}

/// tiny_http writes an answer as a 1 KiB buffer and then the rest: with Nagle's algorithm
/// the rest waits for the client's delayed ACK, 40 ms an answer (measured: 100 pages of
/// orders took 4.4 s with no --latency at all). TCP_NODELAY on the listening socket is
/// inherited by every accepted one on Linux; std sets it through the socket's fd, no
/// unsafe code. Elsewhere the listener is used as it is.
#[cfg(target_os = "linux")]
fn without_nagle(listener: TcpListener) -> TcpListener {
    use std::os::fd::OwnedFd;
    let socket = std::net::TcpStream::from(OwnedFd::from(listener));
    let _ = socket.set_nodelay(true);
    TcpListener::from(OwnedFd::from(socket))
}

#[cfg(not(target_os = "linux"))]
fn without_nagle(listener: TcpListener) -> TcpListener {
    listener
}

impl Sandbox<'_> {
    /// The sandbox's clock: the real one, shifted by `--clock-skew` (a test hook).
    fn now(&self) -> i64 {
        expiry::now() + self.opts.clock_skew
    }

    fn handle(&mut self, mut request: Request) {
        let target = request.url().to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        let params = url::parse_query(query);
        let is_get = *request.method() == Method::Get;
        let token = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("x-tts-access-token"))
            .map(|h| h.value.as_str().to_string());
        let content_type =
            request.headers().iter().find(|h| h.field.equiv("content-type")).map(|h| h.value.as_str().to_string());
        let path = path.to_string();
        // An image upload may be larger than any other body: enough to answer 36009021.
        let limit = if path == shop_api::UPLOAD_PATH { MAX_UPLOAD_BODY } else { MAX_REQUEST_BODY };
        let mut body = Vec::new();
        let reader = request.as_reader();
        let _ = reader.take(limit + 1).read_to_end(&mut body);
        if body.len() as u64 > limit {
            // Read the rest (bounded) so the client reads this answer instead of a reset.
            let _ = std::io::copy(&mut reader.take(64 * MAX_REQUEST_BODY), &mut std::io::sink());
            let message = format!("request too large: the sandbox takes bodies up to {} KiB", limit / 1024);
            return self.send_api(request, 413, REQUEST_TOO_LARGE, &message, Value::Null);
        }
        let method = request.method().as_str().to_string();
        match (is_get, path.as_str()) {
            (true, "/open/authorize") => self.authorize(request, &params),
            (true, "/open/authorize/decide") => self.decide(request, &params),
            (true, "/sandbox/code") => {
                let code = self.new_code();
                self.send(request, 200, "text/plain; charset=utf-8", format!("{code}\n"), &[])
            }
            (true, token_api::TOKEN_GET_PATH) => self.token_get(request, &params),
            (true, token_api::TOKEN_REFRESH_PATH) => self.token_refresh(request, &params),
            (false, p) if method == "POST" && p.starts_with("/sandbox/") => self.control(request, p, &params),
            (_, p) if route(&method, p).is_some() => {
                let remote = request.remote_addr().copied();
                let call = OpenApiCall {
                    method: &method,
                    path: &path,
                    params: &params,
                    token: token.as_deref(),
                    body: &body,
                    content_type: content_type.as_deref(),
                    remote,
                };
                self.open_api(request, &call)
            }
            // An Open API path that is no API: TikTok's answer.
            (_, p)
                if !p.starts_with("/api/")
                    && !p.starts_with("/open/")
                    && !p.starts_with("/sandbox/")
                    && p != "/favicon.ico" =>
            {
                self.send_api(request, 404, shop_api::NO_SUCH_PATH, "Invalid path: the API does not exist", Value::Null)
            }
            _ => self.send(request, 404, "text/plain; charset=utf-8", "404 page not found".into(), &[]),
        }
    }

    fn send(&self, request: Request, status: u16, content_type: &str, body: String, extra: &[(&str, &str)]) {
        let mut response = Response::from_string(body).with_status_code(status);
        let mut headers = vec![("Date", expiry::http_date(self.now()))];
        if content_type.starts_with("text/html") {
            headers.extend(html::security_headers(true).map(|(k, v)| (k, v.to_string())));
        } else {
            headers.extend([("Content-Type", content_type.to_string()), ("Cache-Control", "no-store".into())]);
        }
        headers.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        for (name, value) in headers {
            if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
                response.add_header(header);
            }
        }
        let _ = request.respond(response);
    }

    /// TikTok's envelope: `code`, `message`, `request_id`, `data`.
    fn send_api(&self, request: Request, status: u16, code: i64, message: &str, data: Value) {
        self.send_api_with(request, status, code, message, data, &[]);
    }

    fn send_api_with(
        &self,
        request: Request,
        status: u16,
        code: i64,
        message: &str,
        data: Value,
        extra: &[(&str, &str)],
    ) {
        let request_id = format!(
            "{}{}",
            self.now(),
            random_urlsafe(9).unwrap_or_default().to_ascii_uppercase().replace(['-', '_'], "0")
        );
        let body = json!({ "code": code, "message": message, "request_id": request_id, "data": data });
        self.send(request, status, "application/json; charset=utf-8", body.to_string(), extra);
    }
}

/// One line on stderr per request, secrets masked.
fn log_request(request: &Request, in_flight: usize) {
    let target = request.url();
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = masked_query(&url::parse_query(query));
    noteln!("sandbox: {} {}{query} [in flight: {in_flight}]", request.method(), clean(path));
}

fn masked_query(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            if SECRET_KEYS.contains(&k.as_str()) && v != "null" {
                format!("{}={}", clean(k), mask(v))
            } else {
                format!("{}={}", clean(k), clean(v))
            }
        })
        .collect();
    format!("?{}", shown.join("&"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_keys_are_found_whole_and_only_while_held() {
        let mut issued = Issued::new();
        let a = issued.issue("TTP_", 32, 1);
        let b = issued.issue("TTP_", 32, 2);
        assert!(a.starts_with("TTP_") && a.ends_with(".0") && b.ends_with(".1") && a != b, "{a} {b}");
        assert_eq!((issued.get(&a), issued.get(&b)), (Some(&1), Some(&2)));
        // Another key's slot, a changed key, no slot, a slot out of range: none is ours.
        let (random_a, _) = a.rsplit_once('.').unwrap();
        for forged in
            [format!("{random_a}.1"), format!("{a}x"), random_a.to_string(), format!("{random_a}.99"), "".into()]
        {
            assert_eq!(issued.get(&forged), None, "{forged}");
        }
        assert_eq!(issued.remove(&a), Some(1));
        assert_eq!(issued.get(&a), None);
        assert_eq!(issued.remove(&a), None);
        // A freed slot goes to the next key (the list stays as long as the live keys); the
        // old key is still not found in it.
        let c = issued.issue("TTP_", 32, 3);
        assert!(c.ends_with(".0"), "{c}");
        assert_eq!((issued.get(&a), issued.get(&c)), (None, Some(&3)));
        assert_eq!(issued.slots.len(), 2);
        // After a clear, slot 0 is issued again; no old key is found.
        issued.clear();
        let d = issued.issue("TTP_", 32, 4);
        assert!(d.ends_with(".0"));
        assert_eq!((issued.get(&a), issued.get(&b), issued.get(&c), issued.get(&d)), (None, None, None, Some(&4)));
        assert_eq!(issued.values_mut().map(|v| *v).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn sandbox_retry_scale_is_a_decimal_in_billionths() {
        for (text, n) in
            [("1", BILLION), ("1.0", BILLION), ("0.001", 1_000_000), (".5", 500_000_000), ("0.000000001", 1)]
        {
            assert_eq!(billionths(text), Some(n), "{text}");
        }
        for bad in ["", ".", "0", "0.0", "2", "1.5", "10", "-1", "1e-3", "0.0000000001", " 1", "0.5 ", "+1", "NaN"] {
            assert_eq!(billionths(bad), None, "{bad:?}");
        }
    }
}
