//! `svwait` (s6-svwait): waits until services are up, ready, down or finished.
//!
//! Invariant: each service is subscribed to before its status is read, and the
//! wait is satisfied by the current state as well as by later events — never by
//! polling the status file.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use svkit_core::config;
use svkit_core::event::{Goal, Watch, wait_outcome};
use svkit_core::getopt::{self, Getopt};
use svkit_core::report::{self, Failure};

const USAGE: &str = "[ -U | -u | -d | -D | -r | -R ] [ -a | -o ] [ -t timeout ] servicedir...";
const HELP: &str = "\
svwait [ -U | -u | -d | -D | -r | -R ] [ -a | -o ] [ -t ms ] DIR...
Wait until the services are: -u up (default), -U up and ready, -d down,
-D down and finished, -r down then up, -R down then up and ready.
-a all of them (default), -o one of them; -t ms gives up after ms (exit 99).
Exits with the number of services that failed permanently (finish exited 125)
or whose supervisor exited while waited for. See docs/svwait.md.
";

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    goal: Goal,
    restart: bool,
    any: bool,
    timeout_ms: u32,
    dirs: Vec<PathBuf>,
}

/// Entry point: `svwait [options] DIR...`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("svwait"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match parse(rest).and_then(|o| run(&o)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report::die(&prog, USAGE, &f),
    }
}

fn parse(args: &[OsString]) -> Result<Opts, Failure> {
    let mut o = Opts {
        goal: Goal::UP,
        restart: false,
        any: false,
        timeout_ms: 0,
        dirs: Vec::new(),
    };
    let mut g = Getopt::new(args, "UudDrRaot:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        (o.goal, o.restart) = match opt.letter {
            b'U' => (Goal::READY, false),
            b'u' => (Goal::UP, false),
            b'd' => (Goal::DOWN, false),
            b'D' => (Goal::DOWN_READY, false),
            b'r' => (Goal::UP, true),
            b'R' => (Goal::READY, true),
            b'a' | b'o' => {
                o.any = opt.letter == b'o';
                continue;
            }
            _ => {
                let arg = opt.arg.map(OsStr::as_encoded_bytes).unwrap_or_default();
                o.timeout_ms = config::parse_uint(arg).ok_or_else(Failure::usage)?;
                continue;
            }
        };
    }
    o.dirs = g.rest().iter().map(PathBuf::from).collect();
    if o.dirs.is_empty() {
        return Err(Failure::usage());
    }
    Ok(o)
}

fn run(o: &Opts) -> Result<(), Failure> {
    let deadline =
        (o.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(o.timeout_ms)));
    let mut watch = Watch::new(&o.dirs).map_err(|e| e.failure(&o.dirs))?;
    // -r / -R: first every service down (s6-svwait's first phase), then the goal.
    let first = if o.restart {
        watch.wait(Goal::DOWN, false, deadline)
    } else {
        Ok(0)
    };
    wait_outcome(first.and_then(|n| Ok(n + watch.wait(o.goal, o.any, deadline)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Opts, Failure> {
        let v: Vec<OsString> = a.iter().map(OsString::from).collect();
        parse(&v)
    }

    #[test]
    fn last_state_option_wins() {
        let o = p(&["-U", "-d", "-o", "-t", "100", "a", "b"]).unwrap();
        assert_eq!(
            (o.goal, o.restart, o.any, o.timeout_ms),
            (Goal::DOWN, false, true, 100)
        );
        let o = p(&["-R", "a"]).unwrap();
        assert_eq!((o.goal, o.restart, o.any), (Goal::READY, true, false));
    }

    #[test]
    fn usage_errors() {
        assert!(p(&[]).is_err());
        assert!(p(&["-t", "soon", "a"]).is_err());
        assert!(p(&["-x", "a"]).is_err());
    }
}
