//! The command line's shared part: the top-level `--help`, and `Args`, the flag readers
//! every command's `parse` uses. Each command owns its own options, parser and `--help`
//! (`commands/<name>.rs`); `main` dispatches on the command's name.
//!
//! Parsing resolves the whole configuration (flag, then environment, then default, see
//! `config`) into the command's options, so every command starts with values that are
//! already checked, and a bad one is a usage error (exit 2) before anything runs.
//! Leftover arguments are errors too.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use pico_args::Arguments;

use crate::config::{self, App, ENV_API_BASE, ENV_AUTH_BASE};
use crate::error::Error;
use crate::expiry;
use crate::secret::clean;
use crate::store::Location;

pub const VERSION: &str = concat!("tiktok-shop-auth ", env!("CARGO_PKG_VERSION"));

/// The top-level `--help`: the commands and the shared configuration from `flags`.
pub fn help() -> String {
    use crate::flags::*;
    let commands: String = COMMANDS.iter().map(|c| format!("    {:<12} {}\n", c.name, c.summary)).collect();
    let shared = [
        &APP_KEY,
        &APP_SECRET_FILE,
        &SERVICE_ID,
        &TOKEN_FILE,
        &ETCD_PASSWORD_FILE,
        &AUTHORIZE_URL,
        &AUTH_BASE,
        &API_BASE,
        &REDIRECT_URL,
        &VERBOSE,
    ];
    format!(
        "\
tiktok-shop-auth: get a TikTok Shop seller's OAuth tokens, keep them in a file, keep them fresh

USAGE:
    tiktok-shop-auth <COMMAND> [OPTIONS]

COMMANDS:
{commands}
OPTIONS:
    -h, --help       this text; `tiktok-shop-auth <COMMAND> --help` for a command
    -V, --version    the version

CONFIGURATION (flag, then environment variable, then default; each command's --help lists its own):
{}
EXIT STATUS:
    0 success   1 failed (network, TLS, HTTP, TikTok error, file)   2 usage or configuration error
    3 timed out waiting for the browser   4 the seller denied   5 a new login is needed
    exec: its command's own, 126 found but not runnable, 127 not found
    130, 143 Ctrl-C / SIGTERM during a token request: its answer was saved, then the run stopped
",
        table(&shared, MORE_ENVIRONMENT)
    )
}

/// A command's arguments, and the readers its `parse` takes them with. Every error is a
/// usage error that names the flag and points to the command's `--help`.
pub struct Args {
    inner: Arguments,
    command: String,
    /// `exec ... -- CMD ARGS`: what follows `--`, untouched by parsing.
    trailing: Vec<OsString>,
    /// The arguments as given (before `--`), to tell a repeated option from a misplaced one.
    given: Vec<OsString>,
}

/// What the command line asks for, before the command's own parsing.
pub enum Invocation {
    Help(String),
    Version,
    /// A command's name and its arguments; `--help` after the name is left to the caller.
    Command(Args),
}

/// Splits off the command name. Refuses the app secret as a value before anything else.
pub fn invocation(mut args: Vec<OsString>) -> Result<Invocation, Error> {
    let trailing = match args.iter().position(|a| a == "--") {
        Some(i) if args.first().is_some_and(|a| a == "exec") => args.split_off(i).split_off(1),
        _ => Vec::new(),
    };
    refuse_secret_values(&args)?;
    let given = args.clone();
    let mut inner = Arguments::from_vec(args);
    let command: Option<String> = inner.subcommand().map_err(|e| usage("", e))?;
    match command {
        None if inner.contains(["-V", "--version"]) => Ok(Invocation::Version),
        None if inner.contains(["-h", "--help"]) => Ok(Invocation::Help(help())),
        None => match inner.finish().first() {
            Some(first) => Err(Error::Usage(format!(
                "unknown option `{}` (options come after the command); try `tiktok-shop-auth --help`",
                clean(&first.to_string_lossy())
            ))),
            None => Err(Error::Usage("no command given; try `tiktok-shop-auth --help`".into())),
        },
        Some(command) => Ok(Invocation::Command(Args { inner, command, trailing, given })),
    }
}

impl Args {
    pub fn command(&self) -> &str {
        &self.command
    }

    /// `--help` (or `-h`) anywhere among the command's arguments.
    pub fn wants_help(&mut self) -> bool {
        self.inner.contains(["-h", "--help"])
    }

    /// Parses with the command's parser; then anything left over is an error. An option the
    /// command does not define is reported first, even when the parser stopped at something
    /// else: `--sigature` is a typo, not a missing `--signature`.
    pub fn parse<T>(mut self, parser: fn(&mut Args) -> Result<T, Error>) -> Result<T, Error> {
        // `-v/--verbose`, wherever the command defines it: read here, for the one HTTP path
        // to see (given twice is no error: it is a switch).
        if crate::flags::defines(&self.command, "--verbose") {
            while self.inner.contains(["-v", "--verbose"]) {
                crate::http::set_verbose();
            }
        }
        let parsed = parser(&mut self);
        self.leftover(parsed.is_ok())?;
        parsed
    }

    /// The error for what the parser left, if anything: an unknown option first, else (when
    /// the parse went well) the first leftover argument. Not generic: one copy, not one per
    /// command.
    fn leftover(self, parsed: bool) -> Result<(), Error> {
        let command = self.command;
        let rest: Vec<String> = self.inner.finish().iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let options: Vec<&String> = rest.iter().filter(|a| a.starts_with("--")).collect();
        let unknown = options.iter().find(|a| undefined(&command, a));
        // An option the command knows, left over and given more than once: the parser took
        // one. Said before whatever else the parser stopped at, as an unknown option is.
        let twice = options.iter().find(|a| self.given.iter().filter(|g| *g == a.as_str()).count() > 1);
        if let (None, Some(arg)) = (unknown, twice) {
            return Err(Error::Usage(format!(
                "`{}` is given more than once; `{command}` takes it once (see `tiktok-shop-auth {command} --help`)",
                clean(arg)
            )));
        }
        let Some(arg) = unknown.copied().or(rest.first().filter(|_| parsed)) else {
            return Ok(());
        };
        Err(unknown_option(&command, arg))
    }

    /// In debug builds (the tests): a flag read that the command's definition lacks is a
    /// bug, found at once rather than as a flag that `--help` and the completions never show.
    fn defined(&self, flag: &str) {
        debug_assert!(
            crate::flags::defines(&self.command, flag),
            "`{}` reads {flag}, which src/flags.rs does not define for it",
            self.command
        );
    }

    /// A switch, by its long name; its short one too when the definition gives one.
    pub fn flag(&mut self, long: &'static str) -> bool {
        self.defined(long);
        let short = crate::flags::command(&self.command)
            .and_then(|c| c.flags.iter().find(|f| f.long == long))
            .and_then(|f| f.short);
        match short {
            Some(short) => self.inner.contains([short, long]),
            None => self.inner.contains(long),
        }
    }

    pub fn string(&mut self, flag: &'static str) -> Result<Option<String>, Error> {
        self.defined(flag);
        self.inner.opt_value_from_str(flag).map_err(|e| usage(&self.command, e))
    }

    pub fn strings(&mut self, flag: &'static str) -> Result<Vec<String>, Error> {
        self.defined(flag);
        self.inner.values_from_str(flag).map_err(|e| usage(&self.command, e))
    }

    pub fn path(&mut self, flag: &'static str) -> Result<Option<PathBuf>, Error> {
        self.defined(flag);
        self.inner
            .opt_value_from_os_str(flag, |s| Ok::<_, std::convert::Infallible>(PathBuf::from(s)))
            .map_err(|e| usage(&self.command, e))
    }

    /// A duration such as `90s`, `30m`, `12h`, `2d` (a bare number is seconds).
    pub fn duration(&mut self, flag: &'static str) -> Result<Option<i64>, Error> {
        match self.string(flag)? {
            None => Ok(None),
            Some(text) => expiry::parse_duration(&text).map(Some).map_err(|e| Error::Usage(format!("{flag}: {e}"))),
        }
    }

    /// A duration, else `default` seconds.
    pub fn wait(&mut self, flag: &'static str, default: i64) -> Result<Duration, Error> {
        Ok(Duration::from_secs(self.duration(flag)?.unwrap_or(default).max(0) as u64))
    }

    /// A whole number within `range`, as the caller's type (which holds the whole range).
    pub fn number<T: TryFrom<i64>>(
        &mut self,
        flag: &'static str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<T>, Error> {
        let bad = || Error::Usage(format!("{flag} must be a whole number from {} to {}", range.start(), range.end()));
        match self.whole(flag, &range).map_err(|_| bad())? {
            Some(n) => T::try_from(n).map(Some).map_err(|_| bad()),
            None => Ok(None),
        }
    }

    /// `number`'s work, in one copy rather than one per type. A sign is refused where the
    /// range has no negative numbers (`-0` is no count of anything).
    fn whole(&mut self, flag: &'static str, range: &std::ops::RangeInclusive<i64>) -> Result<Option<i64>, ()> {
        let Some(text) = self.string(flag).map_err(|_| ())? else {
            return Ok(None);
        };
        let signed = text.starts_with('-') && *range.start() >= 0;
        match text.parse::<i64>() {
            Ok(n) if range.contains(&n) && !signed => Ok(Some(n)),
            _ => Err(()),
        }
    }

    /// `--port N`, 1 to 65535.
    pub fn port(&mut self) -> Result<Option<u16>, Error> {
        self.number("--port", 1..=65535)
    }

    /// A subcommand (`webhook verify`): the next argument, if it is not an option.
    pub fn subcommand(&mut self) -> Result<Option<String>, Error> {
        self.inner.subcommand().map_err(|e| usage(&self.command, e))
    }

    /// The next free argument, if any.
    pub fn free(&mut self) -> Result<Option<String>, Error> {
        let free: Option<String> = self.inner.opt_free_from_str().map_err(|e| usage(&self.command, e))?;
        // An option the command does not know, where an argument was expected (a typo):
        // said as an unknown option, with its "did you mean", not taken as a value.
        match free {
            Some(arg) if arg.starts_with("--") && arg.len() > 2 && undefined(&self.command, &arg) => {
                Err(unknown_option(&self.command, &arg))
            }
            free => Ok(free),
        }
    }

    /// What followed `--` (only `exec` has any).
    pub fn trailing(&mut self) -> Vec<OsString> {
        std::mem::take(&mut self.trailing)
    }

    /// The options every command that uses a seller's tokens shares, read once:
    /// `--app-key`, `--app-secret-file`, `--token-file` (or, with `Files::Many`, token
    /// locations as arguments), and `--lock-wait` where the command waits for a lock. With
    /// `Files::Many` it reads the free arguments, so it comes after the command's options.
    pub fn token_options(&mut self, lock_wait: Option<i64>, files: Files) -> Result<TokenOptions, Error> {
        let lock_wait = match lock_wait {
            Some(default) => self.wait("--lock-wait", default)?,
            None => Duration::ZERO,
        };
        // `copy` names its locations as arguments only.
        let flag = if crate::flags::defines(&self.command, "--token-file") { self.path("--token-file")? } else { None };
        // Options before free arguments: pico-args takes what is left as free.
        // `status` and `token` sign nothing: they take no app key or secret file.
        let signs = crate::flags::defines(&self.command, "--app-key");
        let app_key = if signs { self.string("--app-key")? } else { None };
        let secret_file = if signs { self.path("--app-secret-file")? } else { None };
        let password_file = self.path("--etcd-password-file")?;
        let files_allowed = files == Files::Many;
        let given = match files {
            Files::Many => self.files()?,
            Files::One => Vec::new(),
        };
        if let (Some(flag), false) = (&flag, given.is_empty()) {
            return Err(Error::Usage(format!(
                "{}: --token-file `{}` and token files as arguments were both given; pass one or the other",
                self.command,
                clean(&flag.display().to_string())
            )));
        }
        let with_password = |l: Location| l.with_password_file(password_file.clone());
        let location = with_password(Location::parse(config::token_file(flag).as_os_str())?);
        let mut files = Vec::new();
        for given in &given {
            let location = with_password(Location::parse(given.as_os_str())?);
            match location.is_prefix() {
                // Every seller under the prefix, as `tokens/*.json` is every file.
                true => files.extend(location.expand()?),
                false => files.push(location),
            }
        }
        // `--token-file etcd://h:2379/tiktok/` (or the variable) with a command that takes
        // many: every seller under it.
        if files.is_empty() && files_allowed && location.is_prefix() {
            files = location.expand()?;
            if files.is_empty() {
                return Err(Error::Usage(format!("no sellers under `{}` yet", location.shown())));
            }
        }
        Ok(TokenOptions { app_key, secret_file, location, files, lock_wait, password_file })
    }

    /// The free arguments (token files for `refresh tokens/*.json`, METHOD and PATH for
    /// `api`). Anything that looks like an option here is one this command does not know.
    pub fn files(&mut self) -> Result<Vec<PathBuf>, Error> {
        let mut files = Vec::new();
        while let Some(file) = self
            .inner
            .opt_free_from_os_str(|s| Ok::<_, std::convert::Infallible>(PathBuf::from(s)))
            .map_err(|e| usage(&self.command, e))?
        {
            if file.as_os_str().to_string_lossy().starts_with('-') {
                // An option the parser took once already, given again among the files.
                if self.given.iter().filter(|g| **g == *file.as_os_str()).count() > 1 {
                    return Err(Error::Usage(format!(
                        "`{}` is given more than once; `{}` takes it once (see `tiktok-shop-auth {} --help`)",
                        clean(&file.display().to_string()),
                        self.command,
                        self.command
                    )));
                }
                return Err(unknown_option(&self.command, &file.display().to_string()));
            }
            files.push(file);
        }
        Ok(files)
    }

    /// `--app-key` and `--app-secret-file` (or their variables): the app, required.
    pub fn app(&mut self) -> Result<App, Error> {
        let key = self.string("--app-key")?;
        let secret_file = self.path("--app-secret-file")?;
        config::app(key, secret_file)
    }

    /// `--auth-base`, else its variable, else TikTok's.
    pub fn auth_base(&mut self) -> Result<String, Error> {
        let value = self.string("--auth-base")?;
        config::base_url("--auth-base", ENV_AUTH_BASE, value, config::DEFAULT_AUTH_BASE)
    }

    /// `--api-base`, else its variable, else TikTok's.
    pub fn api_base(&mut self) -> Result<String, Error> {
        let value = self.string("--api-base")?;
        config::base_url("--api-base", ENV_API_BASE, value, config::DEFAULT_API_BASE)
    }
}

/// Whether a command takes token locations as arguments (`refresh tokens/*.json`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Files {
    One,
    Many,
}

/// The options every command that uses a seller's tokens shares (see `Args::token_options`).
pub struct TokenOptions {
    /// `--app-key` as given (its variable is read by `app`).
    pub app_key: Option<String>,
    pub secret_file: Option<PathBuf>,
    /// `--token-file`, else `TIKTOK_SHOP_TOKEN_FILE`, else the default.
    pub location: Location,
    /// Token locations given as arguments, when the command takes them.
    pub files: Vec<Location>,
    /// How long to wait for another run holding the lock.
    pub lock_wait: Duration,
    /// `--etcd-password-file`, for etcd locations.
    pub password_file: Option<PathBuf>,
}

impl TokenOptions {
    /// The app, required: a usage error naming the flag and variable when it is not there.
    pub fn app(&self) -> Result<App, Error> {
        config::app(self.app_key.clone(), self.secret_file.clone())
    }

    /// The app when its secret was given, else `None` (`exec` needs it only to refresh).
    pub fn app_if_given(&self) -> Result<Option<App>, Error> {
        let given =
            self.secret_file.is_some() || std::env::var_os(config::ENV_APP_SECRET).is_some_and(|v| !v.is_empty());
        if given { self.app().map(Some) } else { Ok(None) }
    }

    /// `--etcd-password-file`, for a location the command reads itself (`copy`).
    pub fn secret_file_for_etcd(&self) -> Option<PathBuf> {
        self.password_file.clone()
    }

    /// The app key, from the flag or its variable.
    pub fn app_key(&self) -> Option<String> {
        config::setting(self.app_key.clone(), config::ENV_APP_KEY)
    }
}

/// Whether `arg`, an option, is none that `command` defines (`--flag=value` never is).
fn undefined(command: &str, arg: &str) -> bool {
    arg.contains('=') || !crate::flags::defines(command, arg)
}

/// The error for an option `command` does not define; "did you mean" when one is near.
fn unknown_option(command: &str, arg: &str) -> Error {
    // `--flag=value`: the value may be a secret, so only the flag is shown.
    let (shown, hint) = match arg.split_once('=') {
        Some((flag, _)) => (format!("{flag}=…"), format!("; give its value after a space: `{flag} VALUE`")),
        None => match crate::flags::nearest(command, arg) {
            Some(near) if arg.starts_with("--") => (arg.to_string(), format!("; did you mean `{near}`?")),
            _ => (arg.to_string(), String::new()),
        },
    };
    unexpected(command, &shown, &hint)
}

/// The one wording of an argument `command` does not take, shown cleaned; `hint` goes
/// before the pointer to the command's `--help`.
pub fn unexpected(command: &str, arg: &str, hint: &str) -> Error {
    Error::Usage(format!(
        "unexpected argument `{}` for `{command}`{hint}; see `tiktok-shop-auth {command} --help`",
        clean(arg)
    ))
}

/// The app secret on the command line would show in `ps` and shell history: refuse it
/// before anything else, whatever the spelling, and never echo it.
fn refuse_secret_values(args: &[OsString]) -> Result<(), Error> {
    let refused = args.iter().any(|a| {
        let a = a.to_string_lossy();
        a == "--app-secret" || a.starts_with("--app-secret=") || a == "--secret" || a.starts_with("--secret=")
    });
    if refused {
        return Err(Error::Usage(format!(
            "the app secret is never taken as a command-line value (it would show in `ps` and shell history): \
             set {} or pass --app-secret-file PATH",
            config::ENV_APP_SECRET
        )));
    }
    Ok(())
}

fn usage(command: &str, e: pico_args::Error) -> Error {
    let see = if command.is_empty() {
        "tiktok-shop-auth --help".to_string()
    } else {
        format!("tiktok-shop-auth {command} --help")
    };
    Error::Usage(format!("{e}; see `{see}`"))
}
