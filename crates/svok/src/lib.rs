//! `svok DIR` (s6-svok): exits 0 if a supervisor is running on DIR, 1 if not.
//!
//! Invariant: "running" means another process holds the fcntl lock on
//! `DIR/supervise/lock` — the one test that works for s6's supervisors and ours.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

use svkit_core::Exit;
use svkit_core::getopt::{self, Getopt};
use svkit_core::lock;
use svkit_core::report::{self, Failure, show};
use svkit_core::servicedir::LOCK;

const USAGE: &str = "servicedir";
const HELP: &str = "\
svok DIR
Exit 0 if a supervisor (svkit's or s6's) is running on DIR, 1 if not. See docs/svok.md.
";

/// Entry point: `svok DIR`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("svok"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let mut opts = Getopt::new(rest, "");
    if opts.next().is_some() {
        return report::die(&prog, USAGE, &Failure::usage());
    }
    let [dir] = opts.rest() else {
        return report::die(&prog, USAGE, &Failure::usage());
    };
    match lock::is_locked(&Path::new(dir).join(LOCK)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => Exit::No.into(),
        Err(e) => report::die(
            &prog,
            USAGE,
            &Failure::sys(format!("check {}", show(dir)), &e),
        ),
    }
}
