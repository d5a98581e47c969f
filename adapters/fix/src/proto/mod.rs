//! The FIX tag=value wire format: framing ([`frame`]), messages and their fields (this
//! module), and encoding with BodyLength and CheckSum ([`encode`]). Nothing here knows about
//! sessions or orders.
//!
//! A message is kept as its fields in wire order, values as text. FIX's length-prefixed binary
//! fields (RawData and the like) are not used by the adapter; a SOH inside one would split it,
//! which at worst makes the message unreadable, never the stream (framing trusts BodyLength).

pub mod encode;
pub mod frame;
pub mod tags;

use std::fmt;

/// The SOH field separator.
pub const SOH: u8 = 0x01;

/// A message's fields in wire order, header and trailer included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    fields: Vec<(u32, String)>,
}

/// Why bytes are not a FIX message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A field without `=`, or whose tag is not a number.
    #[error("field {index}: {text:?} is not tag=value")]
    Field {
        /// Its position.
        index: usize,
        /// The field as read (cut to 40 characters).
        text: String,
    },
    /// The header does not start with 8, 9, 35.
    #[error("the message does not start with BeginString, BodyLength, MsgType")]
    Header,
}

impl Message {
    /// Splits one framed message (from `8=` through the SOH after `10=`) into its fields.
    ///
    /// # Errors
    /// [`ParseError`] when a field is not `tag=value` or the header is out of order.
    pub fn parse(bytes: &[u8]) -> Result<Self, ParseError> {
        let mut fields = Vec::with_capacity(24);
        for (index, raw) in bytes.split(|b| *b == SOH).enumerate() {
            if raw.is_empty() {
                continue;
            }
            let bad = || ParseError::Field { index, text: String::from_utf8_lossy(&raw[..raw.len().min(40)]).into_owned() };
            let eq = raw.iter().position(|b| *b == b'=').ok_or_else(bad)?;
            let tag = std::str::from_utf8(&raw[..eq]).ok().filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit())).and_then(|t| t.parse::<u32>().ok()).ok_or_else(bad)?;
            fields.push((tag, String::from_utf8_lossy(&raw[eq + 1..]).into_owned()));
        }
        if fields.len() < 3 || fields[0].0 != tags::BEGIN_STRING || fields[1].0 != tags::BODY_LENGTH || fields[2].0 != tags::MSG_TYPE {
            return Err(ParseError::Header);
        }
        Ok(Self { fields })
    }

    /// A message built from fields (used by tests and the encoder's round trip).
    pub fn from_fields(fields: Vec<(u32, String)>) -> Self {
        Self { fields }
    }

    /// The first value of `tag`.
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
    }

    /// The first value of `tag`, when it is set and not empty.
    pub fn text(&self, tag: u32) -> Option<&str> {
        self.get(tag).filter(|v| !v.is_empty())
    }

    /// `tag` as an unsigned number.
    pub fn number(&self, tag: u32) -> Option<u64> {
        self.get(tag).and_then(|v| v.parse().ok())
    }

    /// Whether `tag` is `Y`.
    pub fn flag(&self, tag: u32) -> bool {
        self.get(tag) == Some("Y")
    }

    /// MsgType (35).
    pub fn msg_type(&self) -> &str {
        self.get(tags::MSG_TYPE).unwrap_or("")
    }

    /// MsgSeqNum (34), when present and numeric.
    pub fn seq(&self) -> Option<u64> {
        self.number(tags::MSG_SEQ_NUM)
    }

    /// Every field in wire order.
    pub fn fields(&self) -> &[(u32, String)] {
        &self.fields
    }
}

impl fmt::Display for Message {
    /// The message with `|` for SOH, as FIX logs show it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (tag, value) in &self.fields {
            write!(f, "{tag}={value}|")?;
        }
        Ok(())
    }
}
