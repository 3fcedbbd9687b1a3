//! Files the tool reads from outside or writes privately: read with a cap (only regular
//! files), and created new with mode 0600. The token file, the recovery file, the shop
//! cache and the secret file all go through these.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// The largest file (token file, recovery file, shop cache, secret file) the tool reads.
pub const MAX_FILE: u64 = 1024 * 1024;

/// The whole file, or `None` when it is larger than `MAX_FILE`. Only regular files: a FIFO
/// would never end, a device might not either.
pub fn read_capped(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let meta = fs::metadata(path)?;
    if !meta.is_file() {
        return Err(io::Error::other(format!("it is {}", kind_of(&meta))));
    }
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other("it is not a regular file"));
    }
    // Room for the whole file at once: one read and the end, not a doubling series of them.
    let mut bytes = Vec::with_capacity(meta.len().min(MAX_FILE) as usize + 1);
    file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= MAX_FILE).then_some(bytes))
}

/// A new file (never an existing path), 0600.
pub fn create_new_private(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes `bytes` to `path` through a new private file beside it, flushed, and a rename
/// (the temporary file is removed when anything fails).
pub fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}.new", std::process::id()));
    let temp = std::path::PathBuf::from(temp);
    let written = create_new_private(&temp)
        .and_then(|mut f| io::Write::write_all(&mut f, bytes).and_then(|()| f.sync_all()))
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// What a path is, when it is not a regular file.
pub fn kind_of(meta: &fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if kind.is_socket() {
            return "a socket";
        }
        if kind.is_block_device() || kind.is_char_device() {
            return "a device";
        }
    }
    "not a regular file"
}

/// Bytes given on the command line the way `--data` takes them: the text itself, `@FILE`,
/// or `-` for stdin (`api --data`, `webhook send --data`, `webhook verify`'s body).
pub enum Input {
    Text(String),
    File(std::path::PathBuf),
    Stdin,
}

impl Input {
    /// `-` is stdin, `@FILE` a file, anything else the text itself.
    pub fn from_flag(value: String) -> Input {
        match value.strip_prefix('@') {
            _ if value == "-" => Input::Stdin,
            Some(file) => Input::File(file.into()),
            None => Input::Text(value),
        }
    }

    /// `--data`, `--data `FILE``, `--data (stdin)`: where the bytes came from, for messages.
    pub fn describe(&self, flag: &str) -> String {
        match self {
            Input::Text(_) => flag.to_string(),
            Input::File(path) => format!("{flag} `{}`", crate::secret::shown(path)),
            Input::Stdin => format!("{flag} (stdin)"),
        }
    }

    /// The bytes exactly as given; `None` when there are more than `cap`.
    pub fn read(&self, cap: u64) -> Result<Option<Vec<u8>>, crate::error::Error> {
        let mut bytes = Vec::new();
        match self {
            Input::Text(text) => bytes.extend_from_slice(text.as_bytes()),
            Input::File(path) => {
                File::open(path)
                    .and_then(|f| f.take(cap + 1).read_to_end(&mut bytes))
                    .map_err(|e| crate::error::Error::file("read", path, e))?;
            }
            Input::Stdin => {
                io::stdin()
                    .take(cap + 1)
                    .read_to_end(&mut bytes)
                    .map_err(|e| crate::error::Error::Local(format!("cannot read stdin: {e}")))?;
            }
        }
        Ok((bytes.len() as u64 <= cap).then_some(bytes))
    }
}
