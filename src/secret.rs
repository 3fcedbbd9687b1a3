//! A string that must never be printed: the app secret, authorization codes, tokens.
//!
//! `Debug` and `Display` show only a mask, so a secret that slips into a log line, an
//! error message or a panic shows nothing useful to whoever reads it. The value is reached
//! only through `expose`, which makes each deliberate use easy to find.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
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

/// The first characters of a token, enough to tell two apart, never enough to use one.
pub fn mask(value: &str) -> String {
    let shown: String = value.chars().take(6).collect();
    if value.chars().count() <= 12 { "***".to_string() } else { format!("{shown}…") }
}

/// `bytes` bytes from the operating system's random source, as URL-safe base64 (no padding).
///
/// ring is already in the tree for TLS; its `SystemRandom` is the OS source (getrandom),
/// so the `state`, the sandbox's tokens and temporary file names need no extra crate.
pub fn random_urlsafe(bytes: usize) -> Result<String, crate::error::Error> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| crate::error::Error::Local("the operating system's random source failed".into()))?;
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes * 4 / 3 + 3);
    for chunk in buf.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    Ok(out)
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
    fn short_values_are_masked_whole() {
        assert_eq!(mask("abc"), "***");
        assert_eq!(mask("123456789012"), "***");
        assert_eq!(mask("ROW_1234567890abc"), "ROW_12…");
    }
}
