//! Where a seller's tokens live, and the one order they may change in.
//!
//! Two homes, one chain: a directory of files (`file`, the default) and an etcd cluster
//! (`etcd`, through `gateway`, its JSON client). The commands and the session hold a
//! `Home` and never know which. The promise is "lock → check room → spend → save", and it is
//! kept by the types here, not by each command remembering the order:
//!
//! - `Home::open` checks the location (a file path, or `etcd://...`).
//! - `Home::lock` is the only way to a `Guard`; the guard first installs an answer an
//!   earlier run kept (below), before the caller decides anything.
//! - `Guard::renew` is the one refresh: it reads the tokens itself, under the lock, so a
//!   renewal from tokens read before the lock cannot be written.
//! - `Guard::reserve` is the only way to a `Reservation`: the answer's place, made before
//!   anything is spent (a file filled to size; an etcd key written under the lock).
//! - `Reservation::spend` hands the token call a `Room`, which the token endpoints in
//!   `token_api` demand and nothing else can make: a code or refresh token can be spent
//!   only while the lock is held and the room is there. Interrupts wait from the request to
//!   the save (`interrupt::hold`). The answer is kept the moment its last byte is read
//!   (`Room::keep`), so a run killed from then on leaves it for the next holder, on any
//!   machine. An answer of another seller than the one the tokens belong to replaces
//!   nothing (unless the caller says so): it is set aside.
//!
//! Kept answers: when a save fails after the spend, the answer stays in the reserved place
//! or goes to a recovery place (`<name>.recovered-<time>`), and the error names it. The
//! next run that takes the lock installs the newest complete answer of the same seller
//! (`open_id`) that is newer than the saved one, saying so in one line; one that is
//! another seller's, older or incomplete is left where it is and named. Only an answer that
//! exists nowhere is "sign in again" (exit 5), and a refused refresh token while one is
//! kept beside names it instead.

pub mod etcd;
pub mod file;
pub mod gateway;

use std::ffi::OsStr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::Error;
use crate::files;
use crate::secret::{Secret, clean};
use crate::token_response::TokenResponse;
use crate::{expiry, interrupt};

/// Where the tokens are, as the user gave it: a file path or an etcd location.
#[derive(Clone, Debug)]
pub enum Location {
    File(PathBuf),
    Etcd(etcd::EtcdUrl),
}

impl Location {
    /// A `--token-file`, `TIKTOK_SHOP_TOKEN_FILE` or `FILE` value: `etcd://...` or
    /// `etcd+https://...` is a store location, anything else a file path.
    pub fn parse(value: &OsStr) -> Result<Location, Error> {
        match value.to_str().map(etcd::EtcdUrl::parse).transpose()?.flatten() {
            Some(url) => Ok(Location::Etcd(url)),
            None => Ok(Location::File(PathBuf::from(value))),
        }
    }

    /// `--etcd-password-file`, for an etcd location.
    pub fn with_password_file(self, file: Option<PathBuf>) -> Location {
        match self {
            Location::Etcd(url) => Location::Etcd(etcd::EtcdUrl { password_file: file, ..url }),
            other => other,
        }
    }

    /// `doctor`'s checks of the store behind the location (none for a file).
    pub fn health(&self) -> Vec<(String, etcd::Level, String)> {
        match self {
            Location::Etcd(url) => etcd::check(url),
            Location::File(_) => Vec::new(),
        }
    }

    /// Whether this names every seller under a prefix (`etcd://h:2379/tiktok/`).
    pub fn is_prefix(&self) -> bool {
        matches!(self, Location::Etcd(url) if url.name.is_none())
    }

    /// The sellers a prefix names (itself, for anything else).
    pub fn expand(&self) -> Result<Vec<Location>, Error> {
        match self {
            Location::Etcd(url) if url.name.is_none() => Ok(url.sellers()?.into_iter().map(Location::Etcd).collect()),
            other => Ok(vec![other.clone()]),
        }
    }

    /// What the location is when it is not a place for tokens (`directory`, `FIFO (named
    /// pipe)`), for `status FILE...`.
    pub fn kind(&self) -> Option<String> {
        match self {
            Location::File(path) => {
                std::fs::metadata(path).ok().map(|m| files::kind_of(&m).trim_start_matches("a ").to_string())
            }
            Location::Etcd(_) => None,
        }
    }

    /// As shown to a person.
    pub fn shown(&self) -> String {
        match self {
            Location::File(path) => crate::secret::shown(path),
            Location::Etcd(url) => url.shown(),
        }
    }
}

/// One seller's tokens, wherever they are, whatever names them: two names for one home
/// are one `HomeId`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum HomeId {
    #[cfg(unix)]
    Inode(u64, u64),
    Path(String),
}

/// A home's order of writes: a file's modification time, an etcd key's revision. Only
/// stamps of one home are compared (was this kept answer written after the saved one).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct Stamp(pub u128);

/// Whose answer may replace the saved one: `login --replace` lets another seller's do so.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Replace {
    /// Only an answer of the saved tokens' seller (or any, when nothing is saved yet).
    SameSeller,
    AnySeller,
}

/// What a home is to the chain below: one implementation per store.
trait Place {
    /// The location as the user gave it, for messages.
    fn shown(&self) -> String;
    fn id(&self) -> HomeId;
    /// The saved tokens and when they were written; `NeedLogin` when there are none.
    fn read_saved(&self) -> Result<(TokenResponse, Stamp), Error>;
    fn lock(&self, wait: Duration) -> Result<Box<dyn Held + '_>, Error>;
    fn claim_login(&self, wait: Duration) -> Result<Box<dyn Held + '_>, Error>;
    /// Cheap: whether the reserved place is taken (a run died, kept an answer, or is live).
    fn something_kept(&self) -> bool;
    /// The reserved place, read.
    fn reserved(&self) -> Kept;
    /// The recovery places, read (only asked when `something_kept`, or for a refused
    /// refresh token); an error when they cannot be looked at.
    fn kept(&self) -> Result<Vec<Kept>, Error>;
    fn reserve<'a>(&'a self, held: &'a dyn Held, saved_len: usize) -> Result<Box<dyn Slot + 'a>, Error>;
    /// Makes a kept answer the saved one, and removes it (and the reserved place).
    fn install(&self, held: &dyn Held, kept: &Kept, saved_len: usize) -> Result<(), Error>;
    fn discard(&self, held: &dyn Held, kept: &Kept) -> Result<(), Error>;
    /// Moves another seller's answer out of the reserved place; where it went.
    fn set_aside(&self, held: &dyn Held, kept: &Kept) -> Result<String, Error>;
    /// Every kept answer beside the saved one, the reserved one included (for a refused
    /// refresh token).
    fn kept_beside(&self) -> Vec<Kept>;
    fn cache(&self) -> Cache;
    /// Removes the saved tokens and everything kept beside them (the shop cache, kept
    /// answers; not the lock): `logout`. What was removed, as shown.
    fn remove_all(&self, held: &dyn Held) -> Result<Vec<String>, Error>;
    /// Whether another run holds the lock now, as far as a read can tell (a hint: only
    /// taking the lock decides).
    fn locked_elsewhere(&self) -> bool {
        false
    }
    /// The saved tokens as a cheap read sees them (maybe stale: a hint).
    fn peek_saved(&self) -> Option<TokenResponse> {
        self.read_saved().ok().map(|(r, _)| r)
    }
    /// Whether only the owner can read the tokens, and what was seen (`doctor`).
    fn privacy(&self) -> Option<(bool, String)>;
}

/// A held lock.
trait Held {
    /// `Ok` while the lock is still this run's (an etcd lease can run out).
    fn still_held(&self) -> Result<(), Error>;
    /// The lock key and its create revision, for stores whose writes check they still hold
    /// it (etcd); `None` where the lock cannot be lost while the process lives (a file).
    fn fence(&self) -> Option<(String, i64)> {
        None
    }
    /// Notes that the lock was just seen to be this run's (a fenced write went through).
    fn confirm(&self) {}
    /// Notes that a write already let go of the lock (nothing left to release).
    fn released(&self) {}
}

/// The reserved place, under the lock.
trait Slot {
    /// Whose answer may replace the saved tokens (before the call, for stores that save
    /// an answer the moment it arrives).
    fn expect(&self, _seller: Option<&str>, _replace: Replace) {}
    /// Keeps an answer (once) the moment it arrives.
    fn keep(&self, answer: &[u8]);
    /// Makes the answer the saved tokens (from where `keep` put it, when it did).
    fn save(&mut self, answer: &TokenResponse) -> Result<(), Error>;
    /// After a failed save: the answer somewhere safe, and the error that names it.
    fn recover_or_lose(&mut self, answer: &TokenResponse, cause: Error) -> Error;
    /// Another seller's answer: kept somewhere it is never installed from; where.
    fn set_aside(&mut self, answer: &TokenResponse) -> Result<String, String>;
}

/// A kept answer found beside the saved one.
pub struct Kept {
    shown: String,
    answer: Option<TokenResponse>,
    stamp: Stamp,
    reserved: bool,
    place: KeptRef,
}

/// Which kept answer, to the store that found it.
enum KeptRef {
    Path(PathBuf),
    #[allow(dead_code)]
    Key {
        key: String,
        revision: i64,
    },
}

/// What a kept answer is to the saved tokens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fit {
    /// Complete, of the same seller, newer (any complete one when nothing is saved).
    Installable,
    OtherSeller,
    NotNewer,
    Incomplete,
}

/// Whether two answers are the same seller's: the same `open_id`, or one that does not
/// say (a file made by hand).
fn same_seller(a: &TokenResponse, b: &TokenResponse) -> bool {
    a.open_id() == b.open_id() || a.open_id().is_empty() || b.open_id().is_empty()
}

impl Fit {
    fn of(kept: &Kept, saved: Option<&(TokenResponse, Stamp)>) -> Fit {
        match (&kept.answer, saved) {
            (None, _) => Fit::Incomplete,
            (Some(_), None) => Fit::Installable,
            (Some(found), Some((current, _))) if !same_seller(found, current) => Fit::OtherSeller,
            (Some(found), Some((current, stamp))) => {
                match found.tokens.is_newer_than(&current.tokens, kept.stamp >= *stamp) {
                    true => Fit::Installable,
                    false => Fit::NotNewer,
                }
            }
        }
    }

    fn why_not(self) -> &'static str {
        match self {
            Fit::Installable | Fit::NotNewer => "it is not newer than the saved tokens",
            Fit::OtherSeller => "it holds another seller's tokens",
            Fit::Incomplete => "it is not a complete token response",
        }
    }
}

/// The seller's shop list, cached beside the tokens (a dot-file, a dot-key).
pub enum Cache {
    File(PathBuf),
    Etcd(std::sync::Arc<gateway::Gateway>, String),
}

impl Cache {
    pub fn read(&self) -> Option<Vec<u8>> {
        match self {
            Cache::File(path) => files::read_capped(path).ok().flatten(),
            Cache::Etcd(gateway, key) => etcd::cache_read(gateway, key),
        }
    }

    /// Best effort: the list is still usable when the cache cannot be written.
    pub fn write(&self, bytes: &[u8]) {
        match self {
            Cache::File(path) => {
                let _ = files::replace_private(path, bytes);
            }
            Cache::Etcd(gateway, key) => etcd::cache_write(gateway, key, bytes),
        }
    }
}

/// One seller's tokens, wherever they live.
pub struct Home {
    place: Box<dyn Place>,
}

impl Home {
    /// Checks the location before anything is spent (a usage error, exit 2, for one that
    /// cannot hold tokens).
    pub fn open(location: &Location) -> Result<Home, Error> {
        let place: Box<dyn Place> = match location {
            Location::File(path) => Box::new(file::FileHome::new(path)?),
            Location::Etcd(url) => Box::new(etcd::EtcdHome::new(url)?),
        };
        Ok(Home { place })
    }

    /// The location as the user gave it, for messages.
    pub fn shown(&self) -> String {
        self.place.shown()
    }

    pub fn id(&self) -> HomeId {
        self.place.id()
    }

    /// Whether `path` names this home's file (through links, or another name for it);
    /// `Err` when it is not a regular file at all.
    pub fn is_file(&self, path: &std::path::Path) -> Result<bool, Error> {
        Ok(file::FileHome::any(path)?.id() == self.id())
    }

    pub fn cache(&self) -> Cache {
        self.place.cache()
    }

    /// The saved tokens as a cheap read sees them (maybe stale: a hint, never a decision).
    pub fn peek(&self) -> Option<TokenResponse> {
        self.place.peek_saved()
    }

    /// Whether nothing an earlier run kept waits beside the tokens (a cheap look; see
    /// `Place::something_kept`).
    pub fn nothing_kept(&self) -> bool {
        !self.place.something_kept()
    }

    /// Whether another run holds the lock now, as a read sees it (see `Place`).
    pub fn locked_elsewhere(&self) -> bool {
        self.place.locked_elsewhere()
    }

    pub fn privacy(&self) -> Option<(bool, String)> {
        self.place.privacy()
    }

    /// The tokens as saved, with an answer a dead run kept taken into account: installed
    /// under the lock when the lock is free, else used as it is. For the commands that
    /// only read (`status`, `token`, `api`, `exec`, `shops`).
    pub fn read(&self) -> Result<TokenResponse, Error> {
        let saved = self.place.read_saved();
        if !self.place.something_kept() {
            return saved.map(|(r, _)| r);
        }
        if let Ok(guard) = self.lock(Duration::ZERO) {
            return guard.read();
        }
        // Another run holds the lock (or installing failed): a complete, newer answer of
        // the same seller is the truth all the same.
        let reserved = self.place.reserved();
        let newer = saved.as_ref().is_ok_and(|s| Fit::of(&reserved, Some(s)) == Fit::Installable);
        match reserved.answer {
            Some(found) if newer => Ok(found),
            _ => saved.map(|(r, _)| r),
        }
    }

    /// The tokens as saved, nothing else looked at.
    pub fn read_as_saved(&self) -> Result<TokenResponse, Error> {
        self.place.read_saved().map(|(r, _)| r)
    }

    /// Takes the lock, waiting up to `wait` for another holder to finish, then installs
    /// what an earlier run kept (an error there is this run's: nothing was spent).
    pub fn lock(&self, wait: Duration) -> Result<Guard<'_>, Error> {
        let held = self.place.lock(wait)?;
        let guard = Guard { home: self, held };
        guard.install_kept()?;
        Ok(guard)
    }

    /// The login lock, held until the claim is dropped, so that two sign-ins onto one
    /// seller's tokens never both save (refreshes take the other lock and are not kept
    /// waiting); after `wait`, an error naming it.
    pub fn claim_login(&self, wait: Duration) -> Result<LoginClaim<'_>, Error> {
        Ok(LoginClaim { _held: self.place.claim_login(wait)? })
    }

    /// Proves, before a seller is sent anywhere, that the answer could be saved: takes the
    /// lock, reserves the room, and lets both go.
    pub fn check_room(&self, wait: Duration) -> Result<(), Error> {
        self.lock(wait)?.reserve().map(drop)
    }
}

/// What another login's claim says, and what waiting for it says.
fn login_busy(home: &str, lock: &str) -> String {
    format!(
        "another `tiktok-shop-auth login` is signing in to `{home}` (it holds `{lock}`), so this one stopped before \
         opening anything: finish or stop that one first, or wait longer with --lock-wait"
    )
}

fn say_login_wait(home: &str, wait: Duration) {
    noteln!(
        "another `tiktok-shop-auth login` is signing in to `{home}`; waiting up to {} s for it (--lock-wait)",
        wait.as_secs()
    );
}

/// A login's claim on the seller's tokens (see `Home::claim_login`).
pub struct LoginClaim<'a> {
    _held: Box<dyn Held + 'a>,
}

/// The lock, held: the only way to read-for-update, to reserve room and to renew.
pub struct Guard<'a> {
    home: &'a Home,
    held: Box<dyn Held + 'a>,
}

impl Guard<'_> {
    /// The tokens as they are now that no one else can change them.
    pub fn read(&self) -> Result<TokenResponse, Error> {
        self.home.read_as_saved()
    }

    /// Spends the refresh token saved now (read here, under the lock, never handed in)
    /// through `call` (the token endpoint), with the room reserved, and saves the answer:
    /// the one way every command refreshes. An expired refresh token is exit 5 before
    /// anything is sent; a refused one is exit 5, or exit 1 naming a kept answer beside
    /// (it may be the newer tokens) instead of "sign in again".
    pub fn renew(
        &self,
        call: impl FnOnce(&Secret, &Room) -> Result<TokenResponse, Error>,
    ) -> Result<TokenResponse, Error> {
        let saved = self.read()?;
        let shown = self.home.shown();
        saved.tokens.check_refresh(&shown, expiry::now())?;
        let reservation = self.reserve_for(Some(&saved))?;
        let result = reservation.spend(Replace::SameSeller, |room| call(&saved.tokens.refresh_token, room));
        let api = match result {
            Err(Error::TikTok(api)) if crate::token_response::refresh_token_refused(api.code) => api,
            other => return other,
        };
        // A run that lost its lock (paused past an etcd lease) spent a token another run
        // had already spent: that is the news, not "sign in again".
        if let Err(lost) = self.held.still_held() {
            return Err(Error::Local(format!("{api}: {lost}")));
        }
        // Another seller's kept answers cannot be this refresh token's successor: only the
        // seller's own (or undecided ones) are named instead of "sign in again".
        let saved_now = self.home.place.read_saved().ok();
        let kept: Vec<String> = self
            .home
            .place
            .kept_beside()
            .iter()
            .filter(|k| k.answer.as_ref().is_some_and(|a| saved_now.as_ref().is_none_or(|(s, _)| same_seller(a, s))))
            .map(|k| format!("`{}`", k.shown))
            .collect();
        match kept.as_slice() {
            [] => Err(Error::NeedLogin(format!(
                "{api}: the refresh token in `{}` is no longer accepted; run `{}` (the tokens were left as they \
                 were)",
                crate::error::for_people(&shown),
                crate::error::fix("login", &shown)
            ))),
            kept => Err(Error::Local(format!(
                "{api}: the refresh token in `{shown}` is no longer accepted, but {} beside it holds this seller's \
                 tokens, which were not installed: look at it, and install it with \
                 `tiktok-shop-auth login --recover FILE` before signing in again",
                kept.join(", ")
            ))),
        }
    }

    /// The reserved place, made before anything is spent.
    pub fn reserve(&self) -> Result<Reservation<'_>, Error> {
        self.reserve_for(self.read().ok().as_ref())
    }

    /// `reserve`, for the tokens as `saved` holds them (read under this lock).
    fn reserve_for(&self, saved: Option<&TokenResponse>) -> Result<Reservation<'_>, Error> {
        let slot = self.home.place.reserve(self.held.as_ref(), saved.map_or(0, |s| s.bytes.len()))?;
        Ok(Reservation { guard: self, slot, seller: saved.map(|s| s.open_id().to_string()) })
    }

    /// `logout`: the saved tokens, the shop cache and every kept answer removed, under this
    /// lock; what was removed.
    pub fn remove_all(&self) -> Result<Vec<String>, Error> {
        self.home.place.remove_all(self.held.as_ref())
    }

    /// Installs what an earlier run kept, if anything: nothing to do (one cheap look)
    /// unless the reserved place is taken. Then the newest complete answer of the same
    /// seller that is newer than the saved one (the reserved answer, or a recovery one)
    /// becomes the saved tokens, in one line on stderr; copies of it go; the reserved place
    /// is freed; other kept answers (another seller's, older, incomplete) are left and named.
    fn install_kept(&self) -> Result<(), Error> {
        let place = self.home.place.as_ref();
        if !place.something_kept() {
            return Ok(());
        }
        let held = self.held.as_ref();
        let reserved = place.reserved();
        let saved = match place.read_saved() {
            Ok(s) => Some(s),
            Err(Error::NeedLogin(_)) => None,
            // Corrupt or unreadable tokens are reported as such, never replaced by a kept
            // answer; the reserved place is freed (its answer set aside and named) so that a
            // new login can replace them.
            Err(e @ Error::CorruptTokenFile { .. }) => {
                if reserved.answer.is_some() {
                    let aside = place.set_aside(held, &reserved)?;
                    noteln!(
                        "tiktok-shop-auth: warning: `{}` held tokens an earlier run kept, but {e}; they were moved to \
                         `{aside}`: look at both",
                        reserved.shown
                    );
                } else {
                    place.discard(held, &reserved)?;
                }
                return Ok(());
            }
            Err(_) => return Ok(()),
        };
        let reserved_fit = Fit::of(&reserved, saved.as_ref());
        // Recovery answers are installed only over tokens of the same seller: with none
        // saved, only the reserved answer (which only this home's lock holder writes) is.
        let recoveries: Vec<(Kept, Fit)> = place
            .kept()?
            .into_iter()
            .map(|k| {
                let fit = if saved.is_some() { Fit::of(&k, saved.as_ref()) } else { Fit::NotNewer };
                (k, fit)
            })
            .collect();
        let mut best = (reserved_fit == Fit::Installable).then_some(&reserved);
        for (kept, fit) in &recoveries {
            let (Some(found), Fit::Installable) = (&kept.answer, fit) else { continue };
            let better = match best.and_then(|b| b.answer.as_ref()) {
                None => true,
                // A recovery answer was written whole; the reserved one may be what failed.
                Some(b) => found.tokens.same_as(&b.tokens) || found.tokens.is_newer_than(&b.tokens, false),
            };
            if better {
                best = Some(kept);
            }
        }
        let saved_len = saved.as_ref().map_or(0, |(s, _)| s.bytes.len());
        let reserved_is_a_copy = recoveries
            .iter()
            .any(|(k, _)| matches!((&k.answer, &reserved.answer), (Some(k), Some(r)) if k.tokens.same_as(&r.tokens)));
        match best {
            Some(best) => place.install(held, best, saved_len)?,
            None if reserved_fit == Fit::OtherSeller && !reserved_is_a_copy => {
                // Another seller's answer must not block the reserved place: set aside.
                let aside = place.set_aside(held, &reserved)?;
                noteln!(
                    "tiktok-shop-auth: warning: `{}` held another seller's tokens than `{}`; they were moved to `{aside}`",
                    reserved.shown,
                    self.home.shown()
                );
            }
            None => place.discard(held, &reserved)?,
        }
        let installed = best.and_then(|b| b.answer.as_ref());
        if let Some(best) = best {
            noteln!(
                "tiktok-shop-auth: installed the newer tokens that an earlier run kept in `{}` (it had spent the grant \
                 but not saved the answer) as `{}`",
                best.shown,
                self.home.shown()
            );
        }
        for (kept, fit) in &recoveries {
            if best.is_some_and(|b| std::ptr::eq(b, kept)) {
                continue;
            }
            let copy = matches!((&kept.answer, installed), (Some(k), Some(i)) if k.tokens.same_as(&i.tokens));
            if copy {
                place.discard(held, kept)?;
            } else {
                let why = if installed.is_some() && *fit == Fit::Installable { Fit::NotNewer } else { *fit };
                noteln!(
                    "tiktok-shop-auth: warning: `{}` beside `{}` was left where it is: {}",
                    kept.shown,
                    self.home.shown(),
                    why.why_not()
                );
            }
        }
        Ok(())
    }
}

/// Proof, for the token endpoints, that their answer has somewhere to go: only
/// `Reservation::spend` makes one.
pub struct Room<'a> {
    slot: &'a dyn Slot,
}

impl Room<'_> {
    /// Keeps an answer, as received, the moment it arrives (once: later calls do nothing):
    /// from then on a run killed before the save leaves it for the next run to install.
    /// Only a complete token response is kept: an error, a proxy's page, half an answer is
    /// nothing to install.
    pub fn keep(&self, answer: &[u8]) {
        if TokenResponse::parse(answer).is_ok_and(|r| r.json["code"] == 0) {
            self.slot.keep(answer);
        }
    }
}

/// The answer's reserved place, under the lock.
pub struct Reservation<'a> {
    guard: &'a Guard<'a>,
    slot: Box<dyn Slot + 'a>,
    /// The seller (`open_id`) of the saved tokens when the room was reserved; `None`: none.
    seller: Option<String>,
}

impl Reservation<'_> {
    /// Spends a grant (`call` is the token request) and saves its answer, interrupts held
    /// from the request to the save. An answer of another seller than the saved one is
    /// set aside unless `replace` allows it. On a failed save the answer is kept somewhere
    /// the next run installs it from; the error names where.
    pub fn spend(
        mut self,
        replace: Replace,
        call: impl FnOnce(&Room) -> Result<TokenResponse, Error>,
    ) -> Result<TokenResponse, Error> {
        self.guard.held.still_held()?;
        self.slot.expect(self.seller.as_deref(), replace);
        let hold = interrupt::hold()?;
        let answer = call(&Room { slot: self.slot.as_ref() })?;
        let ours = self.seller.as_deref().unwrap_or_default();
        if replace == Replace::SameSeller
            && !ours.is_empty()
            && !answer.open_id().is_empty()
            && answer.open_id() != ours
        {
            return Err(self.set_aside(&answer));
        }
        let replacing = replace == Replace::AnySeller && !ours.is_empty() && answer.open_id() != ours;
        if let Err(e) = self.slot.save(&answer) {
            return Err(match self.slot.recover_or_lose(&answer, e) {
                // Another seller's: no later run installs it over this one's (`--replace` did).
                Error::Unsaved { cause, recovery } if replacing => Error::Local(format!(
                    "{cause}; the new tokens (another seller's than the saved ones, as --replace allowed) were saved \
                     to `{recovery}` instead: install them with `tiktok-shop-auth login --recover {recovery} --replace`"
                )),
                other => other,
            });
        }
        // An interrupt held meanwhile stops the run once the caller is done with the answer
        // (`interrupt::check`): the tokens are saved, so this spend succeeded.
        drop(hold);
        Ok(answer)
    }

    /// Installs a token response that was already had (a recovery file, a copy).
    pub fn install(mut self, answer: &TokenResponse) -> Result<(), Error> {
        self.slot.save(answer)
    }

    /// A `login` approved by another seller: the saved tokens stay, the answer is kept
    /// where no later run installs it from.
    fn set_aside(&mut self, answer: &TokenResponse) -> Error {
        let current = self.guard.read().ok();
        let seller = |r: Option<&TokenResponse>, open_id: &str| {
            format!("{} (open_id {})", clean(r.and_then(|r| r.seller()).unwrap_or("an unnamed seller")), clean(open_id))
        };
        let ours = seller(current.as_ref(), self.seller.as_deref().unwrap_or_default());
        let theirs = seller(Some(answer), answer.open_id());
        let kept = self.slot.set_aside(answer);
        Error::OtherSeller { path: self.guard.home.shown(), ours, theirs, kept }
    }
}
