//! The tool's one HTTP path: a blocking `ureq` agent with bounded timeouts, proxies from
//! `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (ureq reads them), and, when `SSL_CERT_FILE` is
//! set, the certificates in that file as the only trusted roots (as curl and OpenSSL do,
//! for corporate TLS proxies). Every answer is read whole and bounded; errors name the
//! endpoint (never a URL, which may carry the app secret) and are scrubbed. TikTok's
//! envelope is checked the same way everywhere: HTTP status, then JSON, then `code`.
//! TikTok's `message`, `request_id` and a content type are text from outside: they pass
//! through `secret::clean` before anyone sees them. The token endpoints (`token_api`),
//! the signed Open API calls (`open_api`), webhook deliveries and the etcd gateway all
//! send through here.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::Agent;
use ureq::tls::{RootCerts, TlsConfig};

use crate::error::{ApiError, Error};
use crate::secret::{Secret, clean, scrub};

/// The largest answer read from the token endpoints.
pub const MAX_BODY: u64 = 1024 * 1024;

/// The proxy ureq uses for a URL, as ureq itself picks it (`ALL_PROXY`, then
/// `HTTPS_PROXY`, then `HTTP_PROXY`, for every scheme; `NO_PROXY` as ureq matches it), so
/// `doctor` cannot disagree with the commands it diagnoses.
pub struct ProxyInUse {
    pub host: String,
    pub port: u16,
    /// `scheme://host:port`, with any user and password shown as `***`.
    pub shown: String,
}

pub fn proxy_for(url: &str) -> Option<ProxyInUse> {
    let proxy = ureq::Proxy::try_from_env()?;
    let uri: ureq::http::Uri = url.parse().ok()?;
    if proxy.is_no_proxy(&uri) {
        return None;
    }
    let scheme = proxy.uri().scheme_str().unwrap_or("http");
    let userinfo = if proxy.username().is_some() { "***@" } else { "" };
    let host = proxy.host().to_string();
    let shown = clean(&format!("{scheme}://{userinfo}{host}:{}", proxy.port()));
    Some(ProxyInUse { host, port: proxy.port(), shown })
}

/// The agent every command uses.
pub fn agent() -> Result<Agent, Error> {
    agent_within(Duration::from_secs(30), true)
}

/// The same agent with another limit for a whole request (a webhook delivery's 3 s), and
/// without the environment's proxy when `via_proxy` is false (the sandbox's deliveries,
/// which go to this machine only).
pub fn agent_within(limit: Duration, via_proxy: bool) -> Result<Agent, Error> {
    // A proxy's password is a secret like any other: scrubbed from everything printed.
    if let Some(proxy) = ureq::Proxy::try_from_env() {
        for part in [proxy.username(), proxy.password()].into_iter().flatten() {
            Secret::new(part);
            if let Ok(decoded) = percent_encoding::percent_decode_str(part).decode_utf8() {
                Secret::new(decoded.into_owned());
            }
        }
    }
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
        .timeout_global(Some(limit))
        .proxy(if via_proxy { ureq::Proxy::try_from_env() } else { None })
        .user_agent(concat!("tiktok-shop-auth/", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(config.new_agent())
}

/// One HTTP answer, read whole (bounded) whatever its status.
pub struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
    /// Every response header (values cleaned), for `api --include`, `Retry-After` and the rest.
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// The server's `Date` header as a Unix time, for clock-skew hints.
    pub fn date(&self) -> Option<i64> {
        self.header("date").and_then(crate::expiry::parse_http_date)
    }
}

/// One request of any method, its answer read whole up to `limit` bytes (0: the status
/// and headers only, the body left unread). Errors name
/// `endpoint` (never `url`, which may carry the secret) and are scrubbed.
pub fn send(
    agent: &Agent,
    method: &str,
    url: &str,
    endpoint: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    limit: u64,
) -> Result<Answer, Error> {
    send_keeping(agent, method, url, endpoint, headers, body, limit, None)
}

/// Told the body the moment it is complete (the token endpoints keep it then).
pub type Whole<'a> = &'a dyn Fn(&[u8]);

/// `send`, handing the body to `whole` as soon as it is all there (its length reached, or
/// without a length, a whole JSON value), before the connection is returned.
#[allow(clippy::too_many_arguments)]
pub fn send_keeping(
    agent: &Agent,
    method: &str,
    url: &str,
    endpoint: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    limit: u64,
    whole: Option<Whole>,
) -> Result<Answer, Error> {
    let started = std::time::Instant::now();
    let result = exchange(agent, method, url, endpoint, headers, body, limit, whole);
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        let outcome = match &result {
            Ok(answer) => {
                let id = serde_json::from_slice::<Value>(&answer.body)
                    .ok()
                    .and_then(|v| v["request_id"].as_str().map(clean))
                    .map(|id| format!(", request_id {id}"))
                    .unwrap_or_default();
                format!("HTTP {}{id}", answer.status)
            }
            Err(e) => format!("failed: {e}"),
        };
        trace(method, url, &outcome, started.elapsed());
    }
    result
}

/// `-v`: requests are traced on stderr (see `trace`).
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_verbose() {
    VERBOSE.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// The query keys whose values are secrets or grants: never shown in a trace.
const SECRET_KEYS: [&str; 8] =
    ["app_secret", "sign", "access_token", "auth_code", "code", "refresh_token", "password", "token"];

/// One line on stderr for one request, safe to paste: the method, the URL with every
/// secret masked (by key, and every secret the process knows by value), what came back
/// and how long it took.
pub fn trace(method: &str, url: &str, outcome: &str, took: Duration) {
    let shown = match url.split_once('?') {
        Some((base, query)) => {
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((k, _)) if SECRET_KEYS.contains(&k.to_ascii_lowercase().as_str()) => format!("{k}=***"),
                    _ => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", pairs.join("&"))
        }
        None => url.to_string(),
    };
    // A password in the address (`https://user:password@host/`) is masked too.
    let shown = match shown.split_once("://") {
        Some((scheme, rest)) => match rest.split(['/', '?']).next().unwrap_or_default().rsplit_once('@') {
            Some((user, _)) => {
                let name = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{name}:***@{}", &rest[user.len() + 1..])
            }
            None => shown,
        },
        None => shown,
    };
    noteln!("tiktok-shop-auth: {method} {} -> {outcome} in {} ms", clean(&shown), took.as_millis());
}

#[allow(clippy::too_many_arguments)]
fn exchange(
    agent: &Agent,
    method: &str,
    url: &str,
    endpoint: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    limit: u64,
    whole: Option<Whole>,
) -> Result<Answer, Error> {
    let failed = |e: ureq::Error| Error::Network(scrub(&format!("request to {endpoint} failed: {}", describe(&e))));
    macro_rules! with_headers {
        ($builder:expr) => {{
            let mut builder = $builder;
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            builder
        }};
    }
    let result = match (method, body) {
        ("GET", None) => with_headers!(agent.get(url)).call(),
        ("DELETE", None) => with_headers!(agent.delete(url)).call(),
        ("GET", Some(b)) => with_headers!(agent.get(url)).force_send_body().send(b),
        ("DELETE", Some(b)) => with_headers!(agent.delete(url)).force_send_body().send(b),
        ("POST", b) => with_headers!(agent.post(url)).send(b.unwrap_or_default()),
        ("PUT", b) => with_headers!(agent.put(url)).send(b.unwrap_or_default()),
        ("PATCH", b) => with_headers!(agent.patch(url)).send(b.unwrap_or_default()),
        (other, _) => {
            return Err(Error::Usage(format!("HTTP method `{other}` is not one of GET, POST, PUT, DELETE, PATCH")));
        }
    };
    let mut response = result.map_err(failed)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), clean(&String::from_utf8_lossy(v.as_bytes()))))
        .collect();
    if limit == 0 {
        // Only the status and headers were wanted (doctor's reachability check).
        return Ok(Answer { status, body: Vec::new(), headers });
    }
    let length = response.headers().get("content-length").and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    let body = read_body(response.body_mut().with_config().limit(limit).reader(), length, whole).map_err(|e| {
        Error::Network(scrub(&format!("reading the answer of {endpoint} (HTTP {status}) failed: {}", describe(&e))))
    })?;
    Ok(Answer { status, body, headers })
}

/// Reads a body to its end; `whole` is told as soon as it is complete (see `send_keeping`).
/// Once it was, a failure to read the (empty) rest is the connection's, not the answer's.
fn read_body(
    mut reader: impl std::io::Read,
    length: Option<u64>,
    whole: Option<Whole>,
) -> Result<Vec<u8>, ureq::Error> {
    let mut body = Vec::new();
    let mut chunk = [0u8; 8192];
    let mut told = false;
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) if told => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ureq::Error::from(e)),
        };
        body.extend_from_slice(&chunk[..n]);
        if let (Some(whole), false) = (whole, told) {
            let complete = match length {
                Some(length) => body.len() as u64 >= length,
                None => body.trim_ascii_end().ends_with(b"}") && serde_json::from_slice::<Value>(&body).is_ok(),
            };
            if complete {
                whole(&body);
                told = true;
            }
        }
    }
    Ok(body)
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
pub fn check_envelope(what: &str, answer: &Answer, endpoint: &str) -> Result<Value, Error> {
    let describe_body = || {
        let kind =
            if answer.content_type().is_empty() { "no content type".to_string() } else { clean(answer.content_type()) };
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
        Err(e) if answer.status != 200 || !answer.content_type().contains("json") && !e.is_eof() => {
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
            endpoint: what.to_string(),
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

pub fn request_id(value: &Value) -> String {
    clean(value.get("request_id").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("none"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, content_type: &str, body: &str) -> Answer {
        Answer { status, body: body.as_bytes().to_vec(), headers: vec![("content-type".into(), content_type.into())] }
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
