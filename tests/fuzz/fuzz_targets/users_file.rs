#![no_main]
//! Fuzz target `users_file`: see `txtrader_fuzz::checks::users_file`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::checks::users_file(data));
