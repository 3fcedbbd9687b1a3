//! The token file: read it, lock it, replace it without ever losing a token.
//!
//! The promise is "lock → check room → spend → save", and it is kept by types, not by
//! each command remembering the order:
//!
//! - `TokenFile::new` checks the path (a regular file, a link to one, or nothing yet;
//!   never empty, a directory, a device or a FIFO) and follows links once, so every path
//!   to one file shares one lock: `<the file the path finally names>.lock`.
//! - `TokenFile::lock` is the only way to a `Guard`; the guard first installs a kept answer
//!   (below) that an earlier run left, before the caller decides anything.
//! - `Guard::renew` is the one refresh: it reads the file itself, under the lock, so a
//!   renewal from tokens read before the lock cannot be written.
//! - `Guard::reserve` is the only way to a `Reservation`: a newly created file with the
//!   fixed name `.<name>.tmp` (`O_EXCL`, 0600) in the target's directory, already filled to
//!   the size the new file needs (twice the old one, 16 KiB at least), so a full disk is
//!   found before anything is spent. Only the lock holder ever makes it, so its name needs
//!   no pid or random part and finding it needs no directory listing: a lock costs one
//!   `stat` when nothing was left behind.
//! - `Reservation::spend` hands the token call a `Room`, which the token endpoints in
//!   `tiktok` demand and nothing else can make: a code or refresh token can be spent only
//!   while the lock is held and the room is there. Interrupts wait from the request until
//!   the save (`interrupt::hold`). The answer goes into the reserved file the moment its
//!   last byte is read (`Room::keep`), so a run killed from then on leaves it to be
//!   installed, and the save only has to flush and rename it. An answer of another seller
//!   than the file's replaces nothing (unless the caller says so): it is set aside as a
//!   recovery file.
//!
//! Kept answers: when a save fails after the spend, the answer is written afresh to
//! `<name>.recovered-<unix time>` (0600) and the reserved file stays where it is as the
//! sign that something was left; if that fails too, the reserved file is kept when it holds
//! the answer. Only an answer that exists nowhere is "sign in again" (exit 5). The next run
//! that takes the lock sees the reserved file, lists the directory for recovery files, and
//! installs the newest complete answer of the file's seller (`open_id`) that is newer than
//! the file, saying so in one line; a kept answer that is another seller's, older or
//! incomplete is left where it is and named. A refused refresh token while one is there
//! names it instead of asking for a new sign-in.
//!
//! A symbolic link at the token path (into a secrets volume, say) is kept: the file it
//! points to is what gets replaced. Dropping a reservation removes its file, unless it
//! holds the only copy of an answer or marks that one was kept.

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::Error;
use crate::files::{MAX_FILE, create_new_private, kind_of, read_capped};
use crate::grant::TokenResponse;
use crate::json_text::pretty;
use crate::secret::{Secret, clean, shown};
use crate::{expiry, interrupt};

/// The least room reserved before a grant is spent.
const MIN_RESERVE: u64 = 16 * 1024;

/// One file on disk, whatever path names it: device and inode where there are such.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum FileId {
    #[cfg(unix)]
    Inode(u64, u64),
    Path(PathBuf),
}

/// Whose answer may replace the file: `login --replace` lets another seller's do so.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an answer of the file's own seller (or any, when there is no file yet).
    SameSeller,
    AnySeller,
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

    /// The lock a `login` holds from its start to its end, so that two sign-ins onto one
    /// file never both save (refreshes take the other lock and are not kept waiting).
    fn login_lock_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.login.lock", self.name))
    }

    /// The reserved file: one fixed name, made only by the lock holder.
    fn reserved_path(&self) -> PathBuf {
        self.dir.join(format!(".{}.tmp", self.name))
    }

    /// The seller's shop list, cached beside the file the path finally names. A dot-file,
    /// so that no glob written for token files (`tokens/*.json`) matches it.
    pub fn shop_cache_path(&self) -> PathBuf {
        let cache = self.dir.join(format!(".{}.shops", self.name));
        // Where earlier versions kept it: moved on first use (a cache: a failed move only
        // means it is fetched again).
        let old = self.dir.join(format!("{}.shops.json", self.name));
        if !cache.exists() && fs::symlink_metadata(&old).is_ok_and(|m| m.is_file()) {
            let _ = fs::rename(&old, &cache);
        }
        cache
    }

    /// The file as saved, with an answer a dead run kept beside it taken into account:
    /// installed under the lock when the lock is free, else used as it is. For the commands
    /// that only read (`status`, `token`, `api`, `exec`, `shops`).
    pub fn read(&self) -> Result<TokenResponse, Error> {
        let saved = self.read_as_saved();
        if !self.reserved_left() {
            return saved;
        }
        if let Ok(guard) = self.lock(Duration::ZERO) {
            return guard.read();
        }
        // Another run holds the lock (or it cannot be made here, or installing failed): a
        // complete, newer answer of the same seller is the truth all the same.
        let reserved = Kept::read(self.reserved_path());
        let newer = saved.as_ref().is_ok_and(|s| reserved.fit(Some(s), self.modified()) == Fit::Installable);
        match reserved.answer {
            Some(found) if newer => Ok(found),
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

    fn modified(&self) -> Option<std::time::SystemTime> {
        fs::metadata(&self.target).and_then(|m| m.modified()).ok()
    }

    /// Whether a reserved file is there: a run died, or kept an answer, or one is live.
    fn reserved_left(&self) -> bool {
        fs::symlink_metadata(self.reserved_path()).is_ok()
    }

    /// Takes the lock, waiting up to `wait` for another holder to finish, then installs
    /// what an earlier run kept (an error there is this run's: nothing was spent).
    pub fn lock(&self, wait: Duration) -> Result<Guard<'_>, Error> {
        let lock = take_lock(&self.dir, &self.lock_path(), wait, || {
            format!(
                "another tiktok-shop-auth has held the lock `{}` for over {} s, so nothing was spent; \
                 try again, raise --lock-wait, or if no such process is running check the file system supports locks",
                shown(&self.lock_path()),
                wait.as_secs()
            )
        })?;
        let guard = Guard { file: self, _lock: lock };
        guard.install_kept()?;
        Ok(guard)
    }

    /// The login lock (see `login_lock_path`), held until the claim is dropped; after
    /// `wait`, an error naming it.
    pub fn claim_login(&self, wait: Duration) -> Result<LoginClaim, Error> {
        let path = self.login_lock_path();
        let busy = || {
            format!(
                "another `tiktok-shop-auth login` is signing in to `{}` (it holds `{}`), so this one stopped before \
                 opening anything: finish or stop that one first, or wait longer with --lock-wait",
                shown(&self.path),
                shown(&path)
            )
        };
        let file = match take_lock(&self.dir, &path, Duration::ZERO, busy) {
            Ok(file) => file,
            Err(Error::Local(_)) if !wait.is_zero() => {
                noteln!(
                    "another `tiktok-shop-auth login` is signing in to `{}`; waiting up to {} s for it (--lock-wait)",
                    shown(&self.path),
                    wait.as_secs()
                );
                take_lock(&self.dir, &path, wait, busy)?
            }
            Err(e) => return Err(e),
        };
        Ok(LoginClaim { _lock: file })
    }

    /// Proves, before a seller is sent anywhere, that the answer could be saved: takes the
    /// lock, reserves the room, and lets both go.
    pub fn check_room(&self, wait: Duration) -> Result<(), Error> {
        self.lock(wait)?.reserve().map(drop)
    }

    /// The recovery files beside the file, in the target's directory and (when the path is
    /// a link) beside the link: exactly `<name>.recovered-<digits>`. Listed only when a
    /// reserved file says something was kept, or a refresh token was refused: std panics
    /// when closing a directory fails, so a listed directory's handle is never closed (one
    /// handle a listing, in runs that already met a failure).
    fn recovery_files(&self) -> Vec<PathBuf> {
        let mut found = Vec::new();
        for (dir, name) in self.recovery_places() {
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            // Never dropped, so never closed (entries share it; this reference outlives them).
            let mut entries = std::mem::ManuallyDrop::new(entries);
            for entry in entries.by_ref().flatten() {
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
        found
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
        let stamp = expiry::now();
        let mut last = io::Error::other("no place for a recovery file");
        for (dir, name) in self.recovery_places() {
            let recovery = dir.join(format!("{name}.recovered-{stamp}"));
            let written = create_new_private(&recovery).and_then(|mut file| {
                let result = file.write_all(&text).and_then(|()| file.sync_all());
                if result.is_err() {
                    let _ = fs::remove_file(&recovery);
                }
                result
            });
            match written {
                Ok(()) => {
                    // Part of the failure already being reported: a directory that cannot
                    // be flushed is said there.
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

    /// After a save failed with the grant spent: the answer to a recovery file (the
    /// reserved file stays, as the sign that something was kept); else the reserved file,
    /// when it holds the answer; else the plain truth.
    fn recover_or_lose(&self, answer: &TokenResponse, cause: Error, reserved_holds: bool) -> Error {
        let why = match self.write_recovery(&answer.bytes) {
            Ok(recovery) => return Error::Unsaved { cause: cause.to_string(), recovery },
            Err(e) => e.to_string(),
        };
        if reserved_holds {
            return Error::Kept {
                cause: format!("{cause}; a recovery file could not be written either ({why})"),
                kept: self.reserved_path(),
            };
        }
        Error::NeedLogin(format!(
            "{cause}; writing the answer to a recovery file failed too ({why}), and it is nowhere else on disk: \
             the grant was spent and the new tokens are lost, so the seller must sign in again with `tiktok-shop-auth login`"
        ))
    }

    /// The kept answers beside the file that a refused refresh token should not hide (the
    /// reserved file, recovery files), as a sentence; `None` when there are none.
    pub fn kept_beside(&self) -> Option<String> {
        let mut kept = self.recovery_files();
        if self.reserved_left() {
            kept.insert(0, self.reserved_path());
        }
        if kept.is_empty() {
            return None;
        }
        let names: Vec<String> = kept.iter().map(|p| format!("`{}`", shown(p))).collect();
        Some(names.join(", "))
    }
}

/// Opens (making it and its directory if need be) and locks `path`, waiting up to `wait`;
/// `busy` says who holds it when the wait is over.
fn take_lock(dir: &Path, path: &Path, wait: Duration, busy: impl Fn() -> String) -> Result<File, Error> {
    create_private_dirs(dir).map_err(|e| Error::file("create the directory", dir, e))?;
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(path).map_err(|e| Error::file("open the lock file", path, e))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(fs::TryLockError::WouldBlock) => return Err(Error::Local(busy())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::file("lock", path, e)),
        }
    }
}

/// A login's claim on the token file (see `TokenFile::claim_login`).
pub struct LoginClaim {
    _lock: File,
}

/// A kept answer found beside the file: where, and what it holds.
struct Kept {
    path: PathBuf,
    answer: Option<TokenResponse>,
    modified: Option<std::time::SystemTime>,
}

impl Kept {
    fn read(path: PathBuf) -> Kept {
        let bytes = read_capped(&path).ok().flatten();
        let answer = bytes.and_then(|b| TokenResponse::parse(&b).ok());
        let modified = fs::symlink_metadata(&path).and_then(|m| m.modified()).ok();
        Kept { path, answer, modified }
    }

    /// What it is to the file that holds `current` (`None`: no readable file).
    fn fit(&self, current: Option<&TokenResponse>, current_modified: Option<std::time::SystemTime>) -> Fit {
        match (&self.answer, current) {
            (None, _) => Fit::Incomplete,
            (Some(_), None) => Fit::Installable,
            (Some(found), Some(current)) if found.open_id() != current.open_id() => Fit::OtherSeller,
            (Some(found), Some(current)) => {
                match found.tokens.is_newer_than(&current.tokens, self.modified >= current_modified) {
                    true => Fit::Installable,
                    false => Fit::NotNewer,
                }
            }
        }
    }
}

/// What a kept answer is to the token file beside it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Complete, of the file's seller, newer than the file (any complete one when there is no file).
    Installable,
    OtherSeller,
    NotNewer,
    Incomplete,
}

impl Fit {
    fn why_not(self) -> &'static str {
        match self {
            Fit::Installable => "it was not the newest",
            Fit::OtherSeller => "it holds another seller's tokens",
            Fit::NotNewer => "it is not newer than the file",
            Fit::Incomplete => "it is not a complete token response",
        }
    }
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

    /// Spends the refresh token the file holds now (read here, under the lock, never
    /// handed in) through `call` (the token endpoint), with the room reserved, and saves
    /// the answer: the one way every command refreshes. An expired refresh token is exit 5
    /// before anything is sent; a refused one, while an answer is kept beside the file, is
    /// exit 1 naming it (it may be the newer tokens), not "sign in again".
    pub fn renew(
        &self,
        call: impl FnOnce(&Secret, &Room) -> Result<TokenResponse, Error>,
    ) -> Result<TokenResponse, Error> {
        let saved = self.read()?;
        saved.tokens.check_refresh(self.file.path(), expiry::now())?;
        let reservation = self.reserve_for(Some(&saved))?;
        let result = reservation.spend(Replace::SameSeller, |room| call(&saved.tokens.refresh_token, room));
        let api = match result {
            Err(Error::TikTok(api)) if crate::grant::refresh_token_refused(api.code) => api,
            other => return other,
        };
        let path = shown(self.file.path());
        match self.file.kept_beside() {
            Some(kept) => Err(Error::Local(format!(
                "{api}: the refresh token in `{path}` is no longer accepted, but {kept} beside it may hold this \
                 seller's newer tokens, which were not installed (see the lines above): look at it, and install it \
                 with `tiktok-shop-auth login --recover FILE` before signing in again"
            ))),
            None => Err(Error::NeedLogin(format!(
                "{api}: the refresh token in `{path}` is no longer accepted; run `tiktok-shop-auth login` \
                 (the file was left as it was)"
            ))),
        }
    }

    /// The reserved file beside the target, filled to the size the answer will need.
    pub fn reserve(&self) -> Result<Reservation<'_>, Error> {
        self.reserve_for(self.read().ok().as_ref())
    }

    /// `reserve`, for the file as `saved` holds it (read under this lock).
    fn reserve_for(&self, saved: Option<&TokenResponse>) -> Result<Reservation<'_>, Error> {
        let old = saved.as_ref().map_or(0, |s| s.bytes.len() as u64);
        let size = old.saturating_mul(2).max(MIN_RESERVE);
        let path = &self.file.path;
        let reserved = self.file.reserved_path();
        let handle = create_new_private(&reserved)
            .map_err(|e| Error::file("create a new file beside the token file", &reserved, e))?;
        let seller = saved.map(|s| s.open_id().to_string());
        let mut reservation = Reservation { file: self.file, handle, keep: false, seller };
        // Spaces: a run killed before the final truncation still leaves valid JSON. One
        // write: every system call here is one more place a run can fail.
        reservation
            .handle
            .write_all(&vec![b' '; size as usize])
            .map_err(|e| Error::file("reserve room (nothing was spent) for the new token file beside", path, e))?;
        Ok(reservation)
    }

    /// Installs what an earlier run kept, if anything: nothing to do (one `stat`) unless the
    /// reserved file is there. Then the newest complete answer of the file's seller that is
    /// newer than the file (the reserved file, or a recovery file) becomes the file, in one
    /// line on stderr; copies of it go; the reserved file goes when it holds nothing newer;
    /// other kept answers (another seller's, older, incomplete) are left and named.
    fn install_kept(&self) -> Result<(), Error> {
        let file = self.file;
        if !file.reserved_left() {
            return Ok(());
        }
        let current = match file.read_as_saved() {
            Ok(c) => Some(c),
            Err(Error::NeedLogin(_)) => None,
            // A corrupt or unreadable file is reported as such, never replaced by a kept answer.
            Err(_) => return Ok(()),
        };
        let current_modified = file.modified();
        let reserved = Kept::read(file.reserved_path());
        let reserved_fit = reserved.fit(current.as_ref(), current_modified);
        // Recovery files are installed only over a file of the same seller: with no file,
        // only the reserved file (which only this file's lock holder writes) is.
        let recoveries: Vec<(Kept, Fit)> = file
            .recovery_files()
            .into_iter()
            .map(Kept::read)
            .map(|k| {
                let fit = if current.is_some() { k.fit(current.as_ref(), current_modified) } else { Fit::NotNewer };
                (k, fit)
            })
            .collect();
        let mut best = (reserved_fit == Fit::Installable).then_some(&reserved);
        for (kept, fit) in &recoveries {
            let (Some(found), Fit::Installable) = (&kept.answer, fit) else { continue };
            let better = match best.and_then(|b| b.answer.as_ref()) {
                None => true,
                // A recovery file was flushed whole; the reserved file may be what failed.
                Some(b) => found.tokens.same_as(&b.tokens) || found.tokens.is_newer_than(&b.tokens, false),
            };
            if better {
                best = Some(kept);
            }
        }
        let installed = match best {
            Some(best) if std::ptr::eq(best, &reserved) => best.answer.as_ref().map(|a| (best, a)),
            _ => None,
        };
        if let Some((_, answer)) = installed {
            self.finish_reserved(answer)?;
        } else if reserved_fit == Fit::OtherSeller {
            // Another seller's answer must not block the reserved name: set aside.
            let aside = file.write_recovery(&reserved.answer.as_ref().map(|a| a.bytes.clone()).unwrap_or_default());
            let aside =
                aside.map_err(|e| Error::file("set aside another seller's tokens kept in", &reserved.path, e))?;
            remove_kept(&reserved.path)?;
            noteln!(
                "tiktok-shop-auth: warning: `{}` held another seller's tokens than `{}`; they were moved to `{}`",
                shown(&reserved.path),
                shown(&file.path),
                shown(&aside)
            );
        } else {
            remove_kept(&reserved.path)?;
        }
        let installed = match (installed, best) {
            (Some(pair), _) => Some(pair),
            (None, Some(best)) => {
                let answer = best.answer.as_ref().ok_or_else(|| Error::Local("a kept answer vanished".into()))?;
                self.reserve()?.install(&answer.bytes)?;
                remove_kept(&best.path)?;
                Some((best, answer))
            }
            (None, None) => None,
        };
        if let Some((best, _)) = installed {
            noteln!(
                "tiktok-shop-auth: installed the newer tokens that an earlier run kept in `{}` (it had spent the grant \
                 but not saved the answer) as `{}`",
                shown(&best.path),
                shown(&file.path)
            );
        }
        for (kept, fit) in &recoveries {
            if installed.is_some_and(|(b, _)| std::ptr::eq(b, kept)) {
                continue;
            }
            let copy = matches!((&kept.answer, installed), (Some(k), Some((_, i))) if k.tokens.same_as(&i.tokens));
            if copy {
                remove_kept(&kept.path)?;
            } else {
                noteln!(
                    "tiktok-shop-auth: warning: `{}` beside `{}` was left where it is: {}",
                    shown(&kept.path),
                    shown(&file.path),
                    if installed.is_some() && *fit == Fit::Installable {
                        Fit::NotNewer.why_not()
                    } else {
                        fit.why_not()
                    }
                );
            }
        }
        Ok(())
    }

    /// The reserved file holds the answer (laid out at its start, spaces after): cut,
    /// flush and rename it into place.
    fn finish_reserved(&self, answer: &TokenResponse) -> Result<(), Error> {
        let reserved = self.file.reserved_path();
        let len = answer.bytes.trim_ascii_end().len() as u64;
        let handle = OpenOptions::new()
            .write(true)
            .open(&reserved)
            .map_err(|e| Error::file("open the kept answer", &reserved, e))?;
        let mut reservation = Reservation { file: self.file, handle, keep: true, seller: None };
        reservation.finish(len)
    }
}

/// Removes a kept answer that has been installed or copied; a failure is this run's error
/// (the next run will find it again, so nothing is lost, but its secrets must not linger).
fn remove_kept(path: &Path) -> Result<(), Error> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::file("remove the kept answer", path, e)),
        _ => Ok(()),
    }
}

/// Proof, for the token endpoints, that their answer has somewhere to go: only
/// `Reservation::spend` makes one. The answer is laid out in the reserved file the moment
/// its last byte arrives (`keep`), so the save only flushes and renames it.
pub struct Room<'a> {
    file: &'a File,
    /// The length of the answer laid out in the file, once `keep` has written it.
    kept: Cell<Option<u64>>,
}

impl Room<'_> {
    /// Writes an answer, as received and pretty-printed, into the reserved file at once
    /// (once: later calls do nothing): from then on a run killed before the rename leaves
    /// it for the next run to install (the reserve's trailing spaces keep it valid JSON).
    /// Only JSON is laid out; anything else is not an answer to keep.
    pub fn keep(&self, answer: &[u8]) {
        if self.kept.get().is_none() && serde_json::from_slice::<serde_json::Value>(answer).is_ok() {
            self.kept.set(lay_out(self.file, answer).ok());
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

/// Room reserved beside the token file, under its lock.
pub struct Reservation<'a> {
    file: &'a TokenFile,
    handle: File,
    /// Renamed into place, or kept (as the only copy of an answer, or as the sign that a
    /// recovery file was written): not to be removed.
    keep: bool,
    /// The seller (`open_id`) of the file when the room was reserved; `None`: no file.
    seller: Option<String>,
}

impl Reservation<'_> {
    /// Spends a grant (`call` is the token request) and saves its answer, interrupts held
    /// from the request to the save. An answer of another seller than the file's is set
    /// aside unless `replace` allows it. On a failed save the answer goes to a recovery
    /// file, else stays in the reserved file; the error names whichever holds it.
    pub fn spend(
        mut self,
        replace: Replace,
        call: impl FnOnce(&Room) -> Result<TokenResponse, Error>,
    ) -> Result<TokenResponse, Error> {
        let hold = interrupt::hold()?;
        let room = Room { file: &self.handle, kept: Cell::new(None) };
        let answer = call(&room)?;
        let kept = room.kept.get();
        let ours = self.seller.as_deref().unwrap_or_default();
        if replace == Replace::SameSeller
            && !ours.is_empty()
            && !answer.open_id().is_empty()
            && answer.open_id() != ours
        {
            return Err(self.set_aside(&answer));
        }
        let result = match kept {
            Some(len) => self.finish(len),
            None => self.save(&answer.bytes),
        };
        if let Err(e) = result {
            let holds = self.holds(&answer);
            let error = self.file.recover_or_lose(&answer, e, holds);
            // The reserved file stays: it is the answer itself, or the sign that a recovery
            // file holds it, for the next run to find without listing the directory.
            self.keep = !matches!(error, Error::NeedLogin(_));
            return Err(error);
        }
        drop(hold);
        interrupt::check(&format!("after the new tokens were saved in `{}`", shown(&self.file.path)))?;
        Ok(answer)
    }

    /// Installs a token response that was already had (a recovery file, a kept answer).
    pub fn install(mut self, json: &[u8]) -> Result<(), Error> {
        self.save(json)
    }

    fn save(&mut self, json: &[u8]) -> Result<(), Error> {
        let len = lay_out(&self.handle, json)
            .map_err(|e| Error::file("write the new token file beside", &self.file.path, e))?;
        self.finish(len)
    }

    /// The answer is laid out in the first `len` bytes: cut the rest, flush, rename; then
    /// flush the directory, and say so when that fails (the tokens are in place and in
    /// use, so the run goes on, but a power loss could bring the old file back).
    fn finish(&mut self, len: u64) -> Result<(), Error> {
        let handle = &mut self.handle;
        let written = handle.set_len(len).and_then(|()| handle.sync_all());
        written.map_err(|e| Error::file("write the new token file beside", &self.file.path, e))?;
        fs::rename(self.file.reserved_path(), &self.file.target)
            .map_err(|e| Error::file("replace the token file", &self.file.target, e))?;
        self.keep = true;
        if let Err(e) = sync_dir(&self.file.dir) {
            noteln!("tiktok-shop-auth: warning: {}", unflushed(&self.file.path, &self.file.dir, &e));
        }
        Ok(())
    }

    /// A `login` approved by another seller: the file stays, the answer goes to a recovery
    /// file (the reserved file renamed, else a new one), never installed by a later run.
    fn set_aside(&mut self, answer: &TokenResponse) -> Error {
        let file = self.file;
        let current = file.read_as_saved().ok();
        let seller = |r: Option<&TokenResponse>, open_id: &str| {
            format!("{} (open_id {})", clean(r.and_then(|r| r.seller()).unwrap_or("an unnamed seller")), clean(open_id))
        };
        let ours = seller(current.as_ref(), self.seller.as_deref().unwrap_or_default());
        let theirs = seller(Some(answer), answer.open_id());
        let kept = file.write_recovery(&answer.bytes).map_err(|e| e.to_string());
        self.keep = kept.is_err() && self.holds(answer);
        Error::OtherSeller { path: file.path.clone(), ours, theirs, kept }
    }

    /// Whether the reserved file, read back by its name, holds `answer` whole.
    fn holds(&self, answer: &TokenResponse) -> bool {
        read_capped(&self.file.reserved_path())
            .ok()
            .flatten()
            .and_then(|b| TokenResponse::parse(&b).ok())
            .is_some_and(|kept| kept.tokens.same_as(&answer.tokens))
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(self.file.reserved_path());
        }
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
