//! Trading states, for the whole gateway and for each account: ACTIVE (every order checked
//! against the limits), REDUCING (only orders that reduce a position), HALTED (no new orders).
//! The stricter of the gateway's and the account's state applies.
//!
//! Only an operator's explicit command makes a state less strict (re-arming after the kill
//! switch); the daily loss limit can only make it stricter.

use serde::{Deserialize, Serialize};

/// A trading state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TradingState {
    /// Orders are checked against the limits.
    #[default]
    Active,
    /// Only orders that reduce a position.
    Reducing,
    /// No new orders.
    Halted,
}

impl TradingState {
    /// The name clients see.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Reducing => "REDUCING",
            Self::Halted => "HALTED",
        }
    }

    /// A state by its name (any case).
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_uppercase().as_str() {
            "ACTIVE" => Some(Self::Active),
            "REDUCING" => Some(Self::Reducing),
            "HALTED" => Some(Self::Halted),
            _ => None,
        }
    }

    /// The stricter of two.
    pub fn stricter(self, other: Self) -> Self {
        self.max(other)
    }
}

/// What changes a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateEvent {
    /// The operator sets the state (the kill switch sets HALTED; re-arming sets ACTIVE).
    Operator(TradingState),
    /// The account's realised loss reached its limit.
    LossLimit,
}

/// The state after an event.
pub fn next(state: TradingState, event: StateEvent) -> TradingState {
    match (state, event) {
        (_, StateEvent::Operator(to)) => to,
        (TradingState::Active | TradingState::Reducing, StateEvent::LossLimit) => TradingState::Reducing,
        (TradingState::Halted, StateEvent::LossLimit) => TradingState::Halted,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_operator_makes_a_state_less_strict() {
        use TradingState::{Active, Halted, Reducing};
        for s in [Active, Reducing, Halted] {
            assert!(next(s, StateEvent::LossLimit) >= s, "{s:?}");
            for to in [Active, Reducing, Halted] {
                assert_eq!(next(s, StateEvent::Operator(to)), to);
            }
        }
        assert_eq!(Active.stricter(Halted), Halted);
        assert_eq!(TradingState::parse("reducing"), Some(Reducing));
    }
}
