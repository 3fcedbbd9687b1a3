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
use crate::secret::Secret;
use crate::store::Cache;
use crate::{expiry, url};

pub const SHOPS_PATH: &str = "/authorization/202309/shops";

/// The largest Open API answer read (a page of 100 orders is well under this).
const MAX_ANSWER: u64 = 32 * 1024 * 1024;
/// How often a GET is tried when TikTok answers 429 or 5xx.
const TRIES: u32 = 3;
/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: u64 = 10;

/// TikTok's access-token codes: the token is unknown (or was replaced) or has expired.
pub const INVALID_ACCESS_TOKEN: i64 = 105001;
pub const EXPIRED_ACCESS_TOKEN: i64 = 105002;
/// `shop_cipher` missing, or not one of the seller's shops.
pub const SHOP_CIPHER_ERROR: i64 = 106013;

/// Paths that never take a `shop_cipher`.
pub fn takes_no_shop(path: &str) -> bool {
    path.starts_with("/authorization/") || path.starts_with("/seller/")
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
}

impl Call {
    pub fn get(path: &str) -> Call {
        Call { method: "GET".into(), path: path.into(), query: Vec::new(), shop_cipher: None, body: None }
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
        let body = call.body.as_deref().unwrap_or_default();
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
        let headers = [("x-tts-access-token", token.expose()), ("content-type", "application/json")];
        let endpoint = format!("{}{}", self.base, call.path);
        http::send(self.agent, &call.method, &signed.url, &endpoint, &headers, call.body.as_deref(), MAX_ANSWER)
    }

    /// Sends `call`, retrying a GET on 429 and 5xx; `seen` is shown each answer (for
    /// `--include`). Returns the answer and the time it was signed at.
    pub fn send(&self, call: &Call, token: &Secret, seen: &mut dyn FnMut(&Answer)) -> Result<(Answer, i64), Error> {
        let mut attempt = 1;
        loop {
            let now = expiry::now();
            let answer = self.send_once(call, token, now)?;
            seen(&answer);
            let retryable = answer.status == 429 || answer.status >= 500;
            if call.method != "GET" || !retryable || attempt == TRIES {
                return Ok((answer, now));
            }
            let wait = retry_after(&answer).unwrap_or(1 << (attempt - 1)).min(MAX_RETRY_AFTER);
            noteln!(
                "tiktok-shop-auth: {} answered HTTP {}; trying again in {wait} s ({} of {TRIES})",
                call.path,
                answer.status,
                attempt + 1
            );
            std::thread::sleep(Duration::from_secs(wait));
            attempt += 1;
        }
    }

    /// TikTok's envelope checked, with the Open API's meanings (see `open_api_error`).
    pub fn check(&self, call: &Call, answer: &Answer, now: i64) -> Result<Value, Error> {
        let endpoint = format!("{}{}", self.base, call.path);
        http::check_envelope(&call.path, answer, &endpoint).map_err(|e| open_api_error(e, answer.date(), now))
    }

    /// The seller's authorized shops (`data.shops`), fetched now.
    pub fn authorized_shops(&self, token: &Secret) -> Result<Vec<Value>, Error> {
        let call = Call::get(SHOPS_PATH);
        let (answer, now) = self.send(&call, token, &mut |_| {})?;
        let value = self.check(&call, &answer, now)?;
        Ok(value.pointer("/data/shops").and_then(Value::as_array).cloned().unwrap_or_default())
    }
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
pub fn open_api_error(e: Error, server_date: Option<i64>, now: i64) -> Error {
    match e {
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
}

impl ShopList {
    /// The cached list of the seller `open_id`, when it is there and theirs.
    pub fn cached(cache: Cache, open_id: &str) -> ShopList {
        let cached =
            cache.read().and_then(|b| serde_json::from_slice::<Value>(&b).ok()).filter(|v| v["open_id"] == open_id);
        let shops = cached.as_ref().and_then(|v| v["shops"].as_array().cloned()).unwrap_or_default();
        let fetched_at = cached.as_ref().and_then(|v| v["fetched_at"].as_i64());
        ShopList { cache, open_id: open_id.into(), fresh: false, shops, fetched_at }
    }

    pub fn is_cached(&self) -> bool {
        !self.shops.is_empty()
    }

    /// Fetches the list from TikTok and rewrites the cache (best effort: the list is still
    /// usable when the cache cannot be written).
    pub fn refetch(&mut self, client: &Client, token: &Secret) -> Result<(), Error> {
        self.shops = client.authorized_shops(token)?;
        self.fresh = true;
        let text = json!({ "open_id": self.open_id, "fetched_at": expiry::now(), "shops": self.shops });
        self.cache.write(text.to_string().as_bytes());
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
        let app = App { key: "29a39d".into(), secret: Secret::new("e59af819cc") };
        let agent = Agent::new_with_defaults();
        let client = Client { agent: &agent, base: "https://h", app: &app };
        let call = Call {
            method: "POST".into(),
            path: "/order/202309/orders/search".into(),
            query: vec![("page_size".into(), "2".into())],
            shop_cipher: Some("GCP_x".into()),
            body: Some(b"{\"a\": 1}".to_vec()),
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
}
