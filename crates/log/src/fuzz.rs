//! Fuzzing entry point for the logging-script parser (`fuzz/` holds the
//! cargo-fuzz target; `make test` runs a seeded batch).
//!
//! Invariant: any script — directives, regular expressions, sizes, logdir
//! names — parses or is refused with an error, never a panic.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

/// Parses `data` as a script, one argument per NUL- or newline-separated piece.
pub fn script(data: &[u8]) {
    let args: Vec<OsString> = data
        .split(|&b| b == 0 || b == b'\n')
        .map(|a| OsString::from_vec(a.to_vec()))
        .collect();
    let _ = crate::script::parse(&args);
}
