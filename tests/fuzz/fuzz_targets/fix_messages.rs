#![no_main]
//! Fuzz target `fix_messages`: see `txtrader_fuzz::fix::fix_messages`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::fix::fix_messages(data));
