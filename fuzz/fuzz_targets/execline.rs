//! cargo-fuzz target: execline (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svkit_execline::fuzz::lex(data));
