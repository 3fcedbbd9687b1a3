//! `login` end to end: the scripted browser against the sandbox and the real listener.

use crate::*;

fn redirect_for(port: u16) -> String {
    format!("http://localhost:{port}/")
}

fn final_page(steps: &[Value]) -> (&Value, String) {
    let last = step(steps, "final");
    (last, last["body"].as_str().unwrap_or_default().to_string())
}

#[test]
fn an_approved_login_saves_the_whole_response_privately_and_masks_output() {
    let dir = TempDir::new("login-ok");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &[]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "approve", &["--token-file", "secrets/shop/token.json"]);
    check_exit(&out, 0);
    check(step(&steps, "authorize-page")["ok"] == true, "the sandbox page offers Authorize and Deny", &out);

    let path = dir.path("secrets/shop/token.json");
    let saved = read_json(&path);
    let data = &saved["data"];
    check(
        saved["code"] == 0 && data["access_token"].as_str().is_some_and(|t| t.starts_with("TTP_")),
        "file content",
        &out,
    );
    check(
        data["seller_name"] == "Sandbox Test Shop" && data["granted_scopes"].as_array().is_some_and(|a| !a.is_empty()),
        "all fields",
        &out,
    );
    let raw = std::fs::read_to_string(&path).unwrap();
    check(raw.starts_with("{\n  \"code\": 0,") && raw.ends_with("}\n"), "pretty-printed", &out);
    #[cfg(unix)]
    {
        check(mode(&path) == 0o600, "file mode 0600", &out);
        check(mode(&dir.path("secrets")) == 0o700 && mode(&dir.path("secrets/shop")) == 0o700, "new dirs 0700", &out);
    }
    let leftovers: Vec<_> =
        std::fs::read_dir(dir.path("secrets/shop")).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name()).collect();
    check(leftovers.len() == 3, &format!("only the token file and its two locks remain: {leftovers:?}"), &out);

    // The summary: masked tokens, dates, the path.
    let access = data["access_token"].as_str().unwrap();
    let refresh = data["refresh_token"].as_str().unwrap();
    for secret in [access, refresh, APP_SECRET] {
        check(!out.stdout.contains(secret) && !out.stderr.contains(secret), "no secret in output", &out);
        check(!sandbox.log().contains(secret), "no secret in the sandbox log", &out);
    }
    check(out.stdout.contains(&format!("access token   {}…", &access[..6])), "masked access token", &out);
    check(
        out.stdout.contains("UTC (in 7 days)") && out.stdout.contains("secrets/shop/token.json"),
        "expiry and path",
        &out,
    );
    check(
        out.stdout.contains("seller         Sandbox Test Shop") && out.stdout.contains("region         GB"),
        "seller",
        &out,
    );
    check(out.stderr.contains("/open/authorize?service_id=7001&state="), "the link is printed on stderr", &out);

    // The browser was answered after the exchange, with a safe self-contained page.
    let (last, body) = final_page(&steps);
    check(last["status"] == 200 && body.contains("Authorized and saved"), "granted page", &out);
    check(
        last["headers"]["referrer-policy"] == "no-referrer" && last["headers"]["cache-control"] == "no-store",
        "headers",
        &out,
    );
    check(!body.contains("src=") && !body.contains("https://"), "no external resources", &out);
    // The path breaks at a phone's width only after `/`, `.` and `-`, never mid-word.
    check(
        body.contains("<code class=\"long\">secrets/<wbr>shop/<wbr>token.<wbr>json</code>"),
        &format!("the token path, breakable at its separators: {body}"),
        &out,
    );
    let state = step(&steps, "redirected")["url"].as_str().unwrap().to_string();
    check(
        state.contains("app_key=29a39d") && state.contains("shop_region=GB") && state.contains("locale=en"),
        "redirect params",
        &out,
    );
}

#[test]
fn json_summary_is_one_object_with_the_token_masked() {
    let dir = TempDir::new("login-json");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &["--json"]);
    check_exit(&out, 0);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap_or(Value::Null);
    check(v["seller_name"] == "Sandbox Test Shop" && v["access_token"]["valid"] == true, "json summary", &out);
    check(v["access_token"]["masked"].as_str().is_some_and(|m| m.ends_with('…')), "masked in json", &out);
    check(v["token_file"] == "tiktok-shop-token.json" && out.stdout.lines().count() == 1, "one object", &out);
    let (_, body) = final_page(&steps);
    check(
        body.contains("tiktok-<wbr>shop-<wbr>token.<wbr>json</code>"),
        &format!("the file name, breakable: {body}"),
        &out,
    );
}

#[test]
fn denial_exits_4_and_saves_nothing() {
    let dir = TempDir::new("login-deny");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &[]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "deny", &[]);
    check_exit(&out, 4);
    check(out.stderr.contains("denied") && out.stderr.contains("access_denied"), "says denied", &out);
    check(!dir.path("tiktok-shop-token.json").exists(), "no file", &out);
    check(sandbox.count("/api/v2/token/get") == 0, "no exchange", &out);
    let (last, body) = final_page(&steps);
    check(
        last["status"] == 200
            && body.contains("Authorization denied")
            && body.contains("run <code>tiktok-shop-auth login</code> again"),
        "denied page",
        &out,
    );
}

#[test]
fn timeout_exits_3_and_points_at_the_redirect_url() {
    let dir = TempDir::new("login-timeout");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &[]);
    let (out, _) = login(&dir, &sandbox, &redirect, "none", &["--timeout", "1"]);
    check_exit(&out, 3);
    check(
        out.stderr.contains("redirect URL") && out.stderr.contains(&redirect) && out.stderr.contains("--timeout"),
        "hint",
        &out,
    );
}

#[test]
fn forged_state_gets_400_and_the_real_redirect_still_works() {
    let dir = TempDir::new("login-forged");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "forged,auto", &[]);
    check_exit(&out, 0);
    let forged = step(&steps, "forged");
    check(
        forged["status"] == 400 && forged["body"].as_str().unwrap_or("").contains("another sign-in"),
        "400 page",
        &out,
    );
    check(out.stderr.contains("state does not match"), "logged", &out);
    check(sandbox.count("auth_code=ROW_fo") == 0, "forged code never exchanged", &out);
    check(read_json(&dir.path("tiktok-shop-token.json"))["code"] == 0, "real one saved", &out);
}

#[test]
fn stale_tab_from_an_earlier_login_changes_nothing() {
    let dir = TempDir::new("login-stale");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &[]);
    check_exit(&out, 0);
    let old = step(&steps, "redirected")["url"].as_str().unwrap().to_string();
    std::fs::write(dir.path("old-url"), &old).unwrap();
    let first = std::fs::read(dir.path("tiktok-shop-token.json")).unwrap();

    let replay = format!("replay={}", dir.path("old-url").display());
    let (out, steps) = login(&dir, &sandbox, &redirect, &format!("{replay},none"), &["--timeout", "2"]);
    check_exit(&out, 3);
    check(step(&steps, "replay")["status"] == 400, "stale tab answered 400", &out);
    check(std::fs::read(dir.path("tiktok-shop-token.json")).unwrap() == first, "file untouched", &out);
    check(sandbox.count("/api/v2/token/get") == 1, "the old code was not exchanged again", &out);
}

#[test]
fn favicon_and_pre_connections_do_not_disturb_the_flow() {
    let dir = TempDir::new("login-favicon");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "preconnect,favicon,auto", &[]);
    check_exit(&out, 0);
    check(step(&steps, "favicon")["status"] == 404, "favicon 404", &out);
    check(step(&steps, "final")["status"] == 200, "flow completed with a silent connection open", &out);
}

#[test]
fn an_ipv6_loopback_redirect_listens_on_ipv6_only_and_completes() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        skip("this machine has no IPv6 loopback");
        return;
    }
    let dir = TempDir::new("login-v6");
    let port = free_port();
    let redirect = format!("http://[::1]:{port}/cb");
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &[]);
    check_exit(&out, 0);
    check(
        out.stderr.contains(&format!("[::1]:{port}")) && !out.stderr.contains(&format!("127.0.0.1:{port}")),
        "v6 only",
        &out,
    );
    check(step(&steps, "final")["status"] == 200, "answered", &out);
}

#[test]
fn localhost_listens_on_both_loopbacks_and_nothing_else() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        skip("this machine has no IPv6 loopback");
        return;
    }
    let dir = TempDir::new("login-both");
    let port = free_port();
    let redirect = redirect_for(port);
    let sandbox = Sandbox::start(&dir, &redirect, &[]);
    let mut child = sandbox
        .login_command(&dir, &redirect, &["--no-browser", "--timeout", "5"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(("127.0.0.1", port)).is_err() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let v4 = TcpStream::connect(("127.0.0.1", port)).is_ok();
    let v6 = TcpStream::connect(("::1", port)).is_ok();
    // Any non-loopback address of this machine must not reach the listener.
    let exposed = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|_| s))
        .and_then(|s| s.local_addr())
        .map(|a| a.ip())
        .ok()
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .map(|ip| TcpStream::connect_timeout(&(ip, port).into(), Duration::from_millis(300)).is_ok());
    let _ = child.kill();
    let out: Out = child.wait_with_output().unwrap().into();
    check(v4 && v6, "reachable on 127.0.0.1 and ::1", &out);
    check(exposed != Some(true), "not reachable on a network interface", &out);
}

#[test]
fn tiktok_error_code_is_shown_to_terminal_and_browser_and_keeps_the_old_file() {
    let dir = TempDir::new("login-tterr");
    let redirect = redirect_for(free_port());
    // The sandbox knows another secret, so TikTok's answer is a non-zero code with HTTP 200.
    let secret_file = dir.path("other-secret");
    std::fs::write(&secret_file, "another-secret\n").unwrap();
    let sandbox =
        Sandbox::start(&dir, &redirect, &["--auto-approve", "--app-secret-file", secret_file.to_str().unwrap()]);
    let before = token_json("TTP_previousAccessToken", now() + 3600, "TTP_previousRefreshTok", now() + 86_400);
    std::fs::write(dir.path("tiktok-shop-token.json"), &before).unwrap();
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &[]);
    check_exit(&out, 1);
    check(
        out.stderr.contains("code 36004002") && out.stderr.contains("invalid app_key or app_secret"),
        "code and message",
        &out,
    );
    check(out.stderr.contains("request_id ") && !out.stderr.contains("request_id none"), "request id", &out);
    check(!out.stderr.contains(APP_SECRET), "secret not shown", &out);
    check(std::fs::read_to_string(dir.path("tiktok-shop-token.json")).unwrap() == before, "old file intact", &out);
    let (last, body) = final_page(&steps);
    check(
        last["status"] == 502 && body.contains("36004002") && body.contains("Authorization failed"),
        "failed page",
        &out,
    );
}

fn faulty_login(fault: &str) -> (Out, Vec<Value>, String, TempDir) {
    let dir = TempDir::new(&format!("login-{fault}"));
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve", "--fault", fault]);
    let before = token_json("TTP_previousAccessToken", now() + 3600, "TTP_previousRefreshTok", now() + 86_400);
    std::fs::write(dir.path("tiktok-shop-token.json"), &before).unwrap();
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &[]);
    let after = std::fs::read_to_string(dir.path("tiktok-shop-token.json")).unwrap();
    check(after == before, "the old file is intact", &out);
    (out, steps, after, dir)
}

#[test]
fn html_502_from_a_proxy_is_a_clear_error() {
    let (out, steps, _, _dir) = faulty_login("html-502");
    check_exit(&out, 1);
    check(out.stderr.contains("HTTP 502") && out.stderr.contains("not JSON"), "says HTML 502", &out);
    check(!out.stderr.contains("<html>") && !out.stderr.contains("panicked"), "no page dump, no panic", &out);
    check(final_page(&steps).1.contains("HTTP 502"), "browser told", &out);
}

#[test]
fn truncated_and_empty_json_are_clear_errors() {
    let (out, _, _, _dir) = faulty_login("truncated");
    check_exit(&out, 1);
    check(out.stderr.contains("truncated JSON") && !out.stderr.contains("panicked"), "says truncated", &out);
    let (out, _, _, _dir) = faulty_login("empty");
    check_exit(&out, 1);
    check(out.stderr.contains("empty body"), "says empty", &out);
}

#[test]
fn port_in_use_is_an_error_naming_the_port() {
    let dir = TempDir::new("login-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let redirect = redirect_for(port);
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &[]);
    check_exit(&out, 1);
    check(
        out.stderr.contains(&format!("port {port} is already in use")) && out.stderr.contains("--port"),
        "names port and flag",
        &out,
    );
    check(steps.is_empty(), "the browser was never opened", &out);
    // --port moves the listener (the redirect URL's port is replaced).
    let other = free_port();
    let (out, _) = login(&dir, &sandbox, &redirect, "none", &["--port", &other.to_string(), "--timeout", "1"]);
    check_exit(&out, 3);
    check(out.stderr.contains(&format!("127.0.0.1:{other}")), "listens on --port", &out);
}

#[test]
fn unwritable_token_location_fails_before_the_browser_opens() {
    let dir = TempDir::public("login-unwritable");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    // A regular file where a directory should be: no user, root included, can write there.
    std::fs::write(dir.path("not-a-dir"), "x").unwrap();
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &["--token-file", "not-a-dir/token.json"]);
    check_exit(&out, 1);
    check(out.stderr.contains("not-a-dir"), "names the path", &out);
    check(steps.is_empty() && sandbox.count("GET /open/authorize") == 0, "no sign-in was wasted", &out);

    // A read-only directory holding an existing token file: the file stays as it was.
    let ro = dir.path("ro");
    std::fs::create_dir(&ro).unwrap();
    let before = token_json("TTP_previousAccessToken", now() + 3600, "TTP_previousRefreshTok", now() + 86_400);
    std::fs::write(ro.join("token.json"), &before).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let token = ro.join("token.json").display().to_string();
        let out = run(unprivileged(sandbox.login_command(&dir, &redirect, &["--token-file", &token]), &dir));
        check_exit(&out, 1);
        check(
            out.stderr.contains("ro/") && out.stderr.contains("ermission denied"),
            "names the file and the reason",
            &out,
        );
        check(std::fs::read_to_string(ro.join("token.json")).unwrap() == before, "old file intact", &out);
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn a_browser_that_cannot_start_is_not_fatal() {
    let dir = TempDir::new("login-nobrowser");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &[]);
    let mut cmd = sandbox.login_command(&dir, &redirect, &["--timeout", "1"]);
    cmd.env("BROWSER", "/nonexistent/browser --flag");
    let out = run(cmd);
    check_exit(&out, 3);
    check(
        out.stderr.contains("could not start `/nonexistent/browser`") && out.stderr.contains("state="),
        "says so, link printed",
        &out,
    );
}

/// `$BROWSER` as the xdg convention has it: a colon-separated list, the first command that
/// starts wins, and `%s` marks where the link goes.
#[cfg(unix)]
#[test]
fn browser_list_falls_through_to_the_first_that_starts_and_places_the_link_at_percent_s() {
    let dir = TempDir::new("login-browser-list");
    let redirect = redirect_for(free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let log = dir.path("browser-list.log");
    let scripted = browser_env(&log, "auto", &redirect);
    let mut cmd = sandbox.login_command(&dir, &redirect, &[]);
    cmd.env("BROWSER", format!("/nonexistent/browser:{scripted} %s"));
    let out = run(cmd);
    check_exit(&out, 0);
    check(step(&browser_log(&log), "final")["status"] == 200, "the second command got the link", &out);
}

#[test]
fn token_file_symlink_is_kept_and_its_target_replaced() {
    #[cfg(unix)]
    {
        let dir = TempDir::new("login-symlink");
        let redirect = redirect_for(free_port());
        let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
        std::fs::create_dir(dir.path("vault")).unwrap();
        std::fs::write(dir.path("vault/real.json"), "old").unwrap();
        std::os::unix::fs::symlink("vault/real.json", dir.path("tiktok-shop-token.json")).unwrap();
        let (out, _) = login(&dir, &sandbox, &redirect, "auto", &[]);
        check_exit(&out, 0);
        let link = std::fs::symlink_metadata(dir.path("tiktok-shop-token.json")).unwrap();
        check(link.file_type().is_symlink(), "the link is kept", &out);
        check(read_json(&dir.path("vault/real.json"))["code"] == 0, "its target was replaced", &out);
        check(mode(&dir.path("vault/real.json")) == 0o600, "target mode 0600", &out);
    }
}

#[test]
fn localhost_on_a_host_without_ipv6_listens_on_ipv4_alone() {
    // A network namespace of our own whose loopback has IPv6 switched off; needs root.
    let probe = std::process::Command::new("unshare").args(["-n", "true"]).status();
    if !probe.map(|s| s.success()).unwrap_or(false) {
        skip("cannot create a network namespace here (needs root and unshare)");
        return;
    }
    let dir = TempDir::new("login-no-ipv6");
    let script = "ip link set lo up && sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
                  && sysctl -qw net.ipv6.conf.lo.disable_ipv6=1 && exec \"$0\" \"$@\"";
    let mut cmd = std::process::Command::new("unshare");
    cmd.args(["-n", "sh", "-c", script, bin(), "login", "--service-id", "1", "--no-browser", "--timeout", "1"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TIKTOK_SHOP_APP_KEY", APP_KEY)
        .env("TIKTOK_SHOP_APP_SECRET", APP_SECRET)
        .current_dir(&dir.0);
    let out = run(cmd);
    check_exit(&out, 3);
    check(out.stderr.contains("listening for the redirect on 127.0.0.1:3017 (path /)"), "IPv4 alone", &out);
}
