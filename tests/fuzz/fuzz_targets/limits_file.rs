#![no_main]
//! Fuzz target `limits_file`: see `txtrader_fuzz::checks::limits_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::checks::limits_file(data));
