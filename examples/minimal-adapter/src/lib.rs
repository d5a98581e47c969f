//! A minimal txtrader adapter: a paper broker, complete enough to trade through txtraderd.
//!
//! It owns a few accounts, fills market orders (and marketable limit orders) at once at one
//! fixed price, rests other orders until they are cancelled, and reports everything it knows
//! when asked for a snapshot. It has no market data. Everything it does happens inside
//! [`Adapter::handle`], which is allowed because it never blocks: an adapter that talks to a real
//! broker queues the request for its own thread instead (see `adapters/sim`).
//!
//! Settings (`TXTRADER_<INSTANCE>_<KEY>`, e.g. `TXTRADER_PAPER_PRICE` for `TXTRADER_MODE=sim,paper=minimal`):
//! - `ACCOUNTS`: comma-separated account ids (default `PAPER.MINIMAL.DEMO.1`);
//! - `PRICE`: the fill price (default `100`);
//! - `PANIC_ON_SYMBOL`: a symbol whose orders make `handle` panic — a deliberately broken
//!   adapter, to watch txtraderd contain the fault (restart with backoff, reconcile).
//!
//! The guide `docs/adapters.md` walks through this file.

use std::collections::BTreeMap;
use std::str::FromStr;
use txtrader_plugin_api::adapter::{Adapter, AdapterConfig, AdapterError, Host, LogLevel};
use txtrader_plugin_api::model::{
    AccountId, AccountSummary, BrokerOrderId, ExecutionId, LinkState, Money, OrderRequest, OrderStatus, OrderType,
    Position, Price, Quantity, Side, SignedQuantity, Symbol, UnixNanos,
};
use txtrader_plugin_api::wire::{
    AdapterEvent, AdapterHello, AdapterRequest, BrokerSnapshot, ErrorCode, Fill, OrderEvent, OrderEventKind,
    OrderSnapshot, ReplyBody, RequestBody, PROTOCOL_VERSION,
};
use txtrader_plugin_api::Decimal;

/// One order as this broker keeps it.
#[derive(Debug)]
struct PaperOrder {
    request: OrderRequest,
    broker_id: BrokerOrderId,
    status: OrderStatus,
    filled: Quantity,
    ts: UnixNanos,
}

/// The paper broker.
#[derive(Debug)]
pub struct MinimalAdapter {
    host: Host,
    accounts: Vec<AccountId>,
    price: Price,
    panic_on: Option<Symbol>,
    orders: BTreeMap<BrokerOrderId, PaperOrder>,
    positions: BTreeMap<(AccountId, Symbol), SignedQuantity>,
    /// Makes this instance's ids unique: a restarted broker must not reuse an order's id.
    session: String,
    next_id: u64,
    closed: bool,
}

impl Adapter for MinimalAdapter {
    const NAME: &'static str = "minimal";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    fn create(config: AdapterConfig, host: Host) -> Result<Self, AdapterError> {
        // Validate every setting at once, and refuse unknown ones: a typo must not pass silently.
        let mut errors = Vec::new();
        let name = |key: &str| format!("TXTRADER_{}_{}", config.instance.to_uppercase(), key.to_uppercase());
        for key in config.settings.keys().filter(|k| !["accounts", "price", "panic_on_symbol"].contains(&k.as_str())) {
            errors.push(format!("unknown setting {}", name(key)));
        }
        let setting = |key: &str, default: &str| config.settings.get(key).map_or(default, String::as_str).to_owned();
        let mut accounts = Vec::new();
        for a in setting("accounts", "PAPER.MINIMAL.DEMO.1").split(',').map(str::trim).filter(|a| !a.is_empty()) {
            match AccountId::new(a) {
                Ok(a) => accounts.push(a),
                Err(e) => errors.push(format!("{}: {a:?}: {e}", name("accounts"))),
            }
        }
        let price = match Price::from_str(&setting("price", "100")) {
            Ok(p) if p.is_positive() => p,
            Ok(p) => {
                errors.push(format!("{}: {p} is not positive", name("price")));
                Price::ZERO
            }
            Err(e) => {
                errors.push(format!("{}: {e}", name("price")));
                Price::ZERO
            }
        };
        let panic_on = config.settings.get("panic_on_symbol").and_then(|s| Symbol::new(s.to_uppercase()).ok());
        if !errors.is_empty() {
            return Err(AdapterError::Config(errors));
        }
        host.log(LogLevel::Info, &format!("paper broker {} ready with {} accounts", config.instance, accounts.len()));
        let session = format!("{:X}", UnixNanos::now().0 / 1_000_000);
        Ok(Self { host, accounts, price, panic_on, orders: BTreeMap::new(), positions: BTreeMap::new(), session, next_id: 0, closed: false })
    }

    fn handle(&mut self, request: AdapterRequest) -> Result<(), AdapterError> {
        if self.closed {
            return Err(AdapterError::Closed);
        }
        let id = request.id;
        match request.body {
            RequestBody::Hello(_) => {
                let hello = AdapterHello {
                    protocol_version: PROTOCOL_VERSION,
                    name: Self::NAME.into(),
                    version: Self::VERSION.into(),
                    features: Vec::new(),
                };
                self.host.reply(id, ReplyBody::Hello(hello));
                // Nothing to connect to: the "broker" is up as soon as it is greeted.
                self.host.emit(&AdapterEvent::Link(LinkState::Connected));
            }
            RequestBody::Snapshot => self.host.reply(id, ReplyBody::Snapshot(self.snapshot())),
            RequestBody::SubmitOrder(order) => {
                if self.panic_on.as_ref() == Some(&order.symbol) {
                    panic!("asked to trade {}: this adapter is configured to panic on it", order.symbol);
                }
                self.submit(order);
            }
            RequestBody::CancelOrder { broker_order_id, .. } => self.cancel(&broker_order_id),
            RequestBody::Account { account } => {
                let summary = self.accounts.contains(&account).then(|| self.summary(&account));
                self.host.reply(id, ReplyBody::Account { summary });
            }
            RequestBody::Unsubscribe { .. } => self.host.reply(id, ReplyBody::Done),
            RequestBody::Subscribe { .. } | RequestBody::Instrument { .. } | RequestBody::Bars { .. } => {
                self.host.fail(id, ErrorCode::Unsupported, "the minimal adapter has no market data");
            }
            // Hand-over is optional (this adapter does not announce it); requests from a newer
            // host are answered, never ignored.
            RequestBody::ExportState
            | RequestBody::CopyState
            | RequestBody::ImportState { .. }
            | RequestBody::GlobalCancel
            | RequestBody::ModifyOrder { .. }
            | RequestBody::Unknown => {
                self.host.fail(id, ErrorCode::Unsupported, "not supported by the minimal adapter");
            }
        }
        Ok(())
    }

    fn shutdown(&mut self) {
        // No threads to join; after this, nothing is emitted.
        self.closed = true;
    }
}

impl MinimalAdapter {
    fn order_event(&mut self, broker_id: &BrokerOrderId, kind: OrderEventKind) {
        self.next_id += 1;
        let Some(o) = self.orders.get(broker_id) else { return };
        let event = OrderEvent {
            event_id: format!("MIN{}-E{}", self.session, self.next_id),
            broker_order_id: broker_id.clone(),
            client_order_id: Some(o.request.client_order_id.clone()),
            ts_event: UnixNanos::now(),
            kind,
            raw: None,
        };
        self.host.emit(&AdapterEvent::Order(event));
    }

    fn submit(&mut self, request: OrderRequest) {
        self.next_id += 1;
        let Ok(broker_id) = BrokerOrderId::new(format!("MIN{}-{}", self.session, self.next_id)) else { return };
        let now = UnixNanos::now();
        let order = PaperOrder { request, broker_id: broker_id.clone(), status: OrderStatus::Submitted, filled: Quantity::ZERO, ts: now };
        let (account, quantity, order_type, side) =
            (order.request.account.clone(), order.request.quantity, order.request.order_type, order.request.side);
        self.orders.insert(broker_id.clone(), order);
        self.order_event(&broker_id, OrderEventKind::Acknowledged);
        let refusal = if !self.accounts.contains(&account) {
            Some(format!("account {account} is not one of this broker's"))
        } else if quantity.is_zero() {
            Some("quantity must be positive".to_owned())
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.set_status(&broker_id, OrderStatus::Rejected);
            self.order_event(&broker_id, OrderEventKind::Rejected { reason });
            return;
        }
        self.set_status(&broker_id, OrderStatus::Working);
        self.order_event(&broker_id, OrderEventKind::Accepted);
        let marketable = match order_type {
            OrderType::Market => true,
            OrderType::Limit { limit_price } => match side {
                Side::Buy => limit_price >= self.price,
                Side::Sell => limit_price <= self.price,
            },
            // Stops never trigger: the price never moves.
            OrderType::Stop { .. } | OrderType::StopLimit { .. } => false,
        };
        if marketable {
            self.fill(&broker_id, quantity);
        }
    }

    fn fill(&mut self, broker_id: &BrokerOrderId, quantity: Quantity) {
        let Some(o) = self.orders.get_mut(broker_id) else { return };
        o.filled = quantity;
        o.status = OrderStatus::Filled;
        o.ts = UnixNanos::now();
        let key = (o.request.account.clone(), o.request.symbol.clone());
        let side = o.request.side;
        let position = self.positions.entry(key).or_insert(SignedQuantity::ZERO);
        *position = position.apply(side, quantity);
        let Ok(exec_id) = ExecutionId::new(format!("{broker_id}-F1")) else { return };
        let fill = Fill { exec_id, quantity, price: self.price, venue_fill_id: None };
        self.order_event(broker_id, OrderEventKind::Filled(fill));
    }

    fn cancel(&mut self, broker_id: &BrokerOrderId) {
        let open = self.orders.get(broker_id).is_some_and(|o| o.status == OrderStatus::Working);
        if open {
            self.set_status(broker_id, OrderStatus::Cancelled);
            self.order_event(broker_id, OrderEventKind::Cancelled { reason: Some("User cancel".into()) });
        } else if self.orders.contains_key(broker_id) {
            self.order_event(broker_id, OrderEventKind::CancelRejected { reason: "order is not open".into() });
        } else {
            self.host.log(LogLevel::Warn, &format!("cancel of unknown order {broker_id}"));
        }
    }

    fn set_status(&mut self, broker_id: &BrokerOrderId, status: OrderStatus) {
        if let Some(o) = self.orders.get_mut(broker_id) {
            o.status = status;
            o.ts = UnixNanos::now();
        }
    }

    fn summary(&self, account: &AccountId) -> AccountSummary {
        // A paper account: cash never moves, equity is cash plus positions at the fixed price.
        let cash = Money::new(Decimal::from(100_000));
        let held: Decimal = self
            .positions
            .iter()
            .filter(|((a, _), _)| a == account)
            .map(|(_, q)| q.as_decimal().abs() * self.price.as_decimal())
            .sum();
        AccountSummary {
            account: account.clone(),
            currency: "USD".into(),
            cash,
            equity: Money::new(cash.as_decimal() + held),
            excess_equity: cash,
            gross_position_value: Money::new(held),
            buying_power: cash,
            ts_event: UnixNanos::now(),
        }
    }

    fn snapshot(&self) -> BrokerSnapshot {
        BrokerSnapshot {
            accounts: self.accounts.clone(),
            balances: self.accounts.iter().map(|a| self.summary(a)).collect(),
            positions: self
                .positions
                .iter()
                .map(|((account, symbol), quantity)| Position {
                    account: account.clone(),
                    symbol: symbol.clone(),
                    quantity: *quantity,
                    avg_price: Some(self.price),
                })
                .collect(),
            orders: self
                .orders
                .values()
                .map(|o| OrderSnapshot {
                    request: o.request.clone(),
                    broker_order_id: o.broker_id.clone(),
                    status: o.status,
                    filled_quantity: o.filled,
                    avg_price: (!o.filled.is_zero()).then_some(self.price),
                    reason: None,
                    ts_event: o.ts,
                })
                .collect(),
            // The host keeps executions it saw; a broker that lists the day's fills sends them here.
            executions: Vec::new(),
        }
    }
}

// The library's entry point: the symbol `txtrader_adapter_v1` txtraderd looks for.
txtrader_plugin_api::export_adapter!(MinimalAdapter);
