//! The token file: read it, lock it, replace it without ever losing it.
//!
//! A write goes to a newly created temporary file (`O_EXCL`, mode 0600) in the target's own
//! directory, is flushed to disk, then renamed over the target, and the directory is
//! flushed too. A crash or a full disk leaves either the old file or the new one, never a
//! mix, and a failure removes the temporary file. A symbolic link at the token path (into a
//! secrets volume, say) is kept: the file it points to is what gets replaced.
//!
//! `refresh` (and `login`, for its write) hold an exclusive lock on a `.lock` file beside the
//! token file, so overlapping cron runs take turns and each reads the newest refresh token.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;
use crate::secret::Secret;

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
}

/// Reads and parses the token file. A missing file means a login is needed (exit 5); a
/// file that is not a token response is reported with its path and never overwritten.
pub fn read(path: &Path) -> Result<(Value, Tokens), Error> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::NeedLogin(format!(
                "no token file at `{}`: run `tiktok-shop-auth login` first (or pass --token-file / set TIKTOK_SHOP_TOKEN_FILE)",
                path.display()
            )));
        }
        Err(e) => return Err(Error::file("read the token file", path, e)),
    };
    let corrupt = |reason: String| Error::CorruptTokenFile { path: path.to_path_buf(), reason };
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(corrupt("is empty".into()));
    }
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("is not valid JSON ({e})")))?;
    let tokens = Tokens::from_response(&value)
        .map_err(|why| corrupt(format!("is not a TikTok Shop token response: it {why}")))?;
    Ok((value, tokens))
}

/// Writes `json` (valid JSON text, as received) pretty-printed to `path` by a temporary
/// file, fsync and rename; returns the file actually written (the link's target when `path`
/// is a symbolic link).
pub fn write_atomically(path: &Path, json: &[u8]) -> Result<PathBuf, Error> {
    let text = pretty(json);
    let (target, dir, temp) = prepare(path)?;
    let result = write_new_file(&temp, &text)
        .map_err(|e| Error::file("write the temporary token file", &temp, e))
        .and_then(|()| fs::rename(&temp, &target).map_err(|e| Error::file("replace the token file", &target, e)));
    if let Err(e) = result {
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    sync_dir(&dir);
    Ok(target)
}

/// Re-indents valid JSON text by two spaces a level (as `serde_json`'s pretty printer
/// does) while keeping every token exactly as it came: key order, number spelling and
/// string escapes. The file is the response as received, only laid out for reading.
pub fn pretty(json: &[u8]) -> Vec<u8> {
    fn newline(out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    }
    let mut out = Vec::with_capacity(json.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        i += 1;
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let next = json[i..].iter().position(|c| !c.is_ascii_whitespace()).map(|p| i + p);
                if next.is_some_and(|n| json[n] == close) {
                    out.extend_from_slice(&[b, close]);
                    i = next.map_or(i, |n| n + 1);
                } else {
                    depth += 1;
                    out.push(b);
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

/// Checks, without touching the token file, that a new one could be written beside it.
pub fn check_writable(path: &Path) -> Result<(), Error> {
    let (_, _, temp) = prepare(path)?;
    let result =
        write_new_file(&temp, b"").map_err(|e| Error::file("create a new file beside the token file", path, e));
    let _ = fs::remove_file(&temp);
    result
}

/// The file to replace (links followed), its directory (created 0700 when missing) and a
/// fresh temporary name in it.
fn prepare(path: &Path) -> Result<(PathBuf, PathBuf, PathBuf), Error> {
    let target = resolve_links(path).map_err(|e| Error::file("follow the symbolic link", path, e))?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dirs(&dir).map_err(|e| Error::file("create the directory", &dir, e))?;
    let name = target.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "token".into());
    let temp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), crate::secret::random_urlsafe(6)?));
    Ok((target, dir, temp))
}

fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
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

/// An exclusive lock on `<token file>.lock`, released when dropped. The lock file itself is
/// never deleted: removing it would let two processes lock two different files.
pub struct Lock {
    _file: File,
}

pub fn lock_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(".lock");
    PathBuf::from(name)
}

/// Takes the lock, waiting up to `wait` for another holder to finish.
pub fn lock(path: &Path, wait: Duration) -> Result<Lock, Error> {
    let lock_path = lock_path(path);
    if let Some(dir) = lock_path.parent().filter(|d| !d.as_os_str().is_empty()) {
        create_private_dirs(dir).map_err(|e| Error::file("create the directory", dir, e))?;
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&lock_path).map_err(|e| Error::file("open the lock file", &lock_path, e))?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Lock { _file: file }),
            Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(Error::Local(format!(
                    "another tiktok-shop-auth has held the lock `{}` for over {} s; if no such process is running, \
                     check the file system supports locks",
                    lock_path.display(),
                    wait.as_secs()
                )));
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::file("lock", &lock_path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pretty;

    #[test]
    fn pretty_keeps_order_and_spelling() {
        let raw = br#"{"code":0,"message":"s","data":{"z_last":1.50,"a":[1, 2 ,{}],"s":"q\"{,:[","e":[ ],"n":null,"big":18446744073709551616}}"#;
        let expected = r#"{
  "code": 0,
  "message": "s",
  "data": {
    "z_last": 1.50,
    "a": [
      1,
      2,
      {}
    ],
    "s": "q\"{,:[",
    "e": [],
    "n": null,
    "big": 18446744073709551616
  }
}
"#;
        assert_eq!(String::from_utf8(pretty(raw)).unwrap(), expected);
    }

    #[test]
    fn pretty_matches_serde_json_layout() {
        let raw = br#"{"code":0,"data":{"granted_scopes":["a","b"],"user_type":0,"x":{"y":[]}},"request_id":"R"}"#;
        let value: serde_json::Value = serde_json::from_slice(raw).unwrap();
        let mut serde = serde_json::to_vec_pretty(&value).unwrap();
        serde.push(b'\n');
        assert_eq!(pretty(raw), serde);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&pretty(raw)).unwrap(), value);
    }
}
