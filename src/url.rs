//! The little URL handling the tool needs, without a URL crate.
//!
//! Only `http`/`https` URLs of the shape `scheme://host[:port][/path][?query]` are ever
//! parsed here (the redirect URL, the authorize link, the API bases), and query strings
//! are encoded and decoded by RFC 3986 rules (`+` read as a space, as browsers send it).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub scheme: String,
    /// Lowercase; an IPv6 literal keeps its brackets (`[::1]`).
    pub host: String,
    pub port: Option<u16>,
    /// Starts with `/`.
    pub path: String,
    pub query: Option<String>,
}

impl HttpUrl {
    pub fn parse(input: &str) -> Result<HttpUrl, String> {
        let (scheme, rest) = input.split_once("://").ok_or("it has no scheme (expected http:// or https://)")?;
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("scheme `{scheme}` is not http or https"));
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') {
            return Err("user names and passwords in the URL are not supported".into());
        }
        let (host, port) = split_host_port(authority)?;
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        let path = if path.is_empty() { "/".to_string() } else { path.to_string() };
        Ok(HttpUrl { scheme, host, port, path, query })
    }

    pub fn default_port(&self) -> u16 {
        if self.scheme == "https" { 443 } else { 80 }
    }

    pub fn port_or_default(&self) -> u16 {
        self.port.unwrap_or_else(|| self.default_port())
    }

    /// The host as an IP address, when it is one (`[::1]` without its brackets).
    pub fn ip(&self) -> Option<std::net::IpAddr> {
        self.host.trim_start_matches('[').trim_end_matches(']').parse().ok()
    }

    /// Whether the host is this machine: `localhost` or a loopback address.
    pub fn is_loopback(&self) -> bool {
        self.host == "localhost" || self.ip().is_some_and(|ip| ip.is_loopback())
    }

    /// `scheme://host[:port]` with no path.
    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }

    pub fn query_pairs(&self) -> Vec<(String, String)> {
        self.query.as_deref().map(parse_query).unwrap_or_default()
    }
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.origin(), self.path)?;
        if let Some(q) = &self.query {
            write!(f, "?{q}")?;
        }
        Ok(())
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(after) = authority.strip_prefix('[') {
        let close = after.find(']').ok_or("an IPv6 host has no closing `]`")?;
        let host = format!("[{}]", &after[..close]);
        match &after[close + 1..] {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or("junk after the IPv6 host")?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("it has no host".into());
    }
    let port = match port {
        None | Some("") => None,
        Some(p) => Some(p.parse::<u16>().map_err(|_| format!("port `{p}` is not a number from 1 to 65535"))?),
    };
    if port == Some(0) {
        return Err("port 0 is not a port a browser can be sent to".into());
    }
    Ok((host.to_ascii_lowercase(), port))
}

/// RFC 3986's unreserved characters: everything else is percent-encoded.
const ESCAPED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters.
/// A URL as given, for messages: a user name and password in it (`https://user:pass@host`)
/// shown as `***`, whatever else is wrong with it.
pub fn masked(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else { return raw.to_string() };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://***{}", &rest[at..]),
        None => raw.to_string(),
    }
}

pub fn encode(value: &str) -> String {
    utf8_percent_encode(value, ESCAPED).to_string()
}

/// Decodes `%XX` and `+`; a broken escape is kept as it stands, invalid UTF-8 is replaced.
pub fn decode(value: &str) -> String {
    percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned()
}

pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(pair), String::new()),
        })
        .collect()
}

pub fn encode_query<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(&encode(k.as_ref()));
        out.push('=');
        out.push_str(&encode(v.as_ref()));
    }
    out
}

/// The first value of `key` in a parsed query.
pub fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_are_localhost_and_loopback_addresses() {
        for (url, loopback) in [
            ("http://localhost:9/", true),
            ("http://127.0.0.2/", true),
            ("http://[::1]:9/", true),
            ("https://10.0.0.1/", false),
            ("https://hooks.example.com/", false),
        ] {
            assert_eq!(HttpUrl::parse(url).unwrap().is_loopback(), loopback, "{url}");
        }
        assert_eq!(HttpUrl::parse("https://[2001:db8::1]/").unwrap().ip(), "2001:db8::1".parse().ok());
    }

    #[test]
    fn masked_hides_user_and_password() {
        assert_eq!(masked("http://user:pa@ss@127.0.0.1:9/h?x=@"), "http://***@127.0.0.1:9/h?x=@");
        assert_eq!(masked("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(masked("not a url"), "not a url");
    }

    #[test]
    fn parses_the_shapes_the_tool_meets() {
        let u = HttpUrl::parse("http://localhost:3017/").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str(), u.query), ("localhost", Some(3017), "/", None));
        let u = HttpUrl::parse("http://[::1]:8080/cb?x=1").unwrap();
        assert_eq!((u.host.as_str(), u.port, u.path.as_str()), ("[::1]", Some(8080), "/cb"));
        assert_eq!(u.query.as_deref(), Some("x=1"));
        let u = HttpUrl::parse("HTTPS://Services.TikTokShop.com?service_id=7#frag").unwrap();
        assert_eq!((u.scheme.as_str(), u.host.as_str(), u.path.as_str()), ("https", "services.tiktokshop.com", "/"));
        assert_eq!(u.query_pairs(), vec![("service_id".to_string(), "7".to_string())]);
        assert_eq!(u.port_or_default(), 443);
        assert_eq!(u.to_string(), "https://services.tiktokshop.com/?service_id=7");
    }

    #[test]
    fn rejects_what_is_not_an_http_url() {
        for bad in [
            "localhost:3017",
            "ftp://x/",
            "http://:80/",
            "http://h:99999/",
            "http://h:0/",
            "http://[::1/",
            "http://u:p@h/",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn query_round_trip_and_decoding() {
        let q = encode_query(&[("a b", "x&y=z/é"), ("k", "")]);
        assert_eq!(q, "a%20b=x%26y%3Dz%2F%C3%A9&k=");
        assert_eq!(parse_query(&q), vec![("a b".into(), "x&y=z/é".into()), ("k".into(), "".into())]);
        assert_eq!(decode("a+b%2"), "a b%2");
        assert_eq!(decode("%zz%4"), "%zz%4");
        assert_eq!(decode("%e9"), "\u{fffd}");
        let pairs = parse_query("code=ROW_x-y_z&state=s&&flag&state=second");
        assert_eq!(get(&pairs, "state"), Some("s"));
        assert_eq!(get(&pairs, "flag"), Some(""));
        assert_eq!(get(&pairs, "nope"), None);
    }
}
