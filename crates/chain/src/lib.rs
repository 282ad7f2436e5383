//! Chain-loaders for run scripts (s6's `s6-setuidgid`, `s6-envdir`, `s6-softlimit`…):
//! each changes one thing about its own process, then execs the rest of its argv.
//!
//! Invariant: a chain-loader either execs its program — with the signal mask,
//! dispositions, descriptors and every environment variable it did not mean to
//! change left as they were — or exits with a one-line `prog: fatal:` message and
//! skarnet's code: 100 usage, 111 system error, 126 not executable, 127 not found.
//! The one exception is SIGPIPE: Rust's runtime ignores it before `main` and
//! `Command` sets it back to the default for the program, so a caller's ignored
//! SIGPIPE is not inherited (s6 keeps it ignored).
#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::ffi::OsString;
use std::process::ExitCode;

use svkit_core::Failure;
use svkit_core::report;

mod envdir;
mod ids;
mod setsid;
mod softlimit;

pub use envdir::envdir;
pub use ids::{applyuidgid, envuidgid, setuidgid, setuser};
pub use setsid::setsid;
pub use softlimit::softlimit;

/// What a chain-loader's body returns when it could not exec: the failure.
type Outcome = Result<Infallible, Failure>;

/// The common shape of every tool here: `--help` prints `help`; otherwise `body`
/// gets the program name (for warnings) and the arguments after argv\[0\], and
/// either execs or returns what to report.
fn chain_main(
    args: impl IntoIterator<Item = OsString>,
    name: &str,
    usage: &str,
    help: &str,
    body: impl FnOnce(&str, &[OsString]) -> Outcome,
) -> ExitCode {
    report::tool_main(args, name, usage, help, |prog, rest| {
        match body(prog, rest) {
            Ok(never) => match never {},
            Err(f) => Err(f),
        }
    })
}

/// The program to exec, which must be there: a usage error otherwise.
fn program(argv: &[OsString]) -> Result<&[OsString], Failure> {
    if argv.is_empty() {
        Err(Failure::usage())
    } else {
        Ok(argv)
    }
}
