#![no_main]
//! Fuzz target `rtx_lines`: see `txtrader_fuzz::rtx::rtx_lines`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| txtrader_fuzz::rtx::rtx_lines(data));
