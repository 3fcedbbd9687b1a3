//! The sandbox's side of webhooks: the Events API called through the tool's own `api` (so
//! every request is signed over its body, byte for byte), and the deliveries the sandbox's
//! controls set off, checked by a receiver with its own HMAC
//! (`tests/support/webhook_receiver.py`). Waits are on logs with a deadline; no test
//! asserts a wall-clock time.

use crate::webhook::Receiver;
use crate::*;

const WEBHOOKS: &str = "/event/202309/webhooks";
/// TikTok's waits (2 min, 30 min, 3 h, 12 h) become 12 ms, 180 ms, 1080 ms and 4320 ms.
const SCALE: &str = "0.0001";
const SHOP_1: &str = "7494000000000000001";
const SHOP_2: &str = "7494000000000000002";

fn api(dir: &TempDir, sandbox: &Sandbox, args: &[&str]) -> Out {
    let base = sandbox.url();
    let mut all = vec!["api", "--api-base", &base, "--auth-base", &base];
    all.extend_from_slice(args);
    run(tool(dir, &all))
}

fn subscribe(dir: &TempDir, sandbox: &Sandbox, event: &str, address: &str, shop: &[&str]) -> Out {
    let body = format!(r#"{{"address":"{address}","event_type":"{event}"}}"#);
    let mut args = vec!["PUT", WEBHOOKS, "--data", &body];
    args.extend_from_slice(shop);
    api(dir, sandbox, &args)
}

fn json(out: &Out) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", out.stdout))
}

/// The shop's subscriptions, as `GET /event/202309/webhooks` lists them.
fn listed(dir: &TempDir, sandbox: &Sandbox) -> Vec<Value> {
    let out = api(dir, sandbox, &[WEBHOOKS]);
    check_exit(&out, 0);
    json(&out)["data"]["webhooks"].as_array().cloned().unwrap_or_default()
}

/// A POST to one of the sandbox's controls: its status and JSON answer.
fn control(sandbox: &Sandbox, path: &str) -> (u16, Value) {
    let (status, _, body) = http_request("POST", &format!("{}{path}", sandbox.url()), None);
    (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {body}")))
}

/// Waits (up to 30 s) until the receiver has logged `n` deliveries; returns them.
fn deliveries(receiver: &Receiver, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = receiver.deliveries();
        if seen.len() >= n {
            return seen;
        }
        assert!(Instant::now() < deadline, "the receiver saw {} deliveries, not {n}: {seen:#?}", seen.len());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn sandbox_events_api_lists_replaces_and_deletes_subscriptions() {
    let dir = TempDir::new("events-api");
    let sandbox = logged_in(&dir, &[]);
    assert!(listed(&dir, &sandbox).is_empty());
    check_exit(&subscribe(&dir, &sandbox, "SELLER_DEAUTHORIZATION", "http://127.0.0.1:9/hook", &[]), 0);
    check_exit(&subscribe(&dir, &sandbox, "ORDER_STATUS_CHANGE", "https://example.com/tiktok", &[]), 0);
    let list = listed(&dir, &sandbox);
    assert_eq!(list.len(), 2, "{list:#?}");
    let deauth = list.iter().find(|w| w["event_type"] == "SELLER_DEAUTHORIZATION").expect("listed");
    assert_eq!(deauth["address"], "http://127.0.0.1:9/hook");
    assert!(deauth["create_time"].as_i64().is_some_and(|t| t > 1_700_000_000), "{deauth:#}");

    // One address per shop and event type: a PUT replaces it.
    check_exit(&subscribe(&dir, &sandbox, "SELLER_DEAUTHORIZATION", "http://localhost:9/other", &[]), 0);
    let list = listed(&dir, &sandbox);
    assert_eq!(list.len(), 2, "{list:#?}");
    assert!(list.iter().any(|w| w["address"] == "http://localhost:9/other"), "{list:#?}");
    assert!(!list.iter().any(|w| w["address"] == "http://127.0.0.1:9/hook"), "{list:#?}");

    for (event, address, says) in [
        ("ORDER", "https://example.com/", "is not a TikTok Shop event type"),
        ("order_status_change", "https://example.com/", "is not a TikTok Shop event type"),
        ("ORDER_STATUS_CHANGE", "http://example.com/hook", "is not an https URL"),
        ("ORDER_STATUS_CHANGE", "ftp://127.0.0.1/hook", "is not an https URL"),
        ("ORDER_STATUS_CHANGE", "", "is not an https URL"),
    ] {
        let out = subscribe(&dir, &sandbox, event, address, &[]);
        check_exit(&out, 1);
        check_contains(&out.stderr, "36009004", &out);
        check_contains(&out.stderr, says, &out);
    }

    let delete =
        |event: &str| api(&dir, &sandbox, &["DELETE", WEBHOOKS, "--data", &format!(r#"{{"event_type":"{event}"}}"#)]);
    check_exit(&delete("SELLER_DEAUTHORIZATION"), 0);
    let list = listed(&dir, &sandbox);
    assert!(list.len() == 1 && list[0]["event_type"] == "ORDER_STATUS_CHANGE", "{list:#?}");
    let out = delete("SELLER_DEAUTHORIZATION");
    check_exit(&out, 1);
    check_contains(&out.stderr, "no webhook address is subscribed for SELLER_DEAUTHORIZATION", &out);
    let out = delete("NO_SUCH_EVENT");
    check_exit(&out, 1);
    check_contains(&out.stderr, "36009004", &out);
    // Every request reached the sandbox signed over its body: none was refused for it.
    let log = sandbox.log_out();
    check_contains(&log.stderr, "PUT /event/202309/webhooks?", &log);
    check_contains(&log.stderr, "DELETE /event/202309/webhooks?", &log);
}

#[test]
fn sandbox_revoke_ends_every_token_and_delivers_seller_deauthorization_with_retries() {
    let dir = TempDir::new("events-revoke");
    let sandbox = logged_in(&dir, &["--shops", "2", "--webhook-retry-scale", SCALE]);
    // Shop 1's receiver fails twice, then checks and takes it; shop 2's always fails.
    let (flaky, failing) = (Receiver::start(&dir, "flaky-2"), Receiver::start(&dir, "fail"));
    check_exit(&subscribe(&dir, &sandbox, "SELLER_DEAUTHORIZATION", &flaky.url, &["--shop", SHOP_1]), 0);
    check_exit(&subscribe(&dir, &sandbox, "SELLER_DEAUTHORIZATION", &failing.url, &["--shop", SHOP_2]), 0);
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);

    let (status, answer) = control(&sandbox, "/sandbox/revoke");
    assert_eq!((status, answer), (200, serde_json::json!({ "revoked": true, "deliveries": 2 })));

    // Every token stopped working at once: `shops` is refused the access token (105001);
    // `api` then tries the refresh token, refused too (36004005), as `refresh` is.
    let out = run(sandbox.command(&dir, "shops", &[]));
    check_exit(&out, 5);
    check_contains(&out.stderr, "105001", &out);
    let refreshes = sandbox.count("GET /api/v2/token/refresh");
    for out in [api(&dir, &sandbox, &["/seller/202309/shops"]), run(sandbox.command(&dir, "refresh", &[]))] {
        check_exit(&out, 5);
        check_contains(&out.stderr, "36004005", &out);
        check_contains(&out.stderr, "tiktok-shop-auth login", &out);
    }
    assert_eq!(sandbox.count("GET /api/v2/token/refresh"), refreshes + 2);

    // Shop 1: two failures, then delivered on the third attempt.
    let seen = deliveries(&flaky, 3);
    sandbox.wait_for("attempt 3/5: HTTP 200 in ", 1);
    // Shop 2: five attempts, then dropped.
    let dropped = "attempt 5/5: HTTP 500 in ";
    sandbox.wait_for("; dropped after 5 attempts", 1);
    let failed = failing.deliveries();
    assert_eq!((seen.len(), failed.len()), (3, 5), "{seen:#?}\n{failed:#?}");
    for (shop, list) in [(SHOP_1, &seen), (SHOP_2, &failed)] {
        let id = list[0]["envelope"]["tts_notification_id"].as_str().expect("an id").to_string();
        for d in list.iter() {
            assert_eq!(d["signature_ok"], true, "{d:#}");
            assert_eq!(d["content_type"], "application/json", "{d:#}");
            let e = &d["envelope"];
            // A retry is the same delivery: same body, same notification id.
            assert_eq!(d["body"], list[0]["body"], "{d:#}");
            assert_eq!((e["type"].as_u64(), e["shop_id"].as_str()), (Some(6), Some(shop)), "{e:#}");
            assert_eq!(e["tts_notification_id"], id.as_str());
            let message = format!("Shop_id {shop} is deauthorized from your APP by merchant.");
            assert_eq!(e["data"]["message"], message.as_str(), "{e:#}");
        }
        let log = sandbox.log_out();
        let line = format!("sandbox: webhook SELLER_DEAUTHORIZATION (type 6) notification {id} to ");
        check(log.stderr.matches(&line).count() == list.len(), "one log line per attempt", &log);
    }
    // The waits grow on TikTok's schedule, scaled: compared on the receiver's own clock.
    let at: Vec<f64> = failed.iter().map(|d| d["at"].as_f64().expect("at")).collect();
    let gaps: Vec<f64> = at.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(gaps.windows(2).all(|g| g[0] < g[1]), "the gaps between retries grow: {gaps:?}");
    let log = sandbox.log_out();
    check_contains_all(
        &log.stderr,
        &[
            "attempt 1/5: HTTP 500 in ",
            "; next try in 12 ms",
            "; next try in 180 ms",
            "; next try in 1080 ms",
            "; next try in 4320 ms",
            dropped,
            "attempt 2/5: HTTP 500 in ",
            "ms: delivered",
            // The receiver's answer is outside text: cleaned.
            "internal error \\u{1b}[31mred",
        ],
        &log,
    );
    check_lacks(&log.stderr, "\u{1b}", &log);

    // A new login works again.
    let out = login(&dir, &sandbox, &sandbox_redirect(&sandbox), "auto", &[]).0;
    check_exit(&out, 0);
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
}

/// The redirect URL the sandbox was started with (its log names it).
fn sandbox_redirect(sandbox: &Sandbox) -> String {
    let log = sandbox.log();
    let after = log.split(", redirect URL ").nth(1).expect("the banner names the redirect URL");
    after.split_whitespace().next().unwrap_or_default().to_string()
}

#[test]
fn sandbox_moving_an_order_delivers_order_status_change() {
    let dir = TempDir::new("events-order");
    let sandbox = logged_in(&dir, &[]);
    let receiver = Receiver::start(&dir, "verify");
    check_exit(&subscribe(&dir, &sandbox, "ORDER_STATUS_CHANGE", &receiver.url, &[]), 0);
    let search = |status: &str| {
        let body = format!(r#"{{"order_status":"{status}"}}"#);
        let out = api(&dir, &sandbox, &["/order/202309/orders/search", "--query", "page_size=100", "--data", &body]);
        check_exit(&out, 0);
        json(&out)["data"]["orders"].as_array().cloned().unwrap_or_default()
    };
    let unpaid = search("UNPAID");
    let id = unpaid[0]["id"].as_str().expect("an order id").to_string();
    assert!(search("CANCELLED").is_empty());

    let (status, answer) = control(&sandbox, &format!("/sandbox/orders/{id}/status?to=CANCELLED"));
    assert_eq!(
        (status, answer),
        (200, serde_json::json!({ "order_id": id, "order_status": "CANCELLED", "deliveries": 1 }))
    );
    let cancelled = search("CANCELLED");
    assert!(cancelled.len() == 1 && cancelled[0]["id"] == id.as_str(), "{cancelled:#?}");
    assert_eq!(search("UNPAID").len(), unpaid.len() - 1);

    let seen = deliveries(&receiver, 1);
    assert_eq!(seen[0]["signature_ok"], true, "{:#}", seen[0]);
    let e = &seen[0]["envelope"];
    assert_eq!((e["type"].as_u64(), e["shop_id"].as_str()), (Some(1), Some(SHOP_1)), "{e:#}");
    let data = &e["data"];
    assert_eq!((data["order_id"].as_str(), data["order_status"].as_str()), (Some(id.as_str()), Some("CANCELLED")));
    assert_eq!(data["is_on_hold_order"], false, "{data:#}");
    assert!(data["update_time"].is_i64(), "{data:#}");
    sandbox.wait_for("sandbox: webhook ORDER_STATUS_CHANGE (type 1) notification ", 1);
    sandbox.wait_for("attempt 1/5: HTTP 200 in ", 1);

    // Moved again: a new event; ON_HOLD is an on-hold order.
    let (status, _) = control(&sandbox, &format!("/sandbox/orders/{id}/status?to=ON_HOLD"));
    assert_eq!(status, 200);
    let seen = deliveries(&receiver, 2);
    assert_eq!(seen[1]["envelope"]["data"]["is_on_hold_order"], true, "{:#}", seen[1]);
    assert_ne!(seen[0]["envelope"]["tts_notification_id"], seen[1]["envelope"]["tts_notification_id"]);

    for (path, code, says) in [
        ("/sandbox/orders/577009999999999999/status?to=CANCELLED", 404, "no seeded order"),
        (&format!("/sandbox/orders/{id}/status?to=LOST"), 400, "is not one of UNPAID"),
        (&format!("/sandbox/orders/{id}/status"), 400, "is not one of UNPAID"),
        ("/sandbox/nothing", 404, "no such control"),
    ] {
        let (status, answer) = control(&sandbox, path);
        assert_eq!(status, code, "{path}: {answer}");
        assert!(answer["error"].as_str().is_some_and(|m| m.contains(says)), "{path}: {answer}");
    }
    // Controls are POSTs only.
    let (status, _, _) = http_get(&format!("{}/sandbox/revoke", sandbox.url()));
    assert_eq!(status, 404);
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
}

#[test]
fn sandbox_sends_no_event_that_did_not_happen_and_nothing_beyond_this_machine() {
    let dir = TempDir::new("events-none");
    let sandbox = logged_in(&dir, &["--shops", "2"]);
    let receiver = Receiver::start(&dir, "verify");
    check_exit(&subscribe(&dir, &sandbox, "ORDER_STATUS_CHANGE", &receiver.url, &["--shop", "Sandbox Test Shop"]), 0);
    check_exit(
        &subscribe(&dir, &sandbox, "SELLER_DEAUTHORIZATION", &receiver.url, &["--shop", "Sandbox Test Shop"]),
        0,
    );
    // Shop 2 subscribes an address on the internet: taken, as TikTok would, but the sandbox
    // signs with the app secret it was given, so it never sends beyond this machine.
    check_exit(
        &subscribe(&dir, &sandbox, "ORDER_STATUS_CHANGE", "https://hooks.example.com/x", &["--shop", "Sandbox Shop 2"]),
        0,
    );
    let order = |shop: u32, i: usize| format!("57700{shop:02}{i:011}");
    let (_, answer) = control(&sandbox, &format!("/sandbox/orders/{}/status?to=CANCELLED", order(2, 0)));
    assert_eq!(answer["deliveries"], 0, "{answer}");
    sandbox.wait_for("to https://hooks.example.com/x: not sent: the sandbox delivers only to loopback addresses", 1);

    // An order moved to the status it already has did not move: no event.
    let (_, answer) = control(&sandbox, &format!("/sandbox/orders/{}/status?to=UNPAID", order(1, 0)));
    assert_eq!(answer["deliveries"], 0, "order 0 is seeded UNPAID: {answer}");

    // The first revoke is an event; a second has nothing to revoke; after it the app hears
    // nothing more from the seller, until a new login.
    let (_, answer) = control(&sandbox, "/sandbox/revoke");
    assert_eq!(answer, serde_json::json!({ "revoked": true, "deliveries": 1 }));
    let (_, answer) = control(&sandbox, "/sandbox/revoke");
    assert_eq!(answer, serde_json::json!({ "revoked": false, "deliveries": 0 }));
    let (_, answer) = control(&sandbox, &format!("/sandbox/orders/{}/status?to=CANCELLED", order(1, 0)));
    assert_eq!(answer["deliveries"], 0, "{answer}");
    let seen = deliveries(&receiver, 1);
    assert_eq!(seen[0]["envelope"]["type"], 6, "{:#}", seen[0]);
    sandbox.wait_for("attempt 1/5: HTTP 200 in ", 1);
    assert_eq!(receiver.deliveries().len(), 1);
}

#[test]
fn sandbox_refresh_token_near_its_end_warns_once_per_authorization_and_a_refresh_keeps_the_end() {
    let dir = TempDir::new("events-expiring");
    let sandbox = logged_in(&dir, &["--refresh-ttl", "10d"]);
    let receiver = Receiver::start(&dir, "verify");
    // The grant from login ends within 30 days: subscribing is enough for it to be sent.
    check_exit(&subscribe(&dir, &sandbox, "UPCOMING_AUTHORIZATION_EXPIRATION", &receiver.url, &[]), 0);
    let seen = deliveries(&receiver, 1);
    let saved = read_json(&dir.path("tiktok-shop-token.json"));
    let expires = saved["data"]["refresh_token_expire_in"].as_i64().expect("refresh expiry");
    let e = &seen[0]["envelope"];
    assert_eq!(seen[0]["signature_ok"], true, "{:#}", seen[0]);
    assert_eq!((e["type"].as_u64(), e["shop_id"].as_str()), (Some(7), Some(SHOP_1)), "{e:#}");
    assert_eq!(e["data"]["expiration_time"], expires.to_string().as_str(), "{e:#}");
    let message = e["data"]["message"].as_str().unwrap_or_default();
    assert!(message.contains(&format!("shop_id {SHOP_1} is expiring in 10 days")), "{message}");

    // Once per authorization: more calls send nothing more, and neither does a refresh,
    // which keeps the refresh token's end (the seller's re-consent deadline) where it was.
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
    check_exit(&api(&dir, &sandbox, &["/seller/202309/shops"]), 0);
    let refreshed = read_json(&dir.path("tiktok-shop-token.json"));
    assert_ne!(refreshed["data"]["refresh_token"], saved["data"]["refresh_token"], "the refresh rotated the token");
    assert_eq!(refreshed["data"]["refresh_token_expire_in"].as_i64(), Some(expires), "{refreshed:#}");
    // The log shows every request; no second delivery was queued behind them.
    check_contains(&sandbox.log(), "GET /seller/202309/shops", &sandbox.log_out());
    assert_eq!(sandbox.count("UPCOMING_AUTHORIZATION_EXPIRATION (type 7) notification"), 1, "{}", sandbox.log());
    assert_eq!(receiver.deliveries().len(), 1);
}

#[test]
fn sandbox_webhook_retry_scale_is_above_0_and_at_most_1() {
    let dir = TempDir::new("events-scale");
    for bad in ["0", "1.5", "-0.1", "x", "1e-3"] {
        let out = run(tool(&dir, &["sandbox", "--listen", "127.0.0.1:0", "--webhook-retry-scale", bad]));
        check_exit(&out, 2);
        check_contains(&out.stderr, "--webhook-retry-scale", &out);
    }
    let out = run(tool(&dir, &["sandbox", "--help"]));
    check_contains_all(
        &out.stdout,
        &[
            "PUT {\"address\": URL",
            "POST /sandbox/revoke",
            "/sandbox/orders/ID/status?to=STATUS",
            "--webhook-retry-scale FACTOR",
        ],
        &out,
    );
}

#[test]
fn sandbox_deliveries_never_go_through_the_environments_proxy() {
    let dir = TempDir::new("events-proxy");
    // A proxy that is not there: a delivery sent through it would fail and be retried.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let env = [("HTTP_PROXY", dead.as_str()), ("HTTPS_PROXY", dead.as_str()), ("ALL_PROXY", dead.as_str())];
    let sandbox = logged_in_with_env(&dir, &[], &env);
    let receiver = Receiver::start(&dir, "verify");
    check_exit(&subscribe(&dir, &sandbox, "SELLER_DEAUTHORIZATION", &receiver.url, &[]), 0);
    let (_, answer) = control(&sandbox, "/sandbox/revoke");
    assert_eq!(answer["deliveries"], 1, "{answer}");
    let seen = deliveries(&receiver, 1);
    assert_eq!(seen[0]["signature_ok"], true, "{:#}", seen[0]);
    sandbox.wait_for("attempt 1/5: HTTP 200 in ", 1);
}
