//! Lines from RTGW: one JSON object per line, `{"type":T,"id":ID,"data":D}`.
//!
//! | type | data | answers |
//! |---|---|---|
//! | `system` | `{"msg":"startup","item":…}` | sent once per connection; starts the session |
//! | `ack` | `CONNECTION PENDING`, `REQUEST_OK`, `ADVISE_OK`, `UNADVISE_OK`, `POKE_OK` | a command was taken |
//! | `status` | `{"msg":"OnInitAck"\|"OnOtherAck"\|"OnTerminate","status":"1"}` | a connect, advise, unadvise or poke went through (or was ended) |
//! | `response` | `{"row":{…}\|null,"complete":bool}` | rows of a request, until `complete` |
//! | `update` | `{"row":{…}}` | a row of an advise |
//!
//! Decoding never panics and never guesses: a line that is not such an object (bad JSON, a
//! missing or mistyped member, an unknown type, a line longer than [`MAX_LINE`]) is a
//! [`LineError`] naming the line. Acks and statuses RTGW may add later decode as `Other`, for
//! the session to judge.

use serde_json::{Map, Value};

/// The longest line taken (a bar chart of 2 000 bars is about 150 KB).
pub const MAX_LINE: usize = 4 << 20;

/// A row: field names to values, in the order RTGW sent them.
pub type Row = Map<String, Value>;

/// An `ack`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// To `connect`.
    ConnectionPending,
    /// To `request`.
    RequestOk,
    /// To `advise`.
    AdviseOk,
    /// To `unadvise`.
    UnadviseOk,
    /// To `poke`.
    PokeOk,
    /// Anything else (the session fails the command it answers).
    Other(String),
}

/// A `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// A connection is open.
    OnInitAck,
    /// An advise, unadvise or poke went through.
    OnOtherAck,
    /// RTGW ended the connection or advise.
    OnTerminate,
    /// Anything else.
    Other(String),
}

/// One decoded line.
#[derive(Debug, Clone, PartialEq)]
pub enum Incoming {
    /// `system`: `startup` once per connection, or another notice.
    System {
        /// `msg`.
        msg: String,
        /// `item` (the gateway's description).
        item: String,
    },
    /// `ack` of a command on `cxn`.
    Ack {
        /// The logical connection.
        cxn: String,
        /// Which.
        ack: Ack,
    },
    /// `status` of a command on `cxn`.
    Status {
        /// The logical connection.
        cxn: String,
        /// Which.
        status: Status,
    },
    /// `response`: a row of a request (`None`: no rows at all), and whether it was the last.
    Response {
        /// The logical connection.
        cxn: String,
        /// The row.
        row: Option<Row>,
        /// The last row of the answer.
        complete: bool,
    },
    /// `update`: a row of an advise.
    Update {
        /// The logical connection.
        cxn: String,
        /// The row.
        row: Row,
    },
}

/// A line that does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("RTGW sent a line that does not decode ({reason}): {excerpt}")]
pub struct LineError {
    /// The line's start (up to 160 characters).
    pub excerpt: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The start of a line, for an error message.
pub fn excerpt(line: &str) -> String {
    const KEEP: usize = 160;
    match line.char_indices().nth(KEEP) {
        Some((cut, _)) => format!("{}… ({} bytes)", &line[..cut], line.len()),
        None => line.to_owned(),
    }
}

/// Decodes one line (without its line break).
///
/// # Errors
/// The line is not one of RTGW's messages.
pub fn decode(line: &str) -> Result<Incoming, LineError> {
    let fail = |reason: String| LineError { excerpt: excerpt(line), reason };
    if line.len() > MAX_LINE {
        return Err(fail(format!("longer than {MAX_LINE} bytes")));
    }
    let value: Value = serde_json::from_str(line).map_err(|e| fail(format!("not JSON: {e}")))?;
    let Value::Object(mut m) = value else { return Err(fail("not a JSON object".into())) };
    let kind = match m.remove("type") {
        Some(Value::String(s)) => s,
        Some(_) => return Err(fail("`type` is not text".into())),
        None => return Err(fail("no `type`".into())),
    };
    let cxn = match m.remove("id") {
        Some(Value::String(s)) => s,
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(fail("`id` is neither text nor a number".into())),
        None => return Err(fail("no `id`".into())),
    };
    let data = m.remove("data").ok_or_else(|| fail("no `data`".into()))?;
    let text_of = |d: &Map<String, Value>, k: &str| -> Result<String, LineError> {
        match d.get(k) {
            Some(Value::String(s)) => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            Some(_) => Err(fail(format!("`data.{k}` is not text"))),
            None => Err(fail(format!("no `data.{k}`"))),
        }
    };
    match kind.as_str() {
        "system" => {
            let Value::Object(d) = &data else { return Err(fail("`data` of a system message is not an object".into())) };
            Ok(Incoming::System { msg: text_of(d, "msg")?, item: d.get("item").map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).unwrap_or_default() })
        }
        "ack" => {
            let Value::String(s) = data else { return Err(fail("`data` of an ack is not text".into())) };
            let ack = match s.as_str() {
                "CONNECTION PENDING" => Ack::ConnectionPending,
                "REQUEST_OK" => Ack::RequestOk,
                "ADVISE_OK" => Ack::AdviseOk,
                "UNADVISE_OK" => Ack::UnadviseOk,
                "POKE_OK" => Ack::PokeOk,
                _ => Ack::Other(s),
            };
            Ok(Incoming::Ack { cxn, ack })
        }
        "status" => {
            let Value::Object(d) = &data else { return Err(fail("`data` of a status is not an object".into())) };
            let msg = text_of(d, "msg")?;
            let status = match msg.as_str() {
                "OnInitAck" => Status::OnInitAck,
                "OnOtherAck" => Status::OnOtherAck,
                "OnTerminate" => Status::OnTerminate,
                _ => Status::Other(msg),
            };
            Ok(Incoming::Status { cxn, status })
        }
        "response" => {
            let Value::Object(mut d) = data else { return Err(fail("`data` of a response is not an object".into())) };
            let row = match d.remove("row") {
                Some(Value::Object(r)) => Some(r),
                Some(Value::Null) | None => None,
                Some(_) => return Err(fail("`data.row` is neither an object nor null".into())),
            };
            let complete = match d.get("complete") {
                Some(Value::Bool(b)) => *b,
                None => false,
                Some(_) => return Err(fail("`data.complete` is not true or false".into())),
            };
            Ok(Incoming::Response { cxn, row, complete })
        }
        "update" => {
            let Value::Object(mut d) = data else { return Err(fail("`data` of an update is not an object".into())) };
            match d.remove("row") {
                Some(Value::Object(row)) => Ok(Incoming::Update { cxn, row }),
                _ => Err(fail("`data.row` of an update is not an object".into())),
            }
        }
        other => Err(fail(format!("unknown message type {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_gateway_messages_decode() {
        assert_eq!(
            decode(r#"{"type": "system", "id": "0", "data": {"msg": "startup", "item": "fake RTGW 0.1"}}"#),
            Ok(Incoming::System { msg: "startup".into(), item: "fake RTGW 0.1".into() })
        );
        assert_eq!(decode(r#"{"type":"ack","id":"c1","data":"CONNECTION PENDING"}"#), Ok(Incoming::Ack { cxn: "c1".into(), ack: Ack::ConnectionPending }));
        assert_eq!(decode(r#"{"type":"ack","id":"c1","data":"EXECUTE_OK"}"#), Ok(Incoming::Ack { cxn: "c1".into(), ack: Ack::Other("EXECUTE_OK".into()) }));
        assert_eq!(
            decode(r#"{"type":"status","id":"c1","data":{"msg":"OnTerminate","status":"1"}}"#),
            Ok(Incoming::Status { cxn: "c1".into(), status: Status::OnTerminate })
        );
        assert_eq!(decode(r#"{"type":"response","id":"c2","data":{"row":null,"complete":true}}"#), Ok(Incoming::Response { cxn: "c2".into(), row: None, complete: true }));
        let Ok(Incoming::Update { row, .. }) = decode(r#"{"type":"update","id":"c3","data":{"row":{"TRDPRC_1":123.45,"DISP_NAME":"IBM","BID":123.44}}}"#) else {
            panic!("update")
        };
        assert_eq!(row.keys().collect::<Vec<_>>(), ["TRDPRC_1", "DISP_NAME", "BID"], "fields keep RTGW's order");
    }

    #[test]
    fn bad_lines_are_errors_that_name_them() {
        for (line, why) in [
            ("not json", "not JSON"),
            ("[1,2]", "not a JSON object"),
            (r#"{"id":"1","data":"x"}"#, "no `type`"),
            (r#"{"type":"ack","data":"REQUEST_OK"}"#, "no `id`"),
            (r#"{"type":"ack","id":"1"}"#, "no `data`"),
            (r#"{"type":"ack","id":"1","data":{}}"#, "not text"),
            (r#"{"type":"response","id":"1","data":{"row":[1]}}"#, "neither an object nor null"),
            (r#"{"type":"update","id":"1","data":{"row":null}}"#, "not an object"),
            (r#"{"type":"telepathy","id":"1","data":{}}"#, "unknown message type"),
        ] {
            let e = decode(line).expect_err(line);
            assert!(e.reason.contains(why), "{line}: {e}");
            assert!(e.to_string().contains(&line[..line.len().min(20)]), "the error names the line: {e}");
        }
        let long = format!("{{\"type\":\"update\",\"id\":\"1\",\"data\":{{\"row\":{{\"X\":\"{}\"}}}}}}", "y".repeat(1000));
        let cut = decode(&long[..500]).expect_err("cut");
        assert!(cut.excerpt.ends_with("(500 bytes)"), "{}", cut.excerpt);
    }

    proptest! {
        #[test]
        fn random_and_cut_lines_never_panic(line in ".{0,300}", cut in 0usize..400) {
            let _ = decode(&line);
            let good = r#"{"type":"response","id":"c2","data":{"row":{"ORDER_ID":"9b94c305-b9-001a","PRICE":12.5},"complete":false}}"#;
            let end = good.char_indices().map(|(i, _)| i).chain([good.len()]).find(|i| *i >= cut.min(good.len())).unwrap_or(good.len());
            let _ = decode(&good[..end]);
        }
    }
}
