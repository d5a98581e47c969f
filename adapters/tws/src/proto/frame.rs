//! Framing: the `API\0` greeting, length-prefixed frames, and NUL-terminated fields.
//!
//! Every frame after the greeting is a big-endian `u32` length and that many payload bytes;
//! the payload is text fields, each ended by a NUL. [`FrameReader`] reassembles frames from
//! whatever the socket delivers and refuses a length above [`MAX_FRAME`] before allocating
//! anything; [`fields`] splits a payload, reading text as UTF-8 and falling back to Latin-1
//! so that no frame is ever refused for its encoding alone.

// Input from outside the process: nothing here may panic on it (tests may).
#![cfg_attr(not(test), deny(clippy::indexing_slicing, clippy::arithmetic_side_effects, clippy::unwrap_used, clippy::expect_used))]

use std::borrow::Cow;

/// The largest payload the official client accepts.
pub const MAX_FRAME: usize = 0x00FF_FFFF;

/// Why the byte stream cannot go on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A length prefix above [`MAX_FRAME`].
    #[error("frame length {0} exceeds the protocol's maximum of {MAX_FRAME} bytes")]
    TooLong(usize),
}

/// Why a payload is not a list of fields.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// Empty payload.
    #[error("empty frame")]
    Empty,
    /// The last field has no terminating NUL.
    #[error("the last field is not NUL-terminated")]
    Unterminated,
}

/// The client's greeting: `API\0`, then the version range (and options) as one frame whose
/// payload is not NUL-terminated.
pub fn greeting(min_version: u32, max_version: u32, options: &str) -> Vec<u8> {
    let text = if options.is_empty() {
        format!("v{min_version}..{max_version}")
    } else {
        format!("v{min_version}..{max_version} {options}")
    };
    let mut out = b"API\0".to_vec();
    out.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
    out
}

/// Builds one frame field by field.
#[derive(Debug, Default)]
pub struct FrameBuilder {
    buf: Vec<u8>,
}

impl FrameBuilder {
    /// A frame starting with its message id.
    pub fn new(msg_id: u32) -> Self {
        let mut b = Self { buf: Vec::with_capacity(256) };
        b.buf.extend_from_slice(&[0; 4]);
        b.int(i64::from(msg_id));
        b
    }

    /// A text field.
    pub fn text(&mut self, value: &str) -> &mut Self {
        let bytes = value.as_bytes();
        if bytes.contains(&0) {
            // a NUL would end the field early: never sent (the caller validates text first)
            self.buf.extend(bytes.iter().filter(|b| **b != 0));
        } else {
            self.buf.extend_from_slice(bytes);
        }
        self.buf.push(0);
        self
    }

    /// An empty field.
    pub fn empty(&mut self) -> &mut Self {
        self.buf.push(0);
        self
    }

    /// An integer field.
    pub fn int(&mut self, value: i64) -> &mut Self {
        use std::io::Write as _;
        // writing to a Vec cannot fail
        let _ = write!(self.buf, "{value}");
        self.buf.push(0);
        self
    }

    /// A boolean field (`0`/`1`).
    pub fn flag(&mut self, value: bool) -> &mut Self {
        self.buf.push(if value { b'1' } else { b'0' });
        self.buf.push(0);
        self
    }

    /// The frame, length prefix included.
    pub fn finish(mut self) -> Vec<u8> {
        let len = u32::try_from(self.buf.len().saturating_sub(4)).unwrap_or(u32::MAX);
        if let Some(prefix) = self.buf.get_mut(..4) {
            prefix.copy_from_slice(&len.to_be_bytes());
        }
        self.buf
    }
}

/// Reassembles frames from a byte stream.
#[derive(Debug, Default)]
pub struct FrameReader {
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// An empty reader.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame's payload, if one is complete.
    ///
    /// # Errors
    /// [`FrameError::TooLong`] for a length above [`MAX_FRAME`]: the stream cannot be trusted
    /// any further.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        let rest = self.buf.get(self.start..).unwrap_or_default();
        let Some(prefix) = rest.first_chunk::<4>() else { return Ok(None) };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > MAX_FRAME {
            return Err(FrameError::TooLong(len));
        }
        // len is at most MAX_FRAME: these sums cannot overflow
        let (at, end) = (self.start.saturating_add(4), self.start.saturating_add(4).saturating_add(len));
        if self.buf.len() < end {
            return Ok(None);
        }
        self.start = end;
        Ok(self.buf.get(at..end))
    }

    /// Bytes received but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len().saturating_sub(self.start)
    }
}

/// The payload as text: UTF-8, else Latin-1 (never refused for its encoding).
pub fn payload_text(payload: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(payload) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(payload.iter().map(|&b| char::from(b)).collect()),
    }
}

/// Splits payload text into its fields.
///
/// # Errors
/// An empty payload, or one whose last field is not NUL-terminated.
pub fn fields(text: &str) -> Result<Vec<&str>, FieldError> {
    let body = text.strip_suffix('\0').ok_or(if text.is_empty() { FieldError::Empty } else { FieldError::Unterminated })?;
    Ok(body.split('\0').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_reassembled_from_any_split_and_oversized_ones_refused() {
        let mut f = FrameBuilder::new(9);
        f.int(1).int(42);
        let frame = f.finish();
        assert_eq!(frame, b"\0\0\0\x079\x001\x0042\0");
        let stream: Vec<u8> = frame.iter().chain(frame.iter()).copied().collect();
        for cut in 0..stream.len() {
            let mut r = FrameReader::new();
            let mut got = Vec::new();
            r.extend(&stream[..cut]);
            while let Ok(Some(p)) = r.next_frame() {
                got.push(p.to_vec());
            }
            r.extend(&stream[cut..]);
            while let Ok(Some(p)) = r.next_frame() {
                got.push(p.to_vec());
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(fields(&payload_text(&got[1])).expect("fields"), ["9", "1", "42"]);
        }
        let mut r = FrameReader::new();
        r.extend(&[0x01, 0x00, 0x00, 0x00]);
        assert_eq!(r.next_frame(), Err(FrameError::TooLong(0x0100_0000)));
    }

    #[test]
    fn text_falls_back_to_latin1_and_fields_must_be_terminated() {
        assert_eq!(fields(&payload_text(b"4\0caf\xe9\0")).expect("fields"), ["4", "café"]);
        assert_eq!(fields(""), Err(FieldError::Empty));
        assert_eq!(fields("4\0x"), Err(FieldError::Unterminated));
        assert_eq!(greeting(176, 178, ""), b"API\0\0\0\0\x09v176..178");
    }
}
