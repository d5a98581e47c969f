//! Recovery: the books rebuilt from the journal before the gateway core starts.
//!
//! Every journal entry is booked through [`Oms::book`], the function the live core changes its
//! books with, so the orders (with their whole update history), tickets, executions, positions,
//! id mappings and strategy origins come back as they were. Settings the operator changed at
//! run time (route, current account, primary exchanges) come back too. The bus continues above
//! the highest sequence number ever reserved, and the newest published order and execution
//! events are kept so the stream's `resume` reaches back across the restart. A checkpoint (the
//! first record after a compaction) replaces everything read before it.
//!
//! What recovery cannot know is what the broker did meanwhile: that is reconciliation's job
//! once each adapter reports its state (see the core's snapshot handling). Orders placed but
//! never acknowledged are listed as *in doubt* for it.

use super::bus::{trim_oldest, Sequenced};
use super::oms::Oms;
use super::entry::{Compaction, Entry};
use crate::journal::{Journal, JournalError, JournalSettings, Scan};
use crate::risk::state::TradingState;
use crate::risk::Scope;
use indexmap::IndexMap;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};
use txtrader_plugin_api::model::{AccountId, ClientOrderId, OrderStatus, Route, Symbol};

/// Published events resolved beyond the newest ones kept, in case some at the end are damaged.
const PUSH_MARGIN: usize = 1024;

/// The state read back from the journal, handed to the core.
#[derive(Debug)]
pub struct Recovered {
    /// The open journal, appending after the last good record.
    pub journal: Journal<Entry>,
    /// The books.
    pub oms: Oms,
    /// The default route, if it was changed.
    pub route: Option<Route>,
    /// The current account, if it was set.
    pub current_account: Option<AccountId>,
    /// Primary exchanges set.
    pub exchanges: IndexMap<Symbol, String>,
    /// The bus continues above this.
    pub seq_reserved: u64,
    /// The newest published order and execution events, oldest first.
    pub pushes: VecDeque<Arc<Sequenced>>,
    /// Pushes older than the kept ones, up to this sequence number, are not kept.
    pub pushes_evicted_through: u64,
    /// Orders placed but not acknowledged by the broker when the gateway stopped.
    pub in_doubt: Vec<ClientOrderId>,
    /// The compaction whose checkpoint the journal file begins with.
    pub last_compaction: Option<Compaction>,
    /// What reading the journal found.
    pub scan: Scan,
    /// How long reading took.
    pub took: Duration,
    /// Trading states set (the kill switch survives a restart).
    pub risk_states: Vec<(Scope, TradingState)>,
}

impl Recovered {
    /// True when the journal held nothing.
    pub fn is_fresh(&self) -> bool {
        self.scan.records == 0
    }
}

/// Opens the journal and replays it, keeping at most `keep_pushes` published events.
///
/// # Errors
/// As [`Journal::open`].
pub fn recover(settings: &JournalSettings, keep_pushes: usize) -> Result<Recovered, JournalError> {
    let started = Instant::now();
    let mut oms = Oms::new();
    let (mut route, mut current_account, mut exchanges) = (None, None, IndexMap::new());
    let (mut seq_reserved, mut evicted) = (0u64, 0u64);
    let mut pushes: VecDeque<Arc<Sequenced>> = VecDeque::new();
    let mut last_compaction = None;
    let mut risk_states: Vec<(Scope, TradingState)> = Vec::new();
    // Published events before the newest `keep_pushes` (and a margin for damaged ones at the
    // end) would be trimmed as soon as resolved: they are passed over, read only for their
    // sequence numbers.
    let keep_from = Journal::<Entry>::nth_newest(settings, Entry::PUBLISHED, keep_pushes.saturating_add(PUSH_MARGIN)).unwrap_or(0);
    let brief = crate::journal::Brief { kind: Entry::PUBLISHED, before: keep_from };
    let (journal, scan) = Journal::open_brief(settings, brief, |record, entry| {
        oms.book(&entry);
        match entry {
            Entry::Published { seq, .. } if record < keep_from => {
                seq_reserved = seq_reserved.max(seq);
                evicted = evicted.max(seq);
            }
            Entry::Published { seq, event } => {
                seq_reserved = seq_reserved.max(seq);
                let Some(event) = event.resolve(&oms) else {
                    tracing::warn!(seq, "journal: a published event refers to what the books do not hold; not kept for resume");
                    return;
                };
                pushes.push_back(Arc::new(Sequenced { seq, event }));
                trim_oldest(&mut pushes, keep_pushes, |p| p.seq, &mut evicted);
            }
            Entry::SeqReserved { through } => seq_reserved = seq_reserved.max(through),
            Entry::RiskState { scope, state, .. } => {
                risk_states.retain(|(s, _)| s != &scope);
                risk_states.push((scope, state));
            }
            Entry::Route(r) => route = Some(r),
            Entry::CurrentAccount(a) => current_account = Some(a),
            Entry::PrimaryExchange { symbol, exchange } => match exchange {
                Some(e) => {
                    exchanges.insert(symbol, e);
                }
                None => {
                    exchanges.shift_remove(&symbol);
                }
            },
            Entry::Checkpoint(cp) => {
                let cp = *cp;
                route = cp.route;
                current_account = cp.current_account;
                exchanges = cp.exchanges;
                seq_reserved = cp.seq_reserved;
                evicted = cp.pushes_evicted_through;
                last_compaction = Some(cp.compaction);
                risk_states = cp.risk_states;
                if record < keep_from {
                    // all older than the newest published records that follow
                    evicted = evicted.max(cp.pushes.last().map_or(0, |(seq, _)| *seq));
                    pushes.clear();
                    return;
                }
                pushes = cp.pushes.into_iter().filter_map(|(seq, p)| Some(Arc::new(Sequenced { seq, event: p.resolve(&oms)? }))).collect();
                trim_oldest(&mut pushes, keep_pushes, |p| p.seq, &mut evicted);
            }
            Entry::Submitted { .. }
            | Entry::Archive { .. }
            | Entry::Commission { .. }
            | Entry::OrderEvent(_)
            | Entry::CancelRequested { .. }
            | Entry::CancelNotSent { .. }
            | Entry::ModifyRequested { .. }
            | Entry::ModifyNotSent { .. }
            | Entry::OrderNotSent { .. }
            | Entry::Snapshot { .. }
            | Entry::RiskDenied { .. } => {}
        }
    })?;
    let in_doubt = oms
        .orders()
        .filter(|o| o.broker_order_id.is_none() && o.status == OrderStatus::Initialized)
        .map(|o| o.request.client_order_id.clone())
        .collect();
    Ok(Recovered {
        journal,
        oms,
        route,
        current_account,
        exchanges,
        seq_reserved,
        pushes,
        pushes_evicted_through: evicted,
        in_doubt,
        last_compaction,
        scan,
        took: started.elapsed(),
        risk_states,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::entry::{Checkpoint, Published};
    use std::time::Duration;
    use txtrader_plugin_api::model::UnixNanos;

    fn route(name: &str) -> Entry {
        Entry::Route(Route { name: name.into(), params: None })
    }

    fn submitted(id: &str) -> Entry {
        Entry::Submitted { request: crate::gateway::oms::tests::request(id, 1), at: UnixNanos(1) }
    }

    #[test]
    fn a_published_record_read_briefly_keeps_only_its_sequence_number() {
        use crate::journal::Record;
        let order = ClientOrderId::new("X1").expect("id");
        let published = Entry::Published { seq: 42, event: Published::OrderAt { order, instrument: None } };
        let body = published.encode().expect("encodes");
        assert_eq!(Entry::decode_brief(&body), Ok(Entry::Published { seq: 42, event: Published::Unread }));
        assert_eq!(Entry::decode(&body), Ok(published), "read in full otherwise");
        let other = route("R");
        assert_eq!(Entry::decode_brief(&other.encode().expect("encodes")), Ok(other), "any other record is read in full");
        assert!(Published::Unread.resolve(&Oms::new()).is_none());
    }

    /// Published events older than the newest kept are passed over unresolved: what recovery
    /// keeps, and where it says the older ones end, are as if each had been resolved and
    /// trimmed.
    #[test]
    fn only_the_newest_published_events_are_resolved() {
        let tmp = tempfile::tempdir().expect("tmp");
        let settings = JournalSettings { dir: tmp.path().to_owned(), max_batch: 1000 };
        let total = PUSH_MARGIN as u64 + 500;
        {
            let (mut j, _) = Journal::<Entry>::open(&settings, |_, _| {}).expect("opens");
            for n in 1..=total {
                let id = format!("O{n}");
                j.append(submitted(&id));
                let order = ClientOrderId::new(&id).expect("id");
                j.append(Entry::Published { seq: n * 2, event: Published::OrderAt { order, instrument: None } });
            }
            j.flush();
            let deadline = Instant::now() + Duration::from_secs(30);
            while j.durable() < total * 2 {
                assert!(Instant::now() < deadline, "durable");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let keep = 10;
        assert_eq!(Journal::<Entry>::nth_newest(&settings, Entry::PUBLISHED, keep + PUSH_MARGIN), Some((total - (keep + PUSH_MARGIN) as u64 + 1) * 2));
        let r = recover(&settings, keep).expect("recovers");
        let kept: Vec<u64> = r.pushes.iter().map(|p| p.seq).collect();
        assert_eq!(kept, ((total - keep as u64 + 1)..=total).map(|n| n * 2).collect::<Vec<_>>());
        assert_eq!(r.pushes_evicted_through, (total - keep as u64) * 2);
        assert_eq!(r.seq_reserved, total * 2);
        let newest = r.pushes.back().expect("kept");
        assert!(matches!(&newest.event, crate::gateway::bus::GatewayEvent::Order(v) if v.order.request.client_order_id.as_str() == format!("O{total}")));
        assert_eq!(r.oms.orders().count() as u64, total, "every order booked");
    }

    /// Entries written through the engine and read back by recovery: a checkpoint replaces
    /// what came before it, what follows applies on top, and the compaction it records is the
    /// journal's last.
    #[test]
    fn a_checkpoint_is_where_recovery_starts_and_tells_the_last_compaction() {
        let tmp = tempfile::tempdir().expect("tmp");
        let settings = JournalSettings { dir: tmp.path().to_owned(), max_batch: 100 };
        {
            let (mut j, _) = Journal::<Entry>::open(&settings, |_, _| {}).expect("opens");
            j.append(route("BEFORE"));
            j.append(Entry::SeqReserved { through: 5 });
            let compaction = Compaction { at: UnixNanos(1), reason: "test".into(), archived_before: UnixNanos(0), archived_orders: 0, checkpoint: 3 };
            j.append(Entry::Checkpoint(Box::new(Checkpoint {
                books: crate::gateway::oms::BooksImage::default(),
                route: Some(Route { name: "CP".into(), params: None }),
                current_account: None,
                exchanges: IndexMap::new(),
                seq_reserved: 7,
                pushes: Vec::new(),
                pushes_evicted_through: 0,
                compaction,
                risk_states: vec![(Scope::Gateway, TradingState::Halted)],
            })));
            j.append(Entry::SeqReserved { through: 9 });
            j.flush();
            let deadline = Instant::now() + Duration::from_secs(10);
            while j.durable() < 4 {
                assert!(Instant::now() < deadline, "durable");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        let r = recover(&settings, 10).expect("recovers");
        assert_eq!(r.scan.checkpoint, Some(3));
        assert_eq!((r.scan.records, r.scan.last), (2, 4), "the file begins with the checkpoint");
        assert_eq!(r.last_compaction.map(|c| c.reason), Some("test".into()));
        assert_eq!(r.route.map(|r| r.name), Some("CP".into()), "the route the checkpoint kept");
        assert_eq!(r.seq_reserved, 9, "what follows the checkpoint applies on top of it");
        assert_eq!(r.risk_states, vec![(Scope::Gateway, TradingState::Halted)], "the kill switch survives compaction");
    }
}
