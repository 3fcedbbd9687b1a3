//! The directory of files: one seller's tokens in one file, and what sits beside it.
//!
//! Naming rules, all beside the file the path finally names (links followed once, so every
//! path to one file shares them): the lock `<name>.lock`; the login lock
//! `.<name>.login.lock`; the reserved file `.<name>.tmp` (fixed: only the lock holder ever
//! makes it, so finding it needs no directory listing and no pid or random part, and
//! `acme` can never claim `acme.us`'s); recovery files `<name>.recovered-<unix time>`, also
//! beside the link when the path is one; the shop cache `.<name>.shops`. Dot-files, so no
//! glob written for token files (`tokens/*.json`) matches them.
//!
//! Writes: the reserved file is created `O_EXCL` (0600) and filled with spaces (a full disk
//! is found before anything is spent), the answer laid out at its start with one positioned
//! write and flushed, cut to length, flushed, renamed over the file, the directory flushed
//! (a failure there is a warning: the tokens are in place but a power loss could undo it).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{Cache, Held, HomeId, Kept, KeptRef, Place, Slot, Stamp};
use crate::error::Error;
use crate::expiry;
use crate::files::{MAX_FILE, create_new_private, kind_of, read_capped};
use crate::json_text::pretty;
use crate::secret::shown;
use crate::token_response::TokenResponse;

/// The least room reserved before a grant is spent.
const MIN_RESERVE: u64 = 16 * 1024;

/// A checked token path and the file it finally names.
#[derive(Debug)]
pub struct FileHome {
    /// As the user gave it, for messages.
    path: PathBuf,
    /// Links followed: what is locked, read and replaced.
    target: PathBuf,
    dir: PathBuf,
    name: String,
}

impl FileHome {
    /// Checks the path before anything is spent: empty, trailing-slash, directory, device
    /// and FIFO paths are usage errors (exit 2).
    pub fn new(path: &Path) -> Result<FileHome, Error> {
        let home = FileHome::any(path)?;
        if let Some(kind) = side_file(&home.name) {
            return Err(Error::Usage(format!(
                "the token file `{}` has the name of {kind} that the tool keeps beside a token file; give the token \
                 file itself (--token-file / TIKTOK_SHOP_TOKEN_FILE, or the FILE argument)",
                shown(path)
            )));
        }
        Ok(home)
    }

    /// `new` for any regular file (or none yet), side files too (`login --recover FILE`).
    pub fn any(path: &Path) -> Result<FileHome, Error> {
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
        Ok(FileHome { path: path.to_path_buf(), target, dir, name })
    }

    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.name))
    }

    fn login_lock_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.login.lock", self.name))
    }

    fn reserved_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.tmp", self.name))
    }

    fn stamp_of(path: &Path) -> Stamp {
        let at = fs::symlink_metadata(path).and_then(|m| m.modified()).ok();
        Stamp(at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos()))
    }

    /// The recovery files beside the file, in the target's directory and (when the path is
    /// a link) beside the link: exactly `<name>.recovered-<digits>`. Listed only when the
    /// reserved file says something was kept, or a refresh token was refused: std panics
    /// when closing a directory fails, so a listed directory's handle is never closed (one
    /// handle a listing, in runs that already met a failure).
    fn recovery_files(&self) -> Result<Vec<PathBuf>, Error> {
        let mut found = Vec::new();
        for (dir, name) in self.recovery_places() {
            let entries = match fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(Error::file("list (for kept answers) the directory", &dir, e)),
            };
            // Never dropped, so never closed (entries share it; this reference outlives them).
            let mut entries = std::mem::ManuallyDrop::new(entries);
            for entry in entries.by_ref() {
                let entry = entry.map_err(|e| Error::file("list (for kept answers) the directory", &dir, e))?;
                let file_name = entry.file_name().to_string_lossy().into_owned();
                let is_ours = file_name
                    .strip_prefix(name.as_str())
                    .and_then(|r| r.strip_prefix(".recovered-"))
                    .is_some_and(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
                let path = dir.join(&file_name);
                if is_ours && !found.contains(&path) {
                    found.push(path);
                }
            }
        }
        Ok(found)
    }

    /// Where a recovery file goes: beside the target, else beside the path as given.
    fn recovery_places(&self) -> Vec<(PathBuf, String)> {
        let mut places = vec![(self.dir.clone(), self.name.clone())];
        if let (Some(parent), Some(name)) = (self.path.parent(), self.path.file_name()) {
            let parent = if parent.as_os_str().is_empty() { PathBuf::from(".") } else { parent.to_path_buf() };
            let place = (parent, name.to_string_lossy().into_owned());
            if fs::canonicalize(&place.0).ok() != fs::canonicalize(&self.dir).ok() || place.1 != self.name {
                places.push(place);
            }
        }
        places
    }

    /// Writes `body` (an answer) to a new `<name>.recovered-<unix time>`, flushed; the
    /// first place that takes it, else the last error.
    fn write_recovery(&self, body: &[u8]) -> Result<PathBuf, io::Error> {
        let text = pretty(body);
        let mut last = io::Error::other("no place for a recovery file");
        for (dir, name) in self.recovery_places() {
            // A name taken (two failures within a second) is no reason to lose an answer.
            let mut stamp = expiry::now();
            let mut made = create_new_private(&dir.join(format!("{name}.recovered-{stamp}")));
            while matches!(&made, Err(e) if e.kind() == io::ErrorKind::AlreadyExists) && stamp < expiry::now() + 60 {
                stamp += 1;
                made = create_new_private(&dir.join(format!("{name}.recovered-{stamp}")));
            }
            let recovery = dir.join(format!("{name}.recovered-{stamp}"));
            let written = made.and_then(|mut file| {
                self.adopt_owner(&file);
                let result = file.write_all(&text).and_then(|()| file.sync_all());
                if result.is_err() {
                    let _ = fs::remove_file(&recovery);
                }
                result
            });
            match written {
                Ok(()) => {
                    // Part of a failure already being reported: a directory that cannot be
                    // flushed is said there.
                    if let Err(e) = sync_dir(&dir) {
                        noteln!("tiktok-shop-auth: warning: {}", unflushed(&recovery, &dir, &e));
                    }
                    return Ok(recovery);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn kept_at(&self, path: PathBuf, reserved: bool) -> Kept {
        let bytes = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.is_file() => read_capped(&path).ok().flatten(),
            _ => None,
        };
        let answer = bytes.and_then(|b| TokenResponse::parse(&b).ok());
        Kept { shown: shown(&path), answer, stamp: FileHome::stamp_of(&path), reserved, place: KeptRef::Path(path) }
    }

    /// A file this run made beside the token file gets the token file's owner and group,
    /// when they differ from this run's and it may give them (root installing a kept answer
    /// for `status` must not leave the owner's cron unable to read its own tokens).
    fn adopt_owner(&self, file: &File) {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let (Ok(theirs), Ok(ours)) = (fs::metadata(&self.target), file.metadata()) else { return };
            if (theirs.uid(), theirs.gid()) != (ours.uid(), ours.gid()) {
                let _ = std::os::unix::fs::fchown(file, Some(theirs.uid()), Some(theirs.gid()));
            }
        }
        #[cfg(not(unix))]
        let _ = file;
    }

    fn path_of(kept: &Kept) -> Result<&Path, Error> {
        match &kept.place {
            KeptRef::Path(p) => Ok(p),
            _ => Err(Error::Local("a kept answer of another store".into())),
        }
    }

    /// The reserved file holds the answer (laid out at its start, spaces after): cut,
    /// flush and rename it into place.
    fn finish_reserved(&self, answer: &TokenResponse) -> Result<(), Error> {
        let reserved = self.reserved_path();
        let len = answer.bytes.trim_ascii_end().len() as u64;
        let handle = OpenOptions::new()
            .write(true)
            .open(&reserved)
            .map_err(|e| Error::file("open the kept answer", &reserved, e))?;
        let mut slot = FileSlot { home: self, handle, keep: true, kept_len: std::cell::Cell::new(None) };
        slot.finish(len)
    }
}

impl Place for FileHome {
    fn shown(&self) -> String {
        shown(&self.path)
    }

    fn id(&self) -> HomeId {
        #[cfg(unix)]
        if let Ok(meta) = fs::metadata(&self.target) {
            use std::os::unix::fs::MetadataExt;
            return HomeId::Inode(meta.dev(), meta.ino());
        }
        let dir = fs::canonicalize(&self.dir).unwrap_or_else(|_| self.dir.clone());
        HomeId::Path(dir.join(&self.name).display().to_string())
    }

    fn read_saved(&self) -> Result<(TokenResponse, Stamp), Error> {
        let bytes = match read_capped(&self.target) {
            Ok(Some(b)) => b,
            Ok(None) => {
                return Err(Error::CorruptTokenFile {
                    path: self.path.clone(),
                    reason: format!("is larger than {} KiB", MAX_FILE / 1024),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let at = shown(&self.path);
                return Err(Error::NeedLogin(format!(
                    "no token file at `{}`: run `{}` first (or pass --token-file / set TIKTOK_SHOP_TOKEN_FILE to \
                     the file that has them)",
                    crate::error::for_people(&at),
                    crate::error::fix("login", &at)
                )));
            }
            Err(e) => return Err(Error::file("read the token file", &self.path, e)),
        };
        let response = TokenResponse::parse(&bytes)
            .map_err(|reason| Error::CorruptTokenFile { path: self.path.clone(), reason })?;
        Ok((response, FileHome::stamp_of(&self.target)))
    }

    fn lock(&self, wait: Duration) -> Result<Box<dyn Held + '_>, Error> {
        let path = self.lock_path();
        let lock = take_lock(self, &path, wait, || {
            format!(
                "another tiktok-shop-auth has held the lock `{}` for over {} s, so nothing was spent; \
                 try again, raise --lock-wait, or if no such process is running check the file system supports locks",
                shown(&path),
                wait.as_secs()
            )
        })?;
        Ok(Box::new(FileLock(lock)))
    }

    fn claim_login(&self, wait: Duration) -> Result<Box<dyn Held + '_>, Error> {
        let path = self.login_lock_path();
        let busy = || super::login_busy(&self.shown(), &shown(&path));
        let file = match take_lock(self, &path, Duration::ZERO, busy) {
            Ok(file) => file,
            Err(Error::Busy(_)) if !wait.is_zero() => {
                super::say_login_wait(&self.shown(), wait);
                take_lock(self, &path, wait, busy)?
            }
            Err(e) => return Err(e),
        };
        Ok(Box::new(FileLock(file)))
    }

    fn something_kept(&self) -> bool {
        fs::symlink_metadata(self.reserved_path()).is_ok()
    }

    fn reserved(&self) -> Kept {
        self.kept_at(self.reserved_path(), true)
    }

    fn kept(&self) -> Result<Vec<Kept>, Error> {
        Ok(self.recovery_files()?.into_iter().map(|p| self.kept_at(p, false)).collect())
    }

    fn reserve<'a>(&'a self, _held: &'a dyn Held, saved_len: usize) -> Result<Box<dyn Slot + 'a>, Error> {
        let size = (saved_len as u64).saturating_mul(2).max(MIN_RESERVE);
        let reserved = self.reserved_path();
        let handle = create_new_private(&reserved)
            .map_err(|e| Error::file("create a new file beside the token file", &reserved, e))?;
        self.adopt_owner(&handle);
        let mut slot = FileSlot { home: self, handle, keep: false, kept_len: std::cell::Cell::new(None) };
        // Spaces: a run killed before the final truncation still leaves valid JSON. One
        // write: every system call here is one more place a run can fail.
        slot.handle.write_all(&vec![b' '; size as usize]).map_err(|e| {
            Error::file("reserve room (nothing was spent) for the new token file beside", &self.path, e)
        })?;
        Ok(Box::new(slot))
    }

    fn install(&self, held: &dyn Held, kept: &Kept, _saved_len: usize) -> Result<(), Error> {
        let answer = kept.answer.as_ref().ok_or_else(|| Error::Local("an incomplete answer".into()))?;
        if kept.reserved {
            return self.finish_reserved(answer);
        }
        // The reserved file stays the sign that something is kept until the answer is in
        // place: written over it, flushed, the recovery file removed, then renamed. A run
        // that dies on the way leaves the reserved file, and the next one starts again.
        let reserved = self.reserved_path();
        let handle = OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&reserved)
            .map_err(|e| Error::file("open the reserved file", &reserved, e))?;
        self.adopt_owner(&handle);
        let mut slot = FileSlot { home: self, handle, keep: true, kept_len: std::cell::Cell::new(None) };
        let len = lay_out(&slot.handle, &answer.bytes)
            .map_err(|e| Error::file("write the new token file beside", &self.path, e))?;
        self.discard(held, kept)?;
        slot.finish(len)
    }

    fn discard(&self, _held: &dyn Held, kept: &Kept) -> Result<(), Error> {
        let path = FileHome::path_of(kept)?;
        if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::Local(format!(
                "`{}` is a directory where the tool keeps a token file's reserved answer: move it away",
                shown(path)
            )));
        }
        match fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::file("remove the kept answer", path, e)),
            _ => Ok(()),
        }
    }

    fn set_aside(&self, held: &dyn Held, kept: &Kept) -> Result<String, Error> {
        let path = FileHome::path_of(kept)?;
        let bytes = kept.answer.as_ref().map(|a| a.bytes.clone()).unwrap_or_default();
        let aside = self
            .write_recovery(&bytes)
            .map_err(|e| Error::file("set aside another seller's tokens kept in", path, e))?;
        self.discard(held, kept)?;
        Ok(shown(&aside))
    }

    fn kept_beside(&self) -> Vec<Kept> {
        let mut kept: Vec<Kept> = self.kept().unwrap_or_default();
        if self.something_kept() {
            kept.insert(0, self.reserved());
        }
        kept
    }

    fn cache(&self) -> Cache {
        let cache = self.dir.join(format!(".{}.shops", self.name));
        // Where earlier versions kept it: moved on first use (a cache: a failed move only
        // means it is fetched again).
        let old = self.dir.join(format!("{}.shops.json", self.name));
        if !cache.exists() && fs::symlink_metadata(&old).is_ok_and(|m| m.is_file()) {
            let _ = fs::rename(&old, &cache);
        }
        Cache::File(cache)
    }

    fn remove_all(&self, _held: &dyn Held) -> Result<Vec<String>, Error> {
        let mut removed = Vec::new();
        let cache = match self.cache() {
            Cache::File(path) => path,
            _ => self.dir.join(format!(".{}.shops", self.name)),
        };
        let mut paths = vec![self.target.clone(), cache, self.reserved_path()];
        paths.extend(self.recovery_files()?);
        for path in paths {
            match fs::remove_file(&path) {
                Ok(()) => removed.push(shown(&path)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::file("remove", &path, e)),
            }
        }
        if let Err(e) = sync_dir(&self.dir) {
            noteln!("tiktok-shop-auth: warning: {}", unflushed(&self.path, &self.dir, &e));
        }
        Ok(removed)
    }

    fn privacy(&self) -> Option<(bool, String)> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&self.target).map(|m| m.permissions().mode() & 0o777).ok()?;
            Some((mode & 0o077 == 0, format!("mode {mode:o}")))
        }
        #[cfg(not(unix))]
        None
    }
}

/// Opens (making it and its directory if need be) and locks `path`, waiting up to `wait`;
/// `busy` says who holds it when the wait is over.
fn take_lock(home: &FileHome, path: &Path, wait: Duration, busy: impl Fn() -> String) -> Result<File, Error> {
    let dir = &home.dir;
    create_private_dirs(dir).map_err(|e| Error::file("create the directory", dir, e))?;
    let new = fs::symlink_metadata(path).is_err();
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| Error::file("open the lock file", path, e))?;
    if new {
        home.adopt_owner(&file);
    }
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Busy(busy())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::file("lock", path, e)),
        }
    }
}

/// A held `flock`: let go when dropped (or when the process ends, however it ends).
struct FileLock(#[allow(dead_code)] File);

impl Held for FileLock {
    fn still_held(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// The reserved file, under the lock.
struct FileSlot<'a> {
    home: &'a FileHome,
    handle: File,
    /// Renamed into place, or kept (as the only copy of an answer, or as the sign that a
    /// recovery file was written): not to be removed.
    keep: bool,
    /// The length of the answer laid out in the file, once `keep` has written it.
    kept_len: std::cell::Cell<Option<u64>>,
}

impl FileSlot<'_> {
    /// The answer is laid out in the first `len` bytes: cut the rest, flush, rename; then
    /// flush the directory, and say so when that fails (the tokens are in place and in
    /// use, so the run goes on, but a power loss could bring the old file back).
    fn finish(&mut self, len: u64) -> Result<(), Error> {
        let home = self.home;
        let handle = &mut self.handle;
        let written = handle.set_len(len).and_then(|()| handle.sync_all());
        written.map_err(|e| Error::file("write the new token file beside", &home.path, e))?;
        fs::rename(home.reserved_path(), &home.target)
            .map_err(|e| Error::file("replace the token file", &home.target, e))?;
        self.keep = true;
        if let Err(e) = sync_dir(&home.dir) {
            noteln!("tiktok-shop-auth: warning: {}", unflushed(&home.path, &home.dir, &e));
        }
        Ok(())
    }

    /// Whether the reserved file, read back by its name, holds `answer` whole.
    fn holds(&self, answer: &TokenResponse) -> bool {
        read_capped(&self.home.reserved_path())
            .ok()
            .flatten()
            .and_then(|b| TokenResponse::parse(&b).ok())
            .is_some_and(|kept| kept.tokens.same_as(&answer.tokens))
    }
}

impl Slot for FileSlot<'_> {
    fn keep(&self, answer: &[u8]) {
        if self.kept_len.get().is_none() {
            self.kept_len.set(lay_out(&self.handle, answer).ok());
        }
    }

    fn save(&mut self, answer: &TokenResponse) -> Result<(), Error> {
        let len = match self.kept_len.get() {
            Some(len) => len,
            None => lay_out(&self.handle, &answer.bytes)
                .map_err(|e| Error::file("write the new token file beside", &self.home.path, e))?,
        };
        self.finish(len)
    }

    fn recover_or_lose(&mut self, answer: &TokenResponse, cause: Error) -> Error {
        let home = self.home;
        let why = match home.write_recovery(&answer.bytes) {
            Ok(recovery) => {
                // The reserved file stays, as the sign that a recovery file holds the answer.
                self.keep = true;
                return Error::Unsaved { cause: cause.to_string(), recovery: recovery.display().to_string() };
            }
            Err(e) => e.to_string(),
        };
        if self.holds(answer) {
            self.keep = true;
            return Error::Kept {
                cause: format!("{cause}; a recovery file could not be written either ({why})"),
                kept: home.reserved_path().display().to_string(),
            };
        }
        Error::NeedLogin(format!(
            "{cause}; writing the answer to a recovery file failed too ({why}), and it is nowhere else on disk: \
             the grant was spent and the new tokens are lost, so the seller must sign in again with `tiktok-shop-auth login`"
        ))
    }

    fn set_aside(&mut self, answer: &TokenResponse) -> Result<String, String> {
        let kept = self.home.write_recovery(&answer.bytes).map_err(|e| e.to_string());
        self.keep = kept.is_err() && self.holds(answer);
        kept.map(|p| p.display().to_string())
    }
}

impl Drop for FileSlot<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(self.home.reserved_path());
        }
    }
}

/// Writes `answer`, pretty-printed, at the start of `file` (one positioned write, no seek)
/// and flushes its data; returns the length laid out (the rest is still the reserve's spaces).
fn lay_out(file: &File, answer: &[u8]) -> io::Result<u64> {
    let text = pretty(answer);
    write_all_at(file, &text)?;
    file.sync_data()?;
    Ok(text.len() as u64)
}

#[cfg(unix)]
fn write_all_at(file: &File, bytes: &[u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::write_all_at(file, bytes, 0)
}

#[cfg(windows)]
fn write_all_at(file: &File, mut bytes: &[u8]) -> io::Result<()> {
    let mut at = 0;
    while !bytes.is_empty() {
        match std::os::windows::fs::FileExt::seek_write(file, bytes, at)? {
            0 => return Err(io::ErrorKind::WriteZero.into()),
            n => {
                bytes = &bytes[n..];
                at += n as u64;
            }
        }
    }
    Ok(())
}

/// What a name is when it is one the tool keeps beside token files (a lock, a reserved
/// or recovery file, a shop cache): no token file may be called so.
fn side_file(name: &str) -> Option<&'static str> {
    let recovered =
        name.rsplit_once(".recovered-").is_some_and(|(_, t)| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
    if name.ends_with(".lock") {
        Some("a lock")
    } else if recovered {
        Some("a recovery file")
    } else if name.starts_with('.') && name.ends_with(".tmp") {
        Some("a reserved answer")
    } else if name.starts_with('.') && name.ends_with(".shops") {
        Some("a shop cache")
    } else {
        None
    }
}

/// What a failed flush of `dir` after writing `file` means, for a warning.
fn unflushed(file: &Path, dir: &Path, e: &io::Error) -> String {
    format!(
        "`{}` holds the new tokens, but flushing its directory `{}` to disk failed ({e}): a power loss before the \
         system writes it could bring back the previous file, whose refresh token is already spent; check that disk",
        shown(file),
        shown(dir)
    )
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

/// Makes a rename or a new file in `dir` durable. Not every platform can open a directory:
/// there it is the file system's to do.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
