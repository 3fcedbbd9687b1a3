//! The Open API client: every signed call (`shops`, `api`, `exec --shop`) is built, signed
//! and sent here, so there is one signing rule and one set of error meanings.
//!
//! A call's query is `app_key`, `timestamp` (whole Unix seconds), `shop_cipher` when a shop
//! is chosen, the caller's own pairs, then `sign`: lowercase hex HMAC-SHA256 keyed by the
//! app secret over `secret + path + sorted(key + value, without sign and access_token) +
//! body + secret`, the body being the exact bytes sent (never re-serialised). The token
//! goes in `x-tts-access-token`. GET is retried on HTTP 429 and 5xx (three tries at most,
//! `Retry-After` honoured up to 10 s); nothing else is, since a POST may have been done.
//!
//! The seller's shops (for `shop_cipher`) are fetched once and cached beside the token
//! file as the dot-file `.<token file name>.shops` (so no `tokens/*.json` glob matches it);
//! a selector that matches nothing refetches.

use std::time::Duration;

use serde_json::{Value, json};
use ureq::Agent;

use crate::config::App;
use crate::error::{ApiError, Error};
use crate::http::{self, Answer};
use crate::secret::{Secret, clean};
use crate::store::Cache;
use crate::{expiry, url};

pub const SHOPS_PATH: &str = "/authorization/202309/shops";
/// `DELETE` here ends the seller's grant (a shop call, unlike the rest of /authorization).
pub const REVOKE_PATH: &str = "/authorization/202403/shops";

/// The largest Open API answer read (a page of 100 orders is well under this).
const MAX_ANSWER: u64 = 32 * 1024 * 1024;
/// How often a throttled call that only reads is tried again, by default (`--retries`).
pub const RETRIES: u32 = 3;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: u64 = 60;
/// TikTok's throttle code (with HTTP 429).
pub const THROTTLED: i64 = 36009002;
/// An inactive shop, an inactive seller (HTTP 401): no refresh or login changes it.
pub const SHOP_INACTIVE: i64 = 36009043;
pub const SELLER_INACTIVE: i64 = 36009044;
/// An Open API path that is no API (HTTP 404).
pub const NO_SUCH_PATH: i64 = 36009009;
/// A signature TikTok could not verify.
pub const BAD_SIGNATURE: i64 = 106001;

/// TikTok's access-token codes: the token is unknown (or was replaced) or has expired.
pub const INVALID_ACCESS_TOKEN: i64 = 105001;
pub const EXPIRED_ACCESS_TOKEN: i64 = 105002;
/// `shop_cipher` missing, or not one of the seller's shops.
pub const SHOP_CIPHER_ERROR: i64 = 106013;

/// Paths that never take a `shop_cipher` (the revoke call is a shop call all the same).
pub fn takes_no_shop(path: &str) -> bool {
    (path.starts_with("/authorization/") && path != REVOKE_PATH) || path.starts_with("/seller/")
}

/// A content type's media type, without its parameters (`; boundary=...`), lowercase:
/// what decides whether a body is signed (TikTok's own samples compare the whole header
/// and so sign multipart wrongly once `; boundary=` is there).
pub fn media_type(content_type: &str) -> String {
    content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

/// One Open API request, before signing.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The caller's own query pairs, in order (`-q`, and the path's own query).
    pub query: Vec<(String, String)>,
    pub shop_cipher: Option<String>,
    pub body: Option<Vec<u8>>,
    /// The body's content type when it is not JSON (a multipart upload's, boundary and all).
    pub content_type: Option<String>,
}

impl Call {
    pub fn get(path: &str) -> Call {
        Call {
            method: "GET".into(),
            path: path.into(),
            query: Vec::new(),
            shop_cipher: None,
            body: None,
            content_type: None,
        }
    }

    /// The content type sent.
    pub fn content_type(&self) -> &str {
        self.content_type.as_deref().unwrap_or("application/json")
    }

    /// Whether the body is signed: not for `multipart/form-data` (TikTok signs path and
    /// query only there).
    pub fn signs_body(&self) -> bool {
        media_type(self.content_type()) != "multipart/form-data"
    }

    /// Whether repeating it is harmless: a GET, or a POST that only reads (`.../search`).
    pub fn reads_only(&self) -> bool {
        self.method == "GET" || self.method == "POST" && self.path.trim_end_matches('/').ends_with("/search")
    }
}

/// A call, signed for one moment.
pub struct Signed {
    pub url: String,
    pub sign: String,
    /// The HMAC input with the secret shown as `<app_secret>`, for `--dry-run`.
    pub base_string: String,
}

pub struct Client<'a> {
    pub agent: &'a Agent,
    pub base: &'a str,
    pub app: &'a App,
    /// How often a throttled call that only reads is tried again (`--retries`).
    pub retries: u32,
    /// No line for each wait (`--quiet`).
    pub quiet: bool,
}

impl<'a> Client<'a> {
    /// A client with the default retries (`RETRIES`), saying each wait.
    pub fn new(agent: &'a Agent, base: &'a str, app: &'a App) -> Client<'a> {
        Client { agent, base, app, retries: RETRIES, quiet: false }
    }
}

impl Client<'_> {
    /// The query in the order sent (`sign` last) and its signature, for `now`.
    pub fn sign(&self, call: &Call, now: i64) -> Signed {
        let timestamp = now.to_string();
        let mut query: Vec<(&str, &str)> = vec![("app_key", &self.app.key), ("timestamp", &timestamp)];
        if let Some(cipher) = &call.shop_cipher {
            query.push(("shop_cipher", cipher));
        }
        query.extend(call.query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let body = if call.signs_body() { call.body.as_deref().unwrap_or_default() } else { &[] };
        let secret = self.app.secret.expose();
        let input = sign_input(&call.path, &query, body);
        let sign = sign_over(secret, &input);
        let base_string = format!("<app_secret>{}<app_secret>", String::from_utf8_lossy(&input));
        query.push(("sign", &sign));
        let url = format!("{}{}?{}", self.base, call.path, url::encode_query(&query));
        Signed { url, sign: sign.clone(), base_string }
    }

    /// Sends `call` once, signed now.
    pub fn send_once(&self, call: &Call, token: &Secret, now: i64) -> Result<Answer, Error> {
        let signed = self.sign(call, now);
        let headers = [("x-tts-access-token", token.expose()), ("content-type", call.content_type())];
        let endpoint = format!("{}{}", self.base, call.path);
        http::send(self.agent, &call.method, &signed.url, &endpoint, &headers, call.body.as_deref(), MAX_ANSWER)
    }

    /// Sends `call`; one that only reads (`Call::reads_only`) is tried again, up to
    /// `retries` times, when TikTok throttles it (HTTP 429 or 503, or code 36009002), or a
    /// GET meets another 5xx: waits of 1, 2, 4 s... with jitter, or the `Retry-After` given
    /// (up to 60 s). A call that may change something is sent once. `seen` is shown each
    /// answer (for `--include`). Returns the answer and the time it was signed at.
    pub fn send(&self, call: &Call, token: &Secret, seen: &mut dyn FnMut(&Answer)) -> Result<(Answer, i64), Error> {
        let mut retry = 0;
        loop {
            let now = expiry::now();
            let answer = self.send_once(call, token, now)?;
            seen(&answer);
            let again = call.reads_only() && (throttled(&answer) || call.method == "GET" && answer.status >= 500);
            if !again || retry >= self.retries {
                return Ok((answer, now));
            }
            retry += 1;
            let wait = retry_after(&answer)
                .map(|s| Duration::from_secs(s.min(MAX_RETRY_AFTER)))
                .unwrap_or_else(|| backoff(retry));
            if !self.quiet {
                noteln!(
                    "tiktok-shop-auth: {} answered HTTP {}{}; trying again in {:.1} s ({retry} of {} retries)",
                    call.path,
                    answer.status,
                    if throttled(&answer) { " (throttled)" } else { "" },
                    wait.as_secs_f64(),
                    self.retries
                );
            }
            std::thread::sleep(wait);
        }
    }

    /// TikTok's envelope checked, with the Open API's meanings (see `open_api_error`).
    pub fn check(&self, call: &Call, answer: &Answer, now: i64) -> Result<Value, Error> {
        let endpoint = format!("{}{}", self.base, call.path);
        http::check_envelope(&call.path, answer, &endpoint)
            .map_err(|e| open_api_error(e, answer.date(), now, Some(self.app)))
    }

    /// The seller's authorized shops (`data.shops`), fetched now.
    pub fn authorized_shops(&self, token: &Secret) -> Result<Vec<Value>, Error> {
        let call = Call::get(SHOPS_PATH);
        let (answer, now) = self.send(&call, token, &mut |_| {})?;
        let value = self.check(&call, &answer, now)?;
        Ok(value.pointer("/data/shops").and_then(Value::as_array).cloned().unwrap_or_default())
    }
}

/// Whether TikTok throttled the call: HTTP 429 or 503 (overloaded), or its code 36009002.
fn throttled(answer: &Answer) -> bool {
    let code = || serde_json::from_slice::<Value>(&answer.body).ok().and_then(|v| v["code"].as_i64());
    answer.status == 429 || answer.status == 503 || code() == Some(THROTTLED)
}

/// The wait before retry `n` (from 1): 1 s doubling, a quarter of it random either way.
fn backoff(n: u32) -> Duration {
    let base = 1000u64 << (n - 1).min(6);
    let random = crate::secret::random_urlsafe(3).map(|r| r.bytes().map(u64::from).sum::<u64>()).unwrap_or(0);
    let jitter = (random % 501) * base / 1000; // 0 to half of base
    Duration::from_millis((base - base / 4 + jitter).min(MAX_RETRY_AFTER * 1000))
}

/// `Retry-After` in seconds (an HTTP date is read too).
fn retry_after(answer: &Answer) -> Option<u64> {
    let value = answer.header("retry-after")?.trim();
    value.parse::<u64>().ok().or_else(|| {
        let at = expiry::parse_http_date(value)?;
        Some((at - expiry::now()).max(0) as u64)
    })
}

/// An Open API error as the user should meet it: a refused access token is exit 5 with
/// what to run, a signature or timestamp error carries the clock hint.
/// Where the app secret came from is named when a signature fails.
pub fn open_api_error(e: Error, server_date: Option<i64>, now: i64, app: Option<&App>) -> Error {
    match e {
        Error::TikTok(api) if api.code == THROTTLED || api.http_status == 429 || api.http_status == 503 => {
            Error::Local(format!(
                "{api}: TikTok throttled the call (too many calls, or it is overloaded) and went on refusing it after \
                 the retries (--retries); the token is fine: try again later, or make fewer calls (TikTok allows \
                 about 50 a second per app and shop)"
            ))
        }
        Error::TikTok(api) if api.code == SHOP_INACTIVE => Error::Local(format!(
            "{api}: TikTok refuses calls for this shop because it is inactive; neither a refresh nor a new login \
             changes that (the seller must reactivate the shop in Seller Center)"
        )),
        Error::TikTok(api) if api.code == SELLER_INACTIVE => Error::Local(format!(
            "{api}: TikTok refuses calls for this seller because the seller's account is inactive; neither a \
             refresh nor a new login changes that (the seller must reactivate it)"
        )),
        Error::TikTok(mut api) if api.code == NO_SUCH_PATH || api.http_status == 404 && api.code != 0 => {
            api.hint = Some(
                "no such API path: an Open API path names the module, the version and the resource, such as \
                 /order/202309/orders/search or /product/202309/products/ID"
                    .into(),
            );
            Error::TikTok(api)
        }
        Error::TikTok(mut api) if api.code == BAD_SIGNATURE => {
            api.hint = Some(match (clock_hint(&api, server_date, now), app) {
                (Some(clock), _) => clock,
                (None, Some(app)) => format!(
                    "the likely cause is the app secret, from {}: check it is this app's (Partner Center, the app's \
                     page), or the system clock",
                    app.secret_source
                ),
                (None, None) => "the likely cause is a wrong app secret, or the system clock".into(),
            });
            Error::TikTok(api)
        }
        Error::TikTok(api) if matches!(api.code, INVALID_ACCESS_TOKEN | EXPIRED_ACCESS_TOKEN) => {
            Error::NeedLogin(format!(
                "{api}: the access token was refused; run `tiktok-shop-auth refresh` (and `tiktok-shop-auth login` if that fails too)"
            ))
        }
        Error::TikTok(mut api) => {
            api.hint = clock_hint(&api, server_date, now);
            Error::TikTok(api)
        }
        other => other,
    }
}

/// Signed calls carry a timestamp TikTok accepts only from 5 minutes before to 30 seconds
/// after its own clock: when the answer's `Date` shows this machine is off, or TikTok
/// complains about the timestamp, say to check the system clock.
fn clock_hint(api: &ApiError, server_date: Option<i64>, now: i64) -> Option<String> {
    let skew = server_date.map(|d| now - d).filter(|s| *s > expiry::CLOCK_AHEAD_MAX || *s < -expiry::CLOCK_BEHIND_MAX);
    let mentions = api.message.to_ascii_lowercase().contains("timestamp");
    match (skew, mentions) {
        (Some(s), _) => Some(format!(
            "this machine's clock is {} s {} the server's: check the system clock (NTP); signed calls need it {}",
            s.abs(),
            if s > 0 { "ahead of" } else { "behind" },
            expiry::clock_window()
        )),
        (None, true) => {
            Some(format!("check the system clock (NTP): signed calls need it {} TikTok's", expiry::clock_window()))
        }
        (None, false) => None,
    }
}

/// `path + sorted(key + value, without sign and access_token) + body`: the signature's
/// input between the two copies of the secret.
fn sign_input(path: &str, query: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    // Kept in order as they are added (after any equal key: a stable order), rather than
    // sorted after: std's sort costs kilobytes of code per element type.
    let mut pairs: Vec<&(&str, &str)> = Vec::with_capacity(query.len());
    for pair in query.iter().filter(|(k, _)| *k != "sign" && *k != "access_token") {
        pairs.insert(pairs.partition_point(|p| p.0 <= pair.0), pair);
    }
    let mut input = Vec::with_capacity(256 + body.len());
    input.extend_from_slice(path.as_bytes());
    for (k, v) in pairs {
        input.extend_from_slice(k.as_bytes());
        input.extend_from_slice(v.as_bytes());
    }
    input.extend_from_slice(body);
    input
}

/// Lowercase hex HMAC-SHA256 keyed by the secret over `secret + input + secret`.
fn sign_over(secret: &str, input: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let wrapped = [secret.as_bytes(), input, secret.as_bytes()].concat();
    ring::hmac::sign(&key, &wrapped).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// TikTok Shop's request signature (see the module doc).
pub fn sign(secret: &str, path: &str, query: &[(&str, &str)], body: &[u8]) -> String {
    sign_over(secret, &sign_input(path, query, body))
}

/// The seller's shops, cached beside the tokens.
pub struct ShopList {
    cache: Cache,
    open_id: String,
    pub shops: Vec<Value>,
    pub fresh: bool,
    /// When the cached list was fetched (Unix time), if it came from the cache.
    pub fetched_at: Option<i64>,
    /// The ciphers of shops TikTok refused as inactive (36009043), as this tool saw it.
    pub inactive: Vec<String>,
}

impl ShopList {
    /// The cached list of the seller `open_id`, when it is there and theirs.
    pub fn cached(cache: Cache, open_id: &str) -> ShopList {
        let cached =
            cache.read().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).filter(|v| v["open_id"] == open_id);
        let shops = cached.as_ref().and_then(|v| v["shops"].as_array().cloned()).unwrap_or_default();
        let fetched_at = cached.as_ref().and_then(|v| v["fetched_at"].as_i64());
        let inactive = cached
            .as_ref()
            .and_then(|v| v["inactive"].as_array())
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        ShopList { cache, open_id: open_id.into(), fresh: false, shops, fetched_at, inactive }
    }

    /// Notes that TikTok refused the shop of `cipher` as inactive (kept in the cache, so
    /// `shops` can say it); its name, for the message.
    pub fn mark_inactive(&mut self, cipher: &str) -> Option<String> {
        if !self.inactive.iter().any(|c| c == cipher) {
            self.inactive.push(cipher.to_string());
            self.save();
        }
        let shop = self.shops.iter().find(|s| s["cipher"] == cipher)?;
        Some(format!("{} ({})", clean(shop["name"].as_str().unwrap_or("?")), clean(shop["id"].as_str().unwrap_or("?"))))
    }

    fn save(&self) {
        let text = json!({
            "open_id": self.open_id,
            "fetched_at": self.fetched_at.unwrap_or_else(expiry::now),
            "shops": self.shops,
            "inactive": self.inactive,
        });
        self.cache.write(text.to_string().as_bytes());
    }

    pub fn is_cached(&self) -> bool {
        !self.shops.is_empty()
    }

    /// Fetches the list from TikTok and rewrites the cache (best effort: the list is still
    /// usable when the cache cannot be written).
    pub fn refetch(&mut self, client: &Client, token: &Secret) -> Result<(), Error> {
        self.shops = client.authorized_shops(token)?;
        self.fresh = true;
        self.fetched_at = Some(expiry::now());
        self.save();
        Ok(())
    }

    /// The one shop `selector` names (by id, code, name, region or cipher; case does not
    /// matter); refetches once when it names none. Several, or none, is a usage error that
    /// lists the candidates.
    pub fn select(&mut self, selector: &str, client: &Client, token: &Secret) -> Result<Value, Error> {
        if !self.is_cached() || (matching(&self.shops, selector).is_empty() && !self.fresh) {
            self.refetch(client, token)?;
        }
        self.choose(selector)
    }

    /// `select` without the network (for `--dry-run`).
    pub fn choose(&self, selector: &str) -> Result<Value, Error> {
        let found = matching(&self.shops, selector);
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::Usage(format!(
                "--shop `{selector}` matches none of this seller's shops (by id, code, name, region or cipher):\n{}",
                listing(self.shops.iter())
            ))),
            several => Err(Error::Usage(format!(
                "--shop `{selector}` matches {} shops; use one's id, code or cipher:\n{}",
                several.len(),
                listing(several.iter().copied())
            ))),
        }
    }
}

fn matching<'a>(shops: &'a [Value], selector: &str) -> Vec<&'a Value> {
    shops
        .iter()
        .filter(|shop| {
            ["id", "code", "name", "region", "cipher"].iter().any(|k| {
                let value = match &shop[*k] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return false,
                };
                value.eq_ignore_ascii_case(selector.trim())
            })
        })
        .collect()
}

fn listing<'a>(shops: impl Iterator<Item = &'a Value>) -> String {
    let text = |v: &Value| v.as_str().map(crate::secret::clean).unwrap_or_else(|| v.to_string());
    shops
        .map(|s| {
            format!(
                "  id {}  code {}  name {}  region {}  cipher {}",
                text(&s["id"]),
                text(&s["code"]),
                text(&s["name"]),
                text(&s["region"]),
                text(&s["cipher"])
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_the_documented_vector() {
        let sig = sign(
            "e59af819cc",
            "/authorization/202309/shops",
            &[("app_key", "29a39d"), ("timestamp", "1623812664")],
            b"",
        );
        assert_eq!(sig, "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8");
    }

    #[test]
    fn signature_sorts_keys_and_drops_sign_and_access_token() {
        let a = sign("s", "/p", &[("b", "2"), ("a", "1"), ("sign", "x"), ("access_token", "t")], b"");
        let b = sign("s", "/p", &[("a", "1"), ("b", "2")], b"");
        assert_eq!(a, b);
        assert_ne!(a, sign("s", "/p", &[("a", "2"), ("b", "1")], b""));
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    }

    #[test]
    fn signature_covers_utf8_values_and_the_body() {
        // The HMAC input is the plain concatenation; recomputing it by hand must agree.
        let expected = {
            let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"k3y");
            let input =
                "k3y/api/products/searchpage_size20shop_cipherGCP_Ätimestamp1version202309{\"name\":\"裙子\"}k3y";
            ring::hmac::sign(&key, input.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        let got = sign(
            "k3y",
            "/api/products/search",
            &[("timestamp", "1"), ("shop_cipher", "GCP_Ä"), ("version", "202309"), ("page_size", "20")],
            "{\"name\":\"裙子\"}".as_bytes(),
        );
        assert_eq!(got, expected);
    }

    #[test]
    fn the_signed_query_and_base_string_never_show_the_secret() {
        let app = App { key: "29a39d".into(), secret: Secret::new("e59af819cc"), secret_source: "a test".into() };
        let agent = Agent::new_with_defaults();
        let client = Client::new(&agent, "https://h", &app);
        let call = Call {
            method: "POST".into(),
            path: "/order/202309/orders/search".into(),
            query: vec![("page_size".into(), "2".into())],
            shop_cipher: Some("GCP_x".into()),
            body: Some(b"{\"a\": 1}".to_vec()),
            content_type: None,
        };
        let signed = client.sign(&call, 1_623_812_664);
        assert!(signed.url.starts_with(
            "https://h/order/202309/orders/search?app_key=29a39d&timestamp=1623812664&shop_cipher=GCP_x&page_size=2&sign="
        ));
        assert!(signed.url.ends_with(&signed.sign));
        assert_eq!(
            signed.base_string,
            "<app_secret>/order/202309/orders/searchapp_key29a39dpage_size2shop_cipherGCP_xtimestamp1623812664{\"a\": 1}<app_secret>"
        );
        let query = [("app_key", "29a39d"), ("timestamp", "1623812664"), ("shop_cipher", "GCP_x"), ("page_size", "2")];
        assert_eq!(signed.sign, sign("e59af819cc", &call.path, &query, b"{\"a\": 1}"));
        assert!(!signed.url.contains("e59af819cc") && !signed.base_string.contains("e59af819cc"));
    }

    #[test]
    fn shops_are_chosen_by_any_of_their_names() {
        let shops: Vec<Value> = serde_json::from_str(
            r#"[{"id":"7001","name":"Big Shop","region":"GB","code":"GBLC1","cipher":"GCP_a"},
                {"id":"7002","name":"Small","region":"US","code":"USLC2","cipher":"GCP_b"},
                {"id":"7003","name":"Other","region":"us","code":"USLC3","cipher":"GCP_c"}]"#,
        )
        .unwrap();
        for selector in ["7001", "gblc1", "big shop", "GB", "GCP_a"] {
            assert_eq!(matching(&shops, selector).len(), 1, "{selector}");
        }
        assert_eq!(matching(&shops, "US").len(), 2);
        assert!(matching(&shops, "FR").is_empty());
    }

    #[test]
    fn a_multipart_body_is_not_signed_and_the_media_type_drops_its_parameters() {
        assert_eq!(media_type("Multipart/Form-Data; boundary=abc"), "multipart/form-data");
        let app = App { key: "k".into(), secret: Secret::new("s3cr3t-s3cr3t"), secret_source: "a test".into() };
        let agent = Agent::new_with_defaults();
        let client = Client::new(&agent, "https://h", &app);
        let call = |body: &[u8], boundary: &str| Call {
            method: "POST".into(),
            path: "/product/202309/images/upload".into(),
            query: Vec::new(),
            shop_cipher: None,
            body: Some(body.to_vec()),
            content_type: Some(format!("multipart/form-data; boundary={boundary}")),
        };
        let a = client.sign(&call(b"one image", "b1"), 1);
        let b = client.sign(&call(b"another image", "b2"), 1);
        assert_eq!(a.sign, b.sign, "the body and the boundary are not signed");
        assert_eq!(
            a.sign,
            sign("s3cr3t-s3cr3t", "/product/202309/images/upload", &[("app_key", "k"), ("timestamp", "1")], b"")
        );
        assert!(!call(b"", "x").reads_only() && Call::get("/x").reads_only());
        let search = Call { method: "POST".into(), ..Call::get("/order/202309/orders/search") };
        assert!(search.reads_only());
    }
}
