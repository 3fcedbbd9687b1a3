//! `doctor`: what is wrong, before a seller is sent anywhere.
//!
//! One line per check, ok / warn / fail and what to do: the configuration (and the
//! classic mix-ups: an app key given as the service id, or the reverse), the redirect URL
//! and its port on both loopback families, the token file and both expiries, DNS, TCP and
//! TLS to every host the tool talks to (through the configured proxy and roots, with the
//! time each took), this machine's clock against the `Date` of those answers, and a signed
//! shops call with the granted scopes. It never spends a code or a refresh token: no token
//! endpoint is called, the hosts are probed with a plain GET of a harmless path.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::cli::{Args, Files, TokenOptions};
use crate::config::{self, ENV_API_BASE, ENV_APP_KEY, ENV_AUTH_BASE, ENV_SERVICE_ID};
use crate::error::Error;
use crate::open_api::Client;
use crate::store::Home;
use crate::store::etcd::Level;
use crate::token_response::TokenResponse;
use crate::url::HttpUrl;
use crate::{expiry, http};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

impl Status {
    fn word(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

struct Check {
    name: String,
    status: Status,
    detail: String,
    millis: Option<u128>,
}

#[derive(Default)]
struct Report {
    checks: Vec<Check>,
    /// The `Date` of every answer, for the clock check.
    /// Per host: this machine's clock minus the host's `Date`, when its answer arrived.
    skews: Vec<(String, i64)>,
}

impl Report {
    fn add(&mut self, name: impl Into<String>, status: Status, detail: impl Into<String>) {
        self.checks.push(Check { name: name.into(), status, detail: detail.into(), millis: None });
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const US_AUTHORIZE_HOSTS: [&str; 2] = ["services.us.tiktokshop.com", "services.tiktokshops.us"];

/// `doctor` takes the configuration as given: a missing or bad value is a finding, not a
/// usage error.
pub struct Options {
    pub app_key: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub service_id: Option<String>,
    pub tokens: TokenOptions,
    pub authorize_url: Option<String>,
    pub auth_base: Option<String>,
    pub api_base: Option<String>,
    pub redirect: Option<String>,
    pub port: Option<u16>,
    pub json: bool,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let tokens = args.token_options(None, Files::One)?;
    Ok(Options {
        json: args.flag("--json"),
        port: args.port()?,
        app_key: tokens.app_key.clone(),
        secret_file: tokens.secret_file.clone(),
        tokens,
        service_id: args.string("--service-id")?,
        authorize_url: args.string("--authorize-url")?,
        auth_base: args.string("--auth-base")?,
        api_base: args.string("--api-base")?,
        redirect: args.string("--redirect-url")?,
    })
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth doctor: check configuration, clock, network and token, one line each

USAGE:
    tiktok-shop-auth doctor [OPTIONS] [--json]

Checks, each `ok`, `warn` or `fail` with what to do: the app key, secret and service id
(and an app key given as the service id, or the reverse); the redirect URL and its port on
both loopback families; the token file (mode 0600, a token response, both expiries, the
refresh token's end within {ending}); DNS, TCP and TLS to the authorize host (both US hosts
for US sellers), the auth host and the API host, through the configured proxy and
SSL_CERT_FILE, with the time each took; this machine's clock against the Date of those
answers; a signed shops call (36009033 explained as the app's IP allow list) and the
granted scopes. It never spends a code or a refresh token, and never refreshes.

{options_doctor}
EXIT STATUS:
    0 nothing failed (warnings allowed)   1 a check failed   2 usage error
",
        options_doctor = crate::flags::options("doctor"),
        ending = expiry::describe_span(expiry::REFRESH_ENDING_SOON as u64),
    )
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let mut report = Report::default();
    let app = configuration(opts, &mut report);
    redirect(opts, &mut report);
    for (what, level, seen) in opts.tokens.location.health() {
        let status = match level {
            Level::Ok => Status::Ok,
            Level::Warn => Status::Warn,
            Level::Fail => Status::Fail,
        };
        report.add(&what, status, seen);
    }
    let tokens = token_file(opts, &mut report);
    let region = tokens.as_ref().map(|t| t.region().unwrap_or("").to_string());
    match http::agent() {
        Err(e) => report.add("tls roots", Status::Fail, e.to_string()),
        Ok(agent) => {
            network(opts, &agent, region.as_deref(), &mut report);
            clock(&mut report);
            signed_call(opts, &agent, app.as_ref(), tokens.as_ref(), &mut report);
        }
    }
    print(opts.json, &report);
    let failed = report.checks.iter().filter(|c| c.status == Status::Fail).count();
    match failed {
        0 => Ok(()),
        n => Err(Error::Local(format!("{n} check{} failed", if n == 1 { "" } else { "s" }))),
    }
}

fn print(json: bool, report: &Report) {
    if json {
        let checks: Vec<Value> = report
            .checks
            .iter()
            .map(|c| json!({ "check": c.name, "status": c.status.word(), "detail": c.detail, "millis": c.millis }))
            .collect();
        outln!("{}", Value::Array(checks));
        return;
    }
    let width = report.checks.iter().map(|c| c.name.chars().count()).max().unwrap_or(0);
    for c in &report.checks {
        outln!("{:<4}  {:<width$}  {}", c.status.word(), c.name, c.detail);
    }
}

/// App key, secret, service id: present, well formed, and not mixed up.
fn configuration(opts: &Options, report: &mut Report) -> Option<config::App> {
    let key = config::setting(opts.app_key.clone(), ENV_APP_KEY);
    let service = config::setting(opts.service_id.clone(), ENV_SERVICE_ID);
    let looks_like_service_id = |v: &str| v.len() >= 15 && v.bytes().all(|b| b.is_ascii_digit());
    match &key {
        None => report.add("app key", Status::Fail, format!("missing: pass --app-key KEY or set {ENV_APP_KEY} (Partner Center, your app's page)")),
        Some(k) if looks_like_service_id(k) => report.add(
            "app key",
            Status::Warn,
            format!("`{k}` is all digits, like a service id: the app key is the short code beside the app secret in Partner Center"),
        ),
        Some(k) => report.add("app key", Status::Ok, format!("`{k}`")),
    }
    let app = match config::app(opts.app_key.clone(), opts.secret_file.clone()) {
        Ok(app) => {
            let from = match &opts.secret_file {
                Some(p) => format!("--app-secret-file `{}`", p.display()),
                None => config::ENV_APP_SECRET.to_string(),
            };
            if key.as_deref() == Some(app.secret.expose()) {
                report.add(
                    "app secret",
                    Status::Fail,
                    "is the same as the app key: copy the app secret from Partner Center",
                );
            } else {
                // Only the signed call below tells whether TikTok takes it.
                report.add(
                    "app secret",
                    Status::Ok,
                    format!(
                        "set, from {from} ({} characters); whether it is this app's is the signed call's to tell",
                        app.secret.expose().chars().count()
                    ),
                );
            }
            Some(app)
        }
        Err(_) if key.is_none() => {
            report.add("app secret", Status::Warn, "not checked: no app key");
            None
        }
        Err(e) => {
            report.add("app secret", Status::Fail, e.to_string());
            None
        }
    };
    let in_link = opts
        .authorize_url
        .as_deref()
        .and_then(|u| HttpUrl::parse(u).ok())
        .and_then(|u| crate::url::get(&u.query_pairs(), "service_id").map(str::to_string));
    match service.or(in_link) {
        None => report.add(
            "service id",
            Status::Warn,
            format!(
                "not set: only `login` needs it (--service-id or {ENV_SERVICE_ID}, Partner Center, your app's page)"
            ),
        ),
        Some(s) if Some(&s) == key.as_ref() => report.add(
            "service id",
            Status::Fail,
            "is the same value as the app key: the service id is the long number on the app's page in Partner Center",
        ),
        Some(s) if !s.bytes().all(|b| b.is_ascii_digit()) => report.add(
            "service id",
            Status::Warn,
            format!("`{s}` is not all digits: service ids are long numbers; is this the app key?"),
        ),
        Some(s) => report.add("service id", Status::Ok, format!("`{s}`")),
    }
    app
}

/// The redirect URL's form, and its port free on the loopback address(es) it names.
fn redirect(opts: &Options, report: &mut Report) {
    let url = match config::redirect_url(opts.redirect.clone(), opts.port) {
        Ok(url) => url,
        Err(e) => return report.add("redirect URL", Status::Fail, e.to_string()),
    };
    let port = url.port_or_default();
    let addrs = crate::listener::loopback_addresses(&url);
    let mut free = Vec::new();
    for addr in addrs {
        match TcpListener::bind(addr) {
            Ok(_) => free.push(addr.ip().to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                return report.add(
                    "redirect URL",
                    Status::Fail,
                    format!(
                        "{url}: port {port} is in use on {}: `login` would fail; stop the program on it, or register another redirect URL",
                        addr.ip()
                    ),
                );
            }
            Err(_) => {} // a host without that loopback family is fine
        }
    }
    report.add("redirect URL", Status::Ok, format!("{url} (port {port} free on {})", free.join(" and ")));
}

/// The token file: readable, private, a token response, and both expiries.
fn token_file(opts: &Options, report: &mut Report) -> Option<TokenResponse> {
    let home = match Home::open(&opts.tokens.location) {
        Ok(h) => h,
        Err(e) => {
            report.add("token file", Status::Fail, e.to_string());
            return None;
        }
    };
    let shown = home.shown();
    let saved = match home.read() {
        Ok(saved) => saved,
        Err(Error::NeedLogin(_)) => {
            report.add("token file", Status::Warn, format!("none at `{shown}` yet: run `tiktok-shop-auth login`"));
            return None;
        }
        Err(e) => {
            report.add("token file", Status::Fail, e.to_string());
            return None;
        }
    };
    match home.privacy() {
        Some((false, seen)) => report.add(
            "token file",
            Status::Warn,
            format!("`{shown}` has {seen}: other users can read the tokens; run `chmod 600 {shown}`"),
        ),
        Some((true, seen)) => report.add("token file", Status::Ok, format!("`{shown}`, {seen}, a token response")),
        None => report.add("token file", Status::Ok, format!("`{shown}`, a token response")),
    }
    let now = expiry::now();
    let tokens = &saved.tokens;
    if expiry::is_valid(tokens.access_expires_at, now) {
        report.add("access token", Status::Ok, format!("expires {}", expiry::describe(tokens.access_expires_at, now)));
    } else {
        report.add(
            "access token",
            Status::Warn,
            format!("expired {}: run `tiktok-shop-auth refresh`", expiry::describe(tokens.access_expires_at, now)),
        );
    }
    let ends = expiry::describe(tokens.refresh_expires_at, now);
    if !expiry::is_valid(tokens.refresh_expires_at, now) {
        report.add(
            "refresh token",
            Status::Fail,
            format!("expired {ends}: the seller must authorize again: `tiktok-shop-auth login`"),
        );
    } else if tokens.refresh_expires_at - now < expiry::REFRESH_ENDING_SOON {
        report.add(
            "refresh token",
            Status::Warn,
            format!("ends {ends}: after that only a new authorization helps; run `tiktok-shop-auth login` before then"),
        );
    } else {
        report.add("refresh token", Status::Ok, format!("ends {ends}"));
    }
    Some(saved)
}

/// DNS, TCP and TLS to the authorize host(s), the auth host and the API host.
fn network(opts: &Options, agent: &ureq::Agent, region: Option<&str>, report: &mut Report) {
    let authorize = config::setting(opts.authorize_url.clone(), config::ENV_AUTHORIZE_URL)
        .unwrap_or_else(|| config::DEFAULT_AUTHORIZE_URL.to_string());
    let mut targets = Vec::new();
    match HttpUrl::parse(&authorize) {
        Ok(url) => {
            let us = US_AUTHORIZE_HOSTS.contains(&url.host.as_str()) || region == Some("US");
            if us && (url.host.ends_with("tiktokshop.com") || url.host.ends_with("tiktokshops.us")) {
                // The guides disagree on the US host: try both, say which answers.
                for host in US_AUTHORIZE_HOSTS {
                    targets.push((format!("authorize host (US, {host})"), format!("https://{host}/open/authorize")));
                }
            } else {
                targets.push(("authorize host".to_string(), format!("{}{}", url.origin(), url.path)));
            }
        }
        Err(e) => report.add("authorize host", Status::Fail, format!("--authorize-url `{authorize}`: {e}")),
    }
    for (name, flag, var, given, default) in [
        ("auth host", "--auth-base", ENV_AUTH_BASE, &opts.auth_base, config::DEFAULT_AUTH_BASE),
        ("API host", "--api-base", ENV_API_BASE, &opts.api_base, config::DEFAULT_API_BASE),
    ] {
        match config::base_url(flag, var, given.clone(), default) {
            Ok(base) => targets.push((name.to_string(), format!("{base}/"))),
            Err(e) => report.add(name, Status::Fail, e.to_string()),
        }
    }
    for (name, url) in targets {
        probe(agent, &name, &url, report);
    }
}

/// One host: DNS and TCP to it, or, when ureq will use a proxy for it, to the proxy; then a
/// GET through the agent (TLS, proxy and roots as every command uses them). Any HTTP status
/// means the host answered: only the status and headers are read, never the page.
fn probe(agent: &ureq::Agent, name: &str, url: &str, report: &mut Report) {
    let Ok(parsed) = HttpUrl::parse(url) else {
        return report.add(name, Status::Fail, format!("`{url}` is not a usable URL"));
    };
    let started = Instant::now();
    let mut steps = Vec::new();
    let proxy = http::proxy_for(url);
    let (host, port, what) = match &proxy {
        Some(p) => {
            steps.push(format!("through the proxy {}", p.shown));
            (p.host.clone(), p.port, "the proxy")
        }
        None => (parsed.host.trim_matches(['[', ']']).to_string(), parsed.port_or_default(), "the host"),
    };
    let t = Instant::now();
    let addrs: Vec<SocketAddr> = match (host.as_str(), port).to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(e) => {
            return report.add(
                name,
                Status::Fail,
                format!("{}{host}: DNS lookup of {what} failed ({e}): check the network and DNS", via(&proxy)),
            );
        }
    };
    let Some(first) = addrs.first() else {
        return report.add(name, Status::Fail, format!("{}{host}: DNS gave no address", via(&proxy)));
    };
    steps.push(format!("DNS {} ms ({})", t.elapsed().as_millis(), first.ip()));
    let t = Instant::now();
    if let Err(e) = TcpStream::connect_timeout(first, CONNECT_TIMEOUT) {
        let hint = if proxy.is_some() { "is the proxy running?" } else { "a firewall, or HTTPS_PROXY needed?" };
        return report.add(
            name,
            Status::Fail,
            format!("{}{host}:{port}: TCP connection to {what} failed ({e}): {hint}", via(&proxy)),
        );
    }
    steps.push(format!("TCP {} ms", t.elapsed().as_millis()));
    let t = Instant::now();
    match http::send(agent, "GET", url, url, &[], None, 0) {
        Ok(answer) => {
            let arrived = expiry::now();
            let what = match (parsed.scheme == "https", proxy.is_some()) {
                (true, true) => "CONNECT, TLS and HTTP",
                (true, false) => "TLS and HTTP",
                (false, _) => "HTTP (no TLS)",
            };
            steps.push(format!("{what} {} ms (HTTP {})", t.elapsed().as_millis(), answer.status));
            if let Some(date) = answer.date() {
                report.skews.push((parsed.host.clone(), arrived - date));
            }
            report.checks.push(Check {
                name: name.to_string(),
                status: Status::Ok,
                detail: format!("{}: {}", parsed.host, steps.join(", ")),
                millis: Some(started.elapsed().as_millis()),
            });
        }
        Err(e) => {
            let hint = if parsed.scheme == "https" { "; a TLS-intercepting proxy needs SSL_CERT_FILE" } else { "" };
            report.add(name, Status::Fail, format!("{}{}: {}{hint}", via(&proxy), parsed.host, e));
        }
    }
}

fn via(proxy: &Option<http::ProxyInUse>) -> String {
    proxy.as_ref().map(|p| format!("through the proxy {}: ", p.shown)).unwrap_or_default()
}

/// This machine's clock against the `Date` of each answer, taken the moment that answer
/// arrived (a slow host must not look like a clock ahead): TikTok accepts a signed call's
/// timestamp from 5 minutes behind its clock to 30 seconds ahead. `Date` has whole
/// seconds, so one more second ahead is allowed.
fn clock(report: &mut Report) {
    let Some((host, skew)) = report.skews.iter().max_by_key(|(_, s)| s.abs()).cloned() else {
        return report.add("clock", Status::Warn, "not checked: no host answered with a Date");
    };
    if skew > expiry::CLOCK_AHEAD_MAX + 1 {
        report.add(
            "clock",
            Status::Fail,
            format!(
                "{skew} s ahead of {host}'s: signed calls will be refused (more than {} s); fix the system clock (NTP)",
                expiry::CLOCK_AHEAD_MAX
            ),
        );
    } else if skew < -expiry::CLOCK_BEHIND_MAX {
        report.add(
            "clock",
            Status::Fail,
            format!(
                "{} s behind {host}'s: signed calls will be refused (more than {}); fix the system clock (NTP)",
                -skew,
                expiry::describe_span(expiry::CLOCK_BEHIND_MAX as u64)
            ),
        );
    } else {
        report.add("clock", Status::Ok, format!("within {} s of {host}'s", skew.abs()));
    }
}

/// A signed "authorized shops" call with the saved token, and the granted scopes.
fn signed_call(
    opts: &Options,
    agent: &ureq::Agent,
    app: Option<&config::App>,
    saved: Option<&TokenResponse>,
    report: &mut Report,
) {
    let (Some(app), Some(saved)) = (app, saved) else {
        return report.add(
            "signed call",
            Status::Warn,
            "not tried: it needs the app key, the app secret and a token file",
        );
    };
    let tokens = &saved.tokens;
    if !expiry::is_valid(tokens.access_expires_at, expiry::now()) {
        return report.add(
            "signed call",
            Status::Warn,
            "not tried: the access token has expired (doctor never refreshes): run `tiktok-shop-auth refresh`",
        );
    }
    let Ok(base) = config::base_url("--api-base", ENV_API_BASE, opts.api_base.clone(), config::DEFAULT_API_BASE) else {
        return;
    };
    let client = Client::new(agent, &base, app);
    match client.authorized_shops(&tokens.access_token) {
        Ok(shops) => {
            let names: Vec<String> = shops
                .iter()
                .map(|s| {
                    format!(
                        "{} ({})",
                        crate::secret::clean(s["name"].as_str().unwrap_or("?")),
                        s["region"].as_str().unwrap_or("?")
                    )
                })
                .collect();
            report.add(
                "signed call",
                Status::Ok,
                format!("GET /authorization/202309/shops: {} shop(s): {}", shops.len(), names.join(", ")),
            );
        }
        Err(Error::TikTok(api)) if api.code == 36009033 => {
            let address = outgoing_address(&api.message)
                .map(|ip| format!(" TikTok saw this machine as {ip}: add it to the list."))
                .unwrap_or_default();
            report.add(
                "signed call",
                Status::Fail,
                format!(
                    "{api}: this machine's address is not in the app's IP allow list (Partner Center, your app, IP allow list).{address}"
                ),
            );
        }
        Err(e) => report.add("signed call", Status::Fail, e.to_string()),
    }
    let scopes = saved.scopes();
    if scopes.is_empty() {
        report.add("scopes", Status::Warn, "the token file lists no granted scopes: API calls may answer 105005");
    } else {
        report.add("scopes", Status::Ok, crate::secret::clean(&scopes.join(", ")));
    }
}

/// An IP address in TikTok's message, if it names one.
fn outgoing_address(message: &str) -> Option<IpAddr> {
    message
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '.' || c == ':'))
        .filter(|w| w.contains('.') || w.matches(':').count() >= 2)
        .find_map(|w| w.trim_matches(['.', ':']).parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_address_an_answer_reveals() {
        assert_eq!(
            outgoing_address("not in the allow list (request from 203.0.113.7)."),
            Some("203.0.113.7".parse().unwrap())
        );
        assert_eq!(outgoing_address("denied for 2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(outgoing_address("Access denied. Your IP address is not in the IP allow list."), None);
    }
}
