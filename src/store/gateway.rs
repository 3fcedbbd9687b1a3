//! etcd v3's JSON gateway (`/v3/...`, etcd 3.4 and later), as the store needs it, through
//! the tool's HTTP client: no gRPC, no async runtime, no new crate.
//!
//! The wire's traps are handled here and nowhere else: keys and values are standard base64;
//! every int64 comes back as a JSON string (lease ids exceed 2^53, so never a float); zero
//! values are left out of answers (read "missing" as 0, false, empty); the gateway silently
//! ignores a field it does not know, so every request's exact JSON is built by one function
//! each, pinned by a unit test.
//!
//! Members are tried in turn, starting with the one that answered last. What an error means
//! for a write is decided here too (`Failure`): a request that never reached a member
//! (connection refused, no route, DNS) may go to the next one; one that reached it and got
//! no clear answer (a timeout, a reset, an empty reply, HTTP 5xx) may have applied, and the
//! caller must read back and decide (`Failure::Unknown`), never just send it again; a 4xx
//! applied nothing. Reads go to the next member on any failure.
//!
//! With a user, each member's token from `auth/authenticate` is sent as the raw
//! `Authorization` header; an `invalid auth token` (a restarted member, an idle 300 s) gets
//! one new authentication. The password is a `Secret`: never in a message.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::error::Error;
use crate::secret::{Secret, clean, scrub};

/// The largest gateway answer read (a listing of a few thousand sellers' keys fits).
const MAX_ANSWER: u64 = 8 * 1024 * 1024;

/// What a request to the cluster came to, when it did not come to an answer.
#[derive(Debug)]
pub enum Failure {
    /// A member answered with an error: nothing was applied.
    Refused { status: u16, message: String },
    /// A write may or may not have applied: read back and decide.
    Unknown(String),
    /// No member could be reached: nothing was sent anywhere.
    Unreachable(String),
}

impl Failure {
    /// As an error of the tool, naming `what` was being done.
    pub fn into_error(self, what: &str) -> Error {
        match self {
            // Authenticated, but the user's roles do not cover these keys.
            Failure::Refused { status, message } if message.contains("permission denied") => Error::Usage(format!(
                "etcd refused {what}: {message} (HTTP {status}; the user TIKTOK_SHOP_ETCD_USER names is known, but \
                 no role of theirs grants read and write on these keys: `etcdctl role grant-permission` with \
                 --prefix)"
            )),
            Failure::Refused { status, message }
                if status == 401 || status == 403 || message.contains("authentication failed") =>
            {
                Error::Usage(format!(
                    "etcd refused {what}: {message} (HTTP {status}; check TIKTOK_SHOP_ETCD_USER and the password)"
                ))
            }
            Failure::Refused { status, message } => {
                Error::Network(format!("etcd refused {what}: {message} (HTTP {status})"))
            }
            Failure::Unknown(why) => Error::Network(format!("etcd gave no clear answer to {what}: {why}")),
            Failure::Unreachable(why) => Error::Network(format!("no etcd member answered {what}: {why}")),
        }
    }
}

/// Read or write: what a failure after the request went out means.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Read,
    Write,
}

/// One etcd cluster, as reached through its members' gateways.
pub struct Gateway {
    /// `http://host:port` or `https://host:port`, in the order given.
    members: Vec<String>,
    agent: ureq::Agent,
    user: Option<(String, Secret)>,
    /// Each member's auth token, once authenticated.
    tokens: Mutex<Vec<Option<Secret>>>,
    /// The member to try first: the last that answered.
    preferred: AtomicUsize,
}

impl Gateway {
    pub fn new(members: Vec<String>, agent: ureq::Agent, user: Option<(String, Secret)>) -> Gateway {
        let tokens = Mutex::new(vec![None; members.len()]);
        Gateway { members, agent, user, tokens, preferred: AtomicUsize::new(0) }
    }

    /// One call: `path` under `/v3/`, with `body`, tried on each member in turn as `kind`
    /// allows. The answer's JSON.
    pub fn call(&self, path: &str, body: &Value, kind: Kind) -> Result<Value, Failure> {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut reasons = Vec::new();
        for step in 0..self.members.len() {
            let member = (start + step) % self.members.len();
            match self.call_member(member, path, body) {
                Ok(value) => {
                    self.preferred.store(member, Ordering::Relaxed);
                    return Ok(value);
                }
                Err(Attempt::NotSent(why)) => reasons.push(format!("{}: {why}", self.members[member])),
                // Busy, no leader, a leader change: another member may do better, and for a
                // write it is the caller's to read back first.
                Err(Attempt::Unclear(why)) if kind == Kind::Read => {
                    reasons.push(format!("{}: {why}", self.members[member]))
                }
                Err(Attempt::Unclear(why)) => {
                    self.preferred.store((member + 1) % self.members.len(), Ordering::Relaxed);
                    return Err(Failure::Unknown(format!("{}: {why}", self.members[member])));
                }
                Err(Attempt::Refused { status, message }) => return Err(Failure::Refused { status, message }),
            }
        }
        Err(Failure::Unreachable(reasons.join("; ")))
    }

    fn call_member(&self, member: usize, path: &str, body: &Value) -> Result<Value, Attempt> {
        let mut reauthenticated = false;
        loop {
            let token = self.token(member)?;
            match self.post(member, path, body, token.as_ref()) {
                Err(Attempt::Refused { status: 401, message })
                    if self.user.is_some() && !reauthenticated && message.contains("invalid auth token") =>
                {
                    // Simple tokens expire when idle, and a restarted member forgets them.
                    if let Ok(mut tokens) = self.tokens.lock() {
                        tokens[member] = None;
                    }
                    reauthenticated = true;
                }
                other => return other,
            }
        }
    }

    /// The member's auth token, authenticating first when there is a user and none yet.
    fn token(&self, member: usize) -> Result<Option<Secret>, Attempt> {
        let Some((name, password)) = &self.user else { return Ok(None) };
        if let Some(token) = self.tokens.lock().ok().and_then(|t| t[member].clone()) {
            return Ok(Some(token));
        }
        let answer = self.post(member, "auth/authenticate", &authenticate_request(name, password), None)?;
        let token = answer["token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(Secret::new)
            .ok_or_else(|| Attempt::Refused { status: 401, message: "authentication gave no token".into() })?;
        if let Ok(mut tokens) = self.tokens.lock() {
            tokens[member] = Some(token.clone());
        }
        Ok(Some(token))
    }

    fn post(&self, member: usize, path: &str, body: &Value, token: Option<&Secret>) -> Result<Value, Attempt> {
        let started = std::time::Instant::now();
        let result = self.post_once(member, path, body, token);
        if crate::http::verbose() {
            let url = format!("{}/v3/{path}", self.members[member]);
            let outcome = match &result {
                Ok(_) => "answered".to_string(),
                Err(Attempt::NotSent(why)) => format!("not sent: {why}"),
                Err(Attempt::Unclear(why)) => format!("no clear answer: {why}"),
                Err(Attempt::Refused { status, message }) => format!("HTTP {status}: {message}"),
            };
            crate::http::trace("POST", &url, &outcome, started.elapsed());
        }
        result
    }

    fn post_once(&self, member: usize, path: &str, body: &Value, token: Option<&Secret>) -> Result<Value, Attempt> {
        let url = format!("{}/v3/{path}", self.members[member]);
        let mut request = self.agent.post(&url).header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", token.expose());
        }
        let mut response = request.send(body.to_string().as_bytes()).map_err(|e| match &e {
            ureq::Error::HostNotFound
            | ureq::Error::ConnectionFailed
            | ureq::Error::Timeout(ureq::Timeout::Connect) => Attempt::NotSent(scrub(&e.to_string())),
            ureq::Error::Io(io) if matches!(io.kind(), std::io::ErrorKind::ConnectionRefused) => {
                Attempt::NotSent(scrub(&e.to_string()))
            }
            _ => Attempt::Unclear(scrub(&e.to_string())),
        })?;
        let status = response.status().as_u16();
        let bytes = response.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| {
            Attempt::Unclear(format!("reading the answer (HTTP {status}) failed: {}", scrub(&e.to_string())))
        })?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(Attempt::Unclear(format!("an empty reply (HTTP {status})")));
        }
        let value: Value = serde_json::from_slice(&bytes).map_err(|_| {
            let text = clean(&String::from_utf8_lossy(&bytes[..bytes.len().min(200)]));
            match status {
                404 => Attempt::Refused {
                    status,
                    message: format!("no JSON gateway at {url} ({text}): is this an etcd 3.4 or later client port?"),
                },
                _ => Attempt::Unclear(format!("HTTP {status} with something that is not JSON ({text})")),
            }
        })?;
        match status {
            200 => Ok(value),
            // 408: the server gave up on the request, which may have applied.
            408 | 500..=599 => Err(Attempt::Unclear(format!("HTTP {status}: {}", error_message(&value)))),
            _ => Err(Attempt::Refused { status, message: error_message(&value) }),
        }
    }

    /// `GET /version` of one member: the server's version.
    pub fn version(&self, member: usize) -> Result<String, String> {
        let url = format!("{}/version", self.members[member]);
        let started = std::time::Instant::now();
        let result = (|| {
            let mut response = self.agent.get(&url).call().map_err(|e| scrub(&e.to_string()))?;
            let bytes =
                response.body_mut().with_config().limit(MAX_ANSWER).read_to_vec().map_err(|e| scrub(&e.to_string()))?;
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
            Ok(clean(value["etcdserver"].as_str().unwrap_or("unknown")))
        })();
        if crate::http::verbose() {
            let outcome = match &result {
                Ok(version) => format!("etcd {version}"),
                Err(why) => format!("failed: {why}"),
            };
            crate::http::trace("GET", &url, &outcome, started.elapsed());
        }
        result
    }

    /// `maintenance/status` of one member (its database size, leader, version).
    pub fn member_status(&self, member: usize) -> Result<Value, Failure> {
        self.call_member(member, "maintenance/status", &json!({})).map_err(|a| match a {
            Attempt::NotSent(why) => Failure::Unreachable(why),
            Attempt::Unclear(why) => Failure::Unknown(why),
            Attempt::Refused { status, message } => Failure::Refused { status, message },
        })
    }

    pub fn member_count(&self) -> usize {
        self.members.len()
    }

    pub fn member(&self, i: usize) -> &str {
        &self.members[i]
    }
}

/// One member's try.
enum Attempt {
    /// The request never reached the member.
    NotSent(String),
    /// It reached it; the answer was no clear yes or no.
    Unclear(String),
    Refused {
        status: u16,
        message: String,
    },
}

/// The gateway's error body: `{"error", "message", "code"}` (grpc-gateway), any of them.
fn error_message(value: &Value) -> String {
    let text = value["message"].as_str().or(value["error"].as_str()).unwrap_or("no message");
    clean(&without_base64(text))
}

/// `text` with every long run of base64 (24 characters or more) cut out: a gateway that
/// echoes the request in its error would otherwise show the values sent, tokens included,
/// in the encoding no scrub of known secrets recognises.
fn without_base64(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    for c in text.chars().chain(std::iter::once(' ')) {
        if is_b64(c) {
            run.push(c);
            continue;
        }
        if run.len() >= 24 {
            out.push_str("[base64]");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

/// Standard base64 with padding, as the gateway wants keys and values.
pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// A base64 field of an answer; missing is empty.
pub fn unb64(value: &Value) -> Vec<u8> {
    value.as_str().and_then(|s| STANDARD.decode(s).ok()).unwrap_or_default()
}

/// An int64 field of an answer: a string, a number, or missing (0).
/// A uint64 field (a member or leader id): `0` when missing.
pub fn uint(value: &Value) -> u64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

pub fn int(value: &Value) -> i64 {
    match value {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The end of a prefix scan: the prefix with its last byte plus one.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// A key-value as an answer has it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kv {
    pub key: String,
    pub value: Vec<u8>,
    pub create_revision: i64,
    pub mod_revision: i64,
}

impl Kv {
    pub fn from_json(v: &Value) -> Kv {
        Kv {
            key: String::from_utf8_lossy(&unb64(&v["key"])).into_owned(),
            value: unb64(&v["value"]),
            create_revision: int(&v["create_revision"]),
            mod_revision: int(&v["mod_revision"]),
        }
    }

    /// The key-values of a range answer (none when `kvs` is left out).
    pub fn all(range: &Value) -> Vec<Kv> {
        range["kvs"].as_array().map(|a| a.iter().map(Kv::from_json).collect()).unwrap_or_default()
    }
}

/// `kv/range` for one key, or with `prefix` every key under it.
pub fn range_request(key: &str, prefix: bool, keys_only: bool) -> Value {
    let mut request = json!({ "key": b64(key.as_bytes()) });
    if prefix {
        request["range_end"] = b64(&prefix_end(key.as_bytes())).into();
    }
    if keys_only {
        request["keys_only"] = true.into();
    }
    request
}

/// A compare of a txn: what of `key` is checked against what.
#[derive(Clone, Debug)]
pub enum Compare {
    /// The key's create revision (0: the key is absent).
    Created(String, i64),
    /// The key's last modification's revision (0: absent).
    Modified(String, i64),
}

impl Compare {
    pub fn to_json(&self) -> Value {
        match self {
            Compare::Created(key, revision) => json!({
                "key": b64(key.as_bytes()), "target": "CREATE", "result": "EQUAL", "create_revision": revision.to_string()
            }),
            Compare::Modified(key, revision) => json!({
                "key": b64(key.as_bytes()), "target": "MOD", "result": "EQUAL", "mod_revision": revision.to_string()
            }),
        }
    }
}

/// An operation of a txn.
#[derive(Clone, Debug)]
pub enum Op {
    Put {
        key: String,
        value: Vec<u8>,
        lease: i64,
    },
    Delete(String),
    Get(String),
    /// Every key under a prefix.
    GetPrefix(String),
}

impl Op {
    pub fn put(key: &str, value: &[u8]) -> Op {
        Op::Put { key: key.into(), value: value.to_vec(), lease: 0 }
    }

    pub fn to_json(&self) -> Value {
        match self {
            Op::Put { key, value, lease } => {
                let mut put = json!({ "key": b64(key.as_bytes()), "value": b64(value) });
                if *lease != 0 {
                    put["lease"] = lease.to_string().into();
                }
                json!({ "request_put": put })
            }
            Op::Delete(key) => json!({ "request_delete_range": { "key": b64(key.as_bytes()) } }),
            Op::Get(key) => json!({ "request_range": range_request(key, false, false) }),
            Op::GetPrefix(key) => json!({ "request_range": range_request(key, true, false) }),
        }
    }
}

/// `kv/txn`: if every compare holds, `success`, else `failure`.
pub fn txn_request(compare: &[Compare], success: &[Op], failure: &[Op]) -> Value {
    json!({
        "compare": compare.iter().map(Compare::to_json).collect::<Vec<_>>(),
        "success": success.iter().map(Op::to_json).collect::<Vec<_>>(),
        "failure": failure.iter().map(Op::to_json).collect::<Vec<_>>(),
    })
}

/// A txn's answer: whether the compares held, the revision it ran at, and its range
/// answers in order (one per `Get`/`GetPrefix` of the branch that ran).
pub struct TxnAnswer {
    pub succeeded: bool,
    pub revision: i64,
    pub ranges: Vec<Vec<Kv>>,
}

impl TxnAnswer {
    pub fn from_json(v: &Value) -> TxnAnswer {
        let ranges = v["responses"]
            .as_array()
            .map(|r| {
                r.iter().filter(|r| r.get("response_range").is_some()).map(|r| Kv::all(&r["response_range"])).collect()
            })
            .unwrap_or_default();
        TxnAnswer {
            succeeded: v["succeeded"].as_bool().unwrap_or(false),
            revision: int(&v["header"]["revision"]),
            ranges,
        }
    }
}

pub fn lease_grant_request(ttl: i64) -> Value {
    json!({ "TTL": ttl.to_string() })
}

pub fn lease_request(id: i64) -> Value {
    json!({ "ID": id.to_string() })
}

pub fn authenticate_request(name: &str, password: &Secret) -> Value {
    json!({ "name": name, "password": password.expose() })
}

impl Gateway {
    /// A txn; its answer.
    pub fn txn(&self, compare: &[Compare], success: &[Op], failure: &[Op], kind: Kind) -> Result<TxnAnswer, Failure> {
        self.call("kv/txn", &txn_request(compare, success, failure), kind).map(|v| TxnAnswer::from_json(&v))
    }

    /// A linearizable read of several ranges at one revision (a txn with no compares).
    pub fn read(&self, ops: &[Op]) -> Result<TxnAnswer, Failure> {
        self.txn(&[], ops, &[], Kind::Read)
    }

    /// A member-local read of `key` (`serializable`: no round of the cluster, maybe stale):
    /// a hint, never a decision.
    pub fn peek(&self, key: &str) -> Result<Option<Kv>, Failure> {
        let mut request = range_request(key, false, false);
        request["serializable"] = true.into();
        let answer = self.call("kv/range", &request, Kind::Read)?;
        Ok(Kv::all(&answer).into_iter().next())
    }

    /// The keys under `prefix`.
    pub fn keys(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let answer = self.call("kv/range", &range_request(prefix, true, true), Kind::Read)?;
        Ok(Kv::all(&answer).into_iter().map(|kv| kv.key).collect())
    }

    /// A new lease of `ttl` seconds; its id. (A grant whose answer was lost leaves a lease
    /// nobody keeps alive: it ends by itself.)
    pub fn grant(&self, ttl: i64) -> Result<i64, Failure> {
        let answer = self.call("lease/grant", &lease_grant_request(ttl), Kind::Read)?;
        match int(&answer["ID"]) {
            0 => Err(Failure::Unknown("the lease grant gave no id".into())),
            id => Ok(id),
        }
    }

    /// One keep-alive of a lease: its time left, `None` when it is gone.
    pub fn keep_alive(&self, id: i64) -> Result<Option<i64>, Failure> {
        let answer = self.call("lease/keepalive", &lease_request(id), Kind::Read)?;
        Ok(Some(int(&answer["result"]["TTL"])).filter(|ttl| *ttl > 0))
    }

    /// Ends a lease (and so the keys on it). Best effort: a lease left ends by itself.
    pub fn revoke(&self, id: i64) {
        let _ = self.call("lease/revoke", &lease_request(id), Kind::Read);
    }
}

/// The agent for a cluster: bounded (a dead member must not hold a run up), no proxy (the
/// cluster is the operator's own network), TLS roots and a client certificate when given.
pub fn agent(tls: Option<&TlsFiles>) -> Result<ureq::Agent, Error> {
    use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig};
    let mut config = TlsConfig::builder();
    if let Some(tls) = tls {
        if let Some(ca) = &tls.ca {
            let pem = std::fs::read(ca).map_err(|e| Error::file("read TIKTOK_SHOP_ETCD_CA", ca, e))?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                return Err(Error::Usage(format!("TIKTOK_SHOP_ETCD_CA `{}` holds no PEM certificate", ca.display())));
            }
            config = config.root_certs(RootCerts::Specific(std::sync::Arc::new(certs)));
        }
        if let Some((cert, key)) = &tls.client {
            let read = |p: &std::path::Path, var: &str| {
                std::fs::read(p).map_err(|e| Error::Usage(format!("cannot read {var} `{}`: {e}", p.display())))
            };
            let chain: Vec<_> = ureq::tls::parse_pem(&read(cert, "TIKTOK_SHOP_ETCD_CERT")?)
                .filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            let key = ureq::tls::PrivateKey::from_pem(&read(key, "TIKTOK_SHOP_ETCD_KEY")?)
                .map_err(|e| Error::Usage(format!("TIKTOK_SHOP_ETCD_KEY: {e}")))?;
            config = config.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
    }
    Ok(ureq::Agent::config_builder()
        .tls_config(config.build())
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(1)))
        .timeout_global(Some(Duration::from_secs(3)))
        .proxy(None)
        .user_agent(concat!("tiktok-shop-auth/", env!("CARGO_PKG_VERSION")))
        .build()
        .new_agent())
}

/// The files TLS to a cluster uses: trusted roots, and a client certificate and key.
pub struct TlsFiles {
    pub ca: Option<std::path::PathBuf>,
    pub client: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each request's exact JSON: the gateway ignores a misspelt field without a word.
    #[test]
    fn every_request_shape_is_the_gateways() {
        assert_eq!(range_request("t/a", false, false), json!({"key": "dC9h"}));
        assert_eq!(
            range_request("t/", true, true),
            json!({"key": "dC8=", "range_end": "dDA=", "keys_only": true}),
            "a prefix scan ends at the prefix with its last byte plus one"
        );
        let txn = txn_request(
            &[Compare::Created("t/.a.lock".into(), 7), Compare::Modified("t/.a.tmp".into(), 0)],
            &[
                Op::Put { key: "t/a".into(), value: b"{}".to_vec(), lease: 2324035759524599305 },
                Op::Delete("t/.a.tmp".into()),
            ],
            &[Op::Get("t/a".into()), Op::GetPrefix("t/.a.recovered-".into())],
        );
        assert_eq!(
            txn,
            json!({
                "compare": [
                    {"key": "dC8uYS5sb2Nr", "target": "CREATE", "result": "EQUAL", "create_revision": "7"},
                    {"key": "dC8uYS50bXA=", "target": "MOD", "result": "EQUAL", "mod_revision": "0"}
                ],
                "success": [
                    {"request_put": {"key": "dC9h", "value": "e30=", "lease": "2324035759524599305"}},
                    {"request_delete_range": {"key": "dC8uYS50bXA="}}
                ],
                "failure": [
                    {"request_range": {"key": "dC9h"}},
                    {"request_range": {"key": "dC8uYS5yZWNvdmVyZWQt", "range_end": "dC8uYS5yZWNvdmVyZWQu"}}
                ]
            })
        );
        // A put with no lease has no `lease` field (0 would attach it to none anyway).
        assert_eq!(Op::put("k", b"v").to_json(), json!({"request_put": {"key": "aw==", "value": "dg=="}}));
        assert_eq!(lease_grant_request(10), json!({"TTL": "10"}));
        assert_eq!(lease_request(2324035759524599305), json!({"ID": "2324035759524599305"}));
        let password = Secret::new("pw-never-shown-anywhere");
        assert_eq!(
            authenticate_request("tool", &password),
            json!({"name": "tool", "password": "pw-never-shown-anywhere"})
        );
    }

    /// Answers as the gateway sends them: int64s as strings, zero values left out.
    #[test]
    fn answers_are_read_with_their_omitted_zero_values() {
        let ok = json!({
            "header": {"cluster_id": "1", "member_id": "2", "revision": "41", "raft_term": "3"},
            "succeeded": true,
            "responses": [
                {"response_put": {"header": {"revision": "41"}}},
                {"response_range": {"header": {}, "kvs": [
                    {"key": "dC9h", "create_revision": "5", "mod_revision": "40", "version": "9", "value": "e30="}
                ], "count": "1"}},
                {"response_range": {"header": {}}}
            ]
        });
        let answer = TxnAnswer::from_json(&ok);
        assert!(answer.succeeded);
        assert_eq!(answer.revision, 41);
        assert_eq!(
            answer.ranges,
            vec![vec![Kv { key: "t/a".into(), value: b"{}".to_vec(), create_revision: 5, mod_revision: 40 }], vec![]]
        );
        // A failed txn leaves `succeeded` out.
        let failed = TxnAnswer::from_json(&json!({"header": {"revision": "41"}, "responses": []}));
        assert!(!failed.succeeded);
        // A lease id above 2^53 survives (as a float it would not).
        assert_eq!(int(&json!("2324035759524599305")), 2324035759524599305);
        assert_eq!(int(&Value::Null), 0);
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(
            error_message(&json!({"error": "etcdserver: requested lease not found", "code": 5})),
            "etcdserver: requested lease not found"
        );
        // A member id is a uint64: above i64's range it is still one, not 0 ("no leader").
        assert_eq!(uint(&json!("16568560761195807870")), 16568560761195807870);
        // An error that echoes the request shows none of the values sent.
        let echoed = r#"bad txn: {"key":"dC9h","value":"ewogICJjb2RlIjogMCwKICAiZGF0YSI6IHsK"}"#;
        let message = error_message(&json!({ "message": echoed }));
        assert!(!message.contains("ewogICJjb2Rl") && message.contains("[base64]"), "{message}");
        assert!(message.contains("dC9h"), "short runs stay: {message}");
    }
}
