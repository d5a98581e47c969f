//! The TWS socket API's text protocol (server versions 176–178): framing, field spellings,
//! request encoding and response decoding. Pure functions over bytes: no socket, no state.

pub mod decode;
pub mod encode;
pub mod frame;
pub mod text;

/// Decodes one frame's payload: split into fields, then [`decode::decode`].
///
/// # Errors
/// A [`decode::DecodeError`] when the payload is not NUL-terminated fields or a field is
/// missing or malformed.
pub fn decode_payload(server_version: u32, payload: &[u8]) -> Result<decode::Incoming, decode::DecodeError> {
    let text = frame::payload_text(payload);
    let fields = frame::fields(&text).map_err(|e| decode::DecodeError {
        msg_id: String::new(),
        field: 0,
        name: "frame",
        problem: e.to_string(),
    })?;
    decode::decode(server_version, &fields)
}
