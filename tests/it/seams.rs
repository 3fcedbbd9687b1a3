//! The seams between files: a sibling whose name extends this one's, the shop cache beside
//! the token file, one file under two names, a file given as its own recovery file, a
//! reader meeting a dead run's answer, names and contents that are outside text.

use std::fs;
use std::process::Stdio;

use serde_json::Value;

use crate::*;

/// A sandbox standing for one seller (its own `open_id`), and `file` logged in through it.
fn seller(dir: &TempDir, file: &str, open_id: &str, extra: &[&str]) -> Sandbox {
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let name = format!("Seller {open_id}");
    let mut args = vec!["--auto-approve", "--open-id", open_id, "--seller-name", &name];
    args.extend_from_slice(extra);
    let sandbox = Sandbox::start(dir, &redirect, &args);
    let (out, _) = login(dir, &sandbox, &redirect, "auto", &["--token-file", file]);
    check_exit(&out, 0);
    sandbox
}

/// One order search through `api` (it needs the shop list, so it reads the shop cache).
fn orders(dir: &TempDir, base: &str, file: &str) -> Out {
    let search = ["/order/202309/orders/search", "--query", "page_size=1", "--data", "{}"];
    run(tool(dir, &[&["api", "--api-base", base, "--token-file", file][..], &search].concat()))
}

fn refresh(dir: &TempDir, sandbox: &Sandbox, file: &str) -> Out {
    run(sandbox.command(dir, "refresh", &["--token-file", file]))
}

fn open_id(dir: &TempDir, file: &str) -> String {
    read_json(&dir.path(file))["data"]["open_id"].as_str().unwrap_or_default().to_string()
}

/// The names in `dir` that a shell's `*.json` matches (no dot-files).
fn glob_json(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.') && n.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// As a run killed after its answer was kept leaves it: `file` back at its old bytes, the
/// newer answer in `.<file>.tmp`. Returns the newer answer.
fn leave_newer_answer(dir: &TempDir, sandbox: &Sandbox, file: &str) -> Value {
    let old = fs::read(dir.path(file)).unwrap();
    check_exit(&refresh(dir, sandbox, file), 0);
    let new = fs::read(dir.path(file)).unwrap();
    fs::write(dir.path(file), &old).unwrap();
    let (parent, name) = file.rsplit_once('/').unwrap_or(("", file));
    let temp = if parent.is_empty() { format!(".{name}.tmp") } else { format!("{parent}/.{name}.tmp") };
    fs::write(dir.path(&temp), [new.as_slice(), &[b' '; 64]].concat()).unwrap();
    serde_json::from_slice(&new).unwrap()
}

/// `acme` and `acme.us` in one directory are two sellers: `acme`'s runs never adopt nor
/// delete `acme.us`'s temporary files, whether left by a dead run or live.
#[test]
fn a_sibling_whose_name_extends_this_ones_is_never_touched() {
    let dir = TempDir::new("seams-sibling");
    let acme = seller(&dir, "acme", "1001", &[]);
    let us = seller(&dir, "acme.us", "2002", &["--latency", "600ms"]);
    // A dead run of acme.us left its (newer) answer: acme's refresh must leave it alone.
    let kept = leave_newer_answer(&dir, &us, "acme.us");
    let leftover = dir.path(".acme.us.tmp");
    let out = refresh(&dir, &acme, "acme");
    check_exit(&out, 0);
    check_lacks(&out.stderr, "installed the newer tokens", &out);
    check(open_id(&dir, "acme") == "1001", "acme still holds its own seller", &out);
    check(leftover.exists(), "acme.us's leftover is still there", &out);
    let out = run(tool(&dir, &["token", "acme"]));
    check_exit(&out, 0);
    // acme.us's own run adopts it, and its refresh token is the live one.
    let out = refresh(&dir, &us, "acme.us");
    check_exit(&out, 0);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(!leftover.exists(), "adopted", &out);
    check(read_json(&dir.path("acme.us"))["data"]["access_token"] != kept["data"]["access_token"], "refreshed", &out);
    // A live run of acme.us (waiting on the network) and a run of acme at the same moment.
    let mut cmd = us.command(&dir, "refresh", &["--token-file", "acme.us"]);
    let command = command_line(&cmd);
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    us.wait_for("/api/v2/token/refresh", 3);
    check_exit(&refresh(&dir, &acme, "acme"), 0);
    let mut out: Out = child.wait_with_output().unwrap().into();
    out.command = command;
    check_exit(&out, 0);
    check(open_id(&dir, "acme.us") == "2002" && open_id(&dir, "acme") == "1001", "each file its own seller", &out);
    check_exit(&refresh(&dir, &us, "acme.us"), 0);
}

/// The shop cache is a dot-file beside the token file: the README's cron line and
/// `status tokens/*.json` see token files only. An old-style cache is moved on first use.
#[test]
fn the_shop_cache_is_matched_by_no_token_glob() {
    let dir = TempDir::new("seams-cache");
    fs::create_dir(dir.path("tokens")).unwrap();
    let sandbox = seller(&dir, "tokens/acme.json", "1001", &[]);
    let base = sandbox.url();
    fs::write(dir.path("tokens/acme.json.shops.json"), r#"{"open_id":"1001","fetched_at":1,"shops":[]}"#).unwrap();
    let out = orders(&dir, &base, "tokens/acme.json");
    check_exit(&out, 0);
    check(dir.path("tokens/.acme.json.shops").exists(), "the cache is a dot-file", &out);
    check(!dir.path("tokens/acme.json.shops.json").exists(), "the old cache was moved", &out);
    let files: Vec<String> = glob_json(&dir.path("tokens")).iter().map(|n| format!("tokens/{n}")).collect();
    check(files == ["tokens/acme.json"], &format!("the glob matches the token file alone: {files:?}"), &out);
    let mut args = vec!["--if-expiring-within", "2d", "-q"];
    args.extend(files.iter().map(String::as_str));
    let out = run(sandbox.command(&dir, "refresh", &args));
    check_exit(&out, 0);
    check(out.stdout.is_empty() && out.stderr.is_empty(), "cron mails nothing", &out);
    let out = run(tool(&dir, &[&["status"], files.iter().map(String::as_str).collect::<Vec<_>>().as_slice()].concat()));
    check_exit(&out, 0);
}

/// One file under several names is refreshed once; `--token-file` beside files is refused.
#[cfg(unix)]
#[test]
fn one_file_under_several_names_is_refreshed_once() {
    let dir = TempDir::new("seams-names");
    let sandbox = seller(&dir, "a.json", "1001", &[]);
    std::os::unix::fs::symlink("a.json", dir.path("link.json")).unwrap();
    let abs = dir.path("a.json").to_string_lossy().into_owned();
    let out = run(sandbox.command(&dir, "refresh", &["a.json", "./a.json", "link.json", &abs]));
    check_exit(&out, 0);
    check(sandbox.count("/api/v2/token/refresh") == 1, "refreshed once", &sandbox.log_out());
    check_contains(&out.stderr, "is the same file as `a.json`: refreshed once", &out);
    check_contains(&out.stdout, "1 token files: 1 refreshed", &out);
    for command in ["refresh", "status", "token"] {
        let out = run(tool(&dir, &[command, "--token-file", "a.json", "a.json"]));
        check_exit(&out, 2);
        check_contains(&out.stderr, "--token-file", &out);
    }
    check(sandbox.count("/api/v2/token/refresh") == 1, "nothing more spent", &sandbox.log_out());
}

/// `login --recover` refuses (exit 2, both files as they were) the token file itself under
/// any name, another seller's answer, and a FIFO (which would never end).
#[cfg(unix)]
#[test]
fn recover_refuses_the_token_file_itself_another_sellers_answer_and_a_fifo() {
    let dir = TempDir::new("seams-recover");
    let acme = seller(&dir, "tok.json", "1001", &[]);
    let _other = seller(&dir, "other.json", "2002", &[]);
    std::os::unix::fs::symlink("tok.json", dir.path("link.json")).unwrap();
    let before = fs::read(dir.path("tok.json")).unwrap();
    let other = fs::read(dir.path("other.json")).unwrap();
    let abs = dir.path("tok.json").to_string_lossy().into_owned();
    for from in ["tok.json", "./tok.json", abs.as_str(), "link.json"] {
        let out = run(tool(&dir, &["login", "--recover", from, "--token-file", "tok.json"]));
        check_exit(&out, 2);
        check_contains(&out.stderr, "is the token file `tok.json` itself", &out);
        check(fs::read(dir.path("tok.json")).unwrap() == before, "the token file is untouched", &out);
    }
    let out = run(tool(&dir, &["login", "--recover", "other.json", "--token-file", "tok.json"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "another seller (Seller 2002, open_id 2002)", &out);
    check_contains(&out.stderr, "(Seller 1001, open_id 1001)", &out);
    check(fs::read(dir.path("tok.json")).unwrap() == before, "the token file is untouched", &out);
    check(fs::read(dir.path("other.json")).unwrap() == other, "the other file is untouched", &out);
    // A FIFO as the recovery file, and at the shop cache's path: an answer, not a hang.
    let made = Command::new("mkfifo").arg(dir.path("fifo")).arg(dir.path(".tok.json.shops")).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let out = run(tool(&dir, &["login", "--recover", "fifo", "--token-file", "tok.json"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "FIFO", &out);
    let out = orders(&dir, &acme.url(), "tok.json");
    check_exit(&out, 0);
}

/// After a run was killed with its answer kept, the readers (`token`, `status`) hand out
/// the new access token, not the one TikTok has replaced: adopted under the lock, or used
/// as it is while another run holds the lock.
#[test]
fn readers_use_the_newer_answer_a_dead_run_left() {
    let dir = TempDir::new("seams-readers");
    let sandbox = seller(&dir, "tok.json", "1001", &[]);
    let newer = leave_newer_answer(&dir, &sandbox, "tok.json");
    let new_token = newer["data"]["access_token"].as_str().unwrap().to_string();
    // The lock is held (a refresh under way): the reader uses the answer, adopts nothing.
    let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.path("tok.json.lock")).unwrap();
    lock.lock().unwrap();
    let out = run(tool(&dir, &["token", "--token-file", "tok.json"]));
    check_exit(&out, 0);
    check(out.stdout.trim() == new_token, "the newer token, with the lock held", &out);
    check(dir.path(".tok.json.tmp").exists(), "nothing adopted under another's lock", &out);
    drop(lock);
    let out = run(tool(&dir, &["token", "--token-file", "tok.json"]));
    check_exit(&out, 0);
    check(out.stdout.trim() == new_token, "the newer token", &out);
    check_contains(&out.stderr, "installed the newer tokens", &out);
    check(read_json(&dir.path("tok.json"))["data"]["access_token"] == new_token.as_str(), "adopted", &out);
    check_exit(&run(sandbox.command(&dir, "shops", &["--token-file", "tok.json"])), 0);
}

/// Out-of-range expiries are a corrupt file, not "valid for 106751991146514 days"; a
/// directory or FIFO is called what it is; names with terminal escapes are shown escaped.
#[cfg(unix)]
#[test]
fn absurd_files_and_names_are_reported_as_what_they_are() {
    let dir = TempDir::new("seams-absurd");
    for (name, at) in [("min.json", i64::MIN), ("huge.json", 1_000_000_000_000_000)] {
        fs::write(dir.path(name), token_json("TTP_accessAccessAccess", at, "TTP_refreshRefresh", now() + 86_400))
            .unwrap();
        let out = run(tool(&dir, &["token", "--token-file", name]));
        check_exit(&out, 1);
        check(out.stdout.is_empty(), "no token printed", &out);
        check_contains(&out.stderr, "access_token_expire_in", &out);
    }
    fs::create_dir(dir.path("adir")).unwrap();
    assert!(Command::new("mkfifo").arg(dir.path("pipe")).status().is_ok_and(|s| s.success()));
    let evil = "evil\u{1b}]0;pwned\u{7}.json";
    fs::write(
        dir.path(evil),
        token_json("TTP_accessAccessAccess", now() + 86_400, "TTP_refreshRefresh", now() + 86_400 * 60),
    )
    .unwrap();
    let out = run(tool(&dir, &["status", "min.json", "adir", "pipe", evil]));
    check_exit(&out, 1);
    let state = |name: &str| out.stdout.lines().find(|l| l.starts_with(name)).unwrap_or_default().to_string();
    check(state("min.json").ends_with("corrupt"), "out of range is corrupt", &out);
    check(state("adir").ends_with("directory"), "a directory is a directory", &out);
    check(state("pipe").ends_with("FIFO (named pipe)"), "a FIFO is a FIFO", &out);
    for raw in ["\u{1b}", "\u{7}"] {
        check_lacks(&out.stdout, raw, &out);
    }
    check_contains(&out.stdout, "evil\\u{1b}]0;pwned\\u{7}.json", &out);
    let out = run(tool(&dir, &["status", "--json", "adir", evil]));
    let rows: Value = serde_json::from_str(&out.stdout).unwrap();
    check(rows[0]["state"] == "directory", "json says what it is", &out);
    check_lacks(&out.stdout, "\u{1b}", &out);
}
