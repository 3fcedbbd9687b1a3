//! `api`: one signed call to any Open API endpoint, like `gh api`.
//!
//! The request is built and signed by `open_api` (the body signed as the exact bytes
//! sent), with the saved token, refreshed first through the locked path when it has
//! expired, and once more when TikTok refuses it (105001, 105002) although the file
//! believed in it. The answer goes to stdout as received, re-indented (or one compact page
//! a line with `--paginate`, each page written out before the next is fetched, so memory
//! stays flat however many pages); TikTok's error goes to stderr, exit 1.

use serde_json::Value;

use crate::cli::{self, Args};
use crate::error::Error;
use crate::files::Input;
use crate::http::Answer;
use crate::json_text::{compact, pretty};
use crate::open_api::{self, Call, Client, ShopList};
use crate::secret::{Secret, clean, mask};
use crate::session::{Session, SessionOptions, cipher_for, cipher_of};
use crate::{expiry, output};

/// The largest request body `--data` takes.
const MAX_DATA: u64 = 32 * 1024 * 1024;

pub use crate::flags::PAGES_AT_MOST as MAX_PAGES;
const METHODS: [&str; 5] = ["GET", "POST", "PUT", "DELETE", "PATCH"];
/// Query keys the tool sets itself (`shop_cipher` through `--shop`), or that carry a grant
/// or the secret: `api` never sends them from the command line.
const RESERVED_QUERY_KEYS: [&str; 8] =
    ["app_key", "timestamp", "sign", "access_token", "shop_cipher", "app_secret", "refresh_token", "auth_code"];
/// The token endpoints: only the locked refresh (and login) may call them.
const TOKEN_PATHS: &str = "/api/v2/token/";

pub struct Options {
    pub session: SessionOptions,
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub shop: Option<String>,
    pub data: Option<Input>,
    pub paginate: bool,
    /// `--paginate` stops (exit 1) after this many pages.
    pub max_pages: u64,
    pub include: bool,
    pub dry_run: bool,
    /// `--form NAME=VALUE` / `NAME=@FILE`: a multipart body instead of `--data`.
    pub form: Vec<(String, FormValue)>,
    /// `--pick POINTER`: print only these values of each answer (RFC 6901 pointers).
    pub pick: Vec<String>,
}

/// One `--form` field: text, or a file sent with the content type its extension names.
pub enum FormValue {
    Text(String),
    File(std::path::PathBuf),
}

/// The largest file `--form NAME=@FILE` sends: TikTok refuses images over 10 MB (36009021).
const MAX_FORM_FILE: u64 = 10 * 1024 * 1024;

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let paginate = args.flag("--paginate");
    let max_pages = args.number("--max-pages", 1..=i64::MAX)?.unwrap_or(MAX_PAGES);
    let include = args.flag("--include");
    let dry_run = args.flag("--dry-run");
    let pick = args.strings("--pick")?;
    if let Some(bad) = pick.iter().find(|p| !is_pointer(p)) {
        return Err(Error::Usage(format!(
            "api: --pick `{}` is not a JSON pointer (RFC 6901): it starts with `/`, each step a key or an index, \
             `~0` for `~` and `~1` for `/` (e.g. /data/shops/0/cipher)",
            clean(bad)
        )));
    }
    if dry_run && !pick.is_empty() {
        return Err(Error::Usage(
            "api: --pick picks from an answer, and --dry-run sends nothing to answer; give one".into(),
        ));
    }
    let shop = args.string("--shop")?;
    let data = args.string("--data")?.map(Input::from_flag);
    let quiet = args.flag("--quiet");
    let retries = args.number("--retries", 0..=20)?.unwrap_or(open_api::RETRIES);
    let mut form = Vec::new();
    for field in args.strings("--form")? {
        let Some((name, value)) = field.split_once('=').filter(|(n, _)| !n.is_empty()) else {
            return Err(Error::Usage(format!("--form `{}` is not NAME=VALUE or NAME=@FILE", clean(&field))));
        };
        let value = match value.strip_prefix('@') {
            Some(file) => FormValue::File(file.into()),
            None => FormValue::Text(value.to_string()),
        };
        form.push((name.to_string(), value));
    }
    if !form.is_empty() && data.is_some() {
        return Err(Error::Usage("api: --form and --data are two kinds of body; give one".into()));
    }
    let mut query = Vec::new();
    for pair in args.strings("--query")? {
        let Some((k, v)) = pair.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(Error::Usage(format!("--query `{}` is not KEY=VALUE", clean(&pair))));
        };
        query.push((k.to_string(), v.to_string()));
    }
    let mut session = SessionOptions::parse(args)?;
    session.retries = retries;
    session.quiet = quiet;
    let words: Vec<String> = args.files()?.into_iter().map(|w| w.to_string_lossy().into_owned()).collect();
    if let Some(pair) = words.iter().find(|w| w.contains('=') && !w.starts_with('/')) {
        return Err(Error::Usage(format!(
            "api: `{}` looks like a query pair: give it as --query KEY=VALUE (nothing was sent)",
            clean(pair)
        )));
    }
    let has_body = data.is_some() || !form.is_empty();
    let (method, path) = match words.as_slice() {
        [m, p] => (m.to_ascii_uppercase(), p.clone()),
        [p] => (if has_body { "POST" } else { "GET" }.to_string(), p.clone()),
        [] => return Err(Error::Usage("api: give the Open API PATH, e.g. `/seller/202309/shops`".into())),
        [_, _, extra, ..] => return Err(cli::unexpected("api", extra, "")),
    };
    if !METHODS.contains(&method.as_str()) {
        return Err(Error::Usage(format!("api: METHOD `{}` is not one of {}", clean(&method), METHODS.join(", "))));
    }
    if !path.starts_with('/') || path.contains(['#', ' ']) {
        return Err(Error::Usage(format!(
            "api: PATH `{}` must start with `/`, like /seller/202309/shops",
            clean(&path)
        )));
    }
    let (path, in_path) = match path.split_once('?') {
        Some((p, q)) => (p.to_string(), crate::url::parse_query(q)),
        None => (path, Vec::new()),
    };
    if path.to_ascii_lowercase().starts_with(TOKEN_PATHS) {
        return Err(Error::Usage(format!(
            "api: `{}` is a token endpoint, which spends a grant: only `tiktok-shop-auth refresh` (under the token \
             file's lock) and `login` call it; nothing was sent",
            clean(&path)
        )));
    }
    let query: Vec<(String, String)> = in_path.into_iter().chain(query).collect();
    if let Some((k, _)) = query.iter().find(|(k, _)| RESERVED_QUERY_KEYS.contains(&k.to_ascii_lowercase().as_str())) {
        let k = clean(k);
        let why = match k.as_str() {
            "shop_cipher" => "choose the shop with --shop (an id, code, name, region or cipher)".to_string(),
            "app_secret" | "refresh_token" | "auth_code" => {
                "it carries a secret or a grant, which api never sends from the command line".to_string()
            }
            _ => "the tool sets it itself".to_string(),
        };
        return Err(Error::Usage(format!("api: `{k}` is not taken in --query or PATH: {why}; nothing was sent")));
    }
    Ok(Options { session, method, path, query, shop, data, paginate, max_pages, include, dry_run, form, pick })
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth api: a signed call to any Open API endpoint, like `gh api`

USAGE:
    tiktok-shop-auth api [METHOD] PATH [--query KEY=VALUE]... [--shop SELECTOR]
                         [--data JSON | --data @FILE | --data -] [--paginate [--max-pages N]] [--pick POINTER]...
                         [--include] [--dry-run] [--form NAME=VALUE|NAME=@FILE]... [-v]

    tiktok-shop-auth api /seller/202309/shops
    tiktok-shop-auth api POST /order/202309/orders/search --query page_size=50 --shop GB \\
        --data '{{\"order_status\": \"AWAITING_SHIPMENT\"}}' --paginate
    tiktok-shop-auth api /product/202309/products/1729382476852921560 --shop GB | jq .data.title
    tiktok-shop-auth api /authorization/202309/shops --pick /data/shops/0/cipher    (no jq needed)

Builds the request from PATH (joined to --api-base; a query in it is kept), adds app_key,
timestamp, each --query KEY=VALUE and, when a shop is chosen, shop_cipher; signs it (HMAC-SHA256
over the path, the sorted query and the body exactly as sent) and sends it with the saved
access token in x-tts-access-token. An expired access token is refreshed first, exactly as
`refresh` does. The answer's JSON goes to stdout as received (re-indented).

{options_api}
A throttled call that only reads is tried again (--retries); any other POST, and PUT, DELETE
and PATCH, are sent once. When TikTok still throttles it: exit 1, saying so (the token is
fine: no refresh, never exit 5). An inactive shop or seller (36009043, 36009044) is exit 1
too, saying that no refresh or login changes it.

EXIT STATUS:
    0 TikTok answered code 0   1 a non-zero code (the answer still goes to stdout unless --pick;
    code, message and request_id on stderr), a --pick pointer with nothing there, or a network
    or file error   2 usage error (an invalid --pick pointer too)
    5 the access token was refused and could not be refreshed: run refresh, or login
",
        options_api = crate::flags::options("api"),
    )
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let (body, content_type) = match opts.form.is_empty() {
        true => (read_body(opts.data.as_ref())?, None),
        false => {
            let (body, content_type) = multipart(&opts.form)?;
            (Some(body), Some(content_type))
        }
    };
    let session = Session::open(&opts.session)?;
    let client = session.signing_client()?;
    let mut call = Call {
        method: opts.method.clone(),
        path: opts.path.clone(),
        query: opts.query.clone(),
        shop_cipher: None,
        body,
        content_type,
    };
    if opts.dry_run {
        return dry_run(opts, &session, &client, call);
    }
    let saved = session.fresh(0)?;
    let mut shops = session.shops(&saved);
    let mut tokens = saved.tokens;
    call.shop_cipher = shop_cipher(opts, &mut shops, &client, &tokens.access_token)?;
    let mut page = call.clone();
    // --paginate: the tokens followed so far (a server that repeats one would never end).
    // (A list: a scan is quick for any number of pages, and a set type costs kilobytes.)
    let mut followed: Vec<String> = Vec::new();
    let mut pages = 0u64;
    loop {
        let (answer, checked) = session.send(&client, &page, &mut tokens, &mut |a| {
            if opts.include {
                show_head(a)
            }
        })?;
        if let Err(Error::TikTok(e)) = &checked
            && e.code == open_api::SHOP_CIPHER_ERROR
            && !shops.fresh
            && call.shop_cipher == page.shop_cipher
        {
            // The cached shop list may be stale (a shop added, a seller re-authorized):
            // fetch it again and choose again, once.
            shops.refetch(&client, &tokens.access_token)?;
            call.shop_cipher = shop_cipher(opts, &mut shops, &client, &tokens.access_token)?;
            if call.shop_cipher != page.shop_cipher {
                page.shop_cipher.clone_from(&call.shop_cipher);
                continue;
            }
        }
        if opts.pick.is_empty() {
            print_answer(&answer, opts.paginate);
        }
        pages += 1;
        let value = checked.map_err(|e| with_shop_hint(e, opts, &mut shops, page.shop_cipher.as_deref()))?;
        print_picks(&value, &opts.pick, pages)?;
        let next = value.pointer("/data/next_page_token").and_then(Value::as_str).filter(|t| !t.is_empty());
        match next {
            Some(token) if opts.paginate && !output::reader_gone() => {
                if followed.iter().any(|t| t == token) {
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
                followed.push(token.to_string());
                page = call.clone();
                page.query.retain(|(k, _)| k != "page_token");
                page.query.push(("page_token".into(), token.to_string()));
            }
            _ => return Ok(()),
        }
    }
}

/// `--form`: a `multipart/form-data` body (a random boundary) and its content type. A file
/// field carries its file name and the content type its extension names; a file over 10 MiB
/// is refused before anything is sent.
fn multipart(form: &[(String, FormValue)]) -> Result<(Vec<u8>, String), Error> {
    let boundary = format!(
        "tiktok-shop-auth-{}",
        crate::secret::random_urlsafe(12).map_err(|e| Error::Local(format!("no random boundary: {e}")))?
    );
    let mut body = Vec::new();
    for (name, value) in form {
        let name = name.replace(['"', '\r', '\n'], "_");
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match value {
            FormValue::Text(text) => {
                body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes());
                body.extend_from_slice(text.as_bytes());
            }
            FormValue::File(path) => {
                let bytes = Input::File(path.clone()).read(MAX_FORM_FILE)?.ok_or_else(|| {
                    Error::Usage(format!(
                        "--form {name}=@{}: the file is larger than {} MiB, which TikTok refuses (36009021); nothing was sent",
                        crate::secret::shown(path),
                        MAX_FORM_FILE / 1024 / 1024
                    ))
                })?;
                let file_name = path.file_name().map(|n| n.to_string_lossy().replace(['"', '\r', '\n'], "_"));
                body.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{}\"\r\nContent-Type: {}\r\n\r\n",
                        file_name.unwrap_or_default(),
                        content_type_of(path)
                    )
                    .as_bytes(),
                );
                body.extend_from_slice(&bytes);
            }
        }
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Ok((body, format!("multipart/form-data; boundary={boundary}")))
}

/// A file's content type from its extension (the image kinds TikTok takes, else bytes).
fn content_type_of(path: &std::path::Path) -> &'static str {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()).unwrap_or_default();
    match ext.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "webp" => "image/webp",
        "heic" => "image/heic",
        "bmp" => "image/bmp",
        "gif" => "image/gif",
        "mp4" => "video/mp4",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}

/// `--data`: the bytes exactly as given (they are what is signed and sent), checked to be JSON.
fn read_body(data: Option<&Input>) -> Result<Option<Vec<u8>>, Error> {
    let Some(data) = data else { return Ok(None) };
    let what = data.describe("--data");
    let bytes = data
        .read(MAX_DATA)?
        .ok_or_else(|| Error::Usage(format!("{what} is larger than {} MiB", MAX_DATA / 1024 / 1024)))?;
    serde_json::from_slice::<Value>(&bytes).map_err(|e| {
        Error::Usage(format!(
            "{what} is not valid JSON ({e}); --data must be JSON (it is sent and signed as given, not re-serialised)"
        ))
    })?;
    Ok(Some(bytes))
}

/// The `shop_cipher` to send: `--shop`'s, else a one-shop seller's (see `session::cipher_for`).
fn shop_cipher(opts: &Options, shops: &mut ShopList, client: &Client, token: &Secret) -> Result<Option<String>, Error> {
    let shop = cipher_for(shops, opts.shop.as_deref(), Some(&opts.path), Some((client, token)))?;
    Ok(shop.as_ref().and_then(cipher_of))
}

/// `106013` from a seller with several shops and no `--shop`: say which to choose from.
/// An inactive shop (36009043) is named, and marked in the cache for `shops`.
fn with_shop_hint(e: Error, opts: &Options, shops: &mut ShopList, cipher: Option<&str>) -> Error {
    match e {
        Error::Local(message) if message.contains(&open_api::SHOP_INACTIVE.to_string()) => {
            let shop = cipher.and_then(|c| shops.mark_inactive(c));
            match shop {
                Some(shop) => Error::Local(format!("the shop {shop}: {message}")),
                None => Error::Local(message),
            }
        }
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

/// Whether `text` is an RFC 6901 JSON pointer: empty (the whole document) or `/`-led steps
/// in which `~` is always `~0` or `~1`.
fn is_pointer(text: &str) -> bool {
    (text.is_empty() || text.starts_with('/'))
        && text.split('~').skip(1).all(|after| after.starts_with('0') || after.starts_with('1'))
}

/// `--pick`: each pointer's value on a line of its own, a string raw (its control
/// characters escaped, so that a value is always one line), anything else compact JSON. A
/// pointer with nothing at it is exit 1 naming it (and the page, past the first).
fn print_picks(value: &Value, pointers: &[String], page: u64) -> Result<(), Error> {
    for pointer in pointers {
        let Some(found) = value.pointer(pointer) else {
            let on = if page > 1 { format!(" on page {page}") } else { String::new() };
            return Err(Error::Local(format!(
                "--pick `{}`: the answer{on} has nothing there (run without --pick to see it whole)",
                clean(pointer)
            )));
        };
        let mut line = match found {
            Value::String(text) => crate::secret::one_line(text),
            other => other.to_string(),
        };
        line.push('\n');
        output::stdout_bytes(line.as_bytes());
    }
    Ok(())
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
fn dry_run(opts: &Options, session: &Session, client: &Client, mut call: Call) -> Result<(), Error> {
    let saved = session.home().read().ok();
    let token = saved.as_ref().map(|s| mask(s.tokens.access_token.expose()));
    let mut shops = match &saved {
        Some(saved) => session.shops(saved),
        None => ShopList::cached(session.home().cache(), ""),
    };
    if let Some(selector) = &opts.shop
        && !shops.is_cached()
        && !open_api::takes_no_shop(&call.path)
    {
        return Err(Error::Usage(format!(
            "--dry-run sends nothing, and no shop list is cached beside `{}` yet to find --shop `{}` in: \
             run `tiktok-shop-auth shops` once",
            session.home().shown(),
            clean(selector)
        )));
    }
    if !open_api::takes_no_shop(&call.path) {
        call.shop_cipher =
            cipher_for(&mut shops, opts.shop.as_deref(), Some(&call.path), None)?.as_ref().and_then(cipher_of);
    }
    let signed = client.sign(&call, expiry::now());
    outln!("{} {}", call.method, signed.url);
    outln!("x-tts-access-token: {}", token.as_deref().unwrap_or("(no token file yet)"));
    outln!("content-type: {}", call.content_type());
    match (&call.body, opts.form.is_empty()) {
        (Some(body), true) => {
            outln!();
            output::stdout_bytes(body);
            outln!();
        }
        // Multipart: the fields, a file's bytes left out; and it is not signed.
        (Some(_), false) => {
            outln!();
            for (name, value) in &opts.form {
                match value {
                    FormValue::Text(text) => outln!("form field {name}: {}", clean(text)),
                    FormValue::File(path) => {
                        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
                        outln!(
                            "form field {name}: file `{}`, {size} bytes, {} (not shown)",
                            crate::secret::shown(path),
                            content_type_of(path)
                        );
                    }
                }
            }
            outln!("(a multipart/form-data body is not signed: TikTok signs the path and the query only)");
        }
        (None, _) => {}
    }
    outln!();
    outln!(
        "signature input (HMAC-SHA256 keyed by the app secret; path, sorted query without sign and access_token, body):"
    );
    outln!("{}", signed.base_string);
    outln!("sign: {}", signed.sign);
    Ok(())
}
