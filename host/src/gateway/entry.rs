//! What the gateway journals: one [`Entry`] per change to its books, and one per order or
//! execution event published to clients (for the stream's `resume` across restarts), with what
//! each means when the journal is read back.
//!
//! Entries are the *inputs* of the books, not their results: replaying them in order through
//! [`super::oms::Oms::book`] rebuilds exactly the books the gateway had, because the live core
//! changes its books through that same function. Published events are kept by reference into
//! the books ([`Published::resolve`]), so a resumed client gets the bytes it would have got.
//!
//! To the journal's storage engine an entry is a [`Record`]: a kind, a JSON body (readable with
//! the `sqlite3` shell; new fields get `#[serde(default)]`), and whether it is a checkpoint.

use super::bus::GatewayEvent;
use super::oms::{BooksImage, Oms};
use super::{ExecutionView, OrderView};
use crate::journal::Record;
use crate::risk::check::Denial;
use crate::risk::state::TradingState;
use crate::risk::Scope;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use txtrader_plugin_api::model::{AccountId, ClientOrderId, Commission, ExecutionId, Instrument, OrderRequest, OrderType, Quantity, Route, Symbol, UnixNanos};
use indexmap::IndexMap;
use txtrader_plugin_api::wire::{BrokerSnapshot, OrderEvent};

/// One journal record's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entry {
    /// The gateway accepted a new order and is about to send it.
    Submitted {
        /// The order, with its gateway id and origin.
        request: OrderRequest,
        /// When.
        at: UnixNanos,
    },
    /// A broker event about one order.
    OrderEvent(OrderEvent),
    /// A cancel was asked for.
    CancelRequested {
        /// The order.
        order: ClientOrderId,
        /// When.
        at: UnixNanos,
    },
    /// A change of quantity or prices was asked for.
    ModifyRequested {
        /// The order.
        order: ClientOrderId,
        /// The total quantity asked for.
        quantity: Quantity,
        /// The pricing asked for.
        order_type: OrderType,
        /// When.
        at: UnixNanos,
    },
    /// The adapter refused to take a change: the order goes on as it was.
    ModifyNotSent {
        /// The order.
        order: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// The adapter refused to take a cancel: the order resumes.
    CancelNotSent {
        /// The order.
        order: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// The order never reached the broker (refused by the adapter, or unknown to the broker
    /// after a restart): it is rejected.
    OrderNotSent {
        /// The order.
        order: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// A broker snapshot merged into the books: only what differed from them (new or changed
    /// orders, new executions; accounts and positions whole), and the open orders the broker
    /// acknowledged once but no longer knows, cancelled with `reason`.
    Snapshot {
        /// What the broker's state changes.
        changes: BrokerSnapshot,
        /// Orders cancelled as unknown to the broker.
        gone: Vec<ClientOrderId>,
        /// The reason given to them.
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// An order or execution event as published on the bus.
    Published {
        /// Its bus sequence number.
        seq: u64,
        /// The event.
        event: Published,
    },
    /// Bus sequence numbers up to `through` may be in use: after a restart the bus continues
    /// above it, so no number is ever given to two events.
    SeqReserved {
        /// The highest number reserved.
        through: u64,
    },
    /// The default route changed.
    Route(Route),
    /// The current account changed.
    CurrentAccount(AccountId),
    /// A symbol's primary exchange was set (or cleared).
    PrimaryExchange {
        /// The symbol.
        symbol: Symbol,
        /// The exchange, `None` to clear.
        exchange: Option<String>,
    },
    /// Closed orders that last changed before `before` leave the books (compaction).
    Archive {
        /// The age limit, as a time.
        before: UnixNanos,
        /// When.
        at: UnixNanos,
    },
    /// The broker reported what an execution cost.
    Commission {
        /// The execution.
        exec_id: ExecutionId,
        /// What it cost.
        commission: Commission,
    },
    /// Everything the records before it built: the first record of a journal file after a
    /// rotation, so the files before it can be archived.
    Checkpoint(Box<Checkpoint>),
    /// A trading state was set (the kill switch, re-arming, REDUCING): after a restart the
    /// gateway comes back in it.
    RiskState {
        /// The gateway or one account.
        scope: Scope,
        /// The state now.
        state: TradingState,
        /// Why (the operator's reason, or the rule that set it).
        reason: String,
        /// When.
        at: UnixNanos,
    },
    /// The pre-trade check refused an order.
    RiskDenied {
        /// The id the order would have had.
        order: ClientOrderId,
        /// The rule, limit and value.
        denial: Denial,
        /// When.
        at: UnixNanos,
    },
}

/// The gateway's journaled state at one point.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The books.
    pub books: BooksImage,
    /// The default route, if it was changed.
    pub route: Option<Route>,
    /// The current account, if set.
    pub current_account: Option<AccountId>,
    /// Primary exchanges set.
    pub exchanges: IndexMap<Symbol, String>,
    /// Bus sequence numbers reserved.
    pub seq_reserved: u64,
    /// The newest published order and execution events (for `resume`), oldest first.
    pub pushes: Vec<(u64, Published)>,
    /// Pushes up to this sequence number are not kept.
    pub pushes_evicted_through: u64,
    /// The compaction that wrote it.
    pub compaction: Compaction,
    /// Trading states other than ACTIVE (and the gateway's).
    #[serde(default)]
    pub risk_states: Vec<(Scope, TradingState)>,
}

/// One compaction, as `query_journal` reports the last one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    /// When it ran.
    pub at: UnixNanos,
    /// What started it (`interval`, `records`, `command`).
    pub reason: String,
    /// Closed orders that last changed before this were archived.
    pub archived_before: UnixNanos,
    /// How many orders left the books.
    pub archived_orders: usize,
    /// The checkpoint's record number.
    pub checkpoint: u64,
}

/// A published event kept for `resume`.
///
/// The journal keeps order and execution events by reference (`order_at`, `execution_at`):
/// the view published was the order (or execution) as the books held it right then, and the
/// books are rebuilt record by record on replay, so at that record they hold exactly it again.
/// Only the instrument, which comes from market data rather than the books, is kept beside it.
/// Checkpoints (and older journals) keep the views themselves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Published {
    /// An order changed: the view itself.
    Order(Arc<OrderView>),
    /// An execution was booked: the view itself.
    Execution(Arc<ExecutionView>),
    /// An order changed: the order as the books hold it at this record.
    OrderAt {
        /// The order.
        order: ClientOrderId,
        /// Its instrument as published.
        instrument: Option<Instrument>,
    },
    /// An execution was booked: the execution as the books hold it at this record.
    ExecutionAt {
        /// The execution.
        exec_id: ExecutionId,
        /// Its instrument as published.
        instrument: Option<Instrument>,
    },
    /// Not read: recovery passed over an old published event it would not keep (only its
    /// sequence number was read). Never written.
    #[serde(skip)]
    Unread,
}

impl Published {
    /// An order or execution event, with its view.
    pub fn of(event: &GatewayEvent) -> Option<Self> {
        match event {
            GatewayEvent::Order(v) => Some(Self::Order(v.clone())),
            GatewayEvent::Execution(v) => Some(Self::Execution(v.clone())),
            _ => None,
        }
    }

    /// The form the journal keeps: a reference into the books.
    pub fn by_reference(&self) -> Self {
        match self {
            Self::Order(v) => Self::OrderAt { order: v.order.request.client_order_id.clone(), instrument: v.instrument.clone() },
            Self::Execution(v) => Self::ExecutionAt { exec_id: v.execution.exec_id.clone(), instrument: v.instrument.clone() },
            other => other.clone(),
        }
    }

    /// The bus event it was, references resolved in `books` (which must be the books at this
    /// record); `None` when a reference is not in them.
    pub fn resolve(self, books: &Oms) -> Option<GatewayEvent> {
        Some(match self {
            Self::Order(v) => GatewayEvent::Order(v),
            Self::Execution(v) => GatewayEvent::Execution(v),
            Self::OrderAt { order, instrument } => {
                GatewayEvent::Order(Arc::new(OrderView { order: books.get(&order)?.clone(), instrument }))
            }
            Self::ExecutionAt { exec_id, instrument } => {
                let execution = books.execution(exec_id.as_str())?;
                GatewayEvent::Execution(Arc::new(ExecutionView::from_books(books, execution, instrument)))
            }
            Self::Unread => return None,
        })
    }
}

impl Entry {
    /// The kind of [`Entry::Published`] records.
    pub const PUBLISHED: &'static str = "published";
}

impl Record for Entry {
    fn kind(&self) -> &'static str {
        match self {
            Self::Submitted { .. } => "submitted",
            Self::OrderEvent(_) => "order_event",
            Self::CancelRequested { .. } => "cancel_requested",
            Self::CancelNotSent { .. } => "cancel_not_sent",
            Self::ModifyRequested { .. } => "modify_requested",
            Self::ModifyNotSent { .. } => "modify_not_sent",
            Self::OrderNotSent { .. } => "order_not_sent",
            Self::Snapshot { .. } => "snapshot",
            Self::Published { .. } => Self::PUBLISHED,
            Self::SeqReserved { .. } => "seq_reserved",
            Self::Route(_) => "route",
            Self::CurrentAccount(_) => "current_account",
            Self::PrimaryExchange { .. } => "primary_exchange",
            Self::Archive { .. } => "archive",
            Self::Commission { .. } => "commission",
            Self::Checkpoint(_) => "checkpoint",
            Self::RiskState { .. } => "risk_state",
            Self::RiskDenied { .. } => "risk_denied",
        }
    }

    fn is_checkpoint(&self) -> bool {
        matches!(self, Self::Checkpoint(_))
    }

    fn encode(&self) -> Result<String, String> {
        serde_json::to_string(self).map_err(|e| e.to_string())
    }

    fn decode(body: &str) -> Result<Self, String> {
        serde_json::from_str(body).map_err(|e| e.to_string())
    }

    /// A published event read only for its sequence number (the event is skipped by the parser,
    /// nothing of it is built); any other record in full.
    fn decode_brief(body: &str) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Brief {
            published: BriefPublished,
        }
        #[derive(Deserialize)]
        struct BriefPublished {
            seq: u64,
        }
        match serde_json::from_str::<Brief>(body) {
            Ok(b) => Ok(Self::Published { seq: b.published.seq, event: Published::Unread }),
            Err(_) => Self::decode(body),
        }
    }
}
