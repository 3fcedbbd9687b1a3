//! Scripts and shells: the completion scripts loaded in their real shells (bash, zsh, fish),
//! the man page through groff with every warning on, `api --pick`, and `-v` traces that
//! carry no secret. What the completions must offer is read from each command's `--help`,
//! so the two are checked against each other, not against a list kept here.

use std::fs;
use std::process::Command;

use crate::*;

/// The command names the top-level `--help` lists.
fn commands_in_help(dir: &TempDir) -> Vec<String> {
    let out = run(tool(dir, &["--help"]));
    check_exit(&out, 0);
    let section = out.stdout.split("\nCOMMANDS:\n").nth(1).unwrap_or_default();
    let names: Vec<String> = section
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect();
    assert!(names.len() >= 14, "{}", out.stdout);
    names
}

/// Every flag name (long and short) a command's `--help` shows under OPTIONS.
fn flags_of(dir: &TempDir, command: &str) -> Vec<String> {
    let out = run(tool(dir, &[command, "--help"]));
    check_exit(&out, 0);
    let options = out.stdout.split("\nOPTIONS:\n").nth(1).unwrap_or_default();
    let options = options.split("\n\n").next().unwrap_or_default();
    let mut flags = Vec::new();
    for line in options.lines().filter(|l| l.starts_with("    -")) {
        let names = line.trim_start().split("  ").next().unwrap_or_default();
        for word in names.split([',', ' ']).filter(|w| w.starts_with('-')) {
            flags.push(word.to_string());
        }
    }
    assert!(flags.len() > 5, "{command}: {}", out.stdout);
    flags
}

fn script(dir: &TempDir, shell: &str) -> std::path::PathBuf {
    let out = run(tool(dir, &["completions", shell]));
    check_exit(&out, 0);
    check(out.stderr.is_empty(), "nothing on stderr", &out);
    let path = dir.path(&format!("completion.{shell}"));
    fs::write(&path, &out.stdout).unwrap();
    path
}

fn available(program: &str) -> bool {
    Command::new(program).arg("--version").output().is_ok_and(|o| o.status.success())
}

/// What bash's completion offers for `line` (the last word is the one completed), through
/// the function the script registers with `complete`.
fn bash_offers(dir: &TempDir, script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' || exit 9\n\
         complete -p tiktok-shop-auth || exit 8\n\
         COMP_WORDS=({}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))\n\
         _tiktok_shop_auth\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" ")
    );
    let out: Out =
        Command::new("bash").arg("--norc").arg("-c").arg(&program).current_dir(&dir.0).output().unwrap().into();
    assert_eq!(out.code, Some(0), "bash: {}\n{}", out.stderr, out.stdout);
    out.stdout.lines().skip(1).map(str::to_string).collect()
}

#[test]
fn bash_completes_every_command_every_flag_event_names_and_files() {
    let dir = TempDir::new("complete-bash");
    let script = script(&dir, "bash");
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", ""]);
    for command in commands_in_help(&dir) {
        assert!(offered.contains(&command), "bash does not offer `{command}`: {offered:?}");
    }
    for command in ["api", "refresh", "login", "sandbox", "webhook", "copy", "logout"] {
        let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", command, "-"]);
        for flag in flags_of(&dir, command) {
            assert!(offered.contains(&flag), "bash does not offer {command} {flag}: {offered:?}");
        }
    }
    // A flag's value: choices, and files where a path is expected.
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "sandbox", "--fault", "t"]);
    assert_eq!(offered, ["truncated"]);
    fs::write(dir.path("token-one.json"), "{}").unwrap();
    fs::write(dir.path("token-two.json"), "{}").unwrap();
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "api", "--token-file", "token-"]);
    assert_eq!(offered, ["token-one.json", "token-two.json"]);
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "refresh", "--jobs", "2", "token-o"]);
    assert_eq!(offered, ["token-one.json"], "refresh FILE... completes files after a flag's value");
    // webhook: its sub-commands, then EVENT names.
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "webhook", ""]);
    assert_eq!(offered, ["verify", "send", "list", "subscribe", "unsubscribe"]);
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "webhook", "send", "ORDER_"]);
    assert_eq!(offered, ["ORDER_STATUS_CHANGE"]);
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "webhook", "--to", "http://x", "send", "SELLER"]);
    assert_eq!(offered, ["SELLER_DEAUTHORIZATION"], "a flag's value is not counted as an argument");
    let offered = bash_offers(&dir, &script, &["tiktok-shop-auth", "completions", ""]);
    assert_eq!(offered, ["bash", "zsh", "fish", "powershell"]);
}

/// What zsh's completion system offers for `line`, driven in a real interactive zsh on a
/// pseudo-terminal (tests/support/zsh_complete.zsh).
fn zsh_offers(dir: &TempDir, line: &str) -> Vec<String> {
    let functions = dir.path("zsh-functions");
    fs::create_dir_all(&functions).unwrap();
    fs::copy(dir.path("completion.zsh"), functions.join("_tiktok-shop-auth")).unwrap();
    zsh_offers_from(dir, &functions, line)
}

/// `zsh_offers` with the script found in `functions`: a directory on $fpath, or a file
/// sourced after compinit.
fn zsh_offers_from(dir: &TempDir, functions: &std::path::Path, line: &str) -> Vec<String> {
    let found = dir.path("zsh-offers.txt");
    let driver = format!("{}/tests/support/zsh_complete.zsh", env!("CARGO_MANIFEST_DIR"));
    let out: Out = Command::new("zsh")
        .args([&driver, &found.display().to_string(), &functions.display().to_string(), line])
        .env("HOME", &dir.0)
        .current_dir(&dir.0)
        .output()
        .unwrap()
        .into();
    assert_eq!(out.code, Some(0), "zsh offered nothing for {line:?}: {}\n{}", out.stderr, out.stdout);
    let mut offered: Vec<String> =
        fs::read_to_string(&found).unwrap_or_default().lines().filter(|l| !l.is_empty()).map(str::to_string).collect();
    offered.sort();
    offered.dedup();
    offered
}

#[test]
fn zsh_completes_every_command_and_every_flag_of_api_and_refresh() {
    if !available("zsh") {
        return skip("zsh is not installed (make test-deps installs it)");
    }
    let dir = TempDir::new("complete-zsh");
    script(&dir, "zsh");
    let offered = zsh_offers(&dir, "tiktok-shop-auth ");
    for command in commands_in_help(&dir) {
        assert!(offered.contains(&command), "zsh does not offer `{command}`: {offered:?}");
    }
    for command in ["api", "refresh"] {
        let offered = zsh_offers(&dir, &format!("tiktok-shop-auth {command} -"));
        for flag in flags_of(&dir, command) {
            assert!(offered.contains(&flag), "zsh does not offer {command} {flag}: {offered:?}");
        }
    }
    let offered = zsh_offers(&dir, "tiktok-shop-auth sandbox --fault ");
    assert!(offered.contains(&"html-502".to_string()) && offered.contains(&"cycle-pages".to_string()), "{offered:?}");
    let offered = zsh_offers(&dir, "tiktok-shop-auth webhook send ");
    assert!(offered.contains(&"SELLER_DEAUTHORIZATION".to_string()), "{offered:?}");
    // The README's way: sourced in ~/.zshrc after compinit.
    let offered = zsh_offers_from(&dir, &dir.path("completion.zsh"), "tiktok-shop-auth api --pa");
    assert_eq!(offered, ["--paginate"]);
}

#[test]
fn fish_completes_every_command_and_every_flag_of_api_and_refresh() {
    if !available("fish") {
        return skip("fish is not installed (make test-deps installs it)");
    }
    let dir = TempDir::new("complete-fish");
    let script = script(&dir, "fish");
    let offers = |line: &str| -> Vec<String> {
        let program = format!("source '{}'; complete -C '{line}'", script.display());
        let out: Out = Command::new("fish")
            .args(["--no-config", "-c", &program])
            .env("HOME", &dir.0)
            .current_dir(&dir.0)
            .output()
            .unwrap()
            .into();
        assert_eq!(out.code, Some(0), "fish: {}", out.stderr);
        out.stdout.lines().filter_map(|l| l.split('\t').next()).map(str::to_string).collect()
    };
    let offered = offers("tiktok-shop-auth ");
    for command in commands_in_help(&dir) {
        assert!(offered.contains(&command), "fish does not offer `{command}`: {offered:?}");
    }
    for command in ["api", "refresh"] {
        let offered = offers(&format!("tiktok-shop-auth {command} -"));
        for flag in flags_of(&dir, command) {
            assert!(offered.contains(&flag), "fish does not offer {command} {flag}: {offered:?}");
        }
    }
    assert_eq!(offers("tiktok-shop-auth sandbox --fault tr"), ["truncated"]);
    assert!(offers("tiktok-shop-auth webhook send ").contains(&"PACKAGE_UPDATE".to_string()));
    fs::write(dir.path("token-one.json"), "{}").unwrap();
    assert!(offers("tiktok-shop-auth refresh token-").contains(&"token-one.json".to_string()));
}

#[test]
fn powershell_completion_and_usage_errors() {
    let dir = TempDir::new("complete-pwsh");
    let out = run(tool(&dir, &["completions", "powershell"]));
    check_exit(&out, 0);
    check_contains(&out.stdout, "Register-ArgumentCompleter -Native -CommandName 'tiktok-shop-auth'", &out);
    for flag in flags_of(&dir, "api") {
        check_contains(&out.stdout, &format!("'{flag}'"), &out);
    }
    let out = run(tool(&dir, &["completions"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "bash, zsh, fish, powershell", &out);
    let out = run(tool(&dir, &["completions", "tcsh\u{1b}[31m"]));
    check_exit(&out, 2);
    check_contains(&out.stderr, "no script for `tcsh\\u{1b}[31m`", &out);
    let out = run(tool(&dir, &["completions", "bash", "zsh"]));
    check_exit(&out, 2);
}

#[test]
fn the_man_page_has_every_command_and_flag_and_groff_finds_nothing_to_warn_about() {
    if !available("groff") {
        return skip("groff is not installed (make test-deps installs groff-base)");
    }
    let dir = TempDir::new("man");
    let out = run(tool(&dir, &["man"]));
    check_exit(&out, 0);
    let page = dir.path("tiktok-shop-auth.1");
    fs::write(&page, &out.stdout).unwrap();
    let rendered: Out = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-rLL=100n"])
        .arg(&page)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap()
        .into();
    assert_eq!(rendered.code, Some(0), "groff: {}", rendered.stderr);
    assert!(rendered.stderr.is_empty(), "groff warns:\n{}", rendered.stderr);
    // The text as read: groff's bold and underline are overstrikes (`c\bc`, `_\bc`).
    let mut text = String::new();
    let mut chars = rendered.stdout.chars().peekable();
    while let Some(c) = chars.next() {
        if chars.peek() == Some(&'\u{8}') {
            chars.next();
            continue;
        }
        text.push(c);
    }
    let text = text.replace(['\u{2010}', '\u{2212}'], "-");
    for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "ENVIRONMENT", "EXIT STATUS", "FILES", "EXAMPLES"] {
        assert!(text.contains(&format!("\n{section}\n")), "no {section} section:\n{text}");
    }
    for command in commands_in_help(&dir) {
        assert!(text.contains(&format!("\n   {command}")), "the man page has no `{command}`");
        if command == "completions" || command == "man" {
            continue;
        }
        // The command's part: from its heading to the next (a line indented three spaces).
        let section: String = text
            .split(&format!("\n   {command}"))
            .nth(1)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .take_while(|l| {
                (!l.starts_with("   ") || l.starts_with("    ")) && !l.starts_with(|c: char| c.is_ascii_uppercase())
            })
            .collect::<Vec<_>>()
            .join("\n");
        for flag in flags_of(&dir, &command).iter().filter(|f| f.starts_with("--") && *f != "--help") {
            assert!(section.contains(flag.as_str()), "the man page's `{command}` lacks {flag}:\n{section}");
        }
    }
    for var in ["TIKTOK_SHOP_APP_KEY", "TIKTOK_SHOP_APP_SECRET", "TIKTOK_SHOP_TOKEN_FILE", "TIKTOK_SHOP_ETCD_USER"] {
        assert!(text.contains(var), "ENVIRONMENT lacks {var}");
    }
    if available("man") {
        let out: Out = Command::new("man").arg("-l").arg(&page).env("MANPAGER", "cat").output().unwrap().into();
        assert_eq!(out.code, Some(0), "man -l: {}", out.stderr);
    }
}

#[test]
fn pick_prints_each_pointers_value_a_line_each_and_names_what_it_cannot_find() {
    let dir = TempDir::new("pick");
    let sandbox = logged_in(&dir, &["--shops", "2"]);
    let base = sandbox.url();
    let api = |args: &[&str]| {
        let mut all = vec!["api", "--api-base", &base, "--auth-base", &base];
        all.extend_from_slice(args);
        run(tool(&dir, &all))
    };
    let out = api(&["/authorization/202309/shops", "--pick", "/data/shops/1/cipher", "--pick", "/data/shops/0/region"]);
    check_exit(&out, 0);
    check(out.stdout == "GCP_sandboxCipherSaNdBoX0000000002\nGB\n", "strings raw, a line each, in order", &out);
    let out = api(&["/authorization/202309/shops", "--pick", "/code", "--pick", "/data/shops/0"]);
    check_exit(&out, 0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    check(lines.len() == 2 && lines[0] == "0", "a number as JSON", &out);
    let shop: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
    check(shop["id"] == "7494000000000000001" && !lines[1].contains(": "), "an object as compact JSON", &out);
    // Each page with --paginate.
    let out = api(&[
        "POST",
        "/order/202309/orders/search",
        "--shop",
        "GB",
        "--query",
        "page_size=10",
        "--data",
        "{}",
        "--paginate",
        "--pick",
        "/data/orders/0/id",
    ]);
    check_exit(&out, 0);
    check(out.stdout.lines().count() == 3, "one line for each of the three pages", &out);
    // Nothing there: exit 1, naming the pointer, and nothing on stdout but earlier picks.
    let out = api(&["/authorization/202309/shops", "--pick", "/data/shops/0/id", "--pick", "/data/shops/7/cipher"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "--pick `/data/shops/7/cipher`", &out);
    check(out.stdout == "7494000000000000001\n", "the pick before it", &out);
    // An escaped key (`~1` is `/`): absent here, but a valid pointer.
    check_exit(&api(&["/authorization/202309/shops", "--pick", "/data/a~1b"]), 1);
    // A TikTok error is the error, not a missing pick.
    let out = api(&["/no/such/path", "--pick", "/data"]);
    check_exit(&out, 1);
    check_contains(&out.stderr, "36009009", &out);
    check_lacks(&out.stderr, "--pick", &out);
    // Not a pointer, or nothing to answer: usage errors, nothing sent.
    let before = sandbox.count("GET /authorization/202309/shops");
    for (args, said) in [
        (&["/authorization/202309/shops", "--pick", "data/shops"][..], "not a JSON pointer"),
        (&["/authorization/202309/shops", "--pick", "/data/~2"][..], "not a JSON pointer"),
        (&["/authorization/202309/shops", "--pick", "/data", "--dry-run"][..], "--dry-run sends nothing"),
    ] {
        let out = api(args);
        check_exit(&out, 2);
        check_contains(&out.stderr, said, &out);
    }
    assert_eq!(sandbox.count("GET /authorization/202309/shops"), before, "nothing sent");
}

#[test]
fn verbose_traces_every_kind_of_request_with_no_secret_in_them() {
    let dir = TempDir::new("verbose");
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/");
    let sandbox = Sandbox::start(&dir, &redirect, &["--auto-approve"]);
    let base = sandbox.url();
    let log = dir.path("browser.log");
    let mut cmd = sandbox.login_command(&dir, &redirect, &["-v"]);
    cmd.env("BROWSER", browser_env(&log, "auto", &redirect));
    let login = run(cmd);
    check_exit(&login, 0);
    let saved = read_json(&dir.path("tiktok-shop-token.json"));
    let tokens = |v: &serde_json::Value| {
        let text = |key: &str| v["data"][key].as_str().unwrap_or_else(|| panic!("no {key} in {v:#}")).to_string();
        (text("access_token"), text("refresh_token"))
    };
    let first = tokens(&saved);
    let with = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--auth-base", &base, "-v"]);
        run(tool(&dir, &all))
    };
    let refresh = with(&["refresh"]);
    check_exit(&refresh, 0);
    let saved = read_json(&dir.path("tiktok-shop-token.json"));
    let second = tokens(&saved);
    let get = with(&["api", "--api-base", &base, "/authorization/202309/shops"]);
    check_exit(&get, 0);
    let post = with(&[
        "api",
        "--api-base",
        &base,
        "/order/202309/orders/search",
        "--query",
        "page_size=5",
        "--data",
        "{}",
        "--verbose",
    ]);
    check_exit(&post, 0);
    let receiver = crate::webhook::Receiver::start(&dir, "verify");
    let mut hook = tool(&dir, &["webhook", "send", "1", "--to", &receiver.url, "-v"]);
    hook.env_remove("TIKTOK_SHOP_SERVICE_ID");
    let hook = run(hook);
    check_exit(&hook, 0);
    let secrets = [APP_SECRET, &first.0, &first.1, &second.0, &second.1];
    for (out, needles) in [
        (&login, &["GET http://127.0.0.1", "/api/v2/token/get?", "app_secret=***", "auth_code=***", "-> HTTP 200"][..]),
        (&refresh, &["/api/v2/token/refresh?", "refresh_token=***", "app_secret=***"][..]),
        (&get, &["GET http://127.0.0.1", "/authorization/202309/shops?", "sign=***", "request_id "][..]),
        (&post, &["POST http://127.0.0.1", "/order/202309/orders/search?", "shop_cipher=", " ms"][..]),
        (&hook, &["POST http://127.0.0.1", "-> HTTP 200"][..]),
    ] {
        check_contains_all(&out.stderr, needles, out);
        for secret in secrets {
            check_lacks(&out.stderr, secret, out);
        }
        check_lacks(&out.stdout, APP_SECRET, out);
    }
    // Without -v: no trace.
    let quiet = run(tool(&dir, &["api", "--api-base", &base, "/authorization/202309/shops"]));
    check_exit(&quiet, 0);
    check_lacks(&quiet.stderr, "GET http", &quiet);
    // Commands that talk to no server do not take it.
    let out = run(tool(&dir, &["sandbox", "-v"]));
    check_exit(&out, 2);
}
