//! Many sellers: `refresh FILE...` and `status FILE...` over a directory of token files,
//! each from its own login against one sandbox.

use std::fs;
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::*;

/// A sandbox and `n` sellers logged in through it, as tokens/seller-N.json.
fn sellers(dir: &TempDir, n: usize, sandbox_extra: &[&str]) -> (Sandbox, Vec<String>) {
    let redirect = format!("http://127.0.0.1:{}/", free_port());
    let mut extra = vec!["--auto-approve"];
    extra.extend_from_slice(sandbox_extra);
    let sandbox = Sandbox::start(dir, &redirect, &extra);
    let files: Vec<String> = (0..n).map(|i| format!("tokens/seller-{i}.json")).collect();
    for file in &files {
        let (out, _) = login(dir, &sandbox, &redirect, "auto", &["--token-file", file]);
        check_exit(&out, 0);
    }
    (sandbox, files)
}

fn fleet(dir: &TempDir, sandbox: &Sandbox, extra: &[&str], files: &[&str]) -> Command {
    let mut args = extra.to_vec();
    args.extend_from_slice(files);
    sandbox.command(dir, "refresh", &args)
}

/// Two good files, one corrupt, one whose refresh token is dead: the good ones are
/// rotated, the others left byte-identical, one line each, and the exit is 5.
#[test]
fn a_fleet_refresh_reports_each_file_and_one_failure_never_stops_the_others() {
    let dir = TempDir::new("fleet-mixed");
    let (sandbox, files) = sellers(&dir, 3, &[]);
    fs::copy(dir.path(&files[2]), dir.path("tokens/dead.json")).unwrap();
    check_exit(&run(sandbox.command(&dir, "refresh", &["--token-file", &files[2]])), 0);
    fs::write(dir.path("tokens/corrupt.json"), "{not json").unwrap();
    let set = ["tokens/corrupt.json", "tokens/dead.json", files[0].as_str(), files[1].as_str()];
    let before: Vec<Vec<u8>> = set.iter().map(|f| fs::read(dir.path(f)).unwrap()).collect();
    let out = run(fleet(&dir, &sandbox, &[], &set));
    check_exit(&out, 5);
    for (i, f) in set.iter().enumerate() {
        let changed = fs::read(dir.path(f)).unwrap() != before[i];
        check(changed == (i >= 2), &format!("{f} rotated only if good"), &out);
    }
    let ok: Vec<&str> = out.stdout.lines().filter(|l| l.contains(": refreshed: access token expires")).collect();
    check(ok.len() == 2 && ok[0].starts_with(files[0].as_str()), "one stdout line per good file, in order", &out);
    check_contains(&out.stdout, ": Sandbox Test Shop: refreshed", &out);
    check_contains(&out.stdout, "4 token files: 2 refreshed, 0 still valid, 1 need a new login, 1 failed", &out);
    check_contains(&out.stderr, "tokens/dead.json: needs a new login:", &out);
    check_contains(&out.stderr, "36004005", &out);
    check_contains(&out.stderr, "tokens/corrupt.json: failed:", &out);
    check_contains(&out.stderr, "not valid JSON", &out);
    // -q: only the files with problems.
    let out = run(fleet(&dir, &sandbox, &["-q"], &set));
    check_exit(&out, 5);
    check(out.stdout.is_empty(), "nothing on stdout with -q", &out);
    check(out.stderr.lines().filter(|l| l.starts_with("tokens/")).count() == 2, "the two problem files", &out);
    // Only a failure (no login needed): exit 1.
    let out = run(fleet(&dir, &sandbox, &[], &["tokens/corrupt.json", files[0].as_str()]));
    check_exit(&out, 1);
}

#[test]
fn jobs_1_and_jobs_8_come_to_the_same_outcome() {
    let dir = TempDir::new("fleet-jobs");
    let (sandbox, files) = sellers(&dir, 6, &["--latency", "30ms"]);
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let shape = |out: &Out| -> Vec<String> {
        out.stdout.lines().map(|l| l.split(": access token").next().unwrap_or_default().to_string()).collect()
    };
    let one = run(fleet(&dir, &sandbox, &["--jobs", "1"], &names));
    check_exit(&one, 0);
    let eight = run(fleet(&dir, &sandbox, &["--jobs", "8"], &names));
    check_exit(&eight, 0);
    check(shape(&one) == shape(&eight), "the same lines in the same order", &eight);
    check(one.stdout.lines().count() == 7, "six files and a tally", &one);
    check(sandbox.count("/api/v2/token/refresh") == 12, "every file refreshed twice", &sandbox.log_out());
    let out = run(fleet(&dir, &sandbox, &["--jobs", "0"], &names));
    check_exit(&out, 2);
}

/// `--jobs N` really runs N files at once: the sandbox, whose answers are late, sees N
/// refreshes in flight together; `--jobs 1` one at a time.
#[test]
fn jobs_n_has_n_refreshes_in_flight_at_once() {
    let dir = TempDir::new("fleet-concurrent");
    let (sandbox, files) = sellers(&dir, 4, &["--latency", "400ms"]);
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let max_in_flight = |sandbox: &Sandbox| {
        sandbox
            .log()
            .lines()
            .filter(|l| l.contains("/api/v2/token/refresh"))
            .filter_map(|l| l.rsplit("[in flight: ").next()?.trim_end_matches(']').parse::<usize>().ok())
            .max()
            .unwrap_or(0)
    };
    check_exit(&run(fleet(&dir, &sandbox, &["--jobs", "1"], &names)), 0);
    check(max_in_flight(&sandbox) == 1, "--jobs 1: one at a time", &sandbox.log_out());
    check_exit(&run(fleet(&dir, &sandbox, &["--jobs", "4"], &names)), 0);
    check(max_in_flight(&sandbox) == 4, "--jobs 4: four at once", &sandbox.log_out());
    check_exit(&run(fleet(&dir, &sandbox, &["--jobs", "2"], &names)), 0);
    check(sandbox.count("/api/v2/token/refresh") == 12, "every file each time", &sandbox.log_out());
}

/// Three fleet refreshes at once over the same six files: the per-file locks make them
/// take turns, and every saved refresh token still works afterwards.
#[test]
fn overlapping_fleet_refreshes_lose_no_refresh_token() {
    let dir = TempDir::new("fleet-overlap");
    let (sandbox, files) = sellers(&dir, 6, &["--latency", "10ms"]);
    let names: Vec<&str> = files.iter().map(String::as_str).collect();
    let children: Vec<(String, Child)> = (0..3)
        .map(|_| {
            let mut cmd = fleet(&dir, &sandbox, &["--jobs", "4"], &names);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            (command_line(&cmd), cmd.spawn().expect("spawn"))
        })
        .collect();
    for (command, child) in children {
        let mut out: Out = child.wait_with_output().expect("wait").into();
        out.command = command;
        check_exit(&out, 0);
    }
    check(sandbox.count("/api/v2/token/refresh") == 18, "each file refreshed three times", &sandbox.log_out());
    check_exit(&run(fleet(&dir, &sandbox, &[], &names)), 0);
}

#[test]
fn status_of_many_files_is_a_row_each_and_json_an_array() {
    let dir = TempDir::new("fleet-status");
    let (_sandbox, files) = sellers(&dir, 2, &[]);
    fs::write(dir.path("tokens/corrupt.json"), "[]").unwrap();
    fs::write(
        dir.path("tokens/expired.json"),
        token_json("TTP_accessAccessAccess", now() - 100, "TTP_refreshRefreshRefr", now() + 86_400 * 90),
    )
    .unwrap();
    fs::write(
        dir.path("tokens/soon.json"),
        token_json("TTP_accessAccessAccess", now() + 3600, "TTP_refreshRefreshRefr", now() + 86_400 * 90),
    )
    .unwrap();
    let good = [files[0].as_str(), files[1].as_str(), "tokens/soon.json"];
    let out = run(tool(&dir, &[&["status"][..], &good].concat()));
    check_exit(&out, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(lines.len() == 4 && lines[0].starts_with("FILE") && lines[0].ends_with("STATE"), "a header and rows", &out);
    check(lines[1].contains("Sandbox Test Shop") && lines[1].ends_with("ok"), "a good row", &out);
    check(lines[3].ends_with("expiring"), "an hour left is expiring", &out);
    let all = [&good[..], &["tokens/expired.json", "tokens/missing.json"]].concat();
    let out = run(tool(&dir, &[&["status", "--json"][..], &all].concat()));
    check_exit(&out, 5);
    let rows: Value = serde_json::from_str(&out.stdout).expect("a JSON array");
    let states: Vec<&str> = rows.as_array().unwrap().iter().map(|r| r["state"].as_str().unwrap()).collect();
    check(states == ["ok", "ok", "expiring", "expired", "needs login"], &format!("states {states:?}"), &out);
    check(rows[0]["token_file"] == files[0].as_str() && rows[0]["seller_base_region"] == "GB", "fields", &out);
    let out = run(tool(&dir, &["status", files[0].as_str(), "tokens/corrupt.json"]));
    check_exit(&out, 1);
    check_contains(&out.stdout, "corrupt", &out);
    check_contains(&out.stderr, "tokens/corrupt.json", &out);
    // token FILE, for symmetry; one only.
    let out = run(tool(&dir, &["token", files[1].as_str()]));
    check_exit(&out, 0);
    check(out.stdout.starts_with("TTP_") && out.stdout.lines().count() == 1, "the bare token", &out);
    check_exit(&run(tool(&dir, &["token", files[0].as_str(), files[1].as_str()])), 2);
}
