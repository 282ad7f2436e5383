//! `notifyoncheck [-d] [-3 fd] [-s initial] [-T global] [-t local] [-w wait]
//! [-n tries] [-c checkprog] PROG...` (s6-notifyoncheck): exec the daemon PROG; a
//! child polls `./data/check` until it succeeds, then writes the readiness newline
//! on the service's notification descriptor.
//!
//! Invariants: only the poller holds the notification descriptor (the daemon and
//! the check programs never see it), so readiness is reported exactly when a check
//! succeeded; the poller learns of the daemon's death through a pidfd taken before
//! the fork — no race with pid reuse — and never outlives its usefulness.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, ExitCode};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;

use svkit_core::config::{self, Setting, parse_uint};
use svkit_core::getopt::{self, Getopt};
use svkit_core::report::{self, Failure, show};
use svkit_core::servicedir::{LOCK, NOTIFICATION_FD};
use svkit_core::{Exit, lock, poll as deadline, process};

const USAGE: &str = "[ -d ] [ -3 fd ] [ -s initialsleep ] [ -T globaltimeout ] [ -t localtimeout ] [ -w waitingtime ] [ -n tries ] [ -c \"checkprog...\" ] prog...";
const HELP: &str = "\
notifyoncheck [ -d ] [ -3 FD ] [ -s INITIAL ] [ -T GLOBAL ] [ -t LOCAL ]
              [ -w WAIT ] [ -n TRIES ] [ -c \"CHECKPROG...\" ] PROG...
In a run script: exec PROG (the daemon) while a child polls its readiness by
running ./data/check (or CHECKPROG, through execlineb -Pc, or sh -c without
execline) until it exits 0, then writes a newline to the notification
descriptor FD (default: ./notification-fd), so svwait -U and svstat see the
service ready. Times in milliseconds: first check after INITIAL (10), WAIT (1000;
0: forever, so a single check) between checks, each check killed after LOCAL
(0: no limit), give up after GLOBAL (0: never) or after TRIES failed checks (7;
0: no limit); a check that cannot be started is a failed one. -d: the poller
is not a child of PROG (for daemons that do not reap unknown children).
See docs/notifyoncheck.md.
";

/// The poller's exit codes (nobody waits for them; they tell a tracer why it stopped).
mod code {
    pub(crate) const READY: i32 = 0;
    pub(crate) const GAVE_UP: i32 = 1;
    pub(crate) const PROG_DIED: i32 = 2;
    pub(crate) const TIMED_OUT: i32 = 3;
    pub(crate) const SYSTEM: i32 = 111;
}

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    double_fork: bool,
    fd: Option<i32>,
    initial_ms: u32,
    global_ms: u32,
    local_ms: u32,
    wait_ms: u32,
    tries: u32,
    check: Option<OsString>,
}

fn parse(args: &[OsString]) -> Result<(Opts, &[OsString]), Failure> {
    let mut o = Opts {
        double_fork: false,
        fd: None,
        initial_ms: 10,
        global_ms: 0,
        local_ms: 0,
        wait_ms: 1000,
        tries: 7,
        check: None,
    };
    let mut g = Getopt::new(args, "d3:s:T:t:w:n:c:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let arg = opt.arg.unwrap_or_default();
        let num = || parse_uint(arg.as_bytes()).ok_or_else(Failure::usage);
        match opt.letter {
            b'd' => o.double_fork = true,
            b'3' => o.fd = Some(i32::try_from(num()?).map_err(|_| Failure::usage())?),
            b's' => o.initial_ms = num()?,
            b'T' => o.global_ms = num()?,
            b't' => o.local_ms = num()?,
            b'w' => o.wait_ms = num()?,
            b'n' => o.tries = num()?,
            _ => o.check = Some(arg.to_owned()),
        }
    }
    if g.rest().is_empty() {
        return Err(Failure::usage());
    }
    Ok((o, g.rest()))
}

/// The notification descriptor: `-3`, else `./notification-fd`.
fn notification_fd(o: &Opts) -> Result<i32, Failure> {
    let n = match o.fd {
        Some(n) => return Ok(n),
        None => config::read_uint(Path::new(NOTIFICATION_FD)),
    };
    let what = format!("read ./{NOTIFICATION_FD}");
    match n {
        Setting::Set(n) => i32::try_from(n).map_err(|_| Failure::usage()),
        Setting::Absent => Err(Failure::sys(what, &Errno::ENOENT.into())),
        Setting::Invalid => Err(Failure::new(
            Exit::Usage,
            format!("invalid ./{NOTIFICATION_FD}"),
        )),
        Setting::Unreadable(e) => Err(Failure::sys(what, &e)),
    }
}

/// Entry point: `notifyoncheck [options] PROG...`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("notifyoncheck"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let f = match start(&prog, rest) {
        Ok(f) | Err(f) => f,
    };
    report::die(&prog, USAGE, &f)
}

/// Forks the poller, then execs PROG: returns only the failure to report (as the
/// daemon, or before the fork).
fn start(prog: &str, args: &[OsString]) -> Result<Failure, Failure> {
    let (o, argv) = parse(args)?;
    match lock::is_locked(Path::new(LOCK)) {
        Ok(true) => {}
        // s6-notifyoncheck's words, full stop included.
        Ok(false) => return Err(Failure::new(Exit::Usage, "s6-supervise not running.")),
        Err(e) => return Err(Failure::sys(format!("check ./{LOCK}"), &e)),
    }
    let fd = notification_fd(&o)?;
    let notif = process::inherited_fd(fd)
        .map_err(|e| Failure::sys(format!("use notification descriptor {fd}"), &e))?;
    // Taken before the fork: it names this very process, which becomes PROG.
    let daemon = process::pidfd(std::process::id().try_into().unwrap_or(i32::MAX))
        .map_err(|e| Failure::sys("pidfd_open", &e))?;
    match process::fork().map_err(|e| Failure::sys("fork", &e))? {
        None => std::process::exit(poller(prog, &o, notif, &daemon)),
        Some(child) => {
            if o.double_fork {
                // The middle process exits at once; reap it so PROG never sees it.
                let _ = waitpid(Pid::from_raw(child), None);
            }
            // Closed in PROG whatever its number, 0, 1 and 2 included, as s6 does.
            drop(notif);
            drop(daemon);
            Ok(process::chain(argv, &[]))
        }
    }
}

/// The child: doubles its fork if asked, then polls. Returns its exit code.
fn poller(prog: &str, o: &Opts, notif: OwnedFd, daemon: &OwnedFd) -> i32 {
    if o.double_fork {
        match process::fork() {
            Ok(Some(_)) => return code::READY,
            Ok(None) => {}
            Err(e) => {
                report::fatal(prog, Failure::sys("fork", &e).msg);
                return code::SYSTEM;
            }
        }
    }
    // The check programs must not hold the notification pipe open.
    let _ = fcntl(&notif, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC));
    let outcome = poll_loop(prog, o, daemon);
    match outcome {
        Ok(code::READY) => {
            if let Err(e) = process::notify_ready(notif) {
                report::fatal(prog, Failure::sys("write readiness", &e).msg);
                return code::SYSTEM;
            }
            code::READY
        }
        Ok(code::GAVE_UP) => {
            report::warn(
                prog,
                format_args!(
                    "{} failed {} times; giving up: the service stays up but not ready",
                    check_name(o),
                    o.tries
                ),
            );
            code::GAVE_UP
        }
        Ok(code::TIMED_OUT) => {
            report::warn(
                prog,
                format_args!(
                    "{} did not succeed within {} ms; giving up: the service stays up but not ready",
                    check_name(o),
                    o.global_ms
                ),
            );
            code::TIMED_OUT
        }
        Ok(other) => other,
        Err(f) => {
            report::fatal(prog, &f.msg);
            code::SYSTEM
        }
    }
}

fn check_name(o: &Opts) -> String {
    o.check
        .as_ref()
        .map_or_else(|| "./data/check".to_owned(), show)
}

/// What waiting ended with.
#[derive(Debug, PartialEq, Eq)]
enum Woken {
    /// The awaited child exited (or, for a pause, the pause is over).
    Done,
    /// The daemon died.
    DaemonDied,
    /// The local limit (a check's) passed.
    Local,
    /// The global limit passed.
    Global,
}

/// Waits until `child` exits (if given), the daemon dies, `local` or `global` passes.
fn wait(
    child: Option<&OwnedFd>,
    daemon: &OwnedFd,
    local: Option<Instant>,
    global: Option<Instant>,
) -> Result<Woken, Failure> {
    let end = match (local, global) {
        (Some(l), Some(g)) => Some(l.min(g)),
        (l, g) => l.or(g),
    };
    loop {
        let mut fds = vec![PollFd::new(daemon.as_fd(), PollFlags::POLLIN)];
        if let Some(c) = child {
            fds.push(PollFd::new(c.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, deadline::timeout(end)) {
            Ok(0) => {
                let now = Instant::now();
                return Ok(if global.is_some_and(|g| now >= g) {
                    Woken::Global
                } else if child.is_none() {
                    Woken::Done
                } else {
                    Woken::Local
                });
            }
            Ok(_) if deadline::readable(&fds[0]) => return Ok(Woken::DaemonDied),
            Ok(_) => return Ok(Woken::Done),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(Failure::sys("poll", &e.into())),
        }
    }
}

/// The end of a limit of `ms` milliseconds from now; 0 means no limit.
fn limit(ms: u32) -> Option<Instant> {
    (ms > 0).then(|| pause(ms))
}

/// The end of a pause of `ms` milliseconds from now (0: no pause).
fn pause(ms: u32) -> Instant {
    Instant::now() + Duration::from_millis(u64::from(ms))
}

/// The end of the pause between two checks: `-w 0` is no end at all, as in
/// s6-notifyoncheck (whose 0 means "infinite" for `-w` as for `-t` and `-T`).
fn between_checks(ms: u32) -> Option<Instant> {
    limit(ms)
}

/// Whether `execlineb` is in `PATH` (it reads `-c` strings when present).
fn have_execline() -> bool {
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|d| {
            d.join("execlineb").metadata().is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// Starts one check, in its own process group so that it can be killed whole;
/// on failure, the name of the program that could not be started.
fn spawn_check(o: &Opts) -> Result<Child, (String, std::io::Error)> {
    let mut cmd = match &o.check {
        None => Command::new("./data/check"),
        Some(line) if have_execline() => {
            let mut c = Command::new("execlineb");
            c.arg("-Pc").arg(line);
            c
        }
        Some(line) => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(line);
            c
        }
    };
    cmd.process_group(0);
    cmd.spawn().map_err(|e| (show(cmd.get_program()), e))
}

/// Runs one check: `Done` if it exited 0, `Local` if it failed, ran out of time
/// or could not be started (a failed try, with a warning, as in s6), or why
/// polling must stop.
fn run_check(
    prog: &str,
    o: &Opts,
    daemon: &OwnedFd,
    global: Option<Instant>,
) -> Result<Woken, Failure> {
    let mut child = match spawn_check(o) {
        Ok(c) => c,
        Err((name, e)) => {
            report::warn(prog, Failure::sys(format!("spawn {name}"), &e).msg);
            return Ok(Woken::Local);
        }
    };
    let pid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let pidfd = process::pidfd(pid).map_err(|e| Failure::sys("pidfd_open", &e))?;
    let woken = wait(Some(&pidfd), daemon, limit(o.local_ms), global)?;
    if woken != Woken::Done {
        let _ = process::killpg(pid, Signal::SIGKILL as i32);
    }
    let status = child.wait().map_err(|e| Failure::sys("wait", &e))?;
    Ok(match woken {
        Woken::Done if status.success() => Woken::Done,
        Woken::Done | Woken::Local => Woken::Local,
        other => other,
    })
}

/// Polls until a check succeeds: the poller's exit code.
fn poll_loop(prog: &str, o: &Opts, daemon: &OwnedFd) -> Result<i32, Failure> {
    let global = limit(o.global_ms);
    let stop = |w: Woken| match w {
        Woken::DaemonDied => Some(code::PROG_DIED),
        Woken::Global => Some(code::TIMED_OUT),
        _ => None,
    };
    if let Some(c) = stop(wait(None, daemon, Some(pause(o.initial_ms)), global)?) {
        return Ok(c);
    }
    let mut failed = 0u32;
    loop {
        match run_check(prog, o, daemon, global)? {
            Woken::Done => return Ok(code::READY),
            w => {
                if let Some(c) = stop(w) {
                    return Ok(c);
                }
            }
        }
        failed += 1;
        if o.tries > 0 && failed >= o.tries {
            return Ok(code::GAVE_UP);
        }
        if let Some(c) = stop(wait(None, daemon, between_checks(o.wait_ms), global)?) {
            return Ok(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Opts, Failure> {
        let v: Vec<OsString> = a.iter().map(OsString::from).collect();
        parse(&v).map(|(o, _)| o)
    }

    #[test]
    fn defaults_are_s6s() {
        let o = p(&["prog"]).unwrap();
        assert_eq!(
            o,
            Opts {
                double_fork: false,
                fd: None,
                initial_ms: 10,
                global_ms: 0,
                local_ms: 0,
                wait_ms: 1000,
                tries: 7,
                check: None
            }
        );
    }

    #[test]
    fn options() {
        let o = p(&[
            "-d",
            "-3",
            "5",
            "-s0",
            "-T",
            "9",
            "-t",
            "8",
            "-w",
            "7",
            "-n",
            "0",
            "-c",
            "nc -z x 1",
            "prog",
        ])
        .unwrap();
        assert!(o.double_fork);
        assert_eq!(
            (
                o.fd,
                o.initial_ms,
                o.global_ms,
                o.local_ms,
                o.wait_ms,
                o.tries
            ),
            (Some(5), 0, 9, 8, 7, 0)
        );
        assert_eq!(o.check, Some(OsString::from("nc -z x 1")));
        for bad in [&["-n", "x", "p"][..], &[], &["-q", "p"], &["-3"]] {
            assert_eq!(p(bad).unwrap_err().exit, Exit::Usage);
        }
    }
}
