//! Encoding: a message's fields between the standard header and the trailer, with BodyLength
//! and CheckSum computed. Times are UTC with milliseconds, as both dialects accept.

use super::frame::checksum;
use super::{tags, Message, SOH};
use chrono::{DateTime, Utc};

/// SendingTime / TransactTime text: `YYYYMMDD-HH:MM:SS.sss`, UTC.
pub fn utc_timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%d-%H:%M:%S%.3f").to_string()
}

/// The standard header's session fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header<'a> {
    /// `FIX.4.4` or `FIX.4.2`.
    pub begin_string: &'a str,
    /// SenderCompID (49).
    pub sender: &'a str,
    /// TargetCompID (56).
    pub target: &'a str,
}

/// Encodes one message: 8, 9, 35, 49, 56, 34, 52, then `extra_header` (43, 122 on resends),
/// then `body`, then 10.
pub fn encode(header: &Header<'_>, msg_type: &str, seq: u64, sending_time: &str, extra_header: &[(u32, &str)], body: &[(u32, String)]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(128 + body.len() * 12);
    let mut put = |tag: u32, value: &str| {
        inner.extend_from_slice(tag.to_string().as_bytes());
        inner.push(b'=');
        inner.extend_from_slice(value.as_bytes());
        inner.push(SOH);
    };
    put(tags::MSG_TYPE, msg_type);
    put(tags::SENDER_COMP_ID, header.sender);
    put(tags::TARGET_COMP_ID, header.target);
    put(tags::MSG_SEQ_NUM, &seq.to_string());
    put(tags::SENDING_TIME, sending_time);
    for (tag, value) in extra_header {
        put(*tag, value);
    }
    for (tag, value) in body {
        put(*tag, value);
    }
    let mut out = Vec::with_capacity(inner.len() + 32);
    out.extend_from_slice(format!("8={}\u{1}9={}\u{1}", header.begin_string, inner.len()).as_bytes());
    out.extend_from_slice(&inner);
    let sum = checksum(&out);
    out.extend_from_slice(format!("10={sum:03}\u{1}").as_bytes());
    out
}

/// The body of a stored message: its fields after the session header (49, 56, 34, 52, 43,
/// 97, 122, 115, 128…) and before the trailer, for re-encoding it as a resend.
pub fn body_of(message: &Message) -> Vec<(u32, String)> {
    const HEADER: [u32; 12] = [
        tags::BEGIN_STRING,
        tags::BODY_LENGTH,
        tags::MSG_TYPE,
        tags::SENDER_COMP_ID,
        tags::TARGET_COMP_ID,
        tags::MSG_SEQ_NUM,
        tags::SENDING_TIME,
        tags::POSS_DUP_FLAG,
        97,
        tags::ORIG_SENDING_TIME,
        115,
        128,
    ];
    message.fields().iter().filter(|(t, _)| !HEADER.contains(t) && *t != tags::CHECK_SUM).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn show(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).replace('\u{1}', "|")
    }

    #[test]
    fn the_specs_examples_encode_byte_for_byte() {
        let h = Header { begin_string: "FIX.4.4", sender: "GATEWAY", target: "EXECUTOR" };
        let at = utc_timestamp(Utc.with_ymd_and_hms(2025, 1, 2, 14, 30, 0).single().expect("time"));
        let logon = encode(&h, "A", 1, &at, &[], &[(98, "0".into()), (108, "30".into()), (141, "Y".into())]);
        assert_eq!(show(&logon), "8=FIX.4.4|9=76|35=A|49=GATEWAY|56=EXECUTOR|34=1|52=20250102-14:30:00.000|98=0|108=30|141=Y|10=149|");
        let at = "20250102-14:30:01.000";
        let body = [(11, "ORD-1"), (21, "1"), (55, "AAPL"), (54, "1"), (60, at), (38, "100"), (40, "2"), (44, "189.30"), (59, "0")];
        let order = encode(&h, "D", 2, at, &[], &body.map(|(t, v)| (t, v.to_owned())));
        assert_eq!(
            show(&order),
            "8=FIX.4.4|9=137|35=D|49=GATEWAY|56=EXECUTOR|34=2|52=20250102-14:30:01.000|11=ORD-1|21=1|55=AAPL|54=1|60=20250102-14:30:01.000|38=100|40=2|44=189.30|59=0|10=080|"
        );
        let parsed = Message::parse(&order).expect("parses");
        assert_eq!(parsed.msg_type(), "D");
        assert_eq!(body_of(&parsed), body.map(|(t, v)| (t, v.to_owned())).to_vec());
    }
}
