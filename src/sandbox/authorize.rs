//! TikTok Shop's side of the browser: the authorization page with Authorize and Deny, and
//! the redirect back to the app with a single-use code (or `error=access_denied`).

use tiny_http::Request;

use super::{REGION, SCOPES, Sandbox};
use crate::html::{self, Tone};
use crate::url;

impl Sandbox<'_> {
    pub(super) fn authorize(&mut self, request: Request, params: &[(String, String)]) {
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

    pub(super) fn decide(&mut self, request: Request, params: &[(String, String)]) {
        let approve = url::get(params, "decision") == Some("approve");
        let location = self.redirect_location(approve, url::get(params, "state").unwrap_or(""));
        self.send(request, 302, "text/plain; charset=utf-8", String::new(), &[("Location", &location)]);
    }

    /// The registered redirect URL with what TikTok Shop appends to it.
    fn redirect_location(&mut self, approve: bool, state: &str) -> String {
        let query = if approve {
            let code = self.new_code();
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
}
