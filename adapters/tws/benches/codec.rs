//! TWS protocol codec benchmark: decode throughput and order encode cost.
//!
//! `cargo bench -p txtrader-adapter-tws --bench codec`
//!
//! Decode: the server-to-client frames of a recorded TWS session (`tests/data/
//! fake_tws_s2c_178.jsonl`: quotes, order states, openOrder, executions, positions, account
//! data, bars…) concatenated into one byte stream and decoded over and over, as the adapter's
//! reader does: frames reassembled, fields split, typed messages decoded. Baseline in the same
//! process: reassembling and splitting only.
//!
//! Encode: placeOrder for a limit order (114 fields) through the encoder. Baseline: copying
//! the same frame's bytes (what encoding could cost at best).

use std::hint::black_box;
use std::time::{Duration, Instant};
use txtrader_adapter_tws::proto::decode::decode;
use txtrader_adapter_tws::proto::encode::{Contract, Encoder, Order};
use txtrader_adapter_tws::proto::frame::{fields, payload_text, FrameBuilder, FrameReader};

fn stream() -> (Vec<u8>, usize) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fake_tws_s2c_178.jsonl");
    let text = std::fs::read_to_string(path).expect("recorded session");
    let mut out = Vec::new();
    let mut n = 0;
    for line in text.lines().skip(1) {
        let f: Vec<String> = serde_json::from_str(line).expect("json");
        let mut b = FrameBuilder::new(f[0].parse().expect("msg id"));
        for x in &f[1..] {
            b.text(x);
        }
        out.extend(b.finish());
        n += 1;
    }
    (out, n)
}

/// Messages per second over `rounds` passes of the stream.
fn rate(bytes: &[u8], per_pass: usize, full: bool) -> f64 {
    let rounds = 20_000;
    let t = Instant::now();
    let mut decoded = 0usize;
    for _ in 0..rounds {
        let mut r = FrameReader::new();
        r.extend(bytes);
        while let Ok(Some(p)) = r.next_frame() {
            let text = payload_text(p);
            let f = fields(&text).expect("fields");
            if full {
                decoded += usize::from(decode(178, &f).is_ok());
            } else {
                decoded += black_box(f.len()).min(1);
            }
        }
    }
    assert_eq!(decoded, rounds * per_pass);
    decoded as f64 / t.elapsed().as_secs_f64()
}

fn per_call(f: impl Fn() -> usize) -> Duration {
    let n = 200_000u32;
    let t = Instant::now();
    let mut sink = 0;
    for _ in 0..n {
        sink += f();
    }
    black_box(sink);
    t.elapsed() / n
}

fn main() {
    let (bytes, per_pass) = stream();
    // warm up
    rate(&bytes, per_pass, true);
    let (mut base, mut full) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        base.push(rate(&bytes, per_pass, false));
        full.push(rate(&bytes, per_pass, true));
    }
    base.sort_by(f64::total_cmp);
    full.sort_by(f64::total_cmp);
    let (base, full) = (base[1], full[1]);
    println!("decode: {per_pass} recorded messages ({} bytes) per pass, 20 000 passes, median of 3", bytes.len());
    println!("| decode | messages/s | MB/s | vs split only |");
    println!("|---|---:|---:|---:|");
    let mbs = |r: f64| r * bytes.len() as f64 / per_pass as f64 / 1e6;
    println!("| frames + fields only (baseline) | {base:.0} | {:.0} | 1.00x |", mbs(base));
    println!("| frames + fields + typed decode | {full:.0} | {:.0} | {:.2}x |", mbs(full), full / base);

    let e = Encoder::new(178);
    let order = Order {
        order_id: 4242,
        contract: Contract::stock("AAPL", "NASDAQ", "USD"),
        action: "BUY".into(),
        total_quantity: rust_decimal::Decimal::from(100),
        order_type: "LMT".into(),
        lmt_price: Some(rust_decimal::Decimal::new(18925, 2)),
        tif: "DAY".into(),
        account: "DU1234567".into(),
        order_ref: "1a20befc22d-11-0001".into(),
        ..Order::default()
    };
    let frame = e.place_order(&order);
    let copy = per_call(|| black_box(frame.clone()).len());
    let encode = per_call(|| black_box(e.place_order(black_box(&order))).len());
    println!();
    println!("encode: placeOrder LMT ({} bytes), 200 000 calls", frame.len());
    println!("| encode | ns per order | vs copy |");
    println!("|---|---:|---:|");
    println!("| copy of the finished frame (baseline) | {} | 1.00x |", copy.as_nanos());
    println!("| Encoder::place_order | {} | {:.1}x |", encode.as_nanos(), encode.as_secs_f64() / copy.as_secs_f64().max(1e-12));
}
