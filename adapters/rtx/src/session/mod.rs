//! The adapter's side of RTGW's session: logical connections ([`cxn`]), each carrying one
//! request, advise or poke.

pub mod cxn;
