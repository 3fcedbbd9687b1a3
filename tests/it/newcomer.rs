//! A newcomer's first hour: the README's sandbox walk-through run as written, a sandbox that
//! needs no configuration and has many sellers, fix-it messages that keep the file they are
//! about, and the hints where a first try goes wrong.

use crate::*;
use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};

/// The README's "Five minutes with the sandbox", every `sh` block as written, in one shell
/// with nothing in its environment but PATH and HOME. What the test adds is only what a
/// person adds by being slower than a script: after the line that starts the sandbox (or the
/// receiver) in the background it waits for the port to answer, and at the end it waits for
/// the delivery, then stops both.
#[test]
fn the_readmes_walk_through_runs_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = &readme[readme.find("\n## Five minutes with the sandbox\n").expect("the walk-through")..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    let blocks: Vec<&str> = section.split("```sh\n").skip(1).map(|b| &b[..b.find("```").unwrap()]).collect();
    assert!(blocks.len() >= 4, "the walk-through has its blocks: {blocks:#?}");
    let dir = TempDir::new("walk-through");
    std::os::unix::fs::symlink(concat!(env!("CARGO_MANIFEST_DIR"), "/tests"), dir.path("tests")).unwrap();
    // As written: the README's ports (nothing else in the tests uses them).
    let (sandbox_port, receiver_port) = ("8017", "8000");
    for port in [sandbox_port, receiver_port] {
        if TcpListener::bind(format!("127.0.0.1:{port}")).is_err() {
            return skip(&format!("port {port}, which the walk-through uses, is taken on this machine"));
        }
    }
    let wait = |port: &str| format!("until (exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null; do sleep 0.05; done\n");
    // Whatever happens, the background jobs end with the shell.
    let mut script = String::from("set -e\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n");
    for block in &blocks {
        for line in block.lines() {
            script.push_str(line);
            script.push('\n');
            if line.starts_with("tiktok-shop-auth sandbox") {
                script.push_str(&wait(sandbox_port));
            }
            if line.contains("demo_receiver.py") {
                script.push_str(&wait(receiver_port));
            }
        }
    }
    script.push_str(
        "for i in $(seq 400); do grep -q 'receiver: data' walk.out && break; sleep 0.05; done\nkill %1 %2\nwait\n",
    );
    let bin_dir = Path::new(bin()).parent().unwrap().display().to_string();
    let mut shell = Command::new("timeout");
    shell.args(["120", "bash", "-c", &script]).current_dir(&dir.0).env_clear();
    shell.env("PATH", format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default())).env("HOME", &dir.0);
    shell.stdout(std::fs::File::create(dir.path("walk.out")).unwrap()).stdin(Stdio::null());
    shell.stderr(std::fs::File::create(dir.path("walk.err")).unwrap());
    let mut out = run(shell);
    out.stdout = std::fs::read_to_string(dir.path("walk.out")).unwrap_or_default();
    out.stderr = std::fs::read_to_string(dir.path("walk.err")).unwrap_or_default();
    // `wait` after the kills: the shell's status is the last job's (killed), so judge by the output.
    check_contains_all(
        &out.stdout,
        &[
            &format!("sandbox listening on http://127.0.0.1:{sandbox_port}"),
            "authorized",
            "shop 7",
            "a token of",
            "subscribed: ",
            "receiver: valid signature: ORDER_STATUS_CHANGE",
            "CANCELLED",
        ],
        &out,
    );
    // The lines the README says to paste are the very lines the sandbox prints.
    for line in blocks[1].lines() {
        check_contains(&out.stdout, line, &out);
    }
    check_lacks(&out.stderr, "error", &out);
    check(read_json(&dir.path("tiktok-shop-token.json"))["data"]["access_token"].is_string(), "saved", &out);
}

/// The sandbox as a newcomer starts it: no app, no flags but a port, an empty environment.
/// Returns it with the environment its paste lines set.
fn bare_sandbox(dir: &TempDir, extra: &[&str]) -> (Child, String, Vec<(String, String)>) {
    let mut cmd = Command::new(bin());
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).current_dir(&dir.0);
    cmd.args(["sandbox", "--listen", "127.0.0.1:0"]).args(extra);
    cmd.stdout(Stdio::piped()).stderr(std::fs::File::create(dir.path("sandbox.log")).unwrap());
    let mut child = cmd.spawn().expect("start the sandbox");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let url = first.strip_prefix("sandbox listening on ").expect("the banner").to_string();
    let mut env = Vec::new();
    for line in lines.map_while(Result::ok) {
        if let Some(pairs) = line.strip_prefix("export ") {
            env.extend(pairs.split(' ').filter_map(|p| p.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())));
        }
        if line.contains("/sandbox/code | tiktok-shop-auth login --manual") {
            break;
        }
    }
    (child, url, env)
}

/// The tool with only what the sandbox's lines set.
fn pasted(dir: &TempDir, env: &[(String, String)], args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("HOME", &dir.0);
    cmd.envs(env.iter().map(|(k, v)| (k, v))).current_dir(&dir.0).args(args).stdin(Stdio::null());
    cmd
}

/// `login --manual` with `input` piped in, as `curl ... | tiktok-shop-auth login --manual`.
fn piped_login(mut cmd: Command, input: &str) -> Out {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let line = command_line(&cmd);
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{input}\n").as_bytes()).unwrap();
    let mut out: Out = child.wait_with_output().unwrap().into();
    out.command = line;
    out
}

#[test]
fn the_sandbox_needs_nothing_and_many_sellers_take_turns() {
    let dir = TempDir::new("bare-sandbox");
    let (mut child, url, env) = bare_sandbox(&dir, &["--sellers", "3"]);
    let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
    for key in ["TIKTOK_SHOP_APP_KEY", "TIKTOK_SHOP_APP_SECRET", "TIKTOK_SHOP_SERVICE_ID", "TIKTOK_SHOP_AUTHORIZE_URL"]
    {
        assert!(keys.contains(&key), "the paste lines set {key}: {env:?}");
    }
    std::fs::create_dir(dir.path("tokens")).unwrap();
    let mut open_ids = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let (status, _, code) = http_get(&format!("{url}/sandbox/code"));
        assert_eq!(status, 200, "GET /sandbox/code: {code}");
        let file = format!("tokens/{name}.json");
        let out = piped_login(pasted(&dir, &env, &["login", "--manual", "--token-file", &file]), code.trim());
        check_exit(&out, 0);
        open_ids.push(read_json(&dir.path(&file))["data"]["open_id"].as_str().unwrap().to_string());
    }
    // Three sellers in turn, then the first again.
    assert!(open_ids[0] != open_ids[1] && open_ids[1] != open_ids[2] && open_ids[0] != open_ids[2], "{open_ids:?}");
    assert_eq!(open_ids[3], open_ids[0], "{open_ids:?}");
    // The many-sellers recipe against it: every file refreshes, each its own seller's.
    let files = ["tokens/a.json", "tokens/b.json", "tokens/c.json", "tokens/d.json"];
    let mut args = vec!["refresh", "--jobs", "4"];
    args.extend(files);
    let out = run(pasted(&dir, &env, &args));
    check_exit(&out, 0);
    check_contains(&out.stdout, "Sandbox Test Shop 2", &out);
    let mut args = vec!["status", "--json"];
    args.extend(files);
    let out = run(pasted(&dir, &env, &args));
    check_exit(&out, 0);
    // One file's `status --json` has the same `state` as each row of the many-file one.
    let one = run(pasted(&dir, &env, &["status", "--json", "--token-file", "tokens/b.json"]));
    check_exit(&one, 0);
    let one: Value = serde_json::from_str(&one.stdout).unwrap();
    assert_eq!(one["state"], "ok", "{one:#}");
    // exec without --shop passes a one-shop seller's shop, as api picks it.
    let cipher = run(pasted(
        &dir,
        &env,
        &["api", "/authorization/202309/shops", "--pick", "/data/shops/0/cipher", "--token-file", "tokens/a.json"],
    ));
    check_exit(&cipher, 0);
    let out = run(pasted(
        &dir,
        &env,
        &["exec", "--token-file", "tokens/a.json", "--", "sh", "-c", "echo \"$TIKTOK_SHOP_SHOP_CIPHER\""],
    ));
    check_exit(&out, 0);
    check(out.stdout.trim() == cipher.stdout.trim(), "the one shop's cipher", &out);
    assert!(!out.stdout.trim().is_empty());
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn fix_it_messages_repeat_the_file_by_its_absolute_path() {
    let dir = TempDir::new("fix-it");
    std::fs::create_dir_all(dir.path("my tokens")).unwrap();
    let out = run(tool(&dir, &["refresh", "--token-file", "tokens/delta.json"]));
    check_exit(&out, 5);
    let abs = dir.path("tokens/delta.json").display().to_string();
    check_contains(&out.stderr, &format!("no token file at `{abs}`"), &out);
    check_contains(&out.stderr, &format!("run `tiktok-shop-auth login --token-file {abs}` first"), &out);
    // A path that needs quoting is quoted, so the advice can be pasted.
    std::fs::write(dir.path("my tokens/x.json"), "{").unwrap();
    let out = run(tool(&dir, &["status", "--token-file", "my tokens/x.json"]));
    check_exit(&out, 1);
    let abs = dir.path("my tokens/x.json").display().to_string();
    check_contains(&out.stderr, &format!("run `tiktok-shop-auth login --token-file '{abs}'` to replace it"), &out);
}

#[test]
fn login_with_no_browser_suggests_manual_and_no_browser() {
    let dir = TempDir::new("no-browser");
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let mut cmd = tool(&dir, &["login", "--service-id", "7001", "--redirect-url", &redirect, "--timeout", "1"]);
    cmd.env("BROWSER", "false");
    let out = run(cmd);
    check_exit(&out, 3);
    check_contains_all(&out.stderr, &["open the link above by hand", "`--manual`", "`--no-browser`"], &out);
}

#[test]
fn an_unwritable_directory_is_fine_until_something_is_due_then_names_owner_and_mode() {
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::public("ro-dir");
    let sandbox = logged_in(&dir, &[]);
    let ro = dir.path("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::copy(dir.path("tiktok-shop-token.json"), ro.join("t.json")).unwrap();
    std::fs::set_permissions(ro.join("t.json"), std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let path = ro.join("t.json").display().to_string();
    let base = sandbox.url();
    let out = run(unprivileged(
        tool(&dir, &["refresh", "--if-expiring-within", "1d", "--token-file", &path, "--auth-base", &base]),
        &dir,
    ));
    check_exit(&out, 0);
    check(sandbox.count("/api/v2/token/refresh") == 0, "nothing due, nothing spent", &out);
    check(!ro.join("t.json.lock").exists(), "no lock file made", &out);
    let out = run(unprivileged(tool(&dir, &["refresh", "--token-file", &path, "--auth-base", &base]), &dir));
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false);
    if is_root {
        check_exit(&out, 1);
        check_contains_all(
            &out.stderr,
            &["ermission denied", "is owned by root (uid 0), mode 0555", "this run is"],
            &out,
        );
        check(sandbox.count("/api/v2/token/refresh") == 0, "refresh token not spent", &out);
    }
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_second_subscribe_says_what_it_replaced() {
    let dir = TempDir::new("subscribe-twice");
    let sandbox = logged_in(&dir, &[]);
    let base = sandbox.url();
    let subscribe = |address: &str| {
        run(tool(
            &dir,
            &["webhook", "subscribe", "ORDER_STATUS_CHANGE", address, "--api-base", &base, "--auth-base", &base],
        ))
    };
    let out = subscribe("http://127.0.0.1:9/first");
    check_exit(&out, 0);
    check_lacks(&out.stderr, "replaced", &out);
    let out = subscribe("http://127.0.0.1:9/second");
    check_exit(&out, 0);
    check_contains(&out.stderr, "this replaced http://127.0.0.1:9/first", &out);
    check_contains(&out.stderr, "one address per shop and event type", &out);
}

#[test]
fn a_flag_typo_gets_did_you_mean() {
    let dir = TempDir::new("typo");
    for (args, near) in [
        (&["api", "/seller/202309/shops", "--pagiante"][..], "`--paginate`"),
        (&["refresh", "--if-expring-within", "1d"][..], "`--if-expiring-within`"),
    ] {
        let out = run(tool(&dir, args));
        check_exit(&out, 2);
        check_contains(&out.stderr, &format!("did you mean {near}?"), &out);
    }
    let out = run(tool(&dir, &["api", "/seller/202309/shops", "--zzzzzzzzzz"]));
    check_exit(&out, 2);
    check_lacks(&out.stderr, "did you mean", &out);
}

/// An app key given without a secret: the sandbox uses its test secret, so its lines show it.
#[test]
fn a_key_without_a_secret_gets_the_test_secret_in_the_lines() {
    let dir = TempDir::new("key-only");
    let (mut child, _, env) = bare_sandbox(&dir, &["--app-key", "mykey"]);
    let _ = child.kill();
    let _ = child.wait();
    assert!(env.contains(&("TIKTOK_SHOP_APP_KEY".into(), "mykey".into())), "{env:?}");
    assert!(env.iter().any(|(k, v)| k == "TIKTOK_SHOP_APP_SECRET" && !v.is_empty()), "{env:?}");
}
