//! A kept answer is never stranded, no failure is silent, a login never replaces another
//! seller's grant, and an interrupt waits for the answer: each met from outside, with
//! `strace --inject` making one system call fail where a disk or a directory would.

use std::fs;
use std::io::BufReader;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::*;

const FILE: &str = "tiktok-shop-token.json";

fn strace_missing() -> bool {
    Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err()
}

/// `cmd` with one system call made to fail (`inject`, strace's syntax).
fn failing(cmd: Command, inject: &str) -> Out {
    wrapped(cmd, inject, None)
}

/// `failing`, for the calls on `path` alone (strace's `-P`).
fn failing_on(cmd: Command, inject: &str, path: &Path) -> Out {
    wrapped(cmd, inject, Some(path))
}

fn wrapped(cmd: Command, inject: &str, path: Option<&Path>) -> Out {
    let mut wrapped = Command::new("strace");
    wrapped.args(["-qq", "-o", "/dev/null", "-e", &format!("inject={inject}")]);
    if let Some(path) = path {
        wrapped.arg("-P").arg(path);
    }
    wrapped.arg(cmd.get_program()).args(cmd.get_args());
    wrapped.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    if let Some(d) = cmd.get_current_dir() {
        wrapped.current_dir(d);
    }
    wrapped.stdin(Stdio::null());
    let mut out = run(wrapped);
    out.command = format!("{} [{inject}]", command_line(&cmd));
    out
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn recoveries(dir: &TempDir) -> Vec<String> {
    names(&dir.0).into_iter().filter(|n| n.starts_with(&format!("{FILE}.recovered-"))).collect()
}

/// The cron story: the flush of the new file fails after the refresh token was spent (exit
/// 1, the answer in a recovery file); the next plain `refresh` installs that answer, says
/// so, and refreshes from it (exit 0), with nothing left beside the file; a third run too.
#[test]
fn a_failed_flush_after_the_spend_is_installed_and_refreshed_by_the_next_plain_run() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-cron");
    let sandbox = logged_in(&dir, &[]);
    let before = fs::read(dir.path(FILE)).unwrap();
    // The only fsync of a refresh before the rename is the new file's.
    let out = failing(sandbox.command(&dir, "refresh", &[]), "fsync:error=EIO:when=1");
    check_exit(&out, 1);
    let kept = recoveries(&dir);
    check(kept.len() == 1, &format!("one recovery file: {kept:?}"), &out);
    check_contains(&out.stderr, &kept[0], &out);
    check_contains(&out.stderr, "the next run that takes the lock", &out);
    check(fs::read(dir.path(FILE)).unwrap() == before, "the file was left as it was", &out);
    let answer = read_json(&dir.path(&kept[0]));
    let out = run(sandbox.command(&dir, "refresh", &["-q"]));
    check_exit(&out, 0);
    check_contains(
        &out.stderr,
        &format!("installed the newer tokens that an earlier run kept in `./{}`", kept[0]),
        &out,
    );
    check(
        read_json(&dir.path(FILE))["data"]["access_token"] != answer["data"]["access_token"],
        "refreshed from it",
        &out,
    );
    check(sandbox.count("36004005") == 0, "no dead refresh token was spent", &sandbox.log_out());
    check(recoveries(&dir).is_empty() && !dir.path(&format!(".{FILE}.tmp")).exists(), "nothing left", &out);
    let out = run(sandbox.command(&dir, "refresh", &["-q"]));
    check_exit(&out, 0);
    check(out.stderr.is_empty(), "a third run says nothing", &out);
}

/// The same after a login: the code's answer is kept, and the next refresh installs it.
#[test]
fn a_failed_save_after_a_login_is_installed_by_the_next_refresh() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-login");
    let sandbox = logged_in(&dir, &[]);
    let code = fresh_code(&sandbox);
    let input = dir.path("code.txt");
    fs::write(&input, format!("{code}\n")).unwrap();
    let mut cmd = sandbox.login_command(&dir, "http://127.0.0.1:3017/", &["--manual"]);
    cmd.stdin(fs::File::open(&input).unwrap());
    let mut wrapped = Command::new("strace");
    wrapped.args(["-qq", "-o", "/dev/null", "-e", "inject=rename:error=EIO:when=1"]);
    wrapped.arg(cmd.get_program()).args(cmd.get_args()).current_dir(&dir.0);
    wrapped.env_clear().envs(cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    wrapped.stdin(fs::File::open(&input).unwrap());
    let out = run(wrapped);
    check_exit(&out, 1);
    let kept = recoveries(&dir);
    check(kept.len() == 1, &format!("one recovery file: {kept:?}"), &out);
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(recoveries(&dir).is_empty(), "installed and removed", &out);
}

/// A failed flush of the directory after the rename is said, naming the directory: the new
/// tokens are in use (exit 0) but could come undone by a power loss.
#[test]
fn a_failed_directory_flush_is_reported_not_ignored() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-dirsync");
    let sandbox = logged_in(&dir, &[]);
    fs::create_dir(dir.path("vault")).unwrap();
    fs::rename(dir.path(FILE), dir.path("vault/shop.json")).unwrap();
    // The new file's fsync is the first, the directory's the second.
    let out = failing(sandbox.command(&dir, "refresh", &["--token-file", "vault/shop.json"]), "fsync:error=EIO:when=2");
    check_exit(&out, 0);
    check_contains_all(&out.stderr, &["warning", "flushing its directory `vault`", "power loss"], &out);
    check_exit(&run(sandbox.command(&dir, "refresh", &["--token-file", "vault/shop.json"])), 0);
}

/// std panics when closing a directory fails: the listing that finds recovery files (done
/// only when something was kept) never closes it, so an EIO from every `close` of the run
/// that installs a kept answer is no panic, and the answer is installed.
#[test]
fn failing_closes_while_installing_a_kept_answer_do_not_panic() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-closedir");
    let sandbox = logged_in(&dir, &[]);
    let out = failing(sandbox.command(&dir, "refresh", &[]), "fsync:error=EIO:when=1");
    check_exit(&out, 1);
    // Every close of the token directory itself (the listing's, the flush's) fails.
    let tokens = fs::canonicalize(&dir.0).unwrap();
    let mut cmd = sandbox.command(&dir, "refresh", &[]);
    cmd.current_dir(&tokens);
    let out = failing_on(cmd, "close:error=EIO:when=1+", &tokens);
    check_lacks(&out.stderr, "panicked", &out);
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
}

/// Kept answers that are not this file's to install are left where they are and named; a
/// refused refresh token with one of the seller's own beside the file (here an older one)
/// is exit 1 naming it, never "sign in again"; another seller's beside it changes nothing
/// (exit 5: it cannot be this grant's successor).
#[test]
fn a_refused_refresh_token_with_a_kept_answer_beside_names_it_instead_of_asking_for_a_login() {
    let dir = TempDir::new("kept-refused");
    let sandbox = logged_in(&dir, &[]);
    let saved = read_json(&dir.path(FILE));
    let mut older = saved.clone();
    older["data"]["access_token_expire_in"] = (now() - 86_400).into();
    older["data"]["access_token"] = "TTP_olderAccessToken".into();
    let own = dir.path(&format!("{FILE}.recovered-1700000000"));
    fs::write(&own, older.to_string()).unwrap();
    let other = token_json("TTP_otherAccessToken", now() + 3600, "TTP_otherRefreshToken", now() + 86_400);
    let theirs = dir.path(&format!("{FILE}.recovered-1700000001"));
    fs::write(&theirs, &other).unwrap();
    fs::write(dir.path(&format!(".{FILE}.tmp")), b"   ").unwrap();
    let (status, _, _) = http_request("POST", &format!("{}/sandbox/revoke", sandbox.url()), None);
    assert_eq!(status, 200);
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 1);
    check_contains_all(
        &out.stderr,
        &["1700000000` beside", "not newer", "1700000001` beside", "another seller's"],
        &out,
    );
    check_contains(
        &out.stderr,
        &format!("but `./{FILE}.recovered-1700000000` beside it holds this seller's tokens"),
        &out,
    );
    check_contains(&out.stderr, "login --recover", &out);
    check(own.exists() && theirs.exists(), "left where they are", &out);
    check(!dir.path(&format!(".{FILE}.tmp")).exists(), "the empty reserved file went", &out);
    fs::remove_file(&own).unwrap();
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 5);
}

/// A login approved by another seller than the one whose tokens the file holds leaves the
/// file as it was and keeps the new answer beside it, exit 1 naming both sellers; the file's
/// own seller still refreshes and nothing installs the other's tokens; `--replace` replaces.
#[test]
fn a_login_by_another_seller_keeps_the_file_and_replace_replaces_it() {
    let dir = TempDir::new("kept-other-seller");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let acme = Sandbox::start(&dir, &redirect, &["--auto-approve", "--open-id", "1001", "--seller-name", "Acme"]);
    let (out, _) = login(&dir, &acme, &redirect, "auto", &["--token-file", "acme.json"]);
    check_exit(&out, 0);
    let before = fs::read(dir.path("acme.json")).unwrap();
    let delta =
        Sandbox::start(&dir, &redirect, &["--auto-approve", "--open-id", "2002", "--seller-name", "Delta Goods"]);
    let (out, _) = login(&dir, &delta, &redirect, "auto", &["--token-file", "acme.json"]);
    check_exit(&out, 1);
    check_contains_all(
        &out.stderr,
        &["Acme (open_id 1001)", "Delta Goods (open_id 2002)", "acme.json", "--replace"],
        &out,
    );
    check(fs::read(dir.path("acme.json")).unwrap() == before, "acme's file is as it was", &out);
    let kept: Vec<String> = names(&dir.0).into_iter().filter(|n| n.starts_with("acme.json.recovered-")).collect();
    check(kept.len() == 1, &format!("delta's answer kept: {kept:?}"), &out);
    check(read_json(&dir.path(&kept[0]))["data"]["open_id"] == "2002", "it is delta's", &out);
    let out = run(acme.command(&dir, "refresh", &["--token-file", "acme.json"]));
    check_exit(&out, 0);
    check(read_json(&dir.path("acme.json"))["data"]["open_id"] == "1001", "still acme's", &out);
    check(dir.path(&kept[0]).exists(), "delta's answer is not installed", &out);
    let (out, _) = login(&dir, &delta, &redirect, "auto", &["--token-file", "acme.json", "--replace"]);
    check_exit(&out, 0);
    check(read_json(&dir.path("acme.json"))["data"]["open_id"] == "2002", "replaced on purpose", &out);
}

/// Two logins onto one file: the second waits for the first (--lock-wait), then stops
/// naming it, before it listens or opens anything; the first goes on and saves.
#[test]
fn a_second_login_onto_the_same_file_stops_naming_the_first() {
    let dir = TempDir::new("kept-two-logins");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let mut first = sandbox.login_command(&dir, &redirect, &["--no-browser"]);
    first.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut first = first.spawn().unwrap();
    let mut stderr = BufReader::new(first.stderr.take().unwrap());
    let (link, _) = read_until_link(&mut stderr);
    let started = Instant::now();
    let second = run(sandbox.login_command(&dir, &redirect, &["--no-browser", "--lock-wait", "1s"]));
    check_exit(&second, 1);
    check_contains_all(&second.stderr, &["another `tiktok-shop-auth login` is signing in", ".login.lock"], &second);
    check_lacks(&second.stderr, "listening", &second);
    check(started.elapsed() >= Duration::from_millis(900), "it waited", &second);
    let (status, headers, _) = http_get(&link.unwrap());
    assert_eq!(status, 302);
    let _ = http_get(header(&headers, "location").unwrap());
    let status = first.wait().unwrap();
    assert!(status.success(), "the first login saved");
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert!(read_json(&dir.path(FILE))["code"] == 0, "saved: {rest}");
}

/// A refresh interrupted (SIGINT, SIGTERM) while its request is in flight finishes the
/// exchange and the save, says so, and then stops as asked (130, 143): the next refresh
/// works. A second SIGINT abandons at once, as the first line warned: that answer is lost.
#[cfg(unix)]
#[test]
fn an_interrupt_during_the_token_request_waits_for_the_answer_and_a_second_abandons_it() {
    let dir = TempDir::new("kept-interrupt");
    let sandbox = logged_in(&dir, &["--latency", "1500ms"]);
    for (signal, status) in [("INT", 130), ("TERM", 143)] {
        let before = read_json(&dir.path(FILE));
        let requests = sandbox.count("/api/v2/token/refresh");
        let child =
            sandbox.command(&dir, "refresh", &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        sandbox.wait_for("/api/v2/token/refresh", requests + 1);
        std::thread::sleep(Duration::from_millis(200));
        kill(child.id(), signal);
        let mut out: Out = child.wait_with_output().unwrap().into();
        out.command = format!("refresh, SIG{signal} while its request was in flight");
        check_exit(&out, status);
        check_contains(&out.stderr, "interrupted: finishing the token request first", &out);
        check_contains(
            &out.stderr,
            &format!("stopped by SIG{signal} after the token request in flight was answered and saved"),
            &out,
        );
        check(read_json(&dir.path(FILE))["data"]["access_token"] != before["data"]["access_token"], "saved", &out);
        check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
    }
    // Twice: abandoned, and the grant is spent (exit 5 next), as the first line warned.
    let requests = sandbox.count("/api/v2/token/refresh");
    let child = sandbox.command(&dir, "refresh", &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    sandbox.wait_for("/api/v2/token/refresh", requests + 1);
    std::thread::sleep(Duration::from_millis(200));
    kill(child.id(), "INT");
    std::thread::sleep(Duration::from_millis(200));
    kill(child.id(), "INT");
    let started = Instant::now();
    let out: Out = child.wait_with_output().unwrap().into();
    check_exit(&out, 130);
    check(started.elapsed() < Duration::from_millis(1000), "abandoned at once", &out);
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 5);
}

/// Outside the window (here: waiting for the lock), an interrupt ends the run at once, as
/// it always did: nothing is spent.
#[cfg(unix)]
#[test]
fn an_interrupt_with_no_grant_in_flight_ends_the_run_at_once() {
    use std::os::unix::process::ExitStatusExt;
    let dir = TempDir::new("kept-interrupt-idle");
    let sandbox = logged_in(&dir, &[]);
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.path(&format!("{FILE}.lock")));
    let lock = lock.unwrap();
    lock.lock().unwrap();
    let child = sandbox.command(&dir, "refresh", &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    kill(child.id(), "INT");
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.signal(), Some(2), "killed by SIGINT: {output:?}");
    drop(lock);
    assert_eq!(sandbox.count("/api/v2/token/refresh"), 0, "nothing was sent");
    check_exit(&run(sandbox.command(&dir, "refresh", &[])), 0);
}

#[cfg(unix)]
fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status().unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// A run that fails while installing a kept answer (a full disk at that moment) leaves
/// everything for the next one: the reserved file still marks it, and the next plain run
/// installs it.
#[test]
fn a_failure_while_installing_a_kept_answer_leaves_it_for_the_next_run() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-install-fails");
    let sandbox = logged_in(&dir, &[]);
    check_exit(&failing(sandbox.command(&dir, "refresh", &[]), "rename:error=EIO:when=1"), 1);
    let out = failing(sandbox.command(&dir, "refresh", &[]), "pwrite64:error=ENOSPC:when=1");
    check_exit(&out, 1);
    check(dir.path(&format!(".{FILE}.tmp")).exists() && recoveries(&dir).len() == 1, "still marked and kept", &out);
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(recoveries(&dir).is_empty(), "installed", &out);
    check(sandbox.count("36004005") == 0, "no spent refresh token sent", &sandbox.log_out());
}

/// `login --replace` whose save fails: the other seller's answer waits in a recovery file
/// that `login --recover FILE --replace` installs (no later run installs it by itself).
#[test]
fn a_failed_save_of_a_replacing_login_is_installed_by_recover_replace() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-replace");
    let _acme = logged_in(&dir, &[]);
    let delta = Sandbox::start(&dir, "http://127.0.0.1:3017/", &["--auto-approve", "--open-id", "2002"]);
    let input = dir.path("code.txt");
    fs::write(&input, format!("{}\n", fresh_code(&delta))).unwrap();
    let login = delta.login_command(&dir, "http://127.0.0.1:3017/", &["--manual", "--replace"]);
    let mut wrapped = Command::new("strace");
    wrapped.args(["-qq", "-o", "/dev/null", "-e", "inject=rename:error=EIO:when=1"]);
    wrapped.arg(login.get_program()).args(login.get_args()).current_dir(&dir.0);
    wrapped.env_clear().envs(login.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    wrapped.stdin(fs::File::open(&input).unwrap());
    let out = run(wrapped);
    check_exit(&out, 1);
    let kept = recoveries(&dir);
    check(kept.len() == 1, &format!("kept: {kept:?}"), &out);
    check_contains(&out.stderr, &format!("login --recover ./{} --replace", kept[0]), &out);
    let out = run(tool(&dir, &["login", "--recover", &kept[0], "--replace"]));
    check_exit(&out, 0);
    check(read_json(&dir.path(FILE))["data"]["open_id"] == "2002", "replaced", &out);
    check_exit(&run(delta.command(&dir, "refresh", &[])), 0);
}

/// A corrupt token file with a kept answer beside it: the kept answer is set aside (never
/// over the corrupt file, never lost), and a new login can replace the corrupt file.
#[test]
fn a_corrupt_file_with_a_kept_answer_beside_can_be_replaced_by_a_login() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-corrupt");
    let sandbox = logged_in(&dir, &[]);
    check_exit(&failing(sandbox.command(&dir, "refresh", &[]), "rename:error=EIO:when=1"), 1);
    fs::write(dir.path(FILE), b"{\"broken\":true}").unwrap();
    let input = dir.path("code.txt");
    fs::write(&input, format!("{}\n", fresh_code(&sandbox))).unwrap();
    let mut login = sandbox.login_command(&dir, "http://127.0.0.1:3017/", &["--manual"]);
    login.stdin(fs::File::open(&input).unwrap());
    let out = run(login);
    check_exit(&out, 0);
    check_contains(&out.stderr, "they were moved to", &out);
    check(read_json(&dir.path(FILE))["code"] == 0, "the login replaced the corrupt file", &out);
    check(recoveries(&dir).len() == 2, "both copies of the kept answer are still there, named", &out);
}

/// A hand-made token file without `open_id`: its own kept answer is its seller's.
#[test]
fn a_file_without_open_id_installs_its_own_kept_answer() {
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let dir = TempDir::new("kept-no-open-id");
    let sandbox = logged_in(&dir, &[]);
    let mut saved = read_json(&dir.path(FILE));
    saved["data"].as_object_mut().unwrap().remove("open_id");
    fs::write(dir.path(FILE), serde_json::to_string_pretty(&saved).unwrap()).unwrap();
    check_exit(&failing(sandbox.command(&dir, "refresh", &[]), "rename:error=EIO:when=1"), 1);
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check_lacks(&out.stderr, "another seller", &out);
}

/// Names the tool keeps beside token files are no token files, and a directory where the
/// reserved file goes is said to be one.
#[test]
fn side_file_names_are_refused_as_token_files() {
    let dir = TempDir::new("kept-names");
    for name in [".x.json.tmp", "x.json.lock", "x.json.recovered-1700000000", ".x.json.shops"] {
        let out = run(tool(&dir, &["status", "--token-file", name]));
        check_exit(&out, 2);
        check_contains(&out.stderr, "the tool keeps beside a token file", &out);
    }
    let sandbox = logged_in(&dir, &[]);
    fs::create_dir(dir.path(&format!(".{FILE}.tmp"))).unwrap();
    let out = run(sandbox.command(&dir, "refresh", &[]));
    check_exit(&out, 1);
    check_contains(&out.stderr, "is a directory where the tool keeps", &out);
}

/// A fleet interrupted while files are in flight finishes those (counted as refreshed),
/// begins no more (counted as stopped), and exits 130; an interrupt is no cover for a
/// failure, whose status stands.
#[cfg(unix)]
#[test]
fn an_interrupted_fleet_counts_what_it_did_and_begins_no_more() {
    let dir = TempDir::new("kept-fleet-interrupt");
    let sandbox = logged_in(&dir, &["--latency", "800ms"]);
    let files: Vec<String> = (0..6).map(|i| format!("s{i}.json")).collect();
    for f in &files {
        fs::copy(dir.path(FILE), dir.path(f)).unwrap();
    }
    // Each copy's refresh token is the same one: only the first spend works, the rest need
    // a login, which is fine here (the test counts, it does not need them refreshed).
    let requests = sandbox.count("/api/v2/token/refresh");
    let mut args = vec!["--jobs", "2"];
    args.extend(files.iter().map(String::as_str));
    let child = sandbox.command(&dir, "refresh", &args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    sandbox.wait_for("/api/v2/token/refresh", requests + 2);
    std::thread::sleep(Duration::from_millis(200));
    kill(child.id(), "INT");
    let out: Out = child.wait_with_output().unwrap().into();
    check_contains(&out.stdout, "4 not begun (stopped)", &out);
    check(sandbox.count("/api/v2/token/refresh") == requests + 2, "no more requests", &sandbox.log_out());
    // One of the two in flight needed a new login (its refresh token was spent by the
    // other): that status (5) stands.
    check_exit(&out, 5);
}

/// Root runs `status` on a token file another user owns while a kept answer waits beside
/// it: the answer is installed, and the file still belongs to its owner, whose own cron
/// run then works.
#[cfg(unix)]
#[test]
fn a_kept_answer_installed_by_another_user_keeps_the_files_owner() {
    use std::os::unix::fs::MetadataExt;
    if strace_missing() {
        return skip("strace is not installed (tests/support/test-deps.sh installs it)");
    }
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if !is_root {
        return skip("needs root, to run the owner's refresh as another user");
    }
    let dir = TempDir::public("kept-owner");
    let sandbox = logged_in(&dir, &[]);
    let tokens = dir.path("tokens");
    fs::create_dir(&tokens).unwrap();
    fs::rename(dir.path(FILE), tokens.join(FILE)).unwrap();
    for p in [&tokens, &tokens.join(FILE)] {
        std::os::unix::fs::chown(p, Some(65534), Some(65534)).unwrap();
    }
    let file = tokens.join(FILE);
    let as_owner = || unprivileged(sandbox.command(&dir, "refresh", &["--token-file", file.to_str().unwrap()]), &dir);
    let owner_run = as_owner();
    let mut wrapped = Command::new("strace");
    wrapped.args(["-qq", "-o", "/dev/null", "-e", "inject=rename:error=EIO:when=1"]);
    wrapped.arg(owner_run.get_program()).args(owner_run.get_args()).current_dir(&dir.0);
    wrapped.env_clear().envs(owner_run.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    check_exit(&run(wrapped), 1);
    let out = run(tool(&dir, &["status", "--token-file", file.to_str().unwrap()]));
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(fs::metadata(&file).unwrap().uid() == 65534, "still the owner's", &out);
    check_exit(&run(as_owner()), 0);
}
