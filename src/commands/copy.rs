//! `copy`: sellers' tokens from files into an etcd store and back, or between any two
//! homes, each seller under both locks, never replacing a newer copy of the same seller.
//!
//! `copy tokens/*.json etcd://h:2379/tiktok/` names each seller by its file name without
//! `.json`; `copy etcd://h:2379/tiktok/ backup/` writes `backup/NAME.json`. The source is
//! left as it was (its refresh token is the same one the copy holds: after a copy only one
//! of the two should be refreshed from then on, and the README says which).

use crate::cli::{Args, Files, TokenOptions};
use crate::error::Error;
use crate::interrupt;
use crate::session::LOCK_WAIT;
use crate::store::{Home, Location};

pub struct Options {
    pub sources: Vec<Location>,
    pub dest: Location,
    pub tokens: TokenOptions,
    pub quiet: bool,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let quiet = args.flag("--quiet");
    let tokens = args.token_options(Some(LOCK_WAIT), Files::One)?;
    // The free arguments: the sources (a prefix is every seller under it), then DEST as given.
    let mut all = Vec::new();
    for given in args.files()? {
        all.push(Location::parse(given.as_os_str())?.with_password_file(tokens.secret_file_for_etcd()));
    }
    let dest = all.pop();
    let mut sources = Vec::new();
    for source in all {
        sources.extend(source.expand()?);
    }
    let (Some(dest), false) = (dest, sources.is_empty()) else {
        return Err(Error::Usage(
            "copy needs at least one source and a destination: `tiktok-shop-auth copy SRC... DEST`; see `tiktok-shop-auth copy --help`"
                .into(),
        ));
    };
    Ok(Options { sources, dest, tokens, quiet })
}

pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth copy: sellers' tokens between token files and an etcd store

USAGE:
    tiktok-shop-auth copy [OPTIONS] SRC... DEST

    tiktok-shop-auth copy tokens/*.json etcd://HOST:2379/tiktok/     (files into a store)
    tiktok-shop-auth copy etcd://HOST:2379/tiktok/ backup/           (a store into files)

Each seller is copied under the source's lock and the destination's, one line each. A
seller's NAME is its file name without .json (tokens/acme.json is etcd://.../tiktok/acme);
into a directory, NAME.json. A destination that already holds the same or newer tokens of
the same seller is left as it is; one that holds another seller's is left too, and said.
The source is not changed: from then on refresh only one of the two (the copy), since both
hold the same refresh token and the first refresh makes the other's useless.

{options_copy}
EXIT STATUS:
    0 every seller copied or already there   1 one failed   2 usage error
    5 a source holds no tokens (log in first)
",
        options_copy = crate::flags::options("copy"),
    )
}

/// What copying one seller came to.
enum Outcome {
    Copied,
    AlreadyThere,
    OtherSeller,
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let mut failed = 0;
    let mut missing = 0;
    let mut done = 0;
    for source in &opts.sources {
        let dest = destination(source, &opts.dest, opts.sources.len())?;
        let (from, to) = (source.shown(), dest.shown());
        match copy_one(source, &dest, opts) {
            Ok(Outcome::Copied) => {
                done += 1;
                if !opts.quiet {
                    outln!("{from} -> {to}: copied");
                }
            }
            Ok(Outcome::AlreadyThere) => {
                done += 1;
                if !opts.quiet {
                    outln!("{from} -> {to}: already holds these or newer tokens of the seller; left as it is");
                }
            }
            Ok(Outcome::OtherSeller) => {
                failed += 1;
                noteln!("{from} -> {to}: not copied: the destination holds another seller's tokens");
            }
            Err(e @ Error::NeedLogin(_)) => {
                missing += 1;
                noteln!("{from} -> {to}: not copied: {e}");
            }
            Err(e) => {
                failed += 1;
                noteln!("{from} -> {to}: failed: {e}");
            }
        }
        interrupt::check("after the sellers copied so far")?;
    }
    let summary = format!(
        "{} sellers: {done} copied or already there, {missing} without tokens, {failed} failed",
        opts.sources.len()
    );
    if !opts.quiet {
        outln!("{summary}");
    }
    match (missing, failed) {
        (0, 0) => Ok(()),
        (_, 0) => Err(Error::NeedLogin(summary)),
        _ => Err(Error::Local(summary)),
    }
}

/// Where one source goes: DEST itself for a single source into a seller's location, else
/// DEST's seller of the source's name.
fn destination(source: &Location, dest: &Location, sources: usize) -> Result<Location, Error> {
    let name = match source {
        Location::File(path) => {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            name.strip_suffix(".json").unwrap_or(&name).to_string()
        }
        Location::Etcd(url) => url.name.clone().unwrap_or_default(),
    };
    match dest {
        Location::Etcd(url) if url.name.is_none() => Ok(Location::Etcd(url.seller(&name)?)),
        Location::File(dir) if dir.is_dir() || dir.as_os_str().to_string_lossy().ends_with('/') => {
            Ok(Location::File(dir.join(format!("{name}.json"))))
        }
        single if sources == 1 => Ok(single.clone()),
        _ => Err(Error::Usage(format!(
            "copy of several sellers needs a destination that holds several: an etcd prefix ending in `/` or a \
             directory, not `{}`",
            dest.shown()
        ))),
    }
}

fn copy_one(source: &Location, dest: &Location, opts: &Options) -> Result<Outcome, Error> {
    let (from, to) = (Home::open(source)?, Home::open(dest)?);
    if from.id() == to.id() {
        return Err(Error::Usage(format!("`{}` and `{}` are the same", source.shown(), dest.shown())));
    }
    let wait = opts.tokens.lock_wait;
    // Both locks, always in the order of the homes' ids: two copies the opposite ways
    // (`copy F E` and `copy E F` at once) then never each hold one and wait for the other.
    let (from_guard, to_guard) = if from.id() < to.id() {
        let from_guard = from.lock(wait)?;
        (from_guard, to.lock(wait)?)
    } else {
        let to_guard = to.lock(wait)?;
        (from.lock(wait)?, to_guard)
    };
    let tokens = from_guard.read()?;
    match to_guard.read() {
        Ok(there)
            if !there.open_id().is_empty() && !tokens.open_id().is_empty() && there.open_id() != tokens.open_id() =>
        {
            return Ok(Outcome::OtherSeller);
        }
        Ok(there) if there.tokens.same_as(&tokens.tokens) || !tokens.tokens.is_newer_than(&there.tokens, false) => {
            return Ok(Outcome::AlreadyThere);
        }
        Ok(_) | Err(Error::NeedLogin(_)) => {}
        Err(e) => return Err(e),
    }
    to_guard.reserve()?.install(&tokens)?;
    Ok(Outcome::Copied)
}
