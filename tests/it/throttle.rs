//! TikTok as it behaves in 2026, against the sandbox: throttling that never looks like a
//! dead token, inactive shops and sellers, both names of the granted scopes, `logout
//! [--revoke]`, image uploads, and the cause named rather than the symptom.

use std::fs;
use std::time::Instant;

use crate::webhook::Receiver;
use crate::*;

const FILE: &str = "tiktok-shop-token.json";
const ORDERS: &str = "/order/202309/orders/search";

fn api(dir: &TempDir, sandbox: &Sandbox, args: &[&str]) -> Out {
    let base = sandbox.url();
    let mut all = vec!["api", "--api-base", &base, "--auth-base", &base];
    all.extend_from_slice(args);
    run(tool(dir, &all))
}

fn control(sandbox: &Sandbox, path: &str) {
    let (status, _, body) = http_request("POST", &format!("{}{path}", sandbox.url()), None);
    assert_eq!(status, 200, "{path}: {body}");
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.stdout))
}

/// A GET that meets two throttles (HTTP 429, code 36009002) goes on after the waits, with
/// and without `Retry-After`; each wait is a line on stderr (none with `--quiet`); no
/// refresh is made for it.
#[test]
fn a_throttled_get_is_tried_again_and_succeeds_without_a_refresh() {
    for (name, extra) in [("no-retry-after", vec![]), ("retry-after", vec!["--retry-after", "1"])] {
        let dir = TempDir::new(&format!("throttle-get-{name}"));
        let sandbox = logged_in(&dir, &extra);
        control(&sandbox, "/sandbox/throttle?count=2");
        let started = Instant::now();
        let out = api(&dir, &sandbox, &["/seller/202309/shops"]);
        check_exit(&out, 0);
        check(out.stderr.matches("(throttled); trying again in").count() == 2, "two waits said", &out);
        check(started.elapsed() >= Duration::from_millis(1400), "it waited", &out);
        check(sandbox.count("GET /seller/202309/shops") == 3, "three tries", &sandbox.log_out());
        check(sandbox.count("/api/v2/token/refresh") == 0, "no refresh for a throttle", &sandbox.log_out());
        control(&sandbox, "/sandbox/throttle?count=1");
        let quiet = api(&dir, &sandbox, &["/seller/202309/shops", "--quiet"]);
        check_exit(&quiet, 0);
        check(quiet.stderr.is_empty(), "--quiet says nothing", &quiet);
    }
}

/// `--paginate` over a POST search (it only reads) with every third call throttled: every
/// page comes, once; the total is the seeded orders.
#[test]
fn a_paginated_search_goes_on_through_throttles_and_prints_each_page_once() {
    let dir = TempDir::new("throttle-paginate");
    let sandbox = logged_in(&dir, &["--throttle-every", "3", "--orders", "25"]);
    let out = api(&dir, &sandbox, &[ORDERS, "--query", "page_size=5", "--data", "{}", "--paginate"]);
    check_exit(&out, 0);
    let pages: Vec<Value> = out.stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    check(pages.len() == 5, &format!("five pages, each once: {}", pages.len()), &out);
    let ids: std::collections::HashSet<String> = pages
        .iter()
        .flat_map(|p| p["data"]["orders"].as_array().cloned().unwrap_or_default())
        .map(|o| o["id"].as_str().unwrap().to_string())
        .collect();
    check(ids.len() == 25, "every order once", &out);
    check_contains(&out.stderr, "(throttled); trying again", &out);
}

/// A POST that changes something is never sent again; `--retries 0` sends a read once;
/// giving up is exit 1 saying the token is fine (never exit 5, never a refresh).
#[test]
fn a_throttle_is_given_up_with_exit_1_and_a_write_is_never_repeated() {
    let dir = TempDir::new("throttle-give-up");
    let sandbox = logged_in(&dir, &[]);
    // The shop list cached first (its own fetch would meet the throttle otherwise).
    check_exit(&api(&dir, &sandbox, &["/product/202309/products/1"]), 0);
    control(&sandbox, "/sandbox/throttle?count=1");
    let body = r#"{"address":"https://example.com/hook","event_type":"ORDER_STATUS_CHANGE"}"#;
    let out = api(&dir, &sandbox, &["PUT", "/event/202309/webhooks", "--data", body]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "TikTok throttled the call", &out);
    check(sandbox.count("PUT /event/202309/webhooks") == 1, "sent once", &sandbox.log_out());
    control(&sandbox, "/sandbox/throttle?count=1");
    let out = api(&dir, &sandbox, &["/seller/202309/shops", "--retries", "0"]);
    check_exit(&out, 1);
    check(sandbox.count("GET /seller/202309/shops") == 1, "--retries 0: once", &sandbox.log_out());
    control(&sandbox, "/sandbox/throttle?count=10");
    let out = api(&dir, &sandbox, &["/seller/202309/shops", "--retries", "2", "-q"]);
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["36009002", "the token is fine"], &out);
    check(sandbox.count("/api/v2/token/refresh") == 0, "never a refresh", &sandbox.log_out());
}

/// An inactive shop (36009043) or seller (36009044): exit 1 naming it and saying that no
/// refresh or login helps; no refresh is made; `shops` marks the shop.
#[test]
fn inactive_shops_and_sellers_are_said_and_never_refreshed_for() {
    let dir = TempDir::new("throttle-inactive");
    let sandbox = logged_in(&dir, &["--shops", "2"]);
    control(&sandbox, "/sandbox/shops/7494000000000000002/deactivate");
    let out = api(&dir, &sandbox, &["/product/202309/products/1", "--shop", "7494000000000000002"]);
    check_exit(&out, 1);
    check_contains_all(
        &out.stderr,
        &["36009043", "Sandbox Shop 2 (7494000000000000002)", "neither a refresh nor a new login"],
        &out,
    );
    check_exit(&api(&dir, &sandbox, &["/product/202309/products/1", "--shop", "7494000000000000001"]), 0);
    let shops = run(sandbox.command(&dir, "shops", &[]));
    check_exit(&shops, 0);
    check_contains(&shops.stdout, "Sandbox Shop 2 (inactive)", &shops);
    check_lacks(&shops.stdout, "Sandbox Test Shop (inactive)", &shops);
    control(&sandbox, "/sandbox/seller/deactivate");
    let out = api(&dir, &sandbox, &["/seller/202309/shops"]);
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["36009044", "seller's account is inactive"], &out);
    check(sandbox.count("/api/v2/token/refresh") == 0, "never a refresh", &sandbox.log_out());
}

/// The granted permissions under either of TikTok's names: `status`, `status --json` and
/// `doctor` show them.
#[test]
fn granted_permissions_are_read_under_either_name() {
    let dir = TempDir::new("throttle-scopes");
    let mut answer: Value = serde_json::from_str(&token_json(
        "TTP_accessAccessAccess",
        now() + 3600,
        "TTP_refreshRefresh",
        now() + 86_400 * 90,
    ))
    .unwrap();
    answer["data"].as_object_mut().unwrap().remove("granted_scopes");
    answer["data"]["granted_permissions"] = serde_json::json!(["MANAGE_GLOBAL_PRODUCTS", "MANAGE_ORDERS"]);
    fs::write(dir.path(FILE), answer.to_string()).unwrap();
    let out = run(tool(&dir, &["status"]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "MANAGE_GLOBAL_PRODUCTS, MANAGE_ORDERS", &out);
    let out = run(tool(&dir, &["status", "--json"]));
    check(json(&out)["granted_scopes"] == serde_json::json!(["MANAGE_GLOBAL_PRODUCTS", "MANAGE_ORDERS"]), "json", &out);
    let out = run(tool(&dir, &["doctor"]));
    check_contains(&out.stdout, "MANAGE_GLOBAL_PRODUCTS, MANAGE_ORDERS", &out);
}

/// `logout` removes the token file, its shop cache and its kept answers; `--revoke` ends
/// the grant at TikTok first (the tokens stop working, SELLER_DEAUTHORIZATION is delivered);
/// a revoke that fails removes nothing.
#[test]
fn logout_forgets_and_revoke_ends_the_grant_or_keeps_everything() {
    let dir = TempDir::new("throttle-logout");
    let sandbox = logged_in(&dir, &["--webhook-retry-scale", "0.001"]);
    check_exit(&api(&dir, &sandbox, &["/product/202309/products/1"]), 0);
    fs::write(dir.path(&format!("{FILE}.recovered-1700000000")), b"{}").unwrap();
    check(dir.path(&format!(".{FILE}.shops")).exists(), "a shop cache", &sandbox.log_out());
    let base = sandbox.url();
    // A revoke that fails (the seller is inactive): nothing is removed.
    let other = TempDir::new("throttle-logout-other");
    let inactive = logged_in(&other, &[]);
    control(&inactive, "/sandbox/seller/deactivate");
    let ibase = inactive.url();
    let out = run(tool(&other, &["logout", "--revoke", "--api-base", &ibase, "--auth-base", &ibase]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "nothing was removed", &out);
    check(other.path(FILE).exists(), "kept", &out);
    // The real one, with a subscriber to hear the deauthorization.
    let receiver = Receiver::start(&dir, "verify");
    let body = format!(r#"{{"address":"{}","event_type":"SELLER_DEAUTHORIZATION"}}"#, receiver.url);
    check_exit(&api(&dir, &sandbox, &["PUT", "/event/202309/webhooks", "--data", &body]), 0);
    let saved = fs::read(dir.path(FILE)).unwrap();
    let out = run(tool(&dir, &["logout", "--revoke", "--api-base", &base, "--auth-base", &base]));
    check_exit(&out, 0);
    check_contains_all(&out.stdout, &["TikTok ended the grant of Sandbox Test Shop", "logged out"], &out);
    for gone in [FILE.to_string(), format!(".{FILE}.shops"), format!("{FILE}.recovered-1700000000")] {
        check(!dir.path(&gone).exists(), &format!("{gone} removed"), &out);
    }
    check(sandbox.count("DELETE /authorization/202403/shops") == 1, "the revoke call", &sandbox.log_out());
    let deadline = Instant::now() + Duration::from_secs(20);
    while receiver.deliveries().is_empty() {
        assert!(Instant::now() < deadline, "no SELLER_DEAUTHORIZATION delivered");
        std::thread::sleep(Duration::from_millis(20));
    }
    check(receiver.deliveries()[0]["envelope"]["type"] == 6, "SELLER_DEAUTHORIZATION", &out);
    // The grant is over: its old refresh token is refused.
    fs::write(dir.path(FILE), &saved).unwrap();
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 5);
    // Without --revoke: the file only (no network, no secret needed).
    let mut cmd = tool(&dir, &["logout"]);
    cmd.env_remove("TIKTOK_SHOP_APP_SECRET");
    let out = run(cmd);
    check_exit(&out, 0);
    check(!dir.path(FILE).exists(), "removed", &out);
    check_exit(&run(tool(&dir, &["logout"])), 5);
}

/// An image upload: multipart, the body unsigned (the sandbox checks the signature over
/// path and query only), the file's content type from its extension; JSON there is refused
/// (36009022); a file over the tool's 10 MiB cap is refused before sending; one over
/// TikTok's 10 MB is refused by the sandbox (36009021); `--dry-run` shows no file bytes.
#[test]
fn an_image_upload_is_multipart_and_unsigned_and_its_limits_hold() {
    let dir = TempDir::new("throttle-upload");
    let sandbox = logged_in(&dir, &[]);
    let image: Vec<u8> = b"\x89PNG\r\n\x1a\n".iter().copied().chain((0..5000u32).map(|i| (i % 251) as u8)).collect();
    fs::write(dir.path("shirt.png"), &image).unwrap();
    let upload = "/product/202309/images/upload";
    let out = api(&dir, &sandbox, &["POST", upload, "--form", "data=@shirt.png", "--form", "use_case=MAIN_IMAGE"]);
    check_exit(&out, 0);
    let v = json(&out);
    check(
        v["data"]["uri"].as_str().is_some_and(|u| u.starts_with("tos-")) && v["data"]["url"].is_string(),
        "uri and url",
        &out,
    );
    check(v["data"]["use_case"] == "MAIN_IMAGE", "the use case", &out);
    let out = api(&dir, &sandbox, &["POST", upload, "--data", "{}"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "36009022", &out);
    let dry = api(&dir, &sandbox, &["POST", upload, "--form", "data=@shirt.png", "--dry-run"]);
    check_exit(&dry, 0);
    check_contains_all(
        &dry.stdout,
        &["multipart/form-data; boundary=", "file `shirt.png`, 5008 bytes, image/png", "not signed"],
        &dry,
    );
    check_lacks(&dry.stdout, "PNG", &dry);
    let before = sandbox.count(upload);
    fs::write(dir.path("huge.jpg"), vec![0u8; 10 * 1024 * 1024 + 1]).unwrap();
    let out = api(&dir, &sandbox, &["POST", upload, "--form", "data=@huge.jpg"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "nothing was sent", &out);
    check(sandbox.count(upload) == before, "not sent", &sandbox.log_out());
    fs::write(dir.path("big.jpg"), vec![0u8; 10_200_000]).unwrap();
    let out = api(&dir, &sandbox, &["POST", upload, "--form", "data=@big.jpg"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "36009021", &out);
}

/// The cause named: a wrong app secret (106001 from the Open API, 36004002 from the token
/// endpoints) says where the secret came from; an unknown API path (HTTP 404, 36009009)
/// shows what a path looks like.
#[test]
fn a_wrong_secret_and_an_unknown_path_are_named_as_such() {
    let dir = TempDir::new("throttle-causes");
    let sandbox = logged_in(&dir, &[]);
    let base = sandbox.url();
    let mut cmd = tool(&dir, &["api", "--api-base", &base, "/seller/202309/shops"]);
    cmd.env("TIKTOK_SHOP_APP_SECRET", "not-the-secret-0000");
    let out = run(cmd);
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["106001", "the app secret, from TIKTOK_SHOP_APP_SECRET"], &out);
    fs::write(dir.path("wrong-secret"), "not-the-secret-0000\n").unwrap();
    let out = run(tool(&dir, &["refresh", "--auth-base", &base, "--app-secret-file", "wrong-secret"]));
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["36004002", "--app-secret-file `wrong-secret`", "TIKTOK_SHOP_APP_KEY"], &out);
    let out = api(&dir, &sandbox, &["POST", "/order/orders/search", "--data", "{}"]);
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["36009009", "HTTP 404", "/order/202309/orders/search"], &out);
    check_lacks(&out.stderr, "proxy", &out);
}

/// `login --manual` takes the app's real https callback: nothing listens on it; the user
/// pastes where the browser landed.
#[test]
fn a_manual_login_takes_an_https_redirect_url() {
    let dir = TempDir::new("throttle-https-redirect");
    let callback = "https://app.example.com/tiktok/callback";
    let sandbox = Sandbox::start(&dir, callback, &["--auto-approve"]);
    let (status, headers, _) = http_get(&format!("{}/open/authorize?service_id=7001&state=S", sandbox.url()));
    assert_eq!(status, 302);
    let landed = header(&headers, "location").unwrap().to_string();
    assert!(landed.starts_with(callback), "{landed}");
    let code = landed.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let input = dir.path("code.txt");
    fs::write(&input, format!("{code}\n")).unwrap();
    let mut cmd = sandbox.login_command(&dir, callback, &["--manual"]);
    cmd.stdin(fs::File::open(&input).unwrap());
    let out = run(cmd);
    check_exit(&out, 0);
    check_contains(&out.stderr, callback, &out);
    let listener = run(sandbox.login_command(&dir, callback, &["--no-browser", "--timeout", "1"]));
    check_exit(&listener, 2);
    check_contains(&listener.stderr, "login --manual", &listener);
}
