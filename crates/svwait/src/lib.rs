//! `svwait` (s6-svwait) waits until services are up, ready, down or finished;
//! `svlisten1` (s6-svlisten1) does the same for one service around a program it
//! spawns (the building block of `svc -w…`).
//!
//! Invariant: each service is subscribed to before its status is read, and the
//! wait is satisfied by the current state as well as by later events — never by
//! polling the status file.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use svkit_core::Exit;
use svkit_core::config;
use svkit_core::event::{Goal, WaitError, Watch, wait_outcome};
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
    let (mut o, rest) = parse_opts(args, "UudDrRaot:")?;
    o.dirs = rest.iter().map(PathBuf::from).collect();
    if o.dirs.is_empty() {
        return Err(Failure::usage());
    }
    Ok(o)
}

/// The options (letters of `spec`) and the operands after them.
fn parse_opts<'a>(
    args: &'a [OsString],
    spec: &'static str,
) -> Result<(Opts, &'a [OsString]), Failure> {
    let mut o = Opts {
        goal: Goal::UP,
        restart: false,
        any: false,
        timeout_ms: 0,
        dirs: Vec::new(),
    };
    let mut g = Getopt::new(args, spec);
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
    Ok((o, g.rest()))
}

fn run(o: &Opts) -> Result<(), Failure> {
    let deadline =
        (o.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(o.timeout_ms)));
    let mut watch = Watch::new(&o.dirs).map_err(|e| e.failure(&o.dirs))?;
    // -r / -R: first every service down (s6-svwait's first phase), then the goal.
    wait_outcome(phases(&mut watch, o, Goal::DOWN, deadline))
}

/// Waits for `first` (with -r / -R), then for the goal: the number of failed
/// services. Failures in the first phase (a supervisor exiting before the
/// service went down) end the wait there, as in s6: the second phase could
/// only end with -t.
fn phases(
    watch: &mut Watch,
    o: &Opts,
    first: Goal,
    deadline: Option<Instant>,
) -> Result<u32, WaitError> {
    if o.restart {
        let n = watch.wait(first, false, deadline)?;
        if n > 0 {
            return Ok(n);
        }
    }
    watch.wait(o.goal, o.any, deadline)
}

const LISTEN_USAGE: &str = "[ -U | -u | -d | -D | -r | -R ] [ -t timeout ] servicedir prog...";
const LISTEN_HELP: &str = "\
svlisten1 [ -U | -u | -d | -D | -r | -R ] [ -t ms ] DIR PROG...
Subscribe to DIR's events, read its status, spawn PROG, then wait until the
service is: -u up (default), -U up and ready, -d down, -D down and finished,
-r down and finished then up, -R the same then up and ready. -t ms gives up
after ms (exit 99). Exit 1 if the service failed permanently or its supervisor
exited meanwhile (during the first phase of -r / -R too: the wait ends there).
PROG's own exit code is not waited for. See docs/svlisten1.md.
";

/// Entry point: `svlisten1 [options] DIR PROG...`.
pub fn svlisten1(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("svlisten1"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{LISTEN_HELP}");
        return ExitCode::SUCCESS;
    }
    match parse_listen(rest).and_then(|(o, argv)| listen(&o, argv)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report::die(&prog, LISTEN_USAGE, &f),
    }
}

fn parse_listen(args: &[OsString]) -> Result<(Opts, &[OsString]), Failure> {
    // svwait's letters without -a/-o; one directory, then PROG.
    let (mut o, rest) = parse_opts(args, "UudDrRt:")?;
    let (dir, argv) = rest.split_first().ok_or_else(Failure::usage)?;
    if argv.is_empty() {
        return Err(Failure::usage());
    }
    o.dirs = vec![PathBuf::from(dir)];
    Ok((o, argv))
}

fn listen(o: &Opts, argv: &[OsString]) -> Result<(), Failure> {
    let deadline =
        (o.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(o.timeout_ms)));
    let mut watch = Watch::new(&o.dirs).map_err(|e| e.failure(&o.dirs))?;
    let (program, args) = argv.split_first().ok_or_else(Failure::usage)?;
    // Not waited for: the service's state is the answer, not PROG's exit code.
    Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| Failure::sys(format!("spawn {}", report::show(program)), &e))?;
    // -r / -R: first down and finished, then the goal (s6-svlisten1's phases).
    match phases(&mut watch, o, Goal::DOWN_READY, deadline) {
        // s6-svlisten1's own words for its one service, not svwait's plural.
        Ok(n) if n > 0 => Err(Failure::new(
            Exit::Failures(1),
            format!(
                "{} failed permanently or its supervisor died",
                o.dirs.first().map(report::show).unwrap_or_default()
            ),
        )),
        r => wait_outcome(r),
    }
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
    fn svlisten1_takes_one_dir_then_prog() {
        let v: Vec<OsString> = ["-R", "-t", "5", "dir", "prog", "-x"]
            .iter()
            .map(OsString::from)
            .collect();
        let (o, argv) = parse_listen(&v).unwrap();
        assert_eq!((o.goal, o.restart, o.timeout_ms), (Goal::READY, true, 5));
        assert_eq!(o.dirs, [PathBuf::from("dir")]);
        assert_eq!(argv.len(), 2);
        for bad in [&["dir"][..], &["-o", "dir", "p"], &[]] {
            let v: Vec<OsString> = bad.iter().map(OsString::from).collect();
            assert!(parse_listen(&v).is_err());
        }
    }

    #[test]
    fn usage_errors() {
        assert!(p(&[]).is_err());
        assert!(p(&["-t", "soon", "a"]).is_err());
        assert!(p(&["-x", "a"]).is_err());
    }
}
