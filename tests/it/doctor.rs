//! `doctor` against the sandbox: all ok, and each thing it must catch. It never spends a
//! code or a refresh token, which the sandbox's request log shows.

use std::fs;

use serde_json::Value;

use crate::*;

const FILE: &str = "tiktok-shop-token.json";

fn doctor(dir: &TempDir, sandbox_url: &str, extra: &[&str]) -> Out {
    doctor_with_api(dir, sandbox_url, sandbox_url, extra)
}

fn doctor_with_api(dir: &TempDir, sandbox_url: &str, api_base: &str, extra: &[&str]) -> Out {
    let authorize = format!("{sandbox_url}/open/authorize");
    let redirect = format!("http://localhost:{}/", free_port());
    let mut args = vec!["doctor", "--authorize-url", &authorize, "--auth-base", sandbox_url, "--api-base", api_base];
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
        check(
            line(&out, name).starts_with("fail") && line(&out, name).contains("TCP connection to the host failed"),
            name,
            &out,
        );
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

/// The test support's forward proxy (tests/support/proxy.py) in front of `upstream`,
/// stopped when dropped.
struct Proxy {
    child: std::process::Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Proxy {
    fn start(dir: &TempDir, upstream: &str, name: &str) -> Proxy {
        use std::io::BufRead;
        let log = dir.path(&format!("{name}.log"));
        let script = format!("{}/tests/support/proxy.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .args([&script, upstream, log.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("start the proxy");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("proxy banner");
        let port = line.trim().rsplit(' ').next().and_then(|p| p.parse().ok()).expect("proxy port");
        Proxy { child, port, log }
    }

    fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `doctor` reports the proxy ureq really uses (here only HTTPS_PROXY, for http:// bases
/// too; and ALL_PROXY over HTTP_PROXY), through it, and never its password; its verdict per
/// host is what `api` does through the same environment.
#[test]
fn doctor_through_the_proxy_the_commands_use_and_no_password_shown() {
    let dir = TempDir::new("doctor-proxy");
    let sandbox = logged_in(&dir, &[]);
    let a = Proxy::start(&dir, &sandbox.addr, "proxy-a");
    let b = Proxy::start(&dir, &sandbox.addr, "proxy-b");
    let password = "Pr0xyPassw0rd";
    let with_password = format!("http://corpuser:{password}@127.0.0.1:{}", a.port);
    let bases = ["http://tiktok-auth.invalid", "http://tiktok-api.invalid"];
    let run_with = |args: &[&str], env: &[(&str, String)]| {
        let mut cmd = tool(&dir, args);
        cmd.env("TIKTOK_SHOP_SERVICE_ID", "7001234567890123456");
        for (k, v) in env {
            cmd.env(k, v);
        }
        run(cmd)
    };
    let doctor_args = [
        "doctor",
        "--authorize-url",
        "http://tiktok-authorize.invalid/open/authorize",
        "--auth-base",
        bases[0],
        "--api-base",
        bases[1],
    ];
    let only_https = [("HTTPS_PROXY", with_password.clone())];
    for json in [false, true] {
        let mut args = doctor_args.to_vec();
        if json {
            args.push("--json");
        }
        let out = run_with(&args, &only_https);
        check_exit(&out, 0);
        check_contains(&out.stdout, &format!("through the proxy http://***@127.0.0.1:{}", a.port), &out);
        check_lacks(&out.stdout, password, &out);
        check_lacks(&out.stderr, password, &out);
        check_lacks(&out.stdout, "DNS lookup of the host failed", &out);
    }
    check_contains(&a.log(), "CONNECT tiktok-api.invalid:80 auth=yes", &sandbox.log_out());
    let api = run_with(&["api", "--api-base", bases[1], "/seller/202309/shops"], &only_https);
    check_exit(&api, 0);
    // ALL_PROXY wins over HTTP_PROXY, as ureq has it.
    let before_a = a.log().lines().count();
    let both =
        [("HTTP_PROXY", format!("http://127.0.0.1:{}", a.port)), ("ALL_PROXY", format!("http://127.0.0.1:{}", b.port))];
    let out = run_with(&doctor_args, &both);
    check_exit(&out, 0);
    check_contains(&out.stdout, &format!("through the proxy http://127.0.0.1:{}", b.port), &out);
    check(a.log().lines().count() == before_a, "the HTTP_PROXY saw nothing", &out);
    check_contains(&b.log(), "tiktok-auth.invalid", &out);
    // A proxy that is down: doctor says so, naming the proxy (masked), and so does api.
    let down = [("HTTPS_PROXY", format!("http://corpuser:{password}@127.0.0.1:{}", free_port()))];
    let out = run_with(&doctor_args, &down);
    check_exit(&out, 1);
    check_contains(&out.stdout, "TCP connection to the proxy failed", &out);
    let api = run_with(&["api", "--api-base", bases[1], "/seller/202309/shops"], &down);
    check_exit(&api, 1);
    for o in [&out, &api] {
        check_lacks(&o.stdout, password, o);
        check_lacks(&o.stderr, password, o);
    }
}

/// A host that hangs does not make a correct clock look ahead, and a host whose page is
/// large answered all the same.
#[test]
fn a_hanging_host_is_not_a_clock_problem_and_a_large_page_is_an_answer() {
    use std::io::{Read, Write};
    let dir = TempDir::new("doctor-slow");
    let sandbox = logged_in(&dir, &[]);
    // A stand-in API host that answers 200 with a 200 KB page.
    let big = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let big_url = format!("http://{}", big.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in big.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let page = "x".repeat(200_000);
            let _ =
                write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}", page.len());
        }
    });
    let out = doctor_with_api(&dir, &sandbox.url(), &big_url, &[]);
    check_contains(line(&out, "API host"), "ok", &out);
    check_lacks(&out.stdout, "larger than", &out);
    // A stand-in API host that accepts and never answers (until the 30 s timeout).
    let hang = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hang_url = format!("http://{}", hang.local_addr().unwrap());
    let out = doctor_with_api(&dir, &sandbox.url(), &hang_url, &[]);
    drop(hang);
    check(line(&out, "API host").starts_with("fail"), "the hanging host fails", &out);
    check(line(&out, "clock").starts_with("ok"), "the clock is fine", &out);
}
