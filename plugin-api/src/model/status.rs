//! The order status machine: one exhaustive transition table.
//!
//! An order's status only ever changes through [`OrderStatus::transition`]. Every
//! `(status, trigger)` pair is decided in one `match`; a pair that makes no sense (a fill after a
//! cancel, an accept after a fill) is an [`InvalidTransition`], which the OMS logs and drops, so a
//! duplicate, stale or impossible broker event can never corrupt an order.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a cancel request came from, so that a refused cancel can return there.
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
            (S::Working | S::PartiallyFilled | S::PendingCancel { .. }, T::Trigger) => self,
            // Fills. A held ticket never fills: the broker creates a new order on release.
            (S::Initialized | S::Submitted | S::Working | S::PartiallyFilled, T::PartialFill) => {
                S::PartiallyFilled
            }
            (S::Initialized | S::Submitted | S::Working | S::PartiallyFilled, T::Fill) => S::Filled,
            // A pending cancel may still fill: it stays pending, now over a partly filled order,
            // or completes and the cancel loses the race.
            (S::PendingCancel { .. }, T::PartialFill) => {
                S::PendingCancel { resume: CancelResume::PartiallyFilled }
            }
            (S::PendingCancel { .. }, T::Fill) => S::Filled,
            // Cancel requests.
            (S::Initialized, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Initialized },
            (S::Submitted, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Submitted },
            (S::Held, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Held },
            (S::Working, T::RequestCancel) => S::PendingCancel { resume: CancelResume::Working },
            (S::PartiallyFilled, T::RequestCancel) => {
                S::PendingCancel { resume: CancelResume::PartiallyFilled }
            }
            (S::PendingCancel { resume }, T::RequestCancel) => S::PendingCancel { resume },
            (S::PendingCancel { resume }, T::RejectCancel) => resume.into(),
            // Unsolicited cancels (broker-side, IOC remainder) are allowed from any open status.
            (
                S::Initialized
                | S::Submitted
                | S::Held
                | S::Working
                | S::PartiallyFilled
                | S::PendingCancel { .. },
                T::Cancel,
            ) => S::Cancelled,
            // A reject can only come before anything filled.
            (S::Initialized | S::Submitted | S::Held | S::Working, T::Reject) => S::Rejected,
            (S::PendingCancel { resume }, T::Reject) if resume != CancelResume::PartiallyFilled => {
                S::Rejected
            }
            (
                S::Submitted | S::Held | S::Working | S::PartiallyFilled | S::PendingCancel { .. },
                T::Expire,
            ) => S::Expired,
            // Everything else: terminal statuses absorb nothing; out-of-order events are refused.
            (from, trigger) => return Err(InvalidTransition { from, trigger }),
        };
        Ok(next)
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

    const TRIGGERS: [OrderTrigger; 11] = [
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
        fn transition_is_total(from_idx in 0usize..10, t in any_trigger()) {
            let all = [S::Initialized, S::Submitted, S::Held, S::Working, S::PartiallyFilled,
                S::PendingCancel { resume: CancelResume::Working }, S::Filled, S::Cancelled,
                S::Rejected, S::Expired];
            let from = all[from_idx];
            match from.transition(t) {
                Ok(next) => prop_assert!(!(from.is_terminal() && next != from)),
                Err(e) => { prop_assert_eq!(e.from, from); prop_assert_eq!(e.trigger, t); }
            }
        }
    }
}
