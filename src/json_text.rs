//! JSON text laid out anew without being re-serialised.
//!
//! The token file and `api`'s output are TikTok's answer as received: key order, number
//! spelling (`1.50`, 64-bit ids) and string escapes must survive, which a parse and
//! re-serialise through `serde_json::Value` would not promise. These walk the text once,
//! changing only the whitespace between tokens. Input must be valid JSON.

/// Re-indents valid JSON text by two spaces a level (as `serde_json`'s pretty printer
/// does) while keeping every token exactly as it came: key order, number spelling and
/// string escapes. The file is the response as received, only laid out for reading.
pub fn pretty(json: &[u8]) -> Vec<u8> {
    fn newline(out: &mut Vec<u8>, depth: usize) {
        out.push(b'\n');
        out.resize(out.len() + 2 * depth, b' ');
    }
    let mut out = Vec::with_capacity(json.len() * 2);
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut i = 0;
    while i < json.len() {
        let b = json[i];
        i += 1;
        if in_string {
            out.push(b);
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => {}
            b'"' => {
                in_string = true;
                out.push(b);
            }
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                let next = json[i..].iter().position(|c| !c.is_ascii_whitespace()).map(|p| i + p);
                if next.is_some_and(|n| json[n] == close) {
                    out.extend_from_slice(&[b, close]);
                    i = next.map_or(i, |n| n + 1);
                } else {
                    depth += 1;
                    out.push(b);
                    newline(&mut out, depth);
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(b);
            }
            b',' => {
                out.push(b);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(b),
        }
    }
    out.push(b'\n');
    out
}

/// The same JSON on one line with no whitespace between tokens (for JSON Lines).
pub fn compact(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            in_string = b == b'"';
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{compact, pretty};

    #[test]
    fn pretty_keeps_order_and_spelling() {
        let raw = br#"{"code":0,"message":"s","data":{"z_last":1.50,"a":[1, 2 ,{}],"s":"q\"{,:[","e":[ ],"n":null,"big":18446744073709551616}}"#;
        let expected = r#"{
  "code": 0,
  "message": "s",
  "data": {
    "z_last": 1.50,
    "a": [
      1,
      2,
      {}
    ],
    "s": "q\"{,:[",
    "e": [],
    "n": null,
    "big": 18446744073709551616
  }
}
"#;
        assert_eq!(String::from_utf8(pretty(raw)).unwrap(), expected);
    }

    #[test]
    fn compact_keeps_order_and_spelling_on_one_line() {
        let raw = b"{ \"b\" : [1.50, {\"s\": \"a b\\\" {\" }],\n \"a\": null }";
        assert_eq!(compact(raw), br#"{"b":[1.50,{"s":"a b\" {"}],"a":null}"#);
    }

    #[test]
    fn pretty_matches_serde_json_layout() {
        let raw = br#"{"code":0,"data":{"granted_scopes":["a","b"],"user_type":0,"x":{"y":[]}},"request_id":"R"}"#;
        let value: serde_json::Value = serde_json::from_slice(raw).unwrap();
        let mut serde = serde_json::to_vec_pretty(&value).unwrap();
        serde.push(b'\n');
        assert_eq!(pretty(raw), serde);
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&pretty(raw)).unwrap(), value);
    }
}
