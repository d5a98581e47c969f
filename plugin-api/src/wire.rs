//! The messages that cross the adapter boundary, and their encoding.
//!
//! The host and an adapter share nothing but these messages, serialized as JSON bytes: a
//! request goes in through the adapter's `handle`, events (including replies to requests) come
//! out through the host's `emit` callback. The built-in simulator goes through exactly this
//! encoding too, so the boundary is exercised every time the gateway runs.
//!
//! # Evolution
//! The protocol is versioned by [`PROTOCOL_VERSION`] and negotiated with a `Hello` exchange,
//! which also lists optional features. Changes are additive: new fields carry
//! `#[serde(default)]`, unknown fields are ignored, and every message enum is internally tagged
//! (`"type"`) with an `Unknown` catch-all variant, so that a newer peer's message decodes to
//! something the older side can log and skip, while a known message with malformed content is
//! still a precise decode error.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use crate::model::{
    Commission,
    AccountId, AccountSummary, Bar, BarInterval, BrokerOrderId, ClientOrderId, Execution,
    ExecutionId, Instrument, LinkState, OrderRequest, OrderStatus, OrderType, Position, Price, Quantity,
    Quote, SessionStats, Symbol, Trade, UnixNanos,
};
use serde::{Deserialize, Serialize};
use std::fmt;

/// The adapter wire protocol version this crate speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Hello feature: the adapter can export its state to a new generation and import it
/// ([`RequestBody::ExportState`], [`RequestBody::ImportState`]). Adapters of real brokers
/// usually do not need it (a new generation reconciles from the broker), unless their
/// connection can be held by one generation only: the FIX adapter hands its session over this
/// way (logged out and its store closed on export, logged on again on import).
pub const FEATURE_STATE_HANDOVER: &str = "state-handover";

/// Hello feature, with [`FEATURE_STATE_HANDOVER`]: the adapter can copy its state while it keeps
/// serving ([`RequestBody::CopyState`]), and a new generation can import that copy ahead of the
/// hand-over; the export that follows then carries only what changed since the copy, so the
/// requests held during the hand-over do not wait for the whole state to move.
pub const FEATURE_STATE_PRECOPY: &str = "state-precopy";

/// The adapter cancels every open order of its broker's accounts in one request
/// ([`RequestBody::GlobalCancel`]), orders placed elsewhere included.
pub const FEATURE_GLOBAL_CANCEL: &str = "global-cancel";

/// The adapter changes the quantity and price of a working order in place
/// ([`RequestBody::ModifyOrder`]); without it the gateway refuses `modify_order` for its orders.
pub const FEATURE_MODIFY: &str = "modify";

/// Correlates a reply with its request. Chosen by the host, unique per adapter instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The host's side of the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostHello {
    /// The protocol version the host speaks.
    pub protocol_version: u32,
    /// The host's version string.
    pub host_version: String,
    /// Optional features the host supports.
    #[serde(default)]
    pub features: Vec<String>,
}

/// The adapter's side of the handshake.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdapterHello {
    /// The protocol version the adapter speaks.
    pub protocol_version: u32,
    /// Adapter name, e.g. `sim`.
    pub name: String,
    /// Adapter version.
    pub version: String,
    /// Optional features the adapter supports.
    #[serde(default)]
    pub features: Vec<String>,
}

/// A request from the host to an adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdapterRequest {
    /// Correlation id; the reply carries the same one.
    pub id: RequestId,
    /// What is asked.
    pub body: RequestBody,
}

/// What the host can ask of an adapter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Messages are built once and moved through one channel; boxing the large variants would only
// make them clumsier for adapter authors.
#[allow(clippy::large_enum_variant)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RequestBody {
    /// Handshake; answered with [`ReplyBody::Hello`]. Always the first request.
    Hello(HostHello),
    /// Everything the broker knows now: accounts, balances, positions, orders, executions.
    /// Answered with [`ReplyBody::Snapshot`].
    Snapshot,
    /// Place an order. The outcome arrives as [`AdapterEvent::Order`] events.
    SubmitOrder(OrderRequest),
    /// Cancel an order. The outcome arrives as order events.
    CancelOrder {
        /// The order's gateway id, if known.
        #[serde(default)]
        client_order_id: Option<ClientOrderId>,
        /// The order's broker id.
        broker_order_id: BrokerOrderId,
    },
    /// Change a working order's quantity and/or prices, keeping its place in the gateway's
    /// books (the broker may requeue it). Only for adapters announcing [`FEATURE_MODIFY`].
    /// The outcome arrives as order events: [`OrderEventKind::Modified`] or
    /// [`OrderEventKind::ModifyRejected`].
    ModifyOrder {
        /// The order's gateway id, if known.
        #[serde(default)]
        client_order_id: Option<ClientOrderId>,
        /// The order's broker id.
        broker_order_id: BrokerOrderId,
        /// The new total quantity (filled part included).
        quantity: Quantity,
        /// The new pricing (the order's type does not change, its prices may).
        order_type: OrderType,
    },
    /// Start market data for a symbol; answered with [`ReplyBody::Market`] or
    /// [`ReplyBody::SymbolInvalid`], then quotes, trades and stats stream.
    Subscribe {
        /// The symbol.
        symbol: Symbol,
        /// Its primary exchange, when set (`set_primary_exchange`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exchange: Option<String>,
    },
    /// Stop market data for a symbol; answered with [`ReplyBody::Done`].
    Unsubscribe {
        /// The symbol.
        symbol: Symbol,
    },
    /// Look up an instrument without subscribing; answered with [`ReplyBody::Instrument`] or
    /// [`ReplyBody::SymbolInvalid`].
    Instrument {
        /// The symbol.
        symbol: Symbol,
        /// Its primary exchange, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exchange: Option<String>,
    },
    /// Historical bars in `[start, end]`; answered with [`ReplyBody::Bars`].
    Bars {
        /// The symbol.
        symbol: Symbol,
        /// Bar width.
        interval: BarInterval,
        /// First bar start, inclusive.
        start: UnixNanos,
        /// Last bar start, inclusive.
        end: UnixNanos,
        /// The symbol's primary exchange, when set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exchange: Option<String>,
    },
    /// Balances of one account; answered with [`ReplyBody::Account`].
    Account {
        /// The account.
        account: AccountId,
    },
    /// Cancel every open order of the broker's accounts, orders placed outside the gateway
    /// included. Only for adapters announcing [`FEATURE_GLOBAL_CANCEL`]. No reply: the outcomes
    /// arrive as order events.
    GlobalCancel,
    /// Hand-over, old generation: answer [`ReplyBody::State`] with everything a new generation
    /// needs to continue, then freeze (no more events; other requests fail) until imported back
    /// or shut down. Only for adapters announcing [`FEATURE_STATE_HANDOVER`].
    ExportState,
    /// Hand-over ahead of time, old generation: answer [`ReplyBody::State`] with a copy of the
    /// state and keep serving, noting what changes from now on; the next `ExportState` answers
    /// only that. Only for adapters announcing [`FEATURE_STATE_PRECOPY`].
    CopyState,
    /// Hand-over, new generation: continue from an exported state, or (with
    /// [`FEATURE_STATE_PRECOPY`]) hold a copy until the rest comes; answered with
    /// [`ReplyBody::Done`].
    ImportState {
        /// What `ExportState` or `CopyState` answered, unchanged.
        state: String,
    },
    /// A request from a newer host this adapter does not know.
    #[serde(other)]
    Unknown,
}

/// What an adapter reports to the host.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Messages are built once and moved through one channel; boxing the large variants would only
// make them clumsier for adapter authors.
#[allow(clippy::large_enum_variant)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AdapterEvent {
    /// The state of the link to the broker changed.
    Link(LinkState),
    /// The answer to a request.
    Reply {
        /// The request answered.
        request_id: RequestId,
        /// The answer.
        body: ReplyBody,
    },
    /// A request could not be carried out.
    Failed {
        /// The request that failed.
        request_id: RequestId,
        /// Why.
        error: WireError,
    },
    /// Something happened to an order.
    Order(OrderEvent),
    /// A new best bid/offer.
    Quote(Quote),
    /// A trade on the tape.
    Trade(Trade),
    /// Updated day statistics.
    Stats(SessionStats),
    /// A completed live bar.
    Bar(Bar),
    /// The broker's clock (the feed time), normally once a second.
    Clock {
        /// The feed time.
        time: UnixNanos,
    },
    /// Updated balances of an account.
    Account(AccountSummary),
    /// The broker reported what an execution cost (after the fill event that booked it).
    Commission {
        /// The execution.
        exec_id: ExecutionId,
        /// What it cost.
        commission: Commission,
    },
    /// A broker message not tied to a request (a notice, a warning, an error).
    Alert {
        /// Severity.
        level: AlertLevel,
        /// The broker's code, if it has one.
        #[serde(default)]
        code: Option<i64>,
        /// The message.
        message: String,
    },
    /// An event from a newer adapter this host does not know.
    #[serde(other)]
    Unknown,
}

/// Severity of an [`AdapterEvent::Alert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    /// Informational.
    Info,
    /// Something to look at.
    Warning,
    /// Something failed.
    Error,
}

/// The answer to a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
// Messages are built once and moved through one channel; boxing the large variants would only
// make them clumsier for adapter authors.
#[allow(clippy::large_enum_variant)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplyBody {
    /// Handshake answer.
    Hello(AdapterHello),
    /// Done, nothing to return.
    Done,
    /// The broker's current state.
    Snapshot(BrokerSnapshot),
    /// A subscription started: the current market.
    Market(MarketSnapshot),
    /// The symbol is not known to the broker.
    SymbolInvalid {
        /// Why, in the broker's words.
        reason: String,
    },
    /// Instrument facts.
    Instrument(Instrument),
    /// Historical bars, oldest first.
    Bars {
        /// The bars.
        bars: Vec<Bar>,
    },
    /// An account's balances, or `None` when the broker does not know the account.
    Account {
        /// The balances.
        summary: Option<AccountSummary>,
    },
    /// An exported adapter state.
    State {
        /// The state, serialized by the adapter in a format of its choice (the simulator uses
        /// JSON). Opaque to the host, which passes it to the new generation without parsing
        /// it: the hand-over holds requests, so the state must not be decoded more than needed.
        state: String,
    },
    /// A reply from a newer adapter this host does not know.
    #[serde(other)]
    Unknown,
}

/// Why a request failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct WireError {
    /// Category.
    pub code: ErrorCode,
    /// Details.
    pub message: String,
}

/// Failure categories.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or its arguments are invalid.
    InvalidRequest,
    /// The broker is not connected.
    NotConnected,
    /// The adapter does not support this request.
    Unsupported,
    /// The adapter failed internally.
    Internal,
    /// A code from a newer peer.
    #[serde(other)]
    Unknown,
}

/// Something that happened to one order at the broker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderEvent {
    /// Unique per broker update: the same update sent twice carries the same id, which is how the
    /// host recognizes duplicates.
    pub event_id: String,
    /// The broker's id of the order.
    pub broker_order_id: BrokerOrderId,
    /// The gateway's id, carried at least on the first event of an order the gateway placed.
    #[serde(default)]
    pub client_order_id: Option<ClientOrderId>,
    /// When it happened at the broker.
    pub ts_event: UnixNanos,
    /// What happened.
    pub kind: OrderEventKind,
    /// The broker's own record of the event, field by field, when its clients show it (a
    /// RealTick ORDERS row): passed through to the order's `raw` and `updates` as it came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<serde_json::Map<String, serde_json::Value>>,
}

/// What happened to an order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OrderEventKind {
    /// The broker received the order.
    Acknowledged,
    /// The broker holds it as a staged ticket.
    Staged,
    /// It is working at the venue.
    Accepted,
    /// Its stop condition was met; it now works as a market or limit order.
    Triggered,
    /// A fill.
    Filled(Fill),
    /// The broker refused a cancel.
    CancelRejected {
        /// Why.
        reason: String,
    },
    /// It was cancelled.
    Cancelled {
        /// Why, when the broker says (e.g. `User cancel`).
        #[serde(default)]
        reason: Option<String>,
    },
    /// It was rejected.
    Rejected {
        /// Why.
        reason: String,
    },
    /// It expired.
    Expired,
    /// Its quantity or prices changed: the terms it works on from now on.
    Modified {
        /// The total quantity (filled part included).
        quantity: Quantity,
        /// The pricing.
        order_type: OrderType,
    },
    /// The broker refused a change; the order goes on as it was.
    ModifyRejected {
        /// Why.
        reason: String,
    },
    /// A kind from a newer adapter.
    #[serde(other)]
    Unknown,
}

/// One execution as the broker reports it; the host derives the order's totals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// Execution id, unique at the broker.
    pub exec_id: ExecutionId,
    /// Filled quantity.
    pub quantity: Quantity,
    /// Fill price.
    pub price: Price,
    /// The venue's own fill id, if any.
    #[serde(default)]
    pub venue_fill_id: Option<String>,
}

/// An order as the broker knows it now, for snapshots and reconciliation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderSnapshot {
    /// What was asked (with the origin as the broker knows it).
    pub request: OrderRequest,
    /// The broker's id.
    pub broker_order_id: BrokerOrderId,
    /// Current status.
    pub status: OrderStatus,
    /// Filled so far.
    pub filled_quantity: Quantity,
    /// Average fill price, if anything filled.
    #[serde(default)]
    pub avg_price: Option<Price>,
    /// Reject or cancel reason, if any.
    #[serde(default)]
    pub reason: Option<String>,
    /// Last change.
    pub ts_event: UnixNanos,
}

/// The broker's state, answered to [`RequestBody::Snapshot`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BrokerSnapshot {
    /// Accounts the login can trade.
    pub accounts: Vec<AccountId>,
    /// Balances per account.
    #[serde(default)]
    pub balances: Vec<AccountSummary>,
    /// Open positions.
    #[serde(default)]
    pub positions: Vec<Position>,
    /// Orders of the current day, open or not.
    #[serde(default)]
    pub orders: Vec<OrderSnapshot>,
    /// Executions of the current day.
    #[serde(default)]
    pub executions: Vec<Execution>,
}

/// The market of one symbol when a subscription starts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MarketSnapshot {
    /// Instrument facts.
    pub instrument: Instrument,
    /// Current best bid/offer.
    #[serde(default)]
    pub quote: Option<Quote>,
    /// Last trade.
    #[serde(default)]
    pub last_trade: Option<Trade>,
    /// Day statistics.
    #[serde(default)]
    pub stats: Option<SessionStats>,
}

/// A message that could not be decoded.
#[derive(Debug, thiserror::Error)]
#[error("cannot decode {what}: {source}")]
pub struct DecodeError {
    what: &'static str,
    #[source]
    source: serde_json::Error,
}

/// Encodes a request for the boundary.
pub fn encode_request(request: &AdapterRequest) -> Vec<u8> {
    // Serializing these types cannot fail: all keys are strings and no value is a float.
    serde_json::to_vec(request).unwrap_or_default()
}

/// Decodes a request received at the boundary.
///
/// # Errors
/// [`DecodeError`] for bytes that are not a request.
pub fn decode_request(bytes: &[u8]) -> Result<AdapterRequest, DecodeError> {
    serde_json::from_slice(bytes).map_err(|source| DecodeError { what: "adapter request", source })
}

/// Encodes an event for the boundary.
pub fn encode_event(event: &AdapterEvent) -> Vec<u8> {
    serde_json::to_vec(event).unwrap_or_default()
}

/// Decodes an event received at the boundary.
///
/// # Errors
/// [`DecodeError`] for bytes that are not an event.
pub fn decode_event(bytes: &[u8]) -> Result<AdapterEvent, DecodeError> {
    serde_json::from_slice(bytes).map_err(|source| DecodeError { what: "adapter event", source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, OrderOrigin, OrderType, Side, TimeInForce};

    fn order() -> OrderRequest {
        OrderRequest {
            client_order_id: ClientOrderId::new("c-1").expect("id"),
            account: AccountId::new("A.B.C.D").expect("acct"),
            symbol: Symbol::new("IBM").expect("sym"),
            side: Side::Buy,
            quantity: Quantity::from_u64(100),
            order_type: OrderType::Limit { limit_price: "12.34".parse().expect("px") },
            time_in_force: TimeInForce::Day,
            route: None,
            exchange: None,
            staged_tag: None,
            origin: OrderOrigin::Client,
            user: Some("alice".into()),
        }
    }

    #[test]
    fn the_user_is_additive() {
        let with = serde_json::to_value(order()).expect("json");
        assert_eq!(with["user"], "alice");
        let mut without = with.clone();
        without.as_object_mut().expect("object").remove("user");
        let read: OrderRequest = serde_json::from_value(without).expect("a request written before users were recorded");
        assert_eq!(read.user, None);
        assert!(serde_json::to_value(&read).expect("json").get("user").is_none(), "no user, no key: adapters see what they saw");
    }

    #[test]
    fn requests_round_trip() {
        let req = AdapterRequest { id: RequestId(7), body: RequestBody::SubmitOrder(order()) };
        let bytes = encode_request(&req);
        let text = String::from_utf8(bytes.clone()).expect("utf8");
        assert!(text.contains("\"limit_price\":\"12.34\""), "prices travel as decimal strings: {text}");
        assert_eq!(decode_request(&bytes).expect("decode"), req);
        let snap = AdapterRequest { id: RequestId(1), body: RequestBody::Snapshot };
        assert_eq!(decode_request(&encode_request(&snap)).expect("decode"), snap);
    }

    #[test]
    fn events_round_trip() {
        let ev = AdapterEvent::Order(OrderEvent {
            event_id: "p-2".into(),
            broker_order_id: BrokerOrderId::new("p").expect("id"),
            client_order_id: None,
            ts_event: UnixNanos(5),
            kind: OrderEventKind::Filled(Fill {
                exec_id: ExecutionId::new("p-2").expect("id"),
                quantity: Quantity::from_u64(10),
                price: Price::from_cents(1001),
                venue_fill_id: None,
            }),
            raw: None,
        });
        assert_eq!(decode_event(&encode_event(&ev)).expect("decode"), ev);
    }

    #[test]
    fn unknown_variants_decode_to_unknown() {
        let ev = decode_event(br#"{"type":"from_the_future","data":{"x":1}}"#).expect("decode");
        assert_eq!(ev, AdapterEvent::Unknown);
        let req = decode_request(br#"{"id":3,"body":{"type":"teleport","to":"mars"}}"#).expect("decode");
        assert_eq!(req.body, RequestBody::Unknown);
        let ev = decode_event(
            br#"{"type":"order","event_id":"e","broker_order_id":"b","ts_event":0,"kind":{"type":"levitated","height":3},"extra":true}"#,
        )
        .expect("decode");
        assert!(matches!(ev, AdapterEvent::Order(OrderEvent { kind: OrderEventKind::Unknown, .. })));
        let reply = decode_event(br#"{"type":"reply","request_id":1,"body":{"type":"hologram"}}"#).expect("decode");
        assert!(matches!(reply, AdapterEvent::Reply { body: ReplyBody::Unknown, .. }));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode_event(b"\xff\x00not json").is_err());
        assert!(decode_request(b"{}").is_err());
        // a known message with malformed content is an error, not silently Unknown
        assert!(decode_event(br#"{"type":"clock","time":"yesterday"}"#).is_err());
    }

    #[test]
    fn link_state_nests() {
        let ev = AdapterEvent::Link(LinkState::Disconnected { reason: "gone".into() });
        assert_eq!(decode_event(&encode_event(&ev)).expect("decode"), ev);
        let ev = AdapterEvent::Reply {
            request_id: RequestId(2),
            body: ReplyBody::Account { summary: None },
        };
        assert_eq!(decode_event(&encode_event(&ev)).expect("decode"), ev);
    }
}
