//! `setsid [-s|-b|-f|-g] [-i|-I|-q] [-d ctty] PROG...` (s6-setsid): run PROG as a
//! session leader, or as the leader of a new background or foreground process group.
//!
//! Invariant: PROG is exec'd in this very process (its pid is the caller's), and a
//! failure to change session or group stops it only with `-i`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal, sigprocmask};
use nix::unistd::{Pid, getpgrp, setpgid, tcsetpgrp};

use svkit_core::config::parse_uint;
use svkit_core::getopt::Getopt;
use svkit_core::report;
use svkit_core::{Failure, process};

use crate::{Outcome, chain_main, program};

const USAGE: &str = "[ -s | -b | -f | -g ] [ -i | -I | -q ] [ -d ctty ] prog...";
const HELP: &str = "\
setsid [ -s | -b | -f | -g ] [ -i | -I | -q ] [ -d CTTY ] PROG...
Exec PROG as the leader of a new session (-s, default), of a new background
process group (-b), or of a new process group given the terminal (-f), taking
it from the current foreground group (-g). CTTY is the terminal's descriptor
(default 0). If that fails: -i exit 111, -I warn and go on (default), -q go on.
See docs/setsid.md.
";

/// What to become.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Session,
    Background,
    Foreground,
    Grab,
}

/// What to do when it cannot be done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Strictness {
    Fatal,
    Warn,
    Quiet,
}

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    kind: Kind,
    strict: Strictness,
    ctty: i32,
}

fn parse(args: &[OsString]) -> Result<(Opts, &[OsString]), Failure> {
    let mut o = Opts {
        kind: Kind::Session,
        strict: Strictness::Warn,
        ctty: 0,
    };
    let mut g = Getopt::new(args, "sbfgiIqd:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b's' => o.kind = Kind::Session,
            b'b' => o.kind = Kind::Background,
            b'f' => o.kind = Kind::Foreground,
            b'g' => o.kind = Kind::Grab,
            b'i' => o.strict = Strictness::Fatal,
            b'I' => o.strict = Strictness::Warn,
            b'q' => o.strict = Strictness::Quiet,
            _ => {
                let arg = opt.arg.map(OsStr::as_bytes).unwrap_or_default();
                let fd = parse_uint(arg).ok_or_else(Failure::usage)?;
                o.ctty = i32::try_from(fd).map_err(|_| Failure::usage())?;
            }
        }
    }
    Ok((o, g.rest()))
}

/// Gives the terminal on `ctty` to our process group. With `grab`, SIGTTOU is
/// blocked meanwhile, so that a background caller is not stopped for it.
fn take_terminal(ctty: i32, grab: bool) -> Result<(), (&'static str, Errno)> {
    let mut ttou = SigSet::empty();
    ttou.add(Signal::SIGTTOU);
    let mut old = SigSet::empty();
    if grab {
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&ttou), Some(&mut old))
            .map_err(|e| ("block SIGTTOU", e))?;
    }
    let r = process::with_fd(ctty, |fd| tcsetpgrp(fd, getpgrp())).unwrap_or(Err(Errno::EBADF));
    if grab {
        let _ = sigprocmask(SigmaskHow::SIG_SETMASK, Some(&old), None);
    }
    r.map_err(|e| ("tcsetpgrp", e))
}

fn change(o: &Opts) -> Result<(), (&'static str, Errno)> {
    match o.kind {
        Kind::Session => nix::unistd::setsid().map(drop).map_err(|e| ("setsid", e)),
        Kind::Background => setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(|e| ("setpgid", e)),
        Kind::Foreground | Kind::Grab => {
            setpgid(Pid::from_raw(0), Pid::from_raw(0)).map_err(|e| ("setpgid", e))?;
            take_terminal(o.ctty, o.kind == Kind::Grab)
        }
    }
}

/// Entry point: `setsid [options] PROG...`.
pub fn setsid(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(args, "setsid", USAGE, HELP, |prog, rest| -> Outcome {
        let (o, argv) = parse(rest)?;
        let argv = program(argv)?;
        if let Err((what, e)) = change(&o) {
            let f = Failure::sys(what, &e.into());
            match o.strict {
                Strictness::Fatal => return Err(f),
                Strictness::Warn => report::warn(prog, &f.msg),
                Strictness::Quiet => {}
            }
        }
        Err(process::chain(argv, &[]))
    })
}
