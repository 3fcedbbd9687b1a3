//! What a token file holds, for people (`login`, `status`) and for scripts (`--json`).
//!
//! Tokens are only ever shown masked. Expiry times are the absolute Unix timestamps of the
//! response, shown as UTC dates with the time left.

use serde_json::{Value, json};

use crate::expiry;
use crate::secret::mask;

fn data_str<'a>(value: &'a Value, name: &str) -> &'a str {
    value.pointer(&format!("/data/{name}")).and_then(Value::as_str).unwrap_or("")
}

fn data_i64(value: &Value, name: &str) -> Option<i64> {
    value.pointer(&format!("/data/{name}")).and_then(Value::as_i64)
}

fn user_type_name(user_type: Option<i64>) -> &'static str {
    match user_type {
        Some(0) => "seller",
        Some(1) => "creator",
        Some(3) => "partner",
        Some(_) => "other",
        None => "unknown",
    }
}

/// The granted scopes under either of TikTok's names, cleaned (outside text).
fn scopes(value: &Value) -> Vec<String> {
    crate::token_response::scopes_of(value).into_iter().map(crate::secret::clean).collect()
}

/// The human summary, several lines, for stdout.
pub fn text(value: &Value, path: &str, now: i64) -> String {
    let seller = data_str(value, "seller_name");
    let user_type = data_i64(value, "user_type");
    let scopes = scopes(value);
    let expiry_line = |token: &str, at: Option<i64>| match at {
        Some(at) => {
            format!("{} expires {}", mask(data_str(value, token)), expiry::describe(at, now))
        }
        None => format!("{} (no expiry in the file)", mask(data_str(value, token))),
    };
    let mut out = String::new();
    out.push_str(&format!("seller         {}\n", if seller.is_empty() { "(no name)" } else { seller }));
    out.push_str(&format!("region         {}\n", data_str(value, "seller_base_region")));
    out.push_str(&format!("open_id        {}\n", data_str(value, "open_id")));
    out.push_str(&format!(
        "user type      {} ({})\n",
        user_type_name(user_type),
        user_type.map(|t| t.to_string()).unwrap_or_else(|| "-".into())
    ));
    out.push_str(&format!(
        "scopes         {}\n",
        if scopes.is_empty() { "(none listed)".to_string() } else { scopes.join(", ") }
    ));
    out.push_str(&format!(
        "access token   {}\n",
        expiry_line("access_token", data_i64(value, "access_token_expire_in"))
    ));
    out.push_str(&format!(
        "refresh token  {}\n",
        expiry_line("refresh_token", data_i64(value, "refresh_token_expire_in"))
    ));
    out.push_str(&format!("token file     {path}\n"));
    out
}

/// The same summary as one JSON object.
pub fn json(value: &Value, path: &str, now: i64) -> Value {
    let expiry = |token: &str, field: &str| {
        let at = data_i64(value, field);
        json!({
            "masked": mask(data_str(value, token)),
            "expires_at": at,
            "expires_utc": at.map(expiry::utc),
            "valid": at.is_some_and(|at| expiry::is_valid(at, now)),
        })
    };
    let user_type = data_i64(value, "user_type");
    json!({
        "seller_name": data_str(value, "seller_name"),
        "seller_base_region": data_str(value, "seller_base_region"),
        "open_id": data_str(value, "open_id"),
        "user_type": user_type,
        "user_type_name": user_type_name(user_type),
        "granted_scopes": scopes(value),
        "access_token": expiry("access_token", "access_token_expire_in"),
        "refresh_token": expiry("refresh_token", "refresh_token_expire_in"),
        "token_file": path,
    })
}

/// A plain table: columns padded to their widest cell, two spaces apart, no trailing blanks.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..headers.len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([headers[i].chars().count()]).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().enumerate().map(|(i, c)| format!("{c:<w$}", w = widths[i])).collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        serde_json::from_str(
            r#"{"code":0,"message":"success","request_id":"R","data":{"access_token":"TTP_Fw8rABCDEFGHIJKLMN",
            "access_token_expire_in":1660556783,"refresh_token":"TTP_NTUxABCDEFGHIJKLMN","refresh_token_expire_in":1691487031,
            "open_id":"7010736057180325637","seller_name":"Jjj test shop","seller_base_region":"ID","user_type":0,
            "granted_scopes":["seller.a.read","seller.a.write"]}}"#,
        )
        .unwrap()
    }

    #[test]
    fn text_summary_masks_tokens_and_dates_expiry() {
        let s = text(&sample(), "/x/t.json", 1_660_556_783 - 7 * 86_400);
        assert!(s.contains("seller         Jjj test shop\n"), "{s}");
        assert!(s.contains("user type      seller (0)"), "{s}");
        assert!(s.contains("scopes         seller.a.read, seller.a.write"), "{s}");
        assert!(s.contains("access token   TTP_Fw… expires 2022-08-15 09:46:23 UTC (in 7 days)"), "{s}");
        assert!(!s.contains("ABCDEFG"), "{s}");
        assert!(s.ends_with("token file     /x/t.json\n"));
    }

    #[test]
    fn json_summary_has_validity() {
        let j = json(&sample(), "t.json", 1_660_556_783 + 1);
        assert_eq!(j["access_token"]["valid"], false);
        assert_eq!(j["refresh_token"]["valid"], true);
        assert_eq!(j["access_token"]["masked"], "TTP_Fw…");
        assert_eq!(j["user_type_name"], "seller");
    }
}
