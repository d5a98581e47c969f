//! One logical connection to RTGW and the one command it carries, as the original txTrader
//! uses them: every request, advise and poke opens a connection of its own
//! (`connect ID SERVICE;TOPIC`), waits for `CONNECTION PENDING` and `OnInitAck`, then sends its
//! command on it, so that every answer names the command it answers by the connection's id.
//!
//! The life of one, as one exhaustive `match (state, event)`:
//!
//! | state | event | next | what it yields |
//! |---|---|---|---|
//! | `Connecting` | ack `CONNECTION PENDING` | `Connecting` (acked) | – |
//! | `Connecting` | status `OnInitAck` | `Commanded` | the command to send |
//! | `Commanded` | the command's ack | `Commanded` (acked) | – |
//! | `Commanded` | `response` rows | `Commanded`, or `Done` at `complete` | the rows at `complete` |
//! | `Commanded` | status `OnOtherAck` | `Streaming` (advise) or `Done` (poke) | ready / poked |
//! | `Commanded`, `Streaming` | `update` row | `Streaming` | the row |
//! | any | status `OnTerminate` | `Done` | failed: RTGW ended it |
//! | any | an ack or status not expected there | `Done` | failed, naming both |
//! | `Done` | anything | `Done` | ignored (a late line of a connection given up) |

use crate::proto::command::{Command, CommandError, Selector};
use crate::proto::line::{Ack, Row, Status};

/// The command a connection carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verb {
    /// Rows once.
    Request,
    /// Rows as they change.
    Advise,
    /// A row written, with these fields.
    Poke(Vec<(String, String)>),
}

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// `connect` sent.
    Connecting {
        /// `CONNECTION PENDING` came.
        acked: bool,
    },
    /// The command sent.
    Commanded {
        /// Its ack came.
        acked: bool,
    },
    /// An advise in force: updates flow.
    Streaming,
    /// Answered, ended or failed: nothing more is expected.
    Done,
}

/// What an event on a connection tells its owner.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Nothing yet.
    Pending,
    /// Send this (the command, once the connection is open).
    Send(Command),
    /// A request's rows, all of them (empty: no row matched).
    Rows(Vec<Row>),
    /// An advise is in force.
    Advised,
    /// A row of an advise.
    Update(Row),
    /// A poke went through.
    Poked,
    /// The connection failed: why.
    Failed(String),
}

/// An event on a connection (its id already matched).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// An `ack`.
    Ack(Ack),
    /// A `status`.
    Status(Status),
    /// A `response` row (`None`: no rows) and whether it is the last.
    Response(Option<Row>, bool),
    /// An `update` row.
    Update(Row),
}

/// One logical connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Cxn {
    /// Its id.
    pub id: String,
    /// What it is for.
    pub selector: Selector,
    /// Its command.
    pub verb: Verb,
    /// Where it stands.
    pub state: State,
    rows: Vec<Row>,
    /// Rows gathered so far at most (a request answering more fails).
    max_rows: usize,
}

impl Cxn {
    /// A connection to open with `connect` on `service;topic` (the returned command), for
    /// `verb` on `selector`.
    ///
    /// # Errors
    /// The id or the selector cannot travel.
    pub fn open(id: String, service: &'static str, topic: &'static str, selector: Selector, verb: Verb, max_rows: usize) -> Result<(Self, String), CommandError> {
        let connect = Command::Connect { cxn: id.clone(), service, topic }.encode()?;
        let cxn = Self { id, selector, verb, state: State::Connecting { acked: false }, rows: Vec::new(), max_rows };
        // the command must encode too, before anything is sent
        cxn.command().encode()?;
        Ok((cxn, connect))
    }

    fn command(&self) -> Command {
        let (cxn, selector) = (self.id.clone(), self.selector.clone());
        match &self.verb {
            Verb::Request => Command::Request { cxn, selector },
            Verb::Advise => Command::Advise { cxn, selector },
            Verb::Poke(fields) => Command::Poke { cxn, selector, fields: fields.clone() },
        }
    }

    fn expected_ack(&self) -> Ack {
        match self.verb {
            Verb::Request => Ack::RequestOk,
            Verb::Advise => Ack::AdviseOk,
            Verb::Poke(_) => Ack::PokeOk,
        }
    }

    fn fail(&mut self, why: String) -> Outcome {
        self.state = State::Done;
        self.rows.clear();
        Outcome::Failed(format!("{} {} (connection {}): {why}", self.command().verb(), self.selector.table, self.id))
    }

    /// Applies an event.
    pub fn on(&mut self, event: Event) -> Outcome {
        let verb_advise = matches!(self.verb, Verb::Advise);
        match (self.state, event) {
            (State::Done, _) => Outcome::Pending,
            (_, Event::Status(Status::OnTerminate)) => self.fail("RTGW terminated it (OnTerminate)".into()),
            (State::Connecting { acked: false }, Event::Ack(Ack::ConnectionPending)) => {
                self.state = State::Connecting { acked: true };
                Outcome::Pending
            }
            (State::Connecting { .. }, Event::Status(Status::OnInitAck)) => {
                self.state = State::Commanded { acked: false };
                Outcome::Send(self.command())
            }
            (State::Commanded { acked: false }, Event::Ack(ack)) if ack == self.expected_ack() => {
                self.state = State::Commanded { acked: true };
                Outcome::Pending
            }
            (State::Commanded { .. }, Event::Response(row, complete)) if self.verb == Verb::Request => {
                if let Some(row) = row {
                    if self.rows.len() >= self.max_rows {
                        return self.fail(format!("more than {} rows", self.max_rows));
                    }
                    self.rows.push(row);
                }
                if complete {
                    self.state = State::Done;
                    Outcome::Rows(std::mem::take(&mut self.rows))
                } else {
                    Outcome::Pending
                }
            }
            (State::Commanded { .. }, Event::Status(Status::OnOtherAck)) if verb_advise => {
                self.state = State::Streaming;
                Outcome::Advised
            }
            (State::Commanded { .. }, Event::Status(Status::OnOtherAck)) if matches!(self.verb, Verb::Poke(_)) => {
                self.state = State::Done;
                Outcome::Poked
            }
            (State::Commanded { .. } | State::Streaming, Event::Update(row)) if verb_advise => {
                self.state = State::Streaming;
                Outcome::Update(row)
            }
            (State::Connecting { .. } | State::Commanded { .. } | State::Streaming, event) => {
                let state = self.state;
                self.fail(format!("RTGW answered {event:?} where it was {state:?}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::command::Term;
    use serde_json::json;

    fn row(v: serde_json::Value) -> Row {
        v.as_object().cloned().unwrap_or_default()
    }

    fn open(verb: Verb) -> Cxn {
        let sel = Selector::all("ORDERS", vec![Term::Text("TYPE", "ExchangeTradeOrder".into())]);
        let (c, connect) = Cxn::open("c1".into(), "ACCOUNT_GATEWAY", "ORDER", sel, verb, 3).expect("open");
        assert_eq!(connect, "connect c1 ACCOUNT_GATEWAY;ORDER\n\n");
        c
    }

    #[test]
    fn a_request_gathers_its_rows_until_complete() {
        let mut c = open(Verb::Request);
        assert_eq!(c.on(Event::Ack(Ack::ConnectionPending)), Outcome::Pending);
        let Outcome::Send(cmd) = c.on(Event::Status(Status::OnInitAck)) else { panic!("the request follows the connection") };
        assert_eq!(cmd.encode().expect("line"), "request c1 ORDERS;*;TYPE='ExchangeTradeOrder'\n\n");
        assert_eq!(c.on(Event::Ack(Ack::RequestOk)), Outcome::Pending);
        assert_eq!(c.on(Event::Response(Some(row(json!({"A": 1}))), false)), Outcome::Pending);
        assert_eq!(c.on(Event::Response(Some(row(json!({"A": 2}))), true)), Outcome::Rows(vec![row(json!({"A": 1})), row(json!({"A": 2}))]));
        assert_eq!(c.state, State::Done);
        assert_eq!(c.on(Event::Update(row(json!({})))), Outcome::Pending, "late lines are ignored");
        let mut empty = open(Verb::Request);
        empty.on(Event::Status(Status::OnInitAck));
        assert_eq!(empty.on(Event::Response(None, true)), Outcome::Rows(vec![]));
    }

    #[test]
    fn an_advise_streams_and_a_poke_completes() {
        let mut a = open(Verb::Advise);
        a.on(Event::Ack(Ack::ConnectionPending));
        assert!(matches!(a.on(Event::Status(Status::OnInitAck)), Outcome::Send(Command::Advise { .. })));
        a.on(Event::Ack(Ack::AdviseOk));
        assert_eq!(a.on(Event::Status(Status::OnOtherAck)), Outcome::Advised);
        assert_eq!(a.on(Event::Update(row(json!({"X": 1})))), Outcome::Update(row(json!({"X": 1}))));
        assert!(matches!(a.on(Event::Status(Status::OnTerminate)), Outcome::Failed(w) if w.contains("OnTerminate") && w.contains("advise ORDERS")));
        let mut p = open(Verb::Poke(vec![("TYPE".into(), "UserSubmitCancel".into())]));
        p.on(Event::Status(Status::OnInitAck));
        p.on(Event::Ack(Ack::PokeOk));
        assert_eq!(p.on(Event::Status(Status::OnOtherAck)), Outcome::Poked);
    }

    #[test]
    fn unexpected_answers_fail_the_connection_naming_them() {
        let mut c = open(Verb::Request);
        c.on(Event::Status(Status::OnInitAck));
        assert!(matches!(c.on(Event::Ack(Ack::Other("EXECUTE_OK".into()))), Outcome::Failed(w) if w.contains("EXECUTE_OK")));
        let mut c = open(Verb::Request);
        assert!(matches!(c.on(Event::Ack(Ack::AdviseOk)), Outcome::Failed(w) if w.contains("AdviseOk") && w.contains("Connecting")));
        let mut c = open(Verb::Request);
        c.on(Event::Status(Status::OnInitAck));
        for _ in 0..3 {
            c.on(Event::Response(Some(row(json!({}))), false));
        }
        assert!(matches!(c.on(Event::Response(Some(row(json!({}))), false)), Outcome::Failed(w) if w.contains("more than 3 rows")));
    }
}
