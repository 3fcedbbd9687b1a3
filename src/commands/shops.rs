//! `shops`: one signed Open API call ("Get Authorized Shops") that proves the token works
//! and hands over each shop's `cipher`, which every later shop API call needs. A thin
//! formatter over `open_api`, which also keeps the list cached for `api --shop`.

use serde_json::Value;

use crate::cli::ShopsOptions;
use crate::error::Error;
use crate::open_api::{Client, ShopList};
use crate::secret::clean;
use crate::token_file::{self, TokenFile};
use crate::{expiry, summary, tiktok};

pub fn run(opts: &ShopsOptions) -> Result<(), Error> {
    let agent = tiktok::agent()?;
    let file = TokenFile::new(&opts.token_file)?;
    let (value, tokens) = file.read()?;
    tokens.check_access(file.path(), expiry::now())?;
    let client = Client { agent: &agent, base: &opts.api_base, app: &opts.app };
    let mut list = ShopList::cached(&file, token_file::open_id(&value));
    list.refetch(&client, &tokens.access_token)?;
    let shops = list.shops;
    if opts.json {
        outln!("{}", Value::Array(shops));
        return Ok(());
    }
    if shops.is_empty() {
        noteln!("the token works, but no shop is authorized for it");
        return Ok(());
    }
    out!("{}", table(&shops));
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
/// `awk '{print $NF}'`.
fn table(shops: &[Value]) -> String {
    let cell = |shop: &Value, key: &str| match shop.get(key) {
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
