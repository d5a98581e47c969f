//! Commands to RTGW: `connect`, `request`, `advise`, `unadvise` and `poke`, each on a logical
//! connection (`cxn_id`, a UUID the adapter makes).
//!
//! A selector is `TABLE;WHAT;WHERE`: the table, the fields wanted (`*` for all) and a WHERE
//! clause of `K=V` terms separated by commas, where V is quoted text (`DISP_NAME='IBM'`), a
//! set (`CURRENT_STATUS={'LIVE','PENDING'}`) or a bare number (`BARINTERVAL=5`). A poke adds
//! `!K=V,K=V,…` after the selector.
//!
//! Nothing here can produce a line RTGW would split differently from what was meant: a value
//! holding a separator of its context (a line break anywhere; `'` inside quotes; `,` in a poke
//! value, which RTGW splits the fields at; `,` `=` `!` or a space in a field name) is refused
//! with [`CommandError`].

use std::fmt::Write as _;

/// A value that cannot travel in a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {value:?} cannot be sent to RTGW ({why})")]
pub struct CommandError {
    /// The field it was for.
    pub field: String,
    /// The value.
    pub value: String,
    /// What is wrong with it.
    pub why: &'static str,
}

fn refuse(field: &str, value: &str, why: &'static str) -> CommandError {
    CommandError { field: field.to_owned(), value: value.to_owned(), why }
}

/// One term of a WHERE clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// `K='text'`.
    Text(&'static str, String),
    /// `K={'a','b'}`.
    OneOf(&'static str, Vec<String>),
    /// `K=n`.
    Number(&'static str, i64),
}

/// A `TABLE;WHAT;WHERE` selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The table (`ORDERS`, `LIVEQUOTE`, `DEPOSIT`…).
    pub table: &'static str,
    /// The fields wanted; empty means all (`*`).
    pub what: Vec<&'static str>,
    /// The WHERE clause.
    pub filter: Vec<Term>,
}

impl Selector {
    /// Every field of the rows of `table` that match `filter`.
    pub fn all(table: &'static str, filter: Vec<Term>) -> Self {
        Self { table, what: Vec::new(), filter }
    }

    /// Some fields of the rows of `table` that match `filter`.
    pub fn fields(table: &'static str, what: Vec<&'static str>, filter: Vec<Term>) -> Self {
        Self { table, what, filter }
    }

    /// The selector as RTGW reads it.
    ///
    /// # Errors
    /// A text value holding a quote or a line break.
    pub fn render(&self) -> Result<String, CommandError> {
        let mut out = String::with_capacity(64);
        out.push_str(self.table);
        out.push(';');
        if self.what.is_empty() {
            out.push('*');
        } else {
            out.push_str(&self.what.join(","));
        }
        out.push(';');
        let quoted = |k: &str, v: &str| -> Result<String, CommandError> {
            if v.contains(['\'', '\n', '\r']) {
                return Err(refuse(k, v, "a quote or a line break inside a quoted value"));
            }
            Ok(format!("'{v}'"))
        };
        for (i, term) in self.filter.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            match term {
                Term::Text(k, v) => {
                    let _ = write!(out, "{k}={}", quoted(k, v)?);
                }
                Term::OneOf(k, vs) => {
                    let items = vs.iter().map(|v| quoted(k, v)).collect::<Result<Vec<_>, _>>()?;
                    let _ = write!(out, "{k}={{{}}}", items.join(","));
                }
                Term::Number(k, n) => {
                    let _ = write!(out, "{k}={n}");
                }
            }
        }
        Ok(out)
    }
}

/// A command to RTGW.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Opens a logical connection to `SERVICE;TOPIC` (`ACCOUNT_GATEWAY;ORDER`, `TA_SRV;LIVEQUOTE`).
    Connect {
        /// The connection's id.
        cxn: String,
        /// The service.
        service: &'static str,
        /// The topic.
        topic: &'static str,
    },
    /// Rows, once (answered by `response` lines until `complete`).
    Request {
        /// The connection's id.
        cxn: String,
        /// What.
        selector: Selector,
    },
    /// Rows as they change (`update` lines), until unadvised.
    Advise {
        /// The connection's id.
        cxn: String,
        /// What.
        selector: Selector,
    },
    /// Ends an advise.
    Unadvise {
        /// The connection's id.
        cxn: String,
        /// What was advised.
        selector: Selector,
    },
    /// Writes a row (a new order, a cancel).
    Poke {
        /// The connection's id.
        cxn: String,
        /// Where.
        selector: Selector,
        /// The fields, in order.
        fields: Vec<(String, String)>,
    },
}

impl Command {
    /// The logical connection the command is on.
    pub fn cxn(&self) -> &str {
        match self {
            Self::Connect { cxn, .. } | Self::Request { cxn, .. } | Self::Advise { cxn, .. } | Self::Unadvise { cxn, .. } | Self::Poke { cxn, .. } => cxn,
        }
    }

    /// The command's verb.
    pub fn verb(&self) -> &'static str {
        match self {
            Self::Connect { .. } => "connect",
            Self::Request { .. } => "request",
            Self::Advise { .. } => "advise",
            Self::Unadvise { .. } => "unadvise",
            Self::Poke { .. } => "poke",
        }
    }

    /// The bytes to send: the command line and the empty line the original follows it with.
    ///
    /// # Errors
    /// A value that cannot travel (see the module's documentation).
    pub fn encode(&self) -> Result<String, CommandError> {
        let cxn = self.cxn();
        if cxn.is_empty() || cxn.contains(char::is_whitespace) {
            return Err(refuse("cxn_id", cxn, "empty or holding white space"));
        }
        let args = match self {
            Self::Connect { service, topic, .. } => format!("{service};{topic}"),
            Self::Request { selector, .. } | Self::Advise { selector, .. } | Self::Unadvise { selector, .. } => selector.render()?,
            Self::Poke { selector, fields, .. } => {
                let mut out = selector.render()?;
                out.push('!');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if k.is_empty() || k.contains([',', '!', '=', '\n', '\r', ' ']) {
                        return Err(refuse(k, k, "not a field name"));
                    }
                    if v.contains([',', '\n', '\r']) {
                        return Err(refuse(k, v, "a comma or a line break in a poke value"));
                    }
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}={v}");
                }
                out
            }
        };
        Ok(format!("{} {cxn} {args}\n\n", self.verb()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cxn() -> String {
        "6b1f0f3e-e77f-11f1-8cf0-02fc00000001".into()
    }

    #[test]
    fn commands_are_the_lines_the_original_sends() {
        let c = Command::Connect { cxn: cxn(), service: "ACCOUNT_GATEWAY", topic: "ORDER" };
        assert_eq!(c.encode().expect("line"), "connect 6b1f0f3e-e77f-11f1-8cf0-02fc00000001 ACCOUNT_GATEWAY;ORDER\n\n");
        let live = Selector::all("ORDERS", vec![Term::OneOf("CURRENT_STATUS", vec!["LIVE".into(), "PENDING".into()])]);
        assert_eq!(Command::Request { cxn: cxn(), selector: live }.encode().expect("line").split_once(' ').map(|(_, r)| r.split_once(' ').map(|(_, a)| a.to_owned())), Some(Some("ORDERS;*;CURRENT_STATUS={'LIVE','PENDING'}\n\n".into())));
        let quote = Selector::fields("LIVEQUOTE", vec!["DISP_NAME", "TRDTIM_1", "TRD_DATE"], vec![Term::Text("DISP_NAME", "$TIME".into())]);
        assert_eq!(quote.render().expect("sel"), "LIVEQUOTE;DISP_NAME,TRDTIM_1,TRD_DATE;DISP_NAME='$TIME'");
        let bars = Selector::fields("INTRADAY", vec!["DISP_NAME"], vec![Term::Text("DISP_NAME", "IBM".into()), Term::Number("BARINTERVAL", 5)]);
        assert_eq!(bars.render().expect("sel"), "INTRADAY;DISP_NAME;DISP_NAME='IBM',BARINTERVAL=5");
        let poke = Command::Poke {
            cxn: cxn(),
            selector: Selector::all("ORDERS", vec![]),
            fields: vec![("TYPE".into(), "UserSubmitCancel".into()), ("REFERS_TO_ID".into(), "9b94c305-b9-001a".into())],
        };
        assert!(poke.encode().expect("line").ends_with(" ORDERS;*;!TYPE=UserSubmitCancel,REFERS_TO_ID=9b94c305-b9-001a\n\n"));
    }

    #[test]
    fn values_that_would_split_differently_are_refused() {
        let bad = Selector::all("LIVEQUOTE", vec![Term::Text("DISP_NAME", "I'BM".into())]);
        assert!(bad.render().is_err());
        let poke = |v: &str| Command::Poke { cxn: cxn(), selector: Selector::all("ORDERS", vec![]), fields: vec![("ORDER_TAG".into(), v.into())] }.encode();
        for v in ["a,b", "a\nb", "a\rb"] {
            let e = poke(v).expect_err(v);
            assert!(e.to_string().contains("ORDER_TAG"), "{e}");
        }
        // a STRAT_* dict as RealTick takes it (txtrader_plugin_api::realtick) passes whole
        let dict = "99970\u{1f}2\u{1}STRAT_TIME_TAGS\u{1f}168;126\u{1}";
        assert_eq!(poke(dict).map(|l| l.contains(dict)), Ok(true), "RTGW splits a poke's fields at commas only");
        let c = Command::Connect { cxn: "a b".into(), service: "TA_SRV", topic: "LIVEQUOTE" };
        assert!(c.encode().is_err());
    }
}
