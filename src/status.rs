//! `status` and `token`: the commands that only read the token file.
//!
//! Neither takes the lock nor makes a request: a reader sees either the old file or the
//! new one (the writer renames), and both are quick enough for a shell prompt.

use std::path::Path;

use crate::cli::StatusOptions;
use crate::error::Error;
use crate::token_file::TokenFile;
use crate::{expiry, summary};

pub fn status(opts: &StatusOptions) -> Result<(), Error> {
    let file = TokenFile::new(&opts.token_file)?;
    let (value, tokens) = file.read()?;
    let now = expiry::now();
    if opts.json {
        outln!("{}", summary::json(&value, file.path(), now));
    } else {
        out!("{}", summary::text(&value, file.path(), now));
    }
    tokens.check_access(file.path(), now)
}

pub fn token(path: &Path) -> Result<(), Error> {
    let file = TokenFile::new(path)?;
    let (_, tokens) = file.read()?;
    tokens.check_access(file.path(), expiry::now())?;
    outln!("{}", tokens.access_token.expose());
    Ok(())
}
