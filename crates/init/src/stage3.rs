//! Stage 3: the end of the container. `.s6-svscan/finish` (exec'd by the scanner
//! as PID 1 once the supervisors are gone, or after `timeout-stop`) runs
//! cont-finish.d, sends TERM to every process left, KILL after `S6_KILL_GRACETIME`,
//! and exits with the container's exit code. Also the scanner's signal hooks.
//!
//! Invariants: as PID 1 (or the subreaper we became) every dead child is reaped all
//! along; the grace time is an upper bound — the sweep ends as soon as no process
//! is left; when not PID 1, only our own descendants are signalled, never
//! `kill(-1)`.

use std::fs;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use svkit_core::overlay::layout;
use svkit_core::process;
use svkit_core::report;

use crate::control::{exit_code, halt};
use crate::settings::{Log, contenv_uint};

const PROG: &str = "s6-svscan-finish";

/// The signals PID 1 ignores while it finishes (they are read and dropped).
const IGNORED: [Signal; 9] = [
    Signal::SIGCHLD,
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGPWR,
    Signal::SIGWINCH,
];

/// `.s6-svscan/finish` (or `crash`, after a scanner failure: no cont-finish.d).
pub(crate) fn finish(crashed: bool) -> ExitCode {
    // Blocked and read, so TERM from `docker stop` cannot kill us mid-way, and every
    // dead child raises a readable event.
    let sigfd = svkit_core::poll::signalfd(&IGNORED).ok();
    let log = Log::from_contenv(PROG);
    if crashed {
        report::warn(PROG, "the scanner crashed: stopping everything");
    } else {
        // Normally run already, by s6-rc bringing legacy-cont-init down.
        crate::legacy::cont_finish(&crate::stage2::etc(), &log);
    }
    let grace = Duration::from_millis(contenv_uint("S6_KILL_GRACETIME", 3000).min(300_000));
    sweep(grace, &log, sigfd.as_ref());
    if contenv_uint("S6_SYNC_DISKS", 0) != 0 {
        nix::unistd::sync();
    }
    if crashed {
        return ExitCode::from(111);
    }
    ExitCode::from(exit_code())
}

/// Every process we may signal: all of them as PID 1, our descendants otherwise.
fn signal_all(sig: Signal) {
    if std::process::id() == 1 {
        let _ = process::kill(-1, sig as i32);
        return;
    }
    for pid in descendants() {
        let _ = process::kill(pid, sig as i32);
    }
}

/// Our descendants, from `/proc`'s parent links.
fn descendants() -> Vec<i32> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let mut parents = Vec::new();
    if let Ok(rd) = fs::read_dir("/proc") {
        for e in rd.filter_map(Result::ok) {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let ppid = fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')?
                        .1
                        .split_whitespace()
                        .nth(1)?
                        .parse::<i32>()
                        .ok()
                });
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut out = Vec::new();
    let mut frontier = vec![me];
    while let Some(p) = frontier.pop() {
        for &(c, _) in parents.iter().filter(|(_, pp)| *pp == p) {
            out.push(c);
            frontier.push(c);
        }
    }
    out
}

/// Reaps until no child is left (true) or `deadline` passes (false).
fn reap_until_none(deadline: Instant, sigfd: Option<&nix::sys::signalfd::SignalFd>) -> bool {
    loop {
        match process::reap() {
            Ok(Some(_)) => continue,
            Err(_) => return true, // ECHILD: nothing left
            Ok(None) => {}
        }
        if Instant::now() >= deadline {
            return false;
        }
        match sigfd {
            Some(fd) => {
                let mut fds = [nix::poll::PollFd::new(
                    std::os::fd::AsFd::as_fd(fd),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, svkit_core::poll::timeout(Some(deadline)));
                while let Ok(Some(_)) = fd.read_signal() {}
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// TERM (and CONT) to everything left; KILL to whatever survives `grace`.
fn sweep(grace: Duration, log: &Log, sigfd: Option<&nix::sys::signalfd::SignalFd>) {
    log.info("[s6-finish] sending all processes the TERM signal.");
    if reap_until_none(Instant::now(), sigfd) {
        return;
    }
    signal_all(Signal::SIGTERM);
    signal_all(Signal::SIGCONT);
    if reap_until_none(Instant::now() + grace, sigfd) {
        return;
    }
    log.info("[s6-finish] sending all processes the KILL signal and exiting.");
    signal_all(Signal::SIGKILL);
    if !reap_until_none(Instant::now() + Duration::from_secs(5), sigfd) {
        log.warn("some processes survived SIGKILL");
    }
}

/// `.s6-svscan/SIG<NAME>`: forward to the CMD if `S6_CMD_RECEIVE_SIGNALS` put its
/// pid in `/run/s6/cmdpid`; otherwise TERM, INT, USR1, USR2 and PWR stop the
/// container, QUIT and WINCH do nothing (s6-overlay's map; INT is a reboot there).
pub(crate) fn signal_hook(name: &str) -> ExitCode {
    let sig = svkit_core::signals::parse(name.as_bytes()).and_then(|s| Signal::try_from(s).ok());
    let Some(sig) = sig else {
        return ExitCode::from(100);
    };
    let cmdpid = fs::read_to_string(&layout().cmdpid_file)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok());
    if let Some(pid) = cmdpid.filter(|_| crate::stage2::forwarded(sig)) {
        let _ = process::kill(pid, sig as i32);
        return ExitCode::SUCCESS;
    }
    match sig {
        Signal::SIGTERM | Signal::SIGINT | Signal::SIGUSR1 | Signal::SIGUSR2 | Signal::SIGPWR => {
            let _ = halt();
        }
        _ => {}
    }
    ExitCode::SUCCESS
}
