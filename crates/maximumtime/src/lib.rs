//! `maximumtime` (s6-maximumtime) and `with-retries` (s6-overlay's): run a program
//! as a child with a time limit, once or until it succeeds.
//!
//! Invariant: the limit is a poll deadline on the child's pidfd — no timer, no
//! signal handler, no polling of the process table — so a run that ends before
//! its limit is reported the moment it ends, with its own exit code (128 + signal
//! for a signal death, as the shell says).
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;

use svkit_core::config::parse_uint;
use svkit_core::getopt::Getopt;
use svkit_core::report::{self, Failure, show};
use svkit_core::{Exit, poll as deadline, process};

/// Starts `argv` as a child (`PATH` searched as `execvp` does).
fn spawn(argv: &[OsString]) -> Result<Child, Failure> {
    let (program, args) = argv.split_first().ok_or_else(Failure::usage)?;
    Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| Failure::exec(program, &e))
}

/// Waits for `child` until `end`: its exit code, or `None` if `end` came first.
fn wait(child: &mut Child, end: Option<Instant>) -> Result<Option<u8>, Failure> {
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let pidfd = process::pidfd(pid).map_err(|e| Failure::sys("pidfd_open", &e))?;
    loop {
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, deadline::timeout(end)) {
            Ok(0) => return Ok(None),
            Ok(_) => break,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(Failure::sys("poll", &e.into())),
        }
    }
    let status = child.wait().map_err(|e| Failure::sys("wait", &e))?;
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(111);
    Ok(Some(u8::try_from(code).unwrap_or(u8::MAX)))
}

/// The end of a limit of `ms` milliseconds starting now; 0 means none.
fn limit(ms: u32) -> Option<Instant> {
    (ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(ms)))
}

/// Common entry: `--help`, then `body`, whose failure is reported.
fn tool_main(
    args: impl IntoIterator<Item = OsString>,
    name: &str,
    usage: &str,
    help: &str,
    body: impl FnOnce(&[OsString]) -> Result<ExitCode, Failure>,
) -> ExitCode {
    report::tool_main(args, name, usage, help, |_, rest| body(rest))
}

const MAXIMUMTIME_USAGE: &str = "[ -0 | -a | -b | -i | -k | -q | -t | -x | -1 | -2 ] milli prog...";
const MAXIMUMTIME_HELP: &str = "\
maximumtime [ -0 | -a | -b | -i | -k | -q | -t | -x | -1 | -2 ] MILLI PROG...
Run PROG as a child; if it is still running after MILLI milliseconds (0: no
limit), send it a signal — -t TERM (default), -k KILL, -i INT, -q QUIT, -a ALRM,
-b ABRT, -x XCPU, -1 USR1, -2 USR2, -0 none — and exit 99. Otherwise exit with
PROG's code (128 + the signal if a signal killed it). See docs/maximumtime.md.
";

/// The signal a `maximumtime` option letter sends on timeout (0: none).
fn timeout_signal(letter: u8) -> i32 {
    let sig = match letter {
        b'0' => return 0,
        b'a' => Signal::SIGALRM,
        b'b' => Signal::SIGABRT,
        b'i' => Signal::SIGINT,
        b'k' => Signal::SIGKILL,
        b'q' => Signal::SIGQUIT,
        b'x' => Signal::SIGXCPU,
        b'1' => Signal::SIGUSR1,
        b'2' => Signal::SIGUSR2,
        _ => Signal::SIGTERM,
    };
    sig as i32
}

fn parse_maximumtime(args: &[OsString]) -> Result<(i32, u32, &[OsString]), Failure> {
    let mut sig = timeout_signal(b't');
    let mut g = Getopt::new(args, "0abikqtx12");
    for opt in g.by_ref() {
        sig = timeout_signal(opt.map_err(|_| Failure::usage())?.letter);
    }
    let (milli, argv) = g.rest().split_first().ok_or_else(Failure::usage)?;
    let milli = parse_uint(milli.as_bytes()).ok_or_else(Failure::usage)?;
    if argv.is_empty() {
        return Err(Failure::usage());
    }
    Ok((sig, milli, argv))
}

/// Entry point: `maximumtime [signal option] MILLI PROG...`.
pub fn maximumtime(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    tool_main(
        args,
        "maximumtime",
        MAXIMUMTIME_USAGE,
        MAXIMUMTIME_HELP,
        |rest| {
            let (sig, milli, argv) = parse_maximumtime(rest)?;
            let mut child = spawn(argv)?;
            match wait(&mut child, limit(milli))? {
                Some(code) => Ok(ExitCode::from(code)),
                None => {
                    if sig != 0 {
                        let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
                        let _ = process::kill(pid, sig);
                    }
                    Err(Failure::new(Exit::Timeout, "timed out"))
                }
            }
        },
    )
}

const RETRIES_USAGE: &str = "[ -n tries ] [ -t millisecs ] prog...";
const RETRIES_HELP: &str = "\
with-retries [ -n TRIES ] [ -t MILLI ] PROG...
Run PROG up to TRIES times (default 3) until it exits 0; each try is limited to
MILLI milliseconds (default 500; 0: no limit), after which PROG gets SIGTERM,
then SIGKILL if it is still there MILLI later. Exit 0 as soon as a try succeeds,
1 when every try failed. See docs/with-retries.md.
";

fn parse_retries(args: &[OsString]) -> Result<(u32, u32, &[OsString]), Failure> {
    let (mut tries, mut milli) = (3, 500);
    let mut g = Getopt::new(args, "n:t:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let n = parse_uint(opt.arg.map(OsStr::as_bytes).unwrap_or_default())
            .ok_or_else(Failure::usage)?;
        if opt.letter == b'n' {
            tries = n;
        } else {
            milli = n;
        }
    }
    if g.rest().is_empty() {
        return Err(Failure::usage());
    }
    Ok((tries, milli, g.rest()))
}

/// One try: whether PROG succeeded within `milli`. A try that runs out of time is
/// stopped (TERM, then KILL) and waited for, so that tries never overlap.
fn try_once(argv: &[OsString], milli: u32) -> Result<bool, Failure> {
    let mut child = spawn(argv)?;
    if let Some(code) = wait(&mut child, limit(milli))? {
        return Ok(code == 0);
    }
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let _ = process::kill(pid, Signal::SIGTERM as i32);
    if wait(&mut child, limit(milli))?.is_none() {
        let _ = process::kill(pid, Signal::SIGKILL as i32);
        wait(&mut child, None)?;
    }
    Ok(false)
}

/// Entry point: `with-retries [-n TRIES] [-t MILLI] PROG...`.
pub fn with_retries(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    tool_main(args, "with-retries", RETRIES_USAGE, RETRIES_HELP, |rest| {
        let (tries, milli, argv) = parse_retries(rest)?;
        for _ in 0..tries {
            if try_once(argv, milli)? {
                return Ok(ExitCode::SUCCESS);
            }
        }
        Err(Failure::new(
            Exit::No,
            format!("{} failed {tries} times", show(&argv[0])),
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn maximumtime_options() {
        let a = v(&["-k", "-q", "250", "prog", "arg"]);
        let (sig, milli, argv) = parse_maximumtime(&a).unwrap();
        assert_eq!((sig, milli, argv.len()), (Signal::SIGQUIT as i32, 250, 2));
        let a = v(&["-0", "0", "prog"]);
        assert_eq!(parse_maximumtime(&a).unwrap().0, 0);
        for bad in [&["1000"][..], &["soon", "prog"], &["-z", "1", "prog"]] {
            assert_eq!(parse_maximumtime(&v(bad)).unwrap_err().exit, Exit::Usage);
        }
    }

    #[test]
    fn retries_options_and_defaults() {
        let a = v(&["prog"]);
        let (n, t, _) = parse_retries(&a).unwrap();
        assert_eq!((n, t), (3, 500));
        let a = v(&["-n", "7", "-t0", "prog"]);
        let (n, t, _) = parse_retries(&a).unwrap();
        assert_eq!((n, t), (7, 0));
        assert_eq!(
            parse_retries(&v(&["-n", "x", "p"])).unwrap_err().exit,
            Exit::Usage
        );
        assert_eq!(parse_retries(&v(&[])).unwrap_err().exit, Exit::Usage);
    }
}
