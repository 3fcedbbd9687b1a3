//! The network environment a corporate machine has: proxies from HTTP_PROXY/NO_PROXY, a
//! TLS-inspecting proxy's root in SSL_CERT_FILE, a clock that is off, a lock held by a
//! stuck process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::*;

const FILE: &str = "tiktok-shop-token.json";

fn write_token(dir: &TempDir) -> String {
    let t = token_json("TTP_accessAccessAccess", now() + 3600, "TTP_refreshRefreshRefr", now() + 86_400);
    std::fs::write(dir.path(FILE), &t).unwrap();
    t
}

#[test]
fn http_proxy_is_used_and_no_proxy_bypasses_it() {
    let dir = TempDir::new("proxy");
    let proxy = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    write_token(&dir);
    let mut cmd = tool(&dir, &["refresh", "--auth-base", "http://tiktok-auth.invalid"]);
    cmd.env("HTTP_PROXY", proxy.url());
    let out = run(cmd);
    check_exit(&out, 1);
    check(
        proxy.log().contains("tiktok-auth.invalid"),
        &format!("the request went through the proxy: {}", proxy.log()),
        &out,
    );
    check(!proxy.log().contains(APP_SECRET), "no secret in the proxy log", &out);

    // The hand-made file is another seller's than the sandbox's: a login would keep it.
    std::fs::remove_file(dir.path(FILE)).unwrap();
    let direct = logged_in(&dir, &[]);
    let before = proxy.count("sandbox: ");
    let mut cmd = tool(&dir, &["refresh", "--auth-base", &direct.url()]);
    cmd.env("HTTP_PROXY", proxy.url()).env("NO_PROXY", "127.0.0.1");
    let out = run(cmd);
    check_exit(&out, 0);
    check(proxy.count("sandbox: ") == before, "NO_PROXY went around the proxy", &out);
}

/// A CA and a server certificate for 127.0.0.1, made with the openssl command.
fn make_certificates(dir: &TempDir) {
    let openssl = |args: &[&str]| {
        let ok =
            Command::new("openssl").args(args).current_dir(&dir.0).stdout(Stdio::null()).stderr(Stdio::null()).status();
        assert!(ok.map(|s| s.success()).unwrap_or(false), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=Test Corp Proxy CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    std::fs::write(
        dir.path("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
    ]);
}

#[test]
fn ssl_cert_file_replaces_the_built_in_roots() {
    let dir = TempDir::new("sslcert");
    make_certificates(&dir);
    let script = format!("{}/tests/support/tls_server.py", env!("CARGO_MANIFEST_DIR"));
    let mut server = Command::new("python3")
        .args([&script, "server.pem", "server.key"])
        .current_dir(&dir.0)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut port).unwrap();
    let base = format!("https://127.0.0.1:{}", port.trim());
    let before = write_token(&dir);

    // Without the corporate root, the certificate is not trusted: exit 1, file intact.
    let out = run(tool(&dir, &["refresh", "--auth-base", &base]));
    check_exit(&out, 1);
    check(out.stderr.to_ascii_lowercase().contains("certificate"), "a certificate error", &out);
    check(std::fs::read_to_string(dir.path(FILE)).unwrap() == before, "file intact", &out);

    // With SSL_CERT_FILE naming it, the same call succeeds.
    let mut cmd = tool(&dir, &["refresh", "--auth-base", &base]);
    cmd.env("SSL_CERT_FILE", dir.path("ca.pem"));
    let out = run(cmd);
    let _ = server.kill();
    let _ = server.wait();
    check_exit(&out, 0);
    check(read_json(&dir.path(FILE))["data"]["seller_name"] == "TLS shop", "saved over TLS", &out);
    // The file is the answer as received: its key order (not sorted) is kept.
    let saved = std::fs::read_to_string(dir.path(FILE)).unwrap();
    let expected_start = "{\n  \"code\": 0,\n  \"message\": \"success\",\n  \"request_id\": \"TLS1\",\n  \"data\": {\n    \"access_token\"";
    check(saved.starts_with(expected_start), &format!("key order kept:\n{saved}"), &out);

    // A file with no certificate in it is a configuration error that names it.
    std::fs::write(dir.path("empty.pem"), "not a certificate\n").unwrap();
    let mut cmd = tool(&dir, &["refresh", "--auth-base", &base]);
    cmd.env("SSL_CERT_FILE", dir.path("empty.pem"));
    let out = run(cmd);
    check_exit(&out, 2);
    check(
        out.stderr.contains("SSL_CERT_FILE") && out.stderr.contains("empty.pem"),
        "names the variable and file",
        &out,
    );
}

#[test]
fn clock_skew_is_explained() {
    let dir = TempDir::new("skew");
    // TikTok's clock 10 minutes ahead of ours: our timestamp is too old for its window.
    let sandbox = logged_in(&dir, &["--clock-skew", "600"]);
    let base = sandbox.url();
    let out = run(tool(&dir, &["shops", "--api-base", &base]));
    check_exit(&out, 1);
    check(
        out.stderr.contains("code 106002") && out.stderr.contains("check the system clock"),
        "says check the clock",
        &out,
    );
    check(out.stderr.contains("600 s behind"), "says by how much, from the Date header", &out);
}

#[test]
fn a_lock_held_too_long_is_a_clear_error() {
    let dir = TempDir::new("lockwait");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    let before = write_token(&dir);
    let holder = "import fcntl, sys, time\nf = open(sys.argv[1], 'a')\nfcntl.flock(f, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)\n";
    let mut stuck = Command::new("python3")
        .args(["-c", holder])
        .arg(dir.path(&format!("{FILE}.lock")))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(stuck.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    let base = sandbox.url();
    let out = run(tool(&dir, &["refresh", "--auth-base", &base, "--lock-wait", "1s"]));
    let _ = stuck.kill();
    let _ = stuck.wait();
    check_exit(&out, 1);
    check(out.stderr.contains("held the lock") && out.stderr.contains(".lock"), "names the lock", &out);
    check(sandbox.count("/api/v2/token/refresh") == 0, "no request", &out);
    check(std::fs::read_to_string(dir.path(FILE)).unwrap() == before, "file intact", &out);
}
