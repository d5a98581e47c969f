#![no_main]
//! Fuzz target `api_args`: see `txtrader_fuzz::checks::api_args`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::checks::api_args(data));
