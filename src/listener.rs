//! The loopback listener that receives TikTok's redirect.
//!
//! It binds before the browser opens (so a taken port is an error, not a lost redirect),
//! only on loopback (127.0.0.1 and ::1 for `localhost`, never all interfaces), and is
//! polled by the one thread of control every 100 ms until the redirect or the deadline.
//! Anything that is not the redirect is answered and changes nothing: other paths get 404,
//! a `state` that does not match gets 400 (a stale tab from an earlier attempt, or a forged
//! request). The matching request is held, unanswered, until `login` knows the real
//! outcome, and is then answered with a page saying it.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

use tiny_http::{Header, Request, Response, Server};

use crate::error::Error;
use crate::html;
use crate::secret::{Secret, clean};
use crate::url::{self, HttpUrl};

pub const POLL: Duration = Duration::from_millis(100);

pub struct Listener {
    servers: Vec<(SocketAddr, Server)>,
    path: String,
    /// The redirect URL as it must be registered, for messages.
    redirect: String,
}

/// What the redirect said, with the browser's request held open for the answer.
pub enum Redirect {
    Granted { code: Secret, request: Request },
    Denied { reason: String, request: Request },
}

/// The loopback address(es) a redirect URL's host names, on its port: `localhost` is both
/// families, since a browser may try either.
pub fn loopback_addresses(redirect: &HttpUrl) -> Vec<SocketAddr> {
    let port = redirect.port_or_default();
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    match redirect.host.as_str() {
        "127.0.0.1" => vec![v4],
        "[::1]" => vec![v6],
        _ => vec![v4, v6],
    }
}

/// Binds the redirect URL's port on the loopback address(es) its host names.
pub fn bind(redirect: &HttpUrl) -> Result<Listener, Error> {
    let port = redirect.port_or_default();
    let wanted = loopback_addresses(redirect);
    let mut servers = Vec::new();
    let mut unavailable = Vec::new();
    for addr in &wanted {
        match TcpListener::bind(addr) {
            Ok(listener) => {
                let server = Server::from_listener(listener, None)
                    .map_err(|e| Error::Local(format!("cannot serve the redirect on {addr}: {e}")))?;
                servers.push((*addr, server));
            }
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
                return Err(Error::PortInUse { addr: addr.ip().to_string(), port });
            }
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(Error::Usage(format!(
                    "not allowed to listen on port {port} of {} ({e}); register a redirect URL with a port above 1023 and pass it with --redirect-url (or --port N)",
                    addr.ip()
                )));
            }
            // A host without IPv6 (or IPv4) loopback is fine while the other one works.
            Err(e) => unavailable.push(format!("{}: {e}", addr.ip())),
        }
    }
    if servers.is_empty() {
        return Err(Error::Local(format!("cannot listen on loopback port {port}: {}", unavailable.join("; "))));
    }
    Ok(Listener { servers, path: redirect.path.clone(), redirect: redirect.to_string() })
}

impl Listener {
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.servers.iter().map(|(a, _)| *a).collect()
    }

    /// Polls until the redirect carrying `state` arrives or `timeout` passes; `tick` runs
    /// on every turn of the loop with the time left.
    pub fn wait_for_redirect(
        &self,
        state: &str,
        timeout: Duration,
        tick: &mut dyn FnMut(Duration),
    ) -> Result<Redirect, Error> {
        let deadline = Instant::now() + timeout;
        // Each server gets its share of the 100 ms turn; recv_timeout returns at once when
        // a request is there, so the redirect is not delayed by the poll.
        let share = POLL / self.servers.len() as u32;
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout(format!(
                    "no redirect arrived within {} s: check that the app's redirect URL in Partner Center is exactly {} \
                     (trailing slash included), that the seller finished in the browser, and raise --timeout if needed",
                    timeout.as_secs(),
                    self.redirect
                )));
            }
            tick(deadline - now);
            for (_, server) in &self.servers {
                let request = server
                    .recv_timeout(share)
                    .map_err(|e| Error::Local(format!("the redirect listener failed: {e}")))?;
                if let Some(request) = request
                    && let Some(redirect) = self.classify(request, state)
                {
                    return Ok(redirect);
                }
            }
        }
    }

    /// Answers what is not the redirect, and returns the redirect for the caller to answer.
    fn classify(&self, request: Request, state: &str) -> Option<Redirect> {
        let target = request.url().to_string();
        let (path, query) = target.split_once('?').unwrap_or((&target, ""));
        if path != self.path || !matches!(request.method(), tiny_http::Method::Get) {
            respond(request, 404, &html::not_found_page());
            return None;
        }
        match parse_redirect(query, state, true) {
            RedirectQuery::WrongState => {
                noteln!(
                    "ignored a request to {path} whose state does not match this login (a tab from an earlier attempt, or not from TikTok); still waiting"
                );
                respond(request, 400, &html::wrong_state_page());
                None
            }
            RedirectQuery::Code(code) => Some(Redirect::Granted { code, request }),
            RedirectQuery::Denied(reason) => Some(Redirect::Denied { reason, request }),
        }
    }
}

/// What a redirect's query says. The one parser for the listener and `login --manual`.
#[derive(Debug, PartialEq)]
pub enum RedirectQuery {
    /// Not this login's: a `state` that does not match (or none, where one is required).
    WrongState,
    /// This login's, with a usable code.
    Code(Secret),
    /// This login's, with `error` or no usable code (`code=null` is TikTok's denial).
    Denied(String),
}

/// Reads `code`, `state`, `error` and `error_description`. With `state_required`, a
/// query without `state` is not this login's, except a denial: TikTok's denial redirect is
/// not documented to echo the state, and a forged one can only stop this login, never
/// inject a code. Reasons are outside text: cleaned of terminal controls and secrets, and
/// bounded, before anyone sees them.
pub fn parse_redirect(query: &str, state: &str, state_required: bool) -> RedirectQuery {
    let params = url::parse_query(query);
    let error = url::get(&params, "error").filter(|e| !e.is_empty());
    match url::get(&params, "state") {
        Some(given) if given != state => return RedirectQuery::WrongState,
        None if state_required && error.is_none() => return RedirectQuery::WrongState,
        _ => {}
    }
    let code = url::get(&params, "code").filter(|c| !c.is_empty() && *c != "null");
    match (error, code) {
        (None, Some(code)) => RedirectQuery::Code(Secret::new(code)),
        (error, _) => {
            let mut reason = match error {
                Some(e) => format!("TikTok Shop reported `{}`", clean(e)),
                None => "the redirect carried no authorization code".to_string(),
            };
            if let Some(description) = url::get(&params, "error_description").filter(|d| !d.is_empty()) {
                reason.push_str(&format!(": {}", clean(description)));
            }
            RedirectQuery::Denied(reason)
        }
    }
}

/// Sends one of the tool's pages: no caching, no referrer, no external anything.
pub fn respond(request: Request, status: u16, page: &str) {
    let mut response = Response::from_string(page).with_status_code(status);
    for (name, value) in html::security_headers(false).into_iter().chain([("Connection", "close")]) {
        if let Ok(header) = Header::from_bytes(name.as_bytes(), value.as_bytes()) {
            response.add_header(header);
        }
    }
    // The browser may have gone away; nothing useful can be done about it here.
    let _ = request.respond(response);
}
