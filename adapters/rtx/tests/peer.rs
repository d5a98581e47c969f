//! The protocol layer against the fake RTGW (`tests/peers/fake_rtgw.py`, on an ephemeral
//! loopback port, started under `timeout`): a real socket, the reader thread, and the
//! connection state machine carrying requests and advises the way the original does.

mod support;

use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};
use txtrader_adapter_rtx::connection::{self, Connection, Wire};
use txtrader_adapter_rtx::proto::command::{Selector, Term};
use txtrader_adapter_rtx::proto::line::{Incoming, Row};
use txtrader_adapter_rtx::proto::row;
use txtrader_adapter_rtx::session::cxn::{Cxn, Event, Outcome, Verb};

/// A session driven by hand: one connection, logical connections opened one after another.
struct Session {
    conn: Connection,
    rx: Receiver<Wire>,
    next: u32,
}

impl Session {
    fn open(port: u16) -> Self {
        let (tx, rx) = mpsc::channel();
        let conn = connection::open("127.0.0.1", port, 1, tx).expect("connects");
        let mut s = Self { conn, rx, next: 0 };
        match s.recv() {
            Incoming::System { msg, .. } => assert_eq!(msg, "startup"),
            other => panic!("expected the startup message, got {other:?}"),
        }
        s
    }

    fn recv(&mut self) -> Incoming {
        match self.rx.recv_timeout(Duration::from_secs(10)).expect("RTGW answers") {
            Wire::Message(_, m) => m,
            other => panic!("{other:?}"),
        }
    }

    /// Runs a logical connection until `done` says what it waited for.
    fn run<T>(&mut self, service: &'static str, topic: &'static str, selector: Selector, verb: Verb, mut done: impl FnMut(Outcome) -> Option<T>) -> T {
        self.next += 1;
        let id = format!("test-{}", self.next);
        let (mut cxn, connect) = Cxn::open(id.clone(), service, topic, selector, verb, 10_000).expect("open");
        self.conn.write(connect.as_bytes()).expect("write");
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let event = match self.recv() {
                Incoming::Ack { cxn: c, ack } if c == id => Event::Ack(ack),
                Incoming::Status { cxn: c, status } if c == id => Event::Status(status),
                Incoming::Response { cxn: c, row, complete } if c == id => Event::Response(row, complete),
                Incoming::Update { cxn: c, row } if c == id => Event::Update(row),
                _ => continue,
            };
            match cxn.on(event) {
                Outcome::Send(cmd) => self.conn.write(cmd.encode().expect("encodes").as_bytes()).expect("write"),
                Outcome::Failed(why) => panic!("{why}"),
                other => {
                    if let Some(t) = done(other) {
                        return t;
                    }
                }
            }
        }
        panic!("connection {id} did not finish");
    }

    fn request(&mut self, selector: Selector) -> Vec<Row> {
        self.run("ACCOUNT_GATEWAY", "ORDER", selector, Verb::Request, |o| match o {
            Outcome::Rows(rows) => Some(rows),
            _ => None,
        })
    }
}

#[test]
fn requests_and_advises_travel_on_connections_of_their_own() {
    let fake = support::Fake::start(&[]);
    let mut s = Session::open(fake.port);

    let accounts = s.request(Selector::all("ACCOUNT", vec![]));
    let names: Vec<String> = accounts.iter().map(|r| ["BANK", "BRANCH", "CUSTOMER", "DEPOSIT"].map(|k| row::text(r, k).unwrap_or_default()).join(".")).collect();
    assert_eq!(names, ["REALTICKDEMO.REALTICK.DEMO32.TRADING", "REALTICKDEMO.REALTICK.DEMO31.TRADING"]);

    let clock = s.request(Selector::fields("LIVEQUOTE", vec!["DISP_NAME", "TRDTIM_1", "TRD_DATE"], vec![Term::Text("DISP_NAME", "$TIME".into())]));
    assert_eq!(clock.len(), 1);
    assert!(row::text(&clock[0], "TRDTIM_1").is_some_and(|t| t.len() == 8), "{clock:?}");

    let ibm = s.request(Selector::all("LIVEQUOTE", vec![Term::Text("DISP_NAME", "IBM".into())]));
    assert!(row::decimal(&ibm[0], "TRDPRC_1").expect("a price").is_some());
    let bad = s.request(Selector::all("LIVEQUOTE", vec![Term::Text("DISP_NAME", "BADSYMBOL".into())]));
    assert!(bad[0].contains_key("SYMBOL_ERROR"), "an invalid symbol: {bad:?}");
    assert_eq!(row::decimal(&bad[0], "TRDPRC_1"), Ok(None), "Error 17 is no price");

    // an advise: confirmed, then a quote update with the fields asked for
    let what = vec!["TRDPRC_1", "BID", "ASK"];
    let mut advised = false;
    let update = s.run("TA_SRV", "LIVEQUOTE", Selector::fields("LIVEQUOTE", what, vec![Term::Text("DISP_NAME", "IBM".into())]), Verb::Advise, |o| match o {
        Outcome::Advised => {
            advised = true;
            None
        }
        Outcome::Update(row) => Some(row),
        _ => None,
    });
    assert!(advised);
    assert_eq!(update.keys().collect::<Vec<_>>(), ["TRDPRC_1", "BID", "ASK"]);

    // an unknown account has no deposit row
    let none = s.request(Selector::all(
        "DEPOSIT",
        vec![Term::Text("BANK", "X".into()), Term::Text("BRANCH", "Y".into()), Term::Text("CUSTOMER", "Z".into()), Term::Text("DEPOSIT", "W".into())],
    ));
    assert!(none.is_empty());
}
