//! The FIX adapter's fuzz check, shared by the fuzz target and the stable regression test
//! (`adapters/fix/tests/fuzz_regressions.rs`): bytes from the acceptor, cut at every kind of
//! place, through the framing, the message parser, ExecutionReport decoding in both dialects,
//! the order book and the session layer. Nothing may panic; the framer holds at most one
//! message's worth of bytes, and every frame it gives out has a valid checksum.

use std::time::Instant;
use txtrader_adapter_fix::book::Book;
use txtrader_adapter_fix::mapping::{self, Dialect};
use txtrader_adapter_fix::proto::frame::{checksum, FrameReader, MAX_MESSAGE};
use txtrader_adapter_fix::proto::Message;
use txtrader_adapter_fix::session::store::Store;
use txtrader_adapter_fix::session::{ResetPolicy, Session, SessionConfig};

/// The bytes as an acceptor's stream, read in chunks whose sizes the first byte picks.
pub fn fix_messages(data: &[u8]) {
    let Some((&step, rest)) = data.split_first() else { return };
    let step = usize::from(step % 64) + 1;
    let mut reader = FrameReader::new();
    let mut frames = Vec::new();
    for chunk in rest.chunks(step) {
        reader.extend(chunk);
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => break,
                Err(_) => {}
            }
        }
        assert!(reader.pending() <= MAX_MESSAGE + 64, "the framer holds {} bytes", reader.pending());
    }
    for f in &frames {
        // a frame ends with 10=nnn and nnn is the sum of what precedes it
        let body = &f[..f.len() - 7];
        assert_eq!(std::str::from_utf8(&f[f.len() - 4..f.len() - 1]).ok().and_then(|s| s.parse::<u16>().ok()), Some(u16::from(checksum(body))));
    }
    let messages: Vec<(Message, &Vec<u8>)> = frames.iter().filter_map(|f| Message::parse(f).ok().map(|m| (m, f))).collect();
    for dialect in [Dialect::Fix42, Dialect::Fix44] {
        let mut book = Book::new("fix", 1_765_000_000, dialect);
        for (m, _) in &messages {
            let _ = mapping::execution_report(m, dialect);
            book.sent(m.seq().unwrap_or(1), m);
            let _ = book.received(m.seq().unwrap_or(1), m);
        }
        let _ = (book.snapshot_orders(), book.executions(), book.positions());
    }
    for begin in ["FIX.4.2", "FIX.4.4"] {
        let config = SessionConfig {
            begin_string: begin.into(),
            sender: "GATEWAY".into(),
            target: "EXCHANGE".into(),
            heartbeat: std::time::Duration::from_secs(30),
            reset: ResetPolicy::Never,
            logon_timeout: std::time::Duration::from_secs(10),
        };
        let mut s = Session::new(config, Store::in_memory(1_765_000_000));
        let now = Instant::now();
        let wall = chrono::DateTime::from_timestamp(1_765_000_000, 0).unwrap_or_default();
        let _ = s.connected(now, wall);
        for (m, raw) in &messages {
            let _ = s.received(m.clone(), raw, now, wall);
            let _ = s.tick(now, wall);
        }
    }
}
