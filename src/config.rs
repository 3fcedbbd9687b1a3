//! Configuration: flag, then environment variable, then default.
//!
//! Every value is checked here, before anything touches the network or opens a port, and a
//! bad one is a usage error (exit 2) that names both the flag and the variable. The app
//! secret is read only from the environment or from a file: a value on the command line
//! would show in `ps` and in shell history.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::secret::Secret;
use crate::url::{HttpUrl, masked};

pub const DEFAULT_TOKEN_FILE: &str = "tiktok-shop-token.json";
pub const DEFAULT_AUTHORIZE_URL: &str = "https://services.tiktokshop.com/open/authorize";
pub const DEFAULT_AUTH_BASE: &str = "https://auth.tiktok-shops.com";
pub const DEFAULT_API_BASE: &str = "https://open-api.tiktokglobalshop.com";
pub const DEFAULT_REDIRECT_URL: &str = "http://localhost:3017/";

pub const ENV_APP_KEY: &str = "TIKTOK_SHOP_APP_KEY";
pub const ENV_APP_SECRET: &str = "TIKTOK_SHOP_APP_SECRET";
pub const ENV_SERVICE_ID: &str = "TIKTOK_SHOP_SERVICE_ID";
pub const ENV_TOKEN_FILE: &str = "TIKTOK_SHOP_TOKEN_FILE";
pub const ENV_AUTHORIZE_URL: &str = "TIKTOK_SHOP_AUTHORIZE_URL";
pub const ENV_AUTH_BASE: &str = "TIKTOK_SHOP_AUTH_BASE";
pub const ENV_API_BASE: &str = "TIKTOK_SHOP_API_BASE";
pub const ENV_REDIRECT_URL: &str = "TIKTOK_SHOP_REDIRECT_URL";

/// The app's credentials, as every command that talks to TikTok needs them.
#[derive(Debug, Clone)]
pub struct App {
    pub key: String,
    pub secret: Secret,
    /// Where the secret came from, for the messages a wrong one causes.
    pub secret_source: String,
}

/// The flag's value, else the variable's (an empty variable counts as unset).
pub fn setting(flag_value: Option<String>, var: &str) -> Option<String> {
    flag_value.or_else(|| std::env::var(var).ok().filter(|v| !v.is_empty()))
}

pub fn app(key_flag: Option<String>, secret_file: Option<PathBuf>) -> Result<App, Error> {
    let key = setting(key_flag, ENV_APP_KEY).ok_or_else(|| {
        Error::Usage(format!(
            "missing app key: pass --app-key KEY or set {ENV_APP_KEY} (Partner Center, your app's page)"
        ))
    })?;
    let key = checked_app_key(key)?;
    let secret_source = match &secret_file {
        Some(path) => format!("--app-secret-file `{}`", crate::secret::shown(path)),
        None => ENV_APP_SECRET.to_string(),
    };
    Ok(App { key, secret: app_secret(secret_file)?, secret_source })
}

/// An app key as given: refused with spaces around it or control characters in it.
pub fn checked_app_key(key: String) -> Result<String, Error> {
    if key.trim() != key || key.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "the app key from --app-key or {ENV_APP_KEY} has spaces or control characters"
        )));
    }
    Ok(key)
}

fn app_secret(file: Option<PathBuf>) -> Result<Secret, Error> {
    let secret = match file {
        Some(path) => read_secret_file(&path)?,
        None => std::env::var(ENV_APP_SECRET).ok().filter(|v| !v.is_empty()).ok_or_else(|| {
            Error::Usage(format!(
                "missing app secret: set {ENV_APP_SECRET} or pass --app-secret-file PATH (a file whose first line is the secret)"
            ))
        })?,
    };
    let secret = secret.trim().to_string();
    if secret.is_empty() || secret.chars().any(char::is_control) {
        return Err(Error::Usage(format!(
            "the app secret from --app-secret-file or {ENV_APP_SECRET} is empty or has control characters"
        )));
    }
    Ok(Secret::new(secret))
}

fn read_secret_file(path: &Path) -> Result<String, Error> {
    let text = read_first_line(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::InvalidData => {
            Error::Usage(format!("cannot read the app secret from --app-secret-file `{}`: {e}", path.display()))
        }
        _ => Error::file("read the app secret file", path, e),
    })?;
    let first = text.lines().next().unwrap_or_default();
    if first.trim().is_empty() {
        return Err(Error::Usage(format!("--app-secret-file `{}`: the first line is empty", path.display())));
    }
    Ok(first.to_string())
}

/// The secret file's first line, read no further than 1 MiB (`/dev/zero` is not a secret).
fn read_first_line(path: &Path) -> io::Result<String> {
    let mut bytes = Vec::new();
    let mut reader = io::BufReader::new(File::open(path)?).take(crate::files::MAX_FILE);
    io::BufRead::read_until(&mut reader, b'\n', &mut bytes)?;
    String::from_utf8(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "the first line is not UTF-8"))
}

pub fn token_file(flag_value: Option<PathBuf>) -> PathBuf {
    flag_value
        .or_else(|| std::env::var_os(ENV_TOKEN_FILE).filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TOKEN_FILE))
}

/// An API base URL: http(s), no query; trailing slashes dropped so paths can be appended.
pub fn base_url(flag: &str, var: &str, flag_value: Option<String>, default: &str) -> Result<String, Error> {
    let raw = setting(flag_value, var).unwrap_or_else(|| default.to_string());
    let url = HttpUrl::parse(&raw)
        .map_err(|e| Error::Usage(format!("{flag} / {var} `{}` is not a usable URL: {e}", masked(&raw))))?;
    if url.query.is_some() {
        return Err(Error::Usage(format!("{flag} / {var} `{raw}` must not have a query string")));
    }
    Ok(format!("{}{}", url.origin(), url.path.trim_end_matches('/')))
}

/// Any http(s) redirect URL the app may have registered, for `login --manual`: nothing
/// listens on it, the user pastes where the browser landed.
pub fn any_redirect_url(flag_value: Option<String>) -> Result<HttpUrl, Error> {
    let raw = setting(flag_value, ENV_REDIRECT_URL).unwrap_or_else(|| DEFAULT_REDIRECT_URL.to_string());
    let what = format!("--redirect-url / {ENV_REDIRECT_URL} `{}`", masked(&raw));
    let url = HttpUrl::parse(&raw).map_err(|e| Error::Usage(format!("{what} is not a usable URL: {e}")))?;
    if url.scheme != "http" && url.scheme != "https" {
        return Err(Error::Usage(format!("{what} must be an http:// or https:// address")));
    }
    Ok(url)
}

/// The redirect URL, checked the way the listener needs it: plain http on a loopback host.
pub fn redirect_url(flag_value: Option<String>, port: Option<u16>) -> Result<HttpUrl, Error> {
    let raw = setting(flag_value, ENV_REDIRECT_URL).unwrap_or_else(|| DEFAULT_REDIRECT_URL.to_string());
    let what = format!("--redirect-url / {ENV_REDIRECT_URL} `{}`", masked(&raw));
    let mut url = HttpUrl::parse(&raw).map_err(|e| Error::Usage(format!("{what} is not a usable URL: {e}")))?;
    if url.scheme != "http" && url.scheme != "https" {
        return Err(Error::Usage(format!("{what} must be an http:// or https:// address")));
    }
    if url.scheme != "http" {
        return Err(Error::Usage(format!(
            "{what} must start with http:// for the listener on this machine (it speaks plain HTTP on loopback); \
             an app registered with its own https:// callback signs in with `login --manual` (nothing listens: \
             paste where the browser landed)"
        )));
    }
    if !matches!(url.host.as_str(), "localhost" | "127.0.0.1" | "[::1]") {
        return Err(Error::Usage(format!(
            "{what} must have host localhost, 127.0.0.1 or [::1]: the listener binds loopback only, never a network interface"
        )));
    }
    if let Some(p) = port {
        if p == 0 {
            return Err(Error::Usage("--port must be from 1 to 65535".into()));
        }
        url.port = Some(p);
    }
    Ok(url)
}

/// The authorization link without `state`: the authorize URL (a whole link copied from
/// Partner Center is fine) with exactly one `service_id`.
pub fn authorize_link(flag_value: Option<String>, service_flag: Option<String>) -> Result<HttpUrl, Error> {
    let raw = setting(flag_value, ENV_AUTHORIZE_URL).unwrap_or_else(|| DEFAULT_AUTHORIZE_URL.to_string());
    let mut url = HttpUrl::parse(&raw).map_err(|e| {
        Error::Usage(format!("--authorize-url / {ENV_AUTHORIZE_URL} `{}` is not a usable URL: {e}", masked(&raw)))
    })?;
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_iter().filter(|(k, _)| k != "state").collect();
    let in_link = crate::url::get(&pairs, "service_id").map(str::to_string);
    match (setting(service_flag, ENV_SERVICE_ID), in_link) {
        (Some(given), Some(linked)) if given != linked => {
            return Err(Error::Usage(format!(
                "--service-id / {ENV_SERVICE_ID} is `{given}` but the authorize link has service_id `{linked}`; drop one of them"
            )));
        }
        (Some(given), None) => pairs.push(("service_id".into(), given)),
        (None, None) => {
            return Err(Error::Usage(format!(
                "missing service id: pass --service-id ID or set {ENV_SERVICE_ID} (Partner Center, your app's page), \
                 or give the whole authorization link with --authorize-url"
            )));
        }
        _ => {}
    }
    url.query = Some(crate::url::encode_query(&pairs));
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_url_must_be_loopback_http() {
        assert_eq!(redirect_url(Some("http://localhost:3017/".into()), None).unwrap().port, Some(3017));
        assert_eq!(redirect_url(Some("http://127.0.0.1:3017/cb".into()), Some(4000)).unwrap().port, Some(4000));
        assert!(redirect_url(Some("http://[::1]:1/".into()), None).is_ok());
        for bad in
            ["https://localhost:3017/", "http://0.0.0.0:3017/", "http://example.com/", "http://192.168.1.2:3017/"]
        {
            let err = redirect_url(Some(bad.into()), None).unwrap_err().to_string();
            assert!(err.contains("--redirect-url") && err.contains(ENV_REDIRECT_URL), "{err}");
        }
    }

    #[test]
    fn authorize_link_gets_one_service_id_and_no_state() {
        let url =
            authorize_link(Some("https://services.tiktokshop.com/open/authorize".into()), Some("7123".into())).unwrap();
        assert_eq!(url.to_string(), "https://services.tiktokshop.com/open/authorize?service_id=7123");
        let pasted = "https://services.us.tiktokshop.com/open/authorize?service_id=99&state=old";
        let url = authorize_link(Some(pasted.into()), None).unwrap();
        assert_eq!(url.query.as_deref(), Some("service_id=99"));
        assert!(authorize_link(Some(pasted.into()), Some("98".into())).is_err());
        assert!(authorize_link(Some(pasted.into()), Some("99".into())).is_ok());
    }
}
