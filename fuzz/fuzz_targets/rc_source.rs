//! cargo-fuzz target: rc_source (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svkit_rc::fuzz::source(data));
