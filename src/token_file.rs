//! The token file: read it, lock it, replace it without ever losing a token.
//!
//! The promise is "lock → check room → spend → save", and it is kept by types, not by
//! each command remembering the order:
//!
//! - `TokenFile::new` checks the path (a regular file, a link to one, or nothing yet;
//!   never empty, a directory, a device or a FIFO) and follows links once, so every path
//!   to one file shares one lock: `<the file the path finally names>.lock`.
//! - `TokenFile::lock` is the only way to a `Guard`; the guard removes what dead earlier
//!   runs left behind (and adopts a complete answer one of them wrote but never renamed).
//! - `Guard::reserve` is the only way to a `Reservation`: a newly created temporary file
//!   (`O_EXCL`, 0600) in the target's directory, already filled to the size the new file
//!   needs (twice the old one, 16 KiB at least), so a full disk is found before anything
//!   is spent.
//! - `Reservation::spend` hands the token call a `Room`, which the token endpoints in
//!   `tiktok` demand and nothing else can make: a code or refresh token can be spent only
//!   while the lock is held and the room is there. The answer goes into the reserved file
//!   the moment it is read (`Room::keep`, so a run killed from then on leaves it to be
//!   adopted), then is laid out, flushed, renamed over the target, and the directory flushed. If that
//!   still fails, the answer goes to `<name>.recovered-<unix time>` (0600) and the error
//!   names it; if even that fails, the error says plainly that the seller must sign in
//!   again (exit 5).
//!
//! A symbolic link at the token path (into a secrets volume, say) is kept: the file it
//! points to is what gets replaced. Dropping a reservation removes its temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;
use crate::expiry;
use crate::json_text::pretty;
use crate::secret::Secret;
use crate::tiktok::TokenAnswer;

/// The largest token file (or recovery file) the tool reads.
pub const MAX_FILE: u64 = 1024 * 1024;
/// The least room reserved before a grant is spent.
const MIN_RESERVE: u64 = 16 * 1024;

/// The parts of a token response the tool itself uses.
#[derive(Debug)]
pub struct Tokens {
    pub access_token: Secret,
    pub access_expires_at: i64,
    pub refresh_token: Secret,
    pub refresh_expires_at: i64,
}

impl Tokens {
    /// Reads the fields from a token response; the error names the first missing field.
    pub fn from_response(value: &Value) -> Result<Tokens, String> {
        let data = value.get("data").unwrap_or(&Value::Null);
        let text = |name: &str| {
            data.get(name)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(Secret::new)
                .ok_or(format!("lacks data.{name}"))
        };
        let time = |name: &str| data.get(name).and_then(Value::as_i64).ok_or(format!("lacks a numeric data.{name}"));
        Ok(Tokens {
            refresh_token: text("refresh_token")?,
            access_token: text("access_token")?,
            access_expires_at: time("access_token_expire_in")?,
            refresh_expires_at: time("refresh_token_expire_in")?,
        })
    }

    /// `Ok` while the access token is valid (with the skew margin); else "run refresh".
    pub fn check_access(&self, path: &Path, now: i64) -> Result<(), Error> {
        if expiry::is_valid(self.access_expires_at, now) {
            return Ok(());
        }
        Err(Error::NeedLogin(format!(
            "the access token in `{}` expired {}, counting {} s for clock skew: run `tiktok-shop-auth refresh`",
            path.display(),
            expiry::describe(self.access_expires_at, now),
            expiry::SKEW_MARGIN
        )))
    }

    /// `Ok` while the refresh token can still be used; else "run login".
    pub fn check_refresh(&self, path: &Path, now: i64) -> Result<(), Error> {
        if expiry::is_valid(self.refresh_expires_at, now) {
            return Ok(());
        }
        Err(Error::NeedLogin(format!(
            "the refresh token in `{}` expired {}: run `tiktok-shop-auth login`",
            path.display(),
            expiry::describe(self.refresh_expires_at, now)
        )))
    }
}

/// A checked token path and the file it finally names.
#[derive(Debug)]
pub struct TokenFile {
    /// As the user gave it, for messages.
    path: PathBuf,
    /// Links followed: what is locked, read and replaced.
    target: PathBuf,
    dir: PathBuf,
    name: String,
}

impl TokenFile {
    /// Checks the path before anything is spent: empty, trailing-slash, directory, device
    /// and FIFO paths are usage errors (exit 2).
    pub fn new(path: &Path) -> Result<TokenFile, Error> {
        let shown = path.display();
        let usage = |why: &str| {
            Error::Usage(format!(
                "the token file `{shown}` {why} (--token-file / TIKTOK_SHOP_TOKEN_FILE, or the FILE argument)"
            ))
        };
        if path.as_os_str().is_empty() {
            return Err(Error::Usage(
                "the token file path is empty: set --token-file / TIKTOK_SHOP_TOKEN_FILE to a file name".into(),
            ));
        }
        let text = path.as_os_str().to_string_lossy();
        if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
            return Err(usage("ends with a slash: give the name of a file, such as tokens/seller.json"));
        }
        let target = resolve_links(path).map_err(|e| Error::file("follow the symbolic link", path, e))?;
        match fs::metadata(&target) {
            Ok(meta) if meta.is_dir() => return Err(usage("is a directory: give the name of a file in it")),
            Ok(meta) if !meta.is_file() => {
                return Err(usage("is not a regular file (a device, FIFO or socket): give the name of a file"));
            }
            _ => {}
        }
        let Some(name) = target.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            return Err(usage("does not name a file"));
        };
        let dir = match target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(TokenFile { path: path.to_path_buf(), target, dir, name })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where the lock lives: beside the file the path finally names.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    /// Reads and parses the file (capped at 1 MiB). A missing file means a login is needed
    /// (exit 5); a file that is not a token response is reported with its path and never
    /// overwritten.
    pub fn read(&self) -> Result<(Value, Tokens), Error> {
        let bytes = match read_capped(&self.target) {
            Ok(Some(b)) => b,
            Ok(None) => return Err(self.corrupt(format!("is larger than {} KiB", MAX_FILE / 1024))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NeedLogin(format!(
                    "no token file at `{}`: run `tiktok-shop-auth login` first (or pass --token-file / set TIKTOK_SHOP_TOKEN_FILE)",
                    self.path.display()
                )));
            }
            Err(e) => return Err(Error::file("read the token file", &self.path, e)),
        };
        parse_response(&bytes).map_err(|why| self.corrupt(why))
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::CorruptTokenFile { path: self.path.clone(), reason }
    }

    /// Takes the lock, waiting up to `wait` for another holder to finish.
    pub fn lock(&self, wait: Duration) -> Result<Guard<'_>, Error> {
        create_private_dirs(&self.dir).map_err(|e| Error::file("create the directory", &self.dir, e))?;
        let lock_path = self.lock_path();
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&lock_path).map_err(|e| Error::file("open the lock file", &lock_path, e))?;
        let deadline = Instant::now() + wait;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::Local(format!(
                        "another tiktok-shop-auth has held the lock `{}` for over {} s, so nothing was spent; \
                         try again, raise --lock-wait, or if no such process is running check the file system supports locks",
                        lock_path.display(),
                        wait.as_secs()
                    )));
                }
                Err(fs::TryLockError::Error(e)) => return Err(Error::file("lock", &lock_path, e)),
            }
        }
        let guard = Guard { file: self, _lock: file };
        guard.clear_leftovers();
        Ok(guard)
    }

    /// Proves, before a seller is sent anywhere, that the answer could be saved: takes the
    /// lock, reserves the room, and lets both go.
    pub fn check_room(&self, wait: Duration) -> Result<(), Error> {
        self.lock(wait)?.reserve().map(drop)
    }

    fn temp_path(&self) -> Result<PathBuf, Error> {
        let unique = format!("{}.{}", std::process::id(), crate::secret::random_urlsafe(6)?);
        Ok(self.dir.join(format!(".{}.{unique}.tmp", self.name)))
    }

    fn is_temp_name(&self, file_name: &str) -> bool {
        file_name.strip_prefix(&format!(".{}.", self.name)).is_some_and(|rest| rest.ends_with(".tmp"))
    }

    /// After a save failed with the grant spent: the answer to `<name>.recovered-<time>`
    /// beside the target (else beside the path as given), or the plain truth.
    fn recover_or_lose(&self, body: &[u8], cause: Error) -> Error {
        let text = pretty(body);
        let stamp = expiry::now();
        let mut dirs = vec![(self.dir.clone(), self.name.clone())];
        if let (Some(parent), Some(name)) = (self.path.parent(), self.path.file_name()) {
            let parent = if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() };
            dirs.push((parent, name.to_string_lossy().into_owned()));
        }
        let mut last = None;
        for (dir, name) in dirs {
            let recovery = dir.join(format!("{name}.recovered-{stamp}"));
            match create_new_private(&recovery) {
                Ok(mut file) => match file.write_all(&text).and_then(|()| file.sync_all()) {
                    Ok(()) => {
                        sync_dir(&dir);
                        return Error::Unsaved { cause: cause.to_string(), recovery };
                    }
                    Err(e) => {
                        let _ = fs::remove_file(&recovery);
                        last = Some(e);
                    }
                },
                Err(e) => last = Some(e),
            }
        }
        let why = last.map(|e| e.to_string()).unwrap_or_default();
        Error::NeedLogin(format!(
            "{cause}; writing the answer to a recovery file failed too ({why}): the grant was spent and the new tokens \
             are lost, so the seller must sign in again with `tiktok-shop-auth login`"
        ))
    }
}

/// The token file's lock, held: the only way to read-for-update and to reserve room.
pub struct Guard<'a> {
    file: &'a TokenFile,
    _lock: File,
}

impl Guard<'_> {
    /// The file as it is now that no one else can change it.
    pub fn read(&self) -> Result<(Value, Tokens), Error> {
        self.file.read()
    }

    /// A new temporary file beside the target, filled to the size the answer will need.
    pub fn reserve(&self) -> Result<Reservation<'_>, Error> {
        let old = fs::metadata(&self.file.target).map(|m| m.len()).unwrap_or(0);
        let size = old.saturating_mul(2).max(MIN_RESERVE);
        let temp = self.file.temp_path()?;
        let path = &self.file.path;
        let file =
            create_new_private(&temp).map_err(|e| Error::file("create a new file beside the token file", path, e))?;
        let mut reservation = Reservation { file: self.file, temp, handle: file, saved: false };
        // Spaces: a run killed before the final truncation still leaves valid JSON.
        let chunk = [b' '; 4096];
        let mut left = size;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            reservation
                .handle
                .write_all(&chunk[..n])
                .map_err(|e| Error::file("reserve room (nothing was spent) for the new token file beside", path, e))?;
            left -= n as u64;
        }
        Ok(reservation)
    }

    /// Temporary files beside the target can only be a dead run's (they are made under
    /// this lock): remove them, but adopt the newest one that holds a complete token
    /// response newer than the token file (a run killed between write and rename).
    fn clear_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.file.dir) else { return };
        let current = fs::metadata(&self.file.target).and_then(|m| m.modified()).ok();
        // Read only when a leftover needs comparing: most locks find none.
        let mut current_ok = None;
        let mut best: Option<(std::time::SystemTime, PathBuf, Vec<u8>)> = None;
        for entry in entries.flatten() {
            if !self.file.is_temp_name(&entry.file_name().to_string_lossy()) {
                continue;
            }
            let path = entry.path();
            let Ok(meta) = fs::symlink_metadata(&path) else { continue };
            if !meta.is_file() {
                continue;
            }
            let modified = meta.modified().ok();
            let complete = read_capped(&path).ok().flatten().filter(|b| parse_response(b).is_ok());
            let newer = complete.is_some()
                && (modified.is_some() && modified >= current
                    || !*current_ok.get_or_insert_with(|| self.file.read().is_ok()));
            match (complete, modified) {
                (Some(bytes), Some(at)) if newer && best.as_ref().is_none_or(|(b, _, _)| at > *b) => {
                    if let Some((_, older, _)) = best.replace((at, path, bytes)) {
                        let _ = fs::remove_file(older);
                    }
                }
                _ => {
                    let _ = fs::remove_file(&path);
                }
            }
        }
        let Some((_, path, bytes)) = best else { return };
        match self.reserve().and_then(|r| r.install(&bytes)) {
            Ok(_) => {
                let _ = fs::remove_file(&path);
                noteln!(
                    "tiktok-shop-auth: `{}` now holds the newer tokens that an interrupted earlier run had written but not yet moved into place",
                    self.file.path.display()
                );
            }
            Err(e) => noteln!(
                "tiktok-shop-auth: warning: an interrupted earlier run left newer tokens in `{}`, which could not be moved into place: {e}",
                path.display()
            ),
        }
    }
}

/// Proof, for the token endpoints, that their answer has somewhere to go: only
/// `Reservation::spend` makes one. It also lets the answer be kept the moment it arrives.
pub struct Room<'a>(&'a File);

impl Room<'_> {
    /// Writes an answer, as received, into the reserved file at once: from then on a run
    /// killed before the save leaves it for the next run to adopt (the reserve's trailing
    /// spaces keep it valid JSON). Best effort: the save that follows writes it properly.
    pub fn keep(&self, answer: &[u8]) {
        let mut file = self.0;
        let _ = file.seek(SeekFrom::Start(0)).and_then(|_| file.write_all(answer));
    }
}

/// Room reserved beside the token file, under its lock.
pub struct Reservation<'a> {
    file: &'a TokenFile,
    temp: PathBuf,
    handle: File,
    saved: bool,
}

impl Reservation<'_> {
    /// Spends a grant (`call` is the token request) and saves its answer; on a failed save
    /// the answer goes to a recovery file, and the error names it.
    pub fn spend(mut self, call: impl FnOnce(&Room) -> Result<TokenAnswer, Error>) -> Result<TokenAnswer, Error> {
        let answer = call(&Room(&self.handle))?;
        match self.save(&answer.body) {
            Ok(()) => Ok(answer),
            Err(e) => Err(self.file.recover_or_lose(&answer.body, e)),
        }
    }

    /// Installs a token response that was already had (a recovery file, a leftover).
    pub fn install(mut self, json: &[u8]) -> Result<(), Error> {
        self.save(json)
    }

    fn save(&mut self, json: &[u8]) -> Result<(), Error> {
        let text = pretty(json);
        let handle = &mut self.handle;
        let written = handle
            .seek(SeekFrom::Start(0))
            .and_then(|_| handle.write_all(&text))
            .and_then(|()| handle.set_len(text.len() as u64))
            .and_then(|()| handle.sync_all());
        written.map_err(|e| Error::file("write the new token file beside", &self.file.path, e))?;
        fs::rename(&self.temp, &self.file.target)
            .map_err(|e| Error::file("replace the token file", &self.file.target, e))?;
        self.saved = true;
        sync_dir(&self.file.dir);
        Ok(())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.saved {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// The whole file, or `None` when it is larger than `MAX_FILE`.
pub fn read_capped(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = Vec::new();
    File::open(path)?.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_FILE).then_some(bytes))
}

/// Parses a token response; the error says what is wrong with it.
pub fn parse_response(bytes: &[u8]) -> Result<(Value, Tokens), String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("is empty".into());
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("is not valid JSON ({e})"))?;
    let tokens =
        Tokens::from_response(&value).map_err(|why| format!("is not a TikTok Shop token response: it {why}"))?;
    Ok((value, tokens))
}

fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Follows symbolic links to the file they finally name (which need not exist yet).
fn resolve_links(path: &Path) -> io::Result<PathBuf> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&current) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&current)?;
                current = match current.parent() {
                    Some(parent) if target.is_relative() => parent.join(target),
                    _ => target,
                };
            }
            _ => return Ok(current),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

fn create_private_dirs(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Makes the rename itself durable. Best effort: not every platform can open a directory.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
