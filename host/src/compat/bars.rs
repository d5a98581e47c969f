//! The `query_bars` argument grammar of the original, turned into a bar width and an instant
//! range.
//!
//! - `period`: digits are N-minute bars; `D…`, `W…`, `M…` daily, weekly, monthly (case-blind).
//! - `start`: `.` (today), `-N` (N periods before now; `end` is then ignored), `YYYY-MM-DD`, or
//!   `YYYY-MM-DD HH:MM:SS` read as **server-local** time.
//! - `end`: `.` (the start day), or the same date forms.
//!
//! Date-only values mean the session open (start) or close (end); the result is clamped to the
//! session, and daily-and-longer bars always span whole sessions.

use chrono::{Local, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use chrono_tz::Tz;
use txtrader_plugin_api::model::{BarInterval, SessionHours, UnixNanos};

/// A parsed `query_bars` request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarQuery {
    /// Bar width.
    pub interval: BarInterval,
    /// First bar start.
    pub start: UnixNanos,
    /// Last bar start.
    pub end: UnixNanos,
}

/// Parses the period argument.
///
/// # Errors
/// A message for anything that is not digits or D/W/M.
pub fn parse_period(period: &str) -> Result<BarInterval, String> {
    let p = period.trim().to_uppercase();
    match p.chars().next() {
        Some('D') => Ok(BarInterval::Day),
        Some('W') => Ok(BarInterval::Week),
        Some('M') => Ok(BarInterval::Month),
        _ => match p.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(BarInterval::Minutes(n)),
            _ => Err(format!("query_bars: bad parameter format period={period}")),
        },
    }
}

fn parse_full(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()
}

fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// Server-local wall time to exchange wall time.
fn local_to_feed(t: NaiveDateTime, feed: Tz) -> Option<NaiveDateTime> {
    Local.from_local_datetime(&t).earliest().map(|d| d.with_timezone(&feed).naive_local())
}

fn at(date: NaiveDate, t: NaiveTime) -> NaiveDateTime {
    date.and_time(t)
}

/// One end of the range: `.` is `dot_date` at `time_of_day`, `YYYY-MM-DD` that date at
/// `time_of_day`, `YYYY-MM-DD HH:MM:SS` a server-local time.
fn bound(value: &str, name: &str, dot_date: NaiveDate, time_of_day: NaiveTime, tz: Tz) -> Result<NaiveDateTime, String> {
    if value == "." {
        Ok(at(dot_date, time_of_day))
    } else if let Some(t) = parse_full(value) {
        local_to_feed(t, tz).ok_or_else(|| format!("query_bars: nonexistent local time {value}"))
    } else if let Some(d) = parse_date(value) {
        Ok(at(d, time_of_day))
    } else {
        Err(format!("query_bars: bad parameter format {name}={value}"))
    }
}

/// Resolves the arguments against the symbol's session and the feed clock.
///
/// # Errors
/// A message in the original's words for a malformed argument.
pub fn resolve(period: &str, start: &str, end: &str, session: &SessionHours, feed_now: UnixNanos) -> Result<BarQuery, String> {
    let interval = parse_period(period)?;
    let tz: Tz = session.timezone.parse().map_err(|_| format!("unknown session time zone {}", session.timezone))?;
    let (open, close) = (session.start, session.stop);
    let daily = !matches!(interval, BarInterval::Minutes(_));
    let now = feed_now.to_datetime().with_timezone(&tz).naive_local();
    let (start, end) = if let Some(n) = start.strip_prefix('-') {
        let n: i64 = n.parse().map_err(|_| format!("query_bars: bad parameter format bar_start={start}"))?;
        let mut end = now + TimeDelta::minutes(1);
        if end.time() > close {
            end = at(end.date(), close);
        }
        let back = match interval {
            BarInterval::Minutes(m) => TimeDelta::minutes(n * i64::from(m)),
            BarInterval::Day => TimeDelta::days(n),
            BarInterval::Week => TimeDelta::weeks(n),
            BarInterval::Month => TimeDelta::days(n * 30),
        };
        let mut start = end - back;
        if start.time() < open {
            start = at(start.date(), open);
        }
        (start, end)
    } else {
        let start_t = bound(start, "bar_start", now.date(), open, tz)?;
        let end_t = bound(end, "bar_end", start_t.date(), close, tz)?;
        (start_t, end_t)
    };
    let start = if start.time() < open || daily { at(start.date(), open) } else { start };
    let end = if end.time() > close || daily { at(end.date(), close) } else { end };
    let instant = |t: NaiveDateTime| {
        tz.from_local_datetime(&t).earliest().map(UnixNanos::from).ok_or_else(|| format!("nonexistent exchange time {t}"))
    };
    Ok(BarQuery { interval, start: instant(start)?, end: instant(end)? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionHours {
        SessionHours {
            start: NaiveTime::from_hms_opt(9, 30, 0).expect("t"),
            stop: NaiveTime::from_hms_opt(16, 0, 0).expect("t"),
            timezone: "America/New_York".into(),
        }
    }

    fn ny(y: i32, m: u32, d: u32, h: u32, mi: u32) -> UnixNanos {
        UnixNanos::from(chrono_tz::America::New_York.with_ymd_and_hms(y, m, d, h, mi, 0).single().expect("t"))
    }

    #[test]
    fn periods() {
        assert_eq!(parse_period("1"), Ok(BarInterval::Minutes(1)));
        assert_eq!(parse_period("day"), Ok(BarInterval::Day));
        assert_eq!(parse_period("W"), Ok(BarInterval::Week));
        assert_eq!(parse_period("month"), Ok(BarInterval::Month));
        assert!(parse_period("0").is_err());
        assert!(parse_period("x").is_err());
    }

    #[test]
    fn dates_mean_the_session_and_daily_spans_whole_sessions() {
        let q = resolve("1", "2017-08-29", ".", &session(), ny(2020, 1, 2, 12, 0)).expect("ok");
        assert_eq!((q.start, q.end), (ny(2017, 8, 29, 9, 30), ny(2017, 8, 29, 16, 0)));
        let q = resolve("D", "2017-08-01", "2017-08-29", &session(), ny(2020, 1, 2, 12, 0)).expect("ok");
        assert_eq!((q.start, q.end), (ny(2017, 8, 1, 9, 30), ny(2017, 8, 29, 16, 0)));
    }

    #[test]
    fn relative_start_counts_back_from_the_feed_clock() {
        let q = resolve("5", "-3", "ignored", &session(), ny(2024, 3, 6, 10, 0)).expect("ok");
        assert_eq!(q.end, ny(2024, 3, 6, 10, 1));
        assert_eq!(q.start, ny(2024, 3, 6, 9, 46));
        // clamped to the open
        let q = resolve("5", "-100", ".", &session(), ny(2024, 3, 6, 10, 0)).expect("ok");
        assert_eq!(q.start, ny(2024, 3, 6, 9, 30));
    }

    #[test]
    fn today_and_malformed_values() {
        let q = resolve("1", ".", ".", &session(), ny(2024, 3, 6, 12, 0)).expect("ok");
        assert_eq!((q.start, q.end), (ny(2024, 3, 6, 9, 30), ny(2024, 3, 6, 16, 0)));
        assert!(resolve("1", "2017-08-29 09:30", ".", &session(), ny(2024, 3, 6, 12, 0)).is_err(), "seconds required");
        assert!(resolve("1", "yesterday", ".", &session(), ny(2024, 3, 6, 12, 0)).is_err());
        assert!(resolve("1", ".", "soon", &session(), ny(2024, 3, 6, 12, 0)).is_err());
    }
}
