//! `supervise DIR` (s6-supervise): keeps one service running and owns its
//! `supervise/` directory — lock, control FIFO, status file, death tally — and the
//! `event/` fifodir.
//!
//! Invariants: one supervisor per directory (fcntl lock, exit 100 otherwise); one
//! single-threaded poll loop over signalfd + control FIFO + notification pipe, with
//! a deadline only when something is due, so an idle supervisor never wakes up;
//! nothing a client writes can make it panic or exit, only the documented commands.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[doc(hidden)]
pub mod fuzz;
pub mod machine;
mod world;

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::stat::{Mode, umask};
use svkit_core::report::{self, Failure, show};
use svkit_core::servicedir::{CONTROL, DOWN, EVENT_DIR, LOCK, STATUS, SUPERVISE_DIR};
use svkit_core::{Exit, control, deathtally, event, getopt, lock, poll, process, status};

use machine::{Input, Machine, Sig};
use world::Real;

const USAGE: &str = "dir";
const HELP: &str = "\
supervise DIR: run DIR/run, restart it when it dies, run DIR/finish after each death.
Control it with svc, read it with svstat; see docs/supervise.md.
";

/// Entry point: `supervise DIR`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("supervise"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let dir = match rest {
        [d] if !d.is_empty() => d,
        [dd, d] if dd == "--" && !d.is_empty() => d,
        _ => return report::die(&prog, USAGE, &Failure::usage()),
    };
    match supervise(&prog, dir) {
        Ok(()) => ExitCode::SUCCESS,
        Err((who, f)) => report::die(&who, USAGE, &f),
    }
}

/// The descriptors a running supervisor owns.
struct Setup {
    _lock: File,
    control: File,
    _control_writer: File,
    signals: SignalFd,
}

/// Runs the supervisor until it exits. Errors carry the program name to print,
/// which names the directory once we are in it (`supervise DIR: fatal: …`).
fn supervise(prog: &str, dir: &OsStr) -> Result<(), (String, Failure)> {
    std::env::set_current_dir(dir).map_err(|e| {
        (
            prog.to_owned(),
            Failure::sys(format!("chdir to {}", show(dir)), &e),
        )
    })?;
    let who = format!("{prog} {}", show(dir));
    let setup = set_up(prog).map_err(|f| (who.clone(), f))?;
    let mut world = Real::new(who.clone(), dir.to_owned());
    reclaim_orphans(&mut world);
    let normally_down = Path::new(DOWN).exists();
    let mut m = Machine::start(&mut world, normally_down);
    run_loop(&mut m, &mut world, &setup).map_err(|f| (who, f))
}

/// Never run a service twice: if the previous supervisor of this directory died
/// (SIGKILL, OOM) it left its `run` (or `finish`) running. That process is ours
/// to stop when the status file names it — the session leader that started when
/// the status says (run and finish are started with setsid; the start time rules
/// out a recycled pid) — and also when the supervisor died between its fork and
/// its status write, so that the file still names an older run: then it is a
/// session leader working in this directory among the children of our
/// ancestors (the scanner, or the subreaper that inherited it). Each one's process group gets
/// the down signal and SIGCONT, then SIGKILL after `timeout-kill` (5 s if unset),
/// before anything new is started. Called with the lock held, before the first
/// status write; costs nothing when no supervisor ran here since the boot.
fn reclaim_orphans(w: &mut Real) {
    use machine::World;
    let Ok(old) = status::read_file(Path::new(STATUS)) else {
        return;
    };
    let recorded = i32::try_from(old.pid).ok().filter(|&pid| {
        process::proc_info(pid).is_ok_and(|info| {
            is_orphan(pid, &info) && info.started.abs_diff(old.stamp.unix_secs()) <= 2
        })
    });
    let mut pids: Vec<i32> = recorded.into_iter().collect();
    // Nothing from before this boot can still run (a tree on disk after a crash).
    if process::boot_time().is_ok_and(|boot| old.stamp.unix_secs() >= boot) {
        pids.extend(
            unrecorded_orphans()
                .into_iter()
                .filter(|p| Some(*p) != recorded),
        );
    }
    for pid in pids {
        w.warn(&format!(
            "the previous supervisor left pid {pid} running: stopping its process group before starting anew"
        ));
        let sig = w.down_signal();
        let _ = process::killpg(pid, sig);
        let _ = process::killpg(pid, Signal::SIGCONT as i32);
        let grace = w.timeout_kill().unwrap_or(Duration::from_secs(5));
        if !process::wait_exit(pid, grace).unwrap_or(false) {
            let _ = process::killpg(pid, Signal::SIGKILL as i32);
            if !process::wait_exit(pid, Duration::from_secs(5)).unwrap_or(false) {
                w.warn(&format!("pid {pid} survived SIGKILL; starting anyway"));
            }
        }
    }
}

/// A live session leader other than us and PID 1: how `run` and `finish` start.
fn is_orphan(pid: i32, info: &process::ProcInfo) -> bool {
    pid > 1
        && u32::try_from(pid).is_ok_and(|p| p != std::process::id())
        && info.session == pid
        && info.pgrp == pid
        && info.state != b'Z'
}

/// Session leaders without a controlling terminal working in this directory,
/// among the children of our ancestors (ancestors excluded): a `run` or
/// `finish` whose supervisor died before recording it was inherited by the
/// nearest subreaper above that supervisor — the scanner, or whatever started
/// the scanner, or PID 1 — which is one of our ancestors too when we replace it.
/// `run` and `finish` are started with `setsid` and no terminal; a shell in a
/// terminal that someone left in the directory has one, and our own ancestors
/// (a shell that started us, `sudo`) are never candidates. A daemon that the
/// service detached (`setsid`) and that still works in the directory is one:
/// it is the service's, and stopping it keeps the service from running twice.
/// A handful of `children` lists, not a walk of `/proc`.
fn unrecorded_orphans() -> Vec<i32> {
    let Ok(here) = std::fs::metadata(".") else {
        return Vec::new();
    };
    let mut ancestors = Vec::new();
    let mut ancestor = nix::unistd::getppid().as_raw();
    while ancestor >= 1 && ancestors.len() < 64 && !ancestors.contains(&ancestor) {
        ancestors.push(ancestor);
        if ancestor == 1 {
            break;
        }
        ancestor = process::proc_info(ancestor).map_or(0, |i| i.ppid);
    }
    ancestors
        .iter()
        .flat_map(|&a| {
            children_of(a)
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .filter(|pid| !ancestors.contains(pid))
        .filter(|pid| {
            std::fs::metadata(format!("/proc/{pid}/cwd"))
                .is_ok_and(|m| (m.dev(), m.ino()) == (here.dev(), here.ino()))
        })
        .filter(|&pid| {
            process::proc_info(pid).is_ok_and(|info| is_orphan(pid, &info) && info.tty == 0)
        })
        .collect()
}

/// The children of every thread of `pid`, as `/proc` lists them.
fn children_of(pid: i32) -> String {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|tasks| {
            tasks
                .filter_map(Result::ok)
                .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Creates `supervise/` and `event/`, takes the lock, opens the control FIFO,
/// blocks our signals into a signalfd: s6-supervise's start-up, in its order.
fn set_up(prog: &str) -> Result<Setup, Failure> {
    process::sanitize_stdio().map_err(|e| Failure::sys("open /dev/null", &e))?;
    let old_mask = umask(Mode::empty());
    let r = (|| {
        make_dir(EVENT_DIR, true)?;
        make_dir(SUPERVISE_DIR, false)?;
        let lock = match lock::take(Path::new(LOCK), 0o644) {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(Failure::new(
                    Exit::Usage,
                    format!("another instance of {prog} is already running"),
                ));
            }
            Err(e) => return Err(Failure::sys(format!("lock {LOCK}"), &e)),
        };
        let (control, writer) = control::listen(CONTROL)?;
        Ok((lock, control, writer))
    })();
    umask(old_mask);
    let (lock, control, writer) = r?;

    let signals = poll::signalfd(&[
        Signal::SIGCHLD,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGINT,
    ])?;
    deathtally::reset(Path::new("."))
        .map_err(|e| Failure::sys("truncate supervise/death_tally", &e))?;
    Ok(Setup {
        _lock: lock,
        control,
        _control_writer: writer,
        signals,
    })
}

/// s6's `trymkdir`: create `name` (0700); an existing directory, or a symlink to
/// one, is fine; a dangling symlink gets its target created. A fifodir that we
/// create gets mode 03730 and our group.
fn make_dir(name: &str, fifodir: bool) -> Result<(), Failure> {
    let created = match std::fs::DirBuilder::new().mode(0o700).create(name) {
        Ok(()) => true,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            match std::fs::metadata(name) {
                Ok(m) if m.is_dir() => false,
                Ok(_) => {
                    return Err(Failure::new(
                        Exit::Usage,
                        format!("{name} exists and is not a directory"),
                    ));
                }
                // A dangling symlink: create what it points to.
                Err(_) => {
                    let target = std::fs::read_link(name)
                        .map_err(|e| Failure::sys(format!("mkdir {name}"), &e))?;
                    std::fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&target)
                        .map_err(|e| Failure::sys(format!("mkdir {}", show(&target)), &e))?;
                    true
                }
            }
        }
        Err(e) => return Err(Failure::sys(format!("mkdir {name}"), &e)),
    };
    if created && fifodir {
        event::claim_fifodir(Path::new(name))
            .map_err(|e| Failure::sys(format!("set up {name}"), &e))?;
    }
    Ok(())
}

/// The poll loop: readiness first (it was written before any death that follows
/// it), then signals, then control bytes, then the deadline — the machine's, or a
/// status record waiting to be written again.
fn run_loop(m: &mut Machine, w: &mut Real, s: &Setup) -> Result<(), Failure> {
    let mut buf = [0u8; 512];
    while !m.done() {
        let (sig_in, ctl_in, note_in) = {
            let note: Option<&OwnedFd> = w.notification();
            let mut fds = [
                PollFd::new(s.signals.as_fd(), PollFlags::POLLIN),
                PollFd::new(s.control.as_fd(), PollFlags::POLLIN),
                PollFd::new(
                    note.map_or(s.control.as_fd(), AsFd::as_fd),
                    PollFlags::POLLIN,
                ),
            ];
            let n = if note.is_some() { 3 } else { 2 };
            let deadline = match (m.deadline(), w.status_retry()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            match poll(&mut fds[..n], poll::timeout(deadline)) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Failure::sys("poll", &e.into())),
            }
            (
                poll::readable(&fds[0]),
                poll::readable(&fds[1]),
                n == 3 && poll::readable(&fds[2]),
            )
        };
        if note_in && w.read_notification(&mut buf) == Some(true) {
            m.handle(w, Input::Ready);
        }
        if sig_in {
            handle_signals(m, w, &s.signals);
        }
        if ctl_in {
            handle_control(m, w, &s.control, &mut buf);
        }
        let now = Instant::now();
        if m.deadline().is_some_and(|d| d <= now) {
            m.handle(w, Input::Timeout);
        }
        w.retry_status(now);
    }
    Ok(())
}

fn handle_signals(m: &mut Machine, w: &mut Real, sfd: &SignalFd) {
    while let Ok(Some(info)) = sfd.read_signal() {
        let input = match Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) {
            Ok(Signal::SIGCHLD) => {
                while let Ok(Some((pid, wstat))) = process::reap() {
                    m.handle(w, Input::Died { pid, wstat });
                }
                continue;
            }
            Ok(Signal::SIGTERM) => Sig::Term,
            Ok(Signal::SIGHUP) => Sig::Hup,
            Ok(Signal::SIGQUIT) => Sig::Quit,
            Ok(Signal::SIGINT) => Sig::Int,
            _ => continue,
        };
        m.handle(w, Input::Signal(input));
    }
}

/// Reads control bytes until the FIFO is empty; each byte is one command.
fn handle_control(m: &mut Machine, w: &mut Real, ctl: &File, buf: &mut [u8]) {
    loop {
        match nix::unistd::read(ctl, buf) {
            Ok(0) | Err(Errno::EAGAIN) => return,
            Ok(n) => {
                for &c in &buf[..n] {
                    m.handle(w, Input::Control(c));
                    if m.done() {
                        return;
                    }
                }
            }
            Err(Errno::EINTR) => {}
            Err(e) => {
                w.warn_io("read supervise/control", &e.into());
                return;
            }
        }
    }
}
