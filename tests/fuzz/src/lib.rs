//! The fuzz checks, as a library for the fuzz targets: [`checks`] for the host's parsers,
//! [`tws`] for the TWS decoder, [`rtx`] for RTGW's lines and rows, [`fix`] for FIX messages.
pub mod checks;
pub mod fix;
pub mod rtx;
pub mod tws;
