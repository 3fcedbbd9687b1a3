//! The etcd store against real etcd (Debian's `etcd-server`, installed by
//! `tests/support/test-deps.sh`): a three-member cluster on free loopback ports, short
//! heartbeat and election timeouts, members killed and restarted, a lock holder stopped
//! past its lease, several tool processes in different directories at once. Each test
//! starts its own cluster and stops it; a watchdog shell beside each member ends it if the
//! test process dies first, so no etcd outlives the tests.

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::*;

fn etcd_missing() -> bool {
    Command::new("etcd").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
}

fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n).map(|_| TcpListener::bind("127.0.0.1:0").expect("bind")).collect();
    listeners.iter().map(|l| l.local_addr().expect("addr").port()).collect()
}

struct Member {
    args: Vec<String>,
    client: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// A cluster of etcd members on loopback, stopped when dropped.
pub struct Cluster {
    members: Vec<Member>,
}

impl Cluster {
    pub fn start(dir: &TempDir, n: usize) -> Cluster {
        let ports = free_ports(2 * n);
        let peers: Vec<String> = (0..n).map(|i| format!("m{i}=http://127.0.0.1:{}", ports[n + i])).collect();
        let members = (0..n)
            .map(|i| {
                let (client, peer) = (ports[i], ports[n + i]);
                let data = dir.path(&format!("etcd-m{i}"));
                let args: Vec<String> = [
                    "--name".to_string(),
                    format!("m{i}"),
                    "--data-dir".into(),
                    data.display().to_string(),
                    "--listen-client-urls".into(),
                    format!("http://127.0.0.1:{client}"),
                    "--advertise-client-urls".into(),
                    format!("http://127.0.0.1:{client}"),
                    "--listen-peer-urls".into(),
                    format!("http://127.0.0.1:{peer}"),
                    "--initial-advertise-peer-urls".into(),
                    format!("http://127.0.0.1:{peer}"),
                    "--initial-cluster".into(),
                    peers.join(","),
                    "--initial-cluster-state".into(),
                    "new".into(),
                    "--heartbeat-interval".into(),
                    "20".into(),
                    "--election-timeout".into(),
                    "200".into(),
                ]
                .into();
                Member { args, client, child: None, log: dir.path(&format!("etcd-m{i}.log")) }
            })
            .collect();
        let mut cluster = Cluster { members };
        for i in 0..n {
            cluster.spawn(i);
        }
        cluster.wait_healthy(&(0..n).collect::<Vec<_>>());
        cluster
    }

    /// The member under a watchdog shell: it ends etcd when told to (TERM) or when the
    /// test process is gone.
    fn spawn(&mut self, i: usize) {
        let member = &mut self.members[i];
        let script = r#"etcd "$@" & e=$!; trap 'kill -9 $e 2>/dev/null; exit 0' TERM INT EXIT
            while kill -0 $PPID 2>/dev/null && kill -0 $e 2>/dev/null; do sleep 0.2; done"#;
        let log = fs::OpenOptions::new().create(true).append(true).open(&member.log).expect("etcd log");
        let child = Command::new("sh")
            .args(["-c", script, "sh"])
            .args(&member.args)
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start etcd");
        member.child = Some(child);
    }

    fn wait_healthy(&self, which: &[usize]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        for &i in which {
            loop {
                let url = format!("http://127.0.0.1:{}/health", self.members[i].client);
                if std::net::TcpStream::connect(("127.0.0.1", self.members[i].client)).is_ok()
                    && http_get(&url).2.contains("\"true\"")
                {
                    break;
                }
                assert!(Instant::now() < deadline, "etcd member {i} never became healthy:\n{}", self.log(i));
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    pub fn log(&self, i: usize) -> String {
        fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    /// `127.0.0.1:P1,127.0.0.1:P2,...`
    pub fn endpoints(&self) -> String {
        self.members.iter().map(|m| format!("127.0.0.1:{}", m.client)).collect::<Vec<_>>().join(",")
    }

    pub fn url(&self, path: &str) -> String {
        format!("etcd://{}/{path}", self.endpoints())
    }

    pub fn client_port(&self, i: usize) -> u16 {
        self.members[i].client
    }

    /// SIGKILL a member (the watchdog goes with it).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
    }

    /// The member that leads now (waiting out an election).
    pub fn leader(&self) -> usize {
        let deadline = Instant::now() + Duration::from_secs(4);
        while Instant::now() < deadline {
            for (i, m) in self.members.iter().enumerate().filter(|(_, m)| m.child.is_some()) {
                let url = format!("http://127.0.0.1:{}/v3/maintenance/status", m.client);
                let (status, _, body) = http_request("POST", &url, Some("{}"));
                let v: Value = serde_json::from_str(&body).unwrap_or_default();
                if status == 200 && v["leader"].is_string() && v["leader"] == v["header"]["member_id"] {
                    return i;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no leader within 15 s")
    }

    /// The value at `key`, read straight from a member.
    pub fn get(&self, key: &str) -> Option<String> {
        let url = format!("http://127.0.0.1:{}/v3/kv/range", self.live_client());
        let body = format!(r#"{{"key":"{}"}}"#, STANDARD.encode(key));
        let (_, _, answer) = http_request("POST", &url, Some(&body));
        let v: Value = serde_json::from_str(&answer).unwrap_or_default();
        let value = v["kvs"][0]["value"].as_str()?;
        String::from_utf8(STANDARD.decode(value).ok()?).ok()
    }

    /// Every key under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        let url = format!("http://127.0.0.1:{}/v3/kv/range", self.live_client());
        let body = format!(
            r#"{{"key":"{}","range_end":"{}","keys_only":true}}"#,
            STANDARD.encode(prefix),
            STANDARD.encode(&end)
        );
        let (_, _, answer) = http_request("POST", &url, Some(&body));
        let v: Value = serde_json::from_str(&answer).unwrap_or_default();
        v["kvs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|kv| kv["key"].as_str())
                    .map(|k| String::from_utf8_lossy(&STANDARD.decode(k).unwrap_or_default()).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn put(&self, key: &str, value: &str) {
        let url = format!("http://127.0.0.1:{}/v3/kv/put", self.live_client());
        let body = format!(r#"{{"key":"{}","value":"{}"}}"#, STANDARD.encode(key), STANDARD.encode(value));
        let (status, _, answer) = http_request("POST", &url, Some(&body));
        assert_eq!(status, 200, "put: {answer}");
    }

    /// A JSON call to the first live member's gateway, with an auth token if given.
    pub fn call(&self, path: &str, body: &str) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}/v3/{path}", self.live_client());
        let (status, _, answer) = http_request("POST", &url, Some(body));
        (status, answer)
    }

    fn live_client(&self) -> u16 {
        self.members.iter().find(|m| m.child.is_some()).expect("a live member").client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

/// A sandbox and an etcd cluster, and a way to sign sellers into it.
struct Setup {
    dir: TempDir,
    sandbox: Sandbox,
    cluster: Cluster,
}

impl Setup {
    fn new(name: &str, sandbox_extra: &[&str]) -> Option<Setup> {
        if etcd_missing() {
            skip("etcd is not installed (tests/support/test-deps.sh installs Debian's etcd-server)");
            return None;
        }
        let dir = TempDir::new(name);
        let mut extra = vec!["--auto-approve"];
        extra.extend_from_slice(sandbox_extra);
        let sandbox = Sandbox::start(&dir, "http://127.0.0.1:3017/", &extra);
        let cluster = Cluster::start(&dir, 3);
        Some(Setup { dir, sandbox, cluster })
    }

    /// The tool in `dir`, with the lease short enough for the tests.
    fn tool(&self, dir: &TempDir, args: &[&str]) -> Command {
        let mut cmd = tool(dir, args);
        cmd.env("TIKTOK_SHOP_ETCD_LEASE_TTL", "2");
        cmd
    }

    fn with_bases(&self, dir: &TempDir, command: &str, extra: &[&str]) -> Command {
        let base = self.sandbox.url();
        let mut args = vec![command, "--auth-base", &base];
        if matches!(command, "api" | "exec" | "shops" | "webhook") {
            args.extend_from_slice(&["--api-base", &base]);
        }
        args.extend_from_slice(extra);
        self.tool(dir, &args)
    }

    /// `login --manual` of a fresh code into `location`.
    fn login(&self, location: &str) -> Out {
        let input = self.dir.path(&format!("code-{}.txt", now_nanos()));
        fs::write(&input, format!("{}\n", fresh_code(&self.sandbox))).unwrap();
        let authorize = format!("{}/open/authorize", self.sandbox.url());
        let mut cmd = self.with_bases(
            &self.dir,
            "login",
            &[
                "--manual",
                "--service-id",
                "7001",
                "--authorize-url",
                &authorize,
                "--redirect-url",
                "http://127.0.0.1:3017/",
                "--token-file",
                location,
            ],
        );
        cmd.stdin(fs::File::open(&input).unwrap());
        run(cmd)
    }
}

fn now_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Login into the store, then refresh, status, token, api and exec from it; the key holds
/// exactly what the token file would; the tool's own keys never show in a seller listing;
/// copy out to files and back.
#[test]
fn etcd_login_refresh_status_token_api_exec_and_copy_from_the_store() {
    let Some(s) = Setup::new("etcd-basics", &[]) else { return };
    let acme = s.cluster.url("tiktok/acme");
    let out = s.login(&acme);
    check_exit(&out, 0);
    check_contains(&out.stdout, &format!("token file     {acme}"), &out);
    let saved = s.cluster.get("tiktok/acme").expect("the key");
    check(
        saved.starts_with("{\n  \"code\": 0,\n  \"data\": {") && saved.ends_with("}\n"),
        "pretty JSON as a file holds",
        &out,
    );
    check_exit(&run(s.with_bases(&s.dir, "refresh", &["--token-file", &acme])), 0);
    let refreshed = s.cluster.get("tiktok/acme").unwrap();
    check(refreshed != saved, "refreshed in the store", &out);
    let out = run(s.tool(&s.dir, &["status", "--json", "--token-file", &acme]));
    check_exit(&out, 0);
    let token = run(s.tool(&s.dir, &["token", "--token-file", &acme]));
    check_exit(&token, 0);
    let v: Value = serde_json::from_str(&refreshed).unwrap();
    check(token.stdout.trim() == v["data"]["access_token"].as_str().unwrap(), "token prints the store's", &token);
    let out = run(s.with_bases(&s.dir, "api", &["--token-file", &acme, "/seller/202309/shops"]));
    check_exit(&out, 0);
    let out = run(s.with_bases(
        &s.dir,
        "exec",
        &["--token-file", &acme, "--", "sh", "-c", "test -n \"$TIKTOK_SHOP_ACCESS_TOKEN\""],
    ));
    check_exit(&out, 0);
    // A second seller; the lock, the reserved and the cache keys are the tool's own.
    check_exit(&s.login(&s.cluster.url("tiktok/delta")), 0);
    s.cluster.put("tiktok/.acme.shops", "{}");
    let out = run(s.tool(&s.dir, &["status", &s.cluster.url("tiktok/")]));
    check_exit(&out, 0);
    let rows: Vec<&str> = out.stdout.lines().skip(1).collect();
    check(
        rows.len() == 2 && rows[0].contains("/tiktok/acme") && rows[1].contains("/tiktok/delta"),
        "two sellers, no side keys",
        &out,
    );
    let out = run(s.with_bases(&s.dir, "refresh", &[&s.cluster.url("tiktok/")]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "2 token files: 2 refreshed", &out);
    // Copy out to files, and back into another prefix.
    let out = run(s.tool(&s.dir, &["copy", &s.cluster.url("tiktok/"), "backup/"]));
    check_exit(&out, 0);
    check(read_json(&s.dir.path("backup/acme.json"))["code"] == 0, "copied out", &out);
    let out = run(s.tool(&s.dir, &["copy", "backup/acme.json", "backup/delta.json", &s.cluster.url("copy/")]));
    check_exit(&out, 0);
    check(s.cluster.get("copy/delta").is_some(), "copied in", &out);
    let again = run(s.tool(&s.dir, &["copy", "backup/acme.json", &s.cluster.url("copy/")]));
    check_exit(&again, 0);
    check_contains(&again.stdout, "already holds these or newer tokens", &again);
    let keys = s.cluster.keys("tiktok/");
    check(
        !keys.iter().any(|k| k.contains(".lock") || k.contains(".tmp")),
        &format!("no lock or reservation left: {keys:?}"),
        &out,
    );
}

/// Three machines (three processes, each in its own directory and HOME) refresh one fleet
/// of 200 sellers at the same moment, 8 at a time each: every seller's refresh token is
/// spent once per refresh, never twice (a double spend would be a seller that needs a new
/// login), and every seller refreshes afterwards.
#[test]
fn three_machines_refresh_one_fleet_at_once_and_spend_each_refresh_token_once() {
    let Some(s) = Setup::new("etcd-fleet", &[]) else { return };
    for i in 0..200 {
        check_exit(&s.login(&s.cluster.url(&format!("fleet/s{i:03}"))), 0);
    }
    let before = s.sandbox.count("/api/v2/token/refresh");
    let prefix = s.cluster.url("fleet/");
    let machines: Vec<(TempDir, Child)> = (0..3)
        .map(|m| {
            let dir = TempDir::new(&format!("etcd-machine-{m}"));
            let child = s
                .with_bases(&dir, "refresh", &["--jobs", "8", &prefix])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            (dir, child)
        })
        .collect();
    // Each machine refreshes the sellers it locks and leaves those another one holds.
    let mut refreshed = 0;
    for (_, child) in machines {
        let out: Out = child.wait_with_output().unwrap().into();
        check_exit(&out, 0);
        check_contains(&out.stdout, "0 need a new login, 0 failed", &out);
        let tally = out.stdout.lines().last().unwrap_or_default().to_string();
        let n: usize = tally.split(": ").nth(1).and_then(|t| t.split(' ').next()).and_then(|n| n.parse().ok()).unwrap();
        refreshed += n;
    }
    check(
        refreshed >= 200,
        &format!("every seller refreshed by one of them ({refreshed} in all)"),
        &s.sandbox.log_out(),
    );
    check(
        s.sandbox.count("/api/v2/token/refresh") - before == refreshed,
        "one request per refresh: none spent a token twice",
        &s.sandbox.log_out(),
    );
    let out = run(s.with_bases(&s.dir, "refresh", &["--jobs", "8", &prefix]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "200 refreshed", &out);
}

fn strace_missing() -> bool {
    Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
}

/// A machine dies mid-spend: a refresh killed after TikTok answered, the moment its answer
/// was written to the cluster (at the read of etcd's reply): the answer's first write is
/// the save itself, so the tokens are in place and the lock let go with it; a run from
/// another directory (another machine) goes on from them at once; nothing spent twice.
#[test]
fn a_machine_killed_after_the_answers_write_leaves_the_tokens_in_place() {
    let Some(s) = Setup::new("etcd-killed", &[]) else { return };
    if strace_missing() {
        return skip("strace is not installed");
    }
    let acme = s.cluster.url("tiktok/acme");
    check_exit(&s.login(&acme), 0);
    let trace = s.dir.path("etcd-kill.trace");
    let cmd = s.with_bases(&s.dir, "refresh", &["--token-file", &acme]);
    let mut w = Command::new("strace");
    w.args(["-qq", "-e", "signal=none", "-e", "trace=sendto,recvfrom", "-s", "64", "-o"]).arg(&trace);
    w.arg(cmd.get_program()).args(cmd.get_args()).current_dir(&s.dir.0);
    w.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    check_exit(&run(w), 0);
    let text = fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // The save: the first txn after TikTok's answer; its last sendto (head and body may be
    // two). The calls are counted by sendto, as many in every run (a read may take one
    // recvfrom or several, as the bytes arrive).
    let request = lines.iter().position(|l| l.contains("GET /api/v2/token/refresh")).unwrap();
    let head = request + lines[request..].iter().position(|l| l.contains("POST /v3/kv/txn")).unwrap();
    let reply = head + lines[head..].iter().position(|l| l.starts_with("recvfrom(")).unwrap();
    let nth = lines[..reply].iter().filter(|l| l.starts_with("sendto(")).count();
    let before = s.cluster.get("tiktok/acme");
    // That sendto done, the run is held at its return (for 4 s); once the cluster has the new
    // tokens (the save applied), it is killed there, before it reads etcd's reply.
    let cmd = s.with_bases(&s.dir, "refresh", &["--token-file", &acme]);
    let mut wrapped = Command::new("strace");
    wrapped.args(["-qq", "-o", "/dev/null", "-e", &format!("inject=sendto:delay_exit=4000000:when={nth}")]);
    wrapped.arg(cmd.get_program()).args(cmd.get_args()).current_dir(&s.dir.0);
    wrapped.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    wrapped.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = wrapped.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(4);
    while s.cluster.get("tiktok/acme") == before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    // strace's pid is the parent; the tool is its only child.
    let tool_pid = fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id())).unwrap_or_default();
    for pid in tool_pid.split_whitespace() {
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }
    let mut killed: Out = child.wait_with_output().unwrap().into();
    killed.command = "refresh held at the save's sendto, then killed".into();
    check(killed.code != Some(0), "killed", &killed);
    check(s.cluster.get("tiktok/acme") != before, "its answer is the tokens now", &killed);
    check(
        s.cluster.get("tiktok/.acme.lock").is_none() && s.cluster.get("tiktok/.acme.tmp").is_none(),
        "let go",
        &killed,
    );
    let other = TempDir::new("etcd-other-machine");
    let started = Instant::now();
    let out = run(s.with_bases(&other, "refresh", &["--token-file", &acme]));
    check_exit(&out, 0);
    check(started.elapsed() < Duration::from_secs(2), "no wait for a dead holder's lease", &out);
    check_exit(&run(s.with_bases(&other, "refresh", &["--token-file", &acme])), 0);
}

/// The `nth` call of `syscall` (counted as strace's injection counts) in a plain refresh
/// of `location` whose line holds `needle`.
fn nth_call(s: &Setup, location: &str, syscall: &str, needle: &str) -> usize {
    let trace = s.dir.path("etcd-calls.trace");
    let cmd = s.with_bases(&s.dir, "refresh", &["--token-file", location]);
    let mut w = Command::new("strace");
    w.args(["-qq", "-e", "signal=none", "-e", &format!("trace={syscall}"), "-s", "64", "-o"]).arg(&trace);
    w.arg(cmd.get_program()).args(cmd.get_args()).current_dir(&s.dir.0);
    w.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    check_exit(&run(w), 0);
    let text = fs::read_to_string(&trace).unwrap();
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no {syscall} with {needle} in:\n{text}"))
        + 1
}

/// A lock holder stopped (SIGSTOP, at one system call) until its lease is over: another
/// run takes the lock over, and the refresh token is still spent once:
/// - stopped before its request (at the connect to TikTok) or with its request out and the
///   answer unread: its reservation is young, so the other run spends nothing and says the
///   first may still be waiting for its answer (exit 1); the first, continued, saves its
///   answer through its reservation (no lock needed for that) and exits 0;
/// - stopped just after its answer's first write (the save itself, which lets go of the
///   lock): the other run goes on from those tokens, and the first, continued, succeeds.
#[test]
fn a_holder_paused_past_its_lease_spends_nothing_twice() {
    let Some(s) = Setup::new("etcd-paused", &[]) else { return };
    if strace_missing() {
        return skip("strace is not installed");
    }
    let acme = s.cluster.url("tiktok/acme");
    check_exit(&s.login(&acme), 0);
    let sandbox_port = s.sandbox.addr.rsplit_once(':').unwrap().1.to_string();
    let cases = [
        ("connect", format!("htons({sandbox_port})"), "before the request"),
        ("sendto", "GET /api/v2/token/refresh".to_string(), "request out"),
        ("sendto", "GET /api/v2/token/refresh".to_string(), "answer kept"),
    ];
    for (syscall, needle, case) in cases {
        let mut at = nth_call(&s, &acme, syscall, &needle);
        if case == "answer kept" {
            // The first txn after the request, the one that keeps the answer: its body's
            // sendto (the head goes in one of its own).
            let trace = fs::read_to_string(s.dir.path("etcd-calls.trace")).unwrap();
            let lines: Vec<&str> = trace.lines().collect();
            at += lines[at..].iter().position(|l| l.contains("POST /v3/kv/txn")).unwrap() + 2;
            assert!(lines[at - 1].contains("compare"), "the txn's body: {}", lines[at - 1]);
        }
        let cmd = s.with_bases(&s.dir, "refresh", &["--token-file", &acme]);
        let mut wrapped = Command::new("strace");
        wrapped.args(["-qq", "-o", "/dev/null", "-e", &format!("inject={syscall}:signal=STOP:when={at}")]);
        wrapped.arg(cmd.get_program()).args(cmd.get_args()).current_dir(&s.dir.0);
        wrapped.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        let paused = wrapped.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let pid = loop {
            let out = Command::new("pgrep").args(["-P", &paused.id().to_string()]).output().unwrap();
            let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
            let stopped = fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|st| st.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with(['T', 't'])));
            if !pid.is_empty() && stopped {
                break pid;
            }
            assert!(Instant::now() < deadline, "{case}: the refresh never stopped");
            std::thread::sleep(Duration::from_millis(20));
        };
        // Past its lease (2 s).
        std::thread::sleep(Duration::from_secs(4));
        let other = TempDir::new("etcd-taker");
        let spent = s.sandbox.count("/api/v2/token/refresh");
        let taker = run(s.with_bases(&other, "refresh", &["--token-file", &acme]));
        if case == "answer kept" {
            check_exit(&taker, 0);
        } else {
            check_exit(&taker, 1);
            check_contains_all(&taker.stderr, &[".acme.tmp", "may still be waiting", "nothing was spent"], &taker);
            check(s.sandbox.count("/api/v2/token/refresh") == spent, "the taker spent nothing", &taker);
        }
        let before = s.cluster.get("tiktok/acme");
        let _ = Command::new("kill").args(["-CONT", &pid]).status();
        let out: Out = paused.wait_with_output().unwrap().into();
        if case == "answer kept" {
            // Its save went through before the stop; the reply came after its 3 s limit, so
            // it may not know that: then it keeps its answer in the local file too, and says
            // so. Either way the lineage is whole: the next run here finds that copy older
            // than the tokens and leaves it.
            check(
                out.code == Some(0) || out.stderr.contains(".tiktok%2Facme."),
                &format!("{case}: saved, or kept"),
                &out,
            );
            check_exit(&run(s.with_bases(&other, "refresh", &["--token-file", &acme])), 0);
            let here = run(s.with_bases(&s.dir, "refresh", &["--token-file", &acme]));
            check_exit(&here, 0);
            check_lacks(&here.stderr, "installed", &here);
            continue;
        }
        check_exit(&out, 0);
        check(s.cluster.get("tiktok/acme") != before, &format!("{case}: the paused run saved its answer"), &out);
        check(s.cluster.get("tiktok/.acme.tmp").is_none(), "its reservation cleared", &out);
        check_exit(&run(s.with_bases(&other, "refresh", &["--token-file", &acme])), 0);
    }
}

/// Members fail during a fleet run: the first listed, then the leader; the run finishes
/// through the others. With every member down: exit 1 naming the endpoints, nothing spent.
/// Restarted, they rejoin and the next run works.
#[test]
fn members_that_die_are_survived_and_none_left_is_exit_1_naming_them() {
    let Some(mut s) = Setup::new("etcd-members", &["--latency", "30ms"]) else { return };
    for i in 0..30 {
        check_exit(&s.login(&s.cluster.url(&format!("fleet/s{i:02}"))), 0);
    }
    let prefix = s.cluster.url("fleet/");
    let child = s
        .with_bases(&s.dir, "refresh", &["--jobs", "4", &prefix])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    s.cluster.kill(0);
    std::thread::sleep(Duration::from_millis(150));
    let leader = s.cluster.leader();
    s.cluster.kill(leader);
    let out: Out = child.wait_with_output().unwrap().into();
    // One member is no quorum: writes after the second kill fail, clearly, and nothing is
    // lost (every seller still refreshes once the members are back).
    check(out.code == Some(0) || out.code == Some(1), "finished or failed clearly", &out);
    check_lacks(&out.stderr, "panicked", &out);
    let live: Vec<usize> = (0..3).filter(|i| *i != 0 && *i != leader).collect();
    for i in (0..3).filter(|i| !live.contains(i)) {
        s.cluster.restart(i);
    }
    s.cluster.wait_healthy(&[0, 1, 2]);
    // The failed run's locks end with its lease (renewed by the new leader): wait it out.
    std::thread::sleep(Duration::from_secs(3));
    let out = run(s.with_bases(&s.dir, "refresh", &["--jobs", "4", &prefix]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "30 refreshed", &out);
    // Every member down: exit 1 naming them, nothing sent to TikTok.
    for i in 0..3 {
        s.cluster.kill(i);
    }
    let before = s.sandbox.count("/api/v2/token/refresh");
    let out = run(s.with_bases(&s.dir, "refresh", &["--token-file", &s.cluster.url("fleet/s00")]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "no etcd member answered", &out);
    check_contains(&out.stderr, &format!("127.0.0.1:{}", s.cluster.client_port(2)), &out);
    check(s.sandbox.count("/api/v2/token/refresh") == before, "nothing spent", &s.sandbox.log_out());
    for i in 0..3 {
        s.cluster.restart(i);
    }
    s.cluster.wait_healthy(&[0, 1, 2]);
    check_exit(&run(s.with_bases(&s.dir, "refresh", &["--token-file", &s.cluster.url("fleet/s00")])), 0);
}

/// Authentication on: a user and password from the environment (or a file) work and the
/// password shows nowhere; a wrong one is a clear usage error.
#[test]
fn authentication_works_and_the_password_is_never_shown() {
    let Some(s) = Setup::new("etcd-auth", &[]) else { return };
    let password = "pw-7Hq2-never-shown";
    for (path, body) in [
        ("auth/user/add", format!(r#"{{"name":"root","password":"{password}"}}"#)),
        ("auth/user/grant", r#"{"user":"root","role":"root"}"#.to_string()),
        ("auth/enable", "{}".to_string()),
    ] {
        let (status, answer) = s.cluster.call(path, &body);
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let acme = s.cluster.url("tiktok/acme");
    let with_auth = |mut cmd: Command, pw: &str| {
        cmd.env("TIKTOK_SHOP_ETCD_USER", "root").env("TIKTOK_SHOP_ETCD_PASSWORD", pw);
        cmd
    };
    let input = s.dir.path("code.txt");
    fs::write(&input, format!("{}\n", fresh_code(&s.sandbox))).unwrap();
    let authorize = format!("{}/open/authorize", s.sandbox.url());
    let mut login = with_auth(
        s.with_bases(
            &s.dir,
            "login",
            &[
                "--manual",
                "--service-id",
                "7001",
                "--authorize-url",
                &authorize,
                "--redirect-url",
                "http://127.0.0.1:3017/",
                "--token-file",
                &acme,
            ],
        ),
        password,
    );
    login.stdin(fs::File::open(&input).unwrap());
    let out = run(login);
    check_exit(&out, 0);
    // -v traces every request, to etcd and to TikTok alike, and none shows the password.
    let out = run(with_auth(s.with_bases(&s.dir, "refresh", &["--token-file", &acme, "-v"]), password));
    check_exit(&out, 0);
    check_contains_all(
        &out.stderr,
        &["/v3/auth/authenticate -> answered", "/v3/kv/txn -> answered", "/api/v2/token/refresh?"],
        &out,
    );
    check_contains(&out.stderr, "refresh_token=***", &out);
    let status = run(with_auth(s.tool(&s.dir, &["status", "--token-file", &acme, "-v"]), password));
    check_exit(&status, 0);
    check_contains(&status.stderr, "/v3/kv/", &status);
    check_lacks(&status.stderr, password, &status);
    fs::write(s.dir.path("etcd-password"), format!("{password}\n")).unwrap();
    let mut from_file = s.tool(&s.dir, &["doctor", "--token-file", &acme, "--etcd-password-file", "etcd-password"]);
    from_file.env("TIKTOK_SHOP_ETCD_USER", "root");
    let doctor = run(from_file);
    check_contains(&doctor.stdout, "authenticated as root", &doctor);
    for o in [&out, &doctor] {
        check_lacks(&o.stdout, password, o);
        check_lacks(&o.stderr, password, o);
    }
    let wrong = run(with_auth(s.with_bases(&s.dir, "refresh", &["--token-file", &acme]), "not-the-password"));
    check_exit(&wrong, 2);
    check_contains(&wrong.stderr, "TIKTOK_SHOP_ETCD_USER", &wrong);
    check_lacks(&wrong.stderr, "not-the-password", &wrong);
    let none = run(s.with_bases(&s.dir, "status", &["--token-file", &acme]));
    check(none.code == Some(2) || none.code == Some(1), "no user: refused, clearly", &none);
}

/// A member that applies a write and closes the connection without a reply: the tool reads
/// back and finds it applied, and does not send it again.
#[test]
fn a_write_answered_with_nothing_is_read_back_not_repeated() {
    let Some(s) = Setup::new("etcd-cut", &[]) else { return };
    let acme = s.cluster.url("tiktok/acme");
    check_exit(&s.login(&acme), 0);
    let port = free_ports(1)[0];
    // Cut the reply to the save of the new tokens: the put of the token key.
    let save = format!("\"request_put\":{{\"key\":\"{}\"", STANDARD.encode("tiktok/acme"));
    let script = format!("{}/tests/support/etcd_cut.py", env!("CARGO_MANIFEST_DIR"));
    let log = s.dir.path("cut.log");
    let mut proxy = Command::new("python3")
        .args([&script, &port.to_string(), &s.cluster.client_port(0).to_string(), &save])
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    BufReader::new(proxy.stdout.as_mut().unwrap()).read_line(&mut ready).unwrap();
    // The proxy is the member listed first.
    let through = format!(
        "etcd://127.0.0.1:{port},127.0.0.1:{},127.0.0.1:{}/tiktok/acme",
        s.cluster.client_port(1),
        s.cluster.client_port(2)
    );
    let before = s.sandbox.count("/api/v2/token/refresh");
    let out = run(s.with_bases(&s.dir, "refresh", &["--token-file", &through]));
    let _ = proxy.kill();
    let _ = proxy.wait();
    let cut = fs::read_to_string(&log).unwrap_or_default();
    check(cut.contains("(cut)"), &format!("the save's reply was cut:\n{cut}"), &out);
    check_exit(&out, 0);
    check(s.sandbox.count("/api/v2/token/refresh") == before + 1, "one spend", &s.sandbox.log_out());
    let saves = cut.lines().filter(|l| l.contains("kv/txn")).count();
    check(saves >= 1, "txns went through the proxy", &out);
    check_exit(&run(s.with_bases(&s.dir, "refresh", &["--token-file", &acme])), 0);
}

/// The README's recipe for trying the store on one machine, run as written: a three-member
/// etcd, the token files copied in, a refresh and a status from the store.
#[test]
fn the_readmes_many_machines_recipe_runs_as_written() {
    if etcd_missing() {
        return skip("etcd is not installed (tests/support/test-deps.sh installs Debian's etcd-server)");
    }
    let readme = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("### Many machines: tokens in etcd").expect("the section")..];
    let start = section.find("```sh\n").expect("its recipe") + "```sh\n".len();
    let recipe = &section[start..start + section[start..].find("```").unwrap()];
    let dir = TempDir::new("etcd-readme");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    fs::create_dir(dir.path("tokens")).unwrap();
    for name in ["acme", "delta"] {
        let (out, _) = login(&dir, &sandbox, &redirect, "auto", &["--token-file", &format!("tokens/{name}.json")]);
        check_exit(&out, 0);
    }
    let data = dir.path("etcd-tiktok");
    let stop = || {
        let _ = Command::new("pkill").arg("-f").arg(data.display().to_string()).status();
    };
    stop();
    let bin_dir = Path::new(bin()).parent().unwrap().display().to_string();
    let cmd = tool(&dir, &[]);
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let mut shell = Command::new("timeout");
    shell.args(["120", "bash", "-e", "-c", recipe]).current_dir(&dir.0).env_clear();
    shell.envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v)))).env("PATH", path);
    shell.env("TIKTOK_SHOP_AUTH_BASE", sandbox.url()).stdin(Stdio::null());
    let out = run(shell);
    stop();
    check_exit(&out, 0);
    check_contains_all(
        &out.stdout,
        &["tokens/acme.json -> etcd://", "copied", "/tiktok/acme", "/tiktok/delta", " ok"],
        &out,
    );
}

/// Quorum lost while a refresh's answer is on the way (two of three members killed): the
/// answer goes to the local file within seconds of arriving, so neither the wait nor a
/// SIGTERM and then a SIGINT (which abandons the run) loses it; once the members are back,
/// the next run in that directory installs it, and the lineage goes on.
#[test]
fn quorum_lost_mid_refresh_keeps_the_answer_in_the_local_file_at_once() {
    let Some(mut s) = Setup::new("etcd-quorum", &["--latency", "2s"]) else { return };
    let acme = s.cluster.url("tiktok/acme");
    check_exit(&s.login(&acme), 0);
    let before = s.cluster.get("tiktok/acme").unwrap();
    let started = Instant::now();
    let child = s
        .with_bases(&s.dir, "refresh", &["--token-file", &acme])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1000));
    s.cluster.kill(0);
    s.cluster.kill(1);
    let local = || {
        fs::read_dir(&s.dir.0)
            .unwrap()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().ends_with(".etcd-kept")))
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let kept = loop {
        if let Some(path) = local().filter(|p| fs::metadata(p).is_ok_and(|m| m.len() > 0)) {
            break path;
        }
        assert!(Instant::now() < deadline, "no local file 20 s after the answer was due");
        std::thread::sleep(Duration::from_millis(50));
    };
    let within = started.elapsed();
    assert!(within < Duration::from_secs(10), "the local file came {within:?} after the start (the answer at 2 s)");
    let name = kept.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with(".tiktok%2Facme.") && name.ends_with(".etcd-kept"), "{name}");
    // Interrupted now, twice (the second abandons whatever it was still trying).
    for signal in ["-TERM", "-INT"] {
        let _ = Command::new("kill").args([signal, &child.id().to_string()]).status();
        std::thread::sleep(Duration::from_millis(300));
    }
    let out: Out = child.wait_with_output().unwrap().into();
    check(out.code != Some(0), "the run did not save", &out);
    let text = fs::read_to_string(&kept).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let old: serde_json::Value = serde_json::from_str(&before).unwrap();
    check(v["data"]["refresh_token"] != old["data"]["refresh_token"], "the new answer is in the local file", &out);
    s.cluster.restart(0);
    s.cluster.restart(1);
    s.cluster.wait_healthy(&[0, 1, 2]);
    std::thread::sleep(Duration::from_secs(3)); // the stopped run's lock ends with its lease
    let next = run(s.with_bases(&s.dir, "refresh", &["--token-file", &acme]));
    check_exit(&next, 0);
    check_contains(&next.stderr, "installed the newer tokens", &next);
    check(!kept.exists(), "the local file went once installed", &next);
    check_exit(&run(s.with_bases(&s.dir, "refresh", &["--token-file", &acme])), 0);
}

/// The local file's name tells apart keys that would flatten to one (`x_y/s`, `x/y/s`): an
/// answer kept for one (every member killed while its answer was on the way) is never
/// installed as the other's, and its own next run installs it.
#[test]
fn local_files_of_two_keys_never_meet() {
    let Some(mut s) = Setup::new("etcd-local-names", &["--latency", "1s"]) else { return };
    let (flat, deep) = (s.cluster.url("x_y/s"), s.cluster.url("x/y/s"));
    check_exit(&s.login(&flat), 0);
    check_exit(&s.login(&deep), 0);
    let child = s
        .with_bases(&s.dir, "refresh", &["--token-file", &deep])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    for i in 0..3 {
        s.cluster.kill(i);
    }
    let out: Out = child.wait_with_output().unwrap().into();
    check_exit(&out, 1);
    check_contains(&out.stderr, ".x%2Fy%2Fs.", &out);
    for i in 0..3 {
        s.cluster.restart(i);
    }
    s.cluster.wait_healthy(&[0, 1, 2]);
    std::thread::sleep(Duration::from_secs(3)); // its lock ends with its lease
    let flat_run = run(s.with_bases(&s.dir, "refresh", &["--token-file", &flat]));
    check_exit(&flat_run, 0);
    check_lacks(&flat_run.stderr, "installed", &flat_run);
    let deep_run = run(s.with_bases(&s.dir, "refresh", &["--token-file", &deep]));
    check_exit(&deep_run, 0);
    check_contains(&deep_run.stderr, "installed the newer tokens", &deep_run);
    check_exit(&run(s.with_bases(&s.dir, "refresh", &["--token-file", &deep])), 0);
    check_exit(&run(s.with_bases(&s.dir, "refresh", &["--token-file", &flat])), 0);
}

/// Seams of the store's names and locks: a seller named like another's recovery key
/// (`acme.recovered-1-x`) is never taken for one; copy refuses a name that would be one of
/// the tool's own keys; doctor sees the leader whatever its id; two copies the opposite
/// ways at once both finish.
#[test]
fn names_that_look_like_the_tools_own_keys_and_opposite_copies() {
    let Some(s) = Setup::new("etcd-seams", &[]) else { return };
    let (acme, lookalike) = (s.cluster.url("tiktok/acme"), s.cluster.url("tiktok/acme.recovered-1-x"));
    check_exit(&s.login(&acme), 0);
    check_exit(&s.login(&lookalike), 0);
    // The look-alike seller's reserved answer is its own, not acme's recovery key.
    let theirs = s.cluster.get("tiktok/acme.recovered-1-x").unwrap();
    s.cluster.put("tiktok/.acme.recovered-1-x.tmp", &theirs);
    let out = run(s.with_bases(&s.dir, "refresh", &["--token-file", &acme]));
    check_exit(&out, 0);
    check_lacks(&out.stderr, "recovered-1-x", &out);
    check(s.cluster.get("tiktok/.acme.recovered-1-x.tmp").is_some(), "left where it is", &out);
    let status = run(s.tool(&s.dir, &["status", "--token-file", &acme]));
    check_exit(&status, 0);
    check_lacks(&status.stderr, "recovered-1-x", &status);
    // copy: a file whose name would be the tool's own key, or no name at all.
    fs::create_dir_all(s.dir.path("cpx")).unwrap();
    let saved = s.cluster.get("tiktok/acme").unwrap();
    for name in [".k.lock.json", ".json", "k.login.json"] {
        fs::write(s.dir.path(&format!("cpx/{name}")), &saved).unwrap();
        let out = run(s.tool(&s.dir, &["copy", &format!("cpx/{name}"), &s.cluster.url("tiktok/")]));
        check_exit(&out, 2);
        check_contains(&out.stderr, "cannot be a seller's name", &out);
    }
    check(s.cluster.keys("tiktok/").iter().all(|k| !k.contains(".k.") && k != "tiktok/"), "no key made", &status);
    // doctor: the leader is seen (its id is a uint64, often beyond i64).
    let doctor = run(s.tool(&s.dir, &["doctor", "--token-file", &acme]));
    check_contains(&doctor.stdout, "a leader", &doctor);
    check_lacks(&doctor.stdout, "no leader", &doctor);
    // Two copies the opposite ways at once, five times: each finishes (no lock waits on
    // the other's), within a short --lock-wait.
    fs::create_dir_all(s.dir.path("files")).unwrap();
    check_exit(&run(s.tool(&s.dir, &["copy", &acme, "files/acme.json"])), 0);
    for _ in 0..5 {
        let mut there = s.tool(&s.dir, &["copy", "--lock-wait", "5s", "files/acme.json", &acme]);
        let there = there.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let back = run(s.tool(&s.dir, &["copy", "--lock-wait", "5s", &acme, "files/acme.json"]));
        let there: Out = there.wait_with_output().unwrap().into();
        check_exit(&back, 0);
        check_exit(&there, 0);
    }
}
