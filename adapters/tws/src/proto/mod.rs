//! The TWS socket API's text protocol (server versions 176–178): framing, field spellings,
//! request encoding and response decoding. Pure functions over bytes: no socket, no state.

pub mod encode;
pub mod frame;
pub mod text;
