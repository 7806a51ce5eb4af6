//! Times as `docker ps` shows them: `2 minutes ago`, `Up 3 hours`,
//! `Exited (0) About a minute ago` (Docker's units.HumanDuration), read
//! from the RFC 3339 stamps the agent keeps, and the stamps the CLI
//! writes for its command's start and exit.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = now();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Seconds since the epoch of `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
pub fn parse_rfc3339(text: &str) -> Option<u64> {
    let (date, time) = text.split_once('T')?;
    let mut date = date.split('-').map(|p| p.parse::<i64>());
    let (y, m, d) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let time = time.trim_end_matches('Z');
    let time = time.split('.').next()?;
    let mut hms = time.split(':').map(|p| p.parse::<u64>());
    let (h, min, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let days = u64::try_from(days_from_civil(y, m, d)).ok()?;
    Some(days * 86_400 + h * 3600 + min * 60 + s)
}

/// `seconds` as Docker words a duration.
pub fn human_duration(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| {
        if n == 1 {
            format!("1 {unit}")
        } else {
            format!("{n} {unit}s")
        }
    };
    let hours = seconds / 3600;
    match seconds {
        0 => "Less than a second".into(),
        s if s < 60 => plural(s, "second"),
        s if s < 120 => "About a minute".into(),
        s if s < 46 * 60 => plural(s / 60, "minute"),
        s if s < 90 * 60 => "About an hour".into(),
        _ if hours < 48 => plural(hours, "hour"),
        _ if hours < 24 * 7 * 2 => plural(hours / 24, "day"),
        _ if hours < 24 * 30 * 2 => plural(hours / 24 / 7, "week"),
        _ if hours < 24 * 365 * 2 => plural(hours / 24 / 30, "month"),
        _ => plural(hours / 24 / 365, "year"),
    }
}

/// `human_duration` of the time since `stamp` (empty if unreadable).
pub fn since(stamp: &str) -> String {
    parse_rfc3339(stamp)
        .map(|then| human_duration(now().saturating_sub(then)))
        .unwrap_or_default()
}

// Howard Hinnant's civil-date algorithms.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_durations_read_as_dockers() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01Z"), Some(86_401));
        assert_eq!(
            parse_rfc3339("2026-01-02T03:04:05.123Z").map(|s| s % 60),
            Some(5)
        );
        assert_eq!(parse_rfc3339(&now_rfc3339()), Some(now()));
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(3 * 3600), "3 hours");
        assert_eq!(human_duration(3 * 86_400), "3 days");
    }
}
