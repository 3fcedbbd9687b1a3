//! `login`: the browser sign-in, end to end, and its `--manual` variant for machines whose
//! browser cannot reach this machine's loopback.
//!
//! The order matters and follows the spec: check the configuration, bind the listener,
//! make the link with a fresh 192-bit `state`, open the browser, poll, exchange the code,
//! write the file, and only then answer the browser with what really happened.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::LoginOptions;
use crate::error::Error;
use crate::listener::{self, Redirect};
use crate::secret::{Secret, random_urlsafe};
use crate::url::{self, HttpUrl};
use crate::{browser, expiry, summary, tiktok, token_file};

/// How long a write waits for a `refresh` that holds the token file's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

pub fn run(opts: &LoginOptions) -> Result<(), Error> {
    let agent = tiktok::agent()?;
    check_writable(&opts.token_file)?;
    if opts.manual {
        return manual(opts, &agent);
    }
    let listener = listener::bind(&opts.redirect)?;
    let state = random_urlsafe(24)?;
    let link = link_with_state(&opts.link, &state);
    let listening: Vec<String> = listener.addresses().iter().map(ToString::to_string).collect();
    eprintln!("listening for the redirect on {} (path {})", listening.join(" and "), opts.redirect.path);
    let mut browser = if opts.no_browser {
        eprintln!("open this link in a browser to authorize the app:\n\n    {link}\n");
        None
    } else {
        eprintln!("opening the browser; if it does not open, open this link yourself:\n\n    {link}\n");
        match browser::open(&link) {
            Ok(child) => Some(child),
            Err(why) => {
                eprintln!("{why}; open the link above by hand");
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
            eprint!("\rwaiting for the browser: {shown:>3} s left ");
            let _ = std::io::stderr().flush();
        }
    };
    let redirect = listener.wait_for_redirect(&state, opts.timeout, &mut tick);
    if terminal {
        eprint!("\r{:40}\r", "");
    }
    match redirect? {
        Redirect::Denied { reason, request } => {
            listener::respond(request, 200, &listener::denied_page(&reason));
            Err(denied(&reason))
        }
        Redirect::Granted { code, request } => {
            eprintln!("redirect received; exchanging the code");
            match exchange_and_save(opts, &agent, &code) {
                Ok((value, written)) => {
                    let seller = value.pointer("/data/seller_name").and_then(Value::as_str).unwrap_or("your shop");
                    listener::respond(request, 200, &listener::granted_page(seller, &written.display().to_string()));
                    print_summary(opts, &value);
                    Ok(())
                }
                Err(e) => {
                    listener::respond(request, 502, &listener::failed_page(&e));
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
            eprintln!("the browser command exited with {status}; open the link above by hand");
        }
        *browser = None;
    }
}

fn exchange_and_save(
    opts: &LoginOptions,
    agent: &ureq::Agent,
    code: &Secret,
) -> Result<(Value, std::path::PathBuf), Error> {
    let answer = tiktok::exchange_code(agent, &opts.auth_base, &opts.app, code)?;
    // A refresh running from cron must not write an older token over this one.
    let _lock = token_file::lock(&opts.token_file, LOCK_WAIT)?;
    let written = token_file::write_atomically(&opts.token_file, &answer.body)?;
    Ok((answer.json, written))
}

fn print_summary(opts: &LoginOptions, value: &Value) {
    let now = expiry::now();
    if opts.json {
        println!("{}", summary::json(value, &opts.token_file, now));
    } else {
        print!("authorized and saved\n{}", summary::text(value, &opts.token_file, now));
    }
}

/// Fails early, before the seller is sent anywhere, when the token file cannot be written:
/// a code is single-use, and losing it to a read-only directory would waste the sign-in.
fn check_writable(path: &Path) -> Result<(), Error> {
    if path.is_dir() {
        return Err(Error::Usage(format!("--token-file / TIKTOK_SHOP_TOKEN_FILE `{}` is a directory", path.display())));
    }
    token_file::check_writable(path)
}

/// `login --manual`: no listener, no browser; the user pastes where the browser landed.
fn manual(opts: &LoginOptions, agent: &ureq::Agent) -> Result<(), Error> {
    let state = random_urlsafe(24)?;
    let link = link_with_state(&opts.link, &state);
    eprintln!(
        "open this link in a browser on any machine and authorize the app:\n\n    {link}\n\n\
         TikTok Shop then sends that browser to {} which will fail to load there: that is expected.\n\
         Copy the whole address from the address bar (or just the code) and paste it here, then press Enter.",
        opts.redirect
    );
    let lines = spawn_stdin_reader();
    let deadline = std::time::Instant::now() + opts.timeout;
    loop {
        eprint!("address or code: ");
        let _ = std::io::stderr().flush();
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = match lines.recv_timeout(left) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(Error::Local(format!("cannot read the pasted address from stdin: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                eprintln!();
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
                eprintln!("{why}");
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
                eprintln!("exchanging the code");
                let (value, _) = exchange_and_save(opts, agent, &code)?;
                print_summary(opts, &value);
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
    if let Some(got) = url::get(&params, "state")
        && got != state
    {
        return Pasted::WrongState;
    }
    let error = url::get(&params, "error").filter(|e| !e.is_empty());
    match (error, url::get(&params, "code").filter(|c| !c.is_empty() && *c != "null")) {
        (None, Some(code)) => Pasted::Code(Secret::new(code)),
        (Some(e), _) => Pasted::Denied(format!("TikTok Shop reported `{e}`")),
        (None, None) => Pasted::Invalid(
            "that address has no code; paste the address the browser was sent to after authorizing".into(),
        ),
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
        assert!(matches!(parse_pasted("http://localhost:3017/?state=S1&code=null", s), Pasted::Invalid(_)));
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
