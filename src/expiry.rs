//! Expiry arithmetic on the absolute Unix timestamps TikTok returns.
//!
//! `access_token_expire_in` and `refresh_token_expire_in` are points in time (seconds since
//! the epoch), not durations, whatever their names suggest. A token counts as expired
//! `SKEW_MARGIN` seconds early, so a clock that runs a little behind TikTok's never hands a
//! script a token that dies in flight.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds before the stated expiry at which a token is treated as expired.
pub const SKEW_MARGIN: i64 = 60;

/// TikTok accepts a signed call's `timestamp` from this many seconds behind its clock...
pub const CLOCK_BEHIND_MAX: i64 = 300;
/// ...to this many seconds ahead of it.
pub const CLOCK_AHEAD_MAX: i64 = 30;

/// An access token that ends within this is "expiring" (`status`).
pub const ACCESS_ENDING_SOON: i64 = 86_400;
/// A refresh token that ends within this is "expiring": a new login comes due (`status`,
/// `doctor`).
pub const REFRESH_ENDING_SOON: i64 = 30 * 86_400;
/// From this long before the refresh token's end, `refresh` warns on stderr (cron mails it).
pub const LOGIN_DUE_WARNING: i64 = 7 * 86_400;

/// The window a signed call's timestamp must fall in, in words: `within 5 minutes behind
/// to 30 seconds ahead of`.
pub fn clock_window() -> String {
    format!(
        "within {} behind to {} ahead of",
        describe_span(CLOCK_BEHIND_MAX as u64),
        describe_span(CLOCK_AHEAD_MAX as u64)
    )
}

/// Whether a signed call's `timestamp` is one TikTok takes at `now` (its clock).
pub fn in_clock_window(timestamp: i64, now: i64) -> bool {
    (now - CLOCK_BEHIND_MAX..=now + CLOCK_AHEAD_MAX).contains(&timestamp)
}

pub fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// Seconds of usable life left (negative once expired), margin included.
pub fn remaining(expires_at: i64, now: i64) -> i64 {
    expires_at - SKEW_MARGIN - now
}

pub fn is_valid(expires_at: i64, now: i64) -> bool {
    remaining(expires_at, now) > 0
}

/// `2026-12-04 12:00:00 UTC`.
pub fn utc(timestamp: i64) -> String {
    let days = timestamp.div_euclid(86_400);
    let secs = timestamp.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC", secs / 3600, secs / 60 % 60, secs % 60)
}

/// `2026-12-04 12:00:00 UTC (in 7 days)`: a date and the time left, as every message
/// and summary shows an expiry.
pub fn describe(at: i64, now: i64) -> String {
    format!("{} ({})", utc(at), relative(at, now))
}

/// `in 7 days`, `in 5 hours`, `expired 3 minutes ago`: the nearest whole unit.
pub fn relative(expires_at: i64, now: i64) -> String {
    let delta = expires_at - now;
    let span = describe_span(delta.unsigned_abs());
    if delta > 0 { format!("in {span}") } else { format!("expired {span} ago") }
}

pub fn describe_span(secs: u64) -> String {
    let nearest = |unit: u64| (secs + unit / 2) / unit;
    let (n, unit) = match secs {
        s if s >= 2 * 86_400 => (nearest(86_400), "day"),
        s if s >= 2 * 3600 => (nearest(3600), "hour"),
        s if s >= 120 => (nearest(60), "minute"),
        s => (s, "second"),
    };
    if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The inverse of `civil_from_days`.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// An RFC 7231 IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as HTTP's `Date` header.
pub fn http_date(timestamp: i64) -> String {
    let days = timestamp.div_euclid(86_400);
    let secs = timestamp.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let weekday = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][days.rem_euclid(7) as usize];
    let month = MONTHS[(m - 1) as usize];
    format!("{weekday}, {d:02} {month} {y:04} {:02}:{:02}:{:02} GMT", secs / 3600, secs / 60 % 60, secs % 60)
}

/// An IMF-fixdate as a Unix time; `None` for anything else.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [_, day, month, year, clock, "GMT"] = parts.as_slice() else { return None };
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = clock.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s)
}

/// Seconds as the shortest spelling `parse_duration` reads back: `120` is `2m`, `604800`
/// is `7d`. How `--help` shows a default.
pub fn short(secs: i64) -> String {
    match secs {
        0 => "0s".into(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// `90s`, `30m`, `12h`, `2d` (a bare number is seconds) into seconds.
pub fn parse_duration(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => text.split_at(i),
        None => (text, "s"),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}` is not a duration like 90s, 30m, 12h or 2d")),
    };
    let n: i64 = number.parse().map_err(|_| format!("`{text}` is not a duration like 90s, 30m, 12h or 2d"))?;
    n.checked_mul(scale).filter(|s| *s < 100 * 365 * 86_400).ok_or_else(|| format!("`{text}` is too long a duration"))
}

/// `20ms`, `1s`, `2m` (a bare number is milliseconds) into a `Duration`, at most an hour.
pub fn parse_millis(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let millis = match text.strip_suffix("ms") {
        Some(n) => n.parse::<u64>().map_err(|_| format!("`{text}` is not a duration like 20ms or 1s")),
        None if text.bytes().all(|b| b.is_ascii_digit()) => {
            text.parse::<u64>().map_err(|_| format!("`{text}` is not a duration like 20ms or 1s"))
        }
        None => parse_duration(text).map(|s| s as u64 * 1000),
    }?;
    if millis > 3_600_000 {
        return Err(format!("`{text}` is longer than an hour"));
    }
    Ok(std::time::Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_is_read_back_by_parse_duration() {
        for secs in [0, 1, 30, 60, 90, 120, 600, 3600, 5400, 86_400, 7 * 86_400, 365 * 86_400] {
            assert_eq!(parse_duration(&short(secs)), Ok(secs), "{}", short(secs));
        }
        assert_eq!(short(120), "2m");
        assert_eq!(short(7 * 86_400), "7d");
    }

    #[test]
    fn formats_utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_660_556_783), "2022-08-15 09:46:23 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(4_102_444_799), "2099-12-31 23:59:59 UTC");
        assert_eq!(utc(-1), "1969-12-31 23:59:59 UTC");
    }

    #[test]
    fn http_dates_round_trip() {
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Mon, 15 Aug 2022 09:46:23 GMT"), Some(1_660_556_783));
        assert_eq!(parse_http_date("yesterday"), None);
        for t in [951_782_400, 1_660_556_783, 4_102_444_799] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
        }
    }

    #[test]
    fn describes_time_left() {
        let now = 1_000_000;
        assert_eq!(relative(now + 7 * 86_400, now), "in 7 days");
        assert_eq!(relative(now + 86_400 + 5, now), "in 24 hours");
        assert_eq!(relative(now + 3 * 3600 + 59, now), "in 3 hours");
        assert_eq!(relative(now + 7 * 86_400 - 30, now), "in 7 days");
        assert_eq!(relative(now + 2 * 86_400 + 13 * 3600, now), "in 3 days");
        assert_eq!(relative(now + 61, now), "in 61 seconds");
        assert_eq!(relative(now + 600, now), "in 10 minutes");
        assert_eq!(relative(now - 3 * 86_400, now), "expired 3 days ago");
        assert_eq!(relative(now, now), "expired 0 seconds ago");
    }

    #[test]
    fn validity_keeps_a_skew_margin() {
        let now = 1_000_000;
        assert!(is_valid(now + SKEW_MARGIN + 1, now));
        assert!(!is_valid(now + SKEW_MARGIN, now));
        assert!(!is_valid(now - 5, now));
        assert_eq!(remaining(now + 3600, now), 3600 - SKEW_MARGIN);
    }

    #[test]
    fn parses_millisecond_durations() {
        assert_eq!(parse_millis("20ms"), Ok(std::time::Duration::from_millis(20)));
        assert_eq!(parse_millis("1s"), Ok(std::time::Duration::from_secs(1)));
        assert_eq!(parse_millis("250"), Ok(std::time::Duration::from_millis(250)));
        assert!(parse_millis("2h").is_err() && parse_millis("x").is_err() && parse_millis("-1ms").is_err());
    }

    #[test]
    fn parses_durations() {
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("30m"), Ok(1800));
        assert_eq!(parse_duration("12h"), Ok(43_200));
        assert_eq!(parse_duration("2d"), Ok(172_800));
        assert_eq!(parse_duration("45"), Ok(45));
        for bad in ["", "d", "2w", "-1d", "1.5h", "2 d", "99999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
