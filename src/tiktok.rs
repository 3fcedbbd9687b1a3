//! TikTok Shop's HTTP API: the two token endpoints and the signed "authorized shops" call.
//!
//! One blocking `ureq` agent with bounded timeouts, proxies from `HTTPS_PROXY`/`HTTP_PROXY`/
//! `NO_PROXY` (ureq reads them), and, when `SSL_CERT_FILE` is set, the certificates in that
//! file as the only trusted roots (as curl and OpenSSL do, for corporate TLS proxies).
//! Every answer is checked the same way: HTTP status, then JSON, then TikTok's `code`.
//! The app secret travels in the token endpoints' query string, so no URL of theirs is
//! ever put into a message, and every message is scrubbed of the secret before it leaves.
//! TikTok's `message`, `request_id` and a content type are text from outside: they pass
//! through `secret::clean` (secrets, control characters, length) before anyone sees them.
//! The token endpoints spend a single-use grant, so they demand a `token_file::Room`: they
//! can only be called while the token file is locked and room for the answer is reserved.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig};

use crate::config::App;
use crate::error::{ApiError, Error};
use crate::secret::{Secret, clean, scrub};
use crate::token_file::Room;

/// The token endpoints and their grant types, as the tool and the sandbox both spell them.
pub const TOKEN_GET_PATH: &str = "/api/v2/token/get";
pub const TOKEN_REFRESH_PATH: &str = "/api/v2/token/refresh";
pub const GRANT_AUTHORIZED_CODE: &str = "authorized_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

const MAX_BODY: u64 = 1024 * 1024;

/// The agent every command uses.
pub fn agent() -> Result<Agent, Error> {
    let mut tls = TlsConfig::builder();
    if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        let pem = std::fs::read(&path).map_err(|e| Error::file("read SSL_CERT_FILE", &path, e))?;
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(Error::Usage(format!(
                "SSL_CERT_FILE `{}` holds no PEM certificate",
                std::path::Path::new(&path).display()
            )));
        }
        tls = tls.root_certs(RootCerts::Specific(Arc::new(certs)));
    }
    let config = Agent::config_builder()
        .tls_config(tls.build())
        .http_status_as_error(false)
        // The token endpoints carry the app secret in their query: a redirect (a captive
        // portal, a misconfigured proxy) must not carry it anywhere else.
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(10)))
        .timeout_global(Some(Duration::from_secs(30)))
        .user_agent(concat!("tiktok-shop-auth/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.new_agent())
}

/// A successful token response: parsed, its tokens checked and read, and the bytes as
/// received (which the file keeps).
pub struct TokenAnswer {
    pub json: Value,
    pub tokens: crate::token_file::Tokens,
    pub body: Vec<u8>,
}

/// `GET /api/v2/token/get`: an authorization code for tokens.
pub fn exchange_code(
    agent: &Agent,
    auth_base: &str,
    app: &App,
    code: &Secret,
    _room: &Room,
) -> Result<TokenAnswer, Error> {
    token_call(agent, auth_base, TOKEN_GET_PATH, app, ("auth_code", code), GRANT_AUTHORIZED_CODE)
}

/// `GET /api/v2/token/refresh`: a refresh token for new tokens.
pub fn refresh(
    agent: &Agent,
    auth_base: &str,
    app: &App,
    refresh_token: &Secret,
    _room: &Room,
) -> Result<TokenAnswer, Error> {
    token_call(agent, auth_base, TOKEN_REFRESH_PATH, app, ("refresh_token", refresh_token), GRANT_REFRESH_TOKEN)
}

/// Both token endpoints: a GET with the app's credentials, one grant and its type.
fn token_call(
    agent: &Agent,
    base: &str,
    path: &'static str,
    app: &App,
    (grant_name, grant): (&str, &Secret),
    grant_type: &str,
) -> Result<TokenAnswer, Error> {
    let query = [
        ("app_key", app.key.as_str()),
        ("app_secret", app.secret.expose()),
        (grant_name, grant.expose()),
        ("grant_type", grant_type),
    ];
    let url = format!("{base}{path}?{}", crate::url::encode_query(&query));
    let endpoint = format!("{base}{path}");
    let answer = get(agent, &url, &endpoint, &[])?;
    let json = check_envelope(path, &answer, &endpoint)?;
    // The same check a saved file gets: what is saved must be usable by the next refresh.
    let tokens = crate::token_file::Tokens::from_response(&json).map_err(|why| {
        Error::Network(format!("{endpoint} answered code 0, but the answer {why} (request_id {})", request_id(&json)))
    })?;
    Ok(TokenAnswer { json, tokens, body: answer.body })
}

/// One HTTP answer, read whole (bounded) whatever its status.
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub body: Vec<u8>,
    /// The server's `Date` header as a Unix time, for clock-skew hints.
    pub date: Option<i64>,
}

fn get(agent: &Agent, url: &str, endpoint: &str, headers: &[(&str, &str)]) -> Result<Answer, Error> {
    let mut request = agent.get(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut response = request
        .call()
        .map_err(|e| Error::Network(scrub(&format!("request to {endpoint} failed: {}", describe(&e)))))?;
    let status = response.status().as_u16();
    let content_type = header(&response, "content-type").unwrap_or_default();
    let date = header(&response, "date").and_then(|d| crate::expiry::parse_http_date(&d));
    let body = response.body_mut().with_config().limit(MAX_BODY).read_to_vec().map_err(|e| {
        Error::Network(scrub(&format!("reading the answer of {endpoint} (HTTP {status}) failed: {}", describe(&e))))
    })?;
    Ok(Answer { status, content_type, body, date })
}

fn header(response: &ureq::http::Response<ureq::Body>, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// ureq's errors, minus anything that could carry the URL (and so the secret).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => "the URL is not valid (check --auth-base / --api-base)".into(),
        ureq::Error::HostNotFound => "host not found (check the network, DNS and HTTPS_PROXY)".into(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::BodyExceedsLimit(n) => format!("the answer is larger than {n} bytes"),
        other => other.to_string(),
    }
}

/// Status, JSON, then TikTok's `code`. HTML error pages, empty and cut-off bodies become
/// errors that say what came back, without echoing it (a proxy page may echo the URL).
pub fn check_envelope(what: &'static str, answer: &Answer, endpoint: &str) -> Result<Value, Error> {
    let describe_body = || {
        let kind =
            if answer.content_type.is_empty() { "no content type".to_string() } else { clean(&answer.content_type) };
        format!("{} bytes, {kind}", answer.body.len())
    };
    if (300..400).contains(&answer.status) {
        return Err(Error::Network(format!(
            "{endpoint} answered HTTP {} with a redirect, which is not followed since the request carries secrets; \
             check the base URL and any proxy",
            answer.status
        )));
    }
    if answer.body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::Network(format!("{endpoint} answered HTTP {} with an empty body", answer.status)));
    }
    let value: Value = match serde_json::from_slice(&answer.body) {
        Ok(v) => v,
        Err(e) if answer.status != 200 || !answer.content_type.contains("json") && !e.is_eof() => {
            return Err(Error::Network(format!(
                "{endpoint} answered HTTP {} with something that is not JSON ({}): a proxy or load balancer error page?",
                answer.status,
                describe_body()
            )));
        }
        Err(e) => {
            return Err(Error::Network(format!(
                "{endpoint} answered HTTP {} with malformed or truncated JSON ({}): {e}",
                answer.status,
                describe_body()
            )));
        }
    };
    let code = value.get("code").and_then(Value::as_i64);
    match code {
        Some(0) if answer.status == 200 => Ok(value),
        Some(0) => Err(Error::Network(format!(
            "{endpoint} answered HTTP {} although its JSON says code 0 (request_id {})",
            answer.status,
            request_id(&value)
        ))),
        Some(code) => Err(Error::TikTok(ApiError {
            endpoint: what,
            http_status: answer.status,
            code,
            message: clean(value.get("message").and_then(Value::as_str).unwrap_or("(no message)")),
            request_id: request_id(&value),
            hint: None,
        })),
        None => Err(Error::Network(format!(
            "{endpoint} answered HTTP {} with JSON that has no numeric `code` ({})",
            answer.status,
            describe_body()
        ))),
    }
}

fn request_id(value: &Value) -> String {
    clean(value.get("request_id").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("none"))
}

/// TikTok's codes that mean the refresh token is gone for good: a new login is needed.
pub fn needs_new_login(code: i64) -> bool {
    matches!(code, 36004001 | 36004005 | 36004006)
}

pub const SHOPS_PATH: &str = "/authorization/202309/shops";

/// `GET /authorization/202309/shops`, signed, with the access token in its header.
pub fn authorized_shops(
    agent: &Agent,
    api_base: &str,
    app: &App,
    access_token: &Secret,
    now: i64,
) -> Result<Value, Error> {
    let (key, secret, timestamp) = (app.key.as_str(), &app.secret, now.to_string());
    let sign = sign(secret.expose(), SHOPS_PATH, &[("app_key", key), ("timestamp", &timestamp)], b"");
    let query = [("app_key", key), ("timestamp", timestamp.as_str()), ("sign", sign.as_str())];
    let url = format!("{api_base}{SHOPS_PATH}?{}", crate::url::encode_query(&query));
    let endpoint = format!("{api_base}{SHOPS_PATH}");
    let headers = [("x-tts-access-token", access_token.expose()), ("content-type", "application/json")];
    let answer = get(agent, &url, &endpoint, &headers)?;
    check_envelope(SHOPS_PATH, &answer, &endpoint).map_err(|e| open_api_error(e, answer.date, now))
}

/// TikTok's access-token codes: the token is unknown (or was replaced) or has expired.
pub const INVALID_ACCESS_TOKEN: i64 = 105001;
pub const EXPIRED_ACCESS_TOKEN: i64 = 105002;

/// An Open API error as the user should meet it: a refused access token is exit 5 with
/// what to run, a signature or timestamp error carries the clock hint.
fn open_api_error(e: Error, server_date: Option<i64>, now: i64) -> Error {
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
    let skew = server_date.map(|d| now - d).filter(|s| *s > 30 || *s < -300);
    let mentions = api.message.to_ascii_lowercase().contains("timestamp");
    match (skew, mentions) {
        (Some(s), _) => Some(format!(
            "this machine's clock is {} s {} the server's: check the system clock (NTP); signed calls need it within 5 minutes behind to 30 seconds ahead",
            s.abs(),
            if s > 0 { "ahead of" } else { "behind" }
        )),
        (None, true) => Some("check the system clock (NTP): signed calls need it within 5 minutes behind to 30 seconds ahead of TikTok's".into()),
        (None, false) => None,
    }
}

/// TikTok Shop's request signature: lowercase hex HMAC-SHA256, keyed by the app secret, over
/// `secret + path + sorted(key + value, without sign and access_token) + body + secret`.
pub fn sign(secret: &str, path: &str, query: &[(&str, &str)], body: &[u8]) -> String {
    let mut pairs: Vec<&(&str, &str)> = query.iter().filter(|(k, _)| *k != "sign" && *k != "access_token").collect();
    pairs.sort_by(|a, b| a.0.cmp(b.0));
    let mut input = Vec::with_capacity(256 + body.len());
    input.extend_from_slice(secret.as_bytes());
    input.extend_from_slice(path.as_bytes());
    for (k, v) in pairs {
        input.extend_from_slice(k.as_bytes());
        input.extend_from_slice(v.as_bytes());
    }
    input.extend_from_slice(body);
    input.extend_from_slice(secret.as_bytes());
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, &input);
    tag.as_ref().iter().map(|b| format!("{b:02x}")).collect()
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

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer { status, content_type: content_type.into(), body: body.as_bytes().to_vec(), date: None }
    }

    #[test]
    fn envelope_errors_say_what_came_back() {
        let e = check_envelope("/t", &answer(502, "text/html", "<html>Bad Gateway</html>"), "https://h/t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("HTTP 502") && e.contains("not JSON") && !e.contains("Bad Gateway"), "{e}");
        let e = check_envelope("/t", &answer(200, "application/json", "{\"code\":0,\"da"), "https://h/t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("truncated"), "{e}");
        let e = check_envelope("/t", &answer(200, "application/json", " \n"), "https://h/t").unwrap_err().to_string();
        assert!(e.contains("empty body"), "{e}");
        let e = check_envelope(
            "/t",
            &answer(200, "application/json", r#"{"code":36004004,"message":"invalid auth code","request_id":"R1"}"#),
            "x",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "/t answered code 36004004: invalid auth code (request_id R1)");
        assert!(check_envelope("/t", &answer(200, "application/json", r#"{"code":0,"data":{}}"#), "x").is_ok());
        let e =
            check_envelope("/t", &answer(503, "application/json", r#"{"code":0,"request_id":"R2"}"#), "x").unwrap_err();
        assert_eq!(e.to_string(), "x answered HTTP 503 although its JSON says code 0 (request_id R2)");
        let e = check_envelope("/t", &answer(302, "text/html", "<a href=x>moved</a>"), "x").unwrap_err();
        assert!(e.to_string().contains("HTTP 302 with a redirect, which is not followed"), "{e}");
        let e = check_envelope("/t", &answer(200, "text/plain", "404 page not found"), "x").unwrap_err();
        assert!(e.to_string().contains("not JSON"), "{e}");
    }
}
