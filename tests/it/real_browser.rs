//! The seller's side in a real browser: Debian's Chromium, headless, driven through
//! chromedriver (WebDriver is plain HTTP and JSON, so no client crate is needed). The
//! sandbox's page is opened, its Authorize (or Deny) button clicked, and the redirect lands
//! on the real `login` listener. Screenshots of each page are saved under
//! `target/screenshots/`, at phone and desktop widths.
//!
//! The test is `#[ignore]`d so that a machine without Chromium reports it as ignored, never
//! as passed; `make test` installs Chromium and runs it explicitly with `--ignored`.

use std::io::BufReader;
use std::path::PathBuf;
use std::process::{Child, Stdio};

use crate::*;

struct Driver {
    child: Child,
    base: String,
    session: String,
}

impl Driver {
    fn start(profile: &std::path::Path) -> Driver {
        let port = free_port();
        let child = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (make test installs Debian's chromium-driver)");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("chromium");
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": binary,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", format!("--user-data-dir={}", profile.display())]}}}});
        let mut driver = Driver { child, base, session: String::new() };
        let v = driver.call("POST", "/session", Some(caps));
        driver.session = v["value"]["sessionId"].as_str().expect("a WebDriver session").to_string();
        driver
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = if self.session.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let text = body.map(|b| b.to_string());
        let (status, _, reply) =
            http_request(method, &url, text.as_deref().or(if method == "POST" { Some("{}") } else { None }));
        let v: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
        assert!(status == 200, "WebDriver {method} {path}: {status} {reply}");
        v
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(serde_json::json!({ "url": url })));
    }

    fn click(&self, css: &str) {
        let v = self.call("POST", "/element", Some(serde_json::json!({"using": "css selector", "value": css})));
        let id = v["value"]
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("element")
            .to_string();
        self.call("POST", &format!("/element/{id}/click"), Some(serde_json::json!({})));
    }

    fn text(&self) -> String {
        let v = self.call(
            "POST",
            "/execute/sync",
            Some(serde_json::json!({"script": "return document.body.innerText", "args": []})),
        );
        v["value"].as_str().unwrap_or_default().to_string()
    }

    /// The page's text once the browser has left `from` and finished loading (a click on
    /// a form button returns before the navigation it starts has ended).
    fn text_after_navigation(&self, from: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = self.call(
                "POST",
                "/execute/sync",
                Some(serde_json::json!({"script": "return document.readyState", "args": []})),
            );
            if (v["value"] == "complete" && !self.url().starts_with(from)) || Instant::now() > deadline {
                return self.text();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        self.call("GET", "/url", None)["value"].as_str().unwrap_or_default().to_string()
    }

    /// Screenshots at a phone width and a desktop width, as `<name>-phone.png` and `-desktop.png`.
    /// At each width nothing may be wider than the window or than the card it is in.
    fn screenshots(&self, name: &str) -> Vec<PathBuf> {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").join("screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        let mut saved = Vec::new();
        for (label, w, h) in [("phone", 390, 844), ("desktop", 1280, 800)] {
            self.call("POST", "/window/rect", Some(serde_json::json!({"width": w, "height": h})));
            let widths = self.call(
                "POST",
                "/execute/sync",
                Some(serde_json::json!({"script": "const m = document.querySelector('main'); \
                    return [innerWidth, document.documentElement.scrollWidth, m.clientWidth, m.scrollWidth]", "args": []})),
            );
            let [window, page, card, content] =
                [0, 1, 2, 3].map(|i| widths["value"][i].as_u64().expect("a width in px"));
            assert!(
                page <= window && content <= card,
                "{name} at {label} width overflows: window {window}, page {page}, card {card}, its content {content}"
            );
            let v = self.call("GET", "/screenshot", None);
            let png = base64_decode(v["value"].as_str().expect("screenshot"));
            assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
            let path = dir.join(format!("{name}-{label}.png"));
            std::fs::write(&path, png).expect("write screenshot");
            saved.push(path);
        }
        saved
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let url = format!("{}/session/{}", self.base, self.session);
            let _ = std::panic::catch_unwind(|| http_request("DELETE", &url, None));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    digits
        .chunks(4)
        .flat_map(|c| {
            let n = c.iter().enumerate().fold(0u32, |acc, (i, d)| acc | (u32::from(*d) << (18 - 6 * i)));
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(c.len().saturating_sub(1))
        })
        .collect()
}

/// One whole sign-in in the browser: `login --no-browser --token-file token` is started, the
/// browser opens the link it prints (`before_click` sees the sandbox's page), clicks `button`, and waits for
/// the page the listener answers with. Returns that page's text and login's outcome.
fn sign_in(
    driver: &Driver,
    dir: &TempDir,
    sandbox: &Sandbox,
    redirect: &str,
    token: &Path,
    button: &str,
    before_click: impl FnOnce(&Driver),
) -> (String, Out) {
    let mut child = sandbox
        .login_command(
            dir,
            redirect,
            &["--no-browser", "--timeout", "60", "--token-file", token.to_str().expect("a UTF-8 path")],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("login");
    let mut stderr = BufReader::new(child.stderr.take().expect("stderr"));
    let (link, seen) = read_until_link(&mut stderr);
    let link = link.unwrap_or_else(|| panic!("login printed no link:\n{seen}"));
    driver.open(&link);
    before_click(driver);
    driver.click(button);
    let page = driver.text_after_navigation(&sandbox.url());
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).expect("stderr");
    let output = child.wait_with_output().expect("login exit");
    let out = Out {
        command: "(spawned)".into(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: seen + &rest,
    };
    (page, out)
}

#[test]
#[ignore = "needs Debian's chromium and chromium-driver; `make test` installs them and runs this with --ignored"]
fn real_browser_authorize_and_deny() {
    let dir = TempDir::new("real-browser");
    let redirect = format!("http://localhost:{}/", free_port());
    let sandbox = Sandbox::start(&dir, &redirect, &[]);
    let driver = Driver::start(&dir.path("chromium-profile"));
    // A long absolute path, as a seller's would be, for the page to lay out at phone width.
    let token = dir.path("shops/uk_flagship-store/tiktok-shop-token.json");

    // Authorize.
    let mut all = Vec::new();
    let (page, out) = sign_in(&driver, &dir, &sandbox, &redirect, &token, "#authorize", |d| {
        let page = d.text();
        assert!(page.contains("Authorize this app?") && page.contains("Sandbox Test Shop"), "sandbox page: {page}");
        all.extend(d.screenshots("1-sandbox-authorize"));
    });
    check_exit(&out, 0);
    check(
        page.contains("Authorized and saved") && page.contains("You can close this tab"),
        &format!("granted page: {page}"),
        &out,
    );
    check(driver.url().starts_with(&redirect), "landed on the listener", &out);
    check(read_json(&token)["code"] == 0, "file saved", &out);
    all.extend(driver.screenshots("2-result-granted"));

    // Deny.
    let saved = std::fs::read(&token).expect("file");
    let (page, out) = sign_in(&driver, &dir, &sandbox, &redirect, &token, "#deny", |_| {});
    check_exit(&out, 4);
    check(
        page.contains("Authorization denied") && page.contains("run tiktok-shop-auth login again"),
        &format!("denied page: {page}"),
        &out,
    );
    check(std::fs::read(&token).expect("file") == saved, "file untouched", &out);
    all.extend(driver.screenshots("3-result-denied"));

    // A failure at TikTok's end (wrong secret): the page shows code, message and request id.
    std::fs::write(dir.path("wrong"), "wrong-secret\n").expect("secret");
    let failing = Sandbox::start(&dir, &redirect, &["--app-secret-file", dir.path("wrong").to_str().expect("path")]);
    let (page, out) = sign_in(&driver, &dir, &failing, &redirect, &token, "#authorize", |_| {});
    check_exit(&out, 1);
    check(
        page.contains("Authorization failed") && page.contains("36004002") && page.contains("request_id"),
        &format!("failed page: {page}"),
        &out,
    );
    all.extend(driver.screenshots("4-result-failed"));
    eprintln!("screenshots: {all:#?}");
}
