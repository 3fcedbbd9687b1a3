//! A string that must never be printed: the app secret, authorization codes, tokens.
//!
//! `Debug` and `Display` show only a mask, so a secret that slips into a log line, an
//! error message or a panic shows nothing useful to whoever reads it. The value is reached
//! only through `expose`, which makes each deliberate use easy to find.
//!
//! Every secret made is also remembered (with its URL-encoded spelling), so that `scrub`
//! can take it out of any text: an error page of a proxy that echoes the request, TikTok's
//! `message`, a message of ours. Everything printed to stderr and every page goes through
//! it; `clean` is the other half, for text from outside: no control characters, bounded.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;

/// Every secret value this process has seen, by its first `SCRUB_MIN_LEN` bytes, each
/// bucket longest first (so a secret that contains another is replaced whole). `scrub` then
/// costs one lookup per byte of the text, however many secrets there are: a fleet refresh
/// of 10,000 files remembers some 80,000 spellings, and cleaning each server header must not
/// walk them all.
static KNOWN: Mutex<Option<HashMap<[u8; SCRUB_MIN_LEN], Vec<String>>>> = Mutex::new(None);

/// Values shorter than this are not scrubbed: replacing `0` everywhere would mangle text.
const SCRUB_MIN_LEN: usize = 6;

/// The longest piece of outside text shown in a message.
pub const SHOWN_MAX_CHARS: usize = 300;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&mask(&self.0))
    }
}

fn prefix(bytes: &[u8]) -> Option<[u8; SCRUB_MIN_LEN]> {
    bytes.get(..SCRUB_MIN_LEN)?.try_into().ok()
}

fn remember(value: &str) {
    if value.chars().count() < SCRUB_MIN_LEN {
        return;
    }
    if let Ok(mut known) = KNOWN.lock() {
        let known = known.get_or_insert_with(HashMap::new);
        for spelling in [value.to_string(), crate::url::encode(value)] {
            let Some(key) = prefix(spelling.as_bytes()) else { continue };
            let bucket = known.entry(key).or_default();
            if !bucket.contains(&spelling) {
                // Longest first, so that a secret is replaced whole before any shorter one
                // that starts the same way.
                let at = bucket.iter().position(|k| k.len() < spelling.len()).unwrap_or(bucket.len());
                bucket.insert(at, spelling);
            }
        }
    }
}

/// `text` with every known secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let Ok(known) = KNOWN.lock() else { return text.to_string() };
    let Some(known) = known.as_ref() else { return text.to_string() };
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let found = prefix(&bytes[i..])
            .and_then(|key| known.get(&key))
            .and_then(|bucket| bucket.iter().find(|s| bytes[i..].starts_with(s.as_bytes())));
        match found {
            Some(secret) => {
                out.extend_from_slice(b"***");
                i += secret.len();
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    // A secret is whole UTF-8 that starts on a character boundary, so what is left is too.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Text from outside (a server's message, a query parameter, a pasted line), made safe to
/// show: secrets scrubbed, control characters written as escapes (`\u{1b}`, `\n`), and
/// cut to `SHOWN_MAX_CHARS` characters.
pub fn clean(text: &str) -> String {
    let scrubbed = scrub(text);
    let mut out = String::with_capacity(scrubbed.len().min(SHOWN_MAX_CHARS * 2));
    for (i, c) in scrubbed.chars().enumerate() {
        if i == SHOWN_MAX_CHARS {
            out.push('…');
            break;
        }
        push_harmless(&mut out, c);
    }
    out
}

/// `text` whole, its control and direction-changing characters escaped (`\n`, `\u{202e}`),
/// so that it stays one line and reads as it is: a value a script asked for (`api --pick`).
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        push_harmless(&mut out, c);
    }
    out
}

fn push_harmless(out: &mut String, c: char) {
    if c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// The first characters of a token, enough to tell two apart, never enough to use one.
pub fn mask(value: &str) -> String {
    let shown: String = value.chars().take(6).collect();
    if value.chars().count() <= 12 { "***".to_string() } else { format!("{shown}…") }
}

/// A path as shown to a person: a file name is outside text too (control characters escaped).
pub fn shown(path: &std::path::Path) -> String {
    clean(&path.display().to_string())
}

/// `bytes` bytes from the operating system's random source, as URL-safe base64 (no padding).
///
/// ring is already in the tree for TLS; its `SystemRandom` is the OS source (getrandom),
/// so the `state`, the sandbox's tokens and temporary file names need no extra crate.
pub fn random_urlsafe(bytes: usize) -> std::io::Result<String> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new().fill(&mut buf).map_err(|_| std::io::Error::other("no random bytes"))?;
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("TTP_abcdefghijklmnopqrstuvwxyz");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{s}"), "TTP_ab…");
        assert!(!format!("{s} {s:?}").contains("ghij"));
    }

    #[test]
    fn random_values_are_urlsafe_and_fresh() {
        let a = random_urlsafe(24).unwrap();
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        assert_ne!(a, random_urlsafe(24).unwrap());
        assert_eq!(random_urlsafe(16).unwrap().len(), 22);
    }

    #[test]
    fn known_secrets_are_scrubbed_in_both_spellings() {
        let _s = Secret::new("sEcReT/with+chars");
        let text = "app_secret=sEcReT%2Fwith%2Bchars&x=1 and sEcReT/with+chars";
        assert_eq!(scrub(text), "app_secret=***&x=1 and ***");
        assert_eq!(scrub("short 0 stays"), "short 0 stays");
    }

    #[test]
    fn a_longer_secret_that_starts_like_a_shorter_one_is_scrubbed_whole() {
        // Remembered short first, then long, then one of the same length as the short.
        let _short = Secret::new("PrefixAbc123");
        let _long = Secret::new("PrefixAbc123-and-more");
        let _same = Secret::new("PrefixAbc999");
        assert_eq!(scrub("[PrefixAbc123-and-more] [PrefixAbc123] [PrefixAbc999]"), "[***] [***] [***]");
    }

    #[test]
    fn outside_text_loses_controls_and_length() {
        assert_eq!(clean("a\x1b]0;x\x07\r\nb"), "a\\u{1b}]0;x\\u{7}\\r\\nb");
        assert_eq!(clean("rtl\u{202e}x"), "rtl\\u{202e}x");
        let long = "x".repeat(1000);
        assert_eq!(clean(&long).chars().count(), SHOWN_MAX_CHARS + 1);
    }

    #[test]
    fn short_values_are_masked_whole() {
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("123456789012"), "***");
        assert_eq!(mask("ROW_1234567890abc"), "ROW_12…");
    }
}
