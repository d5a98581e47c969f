//! Stream benchmark: order events delivered to 1, 10 and 100 sessions, and the latency from a
//! simulated fill to its push on a client socket.
//!
//! `cargo bench -p txtrader-host --bench stream [-- ORDERS]`
//!
//! Starts the real gateway on the simulated exchange in-process and connects real netstring
//! clients on loopback. Throughput: ORDERS market orders (default 1000) are placed at once and
//! the clock runs until every session has received every order and execution notification
//! (about 4 per order); the ratio is against the 1-session run in the same process. Latency:
//! 200 orders one after another, one session; for each execution push, its arrival time minus
//! the fill's own timestamp from the exchange.

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_util::codec::{FramedRead, FramedWrite};
use txtrader_host::gateway::{ExecFilter, Gateway, NewOrder};
use txtrader_host::stream::codec::NetstringCodec;
use txtrader_plugin_api::model::{ConnectionStatus, OrderClass, OrderType, UnixNanos};

const OPTS: &str = r#"{"order-notification":1,"execution-notification":1,"sequence":1}"#;

#[path = "support/mod.rs"]
mod support;

fn order(i: usize) -> NewOrder {
    support::order(i, OrderType::Market)
}

type Reader = FramedRead<tokio::net::tcp::OwnedReadHalf, NetstringCodec>;

async fn session(addr: SocketAddr) -> (Reader, FramedWrite<tokio::net::tcp::OwnedWriteHalf, NetstringCodec>) {
    let s = TcpStream::connect(addr).await.expect("connect");
    let (r, w) = s.into_split();
    let mut r = FramedRead::new(r, NetstringCodec::new(1 << 24));
    let mut w = FramedWrite::new(w, NetstringCodec::new(1 << 24));
    r.next().await.expect("greeting").expect("frame");
    w.send(format!("auth txtrader_user change_this_password {OPTS}").as_str()).await.expect("auth");
    loop {
        let m = r.next().await.expect("open").expect("frame");
        if m == ".Authorized rtx" {
            break;
        }
    }
    (r, w)
}

fn is_order_push(m: &str) -> bool {
    m.split_once(' ').is_some_and(|(_, l)| l.starts_with("rtx.order.") || l.starts_with("rtx.execution."))
}

async fn count_until(mut r: Reader, want: usize) -> (usize, usize) {
    let (mut n, mut gaps) = (0, 0);
    while n < want {
        match tokio::time::timeout(Duration::from_secs(30), r.next()).await {
            Ok(Some(Ok(m))) => {
                if m.contains("STREAM gap") {
                    gaps += 1;
                } else if is_order_push(&m) {
                    n += 1;
                }
            }
            _ => break,
        }
    }
    (n, gaps)
}

async fn wait_final(g: &Gateway) {
    loop {
        let orders = g.orders(OrderClass::Order).await.expect("orders");
        if orders.iter().all(|v| v.order.status.is_terminal()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn published(g: &Gateway) -> usize {
    let orders = g.orders(OrderClass::Order).await.expect("orders");
    let execs = g.executions(ExecFilter::All).await.expect("execs");
    orders.iter().map(|v| v.order.history.len()).sum::<usize>() + execs.len()
}

async fn throughput(g: &Gateway, addr: SocketAddr, sessions: usize, orders: usize) -> (f64, Duration, usize) {
    let before = published(g).await;
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..sessions {
        let (r, w) = session(addr).await;
        readers.push(r);
        writers.push(w);
    }
    let per_order = 4; // acknowledged, accepted, filled + one execution
    let want = orders * per_order;
    let start = Instant::now();
    let counters: Vec<_> = readers.into_iter().map(|r| tokio::spawn(count_until(r, want))).collect();
    let placing: Vec<_> = (0..orders).map(|i| {
        let g = g.clone();
        tokio::spawn(async move { g.submit(order(i)).await.expect("accepted") })
    }).collect();
    for p in placing {
        p.await.expect("placed");
    }
    let mut gaps = 0;
    for c in counters {
        let (n, gp) = c.await.expect("counter");
        gaps += gp;
        assert!(n == want || gp > 0, "a session got {n} of {want} without a gap notice");
    }
    let elapsed = start.elapsed();
    wait_final(g).await;
    assert_eq!(published(g).await - before, want, "{per_order} events per order");
    drop(writers);
    ((want * sessions) as f64 / elapsed.as_secs_f64(), elapsed, gaps)
}

async fn latency(g: &Gateway, addr: SocketAddr) -> (Duration, Duration, usize) {
    let (mut r, _w) = session(addr).await;
    let arrivals = tokio::spawn(async move {
        let mut out = Vec::new();
        while out.len() < 200 {
            let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(30), r.next()).await else { break };
            let now = UnixNanos::now();
            if let Some((_, line)) = m.split_once(' ') {
                if let Some(rest) = line.strip_prefix("rtx.execution.") {
                    out.push((rest.split(' ').next().unwrap_or_default().to_owned(), now));
                }
            }
        }
        out
    });
    for i in 0..200 {
        g.submit(order(i)).await.expect("accepted");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let arrivals = arrivals.await.expect("arrivals");
    let mut lat = Vec::new();
    for (xid, at) in &arrivals {
        let x = g.executions(ExecFilter::Id(xid.clone())).await.expect("exec");
        if let Some(x) = x.first() {
            lat.push(Duration::from_nanos(at.0.saturating_sub(x.execution.ts_event.0)));
        }
    }
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    (pct(0.5), pct(0.99), lat.len())
}

fn main() {
    let orders: usize = std::env::args().skip(1).find(|a| !a.starts_with("--")).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = support::config(&[
            ("TXTRADER_LOG_LEVEL", "INFO"),
            ("TXTRADER_JOURNAL", "0"), // as before the journal; `--bench journal` measures it
        ]);
        let running = txtrader_host::start(&config).await.expect("start");
        running.gateway.wait_status(|s| s == ConnectionStatus::Up).await;
        let (g, addr) = (running.gateway.clone(), running.tcp_addr);
        println!("{orders} market orders ({} order and execution events) per run, loopback, {} cores", orders * 4, std::thread::available_parallelism().map_or(1, |n| n.get()));
        println!("{:<12} {:>16} {:>14} {:>10} {:>12} {:>6}", "sessions", "deliveries/s", "events/s", "ms", "vs 1", "gaps");
        // warm-up: markets created, caches and allocators warm, not measured
        throughput(&g, addr, 1, orders).await;
        let mut base = None;
        for n in [1usize, 10, 100] {
            let (rate, elapsed, gaps) = throughput(&g, addr, n, orders).await;
            let events = rate / n as f64;
            let b = *base.get_or_insert(rate);
            println!("{n:<12} {rate:>16.0} {events:>14.0} {:>10} {:>11.2}x {gaps:>6}", elapsed.as_millis(), rate / b);
        }
        let (p50, p99, n) = latency(&g, addr).await;
        println!("fill -> execution push on the client socket: p50 {} µs, p99 {} µs ({n} fills, 1 session)", p50.as_micros(), p99.as_micros());
        running.shutdown.trigger(txtrader_host::shutdown::ExitReason::Requested("bench done".into()));
        running.wait().await;
    });
}
