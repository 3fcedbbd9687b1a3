//! The one error type of the tool.
//!
//! Every failure a user can meet is a variant here, its `Display` is the sentence the user
//! reads (lowercase, no trailing period, naming the file, flag, variable or TikTok's
//! `code`/`message`/`request_id`), and its exit code is a method, so that `main` stays a
//! dozen lines and the exit-status table in the README has exactly one source.

use std::fmt;
use std::io;
use std::path::PathBuf;

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
                write!(f, "failed to {action} `{}`: {source}", path.display())
            }
            Error::CorruptTokenFile { path, reason } => write!(
                f,
                "token file `{}` {reason}; it was left untouched (run `tiktok-shop-auth login` to replace it)",
                path.display()
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
