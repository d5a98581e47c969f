#![no_main]
//! Fuzz target `query_bars`: see `txtrader_fuzz::checks::query_bars`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::checks::query_bars(data));
