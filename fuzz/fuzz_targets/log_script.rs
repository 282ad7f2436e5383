//! cargo-fuzz target: log_script (see fuzz/Cargo.toml).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| svkit_log::fuzz::script(data));
