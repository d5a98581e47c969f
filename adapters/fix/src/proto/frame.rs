//! Framing: finds whole messages in a byte stream. A message starts at `8=FIX`; BodyLength (9)
//! says where it ends; the CheckSum (10) must match. Bytes that are not a valid message are
//! skipped up to the next `8=FIX`, and the reader says what it skipped; nothing from the peer
//! can make it buffer more than one message of [`MAX_MESSAGE`] bytes.

use super::SOH;

/// The longest message accepted (a FIX order message is well under 1 KiB).
pub const MAX_MESSAGE: usize = 64 * 1024;

const START: &[u8] = b"8=FIX";
/// `10=` + three digits + SOH.
const TRAILER: usize = 7;

/// Why bytes were skipped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Bytes before the next `8=FIX`.
    #[error("{0} bytes of garbage before the next message")]
    Garbage(usize),
    /// A header that does not give a usable BodyLength.
    #[error("no valid BodyLength after BeginString")]
    BadLength,
    /// BodyLength beyond [`MAX_MESSAGE`].
    #[error("BodyLength {0} exceeds the {MAX_MESSAGE}-byte limit")]
    TooLong(usize),
    /// The trailer is not `10=nnn` where BodyLength says it is.
    #[error("no CheckSum where BodyLength {0} says the message ends")]
    BadTrailer(usize),
    /// The CheckSum does not match.
    #[error("CheckSum {found} where the bytes sum to {computed:03}")]
    BadChecksum {
        /// As sent.
        found: String,
        /// As computed.
        computed: u8,
    },
}

/// A byte stream's reader of whole messages.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

/// The sum of `bytes` modulo 256, FIX's CheckSum.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > MAX_MESSAGE {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held that are not yet a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole message's bytes, `Ok(None)` until one is complete, or what was skipped.
    ///
    /// # Errors
    /// [`FrameError`] for bytes skipped; call again to go on reading.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let data = &self.buf[self.start..];
        let Some(at) = find(data, START) else {
            // keep a tail that may be the start of `8=FIX`
            let keep = data.len().min(START.len() - 1);
            let skipped = data.len() - keep;
            self.start += skipped;
            return if skipped > 0 { Err(FrameError::Garbage(skipped)) } else { Ok(None) };
        };
        if at > 0 {
            self.start += at;
            return Err(FrameError::Garbage(at));
        }
        // 8=FIX.x.y SOH 9=n SOH
        let Some(end8) = data.iter().position(|b| *b == SOH) else {
            return self.wait_or_skip(data.len() > 32, FrameError::BadLength);
        };
        let rest = &data[end8 + 1..];
        if rest.len() < 2 {
            return Ok(None);
        }
        if !rest.starts_with(b"9=") {
            return self.skip(FrameError::BadLength);
        }
        let Some(end9) = rest.iter().position(|b| *b == SOH) else {
            return self.wait_or_skip(rest.len() > 12, FrameError::BadLength);
        };
        let digits = &rest[2..end9];
        let Some(length) = std::str::from_utf8(digits).ok().filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && d.len() <= 9).and_then(|d| d.parse::<usize>().ok()) else {
            return self.skip(FrameError::BadLength);
        };
        if length > MAX_MESSAGE {
            return self.skip(FrameError::TooLong(length));
        }
        let body_start = end8 + 1 + end9 + 1;
        let body_end = body_start + length;
        let total = body_end + TRAILER;
        if data.len() < total {
            return Ok(None);
        }
        let trailer = &data[body_end..total];
        if !(trailer.starts_with(b"10=") && trailer[3..6].iter().all(u8::is_ascii_digit) && trailer[6] == SOH) {
            return self.skip(FrameError::BadTrailer(length));
        }
        let computed = checksum(&data[..body_end]);
        let found = std::str::from_utf8(&trailer[3..6]).unwrap_or("");
        if found.parse::<u16>().ok() != Some(u16::from(computed)) {
            let found = found.to_owned();
            return self.skip(FrameError::BadChecksum { found, computed });
        }
        let frame = data[..total].to_vec();
        self.start += total;
        Ok(Some(frame))
    }

    /// Skips the `8` of a bad start so that the search resumes after it.
    fn skip(&mut self, e: FrameError) -> Result<Option<Vec<u8>>, FrameError> {
        self.start += 1;
        Err(e)
    }

    fn wait_or_skip(&mut self, hopeless: bool, e: FrameError) -> Result<Option<Vec<u8>>, FrameError> {
        if hopeless { self.skip(e) } else { Ok(None) }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(body: &str) -> Vec<u8> {
        let body = body.replace('|', "\u{1}");
        let head = format!("8=FIX.4.4\u{1}9={}\u{1}", body.len());
        let mut m = format!("{head}{body}").into_bytes();
        let sum = checksum(&m);
        m.extend_from_slice(format!("10={sum:03}\u{1}").as_bytes());
        m
    }

    fn all(reader: &mut FrameReader) -> (Vec<Vec<u8>>, Vec<FrameError>) {
        let (mut frames, mut errors) = (Vec::new(), Vec::new());
        loop {
            match reader.next_frame() {
                Ok(Some(f)) => frames.push(f),
                Ok(None) => return (frames, errors),
                Err(e) => errors.push(e),
            }
        }
    }

    #[test]
    fn the_specs_logon_frames_with_its_checksum() {
        let logon = b"8=FIX.4.4\x019=76\x0135=A\x0149=GATEWAY\x0156=EXECUTOR\x0134=1\x0152=20250102-14:30:00.000\x0198=0\x01108=30\x01141=Y\x0110=149\x01";
        let mut r = FrameReader::new();
        r.extend(logon);
        assert_eq!(r.next_frame(), Ok(Some(logon.to_vec())));
        assert_eq!(r.next_frame(), Ok(None));
    }

    #[test]
    fn messages_split_anywhere_come_out_whole() {
        let stream = [msg("35=0|34=2|"), msg("35=1|34=3|112=T1|")].concat();
        for cut in 0..stream.len() {
            let mut r = FrameReader::new();
            r.extend(&stream[..cut]);
            let (mut frames, errors) = all(&mut r);
            r.extend(&stream[cut..]);
            let (rest, more) = all(&mut r);
            frames.extend(rest);
            assert!(errors.is_empty() && more.is_empty(), "cut at {cut}: {errors:?} {more:?}");
            assert_eq!(frames.len(), 2, "cut at {cut}");
        }
    }

    #[test]
    fn garbage_and_bad_checksums_are_skipped_up_to_the_next_message() {
        let good = msg("35=0|34=2|");
        let mut bad = msg("35=0|34=3|");
        let n = bad.len();
        bad[n - 2] = if bad[n - 2] == b'0' { b'1' } else { b'0' };
        let mut r = FrameReader::new();
        r.extend(b"xx\x01garbage8=FI");
        r.extend(&[bad.as_slice(), b"8=FIX.4.4\x019=zz\x01", good.as_slice()].concat());
        let (frames, errors) = all(&mut r);
        assert_eq!(frames, vec![good]);
        assert!(errors.iter().any(|e| matches!(e, FrameError::BadChecksum { .. })), "{errors:?}");
        assert!(errors.iter().any(|e| matches!(e, FrameError::Garbage(_))), "{errors:?}");
        assert!(errors.contains(&FrameError::BadLength), "{errors:?}");
    }

    #[test]
    fn an_absurd_body_length_is_refused_without_waiting_for_it() {
        let mut r = FrameReader::new();
        r.extend(b"8=FIX.4.4\x019=999999999\x0135=0\x01");
        assert_eq!(r.next_frame(), Err(FrameError::TooLong(999_999_999)));
        assert!(r.pending() < 64);
    }
}
