//! Netstrings (`<decimal length>:<bytes>,`) in both directions, as `tokio-util` codecs.
//!
//! Decoding checks the declared length against the limit as soon as the length digits end,
//! before reserving or buffering a single payload byte, so a client cannot make the gateway
//! allocate by announcing a huge frame. Payloads must be UTF-8 text. Any violation is a
//! [`FrameError`]; the connection that sent it is closed, nothing else is affected.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use bytes::{Buf, BufMut, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Why inbound bytes are not a valid netstring.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is not digits followed by `:` (or has a leading zero).
    #[error("invalid netstring length prefix")]
    BadLength,
    /// The declared length is over the limit.
    #[error("netstring of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Declared length (saturated).
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The payload is not followed by `,`.
    #[error("netstring not terminated by ','")]
    BadTerminator,
    /// The payload is not UTF-8.
    #[error("netstring payload is not UTF-8 text")]
    NotUtf8,
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// The netstring codec. Decodes to `String`, encodes `&str`.
#[derive(Debug, Clone)]
pub struct NetstringCodec {
    max: usize,
    /// Length of the frame being read, once its prefix was parsed.
    pending: Option<usize>,
}

impl NetstringCodec {
    /// A codec refusing inbound frames over `max` bytes.
    pub fn new(max: usize) -> Self {
        Self { max, pending: None }
    }
}

/// The most length digits any accepted frame can have (`usize::MAX` has 20).
const MAX_DIGITS: usize = 20;

impl Decoder for NetstringCodec {
    type Item = String;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<String>, FrameError> {
        let len = match self.pending {
            Some(len) => len,
            None => {
                let digits = src.iter().take(MAX_DIGITS + 1).take_while(|b| b.is_ascii_digit()).count();
                let prefix = src.get(..digits).unwrap_or_default();
                if digits == src.len() {
                    // Only digits so far: the prefix is incomplete, unless it is already absurd.
                    if digits > MAX_DIGITS {
                        return Err(FrameError::BadLength);
                    }
                    if digits > 0 && parse_len(prefix) > self.max {
                        return Err(FrameError::TooLarge { len: parse_len(prefix), max: self.max });
                    }
                    return Ok(None);
                }
                let leading_zero = digits > 1 && prefix.first() == Some(&b'0');
                if digits == 0 || digits > MAX_DIGITS || src.get(digits) != Some(&b':') || leading_zero {
                    return Err(FrameError::BadLength);
                }
                let len = parse_len(prefix);
                if len > self.max {
                    return Err(FrameError::TooLarge { len, max: self.max });
                }
                // digits is at most MAX_DIGITS: no overflow
                src.advance(digits.saturating_add(1));
                self.pending = Some(len);
                len
            }
        };
        // len is at most the frame limit, far below usize::MAX
        if src.len() <= len {
            // Nothing reserved for what has not arrived: a length prefix alone costs a
            // connection no memory (the reader grows the buffer as bytes come).
            return Ok(None);
        }
        if src.get(len) != Some(&b',') {
            return Err(FrameError::BadTerminator);
        }
        let payload = src.split_to(len);
        src.advance(1);
        self.pending = None;
        String::from_utf8(payload.to_vec()).map(Some).map_err(|_| FrameError::NotUtf8)
    }
}

fn parse_len(digits: &[u8]) -> usize {
    digits.iter().fold(0usize, |acc, d| acc.saturating_mul(10).saturating_add(usize::from(d.saturating_sub(b'0'))))
}

impl Encoder<&str> for NetstringCodec {
    type Error = FrameError;

    fn encode(&mut self, item: &str, dst: &mut BytesMut) -> Result<(), FrameError> {
        let len = item.len().to_string();
        dst.reserve(len.len().saturating_add(item.len()).saturating_add(2));
        dst.put_slice(len.as_bytes());
        dst.put_u8(b':');
        dst.put_slice(item.as_bytes());
        dst.put_u8(b',');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(max: usize, bytes: &[u8]) -> (Vec<String>, Option<FrameError>) {
        let mut c = NetstringCodec::new(max);
        let mut buf = BytesMut::from(bytes);
        let mut out = Vec::new();
        loop {
            match c.decode(&mut buf) {
                Ok(Some(s)) => out.push(s),
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[test]
    fn frames_in_both_directions() {
        let mut c = NetstringCodec::new(100);
        let mut buf = BytesMut::new();
        c.encode("quit", &mut buf).expect("encode");
        c.encode("", &mut buf).expect("encode");
        c.encode("ünï", &mut buf).expect("encode");
        assert_eq!(&buf[..], "4:quit,0:,5:ünï,".as_bytes());
        let (frames, err) = decode_all(100, &buf);
        assert_eq!(frames, ["quit", "", "ünï"]);
        assert!(err.is_none());
    }

    #[test]
    fn partial_input_waits() {
        let mut c = NetstringCodec::new(100);
        let mut buf = BytesMut::from(&b"1"[..]);
        assert!(c.decode(&mut buf).expect("ok").is_none());
        buf.extend_from_slice(b"1:hello");
        assert!(c.decode(&mut buf).expect("ok").is_none());
        buf.extend_from_slice(b" world,4:ne");
        assert_eq!(c.decode(&mut buf).expect("ok").as_deref(), Some("hello world"));
        assert!(c.decode(&mut buf).expect("ok").is_none());
        buf.extend_from_slice(b"xt,");
        assert_eq!(c.decode(&mut buf).expect("ok").as_deref(), Some("next"));
    }

    #[test]
    fn oversized_frames_are_refused_before_allocation() {
        let mut c = NetstringCodec::new(1024);
        // the prefix alone, without a colon yet, is already refused
        let mut buf = BytesMut::from(&b"99999999999"[..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::TooLarge { max: 1024, .. })));
        let mut c = NetstringCodec::new(1024);
        let mut buf = BytesMut::from(&b"536870912:"[..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::TooLarge { len: 536_870_912, .. })));
        assert!(buf.capacity() < 4096, "nothing was reserved for the payload");
        // a length prefix within the limit reserves nothing either: only what arrives is kept
        let mut c = NetstringCodec::new(1 << 24);
        let mut buf = BytesMut::from(&b"16000000:abc"[..]);
        assert!(matches!(c.decode(&mut buf), Ok(None)));
        assert!(buf.capacity() < 4096, "nothing reserved for the 16 MB announced: {}", buf.capacity());
        let mut c = NetstringCodec::new(usize::MAX);
        let mut buf = BytesMut::from(&b"999999999999999999999999:"[..]);
        assert!(matches!(c.decode(&mut buf), Err(FrameError::BadLength)), "21+ digits");
    }

    #[test]
    fn malformed_input_is_an_error() {
        assert!(matches!(decode_all(100, b"abc").1, Some(FrameError::BadLength)));
        assert!(matches!(decode_all(100, b":x,").1, Some(FrameError::BadLength)));
        assert!(matches!(decode_all(100, b"03:abc,").1, Some(FrameError::BadLength)));
        assert!(matches!(decode_all(100, b"3:abcd").1, Some(FrameError::BadTerminator)));
        assert!(matches!(decode_all(100, b"2:\xff\xfe,").1, Some(FrameError::NotUtf8)));
    }

    proptest! {
        /// Random bytes never panic the decoder, and every frame it accepts is within the limit.
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), max in 0usize..64) {
            let (frames, _) = decode_all(max, &bytes);
            for f in frames {
                prop_assert!(f.len() <= max);
            }
        }

        /// Whatever is encoded decodes back, however the bytes are split.
        #[test]
        fn round_trip_any_split(msgs in proptest::collection::vec(".{0,40}", 0..8), split in 0usize..400) {
            let mut enc = NetstringCodec::new(1 << 20);
            let mut wire = BytesMut::new();
            for m in &msgs {
                enc.encode(m.as_str(), &mut wire).expect("encode");
            }
            let split = split.min(wire.len());
            let mut dec = NetstringCodec::new(1 << 20);
            let mut buf = BytesMut::from(&wire[..split]);
            let mut out = Vec::new();
            while let Some(s) = dec.decode(&mut buf).expect("valid") {
                out.push(s);
            }
            buf.extend_from_slice(&wire[split..]);
            while let Some(s) = dec.decode(&mut buf).expect("valid") {
                out.push(s);
            }
            prop_assert_eq!(out, msgs);
        }
    }
}
