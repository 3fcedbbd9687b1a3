//! `shops`: one signed Open API call ("Get Authorized Shops") that proves the token works
//! and hands over each shop's `cipher`, which every later shop API call needs. A thin
//! formatter over `open_api`, which also keeps the list cached for `api --shop`.

use serde_json::Value;

use crate::cli::{Args, Files, TokenOptions};
use crate::config::App;
use crate::error::Error;
use crate::open_api::{Client, ShopList};
use crate::secret::clean;
use crate::store::Home;
use crate::{expiry, http, summary};

pub struct Options {
    pub app: App,
    pub tokens: TokenOptions,
    pub api_base: String,
    pub json: bool,
}

pub fn parse(args: &mut Args) -> Result<Options, Error> {
    let json = args.flag("--json");
    let api_base = args.api_base()?;
    let tokens = args.token_options(None, Files::One)?;
    let app = tokens.app()?;
    Ok(Options { app, tokens, api_base, json })
}

/// `--help`, its defaults taken from the constants the parser uses.
pub fn help() -> String {
    format!(
        "\
tiktok-shop-auth shops: a signed Open API call that proves the token works and lists shop ciphers

USAGE:
    tiktok-shop-auth shops [OPTIONS]

Calls GET /authorization/202309/shops (\"Get Authorized Shops\"), signed with the app secret
(HMAC-SHA256) and carrying the access token in x-tts-access-token, and prints each shop's
id, name, region, seller type, code and cipher: the shop_cipher every shop API call needs.

{options_shops}
EXIT STATUS:
    0 listed   1 failed (network, TikTok error such as a bad signature or clock skew)
    2 usage error   5 the access token has expired (run refresh) or no file (run login)
",
        options_shops = crate::flags::options("shops"),
    )
}

pub fn run(opts: &Options) -> Result<(), Error> {
    let agent = http::agent()?;
    let home = Home::open(&opts.tokens.location)?;
    let saved = home.read()?;
    saved.tokens.check_access(&home.shown(), expiry::now())?;
    let client = Client::new(&agent, &opts.api_base, &opts.app);
    let mut list = ShopList::cached(home.cache(), saved.open_id());
    list.refetch(&client, &saved.tokens.access_token)?;
    // A shop TikTok refused as inactive (36009043, seen by an earlier call) is marked.
    let mut shops = list.shops;
    for shop in &mut shops {
        let inactive = shop["cipher"].as_str().is_some_and(|c| list.inactive.iter().any(|i| i == c));
        if let (true, Some(object)) = (inactive, shop.as_object_mut()) {
            object.insert("inactive".into(), Value::Bool(true));
        }
    }
    if opts.json {
        outln!("{}", Value::Array(shops));
        return Ok(());
    }
    if shops.is_empty() {
        noteln!("the token works, but no shop is authorized for it");
        return Ok(());
    }
    out!("{}", table(&shops));
    if shops.iter().any(|s| s["inactive"] == true) {
        noteln!(
            "tiktok-shop-auth: a shop marked inactive was refused by TikTok as inactive (36009043): calls for it fail \
             until the seller reactivates it; no refresh or login changes that"
        );
    }
    Ok(())
}

const COLUMNS: [(&str, &str); 6] = [
    ("id", "ID"),
    ("name", "NAME"),
    ("region", "REGION"),
    ("seller_type", "SELLER TYPE"),
    ("code", "CODE"),
    ("cipher", "CIPHER"),
];

/// The shops as an aligned table; the cipher comes last so it can be cut with
/// `awk '{print $NF}'`. A shop TikTok refused as inactive has `(inactive)` after its name.
fn table(shops: &[Value]) -> String {
    let cell = |shop: &Value, key: &str| match shop.get(key) {
        Some(Value::String(s)) if key == "name" && shop["inactive"] == true => {
            format!("{} (inactive)", clean(s).replace(char::is_whitespace, " "))
        }
        Some(Value::String(s)) => clean(s).replace(char::is_whitespace, " "),
        Some(Value::Null) | None => "-".into(),
        Some(other) => other.to_string(),
    };
    let rows: Vec<Vec<String>> = shops.iter().map(|s| COLUMNS.iter().map(|(k, _)| cell(s, k)).collect()).collect();
    summary::table(&COLUMNS.map(|(_, h)| h), &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_aligns_columns_and_ends_with_the_cipher() {
        let shops: Vec<Value> = serde_json::from_str(
            r#"[{"id":"7001","name":"Big Shop","region":"GB","seller_type":"LOCAL","code":"GBLC1","cipher":"GCP_abc"},
                {"id":"7","name":"S","region":"US","seller_type":"CROSS_BORDER","code":null,"cipher":"TTP_x"}]"#,
        )
        .unwrap();
        let t = table(&shops);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ID    NAME      REGION  SELLER TYPE   CODE   CIPHER");
        assert_eq!(lines[1], "7001  Big Shop  GB      LOCAL         GBLC1  GCP_abc");
        assert_eq!(lines[2], "7     S         US      CROSS_BORDER  -      TTP_x");
    }
}
