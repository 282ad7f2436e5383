//! The transitions: bring services up (dependencies first, independent ones in
//! parallel) or down (dependents first), as `s6-rc change` does.
//!
//! Invariants: a service starts only once every dependency is up, and stops only
//! once nothing up in the transition depends on it; a service whose dependency
//! failed is not started; one poll loop waits on every running oneshot (its
//! pidfd), every longrun being changed (its event subscription, made before its
//! status is read and its supervisor told), the signals that interrupt, and the
//! nearest deadline; a state file changes only when a transition succeeded.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use svkit_core::event::{Subscription, byte};
use svkit_core::process::{self, Spawn};
use svkit_core::report::{self, Failure, show, strerror};
use svkit_core::servicedir::NOTIFICATION_FD;
use svkit_core::{control, status};

use crate::graph::Graph;
use crate::live::Live;
use crate::source::Kind;

/// How a transition is run.
#[derive(Debug)]
pub(crate) struct Settings {
    /// Program name for messages.
    pub(crate) prog: String,
    /// 0 quiet, 1 warnings (default), 2 a line per service started or stopped.
    pub(crate) verbosity: u32,
    /// Print what would be done, change nothing.
    pub(crate) dry_run: bool,
    /// The whole transition's deadline (`-t`).
    pub(crate) deadline: Option<Instant>,
    /// The multi-call binary, to run `execlineb` on oneshot scripts.
    pub(crate) exe: PathBuf,
}

/// How a transition ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Every service reached the state.
    Done,
    /// Some services failed (or were skipped because a dependency failed).
    Failed,
    /// The deadline passed first.
    TimedOut,
    /// A signal asked us to stop.
    Interrupted,
}

/// Which way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Way {
    /// Start.
    Up,
    /// Stop.
    Down,
}

enum Job {
    Oneshot {
        pid: i32,
        pidfd: OwnedFd,
        deadline: Option<Instant>,
    },
    Longrun {
        sub: Subscription,
        ready: bool,
        deadline: Option<Instant>,
    },
}

impl Job {
    fn deadline(&self) -> Option<Instant> {
        match self {
            Job::Oneshot { deadline, .. } | Job::Longrun { deadline, .. } => *deadline,
        }
    }
    fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        match self {
            Job::Oneshot { pidfd, .. } => pidfd.as_fd(),
            Job::Longrun { sub, .. } => sub.as_fd(),
        }
    }
}

/// What a job came to.
enum Step {
    Running(Job),
    Done,
    Failed(String),
}

struct Run<'a> {
    live: &'a Live,
    g: &'a Graph,
    s: &'a Settings,
    way: Way,
    /// Services up now (as the transition goes).
    up: BTreeSet<String>,
    pending: BTreeSet<String>,
    running: BTreeMap<String, Job>,
    failed: BTreeSet<String>,
}

/// Brings `set` to `way`: `set` must already hold the dependencies (up) or the
/// dependents (down) to change.
pub(crate) fn transition(
    live: &Live,
    g: &Graph,
    set: &BTreeSet<String>,
    way: Way,
    s: &Settings,
) -> Result<Outcome, Failure> {
    let up = live.up_set();
    let pending: BTreeSet<String> = set
        .iter()
        .filter(|n| g.is_atomic(n) && (up.contains(*n) != (way == Way::Up)))
        .cloned()
        .collect();
    let mut run = Run {
        live,
        g,
        s,
        way,
        up,
        pending,
        running: BTreeMap::new(),
        failed: BTreeSet::new(),
    };
    let sigfd = svkit_core::poll::signalfd(&[Signal::SIGTERM, Signal::SIGINT, Signal::SIGHUP])?;
    loop {
        run.launch();
        if run.running.is_empty() {
            break;
        }
        let next = run
            .running
            .values()
            .filter_map(Job::deadline)
            .chain(s.deadline)
            .min();
        let (readable, signalled) = {
            let mut fds: Vec<PollFd<'_>> = run
                .running
                .values()
                .map(|j| PollFd::new(j.fd(), PollFlags::POLLIN))
                .collect();
            fds.push(PollFd::new(sigfd.as_fd(), PollFlags::POLLIN));
            match poll(&mut fds, svkit_core::poll::timeout(next)) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                Err(e) => return Err(Failure::sys("poll", &e.into())),
            }
            let r: Vec<bool> = fds.iter().map(svkit_core::poll::readable).collect();
            let sig = r.last().copied().unwrap_or(false);
            (r, sig)
        };
        if signalled {
            run.interrupt();
            return Ok(Outcome::Interrupted);
        }
        let names: Vec<String> = run.running.keys().cloned().collect();
        let now = Instant::now();
        for (name, ready) in names.into_iter().zip(readable) {
            let Some(job) = run.running.remove(&name) else {
                continue;
            };
            let step = if ready {
                run.progress(&name, job)
            } else if job.deadline().is_some_and(|d| d <= now) {
                run.expire(&name, job)
            } else {
                Step::Running(job)
            };
            run.settle(&name, step);
        }
        if s.deadline.is_some_and(|d| d <= Instant::now()) && !run.running.is_empty() {
            report::fatal(&s.prog, "timed out");
            return Ok(Outcome::TimedOut);
        }
    }
    if run.failed.is_empty() && run.pending.is_empty() {
        Ok(Outcome::Done)
    } else {
        Ok(Outcome::Failed)
    }
}

impl Run<'_> {
    fn info(&self, msg: std::fmt::Arguments<'_>) {
        if self.s.verbosity >= 2 {
            let _ = std::io::Write::write_all(
                &mut std::io::stderr().lock(),
                format!("{}: info: {msg}\n", self.s.prog).as_bytes(),
            );
        }
    }
    fn warn(&self, msg: std::fmt::Arguments<'_>) {
        if self.s.verbosity >= 1 {
            report::warn(&self.s.prog, msg);
        }
    }
    fn verb(&self) -> &'static str {
        match self.way {
            Way::Up => "start",
            Way::Down => "stop",
        }
    }

    /// What `name` waits for: its dependencies (up) or its dependents (down).
    fn blockers(&self, name: &str) -> Vec<String> {
        match self.way {
            Way::Up => self
                .g
                .deps
                .get(name)
                .into_iter()
                .flatten()
                .cloned()
                .collect(),
            Way::Down => self
                .g
                .deps
                .iter()
                .filter(|(m, ds)| *m != name && ds.contains(name))
                .map(|(m, _)| m.clone())
                .collect(),
        }
    }

    /// Starts every pending service whose blockers are out of the way; skips the
    /// ones a failure blocks for good.
    fn launch(&mut self) {
        loop {
            let mut progressed = false;
            let names: Vec<String> = self.pending.iter().cloned().collect();
            for name in names {
                let blockers = self.blockers(&name);
                let clear = |b: &String| match self.way {
                    Way::Up => self.up.contains(b),
                    Way::Down => !self.up.contains(b),
                };
                if let Some(bad) = blockers.iter().find(|b| self.failed.contains(*b)) {
                    let why = match self.way {
                        Way::Up => format!("dependency {bad} failed to start"),
                        Way::Down => format!("{bad}, which depends on it, failed to stop"),
                    };
                    self.warn(format_args!(
                        "unable to {} service {name}: {why}",
                        self.verb()
                    ));
                    self.pending.remove(&name);
                    self.failed.insert(name);
                    progressed = true;
                    continue;
                }
                if !blockers.iter().all(clear) {
                    continue;
                }
                self.pending.remove(&name);
                progressed = true;
                let step = self.begin(&name);
                self.settle(&name, step);
            }
            if !progressed {
                return;
            }
        }
    }

    fn settle(&mut self, name: &str, step: Step) {
        match step {
            Step::Running(job) => {
                self.running.insert(name.to_owned(), job);
            }
            Step::Done => {
                let up = self.way == Way::Up;
                if !self.s.dry_run {
                    if let Err(e) = self.live.set_up(name, up) {
                        self.warn(format_args!(
                            "unable to record the state of {name}: {}",
                            strerror(&e)
                        ));
                    }
                }
                if up {
                    self.up.insert(name.to_owned());
                    self.info(format_args!("service {name} successfully started"));
                } else {
                    self.up.remove(name);
                    self.info(format_args!("service {name} successfully stopped"));
                }
            }
            Step::Failed(why) => {
                self.warn(format_args!(
                    "unable to {} service {name}: {why}",
                    self.verb()
                ));
                self.failed.insert(name.to_owned());
            }
        }
    }

    fn begin(&mut self, name: &str) -> Step {
        let Some(def) = self.g.defs.get(name) else {
            return Step::Failed("not defined".into());
        };
        let verb = match self.way {
            Way::Up => "starting",
            Way::Down => "stopping",
        };
        self.info(format_args!("service {name}: {verb}"));
        if self.s.dry_run {
            println!("{}: dry run: {} {name}", self.s.prog, self.verb());
            return Step::Done;
        }
        let limit = match self.way {
            Way::Up => def.timeout_up,
            Way::Down => def.timeout_down,
        };
        let deadline = (limit > 0).then(|| Instant::now() + Duration::from_millis(limit));
        match def.kind {
            Kind::Oneshot => self.begin_oneshot(name, deadline),
            Kind::Longrun => self.begin_longrun(name, deadline),
            Kind::Bundle => Step::Done,
        }
    }

    fn begin_oneshot(&self, name: &str, deadline: Option<Instant>) -> Step {
        let which = match self.way {
            Way::Up => "up",
            Way::Down => "down",
        };
        let script = self.live.script(name, which);
        if self.way == Way::Down && !script.exists() {
            return Step::Done;
        }
        let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
            .filter(|(k, _)| k != "RC_NAME")
            .collect();
        env.push(("RC_NAME".into(), name.into()));
        let how = Spawn {
            session: true,
            env: Some(&env),
            cwd: Some(&self.live.dir),
            ..Spawn::default()
        };
        let args = [OsStr::new("-P"), script.as_os_str()];
        let pid = match how.run(&self.s.exe, OsStr::new("execlineb"), &args) {
            Ok(pid) => pid,
            Err(e) => {
                return Step::Failed(format!(
                    "unable to spawn execlineb {}: {}",
                    show(&script),
                    strerror(&e)
                ));
            }
        };
        match process::pidfd(pid) {
            Ok(pidfd) => Step::Running(Job::Oneshot {
                pid,
                pidfd,
                deadline,
            }),
            Err(e) => Step::Failed(format!("unable to watch pid {pid}: {}", strerror(&e))),
        }
    }

    fn begin_longrun(&self, name: &str, deadline: Option<Instant>) -> Step {
        let dir = self.live.servicedir(name);
        let sub = match Subscription::new(&dir) {
            Ok(s) => s,
            Err(e) => {
                return Step::Failed(format!(
                    "unable to subscribe to {}: {}",
                    show(&dir),
                    strerror(&e)
                ));
            }
        };
        let ready = dir.join(NOTIFICATION_FD).exists();
        let st = status::read(&dir).unwrap_or_default();
        let already = match self.way {
            Way::Up => st.is_up() && (st.ready || !ready),
            Way::Down => !st.is_up() && st.ready,
        };
        let byte = if self.way == Way::Up { b"u" } else { b"d" };
        if let Err(e) = control::send(&dir, byte) {
            return Step::Failed(format!("unable to control {}: {e}", show(&dir)));
        }
        if already {
            return Step::Done;
        }
        Step::Running(Job::Longrun {
            sub,
            ready,
            deadline,
        })
    }

    /// Reads what a job's descriptor says.
    fn progress(&self, name: &str, job: Job) -> Step {
        match job {
            Job::Oneshot {
                pid,
                pidfd,
                deadline,
            } => match reap(pid) {
                None => Step::Running(Job::Oneshot {
                    pid,
                    pidfd,
                    deadline,
                }),
                Some(wstat) => match (status::wstat_signal(wstat), status::wstat_exitcode(wstat)) {
                    (Some(sig), _) => Step::Failed(format!("command crashed with signal {sig}")),
                    (None, Some(0)) => Step::Done,
                    (None, code) => Step::Failed(format!("command exited {}", code.unwrap_or(0))),
                },
            },
            Job::Longrun {
                mut sub,
                ready,
                deadline,
            } => {
                let mut buf = [0u8; 128];
                let n = sub.read(&mut buf).unwrap_or(0);
                for &ev in &buf[..n] {
                    match (self.way, ev) {
                        (Way::Up, byte::UP) if !ready => return Step::Done,
                        (Way::Up, byte::READY) => return Step::Done,
                        (Way::Up, byte::PERMANENT) => {
                            return Step::Failed(format!("{name} failed permanently"));
                        }
                        (Way::Up, byte::EXIT) => {
                            return Step::Failed(format!("the supervisor of {name} exited"));
                        }
                        (Way::Down, byte::DOWN_READY | byte::EXIT) => return Step::Done,
                        _ => {}
                    }
                }
                Step::Running(Job::Longrun {
                    sub,
                    ready,
                    deadline,
                })
            }
        }
    }

    /// A job ran out of time: a oneshot's process group gets SIGTERM.
    fn expire(&self, _name: &str, job: Job) -> Step {
        if let Job::Oneshot { pid, .. } = job {
            let _ = process::killpg(pid, libc::SIGTERM);
            let _ = process::killpg(pid, libc::SIGCONT);
        }
        Step::Failed("timed out".into())
    }

    /// A signal: running oneshots get SIGTERM, nothing new starts.
    fn interrupt(&mut self) {
        for job in self.running.values() {
            if let Job::Oneshot { pid, .. } = job {
                let _ = process::killpg(*pid, libc::SIGTERM);
                let _ = process::killpg(*pid, libc::SIGCONT);
            }
        }
        report::warn(
            &self.s.prog,
            "interrupted: leaving the services as they are",
        );
    }
}

/// The wait status of our child `pid` if it has exited (reaping it); other dead
/// children met on the way are reaped too.
fn reap(pid: i32) -> Option<i32> {
    match nix::sys::wait::waitpid(
        nix::unistd::Pid::from_raw(pid),
        Some(nix::sys::wait::WaitPidFlag::WNOHANG),
    ) {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => Some(code << 8),
        Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, core)) => {
            Some(sig as i32 | if core { 0x80 } else { 0 })
        }
        Ok(_) => None,
        Err(_) => Some(111 << 8),
    }
}

/// The services to stop for `selected` going down: it and everything up that
/// depends on it — minus essential ones (unless `force`) and whatever a service
/// that stays up still needs.
#[must_use]
pub(crate) fn down_set(
    g: &Graph,
    up: &BTreeSet<String>,
    selected: &BTreeSet<String>,
    force: bool,
) -> BTreeSet<String> {
    let mut stop: BTreeSet<String> = g
        .with_dependents(selected)
        .intersection(up)
        .cloned()
        .collect();
    if !force {
        stop.retain(|n| !g.defs.get(n).is_some_and(|d| d.essential));
    }
    loop {
        let keep: BTreeSet<String> = up.difference(&stop).cloned().collect();
        let needed = g.with_dependencies(&keep);
        let before = stop.len();
        stop.retain(|n| !needed.contains(n));
        if stop.len() == before {
            return stop;
        }
    }
}
