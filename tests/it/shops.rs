//! `shops`: the signed Open API call against the sandbox, which verifies the signature,
//! the timestamp window and the token.

use crate::*;

fn shops(dir: &TempDir, sandbox: &Sandbox, extra: &[&str]) -> Out {
    run(sandbox.command(dir, "shops", extra))
}

#[test]
fn lists_the_shops_with_their_cipher() {
    let dir = TempDir::new("shops-ok");
    let sandbox = logged_in(&dir, &[]);
    let out = shops(&dir, &sandbox, &[]);
    check_exit(&out, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(lines.len() == 2 && lines[0].starts_with("ID ") && lines[0].ends_with("CIPHER"), "table header", &out);
    check(
        lines[1].contains("Sandbox Test Shop") && lines[1].ends_with("GCP_sandboxCipherSaNdBoX0000000001"),
        "row",
        &out,
    );
    let out = shops(&dir, &sandbox, &["--json"]);
    check_exit(&out, 0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    check(v[0]["cipher"] == "GCP_sandboxCipherSaNdBoX0000000001" && v[0]["region"] == "GB", "json", &out);
    check(sandbox.log().contains("sign=") && !sandbox.log().contains(APP_SECRET), "signed, secret not logged", &out);
}

#[test]
fn expired_token_says_refresh() {
    let dir = TempDir::new("shops-expired");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    std::fs::write(
        dir.path("tiktok-shop-token.json"),
        token_json("TTP_oldAccessToken1234", now() - 5, "TTP_refresh12345678", now() + 86_400),
    )
    .unwrap();
    let out = shops(&dir, &sandbox, &[]);
    check_exit(&out, 5);
    check(out.stderr.contains("expired") && out.stderr.contains("tiktok-shop-auth refresh"), "says refresh", &out);
    check(sandbox.count("/authorization/202309/shops") == 0, "no request", &out);
}

#[test]
fn a_token_replaced_by_refresh_is_rejected() {
    let dir = TempDir::new("shops-replaced");
    let sandbox = logged_in(&dir, &[]);
    std::fs::copy(dir.path("tiktok-shop-token.json"), dir.path("before-refresh.json")).unwrap();
    let base = sandbox.url();
    check_exit(&run(tool(&dir, &["refresh", "--auth-base", &base])), 0);
    let out = shops(&dir, &sandbox, &["--token-file", "before-refresh.json"]);
    // TikTok refusing the access token is "a new login (or refresh) is needed": exit 5.
    check_exit(&out, 5);
    check_contains_all(&out.stderr, &["code 105001", "HTTP 401", "request_id", "tiktok-shop-auth refresh"], &out);
    check_exit(&shops(&dir, &sandbox, &[]), 0);
}

#[test]
fn wrong_secret_is_a_bad_signature() {
    let dir = TempDir::new("shops-badsig");
    let sandbox = logged_in(&dir, &[]);
    let base = sandbox.url();
    let mut cmd = tool(&dir, &["shops", "--api-base", &base]);
    cmd.env("TIKTOK_SHOP_APP_SECRET", "not-the-secret");
    let out = run(cmd);
    check_exit(&out, 1);
    check(out.stderr.contains("code 106001") && out.stderr.contains("Invalid signature"), "bad signature", &out);
    check(!out.stderr.contains("not-the-secret"), "secret not shown", &out);
}
