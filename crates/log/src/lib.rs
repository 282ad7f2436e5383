//! `log` (s6-log) and `logutil-service`: read lines on stdin and run an s6-log
//! logging script on them — select, stamp, and store into rotated logdirs.
//!
//! Invariants: input is consumed only after what it produced is written (a peek
//! with `tee(2)` comes first), so a killed logger loses no complete line; with a
//! plain script the bytes move from the pipe into `current` inside the kernel, so
//! not even a partial line is lost or doubled; one poll loop (signalfd, stdin,
//! retry deadline) and no wake-up while idle.
#![forbid(unsafe_code)]

#[doc(hidden)]
pub mod fuzz;
mod logdir;
mod run;
mod script;
mod service;

use std::ffi::OsString;
use std::process::ExitCode;

use svkit_core::report;

const USAGE: &str = "[ -d notif ] [ -q | -v ] [ -b ] [ -p ] [ -l linelimit ] [ -- ] logging_script";
const HELP: &str = "\
log [-d notif] [-q|-v] [-b] [-p] [-l linelimit] [--] script...
Read lines on stdin and run the s6-log logging script on them.
  -d notif      write a newline to fd notif once the logdirs are ready
  -q | -v       fewer | more warnings
  -b            blocking mode (accepted; svkit never reads ahead of its writes)
  -p            ignore SIGTERM: stop only on SIGHUP or end of input
  -l linelimit  split lines longer than this (default 8192, 0 = never, min 48)
Script: selection (+regex -regex f), control (nN sN SN lN rN EN ^N p<prefix>
!<execline processor> ?<sh processor> t T), actions (/dir or ./dir, 1, 2, =file).
See docs/log.md.
";

/// Entry point: `log [-d notif] [-q|-v] [-b] [-p] [-l linelimit] [--] script…`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    report::tool_main(args, "s6-log", USAGE, HELP, run::run)
}

/// Entry point: `logutil-service [-f fifo] logdir`.
pub fn logutil_service(args: Vec<OsString>) -> ExitCode {
    report::tool_main(
        args,
        "logutil-service",
        service::USAGE,
        service::HELP,
        service::run,
    )
}
