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

/// The commands and the arguments each needs besides its options to get through parsing
/// (`webhook`'s depend on the flag: see `webhook_arguments`).
const COMMANDS: [(&str, &[&str]); 12] = [
    ("login", &[]),
    ("refresh", &[]),
    ("status", &[]),
    ("token", &[]),
    ("shops", &[]),
    ("api", &["/seller/202309/shops"]),
    ("exec", &[]),
    ("doctor", &[]),
    ("sandbox", &[]),
    ("webhook", &[]),
    ("copy", &["a.json", "b.json"]),
    ("logout", &[]),
];

/// `webhook`'s subcommand for a flag, and what that subcommand needs besides it.
fn webhook_arguments(flag: &str) -> &'static [&'static str] {
    match flag {
        "--signature" => &["verify"],
        "--to" => &["send", "1"],
        "--shop-id" | "--data" | "--bad-signature" => &["send", "1", "--to", "http://127.0.0.1:9/"],
        "--shop" | "--json" | "--token-file" | "--api-base" | "--auth-base" | "--lock-wait" => &["list"],
        _ => &["verify", "--signature", "00"],
    }
}

/// The long flags a `--help` lists under OPTIONS (a row's names, not a flag its text
/// mentions), each with the placeholder of its value (empty for a switch).
fn flags_in_help(help: &str) -> Vec<(String, String)> {
    let options = help.split("\nOPTIONS:\n").nth(1).unwrap_or_default();
    let options = options.split("\n\n").next().unwrap_or_default();
    let mut flags: Vec<(String, String)> = Vec::new();
    for line in options.lines().filter(|l| l.starts_with("    -")) {
        let names = line.trim_start().split("  ").next().unwrap_or_default();
        let words: Vec<&str> = names.split_whitespace().collect();
        for (i, word) in words.iter().enumerate() {
            let word = word.trim_end_matches([',', ':', ')', ';']).trim_start_matches(['(', '[', '`']);
            let word = word.trim_end_matches('`');
            if word.len() > 2
                && word.starts_with("--")
                && word[2..].bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
            {
                let next = words.get(i + 1).copied().unwrap_or_default().trim_end_matches(',');
                let value = if next.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && word != "--help" {
                    next.to_string()
                } else {
                    String::new()
                };
                match flags.iter_mut().find(|(f, _)| f == word) {
                    // Mentioned in another flag's text first: the definition has the value.
                    Some((_, v)) if v.is_empty() => *v = value,
                    Some(_) => {}
                    None if word != "--help" => flags.push((word.to_string(), value)),
                    None => {}
                }
            }
        }
    }
    flags
}

/// A value the parser accepts for a flag, by the flag and its placeholder.
fn sample_value(dir: &TempDir, flag: &str, placeholder: &str) -> String {
    match (flag, placeholder) {
        ("--app-secret-file", _) => {
            let path = dir.0.join("secret.txt");
            std::fs::write(&path, "s3cr3t\n").unwrap();
            path.display().to_string()
        }
        ("--redirect-url", _) => "http://localhost:3017/".into(),
        ("--listen", _) => "127.0.0.1:0".into(),
        ("--fault", _) => "empty".into(),
        ("--data", _) => "{}".into(),
        ("--query", _) => "page_size=1".into(),
        ("--authorize-url", _) => "http://127.0.0.1:9/open/authorize?service_id=1".into(),
        (_, "URL") => "http://127.0.0.1:9".into(),
        (_, "DURATION") => "1m".into(),
        (_, "SECONDS") => "60".into(),
        (_, "FACTOR") => "0.5".into(),
        (_, "N") => "2".into(),
        (_, "PATH" | "FILE") => dir.0.join("some-file.json").display().to_string(),
        _ => "x1".into(),
    }
}

/// The configuration table's rows: the flags in the first cell, the commands in the second.
fn readme_rows() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let table = readme.split("\n## Configuration\n").nth(1).expect("README has a Configuration section");
    let table = table.split("\n## ").next().unwrap_or_default();
    table
        .lines()
        .filter(|l| l.starts_with("| `"))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            Some((cells.get(1)?.to_string(), cells.get(2)?.to_string()))
        })
        .collect()
}

#[test]
fn every_flag_in_every_help_is_accepted_and_in_the_readme_table() {
    let dir = TempDir::new("flags");
    let rows = readme_rows();
    let mut checked = 0;
    let helps: Vec<(&str, &[&str], Out)> =
        COMMANDS.iter().map(|(c, p)| (*c, *p, run(tool(&dir, &[c, "--help"])))).collect();
    // A flag's value as any command's --help names it (`doctor` lists login's flags bare).
    let placeholders: Vec<(String, String)> = helps.iter().flat_map(|(_, _, h)| flags_in_help(&h.stdout)).collect();
    for (command, positional, help) in &helps {
        let (command, positional) = (*command, *positional);
        check_exit(help, 0);
        let flags = flags_in_help(&help.stdout);
        check(!flags.is_empty(), &format!("{command} --help lists its options"), help);
        for (flag, placeholder) in flags {
            let placeholder = match placeholder.as_str() {
                "" => placeholders
                    .iter()
                    .find(|(f, p)| *f == flag && !p.is_empty())
                    .map(|(_, p)| p.clone())
                    .unwrap_or_default(),
                _ => placeholder,
            };
            // The flag (with a value the parser accepts) and then one argument no command
            // knows: parsing reaches the leftover check only if it took the flag.
            let mut args: Vec<String> = vec![command.to_string()];
            if command == "webhook" {
                args.extend(webhook_arguments(&flag).iter().map(|a| a.to_string()));
            }
            args.push(flag.clone());
            if !placeholder.is_empty() {
                args.push(sample_value(&dir, &flag, &placeholder));
            }
            args.extend(positional.iter().map(|p| p.to_string()));
            args.push("--no-such-flag".into());
            if command == "exec" {
                args.extend(["--".to_string(), "true".to_string()]);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut cmd = tool(&dir, &args);
            cmd.env("TIKTOK_SHOP_SERVICE_ID", "1");
            let out = run(cmd);
            check_exit(&out, 2);
            check(
                out.stderr.contains("unexpected argument `--no-such-flag`"),
                &format!("`{command}` accepts {flag} (listed in its --help)"),
                &out,
            );
            let listed = rows.iter().any(|(flags, commands)| {
                flags.split(['`', ',', ' ']).any(|f| f == flag)
                    && (commands.starts_with("every command")
                        || commands.split([',', ' ']).any(|c| c == command || command == "token" && c == "status"))
            });
            assert!(listed, "README's configuration table has no row for `{flag}` that names `{command}`");
            checked += 1;
        }
    }
    assert!(checked > 60, "only {checked} flags were found in the --help texts");
}

#[test]
fn an_unknown_option_is_named_before_whatever_else_the_command_lacks() {
    let dir = TempDir::new("typo");
    // The parser would stop at the missing --signature (or service id, or app key); the
    // typo is what the user has to fix.
    for (args, named) in [
        (&["webhook", "verify", "--sigature", "00", "f"][..], "--sigature"),
        (&["login", "--bogus"][..], "--bogus"),
        (&["webhook", "send", "1", "--too", "http://127.0.0.1:9/"][..], "--too"),
    ] {
        let mut cmd = tool(&dir, args);
        cmd.env_remove("TIKTOK_SHOP_APP_KEY");
        let out = run(cmd);
        check_exit(&out, 2);
        check_contains(&out.stderr, &format!("unexpected argument `{named}`"), &out);
    }
    // `--flag=value` is not taken; the message says how, and never shows the value.
    let out = run(tool(&dir, &["webhook", "send", "1", "--to=http://u:hunter2@127.0.0.1:9/"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "unexpected argument `--to=…`", &out);
    check_contains(&out.stderr, "`--to VALUE`", &out);
    check_lacks(&out.stderr, "hunter2", &out);
    // An option given twice is said to be so (before the missing app key), whatever the
    // values; one that may repeat (`--query`) is not.
    for (args, named, command) in [
        (&["login", "--port", "3000", "--port", "3001"][..], "--port", "login"),
        (&["refresh", "--jobs", "2", "a.json", "--jobs", "2", "b.json"][..], "--jobs", "refresh"),
    ] {
        let mut cmd = tool(&dir, args);
        cmd.env_remove("TIKTOK_SHOP_APP_KEY");
        let out = run(cmd);
        check_exit(&out, 2);
        check_contains(&out.stderr, &format!("`{named}` is given more than once; `{command}` takes it once"), &out);
    }
    let out = run(tool(&dir, &["api", "GET", "/x", "--query", "a=1", "--query", "b=2", "--dry-run"]));
    check_lacks(&out.stderr, "more than once", &out);
    // A negative number given as a value is a value, not an option.
    let out = run(tool(&dir, &["sandbox", "--clock-skew", "-600", "--listen", "10.0.0.1:1"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "not a loopback address", &out);
}

#[test]
fn a_number_out_of_its_range_names_the_flag_and_the_range() {
    let dir = TempDir::new("numbers");
    for (args, said) in [
        (&["refresh", "--jobs", "0", "a.json", "b.json"][..], "--jobs must be a whole number from 1 to 64"),
        (&["refresh", "--jobs", "65", "a.json", "b.json"][..], "--jobs must be a whole number from 1 to 64"),
        (&["refresh", "--jobs", "2.5", "a.json", "b.json"][..], "--jobs must be a whole number from 1 to 64"),
        (&["login", "--port", "65536"][..], "--port must be a whole number from 1 to 65535"),
        (&["login", "--port", "-1"][..], "--port must be a whole number from 1 to 65535"),
        (&["api", "GET", "/x", "--max-pages", "0"][..], "--max-pages must be a whole number from 1 to"),
        (&["sandbox", "--shops", "51"][..], "--shops must be a whole number from 1 to 50"),
        (&["sandbox", "--orders", "-0"][..], "--orders must be a whole number from 0 to 1000000"),
        (&["sandbox", "--clock-skew", "99999999999"][..], "--clock-skew must be a whole number from -3153600000 to"),
    ] {
        let out = run(tool(&dir, args));
        check_exit(&out, 2);
        check_contains(&out.stderr, said, &out);
    }
}
