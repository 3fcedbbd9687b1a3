//! Integration tests: every test runs the built binary as a user would, in a fresh temporary
//! directory with a cleared environment, against the project's own sandbox (a real HTTP
//! server on 127.0.0.1) and, for `login`, a scripted browser (`tests/support/browser.py`)
//! set as `$BROWSER`. They assert on exit code, stdout, stderr and the bytes on disk.

mod api;
mod cli;
mod crash;
mod doctor;
mod etcd;
mod fleet;
mod kept;
mod layout;
mod login;
mod manual;
mod network;
mod newcomer;
mod real_browser;
mod refresh;
mod safety;
mod seams;
mod shell;
mod shops;
mod throttle;
mod webhook;
mod webhook_sandbox;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const APP_KEY: &str = "29a39d";
pub const APP_SECRET: &str = "e59af819cc";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_tiktok-shop-auth")
}

/// Prints expected and actual, with the command line and the whole output, when a check fails.
#[track_caller]
pub fn check(ok: bool, what: &str, out: &Out) {
    if !ok {
        panic!(
            "check failed: {what}\n--- command: {}\n--- exit code: {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            out.command, out.code, out.stdout, out.stderr
        );
    }
}

/// `haystack` (a part of `out`, or any text) contains `needle`; on failure prints both.
#[track_caller]
pub fn check_contains(haystack: &str, needle: &str, out: &Out) {
    check(haystack.contains(needle), &format!("expected to find {needle:?} in:\n{haystack}"), out);
}

/// `haystack` contains every one of `needles`; on failure prints the first missing and it.
#[track_caller]
pub fn check_contains_all(haystack: &str, needles: &[&str], out: &Out) {
    for needle in needles {
        check_contains(haystack, needle, out);
    }
}

/// `haystack` does not contain `needle`; on failure prints both.
#[track_caller]
pub fn check_lacks(haystack: &str, needle: &str, out: &Out) {
    check(!haystack.contains(needle), &format!("expected NOT to find {needle:?} in:\n{haystack}"), out);
}

#[track_caller]
pub fn check_exit(out: &Out, code: i32) {
    check(out.code == Some(code), &format!("expected exit code {code}"), out);
}

/// A test that cannot set up what it needs (IPv6 loopback, namespaces) says so and passes,
/// except under `CI=true`, where a safety test that did not run must not count as passed.
#[track_caller]
pub fn skip(why: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true, so this cannot be skipped: {why}");
    eprintln!("SKIPPED: {why}");
}

pub struct Out {
    /// The command line, for failure messages.
    pub command: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Out {
    fn from(o: Output) -> Out {
        Out {
            command: String::new(),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// A fresh directory under Cargo's target tmp dir, removed when the test passes.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    /// A directory under the system's temporary directory, mode 0755, for tests that run the
    /// binary as an unprivileged user: the checkout itself may not be readable by others.
    pub fn public(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tsa-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod temp dir");
        }
        TempDir(dir)
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The binary with a cleared environment (PATH kept, for python3 and the like), run in
/// `dir`, with the app's credentials in the environment.
pub fn tool(dir: &TempDir, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir.0)
        .env("TIKTOK_SHOP_APP_KEY", APP_KEY)
        .env("TIKTOK_SHOP_APP_SECRET", APP_SECRET)
        .current_dir(&dir.0)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

pub fn run(mut cmd: Command) -> Out {
    let mut out: Out = cmd.output().expect("run the binary").into();
    out.command = command_line(&cmd);
    out
}

pub fn command_line(cmd: &Command) -> String {
    std::iter::once(cmd.get_program()).chain(cmd.get_args()).map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
}

/// A sandbox on a free loopback port, stopped when dropped; its stderr (the request log)
/// goes to a file.
pub struct Sandbox {
    child: Child,
    pub addr: String,
    log: PathBuf,
}

impl Sandbox {
    pub fn start(dir: &TempDir, redirect: &str, extra: &[&str]) -> Sandbox {
        Sandbox::start_with_env(dir, redirect, extra, &[])
    }

    /// `start`, with these environment variables set for the sandbox alone.
    pub fn start_with_env(dir: &TempDir, redirect: &str, extra: &[&str], env: &[(&str, &str)]) -> Sandbox {
        static N: AtomicUsize = AtomicUsize::new(0);
        let log = dir.path(&format!("sandbox-{}.log", N.fetch_add(1, Ordering::SeqCst)));
        let mut args = vec!["sandbox", "--listen", "127.0.0.1:0", "--redirect-url", redirect];
        args.extend_from_slice(extra);
        let mut cmd = tool(dir, &args);
        cmd.envs(env.iter().copied());
        cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(&log).expect("sandbox log"));
        let mut child = cmd.spawn().expect("start the sandbox");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("sandbox stdout");
        BufReader::new(stdout).read_line(&mut line).expect("sandbox address");
        let addr = line.trim().strip_prefix("sandbox listening on http://").expect("sandbox banner").to_string();
        Sandbox { child, addr, log }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `refresh` (or `shops`) pointed at this sandbox through --auth-base (or --api-base).
    pub fn command(&self, dir: &TempDir, command: &str, extra: &[&str]) -> Command {
        let (flag, base) = (if command == "shops" { "--api-base" } else { "--auth-base" }, self.url());
        let mut args = vec![command, flag, &base];
        args.extend_from_slice(extra);
        tool(dir, &args)
    }

    /// `login` pointed at this sandbox, sending the browser back to `redirect`.
    pub fn login_command(&self, dir: &TempDir, redirect: &str, extra: &[&str]) -> Command {
        let (authorize, base) = (format!("{}/open/authorize", self.url()), self.url());
        let mut args = vec!["login", "--redirect-url", redirect, "--service-id", "7001", "--authorize-url", &authorize];
        args.extend_from_slice(&["--auth-base", &base]);
        args.extend_from_slice(extra);
        tool(dir, &args)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The request log as an `Out`, for checks about what reached the sandbox.
    pub fn log_out(&self) -> Out {
        Out { command: "(the sandbox's request log)".into(), code: None, stdout: String::new(), stderr: self.log() }
    }

    /// Waits (up to 30 s) until the log holds `needle` `times` times: a request has arrived.
    pub fn wait_for(&self, needle: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count(needle) < times {
            assert!(Instant::now() < deadline, "the sandbox never saw {needle:?} {times} times:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub fn count(&self, needle: &str) -> usize {
        self.log().matches(needle).count()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on both 127.0.0.1 and ::1 (for `localhost` redirect URLs).
pub fn free_port() -> u16 {
    loop {
        let v4 = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = v4.local_addr().expect("addr").port();
        if TcpListener::bind(("::1", port)).is_ok() || TcpListener::bind("[::1]:0").is_err() {
            return port;
        }
    }
}

pub fn browser_script() -> String {
    format!("{}/tests/support/browser.py", env!("CARGO_MANIFEST_DIR"))
}

/// `$BROWSER` for the scripted browser doing `actions`, logging to `log`.
pub fn browser_env(log: &Path, actions: &str, redirect: &str) -> String {
    format!("python3 {} {} redirect={redirect},{actions}", browser_script(), log.display())
}

/// The steps the scripted browser logged, once it has finished (bounded wait); none when
/// the browser was never started.
pub fn browser_log(log: &Path) -> Vec<Value> {
    if !log.exists() {
        return Vec::new(); // the tool never started the browser
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains("\"step\": \"done\"") || Instant::now() > deadline {
            return text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn step<'a>(log: &'a [Value], name: &str) -> &'a Value {
    log.iter().find(|v| v["step"] == name).unwrap_or_else(|| panic!("no step {name} in the browser log: {log:#?}"))
}

/// Runs `login` against `sandbox` with the scripted browser; returns its output and the
/// browser's log.
pub fn login(dir: &TempDir, sandbox: &Sandbox, redirect: &str, actions: &str, extra: &[&str]) -> (Out, Vec<Value>) {
    let log = dir.path(&format!("browser-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut cmd = sandbox.login_command(dir, redirect, extra);
    cmd.env("BROWSER", browser_env(&log, actions, redirect));
    let out = run(cmd);
    let steps = browser_log(&log);
    (out, steps)
}

/// A fresh, saved login against a new auto-approving sandbox; returns the sandbox.
pub fn logged_in(dir: &TempDir, sandbox_extra: &[&str]) -> Sandbox {
    logged_in_with_env(dir, sandbox_extra, &[])
}

/// `logged_in`, with these environment variables set for the sandbox alone.
pub fn logged_in_with_env(dir: &TempDir, sandbox_extra: &[&str], env: &[(&str, &str)]) -> Sandbox {
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let mut extra = vec!["--auto-approve"];
    extra.extend_from_slice(sandbox_extra);
    let sandbox = Sandbox::start_with_env(dir, &redirect, &extra, env);
    let (out, _) = login(dir, &sandbox, &redirect, "auto", &[]);
    check_exit(&out, 0);
    sandbox
}

/// A fresh authorization code from an auto-approving sandbox, as its redirect carries it.
pub fn fresh_code(sandbox: &Sandbox) -> String {
    let (status, headers, _) = http_get(&format!("{}/open/authorize?service_id=7001&state=S", sandbox.url()));
    assert_eq!(status, 302, "the sandbox approves at once");
    let location = header(&headers, "location").expect("location").to_string();
    let query = location.split_once('?').map(|(_, q)| q).unwrap_or_default();
    query.split('&').find_map(|p| p.strip_prefix("code=")).expect("a code").to_string()
}

/// Reads a child's stderr up to the line holding the authorization link; returns the link
/// (if one came before the end) and everything read so far.
pub fn read_until_link(stderr: &mut impl BufRead) -> (Option<String>, String) {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).expect("read stderr") == 0 {
            return (None, seen);
        }
        seen.push_str(&line);
        if let Some(rest) = line.trim().strip_prefix("http://") {
            return (Some(format!("http://{rest}")), seen);
        }
    }
}

pub fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("read json")).expect("parse json")
}

/// A token file as TikTok would send it, with the given expiry times.
pub fn token_json(access: &str, access_expires: i64, refresh: &str, refresh_expires: i64) -> String {
    format!(
        r#"{{"code":0,"message":"success","request_id":"R1","data":{{"access_token":"{access}","access_token_expire_in":{access_expires},"refresh_token":"{refresh}","refresh_token_expire_in":{refresh_expires},"open_id":"1","seller_name":"Hand-made","seller_base_region":"GB","user_type":0,"granted_scopes":[],"future_field":{{"kept":true}}}}}}"#
    )
}

pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// A plain HTTP/1.1 GET over a TCP socket: status, headers (lowercase names), body.
pub fn http_get(url: &str) -> (u16, Vec<(String, String)>, String) {
    http_request("GET", url, None)
}

/// One HTTP/1.1 request with an optional JSON body, read to the end of the connection.
pub fn http_request(method: &str, url: &str, json: Option<&str>) -> (u16, Vec<(String, String)>, String) {
    let rest = url.strip_prefix("http://").expect("http url");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut stream = TcpStream::connect(authority.replace("localhost", "127.0.0.1")).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    let body = json.unwrap_or("");
    let content = if json.is_some() {
        format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len())
    } else {
        String::new()
    };
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: {authority}\r\n{content}Connection: close\r\n\r\n{body}")
        .expect("send");
    // Read the head, then Content-Length bytes (some servers keep the connection open
    // whatever `Connection: close` says), or to the end when there is no length.
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).expect("read head") == 0 || line == "\r\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = Vec::new();
    match header(&headers, "content-length").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => {
            body.resize(n, 0);
            reader.read_exact(&mut body).expect("read body");
        }
        None => {
            reader.read_to_end(&mut body).expect("read body");
        }
    }
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

/// Runs `cmd` as an unprivileged user (nobody) when the tests run as root, since root
/// ignores file permissions and "unwritable" would mean nothing. The binary is copied into
/// `dir` (a `TempDir::public`), so the user can run it wherever the checkout lives.
pub fn unprivileged(cmd: Command, dir: &TempDir) -> Command {
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if !is_root {
        return cmd;
    }
    let copy = dir.path("bin/tiktok-shop-auth");
    std::fs::create_dir_all(dir.path("bin")).expect("bin dir");
    std::fs::copy(bin(), &copy).expect("copy the binary");
    let mut wrapped = Command::new("setpriv");
    wrapped.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(&copy).args(cmd.get_args());
    wrapped.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    if let Some(d) = cmd.get_current_dir() {
        wrapped.current_dir(d);
    }
    wrapped.stdin(Stdio::null());
    wrapped
}

#[cfg(unix)]
pub fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}
