//! The crash matrix, the way SQLite tests itself: `refresh`, and `login` after the
//! redirect, run again and again under `strace`, each time killed (SIGKILL) at the next
//! file or socket system call of the run, or with that one call made to fail with an errno
//! that call can really return. After every such run, two ordinary `refresh` runs must
//! succeed (so the refresh token lineage at the sandbox is unbroken), no output may hold a
//! secret or a panic, and nothing may pile up beside the token file.
//!
//! The only runs allowed to lose a grant are those killed inside the window where no
//! program could keep it: after the token request was sent and before the answer's first
//! byte is written to disk. The test also reads that window off the trace and fails if it
//! holds a system call it need not (today: the receive timeout, the read of the answer, and
//! the write that keeps it).
//!
//! The system calls counted are the main thread's (strace without `-f`: helper threads, the
//! stdin reader and the interrupt line's, make none that touch the token file), from the
//! first one of Rust's runtime on (the dynamic loader's before it are not the tool's).
//! Injection counts per system call name, so the n-th `openat` of the recorded run is the
//! n-th of the injected one; each injected run's own trace is checked to have been hit
//! exactly there.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::*;

const TOKENS: &str = "t";
const FILE: &str = "t/shop.json";
/// What may be beside the token file once the two ordinary runs are done.
const ALLOWED: [&str; 3] = ["shop.json", "shop.json.lock", ".shop.json.login.lock"];

/// One system call of a trace: its name and the whole line, for messages.
#[derive(Clone, Debug)]
struct Call {
    name: String,
    line: String,
}

fn strace_missing() -> bool {
    Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
}

/// The calls a trace file holds, in order (signals and exit lines left out, and `mmap`:
/// strace's %desc counts it, as it takes an fd, but it is the allocator's, not a file or
/// socket call of the run's, and how many there are depends on the other threads).
fn calls(trace: &Path) -> Vec<Call> {
    fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let name: String = line.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            (!name.is_empty() && name != "mmap" && line[name.len()..].starts_with('('))
                .then(|| Call { name, line: line.to_string() })
        })
        .collect()
}

/// An errno each system call can really return, as its man page lists.
fn errno_for(name: &str) -> &'static str {
    match name {
        "openat" | "open" | "mkdir" | "mkdirat" | "access" | "faccessat" | "faccessat2" => "EACCES",
        "statx" | "newfstatat" | "stat" | "lstat" | "readlink" | "readlinkat" => "EACCES",
        "write" | "pwrite64" | "writev" | "pwritev" => "ENOSPC",
        "flock" => "ENOLCK",
        "socket" | "socketpair" | "dup" | "dup2" | "dup3" | "pipe2" => "EMFILE",
        "connect" => "ECONNREFUSED",
        "sendto" | "sendmsg" | "recvfrom" | "recvmsg" => "ECONNRESET",
        "setsockopt" | "getsockopt" | "poll" | "ppoll" => "ENOMEM",
        // fcntl(F_GETFD) before a close is std's own check in debug builds (EBADF is what
        // it looks for, and aborts on: an fd it closed twice); EINVAL is what else it returns.
        "fcntl" | "ioctl" => "EINVAL",
        _ => "EIO",
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Kill,
    Fail,
}

/// What a matrix found, for the figures and for the closing note.
#[derive(Default, Debug)]
struct Figures {
    points: usize,
    window: Vec<String>,
    losses: Vec<String>,
}

struct Matrix<'a> {
    dir: &'a TempDir,
    sandbox: &'a Sandbox,
}

impl Matrix<'_> {
    fn refresh(&self) -> Command {
        self.sandbox.command(self.dir, "refresh", &["--token-file", FILE])
    }

    /// `login --manual` onto the token file, with a fresh code waiting on its stdin (the
    /// file named by `code_file`).
    fn login(&self) -> Command {
        let code = fresh_code(self.sandbox);
        let mut cmd =
            self.sandbox.login_command(self.dir, "http://127.0.0.1:3017/", &["--manual", "--token-file", FILE]);
        fs::write(self.code_file(), format!("{code}\n")).unwrap();
        cmd.stdin(fs::File::open(self.code_file()).unwrap());
        cmd
    }

    fn code_file(&self) -> std::path::PathBuf {
        self.dir.path("code.txt")
    }

    /// `cmd` under strace: tracing into `trace`, injecting `inject` if any. A login reads
    /// its code from `code_file`.
    fn traced(&self, cmd: &Command, trace: &Path, inject: Option<String>) -> Out {
        let mut wrapped = Command::new("strace");
        wrapped.args(["-qq", "-e", "signal=none", "-e", "trace=%file,%desc,%network", "-o"]).arg(trace);
        if let Some(inject) = &inject {
            wrapped.args(["-e", &format!("inject={inject}")]);
        }
        wrapped.arg(cmd.get_program()).args(cmd.get_args());
        wrapped.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
        wrapped.current_dir(cmd.get_current_dir().unwrap_or(&self.dir.0));
        let login = cmd.get_args().any(|a| a == "login");
        wrapped.stdin(if login { Stdio::from(fs::File::open(self.code_file()).unwrap()) } else { Stdio::null() });
        let mut out = run(wrapped);
        out.command = format!("{} [{}]", command_line(cmd), inject.unwrap_or_default());
        out
    }

    /// Every secret the token file held before and after, and the app secret.
    fn secrets(&self, before: &Value) -> Vec<String> {
        let mut all = vec![APP_SECRET.to_string()];
        let after = fs::read(self.dir.path(FILE)).ok().and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        for v in [Some(before.clone()), after].into_iter().flatten() {
            for key in ["access_token", "refresh_token"] {
                if let Some(t) = v["data"][key].as_str() {
                    all.push(t.to_string());
                }
            }
        }
        all
    }

    /// Output that must never be seen: a secret, a panic, an abort.
    fn check_clean(&self, out: &Out, secrets: &[String]) {
        for text in [&out.stdout, &out.stderr] {
            for s in secrets {
                check_lacks(text, s, out);
            }
            for bad in ["panicked", "fatal runtime error", "RUST_BACKTRACE"] {
                check_lacks(text, bad, out);
            }
        }
    }

    /// The names beside the token file that should not be there.
    fn piled_up(&self) -> Vec<String> {
        fs::read_dir(self.dir.path(TOKENS))
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !ALLOWED.contains(&n.as_str()))
            .collect()
    }

    /// Two ordinary refreshes; `Ok` when both succeed, else the failing one's output.
    fn two_refreshes(&self, secrets: &[String]) -> Result<(), Out> {
        for _ in 0..2 {
            let out = run(self.refresh());
            self.check_clean(&out, secrets);
            if out.code != Some(0) {
                return Err(out);
            }
        }
        Ok(())
    }

    /// Runs the matrix over `make` (the command under test, and for login the code it will
    /// spend), from the call `start` picks in the recorded trace on.
    fn run(&self, what: &str, make: &dyn Fn() -> Command, start: &dyn Fn(&[Call]) -> usize) -> Figures {
        let trace = self.dir.path(&format!("{what}.trace"));
        let recorded = self.traced(&make(), &trace, None);
        check_exit(&recorded, 0);
        let calls = calls(&trace);
        let from = start(&calls);
        // The window: after the token request went out, up to the write that keeps its answer.
        let sent = calls.iter().position(|c| c.line.contains("\"GET /api/v2/token/")).expect("the token request");
        let kept = sent + calls[sent..].iter().position(|c| c.name == "pwrite64").expect("the answer's write");
        let window: Vec<Call> = calls[sent + 1..=kept].to_vec();
        for c in &window {
            let needed = matches!(c.name.as_str(), "recvfrom" | "read" | "pwrite64")
                || c.name == "setsockopt" && c.line.contains("SO_RCVTIMEO");
            assert!(
                needed,
                "a system call that need not be in the window between the request and the keep:\n{}",
                c.line
            );
        }
        let mut figures = Figures { window: window.iter().map(|c| c.name.clone()).collect(), ..Figures::default() };
        for i in from..calls.len() {
            let name = &calls[i].name;
            let nth = calls[..=i].iter().filter(|c| c.name == *name).count();
            for mode in [Mode::Kill, Mode::Fail] {
                figures.points += 1;
                let before = read_json(&self.dir.path(FILE));
                let secrets = self.secrets(&before);
                let inject = match mode {
                    Mode::Kill => format!("{name}:signal=KILL:when={nth}"),
                    Mode::Fail => format!("{name}:error={}:when={nth}", errno_for(name)),
                };
                // A login's old grant is revoked first, so that a lost answer cannot hide behind
                // the old file still working: the follow-ups then prove the new one was saved.
                let login = what == "login";
                if login {
                    let (status, _, _) = http_request("POST", &format!("{}/sandbox/revoke", self.sandbox.url()), None);
                    assert_eq!(status, 200, "revoke");
                }
                let exchanges = self.sandbox.count("/api/v2/token/get");
                let hit_trace = self.dir.path(&format!("{what}.hit.trace"));
                let out = self.traced(&make(), &hit_trace, Some(inject.clone()));
                self.check_clean(&out, &secrets);
                // The injection landed where the recorded run had this call.
                let hit = calls_until_hit(&hit_trace, mode);
                check(
                    hit == Some(i),
                    &format!("the injection hit call {hit:?}, not {i} ({}): the run is not repeatable", calls[i].line),
                    &out,
                );
                let in_window = i > sent && i <= kept;
                let spent = self.sandbox.count("/api/v2/token/get") > exchanges;
                match self.two_refreshes(&secrets) {
                    Ok(()) => {}
                    // The run stopped before its code was sent: the revoke, not the run, ended
                    // the old grant.
                    Err(_) if login && !spent => self.restore(),
                    Err(failed) if in_window => {
                        figures.losses.push(format!("{mode:?} at {name} #{nth}"));
                        let _ = failed;
                        self.restore();
                    }
                    Err(failed) => panic!(
                        "after {what} with {inject} (call {i}: {}):\n--- the run's stderr:\n{}\n--- then a refresh:\n{}\n{}",
                        calls[i].line, out.stderr, failed.command, failed.stderr
                    ),
                }
                let piled = self.piled_up();
                check(piled.is_empty(), &format!("left beside the token file after {inject}: {piled:?}"), &out);
            }
        }
        figures
    }

    /// A new login after an allowed loss, so the next point starts from a working file.
    fn restore(&self) {
        check_exit(&run(self.login()), 0);
    }
}

/// The index of the call the injection hit: the one marked `(INJECTED)`, or for a kill the
/// last one traced.
fn calls_until_hit(trace: &Path, mode: Mode) -> Option<usize> {
    let calls = calls(trace);
    match mode {
        Mode::Fail => calls.iter().position(|c| c.line.contains("(INJECTED)")),
        Mode::Kill => calls.len().checked_sub(1),
    }
}

/// The first call of Rust's runtime (its check of fds 0 to 2), after the loader's.
fn runtime_start(calls: &[Call]) -> usize {
    calls.iter().position(|c| c.name == "poll").expect("std's first poll")
}

#[test]
fn killed_or_failed_at_every_system_call_refresh_and_login_lose_nothing_outside_the_window() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs Debian's strace)");
    }
    let started = Instant::now();
    let dir = TempDir::new("crash-matrix");
    fs::create_dir(dir.path(TOKENS)).unwrap();
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:3017/", &["--auto-approve"]);
    let matrix = Matrix { dir: &dir, sandbox: &sandbox };
    matrix.restore();
    let refresh = matrix.run("refresh", &|| matrix.refresh(), &runtime_start);
    let refresh_time = started.elapsed();
    // login, from the moment the pasted code is in hand.
    let login = matrix.run("login", &|| matrix.login(), &|calls| {
        calls.iter().position(|c| c.line.contains("exchanging the code")).expect("the exchange")
    });
    eprintln!(
        "crash matrix: refresh {} points (kill and fail), window {:?}, losses {:?}, {:.1} s; \
         login {} points, window {:?}, losses {:?}; {:.1} s in all",
        refresh.points,
        refresh.window,
        refresh.losses,
        refresh_time.as_secs_f64(),
        login.points,
        login.window,
        login.losses,
        started.elapsed().as_secs_f64()
    );
    assert!(refresh.points > 100 && login.points > 40, "the matrix ran: {refresh:?} {login:?}");
}
