#![no_main]
//! Fuzz target `netstring`: see `txtrader_fuzz::checks::netstring`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::checks::netstring(data));
