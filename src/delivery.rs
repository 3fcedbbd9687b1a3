//! TikTok Shop's webhook deliveries, as facts on the wire: the event types, the envelope,
//! the signature and the delivery contract. No command line here: `commands::webhook`
//! builds on it, and the sandbox delivers with the same rules.
//!
//! A delivery is a POST of the JSON envelope `{"type", "tts_notification_id", "shop_id",
//! "timestamp", "data"}` with `Authorization: <hex>`, where hex is the lowercase
//! HMAC-SHA256 keyed by the app secret over the app key followed by the raw body bytes. No
//! timestamp is signed, and the body is checked as received, never re-serialised (a
//! re-serialised body is a different message). The receiver must answer 200 within
//! `ANSWER_WITHIN`; otherwise TikTok tries again after each of `RETRY_AFTER_SECS`, then
//! drops the event, so deliveries repeat and receivers de-duplicate on the notification id.
//!
//! Each event's example `data` follows the shape of TikTok's documented example for it,
//! with the time of sending and the shop filled in, so a receiver meets what it will meet.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::error::Error;

/// TikTok gives up on an answer after this long.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(3);

/// The waits before TikTok's retries of an undelivered event (2 min, 30 min, 3 h, 12 h);
/// after the last it drops the event.
pub const RETRY_AFTER_SECS: [u64; 4] = [120, 1800, 3 * 3600, 12 * 3600];

/// The largest answer read from a receiver (TikTok documents an empty one).
pub const MAX_ANSWER: u64 = 1024 * 1024;

/// The shop id of TikTok's published example, used when no shop is given.
pub const EXAMPLE_SHOP_ID: &str = "7495540735365777507";

/// One event type: its number in `type`, its name in the Events API, and an example `data`
/// in which `$NOW` is the time of sending, `$EXPIRES` that plus 30 days and `$SHOP` the
/// shop id (inside a JSON string).
pub struct Event {
    pub number: u64,
    pub name: &'static str,
    example: &'static str,
}

/// Every event type TikTok Shop's facts page (§9) lists, in number order.
pub const EVENTS: &[Event] = &[
    Event {
        number: 1,
        name: "ORDER_STATUS_CHANGE",
        example: r#"{"order_id":"576486316948490001","order_status":"AWAITING_SHIPMENT","is_on_hold_order":false,"update_time":$NOW}"#,
    },
    Event {
        number: 2,
        name: "REVERSE_STATUS_UPDATE",
        example: r#"{"order_id":"576486316948490001","reverse_order_id":"4035318504086604100","reverse_order_status":1,"reverse_event_type":"ORDER_REQUEST_CANCEL","reverse_type":4,"update_time":$NOW}"#,
    },
    Event {
        number: 3,
        name: "RECIPIENT_ADDRESS_UPDATE",
        example: r#"{"order_id":"576486316948490001","update_time":$NOW}"#,
    },
    Event {
        number: 4,
        name: "PACKAGE_UPDATE",
        example: r#"{"sc_type":"SPLIT","role_type":"ROLE_SELLER","package_list":[{"package_id":"1152921537604620001","order_id_list":["576486316948490001"]}],"update_time":$NOW}"#,
    },
    Event {
        number: 5,
        name: "PRODUCT_STATUS_CHANGE",
        example: r#"{"product_id":1729382476852921560,"status":"PRODUCT_STATUS_CHANGED","suspended_reason":"","update_time":$NOW}"#,
    },
    Event {
        number: 6,
        name: "SELLER_DEAUTHORIZATION",
        example: r#"{"message":"Shop_id $SHOP is deauthorized from your APP by merchant."}"#,
    },
    Event {
        number: 7,
        name: "UPCOMING_AUTHORIZATION_EXPIRATION",
        example: r#"{"message":"Authorization of shop_id $SHOP is expiring in 30 days. Please direct the merchant to re-authorize.","expiration_time":"$EXPIRES"}"#,
    },
    Event {
        number: 11,
        name: "CANCELLATION_STATUS_CHANGE",
        example: r#"{"order_id":"576486316948490001","cancellations_role":"BUYER","cancel_status":"CANCELLATION_REQUEST_PENDING","cancel_id":"4035318504086604100","create_time":$NOW}"#,
    },
    Event {
        number: 12,
        name: "RETURN_STATUS_CHANGE",
        example: r#"{"order_id":"576486316948490001","return_role":"BUYER","return_type":"REFUND","return_status":"RETURN_OR_REFUND_REQUEST_PENDING","return_id":"4035318504086604101","create_time":$NOW,"update_time":$NOW}"#,
    },
    Event {
        number: 13,
        name: "NEW_CONVERSATION",
        example: r#"{"conversation_id":"7494560109732334250","create_time":$NOW}"#,
    },
    Event {
        number: 14,
        name: "NEW_MESSAGE",
        example: r#"{"content":"{\"content\":\"Hello, when will my order ship?\"}","conversation_id":"7494560109732334250","create_time":$NOW,"is_visible":true,"message_id":"7494560109732334263","index":"7494560109732334274","type":"TEXT","sender":{"im_user_id":"7494560109732334261","role":"BUYER"}}"#,
    },
    Event {
        number: 15,
        name: "PRODUCT_INFORMATION_CHANGE",
        example: r#"{"product_id":"1729382476852921560","change_source":"SELLER_CENTER","changed_fields":["title","main_images"],"update_time":$NOW}"#,
    },
    Event {
        number: 16,
        name: "PRODUCT_CREATION",
        example: r#"{"product_id":1729382476852921560,"product_types":["COMBINED_PRODUCT"],"update_time":$NOW}"#,
    },
];

impl Event {
    /// An event by its name (any case) or its number.
    pub fn find(name_or_number: &str) -> Option<&'static Event> {
        match name_or_number.parse::<u64>() {
            Ok(n) => Event::by_number(n),
            Err(_) => EVENTS.iter().find(|e| e.name.eq_ignore_ascii_case(name_or_number)),
        }
    }

    pub fn by_number(number: u64) -> Option<&'static Event> {
        EVENTS.iter().find(|e| e.number == number)
    }

    /// This event's example `data` (compact JSON), sent at `now` for `shop_id`.
    pub fn example_data(&self, shop_id: &str, now: i64) -> String {
        let quoted = json_string(shop_id);
        let in_string = quoted.get(1..quoted.len().saturating_sub(1)).unwrap_or_default();
        self.example
            .replace("$NOW", &now.to_string())
            .replace("$EXPIRES", &(now + 30 * 86_400).to_string())
            .replace("$SHOP", in_string)
    }
}

/// When TikTok tries an undelivered event again, in words (`RETRY_AFTER_SECS`; a test
/// keeps the two the same).
pub const RETRY_SCHEDULE: &str = "2 min, 30 min, 3 h and 12 h";

/// The delivery body, compact as TikTok sends it: `data` is JSON text, put in as given.
pub fn envelope(event: &Event, shop_id: &str, data: &str, now: i64, notification_id: &str) -> String {
    let text = json_string;
    format!(
        r#"{{"type":{},"tts_notification_id":{},"shop_id":{},"timestamp":{now},"data":{data}}}"#,
        event.number,
        text(notification_id),
        text(shop_id),
    )
}

/// `s` as a JSON string, quotes included (through `Value`'s `Display`, which the binary has
/// anyway).
fn json_string(s: &str) -> String {
    Value::from(s).to_string()
}

/// A fresh notification id: 19 digits, like TikTok's (`7380066284010030890`).
pub fn notification_id() -> Result<String, Error> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Local("the operating system's random source failed".into()))?;
    Ok((7_000_000_000_000_000_000 + u64::from_le_bytes(bytes) % 1_000_000_000_000_000_000).to_string())
}

fn key(secret: &str) -> ring::hmac::Key {
    ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes())
}

/// The message signed: the app key, then the body's bytes.
fn message(app_key: &str, body: &[u8]) -> Vec<u8> {
    [app_key.as_bytes(), body].concat()
}

/// The `Authorization` value of a delivery: lowercase hex.
pub fn signature(app_key: &str, secret: &str, body: &[u8]) -> String {
    ring::hmac::sign(&key(secret), &message(app_key, body)).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// A signature as given (hex in either case, surrounding whitespace ignored), or `None`
/// when it is not 64 hex digits.
pub fn parse_hex(signature: &str) -> Option<[u8; 32]> {
    let hex = signature.trim().as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks(2)) {
        *byte = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(out)
}

/// Whether `signature` is this body's, compared in constant time (ring's `hmac::verify`).
pub fn verify(app_key: &str, secret: &str, body: &[u8], signature: &str) -> bool {
    parse_hex(signature).is_some_and(|tag| ring::hmac::verify(&key(secret), &message(app_key, body), &tag).is_ok())
}

/// The HTTP client for deliveries: the tool's usual agent (proxies, `SSL_CERT_FILE`), with
/// `ANSWER_WITHIN` as the limit for the whole exchange, as TikTok gives.
pub fn agent() -> Result<ureq::Agent, Error> {
    crate::http::agent_within(ANSWER_WITHIN, true)
}

/// A receiver's answer.
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    /// Whether TikTok counts it as delivered: 200, within `ANSWER_WITHIN` of sending.
    pub fn delivered(&self, took: Duration) -> bool {
        self.status == 200 && took <= ANSWER_WITHIN
    }
}

/// POSTs one delivery as TikTok does (`Content-Type: application/json`, `Authorization:
/// <signature>`) through an `agent()` and the tool's one HTTP path (`tiktok::send`: bounded,
/// scrubbed); the answer is read whole (at most `MAX_ANSWER`). Returns it, or why there is
/// none, and the time taken.
pub fn deliver(agent: &ureq::Agent, url: &str, body: &[u8], signature: &str) -> (Result<Reply, Error>, Duration) {
    let started = Instant::now();
    let headers = [("content-type", "application/json"), ("authorization", signature)];
    let answer = crate::http::send(agent, "POST", url, url, &headers, Some(body), MAX_ANSWER);
    (answer.map(|a| Reply { status: a.status, body: a.body }), started.elapsed())
}

/// What a delivery's envelope says, each field as found (any may be missing).
#[derive(Debug, Default, PartialEq)]
pub struct Delivery {
    pub type_number: Option<u64>,
    pub notification_id: Option<String>,
    pub shop_id: Option<String>,
    pub timestamp: Option<i64>,
}

impl Delivery {
    /// The envelope of a body, or the JSON error when it is not JSON.
    pub fn parse(body: &[u8]) -> Result<Delivery, serde_json::Error> {
        let value: Value = serde_json::from_slice(body)?;
        // Ids are strings on the wire; a number is taken too, as a receiver would.
        let id = |key: &str| match value.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        Ok(Delivery {
            type_number: value.get("type").and_then(Value::as_u64),
            notification_id: id("tts_notification_id"),
            shop_id: id("shop_id"),
            timestamp: value.get("timestamp").and_then(Value::as_i64),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TikTok's published example (facts page §9).
    const KEY: &str = "abcdef";
    const SECRET: &str = "123";
    const BODY: &str = r#"{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}"#;
    const SIGNATURE: &str = "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05";

    #[test]
    fn webhook_published_example_signs_and_verifies() {
        assert_eq!(signature(KEY, SECRET, BODY.as_bytes()), SIGNATURE);
        assert!(verify(KEY, SECRET, BODY.as_bytes(), SIGNATURE));
        assert!(verify(KEY, SECRET, BODY.as_bytes(), &format!(" {}\n", SIGNATURE.to_ascii_uppercase())));
        let d = Delivery::parse(BODY.as_bytes()).unwrap();
        assert_eq!(d.type_number, Some(1));
        assert_eq!(d.notification_id.as_deref(), Some("7380066284010030890"));
        assert_eq!(d.timestamp, Some(1718305585));
    }

    #[test]
    fn webhook_one_byte_changed_does_not_verify() {
        let tampered = BODY.replace("UNPAID", "UNPAIE");
        assert_eq!(tampered.len(), BODY.len());
        assert!(!verify(KEY, SECRET, tampered.as_bytes(), SIGNATURE));
        assert!(!verify("abcdeg", SECRET, BODY.as_bytes(), SIGNATURE));
        assert!(!verify(KEY, "124", BODY.as_bytes(), SIGNATURE));
        let mut sig = SIGNATURE.to_string();
        sig.replace_range(63.., "4");
        assert!(!verify(KEY, SECRET, BODY.as_bytes(), &sig));
        for bad in ["", "5dec", &SIGNATURE[..63], &format!("{SIGNATURE}0"), &SIGNATURE.replace('5', "g")] {
            assert!(!verify(KEY, SECRET, BODY.as_bytes(), bad), "{bad}");
        }
    }

    #[test]
    fn webhook_every_event_has_json_data_and_builds_the_envelope() {
        let mut numbers: Vec<u64> = EVENTS.iter().map(|e| e.number).collect();
        numbers.dedup();
        assert_eq!(numbers, [1, 2, 3, 4, 5, 6, 7, 11, 12, 13, 14, 15, 16]);
        for event in EVENTS {
            let data = event.example_data("74\"95", 1718305585);
            let value: Value = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{}: {e}: {data}", event.name));
            assert!(value.is_object() && !data.contains('$'), "{}", event.name);
            let body = envelope(event, "74\"95", &data, 1718305585, "7380066284010030890");
            let v: Value = serde_json::from_str(&body).unwrap();
            assert_eq!((v["type"].as_u64(), v["shop_id"].as_str()), (Some(event.number), Some("74\"95")));
            assert_eq!(v["data"], value);
            assert!(body.starts_with(&format!(r#"{{"type":{},"tts_notification_id":"#, event.number)));
            assert_eq!(Event::find(&event.number.to_string()).map(|e| e.name), Some(event.name));
            assert_eq!(Event::find(&event.name.to_ascii_lowercase()).map(|e| e.number), Some(event.number));
        }
        assert!(Event::find("8").is_none() && Event::find("ORDER").is_none());
        assert!(EVENTS[5].example_data("42", 0).contains("Shop_id 42 is deauthorized"));
    }

    #[test]
    fn webhook_notification_ids_are_fresh_19_digit_numbers() {
        let (a, b) = (notification_id().unwrap(), notification_id().unwrap());
        assert!(a.len() == 19 && a.bytes().all(|c| c.is_ascii_digit()), "{a}");
        assert_ne!(a, b);
    }

    #[test]
    fn webhook_retry_schedule_reads_as_tiktok_says_it() {
        let spans: Vec<String> = RETRY_AFTER_SECS
            .iter()
            .map(|&s| if s < 3600 { format!("{} min", s / 60) } else { format!("{} h", s / 3600) })
            .collect();
        assert_eq!(RETRY_SCHEDULE, format!("{}, {}, {} and {}", spans[0], spans[1], spans[2], spans[3]));
    }
}
