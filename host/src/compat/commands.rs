//! The 35 commands of the txTrader API, each a small handler from loosely typed arguments to
//! the original's JSON answer, and the operator commands txtraderd adds (`query_adapters`,
//! `reload_adapter`, `unload_adapter`).
//!
//! HTTP routes, JSON-RPC methods (and the stream's commands) all run these same handlers, so
//! every surface behaves the same. Handlers translate onto gateway calls with domain values and
//! render the answers through [`super::render`]; they hold no state of their own.

use super::args::{py_str, ArgError, Args};
use crate::access::{Class, Forbidden, Principal, Role};
use crate::risk::state::TradingState;
use crate::risk::Scope;
use super::routes::parse_route;
use super::{bars, render, CompatConfig};
use crate::gateway::market::Subscriber;
use crate::gateway::change::Change;
use crate::gateway::{CancelOutcome, ExecFilter, Gateway, GatewayError, LifecycleError, ModifyOutcome, NewOrder, SubmitError};
use crate::shutdown::{ExitReason, Shutdown};
use chrono::{DateTime, Local};
use serde_json::{json, Map, Value};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use txtrader_plugin_api::model::{
    AccountId, OrderClass, OrderOrigin, OrderType, Price, Quantity, Side, Symbol, TimeInForce,
};

/// What a command needs: the gateway, the compat settings, and who is asking.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The gateway.
    pub gateway: Gateway,
    /// The strategy manager.
    pub strategies: crate::strategies::Strategies,
    /// Rendering settings and flags.
    pub compat: Arc<CompatConfig>,
    /// The process shutdown trigger.
    pub shutdown: Shutdown,
    /// When the process started.
    pub started: DateTime<Local>,
    /// The caller, `ip:port`.
    pub client: String,
    /// Whose market-data subscriptions `add_symbol` / `del_symbol` manage: every HTTP caller
    /// shares one identity; each stream session has its own.
    pub subscriber: Subscriber,
    /// Who is asking: what it may run, the accounts it may trade; recorded on its orders.
    pub principal: Arc<Principal>,
}

/// Why a command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A missing or unusable argument.
    #[error(transparent)]
    Arg(#[from] ArgError),
    /// The gateway could not answer.
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    /// The request cannot be carried out (e.g. an unusable route).
    #[error("{0}")]
    Failed(String),
    /// An operator command refused in the gateway's current state (e.g. reloading an adapter
    /// that is being swapped); the request itself was fine.
    #[error("{0}")]
    Refused(String),
    /// The pre-trade risk check refused an order: the txTrader HTTP commands answer it as the
    /// original answers a refused order (`status: Error`), JSON-RPC with its own code.
    #[error(transparent)]
    Denied(crate::risk::check::Denial),
    /// The caller's role or accounts do not allow it.
    #[error("forbidden: {0}")]
    Forbidden(#[from] Forbidden),
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Value, CommandError>> + Send>>;

/// One command: its name, help text, whether it works before the gateway is up, and its handler.
#[derive(Clone, Copy)]
pub struct CommandSpec {
    /// The route / method name.
    pub name: &'static str,
    /// The help text, in the original's docstring form.
    pub doc: &'static str,
    /// Usable before the gateway is `Up`.
    pub before_init: bool,
    /// The role a caller needs to run it.
    pub class: Class,
    /// The handler.
    pub run: fn(Ctx, Args) -> BoxFuture,
}

impl std::fmt::Debug for CommandSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSpec").field("name", &self.name).finish_non_exhaustive()
    }
}

/// Finds a command by name.
pub fn find(name: &str) -> Option<&'static CommandSpec> {
    COMMANDS.binary_search_by(|c| c.name.cmp(name)).ok().map(|i| &COMMANDS[i])
}

/// Runs a command by name with JSON arguments (for surfaces that translate onto these commands).
///
/// # Errors
/// The command's failure; an unknown name is a [`CommandError::Failed`].
pub async fn run(ctx: &Ctx, name: &str, args: Value) -> Result<Value, CommandError> {
    let spec = find(name).ok_or_else(|| CommandError::Failed(format!("no such command {name}")))?;
    let mut args = match args {
        Value::Object(m) => Args::from_map(m),
        _ => Args::default(),
    };
    args.insert("client", Value::from(ctx.client.as_str()));
    call(spec, ctx.clone(), args).await
}

/// Runs a command for the context's principal, if its class allows: what every surface calls.
///
/// # Errors
/// [`CommandError::Forbidden`] when the principal lacks the command's role; else the command's
/// failure.
pub async fn call(spec: &CommandSpec, ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    ctx.principal.may(spec.name, spec.class)?;
    (spec.run)(ctx, args).await
}

macro_rules! commands {
    ($( $name:ident, $before:expr, $class:ident, $doc:expr; )*) => {
        /// Every command, sorted by name: the one table of what each does, whether it works
        /// before the gateway is up, and the role it needs (its class).
        pub static COMMANDS: &[CommandSpec] = &[
            $( CommandSpec {
                name: stringify!($name),
                doc: $doc,
                before_init: $before,
                class: Role::$class,
                run: |ctx: Ctx, args: Args| -> BoxFuture { Box::pin($name(ctx, args)) },
            }, )*
        ];
    };
}

commands! {
    add_symbol, false, Read, "add_symbol('symbol')\n\n        Request subscription to a symbol for price updates and order entry\n        ";
    cancel_order, false, Trade, "cancel_order('id')\n\n        Request cancellation of a pending order\n        ";
    compact_journal, true, Operator, "compact_journal() => {'at': ..., 'archived_orders': ..., 'archived_before': ..., 'checkpoint': ..., ...}\n\n        Compact the journal now: closed orders older than TXTRADER_JOURNAL_ARCHIVE_AFTER leave the books, and the journal starts a new file from a checkpoint (the old one goes to the archive folder)\n        ";
    del_symbol, false, Read, "del_symbol('symbol')\n\n        Delete subscription to a symbol for price updates and order entry\n        ";
    deploy_strategy, false, Operator, "deploy_strategy(path | manifest) => {'name': ..., 'state': 'running', 'version': ..., ...}\n\n        Deploy a WebAssembly strategy from a manifest file on the gateway host (path) or a manifest dict, replacing a running strategy of the same name; returns once it started\n        ";
    gateway_logoff, false, Operator, "gateway_logoff()\n\n        Logoff from gateway\n        ";
    gateway_logon, false, Operator, "gateway_logon('username', 'password')\n\n        logon to gateway\n        ";
    get_order_route, false, Read, "get_order_route() => {'route_name', None | {parameter_name: parameter_value, ...}}\n\n        Return current order route as a dict\n        ";
    global_cancel, false, Trade, "global_cancel()\n\n        Request cancellation of all pending orders\n        ";
    help, true, Read, "help() => {'command': 'command(parameters) => return', ...}\n\n        Return dict containing brief documentation for each command\n        ";
    kill_switch, true, Operator, "kill_switch(account=None, reason=None) => {'scope': ..., 'state': 'HALTED', 'previous': ..., 'cancels_sent': n, ...}\n\n        Halt the gateway (or one account): new orders are refused and every working order is cancelled (a global cancel where the broker offers one); only rearm() lifts it, and it survives a restart\n        ";
    limit_order, false, Trade, "limit_order('account', 'route', 'symbol', price, quantity) => {'field':, data, ...}\n\n        Submit a limit order, returning dict containing new order fields\n        ";
    market_order, false, Trade, "market_order('account', 'route', 'symbol', quantity) => {'field':, data, ...}\n\n        Submit a market order, returning dict containing new order fields\n        ";
    modify_order, false, Trade, "modify_order('id', quantity=None, limit_price=None, stop_price=None) => {'msg': 'OnOtherAck', 'status': '1'}\n\n        Request a change of a working order's total quantity and/or prices (what is left out stays); the broker's answer arrives as order updates\n        ";
    query_account, false, Read, "query_account(account, fields) => {'key': value, ...}\n\n        Query account data for account. fields is a comma-separated list of fields to select; None=all fields\n        ";
    query_accounts, false, Read, "query_accounts() => ['account_name', ...]\n\n        Return array of account names\n        ";
    query_adapters, true, Read, "query_adapters() => {'adapters': {'name': {'version': ..., 'generation': ..., 'state': ..., ...}}, 'rejected': [...]}\n\n        Return the adapter instances (version, build id, generation, state, accounts, loaded-at, last error) and the adapter library files refused\n        ";
    query_bars, false, Read, "query_bars('symbol', bar_period, 'start', 'end')\n              => [['YYYY-MM-DD', 'HH:MM:SS', open, high, low, close, volume], ...]\n\n        Return array of bars for an active symbol; period is minutes or D/W/M, start and end are '.', '-N', 'YYYY-MM-DD' or 'YYYY-MM-DD HH:MM:SS'\n        ";
    query_execution, false, Read, "query_execution('id') => {'fieldname': data, ...}\n\n        Return dict containing execution report data fields\n        ";
    query_executions, false, Read, "query_executions() => {'exec_id': {'field': data, ...}, ...}\n\n        Return dict keyed by execution id containing dicts of execution report data fields\n        ";
    query_journal, true, Read, "query_journal() => {'path': ..., 'bytes': ..., 'records': ..., 'first': ..., 'last': ..., 'durable': ..., 'last_compaction': ..., ...}\n\n        Return the journal's file, size on disk, records kept, how far they are on disk, the last compaction and the archive's size (null when running without a journal)\n        ";
    query_order, false, Read, "query_order('id') => {'fieldname': data, ...}\n\n        Return dict containing order/ticket status fields for given order id\n        ";
    query_order_executions, false, Read, "query_order_executions('id') => {'exec_id': {'field': data, ...}, ...}\n\n        Return dict keyed by execution id containing dicts of execution report data fields given order_id\n        ";
    query_orders, false, Read, "query_orders() => {'order_id': {'field': data, ...}, ...}\n\n        Return dict keyed by order id containing dicts of order data fields\n        ";
    query_positions, false, Read, "query_positions() => {'account': {'symbol': quantity, ...}, ...}\n\n        Return dict keyed by account containing dicts of position quantities by symbol\n        ";
    query_risk, true, Read, "query_risk() => {'limits_file': ..., 'limits': {...}, 'builtin': {...}, 'gateway': 'ACTIVE', 'accounts': {'account': {'state': ..., 'open_orders': ..., ...}}, 'denials': n}\n\n        Return the pre-trade risk limits in force, the trading states and each account's usage against the limits\n        ";
    query_strategies, true, Read, "query_strategies() => {'name': {'state': ..., 'version': ..., 'limits': {...}, 'counters': {...}, ...}, ...}\n\n        Return the strategies: state, version hash, limits and counters (events, orders, rejects, CPU time, memory)\n        ";
    query_symbol, false, Read, "query_symbol('symbol') => {'fieldname': data, ...}\n\n        Return dict containing current data for given symbol\n        ";
    query_symbol_bars, false, Read, "query_symbol_bars('symbol') => [[barchart data], ...]\n\n        Return array of current live bar data for given symbol\n        ";
    query_symbol_data, false, Read, "query_symbol_data('symbol') => {'fieldname': data, ...}\n\n        Return dict containing rawdata for given symbol\n        ";
    query_symbols, false, Read, "query_symbols() => ['symbol', ...]\n\n        Return the list of active symbols\n        ";
    query_tickets, false, Read, "query_tickets() => {'order_id': {'field': data, ...}, ...}\n\n        Return dict keyed by order id containing dicts of staged order ticket data fields\n        ";
    rearm, true, Operator, "rearm(account=None, reason=None) => {'scope': ..., 'state': 'ACTIVE', 'previous': ..., ...}\n\n        Re-arm the gateway (or one account) after the kill switch or REDUCING: orders are checked against the limits again\n        ";
    reload_adapter, true, Operator, "reload_adapter('name') => {'name': ..., 'version': ..., 'generation': ..., ...}\n\n        Start a new generation of an adapter instance (re-reading its library file), handing its state over; returns once it runs\n        ";
    set_account, false, Trade, "set_account('account')\n\n        Select current active trading account.\n        ";
    set_order_route, false, Trade, "set_order_route(route) => {'route_name': None | {parameter: value, ...}}\n\n        Set order route data given route {'route_name': {parameter: value, ...} (JSON string will be parsed into a route dict)}\n        ";
    set_primary_exchange, false, Trade, "set_primary_exchange(symbol, exchange)\n\n        Set primary exchange for symbol (default is NYS), delete mapping if exchange is None or empty.\n        ";
    set_trading_state, true, Operator, "set_trading_state('state', account=None, reason=None) => {'scope': ..., 'state': ..., 'previous': ..., 'cancels_sent': n, ...}\n\n        Set the trading state of the gateway (or one account): ACTIVE, REDUCING (only orders that reduce a position) or HALTED (the kill switch)\n        ";
    shutdown, true, Operator, "shutdown(message)\n\n        Request server shutdown\n        ";
    stage_market_order, false, Trade, "stage_market_order('tag', 'account', 'route', 'symbol', quantity) => {'fieldname': data, ...}\n\n        Submit a staged market order (displays as staged in GUI, requiring manual aproval), returning dict containing new order fields\n        ";
    start_strategy, false, Operator, "start_strategy('name') => {'name': ..., 'state': 'running', ...}\n\n        Start a stopped or faulted strategy again from its manifest; returns once it started\n        ";
    status, true, Read, "status() => 'status string'\n\n        return string describing current API connection status\n        ";
    stop_order, false, Trade, "stop_order('account', 'route', 'symbol', price, quantity) => {'field':, data, ...}\n\n        Submit a stop order, returning dict containing new order fields\n        ";
    stop_strategy, true, Operator, "stop_strategy('name') => {'name': ..., 'state': 'stopped', ...}\n\n        Stop a running strategy (it gets on-stop first); its orders stay on the books\n        ";
    stoplimit_order, false, Trade, "stoplimit_order('account', 'route', 'symbol', stop_price, limit_price, quantity) => {'field':, data, ...}\n\n        Submit a stop-limit order, returning dict containing new order fields\n        ";
    time, false, Read, "time() => 'time string'\n\n        Return formatted timestamp string (YYYY-MM-DD HH:MM:SS) matching latest datafeed time update\n        ";
    unload_adapter, true, Operator, "unload_adapter('name') => {'name': ..., 'state': 'unloaded', ...}\n\n        Stop an adapter instance until it is reloaded; its orders stay on the books\n        ";
    uptime, true, Read, "uptime() => 'uptime string'\n\n        Return string showing start time and elapsed time for current server instance\n        ";
    version, true, Read, "version() => {'txtrader': ..., 'python': ..., 'flags': {...}, 'revision': ...}\n\n        Return release version, build and feature flags of current server instance\n        ";
}

// ----- helpers

/// A symbol argument, upper-cased; `None` when it cannot be a symbol at all.
fn symbol_arg(args: &Args) -> Result<Option<Symbol>, ArgError> {
    Ok(Symbol::new(args.string("symbol")?.trim().to_uppercase()).ok())
}

fn account_arg(args: &Args, upper: bool) -> Result<Option<AccountId>, ArgError> {
    let a = args.string("account")?;
    Ok(AccountId::new(if upper { a.to_uppercase() } else { a }).ok())
}

fn error_dict(message: impl Into<String>) -> Value {
    json!({"status": "Error", "errorMsg": message.into()})
}

fn keyed<T>(items: impl IntoIterator<Item = T>, key: impl Fn(&T) -> String, render: impl Fn(&T) -> Value) -> Value {
    Value::Object(items.into_iter().map(|i| (key(&i), render(&i))).collect::<Map<String, Value>>())
}

// ----- server

async fn status(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(Value::from(ctx.gateway.status().as_str()))
}

async fn uptime(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let elapsed = Local::now() - ctx.started;
    Ok(Value::from(format!(
        "started {} (elapsed {})",
        ctx.started.with_timezone(&ctx.compat.feed_timezone).format("%Y-%m-%d %H:%M:%S"),
        render::elapsed(elapsed)
    )))
}

async fn time(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(Value::from(match ctx.gateway.feed_time() {
        Some(t) => render::feed_clock(t, ctx.compat.time_offset, ctx.compat.feed_timezone),
        None => "None".to_owned(),
    }))
}

async fn version(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let f = ctx.compat.flags;
    Ok(json!({
        "txtrader": format!("{} {} {}", super::LABEL, env!("CARGO_PKG_VERSION"), env!("TXTRADER_BUILD_DATE")),
        "python": env!("TXTRADER_RUSTC"),
        "flags": {
            "TICKER": f.ticker,
            "HIGH_LOW": f.high_low,
            "BARCHART": f.barchart,
            "SYMBOL_BARCHART": f.symbol_barchart,
            "SECONDS_TICK": f.seconds_tick,
            "TIME_OFFSET": ctx.compat.time_offset,
        },
        "revision": format!("{} {}", env!("CARGO_PKG_VERSION"), env!("TXTRADER_GIT_REVISION")),
    }))
}

async fn help(_: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(Value::Object(COMMANDS.iter().map(|c| (c.name.to_owned(), Value::from(c.doc))).collect()))
}

async fn shutdown(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let message = format!("shutdown requested by {} [{}]", ctx.client, args.string("message")?);
    tracing::warn!(user = %ctx.principal.name, "ALERT: {message}");
    ctx.shutdown.trigger(ExitReason::Requested(message.clone()));
    Ok(Value::from(message))
}

// ----- symbols

async fn add_symbol(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let Some(symbol) = symbol_arg(&args)? else { return Ok(Value::Null) };
    let view = ctx.gateway.add_symbol(symbol, Some(ctx.subscriber)).await?;
    Ok(view.map_or(Value::Null, |v| render::symbol_export(&v, &ctx.compat)))
}

async fn del_symbol(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let Some(symbol) = symbol_arg(&args)? else { return Ok(Value::Bool(false)) };
    Ok(Value::Bool(ctx.gateway.remove_symbol(symbol, ctx.subscriber).await?))
}

async fn query_symbols(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let views = ctx.gateway.symbols();
    if args.truthy("data") {
        Ok(keyed(views, |v| v.instrument.symbol.to_string(), |v| render::symbol_export(v, &ctx.compat)))
    } else {
        Ok(Value::Array(views.iter().map(|v| Value::from(v.instrument.symbol.as_str())).collect()))
    }
}

async fn query_symbol(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let Some(symbol) = symbol_arg(&args)? else { return Ok(Value::Null) };
    if let Some(v) = ctx.gateway.symbol(&symbol) {
        return Ok(render::symbol_export(&v, &ctx.compat));
    }
    // An inactive symbol is subscribed on the spot, with no subscriber identity.
    let view = ctx.gateway.add_symbol(symbol, None).await?;
    Ok(view.map_or(Value::Null, |v| render::symbol_export(&v, &ctx.compat)))
}

async fn query_symbol_data(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let Some(symbol) = symbol_arg(&args)? else { return Ok(Value::Null) };
    Ok(ctx.gateway.symbol(&symbol).map_or(Value::Null, |v| render::symbol_raw(&v, &ctx.compat)))
}

async fn query_symbol_bars(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let Some(symbol) = symbol_arg(&args)? else { return Ok(Value::Null) };
    Ok(match ctx.gateway.symbol(&symbol) {
        None => Value::Null,
        Some(_) if !ctx.compat.flags.symbol_barchart => json!([]),
        Some(v) => render::bars(&v.bars, ctx.compat.feed_timezone),
    })
}

async fn query_bars(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let symbol = symbol_arg(&args)?;
    let (period, start, end) = (args.string("period")?, args.string("start")?, args.string("end")?);
    let fail = |message: String| async {
        ctx.gateway.alert("RTX", message).await;
        Ok(Value::Null)
    };
    if !ctx.compat.flags.barchart {
        return fail("ALERT: query_bars unimplemented".into()).await;
    }
    let Some(symbol) = symbol else { return fail(format!("query_bars failed: symbol {} not active", args.string("symbol")?)).await };
    let Some(view) = ctx.gateway.symbol(&symbol) else {
        return fail(format!("query_bars failed: symbol {symbol} not active")).await;
    };
    let now = ctx.gateway.feed_time().unwrap_or_else(txtrader_plugin_api::model::UnixNanos::now);
    let q = match bars::resolve(&period, &start, &end, &view.instrument.session, now, ctx.compat.feed_timezone) {
        Ok(q) => q,
        Err(e) => return fail(e).await,
    };
    match ctx.gateway.bars(symbol, q.interval, q.start, q.end).await {
        Ok(b) => {
            if b.is_empty() && q.start <= q.end {
                tracing::info!(%start, %end, "query_bars: no bars in range");
            }
            Ok(render::bars(&b, ctx.compat.feed_timezone))
        }
        Err(e @ GatewayError::Closed) => Err(e.into()),
        Err(e) => fail(format!("barchart data format failed: {e}")).await,
    }
}

// ----- accounts and positions

async fn query_accounts(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(Value::Array(ctx.gateway.accounts().await?.iter().map(|a| Value::from(a.as_str())).collect()))
}

async fn set_account(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let Some(account) = account_arg(&args, true)? else {
        ctx.gateway.alert("RTX", format!("set_account(): account {} not found", args.string("account")?)).await;
        return Ok(Value::Bool(false));
    };
    ctx.principal.may_trade("set_account", &account)?;
    Ok(Value::Bool(ctx.gateway.set_account(account).await?))
}

async fn query_account(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let account = account_arg(&args, true)?;
    let fields: Option<Vec<String>> = match args.get("fields") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.split(',').map(|f| f.trim().to_owned()).collect()),
        Some(other) => {
            return Err(ArgError::Invalid { name: "fields", reason: format!("expected a comma-separated string, got {other}") }.into());
        }
    };
    let Some(account) = account else { return Ok(Value::Null) };
    Ok(match ctx.gateway.account_summary(account).await? {
        Some(s) => render::account(&s, fields.as_deref()),
        None => Value::Null,
    })
}

async fn query_positions(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(render::positions(&ctx.gateway.positions().await?))
}

// ----- orders

struct OrderArgs {
    account: String,
    symbol: String,
    quantity: i64,
}

fn order_args(args: &Args) -> Result<OrderArgs, ArgError> {
    Ok(OrderArgs { account: args.string("account")?, symbol: args.string("symbol")?.trim().to_uppercase(), quantity: args.int("quantity")? })
}

async fn place(ctx: Ctx, args: Args, order_type: OrderType, staged_tag: Option<String>) -> Result<Value, CommandError> {
    let a = order_args(&args)?;
    // the order's route becomes the default route, in the same step as the order
    let value = args.required("route")?;
    let route = match parse_route(value) {
        Ok(route) => Some(route),
        Err(e) => {
            ctx.gateway.alert("None", format!("Cannot set order route {value}: {e}")).await;
            None
        }
    };
    let Ok(account) = AccountId::new(a.account) else { return Ok(error_dict("account unknown")) };
    ctx.principal.may_trade("orders", &account)?;
    let Ok(symbol) = Symbol::new(a.symbol.clone()) else { return Ok(error_dict(format!("invalid symbol {:?}", a.symbol))) };
    let order = NewOrder {
        account,
        symbol,
        side: Side::from_signed(a.quantity),
        quantity: Quantity::from_u64(a.quantity.unsigned_abs()),
        order_type,
        time_in_force: TimeInForce::Day,
        sets_default_route: route.is_some(),
        route,
        staged_tag,
        origin: OrderOrigin::Client,
        user: Some(ctx.principal.name.clone()),
        client_order_id: None,
        intended_duplicate: args.truthy("allow_duplicate"),
    };
    match ctx.gateway.submit(order).await {
        Ok(view) => Ok(render::order(&view, &ctx.compat)),
        Err(SubmitError::UnknownAccount(_)) => Ok(error_dict("account unknown")),
        Err(SubmitError::Invalid(m)) => Ok(error_dict(m)),
        Err(SubmitError::Denied(d)) => Err(CommandError::Denied(d)),
        Err(SubmitError::Gateway(GatewayError::NotInitialized)) => Ok(error_dict("gateway not initialized")),
        Err(SubmitError::Gateway(e)) => Err(e.into()),
    }
}

fn price_arg(args: &Args, name: &'static str) -> Result<Price, ArgError> {
    args.decimal(name).map(Price::new)
}

async fn market_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    place(ctx, args, OrderType::Market, None).await
}

async fn limit_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let limit_price = price_arg(&args, "limit_price")?;
    place(ctx, args, OrderType::Limit { limit_price }, None).await
}

async fn stop_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let stop_price = price_arg(&args, "stop_price")?;
    place(ctx, args, OrderType::Stop { stop_price }, None).await
}

async fn stoplimit_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let stop_price = price_arg(&args, "stop_price")?;
    let limit_price = price_arg(&args, "limit_price")?;
    place(ctx, args, OrderType::StopLimit { stop_price, limit_price }, None).await
}

async fn stage_market_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let tag = args.string("tag")?;
    place(ctx, args, OrderType::Market, Some(tag)).await
}

async fn cancel_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let id = args.string("id")?;
    let err = |msg: &str| json!({"status": "Error", "errorMsg": msg, "id": id});
    if ctx.principal.accounts != crate::access::roles::Accounts::All {
        // a trader of some accounts cancels their orders only
        if let Some(view) = ctx.gateway.order(id.clone()).await? {
            ctx.principal.may_trade("cancel_order", &view.order.request.account)?;
        }
    }
    Ok(match ctx.gateway.cancel(id.clone()).await? {
        CancelOutcome::Sent => json!({"msg": "OnOtherAck", "status": "1"}),
        CancelOutcome::NotFound => err("Order not found"),
        CancelOutcome::AlreadyCancelled => err("Already canceled."),
        CancelOutcome::NotLive(s) => err(&format!("Order not live ({}).", render::order_status(s, OrderClass::Order))),
        CancelOutcome::NotAcknowledged => err("Order not yet acknowledged by the broker; retry."),
        CancelOutcome::Failed(reason) => err(&format!("Cancel failed: {reason}")),
    })
}

async fn modify_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let id = args.string("id")?;
    let given = |name: &str| args.get(name).filter(|v| !v.is_null());
    let quantity = match given("quantity") {
        None => None,
        Some(_) => {
            let q = args.decimal("quantity")?;
            if q <= rust_decimal::Decimal::ZERO {
                return Err(ArgError::Invalid { name: "quantity", reason: format!("{q}: the new total quantity, a positive number (the side does not change)") }.into());
            }
            Some(Quantity::new(q).map_err(|e| ArgError::Invalid { name: "quantity", reason: e.to_string() })?)
        }
    };
    let limit_price = given("limit_price").map(|_| price_arg(&args, "limit_price")).transpose()?;
    let stop_price = given("stop_price").map(|_| price_arg(&args, "stop_price")).transpose()?;
    let err = |msg: &str| json!({"status": "Error", "errorMsg": msg, "id": id});
    if ctx.principal.accounts != crate::access::roles::Accounts::All {
        if let Some(view) = ctx.gateway.order(id.clone()).await? {
            ctx.principal.may_trade("modify_order", &view.order.request.account)?;
        }
    }
    let change = Change { quantity, limit_price, stop_price };
    Ok(match ctx.gateway.modify(id.clone(), change).await? {
        ModifyOutcome::Sent => json!({"msg": "OnOtherAck", "status": "1"}),
        ModifyOutcome::NotFound => err("Order not found"),
        ModifyOutcome::NotLive(s) => err(&format!("Order not live ({}).", render::order_status(s, OrderClass::Order))),
        ModifyOutcome::Busy(s) => err(&format!("A {} is pending for this order; retry once it is answered.", if matches!(s, txtrader_plugin_api::model::OrderStatus::PendingCancel { .. }) { "cancel" } else { "change" })),
        ModifyOutcome::NotAcknowledged => err("Order not yet acknowledged by the broker; retry."),
        ModifyOutcome::Unsupported(adapter) => err(&format!("Adapter {adapter} cannot change orders; cancel and place a new one.")),
        ModifyOutcome::Invalid(reason) => err(&format!("Change refused: {reason}")),
        ModifyOutcome::Denied(d) => return Err(CommandError::Denied(d)),
        ModifyOutcome::Failed(reason) => err(&format!("Change failed: {reason}")),
    })
}

// ----- risk

/// The scope of a state command: the `account` argument's account (which must be one of the
/// broker's), or the whole gateway when it is absent or empty.
async fn risk_scope(ctx: &Ctx, args: &Args) -> Result<Scope, CommandError> {
    let given = args.get("account").filter(|v| !v.is_null()).map(py_str).filter(|s| !s.trim().is_empty());
    let Some(name) = given else { return Ok(Scope::Gateway) };
    let known = ctx.gateway.accounts().await?;
    match AccountId::new(name.trim()).ok().filter(|a| known.contains(a)) {
        Some(a) => Ok(Scope::Account(a)),
        None => Err(ArgError::Invalid { name: "account", reason: format!("{name:?} is not one of the broker's accounts") }.into()),
    }
}

async fn change_state(ctx: &Ctx, args: &Args, state: TradingState) -> Result<Value, CommandError> {
    let scope = risk_scope(ctx, args).await?;
    let by = args.get("client").map(py_str).unwrap_or_default();
    let reason = args.get("reason").filter(|v| !v.is_null()).map_or_else(|| format!("operator command from {by}"), py_str);
    let change = ctx.gateway.set_trading_state(scope, state, reason).await?;
    Ok(serde_json::to_value(change).unwrap_or(Value::Null))
}

async fn kill_switch(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    change_state(&ctx, &args, TradingState::Halted).await
}

async fn rearm(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    change_state(&ctx, &args, TradingState::Active).await
}

async fn set_trading_state(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let name = args.string("state")?;
    let Some(state) = TradingState::parse(name.trim()) else {
        return Err(ArgError::Invalid { name: "state", reason: format!("{name:?} is not ACTIVE, REDUCING or HALTED") }.into());
    };
    change_state(&ctx, &args, state).await
}

async fn query_risk(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(serde_json::to_value(ctx.gateway.query_risk().await?).unwrap_or(Value::Null))
}

// ----- orders (continued)

async fn global_cancel(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    ctx.principal.may_trade_all("global_cancel")?;
    ctx.gateway.global_cancel().await?;
    Ok(Value::from("global cancel requested"))
}

async fn query_order(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let id = args.string("id")?;
    Ok(ctx.gateway.order(id).await?.map_or(Value::Null, |v| render::order(&v, &ctx.compat)))
}

async fn query_orders(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let orders = ctx.gateway.orders(OrderClass::Order).await?;
    Ok(keyed(orders, |v| v.order.key().to_owned(), |v| render::order(v, &ctx.compat)))
}

async fn query_tickets(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let orders = ctx.gateway.orders(OrderClass::Ticket).await?;
    Ok(keyed(orders, |v| v.order.key().to_owned(), |v| render::order(v, &ctx.compat)))
}

async fn query_execution(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let id = args.string("id")?;
    let execs = ctx.gateway.executions(ExecFilter::Id(id)).await?;
    Ok(execs.first().map_or(Value::Null, |x| render::execution(x, &ctx.compat)))
}

async fn query_executions(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let execs = ctx.gateway.executions(ExecFilter::All).await?;
    Ok(keyed(execs, |x| x.execution.exec_id.to_string(), |x| render::execution(x, &ctx.compat)))
}

async fn query_order_executions(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let id = args.string("id")?;
    let execs = ctx.gateway.executions(ExecFilter::Order(id)).await?;
    Ok(keyed(execs, |x| x.execution.exec_id.to_string(), |x| render::execution(x, &ctx.compat)))
}

// ----- adapters (operator commands)

async fn query_journal(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(ctx.gateway.journal().await?.map_or(Value::Null, |j| {
        let mut v = serde_json::to_value(&j).unwrap_or(Value::Null);
        v["last_compaction"] = j.last_compaction.as_ref().map_or(Value::Null, |c| render::compaction(c, ctx.compat.feed_timezone));
        v
    }))
}

async fn compact_journal(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(render::compaction(&ctx.gateway.compact_journal().await?, ctx.compat.feed_timezone))
}

async fn query_adapters(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let (views, rejected) = ctx.gateway.adapters().await?;
    Ok(json!({
        "adapters": Value::Object(views.iter().map(|v| (v.name.clone(), render::adapter(v, ctx.compat.feed_timezone))).collect()),
        "rejected": rejected.iter().map(|r| render::rejected_library(r, ctx.compat.feed_timezone)).collect::<Vec<_>>(),
    }))
}

/// Runs an operator command on a named adapter instance; its refusal answers 409.
async fn on_adapter<F, Fut>(ctx: Ctx, args: Args, what: &str, act: F) -> Result<Value, CommandError>
where
    F: FnOnce(Gateway, String) -> Fut,
    Fut: Future<Output = Result<crate::gateway::AdapterView, LifecycleError>>,
{
    let name = args.string("name")?;
    tracing::warn!(adapter = %name, client = %ctx.client, "adapter {what} requested");
    match act(ctx.gateway.clone(), name).await {
        Ok(view) => Ok(render::adapter(&view, ctx.compat.feed_timezone)),
        Err(LifecycleError::Gateway(e)) => Err(CommandError::Gateway(e)),
        Err(e) => Err(CommandError::Refused(e.to_string())),
    }
}

async fn reload_adapter(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    on_adapter(ctx, args, "reload", |gw, name| async move { gw.reload_adapter(name).await }).await
}

async fn unload_adapter(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    on_adapter(ctx, args, "unload", |gw, name| async move { gw.unload_adapter(name).await }).await
}

// ----- strategies (operator commands)

fn strategy_json(v: &crate::strategies::StrategyView) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

fn strategy_outcome(r: Result<Result<crate::strategies::StrategyView, String>, crate::strategies::runner::StrategyError>) -> Result<Value, CommandError> {
    match r {
        Ok(Ok(v)) => Ok(strategy_json(&v)),
        Ok(Err(e)) => Err(CommandError::Refused(e)),
        Err(e) => Err(CommandError::Failed(e.to_string())),
    }
}

async fn deploy_strategy(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    use crate::strategies::Manifest;
    let manifest = match (args.get("path"), args.get("manifest")) {
        (Some(p), None) => {
            let path = std::path::PathBuf::from(super::args::py_str(p));
            tokio::task::spawn_blocking(move || Manifest::from_file(&path))
                .await
                .map_err(|e| CommandError::Failed(e.to_string()))?
        }
        (None, Some(m)) => {
            // A dict, or the JSON text of one (as a GET query carries it).
            let value = match m {
                Value::String(s) => serde_json::from_str(s).map_err(|e| ArgError::Invalid { name: "manifest", reason: e.to_string() })?,
                v => v.clone(),
            };
            Manifest::from_json(value, &std::env::current_dir().unwrap_or_default())
        }
        _ => return Err(ArgError::Invalid { name: "path", reason: "give either path (a manifest file) or manifest (a dict)".into() }.into()),
    }
    .map_err(|e| ArgError::Invalid { name: "manifest", reason: e.to_string() })?;
    tracing::warn!(strategy = %manifest.name, client = %ctx.client, "strategy deploy requested");
    strategy_outcome(ctx.strategies.deploy(manifest).await)
}

async fn query_strategies(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    let views = ctx.strategies.query().await.map_err(|e| CommandError::Failed(e.to_string()))?;
    Ok(keyed(views, |v| v.name.clone(), strategy_json))
}

async fn stop_strategy(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let name = args.string("name")?;
    tracing::warn!(strategy = %name, client = %ctx.client, "strategy stop requested");
    strategy_outcome(ctx.strategies.stop(name).await)
}

async fn start_strategy(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let name = args.string("name")?;
    tracing::warn!(strategy = %name, client = %ctx.client, "strategy start requested");
    strategy_outcome(ctx.strategies.start(name).await)
}

// ----- routes and gateway logon

async fn get_order_route(ctx: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(render::route(&ctx.gateway.route().await?))
}

async fn set_order_route(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let route = parse_route(args.required("route")?).map_err(CommandError::Failed)?;
    Ok(render::route(&ctx.gateway.set_route(route).await?))
}

async fn set_primary_exchange(ctx: Ctx, args: Args) -> Result<Value, CommandError> {
    let symbol = symbol_arg(&args)?.ok_or_else(|| ArgError::Invalid { name: "symbol", reason: "not a symbol".into() })?;
    let exchange = match args.required("exchange")? {
        Value::Null => None,
        v => Some(super::args::py_str(v)).filter(|s| !s.is_empty()),
    };
    let map = ctx.gateway.set_primary_exchange(symbol, exchange).await?;
    Ok(Value::Object(map.into_iter().map(|(s, e)| (s.to_string(), Value::from(e))).collect()))
}

async fn gateway_logon(_: Ctx, args: Args) -> Result<Value, CommandError> {
    args.required("username")?;
    args.required("password")?;
    Ok(Value::from("gateway logon unavailable"))
}

async fn gateway_logoff(_: Ctx, _: Args) -> Result<Value, CommandError> {
    Ok(Value::from("gateway logon unavailable"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_original_35_commands_and_13_operator_commands_sorted_and_documented() {
        assert_eq!(COMMANDS.len(), 49);
        assert!(COMMANDS.windows(2).all(|w| w[0].name < w[1].name), "sorted for binary search and help");
        assert!(COMMANDS.iter().all(|c| !c.doc.is_empty()));
        let before: Vec<&str> = COMMANDS.iter().filter(|c| c.before_init).map(|c| c.name).collect();
        assert_eq!(
            before,
            [
                "compact_journal",
                "help",
                "kill_switch",
                "query_adapters",
                "query_journal",
                "query_risk",
                "query_strategies",
                "rearm",
                "reload_adapter",
                "set_trading_state",
                "shutdown",
                "status",
                "stop_strategy",
                "unload_adapter",
                "uptime",
                "version"
            ]
        );
        assert!(find("market_order").is_some());
        assert!(find("create_staged_order_ticket").is_none());
    }
}
