//! The sandbox's test hooks that make it misbehave as a real service or proxy can:
//! `--fault KIND`.

use serde_json::Value;
use tiny_http::Request;

use super::Sandbox;
use crate::error::Error;
use crate::url;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    Html502,
    Empty,
    Truncated,
    IpDenied,
    Echo,
    /// Open API: every page of orders names the same `next_page_token`.
    RepeatPage,
    /// Open API: the pages of orders name tokens A, B, A, ...
    CyclePages,
}

/// Each fault's name on the command line.
const NAMES: [(&str, Fault); 7] = [
    ("html-502", Fault::Html502),
    ("empty", Fault::Empty),
    ("truncated", Fault::Truncated),
    ("ip-denied", Fault::IpDenied),
    ("echo", Fault::Echo),
    ("repeat-page", Fault::RepeatPage),
    ("cycle-pages", Fault::CyclePages),
];

impl Fault {
    /// `--fault KIND`.
    pub fn parse(name: &str) -> Result<Fault, Error> {
        NAMES.iter().find(|(n, _)| *n == name).map(|(_, f)| *f).ok_or_else(|| {
            let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
            Error::Usage(format!("--fault `{}` is not one of {}", crate::secret::clean(name), names.join(", ")))
        })
    }

    /// Whether the token endpoints answer with this fault (the others are the Open API's).
    pub fn on_token_endpoints(self) -> bool {
        !matches!(self, Fault::RepeatPage | Fault::CyclePages)
    }
}

impl Sandbox<'_> {
    pub(super) fn send_fault(&self, request: Request, fault: Fault, params: &[(String, String)]) {
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
