//! What a command needs to *use* a seller's tokens, owned once: the saved answer with a
//! fresh access token (refreshed under the lock when it is about to end), a refused token
//! replaced once, and the shop a call is for.
//!
//! `api`, `exec`, `webhook` and `refresh` (its `renew`) sit on this; `shops` reads the
//! saved token as it is (it proves the token works, and never refreshes). It sits on
//! `store` (the lock, the room, the save), `token_api` (the token endpoint) and
//! `open_api` (signed calls and the shop list). The order lock → read again → spend → save
//! is `store`'s types' to keep; `renew` is the only refresh there is, and every
//! command reaches it through here.

use serde_json::Value;

use crate::cli::{Args, Files, TokenOptions};
use crate::config::{App, ENV_APP_SECRET};
use crate::error::Error;
use crate::expiry;
use crate::http::{self, Answer};
use crate::open_api::{self, Call, Client, ShopList};
use crate::secret::Secret;
use crate::store::{Guard, Home};
use crate::token_api::{self, Auth};
use crate::token_response::{TokenResponse, Tokens};

pub use crate::flags::LOCK_WAIT_SECONDS as LOCK_WAIT;

/// What a command that uses a seller's tokens takes: the shared token options and the
/// two bases.
pub struct SessionOptions {
    pub tokens: TokenOptions,
    /// The app; `None` only where the secret is optional (`exec`: it is needed only to refresh).
    pub app: Option<App>,
    pub api_base: String,
    pub auth_base: String,
    /// `api --retries`, `--quiet`: how often a throttled read is tried again, and whether
    /// each wait is said.
    pub retries: u32,
    pub quiet: bool,
}

impl SessionOptions {
    /// The shared token options and both bases; the app is required.
    pub fn parse(args: &mut Args) -> Result<SessionOptions, Error> {
        let mut opts = SessionOptions::parse_secret_optional(args)?;
        if opts.app.is_none() {
            // The same message as every command without a secret.
            opts.app = Some(opts.tokens.app()?);
        }
        Ok(opts)
    }

    /// As `parse`, but without a secret the app is `None` instead of an error.
    pub fn parse_secret_optional(args: &mut Args) -> Result<SessionOptions, Error> {
        let api_base = args.api_base()?;
        let auth_base = args.auth_base()?;
        let tokens = args.token_options(Some(LOCK_WAIT), Files::One)?;
        let app = tokens.app_if_given()?;
        Ok(SessionOptions { tokens, app, api_base, auth_base, retries: crate::open_api::RETRIES, quiet: false })
    }
}

/// One seller's tokens, and what it takes to use them.
pub struct Session<'a> {
    opts: &'a SessionOptions,
    home: Home,
    agent: ureq::Agent,
    /// A refused token was replaced in this run: the next refusal is final (a server that
    /// refuses every token gets one refresh, not one per call).
    replaced: std::cell::Cell<bool>,
}

impl<'a> Session<'a> {
    pub fn open(opts: &'a SessionOptions) -> Result<Session<'a>, Error> {
        let (home, agent) = (Home::open(&opts.tokens.location)?, http::agent()?);
        Ok(Session { opts, home, agent, replaced: std::cell::Cell::new(false) })
    }

    pub fn home(&self) -> &Home {
        &self.home
    }

    pub fn app(&self) -> Option<&App> {
        self.opts.app.as_ref()
    }

    /// The signed Open API client, when the app secret is there.
    pub fn client(&self) -> Option<Client<'_>> {
        let app = self.opts.app.as_ref()?;
        Some(Client {
            retries: self.opts.retries,
            quiet: self.opts.quiet,
            ..Client::new(&self.agent, &self.opts.api_base, app)
        })
    }

    /// The signed Open API client; an error naming the secret when it is not there.
    pub fn signing_client(&self) -> Result<Client<'_>, Error> {
        self.client().ok_or_else(|| {
            Error::Usage(format!("missing app secret: set {ENV_APP_SECRET} or pass --app-secret-file PATH"))
        })
    }

    /// The saved answer, with an access token valid for longer than `within` seconds
    /// (beyond the skew margin): as saved when it is, else refreshed first (lock, read
    /// again, and refresh only if no other run did meanwhile). Without the app secret, a
    /// token that is still valid is used as it is, with a warning.
    pub fn fresh(&self, within: i64) -> Result<TokenResponse, Error> {
        let saved = self.home.read()?;
        let now = expiry::now();
        if expiry::remaining(saved.tokens.access_expires_at, now) > within {
            return Ok(saved);
        }
        let Some(app) = self.app() else {
            saved.tokens.check_access(&self.home.shown(), now).map_err(|e| {
                Error::NeedLogin(format!(
                    "{e} (or set {ENV_APP_SECRET} / --app-secret-file so it can be refreshed here)"
                ))
            })?;
            noteln!(
                "tiktok-shop-auth: warning: the access token in `{}` expires {}; set {ENV_APP_SECRET} (or --app-secret-file) to have it refreshed",
                self.home.shown(),
                expiry::describe(saved.tokens.access_expires_at, now)
            );
            return Ok(saved);
        };
        let guard = self.home.lock(self.opts.tokens.lock_wait)?;
        let saved = guard.read()?;
        if expiry::remaining(saved.tokens.access_expires_at, expiry::now()) > within {
            return Ok(saved);
        }
        let renewed = renew(&guard, &self.auth(app))?;
        // Interrupted during the refresh: saved, and nothing more is done.
        crate::interrupt::check(&format!("after the new tokens were saved in `{}`", self.home.shown()))?;
        Ok(renewed)
    }

    /// After TikTok refused `used` (105001, 105002) although the file believed in it: the
    /// file's newer tokens if another run replaced them meanwhile, else a refresh.
    fn replace_refused(&self, used: &Secret) -> Result<Tokens, Error> {
        let app = self.app().ok_or_else(|| {
            Error::NeedLogin(format!(
                "TikTok refused the access token in `{}` and without the app secret it cannot be refreshed here",
                self.home.shown()
            ))
        })?;
        let guard = self.home.lock(self.opts.tokens.lock_wait)?;
        let saved = guard.read()?;
        if saved.tokens.access_token != *used {
            return Ok(saved.tokens);
        }
        let renewed = renew(&guard, &self.auth(app))?;
        crate::interrupt::check(&format!("after the new tokens were saved in `{}`", self.home.shown()))?;
        Ok(renewed.tokens)
    }

    /// Sends `call` with `tokens` through `client` (`seen` is shown each answer, for
    /// `api --include`). TikTok refusing a token the file believed in (105001, 105002) gets
    /// it replaced (`replace_refused`) and the call sent again, once a run. The answer, and
    /// what TikTok's envelope says of it: the JSON when the code is 0.
    pub fn send(
        &self,
        client: &Client,
        call: &Call,
        tokens: &mut Tokens,
        seen: &mut dyn FnMut(&Answer),
    ) -> Result<(Answer, Result<Value, Error>), Error> {
        loop {
            let (answer, now) = client.send(call, &tokens.access_token, seen)?;
            match client.check(call, &answer, now) {
                Err(Error::NeedLogin(_)) if !self.replaced.replace(true) => {
                    *tokens = self.replace_refused(&tokens.access_token)?;
                }
                checked => return Ok((answer, checked)),
            }
        }
    }

    fn auth<'s>(&'s self, app: &'s App) -> Auth<'s> {
        Auth { agent: &self.agent, base: &self.opts.auth_base, app }
    }

    /// The seller's shop list as cached beside the token file (empty when it is not).
    pub fn shops(&self, response: &TokenResponse) -> ShopList {
        ShopList::cached(self.home.cache(), response.open_id())
    }
}

/// The one refresh, at TikTok's token endpoint: `Guard::renew` reads the refresh token
/// under the lock, reserves the room, spends it here and saves the answer. `refresh` and
/// every command that uses a token come through this. A refresh token TikTok no longer
/// accepts is exit 5, the file untouched (exit 1 when a kept answer beside it may be newer).
pub fn renew(guard: &Guard, auth: &Auth) -> Result<TokenResponse, Error> {
    guard.renew(|refresh_token, room| token_api::refresh(auth, refresh_token, room))
}

/// Which shop a call is for: the shop `selector` (`--shop`) names, or, without one, a
/// one-shop seller's only shop; on `path` (when the call has one), never on
/// `/authorization/*` and `/seller/*`, which take no shop. With a client, the list is fetched when it is not
/// cached or names no such shop; without one (`--dry-run`, `exec` without the secret), the
/// cached list is all there is.
pub fn cipher_for(
    shops: &mut ShopList,
    selector: Option<&str>,
    path: Option<&str>,
    client: Option<(&Client, &Secret)>,
) -> Result<Option<Value>, Error> {
    let no_shop = path.is_some_and(open_api::takes_no_shop);
    match (selector, client) {
        (Some(_), _) if no_shop => Err(Error::Usage(format!(
            "--shop: `{}` takes no shop_cipher (authorization and seller APIs never do)",
            crate::secret::clean(path.unwrap_or_default())
        ))),
        (Some(selector), Some((client, token))) => shops.select(selector, client, token).map(Some),
        (Some(selector), None) => shops.choose(selector).map(Some),
        (None, _) if no_shop => Ok(None),
        (None, client) => {
            if let (false, Some((client, token))) = (shops.is_cached(), client) {
                shops.refetch(client, token)?;
            }
            Ok(match shops.shops.as_slice() {
                [only] => Some(only.clone()),
                _ => None,
            })
        }
    }
}

/// A shop's `shop_cipher`.
pub fn cipher_of(shop: &Value) -> Option<String> {
    shop["cipher"].as_str().map(str::to_string)
}
