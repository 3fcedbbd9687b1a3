//! The Open API routes the sandbox serves, behind the checks TikTok makes in its order:
//! the rate limit, the app key, the signature over the body, the timestamp window, the
//! token and the shop cipher. The seller's shops and seeded orders are the same every run
//! (until a sandbox control moves an order, see `events`).

use serde_json::{Value, json};
use tiny_http::Request;

use super::faults::Fault;
use super::{SELLER, Sandbox};
use crate::secret::clean;
use crate::{expiry, open_api, url};

/// TikTok's order statuses; the seeded orders cycle through the first `SEEDED_STATUSES`, a
/// sandbox control can move an order to any.
pub(super) const ORDER_STATUSES: [&str; 9] = [
    "UNPAID",
    "AWAITING_SHIPMENT",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "ON_HOLD",
    "PARTIALLY_SHIPPING",
    "CANCELLED",
];
const SEEDED_STATUSES: usize = 6;
pub(super) const UPLOAD_PATH: &str = "/product/202309/images/upload";
/// An Open API path that is no API (HTTP 404).
pub(super) const NO_SUCH_PATH: i64 = 36009009;
/// TikTok's throttle (HTTP 429).
const THROTTLED: i64 = 36009002;
/// An inactive shop, an inactive seller (HTTP 401).
const SHOP_INACTIVE: i64 = 36009043;
const SELLER_INACTIVE: i64 = 36009044;
/// An upload: the image is too large (over 10 MB); the body is not multipart.
const IMAGE_TOO_LARGE: i64 = 36009021;
const NOT_MULTIPART: i64 = 36009022;
const MAX_IMAGE: usize = 10 * 1000 * 1000;
const REGIONS: [&str; 6] = ["GB", "US", "DE", "FR", "ES", "IT"];

/// The Open API routes the sandbox serves.
pub(super) enum Route<'a> {
    AuthorizedShops,
    SellerShops,
    OrderSearch,
    Product(&'a str),
    /// The Events API: GET, PUT and DELETE.
    Webhooks,
    ImageUpload,
    /// `DELETE /authorization/202403/shops`: the seller's grant ends.
    Deauthorize,
}

pub(super) fn route<'a>(method: &str, path: &'a str) -> Option<Route<'a>> {
    match (method, path) {
        ("GET", open_api::SHOPS_PATH) => Some(Route::AuthorizedShops),
        ("GET", "/seller/202309/shops") => Some(Route::SellerShops),
        ("POST", "/order/202309/orders/search") => Some(Route::OrderSearch),
        ("GET" | "PUT" | "DELETE", "/event/202309/webhooks") => Some(Route::Webhooks),
        ("POST", UPLOAD_PATH) => Some(Route::ImageUpload),
        ("DELETE", open_api::REVOKE_PATH) => Some(Route::Deauthorize),
        ("GET", p) => p.strip_prefix("/product/202309/products/").filter(|id| !id.contains('/')).map(Route::Product),
        _ => None,
    }
}

/// What an Open API request carried.
pub(super) struct OpenApiCall<'a> {
    pub(super) method: &'a str,
    pub(super) path: &'a str,
    pub(super) params: &'a [(String, String)],
    pub(super) token: Option<&'a str>,
    pub(super) body: &'a [u8],
    pub(super) content_type: Option<&'a str>,
    pub(super) remote: Option<std::net::SocketAddr>,
}

/// Shop `i` (from 1) of the test seller; shop 1 is the one `shops` has always shown.
fn shop_json(i: u32) -> Value {
    json!({
        "id": shop_id(i),
        "name": if i == 1 { SELLER.to_string() } else { format!("Sandbox Shop {i}") },
        "region": REGIONS[(i as usize - 1) % REGIONS.len()],
        "seller_type": if i == 1 { "LOCAL" } else { "CROSS_BORDER" },
        "cipher": shop_cipher(i),
        "code": format!("{}LCSANDBOX{i}", REGIONS[(i as usize - 1) % REGIONS.len()]),
    })
}

pub(super) fn shop_id(i: u32) -> String {
    format!("749400000000000000{i}")
}

fn shop_cipher(i: u32) -> String {
    format!("GCP_sandboxCipherSaNdBoX{i:010}")
}

pub(super) fn order_id(i: usize, shop: u32) -> String {
    format!("57700{shop:02}{i:011}")
}

/// Seeded order `i` of shop `shop`, in `status`.
fn order_json(i: usize, shop: u32, status: &str) -> Value {
    json!({
        "id": order_id(i, shop),
        "status": status,
        "create_time": 1_764_000_000 - (i as i64) * 3600,
        "shop_id": shop_id(shop),
        "payment": { "currency": "GBP", "total_amount": format!("{}.{:02}", 5 + i % 95, i % 100) },
        "line_items": [{ "product_name": "Sandbox tee – ☂", "sku_id": format!("17300{:012}", i % 7), "quantity": 1 + i % 3 }],
    })
}

/// `POST /product/202309/images/upload`: a multipart body with the image in `data` and
/// its `use_case`; answers where the image now is.
fn upload(call: &OpenApiCall, multipart: bool) -> Result<Value, (u16, i64, String)> {
    if !multipart {
        return Err((
            400,
            NOT_MULTIPART,
            "The request body must be JSON or multipart/form-data: use multipart/form-data for an image".into(),
        ));
    }
    let boundary = call
        .content_type
        .and_then(|t| t.split(';').find_map(|p| p.trim().strip_prefix("boundary=")))
        .map(|b| b.trim_matches('"').to_string())
        .ok_or((400, NOT_MULTIPART, "multipart/form-data without a boundary".to_string()))?;
    let parts = multipart_parts(call.body, boundary.as_bytes());
    let data = parts.iter().find(|(name, _)| name == "data").map(|(_, v)| *v);
    let Some(data) = data else { return Err((400, 36009004, "the image (field `data`) is missing".into())) };
    if data.len() > MAX_IMAGE {
        return Err((400, IMAGE_TOO_LARGE, format!("The image is too large: {} bytes, over 10 MB", data.len())));
    }
    let use_case = parts.iter().find(|(n, _)| n == "use_case").map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let digest = ring::digest::digest(&ring::digest::SHA256, data);
    let id: String = digest.as_ref()[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(json!({
        "uri": format!("tos-sandbox-i-{id}"),
        "url": format!("https://sandbox.invalid/images/tos-sandbox-i-{id}.jpg"),
        "width": 0,
        "height": 0,
        "use_case": use_case.unwrap_or_else(|| "MAIN_IMAGE".into()),
    }))
}

/// A multipart body's parts: each `name` and its bytes.
fn multipart_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<(String, &'a [u8])> {
    let delimiter = [b"--".as_slice(), boundary].concat();
    let mut parts = Vec::new();
    let mut rest = body;
    while let Some(at) = find(rest, &delimiter) {
        rest = &rest[at + delimiter.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(head_end) = find(rest, b"\r\n\r\n") else { break };
        let head = String::from_utf8_lossy(&rest[..head_end]).into_owned();
        let content = &rest[head_end + 4..];
        let end = find(content, &delimiter).unwrap_or(content.len());
        let value = content[..end].strip_suffix(b"\r\n").unwrap_or(&content[..end]);
        let name = head
            .split(';')
            .find_map(|p| p.trim().strip_prefix("name="))
            .map(|n| n.trim_matches('"').to_string())
            .unwrap_or_default();
        parts.push((name, value));
        rest = &content[end..];
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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

impl Sandbox<'_> {
    /// Every Open API route: the rate limit, then the checks TikTok makes in its order
    /// (app key, signature over the body, timestamp window, token, shop cipher), then the
    /// route itself.
    pub(super) fn open_api(&mut self, request: Request, call: &OpenApiCall) {
        let now = self.now();
        self.calls += 1;
        let over_rate = self.opts.rate_limit.is_some_and(|limit| {
            let second_ago = std::time::Instant::now() - std::time::Duration::from_secs(1);
            self.recent.retain(|t| *t > second_ago);
            let over = self.recent.len() >= limit as usize;
            if !over {
                self.recent.push(std::time::Instant::now());
            }
            over
        });
        let next = self.throttle_next > 0;
        if next {
            self.throttle_next -= 1;
        }
        if next || over_rate || self.opts.throttle_every.is_some_and(|n| self.calls.is_multiple_of(n)) {
            let message = "Too many requests: the rate limit of this API was exceeded";
            let after = self.opts.retry_after.map(|s| s.to_string());
            let extra: Vec<(&str, &str)> = after.as_deref().map(|a| ("Retry-After", a)).into_iter().collect();
            return self.send_api_with(request, 429, THROTTLED, message, Value::Null, &extra);
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
        // A multipart body is not signed (TikTok: path and query only); the media type is
        // compared without its parameters (`; boundary=...`).
        let multipart = call.content_type.is_some_and(|t| open_api::media_type(t) == "multipart/form-data");
        let signed_body = if multipart { &[][..] } else { call.body };
        let expected = open_api::sign(self.opts.app.secret.expose(), call.path, &pairs, signed_body);
        if url::get(params, "sign") != Some(expected.as_str()) {
            let message = "Invalid signature: the sign does not match the request (path, sorted query and body)";
            return self.send_api(request, 401, 106001, message, Value::Null);
        }
        match url::get(params, "timestamp").and_then(|t| t.parse::<i64>().ok()) {
            Some(ts) if expiry::in_clock_window(ts, now) => {}
            _ => {
                let message = format!("Invalid timestamp: it must be {} the server time", expiry::clock_window());
                return self.send_api(request, 401, 106002, &message, Value::Null);
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
        if self.seller_inactive {
            let message = "The seller is inactive: calls for this seller are refused";
            return self.send_api(request, 401, SELLER_INACTIVE, message, Value::Null);
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
        if shop.is_some_and(|s| self.inactive_shops.contains(&s)) {
            let message = "The shop is inactive: calls for this shop are refused";
            return self.send_api(request, 401, SHOP_INACTIVE, message, Value::Null);
        }
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
            (Some(Route::Webhooks), Some(shop)) => self.webhooks(call.method, call.body, shop),
            (Some(Route::ImageUpload), _) => upload(call, multipart),
            (Some(Route::Deauthorize), Some(_)) => {
                self.revoke();
                Ok(json!({}))
            }
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
        let matching: Vec<usize> =
            (0..self.opts.orders).filter(|i| status.is_none_or(|s| self.order_status(*i, shop) == s)).collect();
        let page: Vec<Value> = matching
            .iter()
            .skip(offset)
            .take(page_size)
            .map(|i| order_json(*i, shop, self.order_status(*i, shop)))
            .collect();
        let next = match self.opts.fault {
            // A server that never ends: the same token, or two in turn.
            Some(Fault::RepeatPage) => "pt_1".to_string(),
            Some(Fault::CyclePages) => if offset == 1 { "pt_2" } else { "pt_1" }.to_string(),
            _ if offset + page_size < matching.len() => format!("pt_{}", offset + page_size),
            _ => String::new(),
        };
        Ok(json!({ "orders": page, "next_page_token": next, "total_count": matching.len() }))
    }

    /// Order `i` of `shop`'s status: as seeded, or where a sandbox control moved it.
    pub(super) fn order_status(&self, i: usize, shop: u32) -> &'static str {
        let moved = self.events.moved.iter().find(|m| (m.0, m.1) == (shop, i));
        moved.map_or(ORDER_STATUSES[i % SEEDED_STATUSES], |m| m.2)
    }
}
