//! `sandbox`: a local stand-in for TikTok Shop's side of the flow, for tests, the demo and
//! anyone who wants to try their scripts without a real seller.
//!
//! It follows the facts page as strictly as the real service is known to behave: the token
//! endpoints answer GET only (POST gets Go's plain `404 page not found`), errors come as a
//! non-zero `code` with HTTP 200, codes are single-use and live 30 minutes, refresh tokens
//! rotate (the old one and its access token stop working), expiry fields are absolute Unix
//! times, and the shops endpoint checks the HMAC signature, the timestamp window and the
//! token. The state is a few maps behind one mutex: requests change it one at a time.
//! Where the real service's behaviour is unknown (exact codes for a wrong secret or a bad
//! timestamp), the choice is noted in the README.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Mutex;

use serde_json::{Value, json};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::cli::{Fault, SandboxOptions};
use crate::error::Error;
use crate::html::{self, Tone};
use crate::secret::{clean, mask, random_urlsafe};
use crate::url;
use crate::{expiry, open_api, tiktok};

const CODE_LIFETIME: i64 = 30 * 60;
const SCOPES: [&str; 4] =
    ["seller.authorization.info", "seller.shop.info", "seller.order.info", "seller.product.basic"];
pub const OPEN_ID: &str = "7010736057180325637";
pub const SELLER: &str = "Sandbox Test Shop";
const REGION: &str = "GB";
/// Query keys whose values are masked in the request log.
const SECRET_KEYS: [&str; 5] = ["app_secret", "auth_code", "code", "refresh_token", "access_token"];

/// The largest request body the sandbox reads.
const MAX_REQUEST_BODY: u64 = 1024 * 1024;
/// The code a body over `MAX_REQUEST_BODY` is answered with (HTTP 413): not TikTok's
/// (its limit and code are not documented), and never the signature's 106001.
const REQUEST_TOO_LARGE: i64 = 41_300;
const ORDER_STATUSES: [&str; 6] =
    ["UNPAID", "AWAITING_SHIPMENT", "AWAITING_COLLECTION", "IN_TRANSIT", "DELIVERED", "COMPLETED"];
const REGIONS: [&str; 6] = ["GB", "US", "DE", "FR", "ES", "IT"];

/// The Open API routes the sandbox serves.
enum Route<'a> {
    AuthorizedShops,
    SellerShops,
    OrderSearch,
    Product(&'a str),
}

fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    match (method, path) {
        ("GET", open_api::SHOPS_PATH) => Some(Route::AuthorizedShops),
        ("GET", "/seller/202309/shops") => Some(Route::SellerShops),
        ("POST", "/order/202309/orders/search") => Some(Route::OrderSearch),
        ("GET", p) => p.strip_prefix("/product/202309/products/").filter(|id| !id.contains('/')).map(Route::Product),
        _ => None,
    }
}

/// What an Open API request carried.
struct OpenApiCall<'a> {
    method: &'a str,
    path: &'a str,
    params: &'a [(String, String)],
    token: Option<&'a str>,
    body: &'a [u8],
    remote: Option<std::net::SocketAddr>,
}

/// Shop `i` (from 1) of the test seller; shop 1 is the one `shops` has always shown.
fn shop_json(i: u32) -> Value {
    json!({
        "id": format!("749400000000000000{i}"),
        "name": if i == 1 { SELLER.to_string() } else { format!("Sandbox Shop {i}") },
        "region": REGIONS[(i as usize - 1) % REGIONS.len()],
        "seller_type": if i == 1 { "LOCAL" } else { "CROSS_BORDER" },
        "cipher": shop_cipher(i),
        "code": format!("{}LCSANDBOX{i}", REGIONS[(i as usize - 1) % REGIONS.len()]),
    })
}

fn shop_cipher(i: u32) -> String {
    format!("GCP_sandboxCipherSaNdBoX{i:010}")
}

/// Seeded order `i` of shop `shop`: the same every run.
fn order_json(i: usize, shop: u32) -> Value {
    json!({
        "id": format!("57700{shop:02}{i:011}"),
        "status": ORDER_STATUSES[i % ORDER_STATUSES.len()],
        "create_time": 1_764_000_000 - (i as i64) * 3600,
        "shop_id": format!("749400000000000000{shop}"),
        "payment": { "currency": "GBP", "total_amount": format!("{}.{:02}", 5 + i % 95, i % 100) },
        "line_items": [{ "product_name": "Sandbox tee – ☂", "sku_id": format!("17300{:012}", i % 7), "quantity": 1 + i % 3 }],
    })
}

/// `GET /product/202309/products/{id}`: any numeric id is a product.
fn product(id: &str) -> Result<Value, (u16, i64, String)> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err((404, 12052048, format!("product {} not found", clean(id))));
    }
    Ok(json!({
        "id": id,
        "title": format!("Sandbox product {id} – 裙子"),
        "status": "ACTIVATE",
        "skus": [{ "id": format!("{id}01"), "price": { "currency": "GBP", "sale_price": "12.50" }, "inventory": [{ "quantity": 7 }] }],
    }))
}

struct Grant {
    access_token: String,
    refresh_expires_at: i64,
}

struct Sandbox<'a> {
    opts: &'a SandboxOptions,
    /// Unused authorization codes and when they were issued.
    codes: HashMap<String, i64>,
    /// Live access tokens and their expiry.
    access: HashMap<String, i64>,
    /// Live refresh tokens and the grant they belong to.
    refresh: HashMap<String, Grant>,
    /// When the Open API calls of the last second came (for `--rate-limit`).
    recent: Vec<std::time::Instant>,
}

pub fn run(opts: &SandboxOptions) -> Result<(), Error> {
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
    let _ = std::io::stdout().flush();
    noteln!(
        "sandbox: app key {}, redirect URL {}{}\n  point the tool at it with: --authorize-url http://{addr}/open/authorize --auth-base http://{addr} --api-base http://{addr}",
        opts.app.key,
        opts.redirect,
        match opts.fault {
            Some(f) => format!(", fault {f:?} on the token endpoints"),
            None => String::new(),
        }
    );
    let sandbox = Mutex::new(Sandbox {
        opts,
        codes: HashMap::new(),
        access: HashMap::new(),
        refresh: HashMap::new(),
        recent: Vec::new(),
    });
    let sandbox = &sandbox;
    let handle = move |request| match sandbox.lock() {
        Ok(mut sandbox) => sandbox.handle(request),
        Err(poisoned) => poisoned.into_inner().handle(request),
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
        let path = path.to_string();
        let mut body = Vec::new();
        let reader = request.as_reader();
        let _ = reader.take(MAX_REQUEST_BODY + 1).read_to_end(&mut body);
        if body.len() as u64 > MAX_REQUEST_BODY {
            // Read the rest (bounded) so the client reads this answer instead of a reset.
            let _ = std::io::copy(&mut reader.take(64 * MAX_REQUEST_BODY), &mut std::io::sink());
            let message = format!("request too large: the sandbox takes bodies up to {} KiB", MAX_REQUEST_BODY / 1024);
            return self.send_api(request, 413, REQUEST_TOO_LARGE, &message, Value::Null);
        }
        let method = request.method().as_str().to_string();
        match (is_get, path.as_str()) {
            (true, "/open/authorize") => self.authorize(request, &params),
            (true, "/open/authorize/decide") => self.decide(request, &params),
            (true, tiktok::TOKEN_GET_PATH) => self.token_get(request, &params),
            (true, tiktok::TOKEN_REFRESH_PATH) => self.token_refresh(request, &params),
            (_, p) if route(&method, p).is_some() => {
                let remote = request.remote_addr().copied();
                let call = OpenApiCall {
                    method: &method,
                    path: &path,
                    params: &params,
                    token: token.as_deref(),
                    body: &body,
                    remote,
                };
                self.open_api(request, &call)
            }
            _ => self.send(request, 404, "text/plain; charset=utf-8", "404 page not found".into(), &[]),
        }
    }

    fn authorize(&mut self, request: Request, params: &[(String, String)]) {
        let Some(service_id) = url::get(params, "service_id").filter(|s| !s.is_empty()) else {
            let page = html::page(
                Tone::Bad,
                "Missing service_id",
                "<p>The authorization link has no <code>service_id</code>. Copy the link from Partner Center.</p>",
            );
            return self.send(request, 400, "text/html; charset=utf-8", page, &[]);
        };
        let state = url::get(params, "state").unwrap_or("");
        if self.opts.auto_approve {
            let location = self.redirect_location(true, state);
            return self.send(request, 302, "text/plain; charset=utf-8", String::new(), &[("Location", &location)]);
        }
        let page = html::authorize_page(&html::AuthorizeRequest {
            app_key: &self.opts.app.key,
            service_id,
            state,
            seller: &self.opts.seller_name,
            region: REGION,
            redirect: &self.opts.redirect.to_string(),
            scopes: &SCOPES,
        });
        self.send(request, 200, "text/html; charset=utf-8", page, &[]);
    }

    fn decide(&mut self, request: Request, params: &[(String, String)]) {
        let approve = url::get(params, "decision") == Some("approve");
        let location = self.redirect_location(approve, url::get(params, "state").unwrap_or(""));
        self.send(request, 302, "text/plain; charset=utf-8", String::new(), &[("Location", &location)]);
    }

    /// The registered redirect URL with what TikTok Shop appends to it.
    fn redirect_location(&mut self, approve: bool, state: &str) -> String {
        let query = if approve {
            let code = format!("ROW_{}", random_urlsafe(24).unwrap_or_default());
            self.codes.insert(code.clone(), self.now());
            url::encode_query(&[
                ("code", code.as_str()),
                ("state", state),
                ("app_key", &self.opts.app.key),
                ("locale", "en"),
                ("shop_region", REGION),
            ])
        } else {
            url::encode_query(&[("error", "access_denied"), ("code", "null"), ("state", state)])
        };
        let base = self.opts.redirect.to_string();
        let joiner = if base.contains('?') { '&' } else { '?' };
        format!("{base}{joiner}{query}")
    }

    /// The checks both token endpoints share: test faults, then the app's credentials and
    /// the grant type. `Err` is the answer already sent.
    fn check_token_call(&self, request: Request, params: &[(String, String)], grant_type: &str) -> Result<Request, ()> {
        if let Some(fault) = self.opts.fault.filter(|f| f.on_token_endpoints()) {
            self.send_fault(request, fault, params);
            return Err(());
        }
        let app_ok = url::get(params, "app_key") == Some(self.opts.app.key.as_str())
            && url::get(params, "app_secret") == Some(self.opts.app.secret.expose());
        if !app_ok {
            self.send_api(request, 200, 36004002, "invalid app_key or app_secret", Value::Null);
            return Err(());
        }
        if url::get(params, "grant_type") != Some(grant_type) {
            self.send_api(request, 200, 36004003, &format!("invalid grant_type, expected {grant_type}"), Value::Null);
            return Err(());
        }
        Ok(request)
    }

    fn token_get(&mut self, request: Request, params: &[(String, String)]) {
        let Ok(request) = self.check_token_call(request, params, tiktok::GRANT_AUTHORIZED_CODE) else { return };
        let now = self.now();
        let code = url::get(params, "auth_code").unwrap_or("");
        // A code is spent by its first use, whether it was still fresh or not.
        match self.codes.remove(code) {
            Some(issued) if now - issued <= CODE_LIFETIME => {
                let data = self.issue(now);
                self.send_api(request, 200, 0, "success", data);
            }
            _ => self.send_api(request, 200, 36004004, "invalid auth code", Value::Null),
        }
    }

    fn token_refresh(&mut self, request: Request, params: &[(String, String)]) {
        let Ok(request) = self.check_token_call(request, params, tiktok::GRANT_REFRESH_TOKEN) else { return };
        let now = self.now();
        let token = url::get(params, "refresh_token").unwrap_or("");
        match self.refresh.remove(token) {
            None => self.send_api(request, 200, 36004005, "can not find related auth record", Value::Null),
            Some(grant) if grant.refresh_expires_at <= now => {
                self.send_api(request, 200, 36004001, "rt has expired", Value::Null)
            }
            Some(grant) => {
                // Rotation: the old refresh token is gone, and so is its access token.
                self.access.remove(&grant.access_token);
                let data = self.issue(now);
                self.send_api(request, 200, 0, "success", data);
            }
        }
    }

    /// New tokens, remembered, as TikTok's `data` object.
    fn issue(&mut self, now: i64) -> Value {
        let access_token = format!("TTP_{}", random_urlsafe(32).unwrap_or_default());
        let refresh_token = format!("TTP_{}", random_urlsafe(32).unwrap_or_default());
        let access_expires = now + self.opts.access_ttl;
        let refresh_expires = now + self.opts.refresh_ttl;
        self.access.insert(access_token.clone(), access_expires);
        self.refresh.insert(
            refresh_token.clone(),
            Grant { access_token: access_token.clone(), refresh_expires_at: refresh_expires },
        );
        json!({
            "access_token": access_token,
            "access_token_expire_in": access_expires,
            "refresh_token": refresh_token,
            "refresh_token_expire_in": refresh_expires,
            "open_id": self.opts.open_id,
            "seller_name": self.opts.seller_name,
            "seller_base_region": REGION,
            "user_type": 0,
            "granted_scopes": SCOPES,
        })
    }

    /// Every Open API route: the rate limit, then the checks TikTok makes in its order
    /// (app key, signature over the body, timestamp window, token, shop cipher), then the
    /// route itself.
    fn open_api(&mut self, request: Request, call: &OpenApiCall) {
        let now = self.now();
        if let Some(limit) = self.opts.rate_limit {
            let second_ago = std::time::Instant::now() - std::time::Duration::from_secs(1);
            self.recent.retain(|t| *t > second_ago);
            if self.recent.len() >= limit as usize {
                let message = "Too many requests: the rate limit of this API was exceeded";
                return self.send_api_with(request, 429, 36009007, message, Value::Null, &[("Retry-After", "1")]);
            }
            self.recent.push(std::time::Instant::now());
        }
        if self.opts.fault == Some(Fault::IpDenied) {
            // A stand-in wording: it names the caller's address, as doctor can then show.
            let message = format!(
                "Access denied. Your IP address is not in the IP allow list configured for this app. (request from {})",
                call.remote.map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
            );
            return self.send_api(request, 403, 36009033, &message, Value::Null);
        }
        let params = call.params;
        if url::get(params, "app_key") != Some(self.opts.app.key.as_str()) {
            return self.send_api(request, 401, 106003, "invalid app_key", Value::Null);
        }
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let expected = open_api::sign(self.opts.app.secret.expose(), call.path, &pairs, call.body);
        if url::get(params, "sign") != Some(expected.as_str()) {
            let message = "Invalid signature: the sign does not match the request (path, sorted query and body)";
            return self.send_api(request, 401, 106001, message, Value::Null);
        }
        match url::get(params, "timestamp").and_then(|t| t.parse::<i64>().ok()) {
            Some(ts) if (now - expiry::CLOCK_BEHIND_MAX..=now + expiry::CLOCK_AHEAD_MAX).contains(&ts) => {}
            _ => {
                return self.send_api(
                    request,
                    401,
                    106002,
                    "Invalid timestamp: it must be within 5 minutes before and 30 seconds after the server time",
                    Value::Null,
                );
            }
        }
        match call.token.and_then(|t| self.access.get(t)) {
            None => {
                let message = "Invalid credentials: the access token is invalid or was replaced by a refresh";
                return self.send_api(request, 401, open_api::INVALID_ACCESS_TOKEN, message, Value::Null);
            }
            Some(expires) if *expires <= now => {
                let message = "Expired credentials: the access token has expired";
                return self.send_api(request, 401, open_api::EXPIRED_ACCESS_TOKEN, message, Value::Null);
            }
            Some(_) => {}
        }
        let cipher = url::get(params, "shop_cipher");
        let shop = match (open_api::takes_no_shop(call.path), cipher) {
            (true, None) => None,
            (true, Some(_)) => {
                let message = "shop_cipher must not be sent to this API (authorization and seller APIs take none)";
                return self.send_api(request, 400, 36009004, message, Value::Null);
            }
            (false, cipher) => match (1..=self.opts.shops).find(|i| Some(shop_cipher(*i).as_str()) == cipher) {
                Some(i) => Some(i),
                None => {
                    let message = if cipher.is_none() {
                        "shop_cipher is required by this API"
                    } else {
                        "shop_cipher is invalid: it is not one of this seller's shops"
                    };
                    return self.send_api(request, 400, open_api::SHOP_CIPHER_ERROR, message, Value::Null);
                }
            },
        };
        let answer = match (route(call.method, call.path), shop) {
            (Some(Route::AuthorizedShops), _) => {
                Ok(json!({ "shops": (1..=self.opts.shops).map(shop_json).collect::<Vec<_>>() }))
            }
            (Some(Route::SellerShops), _) => Ok(json!({ "shops": (1..=self.opts.shops).map(|i| {
                let mut shop = shop_json(i);
                shop.as_object_mut().map(|o| o.remove("cipher"));
                shop
            }).collect::<Vec<_>>() })),
            (Some(Route::OrderSearch), Some(shop)) => self.order_search(params, call.body, shop),
            (Some(Route::Product(id)), Some(_)) => product(id),
            _ => Err((404, 36009004, "no such API".to_string())),
        };
        match answer {
            Ok(data) => self.send_api(request, 200, 0, "Success", data),
            Err((status, code, message)) => self.send_api(request, status, code, &message, Value::Null),
        }
    }

    /// `POST /order/202309/orders/search`: the seeded orders, filtered by the body's
    /// `order_status`, a page at a time (`page_size` 1–100, an opaque `page_token`).
    fn order_search(&self, params: &[(String, String)], body: &[u8], shop: u32) -> Result<Value, (u16, i64, String)> {
        let bad = |message: &str| Err((400, 36009004, message.to_string()));
        let page_size = match url::get(params, "page_size").map(str::parse::<usize>) {
            Some(Ok(n)) if (1..=100).contains(&n) => n,
            _ => return bad("page_size is required and must be from 1 to 100"),
        };
        let offset = match url::get(params, "page_token").filter(|t| !t.is_empty()) {
            None => 0,
            Some(token) => match token.strip_prefix("pt_").and_then(|n| n.parse::<usize>().ok()) {
                Some(n) => n,
                None => return bad("page_token is invalid"),
            },
        };
        let filter: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return bad("the request body is not valid JSON"),
            }
        };
        let status = filter.get("order_status").and_then(Value::as_str);
        let matching: Vec<usize> = (0..self.opts.orders)
            .filter(|i| status.is_none_or(|s| ORDER_STATUSES[i % ORDER_STATUSES.len()] == s))
            .collect();
        let page: Vec<Value> = matching.iter().skip(offset).take(page_size).map(|i| order_json(*i, shop)).collect();
        let next = match self.opts.fault {
            // A server that never ends: the same token, or two in turn.
            Some(Fault::RepeatPage) => "pt_1".to_string(),
            Some(Fault::CyclePages) => if offset == 1 { "pt_2" } else { "pt_1" }.to_string(),
            _ if offset + page_size < matching.len() => format!("pt_{}", offset + page_size),
            _ => String::new(),
        };
        Ok(json!({ "orders": page, "next_page_token": next, "total_count": matching.len() }))
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

    fn send_fault(&self, request: Request, fault: Fault, params: &[(String, String)]) {
        match fault {
            // A misbehaving endpoint or proxy that repeats the request (secrets included)
            // and some terminal escapes in its message.
            Fault::Echo => self.send_api(
                request,
                200,
                36004099,
                &format!(
                    "bad request \u{1b}]0;pwned\u{7}\u{1b}[2J\r\nauthorized and saved: {}",
                    url::encode_query(params)
                ),
                Value::Null,
            ),
            Fault::Html502 => self.send(
                request,
                502,
                "text/html",
                "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center></body></html>".into(), &[]),
            Fault::Empty => self.send(request, 200, "application/json", String::new(), &[]),
            Fault::Truncated => self.send(request, 200, "application/json", r#"{"code":0,"message":"success","request_id":"2026","data":{"access_token":"TTP_"#.into(), &[]),
            Fault::IpDenied => self.send_api(request, 200, 36009033, "Access denied. Your IP address is not in the IP allow list configured for this app.", Value::Null),
            // The Open API's faults are answered by its routes; never sent from here.
            Fault::RepeatPage | Fault::CyclePages => self.send_api(request, 500, 1, "not a token-endpoint fault", Value::Null),
        }
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
