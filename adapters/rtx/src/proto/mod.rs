//! The RTGW wire protocol, both directions, with no I/O.
//!
//! - [`command`]: what the adapter sends — text lines `<cmd> <cxn_id> <args>`, each followed by
//!   an empty line as the original txTrader sends them — and the `TABLE;WHAT;WHERE` selectors
//!   and `!K=V,…` poke fields they carry.
//! - [`line`]: what RTGW sends — one JSON object per line, `{"type":T,"id":ID,"data":D}` —
//!   decoded into [`line::Incoming`], every malformed line an error that names it.
//! - [`row`]: reading a row's fields (text, numbers as exact decimals, RealTick's `Error N`
//!   placeholders).
//!
//! The protocol is in the compatibility specification, section 8.

pub mod command;
pub mod line;
pub mod row;
