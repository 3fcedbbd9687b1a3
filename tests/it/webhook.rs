//! `webhook`: TikTok's published example; deliveries to a receiver
//! (`tests/support/webhook_receiver.py`) that checks every signature with its own HMAC and
//! answers as each test needs; and a shop's subscriptions through the sandbox's Events API.

use crate::*;

/// TikTok's published example (facts page §9): app key, secret, raw body, signature.
const EXAMPLE_KEY: &str = "abcdef";
const EXAMPLE_SECRET: &str = "123";
const EXAMPLE_BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
const EXAMPLE_SIGNATURE: &str = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

/// Every event type of the facts page, written out here rather than taken from the code.
const EVENTS: [(u64, &str); 13] = [
    (1, "ORDER_STATUS_CHANGE"),
    (2, "REVERSE_STATUS_UPDATE"),
    (3, "RECIPIENT_ADDRESS_UPDATE"),
    (4, "PACKAGE_UPDATE"),
    (5, "PRODUCT_STATUS_CHANGE"),
    (6, "SELLER_DEAUTHORIZATION"),
    (7, "UPCOMING_AUTHORIZATION_EXPIRATION"),
    (11, "CANCELLATION_STATUS_CHANGE"),
    (12, "RETURN_STATUS_CHANGE"),
    (13, "NEW_CONVERSATION"),
    (14, "NEW_MESSAGE"),
    (15, "PRODUCT_INFORMATION_CHANGE"),
    (16, "PRODUCT_CREATION"),
];

const RETRIES: &str = "2 min, 30 min, 3 h and 12 h";

/// The tool run as TikTok's published example's app.
fn as_example_app(dir: &TempDir, args: &[&str]) -> Command {
    let mut cmd = tool(dir, args);
    cmd.env("TIKTOK_SHOP_APP_KEY", EXAMPLE_KEY).env("TIKTOK_SHOP_APP_SECRET", EXAMPLE_SECRET);
    cmd
}

fn run_with_stdin(mut cmd: Command, input: &[u8]) -> Out {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run the binary");
    child.stdin.take().expect("stdin").write_all(input).expect("write stdin");
    let mut out: Out = child.wait_with_output().expect("wait").into();
    out.command = command_line(&cmd);
    out
}

/// The receiver script on a free loopback port, in `mode`, knowing the tests' app; stopped
/// when dropped.
pub struct Receiver {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Receiver {
    pub fn start(dir: &TempDir, mode: &str) -> Receiver {
        let log = dir.path(&format!("receiver-{mode}.log"));
        let script = format!("{}/tests/support/webhook_receiver.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .args([script.as_str(), mode, APP_KEY, APP_SECRET])
            .arg(&log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("receiver stdout")).read_line(&mut line).expect("receiver port");
        let port = line.trim().strip_prefix("receiver listening on ").expect("receiver banner").to_string();
        Receiver { child, url: format!("http://127.0.0.1:{port}/tiktok/events"), log }
    }

    /// Each delivery the receiver logged, in order.
    pub fn deliveries(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("receiver log line")).collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn send(dir: &TempDir, event: &str, to: &str, extra: &[&str]) -> Out {
    let mut args = vec!["webhook", "send", event, "--to", to];
    args.extend_from_slice(extra);
    run(tool(dir, &args))
}

#[test]
fn webhook_verify_published_example_and_one_changed_byte() {
    let dir = TempDir::new("webhook-example");
    std::fs::write(dir.path("delivery.json"), EXAMPLE_BODY).unwrap();
    let out = run(as_example_app(&dir, &["webhook", "verify", "--signature", EXAMPLE_SIGNATURE, "delivery.json"]));
    check_exit(&out, 0);
    check(out.stdout.lines().count() == 1, "one line", &out);
    check_contains_all(
        &out.stdout,
        &[
            "ORDER_STATUS_CHANGE (type 1)",
            "shop 7495540735365777507",
            "notification 7380066284010030890",
            "2024-06-13 19:06:25 UTC",
        ],
        &out,
    );
    // Hex in either case, the body on stdin.
    let upper = EXAMPLE_SIGNATURE.to_ascii_uppercase();
    let out = run_with_stdin(
        as_example_app(&dir, &["webhook", "verify", "--signature", &upper, "-"]),
        EXAMPLE_BODY.as_bytes(),
    );
    check_exit(&out, 0);
    check_contains(&out.stdout, "ORDER_STATUS_CHANGE (type 1)", &out);

    let tampered = EXAMPLE_BODY.replace("UNPAID", "UNPAIE");
    assert_eq!(tampered.len(), EXAMPLE_BODY.len());
    let out = run_with_stdin(
        as_example_app(&dir, &["webhook", "verify", "--signature", EXAMPLE_SIGNATURE]),
        tampered.as_bytes(),
    );
    check_exit(&out, 1);
    check(out.stdout.is_empty(), "nothing on stdout", &out);
    check_contains_all(&out.stderr, &["app key + body", "6 + 223 = 229 bytes", "app key `abcdef`"], &out);
    check_lacks(&out.stderr, EXAMPLE_SECRET, &out);
}

#[test]
fn webhook_verify_never_shows_the_secret_and_needs_a_signature() {
    let dir = TempDir::new("webhook-verify-usage");
    std::fs::write(dir.path("delivery.json"), EXAMPLE_BODY).unwrap();
    // The tests' own app: the published signature is not its.
    let out = run(tool(&dir, &["webhook", "verify", "--signature", EXAMPLE_SIGNATURE, "delivery.json"]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "app key + body", &out);
    check_lacks(&out.stderr, APP_SECRET, &out);
    let out = run(tool(&dir, &["webhook", "verify", "delivery.json"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "--signature", &out);
    let out = run(tool(&dir, &["webhook", "verify", "--signature", "not-hex\u{1b}[2J", "delivery.json"]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "not 64 hex digits", &out);
    check_lacks(&out.stderr, "\u{1b}", &out);
    let out = run(tool(&dir, &["webhook", "verify", "--signature", EXAMPLE_SIGNATURE, "missing.json"]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "missing.json", &out);
    let out = run(tool(&dir, &["webhook", "verify", "--signature", EXAMPLE_SIGNATURE, "--bogus"]));
    check_exit(&out, 2);
    check_exit(&run(tool(&dir, &["webhook"])), 2);
    check_exit(&run(tool(&dir, &["webhook", "subscribe"])), 2);
}

#[test]
fn webhook_verify_a_signed_body_that_is_not_json() {
    let dir = TempDir::new("webhook-not-json");
    let body = "plain text, not JSON\n";
    std::fs::write(dir.path("body.txt"), body).unwrap();
    // The signature from Python's HMAC, not the tool's.
    let sig = Command::new("python3")
        .args([
            "-c",
            "import hashlib,hmac,sys; print(hmac.new(sys.argv[2].encode(), sys.argv[1].encode() + open(sys.argv[3], 'rb').read(), hashlib.sha256).hexdigest())",
            APP_KEY,
            APP_SECRET,
        ])
        .arg(dir.path("body.txt"))
        .output()
        .expect("python3");
    let sig = String::from_utf8(sig.stdout).unwrap();
    let out = run(tool(&dir, &["webhook", "verify", "--signature", sig.trim(), "body.txt"]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "valid signature", &out);
    check_contains(&out.stdout, "not JSON", &out);
}

#[test]
fn webhook_send_every_event_signed_as_tiktok_does() {
    let dir = TempDir::new("webhook-send-all");
    let receiver = Receiver::start(&dir, "verify");
    let started = now();
    for (i, (number, name)) in EVENTS.iter().enumerate() {
        // By name, by number and in lower case, in turn.
        let given = match i % 3 {
            0 => name.to_string(),
            1 => number.to_string(),
            _ => name.to_ascii_lowercase(),
        };
        let out = send(&dir, &given, &receiver.url, &[]);
        check_exit(&out, 0);
        check_contains(&out.stdout, &format!("delivered {name} (type {number}"), &out);
        check_contains(&out.stdout, "HTTP 200 in ", &out);
    }
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), EVENTS.len(), "{deliveries:#?}");
    let mut ids = Vec::new();
    for (d, (number, name)) in deliveries.iter().zip(EVENTS) {
        assert_eq!(d["signature_ok"], true, "{name}: {d:#}");
        assert_eq!(d["path"], "/tiktok/events", "{d:#}");
        assert_eq!(d["content_type"], "application/json", "{d:#}");
        let sig = d["authorization"].as_str().unwrap();
        assert!(sig.len() == 64 && sig.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')), "{sig}");
        let body = d["body"].as_str().unwrap();
        assert!(body.starts_with(&format!(r#"{{"type":{number},"tts_notification_id":""#)), "{body}");
        let e = &d["envelope"];
        assert_eq!(e["type"].as_u64(), Some(number), "{e:#}");
        let id = e["tts_notification_id"].as_str().unwrap_or_default();
        assert!(id.len() >= 10 && id.bytes().all(|c| c.is_ascii_digit()), "{name}: id {id}");
        ids.push(id.to_string());
        assert_eq!(e["shop_id"], "7495540735365777507", "{e:#}");
        let ts = e["timestamp"].as_i64().unwrap_or_default();
        assert!(ts >= started && ts <= now(), "{name}: timestamp {ts}");
        assert!(e["data"].as_object().is_some_and(|o| !o.is_empty()), "{name}: {e:#}");
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), EVENTS.len(), "fresh notification ids");
    let orders = &deliveries[0]["envelope"]["data"];
    assert!(orders["order_id"].is_string() && orders["order_status"].is_string(), "{orders:#}");
    let deauthorized = deliveries[5]["envelope"]["data"]["message"].as_str().unwrap_or_default();
    assert!(deauthorized.contains("Shop_id 7495540735365777507 is deauthorized"), "{deauthorized}");
}

#[test]
fn webhook_send_takes_shop_and_data_as_given() {
    let dir = TempDir::new("webhook-send-data");
    let receiver = Receiver::start(&dir, "verify");
    let data = r#"{"order_id": "42",  "order_status": "CANCEL"}"#;
    let out = send(&dir, "ORDER_STATUS_CHANGE", &receiver.url, &["--shop-id", "7000000000000000001", "--data", data]);
    check_exit(&out, 0);
    std::fs::write(dir.path("data.json"), "{\"message\": \"Shop_id 1 is deauthorized\"}\n").unwrap();
    let out = send(&dir, "6", &receiver.url, &["--data", "@data.json"]);
    check_exit(&out, 0);
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 2);
    assert_eq!(deliveries[0]["signature_ok"], true);
    let body = deliveries[0]["body"].as_str().unwrap();
    assert!(
        body.contains(r#""shop_id":"7000000000000000001""#) && body.ends_with(&format!(r#""data":{data}}}"#)),
        "{body}"
    );
    assert_eq!(deliveries[1]["envelope"]["data"]["message"], "Shop_id 1 is deauthorized");

    let out = send(&dir, "1", &receiver.url, &["--data", "{not json"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "not valid JSON", &out);
    for (event, to) in [("8", receiver.url.as_str()), ("ORDER", receiver.url.as_str()), ("1", "ftp://127.0.0.1/")] {
        let out = send(&dir, event, to, &[]);
        check_exit(&out, 2);
    }
    let out = run(tool(&dir, &["webhook", "send", "1"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "--to", &out);
    assert_eq!(receiver.deliveries().len(), 2, "usage errors send nothing");
}

#[test]
fn webhook_send_bad_signature_must_be_refused() {
    let dir = TempDir::new("webhook-forged");
    let checking = Receiver::start(&dir, "verify");
    let out = send(&dir, "SELLER_DEAUTHORIZATION", &checking.url, &["--bad-signature"]);
    check_exit(&out, 0);
    check_contains(&out.stdout, "refused the forged SELLER_DEAUTHORIZATION", &out);
    check_contains(&out.stdout, "HTTP 401", &out);
    let seen = checking.deliveries();
    assert!(seen.len() == 1 && seen[0]["signature_ok"] == false, "{seen:#?}");

    let careless = Receiver::start(&dir, "accept");
    let out = send(&dir, "SELLER_DEAUTHORIZATION", &careless.url, &["--bad-signature"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "accepted a forged event", &out);
    check_contains(&out.stderr, "HTTP 200", &out);
    check_lacks(&out.stderr, APP_SECRET, &out);
    // The same careless receiver takes a rightly signed delivery too.
    check_exit(&send(&dir, "1", &careless.url, &[]), 0);

    let refusing = Receiver::start(&dir, "refuse");
    let out = send(&dir, "1", &refusing.url, &[]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "HTTP 401", &out);
}

#[test]
fn webhook_send_to_a_failing_receiver_names_status_and_retries() {
    let dir = TempDir::new("webhook-500");
    let receiver = Receiver::start(&dir, "fail");
    let out = send(&dir, "ORDER_STATUS_CHANGE", &receiver.url, &[]);
    check_exit(&out, 1);
    check_contains_all(
        &out.stderr,
        &["not delivered", "HTTP 500", RETRIES, "then drop it", "internal error \\u{1b}[31mred"],
        &out,
    );
    for raw in ["\u{1b}", "\u{7}"] {
        check_lacks(&out.stderr, raw, &out);
    }
    assert_eq!(receiver.deliveries()[0]["signature_ok"], true);
}

#[test]
fn webhook_send_to_a_slow_receiver_is_not_delivered() {
    let dir = TempDir::new("webhook-slow");
    let receiver = Receiver::start(&dir, "slow");
    let out = send(&dir, "1", &receiver.url, &[]);
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["did not answer within TikTok's 3 s limit", RETRIES], &out);
}

#[test]
fn webhook_urls_with_a_password_or_spaces_are_usage_errors_that_show_no_password() {
    let dir = TempDir::new("webhook-userinfo");
    let out = send(&dir, "1", "http://user:hunter2@127.0.0.1:9/hook", &[]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "http://***@127.0.0.1:9/hook", &out);
    check_lacks(&out.stderr, "hunter2", &out);
    let out = send(&dir, "1", "http://127.0.0.1:9/ho ok", &[]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "--to", &out);
    let out = run(tool(&dir, &["webhook", "subscribe", "1", "https://u:hunter2@hooks.example.com/x"]));
    check_exit(&out, 2);
    check_lacks(&out.stderr, "hunter2", &out);
}

#[test]
fn webhook_send_with_nobody_listening_is_not_delivered() {
    let dir = TempDir::new("webhook-refused");
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let out = send(&dir, "1", &format!("http://127.0.0.1:{port}/"), &[]);
    check_exit(&out, 1);
    check_contains_all(&out.stderr, &["could not connect", RETRIES], &out);
}

#[test]
fn webhook_help() {
    let dir = TempDir::new("webhook-help");
    let out = run(tool(&dir, &["webhook", "--help"]));
    check_exit(&out, 0);
    check_contains_all(
        &out.stdout,
        &["webhook verify --signature HEX", "webhook send EVENT --to URL", "EXIT STATUS:"],
        &out,
    );
    let out = run(tool(&dir, &["--help"]));
    check_contains(&out.stdout, "\n    webhook      verify a delivery's signature", &out);
}

/// `webhook <sub>` against the sandbox's Events API (and its token endpoint for a refresh).
fn manage(dir: &TempDir, sandbox: &Sandbox, args: &[&str]) -> Out {
    let url = sandbox.url();
    let mut all = vec!["webhook"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--api-base", &url, "--auth-base", &url]);
    run(tool(dir, &all))
}

#[test]
fn subscribe_list_and_unsubscribe_manage_a_shops_subscriptions_through_the_events_api() {
    let dir = TempDir::new("hooks");
    let sandbox = logged_in(&dir, &[]);
    let address = "http://127.0.0.1:9/tiktok/hook";
    let out = manage(&dir, &sandbox, &["subscribe", "seller_deauthorization", address]);
    check_exit(&out, 0);
    check_contains(&out.stdout, "subscribed: Sandbox Test Shop delivers SELLER_DEAUTHORIZATION (type 6)", &out);
    // The sandbox delivers over plain http to loopback: no warning.
    check_lacks(&out.stderr, "warning", &out);
    // The PUT was signed over its body byte for byte: the sandbox checked it (106001 else).
    check_contains(&sandbox.log(), "PUT /event/202309/webhooks", &sandbox.log_out());
    let out = manage(&dir, &sandbox, &["subscribe", "1", "http://127.0.0.1:9/orders"]);
    check_exit(&out, 0);

    let out = manage(&dir, &sandbox, &["list", "--json"]);
    check_exit(&out, 0);
    let hooks: Value = serde_json::from_str(&out.stdout).expect("list --json is JSON");
    let hooks = hooks.as_array().expect("an array");
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    let find = |name: &str| hooks.iter().find(|h| h["event_type"] == name).cloned().unwrap_or_default();
    assert_eq!(find("SELLER_DEAUTHORIZATION")["address"], address);
    assert_eq!(find("ORDER_STATUS_CHANGE")["address"], "http://127.0.0.1:9/orders");
    let out = manage(&dir, &sandbox, &["list"]);
    check_exit(&out, 0);
    check_contains(&out.stdout, "EVENT", &out);
    check_contains(&out.stdout, address, &out);

    // A PUT replaces the event type's one address.
    let out = manage(&dir, &sandbox, &["subscribe", "6", "http://127.0.0.1:9/other"]);
    check_exit(&out, 0);
    let out = manage(&dir, &sandbox, &["list", "--json"]);
    let hooks: Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(hooks.as_array().map(Vec::len), Some(2), "{hooks}");
    assert!(out.stdout.contains("http://127.0.0.1:9/other") && !out.stdout.contains(address), "{}", out.stdout);

    let out = manage(&dir, &sandbox, &["unsubscribe", "SELLER_DEAUTHORIZATION"]);
    check_exit(&out, 0);
    check_contains(&out.stdout, "unsubscribed: Sandbox Test Shop no longer delivers SELLER_DEAUTHORIZATION", &out);
    check_contains(&sandbox.log(), "DELETE /event/202309/webhooks", &sandbox.log_out());
    let out = manage(&dir, &sandbox, &["list", "--json"]);
    assert!(!out.stdout.contains("SELLER_DEAUTHORIZATION"), "{}", out.stdout);
    // Unsubscribing what is not subscribed is TikTok's error: exit 1, its code on stderr.
    let out = manage(&dir, &sandbox, &["unsubscribe", "6"]);
    check_exit(&out, 1);
    // The secret never shows.
    check_lacks(&out.stderr, APP_SECRET, &out);
}

#[test]
fn subscribe_warns_about_addresses_tiktok_would_not_deliver_to() {
    let dir = TempDir::new("hookwarn");
    let sandbox = logged_in(&dir, &[]);
    for (address, why) in [
        ("https://203.0.113.7/hook", "is an IP address, not a domain name"),
        ("https://hooks.example.com:8443/hook", "names a port"),
        ("http://hooks.example.com/hook", "is not https://"),
    ] {
        let out = manage(&dir, &sandbox, &["subscribe", "1", address]);
        check_contains(&out.stderr, why, &out);
        check_contains(&out.stderr, "TikTok delivers only to https:// on a domain name without a port", &out);
    }
    let out = manage(&dir, &sandbox, &["subscribe", "1", "https://hooks.example.com/hook"]);
    check_exit(&out, 0);
    check_lacks(&out.stderr, "warning", &out);
}

#[test]
fn a_seller_with_several_shops_must_choose_one_for_its_subscriptions() {
    let dir = TempDir::new("hookshops");
    let sandbox = logged_in(&dir, &["--shops", "2"]);
    let out = manage(&dir, &sandbox, &["list"]);
    check_exit(&out, 2);
    check_contains(&out.stderr, "this seller has 2 shops", &out);
    check_contains(&out.stderr, "--shop", &out);
    let out = manage(&dir, &sandbox, &["subscribe", "6", "http://127.0.0.1:9/h", "--shop", "Sandbox Shop 2"]);
    check_exit(&out, 0);
    check_contains(&out.stdout, "Sandbox Shop 2 delivers SELLER_DEAUTHORIZATION", &out);
    // Subscriptions are per shop: shop 1 has none.
    let out = manage(&dir, &sandbox, &["list", "--json", "--shop", "Sandbox Test Shop"]);
    check_exit(&out, 0);
    assert_eq!(out.stdout.trim(), "[]", "{}", out.stdout);
}
