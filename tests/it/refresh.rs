//! `refresh`, `status` and `token` against the sandbox and hand-made token files.

use crate::*;

const FILE: &str = "tiktok-shop-token.json";

fn refresh(dir: &TempDir, sandbox: &Sandbox, extra: &[&str]) -> Out {
    run(sandbox.command(dir, "refresh", extra))
}

#[test]
fn refresh_rotates_and_saves_and_the_old_token_is_dead() {
    let dir = TempDir::new("refresh-rotate");
    let sandbox = logged_in(&dir, &[]);
    let before = read_json(&dir.path(FILE));
    std::fs::copy(dir.path(FILE), dir.path("old.json")).unwrap();
    let out = refresh(&dir, &sandbox, &[]);
    check_exit(&out, 0);
    check(
        out.stdout.starts_with("refreshed: access token expires ") && out.stdout.lines().count() == 1,
        "one line",
        &out,
    );
    let after = read_json(&dir.path(FILE));
    check(after["data"]["refresh_token"] != before["data"]["refresh_token"], "refresh token rotated", &out);
    check(after["data"]["access_token"] != before["data"]["access_token"], "new access token", &out);
    check(after["data"]["seller_name"] == "Sandbox Test Shop", "whole response saved", &out);
    #[cfg(unix)]
    check(mode(&dir.path(FILE)) == 0o600, "mode 0600", &out);
    // The rotated-away refresh token is rejected: exit 5, and that file stays as it was.
    let old = std::fs::read(dir.path("old.json")).unwrap();
    let out = refresh(&dir, &sandbox, &["--token-file", "old.json"]);
    check_exit(&out, 5);
    check(
        out.stderr.contains("36004005")
            && out.stderr.contains("tiktok-shop-auth login")
            && out.stderr.contains("old.json"),
        "says login",
        &out,
    );
    check(std::fs::read(dir.path("old.json")).unwrap() == old, "rejected file byte-for-byte intact", &out);
}

#[test]
fn conditional_refresh_makes_no_request_while_valid() {
    let dir = TempDir::new("refresh-cond");
    let sandbox = logged_in(&dir, &[]);
    let before = std::fs::read(dir.path(FILE)).unwrap();
    let out = refresh(&dir, &sandbox, &["--if-expiring-within", "2d"]);
    check_exit(&out, 0);
    check(
        out.stdout.starts_with("still valid: access token expires") && out.stdout.contains("not refreshed"),
        "says so",
        &out,
    );
    check(sandbox.count("/api/v2/token/refresh") == 0, "no request", &out);
    check(std::fs::read(dir.path(FILE)).unwrap() == before, "file untouched", &out);
    let out = refresh(&dir, &sandbox, &["--if-expiring-within", "8d", "-q"]);
    check_exit(&out, 0);
    check(out.stdout.is_empty() && out.stderr.is_empty(), "quiet prints nothing", &out);
    check(sandbox.count("/api/v2/token/refresh") == 1, "refreshed when expiring", &out);
    let out = refresh(&dir, &sandbox, &["--if-expiring-within", "2w"]);
    check_exit(&out, 2);
    check(out.stderr.contains("--if-expiring-within"), "bad duration names the flag", &out);
}

#[test]
fn expired_refresh_token_needs_login_without_a_request() {
    let dir = TempDir::new("refresh-rtexpired");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    std::fs::write(
        dir.path(FILE),
        token_json("TTP_accessAccessAccess", now() - 100, "TTP_refreshRefreshRefr", now() - 10),
    )
    .unwrap();
    let out = refresh(&dir, &sandbox, &[]);
    check_exit(&out, 5);
    check(
        out.stderr.contains("refresh token") && out.stderr.contains("expired") && out.stderr.contains("login"),
        "says login",
        &out,
    );
    check(sandbox.count("/api/v2/token/refresh") == 0, "no request", &out);
}

#[test]
fn faults_exit_1_and_leave_the_file_intact() {
    for (fault, needle) in
        [("html-502", "HTTP 502"), ("empty", "empty body"), ("truncated", "truncated JSON"), ("ip-denied", "36009033")]
    {
        let dir = TempDir::new(&format!("refresh-{fault}"));
        let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &["--fault", fault]);
        let before = token_json("TTP_accessAccessAccess", now() + 100, "TTP_refreshRefreshRefr", now() + 86_400);
        std::fs::write(dir.path(FILE), &before).unwrap();
        let out = refresh(&dir, &sandbox, &[]);
        check_exit(&out, 1);
        check(out.stderr.contains(needle), needle, &out);
        check(!out.stderr.contains(APP_SECRET) && !out.stderr.contains("TTP_refreshRefreshRefr"), "no secrets", &out);
        check(std::fs::read_to_string(dir.path(FILE)).unwrap() == before, "file intact", &out);
    }
}

#[test]
fn network_failure_exits_1_without_leaking_the_secret() {
    let dir = TempDir::new("refresh-netfail");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    std::fs::write(
        dir.path(FILE),
        token_json("TTP_accessAccessAccess", now() + 100, "TTP_refreshRefreshRefr", now() + 86_400),
    )
    .unwrap();
    let out = run(tool(&dir, &["refresh", "--auth-base", &format!("http://{closed}")]));
    check_exit(&out, 1);
    check(
        out.stderr.contains("/api/v2/token/refresh") && !out.stderr.contains(APP_SECRET),
        "names endpoint, not secret",
        &out,
    );
}

#[test]
fn overlapping_refreshes_all_succeed_and_the_last_token_still_works() {
    let dir = TempDir::new("refresh-overlap");
    let sandbox = logged_in(&dir, &[]);
    let base = sandbox.url();
    let children: Vec<_> = (0..4)
        .map(|_| {
            tool(&dir, &["refresh", "--auth-base", &base])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out: Out = child.wait_with_output().unwrap().into();
        check_exit(&out, 0);
    }
    // Each run used the refresh token the previous one saved: four rotations, none rejected.
    let log = sandbox.log();
    assert_eq!(sandbox.count("/api/v2/token/refresh"), 4, "{log}");
    let out = refresh(&dir, &sandbox, &[]);
    check_exit(&out, 0);
}

#[test]
fn corrupt_token_files_are_named_and_never_overwritten() {
    let dir = TempDir::new("refresh-corrupt");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    let cases: [(&str, &[u8], &str); 5] = [
        ("notjson.json", b"this is not json", "is not valid JSON"),
        ("empty-object.json", b"{}", "lacks data.refresh_token"),
        ("binary.json", &[0, 159, 146, 150, 255, 1, 2], "is not valid JSON"),
        ("empty.json", b"", "is empty"),
        (
            "no-refresh.json",
            br#"{"code":0,"data":{"access_token":"TTP_x","access_token_expire_in":1}}"#,
            "lacks data.refresh_token",
        ),
    ];
    for (name, bytes, needle) in cases {
        std::fs::write(dir.path(name), bytes).unwrap();
        for command in ["refresh", "status", "token"] {
            let base = sandbox.url();
            let args: Vec<&str> = if command == "refresh" {
                vec![command, "--token-file", name, "--auth-base", &base]
            } else {
                vec![command, "--token-file", name]
            };
            let out = run(tool(&dir, &args));
            check_exit(&out, 1);
            check(
                out.stderr.contains(name) && out.stderr.contains(needle),
                &format!("{command} {name}: {needle}"),
                &out,
            );
            check(out.stdout.is_empty() || command == "status", "nothing on stdout", &out);
            check(std::fs::read(dir.path(name)).unwrap() == bytes, "never overwritten", &out);
        }
    }
    check(sandbox.count("/api/v2/token/refresh") == 0, "no request for a corrupt file", &sandbox.log_out());
}

#[test]
fn unwritable_directory_fails_before_spending_the_refresh_token() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::public("refresh-ro");
        let sandbox = logged_in(&dir, &[]);
        let ro = dir.path("ro");
        std::fs::create_dir(&ro).unwrap();
        std::fs::copy(dir.path(FILE), ro.join(FILE)).unwrap();
        // The lock file exists and is open to all, so only the token write itself can fail.
        std::fs::write(ro.join(format!("{FILE}.lock")), "").unwrap();
        std::fs::set_permissions(ro.join(format!("{FILE}.lock")), std::fs::Permissions::from_mode(0o666)).unwrap();
        std::fs::set_permissions(ro.join(FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
        let before = std::fs::read(ro.join(FILE)).unwrap();
        let path = ro.join(FILE).display().to_string();
        let base = sandbox.url();
        let out = run(unprivileged(tool(&dir, &["refresh", "--token-file", &path, "--auth-base", &base]), &dir));
        check_exit(&out, 1);
        check(out.stderr.contains("ro/") && out.stderr.contains("ermission denied"), "names the place", &out);
        check(std::fs::read(ro.join(FILE)).unwrap() == before, "file intact", &out);
        check(sandbox.count("/api/v2/token/refresh") == 0, "refresh token not spent", &out);
        std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Once writable again, the same refresh works: nothing was lost.
        let out = run(tool(&dir, &["refresh", "--token-file", &path, "--auth-base", &base]));
        check_exit(&out, 0);
    }
}

#[test]
fn missing_file_needs_login() {
    let dir = TempDir::new("refresh-missing");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    let out = refresh(&dir, &sandbox, &[]);
    check_exit(&out, 5);
    check(
        out.stderr.contains("no token file") && out.stderr.contains(FILE) && out.stderr.contains("login"),
        "says login",
        &out,
    );
    for command in ["status", "token"] {
        let out = run(tool(&dir, &[command]));
        check_exit(&out, 5);
        check(out.stdout.is_empty() && out.stderr.contains("no token file"), command, &out);
    }
}

#[test]
fn status_and_token_on_fresh_and_expired_files() {
    let dir = TempDir::new("status");
    let fresh =
        token_json("TTP_freshAccessToken12345", now() + 7 * 86_400, "TTP_freshRefreshToken1234", now() + 300 * 86_400);
    std::fs::write(dir.path("fresh.json"), &fresh).unwrap();
    let out = run(tool(&dir, &["status", "--token-file", "fresh.json"]));
    check_exit(&out, 0);
    check(out.stdout.contains("seller         Hand-made") && out.stdout.contains("(in 7 days)"), "summary", &out);
    check(out.stdout.contains("TTP_fr…") && !out.stdout.contains("TTP_freshAccessToken12345"), "masked", &out);
    let out = run(tool(&dir, &["status", "--token-file", "fresh.json", "--json"]));
    check_exit(&out, 0);
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or(Value::Null);
    check(v["access_token"]["valid"] == true && v["refresh_token"]["expires_at"].is_i64(), "json", &out);
    let mut cmd = tool(&dir, &["token"]);
    cmd.env("TIKTOK_SHOP_TOKEN_FILE", "fresh.json");
    let out = run(cmd);
    check_exit(&out, 0);
    check(out.stdout == "TTP_freshAccessToken12345\n" && out.stderr.is_empty(), "bare token", &out);

    // Within the 60 s clock-skew margin counts as expired.
    let expired = token_json("TTP_staleAccessToken12345", now() + 30, "TTP_staleRefreshToken1234", now() + 86_400);
    std::fs::write(dir.path("expired.json"), &expired).unwrap();
    let out = run(tool(&dir, &["status", "--token-file", "expired.json"]));
    check_exit(&out, 5);
    check(
        out.stdout.contains("seller") && out.stderr.contains("expired") && out.stderr.contains("refresh"),
        "summary + reason",
        &out,
    );
    let out = run(tool(&dir, &["token", "--token-file", "expired.json"]));
    check_exit(&out, 5);
    check(out.stdout.is_empty(), "nothing on stdout", &out);
    // The fix repeats the file, by its absolute path when no one is at a terminal (cron).
    let fix = format!("run `tiktok-shop-auth refresh --token-file {}`", dir.path("expired.json").display());
    check(out.stderr.contains(&fix), "the fix names the file it is about", &out);
}

#[test]
fn unreadable_token_file_exits_1_and_names_it() {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = TempDir::public("unreadable");
        std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o777)).unwrap();
        let token = token_json("TTP_accessAccessAccess", now() + 3600, "TTP_refreshRefreshRefr", now() + 86_400);
        std::fs::write(dir.path(FILE), &token).unwrap();
        std::fs::set_permissions(dir.path(FILE), std::fs::Permissions::from_mode(0o000)).unwrap();
        for args in [&["status"][..], &["token"], &["refresh", "--auth-base", "http://127.0.0.1:9"]] {
            let command = args[0];
            let out = run(unprivileged(tool(&dir, args), &dir));
            check_exit(&out, 1);
            check(out.stderr.contains("failed to read the token file") && out.stderr.contains(FILE), command, &out);
            check(out.stdout.is_empty(), "nothing on stdout", &out);
        }
        std::fs::set_permissions(dir.path(FILE), std::fs::Permissions::from_mode(0o600)).unwrap();
        check(
            std::fs::read_to_string(dir.path(FILE)).unwrap() == token,
            "file intact",
            &Out { command: String::new(), code: None, stdout: String::new(), stderr: String::new() },
        );
    }
}

#[test]
fn a_refresh_token_near_its_end_is_warned_about_even_when_quiet() {
    let dir = TempDir::new("refresh-ending");
    let sandbox = logged_in(&dir, &["--refresh-ttl", "3d"]);
    let out = refresh(&dir, &sandbox, &["-q"]);
    check_exit(&out, 0);
    check(out.stdout.is_empty(), "quiet", &out);
    check(out.stderr.contains("warning: the refresh token") && out.stderr.contains("(in 3 days)"), "warned", &out);
    let fix = format!(
        "run `tiktok-shop-auth login --token-file {}` before then",
        dir.path("tiktok-shop-token.json").display()
    );
    check(out.stderr.contains(&fix), "says what to do, for this very file", &out);
    let out = refresh(&dir, &sandbox, &["-q", "--if-expiring-within", "1d"]);
    check_exit(&out, 0);
    check(out.stderr.contains("warning: the refresh token"), "warned when skipping too", &out);
    let quiet = logged_in(&dir, &[]);
    let out = refresh(&dir, &quiet, &["-q"]);
    check(out.stderr.is_empty(), "no warning a year ahead", &out);
}
