//! The order status machine: one exhaustive transition table.
//!
//! An order's status only ever changes here: through [`OrderStatus::transition`] for an event,
//! or [`OrderStatus::restate`] when a broker's snapshot says where the order stands (at
//! reconciliation). Every `(status, trigger)` pair is decided in one `match` that names every
//! pair, with no catch-all arm, so a new status or trigger does not compile until each of its
//! pairs is decided. A pair that makes no sense (a fill after a cancel, an accept after a fill)
//! is an [`InvalidTransition`], which the OMS logs and drops, so a duplicate, stale or impossible
//! broker event can never corrupt an order.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a cancel or replace request came from, so that a refused one can return there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CancelResume {
    /// Sent, not yet acknowledged.
    Initialized,
    /// Acknowledged, not yet working.
    Submitted,
    /// A held staged ticket.
    Held,
    /// Working, nothing filled.
    Working,
    /// Working, partly filled.
    PartiallyFilled,
}

impl CancelResume {
    /// Where a cancel of an order in `status` would resume if refused: the open statuses a
    /// cancel can start from (the inverse of `OrderStatus::from`); `None` for a pending cancel
    /// itself and for final statuses.
    pub fn of(status: OrderStatus) -> Option<Self> {
        match status {
            OrderStatus::Initialized => Some(Self::Initialized),
            OrderStatus::Submitted => Some(Self::Submitted),
            OrderStatus::Held => Some(Self::Held),
            OrderStatus::Working => Some(Self::Working),
            OrderStatus::PartiallyFilled => Some(Self::PartiallyFilled),
            OrderStatus::PendingCancel { .. }
            | OrderStatus::PendingReplace { .. }
            | OrderStatus::Filled
            | OrderStatus::Cancelled
            | OrderStatus::Rejected
            | OrderStatus::Expired => None,
        }
    }
}

impl From<CancelResume> for OrderStatus {
    fn from(value: CancelResume) -> Self {
        match value {
            CancelResume::Initialized => OrderStatus::Initialized,
            CancelResume::Submitted => OrderStatus::Submitted,
            CancelResume::Held => OrderStatus::Held,
            CancelResume::Working => OrderStatus::Working,
            CancelResume::PartiallyFilled => OrderStatus::PartiallyFilled,
        }
    }
}

/// The status of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Created by the gateway and sent to the broker; no answer yet.
    Initialized,
    /// The broker acknowledged it; not yet working at the venue.
    Submitted,
    /// A staged ticket held at the broker until released by hand.
    Held,
    /// Working at the venue, nothing filled.
    Working,
    /// Working, partly filled.
    PartiallyFilled,
    /// A cancel was sent and not yet confirmed. The order may still fill meanwhile.
    PendingCancel {
        /// The status to return to if the broker refuses the cancel.
        resume: CancelResume,
    },
    /// A change of quantity or price was sent and not yet confirmed. The order works on its old
    /// terms meanwhile, and may still fill.
    PendingReplace {
        /// The status to return to when the broker confirms or refuses the change.
        resume: CancelResume,
    },
    /// Completely filled. Terminal.
    Filled,
    /// Cancelled (possibly after partial fills). Terminal.
    Cancelled,
    /// Rejected by the broker or venue. Terminal.
    Rejected,
    /// Expired (end of day, or the unfilled rest of an IOC). Terminal.
    Expired,
}

/// Something that happened to an order. The OMS derives triggers from broker events (checking
/// quantities first, so that `PartialFill` vs `Fill` is decided by the gateway's own books).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderTrigger {
    /// The broker received the order.
    Acknowledge,
    /// The broker holds the order as a staged ticket.
    Stage,
    /// The order is working at the venue (also a status refresh of a working order).
    Accept,
    /// A stop order's trigger condition was met.
    Trigger,
    /// A fill that leaves quantity open.
    PartialFill,
    /// A fill that completes the order.
    Fill,
    /// The gateway sent a cancel.
    RequestCancel,
    /// The broker refused the cancel.
    RejectCancel,
    /// The broker confirmed the cancel.
    Cancel,
    /// The broker or venue rejected the order.
    Reject,
    /// The order expired.
    Expire,
    /// The gateway sent a change of quantity or price.
    RequestReplace,
    /// The broker confirmed a change (the one asked for, or one made at the broker).
    Replace,
    /// The broker refused the change.
    RejectReplace,
}

/// A trigger that is not allowed in the current status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid order transition: {trigger:?} in status {from:?}")]
pub struct InvalidTransition {
    /// The status the order was in.
    pub from: OrderStatus,
    /// What was attempted.
    pub trigger: OrderTrigger,
}

impl OrderStatus {
    /// Decides the next status.
    ///
    /// # Errors
    /// [`InvalidTransition`] when `trigger` cannot happen in this status; the order keeps its
    /// status.
    pub fn transition(self, trigger: OrderTrigger) -> Result<OrderStatus, InvalidTransition> {
        use OrderStatus as S;
        use OrderTrigger as T;
        let next = match (self, trigger) {
            // Acknowledgement and staging happen once, first; a repeated one is a refresh.
            (S::Initialized | S::Submitted, T::Acknowledge) => S::Submitted,
            (S::Initialized | S::Held, T::Stage) => S::Held,
            // Accept: a fast broker may skip the acknowledgement; a released ticket starts
            // working; a repeated accept of a working order is a status refresh.
            (S::Initialized | S::Submitted | S::Held | S::Working, T::Accept) => S::Working,
            // A partly filled order that is reported working again stays partly filled.
            (S::PartiallyFilled, T::Accept) => S::PartiallyFilled,
            (S::PendingCancel { resume }, T::Accept) => S::PendingCancel { resume },
            (S::PendingReplace { resume }, T::Accept) => S::PendingReplace { resume },
            (S::Working | S::PartiallyFilled | S::PendingCancel { .. } | S::PendingReplace { .. }, T::Trigger) => self,
            // Fills. A held ticket never fills: the broker creates a new order on release.
            (S::Initialized | S::Submitted | S::Working | S::PartiallyFilled, T::PartialFill) => {
                S::PartiallyFilled
            }
            (S::Initialized | S::Submitted | S::Working | S::PartiallyFilled, T::Fill) => S::Filled,
            // A pending cancel or replace may still fill: it stays pending, now over a partly
            // filled order, or completes and the request loses the race.
            (S::PendingCancel { .. }, T::PartialFill) => {
                S::PendingCancel { resume: CancelResume::PartiallyFilled }
            }
            (S::PendingReplace { .. }, T::PartialFill) => {
                S::PendingReplace { resume: CancelResume::PartiallyFilled }
            }
            (S::PendingCancel { .. } | S::PendingReplace { .. }, T::Fill) => S::Filled,
            // Cancel requests: the pending cancel remembers where to resume. A cancel may
            // overtake a pending replace (a kill switch must not wait for it).
            (S::Initialized, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Initialized },
            (S::Submitted, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Submitted },
            (S::Held, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Held },
            (S::Working, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Working },
            (S::PartiallyFilled, T::RequestCancel) => {
                S::PendingCancel { resume: CancelResume::PartiallyFilled }
            }
            (S::PendingCancel { resume } | S::PendingReplace { resume }, T::RequestCancel) => S::PendingCancel { resume },
            (S::PendingCancel { resume }, T::RejectCancel) => resume.into(),
            // Replace requests: only for an order the broker has (acknowledged, working), one
            // at a time; the order resumes where it was when the broker answers.
            (S::Submitted, T::RequestReplace) => S::PendingReplace { resume: CancelResume::Submitted },
            (S::Working, T::RequestReplace) => S::PendingReplace { resume: CancelResume::Working },
            (S::PartiallyFilled, T::RequestReplace) => S::PendingReplace { resume: CancelResume::PartiallyFilled },
            (S::PendingReplace { resume }, T::Replace | T::RejectReplace) => resume.into(),
            // A change made at the broker (or confirmed after a cancel overtook it) changes the
            // terms, not the status.
            (S::Submitted | S::Working | S::PartiallyFilled | S::PendingCancel { .. }, T::Replace) => self,
            // The replace a cancel overtook was refused: the cancel is still pending.
            (S::PendingCancel { .. }, T::RejectReplace) => self,
            // Unsolicited cancels (broker-side, IOC remainder) are allowed from any open status.
            (
                S::Initialized
                | S::Submitted
                | S::Held
                | S::Working
                | S::PartiallyFilled
                | S::PendingCancel { .. }
                | S::PendingReplace { .. },
                T::Cancel,
            ) => S::Cancelled,
            // A reject can only come before anything filled.
            (S::Initialized | S::Submitted | S::Held | S::Working, T::Reject) => S::Rejected,
            (
                S::PendingCancel {
                    resume:
                        CancelResume::Initialized
                        | CancelResume::Submitted
                        | CancelResume::Held
                        | CancelResume::Working,
                }
                | S::PendingReplace {
                    resume:
                        CancelResume::Initialized
                        | CancelResume::Submitted
                        | CancelResume::Held
                        | CancelResume::Working,
                },
                T::Reject,
            ) => S::Rejected,
            (
                S::Submitted | S::Held | S::Working | S::PartiallyFilled | S::PendingCancel { .. } | S::PendingReplace { .. },
                T::Expire,
            ) => S::Expired,

            // Refused: terminal statuses absorb nothing; stale or out-of-order events change
            // nothing. Each trigger names the statuses it cannot happen in.
            (
                S::Held
                | S::Working
                | S::PartiallyFilled
                | S::PendingCancel { .. }
                | S::PendingReplace { .. }
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                T::Acknowledge,
            )
            | (
                S::Submitted
                | S::Working
                | S::PartiallyFilled
                | S::PendingCancel { .. }
                | S::PendingReplace { .. }
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                T::Stage,
            )
            | (S::Filled | S::Cancelled | S::Rejected | S::Expired, T::Accept)
            | (S::Initialized | S::Submitted | S::Held | S::Filled | S::Cancelled | S::Rejected | S::Expired, T::Trigger)
            // a held ticket never fills: the broker creates a new order on release
            | (S::Held | S::Filled | S::Cancelled | S::Rejected | S::Expired, T::PartialFill | T::Fill)
            | (S::Filled | S::Cancelled | S::Rejected | S::Expired, T::RequestCancel)
            // no cancel was pending
            | (
                S::Initialized
                | S::Submitted
                | S::Held
                | S::Working
                | S::PartiallyFilled
                | S::PendingReplace { .. }
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                T::RejectCancel,
            )
            | (S::Filled | S::Cancelled | S::Rejected | S::Expired, T::Cancel)
            // no reject after a fill
            | (
                S::PartiallyFilled
                | S::PendingCancel { resume: CancelResume::PartiallyFilled }
                | S::PendingReplace { resume: CancelResume::PartiallyFilled }
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                T::Reject,
            )
            // an order the broker never acknowledged cannot expire there
            | (S::Initialized | S::Filled | S::Cancelled | S::Rejected | S::Expired, T::Expire)
            // nothing to change before the broker has the order, on a held ticket, while a
            // cancel or another replace is pending, or once it ended
            | (
                S::Initialized
                | S::Held
                | S::PendingCancel { .. }
                | S::PendingReplace { .. }
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                T::RequestReplace,
            )
            | (S::Initialized | S::Held | S::Filled | S::Cancelled | S::Rejected | S::Expired, T::Replace)
            // no replace was pending
            | (
                S::Initialized | S::Submitted | S::Held | S::Working | S::PartiallyFilled | S::Filled | S::Cancelled | S::Rejected | S::Expired,
                T::RejectReplace,
            ) => {
                return Err(InvalidTransition { from: self, trigger });
            }
        };
        Ok(next)
    }

    /// The status an order takes from a broker's snapshot (reconciliation): the broker's,
    /// except that a cancel or replace in flight stays in flight while the broker still reports
    /// the order open, resuming where the broker says it stands.
    pub fn restate(self, broker: OrderStatus) -> OrderStatus {
        use OrderStatus as S;
        match (self, CancelResume::of(broker)) {
            (S::PendingCancel { .. }, Some(resume)) => S::PendingCancel { resume },
            (S::PendingReplace { .. }, Some(resume)) => S::PendingReplace { resume },
            (S::PendingCancel { .. } | S::PendingReplace { .. }, None)
            | (
                S::Initialized
                | S::Submitted
                | S::Held
                | S::Working
                | S::PartiallyFilled
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                Some(_) | None,
            ) => broker,
        }
    }

    /// True for `Filled`, `Cancelled`, `Rejected` and `Expired`.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired)
    }

    /// True while the order may still change at the broker.
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }

    /// A short name, e.g. `PendingCancel`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Initialized => "Initialized",
            Self::Submitted => "Submitted",
            Self::Held => "Held",
            Self::Working => "Working",
            Self::PartiallyFilled => "PartiallyFilled",
            Self::PendingCancel { .. } => "PendingCancel",
            Self::PendingReplace { .. } => "PendingReplace",
            Self::Filled => "Filled",
            Self::Cancelled => "Cancelled",
            Self::Rejected => "Rejected",
            Self::Expired => "Expired",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use OrderStatus as S;
    use OrderTrigger as T;

    const TRIGGERS: [OrderTrigger; 14] = [
        T::RequestReplace,
        T::Replace,
        T::RejectReplace,
        T::Acknowledge,
        T::Stage,
        T::Accept,
        T::Trigger,
        T::PartialFill,
        T::Fill,
        T::RequestCancel,
        T::RejectCancel,
        T::Cancel,
        T::Reject,
        T::Expire,
    ];

    #[test]
    fn market_order_happy_path() {
        let s = S::Initialized;
        let s = s.transition(T::Acknowledge).expect("ack");
        assert_eq!(s, S::Submitted);
        let s = s.transition(T::Accept).expect("accept");
        let s = s.transition(T::PartialFill).expect("partial");
        assert_eq!(s, S::PartiallyFilled);
        assert_eq!(s.transition(T::Fill), Ok(S::Filled));
    }

    #[test]
    fn pending_cancel_may_still_fill() {
        let s = S::Working.transition(T::RequestCancel).expect("cancel req");
        assert_eq!(s, S::PendingCancel { resume: CancelResume::Working });
        let s = s.transition(T::PartialFill).expect("partial during cancel");
        assert_eq!(s, S::PendingCancel { resume: CancelResume::PartiallyFilled });
        // the cancel is refused: back to partly filled, not to working
        assert_eq!(s.transition(T::RejectCancel), Ok(S::PartiallyFilled));
        // or the fill wins the race
        assert_eq!(s.transition(T::Fill), Ok(S::Filled));
    }

    #[test]
    fn a_replace_resumes_where_it_started_and_may_lose_to_a_fill_or_a_cancel() {
        let s = S::Working.transition(T::RequestReplace).expect("replace req");
        assert_eq!(s, S::PendingReplace { resume: CancelResume::Working });
        assert!(s.transition(T::RequestReplace).is_err(), "one replace at a time");
        let s = s.transition(T::PartialFill).expect("partial during replace");
        assert_eq!(s.transition(T::Replace), Ok(S::PartiallyFilled), "confirmed: where the order stands now");
        assert_eq!(s.transition(T::RejectReplace), Ok(S::PartiallyFilled), "refused: the same");
        assert_eq!(s.transition(T::Fill), Ok(S::Filled), "the fill wins the race");
        // a cancel overtakes it; the replace's answer then changes nothing
        let c = s.transition(T::RequestCancel).expect("cancel overtakes");
        assert_eq!(c, S::PendingCancel { resume: CancelResume::PartiallyFilled });
        assert_eq!(c.transition(T::Replace), Ok(c));
        assert_eq!(c.transition(T::RejectReplace), Ok(c));
        assert_eq!(c.transition(T::Cancel), Ok(S::Cancelled));
        // not before the broker has the order, nor on a ticket
        assert!(S::Initialized.transition(T::RequestReplace).is_err());
        assert!(S::Held.transition(T::RequestReplace).is_err());
        // a change made at the broker keeps the status
        assert_eq!(S::Working.transition(T::Replace), Ok(S::Working));
        assert!(S::Working.transition(T::RejectReplace).is_err(), "no replace was pending");
        assert_eq!(S::PendingReplace { resume: CancelResume::Working }.restate(S::PartiallyFilled), S::PendingReplace { resume: CancelResume::PartiallyFilled });
    }

    #[test]
    fn terminal_statuses_absorb_nothing() {
        for terminal in [S::Filled, S::Cancelled, S::Rejected, S::Expired] {
            for t in TRIGGERS {
                assert_eq!(
                    terminal.transition(t),
                    Err(InvalidTransition { from: terminal, trigger: t }),
                    "{terminal:?} + {t:?}"
                );
            }
        }
    }

    #[test]
    fn a_broker_restatement_keeps_a_cancel_in_flight_while_the_order_is_open() {
        let pending = S::PendingCancel { resume: CancelResume::Working };
        assert_eq!(pending.restate(S::PartiallyFilled), S::PendingCancel { resume: CancelResume::PartiallyFilled });
        assert_eq!(pending.restate(S::Filled), S::Filled, "the broker says it ended: it did");
        assert_eq!(pending.restate(S::PendingCancel { resume: CancelResume::Submitted }), S::PendingCancel { resume: CancelResume::Submitted });
        assert_eq!(S::Working.restate(S::Cancelled), S::Cancelled);
        assert_eq!(S::Filled.restate(S::Working), S::Working, "the broker is the truth for what happened there");
        for status in [S::Initialized, S::Submitted, S::Held, S::Working, S::PartiallyFilled] {
            let resume = CancelResume::of(status).expect("an open status is a resume point");
            assert_eq!(OrderStatus::from(resume), status, "of and from are inverses");
        }
        for status in [S::PendingCancel { resume: CancelResume::Held }, S::PendingReplace { resume: CancelResume::Working }, S::Filled, S::Cancelled, S::Rejected, S::Expired] {
            assert_eq!(CancelResume::of(status), None);
        }
    }

    #[test]
    fn stale_and_impossible_events_are_refused() {
        assert!(S::Held.transition(T::Fill).is_err(), "a held ticket never fills");
        assert!(S::PartiallyFilled.transition(T::Reject).is_err(), "no reject after a fill");
        assert!(S::Working.transition(T::Acknowledge).is_err(), "ack after working is stale");
        assert!(S::Working.transition(T::RejectCancel).is_err(), "no cancel was pending");
    }

    fn any_trigger() -> impl Strategy<Value = OrderTrigger> {
        proptest::sample::select(TRIGGERS.to_vec())
    }

    proptest! {
        /// Whatever the broker sends, in whatever order, an order is never both filled and
        /// cancelled, and once terminal it never changes again.
        #[test]
        fn never_both_filled_and_cancelled(triggers in proptest::collection::vec(any_trigger(), 0..40)) {
            let mut s = S::Initialized;
            let mut seen_filled = false;
            let mut seen_cancelled = false;
            let mut terminal: Option<OrderStatus> = None;
            for t in triggers {
                if let Ok(next) = s.transition(t) {
                    if let Some(term) = terminal {
                        prop_assert_eq!(next, term, "terminal status changed");
                    }
                    s = next;
                }
                seen_filled |= s == S::Filled;
                seen_cancelled |= s == S::Cancelled;
                if s.is_terminal() {
                    terminal = Some(s);
                }
            }
            prop_assert!(!(seen_filled && seen_cancelled));
        }

        /// A refused transition leaves no trace: the caller keeps the old status.
        #[test]
        fn transition_is_total(from_idx in 0usize..11, t in any_trigger()) {
            let all = [S::Initialized, S::Submitted, S::Held, S::Working, S::PartiallyFilled,
                S::PendingCancel { resume: CancelResume::Working }, S::Filled, S::Cancelled,
                S::Rejected, S::Expired, S::PendingReplace { resume: CancelResume::Working }];
            let from = all[from_idx];
            match from.transition(t) {
                Ok(next) => prop_assert!(!(from.is_terminal() && next != from)),
                Err(e) => { prop_assert_eq!(e.from, from); prop_assert_eq!(e.trigger, t); }
            }
        }
    }
}
