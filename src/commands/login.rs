//! `login`: the browser sign-in, end to end, and its `--manual` variant for machines whose
//! browser cannot reach this machine's loopback.
//!
//! The order matters and follows the spec: check the configuration and that the token file
//! has room, bind the listener, make the link with a fresh 192-bit `state`, open the
//! browser, poll, take the token file's lock, exchange the code, write the file, and only
//! then answer the browser with what really happened. The code is single-use: it is spent
//! only through `store::Reservation::spend`, under the lock, with the room reserved.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::cli::{Args, Files, TokenOptions};
use crate::config::{self, App};
use crate::error::Error;
use crate::files;
use crate::listener::{self, Redirect, RedirectQuery};
use crate::secret::{Secret, clean, random_urlsafe, shown};
use crate::store::{Home, Replace};
use crate::token_response::TokenResponse;
use crate::url::{self, HttpUrl};
use crate::{browser, expiry, html, http, summary, token_api};

pub use crate::flags::{LOGIN_LOCK_WAIT_SECONDS as LOCK_WAIT, LOGIN_TIMEOUT as TIMEOUT, MANUAL_TIMEOUT};

/// `login`, or `login --recover FILE`.
pub enum Options {
    SignIn(Box<LoginOptions>),
    Recover(Box<RecoverOptions>),
}

pub struct LoginOptions {
    pub app: App,
    /// The authorization link without `state`.
    pub link: HttpUrl,
    pub tokens: TokenOptions,
    pub auth_base: String,
    pub redirect: HttpUrl,
    pub timeout: Duration,
    pub no_browser: bool,
    pub manual: bool,
    pub json: bool,
    /// `--replace`: an answer of another seller than the file's replaces it.
    pub replace: Replace,
}

/// `login --recover FILE`: install a recovery file as the token file.
pub struct RecoverOptions {
    pub from: PathBuf,
    pub tokens: TokenOptions,
    pub json: bool,
    /// `--replace`: FILE may hold another seller's tokens than the token file.
    pub replace: Replace,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let manual = args.flag("--manual");
    let no_browser = args.flag("--no-browser");
    let json = args.flag("--json");
    let replace = if args.flag("--replace") { Replace::AnySeller } else { Replace::SameSeller };
    if let Some(from) = args.path("--recover")? {
        let tokens = args.token_options(Some(LOCK_WAIT), Files::One)?;
        return Ok(Options::Recover(Box::new(RecoverOptions { from, tokens, json, replace })));
    }
    let port = args.port()?;
    let timeout = args.duration("--timeout")?.unwrap_or(if manual { MANUAL_TIMEOUT } else { TIMEOUT });
    if timeout < 1 {
        return Err(Error::Usage("--timeout must be at least 1 second".into()));
    }
    let service_id = args.string("--service-id")?;
    let authorize_url = args.string("--authorize-url")?;
    let auth_base = args.auth_base()?;
    let redirect = args.string("--redirect-url")?;
    let tokens = args.token_options(Some(LOCK_WAIT), Files::One)?;
    let app = tokens.app()?;
    if manual && no_browser {
        return Err(Error::Usage("--manual already opens no browser; pass either --manual or --no-browser".into()));
    }
    Ok(Options::SignIn(Box::new(LoginOptions {
        app,
        link: config::authorize_link(authorize_url, service_id)?,
        tokens,
        auth_base,
        // --manual opens no listener: any redirect URL the app registered will do.
        redirect: if manual && port.is_none() {
            config::any_redirect_url(redirect)?
        } else {
            config::redirect_url(redirect, port)?
        },
        timeout: Duration::from_secs(timeout as u64),
        no_browser,
        manual,
        json,
        replace,
    })))
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth login: sign in through the browser and save the token file

USAGE:
    tiktok-shop-auth login [OPTIONS]

Binds the redirect URL's port on loopback, opens the authorization link in the browser
($BROWSER, else the system's opener), waits for TikTok Shop's redirect, exchanges the code
(GET /api/v2/token/get), writes the token file (mode 0600, atomically), answers the browser
with the outcome and prints a summary (tokens masked).

{options_login}
Before the browser opens, the token file's directory must have room for the new file (it is
reserved, not just checked); the code is exchanged only while the file's lock is held, and
Ctrl-C or SIGTERM wait until its answer is saved. Two logins onto one file never both run:
the second waits (--lock-wait), then stops naming the first.

EXIT STATUS:
    0 saved   1 failed (port in use, network, TikTok error, file, lock)   2 usage error
    3 no redirect before the timeout   4 the seller denied
    1 also: another seller authorized than the file's (their tokens are kept beside it)
    5 the code was spent but the answer could not be saved anywhere: sign in again
",
        options_login = crate::flags::options("login"),
    )
}

pub fn run(opts: &Options) -> Result<(), Error> {
    match opts {
        Options::SignIn(opts) => sign_in(opts),
        Options::Recover(opts) => recover(opts),
    }
}

fn sign_in(opts: &LoginOptions) -> Result<(), Error> {
    let agent = http::agent()?;
    // A code is single-use: losing it to a read-only directory or a full disk would waste
    // the seller's sign-in, so the room is reserved (and let go) before they are sent anywhere.
    let file = Home::open(&opts.tokens.location)?;
    let _claim = file.claim_login(opts.tokens.lock_wait)?;
    file.check_room(opts.tokens.lock_wait)?;
    if opts.manual {
        return manual(opts, &agent, &file);
    }
    let listener = listener::bind(&opts.redirect)?;
    let state = new_state()?;
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
                noteln!("{why}; open the link above by hand{}", NO_BROWSER_HINT);
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
            Err(denied(&reason, &file.shown()))
        }
        Redirect::Granted { code, request } => {
            noteln!("redirect received; exchanging the code");
            match exchange_and_save(opts, &agent, &file, &code) {
                Ok(answer) => {
                    let seller = answer.seller().unwrap_or("your shop");
                    listener::respond(request, 200, &html::granted_page(seller, &file.shown()));
                    print_summary(&file.shown(), opts.json, &answer.json, "authorized and saved");
                    Ok(())
                }
                Err(e @ Error::Interrupted { .. }) => {
                    // Saved, then stopped as asked: the browser is told the truth.
                    let seller = "your shop";
                    listener::respond(request, 200, &html::granted_page(seller, &file.shown()));
                    Err(e)
                }
                Err(e) => {
                    listener::respond(request, 502, &html::failed_page(&e));
                    Err(e)
                }
            }
        }
    }
}

/// Said when no browser could be opened here (no display, a server, a container).
const NO_BROWSER_HINT: &str = " (on a machine with no browser or display: `--manual` prints the link to open anywhere \
     and takes the address pasted back; `--no-browser` keeps listening here and only prints it)";

fn denied(reason: &str, shown: &str) -> Error {
    Error::Denied(format!(
        "the authorization was denied ({reason}); nothing was saved; run `{}` to try again",
        crate::error::fix("login", shown)
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
            noteln!("the browser command exited with {status}; open the link above by hand{}", NO_BROWSER_HINT);
        }
        *browser = None;
    }
}

/// Takes the lock (a refresh from cron may hold it), reserves the room, and only then
/// spends the code; if the lock cannot be had, the code is left unspent.
fn exchange_and_save(
    opts: &LoginOptions,
    agent: &ureq::Agent,
    file: &Home,
    code: &Secret,
) -> Result<TokenResponse, Error> {
    let guard = file.lock(opts.tokens.lock_wait)?;
    guard.reserve()?.spend(opts.replace, |room| token_api::exchange_code(agent, &opts.auth_base, &opts.app, code, room))
}

fn print_summary(path: &str, json: bool, value: &Value, headline: &str) {
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
fn recover(opts: &RecoverOptions) -> Result<(), Error> {
    let file = Home::open(&opts.tokens.location)?;
    let from = shown(&opts.from);
    let refuse = |why: String| Error::Usage(format!("--recover `{from}` {why}; nothing was changed"));
    let itself = file.is_file(&opts.from).map_err(|_| match std::fs::metadata(&opts.from) {
        Ok(meta) => refuse(format!("is {}, not a saved token response", files::kind_of(&meta))),
        Err(e) => Error::file("read the file to recover", &opts.from, e),
    })?;
    if itself {
        return Err(refuse(format!("is the token file `{}` itself (the same file under another name)", file.shown())));
    }
    let bytes = match files::read_capped(&opts.from) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Err(refuse("is larger than a token response can be".into())),
        Err(e) => return Err(Error::file("read the file to recover", &opts.from, e)),
    };
    let found = TokenResponse::parse(&bytes).map_err(&refuse)?;
    let guard = file.lock(opts.tokens.lock_wait)?;
    if let Ok(saved) = guard.read() {
        let (theirs, ours) = (found.open_id(), saved.open_id());
        if theirs != ours && opts.replace == Replace::SameSeller {
            return Err(refuse(format!(
                "holds the tokens of another seller ({}, open_id {}) than `{}` ({}, open_id {})",
                seller_name(&found),
                clean(theirs),
                file.shown(),
                seller_name(&saved),
                clean(ours)
            )));
        }
        let (current, tokens) = (&saved.tokens, &found.tokens);
        let same_seller = theirs == ours;
        if same_seller
            && current.access_expires_at >= tokens.access_expires_at
            && current.access_token != tokens.access_token
        {
            return Err(Error::Usage(format!(
                "`{}` already holds newer tokens than `{from}` (access token expiring {}); nothing was changed",
                file.shown(),
                expiry::describe(current.access_expires_at, expiry::now())
            )));
        }
    }
    guard.reserve()?.install(&found)?;
    // The recovery file holds live tokens: once installed, it must not linger.
    if let Err(e) = std::fs::remove_file(&opts.from).or_else(|e| match e.kind() {
        // Installed by the lock (it was the reserved file itself): gone already.
        std::io::ErrorKind::NotFound => Ok(()),
        _ => Err(e),
    }) {
        noteln!(
            "tiktok-shop-auth: warning: `{from}` was installed but could not be removed ({e}): delete it, it holds live tokens"
        );
    }
    print_summary(&file.shown(), opts.json, &found.json, "recovered and saved");
    Ok(())
}

/// A fresh 192-bit `state` from the operating system's random source.
fn new_state() -> Result<String, Error> {
    random_urlsafe(24).map_err(|e| Error::Local(format!("the operating system's random source failed: {e}")))
}

fn seller_name(response: &TokenResponse) -> String {
    clean(response.seller().unwrap_or("an unnamed seller"))
}

/// `login --manual`: no listener, no browser; the user pastes where the browser landed.
fn manual(opts: &LoginOptions, agent: &ureq::Agent, file: &Home) -> Result<(), Error> {
    let state = new_state()?;
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
            // From a pipe nothing was echoed: end the prompt's line.
            Ok(Ok(line)) if !std::io::stdin().is_terminal() => {
                noteln!();
                line
            }
            Ok(Ok(line)) => line,
            Ok(Err(e)) => return Err(Error::Local(format!("cannot read the pasted address from stdin: {e}"))),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                noteln!();
                return Err(Error::Timeout(format!(
                    "nothing was pasted within {} s; run `{} --manual` again (raise --timeout if needed)",
                    opts.timeout.as_secs(),
                    crate::error::fix("login", &file.shown())
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
            Pasted::Denied(reason) => return Err(denied(&reason, &file.shown())),
            Pasted::Code(code) => {
                noteln!("exchanging the code");
                let answer = exchange_and_save(opts, agent, file, &code)?;
                print_summary(&file.shown(), opts.json, &answer.json, "authorized and saved");
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
