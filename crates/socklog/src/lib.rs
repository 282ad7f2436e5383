//! `socklog` (s6-socklog): a minimal syslog daemon — datagrams in, lines out.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::process::ExitCode;

/// Entry point (not built yet: exits 100).
pub fn main(_args: Vec<OsString>) -> ExitCode {
    ExitCode::from(100)
}
