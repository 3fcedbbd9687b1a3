//! The small HTML pages a seller sees: the result pages of `login` (here) and the
//! sandbox's authorize page (built from `page` in `sandbox`), and the headers both send.
//!
//! Each page is one self-contained document (inline CSS, no scripts, fonts, images or
//! other external resources) that reads well from a phone-width window up, so it works
//! offline, leaks nothing to third parties and shows no referrer. Everything reflected
//! from a request or a response goes through `escape`.

/// How a page is coloured: the outcome it reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Tone {
    Good,
    Bad,
    Neutral,
}

/// The headers every page of the tool's is sent with: no caching, no referrer, no
/// sniffing, nothing loaded from anywhere, not framable. Forms are refused unless `forms`
/// (the sandbox's Authorize and Deny): their submission redirects to the app's redirect
/// URL, and browsers apply `form-action` to that redirect too, so it is left open there.
pub fn security_headers(forms: bool) -> [(&'static str, &'static str); 5] {
    [
        ("Content-Type", "text/html; charset=utf-8"),
        ("Cache-Control", "no-store"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Content-Type-Options", "nosniff"),
        (
            "Content-Security-Policy",
            if forms {
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
            } else {
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'none'; frame-ancestors 'none'"
            },
        ),
    ]
}

pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where a long value (a path, a URL, a file name) may break across lines, and nowhere
/// else: `<wbr>` after each run of `/`, `.`, `-` and `_` (and `\`, Windows' `/`) that
/// something follows. `escaped` is already escaped text: no entity contains those
/// characters, so none is split. The browser then never breaks the value mid-word, as in
/// `tiktok-shop-token.jso|n`.
pub fn breakable(escaped: &str) -> String {
    let is_break = |c: char| matches!(c, '/' | '\\' | '.' | '-' | '_');
    let mut out = String::with_capacity(escaped.len() + 16);
    let mut chars = escaped.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if is_break(c) && chars.peek().is_some_and(|&next| !is_break(next)) {
            out.push_str("<wbr>");
        }
    }
    out
}

/// An already-escaped value set as code. A short one (a code such as `access_denied`, a
/// command) is a chip that is never broken; a path or URL, or any long value, is a
/// `long` code that breaks only where `breakable` allows (and at spaces).
pub fn code(escaped: &str) -> String {
    // Characters as shown: an entity (`&amp;`, `&#39;`) counts as one.
    let shown = escaped
        .split('&')
        .enumerate()
        .map(|(i, part)| part.chars().count() - if i > 0 { part.find(';').unwrap_or(0) } else { 0 })
        .sum::<usize>();
    let path_like = escaped.contains(['/', '\\', '.']);
    if (path_like && shown > 12) || shown > 30 {
        format!("<code class=\"long\">{}</code>", breakable(escaped))
    } else {
        format!("<code>{escaped}</code>")
    }
}

/// A message as the terminal shows it, for a page: escaped, with its `quoted` values
/// (file names, codes) set as code.
pub fn message(text: &str) -> String {
    let escaped = escape(&crate::secret::scrub(text));
    let mut out = String::with_capacity(escaped.len() + 32);
    let mut parts = escaped.split('`');
    out.push_str(parts.next().unwrap_or_default());
    let rest: Vec<&str> = parts.collect();
    if rest.len() % 2 == 1 {
        // An odd number of backticks: show the text as it is.
        return escaped;
    }
    for pair in rest.chunks(2) {
        out.push_str(&code(pair[0]));
        out.push_str(pair.get(1).copied().unwrap_or_default());
    }
    out
}

/// A whole page. `title` is escaped here; `body_html` must already be safe HTML.
pub fn page(tone: Tone, title: &str, body_html: &str) -> String {
    let (accent, mark) = match tone {
        Tone::Good => ("#0a7d4f", "&#10003;"),
        Tone::Bad => ("#b3261e", "&#10007;"),
        Tone::Neutral => ("#3c4a5c", "&#8226;"),
    };
    let title = escape(title);
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{title} · tiktok-shop-auth</title>
<style>
*{{box-sizing:border-box}}
body{{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;background:#f3f4f6;
font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2937;padding:16px;
overflow-wrap:normal;word-break:normal}}
main{{background:#fff;max-width:34rem;width:100%;min-width:0;overflow-x:auto;border-radius:14px;
box-shadow:0 2px 12px rgba(0,0,0,.08);padding:28px 24px;border-top:6px solid {accent}}}
h1{{font-size:1.35rem;margin:0 0 12px;display:flex;gap:10px;align-items:center}}
h1 span{{color:{accent};font-size:1.6rem}}
p{{margin:8px 0}} dl{{display:grid;grid-template-columns:auto minmax(0,1fr);gap:4px 14px;margin:14px 0;font-size:.95rem}}
dt{{color:#6b7280}} dd{{margin:0}}
@media (max-width:30rem){{dl{{grid-template-columns:minmax(0,1fr);gap:0}} dd{{margin-bottom:8px}}}}
code{{background:#f3f4f6;padding:1px 5px;border-radius:4px;font-size:.9em;white-space:nowrap}}
code.long{{white-space:normal}}
.next{{margin-top:18px;padding-top:14px;border-top:1px solid #e5e7eb;color:#374151}}
ul{{padding-left:1.2rem;margin:6px 0}}
.buttons{{display:flex;gap:12px;flex-wrap:wrap;margin-top:20px}}
button{{flex:1 1 10rem;font:inherit;font-weight:600;padding:12px 16px;border-radius:10px;border:1px solid #d1d5db;cursor:pointer;background:#fff}}
button.primary{{background:#fe2c55;border-color:#fe2c55;color:#fff}}
small{{color:#6b7280}}
</style></head>
<body><main>
<h1><span aria-hidden="true">{mark}</span>{title}</h1>
{body_html}
</main></body></html>
"#
    )
}

pub fn not_found_page() -> String {
    page(
        Tone::Neutral,
        "Nothing here",
        "<p>This address only receives TikTok Shop's redirect for <code>tiktok-shop-auth login</code>.</p>",
    )
}

pub fn wrong_state_page() -> String {
    page(
        Tone::Bad,
        "This link belongs to another sign-in",
        "<p>This redirect does not match the sign-in that <code>tiktok-shop-auth login</code> is waiting for: \
         it comes from an earlier attempt (an old tab) or was not started on this computer. Nothing was changed.</p>\
         <p class=\"next\">Go back to the terminal and use the link it printed, or run <code>tiktok-shop-auth login</code> again. \
         You can close this tab.</p>",
    )
}

/// The page for a saved authorization.
pub fn granted_page(seller: &str, path: &str) -> String {
    page(
        Tone::Good,
        "Authorized and saved",
        &format!(
            "<p>The authorization for <b>{}</b> was granted and the tokens were saved to {}.</p>\
             <p class=\"next\">You can close this tab and go back to the terminal.</p>",
            escape(seller),
            code(&escape(path))
        ),
    )
}

pub fn denied_page(reason: &str) -> String {
    page(
        Tone::Bad,
        "Authorization denied",
        &format!(
            "<p>The authorization was not granted, so no token was saved: {}.</p>\
             <p class=\"next\">You can close this tab. To try again, run <code>tiktok-shop-auth login</code> again.</p>",
            message(reason)
        ),
    )
}

pub fn failed_page(error: &crate::error::Error) -> String {
    let details = match error {
        crate::error::Error::TikTok(api) => format!(
            "<dl><dt>code</dt><dd>{}</dd><dt>message</dt><dd>{}</dd><dt>request_id</dt><dd>{}</dd></dl>",
            api.code,
            escape(&api.message),
            escape(&api.request_id)
        ),
        other => format!("<p>{}</p>", message(&other.to_string())),
    };
    page(
        Tone::Bad,
        "Authorization failed",
        &format!(
            "<p>TikTok Shop sent the seller back, but the tokens could not be obtained or saved. Any token file that was there is unchanged.</p>\
             {details}<p class=\"next\">You can close this tab. The terminal shows the same error; fix it and run <code>tiktok-shop-auth login</code> again.</p>"
        ),
    )
}

/// What the sandbox's authorize page shows and carries through its two buttons.
pub struct AuthorizeRequest<'a> {
    pub app_key: &'a str,
    pub service_id: &'a str,
    pub state: &'a str,
    pub seller: &'a str,
    pub region: &'a str,
    pub redirect: &'a str,
    pub scopes: &'a [&'a str],
}

/// The sandbox's stand-in for TikTok Shop's consent page: Authorize and Deny, each a GET
/// form to `/open/authorize/decide` carrying the service id and the state.
pub fn authorize_page(r: &AuthorizeRequest) -> String {
    let hidden = |decision: &str| {
        format!(
            "<input type=\"hidden\" name=\"service_id\" value=\"{}\"><input type=\"hidden\" name=\"state\" value=\"{}\">\
             <input type=\"hidden\" name=\"decision\" value=\"{decision}\">",
            escape(r.service_id),
            escape(r.state)
        )
    };
    let scopes: String = r.scopes.iter().map(|s| format!("<li>{}</li>", code(&escape(s)))).collect();
    let body = format!(
        "<p><b>App {app}</b> (service {service}) asks to access your TikTok Shop seller account.</p>\
         <dl><dt>seller</dt><dd>{seller} ({region})</dd><dt>after</dt><dd>you return to {redirect}</dd></dl>\
         <p>It will be able to:</p><ul>{scopes}</ul>\
         <div class=\"buttons\">\
         <form method=\"get\" action=\"/open/authorize/decide\">{deny}<button type=\"submit\" id=\"deny\">Deny</button></form>\
         <form method=\"get\" action=\"/open/authorize/decide\">{approve}<button type=\"submit\" class=\"primary\" id=\"authorize\">Authorize</button></form>\
         </div><p class=\"next\"><small>tiktok-shop-auth sandbox: a local stand-in for TikTok Shop. No real account is involved.</small></p>",
        app = escape(r.app_key),
        service = escape(r.service_id),
        seller = escape(r.seller),
        region = escape(r.region),
        redirect = code(&escape(r.redirect)),
        deny = hidden("deny"),
        approve = hidden("approve"),
    );
    page(Tone::Neutral, "Authorize this app?", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_that_could_open_markup() {
        assert_eq!(
            escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(escape("plain é"), "plain é");
    }

    #[test]
    fn messages_set_quoted_values_as_code() {
        assert_eq!(
            message("TikTok reported `access_denied` <x>"),
            "TikTok reported <code>access_denied</code> &lt;x&gt;"
        );
        assert_eq!(message("a `b` c `d`"), "a <code>b</code> c <code>d</code>");
        assert_eq!(message("odd ` one"), "odd ` one");
        assert_eq!(message("`<script>`"), "<code>&lt;script&gt;</code>");
    }

    #[test]
    fn pages_are_self_contained() {
        let html = page(Tone::Bad, "<b>denied</b>", "<p>x</p>");
        assert!(html.contains("&lt;b&gt;denied&lt;/b&gt;"));
        for external in ["src=", "href=", "http://", "https://", "@import", "url("] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn long_values_break_only_after_separators() {
        assert_eq!(
            breakable("/home/me/.config/tiktok-shop-token.json"),
            "/<wbr>home/<wbr>me/.<wbr>config/<wbr>tiktok-<wbr>shop-<wbr>token.<wbr>json"
        );
        assert_eq!(breakable("http://localhost:8080/"), "http://<wbr>localhost:8080/");
        assert_eq!(breakable(r"C:\Users\me\token.json"), r"C:\<wbr>Users\<wbr>me\<wbr>token.<wbr>json");
        assert_eq!(breakable("--token-file"), "--<wbr>token-<wbr>file");
        // Escaped text: entities stay whole.
        assert_eq!(breakable(&escape("a&b_c'd.e")), "a&amp;b_<wbr>c&#39;d.<wbr>e");
        assert_eq!(breakable("nothing"), "nothing");
    }

    #[test]
    fn short_code_stays_a_chip_and_long_code_breaks() {
        assert_eq!(code("app_secret"), "<code>app_secret</code>");
        assert_eq!(code("tiktok-shop-auth login"), "<code>tiktok-shop-auth login</code>");
        assert_eq!(code("&lt;x&gt;.y"), "<code>&lt;x&gt;.y</code>");
        assert_eq!(code("tiktok-shop-token.json"), "<code class=\"long\">tiktok-<wbr>shop-<wbr>token.<wbr>json</code>");
        assert_eq!(
            message("could not write `secrets/token.json`: denied"),
            "could not write <code class=\"long\">secrets/<wbr>token.<wbr>json</code>: denied"
        );
        let granted = granted_page("Shop", "/tmp/tiktok-shop-token.json");
        assert!(granted.contains("/<wbr>tmp/<wbr>tiktok-<wbr>shop-<wbr>token.<wbr>json</code>"), "{granted}");
    }

    #[test]
    fn prose_never_breaks_mid_word() {
        let html = granted_page("Shop", "x");
        for rule in ["break-all", "anywhere", "break-word"] {
            assert!(!html.contains(rule), "{rule}");
        }
        assert!(html.contains("overflow-wrap:normal;word-break:normal") && html.contains("white-space:nowrap"));
    }
}
