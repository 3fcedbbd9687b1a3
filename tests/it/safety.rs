//! The token is never lost: every way a grant (an authorization code or a refresh token)
//! could be spent and its answer lost, or a secret leak out, met from outside as a user
//! would meet it, against the sandbox: locks, closed pipes, full disks, kills mid-write,
//! hostile answers and redirects, failed saves after the spend.

use std::fs;
use std::io::{BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::*;

const FILE: &str = "tiktok-shop-token.json";

fn spawn_quiet(mut cmd: Command) -> Child {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn")
}

fn finish(child: Child, command: &str) -> Out {
    let mut out: Out = child.wait_with_output().expect("wait").into();
    out.command = command.into();
    out
}

fn temp_leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .expect("read dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!(".{FILE}.")) && n.ends_with(".tmp"))
        .collect()
}

/// The lock is taken before the authorization code is exchanged: when another process holds
/// it, login fails naming the lock file, the code is never sent to TikTok (so it is not lost),
/// nothing is saved and the browser is told.
#[test]
fn login_with_the_lock_held_at_the_redirect_fails_naming_it_and_spends_no_code() {
    let dir = TempDir::new("safety-stuck-lock");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let mut cmd = sandbox.login_command(&dir, &redirect, &["--no-browser", "--lock-wait", "1s"]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let command = command_line(&cmd);
    let mut child = cmd.spawn().expect("spawn login");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (link, seen) = read_until_link(&mut stderr);
    // The room check is over and the listener waits: now a stuck process takes the lock.
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.path(&format!("{FILE}.lock")));
    let lock = lock.expect("open lock");
    lock.lock().expect("take the lock");
    let (status, headers, _) = http_get(&link.expect("a link"));
    assert_eq!(status, 302, "the sandbox approves at once");
    let (page_status, _, page) = http_get(header(&headers, "location").expect("location"));
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).expect("stderr");
    let mut out = finish(child, &command);
    out.stderr = seen + &rest;
    check_exit(&out, 1);
    check_contains(&out.stderr, &format!("{FILE}.lock"), &out);
    check_contains(&out.stderr, "nothing was spent", &out);
    check(sandbox.count("/api/v2/token/get") == 0, "the code was never exchanged", &sandbox.log_out());
    check(!dir.path(FILE).exists(), "no token file", &out);
    check(page_status == 502 && page.contains("Authorization failed"), "the browser is told", &out);
}

/// The lock sits beside the file the links point to, not beside each link: eight
/// overlapping refreshes through two symlinks to one token file take turns, each spending
/// the newest refresh token, and the links stay links.
#[cfg(unix)]
#[test]
fn links_to_one_token_file_share_one_lock_under_overlapping_refreshes() {
    let dir = TempDir::new("safety-aliases");
    let sandbox = logged_in(&dir, &[]);
    fs::create_dir(dir.path("vault")).unwrap();
    fs::rename(dir.path(FILE), dir.path("vault/real.json")).unwrap();
    std::os::unix::fs::symlink("vault/real.json", dir.path("a.json")).unwrap();
    std::os::unix::fs::symlink(dir.path("vault/real.json"), dir.path("b.json")).unwrap();
    let children: Vec<(String, Child)> = (0..8)
        .map(|i| {
            let alias = if i % 2 == 0 { "a.json" } else { "b.json" };
            let cmd = sandbox.command(&dir, "refresh", &["--token-file", alias]);
            (command_line(&cmd), spawn_quiet(cmd))
        })
        .collect();
    for (command, child) in children {
        check_exit(&finish(child, &command), 0);
    }
    let log = sandbox.log_out();
    check(sandbox.count("/api/v2/token/refresh") == 8, "eight refreshes, each with the newest token", &log);
    check(dir.path("vault/real.json.lock").exists(), "the lock is beside the real file", &log);
    check(!dir.path("a.json.lock").exists() && !dir.path("b.json.lock").exists(), "no lock per alias", &log);
    check(fs::symlink_metadata(dir.path("a.json")).unwrap().file_type().is_symlink(), "links kept", &log);
    let out = run(sandbox.command(&dir, "refresh", &["--token-file", "b.json"]));
    check_exit(&out, 0);
    check_exit(&run(sandbox.command(&dir, "shops", &["--token-file", "a.json"])), 0);
}

/// Runs `cmd` with its stdout a pipe whose reader has already gone.
fn with_closed_stdout(mut cmd: Command) -> Out {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped());
    let command = command_line(&cmd);
    let child = cmd.spawn().expect("spawn");
    drop(cmd); // our copy of the pipe's write end
    finish(child, &command)
}

/// A closed stdout means the reader left (as with `| head`), not a failure: every command
/// exits 0 without a panic, and a token-file write that was due (refresh, login) still
/// happens.
#[test]
fn every_command_with_a_closed_stdout_exits_cleanly_and_still_saves() {
    let dir = TempDir::new("safety-epipe");
    let sandbox = logged_in(&dir, &[]);
    let base = sandbox.url();
    let api = ["--api-base", base.as_str()];
    let cases: Vec<Vec<&str>> = vec![
        vec!["--help"],
        vec!["--version"],
        vec!["refresh", "--help"],
        vec!["status"],
        vec!["status", "--json"],
        vec!["token"],
        vec!["shops", api[0], api[1]],
        vec!["shops", "--json", api[0], api[1]],
    ];
    for args in cases {
        let out = with_closed_stdout(tool(&dir, &args));
        check_exit(&out, 0);
        check_lacks(&out.stderr, "panicked", &out);
    }
    let before = fs::read(dir.path(FILE)).unwrap();
    let out = with_closed_stdout(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 0);
    check(fs::read(dir.path(FILE)).unwrap() != before, "the refresh was saved", &out);
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
    // login: the summary goes nowhere, the file is written all the same.
    fs::remove_file(dir.path(FILE)).unwrap();
    let log = dir.path("browser-epipe.log");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let mut cmd = sandbox.login_command(&dir, &redirect, &[]);
    cmd.env("BROWSER", browser_env(&log, "auto", &redirect));
    let out = with_closed_stdout(cmd);
    check_exit(&out, 0);
    check(read_json(&dir.path(FILE))["data"]["access_token"].is_string(), "login saved the file", &out);
}

/// TikTok saying the access token expired (105002) although the token file says it is
/// still valid is exit 5 with the command to run (`refresh`), not a generic failure (exit 1).
#[test]
fn tiktok_refusing_an_expired_access_token_is_exit_5() {
    let dir = TempDir::new("safety-105002");
    // A zero lifetime: the sandbox holds every access token it issues as expired from the
    // second it was issued, so it answers 105002 without the test waiting for a clock.
    let sandbox = logged_in(&dir, &["--access-ttl", "0s"]);
    // The file still believes in the token (its clock, say, was wrong); TikTok does not.
    let mut value = read_json(&dir.path(FILE));
    value["data"]["access_token_expire_in"] = serde_json::json!(now() + 3600);
    fs::write(dir.path(FILE), value.to_string()).unwrap();
    let out = run(sandbox.command(&dir, "shops", &[]));
    check_exit(&out, 5);
    check_contains(&out.stderr, "105002", &out);
    check_contains(&out.stderr, "run `tiktok-shop-auth refresh`", &out);
}

/// Runs `cmd` in a private mount namespace where `fs` is a tmpfs of `size_kib` KiB with
/// 4 KiB already taken (and `seed` copied in as the token file); returns the output, the
/// token file's bytes afterwards and the names in the tmpfs. `None` where mounting is not
/// allowed (not root, no user namespaces).
fn in_small_tmpfs(dir: &TempDir, size_kib: u32, seed: Option<&Path>, cmd: Command) -> Option<(Out, Vec<u8>, String)> {
    let fs_dir = dir.path("fs");
    fs::create_dir_all(&fs_dir).unwrap();
    let probe = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", "mount -t tmpfs -o size=16k tmpfs \"$0\""])
        .arg(&fs_dir)
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        skip("a full file system needs `unshare --mount` and tmpfs mounts, which are not allowed here");
        return None;
    }
    let script = r#"set -e
mount -t tmpfs -o "size=${SIZE}k,mode=0755" tmpfs "$FS"
head -c 4096 /dev/zero > "$FS/filler"
if [ -n "$SEED" ]; then cp "$SEED" "$FS/tiktok-shop-token.json"; fi
set +e
"$@"; rc=$?
ls -A "$FS" > "$LISTING"
if [ -f "$FS/tiktok-shop-token.json" ]; then cp "$FS/tiktok-shop-token.json" "$AFTER"; fi
exit $rc"#;
    let (listing, after) = (dir.path("listing"), dir.path("after.json"));
    let _ = fs::remove_file(&after);
    let mut wrapped = Command::new("unshare");
    wrapped.args(["--mount", "--propagation", "private", "sh", "-c", script, "sh", bin()]).args(cmd.get_args());
    wrapped.env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            wrapped.env(k, v);
        }
    }
    wrapped
        .env("FS", &fs_dir)
        .env("SIZE", size_kib.to_string())
        .env("SEED", seed.map(|p| p.as_os_str().to_owned()).unwrap_or_default())
        .env("LISTING", &listing)
        .env("AFTER", &after)
        .current_dir(&dir.0)
        .stdin(Stdio::null());
    let out = run(wrapped);
    Some((out, fs::read(&after).unwrap_or_default(), fs::read_to_string(&listing).unwrap_or_default()))
}

/// Room for the new token file is reserved before a refresh token or a code is spent (a
/// writable empty file proves nothing: the answer might still not fit). On a full file
/// system refresh and login fail saying nothing was spent: no request reaches TikTok, the
/// token file is byte-identical, no temporary file is left and the browser never opens. With
/// room, the same refresh in the same setup works.
#[test]
fn a_full_file_system_spends_no_refresh_token_and_no_code() {
    let dir = TempDir::new("safety-fullfs");
    let sandbox = logged_in(&dir, &[]);
    let seed = dir.path("seed.json");
    fs::rename(dir.path(FILE), &seed).unwrap();
    let token = dir.path("fs").join(FILE);
    let token = token.to_str().unwrap();
    // 16 KiB with 4 KiB of filler and the token file's page: less than the 16 KiB reserve.
    let Some((out, after, listing)) =
        in_small_tmpfs(&dir, 16, Some(&seed), sandbox.command(&dir, "refresh", &["--token-file", token]))
    else {
        return;
    };
    check_exit(&out, 1);
    check_contains(&out.stderr, "nothing was spent", &out);
    check_contains(&out.stderr, "No space left on device", &out);
    check(sandbox.count("/api/v2/token/refresh") == 0, "no refresh request", &sandbox.log_out());
    check(after == fs::read(&seed).unwrap(), "the token file is byte-identical", &out);
    check(!listing.contains(".tmp"), &format!("no temporary file left: {listing}"), &out);
    // The control: with room, the same refresh in the same setup works.
    let (out, after, _) =
        in_small_tmpfs(&dir, 64, Some(&seed), sandbox.command(&dir, "refresh", &["--token-file", token])).unwrap();
    check_exit(&out, 0);
    check(after != fs::read(&seed).unwrap() && !after.is_empty(), "refreshed with room", &out);

    // login: the room is reserved before the browser opens, so the seller is sent nowhere.
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let log = dir.path("browser-fullfs.log");
    let mut cmd = sandbox.login_command(&dir, &redirect, &["--token-file", token]);
    cmd.env("BROWSER", browser_env(&log, "auto", &redirect));
    let (out, _, listing) = in_small_tmpfs(&dir, 12, None, cmd).unwrap();
    check_exit(&out, 1);
    check_contains(&out.stderr, "nothing was spent", &out);
    check(!log.exists(), "the browser never opened", &out);
    check(sandbox.count("/api/v2/token/get") == 0, "no code exchanged", &sandbox.log_out());
    check(!listing.contains(".tmp"), &format!("no temporary file left: {listing}"), &out);
}

/// An error answer from the token endpoints that echoes the request (secret, refresh token,
/// code) and carries terminal escapes reaches neither the terminal nor the result page: the
/// error code is shown, the secret masked, and no line can be forged.
#[test]
fn an_echoing_token_endpoint_leaks_no_secret_and_no_escape() {
    let dir = TempDir::new("safety-echo");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &["--fault", "echo"]);
    let refresh_token = "TTP_refreshRefreshRefr";
    fs::write(dir.path(FILE), token_json("TTP_accessAccessAccess", now() + 100, refresh_token, now() + 86_400))
        .unwrap();
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "36004099", &out);
    check_contains(&out.stderr, "app_secret=***", &out);
    for leak in [APP_SECRET, refresh_token, "\u{1b}", "\u{7}", "\r"] {
        check_lacks(&out.stderr, leak, &out);
    }
    check(!out.stderr.lines().any(|l| l.starts_with("authorized and saved")), "no forged line", &out);

    // login: the code and the secret stay off the terminal and the result page.
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve", "--fault", "echo"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "auto", &["--token-file", "login.json"]);
    check_exit(&out, 1);
    let sent_to = step(&steps, "redirected")["url"].as_str().unwrap().to_string();
    let code = sent_to.split("code=").nth(1).unwrap().split('&').next().unwrap().to_string();
    let page = step(&steps, "final")["body"].as_str().unwrap().to_string();
    check_contains(&page, "36004099", &out);
    for leak in [APP_SECRET, code.as_str(), "\u{1b}"] {
        check_lacks(&out.stderr, leak, &out);
        check_lacks(&page, leak, &out);
    }
}

/// Any web page can send the seller's browser to the listener with escapes in `error` /
/// `error_description`: the raw escapes reach neither the terminal (which shows them
/// escaped) nor the result page, no line can be forged, login exits 4 and nothing is saved.
#[test]
fn terminal_escapes_in_a_redirect_never_reach_the_terminal() {
    let dir = TempDir::new("safety-escapes");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let (out, steps) = login(&dir, &sandbox, &redirect, "hostile", &[]);
    check_exit(&out, 4);
    for raw in ["\u{1b}", "\u{7}", "\r"] {
        check_lacks(&out.stderr, raw, &out);
        check_lacks(step(&steps, "hostile")["body"].as_str().unwrap(), raw, &out);
    }
    check(!out.stderr.lines().any(|l| l.starts_with("authorized and saved")), "no forged line", &out);
    check_contains(&out.stderr, "\\u{1b}]0;pwned", &out);
    check(!dir.path(FILE).exists(), "nothing saved", &out);
}

/// Paths that cannot be a token file (empty, a trailing slash, a directory, a device) are
/// usage errors (exit 2) before anything is spent, a browser opened, a directory made, or
/// anything read (`/dev/zero` would never end).
#[test]
fn bad_token_paths_are_usage_errors_before_anything_is_spent() {
    let dir = TempDir::new("safety-paths");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    fs::create_dir(dir.path("adir")).unwrap();
    let log = dir.path("browser-paths.log");
    for path in ["", "new/", "adir", "/dev/full", "/dev/zero"] {
        let mut cmd = sandbox.login_command(&dir, &redirect, &["--token-file", path]);
        cmd.env("BROWSER", browser_env(&log, "auto", &redirect));
        let out = run(cmd);
        check_exit(&out, 2);
        check_contains(&out.stderr, "TIKTOK_SHOP_TOKEN_FILE", &out);
        check(!log.exists(), "the browser never opened", &out);
        for command in ["refresh", "status", "token"] {
            let out = run(sandbox.command(&dir, command, &["--token-file", path]));
            check_exit(&out, 2);
        }
    }
    check(sandbox.count("/api/v2/token/") == 0, "nothing spent", &sandbox.log_out());
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        check(
            fs::metadata("/dev/full").unwrap().file_type().is_char_device(),
            "/dev/full is still a device",
            &sandbox.log_out(),
        );
    }
    check(!dir.path("new").exists(), "no directory made for a trailing-slash path", &sandbox.log_out());
    // The secret file is read no further than its first line, and never past 1 MiB.
    let out = run(tool(&dir, &["refresh", "--app-secret-file", "/dev/zero"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "control characters", &out);
}

/// A run killed between write and rename leaves the old token file in place and the new
/// answer (the live tokens) in the reserved file: the next run installs the complete answer
/// instead of using the dead old tokens, says so, and works; a partial one (a run killed
/// mid-write) is removed and the run goes on from the file.
#[test]
fn a_complete_answer_left_by_a_killed_run_is_adopted_and_partial_ones_removed() {
    let dir = TempDir::new("safety-adopt");
    let sandbox = logged_in(&dir, &[]);
    let old = fs::read(dir.path(FILE)).unwrap();
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
    let new = fs::read(dir.path(FILE)).unwrap();
    // As a kill between write and rename leaves it: the old file in place, the answer (with
    // the reserve's trailing spaces) in the reserved file.
    fs::write(dir.path(FILE), &old).unwrap();
    fs::write(dir.path(&format!(".{FILE}.tmp")), [new.as_slice(), &[b' '; 300]].concat()).unwrap();
    // The answer was written after the file was last saved. Login and refresh may fall in one
    // second (equal expiries), and then that order, by modification time, is what makes the
    // answer the newer one: set it, rather than wait for the clock to move on.
    let saved_earlier = std::time::SystemTime::now() - Duration::from_secs(60);
    fs::File::options().write(true).open(dir.path(FILE)).unwrap().set_modified(saved_earlier).unwrap();
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(temp_leftovers(&dir.0).is_empty(), &format!("leftovers: {:?}", temp_leftovers(&dir.0)), &out);
    check_exit(&run(sandbox.command(&dir, "shops", &[])), 0);
    // A run killed while writing its answer: half an answer is nothing to install.
    let now_saved = fs::read(dir.path(FILE)).unwrap();
    fs::write(dir.path(&format!(".{FILE}.tmp")), &now_saved[..now_saved.len() / 2]).unwrap();
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 0);
    check_lacks(&out.stderr, "installed", &out);
    check(temp_leftovers(&dir.0).is_empty(), &format!("leftovers: {:?}", temp_leftovers(&dir.0)), &out);
}

/// 50 refreshes killed with SIGKILL at random moments: the token file is always a
/// complete token response, the next run leaves no temporary file, and it refreshes. The
/// one loss no client can prevent is a kill after TikTok rotated the token but before its
/// answer was read (the whole round trip): then, and only then, the next run is refused
/// with 36004005. That is what a failure may be, never anything else; those are counted,
/// and a fresh login continues the loop. (Adopting an answer a killed run left behind is
/// shown deterministically by the test above.)
#[test]
fn fifty_refreshes_killed_at_random_moments_never_corrupt_the_file() {
    let dir = TempDir::new("safety-kill");
    let mut sandbox = logged_in(&dir, &[]);
    let mut seed = now() as u64 ^ u64::from(std::process::id());
    let mut lost_in_flight = 0;
    for _ in 0..50 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut child = spawn_quiet(sandbox.command(&dir, "refresh", &["-q"]));
        std::thread::sleep(Duration::from_micros(seed % 12_000));
        let _ = child.kill();
        let _ = child.wait();
        let after = run(tool(&dir, &["status"]));
        check_exit(&after, 0);
        let out = run(sandbox.command(&dir, "refresh", &[]));
        check(temp_leftovers(&dir.0).is_empty(), "the next run left no temporary file", &out);
        if out.code == Some(5) {
            check_contains(&out.stderr, "36004005", &out);
            lost_in_flight += 1;
            fs::remove_file(dir.path(FILE)).unwrap();
            sandbox = logged_in(&dir, &[]);
            continue;
        }
        check_exit(&out, 0);
    }
    eprintln!("kill loop: {lost_in_flight} of 50 answers were lost in flight");
    check_exit(&run(sandbox.command(&dir, "shops", &[])), 0);
}

/// A save that fails after the spend: the answer goes to a recovery file, which
/// `login --recover` installs; when even that cannot be written, exit 5 says so plainly.
#[test]
fn a_save_that_fails_after_the_spend_leaves_a_recovery_file_that_recover_installs() {
    let dir = TempDir::new("safety-recover");
    let sandbox = logged_in(&dir, &["--latency", "700ms"]);
    let cmd = sandbox.command(&dir, "refresh", &[]);
    let command = command_line(&cmd);
    let child = spawn_quiet(cmd);
    // The tool holds the lock and the room and waits on the sandbox; the target becomes a
    // directory, so the rename must fail once the refresh token is spent.
    sandbox.wait_for("/api/v2/token/refresh", 1);
    fs::remove_file(dir.path(FILE)).unwrap();
    fs::create_dir(dir.path(FILE)).unwrap();
    let out = finish(child, &command);
    check_exit(&out, 1);
    check_contains(&out.stderr, "login --recover", &out);
    let recovery: Vec<String> = fs::read_dir(&dir.0)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&format!("{FILE}.recovered-")))
        .collect();
    check(recovery.len() == 1, &format!("one recovery file: {recovery:?}"), &out);
    check_contains(&out.stderr, &recovery[0], &out);
    #[cfg(unix)]
    check(mode(&dir.path(&recovery[0])) == 0o600, "recovery file is 0600", &out);
    fs::remove_dir(dir.path(FILE)).unwrap();
    fs::copy(dir.path(&recovery[0]), dir.path("recovered-copy.json")).unwrap();
    let out = run(tool(&dir, &["login", "--recover", &recovery[0]]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "recovered and saved", &out);
    check(!dir.path(&recovery[0]).exists(), "the recovery file is gone once installed", &out);
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
    // An older answer is never installed over newer tokens.
    let before = fs::read(dir.path(FILE)).unwrap();
    let out = run(tool(&dir, &["login", "--recover", "recovered-copy.json"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "already holds newer tokens", &out);
    check(fs::read(dir.path(FILE)).unwrap() == before, "the newer file is untouched", &out);
}

/// Starts a refresh of `token` (as an unprivileged user, so that directory permissions
/// count) against a sandbox whose answers are late, and runs `meanwhile` once the refresh
/// token has reached the sandbox, so while the spend is under way.
#[cfg(unix)]
fn refresh_while(dir: &TempDir, sandbox: &Sandbox, token: &Path, meanwhile: impl FnOnce()) -> Out {
    let cmd = unprivileged(sandbox.command(dir, "refresh", &["--token-file", token.to_str().unwrap()]), dir);
    let command = command_line(&cmd);
    let child = spawn_quiet(cmd);
    sandbox.wait_for("/api/v2/token/refresh", 1);
    meanwhile();
    finish(child, &command)
}

/// A logged-in token file in `tokens/` owned by the unprivileged user, for `refresh_while`.
#[cfg(unix)]
fn owned_token_dir(dir: &TempDir) -> (Sandbox, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let sandbox = logged_in(dir, &["--latency", "700ms"]);
    let tokens = dir.path("tokens");
    fs::create_dir(&tokens).unwrap();
    fs::rename(dir.path(FILE), tokens.join(FILE)).unwrap();
    for p in [&tokens, &tokens.join(FILE)] {
        let _ = std::os::unix::fs::chown(p, Some(65534), Some(65534));
    }
    fs::set_permissions(&tokens, fs::Permissions::from_mode(0o755)).unwrap();
    (sandbox, tokens.join(FILE))
}

fn kept_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// The directory turns read-only while the refresh token is being spent: neither the token
/// file nor a recovery file can be written, and the answer stays in the reserved temporary
/// file, named in the error (exit 1, not "sign in again"). The next run in a writable
/// directory moves it into place, and its refresh token is the live one.
#[cfg(unix)]
#[test]
fn a_read_only_directory_after_the_spend_keeps_the_answer_for_the_next_run() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::public("safety-readonly");
    let (sandbox, token) = owned_token_dir(&dir);
    let tokens = token.parent().unwrap().to_path_buf();
    let out = refresh_while(&dir, &sandbox, &token, || {
        fs::set_permissions(&tokens, fs::Permissions::from_mode(0o555)).unwrap();
    });
    fs::set_permissions(&tokens, fs::Permissions::from_mode(0o755)).unwrap();
    check_exit(&out, 1);
    let kept = kept_files(&tokens);
    check(kept.len() == 1, &format!("the answer is kept: {kept:?}"), &out);
    check_contains(&out.stderr, &kept[0], &out);
    check_contains(&out.stderr, "not deleted", &out);
    check_lacks(&out.stderr, "sign in again", &out);
    let out = run(unprivileged(sandbox.command(&dir, "refresh", &["--token-file", token.to_str().unwrap()]), &dir));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(kept_files(&tokens).is_empty(), "moved into place", &out);
}

/// The save fails after the spend (the target became a directory) and no recovery file can
/// be made (every name it could take is taken): the answer is kept in the reserved file,
/// where it was laid out the moment it arrived, and not deleted although it could be. The
/// next run installs it.
#[test]
fn a_failed_save_with_no_recovery_file_keeps_the_answer_it_was_given() {
    let dir = TempDir::new("safety-keep");
    let sandbox = logged_in(&dir, &["--latency", "700ms"]);
    let cmd = sandbox.command(&dir, "refresh", &[]);
    let command = command_line(&cmd);
    let child = spawn_quiet(cmd);
    sandbox.wait_for("/api/v2/token/refresh", 1);
    fs::remove_file(dir.path(FILE)).unwrap();
    fs::create_dir(dir.path(FILE)).unwrap();
    let blockers: Vec<PathBuf> = (now() - 2..now() + 120).map(|t| dir.path(&format!("{FILE}.recovered-{t}"))).collect();
    for b in &blockers {
        fs::create_dir(b).unwrap();
    }
    let out = finish(child, &command);
    check_exit(&out, 1);
    let kept = temp_leftovers(&dir.0);
    check(kept.len() == 1, &format!("the answer is kept: {kept:?}"), &out);
    check_contains(&out.stderr, &kept[0], &out);
    let answer = read_json(&dir.path(&kept[0]));
    check(answer["data"]["refresh_token"].is_string(), "a whole token response", &out);
    fs::remove_dir(dir.path(FILE)).unwrap();
    for b in &blockers {
        fs::remove_dir(b).unwrap();
    }
    let out = run(tool(&dir, &["status"]));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(read_json(&dir.path(FILE)) == answer, "the kept answer is the token file", &out);
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
}

/// Exit 5 ("sign in again") is for an answer that exists nowhere: here the reserved file is
/// deleted from under the run and the directory made read-only while the refresh token is
/// spent.
#[cfg(unix)]
#[test]
fn a_spent_grant_whose_answer_exists_nowhere_is_exit_5() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::public("safety-lost");
    let (sandbox, token) = owned_token_dir(&dir);
    let tokens = token.parent().unwrap().to_path_buf();
    let out = refresh_while(&dir, &sandbox, &token, || {
        for name in kept_files(&tokens) {
            fs::remove_file(tokens.join(name)).unwrap();
        }
        fs::set_permissions(&tokens, fs::Permissions::from_mode(0o555)).unwrap();
    });
    fs::set_permissions(&tokens, fs::Permissions::from_mode(0o755)).unwrap();
    check_exit(&out, 5);
    check_contains(&out.stderr, "must sign in again", &out);
}
