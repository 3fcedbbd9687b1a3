//! The one error type of the tool.
//!
//! Every failure a user can meet is a variant here, its `Display` is the sentence the user
//! reads (lowercase, no trailing period, naming the file, flag, variable or TikTok's
//! `code`/`message`/`request_id`), and its exit code is a method, so that `main` stays a
//! dozen lines and the exit-status table in the README has exactly one source.

use std::fmt;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

/// The command a fix-it message tells the user to run about the tokens at `shown`:
/// `tiktok-shop-auth VERB --token-file LOCATION`, the location always repeated (advice that
/// dropped it would act on the default file) and, when no one is at a terminal (cron,
/// whose mail does not say which directory it ran in), a file's path made absolute.
pub fn fix(verb: &str, shown: &str) -> String {
    format!("tiktok-shop-auth {verb} --token-file {}", shell_word(&for_people(shown)))
}

/// A token location as a message shows it: a relative path made absolute when stderr is
/// no terminal (see `fix`); an etcd location, or anything at a terminal, as given.
pub fn for_people(shown: &str) -> String {
    let path = Path::new(shown);
    if shown.contains("://") || path.is_absolute() || io::stderr().is_terminal() {
        return shown.to_string();
    }
    match std::env::current_dir() {
        Ok(dir) => dir.join(path).display().to_string(),
        Err(_) => shown.to_string(),
    }
}

/// After "permission denied" on `path`: who owns its directory (or it, when it exists) and
/// with what mode, beside who this run is, so that the fix (chown, chmod, another user in
/// cron) is plain.
fn who_may_write(path: &Path) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let dir = match path.parent() {
            Some(d) if d.as_os_str().is_empty() => Path::new("."),
            Some(d) => d,
            None => Path::new("."),
        };
        let Ok(meta) = std::fs::metadata(dir) else { return String::new() };
        let me = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("Uid:").map(|u| u.split_whitespace().nth(1).map(str::to_string)))
            })
            .flatten()
            .and_then(|u| u.parse::<u32>().ok());
        let name = |uid: u32| {
            let named = std::fs::read_to_string("/etc/passwd").ok().and_then(|p| {
                p.lines().find_map(|l| {
                    let mut f = l.split(':');
                    let (n, _, id) = (f.next()?, f.next()?, f.next()?);
                    (id.parse::<u32>().ok()? == uid).then(|| n.to_string())
                })
            });
            named.map_or(format!("uid {uid}"), |n| format!("{n} (uid {uid})"))
        };
        let shown = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
        let this = me.map(|u| format!("; this run is {}", name(u))).unwrap_or_default();
        format!(
            " (its directory `{}` is owned by {}, mode {:04o}{this}: the token file, its lock and its reserved \
             file are made there, so that user needs write access to the directory)",
            shown.display(),
            name(meta.uid()),
            meta.mode() & 0o7777
        )
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        String::new()
    }
}

/// `text` as one shell word: as it is when plain, else in single quotes.
pub fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.:/@%+=,".contains(&b)) {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[derive(Debug)]
pub enum Error {
    /// A missing, malformed or contradictory flag or environment variable (exit 2).
    Usage(String),
    /// A file that could not be read, written, locked or created (exit 1).
    File { action: &'static str, path: PathBuf, source: io::Error },
    /// The token file exists but is not what this tool writes (exit 1, file left alone).
    CorruptTokenFile { path: PathBuf, reason: String },
    /// A grant was spent but the answer could not be saved as the token file; it is in
    /// the recovery file instead (exit 1).
    Unsaved { cause: String, recovery: String },
    /// A grant was spent and neither the token file nor a recovery file could be written:
    /// the answer stays in the reserved temporary file, which the next run adopts (exit 1).
    Kept { cause: String, kept: String },
    /// The redirect port is taken, so another program would receive the browser (exit 1).
    PortInUse { addr: String, port: u16 },
    /// Anything else local that failed: binding, spawning (exit 1).
    Local(String),
    /// Another run held the lock for longer than the wait (exit 1): nothing was spent.
    Busy(String),
    /// The network, TLS or HTTP layer failed, or the answer was not TikTok's JSON (exit 1).
    Network(String),
    /// TikTok answered with a non-zero `code` (exit 1).
    TikTok(ApiError),
    /// No redirect arrived in time (exit 3).
    Timeout(String),
    /// The seller denied the authorization, or the redirect carried no usable code (exit 4).
    Denied(String),
    /// `exec`'s command was not found (exit 127, as a shell says).
    NotFound(String),
    /// `exec`'s command was found but cannot be run: not executable, a directory (exit 126).
    CannotRun(String),
    /// A `login` was approved by another seller than the one whose tokens the file holds:
    /// the file was left as it was and the new answer kept beside it (exit 1).
    OtherSeller { path: String, ours: String, theirs: String, kept: Result<String, String> },
    /// SIGINT or SIGTERM came while a grant was in flight; the run finished the exchange
    /// and stops now (exit 130 or 143).
    Interrupted { status: u8, message: String },
    /// A new `login` (or `refresh`) is needed: no token file, refresh token rejected or
    /// expired, the access token expired or refused by TikTok (105001, 105002), or a spent
    /// grant whose answer could not be kept anywhere (exit 5).
    NeedLogin(String),
}

/// TikTok's error envelope: always shown whole, since support asks for the request id.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub endpoint: String,
    pub http_status: u16,
    pub code: i64,
    pub message: String,
    pub request_id: String,
    /// What the tool can add from its own side (e.g. a clock that is off).
    pub hint: Option<String>,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} answered code {}: {} (request_id {}", self.endpoint, self.code, self.message, self.request_id)?;
        if self.http_status != 200 {
            write!(f, ", HTTP {}", self.http_status)?;
        }
        write!(f, ")")?;
        if let Some(hint) = &self.hint {
            write!(f, "; {hint}")?;
        }
        Ok(())
    }
}

impl Error {
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::File { .. }
            | Error::CorruptTokenFile { .. }
            | Error::Unsaved { .. }
            | Error::Kept { .. }
            | Error::PortInUse { .. }
            | Error::Local(_)
            | Error::Busy(_)
            | Error::Network(_)
            | Error::TikTok(_) => 1,
            Error::Timeout(_) => 3,
            Error::Denied(_) => 4,
            Error::NeedLogin(_) => 5,
            Error::OtherSeller { .. } => 1,
            Error::Interrupted { status, .. } => *status,
            Error::NotFound(_) => 127,
            Error::CannotRun(_) => 126,
        }
    }

    pub fn file(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::File { action, path: path.into(), source }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::Local(msg) | Error::Busy(msg) | Error::Network(msg) => f.write_str(msg),
            Error::Timeout(msg) | Error::Denied(msg) | Error::NeedLogin(msg) | Error::NotFound(msg) => f.write_str(msg),
            Error::CannotRun(msg) | Error::Interrupted { message: msg, .. } => f.write_str(msg),
            Error::File { action, path, source } => {
                write!(f, "failed to {action} `{}`: {source}", path.display())?;
                if source.kind() == io::ErrorKind::PermissionDenied {
                    f.write_str(&who_may_write(path))?;
                }
                Ok(())
            }
            Error::CorruptTokenFile { path, reason } => write!(
                f,
                "token file `{}` {reason}; it was left untouched (run `{}` to replace it)",
                for_people(&path.display().to_string()),
                fix("login", &path.display().to_string())
            ),
            Error::Unsaved { cause, recovery } => write!(
                f,
                "{cause}; the new tokens were saved to `{0}` instead, and the next run that takes the lock \
                 (`tiktok-shop-auth refresh` from cron does) installs them; or run \
                 `tiktok-shop-auth login --recover {0}` (with the same --token-file) now",
                recovery
            ),
            Error::Kept { cause, kept } => write!(
                f,
                "{cause}; the new tokens are kept in `{}` (not deleted): the next tiktok-shop-auth run that can write \
                 to that directory installs them (`tiktok-shop-auth status` does), so fix the directory and run it",
                kept
            ),
            Error::OtherSeller { path, ours, theirs, kept } => {
                write!(
                    f,
                    "`{}` holds the tokens of {ours}, but the seller who just authorized is {theirs}: the file was \
                     left as it was",
                    path
                )?;
                match kept {
                    Ok(kept) => write!(
                        f,
                        " and the new tokens were saved to `{}`; give them a file of their own (move it to, say, \
                         `tokens/<seller>.json`), or to replace the file on purpose sign in again with \
                         `tiktok-shop-auth login --replace`",
                        kept
                    ),
                    Err(why) => write!(
                        f,
                        ", but the new tokens could not be kept beside it either ({why}): sign in with the other seller \
                         again with another --token-file, or with `--replace` to replace this one on purpose"
                    ),
                }
            }
            Error::PortInUse { addr, port } => write!(
                f,
                "port {port} is already in use on {addr}: another program would receive the browser's redirect \
                 (often another `tiktok-shop-auth login` still waiting for its browser); stop it, or register \
                 another redirect URL and pass it with --redirect-url (or --port N)"
            ),
            Error::TikTok(api) => write!(f, "{api}"),
        }
    }
}

impl std::error::Error for Error {}
