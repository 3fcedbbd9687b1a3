//! TikTok Shop's two token endpoints: a code for tokens, a refresh token for new ones.
//!
//! Both spend a single-use grant, so both demand a `store::Room`: they can only be called
//! while the seller's lock is held and room for the answer is reserved, and the answer is
//! handed to the room the moment its last byte is read (before anything else, even
//! returning the connection, can go wrong). The app secret travels in these endpoints'
//! query string, so no URL of theirs is ever put into a message.

use ureq::Agent;

use crate::config::App;
use crate::error::Error;
use crate::http::{self, MAX_BODY, request_id};
use crate::secret::Secret;
use crate::store::Room;
use crate::token_response::TokenResponse;

/// The token endpoints and their grant types, as the tool and the sandbox both spell them.
pub const TOKEN_GET_PATH: &str = "/api/v2/token/get";
pub const TOKEN_REFRESH_PATH: &str = "/api/v2/token/refresh";
pub const GRANT_AUTHORIZED_CODE: &str = "authorized_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";

/// The token endpoints' "invalid app_key or app_secret".
const BAD_APP: i64 = 36004002;

/// Where and as whom the token endpoints are called.
pub struct Auth<'a> {
    pub agent: &'a Agent,
    pub base: &'a str,
    pub app: &'a App,
}

/// `GET /api/v2/token/get`: an authorization code for tokens.
pub fn exchange_code(
    agent: &Agent,
    auth_base: &str,
    app: &App,
    code: &Secret,
    room: &Room,
) -> Result<TokenResponse, Error> {
    token_call(agent, auth_base, TOKEN_GET_PATH, app, ("auth_code", code), GRANT_AUTHORIZED_CODE, room)
}

/// `GET /api/v2/token/refresh`: a refresh token for new tokens. Only `session::renew`
/// calls it, through `Guard::renew`, with the refresh token it read under the lock.
pub fn refresh(auth: &Auth, refresh_token: &Secret, room: &Room) -> Result<TokenResponse, Error> {
    let (agent, base, app) = (auth.agent, auth.base, auth.app);
    token_call(agent, base, TOKEN_REFRESH_PATH, app, ("refresh_token", refresh_token), GRANT_REFRESH_TOKEN, room)
}

/// Both token endpoints: a GET with the app's credentials, one grant and its type.
fn token_call(
    agent: &Agent,
    base: &str,
    path: &'static str,
    app: &App,
    (grant_name, grant): (&str, &Secret),
    grant_type: &str,
    room: &Room,
) -> Result<TokenResponse, Error> {
    let query = [
        ("app_key", app.key.as_str()),
        ("app_secret", app.secret.expose()),
        (grant_name, grant.expose()),
        ("grant_type", grant_type),
    ];
    let url = format!("{base}{path}?{}", crate::url::encode_query(&query));
    let endpoint = format!("{base}{path}");
    // The grant is spent once the request is out: the answer is kept the moment its last
    // byte is read, before anything else (even returning the connection) can go wrong.
    let keep = |body: &[u8]| room.keep(body);
    let answer = http::send_keeping(agent, "GET", &url, &endpoint, &[], None, MAX_BODY, Some(&keep))?;
    room.keep(&answer.body);
    let json = http::check_envelope(path, &answer, &endpoint).map_err(|e| match e {
        // TikTok's "invalid app_key or app_secret": say where each came from.
        Error::TikTok(mut api) if api.code == BAD_APP => {
            api.hint = Some(format!(
                "the likely cause: the app key ({}, `{}`) or the app secret (from {}) is not this app's; copy both \
                 from Partner Center, the app's page",
                crate::config::ENV_APP_KEY,
                crate::secret::clean(&app.key),
                app.secret_source
            ));
            Error::TikTok(api)
        }
        other => other,
    })?;
    // The same check a saved file gets: what is saved must be usable by the next refresh.
    let id = request_id(&json);
    TokenResponse::from_json(json, answer.body)
        .map_err(|why| Error::Network(format!("{endpoint} answered code 0, but the answer {why} (request_id {id})")))
}
