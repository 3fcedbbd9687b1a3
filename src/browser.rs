//! Opening the authorization link in the user's browser.
//!
//! `$BROWSER`, when set, is a list of commands separated by colons (the xdg convention;
//! semicolons on Windows), tried in order until one starts. A colon inside quotes or
//! brackets, or one that begins `//` or a port number (`http://[::1]:8080/`), does not
//! separate. Each
//! command is split into words as a shell would (quotes and backslashes; no shell is run,
//! so nothing in the link is ever interpreted); `%s` in a word is replaced by the link
//! (`%%` is a literal `%`), and without `%s` the link is appended as the last argument.
//! Otherwise the platform's opener is used: `xdg-open`, `open`, or
//! Windows' URL handler through `rundll32` (never `cmd /c start`, which would cut the link
//! at its first `&`). The browser is started, not waited for: `login` goes on polling, and
//! a browser that fails to start only means the user opens the printed link by hand.

use std::process::{Child, Command, Stdio};

/// Starts the browser; the error says why it could not be started.
pub fn open(link: &str) -> Result<Child, String> {
    let candidates = match std::env::var("BROWSER") {
        Ok(value) if !value.trim().is_empty() => split_list(&value)
            .into_iter()
            .filter(|c| !c.trim().is_empty())
            .map(|c| split_words(c).map_err(|e| format!("$BROWSER is not usable: {e}")))
            .collect::<Result<Vec<_>, _>>()?,
        _ => vec![platform_opener()],
    };
    let mut failures = Vec::new();
    for words in candidates {
        let mut words = with_link(words, link);
        let program = words.remove(0);
        let started = Command::new(&program)
            .args(&words)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match started {
            Ok(child) => return Ok(child),
            Err(e) => failures.push(format!("could not start `{program}`: {e}")),
        }
    }
    Err(failures.join("; "))
}

/// `%s` replaced by the link (`%%` is `%`); without one, the link is appended.
fn with_link(words: Vec<String>, link: &str) -> Vec<String> {
    if !words.iter().any(|w| w.contains("%s")) {
        return words.into_iter().chain([link.to_string()]).collect();
    }
    words.iter().map(|w| w.split("%%").map(|part| part.replace("%s", link)).collect::<Vec<_>>().join("%")).collect()
}

/// The commands of a `$BROWSER` list (see the module doc for what separates them).
fn split_list(text: &str) -> Vec<&str> {
    let separator = if cfg!(windows) { ';' } else { ':' };
    let bytes = text.as_bytes();
    let (mut parts, mut start, mut quote, mut escaped, mut brackets) = (Vec::new(), 0, None, false, 0u32);
    for (i, c) in text.char_indices() {
        match (quote, c) {
            _ if escaped => escaped = false,
            (None, '[') => brackets += 1,
            (None, ']') => brackets = brackets.saturating_sub(1),
            _ if brackets > 0 => {}
            (Some('\''), '\'') | (Some('"'), '"') => quote = None,
            (Some('"'), '\\') | (None, '\\') => escaped = true,
            (None, '\'' | '"') => quote = Some(c),
            (None, c) if c == separator => {
                let rest = &bytes[i + 1..];
                let in_url =
                    separator == ':' && (rest.starts_with(b"//") || rest.first().is_some_and(u8::is_ascii_digit));
                if !in_url {
                    parts.push(&text[start..i]);
                    start = i + 1;
                }
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
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
    use super::{split_list, split_words, with_link};

    #[cfg(unix)]
    #[test]
    fn browser_lists_split_on_colons_but_not_in_urls_or_quotes() {
        assert_eq!(split_list("/usr/bin/firefox:chromium --incognito"), ["/usr/bin/firefox", "chromium --incognito"]);
        assert_eq!(
            split_list("python3 b.py redirect=http://127.0.0.1:8080/,auto"),
            ["python3 b.py redirect=http://127.0.0.1:8080/,auto"]
        );
        assert_eq!(split_list("'my:browser' x:y"), ["'my:browser' x", "y"]);
        assert_eq!(split_list("b redirect=http://[::1]:1/cb,auto:c"), ["b redirect=http://[::1]:1/cb,auto", "c"]);
        assert_eq!(split_list("a\\:b:c"), ["a\\:b", "c"]);
    }

    #[test]
    fn percent_s_places_the_link() {
        let words = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(with_link(words(&["firefox"]), "L"), ["firefox", "L"]);
        assert_eq!(with_link(words(&["open", "--url=%s", "100%%"]), "L"), ["open", "--url=L", "100%"]);
    }

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
