//! The fuzz checks, as a library for the fuzz targets: [`checks`] for the host's parsers,
//! [`tws`] for the TWS decoder.
pub mod checks;
pub mod tws;
