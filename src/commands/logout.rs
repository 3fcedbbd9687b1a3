//! `logout`: forget a seller's tokens, under the lock: the token file (or key), its shop
//! cache and its kept answers. With `--revoke`, TikTok is asked first to end the seller's
//! grant (`DELETE /authorization/202403/shops`, a signed shop call, once for each of the
//! seller's shops or the one `--shop` names; TikTok emails the seller), and when that fails
//! nothing is removed: a grant that still works is never left without its tokens.

use serde_json::Value;

use crate::cli::Args;
use crate::error::Error;
use crate::open_api::{Call, REVOKE_PATH};
use crate::secret::clean;
use crate::session::{Session, SessionOptions, cipher_for, cipher_of};
use crate::store::Home;

pub struct Options {
    pub session: SessionOptions,
    pub revoke: bool,
    pub shop: Option<String>,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let revoke = args.flag("--revoke");
    let shop = args.string("--shop")?;
    let session = if revoke { SessionOptions::parse(args)? } else { SessionOptions::parse_secret_optional(args)? };
    if shop.is_some() && !revoke {
        return Err(Error::Usage(
            "logout: --shop goes with --revoke (it names the shop whose grant TikTok ends)".into(),
        ));
    }
    Ok(Options { session, revoke, shop })
}

pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth logout: forget a seller's tokens (--revoke: end the grant at TikTok too)

USAGE:
    tiktok-shop-auth logout [--revoke [--shop SELECTOR]] [OPTIONS]

Under the token file's lock, removes the token file, its shop cache (.<name>.shops) and any
answer kept beside it (.<name>.tmp, <name>.recovered-*); the locks stay. The grant itself goes
on working at TikTok until it ends, or until the seller removes the app: with --revoke, TikTok
is first asked to end it (DELETE /authorization/202403/shops, signed, for each of the seller's
shops; TikTok emails the seller), and if that fails nothing is removed (exit 1).

{options_logout}
EXIT STATUS:
    0 removed (and revoked)   1 TikTok did not end the grant (nothing removed), or a file error
    2 usage error   5 no token file (nothing to log out of), or --revoke with a token that was
    refused and could not be refreshed
",
        options_logout = crate::flags::options("logout"),
    )
}

/// `--revoke`: the signed DELETE for each chosen shop; the names of those TikTok ended.
fn revoke(opts: &Options, session: &Session, revoked: &mut Vec<String>) -> Result<(), Error> {
    let shown = session.home().shown();
    let client = session.signing_client()?;
    let saved = session.fresh(60)?;
    let mut shops = session.shops(&saved);
    let mut tokens = saved.tokens;
    let chosen: Vec<Value> = match &opts.shop {
        Some(_) => cipher_for(&mut shops, opts.shop.as_deref(), None, Some((&client, &tokens.access_token)))?
            .into_iter()
            .collect(),
        None => {
            if !shops.fresh {
                shops.refetch(&client, &tokens.access_token)?;
            }
            shops.shops.clone()
        }
    };
    if chosen.is_empty() {
        return Err(Error::Local(format!(
            "TikTok lists no shop for the tokens in `{shown}`, so there is no grant to end (run \
             `tiktok-shop-auth logout` without --revoke to forget the tokens)"
        )));
    }
    for shop in &chosen {
        let name = clean(shop["name"].as_str().unwrap_or("?"));
        let call = Call {
            method: "DELETE".into(),
            path: REVOKE_PATH.into(),
            query: Vec::new(),
            shop_cipher: cipher_of(shop),
            body: None,
            content_type: None,
        };
        let (_, checked) = session.send(&client, &call, &mut tokens, &mut |_| {})?;
        checked.map_err(|e| match revoked.is_empty() {
            true => e,
            false => Error::Local(format!("{e} (TikTok did end the grant of: {})", revoked.join(", "))),
        })?;
        revoked.push(name);
    }
    Ok(())
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let session = Session::open(&opts.session)?;
    let shown = session.home().shown();
    let mut revoked = Vec::new();
    if opts.revoke {
        revoke(opts, &session, &mut revoked).map_err(|e| match e {
            Error::NeedLogin(why) => {
                Error::NeedLogin(format!("{why}; TikTok did not end the grant, so nothing was removed"))
            }
            e @ Error::Interrupted { .. } => e,
            other => Error::Local(format!("{other}; TikTok did not end the grant, so nothing was removed")),
        })?;
    }
    let home: &Home = session.home();
    let guard = home.lock(opts.session.tokens.lock_wait)?;
    if let Err(Error::NeedLogin(why)) = guard.read()
        && revoked.is_empty()
    {
        return Err(Error::NeedLogin(format!("{why}; nothing to log out of")));
    }
    let removed = guard.remove_all()?;
    if !revoked.is_empty() {
        outln!("TikTok ended the grant of {} (it emails the seller)", revoked.join(", "));
    }
    for item in &removed {
        outln!("removed {item}");
    }
    outln!("logged out of `{shown}`");
    Ok(())
}
