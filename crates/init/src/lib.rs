//! The container init: `/init [CMD...]` as in s6-overlay, plus the pieces it lays
//! out at run time — stage 2, the scanner's `finish`/`crash`/`SIG<NAME>` hooks, and
//! `halt` (`poweroff`, `reboot`) — all entry points of this crate.
//!
//! Invariant: there is one way down. Every trigger (a signal to PID 1, `halt`, the
//! end of the CMD, an essential service's death, a stage-2 failure, a v2 script's
//! `s6-svscanctl -t /var/run/s6/services`) becomes the scanner's terminate, which
//! stops the services within `S6_SERVICES_GRACETIME` and then execs `finish`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod control;
mod fixattrs;
mod legacy;
mod logging;
mod scripts;
mod settings;
mod stage0;
mod stage2;
mod stage3;

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

use svkit_core::Exit;
use svkit_core::report::{self, Failure};

/// argv\[0\] of stage 2 (a hidden name of the multi-call binary).
pub const STAGE2: &str = "init-stage2";

/// A service directory holding this file is essential: when its `run` dies while
/// wanted up, the container stops with that exit code (128 + signal if killed).
pub const ESSENTIAL: &str = "essential";

/// The scanner signal hooks `/init` installs (links to this executable).
const HOOK_SIGNALS: [&str; 7] = [
    "SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGPWR", "SIGWINCH",
];

/// `/init [CMD...]`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().skip(1).collect();
    let f = stage0::run(&args);
    report::die("init", "[CMD...]", &f)
}

/// `init-stage2 [CMD...]`: started by `/init`, not by hand.
pub fn stage2(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().skip(1).collect();
    stage2::run(&args)
}

/// `init-legacy WHAT`: the system oneshots `rc` runs for fix-attrs.d,
/// cont-init.d, cont-finish.d and services.d. Not started by hand.
pub fn legacy(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let what = args.into_iter().nth(1).unwrap_or_default();
    legacy::run(&what.to_string_lossy())
}

/// `init-shutdown`: the ordered stop `halt` starts. Not started by hand.
pub fn shutdown(_args: impl IntoIterator<Item = OsString>) -> ExitCode {
    control::shutdown()
}

/// The scanner's hooks, called by their path: `.s6-svscan/finish`, `crash`,
/// `SIG<NAME>`.
pub fn scanner_hook(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let argv0 = args.into_iter().next().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(OsStr::to_string_lossy)
        .unwrap_or_default()
        .into_owned();
    match name.as_str() {
        "finish" => stage3::finish(false),
        "crash" => stage3::finish(true),
        sig if sig.starts_with("SIG") => stage3::signal_hook(sig),
        _ => report::die(
            "s6-svscan-hook",
            "",
            &Failure::new(Exit::Usage, format!("unknown hook {name}")),
        ),
    }
}

/// `halt`, `poweroff`, `reboot` (all the same in a container): stop the container.
pub fn halt(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("halt"), |a| a));
    if svkit_core::getopt::wants_help(args.get(1..).unwrap_or(&[])) {
        print!(
            "{prog}: stop the container: its services stop, cont-finish.d runs, and the \
             container exits with /run/s6-linux-init-container-results/exitcode\n\
             (under $SVKIT_RUNTIME_DIR instead of /run when set).\n\
             See docs/container-init.md.\n"
        );
        return ExitCode::SUCCESS;
    }
    match control::halt() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::die(
            &prog,
            "",
            &Failure::new(
                Exit::System,
                format!(
                    "unable to stop the container through {}: {e}",
                    svkit_core::overlay::layout().scandir.display()
                ),
            ),
        ),
    }
}
