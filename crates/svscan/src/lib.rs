//! `svscan [-c max] [-t rescan] [-d notif] [DIR]` (s6-svscan): runs one
//! `supervise` per service directory of a scan directory (and one per `log/`),
//! holds the pipes between services and their loggers, reaps every child, and can
//! be PID 1.
//!
//! Invariants: one scanner per directory (fcntl lock on `.s6-svscan/lock`, exit 100
//! otherwise); one single-threaded poll loop over signalfd + control FIFO + the
//! pidfds of foreign supervisors, with a deadline only when a restart or a rescan
//! is due; supervise is started from this very executable, never through `PATH`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod scanner;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, RawFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::stat::{Mode, umask};
use svkit_core::process::{self, Spawn};
use svkit_core::report::{self, Failure, show, strerror};
use svkit_core::servicedir::{
    SCAN_CONTROL, SCAN_CRASH, SCAN_CTL_DIR, SCAN_FINISH, SCAN_LOCK, SCAN_TIMEOUT_STOP,
};
use svkit_core::{Exit, config, control, getopt, lock, poll, signals};

use scanner::{Phase, Scanner, Settings};

const USAGE: &str =
    "[ -c max ] [ -t rescan ] [ -d notif ] [ -X consoleholder ] [ -P 1|t|T ] [ scandir ]";
const HELP: &str = "\
svscan [ -c max ] [ -t rescan ] [ -d notif ] [ -X fd ] [ -P 1|t|T ] [ DIR ]
Run a supervisor for every service directory in DIR (default: the current
directory), and for its log/ subdirectory, connected by a pipe svscan holds.
  -c max     supervise at most max services (default: no limit)
  -t ms      rescan every ms milliseconds (default: only when told, svscanctl -a)
  -d fd      write a newline to fd once ready, then close it
  -X fd      the console: stderr of the catch-all logger s6-svscan-log's supervisor,
             and svscan's own stdout and stderr once everything else has stopped
  -P style   prefix mode: every service without a log/ gets its stdout and stderr
             through a pipe to `log p[NAME] 1`, so its lines reach svscan's stdout
             as `[NAME] line` (style 1), with a TAI64N (t) or ISO 8601 (T) stamp first
Control it with svscanctl. See docs/svscan.md.
";

/// Signals the scanner handles, all through the signalfd.
const SIGNALS: [Signal; 11] = [
    Signal::SIGCHLD,
    Signal::SIGALRM,
    Signal::SIGABRT,
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
    Signal::SIGWINCH,
];

#[derive(Debug, Default, PartialEq, Eq)]
struct Opts {
    max: Option<usize>,
    rescan: Option<Duration>,
    notif: Option<RawFd>,
    console: Option<RawFd>,
    prefix: Option<Vec<OsString>>,
    dir: Option<OsString>,
}

/// Entry point.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let argv0 = args.first().cloned().unwrap_or_else(|| "svscan".into());
    let prog = report::prog_name(&argv0);
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let opts = match parse(rest) {
        Ok(o) => o,
        Err(f) => return report::die(&prog, USAGE, &f),
    };
    let (mut scanner, setup) = match start(&prog, &argv0, &opts) {
        Ok(v) => v,
        Err(f) => return report::die(&prog, USAGE, &f),
    };
    let nofile = setup.nofile;
    let end = run_loop(&prog, &mut scanner, &setup);
    // Let go of the log pipes and the lock before handing over.
    drop(scanner);
    drop(setup);
    // Whatever the outcome, the scanner's last act is an exec, as s6-svscan's:
    // `.s6-svscan/finish` after a normal end, `.s6-svscan/crash` after a fatal error.
    let (script, failure) = match end {
        Ok(()) => (SCAN_FINISH, None),
        Err(f) => (SCAN_CRASH, Some(f)),
    };
    if let Some(f) = &failure {
        report::warn(&prog, format_args!("{}; trying {script}", f.msg));
    }
    let e = Spawn {
        nofile,
        ..Spawn::default()
    }
    .exec(Path::new(script), OsStr::new(script), &[]);
    match failure {
        None if e.kind() == io::ErrorKind::NotFound => ExitCode::SUCCESS,
        None => report::die(
            &prog,
            USAGE,
            &Failure::sys(format!("exec {SCAN_FINISH}"), &e),
        ),
        Some(f) => {
            if e.kind() != io::ErrorKind::NotFound {
                report::warn(
                    &prog,
                    format_args!("unable to exec {SCAN_CRASH}: {}", strerror(&e)),
                );
            }
            report::die(&prog, USAGE, &Failure::new(Exit::System, f.msg))
        }
    }
}

fn parse(args: &[OsString]) -> Result<Opts, Failure> {
    let mut o = Opts::default();
    let mut g = getopt::Getopt::new(args, "c:t:d:X:P:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let arg = opt.arg.map(OsStr::as_encoded_bytes).unwrap_or_default();
        if opt.letter == b'P' {
            o.prefix = Some(match arg {
                b"1" => Vec::new(),
                b"t" | b"T" => vec![OsString::from(String::from_utf8_lossy(arg).into_owned())],
                _ => return Err(Failure::new(Exit::Usage, "prefix style must be 1, t or T")),
            });
            continue;
        }
        let n = config::parse_uint(arg).ok_or_else(Failure::usage)?;
        match opt.letter {
            b'c' => o.max = Some(usize::try_from(n).unwrap_or(usize::MAX).max(1)),
            b't' => o.rescan = (n > 0).then(|| Duration::from_millis(u64::from(n))),
            b'X' => o.console = RawFd::try_from(n).ok(),
            _ => {
                if n < 3 {
                    return Err(Failure::new(
                        Exit::Usage,
                        "notification fd must be 3 or more",
                    ));
                }
                o.notif = RawFd::try_from(n).ok();
            }
        }
    }
    match g.rest() {
        [] => {}
        [d] => o.dir = Some(d.clone()),
        _ => return Err(Failure::usage()),
    }
    Ok(o)
}

/// This executable, to start `supervise` from: never looked up through `PATH`.
fn own_executable(argv0: &OsStr) -> Result<PathBuf, Failure> {
    if let Ok(p) = std::env::current_exe() {
        return Ok(p);
    }
    // No /proc (early boot): argv[0] still works if it is a path.
    if argv0.as_encoded_bytes().contains(&b'/') {
        return std::fs::canonicalize(argv0)
            .map_err(|e| Failure::sys(format!("find my executable {}", show(argv0)), &e));
    }
    Err(Failure::new(
        Exit::System,
        "unable to find my own executable: no /proc/self/exe and argv[0] is not a path",
    ))
}

/// What the scanner holds for its whole life.
struct Setup {
    _lock: File,
    control: File,
    _control_writer: File,
    signals: SignalFd,
    /// Our `RLIMIT_NOFILE` before we raised it, restored in every child.
    nofile: Option<(u64, u64)>,
}

/// Everything before the loop: a failure here is a plain fatal error (exit 100 or
/// 111), not a crash.
fn start(prog: &str, argv0: &OsStr, o: &Opts) -> Result<(Scanner, Setup), Failure> {
    let exe = own_executable(argv0)?;
    // Claimed first, before we open anything that could take its number.
    let notif = o
        .notif
        .map(|fd| {
            process::inherited_fd(fd).map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    format!("invalid notification fd {fd}: {}", strerror(&e)),
                )
            })
        })
        .transpose()?;
    let console = o
        .console
        .map(|fd| {
            process::inherited_fd(fd).map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    format!("invalid console fd {fd}: {}", strerror(&e)),
                )
            })
        })
        .transpose()?;
    if let Some(dir) = &o.dir {
        std::env::set_current_dir(dir)
            .map_err(|e| Failure::sys(format!("chdir to {}", show(dir)), &e))?;
    }
    let mut setup = set_up(prog)?;
    // Orphans of our supervisors' services (and their children) come back to us
    // to be reaped, as they would to PID 1. As PID 1 this is implicit.
    if std::process::id() != 1 {
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let nofile = process::raise_nofile();
    setup.nofile = nofile;
    if let Some(fd) = notif {
        if let Err(e) = process::notify_ready(fd) {
            report::warn(
                prog,
                format_args!("unable to notify readiness: {}", strerror(&e)),
            );
        }
    }
    let supervise = if prog.starts_with("s6-") {
        "s6-supervise"
    } else {
        "supervise"
    };
    let mut s = Scanner::new(Settings {
        prog: prog.to_owned(),
        exe,
        supervise,
        nofile,
        max: o.max,
        rescan_every: o.rescan,
        console,
        prefix: o.prefix.clone(),
    });
    s.scan(Instant::now());
    Ok((s, setup))
}

/// `.s6-svscan/`, its lock and its control FIFO; signals into a signalfd.
fn set_up(prog: &str) -> Result<Setup, Failure> {
    let old = umask(Mode::empty());
    let r = (|| {
        match std::fs::DirBuilder::new().mode(0o700).create(SCAN_CTL_DIR) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if !std::fs::metadata(SCAN_CTL_DIR).is_ok_and(|m| m.is_dir()) {
                    return Err(Failure::new(
                        Exit::Usage,
                        format!("{SCAN_CTL_DIR} exists and is not a directory"),
                    ));
                }
            }
            Err(e) => return Err(Failure::sys(format!("mkdir {SCAN_CTL_DIR}"), &e)),
        }
        let lock = match lock::take(Path::new(SCAN_LOCK), 0o600) {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(Failure::new(
                    Exit::Usage,
                    format!("another instance of {prog} is already running on the same directory"),
                ));
            }
            Err(e) => return Err(Failure::sys(format!("lock {SCAN_LOCK}"), &e)),
        };
        let (control, writer) = control::listen(SCAN_CONTROL)?;
        Ok((lock, control, writer))
    })();
    umask(old);
    let (lock, control, writer) = r?;
    let signals = poll::signalfd(&SIGNALS)?;
    Ok(Setup {
        _lock: lock,
        control,
        _control_writer: writer,
        signals,
        nofile: None,
    })
}

fn run_loop(prog: &str, s: &mut Scanner, setup: &Setup) -> Result<(), Failure> {
    let nofile = setup.nofile;
    let mut buf = [0u8; 256];
    while !s.done() {
        let (sig_in, ctl_in, gone) = {
            let foreign = s.foreign();
            let mut fds = vec![
                PollFd::new(setup.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(setup.control.as_fd(), PollFlags::POLLIN),
            ];
            fds.extend(
                foreign
                    .iter()
                    .map(|(_, _, fd)| PollFd::new(*fd, PollFlags::POLLIN)),
            );
            match poll(&mut fds, poll::timeout(s.deadline())) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Failure::sys("poll", &e.into())),
            }
            let gone: Vec<_> = foreign
                .iter()
                .zip(&fds[2..])
                .filter(|(_, p)| poll::readable(p))
                .map(|((k, r, _), _)| (*k, *r))
                .collect();
            (poll::readable(&fds[0]), poll::readable(&fds[1]), gone)
        };
        let now = Instant::now();
        if sig_in {
            while let Ok(Some(info)) = setup.signals.read_signal() {
                let sig = i32::try_from(info.ssi_signo).unwrap_or(0);
                on_signal(prog, s, sig, nofile, now);
            }
        }
        if ctl_in {
            loop {
                match nix::unistd::read(&setup.control, &mut buf) {
                    Ok(0) | Err(Errno::EAGAIN) => break,
                    Ok(n) => {
                        for &c in &buf[..n] {
                            on_control(prog, s, c, now);
                        }
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) => {
                        report::warn(
                            prog,
                            format_args!("unable to read {SCAN_CONTROL}: {}", e.desc()),
                        );
                        break;
                    }
                }
            }
        }
        for (key, role) in gone {
            s.foreign_gone(key, role, now);
        }
        s.tick(Instant::now());
        s.release_catchall();
    }
    if s.phase == Phase::Aborting {
        s.reap(Instant::now()); // one last pass, as s6
    }
    let left = s.supervisors();
    if left > 0 && s.phase == Phase::Stopping {
        report::warn(
            prog,
            format_args!("{left} supervisors still running after {SCAN_TIMEOUT_STOP}; going on"),
        );
    }
    Ok(())
}

/// A control byte (s6-svscanctl's letters).
fn on_control(prog: &str, s: &mut Scanner, c: u8, now: Instant) {
    match c {
        b'z' => s.reap(now),
        b'a' => s.scan(now),
        b'b' => s.abort(),
        b'h' => {
            s.scan(now);
            s.prune(Signal::SIGHUP);
        }
        b'i' | b't' => s.stop_all(Signal::SIGHUP),
        b'q' => s.stop_all(Signal::SIGTERM),
        b'n' => s.prune(Signal::SIGHUP),
        b'N' => s.prune(Signal::SIGTERM),
        _ => report::warn(
            prog,
            format_args!("unknown control command: {}", c.escape_ascii()),
        ),
    }
}

/// A signal: SIGCHLD reaps, SIGALRM rescans, SIGABRT aborts; the others run
/// `.s6-svscan/SIG<NAME>` if it exists, else s6's default (HUP = `h`, INT and
/// TERM = `t`, QUIT = `q`; USR1, USR2, PWR, WINCH: nothing).
fn on_signal(prog: &str, s: &mut Scanner, sig: i32, nofile: Option<(u64, u64)>, now: Instant) {
    match Signal::try_from(sig) {
        Ok(Signal::SIGCHLD) => return s.reap(now),
        Ok(Signal::SIGALRM) => return s.scan(now),
        Ok(Signal::SIGABRT) => return s.abort(),
        _ => {}
    }
    let script = format!("{SCAN_CTL_DIR}/SIG{}", signals::name(sig).unwrap_or("???"));
    let spawned = Spawn {
        nofile,
        ..Spawn::default()
    }
    .run(Path::new(&script), OsStr::new(&script), &[]);
    match spawned {
        Ok(_) => return, // reaped later, like any child
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => report::warn(
            prog,
            format_args!("unable to spawn {script}: {}", strerror(&e)),
        ),
    }
    match Signal::try_from(sig) {
        Ok(Signal::SIGHUP) => on_control(prog, s, b'h', now),
        Ok(Signal::SIGINT | Signal::SIGTERM) => on_control(prog, s, b't', now),
        Ok(Signal::SIGQUIT) => on_control(prog, s, b'q', now),
        _ => {}
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
    fn options() {
        let o = p(&["-c", "10000", "-t5000", "-d", "3", "scan"]).unwrap();
        assert_eq!(o.max, Some(10000));
        assert_eq!(o.rescan, Some(Duration::from_secs(5)));
        assert_eq!(o.notif, Some(3));
        assert_eq!(o.dir, Some("scan".into()));
        assert_eq!(p(&[]).unwrap(), Opts::default());
        let o = p(&["-X", "5", "-P", "T"]).unwrap();
        assert_eq!(o.console, Some(5));
        assert_eq!(o.prefix, Some(vec![OsString::from("T")]));
        assert_eq!(p(&["-P1"]).unwrap().prefix, Some(vec![]));
        for bad in [
            &["-d", "2"][..],
            &["-c", "x"],
            &["a", "b"],
            &["-P", "x"],
            &["-Z", "3"],
        ] {
            assert!(p(bad).is_err(), "{bad:?}");
        }
    }
}
