//! Deterministic replay: `txtraderd replay <manifest> ...` runs a strategy component offline
//! over historical one-minute bars (the simulator's, or a CSV file) through the same instance
//! code as live (same host functions, same limits), metered by fuel instead of wall-clock
//! deadlines, and prints its orders and fills.
//!
//! Everything that could vary is fixed: the clock is the bars' time, order ids count up
//! (`<name>-1`, ...), the guest's WASI clocks and random numbers are seeded, and a callback's
//! budget is counted in instructions. So the same input always gives the same decisions; the
//! last line, `decisions <sha256>`, fingerprints them.
//!
//! Fills are simulated on the bars: an order fills on the first bar after it was placed
//! (market at the open; limit and stop at their price, or at the open when the bar opens
//! through it), in full. Each bar is also presented as a quote one cent around its close.

use super::engine::{Engine, Metering};
use super::host::{Action, Clock, Ctx, Ids, Stats, TimerOp};
use super::instance::{Fault, Instance};
use super::manifest::Manifest;
use super::view::OwnFill;
use chrono::{NaiveDate, TimeZone};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use txtrader_plugin_api::model::{Bar, BarInterval, ExecutionId, OrderStatus, OrderType, Price, Quantity, Quote, Side, Symbol, UnixNanos};

const USAGE: &str = "usage: txtraderd replay <manifest.toml|json> (--symbol SYM [--from YYYY-MM-DD] [--days N] [--seed N] | --csv FILE) [--write-csv FILE]";
const MINUTE: u64 = 60_000_000_000;

/// Where the bars come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Sim { symbols: Vec<Symbol>, from: NaiveDate, days: u32, seed: Option<u64> },
    Csv(PathBuf),
}

#[derive(Debug)]
struct Args {
    manifest: PathBuf,
    source: Source,
    write_csv: Option<PathBuf>,
}

fn parse_args(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let manifest = PathBuf::from(it.next().ok_or("missing the manifest")?);
    let (mut symbols, mut from, mut days, mut seed, mut csv, mut write_csv) = (Vec::new(), None, 5u32, None, None, None);
    while let Some(flag) = it.next() {
        let mut value = || it.next().cloned().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--symbol" => symbols.push(Symbol::new(value()?.to_uppercase()).map_err(|e| e.to_string())?),
            "--from" => from = Some(NaiveDate::parse_from_str(&value()?, "%Y-%m-%d").map_err(|e| format!("--from: {e}"))?),
            "--days" => days = value()?.parse().map_err(|e| format!("--days: {e}"))?,
            "--seed" => seed = Some(value()?.parse().map_err(|e| format!("--seed: {e}"))?),
            "--csv" => csv = Some(PathBuf::from(value()?)),
            "--write-csv" => write_csv = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown option {other}")),
        }
    }
    let source = match (csv, symbols.is_empty()) {
        (Some(path), true) => Source::Csv(path),
        (None, false) => {
            let from = from.unwrap_or_else(|| chrono::Utc::now().date_naive() - chrono::Duration::days(i64::from(days) + 1));
            Source::Sim { symbols, from, days, seed }
        }
        _ => return Err("give either --symbol (simulator bars) or --csv".into()),
    };
    Ok(Args { manifest, source, write_csv })
}

/// Runs `txtraderd replay` with the arguments after `replay`.
pub fn main(args: &[String]) -> ExitCode {
    let args = match parse_args(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("txtraderd replay: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(report) => {
            print!("{report}");
            ExitCode::SUCCESS
        }
        Err(Failure { report, error }) => {
            print!("{report}");
            eprintln!("txtraderd replay: {error}");
            ExitCode::from(1)
        }
    }
}

struct Failure {
    report: String,
    error: String,
}

impl From<String> for Failure {
    fn from(error: String) -> Self {
        Self { report: String::new(), error }
    }
}

fn sim_bars(symbols: &[Symbol], from: NaiveDate, days: u32, seed: Option<u64>) -> Result<Vec<Bar>, String> {
    use txtrader_plugin_api::wire::{AdapterEvent, AdapterRequest, ReplyBody, RequestBody, RequestId};
    let mut settings = BTreeMap::new();
    if let Some(s) = seed {
        settings.insert("seed".to_owned(), s.to_string());
    }
    let tz = "America/New_York";
    let config = txtrader_adapter_sim::config::SimConfig::from_settings(&settings, tz).map_err(|e| e.join("; "))?;
    let zone: chrono_tz::Tz = tz.parse().map_err(|e| format!("{e}"))?;
    let start = zone.from_local_datetime(&from.and_hms_opt(0, 0, 0).unwrap_or_default()).earliest().ok_or("bad --from")?;
    let end = start + chrono::Duration::days(i64::from(days));
    let (start, end) = (UnixNanos::from(start), UnixNanos::from(end));
    let mut exchange = txtrader_adapter_sim::engine::Exchange::new(config, UnixNanos::now());
    let mut bars = Vec::new();
    for (i, symbol) in symbols.iter().enumerate() {
        let body = RequestBody::Bars { symbol: symbol.clone(), interval: BarInterval::Minutes(1), start, end, exchange: None };
        let events = exchange.handle(AdapterRequest { id: RequestId(i as u64 + 1), body }, UnixNanos::now());
        for e in events {
            match e {
                AdapterEvent::Reply { body: ReplyBody::Bars { bars: b }, .. } => bars.extend(b),
                AdapterEvent::Failed { error, .. } => return Err(format!("{symbol}: {}", error.message)),
                _ => {}
            }
        }
    }
    Ok(bars)
}

/// CSV columns: `symbol,start_ns,open,high,low,close,volume` (one-minute bars; start in Unix
/// nanoseconds; prices and volume as decimals).
fn read_csv(path: &Path) -> Result<Vec<Bar>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bars = Vec::new();
    for (n, line) in text.lines().enumerate().skip(1).filter(|(_, l)| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').map(str::trim).collect();
        let bad = |what: &str| format!("{}:{}: {what}", path.display(), n + 1);
        if f.len() != 7 {
            return Err(bad("expected 7 columns: symbol,start_ns,open,high,low,close,volume"));
        }
        let price = |s: &str| s.parse::<Price>().map_err(|_| bad(&format!("{s:?} is not a price")));
        bars.push(Bar {
            symbol: Symbol::new(f[0]).map_err(|e| bad(&e.to_string()))?,
            interval: BarInterval::Minutes(1),
            start: UnixNanos(f[1].parse().map_err(|_| bad("start_ns is not an integer"))?),
            open: price(f[2])?,
            high: price(f[3])?,
            low: price(f[4])?,
            close: price(f[5])?,
            volume: f[6].parse::<Decimal>().ok().and_then(|d| Quantity::new(d).ok()).ok_or_else(|| bad("bad volume"))?,
        });
    }
    Ok(bars)
}

fn write_csv(path: &Path, bars: &[Bar]) -> Result<(), String> {
    let mut out = String::from("symbol,start_ns,open,high,low,close,volume\n");
    for b in bars {
        let _ = writeln!(out, "{},{},{},{},{},{},{}", b.symbol, b.start.0, b.open, b.high, b.low, b.close, b.volume);
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

/// An order resting in the replay's book.
struct Resting {
    id: String,
    order: Box<crate::gateway::NewOrder>,
}

/// The replay's state around the instance.
struct Replay {
    inst: Instance,
    report: String,
    bars: Vec<Bar>,
    book: Vec<Resting>,
    timers: BTreeMap<u64, u64>,
    fills: u64,
}

fn time(t: u64) -> String {
    UnixNanos(t).to_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn describe(t: &OrderType) -> String {
    match t {
        OrderType::Market => "market".into(),
        OrderType::Limit { limit_price } => format!("limit {limit_price}"),
        OrderType::Stop { stop_price } => format!("stop {stop_price}"),
        OrderType::StopLimit { stop_price, limit_price } => format!("stop {stop_price} limit {limit_price}"),
    }
}

impl Replay {
    fn now(&mut self) -> u64 {
        match self.inst.ctx().clock {
            Clock::Fixed(t) => t,
            Clock::Gateway(_) => 0,
        }
    }

    fn line(&mut self, text: String) {
        self.report.push_str(&text);
        self.report.push('\n');
    }

    /// Carries out what the guest queued; answers may run more callbacks.
    fn settle(&mut self) -> Result<(), Fault> {
        loop {
            let now = self.now();
            let ctx = self.inst.ctx();
            let actions: Vec<Action> = ctx.outbox.drain(..).collect();
            let timers: Vec<TimerOp> = ctx.timers.drain(..).collect();
            let refusals: Vec<String> = ctx.refusals.drain(..).collect();
            let (logs, _) = ctx.drain_logs();
            for (level, m) in logs {
                self.line(format!("log {} {} {m}", time(now), level.name()));
            }
            for r in refusals {
                self.line(format!("refused {} {r}", time(now)));
            }
            for op in timers {
                match op {
                    TimerOp::Set(id, ms) => {
                        self.timers.insert(id, now.saturating_add(ms.saturating_mul(1_000_000)));
                    }
                    TimerOp::Cancel(id) => {
                        self.timers.remove(&id);
                    }
                }
            }
            if actions.is_empty() {
                return Ok(());
            }
            for a in actions {
                match a {
                    Action::Subscribe(_) | Action::Unsubscribe(_) => {}
                    Action::Bars { id, symbol, interval, start, end } => {
                        let answer = if interval == BarInterval::Minutes(1) {
                            // only bars complete by now: no look-ahead
                            let found: Vec<Bar> = self
                                .bars
                                .iter()
                                .filter(|b| b.symbol == symbol && b.start >= start && b.start <= end && b.start.0 + MINUTE <= now)
                                .cloned()
                                .collect();
                            Ok(found)
                        } else {
                            Err("replay serves one-minute bars only".to_owned())
                        };
                        self.inst.on_bars(id, answer.as_deref().map_err(Clone::clone))?;
                    }
                    Action::Submit(order) => {
                        let id = order.client_order_id.as_ref().map(|c| c.as_str().to_owned()).unwrap_or_default();
                        self.line(format!(
                            "order {} {id} {} {} {} {}",
                            time(now),
                            order.side,
                            order.quantity,
                            order.symbol,
                            describe(&order.order_type)
                        ));
                        self.update(&id, OrderStatus::Working, None)?;
                        self.book.push(Resting { id, order });
                    }
                    Action::Cancel(id) => {
                        if let Some(i) = self.book.iter().position(|r| r.id == id) {
                            self.book.remove(i);
                            self.line(format!("cancel {} {id}", time(now)));
                            self.update(&id, OrderStatus::Cancelled, None)?;
                        }
                    }
                    Action::Modify(id, change) => {
                        // a resting order takes its new terms at once (replay has no broker
                        // to refuse them); it fills, in full, on a later bar as before
                        let Some(r) = self.book.iter_mut().find(|r| r.id == id) else { continue };
                        let Ok((quantity, order_type)) = change.apply(r.order.quantity, r.order.order_type, Quantity::ZERO) else { continue };
                        r.order.quantity = quantity;
                        r.order.order_type = order_type;
                        self.line(format!("modify {} {id} {quantity} {}", time(now), describe(&order_type)));
                        let ctx = self.inst.ctx();
                        if let Some(own) = ctx.view.orders.get_mut(&id) {
                            own.request.quantity = quantity;
                            own.request.order_type = order_type;
                        }
                        self.update(&id, OrderStatus::Working, None)?;
                    }
                }
            }
        }
    }

    /// Changes one of the guest's orders and tells it; a fill is of the whole order, at `Price`.
    fn update(&mut self, id: &str, status: OrderStatus, fill: Option<(&crate::gateway::NewOrder, Price, String)>) -> Result<(), Fault> {
        let now = self.now();
        let ctx = self.inst.ctx();
        let Some(own) = ctx.view.orders.get_mut(id) else { return Ok(()) };
        own.status = status;
        let mut change = None;
        if let Some((o, p, exec)) = &fill {
            let Ok(exec_id) = ExecutionId::new(exec.clone()) else { return Ok(()) };
            own.filled = o.quantity;
            own.avg_price = Some(*p);
            change = Some(OwnFill { exec_id, quantity: o.quantity, price: *p, time: UnixNanos(now) });
        }
        let order = own.clone();
        if let Some((o, _, exec)) = &fill {
            ctx.view.apply_fill(exec, &o.account, &o.symbol, o.side, o.quantity);
        }
        self.inst.on_order(&order, change.as_ref())?;
        self.settle()
    }

    /// Fills what the bar reaches.
    fn match_book(&mut self, bar: &Bar) -> Result<(), Fault> {
        let mut i = 0;
        while i < self.book.len() {
            let r = &mut self.book[i];
            if r.order.symbol != bar.symbol {
                i += 1;
                continue;
            }
            let side = r.order.side;
            let (o, h, l) = (bar.open, bar.high, bar.low);
            let limit_fill = |limit: Price| match side {
                Side::Buy if o <= limit => Some(o),
                Side::Buy if l <= limit => Some(limit),
                Side::Sell if o >= limit => Some(o),
                Side::Sell if h >= limit => Some(limit),
                _ => None,
            };
            let stop_hit = |stop: Price| match side {
                Side::Buy if o >= stop => Some(o),
                Side::Buy if h >= stop => Some(stop),
                Side::Sell if o <= stop => Some(o),
                Side::Sell if l <= stop => Some(stop),
                _ => None,
            };
            let price = match r.order.order_type {
                OrderType::Market => Some(o),
                OrderType::Limit { limit_price } => limit_fill(limit_price),
                OrderType::Stop { stop_price } => stop_hit(stop_price),
                OrderType::StopLimit { stop_price, limit_price } => {
                    if stop_hit(stop_price).is_some() {
                        r.order.order_type = OrderType::Limit { limit_price };
                        limit_fill(limit_price)
                    } else {
                        None
                    }
                }
            };
            let Some(price) = price else {
                i += 1;
                continue;
            };
            let r = self.book.remove(i);
            self.fills += 1;
            let exec = format!("replay-{}", self.fills);
            let now = self.now();
            self.line(format!("fill {} {} {} {} @ {price}", time(now), r.id, r.order.side, r.order.quantity));
            self.update(&r.id, OrderStatus::Filled, Some((&r.order, price, exec)))?;
        }
        Ok(())
    }

    fn set_clock(&mut self, t: u64) {
        self.inst.ctx().clock = Clock::Fixed(t);
    }

    fn fire_timers(&mut self, until: u64) -> Result<(), Fault> {
        while let Some((&id, &due)) = self.timers.iter().min_by_key(|(id, due)| (**due, **id)) {
            if due > until {
                break;
            }
            self.timers.remove(&id);
            let now = self.now();
            self.set_clock(due.max(now));
            self.inst.on_timer(id)?;
            self.settle()?;
        }
        Ok(())
    }

    fn step(&mut self, bar: &Bar, subscribed: &HashSet<Symbol>) -> Result<(), Fault> {
        self.fire_timers(bar.start.0)?;
        self.set_clock(bar.start.0);
        self.match_book(bar)?;
        let done = bar.start.0 + MINUTE;
        self.fire_timers(done)?;
        self.set_clock(done);
        if subscribed.contains(&bar.symbol) {
            let cent = Price::from_cents(1);
            let quote = Quote {
                symbol: bar.symbol.clone(),
                bid: Some(Price::new(bar.close.as_decimal() - cent.as_decimal())),
                bid_size: Quantity::from_u64(100),
                ask: Some(Price::new(bar.close.as_decimal() + cent.as_decimal())),
                ask_size: Quantity::from_u64(100),
                ts_event: UnixNanos(done),
            };
            self.inst.on_quote(&quote)?;
            self.settle()?;
            self.inst.on_bar(bar)?;
            self.settle()?;
        }
        Ok(())
    }
}

fn run(args: &Args) -> Result<String, Failure> {
    let manifest = Manifest::from_file(&args.manifest).map_err(|e| e.to_string())?;
    let mut bars = match &args.source {
        Source::Sim { symbols, from, days, seed } => sim_bars(symbols, *from, *days, *seed)?,
        Source::Csv(path) => read_csv(path)?,
    };
    bars.sort_by(|a, b| (a.start, a.symbol.as_str()).cmp(&(b.start, b.symbol.as_str())));
    if let Some(path) = &args.write_csv {
        write_csv(path, &bars)?;
    }
    let Some(first) = bars.first().map(|b| b.start.0) else { return Err("no bars to replay".to_owned().into()) };
    let engine = Engine::new(Metering::Fuel).map_err(|e| e.to_string())?;
    let bytes = std::fs::read(&manifest.component).map_err(|e| format!("cannot read {}: {e}", manifest.component.display()))?;
    let compiled = engine.compile(&bytes).map_err(|e| e.to_string())?;
    let limits = Arc::new(manifest.limits.clone());
    let ctx = Ctx::new(&manifest.name, limits, Arc::new(Stats::default()), Clock::Fixed(first), Ids::Sequence(0), Some(0x7478_7472_6164_6572));
    let inst = Instance::new(&engine, &compiled, ctx).map_err(|e| e.to_string())?;
    let mut r = Replay { inst, report: String::new(), bars: bars.clone(), book: Vec::new(), timers: BTreeMap::new(), fills: 0 };
    r.line(format!("replay {} version {} over {} bars", manifest.name, compiled.hash, bars.len()));

    let progress = indicatif::ProgressBar::new(bars.len() as u64);
    progress.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{bar:40}] {pos}/{len} bars {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let outcome = (|| -> Result<(), Fault> {
        match r.inst.on_start(&manifest.config)? {
            Ok(()) => {}
            Err(e) => {
                r.line(format!("refused to start: {e}"));
                return Ok(());
            }
        }
        r.settle()?;
        for bar in &bars {
            let subscribed = r.inst.ctx().view.subscribed.clone();
            r.step(bar, &subscribed)?;
            progress.inc(1);
        }
        r.inst.on_stop()?;
        r.settle()
    })();
    progress.finish_and_clear();
    let positions: Vec<String> = r.inst.ctx().view.positions.iter().map(|((a, s), q)| format!("{a} {s} {q}")).collect();
    r.line(format!("positions {}", if positions.is_empty() { "flat".to_owned() } else { positions.join(", ") }));
    let digest = Sha256::digest(r.report.as_bytes());
    r.line(format!("decisions {}", super::engine::hex(&digest)));
    match outcome {
        Ok(()) => Ok(r.report),
        Err(f) => {
            let line = format!("fault {f}");
            r.line(line);
            Err(Failure { report: r.report, error: f.to_string() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_checked() {
        let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        assert!(parse_args(&s(&["m.toml"])).is_err(), "a source is required");
        assert!(parse_args(&s(&["m.toml", "--csv", "a", "--symbol", "IBM"])).is_err());
        let a = parse_args(&s(&["m.toml", "--symbol", "ibm", "--from", "2026-03-02", "--days", "2"])).expect("valid");
        assert_eq!(
            a.source,
            Source::Sim { symbols: vec![Symbol::new("IBM").expect("sym")], from: NaiveDate::from_ymd_opt(2026, 3, 2).expect("date"), days: 2, seed: None }
        );
        assert!(parse_args(&s(&["m.toml", "--bogus"])).is_err());
    }
}
