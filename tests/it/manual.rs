//! `login --manual`: no listener, no browser; the address the browser landed on (or the
//! bare code) is pasted on stdin, here from a pipe as a script would.

use std::io::{BufReader, Write};
use std::process::Stdio;

use crate::*;

/// Starts `login --manual`, reads the link it prints, lets `answer` turn the link into what
/// the user pastes, pastes it, and returns the outcome.
fn manual(dir: &TempDir, sandbox: &Sandbox, extra: &[&str], answer: impl FnOnce(&str) -> Option<String>) -> Out {
    let mut args = vec!["--manual"];
    args.extend_from_slice(extra);
    let mut child = sandbox
        .login_command(dir, "http://localhost:3017/", &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (link, seen) = read_until_link(&mut stderr);
    let mut stdin = child.stdin.take().unwrap();
    if let Some(text) = link.as_deref().and_then(answer) {
        writeln!(stdin, "{text}").unwrap();
    }
    drop(stdin);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    Out {
        command: "(spawned)".into(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: seen + &rest,
    }
}

/// What the browser would be sent to after approving: the sandbox's redirect.
fn approve(link: &str) -> String {
    let (status, headers, _) = http_get(link);
    assert_eq!(status, 302, "auto-approve redirects");
    header(&headers, "location").unwrap().to_string()
}

#[test]
fn pasted_address_from_a_pipe_is_exchanged_and_saved() {
    let dir = TempDir::new("manual-ok");
    let sandbox = Sandbox::start(&dir, "http://localhost:3017/", &["--auto-approve"]);
    let out = manual(&dir, &sandbox, &["--json"], |link| Some(approve(link)));
    check_exit(&out, 0);
    check(out.stderr.contains("paste") && out.stderr.contains("fail to load"), "instructions", &out);
    check(!out.stderr.contains("listening"), "no listener", &out);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    check(v["seller_name"] == "Sandbox Test Shop", "summary", &out);
    check(read_json(&dir.path("tiktok-shop-token.json"))["code"] == 0, "saved", &out);
}

#[test]
fn a_bare_code_is_accepted() {
    let dir = TempDir::new("manual-code");
    let sandbox = Sandbox::start(&dir, "http://localhost:3017/", &["--auto-approve"]);
    let out = manual(&dir, &sandbox, &[], |link| {
        let location = approve(link);
        let code = location.split(['?', '&']).find_map(|p| p.strip_prefix("code=")).unwrap().to_string();
        Some(code)
    });
    check_exit(&out, 0);
    check(out.stdout.contains("authorized and saved"), "saved", &out);
}

#[test]
fn an_address_from_another_attempt_is_refused() {
    let dir = TempDir::new("manual-state");
    let sandbox = Sandbox::start(&dir, "http://localhost:3017/", &["--auto-approve"]);
    let out = manual(&dir, &sandbox, &[], |link| Some(approve(link).replace("state=", "state=x")));
    check_exit(&out, 1);
    check(out.stderr.contains("another login attempt"), "says another attempt", &out);
    check(
        sandbox.count("/api/v2/token/get") == 0 && !dir.path("tiktok-shop-token.json").exists(),
        "nothing exchanged",
        &out,
    );
}

#[test]
fn a_pasted_denial_exits_4() {
    let dir = TempDir::new("manual-deny");
    let sandbox = Sandbox::start(&dir, "http://localhost:3017/", &[]);
    let out = manual(&dir, &sandbox, &[], |link| {
        let state = link.split(['?', '&']).find_map(|p| p.strip_prefix("state=")).unwrap();
        let (_, headers, _) = http_get(&format!(
            "http://{}/open/authorize/decide?service_id=7001&state={state}&decision=deny",
            sandbox.addr
        ));
        Some(header(&headers, "location").unwrap().to_string())
    });
    check_exit(&out, 4);
    check(out.stderr.contains("denied"), "denied", &out);
}

/// A pasted address is text from outside: its escapes are shown, never obeyed.
#[test]
fn escapes_in_a_pasted_address_never_reach_the_terminal() {
    let dir = TempDir::new("manual-escapes");
    let sandbox = Sandbox::start(&dir, "http://localhost:3017/", &[]);
    let out = manual(&dir, &sandbox, &[], |_| {
        Some("http://localhost:3017/?error=%1b%5d0%3bpwned%07%1b%5b2J%0d%0aauthorized%20and%20saved&code=null".into())
    });
    check_exit(&out, 4);
    for raw in ["\u{1b}", "\u{7}", "\r"] {
        check_lacks(&out.stderr, raw, &out);
    }
    check_contains(&out.stderr, "\\u{1b}]0;pwned", &out);
    check(!out.stderr.lines().any(|l| l.starts_with("authorized and saved")), "no forged line", &out);
}

#[test]
fn end_of_input_and_timeout_exit_3() {
    let dir = TempDir::new("manual-eof");
    let sandbox = Sandbox::start(&dir, "http://localhost:3017/", &[]);
    let out = manual(&dir, &sandbox, &[], |_| None);
    check_exit(&out, 3);
    check(out.stderr.contains("stdin ended"), "end of input", &out);

    // A terminal that never answers: stdin stays open, the timeout ends the wait.
    let mut child = sandbox
        .login_command(&dir, "http://localhost:3017/", &["--manual", "--timeout", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _keep_open = child.stdin.take();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let out: Out = child.wait_with_output().unwrap().into();
    check_exit(&out, 3);
    check(out.stderr.contains("nothing was pasted within 1 s"), "timeout", &out);
}
