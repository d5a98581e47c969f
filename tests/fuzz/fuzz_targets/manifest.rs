#![no_main]
//! Fuzz target `manifest`: see `txtrader_fuzz::checks::manifest`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::checks::manifest(data));
