//! An etcd cluster: one seller's tokens in one key, with every promise the files make,
//! across machines.
//!
//! Keys, for `etcd://HOST:PORT[,...]/PREFIX/NAME`: the tokens at `PREFIX/NAME` (exactly the
//! token file's JSON); beside them, under names whose last part starts with `.` (so a
//! listing of sellers never includes them): the lock `PREFIX/.NAME.lock` and the login
//! lock `PREFIX/.NAME.login.lock` (each on a lease this run keeps alive), the reserved
//! answer `PREFIX/.NAME.tmp` (on no lease: it must outlive a run that died holding it),
//! kept answers `PREFIX/.NAME.recovered-<unix time>-<id>`, the shop cache `PREFIX/.NAME.shops`.
//!
//! Why a lock alone is not enough (etcd's own docs say so): a run paused, or cut off, until
//! its lease ran out still believes it holds the lock. So the lock key's create revision is
//! a fencing token: every write under the lock is a txn that checks it, and one that fails
//! means the lock is another run's now. The grant itself is spent only after a fenced write
//! of the reservation succeeded, and, when time has passed since, a fenced check. The
//! answer is written to the reserved key the moment it arrives, guarded by the
//! reservation's revision (not the lock's): an answer already paid for is kept even when
//! the lock was lost meanwhile (into a recovery key, when the reservation was taken over),
//! and saved when nobody touched the reservation. The next holder, on any machine, installs
//! a kept answer exactly as a leftover file is installed.
//!
//! An unclear write (a timeout, a reset, an empty reply, a 5xx) is read back and decided by
//! what it wrote (a unique id in the lock and the reservation, the answer's own bytes in
//! the tokens), never blindly sent again.

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::json;

use super::gateway::{self, Compare, Failure, Gateway, Kind, Kv, Op, TlsFiles};
use super::{Cache, Held, HomeId, Kept, KeptRef, Place, Slot, Stamp};
use crate::error::Error;
use crate::expiry;
use crate::json_text::pretty;
use crate::secret::{Secret, clean, random_urlsafe};
use crate::token_response::TokenResponse;

pub const ENV_USER: &str = "TIKTOK_SHOP_ETCD_USER";
pub const ENV_PASSWORD: &str = "TIKTOK_SHOP_ETCD_PASSWORD";
pub const ENV_CA: &str = "TIKTOK_SHOP_ETCD_CA";
pub const ENV_CERT: &str = "TIKTOK_SHOP_ETCD_CERT";
pub const ENV_KEY: &str = "TIKTOK_SHOP_ETCD_KEY";
/// The lock lease's length in seconds (default `LEASE_TTL`): how long a dead or paused
/// holder keeps others waiting.
pub const ENV_LEASE: &str = "TIKTOK_SHOP_ETCD_LEASE_TTL";
pub const LEASE_TTL: i64 = 10;

/// An etcd location: `etcd://HOST:PORT[,HOST:PORT...]/PREFIX/NAME`, or `etcd+https://`; with
/// no NAME (ending in `/`), every seller under PREFIX.
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdUrl {
    pub tls: bool,
    pub members: Vec<String>,
    pub prefix: String,
    pub name: Option<String>,
    /// `--etcd-password-file`, when given.
    pub password_file: Option<PathBuf>,
}

impl EtcdUrl {
    /// `None` when `text` is no etcd location at all.
    pub fn parse(text: &str) -> Result<Option<EtcdUrl>, Error> {
        let (tls, rest) = match (text.strip_prefix("etcd://"), text.strip_prefix("etcd+https://")) {
            (Some(rest), _) => (false, rest),
            (_, Some(rest)) => (true, rest),
            _ => return Ok(None),
        };
        let bad = |why: &str| {
            Error::Usage(format!(
                "the etcd location `{}` {why}: it looks like etcd://HOST:PORT[,HOST:PORT...]/PREFIX/NAME \
                 (or ending in `/` for every seller under PREFIX)",
                clean(&masked(text))
            ))
        };
        let (hosts, path) = rest.split_once('/').ok_or_else(|| bad("has no /PREFIX/NAME"))?;
        if hosts.contains('@') {
            return Err(bad(&format!(
                "carries a user or password, which would show in `ps` and shell history; set {ENV_USER} and \
                 {ENV_PASSWORD} (or --etcd-password-file) instead"
            )));
        }
        let members: Vec<String> = hosts.split(',').map(str::to_string).collect();
        for member in &members {
            // HOST:PORT: a name or an IPv4 address, or an IPv6 one in brackets; PORT digits.
            let wrong = member.rsplit_once(':').is_none_or(|(h, p)| {
                let host_ok = match h.strip_prefix('[') {
                    Some(v6) => v6.strip_suffix(']').is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
                    None => !h.is_empty() && !h.contains(':'),
                };
                !host_ok || p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.parse::<u16>().is_err()
            });
            if wrong || member.contains(char::is_whitespace) {
                return Err(bad(&format!("has the member `{}`, which is not HOST:PORT", clean(member))));
            }
        }
        let (prefix, name) = match path.rsplit_once('/') {
            Some((prefix, name)) => (prefix, name),
            None => return Err(bad("has a NAME but no PREFIX before it")),
        };
        if prefix.is_empty() || prefix.split('/').any(|p| p.is_empty() || p.starts_with('.')) {
            return Err(bad("needs a PREFIX of names that do not start with `.`"));
        }
        let name = match name {
            "" => None,
            n => Some(seller_name(n).map_err(|why| bad(&why))?.to_string()),
        };
        Ok(Some(EtcdUrl { tls, members, prefix: prefix.to_string(), name, password_file: None }))
    }

    /// As shown to a person (no password is ever part of it).
    pub fn shown(&self) -> String {
        let scheme = if self.tls { "etcd+https" } else { "etcd" };
        format!("{scheme}://{}/{}/{}", self.members.join(","), self.prefix, self.name.as_deref().unwrap_or(""))
    }

    /// This location's seller `name` (refused when it is no seller's name: see `seller_name`).
    pub fn seller(&self, name: &str) -> Result<EtcdUrl, Error> {
        let name = seller_name(name).map_err(|why| {
            Error::Usage(format!("`{}` cannot be a seller's name under `{}`: it {why}", clean(name), self.shown()))
        })?;
        Ok(EtcdUrl { name: Some(name.to_string()), ..self.clone() })
    }

    /// The sellers under the prefix: keys `PREFIX/NAME` with no `/` and no leading `.`.
    pub fn sellers(&self) -> Result<Vec<EtcdUrl>, Error> {
        let gateway = gateway_for(self)?;
        let prefix = format!("{}/", self.prefix);
        let keys = gateway.keys(&prefix).map_err(|f| f.into_error(&format!("the listing of `{}`", self.shown())))?;
        let mut names: Vec<String> = keys
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix))
            .filter(|n| !n.is_empty() && !n.contains('/') && !n.starts_with('.'))
            .map(str::to_string)
            .collect();
        names.sort();
        // A key no seller could have been given (made by hand) is not one.
        Ok(names.iter().filter_map(|n| self.seller(n).ok()).collect())
    }
}

/// `name` if it may name a seller's tokens: not empty, no `/`, no control characters, not
/// starting with `.` (the tool's own keys do), and not ending in `.login` (whose lock key
/// would be the login lock of the seller without it); else why not.
fn seller_name(name: &str) -> Result<&str, String> {
    if name.is_empty() {
        Err("is empty".into())
    } else if name.starts_with('.') {
        Err("starts with `.`, which is for the tool's own keys".into())
    } else if name.contains('/') {
        Err("has a `/`".into())
    } else if name.chars().any(char::is_control) {
        Err("has control characters".into())
    } else if name.ends_with(".login") {
        Err(format!(
            "ends in `.login`: its lock would be the login lock of `{}`",
            clean(name.trim_end_matches(".login"))
        ))
    } else {
        Ok(name)
    }
}

/// A location with any `user:password@` shown as `***@`.
fn masked(text: &str) -> String {
    match text.split_once("://").and_then(|(s, rest)| rest.split_once('@').map(|(_, r)| (s, r))) {
        Some((scheme, rest)) => format!("{scheme}://***@{rest}"),
        None => text.to_string(),
    }
}

/// One gateway client per cluster and process, shared by every seller of a fleet (one
/// connection pool, one authentication).
pub fn gateway_for(url: &EtcdUrl) -> Result<Arc<Gateway>, Error> {
    type Clients = Mutex<Vec<(String, Arc<Gateway>)>>;
    static CLIENTS: OnceLock<Clients> = OnceLock::new();
    let id = format!("{}:{}", url.tls, url.members.join(","));
    let clients = CLIENTS.get_or_init(|| Mutex::new(Vec::new()));
    let mut clients = clients.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, gateway)) = clients.iter().find(|(k, _)| *k == id) {
        return Ok(gateway.clone());
    }
    let tls = url.tls.then(|| TlsFiles {
        ca: setting(ENV_CA).map(PathBuf::from),
        client: setting(ENV_CERT).zip(setting(ENV_KEY)).map(|(c, k)| (PathBuf::from(c), PathBuf::from(k))),
    });
    if url.tls && setting(ENV_CERT).is_some() != setting(ENV_KEY).is_some() {
        return Err(Error::Usage(format!("a client certificate needs both {ENV_CERT} and {ENV_KEY}")));
    }
    let scheme = if url.tls { "https" } else { "http" };
    let members = url.members.iter().map(|m| format!("{scheme}://{m}")).collect();
    let gateway = Arc::new(Gateway::new(members, gateway::agent(tls.as_ref())?, credentials(url)?));
    clients.push((id, gateway.clone()));
    Ok(gateway)
}

fn setting(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// The user and password: from the environment or `--etcd-password-file`, never a flag value.
fn credentials(url: &EtcdUrl) -> Result<Option<(String, Secret)>, Error> {
    let password = match &url.password_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!(
                    "cannot read the etcd password from --etcd-password-file `{}`: {e}",
                    path.display()
                ))
            })?;
            Some(text.lines().next().unwrap_or_default().trim().to_string())
        }
        None => setting(ENV_PASSWORD),
    };
    match (setting(ENV_USER), password) {
        (None, None) => Ok(None),
        (Some(user), Some(password)) if !password.is_empty() => Ok(Some((user, Secret::new(password)))),
        (Some(_), _) => Err(Error::Usage(format!(
            "{ENV_USER} is set but no password: set {ENV_PASSWORD} or pass --etcd-password-file PATH"
        ))),
        (None, Some(_)) => Err(Error::Usage(format!("an etcd password was given but no {ENV_USER} to go with it"))),
    }
}

fn lease_ttl() -> i64 {
    setting(ENV_LEASE).and_then(|v| v.parse().ok()).filter(|t| (1..=3600).contains(t)).unwrap_or(LEASE_TTL)
}

/// The local file for `key`'s answers that no member took: `.KEY.CLUSTER.etcd-kept` in the
/// current directory, KEY with `%` and `/` escaped (so `a/b` and `a_b` differ), CLUSTER a
/// hash of the members as given (two clusters holding the same key differ too).
fn local_file(url: &EtcdUrl, key: &str) -> PathBuf {
    let mut members = url.members.clone();
    members.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a, 64 bits: a name, not a defence
    for byte in format!("{}\n{}\n{key}", url.tls, members.join(",")).bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let escaped: String = key.replace('%', "%25").replace('/', "%2F").chars().take(150).collect();
    PathBuf::from(format!(".{escaped}.{hash:016x}.etcd-kept"))
}

/// Whether `suffix` (what follows `.NAME.recovered-`) is a recovery key's own: `<unix
/// time>-<id>` (`put_recovery`), never a key of the seller `NAME.recovered-x` (`.tmp`...).
fn recovery_suffix(suffix: &str) -> bool {
    suffix.split_once('-').is_some_and(|(time, id)| {
        !time.is_empty()
            && time.bytes().all(|b| b.is_ascii_digit())
            && !id.is_empty()
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A unique id for what this run writes, to tell "mine applied" from "not applied".
fn write_id() -> String {
    random_urlsafe(12).unwrap_or_else(|_| format!("{}-{}", std::process::id(), expiry::now()))
}

/// One seller's keys in a cluster.
pub struct EtcdHome {
    url: EtcdUrl,
    gateway: Arc<Gateway>,
    key: String,
    lock_key: String,
    login_key: String,
    tmp_key: String,
    recovered_prefix: String,
    shops_key: String,
    /// Where an answer goes when no member takes it: a file of one fixed name in the
    /// current directory, so the next run started there finds it with one `stat`.
    local: PathBuf,
    /// The token, reserved and recovery keys as last read (one round trip for all three),
    /// until this run writes.
    snapshot: Mutex<Option<Snapshot>>,
}

#[derive(Clone)]
struct Snapshot {
    token: Option<Kv>,
    tmp: Option<Kv>,
    recovered: Vec<Kv>,
}

impl EtcdHome {
    pub fn new(url: &EtcdUrl) -> Result<EtcdHome, Error> {
        let Some(name) = &url.name else {
            return Err(Error::Usage(format!(
                "`{}` names every seller under a prefix; this command needs one: add the seller's NAME after the last `/`",
                url.shown()
            )));
        };
        let p = &url.prefix;
        Ok(EtcdHome {
            gateway: gateway_for(url)?,
            key: format!("{p}/{name}"),
            lock_key: format!("{p}/.{name}.lock"),
            login_key: format!("{p}/.{name}.login.lock"),
            tmp_key: format!("{p}/.{name}.tmp"),
            recovered_prefix: format!("{p}/.{name}.recovered-"),
            shops_key: format!("{p}/.{name}.shops"),
            local: local_file(url, &format!("{p}/{name}")),
            url: url.clone(),
            snapshot: Mutex::new(None),
        })
    }

    /// A key of this cluster, as shown to a person.
    fn shown_key(&self, key: &str) -> String {
        let scheme = if self.url.tls { "etcd+https" } else { "etcd" };
        format!("{scheme}://{}/{key}", self.url.members.join(","))
    }

    fn forget(&self) {
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn snapshot(&self) -> Result<Snapshot, Error> {
        if let Some(s) = self.snapshot.lock().unwrap_or_else(PoisonError::into_inner).clone() {
            return Ok(s);
        }
        let answer = self
            .gateway
            .read(&self.snapshot_ops())
            .map_err(|f| f.into_error(&format!("the read of `{}`", self.url.shown())))?;
        Ok(self.remember(answer.ranges))
    }

    /// The reads a snapshot is made of (also sent with the lock, saving a round trip).
    fn snapshot_ops(&self) -> [Op; 3] {
        [Op::Get(self.key.clone()), Op::Get(self.tmp_key.clone()), Op::GetPrefix(self.recovered_prefix.clone())]
    }

    /// A snapshot from the answers to `snapshot_ops`, remembered.
    fn remember(&self, ranges: Vec<Vec<Kv>>) -> Snapshot {
        let mut ranges = ranges.into_iter();
        let first = |r: Option<Vec<Kv>>| r.and_then(|v| v.into_iter().next());
        let token = first(ranges.next());
        let tmp = first(ranges.next());
        let mut recovered = ranges.next().unwrap_or_default();
        recovered.retain(|kv| kv.key.strip_prefix(&self.recovered_prefix).is_some_and(recovery_suffix));
        let snapshot = Snapshot { token, tmp, recovered };
        *self.snapshot.lock().unwrap_or_else(PoisonError::into_inner) = Some(snapshot.clone());
        snapshot
    }

    fn kept_of(&self, kv: &Kv, reserved: bool) -> Kept {
        Kept {
            shown: self.shown_key(&kv.key),
            answer: TokenResponse::parse(&kv.value).ok(),
            stamp: Stamp(kv.mod_revision.max(0) as u128),
            reserved,
            place: KeptRef::Key { key: kv.key.clone(), revision: kv.mod_revision },
        }
    }

    fn key_of(kept: &Kept) -> Result<(&str, i64), Error> {
        match &kept.place {
            KeptRef::Key { key, revision } => Ok((key, *revision)),
            KeptRef::Path(_) => Err(Error::Local("a kept answer of another store".into())),
        }
    }

    /// A fenced txn (every write under the lock): its compares hold, or the lock is lost
    /// (`Lost`) or the compares about the data failed (`Changed`). An unclear outcome is read
    /// back with `applied` and decided; not applied, it is sent once more.
    fn fenced(
        &self,
        held: &dyn Held,
        compare: &[Compare],
        success: &[Op],
        what: &str,
        applied: &dyn Fn(&EtcdHome) -> Result<bool, Error>,
    ) -> Result<Written, Error> {
        let mut compares: Vec<Compare> = held.fence().map(|(k, r)| Compare::Created(k, r)).into_iter().collect();
        compares.extend_from_slice(compare);
        let fence_key = held.fence().map(|(k, _)| k);
        let mut failure = Vec::new();
        if let Some(key) = &fence_key {
            failure.push(Op::Get(key.clone()));
        }
        let mut resent = false;
        for _ in 0..3 {
            self.forget();
            match self.gateway.txn(&compares, success, &failure, Kind::Write) {
                Ok(answer) if answer.succeeded => {
                    held.confirm();
                    return Ok(Written::Done(answer.revision));
                }
                // Sent again after an unclear answer, the first may have applied after all
                // (the read-back raced it): then its compares fail now, and it is done.
                Ok(_) if resent && applied(self).unwrap_or(false) => return Ok(Written::Done(0)),
                Ok(answer) => {
                    let fence_held = match (held.fence(), answer.ranges.first().and_then(|r| r.first())) {
                        (Some((_, revision)), Some(kv)) => kv.create_revision == revision,
                        (Some(_), None) => false,
                        (None, _) => true,
                    };
                    return Ok(if fence_held { Written::Changed } else { Written::Lost });
                }
                Err(Failure::Unknown(why)) => {
                    // Decided by reading back; a read-back that fails too is tried again
                    // (briefly), never taken for "did not apply".
                    let mut read = applied(self);
                    for pause in [200, 400] {
                        if read.is_ok() {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(pause));
                        read = applied(self);
                    }
                    match read {
                        Ok(true) => return Ok(Written::Done(0)),
                        Ok(false) => noteln!(
                            "tiktok-shop-auth: etcd gave no clear answer to {what} ({why}); reading back showed it did \
                             not apply: sending it again"
                        ),
                        Err(e) => {
                            return Err(Error::Network(format!(
                                "etcd gave no clear answer to {what} ({why}), and reading back whether it applied failed \
                                 too ({e})"
                            )));
                        }
                    }
                    resent = true;
                }
                Err(f) => return Err(f.into_error(what)),
            }
        }
        Err(Error::Network(format!("etcd gave no clear answer to {what}, three times")))
    }

    fn lost(&self) -> Error {
        Error::Local(format!(
            "this run no longer holds the lock `{}` (its lease ran out: the process was paused, or cut off from \
             the cluster, for longer than {} s); another run may hold it now, so nothing more was written",
            self.shown_key(&self.lock_key),
            lease_ttl()
        ))
    }

    /// The value at `key` now (linearizable), if any.
    fn value_of(&self, key: &str) -> Result<Option<Kv>, Error> {
        let answer =
            self.gateway.read(&[Op::Get(key.into())]).map_err(|f| f.into_error(&format!("the read of `{key}`")))?;
        Ok(answer.ranges.into_iter().next().and_then(|r| r.into_iter().next()))
    }

    /// Puts `value` at a new recovery key, only if that key is new; where it went.
    fn put_recovery(&self, value: &[u8]) -> Result<String, Error> {
        let key = format!("{}{}-{}", self.recovered_prefix, expiry::now(), write_id());
        let ops = [Op::put(&key, value)];
        for _ in 0..3 {
            self.forget();
            match self.gateway.txn(&[Compare::Created(key.clone(), 0)], &ops, &[], Kind::Write) {
                Ok(a) if a.succeeded => return Ok(self.shown_key(&key)),
                Ok(_) => return Ok(self.shown_key(&key)), // only ours could have made it
                Err(Failure::Unknown(_)) if self.value_of(&key).ok().flatten().is_some_and(|kv| kv.value == value) => {
                    return Ok(self.shown_key(&key));
                }
                Err(Failure::Unknown(_)) => continue,
                Err(f) => return Err(f.into_error("the write of a recovery key")),
            }
        }
        Err(Error::Network("etcd gave no clear answer to the write of a recovery key, three times".into()))
    }
}

/// What a fenced write came to.
enum Written {
    /// Applied, at this revision (0: found applied on reading back).
    Done(i64),
    /// The lock is still ours, but the data compared against had changed.
    Changed,
    /// The lock is another run's now (or nobody's).
    Lost,
}

impl Place for EtcdHome {
    fn shown(&self) -> String {
        self.url.shown()
    }

    fn id(&self) -> HomeId {
        let mut members = self.url.members.clone();
        members.sort();
        HomeId::Path(format!("etcd:{}:{}/{}", self.url.tls, members.join(","), self.key))
    }

    fn read_saved(&self) -> Result<(TokenResponse, Stamp), Error> {
        let Some(kv) = self.snapshot()?.token else {
            return Err(Error::NeedLogin(format!(
                "no tokens at `{}`: run `tiktok-shop-auth login --token-file {}` first",
                self.url.shown(),
                self.url.shown()
            )));
        };
        let response = TokenResponse::parse(&kv.value)
            .map_err(|reason| Error::CorruptTokenFile { path: PathBuf::from(self.url.shown()), reason })?;
        Ok((response, Stamp(kv.mod_revision.max(0) as u128)))
    }

    fn lock(&self, wait: Duration) -> Result<Box<dyn Held + '_>, Error> {
        self.forget();
        let lock = EtcdLock::acquire(self, &self.lock_key, wait, "another tiktok-shop-auth", true)?;
        Ok(Box::new(lock))
    }

    fn claim_login(&self, wait: Duration) -> Result<Box<dyn Held + '_>, Error> {
        match EtcdLock::acquire(self, &self.login_key, Duration::ZERO, "another `tiktok-shop-auth login`", false) {
            Err(Error::Busy(_)) if !wait.is_zero() => {
                super::say_login_wait(&self.shown(), wait);
                Ok(Box::new(EtcdLock::acquire(self, &self.login_key, wait, "another `tiktok-shop-auth login`", false)?))
            }
            other => Ok(Box::new(other?)),
        }
    }

    fn something_kept(&self) -> bool {
        self.snapshot().is_ok_and(|s| s.tmp.is_some() || !s.recovered.is_empty()) || self.local.exists()
    }

    fn reserved(&self) -> Kept {
        match self.snapshot().ok().and_then(|s| s.tmp) {
            Some(kv) => self.kept_of(&kv, true),
            None => Kept {
                shown: self.shown_key(&self.tmp_key),
                answer: None,
                stamp: Stamp(0),
                reserved: true,
                place: KeptRef::Key { key: self.tmp_key.clone(), revision: 0 },
            },
        }
    }

    fn kept(&self) -> Result<Vec<Kept>, Error> {
        let mut kept: Vec<Kept> = self.snapshot()?.recovered.iter().map(|kv| self.kept_of(kv, false)).collect();
        if let Ok(Some(bytes)) = crate::files::read_capped(&self.local) {
            kept.push(Kept {
                shown: crate::secret::shown(&self.local),
                answer: TokenResponse::parse(&bytes).ok(),
                // Written when the cluster could not be: after whatever it holds.
                stamp: Stamp(u128::MAX),
                reserved: false,
                place: KeptRef::Path(self.local.clone()),
            });
        }
        Ok(kept)
    }

    fn reserve<'a>(&'a self, held: &'a dyn Held, _saved_len: usize) -> Result<Box<dyn Slot + 'a>, Error> {
        let id = write_id();
        let marker = json!({ "reserved_by": id, "pid": std::process::id(), "host": hostname(), "at": expiry::now() })
            .to_string()
            .into_bytes();
        let tmp = self.tmp_key.clone();
        let ops = [Op::put(&tmp, &marker)];
        let applied = |home: &EtcdHome| Ok(home.value_of(&tmp)?.is_some_and(|kv| kv.value == marker));
        let revision = match self.fenced(
            held,
            &[Compare::Created(tmp.clone(), 0)],
            &ops,
            "the reservation",
            &applied,
        )? {
            Written::Done(0) => self.value_of(&tmp)?.map_or(0, |kv| kv.mod_revision),
            Written::Done(revision) => revision,
            Written::Lost => return Err(self.lost()),
            Written::Changed => {
                return Err(Error::Local(format!(
                    "`{}` is already there, so nothing was spent: another run's answer may be waiting in it; run again \
                     (the next run installs or clears it)",
                    self.shown_key(&tmp)
                )));
            }
        };
        Ok(Box::new(EtcdSlot {
            home: self,
            held,
            reserved: Cell::new(revision),
            kept: RefCell::new(None),
            elsewhere: RefCell::new(None),
            keep: false,
            taken_over: false,
            saved: Cell::new(false),
            local_copy: Cell::new(false),
            expected: RefCell::new((None, super::Replace::SameSeller)),
        }))
    }

    fn install(&self, held: &dyn Held, kept: &Kept, _saved_len: usize) -> Result<(), Error> {
        let answer = kept.answer.as_ref().ok_or_else(|| Error::Local("an incomplete answer".into()))?;
        let text = pretty(&answer.bytes);
        if let KeptRef::Path(path) = &kept.place {
            // The local file: into the tokens key (fenced, the reserved key cleared with
            // it), then the file goes.
            let token = self.key.clone();
            let applied = |home: &EtcdHome| Ok(home.value_of(&token)?.is_some_and(|kv| kv.value == text));
            let (mut compare, mut ops) = (Vec::new(), vec![Op::put(&self.key, &text)]);
            if let Some(tmp) = self.snapshot()?.tmp {
                compare.push(Compare::Modified(self.tmp_key.clone(), tmp.mod_revision));
                ops.push(Op::Delete(self.tmp_key.clone()));
            }
            return match self.fenced(held, &compare, &ops, "the install of a kept answer", &applied)? {
                Written::Done(_) => {
                    std::fs::remove_file(path).map_err(|e| Error::file("remove the kept answer", path, e))
                }
                _ => Err(self.lost()),
            };
        }
        let (key, revision) = EtcdHome::key_of(kept)?;
        let mut compare = vec![Compare::Modified(key.to_string(), revision)];
        let mut ops = vec![Op::put(&self.key, &text), Op::Delete(key.to_string())];
        if !kept.reserved
            && let Some(tmp) = self.snapshot()?.tmp
        {
            compare.push(Compare::Modified(self.tmp_key.clone(), tmp.mod_revision));
            ops.push(Op::Delete(self.tmp_key.clone()));
        }
        let token = self.key.clone();
        let applied = |home: &EtcdHome| Ok(home.value_of(&token)?.is_some_and(|kv| kv.value == text));
        match self.fenced(held, &compare, &ops, "the install of a kept answer", &applied)? {
            Written::Done(_) => Ok(()),
            Written::Lost => Err(self.lost()),
            Written::Changed => {
                Err(Error::Local(format!("`{}` changed while it was being installed; run again", kept.shown)))
            }
        }
    }

    fn discard(&self, held: &dyn Held, kept: &Kept) -> Result<(), Error> {
        if let KeptRef::Path(path) = &kept.place {
            return match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(Error::file("remove the kept answer", path, e))
                }
                _ => Ok(()),
            };
        }
        let (key, revision) = EtcdHome::key_of(kept)?;
        if revision == 0 {
            return Ok(());
        }
        // A reservation with no answer yet, made so lately that its run may still be waiting
        // for TikTok's (its lock lost to a pause, not to its end): freeing it would let this
        // run spend the same refresh token again. Nothing is spent; a run that died lets it
        // go once that time is over.
        if kept.reserved
            && kept.answer.is_none()
            && let Some(tmp) = self.snapshot().ok().and_then(|s| s.tmp)
            && let Some(busy) = in_flight(&tmp.value)
        {
            return Err(Error::Busy(format!("`{}` {busy}", kept.shown)));
        }
        let key = key.to_string();
        let gone = |home: &EtcdHome| Ok(home.value_of(&key)?.is_none());
        match self.fenced(
            held,
            &[Compare::Modified(key.clone(), revision)],
            &[Op::Delete(key.clone())],
            "a removal",
            &gone,
        )? {
            Written::Lost => Err(self.lost()),
            _ => Ok(()),
        }
    }

    fn set_aside(&self, held: &dyn Held, kept: &Kept) -> Result<String, Error> {
        let bytes = kept.answer.as_ref().map(|a| a.bytes.clone()).unwrap_or_default();
        let aside = self.put_recovery(&pretty(&bytes))?;
        self.discard(held, kept)?;
        Ok(aside)
    }

    fn kept_beside(&self) -> Vec<Kept> {
        self.forget();
        let mut kept = self.kept().unwrap_or_default();
        if self.snapshot().is_ok_and(|s| s.tmp.is_some()) {
            kept.insert(0, self.reserved());
        }
        kept
    }

    fn cache(&self) -> Cache {
        Cache::Etcd(self.gateway.clone(), self.shops_key.clone())
    }

    fn remove_all(&self, held: &dyn Held) -> Result<Vec<String>, Error> {
        self.forget();
        let snapshot = self.snapshot()?;
        let mut keys: Vec<String> =
            [&snapshot.token, &snapshot.tmp].iter().filter_map(|k| k.as_ref()).map(|kv| kv.key.clone()).collect();
        keys.extend(snapshot.recovered.iter().map(|kv| kv.key.clone()));
        keys.push(self.shops_key.clone());
        let ops: Vec<Op> = keys.iter().map(|k| Op::Delete(k.clone())).collect();
        let gone = |home: &EtcdHome| Ok(home.value_of(&home.key)?.is_none());
        match self.fenced(held, &[], &ops, "the removal of the tokens", &gone)? {
            Written::Done(_) => {}
            _ => return Err(self.lost()),
        }
        if let Err(e) = std::fs::remove_file(&self.local)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            return Err(Error::file("remove", &self.local, e));
        }
        Ok(keys.iter().filter(|k| **k != self.shops_key).map(|k| self.shown_key(k)).collect())
    }

    fn locked_elsewhere(&self) -> bool {
        self.gateway.peek(&self.lock_key).is_ok_and(|kv| kv.is_some())
    }

    fn peek_saved(&self) -> Option<TokenResponse> {
        let kv = self.gateway.peek(&self.key).ok()??;
        TokenResponse::parse(&kv.value).ok()
    }

    fn privacy(&self) -> Option<(bool, String)> {
        None
    }
}

/// A lock held in the cluster: a key on this process's lease (see `Lease`).
struct EtcdLock<'a> {
    home: &'a EtcdHome,
    key: String,
    /// The lock key's create revision: the fencing token.
    revision: i64,
    lease: Arc<Lease>,
    /// Let go of already (by the save that took it with it).
    released: Cell<bool>,
}

/// One lease a process and cluster, granted on the first lock and kept alive by one thread
/// for as long as the process runs: every lock sits on it, so a fleet pays for one grant,
/// not one a seller, and a process that dies lets go of all its locks when it ends.
struct Lease {
    id: i64,
    ttl: i64,
    /// False once a keep-alive found the lease gone, or none succeeded for a whole lease.
    alive: AtomicBool,
    /// When a lock on it was last known to be this run's (a keep-alive, a fenced write).
    confirmed: Mutex<Instant>,
}

impl Lease {
    /// The process's lease for `gateway`'s cluster: the live one, or a new one.
    fn of(gateway: &Arc<Gateway>) -> Result<Arc<Lease>, Failure> {
        type Leases = Mutex<Vec<(usize, Arc<Lease>)>>;
        static LEASES: OnceLock<Leases> = OnceLock::new();
        let mut leases = LEASES.get_or_init(|| Mutex::new(Vec::new())).lock().unwrap_or_else(PoisonError::into_inner);
        let id = Arc::as_ptr(gateway) as usize;
        leases.retain(|(_, lease)| lease.alive.load(Ordering::SeqCst));
        if let Some((_, lease)) = leases.iter().find(|(g, _)| *g == id) {
            return Ok(lease.clone());
        }
        let ttl = lease_ttl();
        let lease = Arc::new(Lease {
            id: gateway.grant(ttl)?,
            ttl,
            alive: AtomicBool::new(true),
            confirmed: Mutex::new(Instant::now()),
        });
        let (keeper, kept) = (gateway.clone(), lease.clone());
        let spawned = std::thread::Builder::new().name("etcd-lease".into()).spawn(move || keep_alive(&keeper, &kept));
        if spawned.is_err() {
            gateway.revoke(lease.id);
            return Err(Failure::Unknown("cannot start the thread that keeps the etcd lease alive".into()));
        }
        leases.push((id, lease.clone()));
        Ok(lease)
    }

    fn confirm(&self) {
        *self.confirmed.lock().unwrap_or_else(PoisonError::into_inner) = Instant::now();
    }
}

impl<'a> EtcdLock<'a> {
    /// Takes the lock `key`; with `snapshot`, the seller's keys are read in the same txn
    /// (one round trip less for every refresh).
    fn acquire(
        home: &'a EtcdHome,
        key: &str,
        wait: Duration,
        who: &str,
        snapshot: bool,
    ) -> Result<EtcdLock<'a>, Error> {
        let gateway = &home.gateway;
        let lease = Lease::of(gateway).map_err(|f| f.into_error(&format!("a lease for `{}`", home.shown_key(key))))?;
        let ttl = lease.ttl;
        let id = write_id();
        let value =
            json!({ "holder": id, "pid": std::process::id(), "host": hostname(), "lease": lease.id.to_string() })
                .to_string()
                .into_bytes();
        let mut put = vec![Op::Put { key: key.to_string(), value: value.clone(), lease: lease.id }];
        if snapshot {
            put.extend(home.snapshot_ops());
        }
        let deadline = Instant::now() + wait;
        let mut unclear = 0;
        let revision = loop {
            match gateway.txn(&[Compare::Created(key.to_string(), 0)], &put, &[Op::Get(key.to_string())], Kind::Write) {
                Ok(answer) if answer.succeeded => {
                    if snapshot {
                        home.remember(answer.ranges);
                    }
                    break answer.revision;
                }
                Ok(answer) => {
                    let holder_value = answer.ranges.first().and_then(|r| r.first()).map(|kv| kv.value.clone());
                    if holder_value.as_deref().is_some_and(|v| on_lease(v, lease.id)) {
                        return Err(Error::Usage(format!(
                            "`{}` is locked by this very process: the same seller was named twice (the members \
                             spelt another way, or in another order?)",
                            home.shown_key(key)
                        )));
                    }
                    if Instant::now() >= deadline {
                        let holder = holder_value.as_deref().map(holder_of);
                        return Err(Error::Busy(format!(
                            "{who} has held the lock `{}`{} for over {} s, so nothing was spent; try again, or raise \
                             --lock-wait (a holder that died lets go within {ttl} s, when its lease ends)",
                            home.shown_key(key),
                            holder.unwrap_or_default(),
                            wait.as_secs()
                        )));
                    }
                    let jitter = u64::from(id.as_bytes()[0] % 50);
                    std::thread::sleep(Duration::from_millis(50 + jitter));
                }
                Err(Failure::Unknown(why)) => {
                    // Read back: ours (it applied), or not (try again: a member restarting, a
                    // leader changing). A cluster that cannot even answer the read (no
                    // leader, no quorum) is not a busy lock: waiting for it holds the whole
                    // fleet up; say so at once.
                    match home.value_of(key) {
                        Ok(Some(kv)) if kv.value == value => break kv.create_revision,
                        Ok(_) if unclear < 5 => {
                            unclear += 1;
                            std::thread::sleep(Duration::from_millis(100 * unclear));
                        }
                        _ => {
                            return Err(
                                Failure::Unknown(why).into_error(&format!("the lock `{}`", home.shown_key(key)))
                            );
                        }
                    }
                }
                // The lease ended since it was granted (a pause): the next lock gets a new one.
                Err(Failure::Refused { message, .. }) if message.contains("lease not found") => {
                    lease.alive.store(false, Ordering::SeqCst);
                    return Err(Error::Network(format!(
                        "this process's etcd lease ended (was it paused for over {ttl} s?); nothing was spent: run again"
                    )));
                }
                Err(f) => return Err(f.into_error(&format!("the lock `{}`", home.shown_key(key)))),
            }
        };
        lease.confirm();
        Ok(EtcdLock { home, key: key.to_string(), revision, lease, released: Cell::new(false) })
    }
}

/// Renews the lease every third of its length for as long as the process runs; marks it
/// dead when it is gone, or when no renewal got through for a whole lease.
fn keep_alive(gateway: &Gateway, lease: &Lease) {
    let every = Duration::from_millis((lease.ttl as u64 * 1000 / 3).max(200));
    loop {
        std::thread::sleep(every);
        match gateway.keep_alive(lease.id) {
            Ok(Some(_)) => lease.confirm(),
            Ok(None) => {
                lease.alive.store(false, Ordering::SeqCst);
                return;
            }
            Err(_) => {
                let since = lease.confirmed.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
                if since > Duration::from_secs(lease.ttl as u64) {
                    lease.alive.store(false, Ordering::SeqCst);
                    return;
                }
            }
        }
    }
}

/// How long after a reservation its run may still be waiting for TikTok's answer: the token
/// request's own limit (30 s), the time its save may take, and its lease.
fn in_flight_for() -> i64 {
    45 + lease_ttl()
}

/// For a reservation marker made less than `in_flight_for` ago: what to tell a run that
/// finds it (its run may still be waiting for its answer).
fn in_flight(marker: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(marker).ok()?;
    let age = expiry::now() - v["at"].as_i64()?;
    let limit = in_flight_for();
    let who = match holder_of(marker) {
        none if none.is_empty() => " a run".to_string(),
        some => some.replacen(" (", " ", 1).trim_end_matches(')').to_string(),
    };
    (age < limit).then(|| {
        format!(
            "says that{} reserved this seller's refresh {} s ago and has saved no answer yet: it may still be waiting \
             for TikTok's (or be paused), so nothing was spent; run again in {} s (by then a run that died has let \
             its reservation go)",
            who,
            age.max(0),
            (limit - age).max(1)
        )
    })
}

/// Whether a lock's value says it sits on `lease` (this process's: lease ids are unique in
/// a cluster, where a pid and a host name need not be).
fn on_lease(value: &[u8], lease: i64) -> bool {
    let v: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
    v["lease"].as_str() == Some(lease.to_string().as_str())
}

fn holder_of(value: &[u8]) -> String {
    let v: serde_json::Value = serde_json::from_slice(value).unwrap_or_default();
    match (v["pid"].as_u64(), v["host"].as_str()) {
        (Some(pid), Some(host)) => format!(" (process {pid} on {})", clean(host)),
        _ => String::new(),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::env::var("HOSTNAME").or_else(|_| std::env::var("COMPUTERNAME")))
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

impl Held for EtcdLock<'_> {
    fn still_held(&self) -> Result<(), Error> {
        let ttl = Duration::from_secs(self.lease.ttl as u64);
        if !self.lease.alive.load(Ordering::SeqCst) {
            return Err(self.home.lost());
        }
        let since = self.lease.confirmed.lock().unwrap_or_else(PoisonError::into_inner).elapsed();
        if since < ttl / 3 {
            return Ok(());
        }
        // Long enough ago that the lease may have ended (a pause): ask the cluster.
        let compare = [Compare::Created(self.key.clone(), self.revision)];
        match self.home.gateway.txn(&compare, &[], &[], Kind::Read) {
            Ok(answer) if answer.succeeded => {
                self.confirm();
                Ok(())
            }
            Ok(_) => Err(self.home.lost()),
            Err(f) => Err(f.into_error("the check that the lock is still this run's (nothing was spent)")),
        }
    }

    fn fence(&self) -> Option<(String, i64)> {
        Some((self.key.clone(), self.revision))
    }

    fn confirm(&self) {
        self.lease.confirm();
    }

    fn released(&self) {
        self.released.set(true);
    }
}

impl Drop for EtcdLock<'_> {
    fn drop(&mut self) {
        if self.released.get() {
            self.home.forget();
            return;
        }
        // Ours to delete only while it is this lock (a lost lock is another run's now).
        let compare = [Compare::Created(self.key.clone(), self.revision)];
        for _ in 0..2 {
            match self.home.gateway.txn(&compare, &[Op::Delete(self.key.clone())], &[], Kind::Write) {
                Err(Failure::Unknown(_)) => continue,
                _ => break,
            }
        }
        self.home.forget();
    }
}

/// The reserved key, under the lock.
struct EtcdSlot<'a> {
    home: &'a EtcdHome,
    held: &'a dyn Held,
    /// The reserved key's revision as this run last wrote it.
    reserved: Cell<i64>,
    /// The answer as laid out in the reserved key, once `keep` wrote it there.
    kept: RefCell<Option<Vec<u8>>>,
    /// Where the answer went when the reserved key was no longer this run's.
    elsewhere: RefCell<Option<String>>,
    /// Saved, or kept as the only copy of an answer: not to be removed.
    keep: bool,
    /// Another run took the reservation over with this run's answer in it (see `save`).
    taken_over: bool,
    /// Saved the moment it arrived (`save_at_once`).
    saved: Cell<bool>,
    /// The answer is in the local file too (written when the first save had no clear
    /// outcome: the cluster may be gone, and an interrupt or a kill must not lose it).
    local_copy: Cell<bool>,
    /// Whose answer may replace the saved tokens (`Slot::expect`).
    expected: RefCell<(Option<String>, super::Replace)>,
}

impl EtcdSlot<'_> {
    fn tmp(&self) -> &str {
        &self.home.tmp_key
    }
}

impl EtcdSlot<'_> {
    /// The answer's first write, when it may replace the saved tokens: the save itself, in
    /// one fenced txn that also clears the reservation and lets go of the lock (one write,
    /// not three, for every refresh). Whether it went through; when that is unclear (or no
    /// member took it) the answer goes to the local file first, then it is read back.
    fn save_at_once(&self, text: &[u8]) -> bool {
        let Some((lock, revision)) = self.held.fence() else { return false };
        let (tmp, token) = (self.tmp().to_string(), self.home.key.clone());
        let compare = [Compare::Created(lock.clone(), revision), Compare::Modified(tmp.clone(), self.reserved.get())];
        let ops = [Op::put(&token, text), Op::Delete(tmp), Op::Delete(lock)];
        self.home.forget();
        let done = match self.home.gateway.txn(&compare, &ops, &[], Kind::Write) {
            Ok(answer) => answer.succeeded,
            Err(_) => {
                self.keep_locally(text);
                self.home.value_of(&token).ok().flatten().is_some_and(|kv| kv.value == text)
            }
        };
        if done {
            self.held.released();
            self.drop_local_copy();
        }
        done
    }

    /// The answer in the local file, flushed (see `local_copy`).
    fn keep_locally(&self, text: &[u8]) {
        match crate::files::replace_private(&self.home.local, text) {
            Ok(()) => self.local_copy.set(true),
            Err(e) => noteln!(
                "tiktok-shop-auth: warning: the cluster did not take the answer at once, and it could not be kept in \
                 the local file `{}` either ({e}); trying the cluster again",
                crate::secret::shown(&self.home.local)
            ),
        }
    }

    /// The local copy is not needed once the cluster holds the answer.
    fn drop_local_copy(&self) {
        if self.local_copy.replace(false) {
            let _ = std::fs::remove_file(&self.home.local);
        }
    }
}

impl Slot for EtcdSlot<'_> {
    fn expect(&self, seller: Option<&str>, replace: super::Replace) {
        *self.expected.borrow_mut() = (seller.map(str::to_string), replace);
    }

    fn keep(&self, answer: &[u8]) {
        if self.kept.borrow().is_some() || self.elsewhere.borrow().is_some() || self.saved.get() {
            return;
        }
        let text = pretty(answer);
        let replaces = match &*self.expected.borrow() {
            (_, super::Replace::AnySeller) | (None, _) => true,
            (Some(ours), _) => {
                ours.is_empty()
                    || TokenResponse::parse(answer).is_ok_and(|a| a.open_id().is_empty() || a.open_id() == ours)
            }
        };
        if replaces && self.save_at_once(&text) {
            self.saved.set(true);
            return;
        }
        if self.local_copy.get() {
            // The cluster is not answering clearly: the answer is safe in the local file,
            // and `save` tries the cluster once more; no more waits here.
            return;
        }
        let tmp = self.tmp().to_string();
        // Guarded by the reservation, not the lock: an answer already paid for is kept even
        // if the lock was lost meanwhile, unless another run took the reservation over.
        let compare = [Compare::Modified(tmp.clone(), self.reserved.get())];
        for _ in 0..3 {
            self.home.forget();
            match self.home.gateway.txn(&compare, &[Op::put(&tmp, &text)], &[], Kind::Write) {
                Ok(a) if a.succeeded => {
                    self.reserved.set(a.revision);
                    *self.kept.borrow_mut() = Some(text);
                    return;
                }
                Ok(_) => break,
                Err(Failure::Unknown(_)) => {
                    if let Ok(Some(kv)) = self.home.value_of(&tmp)
                        && kv.value == text
                    {
                        self.reserved.set(kv.mod_revision);
                        *self.kept.borrow_mut() = Some(text);
                        return;
                    }
                }
                Err(_) => return,
            }
        }
        // Saved already after all (the first write applied, its answer lost on the way).
        if self.home.value_of(&self.home.key).ok().flatten().is_some_and(|kv| kv.value == text) {
            self.saved.set(true);
            return;
        }
        // The reservation is another run's now: keep the answer where nobody writes.
        if let Ok(aside) = self.home.put_recovery(&text) {
            *self.elsewhere.borrow_mut() = Some(aside);
        }
    }

    fn save(&mut self, answer: &TokenResponse) -> Result<(), Error> {
        if self.saved.get() {
            self.keep = true;
            return Ok(());
        }
        let result = self.save_now(answer);
        if result.is_ok() {
            self.drop_local_copy();
        }
        result
    }

    fn recover_or_lose(&mut self, answer: &TokenResponse, cause: Error) -> Error {
        if self.local_copy.get() {
            let local = &self.home.local;
            return Error::Local(format!(
                "{cause}; the answer was kept in the local file `{}`, which the next run started in this directory \
                 installs once the cluster answers (or, from elsewhere: `tiktok-shop-auth login --recover {} \
                 --token-file {}`)",
                crate::secret::shown(local),
                crate::secret::shown(local),
                self.home.url.shown()
            ));
        }
        self.recover_elsewhere(answer, cause)
    }

    fn set_aside(&mut self, answer: &TokenResponse) -> Result<String, String> {
        self.home.put_recovery(&pretty(&answer.bytes)).map_err(|e| e.to_string())
    }
}

impl EtcdSlot<'_> {
    fn save_now(&mut self, answer: &TokenResponse) -> Result<(), Error> {
        if let Some(aside) = self.elsewhere.borrow().as_ref() {
            return Err(Error::Local(format!(
                "{}; the answer this run had already been paid was kept in `{aside}`",
                self.home.lost().to_string().trim_end_matches(", so nothing more was written")
            )));
        }
        let text = pretty(&answer.bytes);
        let tmp = self.tmp().to_string();
        let token = self.home.key.clone();
        let applied = |home: &EtcdHome| Ok(home.value_of(&token)?.is_some_and(|kv| kv.value == text));
        let ops = [Op::put(&token, &text), Op::Delete(tmp.clone())];
        let compare = [Compare::Modified(tmp.clone(), self.reserved.get())];
        let written = match self.kept.borrow().is_some() {
            // Kept: guarded by the reservation alone (see `keep`).
            true => {
                let nobody: &dyn Held = &NoFence;
                self.home.fenced(nobody, &compare, &ops, "the save of the new tokens", &applied)?
            }
            false => self.home.fenced(self.held, &compare, &ops, "the save of the new tokens", &applied)?,
        };
        match written {
            Written::Done(_) => {
                self.keep = true;
                Ok(())
            }
            // Another run took over and did something with the reservation: if it
            // installed this answer, all is well.
            _ if applied(self.home).unwrap_or(false) => {
                self.keep = true;
                noteln!(
                    "tiktok-shop-auth: warning: this run lost the lock while its answer was on the way, and another run \
                     installed that answer"
                );
                Ok(())
            }
            // The answer was in the reserved key and another run took that over: a holder
            // removes a complete answer there only by installing it (or when it already
            // holds newer tokens), so nothing is lost and there is nothing more to keep.
            _ if self.kept.borrow().is_some() => {
                self.taken_over = true;
                Err(Error::Local(format!(
                    "{}; another run took the lock over and installed the answer this run had kept in `{}`, so \
                     nothing is lost",
                    self.home.lost().to_string().trim_end_matches(", so nothing more was written"),
                    self.home.shown_key(&tmp)
                )))
            }
            Written::Lost | Written::Changed => Err(self.home.lost()),
        }
    }

    fn recover_elsewhere(&mut self, answer: &TokenResponse, cause: Error) -> Error {
        let home = self.home;
        if self.taken_over {
            return cause;
        }
        if let Some(aside) = self.elsewhere.borrow().clone() {
            return Error::Unsaved { cause: cause.to_string(), recovery: aside };
        }
        let text = pretty(&answer.bytes);
        // Still in the reserved key, untouched: the next holder installs it from there.
        if self.kept.borrow().is_some() && home.value_of(self.tmp()).ok().flatten().is_some_and(|kv| kv.value == text) {
            self.keep = true;
            return Error::Kept { cause: cause.to_string(), kept: home.shown_key(self.tmp()) };
        }
        let why = match home.put_recovery(&text) {
            Ok(aside) => return Error::Unsaved { cause: cause.to_string(), recovery: aside },
            Err(e) => e.to_string(),
        };
        // No member takes it: the local file, which the next run started in this directory
        // installs (or `login --recover FILE` from anywhere).
        let local = &home.local;
        match crate::files::replace_private(local, &text) {
            Ok(()) => Error::Local(format!(
                "{cause}; no etcd member took the answer either ({why}): it was kept in the local file `{}`, which the \
                 next run started in this directory installs once the cluster answers (or, from elsewhere: \
                 `tiktok-shop-auth login --recover {} --token-file {}`)",
                local.display(),
                local.display(),
                home.url.shown()
            )),
            Err(e) => Error::NeedLogin(format!(
                "{cause}; no etcd member took the answer ({why}) and no local file either ({e}): the grant was spent \
                 and the new tokens are lost, so the seller must sign in again with `tiktok-shop-auth login`"
            )),
        }
    }
}

impl Drop for EtcdSlot<'_> {
    fn drop(&mut self) {
        if !self.keep {
            // Ours to remove only while it is as this run left it.
            let compare = [Compare::Modified(self.home.tmp_key.clone(), self.reserved.get())];
            let _ = self.home.gateway.txn(&compare, &[Op::Delete(self.home.tmp_key.clone())], &[], Kind::Write);
            self.home.forget();
        }
    }
}

/// No fence: the write is guarded by what it compares alone.
struct NoFence;

impl Held for NoFence {
    fn still_held(&self) -> Result<(), Error> {
        Ok(())
    }
}

/// How sure a check of the cluster is (`doctor`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Level {
    Ok,
    Warn,
    Fail,
}

/// etcd's default database quota: at it, every write fails (`mvcc: database space exceeded`).
const DEFAULT_QUOTA: i64 = 2 * 1024 * 1024 * 1024;

/// `doctor`'s look at a cluster: each member reachable, with a leader, its version, the
/// authentication, and the database against the default quota (token rewrites add history
/// that only compaction removes). One line each: what, how sure, what was seen.
pub fn check(url: &EtcdUrl) -> Vec<(String, Level, String)> {
    let mut lines = Vec::new();
    let gateway = match gateway_for(url) {
        Ok(g) => g,
        Err(e) => return vec![("etcd".into(), Level::Fail, e.to_string())],
    };
    let mut reachable = 0;
    let mut largest = 0;
    for i in 0..gateway.member_count() {
        let member = gateway.member(i).to_string();
        let version = gateway.version(i);
        let status = gateway.member_status(i);
        match (version, status) {
            (Ok(version), Ok(status)) => {
                reachable += 1;
                let leader = gateway::uint(&status["leader"]);
                let db = gateway::int(&status["dbSize"]);
                largest = largest.max(db);
                let level = if leader == 0 { Level::Fail } else { Level::Ok };
                let what = if leader == 0 { "no leader" } else { "a leader" };
                lines.push((
                    format!("etcd member {member}"),
                    level,
                    format!("etcd {version}, {what}, database {} MiB", db / (1024 * 1024)),
                ));
            }
            (_, Err(Failure::Refused { status, message })) if status == 401 || status == 403 => lines.push((
                format!("etcd member {member}"),
                Level::Fail,
                format!("authentication refused: {message} (check {ENV_USER} and the password)"),
            )),
            (Err(why), _) | (_, Err(Failure::Unknown(why) | Failure::Unreachable(why))) => {
                lines.push((format!("etcd member {member}"), Level::Warn, format!("not reachable: {why}")))
            }
            (_, Err(Failure::Refused { status, message })) => {
                lines.push((format!("etcd member {member}"), Level::Warn, format!("HTTP {status}: {message}")))
            }
        }
    }
    let quorum = gateway.member_count() / 2 + 1;
    if reachable < quorum {
        lines.push((
            "etcd cluster".into(),
            Level::Fail,
            format!(
                "{reachable} of {} members answered: without {quorum}, no write can be made",
                gateway.member_count()
            ),
        ));
    }
    let share = largest * 100 / DEFAULT_QUOTA;
    let quota = format!(
        "the largest database is {} MiB, {share}% of etcd's default 2 GiB quota; run etcd with \
         --auto-compaction-retention (token rewrites keep history until compacted)",
        largest / (1024 * 1024)
    );
    lines.push(("etcd space".into(), if share >= 80 { Level::Warn } else { Level::Ok }, quota));
    let user = setting(ENV_USER);
    let auth = match &user {
        Some(user) if reachable > 0 => (Level::Ok, format!("authenticated as {}", clean(user))),
        Some(_) => (Level::Warn, "a user is set, but no member answered to check it".into()),
        None => (Level::Ok, format!("no user ({ENV_USER} unset): the cluster must allow anonymous access")),
    };
    lines.push(("etcd authentication".into(), auth.0, auth.1));
    lines
}

/// The shop cache's read and write (a cache: failures only mean a fetch).
pub fn cache_read(gateway: &Gateway, key: &str) -> Option<Vec<u8>> {
    let answer = gateway.read(&[Op::Get(key.into())]).ok()?;
    answer.ranges.into_iter().next()?.into_iter().next().map(|kv| kv.value)
}

pub fn cache_write(gateway: &Gateway, key: &str, bytes: &[u8]) {
    let _ = gateway.call(
        "kv/put",
        &json!({ "key": gateway::b64(key.as_bytes()), "value": gateway::b64(bytes) }),
        Kind::Read,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_are_parsed_and_shown_without_secrets() {
        let url = EtcdUrl::parse("etcd://127.0.0.1:2379,127.0.0.1:2380/tiktok/acme").unwrap().unwrap();
        assert_eq!((url.tls, url.prefix.as_str(), url.name.as_deref()), (false, "tiktok", Some("acme")));
        assert_eq!(url.members, ["127.0.0.1:2379", "127.0.0.1:2380"]);
        assert_eq!(url.shown(), "etcd://127.0.0.1:2379,127.0.0.1:2380/tiktok/acme");
        let fleet = EtcdUrl::parse("etcd+https://h:2379/a/b/").unwrap().unwrap();
        assert_eq!((fleet.tls, fleet.prefix.as_str(), fleet.name.as_deref()), (true, "a/b", None));
        assert!(EtcdUrl::parse("tokens/acme.json").unwrap().is_none());
        for bad in [
            "etcd://h:2379",
            "etcd://h/p/n",
            "etcd://h:2379/acme",
            "etcd://h:2379/p/.lock",
            "etcd://:1/p/n",
            "etcd://h:+2379/p/n",
            "etcd://a:b:2379/p/n",
            "etcd://::1:2379/p/n",
            "etcd://h:2379 ,g:1/p/n",
        ] {
            assert!(EtcdUrl::parse(bad).is_err(), "{bad}");
        }
        let e = EtcdUrl::parse("etcd://root:hunter2@h:2379/p/n").unwrap_err().to_string();
        assert!(!e.contains("hunter2") && e.contains("***@") && e.contains(ENV_PASSWORD), "{e}");
        // No seller name that is (or makes) one of the tool's own keys.
        for bad in ["etcd://h:2379/p/acme.login", "etcd://h:2379/p/.x"] {
            assert!(EtcdUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(fleet.seller("").is_err() && fleet.seller(".k.lock").is_err() && fleet.seller("a.login").is_err());
        assert_eq!(fleet.seller("acme.us").unwrap().name.as_deref(), Some("acme.us"));
        assert_eq!(url_members("etcd://[::1]:2379,h.example:2380/p/n"), ["[::1]:2379", "h.example:2380"]);
    }

    fn url_members(text: &str) -> Vec<String> {
        EtcdUrl::parse(text).unwrap().unwrap().members
    }

    #[test]
    fn local_files_recovery_keys_and_young_reservations() {
        let url = |text: &str| EtcdUrl::parse(text).unwrap().unwrap();
        let a = url("etcd://h:2379,g:2379/x/y/s");
        let name = |u: &EtcdUrl| local_file(u, &format!("{}/{}", u.prefix, u.name.as_deref().unwrap_or("")));
        assert_ne!(name(&a), name(&url("etcd://h:2379,g:2379/x_y/s")), "two keys, two files");
        assert_ne!(name(&a), name(&url("etcd://other:2379/x/y/s")), "two clusters, two files");
        assert_eq!(name(&a), name(&url("etcd://g:2379,h:2379/x/y/s")), "the members in any order");
        assert!(name(&a).to_string_lossy().starts_with(".x%2Fy%2Fs."));
        assert!(recovery_suffix("1764680000-AbC_d-9"));
        for not in ["x.tmp", "1-x.tmp", "-x", "12-", "1764680000-a.shops", "x"] {
            assert!(!recovery_suffix(not), "{not}");
        }
        let marker = |at: i64| json!({"reserved_by": "i", "pid": 7, "host": "m1", "at": at}).to_string().into_bytes();
        let young = in_flight(&marker(expiry::now() - 3)).unwrap_or_default();
        assert!(young.contains("process 7 on m1") && young.contains("3 s ago"), "{young}");
        assert!(in_flight(&marker(expiry::now() - 600)).is_none());
        assert!(in_flight(br#"{"reserved_by":"i","pid":7}"#).is_none(), "an old marker, with no time");
    }
}
