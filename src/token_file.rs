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
//!   A temporary file is this file's only when its name is exactly
//!   `.<name>.<pid>.<random>.tmp`, so `acme` never touches `acme.us`'s; an answer is adopted
//!   only when it is a complete token response of the same seller (`open_id`) and newer.
//!   The directory is listed once per process and directory, so a fleet of N files costs
//!   N, not N².
//! - `Guard::renew` is the one refresh: it reads the file itself, under the lock, so a
//!   renewal from tokens read before the lock cannot be written.
//! - `Guard::reserve` is the only way to a `Reservation`: a newly created temporary file
//!   (`O_EXCL`, 0600) in the target's directory, already filled to the size the new file
//!   needs (twice the old one, 16 KiB at least), so a full disk is found before anything
//!   is spent.
//! - `Reservation::spend` hands the token call a `Room`, which the token endpoints in
//!   `tiktok` demand and nothing else can make: a code or refresh token can be spent only
//!   while the lock is held and the room is there. The answer goes into the reserved file
//!   the moment it is read (`Room::keep` lays it out there, so a run killed from then on
//!   leaves it to be adopted, and the save only has to flush and rename it). If the save
//!   still fails, the answer goes to `<name>.recovered-<unix time>` (0600) and the error
//!   names it; if that fails too, the reserved file is kept and named (the next run that
//!   can write there adopts it). Only an answer that exists nowhere is "sign in again"
//!   (exit 5): the only copy of a spent grant's answer is never deleted.
//!
//! A symbolic link at the token path (into a secrets volume, say) is kept: the file it
//! points to is what gets replaced. Dropping a reservation removes its temporary file,
//! unless it holds the only copy of an answer.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::expiry;
use crate::files::{MAX_FILE, create_new_private, kind_of, read_capped};
use crate::grant::{TokenResponse, Tokens};
use crate::json_text::pretty;
use crate::secret::{Secret, shown};

/// The least room reserved before a grant is spent.
const MIN_RESERVE: u64 = 16 * 1024;
/// Random bytes in a temporary file's name (8 characters of URL-safe base64).
const TEMP_RANDOM_BYTES: usize = 6;
const TEMP_RANDOM_CHARS: usize = 8;

/// One file on disk, whatever path names it: device and inode where there are such.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    Path(PathBuf),
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
        let usage = |why: &str| {
            Error::Usage(format!(
                "the token file `{}` {why} (--token-file / TIKTOK_SHOP_TOKEN_FILE, or the FILE argument)",
                shown(path)
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
                return Err(usage(&format!("is {}, not a regular file: give the name of a file", kind_of(&meta))));
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

    /// Which file this is, so that two names for one file count once.
    pub fn id(&self) -> FileId {
        #[cfg(unix)]
        if let Ok(meta) = fs::metadata(&self.target) {
            use std::os::unix::fs::MetadataExt;
            return FileId::Inode(meta.dev(), meta.ino());
        }
        let dir = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        FileId::Path(dir.join(&self.name))
    }

    /// Where the lock lives: beside the file the path finally names.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    /// The seller's shop list, cached beside the file the path finally names. A dot-file,
    /// so that no glob written for token files (`tokens/*.json`) matches it.
    pub fn shop_cache_path(&self) -> PathBuf {
        let cache = self.dir.join(format!(".{}.shops", self.name));
        // Where earlier versions kept it: moved on first use.
        let old = self.dir.join(format!("{}.shops.json", self.name));
        if !cache.exists() && fs::symlink_metadata(&old).is_ok_and(|m| m.is_file()) {
            let _ = fs::rename(&old, &cache);
        }
        cache
    }

    /// The file as saved, with the newer answer a dead run left beside it taken into
    /// account: adopted under the lock when the lock is free, else used as it is. For the
    /// commands that only read (`status`, `token`, `api`, `exec`, `shops`).
    pub fn read(&self) -> Result<TokenResponse, Error> {
        let saved = self.read_as_saved();
        if self.leftovers().is_empty() {
            return saved;
        }
        if let Ok(guard) = self.lock(Duration::ZERO) {
            return guard.read();
        }
        // Another run holds the lock (or it cannot be made here): a complete, newer answer
        // of the same seller is the truth all the same.
        match (&saved, self.newest_leftover(saved.as_ref().ok())) {
            (_, Some((_, bytes))) => TokenResponse::parse(&bytes).map_err(|why| self.corrupt(why)),
            _ => saved,
        }
    }

    /// Reads and parses the file (capped at 1 MiB), as it is on disk. A missing file means
    /// a login is needed (exit 5); a file that is not a token response is reported with its
    /// path and never overwritten.
    pub fn read_as_saved(&self) -> Result<TokenResponse, Error> {
        let bytes = match read_capped(&self.target) {
            Ok(Some(b)) => b,
            Ok(None) => return Err(self.corrupt(format!("is larger than {} KiB", MAX_FILE / 1024))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::NeedLogin(format!(
                    "no token file at `{}`: run `tiktok-shop-auth login` first (or pass --token-file / set TIKTOK_SHOP_TOKEN_FILE)",
                    shown(&self.path)
                )));
            }
            Err(e) => return Err(Error::file("read the token file", &self.path, e)),
        };
        TokenResponse::parse(&bytes).map_err(|why| self.corrupt(why))
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
                        shown(&lock_path),
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
        let random = crate::secret::random_urlsafe(TEMP_RANDOM_BYTES)
            .map_err(|e| Error::Local(format!("the operating system's random source failed: {e}")))?;
        Ok(self.dir.join(format!(".{}.{}.{random}.tmp", self.name, std::process::id())))
    }

    /// Exactly `.<name>.<pid>.<random>.tmp`: `acme`'s never include `.acme.us.<pid>.<random>.tmp`.
    fn is_temp_name(&self, file_name: &str) -> bool {
        let Some(rest) = file_name
            .strip_prefix('.')
            .and_then(|r| r.strip_prefix(self.name.as_str()))
            .and_then(|r| r.strip_prefix('.'))
        else {
            return false;
        };
        let Some((pid, random)) = rest.strip_suffix(".tmp").and_then(|r| r.split_once('.')) else { return false };
        !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && random.len() == TEMP_RANDOM_CHARS
            && random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    }

    /// This file's temporary files that were there when this process first looked.
    fn leftovers(&self) -> Vec<PathBuf> {
        temp_names_in(&self.dir)
            .iter()
            .filter(|n| self.is_temp_name(n))
            .map(|n| self.dir.join(n))
            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
            .collect()
    }

    /// The newest leftover that is a complete token response of the file's seller and newer
    /// than `saved` (any complete one when there is no readable file).
    fn newest_leftover(&self, saved: Option<&TokenResponse>) -> Option<(PathBuf, Vec<u8>)> {
        let modified = |p: &Path| fs::metadata(p).and_then(|m| m.modified()).ok();
        let current_modified = modified(&self.target);
        let mut best: Option<(Tokens, Option<std::time::SystemTime>, PathBuf, Vec<u8>)> = None;
        for path in self.leftovers() {
            let Some(bytes) = read_capped(&path).ok().flatten() else { continue };
            let Ok(found) = TokenResponse::parse(&bytes) else { continue };
            let at = modified(&path);
            let fits = match saved {
                Some(current) => {
                    found.open_id() == current.open_id()
                        && found.tokens.is_newer_than(&current.tokens, at >= current_modified)
                }
                None => true,
            };
            if fits && best.as_ref().is_none_or(|(b, b_at, _, _)| found.tokens.is_newer_than(b, at > *b_at)) {
                best = Some((found.tokens, at, path, bytes));
            }
        }
        best.map(|(_, _, path, bytes)| (path, bytes))
    }

    /// After a save failed with the grant spent: the answer to `<name>.recovered-<time>`
    /// beside the target (else beside the path as given); else the reserved file that
    /// holds it, kept; else the plain truth.
    fn recover_or_lose(&self, body: &[u8], cause: Error, kept: Option<&Path>) -> Error {
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
        if let Some(kept) = kept {
            return Error::Kept {
                cause: format!("{cause}; a recovery file could not be written either ({why})"),
                kept: kept.to_path_buf(),
            };
        }
        Error::NeedLogin(format!(
            "{cause}; writing the answer to a recovery file failed too ({why}), and it is nowhere else on disk: \
             the grant was spent and the new tokens are lost, so the seller must sign in again with `tiktok-shop-auth login`"
        ))
    }
}

/// The names in `dir` that could be a temporary file of some token file, listed once per
/// process and directory: a fleet of N files in one directory lists it once, not N times.
/// (Temporary files are made under their file's lock, so one seen here and gone by the time
/// its lock is held was a live run's; one made after the listing is found by the next run.)
fn temp_names_in(dir: &Path) -> Arc<Vec<String>> {
    static LISTINGS: Mutex<Option<HashMap<PathBuf, Arc<Vec<String>>>>> = Mutex::new(None);
    let list = || {
        let names = fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with('.') && n.ends_with(".tmp"))
                    .collect()
            })
            .unwrap_or_default();
        Arc::new(names)
    };
    let Ok(mut listings) = LISTINGS.lock() else { return list() };
    listings.get_or_insert_with(HashMap::new).entry(dir.to_path_buf()).or_insert_with(list).clone()
}

/// The token file's lock, held: the only way to read-for-update, to reserve room and to
/// renew.
pub struct Guard<'a> {
    file: &'a TokenFile,
    _lock: File,
}

impl Guard<'_> {
    /// The file as it is now that no one else can change it.
    pub fn read(&self) -> Result<TokenResponse, Error> {
        self.file.read_as_saved()
    }

    /// The path as the user gave it, for messages.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Spends the refresh token the file holds now (read here, under the lock, never
    /// handed in) through `call` (the token endpoint), with the room reserved, and saves
    /// the answer: the one way every command refreshes. An expired refresh token is exit 5
    /// before anything is sent.
    pub fn renew(
        &self,
        call: impl FnOnce(&Secret, &Room) -> Result<TokenResponse, Error>,
    ) -> Result<TokenResponse, Error> {
        let saved = self.read()?;
        saved.tokens.check_refresh(self.file.path(), expiry::now())?;
        self.reserve()?.spend(|room| call(&saved.tokens.refresh_token, room))
    }

    /// A new temporary file beside the target, filled to the size the answer will need.
    pub fn reserve(&self) -> Result<Reservation<'_>, Error> {
        let old = fs::metadata(&self.file.target).map(|m| m.len()).unwrap_or(0);
        let size = old.saturating_mul(2).max(MIN_RESERVE);
        let temp = self.file.temp_path()?;
        let path = &self.file.path;
        let file =
            create_new_private(&temp).map_err(|e| Error::file("create a new file beside the token file", path, e))?;
        let mut reservation = Reservation { file: self.file, temp, handle: file, done: false };
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

    /// This file's temporary files can only be dead runs' (they are made under this lock):
    /// adopt the newest complete answer of the same seller that is newer than the file (a
    /// run killed between answer and rename, or one whose save failed), and remove the
    /// rest, except a complete answer of another seller, which is not this file's to delete.
    fn clear_leftovers(&self) {
        let leftovers = self.file.leftovers();
        if leftovers.is_empty() {
            return;
        }
        let saved = self.file.read_as_saved().ok();
        let best = self.file.newest_leftover(saved.as_ref());
        for path in &leftovers {
            if best.as_ref().is_some_and(|(b, _)| b == path) {
                continue;
            }
            let other_seller = read_capped(path)
                .ok()
                .flatten()
                .and_then(|b| TokenResponse::parse(&b).ok())
                .is_some_and(|other| saved.as_ref().is_some_and(|current| other.open_id() != current.open_id()));
            if other_seller {
                noteln!(
                    "tiktok-shop-auth: warning: `{}` holds another seller's tokens than `{}`; it was left where it is",
                    shown(path),
                    shown(&self.file.path)
                );
            } else {
                let _ = fs::remove_file(path);
            }
        }
        let Some((path, bytes)) = best else { return };
        match self.reserve().and_then(|r| r.install(&bytes)) {
            Ok(()) => {
                let _ = fs::remove_file(&path);
                noteln!(
                    "tiktok-shop-auth: `{}` now holds the newer tokens that an interrupted earlier run had written but not yet moved into place",
                    shown(&self.file.path)
                );
            }
            Err(e) => noteln!(
                "tiktok-shop-auth: warning: an interrupted earlier run left newer tokens in `{}`, which could not be moved into place: {e}",
                shown(&path)
            ),
        }
    }
}

/// Proof, for the token endpoints, that their answer has somewhere to go: only
/// `Reservation::spend` makes one. The answer is laid out in the reserved file the moment
/// it arrives (`keep`), so the save only flushes and renames it.
pub struct Room<'a> {
    file: &'a File,
    /// The length of the answer laid out in the file, once `keep` has written it.
    kept: Cell<Option<u64>>,
}

impl Room<'_> {
    /// Writes an answer, as received and pretty-printed, into the reserved file at once:
    /// from then on a run killed before the rename leaves it for the next run to adopt (the
    /// reserve's trailing spaces keep it valid JSON). Returns whether it is there.
    pub fn keep(&self, answer: &[u8]) -> bool {
        self.kept.set(lay_out(self.file, answer).ok());
        self.kept.get().is_some()
    }
}

/// Writes `answer`, pretty-printed, at the start of `file` and flushes its data; returns
/// the length laid out (the rest of the file is still the reserve's spaces).
fn lay_out(mut file: &File, answer: &[u8]) -> io::Result<u64> {
    let text = pretty(answer);
    file.seek(SeekFrom::Start(0))?;
    file.write_all(&text)?;
    file.sync_data()?;
    Ok(text.len() as u64)
}

/// Room reserved beside the token file, under its lock.
pub struct Reservation<'a> {
    file: &'a TokenFile,
    temp: PathBuf,
    handle: File,
    /// Renamed into place, or kept as the only copy of an answer: not to be removed.
    done: bool,
}

impl Reservation<'_> {
    /// Spends a grant (`call` is the token request) and saves its answer. On a failed save
    /// the answer goes to a recovery file, else stays in the reserved file; the error
    /// names whichever holds it.
    pub fn spend(mut self, call: impl FnOnce(&Room) -> Result<TokenResponse, Error>) -> Result<TokenResponse, Error> {
        let room = Room { file: &self.handle, kept: Cell::new(None) };
        let answer = call(&room)?;
        let kept = room.kept.get();
        let result = match kept {
            Some(len) => self.finish(len),
            None => self.save(&answer.bytes),
        };
        match result {
            Ok(()) => Ok(answer),
            Err(e) => {
                let kept = self.holds(&answer);
                let error = self.file.recover_or_lose(&answer.bytes, e, kept.then_some(self.temp.as_path()));
                // The only copy stays; a recovery file is a copy, so then this one goes.
                self.done = matches!(error, Error::Kept { .. });
                Err(error)
            }
        }
    }

    /// Installs a token response that was already had (a recovery file, a leftover).
    pub fn install(mut self, json: &[u8]) -> Result<(), Error> {
        self.save(json)
    }

    fn save(&mut self, json: &[u8]) -> Result<(), Error> {
        let len = lay_out(&self.handle, json)
            .map_err(|e| Error::file("write the new token file beside", &self.file.path, e))?;
        self.finish(len)
    }

    /// The answer is laid out in the first `len` bytes: cut the rest, flush, rename.
    fn finish(&mut self, len: u64) -> Result<(), Error> {
        let handle = &mut self.handle;
        let written = handle.set_len(len).and_then(|()| handle.sync_all());
        written.map_err(|e| Error::file("write the new token file beside", &self.file.path, e))?;
        fs::rename(&self.temp, &self.file.target)
            .map_err(|e| Error::file("replace the token file", &self.file.target, e))?;
        self.done = true;
        sync_dir(&self.file.dir);
        Ok(())
    }

    /// Whether the reserved file, read back by its name, holds `answer` whole.
    fn holds(&self, answer: &TokenResponse) -> bool {
        read_capped(&self.temp)
            .ok()
            .flatten()
            .and_then(|b| TokenResponse::parse(&b).ok())
            .is_some_and(|kept| kept.tokens.same_as(&answer.tokens))
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.temp);
        }
    }
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
