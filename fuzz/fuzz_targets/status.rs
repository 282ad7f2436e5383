//! cargo-fuzz target: status (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svkit_core::fuzz::status(data));
