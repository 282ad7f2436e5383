//! cargo-fuzz target: machine (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svkit_supervise::fuzz::machine(data));
