//! `doctor` against the sandbox: all ok, and each thing it must catch. It never spends a
//! code or a refresh token, which the sandbox's request log shows.

use std::fs;

use serde_json::Value;

use crate::*;

const FILE: &str = "tiktok-shop-token.json";

fn doctor(dir: &TempDir, sandbox_url: &str, extra: &[&str]) -> Out {
    let authorize = format!("{sandbox_url}/open/authorize");
    let redirect = format!("http://localhost:{}/", free_port());
    let mut args = vec!["doctor", "--authorize-url", &authorize, "--auth-base", sandbox_url, "--api-base", sandbox_url];
    args.extend_from_slice(&["--redirect-url", &redirect]);
    args.extend_from_slice(extra);
    let mut cmd = tool(dir, &args);
    cmd.env("TIKTOK_SHOP_SERVICE_ID", "7001234567890123456");
    run(cmd)
}

/// The line of check `name`.
fn line<'a>(out: &'a Out, name: &str) -> &'a str {
    out.stdout.lines().find(|l| l.get(6..).is_some_and(|rest| rest.starts_with(name))).unwrap_or("")
}

fn no_grant_spent(sandbox: &Sandbox) {
    let log = sandbox.log();
    let after_login = log.split("/api/v2/token/get").nth(1).unwrap_or(&log);
    check(!after_login.contains("/api/v2/token/"), "doctor called no token endpoint", &sandbox.log_out());
}

#[test]
fn all_ok_against_the_sandbox_and_no_grant_is_spent() {
    let dir = TempDir::new("doctor-ok");
    let sandbox = logged_in(&dir, &[]);
    let out = doctor(&dir, &sandbox.url(), &[]);
    check_exit(&out, 0);
    for name in [
        "app key",
        "app secret",
        "service id",
        "redirect URL",
        "token file",
        "access token",
        "refresh token",
        "authorize host",
        "auth host",
        "API host",
        "clock",
        "signed call",
        "scopes",
    ] {
        check(line(&out, name).starts_with("ok "), &format!("{name} is ok"), &out);
    }
    check_contains(line(&out, "signed call"), "1 shop(s): Sandbox Test Shop (GB)", &out);
    check_contains(line(&out, "API host"), "ms", &out);
    no_grant_spent(&sandbox);
    let out = doctor(&dir, &sandbox.url(), &["--json"]);
    check_exit(&out, 0);
    let checks: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
    check(checks.as_array().is_some_and(|a| a.len() == 13 && a.iter().all(|c| c["status"] == "ok")), "json", &out);
    no_grant_spent(&sandbox);
}

#[test]
fn a_wrong_secret_fails_the_signed_call() {
    let dir = TempDir::new("doctor-secret");
    let sandbox = logged_in(&dir, &[]);
    let mut cmd = tool(&dir, &[]);
    cmd.env("TIKTOK_SHOP_APP_SECRET", "not-the-secret");
    let url = sandbox.url();
    let mut args = vec!["doctor".to_string(), "--auth-base".into(), url.clone(), "--api-base".into(), url.clone()];
    args.extend(["--authorize-url".into(), format!("{url}/open/authorize")]);
    cmd.args(&args);
    let out = run(cmd);
    check_exit(&out, 1);
    check(line(&out, "signed call").starts_with("fail") && out.stdout.contains("106001"), "bad signature", &out);
    check_lacks(&out.stdout, "not-the-secret", &out);
    no_grant_spent(&sandbox);
}

#[test]
fn a_clock_ten_minutes_off_fails() {
    let dir = TempDir::new("doctor-clock");
    let sandbox = logged_in(&dir, &["--clock-skew", "600"]);
    let out = doctor(&dir, &sandbox.url(), &[]);
    check_exit(&out, 1);
    let clock = line(&out, "clock");
    check(clock.starts_with("fail") && clock.contains("600 s behind") && clock.contains("NTP"), "the clock", &out);
    let sandbox = logged_in(&dir, &["--clock-skew", "-600"]);
    let out = doctor(&dir, &sandbox.url(), &[]);
    check_exit(&out, 1);
    check_contains(line(&out, "clock"), "600 s ahead", &out);
}

#[test]
fn a_port_in_use_a_readable_token_file_and_mix_ups_are_reported() {
    let dir = TempDir::new("doctor-port");
    let sandbox = logged_in(&dir, &[]);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = doctor(&dir, &sandbox.url(), &["--port", &port]);
    check_exit(&out, 1);
    let redirect = line(&out, "redirect URL");
    check(redirect.starts_with("fail") && redirect.contains(&format!("port {port} is in use")), "port", &out);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(FILE), fs::Permissions::from_mode(0o644)).unwrap();
        let out = doctor(&dir, &sandbox.url(), &[]);
        check_exit(&out, 0);
        check(line(&out, "token file").starts_with("warn") && out.stdout.contains("chmod 600"), "0644 warns", &out);
    }
    let out = doctor(&dir, &sandbox.url(), &["--service-id", APP_KEY]);
    check_exit(&out, 1);
    check_contains(line(&out, "service id"), "same value as the app key", &out);
    let mut cmd =
        tool(&dir, &["doctor", "--service-id", "7001", "--api-base", &sandbox.url(), "--auth-base", &sandbox.url()]);
    cmd.env("TIKTOK_SHOP_APP_KEY", "7001234567890123456");
    let out = run(cmd);
    check_contains(line(&out, "app key"), "like a service id", &out);
}

#[test]
fn the_sandbox_down_and_an_ip_allow_list_fail_with_what_to_do() {
    let dir = TempDir::new("doctor-down");
    let sandbox = logged_in(&dir, &[]);
    let url = sandbox.url();
    drop(sandbox);
    let out = doctor(&dir, &url, &[]);
    check_exit(&out, 1);
    for name in ["authorize host", "auth host", "API host"] {
        check(line(&out, name).starts_with("fail") && line(&out, name).contains("TCP connection failed"), name, &out);
    }
    check(line(&out, "clock").starts_with("warn"), "the clock cannot be checked", &out);
    // A second sandbox whose Open API refuses this machine's address.
    let _sandbox = logged_in(&dir, &[]);
    let denied = Sandbox::start(&dir, "http://127.0.0.1:9/", &["--fault", "ip-denied"]);
    let out = doctor(&dir, &denied.url(), &[]);
    check_exit(&out, 1);
    let signed = line(&out, "signed call");
    check(signed.contains("36009033") && signed.contains("IP allow list") && signed.contains("127.0.0.1"), "ip", &out);
}
