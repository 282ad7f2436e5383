//! `svscanctl` (s6-svscanctl): sends commands to a scanner through
//! `DIR/.s6-svscan/control`.
//!
//! Invariant: the letters are sent in argv order, repeats included, in one write —
//! the same transport as `svc`, to the scanner's FIFO.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::ExitCode;

use svkit_core::Exit;
use svkit_core::control::{self, ControlError};
use svkit_core::getopt::{self, Getopt};
use svkit_core::report::{self, Failure, show};
use svkit_core::servicedir::{SCAN_CONTROL, SCAN_CTL_DIR};

const USAGE: &str = "[ -zabhitqnN ] svscandir";
const HELP: &str = "\
svscanctl [ -zabhitqnN ] DIR
Send commands, in the order given, to the scanner running on DIR:
  -a rescan   -h rescan, then prune (as -n)
  -n          prune: stop the supervisors of vanished services (TERM), and
              let their loggers' supervisors exit once the logs are drained (HUP)
  -N          prune, sending TERM to the loggers' supervisors too
  -t / -i     stop everything: TERM to services' supervisors, HUP to loggers'
              (they drain, then exit); svscan exits when all are gone
  -q          stop everything with TERM, loggers included
  -b          exit now, stopping nothing
  -z          reap zombies now
See docs/svscanctl.md.
";

/// Entry point: `svscanctl [-zabhitqnN] DIR`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("svscanctl"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let mut cmds = Vec::new();
    let mut g = Getopt::new(rest, "zabhitqnN");
    for opt in g.by_ref() {
        match opt {
            Ok(o) => cmds.push(o.letter),
            Err(_) => return report::die(&prog, USAGE, &Failure::usage()),
        }
    }
    let [dir] = g.rest() else {
        return report::die(&prog, USAGE, &Failure::usage());
    };
    let dir = Path::new(dir);
    match control::send_via(dir, SCAN_CTL_DIR, SCAN_CONTROL, &cmds) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let f = match e {
                ControlError::NotListening => Failure::new(
                    Exit::Usage,
                    format!("unable to control {}: scanner not listening", show(dir)),
                ),
                ControlError::Broken => Failure::new(
                    Exit::Usage,
                    format!(
                        "something is wrong with the {}/{SCAN_CTL_DIR} directory",
                        show(dir)
                    ),
                ),
                ControlError::Sys(e) => Failure::sys(format!("control {}", show(dir)), &e),
            };
            report::die(&prog, USAGE, &f)
        }
    }
}
