//! Arguments and configuration: help, version, and the usage errors (exit 2) that must
//! name both the flag and the environment variable.

use crate::*;

#[test]
fn every_help_and_the_version_print_to_stdout_and_exit_0() {
    let dir = TempDir::new("help");
    let out = run(tool(&dir, &["--help"]));
    check_exit(&out, 0);
    check(out.stdout.contains("COMMANDS:") && out.stdout.contains("EXIT STATUS:"), "top-level help", &out);
    for (command, needle) in [
        ("login", "--manual"),
        ("refresh", "--if-expiring-within"),
        ("status", "--json"),
        ("token", "x-tts-access-token"),
        ("shops", "cipher"),
        ("sandbox", "--auto-approve"),
    ] {
        let out = run(tool(&dir, &[command, "--help"]));
        check_exit(&out, 0);
        check(
            out.stdout.contains(needle) && out.stdout.contains("USAGE:"),
            &format!("{command} --help mentions {needle}"),
            &out,
        );
    }
    let out = run(tool(&dir, &["-V"]));
    check_exit(&out, 0);
    check(out.stdout == format!("tiktok-shop-auth {}\n", env!("CARGO_PKG_VERSION")), "version line", &out);
    let out = run(tool(&dir, &["--version"]));
    check_exit(&out, 0);
}

#[test]
fn no_or_unknown_command_is_a_usage_error() {
    let dir = TempDir::new("nocmd");
    check_exit(&run(tool(&dir, &[])), 2);
    let out = run(tool(&dir, &["logn"]));
    check_exit(&out, 2);
    check(out.stderr.contains("unknown command `logn`"), "names the command", &out);
    let out = run(tool(&dir, &["status", "--bogus"]));
    check_exit(&out, 2);
    check(out.stderr.contains("unexpected argument `--bogus`"), "names the leftover", &out);
}

#[test]
fn missing_app_key_names_flag_and_variable() {
    let dir = TempDir::new("nokey");
    let mut cmd = tool(&dir, &["login", "--service-id", "1", "--no-browser"]);
    cmd.env_remove("TIKTOK_SHOP_APP_KEY");
    let out = run(cmd);
    check_exit(&out, 2);
    check(out.stderr.contains("--app-key") && out.stderr.contains("TIKTOK_SHOP_APP_KEY"), "names both", &out);
    let mut cmd = tool(&dir, &["refresh"]);
    cmd.env_remove("TIKTOK_SHOP_APP_SECRET");
    let out = run(cmd);
    check_exit(&out, 2);
    check(
        out.stderr.contains("--app-secret-file") && out.stderr.contains("TIKTOK_SHOP_APP_SECRET"),
        "names both",
        &out,
    );
    let out = run(tool(&dir, &["login", "--no-browser"]));
    check_exit(&out, 2);
    check(out.stderr.contains("--service-id") && out.stderr.contains("TIKTOK_SHOP_SERVICE_ID"), "service id", &out);
}

#[test]
fn secret_on_the_command_line_is_refused_and_not_echoed() {
    let dir = TempDir::new("secretarg");
    for args in [
        vec!["login", "--app-secret", "hunter2secret"],
        vec!["refresh", "--app-secret=hunter2secret"],
        vec!["shops", "--secret", "hunter2secret"],
    ] {
        let out = run(tool(&dir, &args));
        check_exit(&out, 2);
        check(
            out.stderr.contains("TIKTOK_SHOP_APP_SECRET") && out.stderr.contains("--app-secret-file"),
            "says where",
            &out,
        );
        check(!out.stderr.contains("hunter2") && !out.stdout.contains("hunter2"), "secret not echoed", &out);
    }
}

#[test]
fn secret_file_first_line_is_used_and_problems_name_the_file() {
    let dir = TempDir::new("secretfile");
    let sandbox = Sandbox::start(&dir, "http://127.0.0.1:9/", &[]);
    std::fs::write(dir.path("secret.txt"), format!("{APP_SECRET}\r\nsecond line ignored\n")).unwrap();
    std::fs::write(
        dir.path("t.json"),
        token_json("TTP_unknownAccessToken1", now() + 3600, "TTP_unknownRefreshTok1", now() + 86_400),
    )
    .unwrap();
    let mut cmd = tool(
        &dir,
        &["refresh", "--app-secret-file", "secret.txt", "--token-file", "t.json", "--auth-base", &sandbox.url()],
    );
    cmd.env_remove("TIKTOK_SHOP_APP_SECRET");
    let out = run(cmd);
    // The secret from the file was accepted (the refresh token, not the app, was rejected).
    check_exit(&out, 5);
    check(out.stderr.contains("36004005"), "app accepted, token rejected", &out);
    let out = run(tool(&dir, &["refresh", "--app-secret-file", "missing.txt"]));
    check_exit(&out, 2);
    check(out.stderr.contains("missing.txt"), "names the file", &out);
}

#[test]
fn redirect_url_must_be_loopback_http() {
    let dir = TempDir::new("redirect");
    for bad in ["http://0.0.0.0:3017/", "http://example.com:3017/", "https://localhost:3017/", "localhost:3017"] {
        let out = run(tool(&dir, &["login", "--service-id", "1", "--redirect-url", bad]));
        check_exit(&out, 2);
        check(out.stderr.contains("--redirect-url") && out.stderr.contains("TIKTOK_SHOP_REDIRECT_URL"), bad, &out);
    }
    let mut cmd = tool(&dir, &["login", "--service-id", "1"]);
    cmd.env("TIKTOK_SHOP_REDIRECT_URL", "http://10.0.0.1:3017/");
    let out = run(cmd);
    check_exit(&out, 2);
    check(out.stderr.contains("loopback"), "from the environment too", &out);
}

#[test]
fn sandbox_refuses_non_loopback_listen() {
    let dir = TempDir::new("sandboxlisten");
    let out = run(tool(&dir, &["sandbox", "--listen", "0.0.0.0:0"]));
    check_exit(&out, 2);
    check(out.stderr.contains("loopback"), "says loopback", &out);
}
