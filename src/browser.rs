//! Opening the authorization link in the user's browser.
//!
//! `$BROWSER`, when set, is split into words as a shell would (quotes and backslashes; no
//! shell is run, so nothing in the link is ever interpreted) and the link is appended as
//! the last argument. Otherwise the platform's opener is used: `xdg-open`, `open`, or
//! Windows' URL handler through `rundll32` (never `cmd /c start`, which would cut the link
//! at its first `&`). The browser is started, not waited for: `login` goes on polling, and
//! a browser that fails to start only means the user opens the printed link by hand.

use std::process::{Child, Command, Stdio};

/// Starts the browser; the error says why it could not be started.
pub fn open(link: &str) -> Result<Child, String> {
    let mut words = match std::env::var("BROWSER") {
        Ok(value) if !value.trim().is_empty() => {
            split_words(&value).map_err(|e| format!("$BROWSER is not usable: {e}"))?
        }
        _ => platform_opener(),
    };
    words.push(link.to_string());
    let program = words.remove(0);
    Command::new(&program)
        .args(&words)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("could not start `{program}`: {e}"))
}

fn platform_opener() -> Vec<String> {
    let words: &[&str] = if cfg!(windows) {
        &["rundll32", "url.dll,FileProtocolHandler"]
    } else if cfg!(target_os = "macos") {
        &["open"]
    } else {
        &["xdg-open"]
    };
    words.iter().map(|w| w.to_string()).collect()
}

/// POSIX shell word splitting without expansion: `'…'`, `"…"` with `\` escapes, `\x`.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a single quote is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some('\n') => {}
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a double quote is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a double quote is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some('\n') | None => {}
                    Some(c) => word.push(c),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    if words.is_empty() {
        return Err("it names no command".into());
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::split_words;

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(split_words("firefox").unwrap(), ["firefox"]);
        assert_eq!(split_words("  chromium --new-window ").unwrap(), ["chromium", "--new-window"]);
        assert_eq!(
            split_words(r#"'/opt/My Browser/run' "--profile=a b" x\ y"#).unwrap(),
            ["/opt/My Browser/run", "--profile=a b", "x y"]
        );
        assert_eq!(split_words(r#""a\"b\\c\d" '' e"#).unwrap(), [r#"a"b\c\d"#, "", "e"]);
        assert_eq!(split_words("a;b&c").unwrap(), ["a;b&c"]);
    }

    #[test]
    fn rejects_unclosed_quotes_and_nothing() {
        assert!(split_words("'abc").is_err());
        assert!(split_words("\"abc").is_err());
        assert!(split_words("   ").is_err());
    }
}
