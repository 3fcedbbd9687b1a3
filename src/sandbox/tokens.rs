//! The token endpoints: `GET /api/v2/token/get` (a code for tokens) and
//! `GET /api/v2/token/refresh` (rotating refresh tokens), answering as TikTok does: errors
//! as a non-zero `code` with HTTP 200, expiries as absolute Unix times.

use serde_json::{Value, json};
use tiny_http::Request;

use super::{CODE_LIFETIME, Grant, REGION, SCOPES, Sandbox};
use crate::{token_api, url};

impl Sandbox<'_> {
    /// The checks both token endpoints share: test faults, then the app's credentials and
    /// the grant type. `Err` is the answer already sent.
    fn check_token_call(&self, request: Request, params: &[(String, String)], grant_type: &str) -> Result<Request, ()> {
        if let Some(fault) = self.opts.fault.filter(|f| f.on_token_endpoints()) {
            self.send_fault(request, fault, params);
            return Err(());
        }
        let app_ok = url::get(params, "app_key") == Some(self.opts.app.key.as_str())
            && url::get(params, "app_secret") == Some(self.opts.app.secret.expose());
        if !app_ok {
            self.send_api(request, 200, 36004002, "invalid app_key or app_secret", Value::Null);
            return Err(());
        }
        if url::get(params, "grant_type") != Some(grant_type) {
            self.send_api(request, 200, 36004003, &format!("invalid grant_type, expected {grant_type}"), Value::Null);
            return Err(());
        }
        Ok(request)
    }

    pub(super) fn token_get(&mut self, request: Request, params: &[(String, String)]) {
        let Ok(request) = self.check_token_call(request, params, token_api::GRANT_AUTHORIZED_CODE) else { return };
        let now = self.now();
        let code = url::get(params, "auth_code").unwrap_or("");
        // A code is spent by its first use, whether it was still fresh or not.
        match self.codes.remove(code) {
            Some((issued, seller)) if now - issued <= CODE_LIFETIME => {
                // A new authorization: deliveries resume after a revoke.
                self.events.revoked = false;
                let data = self.issue(now, seller, None);
                self.send_api(request, 200, 0, "success", data);
            }
            _ => self.send_api(request, 200, 36004004, "invalid auth code", Value::Null),
        }
    }

    pub(super) fn token_refresh(&mut self, request: Request, params: &[(String, String)]) {
        let Ok(request) = self.check_token_call(request, params, token_api::GRANT_REFRESH_TOKEN) else { return };
        let now = self.now();
        let token = url::get(params, "refresh_token").unwrap_or("");
        match self.refresh.remove(token) {
            None => self.send_api(request, 200, 36004005, "can not find related auth record", Value::Null),
            Some(grant) if grant.refresh_expires_at <= now => {
                self.send_api(request, 200, 36004001, "rt has expired", Value::Null)
            }
            Some(grant) => {
                // Rotation: the old refresh token is gone, and so is its access token.
                self.access.remove(&grant.access_token);
                let data = self.issue(now, grant.seller, Some(&grant));
                self.send_api(request, 200, 0, "success", data);
            }
        }
    }

    /// New tokens, remembered, as TikTok's `data` object. A refresh (`rotated` is the grant
    /// it replaces) keeps the authorization's end: the refresh token's expiry is the
    /// seller's re-consent deadline, which no refresh moves (and whose warning goes once).
    fn issue(&mut self, now: i64, seller: u32, rotated: Option<&Grant>) -> Value {
        let access_expires = now + self.opts.access_ttl;
        let (refresh_expires, warned) =
            rotated.map_or((now + self.opts.refresh_ttl, 0), |g| (g.refresh_expires_at, g.warned));
        let access_token = self.access.issue("TTP_", 32, access_expires);
        let grant = Grant { seller, access_token: access_token.clone(), refresh_expires_at: refresh_expires, warned };
        let refresh_token = self.refresh.issue("TTP_", 32, grant);
        let (open_id, seller_name) = self.seller(seller);
        json!({
            "access_token": access_token,
            "access_token_expire_in": access_expires,
            "refresh_token": refresh_token,
            "refresh_token_expire_in": refresh_expires,
            "open_id": open_id,
            "seller_name": seller_name,
            "seller_base_region": REGION,
            "user_type": 0,
            "granted_scopes": SCOPES,
        })
    }
}
