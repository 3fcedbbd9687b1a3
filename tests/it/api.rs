//! `api` and `exec` against the sandbox's Open API, which checks every signature over the
//! body, the timestamp window, the token and the shop cipher.

use std::collections::HashSet;
use std::fs;

use serde_json::Value;

use crate::*;

const FILE: &str = "tiktok-shop-token.json";
const ORDERS: &str = "/order/202309/orders/search";

fn api(dir: &TempDir, sandbox: &Sandbox, args: &[&str]) -> Out {
    run(api_command(dir, sandbox, args))
}

fn api_command(dir: &TempDir, sandbox: &Sandbox, args: &[&str]) -> Command {
    let base = sandbox.url();
    let mut all = vec!["api", "--api-base", &base, "--auth-base", &base];
    all.extend_from_slice(args);
    tool(dir, &all)
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.stdout))
}

#[test]
fn get_and_post_are_signed_over_the_body_and_printed_as_received() {
    let dir = TempDir::new("api-get-post");
    let sandbox = logged_in(&dir, &[]);
    let out = api(&dir, &sandbox, &["/seller/202309/shops"]);
    check_exit(&out, 0);
    check_contains(&out.stdout, "{\n  \"code\": 0,\n", &out);
    check(json(&out)["data"]["shops"][0]["id"] == "7494000000000000001", "the shop", &out);
    // A body with spaces, escapes and non-ASCII: signed as the exact bytes sent, or the
    // sandbox answers 106001.
    let body = "{ \"order_status\" : \"UNPAID\",\n  \"note\": \"café ☂ \\u00e9  two  spaces\" }";
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=5", "--data", body]);
    check_exit(&out, 0);
    let orders = json(&out)["data"]["orders"].as_array().cloned().unwrap_or_default();
    check(orders.len() == 5 && orders.iter().all(|o| o["status"] == "UNPAID"), "filtered by the body", &out);
    // The same from a file and from stdin; METHOD defaults to POST with --data.
    fs::write(dir.path("body.json"), body).unwrap();
    check_exit(&api(&dir, &sandbox, &[ORDERS, "--query", "page_size=1", "--data", "@body.json"]), 0);
    let mut cmd = api_command(&dir, &sandbox, &[ORDERS, "--query", "page_size=1", "--data", "-"]);
    cmd.stdin(fs::File::open(dir.path("body.json")).unwrap());
    check_exit(&run(cmd), 0);
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--data", "{not json"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "not valid JSON", &out);
    let out = api(&dir, &sandbox, &[ORDERS, "--query", "sign=x"]);
    check_exit(&out, 2);
}

/// `api` cannot spend a grant outside the lock, nor send the secret: the token endpoints
/// and the keys that carry a grant or the secret are refused before anything is sent.
#[test]
fn api_refuses_the_token_endpoints_and_grant_keys_and_sends_nothing() {
    let dir = TempDir::new("api-refuses");
    let sandbox = logged_in(&dir, &[]);
    let saved = read_json(&dir.path(FILE));
    let refresh_token = saved["data"]["refresh_token"].as_str().unwrap().to_string();
    let grant = format!("refresh_token={refresh_token}");
    let before = sandbox.log().len();
    let auth = sandbox.url();
    let cases: Vec<Vec<&str>> = vec![
        vec!["--api-base", &auth, "/api/v2/token/refresh", "--query", "grant_type=refresh_token", "--query", &grant],
        vec!["--api-base", &auth, "/API/v2/token/get", "--query", "auth_code=x"],
        vec!["/seller/202309/shops", "--query", "app_secret=zzzzzz"],
        vec!["/seller/202309/shops", "--query", &grant],
        vec!["/seller/202309/shops?auth_code=abc"],
        vec![ORDERS, "--query", "shop_cipher=GCP_x"],
    ];
    for args in cases {
        let out = run(tool(&dir, &[&["api"], args.as_slice()].concat()));
        check_exit(&out, 2);
        check_contains(&out.stderr, "nothing was sent", &out);
        check_lacks(&out.stderr, &refresh_token, &out);
        check_lacks(&out.stdout, "access_token", &out);
    }
    let out = api(&dir, &sandbox, &[ORDERS, "-q", "page_size=1"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "--query KEY=VALUE", &out);
    check(sandbox.log().len() == before, "nothing reached the sandbox", &sandbox.log_out());
    check(read_json(&dir.path(FILE)) == saved, "the token file is as it was", &out);
}

#[test]
fn shop_is_chosen_by_id_code_name_region_or_cipher_and_ambiguity_is_a_usage_error() {
    let dir = TempDir::new("api-shops");
    let sandbox = logged_in(&dir, &["--shops", "7"]);
    for selector in
        ["7494000000000000002", "USLCSANDBOX2", "sandbox shop 2", "us", "GCP_sandboxCipherSaNdBoX0000000002"]
    {
        let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1", "--shop", selector]);
        check_exit(&out, 0);
        check(json(&out)["data"]["orders"][0]["shop_id"] == "7494000000000000002", selector, &out);
    }
    let shops_calls = sandbox.count("GET /authorization/202309/shops");
    check(shops_calls == 1, "the shop list was fetched once and cached", &sandbox.log_out());
    check(dir.path(&format!(".{FILE}.shops")).exists(), "cached beside the token file", &sandbox.log_out());
    // Shops 1 and 7 are both in GB.
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1", "--shop", "GB"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "matches 2 shops", &out);
    check_contains(&out.stderr, "7494000000000000001", &out);
    check_contains(&out.stderr, "7494000000000000007", &out);
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1", "--shop", "JP"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "matches none", &out);
    check(sandbox.count("GET /authorization/202309/shops") == 2, "no match refetches once", &sandbox.log_out());
    // Several shops and no --shop: TikTok's 106013, with what to do.
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "106013", &out);
    check_contains(&out.stderr, "choose one with --shop", &out);
    check(json(&out)["code"] == 106013, "the answer still goes to stdout", &out);
}

#[test]
fn a_one_shop_seller_gets_its_cipher_except_on_authorization_and_seller_paths() {
    let dir = TempDir::new("api-one-shop");
    let sandbox = logged_in(&dir, &[]);
    check_exit(&api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1"]), 0);
    check_exit(&api(&dir, &sandbox, &["/product/202309/products/1729382476852921560"]), 0);
    // The sandbox refuses a shop_cipher on these paths, as TikTok wants it left off.
    check_exit(&api(&dir, &sandbox, &["/authorization/202309/shops"]), 0);
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
    let log = sandbox.log();
    let with_cipher = |path: &str| log.lines().filter(|l| l.contains(path) && l.contains("shop_cipher=")).count();
    check(
        with_cipher("/authorization/") == 0 && with_cipher("/seller/") == 0,
        "never a cipher there",
        &sandbox.log_out(),
    );
    check(with_cipher(ORDERS) == 1 && with_cipher("/product/") == 1, "the cipher on shop APIs", &sandbox.log_out());
    let out = api(&dir, &sandbox, &["/seller/202309/shops", "--shop", "GB"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "takes no shop_cipher", &out);
}

#[test]
fn paginate_follows_next_page_token_to_the_last_page_as_json_lines() {
    let dir = TempDir::new("api-paginate");
    let sandbox = logged_in(&dir, &["--orders", "25"]);
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=10", "--paginate", "--data", "{}"]);
    check_exit(&out, 0);
    let pages: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    check(pages.len() == 3, "three pages, one line each", &out);
    let ids: HashSet<String> = pages
        .iter()
        .flat_map(|p| p["data"]["orders"].as_array().cloned().unwrap_or_default())
        .map(|o| o["id"].as_str().unwrap_or_default().to_string())
        .collect();
    check(ids.len() == 25, "every order once", &out);
    check(pages[2]["data"]["next_page_token"] == "", "the last page ends it", &out);
    check(sandbox.count("page_token=pt_10") == 1 && sandbox.count("page_token=pt_20") == 1, "tokens sent back", &out);
}

#[test]
fn a_tiktok_error_prints_the_body_and_code_message_request_id_and_exits_1() {
    let dir = TempDir::new("api-error");
    let sandbox = logged_in(&dir, &[]);
    let out = api(&dir, &sandbox, &["/product/202309/products/not-a-product"]);
    check_exit(&out, 1);
    check(json(&out)["code"] == 12052048, "the body on stdout", &out);
    check_contains_all(&out.stderr, &["code 12052048", "not found", "request_id", "HTTP 404"], &out);
    let mut cmd = api_command(&dir, &sandbox, &["/seller/202309/shops"]);
    cmd.env("TIKTOK_SHOP_APP_SECRET", "not-the-secret");
    let out = run(cmd);
    check_exit(&out, 1);
    check_contains(&out.stderr, "106001", &out);
    check_lacks(&out.stderr, "not-the-secret", &out);
}

#[test]
fn http_429_is_retried_for_reads_and_never_for_a_write() {
    let dir = TempDir::new("api-429");
    let sandbox = logged_in(&dir, &["--rate-limit", "1", "--retry-after", "1"]);
    // The sandbox allows one Open API call a second. This call ends in a success the sandbox
    // counted (had anything filled the window already, it would wait out a 429 first), so
    // the window is full for the call made right after it.
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
    let before = sandbox.count("GET /seller/202309/shops");
    let out = api(&dir, &sandbox, &["/seller/202309/shops", "--include"]);
    check_exit(&out, 0);
    check_contains(&out.stderr, "HTTP 429", &out);
    check_contains(&out.stderr.to_ascii_lowercase(), "retry-after: 1", &out);
    check_contains(&out.stderr, "trying again in 1.0 s", &out);
    let sent = sandbox.count("GET /seller/202309/shops") - before;
    check(sent == 2, "a 429, then one retry after Retry-After", &sandbox.log_out());
    // A write (the Events API's PUT) is sent once, throttled or not.
    let cipher = "GCP_sandboxCipherSaNdBoX0000000001";
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
    let body = r#"{"address":"https://example.com/hook","event_type":"ORDER_STATUS_CHANGE"}"#;
    let out = api(&dir, &sandbox, &["PUT", "/event/202309/webhooks", "--shop", cipher, "--data", body]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "HTTP 429", &out);
    check(sandbox.count("PUT /event/202309/webhooks") == 1, "a write is sent once", &sandbox.log_out());
}

#[test]
fn an_expired_token_is_refreshed_first_and_a_dead_refresh_token_is_exit_5() {
    let dir = TempDir::new("api-refresh");
    // 30 s tokens count as expired at once (the 60 s skew margin).
    let sandbox = logged_in(&dir, &["--access-ttl", "30s"]);
    let before = read_json(&dir.path(FILE));
    fs::copy(dir.path(FILE), dir.path("stale.json")).unwrap();
    let out = api(&dir, &sandbox, &["/seller/202309/shops"]);
    check_exit(&out, 0);
    check(sandbox.count("/api/v2/token/refresh") == 1, "refreshed first", &sandbox.log_out());
    check(read_json(&dir.path(FILE))["data"]["refresh_token"] != before["data"]["refresh_token"], "saved", &out);
    // stale.json holds the refresh token the first refresh spent: TikTok refuses it.
    let out = api(&dir, &sandbox, &["/seller/202309/shops", "--token-file", "stale.json"]);
    check_exit(&out, 5);
    check_contains(&out.stderr, "36004005", &out);
    check_contains(&out.stderr, "tiktok-shop-auth login", &out);
    check(out.stdout.is_empty(), "nothing on stdout", &out);
}

#[test]
fn a_token_tiktok_refuses_is_replaced_once_then_exit_5() {
    let dir = TempDir::new("api-refused");
    let sandbox = logged_in(&dir, &[]);
    fs::copy(dir.path(FILE), dir.path("copy.json")).unwrap();
    // Refreshing through the copy kills the original's access and refresh tokens.
    check_exit(&run(sandbox.command(&dir, "refresh", &["--token-file", "copy.json"])), 0);
    let out = api(&dir, &sandbox, &["/seller/202309/shops"]);
    check_exit(&out, 5);
    check_contains(&out.stderr, "36004005", &out);
    check(sandbox.count("/api/v2/token/refresh") == 2, "one refresh was tried after the 105001", &sandbox.log_out());
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops", "--token-file", "copy.json"]), 0);
}

#[test]
fn dry_run_sends_nothing_and_shows_neither_the_secret_nor_the_token() {
    let dir = TempDir::new("api-dry-run");
    let sandbox = logged_in(&dir, &[]);
    let token = read_json(&dir.path(FILE))["data"]["access_token"].as_str().unwrap().to_string();
    let before = sandbox.log().lines().count();
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=2", "--data", "{\"a\": \"é\"}", "--dry-run"]);
    check_exit(&out, 0);
    check_contains_all(
        &out.stdout,
        &[
            &format!("POST {}{ORDERS}?app_key={APP_KEY}&timestamp=", sandbox.url()),
            "&page_size=2&sign=",
            "x-tts-access-token: TTP_",
        ],
        &out,
    );
    check_contains(&out.stdout, &format!("<app_secret>{ORDERS}app_key{APP_KEY}page_size2timestamp"), &out);
    check_contains(&out.stdout, "{\"a\": \"é\"}<app_secret>", &out);
    check_lacks(&out.stdout, APP_SECRET, &out);
    check_lacks(&out.stdout, &token, &out);
    check(sandbox.log().lines().count() == before, "nothing was sent", &sandbox.log_out());
    let out = api(&dir, &sandbox, &[ORDERS, "--shop", "GB", "--dry-run"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "no shop list is cached", &out);
}

/// `exec -- sh -c SCRIPT`: prints what the command saw.
fn exec(dir: &TempDir, sandbox: &Sandbox, extra: &[&str], script: &str) -> Command {
    let base = sandbox.url();
    let mut args = vec!["exec", "--api-base", &base, "--auth-base", &base];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "sh", "-c", script]);
    tool(dir, &args)
}

const SHOW_ENV: &str = r#"printf '%s\n' "$TIKTOK_SHOP_ACCESS_TOKEN" "$TIKTOK_SHOP_APP_KEY" "${TIKTOK_SHOP_APP_SECRET-unset}" "${TIKTOK_SHOP_SHOP_CIPHER-unset}" "${TIKTOK_SHOP_SHOP_ID-unset}"; tr '\0' ' ' < /proc/$$/cmdline; echo; exit 7"#;

#[test]
fn exec_passes_the_token_in_the_environment_only_and_its_exit_status_on() {
    let dir = TempDir::new("exec-env");
    let sandbox = logged_in(&dir, &["--shops", "3"]);
    let out = run(exec(&dir, &sandbox, &[], SHOW_ENV));
    check_exit(&out, 7);
    let token = read_json(&dir.path(FILE))["data"]["access_token"].as_str().unwrap().to_string();
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(lines.len() == 6 && lines[0] == token, "the token in the environment", &out);
    check(lines[1] == APP_KEY && lines[2] == "unset" && lines[3] == "unset", "key, no secret, no shop", &out);
    check_lacks(lines[5], &token, &out);
    check(sandbox.count("/api/v2/token/refresh") == 0, "a 7-day token is not refreshed", &sandbox.log_out());
    let out = run(exec(&dir, &sandbox, &["--shop", "US", "--with-secret"], SHOW_ENV));
    check_exit(&out, 7);
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(lines[2] == APP_SECRET, "--with-secret passes it", &out);
    check(lines[3] == "GCP_sandboxCipherSaNdBoX0000000002" && lines[4] == "7494000000000000002", "the shop", &out);
    let base = sandbox.url();
    let out = run(tool(&dir, &["exec", "--auth-base", &base, "--", "/nonexistent/etl"]));
    check_exit(&out, 127);
    check_contains(&out.stderr, "cannot run `/nonexistent/etl`", &out);
    let out = run(tool(&dir, &["exec", "sh"]));
    check_exit(&out, 2);
    // Found but not runnable is 126, as a shell says; 127 only for not found.
    fs::write(dir.path("not-executable.sh"), "#!/bin/sh\necho ran\n").unwrap();
    fs::create_dir(dir.path("a-directory")).unwrap();
    for found in ["./not-executable.sh", "./a-directory"] {
        let out = run(tool(&dir, &["exec", "--auth-base", &base, "--", found]));
        check_exit(&out, 126);
        check_contains(&out.stderr, "found but cannot be run", &out);
    }
    // --shop without the secret: the cached cipher is used, and its age is said.
    let mut cmd = exec(&dir, &sandbox, &["--shop", "US"], SHOW_ENV);
    cmd.env_remove("TIKTOK_SHOP_APP_SECRET");
    let out = run(cmd);
    check_exit(&out, 7);
    check_contains(&out.stderr, "comes from the shop list cached", &out);
    check_contains(&out.stderr, "cannot be checked", &out);
}

/// A server that repeats a page token (or cycles A, B, A) would make `--paginate` run
/// forever: the repeat ends it with exit 1 naming the token; `--max-pages` caps it.
#[test]
fn paginate_stops_at_a_repeated_page_token_and_at_max_pages() {
    let dir = TempDir::new("api-paginate-loop");
    for (fault, pages) in [("repeat-page", 2), ("cycle-pages", 3)] {
        let sandbox = logged_in(&dir, &["--fault", fault]);
        let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1", "--paginate", "--data", "{}"]);
        check_exit(&out, 1);
        check_contains(&out.stderr, "next_page_token `pt_1` was already followed", &out);
        check(out.stdout.lines().count() == pages, &format!("{pages} pages printed"), &out);
        check(sandbox.count(&format!("POST {ORDERS}")) == pages, "no request after the repeat", &sandbox.log_out());
        let _ = fs::remove_file(dir.path(FILE));
    }
    let sandbox = logged_in(&dir, &[]);
    let args = ["POST", ORDERS, "--query", "page_size=2", "--paginate", "--max-pages", "3", "--data", "{}"];
    let out = api(&dir, &sandbox, &args);
    check_exit(&out, 1);
    check_contains(&out.stderr, "stopped at --max-pages 3 with more pages to follow", &out);
    check(out.stdout.lines().count() == 3, "three pages", &out);
    check_exit(
        &api(
            &dir,
            &sandbox,
            &["POST", ORDERS, "--query", "page_size=100", "--paginate", "--max-pages", "1", "--data", "{}"],
        ),
        0,
    );
}

/// A body over the sandbox's 1 MiB is refused as too large, never as a bad signature.
#[test]
fn the_sandbox_refuses_a_large_body_as_too_large() {
    let dir = TempDir::new("api-large-body");
    let sandbox = logged_in(&dir, &[]);
    let body = format!("{{\"pad\": \"{}\"}}", "x".repeat(1_200_000));
    fs::write(dir.path("big.json"), &body).unwrap();
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1", "--data", "@big.json"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "request too large", &out);
    check_contains(&out.stderr, "HTTP 413", &out);
    check_lacks(&out.stderr, "106001", &out);
}

#[test]
fn exec_refreshes_a_token_expiring_soon_when_it_has_the_secret() {
    let dir = TempDir::new("exec-refresh");
    let sandbox = logged_in(&dir, &["--access-ttl", "5m"]);
    let mut cmd = exec(&dir, &sandbox, &[], "true");
    cmd.env_remove("TIKTOK_SHOP_APP_SECRET");
    let out = run(cmd);
    check_exit(&out, 0);
    check_contains(&out.stderr, "set TIKTOK_SHOP_APP_SECRET", &out);
    check(sandbox.count("/api/v2/token/refresh") == 0, "no secret: no refresh", &sandbox.log_out());
    let out = run(exec(&dir, &sandbox, &[], SHOW_ENV));
    check_exit(&out, 7);
    check(sandbox.count("/api/v2/token/refresh") == 1, "refreshed within 10 minutes of expiry", &sandbox.log_out());
    let token = read_json(&dir.path(FILE))["data"]["access_token"].as_str().unwrap().to_string();
    check(out.stdout.lines().next() == Some(token.as_str()), "the new token is passed", &out);
}

/// A cached shop list gone stale (here: it still lists shops the seller no longer has) is
/// fetched again when TikTok answers 106013, and the call is tried once more.
#[test]
fn a_stale_shop_cache_is_refetched_on_106013() {
    let dir = TempDir::new("api-stale-cache");
    let sandbox = logged_in(&dir, &[]);
    check_exit(&api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1"]), 0);
    let cache = dir.path(&format!(".{FILE}.shops"));
    let mut cached: Value = serde_json::from_slice(&fs::read(&cache).unwrap()).unwrap();
    let one = cached["shops"][0].clone();
    let mut other = one.clone();
    other["id"] = "1".into();
    other["cipher"] = "GCP_gone".into();
    cached["shops"] = Value::Array(vec![one, other]);
    fs::write(&cache, cached.to_string()).unwrap();
    let out = api(&dir, &sandbox, &["POST", ORDERS, "--query", "page_size=1"]);
    check_exit(&out, 0);
    check(sandbox.count("GET /authorization/202309/shops") == 2, "refetched once", &sandbox.log_out());
    check(out.stdout.matches("\"code\"").count() == 1, "only the good answer is printed", &out);
}
