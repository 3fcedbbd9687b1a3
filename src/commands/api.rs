//! `api`: one signed call to any Open API endpoint, like `gh api`.
//!
//! The request is built and signed by `open_api` (the body signed as the exact bytes
//! sent), with the saved token, refreshed first through the locked path when it has
//! expired, and once more when TikTok refuses it (105001, 105002) although the file
//! believed in it. The answer goes to stdout as received, re-indented (or one compact page
//! a line with `--paginate`, each page written out before the next is fetched, so memory
//! stays flat however many pages); TikTok's error goes to stderr, exit 1.

use std::collections::HashSet;
use std::io::Read;

use serde_json::Value;

use crate::cli::{ApiOptions, DataSource};
use crate::commands::refresh;
use crate::error::Error;
use crate::json_text::{compact, pretty};
use crate::open_api::{self, Call, Client, ShopList};
use crate::secret::{Secret, clean, mask};
use crate::tiktok::{self, Answer};
use crate::token_file::{self, TokenFile};
use crate::{expiry, output};

/// The largest request body `--data` takes.
const MAX_DATA: u64 = 32 * 1024 * 1024;

pub fn run(opts: &ApiOptions) -> Result<(), Error> {
    let body = read_body(opts.data.as_ref())?;
    let agent = tiktok::agent()?;
    let file = TokenFile::new(&opts.token_file)?;
    let client = Client { agent: &agent, base: &opts.api_base, app: &opts.app };
    let mut call = Call {
        method: opts.method.clone(),
        path: opts.path.clone(),
        query: opts.query.clone(),
        shop_cipher: None,
        body,
    };
    if opts.dry_run {
        return dry_run(opts, &file, &client, call);
    }
    let (value, mut tokens) =
        refresh::fresh_tokens(&file, 0, &agent, &opts.auth_base, Some(&opts.app), opts.lock_wait)?;
    let mut shops = ShopList::cached(&file, token_file::open_id(&value));
    call.shop_cipher = choose_cipher(opts, &mut shops, &client, &tokens.access_token)?;
    let mut replaced = false;
    let mut page = call.clone();
    // --paginate: the tokens followed so far (a server that repeats one would never end).
    let mut followed = HashSet::new();
    let mut pages = 0u64;
    loop {
        let (answer, now) = client.send(&page, &tokens.access_token, &mut |a| {
            if opts.include {
                show_head(a)
            }
        })?;
        let checked = client.check(&page, &answer, now);
        if let Err(Error::NeedLogin(_)) = checked
            && !replaced
        {
            // TikTok refused a token the file believed in: a newer one, or a refresh.
            replaced = true;
            tokens = refresh::replace_refused(
                &file,
                &tokens.access_token,
                &agent,
                &opts.auth_base,
                &opts.app,
                opts.lock_wait,
            )?;
            continue;
        }
        if let Err(Error::TikTok(e)) = &checked
            && e.code == open_api::SHOP_CIPHER_ERROR
            && !shops.fresh
            && call.shop_cipher == page.shop_cipher
        {
            // The cached shop list may be stale (a shop added, a seller re-authorized):
            // fetch it again and choose again, once.
            shops.refetch(&client, &tokens.access_token)?;
            call.shop_cipher = choose_cipher(opts, &mut shops, &client, &tokens.access_token)?;
            if call.shop_cipher != page.shop_cipher {
                page.shop_cipher.clone_from(&call.shop_cipher);
                continue;
            }
        }
        print_answer(&answer, opts.paginate);
        pages += 1;
        let value = checked.map_err(|e| with_shop_hint(e, opts, &shops))?;
        let next = value.pointer("/data/next_page_token").and_then(Value::as_str).filter(|t| !t.is_empty());
        match next {
            Some(token) if opts.paginate && !output::reader_gone() => {
                if !followed.insert(token.to_string()) {
                    return Err(Error::Local(format!(
                        "--paginate: next_page_token `{}` was already followed; the server repeats its pages, so the \
                         run stopped after {pages} pages (the last ones were printed again)",
                        clean(token)
                    )));
                }
                if pages >= opts.max_pages {
                    return Err(Error::Local(format!(
                        "--paginate stopped at --max-pages {} with more pages to follow (next_page_token `{}`); \
                         raise --max-pages to read further",
                        opts.max_pages,
                        clean(token)
                    )));
                }
                page = call.clone();
                page.query.retain(|(k, _)| k != "page_token");
                page.query.push(("page_token".into(), token.to_string()));
            }
            _ => return Ok(()),
        }
    }
}

/// `--data`: the bytes exactly as given (they are what is signed and sent), checked to be JSON.
fn read_body(data: Option<&DataSource>) -> Result<Option<Vec<u8>>, Error> {
    let (bytes, what) = match data {
        None => return Ok(None),
        Some(DataSource::Literal(text)) => (text.as_bytes().to_vec(), "--data".to_string()),
        Some(DataSource::File(path)) => {
            let mut bytes = Vec::new();
            std::fs::File::open(path)
                .and_then(|f| f.take(MAX_DATA + 1).read_to_end(&mut bytes))
                .map_err(|e| Error::file("read the --data file", path, e))?;
            (bytes, format!("--data @{}", path.display()))
        }
        Some(DataSource::Stdin) => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .take(MAX_DATA + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Local(format!("cannot read --data - from stdin: {e}")))?;
            (bytes, "--data - (stdin)".to_string())
        }
    };
    if bytes.len() as u64 > MAX_DATA {
        return Err(Error::Usage(format!("{what} is larger than {} MiB", MAX_DATA / 1024 / 1024)));
    }
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| Error::Usage(format!("{what} is not valid JSON ({e}); the body is sent and signed as given")))?;
    Ok(Some(bytes))
}

/// The `shop_cipher` to add: the `--shop` one; without `--shop`, a one-shop seller's on
/// every path that takes one; never on `/authorization/*` and `/seller/*`.
fn choose_cipher(
    opts: &ApiOptions,
    shops: &mut ShopList,
    client: &Client,
    token: &Secret,
) -> Result<Option<String>, Error> {
    let no_shop = open_api::takes_no_shop(&opts.path);
    match &opts.shop {
        Some(_) if no_shop => Err(Error::Usage(format!(
            "--shop: `{}` takes no shop_cipher (authorization and seller APIs never do)",
            opts.path
        ))),
        Some(selector) => Ok(cipher_of(&shops.select(selector, client, token)?)),
        None if no_shop => Ok(None),
        None => {
            if !shops.is_cached() {
                shops.refetch(client, token)?;
            }
            Ok(match shops.shops.as_slice() {
                [only] => cipher_of(only),
                _ => None,
            })
        }
    }
}

fn cipher_of(shop: &Value) -> Option<String> {
    shop["cipher"].as_str().map(str::to_string)
}

/// `106013` from a seller with several shops and no `--shop`: say which to choose from.
fn with_shop_hint(e: Error, opts: &ApiOptions, shops: &ShopList) -> Error {
    match e {
        Error::TikTok(mut api) if api.code == open_api::SHOP_CIPHER_ERROR && opts.shop.is_none() => {
            if shops.shops.len() > 1 {
                api.hint = Some(format!(
                    "this seller has {} shops: choose one with --shop (an id, code, name, region or cipher; `tiktok-shop-auth shops` lists them)",
                    shops.shops.len()
                ));
            }
            Error::TikTok(api)
        }
        other => other,
    }
}

/// The answer's JSON on stdout as received: re-indented, or compact on one line for
/// `--paginate`. Something that is not JSON (a proxy's page) is left to the error.
fn print_answer(answer: &Answer, paginate: bool) {
    if serde_json::from_slice::<Value>(&answer.body).is_err() {
        return;
    }
    if paginate {
        let mut line = compact(&answer.body);
        line.push(b'\n');
        output::stdout_bytes(&line);
    } else {
        output::stdout_bytes(&pretty(&answer.body));
    }
}

/// `--include`: the status line and the headers, on stderr.
fn show_head(answer: &Answer) {
    noteln!("HTTP {}", answer.status);
    for (name, value) in &answer.headers {
        noteln!("{name}: {value}");
    }
    noteln!();
}

/// `--dry-run`: what would be sent, and the signature's input with the secret masked;
/// nothing is sent, refreshed or fetched (a `--shop` is looked up in the cached list).
fn dry_run(opts: &ApiOptions, file: &TokenFile, client: &Client, mut call: Call) -> Result<(), Error> {
    let saved = file.read().ok();
    let token = saved.as_ref().map(|(_, t)| mask(t.access_token.expose()));
    let open_id = saved.as_ref().map(|(v, _)| token_file::open_id(v)).unwrap_or_default();
    let shops = ShopList::cached(file, open_id);
    if !open_api::takes_no_shop(&call.path) {
        call.shop_cipher = match &opts.shop {
            Some(selector) if !shops.is_cached() => {
                return Err(Error::Usage(format!(
                    "--dry-run sends nothing, and no shop list is cached beside `{}` yet to find --shop `{selector}` in: \
                     run `tiktok-shop-auth shops` once",
                    file.path().display()
                )));
            }
            Some(selector) => cipher_of(&shops.choose(selector)?),
            None => match shops.shops.as_slice() {
                [only] => cipher_of(only),
                _ => None,
            },
        };
    }
    let signed = client.sign(&call, expiry::now());
    outln!("{} {}", call.method, signed.url);
    outln!("x-tts-access-token: {}", token.as_deref().unwrap_or("(no token file yet)"));
    outln!("content-type: application/json");
    if let Some(body) = &call.body {
        outln!();
        output::stdout_bytes(body);
        outln!();
    }
    outln!();
    outln!(
        "signature input (HMAC-SHA256 keyed by the app secret; path, sorted query without sign and access_token, body):"
    );
    outln!("{}", signed.base_string);
    outln!("sign: {}", signed.sign);
    Ok(())
}
