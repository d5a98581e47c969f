//! What each fuzz target of the host's parsers does with its input, shared by the fuzz targets
//! (nightly, libFuzzer) and the stable regression test that replays every saved input
//! (`host/tests/fuzz_regressions.rs`; the TWS decoder's is in [`crate::tws`]). Each check feeds the bytes to a parser that reads
//! input from outside the process; a panic is the finding.

use bytes::BytesMut;
use serde_json::Value;
use std::path::Path;
use tokio_util::codec::Decoder;
use txtrader_host::compat::args::Args;
use txtrader_plugin_api::model::{SessionHours, UnixNanos};

/// A check: feeds one input to a parser.
pub type Check = fn(&[u8]);

/// The targets of the host's parsers, with their checks.
pub const TARGETS: &[(&str, Check)] = &[
    ("netstring", netstring),
    ("api_args", api_args),
    ("query_bars", query_bars),
    ("manifest", manifest),
    ("limits_file", limits_file),
    ("users_file", users_file),
];

/// The stream's netstring framing, fed in two pieces (a frame split across reads).
pub fn netstring(data: &[u8]) {
    let mut codec = txtrader_host::stream::codec::NetstringCodec::new(4096);
    let cut = data.first().map_or(0, |b| usize::from(*b) % (data.len() + 1));
    let mut buf = BytesMut::from(&data[..cut]);
    let mut fed_rest = false;
    loop {
        match codec.decode(&mut buf) {
            Ok(Some(_)) => continue,
            Ok(None) if !fed_rest => {
                buf.extend_from_slice(&data[cut..]);
                fed_rest = true;
            }
            Ok(None) | Err(_) => break,
        }
    }
}

/// Command arguments as the HTTP routes read them (a query string, or a JSON body) and as every
/// command converts them.
pub fn api_args(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else { return };
    let args = if selector % 2 == 0 {
        Args::from_query(&String::from_utf8_lossy(rest))
    } else {
        match serde_json::from_slice::<Value>(rest) {
            Ok(Value::Object(m)) => Args::from_map(m),
            _ => return,
        }
    };
    for name in ["account", "route", "symbol", "quantity", "price", "limit_price", "stop_price", "id", "fields", "start", "end", "period", "message"] {
        let _ = args.string(name);
        let _ = args.int(name);
        let _ = args.decimal(name);
        let _ = args.truthy(name);
        if let Some(v) = args.get(name) {
            let _ = txtrader_host::compat::routes::parse_route(v);
            let _ = txtrader_host::compat::args::py_str(v);
        }
    }
    let _ = args.redacted();
}

/// `query_bars`' period, start and end (one per line), read in a time zone the first byte picks.
pub fn query_bars(data: &[u8]) {
    let Some((&zone, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\n');
    let (period, start, end) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let zones = [chrono_tz::America::New_York, chrono_tz::Asia::Tokyo, chrono_tz::UTC, chrono_tz::Pacific::Kiritimati, chrono_tz::Pacific::Pago_Pago];
    let api = zones[usize::from(zone) % zones.len()];
    let session = SessionHours {
        start: chrono::NaiveTime::from_hms_opt(9, 30, 0).unwrap_or_default(),
        stop: chrono::NaiveTime::from_hms_opt(16, 0, 0).unwrap_or_default(),
        timezone: "America/New_York".into(),
    };
    // 2026-12-03 15:00 UTC
    let now = UnixNanos(1_796_310_000_000_000_000);
    let _ = txtrader_host::compat::bars::resolve(period, start, end, &session, now, api);
}

/// A strategy manifest, TOML or JSON (the first byte picks).
pub fn manifest(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let _ = txtrader_host::strategies::manifest::Manifest::from_text(text, kind % 2 == 0, Path::new("/nonexistent"), "fuzz");
}

/// The risk limits file.
pub fn limits_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = txtrader_host::risk::limits::Limits::parse(text, "fuzz.toml");
}

/// The users file.
pub fn users_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = txtrader_host::access::users::Users::parse(text, "fuzz.toml");
}
