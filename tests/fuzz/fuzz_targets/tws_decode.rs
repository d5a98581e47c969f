#![no_main]
//! Fuzz target `tws_decode`: see `txtrader_fuzz::tws::tws_decode`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::tws::tws_decode(data));
