//! The original's netstring stream vocabulary: push lines, `auth` options, and the stream's data
//! commands with their `CH.<label>: <json>` replies.
//!
//! Pushes are rendered here once per gateway event ([`PushRenderer`]); the stream module only
//! filters them by each session's options and writes them. The data commands translate onto the
//! same command handlers as the HTTP API.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use super::commands::{self, CommandError, Ctx};
use super::{render, CompatConfig};
use crate::gateway::bus::GatewayEvent;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use txtrader_plugin_api::model::{OrderClass, Symbol, UnixNanos};

/// The channel name, the first part of every push (`rtx.time: …`).
pub const CHANNEL: &str = "rtx";

/// One line of a push and the option a session needs to receive it (`None`: everyone).
///
/// Data lines (`order-data`, `execution-data`) are rendered lazily: at most once, by the first
/// session that wants them, and not at all when no session does.
pub struct PushLine {
    /// The option key that must be truthy, e.g. `order-notification`.
    pub option: Option<&'static str>,
    text: std::sync::OnceLock<String>,
    render: Option<Box<dyn Fn() -> String + Send + Sync>>,
}

impl PushLine {
    /// A line rendered now.
    pub fn new(option: Option<&'static str>, text: String) -> Self {
        Self { option, text: std::sync::OnceLock::from(text), render: None }
    }

    /// A line rendered when first needed.
    pub fn lazy(option: &'static str, render: impl Fn() -> String + Send + Sync + 'static) -> Self {
        Self { option: Some(option), text: std::sync::OnceLock::new(), render: Some(Box::new(render)) }
    }

    /// The line, channel prefix included.
    pub fn text(&self) -> &str {
        self.text.get_or_init(|| self.render.as_ref().map_or_else(String::new, |f| f()))
    }
}

impl std::fmt::Debug for PushLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushLine").field("option", &self.option).field("rendered", &self.text.get()).finish()
    }
}

/// The lines one gateway event becomes.
#[derive(Debug, Default)]
pub struct Rendered {
    /// The lines, in the order they are sent.
    pub lines: Vec<PushLine>,
    /// Order, ticket and execution pushes can be replayed with `resume`.
    pub replayable: bool,
}

/// Python's `repr()` of a float: the shortest text that round-trips, with `.0` when whole.
pub fn py_float(f: f64) -> String {
    if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 { format!("{f:.1}") } else { format!("{f}") }
}

fn num(v: &Value) -> String {
    match v.as_f64() {
        Some(f) if v.is_f64() => py_float(f),
        _ => v.to_string(),
    }
}

/// `YYYY-MM-DD HH:MM:00` of a feed instant plus the configured offset, in the API time zone.
fn minute(t: UnixNanos, offset: i64, tz: chrono_tz::Tz) -> String {
    let full = render::feed_clock(t, offset, tz);
    match full.len() {
        19 => format!("{}00", &full[..17]),
        _ => full,
    }
}

/// Renders gateway events into push lines, remembering the last quote and trade line of each
/// symbol so that only changes are pushed.
#[derive(Debug)]
pub struct PushRenderer {
    cfg: std::sync::Arc<CompatConfig>,
    last_quote: HashMap<Symbol, String>,
    last_trade: HashMap<Symbol, String>,
}

impl PushRenderer {
    /// A renderer with the given compat settings.
    pub fn new(cfg: CompatConfig) -> Self {
        Self { cfg: std::sync::Arc::new(cfg), last_quote: HashMap::new(), last_trade: HashMap::new() }
    }

    /// The `CH.time` line for a feed instant.
    pub fn time_line(&self, t: UnixNanos) -> String {
        format!("{CHANNEL}.time: {}", minute(t, self.cfg.time_offset, self.cfg.feed_timezone))
    }

    /// The lines of one event.
    pub fn render(&mut self, event: &GatewayEvent) -> Rendered {
        let all = |text: String| PushLine::new(None, text);
        match event {
            GatewayEvent::Status(s) => Rendered { lines: vec![all(format!("{CHANNEL}.connection-status-changed: {s}"))], replayable: false },
            GatewayEvent::Error { source, message } => {
                Rendered { lines: vec![all(format!("{CHANNEL}.error: {source} {message}"))], replayable: false }
            }
            GatewayEvent::Time(t) => Rendered { lines: vec![all(self.time_line(*t))], replayable: false },
            GatewayEvent::Accounts(a) => {
                let list: Vec<&str> = a.iter().map(|x| x.as_str()).collect();
                Rendered { lines: vec![all(format!("{CHANNEL}.accounts: {}", json!(list)))], replayable: false }
            }
            GatewayEvent::CurrentAccount(a) => {
                Rendered { lines: vec![all(format!("{CHANNEL}.current-account: {a}"))], replayable: false }
            }
            GatewayEvent::Order(view) => {
                let o = &view.order;
                let (class, note, data) = match o.class() {
                    OrderClass::Order => ("order", "order-notification", "order-data"),
                    OrderClass::Ticket => ("ticket", "ticket-notification", "ticket-data"),
                };
                let ty = render::order_last_type(view, &self.cfg);
                let status = render::order_status(o.status, o.class());
                let (view, cfg) = (view.clone(), self.cfg.clone());
                Rendered {
                    lines: vec![
                        PushLine::new(Some(note), format!("{CHANNEL}.{class}.{} {} {ty} {status}", o.key(), o.request.account)),
                        PushLine::lazy(data, move || format!("{CHANNEL}.{class}-data {}", render::order(&view, &cfg))),
                    ],
                    replayable: true,
                }
            }
            GatewayEvent::Execution(view) => {
                let x = &view.execution;
                let note = format!("{CHANNEL}.execution.{} {} {} COMPLETED", x.exec_id, x.account, x.broker_order_id);
                let (view, cfg) = (view.clone(), self.cfg.clone());
                Rendered {
                    lines: vec![
                        PushLine::new(Some("execution-notification"), note),
                        PushLine::lazy("execution-data", move || {
                            format!("{CHANNEL}.execution-data {}", render::execution(&view, &cfg))
                        }),
                    ],
                    replayable: true,
                }
            }
            GatewayEvent::Quote(q) if self.cfg.flags.ticker => {
                let text = format!(
                    "{CHANNEL}.quote.{}:{} {} {} {}",
                    q.symbol,
                    num(&render::price2(q.bid)),
                    q.bid_size.trunc_i64(),
                    num(&render::price2(q.ask)),
                    q.ask_size.trunc_i64()
                );
                self.changed(&q.symbol, text, "quotes", true)
            }
            GatewayEvent::Trade { trade, stats } if self.cfg.flags.ticker => {
                let volume = stats.as_ref().map_or(0, |s| s.volume.trunc_i64());
                let text = format!(
                    "{CHANNEL}.trade.{}:{} {} {volume}",
                    trade.symbol,
                    num(&render::price2(Some(trade.price))),
                    trade.size.trunc_i64()
                );
                self.changed(&trade.symbol, text, "trades", false)
            }
            GatewayEvent::Adapter { name, event, detail } => Rendered {
                lines: vec![PushLine::new(Some("adapter-notification"), format!("{CHANNEL}.adapter.{name} {event} {detail}"))],
                replayable: false,
            },
            GatewayEvent::Risk { event, detail } => Rendered {
                lines: vec![PushLine::new(Some("risk-notification"), format!("{CHANNEL}.risk {event} {detail}"))],
                replayable: false,
            },
            GatewayEvent::Strategy { name, event, detail } => Rendered {
                lines: vec![PushLine::new(Some("strategy-notification"), format!("{CHANNEL}.strategy.{name} {event} {detail}"))],
                replayable: false,
            },
            GatewayEvent::Quote(_) | GatewayEvent::Trade { .. } | GatewayEvent::Bar(_) => Rendered::default(),
        }
    }

    fn changed(&mut self, symbol: &Symbol, text: String, option: &'static str, quote: bool) -> Rendered {
        let memory = if quote { &mut self.last_quote } else { &mut self.last_trade };
        if memory.get(symbol) == Some(&text) {
            return Rendered::default();
        }
        memory.insert(symbol.clone(), text.clone());
        Rendered { lines: vec![PushLine::new(Some(option), text)], replayable: false }
    }
}

/// An `auth` request.
#[derive(Clone, Debug, PartialEq)]
pub struct Auth {
    /// User.
    pub user: String,
    /// Password.
    pub password: String,
    /// The session's options.
    pub options: Map<String, Value>,
}

/// Parses `auth USER PASSWORD [OPTIONS]`. The options are everything after the third word: a JSON
/// object, the legacy `noquotes notrades`, or words that each become `true`.
///
/// # Errors
/// The original's messages: too few words, or options that are not a JSON object.
pub fn parse_auth(line: &str) -> Result<Auth, String> {
    let parts: Vec<&str> = line.splitn(4, ' ').collect();
    let (Some(user), Some(password)) = (parts.get(1), parts.get(2)) else {
        return Err(format!("ValueError('not enough values to unpack (expected 3, got {})')", parts.len()));
    };
    let rest = parts.get(3).copied().unwrap_or_default().trim();
    let options = if rest.is_empty() {
        Map::new()
    } else if rest.starts_with('{') {
        match serde_json::from_str::<Value>(rest) {
            Ok(Value::Object(m)) => m,
            _ => return Err("ValueError('Expected object or value')".into()),
        }
    } else if rest == "noquotes notrades" {
        let mut m = Map::new();
        m.insert("order-notification".into(), Value::Bool(true));
        m
    } else {
        rest.split_whitespace().map(|w| (w.to_owned(), Value::Bool(true))).collect()
    };
    Ok(Auth { user: (*user).to_owned(), password: (*password).to_owned(), options })
}

/// Python truthiness of an option.
pub fn option_on(options: &Map<String, Value>, key: &str) -> bool {
    super::args::py_truthy(options.get(key))
}

/// One stream command: its name, what the session must be to run it, and the command of the
/// command table it runs (whose class is the role it needs); `None` for the session's own
/// commands (signing in, help, leaving, the status line), open to every session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamCommand {
    /// The word that starts the line.
    pub name: &'static str,
    /// What the session must be.
    pub needs: Needs,
    /// The command whose class it has.
    pub runs: Option<&'static str>,
}

const fn sc(name: &'static str, needs: Needs, runs: Option<&'static str>) -> StreamCommand {
    StreamCommand { name, needs, runs }
}

/// The stream commands, in the order `help` lists them. The kill switch, `rearm`, `risk`,
/// `shutdown` and `resume` work whatever the gateway's state.
pub const STREAM_COMMANDS: &[StreamCommand] = &[
    sc("auth", Needs::Nothing, None),
    sc("help", Needs::Nothing, None),
    sc("quit", Needs::Nothing, None),
    sc("exit", Needs::Nothing, None),
    sc("bye", Needs::Nothing, None),
    sc("status", Needs::Nothing, None),
    sc("getbars", Needs::AuthAndInit, Some("query_bars")),
    sc("marketorder", Needs::AuthAndInit, Some("market_order")),
    sc("stagemarketorder", Needs::AuthAndInit, Some("stage_market_order")),
    sc("stoporder", Needs::AuthAndInit, Some("stop_order")),
    sc("limitorder", Needs::AuthAndInit, Some("limit_order")),
    sc("stoplimitorder", Needs::AuthAndInit, Some("stoplimit_order")),
    sc("add", Needs::AuthAndInit, Some("add_symbol")),
    sc("del", Needs::AuthAndInit, Some("del_symbol")),
    sc("query", Needs::AuthAndInit, Some("query_symbol")),
    sc("querydata", Needs::AuthAndInit, Some("query_symbol_data")),
    sc("symbols", Needs::AuthAndInit, Some("query_symbols")),
    sc("positions", Needs::AuthAndInit, Some("query_positions")),
    sc("orders", Needs::AuthAndInit, Some("query_orders")),
    sc("tickets", Needs::AuthAndInit, Some("query_tickets")),
    sc("executions", Needs::AuthAndInit, Some("query_executions")),
    sc("globalcancel", Needs::AuthAndInit, Some("global_cancel")),
    sc("cancel", Needs::AuthAndInit, Some("cancel_order")),
    sc("modify", Needs::AuthAndInit, Some("modify_order")),
    sc("setaccount", Needs::AuthAndInit, Some("set_account")),
    sc("accounts", Needs::AuthAndInit, Some("query_accounts")),
    sc("shutdown", Needs::Auth, Some("shutdown")),
    sc("resume", Needs::Auth, Some("query_orders")),
    sc("killswitch", Needs::Auth, Some("kill_switch")),
    sc("rearm", Needs::Auth, Some("rearm")),
    sc("risk", Needs::Auth, Some("query_risk")),
];

/// What a session must be to run a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing.
    Nothing,
    /// An authorized session.
    Auth,
    /// An authorized session and a gateway that is `Up`.
    AuthAndInit,
}

/// A stream command by name (case-sensitive); `None` for an unknown command.
pub fn lookup(cmd: &str) -> Option<&'static StreamCommand> {
    STREAM_COMMANDS.iter().find(|c| c.name == cmd)
}

/// The `help` line.
pub fn help_line() -> String {
    let names: Vec<String> = STREAM_COMMANDS.iter().map(|c| format!("'{}'", c.name)).collect();
    format!(".commands: dict_keys([{}])", names.join(", "))
}

fn label(name: &str, value: &Value) -> String {
    format!("{CHANNEL}.{name}: {value}")
}

/// Exactly `N` arguments, as an array (so no index can miss).
fn arity<'a, const N: usize>(cmd: &str, args: &[&'a str], usage: &str) -> Result<[&'a str; N], String> {
    <[&str; N]>::try_from(args).map_err(|_| format!("TypeError('{cmd}: expected {N} arguments ({usage}), got {}')", args.len()))
}

fn failure(e: CommandError) -> String {
    format!("{e}")
}

/// Runs a data command (one that needs an authorized session and a gateway that is `Up`) and
/// answers the reply lines.
///
/// # Errors
/// The message for `.error: …` (the session also broadcasts it).
pub async fn data_command(ctx: &Ctx, cmd: &str, args: &[&str], symbol_fields: Option<&[String]>) -> Result<Vec<String>, String> {
    let run = |name: &'static str, a: Value| async move { commands::run(ctx, name, a).await.map_err(failure) };
    let one = |v: String| Ok(vec![v]);
    match cmd {
        "add" => {
            let [symbol] = arity(cmd, args, "SYMBOL")?;
            one(label("symbol", &run("add_symbol", json!({"symbol": symbol})).await?))
        }
        "del" => {
            let [symbol] = arity(cmd, args, "SYMBOL")?;
            one(label("symbol", &run("del_symbol", json!({"symbol": symbol})).await?))
        }
        "query" | "querydata" => {
            let [symbol] = arity(cmd, args, "SYMBOL")?;
            let sym = symbol.to_uppercase();
            let view = Symbol::new(sym.clone()).ok().and_then(|s| ctx.gateway.symbol(&s)).ok_or_else(|| format!("KeyError('{sym}')"))?;
            if cmd == "querydata" {
                return one(label("symbol-data", &render::symbol_raw(&view, &ctx.compat)));
            }
            match symbol_fields {
                None => one(label("symbol", &render::symbol_export(&view, &ctx.compat))),
                Some(fields) => {
                    let raw = render::symbol_raw(&view, &ctx.compat);
                    let mut out = Map::new();
                    for f in fields {
                        let v = raw.get(f).ok_or_else(|| format!("KeyError('{f}')"))?;
                        out.insert(f.clone(), v.clone());
                    }
                    one(label("symbol", &Value::Object(out)))
                }
            }
        }
        "symbols" => one(label("symbols", &run("query_symbols", json!({"data": true})).await?)),
        "positions" => one(label("positions", &run("query_positions", json!({})).await?)),
        "orders" => one(label("orders", &run("query_orders", json!({})).await?)),
        "tickets" => one(label("tickets", &run("query_tickets", json!({})).await?)),
        "executions" => one(label("executions", &run("query_executions", json!({})).await?)),
        "accounts" => {
            let accounts = run("query_accounts", json!({})).await?;
            let repr: Vec<String> = accounts.as_array().into_iter().flatten().map(|a| format!("'{}'", a.as_str().unwrap_or_default())).collect();
            Ok(vec![format!(".accounts: [{}]", repr.join(", ")), label("accounts", &accounts)])
        }
        "setaccount" => {
            let [account] = arity(cmd, args, "ACCOUNT")?;
            one(label("set_account", &run("set_account", json!({"account": account})).await?))
        }
        "killswitch" | "rearm" => {
            if args.len() > 1 {
                return Err(format!("TypeError('{cmd}: expected at most 1 argument ([ACCOUNT]), got {}')", args.len()));
            }
            let name = if cmd == "killswitch" { "kill_switch" } else { "rearm" };
            let by = json!(format!("stream command from {}", ctx.client));
            one(label("trading-state", &run(name, json!({"account": args.first(), "reason": by})).await?))
        }
        "risk" => one(label("risk", &run("query_risk", json!({})).await?)),
        "globalcancel" => {
            run("global_cancel", json!({})).await?;
            one(".global order cancel requested".into())
        }
        "cancel" => {
            let [id] = arity(cmd, args, "ID")?;
            one(label("cancel_order", &run("cancel_order", json!({"id": id})).await?))
        }
        "modify" => {
            // modify ID QUANTITY [LIMIT_PRICE [STOP_PRICE]]; `-` keeps a term as it is
            let (Some((id, terms)), 2..=4) = (args.split_first(), args.len()) else {
                return Err(format!("TypeError('{cmd}: expected 2 to 4 arguments (ID QUANTITY [LIMIT_PRICE [STOP_PRICE]], - keeps a term), got {}')", args.len()));
            };
            let mut change = serde_json::Map::new();
            change.insert("id".into(), json!(id));
            for (name, value) in ["quantity", "limit_price", "stop_price"].into_iter().zip(terms) {
                if *value != "-" {
                    change.insert(name.into(), json!(value));
                }
            }
            one(label("modify_order", &run("modify_order", Value::Object(change)).await?))
        }
        "getbars" => {
            let [symbol, period, start_date, start_time, end_date, end_time] = arity(cmd, args, "SYMBOL PERIOD START_DATE START_TIME END_DATE END_TIME")?;
            let bars = run(
                "query_bars",
                json!({"symbol": symbol, "period": period, "start": format!("{start_date} {start_time}"), "end": format!("{end_date} {end_time}")}),
            )
            .await?;
            one(label("barchart", &bars))
        }
        "marketorder" | "limitorder" | "stoporder" | "stoplimitorder" | "stagemarketorder" => {
            let (name, a): (&'static str, Value) = match cmd {
                "marketorder" => {
                    let [account, route, symbol, quantity] = arity(cmd, args, "ACCOUNT ROUTE SYMBOL QUANTITY")?;
                    ("market_order", json!({"account": account, "route": route, "symbol": symbol, "quantity": quantity}))
                }
                "limitorder" => {
                    let [account, route, symbol, price, quantity] = arity(cmd, args, "ACCOUNT ROUTE SYMBOL PRICE QUANTITY")?;
                    ("limit_order", json!({"account": account, "route": route, "symbol": symbol, "limit_price": price, "quantity": quantity}))
                }
                "stoporder" => {
                    let [account, route, symbol, price, quantity] = arity(cmd, args, "ACCOUNT ROUTE SYMBOL PRICE QUANTITY")?;
                    ("stop_order", json!({"account": account, "route": route, "symbol": symbol, "stop_price": price, "quantity": quantity}))
                }
                "stoplimitorder" => {
                    let [account, route, symbol, stop, limit, quantity] = arity(cmd, args, "ACCOUNT ROUTE SYMBOL STOP_PRICE LIMIT_PRICE QUANTITY")?;
                    (
                        "stoplimit_order",
                        json!({"account": account, "route": route, "symbol": symbol, "stop_price": stop, "limit_price": limit, "quantity": quantity}),
                    )
                }
                _ => {
                    let [tag, account, route, symbol, quantity] = arity(cmd, args, "TAG ACCOUNT ROUTE SYMBOL QUANTITY")?;
                    ("stage_market_order", json!({"tag": tag, "account": account, "route": route, "symbol": symbol, "quantity": quantity}))
                }
            };
            let answer = run(name, a).await?;
            let is_order = answer.get("permid").is_some();
            one(label(if is_order { "order" } else { "submit_order" }, &answer))
        }
        other => Err(format!("unknown data command {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_forms() {
        let a = parse_auth("auth u p").expect("ok");
        assert_eq!((a.user.as_str(), a.password.as_str(), a.options.len()), ("u", "p", 0));
        let a = parse_auth(r#"auth u p {"order-notification": 1, "SYMBOL_FIELDS": ["TRDPRC_1"]}"#).expect("ok");
        assert!(option_on(&a.options, "order-notification"));
        let a = parse_auth("auth u p noquotes notrades").expect("ok");
        assert!(option_on(&a.options, "order-notification") && !option_on(&a.options, "noquotes"));
        let a = parse_auth("auth u p quotes trades").expect("ok");
        assert!(option_on(&a.options, "quotes") && option_on(&a.options, "trades"));
        assert_eq!(parse_auth("auth u"), Err("ValueError('not enough values to unpack (expected 3, got 2)')".into()));
        assert_eq!(parse_auth("auth u p {bad"), Err("ValueError('Expected object or value')".into()));
        // only text starting with '{' is JSON; anything else is words
        assert!(option_on(&parse_auth("auth u p [1]").expect("words").options, "[1]"));
        assert_eq!(parse_auth("auth u p {\"a\": [1}"), Err("ValueError('Expected object or value')".into()));
    }

    #[test]
    fn option_truthiness() {
        let m: Map<String, Value> = serde_json::from_str(r#"{"a":1,"b":0,"c":"","d":"x","e":null,"f":false,"g":true}"#).expect("json");
        let on: Vec<&str> = ["a", "b", "c", "d", "e", "f", "g", "h"].into_iter().filter(|k| option_on(&m, k)).collect();
        assert_eq!(on, ["a", "d", "g"]);
    }

    #[test]
    fn python_float_repr() {
        assert_eq!(py_float(261.5), "261.5");
        assert_eq!(py_float(100.0), "100.0");
        assert_eq!(py_float(0.0), "0.0");
        assert_eq!(py_float(261.52), "261.52");
    }

    #[test]
    fn gating_and_help() {
        let needs = |c: &str| lookup(c).map(|c| c.needs);
        assert_eq!(needs("status"), Some(Needs::Nothing));
        assert_eq!(needs("shutdown"), Some(Needs::Auth));
        assert_eq!(needs("orders"), Some(Needs::AuthAndInit));
        assert_eq!(needs("AUTH"), None, "commands are case-sensitive");
        assert!(help_line().starts_with(".commands: dict_keys(['auth', 'help', 'quit'"));
    }

    #[test]
    fn every_stream_command_is_classified_by_the_command_table() {
        use crate::access::Role;
        for c in STREAM_COMMANDS {
            match c.runs {
                Some(api) => assert!(commands::find(api).is_some(), "{} runs {api}, which is not a command", c.name),
                None => assert_eq!(c.needs, Needs::Nothing, "{} is open to every session", c.name),
            }
        }
        let class = |c: &str| lookup(c).and_then(|c| c.runs).and_then(commands::find).map(|s| s.class);
        assert_eq!(class("orders"), Some(Role::Read));
        assert_eq!(class("marketorder"), Some(Role::Trade));
        assert_eq!(class("cancel"), Some(Role::Trade));
        assert_eq!(class("killswitch"), Some(Role::Operator));
        assert_eq!(class("shutdown"), Some(Role::Operator));
    }
}
