//! `login`: the browser sign-in, end to end, and its `--manual` variant for machines whose
//! browser cannot reach this machine's loopback.
//!
//! The order matters and follows the spec: check the configuration and that the token file
//! has room, bind the listener, make the link with a fresh 192-bit `state`, open the
//! browser, poll, take the token file's lock, exchange the code, write the file, and only
//! then answer the browser with what really happened. The code is single-use: it is spent
//! only through `token_file::Reservation::spend`, under the lock, with the room reserved.

use std::io::{BufRead, IsTerminal, Write};
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{LoginOptions, RecoverOptions};
use crate::error::Error;
use crate::listener::{self, Redirect, RedirectQuery};
use crate::secret::{Secret, clean, random_urlsafe};
use crate::token_file::{self, TokenFile};
use crate::url::{self, HttpUrl};
use crate::{browser, expiry, html, summary, tiktok};

pub fn run(opts: &LoginOptions) -> Result<(), Error> {
    let agent = tiktok::agent()?;
    // A code is single-use: losing it to a read-only directory or a full disk would waste
    // the seller's sign-in, so the room is reserved (and let go) before they are sent anywhere.
    let file = TokenFile::new(&opts.token_file)?;
    file.check_room(opts.lock_wait)?;
    if opts.manual {
        return manual(opts, &agent, &file);
    }
    let listener = listener::bind(&opts.redirect)?;
    let state = random_urlsafe(24)?;
    let link = link_with_state(&opts.link, &state);
    let listening: Vec<String> = listener.addresses().iter().map(ToString::to_string).collect();
    noteln!("listening for the redirect on {} (path {})", listening.join(" and "), opts.redirect.path);
    let mut browser = if opts.no_browser {
        noteln!("open this link in a browser to authorize the app:\n\n    {link}\n");
        None
    } else {
        noteln!("opening the browser; if it does not open, open this link yourself:\n\n    {link}\n");
        match browser::open(&link) {
            Ok(child) => Some(child),
            Err(why) => {
                noteln!("{why}; open the link above by hand");
                None
            }
        }
    };
    let terminal = std::io::stderr().is_terminal();
    let mut shown = u64::MAX;
    let mut tick = |left: Duration| {
        watch_browser(&mut browser);
        if terminal && left.as_secs() != shown {
            shown = left.as_secs();
            note!("\rwaiting for the browser: {shown:>3} s left ");
            let _ = std::io::stderr().flush();
        }
    };
    let redirect = listener.wait_for_redirect(&state, opts.timeout, &mut tick);
    if terminal {
        note!("\r{:40}\r", "");
    }
    match redirect? {
        Redirect::Denied { reason, request } => {
            listener::respond(request, 200, &html::denied_page(&reason));
            Err(denied(&reason))
        }
        Redirect::Granted { code, request } => {
            noteln!("redirect received; exchanging the code");
            match exchange_and_save(opts, &agent, &file, &code) {
                Ok(value) => {
                    let seller = value.pointer("/data/seller_name").and_then(Value::as_str).unwrap_or("your shop");
                    listener::respond(request, 200, &html::granted_page(seller, &file.path().display().to_string()));
                    print_summary(file.path(), opts.json, &value, "authorized and saved");
                    Ok(())
                }
                Err(e) => {
                    listener::respond(request, 502, &html::failed_page(&e));
                    Err(e)
                }
            }
        }
    }
}

fn denied(reason: &str) -> Error {
    Error::Denied(format!(
        "the authorization was denied ({reason}); nothing was saved; run `tiktok-shop-auth login` to try again"
    ))
}

fn link_with_state(link: &HttpUrl, state: &str) -> String {
    let mut link = link.clone();
    let extra = url::encode_query(&[("state", state)]);
    link.query = Some(match link.query.as_deref() {
        Some(q) if !q.is_empty() => format!("{q}&{extra}"),
        _ => extra,
    });
    link.to_string()
}

/// Notices a browser command that exited with an error, once, and says so.
fn watch_browser(browser: &mut Option<Child>) {
    if let Some(child) = browser
        && let Ok(Some(status)) = child.try_wait()
    {
        if !status.success() {
            noteln!("the browser command exited with {status}; open the link above by hand");
        }
        *browser = None;
    }
}

/// Takes the lock (a refresh from cron may hold it), reserves the room, and only then
/// spends the code; if the lock cannot be had, the code is left unspent.
fn exchange_and_save(
    opts: &LoginOptions,
    agent: &ureq::Agent,
    file: &TokenFile,
    code: &Secret,
) -> Result<Value, Error> {
    let guard = file.lock(opts.lock_wait)?;
    let answer = guard.reserve()?.spend(|room| tiktok::exchange_code(agent, &opts.auth_base, &opts.app, code, room))?;
    Ok(answer.json)
}

fn print_summary(path: &std::path::Path, json: bool, value: &Value, headline: &str) {
    let now = expiry::now();
    if json {
        outln!("{}", summary::json(value, path, now));
    } else {
        out!("{headline}\n{}", summary::text(value, path, now));
    }
}

/// `login --recover FILE`: a recovery file (or any saved token response) becomes the token
/// file, under the lock. Refused (exit 2, both files as they were): FILE is the token file
/// itself under another name, is not a regular file, holds another seller's answer, or is
/// older than what the token file holds.
pub fn recover(opts: &RecoverOptions) -> Result<(), Error> {
    let file = TokenFile::new(&opts.token_file)?;
    let from = token_file::shown(&opts.from);
    let refuse = |why: String| Error::Usage(format!("--recover `{from}` {why}; nothing was changed"));
    let source = TokenFile::new(&opts.from).map_err(|_| match std::fs::metadata(&opts.from) {
        Ok(meta) => refuse(format!("is {}, not a saved token response", token_file::kind_of(&meta))),
        Err(e) => Error::file("read the file to recover", &opts.from, e),
    })?;
    if source.id() == file.id() {
        return Err(refuse(format!(
            "is the token file `{}` itself (the same file under another name)",
            token_file::shown(file.path())
        )));
    }
    let bytes = match token_file::read_capped(&opts.from) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(refuse("is larger than a token response can be".into())),
        Err(e) => return Err(Error::file("read the file to recover", &opts.from, e)),
    };
    let (value, tokens) = token_file::parse_response(&bytes).map_err(&refuse)?;
    let guard = file.lock(opts.lock_wait)?;
    if let Ok((current_value, current)) = guard.read() {
        let (theirs, ours) = (token_file::open_id(&value), token_file::open_id(&current_value));
        if theirs != ours {
            return Err(refuse(format!(
                "holds the tokens of another seller ({}, open_id {}) than `{}` ({}, open_id {})",
                seller_name(&value),
                clean(theirs),
                token_file::shown(file.path()),
                seller_name(&current_value),
                clean(ours)
            )));
        }
        if current.access_expires_at >= tokens.access_expires_at && current.access_token != tokens.access_token {
            return Err(Error::Usage(format!(
                "`{}` already holds newer tokens than `{from}` (access token expiring {}); nothing was changed",
                token_file::shown(file.path()),
                expiry::describe(current.access_expires_at, expiry::now())
            )));
        }
    }
    guard.reserve()?.install(&bytes)?;
    // The recovery file holds live tokens: once installed, it must not linger.
    let _ = std::fs::remove_file(&opts.from);
    print_summary(file.path(), opts.json, &value, "recovered and saved");
    Ok(())
}

fn seller_name(value: &Value) -> String {
    clean(value.pointer("/data/seller_name").and_then(Value::as_str).unwrap_or("an unnamed seller"))
}

/// `login --manual`: no listener, no browser; the user pastes where the browser landed.
fn manual(opts: &LoginOptions, agent: &ureq::Agent, file: &TokenFile) -> Result<(), Error> {
    let state = random_urlsafe(24)?;
    let link = link_with_state(&opts.link, &state);
    noteln!(
        "open this link in a browser on any machine and authorize the app:\n\n    {link}\n\n\
         TikTok Shop then sends that browser to {} which will fail to load there: that is expected.\n\
         Copy the whole address from the address bar (or just the code) and paste it here, then press Enter.",
        opts.redirect
    );
    let lines = spawn_stdin_reader();
    let deadline = std::time::Instant::now() + opts.timeout;
    loop {
        note!("address or code: ");
        let _ = std::io::stderr().flush();
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(Error::Local(format!("cannot read the pasted address from stdin: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                noteln!();
                return Err(Error::Timeout(format!(
                    "nothing was pasted within {} s; run `tiktok-shop-auth login --manual` again (raise --timeout if needed)",
                    opts.timeout.as_secs()
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Error::Timeout(
                    "stdin ended before an address or code was pasted; nothing was saved".into(),
                ));
            }
        };
        match parse_pasted(line.trim(), &state) {
            Pasted::Empty => continue,
            Pasted::Invalid(why) => {
                noteln!("{why}");
                continue;
            }
            Pasted::WrongState => {
                return Err(Error::Local(
                    "the pasted address belongs to another login attempt (its state does not match this one); \
                     nothing was saved: open the link printed above and paste the address that this attempt's link leads to"
                        .into(),
                ));
            }
            Pasted::Denied(reason) => return Err(denied(&reason)),
            Pasted::Code(code) => {
                noteln!("exchanging the code");
                let value = exchange_and_save(opts, agent, file, &code)?;
                print_summary(file.path(), opts.json, &value, "authorized and saved");
                return Ok(());
            }
        }
    }
}

/// Lines of stdin, read by a helper thread so the main thread can keep the deadline.
fn spawn_stdin_reader() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

#[derive(Debug, PartialEq)]
enum Pasted {
    Empty,
    Invalid(String),
    WrongState,
    Denied(String),
    Code(Secret),
}

/// A pasted redirect address (its `state` checked when it has one) or a bare code.
fn parse_pasted(text: &str, state: &str) -> Pasted {
    if text.is_empty() {
        return Pasted::Empty;
    }
    let query = match text.split_once('?') {
        Some((_, q)) => q.split('#').next().unwrap_or_default(),
        None if text.contains('=') => text,
        None if text.contains(['/', ' ', ':']) => {
            return Pasted::Invalid(
                "that is neither the address the browser was sent to nor a code; paste the whole address".into(),
            );
        }
        None => return Pasted::Code(Secret::new(text)),
    };
    let params = url::parse_query(query);
    if ["code", "state", "error"].iter().all(|k| url::get(&params, k).is_none()) {
        return Pasted::Invalid(
            "that address has no code; paste the address the browser was sent to after authorizing".into(),
        );
    }
    match listener::parse_redirect(query, state, false) {
        RedirectQuery::WrongState => Pasted::WrongState,
        RedirectQuery::Code(code) => Pasted::Code(code),
        RedirectQuery::Denied(reason) => Pasted::Denied(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_addresses_and_codes() {
        let s = "S1";
        assert_eq!(
            parse_pasted("http://localhost:3017/?code=ROW_abc&state=S1&locale=en", s),
            Pasted::Code(Secret::new("ROW_abc"))
        );
        assert_eq!(parse_pasted("ROW_abc-_", s), Pasted::Code(Secret::new("ROW_abc-_")));
        assert_eq!(parse_pasted("code=ROW_x", s), Pasted::Code(Secret::new("ROW_x")));
        assert_eq!(parse_pasted("http://localhost:3017/?code=ROW_abc&state=OLD", s), Pasted::WrongState);
        assert!(matches!(
            parse_pasted("http://localhost:3017/?error=access_denied&code=null&state=S1", s),
            Pasted::Denied(_)
        ));
        // The listener's parser: a code of `null` with the right state is TikTok's denial.
        assert!(matches!(parse_pasted("http://localhost:3017/?state=S1&code=null", s), Pasted::Denied(_)));
        assert!(matches!(parse_pasted("http://localhost:3017/", s), Pasted::Invalid(_)));
        assert_eq!(parse_pasted("", s), Pasted::Empty);
    }

    #[test]
    fn state_is_appended_to_the_link() {
        let link = HttpUrl::parse("https://services.tiktokshop.com/open/authorize?service_id=7").unwrap();
        assert_eq!(
            link_with_state(&link, "a-b_c"),
            "https://services.tiktokshop.com/open/authorize?service_id=7&state=a-b_c"
        );
    }
}
