//! The `query_bars` argument grammar of the original, turned into a bar width and an instant
//! range.
//!
//! - `period`: digits are N-minute bars; `D…`, `W…`, `M…` daily, weekly, monthly (case-blind).
//! - `start`: `.` (today), `-N` (N periods before now; `end` is then ignored), `YYYY-MM-DD`, or
//!   `YYYY-MM-DD HH:MM:SS` read in the API time zone (`TXTRADER_API_TIMEZONE`), whatever the
//!   machine's zone.
//! - `end`: `.` (the start day), or the same date forms.
//!
//! Date-only values mean the session open (start) or close (end); the result is clamped to the
//! session, and daily-and-longer bars always span whole sessions. A range of more than
//! [`MAX_BARS`] bars, or one that leaves the calendar, is refused with the reason: the date
//! arithmetic is checked, never panicking on absurd input.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone};
use chrono_tz::Tz;
use txtrader_plugin_api::model::{BarInterval, SessionHours, UnixNanos};

/// The most bars one request may span.
pub const MAX_BARS: i64 = 100_000;

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

/// API wall time to exchange wall time.
fn api_to_feed(t: NaiveDateTime, api: Tz, feed: Tz) -> Option<NaiveDateTime> {
    api.from_local_datetime(&t).earliest().map(|d| d.with_timezone(&feed).naive_local())
}

fn at(date: NaiveDate, t: NaiveTime) -> NaiveDateTime {
    date.and_time(t)
}

/// One end of the range: `.` is `dot_date` at `time_of_day`, `YYYY-MM-DD` that date at
/// `time_of_day`, `YYYY-MM-DD HH:MM:SS` a time in the API time zone.
fn bound(value: &str, name: &str, dot_date: NaiveDate, time_of_day: NaiveTime, api: Tz, tz: Tz) -> Result<NaiveDateTime, String> {
    if value == "." {
        Ok(at(dot_date, time_of_day))
    } else if let Some(t) = parse_full(value) {
        api_to_feed(t, api, tz).ok_or_else(|| format!("query_bars: nonexistent time {value} in {api}"))
    } else if let Some(d) = parse_date(value) {
        Ok(at(d, time_of_day))
    } else {
        Err(format!("query_bars: bad parameter format {name}={value}"))
    }
}

/// Resolves the arguments against the symbol's session, the feed clock and the API time zone.
///
/// # Errors
/// A message in the original's words for a malformed argument; a range out of the calendar or
/// over [`MAX_BARS`] bars.
pub fn resolve(period: &str, start: &str, end: &str, session: &SessionHours, feed_now: UnixNanos, api: Tz) -> Result<BarQuery, String> {
    let interval = parse_period(period)?;
    let tz: Tz = session.timezone.parse().map_err(|_| format!("unknown session time zone {}", session.timezone))?;
    let (open, close) = (session.start, session.stop);
    let daily = !matches!(interval, BarInterval::Minutes(_));
    let now = feed_now.to_datetime().with_timezone(&tz).naive_local();
    let (start, end) = if let Some(n) = start.strip_prefix('-') {
        let bad = || format!("query_bars: bad parameter format bar_start={start}");
        let n: i64 = n.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(bad)?;
        if n > MAX_BARS {
            return Err(too_many());
        }
        let out_of_range = || format!("query_bars: bar_start={start} is out of the calendar");
        let mut end = now.checked_add_signed(TimeDelta::minutes(1)).ok_or_else(out_of_range)?;
        if end.time() > close {
            end = at(end.date(), close);
        }
        let back = match interval {
            BarInterval::Minutes(m) => n.checked_mul(i64::from(m)).and_then(TimeDelta::try_minutes),
            BarInterval::Day => TimeDelta::try_days(n),
            BarInterval::Week => TimeDelta::try_weeks(n),
            BarInterval::Month => n.checked_mul(30).and_then(TimeDelta::try_days),
        };
        let mut start = back.and_then(|b| end.checked_sub_signed(b)).ok_or_else(out_of_range)?;
        if start.time() < open {
            start = at(start.date(), open);
        }
        (start, end)
    } else {
        let start_t = bound(start, "bar_start", now.date(), open, api, tz)?;
        let end_t = bound(end, "bar_end", start_t.date(), close, api, tz)?;
        (start_t, end_t)
    };
    let start = if start.time() < open || daily { at(start.date(), open) } else { start };
    let end = if end.time() > close || daily { at(end.date(), close) } else { end };
    let instant = |t: NaiveDateTime| {
        tz.from_local_datetime(&t).earliest().map(UnixNanos::from).ok_or_else(|| format!("nonexistent exchange time {t}"))
    };
    let minutes = end.signed_duration_since(start).num_minutes();
    let per_bar = match interval {
        BarInterval::Minutes(m) => i64::from(m),
        BarInterval::Day => 24 * 60,
        BarInterval::Week => 7 * 24 * 60,
        BarInterval::Month => 28 * 24 * 60,
    };
    if minutes.checked_div(per_bar.max(1)).unwrap_or(i64::MAX) > MAX_BARS {
        return Err(too_many());
    }
    Ok(BarQuery { interval, start: instant(start)?, end: instant(end)? })
}

fn too_many() -> String {
    format!("query_bars: the range spans more than {MAX_BARS} bars")
}

#[cfg(test)]
mod tests {
    use super::*;

    const NY: Tz = chrono_tz::America::New_York;

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
        let q = resolve("1", "2017-08-29", ".", &session(), ny(2020, 1, 2, 12, 0), NY).expect("ok");
        assert_eq!((q.start, q.end), (ny(2017, 8, 29, 9, 30), ny(2017, 8, 29, 16, 0)));
        let q = resolve("D", "2017-08-01", "2017-08-29", &session(), ny(2020, 1, 2, 12, 0), NY).expect("ok");
        assert_eq!((q.start, q.end), (ny(2017, 8, 1, 9, 30), ny(2017, 8, 29, 16, 0)));
    }

    #[test]
    fn relative_start_counts_back_from_the_feed_clock() {
        let q = resolve("5", "-3", "ignored", &session(), ny(2024, 3, 6, 10, 0), NY).expect("ok");
        assert_eq!(q.end, ny(2024, 3, 6, 10, 1));
        assert_eq!(q.start, ny(2024, 3, 6, 9, 46));
        // clamped to the open
        let q = resolve("5", "-100", ".", &session(), ny(2024, 3, 6, 10, 0), NY).expect("ok");
        assert_eq!(q.start, ny(2024, 3, 6, 9, 30));
    }

    #[test]
    fn today_and_malformed_values() {
        let q = resolve("1", ".", ".", &session(), ny(2024, 3, 6, 12, 0), NY).expect("ok");
        assert_eq!((q.start, q.end), (ny(2024, 3, 6, 9, 30), ny(2024, 3, 6, 16, 0)));
        assert!(resolve("1", "2017-08-29 09:30", ".", &session(), ny(2024, 3, 6, 12, 0), NY).is_err(), "seconds required");
        assert!(resolve("1", "yesterday", ".", &session(), ny(2024, 3, 6, 12, 0), NY).is_err());
        assert!(resolve("1", ".", "soon", &session(), ny(2024, 3, 6, 12, 0), NY).is_err());
    }

    #[test]
    fn full_times_are_in_the_api_time_zone_whatever_the_machine() {
        let q = resolve("1", "2017-08-29 09:30:00", "2017-08-29 09:40:00", &session(), ny(2020, 1, 2, 12, 0), NY).expect("ok");
        assert_eq!((q.start, q.end), (ny(2017, 8, 29, 9, 30), ny(2017, 8, 29, 9, 40)));
        let tokyo = resolve("1", "2017-08-29 22:30:00", "2017-08-29 22:40:00", &session(), ny(2020, 1, 2, 12, 0), chrono_tz::Asia::Tokyo).expect("ok");
        assert_eq!((tokyo.start, tokyo.end), (ny(2017, 8, 29, 9, 30), ny(2017, 8, 29, 9, 40)), "22:30 in Tokyo is 09:30 in New York");
    }

    #[test]
    fn absurd_ranges_are_refused_never_panicking() {
        let now = ny(2024, 3, 6, 12, 0);
        for (period, start, end) in [
            ("W", "-99999999999999", "."),
            ("M", "-9223372036854775807", "."),
            ("1440", "-9223372036854775807", "."),
            ("1", "--5", "."),
            ("1", "-100001", "."),
            ("1", "1900-01-01", "2100-01-01"),
            ("D", "0001-01-01", "9999-12-31"),
            ("1", "+262143-01-01 00:00:00", "."),
        ] {
            let r = std::panic::catch_unwind(|| resolve(period, start, end, &session(), now, NY));
            assert!(matches!(r, Ok(Err(_))), "{period} {start} {end}: {r:?}");
        }
        assert!(resolve("D", "-3650", ".", &session(), now, NY).is_ok(), "ten years of daily bars");
    }
}
