//! A token response — what TikTok's token endpoints answer and what a store keeps — read
//! once into a typed view: the tokens and their expiries, and who they belong to. The
//! commands ask it (`seller()`, `open_id()`, `region()`, `scopes()`) for what it knows;
//! `summary` and `status --json` still walk the JSON for the fields they show as they came.

use serde_json::Value;

use crate::error::Error;
use crate::expiry;
use crate::secret::Secret;

/// The latest expiry taken as real (9999-12-31): anything outside 0..=this is a corrupt file.
const LATEST_EXPIRY: i64 = 253_402_300_799;

/// The granted scopes of a token response, under either name TikTok's pages give them.
pub fn scopes_of(value: &Value) -> Vec<&str> {
    ["/data/granted_scopes", "/data/granted_permissions"]
        .iter()
        .filter_map(|p| value.pointer(p).and_then(Value::as_array))
        .flat_map(|a| a.iter().filter_map(Value::as_str))
        .collect()
}

/// TikTok's token endpoint codes that mean the refresh token is gone for good (`36004001`
/// expired, `36004005` unknown, `36004006` revoked): only a new login helps.
pub fn refresh_token_refused(code: i64) -> bool {
    matches!(code, 36004001 | 36004005 | 36004006)
}

/// The parts of a token response the tool itself uses.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    pub access_expires_at: i64,
    pub refresh_token: Secret,
    pub refresh_expires_at: i64,
}

impl Tokens {
    /// Reads the fields from a token response; the error names the first missing field.
    pub fn from_response(value: &Value) -> Result<Tokens, String> {
        let data = value.get("data").unwrap_or(&Value::Null);
        let text = |name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .ok_or(format!("lacks data.{name}"))
        };
        let time = |name: &str| {
            let t = data.get(name).and_then(Value::as_i64).ok_or(format!("lacks a numeric data.{name}"))?;
            if (0..=LATEST_EXPIRY).contains(&t) {
                Ok(t)
            } else {
                Err(format!("has data.{name} = {t}, which is no time a token can expire at"))
            }
        };
        Ok(Tokens {
            refresh_token: text("refresh_token")?,
            access_token: text("access_token")?,
            access_expires_at: time("access_token_expire_in")?,
            refresh_expires_at: time("refresh_token_expire_in")?,
        })
    }

    /// `Ok` while the access token is valid (with the skew margin); else "run refresh".
    pub fn check_access(&self, path: &str, now: i64) -> Result<(), Error> {
        if expiry::is_valid(self.access_expires_at, now) {
            return Ok(());
        }
        Err(Error::NeedLogin(format!(
            "the access token in `{}` expired {}, counting {} s for clock skew: run `{}`",
            crate::error::for_people(path),
            expiry::describe(self.access_expires_at, now),
            expiry::SKEW_MARGIN,
            crate::error::fix("refresh", path)
        )))
    }

    /// `Ok` while the refresh token can still be used; else "run login".
    pub fn check_refresh(&self, path: &str, now: i64) -> Result<(), Error> {
        if expiry::is_valid(self.refresh_expires_at, now) {
            return Ok(());
        }
        Err(Error::NeedLogin(format!(
            "the refresh token in `{}` expired {}: run `{}`",
            crate::error::for_people(path),
            expiry::describe(self.refresh_expires_at, now),
            crate::error::fix("login", path)
        )))
    }

    /// Whether `self` is a later answer than `other` (both of one seller): later expiries;
    /// with the same expiries (two answers within one second), other tokens written later.
    pub fn is_newer_than(&self, other: &Tokens, written_later: bool) -> bool {
        let (mine, theirs) =
            ((self.access_expires_at, self.refresh_expires_at), (other.access_expires_at, other.refresh_expires_at));
        mine > theirs || mine == theirs && written_later && self.access_token != other.access_token
    }

    /// Whether both tokens are `other`'s.
    pub fn same_as(&self, other: &Tokens) -> bool {
        self.access_token == other.access_token && self.refresh_token == other.refresh_token
    }
}

/// A whole token response: its bytes as received or saved, the JSON, and the tokens read
/// from it (so a value of this type always has both tokens and both expiries).
#[derive(Debug)]
pub struct TokenResponse {
    pub json: Value,
    pub tokens: Tokens,
    pub bytes: Vec<u8>,
}

impl TokenResponse {
    /// Parses a token response; the error says what is wrong with it.
    pub fn parse(bytes: &[u8]) -> Result<TokenResponse, String> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err("is empty".into());
        }
        let json: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON ({e})"))?;
        TokenResponse::from_json(json, bytes.to_vec())
            .map_err(|why| format!("is not a TikTok Shop token response: it {why}"))
    }

    /// The tokens of an already parsed answer; the error names the first missing field.
    pub fn from_json(json: Value, bytes: Vec<u8>) -> Result<TokenResponse, String> {
        let tokens = Tokens::from_response(&json)?;
        Ok(TokenResponse { json, tokens, bytes })
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.json.get("data").and_then(|d| d.get(field)).and_then(Value::as_str)
    }

    /// The seller the tokens belong to (empty when the answer does not say).
    pub fn open_id(&self) -> &str {
        self.text("open_id").unwrap_or_default()
    }

    /// The seller's name, as TikTok gives it (outside text: clean it before showing it).
    pub fn seller(&self) -> Option<&str> {
        self.text("seller_name")
    }

    /// The seller's base region (`GB`, `US`, ...).
    pub fn region(&self) -> Option<&str> {
        self.text("seller_base_region")
    }

    /// The scopes the seller granted: `granted_scopes` (the 202407 guide) or
    /// `granted_permissions` (the authorization changelog), whichever the answer has.
    pub fn scopes(&self) -> Vec<&str> {
        scopes_of(&self.json)
    }

    pub fn access_expires(&self) -> i64 {
        self.tokens.access_expires_at
    }

    pub fn refresh_expires(&self) -> i64 {
        self.tokens.refresh_expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_reads_what_the_answer_says() {
        let r = TokenResponse::parse(
            br#"{"code":0,"data":{"access_token":"A","refresh_token":"R","access_token_expire_in":10,
                "refresh_token_expire_in":20,"open_id":"o1","seller_name":"S","seller_base_region":"GB",
                "granted_scopes":["a","b"]}}"#,
        )
        .unwrap();
        assert_eq!((r.open_id(), r.seller(), r.region()), ("o1", Some("S"), Some("GB")));
        assert_eq!(r.scopes(), ["a", "b"]);
        assert_eq!((r.access_expires(), r.refresh_expires()), (10, 20));
        let e = TokenResponse::parse(br#"{"data":{"access_token":"A"}}"#).unwrap_err();
        assert!(e.contains("lacks data.refresh_token"), "{e}");
        assert_eq!(TokenResponse::parse(b"  ").unwrap_err(), "is empty");
    }
}
