//! Webhooks in the sandbox: the Events API (`GET`, `PUT`, `DELETE /event/202309/webhooks`,
//! one address per shop and event type), the deliveries, and the controls that set events
//! off (`POST /sandbox/revoke`, `POST /sandbox/orders/{id}/status?to=STATUS`), plus
//! UPCOMING_AUTHORIZATION_EXPIRATION for grants that end within 30 days.
//!
//! A delivery is built and signed with `webhook`'s rules and the sandbox's app, then sent
//! from a thread of its own: the request that set it off is answered at once, a slow or
//! failing receiver holds up nothing else, and the retries wait on TikTok's schedule (scaled
//! by `--webhook-retry-scale`, so that a test sees them all within seconds). Every attempt
//! is one line in the log; the receiver's answer is outside text, so it is cleaned.

use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tiny_http::Request;

use super::shop_api::{ORDER_STATUSES, order_id, shop_id};
use super::{Options, Sandbox};
use crate::delivery::{self, EVENTS, Event, RETRY_AFTER_SECS};
use crate::secret::clean;
use crate::{expiry, url};

/// The sandbox's code for a bad Events API request (an unknown event type, an address it
/// will not deliver to, a DELETE of what is not subscribed): TikTok's is not documented.
const BAD_REQUEST: i64 = 36009004;
/// The event types the sandbox sets off, by number.
const ORDER_STATUS_CHANGE: u64 = 1;
const SELLER_DEAUTHORIZATION: u64 = 6;
const UPCOMING_AUTHORIZATION_EXPIRATION: u64 = 7;

/// The subscriptions, and the orders the controls have moved: a handful of entries each, in
/// plain vectors (maps would add kilobytes of code to the binary for nothing).
#[derive(Default)]
pub(super) struct Events {
    webhooks: Vec<Subscription>,
    /// (shop, order index, its status now).
    pub(super) moved: Vec<(u32, usize, &'static str)>,
    /// The seller revoked the app: nothing more is delivered until a new login.
    pub(super) revoked: bool,
}

struct Subscription {
    shop: u32,
    event: &'static Event,
    address: String,
    created: i64,
}

impl Events {
    /// Removes `shop`'s subscription to `event`; whether there was one.
    fn unsubscribe(&mut self, shop: u32, event: &Event) -> bool {
        let before = self.webhooks.len();
        self.webhooks.retain(|s| (s.shop, s.event.number) != (shop, event.number));
        self.webhooks.len() < before
    }

    /// Queues `event` with `data` for `shop`'s subscribed address, if it has one (and the
    /// app is still authorized). Whether a delivery was queued.
    fn deliver(&self, opts: &Options, event: &'static Event, shop: u32, data: &str, now: i64) -> bool {
        let Some(to) = self.webhooks.iter().find(|s| (s.shop, s.event.number) == (shop, event.number)) else {
            return false;
        };
        if self.revoked {
            return false;
        }
        let Ok(id) = delivery::notification_id() else { return false };
        let what =
            format!("webhook {} (type {}) notification {id} to {}", event.name, event.number, clean(&to.address));
        // It signs with the app secret it was given, which may be a real one: never beyond
        // this machine, whatever was subscribed.
        if !on_this_machine(&to.address) {
            noteln!("sandbox: {what}: not sent: the sandbox delivers only to loopback addresses");
            return false;
        }
        let body = delivery::envelope(event, &shop_id(shop), data, now, &id).into_bytes();
        let signature = delivery::signature(&opts.app.key, opts.app.secret.expose(), &body);
        let address = to.address.clone();
        queue(Delivery { due: Instant::now(), attempt: 1, what, address, body, signature, scale: opts.retry_scale });
        true
    }
}

/// One delivery's next attempt.
struct Delivery {
    due: Instant,
    attempt: usize,
    what: String,
    address: String,
    body: Vec<u8>,
    signature: String,
    scale: u64,
}

/// The deliveries waiting for their time, and the signal that one was added.
struct Queue {
    waiting: Mutex<Vec<Delivery>>,
    added: Condvar,
}

impl Queue {
    /// Adds a delivery (a first attempt, or the next) and wakes a sender.
    fn push(&self, delivery: Delivery) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push(delivery);
            self.added.notify_one();
        }
    }
}

/// How many deliveries are attempted at once: a few slow receivers hold up no one else,
/// and a thousand pending retries cost a thousand small entries, not a thousand threads.
const SENDERS: usize = 4;

fn queue(delivery: Delivery) {
    static QUEUE: OnceLock<&'static Queue> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let queue: &'static Queue =
            Box::leak(Box::new(Queue { waiting: Mutex::new(Vec::new()), added: Condvar::new() }));
        for _ in 0..SENDERS {
            std::thread::spawn(move || send_when_due(queue));
        }
        queue
    });
    queue.push(delivery);
}

/// A sender: takes the delivery due first when its time comes, attempts it, and queues its
/// next attempt when it was not delivered.
fn send_when_due(queue: &'static Queue) {
    // Deliveries go to this machine only: never through a proxy.
    let agent = match crate::http::agent_within(delivery::ANSWER_WITHIN, false) {
        Ok(agent) => agent,
        Err(e) => return noteln!("sandbox: webhooks: not sent: {e}"),
    };
    loop {
        let Ok(mut waiting) = queue.waiting.lock() else { return };
        let delivery = loop {
            let next = waiting.iter().enumerate().min_by_key(|(_, d)| d.due).map(|(i, d)| (i, d.due));
            let wait = match next {
                Some((i, due)) if due <= Instant::now() => break waiting.swap_remove(i),
                Some((_, due)) => due - Instant::now(),
                None => Duration::from_secs(3600),
            };
            waiting = match queue.added.wait_timeout(waiting, wait) {
                Ok((w, _)) => w,
                Err(_) => return,
            };
        };
        drop(waiting);
        if let Some(next) = attempt(&agent, delivery) {
            queue.push(next);
        }
    }
}

/// One attempt at a delivery, logged; the next attempt (after TikTok's wait, times `scale`
/// billionths) unless it was answered HTTP 200 within `delivery::ANSWER_WITHIN` or this was
/// the last.
fn attempt(agent: &ureq::Agent, mut d: Delivery) -> Option<Delivery> {
    let (what, attempt, tries) = (&d.what, d.attempt, RETRY_AFTER_SECS.len() + 1);
    let (answer, took) = delivery::deliver(agent, &d.address, &d.body, &d.signature);
    let ms = took.as_millis();
    let outcome = match answer {
        Ok(reply) if reply.delivered(took) => {
            noteln!("sandbox: {what} attempt {attempt}/{tries}: HTTP 200 in {ms} ms: delivered");
            return None;
        }
        // The receiver's words are outside text: cleaned, and cut short.
        Ok(reply) => {
            let said = clean(&String::from_utf8_lossy(&reply.body));
            format!("HTTP {} in {ms} ms{}{said}", reply.status, if said.is_empty() { "" } else { ": " })
        }
        Err(e) => format!("{} after {ms} ms", clean(&e.to_string())),
    };
    let Some(secs) = RETRY_AFTER_SECS.get(attempt - 1) else {
        noteln!("sandbox: {what} attempt {attempt}/{tries}: {outcome}; dropped after {tries} attempts");
        return None;
    };
    let wait = Duration::from_nanos(secs * d.scale);
    noteln!("sandbox: {what} attempt {attempt}/{tries}: {outcome}; next try in {}", span(wait));
    d.due = Instant::now() + wait;
    d.attempt += 1;
    Some(d)
}

/// `1800 ms` below two minutes (a scaled schedule, exact), else `30 minutes`.
fn span(wait: Duration) -> String {
    match wait.as_millis() {
        ms if ms < 120_000 => format!("{ms} ms"),
        _ => expiry::describe_span(wait.as_secs()),
    }
}

/// Whether `address` is on this machine (`localhost` or a loopback address): the only
/// places the sandbox sends to.
fn on_this_machine(address: &str) -> bool {
    url::HttpUrl::parse(address).is_ok_and(|u| u.is_loopback())
}

/// Whether the sandbox takes `address` as a subscription: https anywhere (TikTok's rule is
/// stricter: a domain name, no port), or plain http to this machine. It delivers only to
/// this machine (`on_this_machine`).
fn deliverable(address: &str) -> bool {
    url::HttpUrl::parse(address).is_ok_and(|u| u.scheme == "https" || u.is_loopback())
}

impl Sandbox<'_> {
    /// The Events API, for `shop` (the checks are behind it already).
    pub(super) fn webhooks(&mut self, method: &str, body: &[u8], shop: u32) -> Result<Value, (u16, i64, String)> {
        let bad = |message: String| Err((400, BAD_REQUEST, message));
        if method == "GET" {
            let list: Vec<Value> = (self.events.webhooks.iter().filter(|s| s.shop == shop))
                .map(|s| json!({ "event_type": s.event.name, "address": s.address, "create_time": s.created }))
                .collect();
            return Ok(json!({ "webhooks": list }));
        }
        let Ok(body) = serde_json::from_slice::<Value>(body) else {
            return bad("the request body is not valid JSON".into());
        };
        let text = |key: &str| body.get(key).and_then(Value::as_str).unwrap_or_default();
        let Some(event) = EVENTS.iter().find(|e| e.name == text("event_type")) else {
            return bad(format!(
                "event_type `{}` is not a TikTok Shop event type (see EVENTS in `tiktok-shop-auth webhook --help`)",
                clean(text("event_type"))
            ));
        };
        let address = text("address");
        if method == "PUT" && !deliverable(address) {
            return bad(format!(
                "address `{}` is not an https URL (or, in the sandbox, plain http to loopback)",
                clean(address)
            ));
        }
        // A PUT replaces the shop's address for the event: one each.
        if !self.events.unsubscribe(shop, event) && method == "DELETE" {
            return bad(format!("no webhook address is subscribed for {} in this shop", event.name));
        }
        if method == "PUT" {
            let created = self.now();
            self.events.webhooks.push(Subscription { shop, event, address: address.to_string(), created });
        }
        Ok(Value::Object(Default::default()))
    }

    /// `POST /sandbox/...`: the controls that set events off. No credentials: the sandbox
    /// is a local test tool. The answer says what happened, as JSON.
    pub(super) fn control(&mut self, request: Request, path: &str, params: &[(String, String)]) {
        let order = path.strip_prefix("/sandbox/orders/").and_then(|p| p.strip_suffix("/status"));
        let shop = path.strip_prefix("/sandbox/shops/").and_then(|p| p.strip_suffix("/deactivate"));
        let answer = match (path, order, shop) {
            ("/sandbox/revoke", _, _) => Ok(self.revoke()),
            ("/sandbox/seller/deactivate", _, _) => {
                self.seller_inactive = true;
                Ok(r#"{"seller_inactive":true}"#.into())
            }
            ("/sandbox/throttle", _, _) => match url::get(params, "count").and_then(|c| c.parse::<u64>().ok()) {
                Some(n) => {
                    self.throttle_next = n;
                    Ok(format!(r#"{{"throttle_next":{n}}}"#))
                }
                None => Err((400, "count=N is required".into())),
            },
            (_, Some(id), _) => self.move_order(id, url::get(params, "to").unwrap_or_default()),
            (_, _, Some(id)) => match (1..=self.opts.shops).find(|s| shop_id(*s) == id) {
                Some(s) => {
                    self.inactive_shops.push(s);
                    Ok(format!(r#"{{"inactive_shop":{}}}"#, Value::from(id)))
                }
                None => Err((404, format!("no shop `{}` in the sandbox", clean(id)))),
            },
            _ => Err((
                404,
                "no such control: POST /sandbox/revoke, /sandbox/orders/ID/status?to=STATUS, /sandbox/shops/ID/deactivate \
                 or /sandbox/seller/deactivate"
                    .into(),
            )),
        };
        let (status, body) = match answer {
            Ok(body) => (200, body),
            Err((status, message)) => (status, format!(r#"{{"error":{}}}"#, Value::from(message))),
        };
        self.send(request, status, "application/json; charset=utf-8", body, &[]);
    }

    /// The seller revokes the grant: every token stops working at once, and each shop's
    /// subscribed address hears SELLER_DEAUTHORIZATION.
    pub(super) fn revoke(&mut self) -> String {
        if self.events.revoked {
            return r#"{"revoked":false,"deliveries":0}"#.into();
        }
        self.access.clear();
        self.refresh.clear();
        self.codes.clear();
        let now = self.now();
        let deliveries = Event::by_number(SELLER_DEAUTHORIZATION).map_or(0, |event| {
            (1..=self.opts.shops)
                .filter(|&shop| {
                    self.events.deliver(self.opts, event, shop, &event.example_data(&shop_id(shop), now), now)
                })
                .count()
        });
        self.events.revoked = true;
        format!(r#"{{"revoked":true,"deliveries":{deliveries}}}"#)
    }

    /// Moves a seeded order to `to`; its shop's subscribed address hears ORDER_STATUS_CHANGE.
    fn move_order(&mut self, id: &str, to: &str) -> Result<String, (u16, String)> {
        // `order_id`'s shape: 57700, the shop in two digits, the index in eleven.
        let i = id.get(7..).and_then(|n| n.parse::<usize>().ok()).filter(|i| *i < self.opts.orders);
        let found = i.and_then(|i| (1..=self.opts.shops).find(|s| order_id(i, *s) == id).map(|s| (s, i)));
        let Some((shop, i)) = found else {
            return Err((404, format!("no seeded order `{}` in the sandbox's shops", clean(id))));
        };
        let Some(status) = ORDER_STATUSES.iter().find(|s| **s == to) else {
            return Err((400, format!("to=`{}` is not one of {}", clean(to), ORDER_STATUSES.join(", "))));
        };
        if self.order_status(i, shop) == *status {
            // No move, no event.
            return Ok(format!(r#"{{"order_id":"{id}","order_status":"{status}","deliveries":0}}"#));
        }
        self.events.moved.retain(|m| (m.0, m.1) != (shop, i));
        self.events.moved.push((shop, i, status));
        let now = self.now();
        // The id is digits and the status one of ours: nothing to escape.
        let order = format!(r#""order_id":"{id}","order_status":"{status}""#);
        let on_hold = *status == "ON_HOLD";
        let data = format!(r#"{{{order},"update_time":{now},"is_on_hold_order":{on_hold}}}"#);
        let delivered = Event::by_number(ORDER_STATUS_CHANGE)
            .is_some_and(|event| self.events.deliver(self.opts, event, shop, &data, now));
        Ok(format!(r#"{{{order},"deliveries":{}}}"#, u8::from(delivered)))
    }

    /// UPCOMING_AUTHORIZATION_EXPIRATION, once per grant and shop, for every live grant
    /// whose refresh token ends within 30 days, to the shops subscribed to it.
    pub(super) fn warn_expiring(&mut self) {
        let Some(event) = Event::by_number(UPCOMING_AUTHORIZATION_EXPIRATION) else { return };
        let now = self.now();
        let (opts, events) = (self.opts, &self.events);
        for grant in self.refresh.values_mut() {
            let left = grant.refresh_expires_at - now;
            if !(1..=expiry::REFRESH_ENDING_SOON).contains(&left) {
                continue;
            }
            for shop in 1..=opts.shops {
                let bit = 1 << (shop - 1);
                if grant.warned & bit != 0 {
                    continue;
                }
                // Webhook's example, with the real end: digits and words, nothing to escape.
                let data = format!(
                    r#"{{"message":"Authorization of shop_id {} is expiring in {}. Please direct the merchant to re-authorize.","expiration_time":"{}"}}"#,
                    shop_id(shop),
                    expiry::describe_span(left as u64),
                    grant.refresh_expires_at
                );
                if events.deliver(opts, event, shop, &data, now) {
                    grant.warned |= bit;
                }
            }
        }
    }
}
