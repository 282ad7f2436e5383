//! The scanner's state: which service directories exist, which supervisors run for
//! them, and the log pipes it holds (s6: `scan()`, `check()`, `reap()` in
//! `s6-svscan.c`).
//!
//! Invariants: a service is identified by the device and inode of its directory,
//! not its name; the pipe between a service and its logger is created once and held
//! here for the service's whole life, so a logger restart loses nothing; an active
//! service's dead supervisor is always restarted, a vanished one's never.

use std::collections::{HashMap, HashSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag};
use nix::sys::signal::Signal;
use svkit_core::process::{self, Spawn};
use svkit_core::report::{self, show, strerror};
use svkit_core::servicedir::{LOCK, LOG_DIR, SCAN_TIMEOUT_STOP};
use svkit_core::{config, lock};

/// Device and inode of a service directory.
pub(crate) type Key = (u64, u64);

/// Which of a service's two supervisors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Role {
    Main,
    Log,
}

/// Where the scanner stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Running,
    /// Supervisors were told to stop; exit once they all have.
    Stopping,
    /// Exit now, stopping nothing more (`b`).
    Aborting,
}

/// A supervisor we did not start (a previous scanner's) that holds a directory.
#[derive(Debug)]
struct Foreign {
    pid: i32,
    /// Becomes readable when it exits.
    pidfd: OwnedFd,
}

/// One supervisor process, running or to be (re)started.
#[derive(Debug, Default)]
struct Slot {
    pid: Option<i32>,
    started: Option<Instant>,
    respawn_at: Option<Instant>,
    /// Consecutive deaths within a second of starting (for the back-off).
    quick_deaths: u32,
    /// The last spawn failed: its reason was said, the retries are silent.
    spawn_failed: bool,
    foreign: Option<Foreign>,
}

#[derive(Debug)]
struct Service {
    name: OsString,
    active: bool,
    /// Its supervisors were told to stop (`n`, `N`, `h`): never restarted. If the
    /// directory comes back, the service starts afresh once they are all gone.
    pruned: bool,
    main: Slot,
    log: Option<Slot>,
    /// (read end, write end) of the service → logger pipe.
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// The pipe was adopted from a previous scanner's supervisors, both of which
    /// hold it: a foreign half may be replaced without disturbing the other.
    shared: bool,
    /// Prefix mode: the "logger" is `log p[NAME] 1`, run directly, and the
    /// service's stderr goes into the pipe too.
    prefixed: bool,
}

impl Service {
    fn slot(&mut self, role: Role) -> Option<&mut Slot> {
        match role {
            Role::Main => Some(&mut self.main),
            Role::Log => self.log.as_mut(),
        }
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.main).chain(self.log.as_ref())
    }

    /// Some supervisor of ours, or a foreign one, still runs for it.
    fn running(&self) -> bool {
        self.slots().any(|s| s.pid.is_some() || s.foreign.is_some())
    }

    fn path(&self, role: Role) -> PathBuf {
        match role {
            Role::Main => PathBuf::from(&self.name),
            Role::Log => Path::new(&self.name).join(LOG_DIR),
        }
    }
}

/// When a supervisor that lived `lived` may be started again. One that ran for a
/// second or more is restarted at once; quick deaths back off: 1 s, 2 s, 4 s… 60 s
/// after the previous start (a directory that makes supervise exit at once must
/// not become a fork loop, nor a warning per second).
fn respawn_time(slot: &mut Slot, now: Instant) -> Instant {
    let lived = slot
        .started
        .map_or(Duration::MAX, |t| now.saturating_duration_since(t));
    if lived >= Duration::from_secs(1) {
        slot.quick_deaths = 0;
        return now;
    }
    slot.quick_deaths = slot.quick_deaths.saturating_add(1);
    let delay = backoff(slot.quick_deaths);
    slot.started.map_or(now, |t| (t + delay).max(now))
}

/// The wait after the `n`th failure in a row (n ≥ 1): 1 s, 2 s, 4 s… 60 s.
fn backoff(n: u32) -> Duration {
    Duration::from_secs(1 << n.saturating_sub(1).min(6)).min(Duration::from_secs(60))
}

/// A service → logger pipe, if two descriptors remain free after it: every
/// spawn needs a pair for a moment (std's exec-error pipe), so registering one
/// service more must not leave the scanner unable to start any supervisor.
fn log_pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
    let pipe = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    Ok(pipe)
}

/// The log pipe of a service whose supervisors outlived their scanner (it was
/// killed, and we replace it). A new pipe would split the pair as soon as one
/// supervisor is replaced: the service writing into one pipe, its logger reading
/// another that nobody feeds, which it sees end on, over and over. So the pipe a
/// living supervisor still holds — the service supervisor's stdout, or the
/// logger supervisor's stdin — is opened again through `/proc` (a pipe opened
/// there is the same pipe) and kept, as the dead scanner kept it. `whole` when
/// every living supervisor of the pair holds that same pipe.
fn adopt_pipe(name: &OsStr) -> Option<Adopted> {
    let dir = Path::new(name);
    // Only an anonymous pipe qualifies (`pipe:[INODE]`), never one of our own
    // standard descriptors: a service whose `log/` appeared after the old scanner
    // first saw it writes to that scanner's stdout (the catch-all FIFO, a
    // container's stdout), which is no log pipe to take over.
    let ours: Vec<std::path::PathBuf> = (0..3)
        .filter_map(|fd| fs::read_link(format!("/proc/self/fd/{fd}")).ok())
        .collect();
    let ends: Vec<String> = [(dir.join(LOCK), 1), (dir.join(LOG_DIR).join(LOCK), 0)]
        .iter()
        .filter_map(|(lock_file, fd)| {
            let pid = lock::holder(lock_file).ok().flatten()?;
            let path = format!("/proc/{pid}/fd/{fd}");
            let target = fs::read_link(&path).ok()?;
            let anonymous = target.as_os_str().as_encoded_bytes().starts_with(b"pipe:[");
            (anonymous && !ours.contains(&target)).then_some(path)
        })
        .collect();
    let open = |path: &str, write: bool| {
        let f = fs::File::options()
            .read(!write)
            .write(write)
            .custom_flags((OFlag::O_NONBLOCK | OFlag::O_NOCTTY).bits())
            .open(path)
            .ok()?;
        let meta = f.metadata().ok()?;
        if !meta.file_type().is_fifo() {
            return None;
        }
        nix::fcntl::fcntl(&f, FcntlArg::F_SETFL(OFlag::empty())).ok()?;
        Some((OwnedFd::from(f), meta.ino()))
    };
    ends.iter().find_map(|path| {
        // The read end first: opening the write end needs a reader.
        let (r, ino) = open(path, false)?;
        let (w, _) = open(path, true)?;
        let whole = ends
            .iter()
            .all(|p| fs::metadata(p).is_ok_and(|m| m.ino() == ino));
        Some(Adopted {
            pipe: (r, w),
            whole,
        })
    })
}

/// A pipe taken over from a previous scanner's supervisors.
struct Adopted {
    pipe: (OwnedFd, OwnedFd),
    /// Both living supervisors of the pair hold it.
    whole: bool,
}

/// Whether `e` is a lack of resources that may pass (descriptors, memory).
fn is_resource_error(e: &std::io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|n| is_resource_errno(Errno::from_raw(n)))
}

fn is_resource_errno(e: Errno) -> bool {
    matches!(e, Errno::EMFILE | Errno::ENFILE | Errno::ENOMEM)
}

/// What the scanner was started with.
pub(crate) struct Settings {
    /// Our name, for messages.
    pub(crate) prog: String,
    /// This executable, which `supervise` is started from.
    pub(crate) exe: PathBuf,
    /// `argv[0]` for supervisors: `supervise` or `s6-supervise`.
    pub(crate) supervise: &'static str,
    /// `RLIMIT_NOFILE` to restore in children.
    pub(crate) nofile: Option<(u64, u64)>,
    /// `-c`: at most this many services.
    pub(crate) max: Option<usize>,
    /// `-t`: rescan this often.
    pub(crate) rescan_every: Option<Duration>,
    /// `-X`: the console, for the catch-all logger and for our own end.
    pub(crate) console: Option<OwnedFd>,
    /// `-P`: prefix mode, with these stamp directives before the prefix.
    pub(crate) prefix: Option<Vec<OsString>>,
}

/// The catch-all logger's service name (s6-linux-init's): its supervisor's stderr
/// is the console, and it is stopped last.
pub(crate) const CATCHALL: &str = "s6-svscan-log";

/// The scanner.
pub(crate) struct Scanner {
    cfg: Settings,
    next_rescan: Option<Instant>,
    services: HashMap<Key, Service>,
    pids: HashMap<i32, (Key, Role)>,
    /// Scan-dir entries warned about in the last scan, so each problem is said once.
    warned: HashSet<OsString>,
    pub(crate) phase: Phase,
    /// Stopping: when to give up waiting for supervisors (`timeout-stop`).
    stop_by: Option<Instant>,
    /// The current scan ran out of resources (descriptors for the directory or a
    /// log pipe): some service could not be registered.
    starved: bool,
    /// Scans in a row that ran out of resources, and when to scan again: 1 s,
    /// 2 s, 4 s… 60 s, so the tree completes itself once descriptors return.
    starved_scans: u32,
    retry_scan_at: Option<Instant>,
}

impl Scanner {
    pub(crate) fn new(cfg: Settings) -> Self {
        Scanner {
            cfg,
            next_rescan: None,
            services: HashMap::new(),
            pids: HashMap::new(),
            warned: HashSet::new(),
            phase: Phase::Running,
            stop_by: None,
            starved: false,
            starved_scans: 0,
            retry_scan_at: None,
        }
    }

    fn warn(&self, msg: impl std::fmt::Display) {
        report::warn(&self.cfg.prog, msg);
    }

    /// Reads the scan directory: new service directories get supervisors, known
    /// ones are marked active, vanished ones inactive (not stopped: that is `n`).
    pub(crate) fn scan(&mut self, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        self.next_rescan = self.cfg.rescan_every.map(|d| now + d);
        self.starved = false;
        self.read_scandir();
        if self.starved {
            self.starved_scans = self.starved_scans.saturating_add(1);
            self.retry_scan_at = Some(now + backoff(self.starved_scans));
        } else {
            self.starved_scans = 0;
            self.retry_scan_at = None;
        }
        let keys: Vec<Key> = self.services.keys().copied().collect();
        for key in keys {
            for role in [Role::Log, Role::Main] {
                self.spawn_if_idle(key, role, now);
            }
        }
    }

    /// The directory part of a scan: registers new services, marks known ones
    /// active and vanished ones inactive.
    fn read_scandir(&mut self) {
        let entries = match fs::read_dir(".") {
            Ok(d) => d,
            Err(e) => {
                self.starved |= is_resource_error(&e);
                self.warn(format_args!(
                    "unable to read the scan directory: {}",
                    strerror(&e)
                ));
                return;
            }
        };
        for s in self.services.values_mut() {
            s.active = false;
        }
        let mut warned = HashSet::new();
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            if let Some(problem) = self.see(&name) {
                if !self.warned.contains(&name) {
                    self.warn(problem);
                }
                warned.insert(name);
            }
        }
        self.warned = warned;
    }

    /// Registers one scan-dir entry; a problem worth one warning otherwise.
    fn see(&mut self, name: &OsStr) -> Option<String> {
        let meta = match fs::metadata(name) {
            Ok(m) => m,
            Err(e) => return Some(format!("unable to stat {}: {}", show(name), strerror(&e))),
        };
        if !meta.is_dir() {
            return Some(format!("ignoring {}: not a directory", show(name)));
        }
        let key = (meta.dev(), meta.ino());
        if let Some(s) = self.services.get_mut(&key) {
            s.active = true;
            s.name = name.to_owned();
            if s.pruned && !s.running() {
                self.services.remove(&key); // gone for good: registered anew below
            } else {
                return None;
            }
        }
        if self.cfg.max.is_some_and(|m| self.services.len() >= m) {
            return Some(format!(
                "unable to start supervisor for {}: too many services",
                show(name)
            ));
        }
        // The log/ check is made once, when the service is first seen (as s6).
        let has_log = fs::metadata(Path::new(name).join(LOG_DIR)).is_ok_and(|m| m.is_dir());
        let prefixed = !has_log && self.cfg.prefix.is_some() && name != CATCHALL;
        let logged = has_log || prefixed;
        let mut shared = false;
        let pipe = if logged {
            // A prefixer is not a lock holder, so its pipe is never adopted.
            let adopted = if has_log { adopt_pipe(name) } else { None };
            shared = adopted.as_ref().is_some_and(|a| a.whole);
            match adopted.map_or_else(log_pipe, |a| Ok(a.pipe)) {
                Ok(p) => Some(p),
                Err(e) => {
                    self.starved |= is_resource_errno(e);
                    return Some(format!(
                        "unable to create a log pipe for {}: {}",
                        show(name),
                        e.desc()
                    ));
                }
            }
        } else {
            None
        };
        self.services.insert(
            key,
            Service {
                name: name.to_owned(),
                active: true,
                pruned: false,
                main: Slot::default(),
                log: logged.then(Slot::default),
                pipe,
                shared,
                prefixed,
            },
        );
        None
    }

    /// Whether service `key` still has its directory under its name; if not, it is
    /// marked inactive (as a rescan would), so its supervisor is not restarted.
    fn still_there(&mut self, key: Key) -> bool {
        let Some(svc) = self.services.get_mut(&key) else {
            return false;
        };
        let same = fs::metadata(&svc.name).is_ok_and(|m| (m.dev(), m.ino()) == key);
        if !same {
            svc.active = false;
        }
        same
    }

    /// Starts the supervisor of `role` for service `key` unless one runs, one is
    /// scheduled, or a foreign one holds the directory.
    fn spawn_if_idle(&mut self, key: Key, role: Role, now: Instant) {
        let Some(svc) = self.services.get_mut(&key) else {
            return;
        };
        if !svc.active || svc.pruned {
            return;
        }
        let path = svc.path(role);
        let Some(slot) = svc.slot(role) else {
            return;
        };
        if slot.pid.is_some() || slot.foreign.is_some() || slot.respawn_at.is_some() {
            return;
        }
        self.spawn(key, role, &path, now);
    }

    fn spawn(&mut self, key: Key, role: Role, path: &Path, now: Instant) {
        // A supervisor left by a previous scanner still holds this directory: wait
        // for it to exit (its pidfd is polled) instead of starting a second one.
        if let Ok(Some(pid)) = lock::holder(&path.join(LOCK)) {
            if let Ok(pidfd) = process::pidfd(pid) {
                self.warn(format_args!(
                    "{} is already supervised by pid {pid}: waiting for it to exit",
                    show(path)
                ));
                if let Some(slot) = self.services.get_mut(&key).and_then(|s| s.slot(role)) {
                    slot.foreign = Some(Foreign { pid, pidfd });
                }
                return;
            }
        }
        let Some(svc) = self.services.get_mut(&key) else {
            return;
        };
        let (stdin, stdout) = match (&svc.pipe, role) {
            (Some((r, _)), Role::Log) => (Some(r.as_fd()), None),
            (Some((_, w)), Role::Main) => (None, Some(w.as_fd())),
            (None, _) => (None, None),
        };
        // Prefix mode: stderr into the pipe too; the catch-all: stderr = console.
        let stderr = match role {
            Role::Main if svc.prefixed => stdout,
            Role::Main if svc.name == CATCHALL => self.cfg.console.as_ref().map(AsFd::as_fd),
            _ => None,
        };
        let how = Spawn {
            stdin,
            stdout,
            fd: stderr.map(|fd| (fd, 2)),
            nofile: self.cfg.nofile,
            ..Spawn::default()
        };
        let spawned = if role == Role::Log && svc.prefixed {
            let mut prefix = OsString::from("p[");
            prefix.push(&svc.name);
            prefix.push("]");
            let mut args: Vec<&OsStr> = vec![OsStr::new("-b"), OsStr::new("--")];
            args.extend(self.cfg.prefix.iter().flatten().map(OsString::as_os_str));
            args.extend([prefix.as_os_str(), OsStr::new("1")]);
            how.run(&self.cfg.exe, OsStr::new("s6-log"), &args)
        } else {
            how.run(
                &self.cfg.exe,
                OsStr::new(self.cfg.supervise),
                &[path.as_os_str()],
            )
        };
        let Some(slot) = svc.slot(role) else {
            return;
        };
        slot.started = Some(now);
        match spawned {
            Ok(pid) => {
                slot.pid = Some(pid);
                slot.respawn_at = None;
                slot.spawn_failed = false;
                self.pids.insert(pid, (key, role));
            }
            Err(_) if slot.spawn_failed => slot.respawn_at = Some(respawn_time(slot, now)),
            Err(e) => {
                slot.spawn_failed = true;
                slot.respawn_at = Some(respawn_time(slot, now));
                let what = if role == Role::Log && svc.prefixed {
                    format!("the prefixer of {}", show(&svc.name))
                } else {
                    format!("{} {}", self.cfg.supervise, show(path))
                };
                report::warn(
                    &self.cfg.prog,
                    format_args!("unable to spawn {what}: {}", strerror(&e)),
                );
            }
        }
    }

    /// Reaps every dead child (supervisors, scripts, and any orphan re-parented to
    /// us: the PID 1 duty); schedules restarts of active services' supervisors.
    pub(crate) fn reap(&mut self, now: Instant) {
        while let Ok(Some((pid, _))) = process::reap() {
            let Some((key, role)) = self.pids.remove(&pid) else {
                continue; // a script or an orphan: reaped is all it needs
            };
            let phase = self.phase;
            let Some(svc) = self.services.get_mut(&key) else {
                continue;
            };
            let keep_going = phase == Phase::Running && svc.active && !svc.pruned;
            if let Some(slot) = svc.slot(role) {
                slot.pid = None;
                if keep_going {
                    slot.respawn_at = Some(respawn_time(slot, now));
                }
            }
            if keep_going {
                continue;
            }
            if role == Role::Main && svc.prefixed {
                // The service is down (stopped, pruned or vanished): its prefixer
                // reads what is left, then goes.
                if let Some(pid) = svc.log.as_ref().and_then(|l| l.pid) {
                    let _ = process::kill(pid, Signal::SIGTERM as i32);
                }
            }
            // A stopped or vanished service's pipe goes as soon as either side is
            // gone, so the logger reads EOF once the service's last writer is gone.
            svc.pipe = None;
            if !svc.running() {
                let revive = phase == Phase::Running && svc.active;
                let name = svc.name.clone();
                self.services.remove(&key);
                if revive {
                    // Pruned, then put back before its supervisors were gone: now it
                    // starts afresh, with a new pipe.
                    let _ = self.see(&name);
                    for role in [Role::Log, Role::Main] {
                        self.spawn_if_idle(key, role, now);
                    }
                }
            }
        }
    }

    /// Stopping: once only the catch-all logger is left, our own stdout and stderr
    /// go back to the console (the logger must see the end of its input) and the
    /// logger is stopped, last, so it has logged everything.
    pub(crate) fn release_catchall(&mut self) {
        if self.phase != Phase::Stopping {
            return;
        }
        let catchall = self
            .services
            .values()
            .find(|s| s.name == CATCHALL)
            .and_then(|s| s.main.pid);
        let Some(pid) = catchall else {
            return;
        };
        if self.pids.len() != 1 {
            return;
        }
        if let Some(console) = self.cfg.console.take() {
            let _ = nix::unistd::dup2_stdout(&console);
            let _ = nix::unistd::dup2_stderr(&console);
        }
        let _ = process::kill(pid, Signal::SIGTERM as i32);
    }

    /// The next time something is due: a supervisor restart or a periodic rescan.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.phase != Phase::Running {
            return self.stop_by;
        }
        let respawns = self.services.values().flat_map(|s| {
            std::iter::once(s.main.respawn_at).chain(s.log.as_ref().map(|l| l.respawn_at))
        });
        respawns
            .chain([self.next_rescan, self.retry_scan_at])
            .flatten()
            .min()
    }

    /// Starts what is due by `now`.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.phase != Phase::Running {
            return;
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.next_rescan) || due(self.retry_scan_at) {
            self.scan(now);
        }
        let due: Vec<(Key, Role)> = self
            .services
            .iter()
            .flat_map(|(k, s)| {
                let main = s.main.respawn_at.map(|t| (*k, Role::Main, t));
                let log = s
                    .log
                    .as_ref()
                    .and_then(|l| l.respawn_at)
                    .map(|t| (*k, Role::Log, t));
                main.into_iter().chain(log)
            })
            .filter(|&(_, _, t)| t <= now)
            .map(|(k, r, _)| (k, r))
            .collect();
        for (key, role) in due {
            if let Some(slot) = self.services.get_mut(&key).and_then(|s| s.slot(role)) {
                slot.respawn_at = None;
            }
            // s6 rescans before restarting a supervisor; one stat does the same job.
            if self.still_there(key) {
                self.spawn_if_idle(key, role, now);
            } else if self.services.get(&key).is_some_and(|s| !s.running()) {
                self.services.remove(&key);
            }
        }
    }

    /// Pidfds of foreign supervisors to poll.
    pub(crate) fn foreign(&self) -> Vec<(Key, Role, BorrowedFd<'_>)> {
        let mut v = Vec::new();
        for (k, s) in &self.services {
            if let Some(f) = &s.main.foreign {
                v.push((*k, Role::Main, f.pidfd.as_fd()));
            }
            if let Some(f) = s.log.as_ref().and_then(|l| l.foreign.as_ref()) {
                v.push((*k, Role::Log, f.pidfd.as_fd()));
            }
        }
        v
    }

    /// A foreign supervisor exited: start ours. The two halves of a logged pair
    /// must share our pipe, so a foreign other half is told to go too (a logger's
    /// supervisor with SIGHUP: it drains, then exits; a service's with SIGTERM).
    pub(crate) fn foreign_gone(&mut self, key: Key, role: Role, now: Instant) {
        let Some(svc) = self.services.get_mut(&key) else {
            return;
        };
        if let Some(slot) = svc.slot(role) {
            slot.foreign = None;
        }
        if self.phase != Phase::Running {
            if !svc.running() {
                self.services.remove(&key);
            }
            return;
        }
        // A foreign pair on a pipe of its own: replace both halves, so that the
        // service and its logger end up on ours together.
        let other = match role {
            _ if svc.shared => None,
            Role::Main => svc
                .log
                .as_ref()
                .and_then(|l| l.foreign.as_ref())
                .map(|f| (f.pid, Signal::SIGHUP)),
            Role::Log => svc.main.foreign.as_ref().map(|f| (f.pid, Signal::SIGTERM)),
        };
        if let Some((pid, sig)) = other {
            let _ = process::kill(pid, sig as i32);
        }
        self.spawn_if_idle(key, role, now);
    }

    /// Signals every supervisor of `s`, ours and foreign: SIGTERM for the service's
    /// (it stops the service, then exits), `log_sig` for the logger's (SIGHUP lets
    /// it drain first). A prefixer is left to read its service's last lines (the
    /// finish script's too), and at the end (`ending`) the catch-all logger to log
    /// everyone's: they are stopped afterwards (see `reap` and
    /// [`Scanner::release_catchall`]).
    fn signal_supervisors(s: &Service, log_sig: Signal, ending: bool) {
        let main = !(ending && s.name == CATCHALL);
        let log = !s.prefixed;
        let slots = main
            .then_some((&s.main, Signal::SIGTERM))
            .into_iter()
            .chain(s.log.as_ref().filter(|_| log).map(|l| (l, log_sig)));
        for (slot, sig) in slots {
            for pid in slot
                .pid
                .into_iter()
                .chain(slot.foreign.as_ref().map(|f| f.pid))
            {
                let _ = process::kill(pid, sig as i32);
            }
        }
    }

    /// Stops the supervisors of vanished services.
    pub(crate) fn prune(&mut self, log_sig: Signal) {
        for s in self.services.values_mut().filter(|s| !s.active) {
            Self::signal_supervisors(s, log_sig, false);
            s.pruned = true;
            for slot in std::iter::once(&mut s.main).chain(s.log.as_mut()) {
                slot.respawn_at = None;
            }
        }
        self.services.retain(|_, s| s.active || s.running());
    }

    /// Stops everything: SIGTERM to every service's supervisor, `log_sig` to every
    /// logger's; then lets go of the log pipes, so loggers see EOF once their
    /// service is gone. The scanner exits when the last supervisor has.
    pub(crate) fn stop_all(&mut self, log_sig: Signal) {
        if self.phase != Phase::Running {
            return;
        }
        self.phase = Phase::Stopping;
        let timeout = config::read_uint(Path::new(SCAN_TIMEOUT_STOP)).or(0);
        self.stop_by =
            (timeout > 0).then(|| Instant::now() + Duration::from_millis(u64::from(timeout)));
        for s in self.services.values_mut() {
            Self::signal_supervisors(s, log_sig, true);
            s.pipe = None;
            for slot in std::iter::once(&mut s.main).chain(s.log.as_mut()) {
                slot.respawn_at = None;
            }
        }
    }

    /// `b`: leave now.
    pub(crate) fn abort(&mut self) {
        self.phase = Phase::Aborting;
    }

    /// Supervisors of ours still running (only abnormal at the end: `b`, or
    /// `timeout-stop` reached).
    pub(crate) fn supervisors(&self) -> usize {
        self.pids.len()
    }

    /// Whether the main loop is over.
    pub(crate) fn done(&self) -> bool {
        match self.phase {
            Phase::Running => false,
            // Ours are reaped; foreign ones are watched through their pidfds; and
            // `timeout-stop` bounds the wait.
            Phase::Stopping => {
                (self.pids.is_empty() && self.services.values().all(|s| !s.running()))
                    || self.stop_by.is_some_and(|t| t <= Instant::now())
            }
            Phase::Aborting => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_deaths_back_off_and_long_lives_reset() {
        let t0 = Instant::now();
        let mut slot = Slot {
            started: Some(t0),
            ..Slot::default()
        };
        let mut delays = Vec::new();
        let mut now = t0;
        for _ in 0..9 {
            now += Duration::from_millis(10);
            let at = respawn_time(&mut slot, now);
            delays.push((at - slot.started.unwrap()).as_secs());
            slot.started = Some(at);
            now = at;
        }
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let later = now + Duration::from_secs(5);
        assert_eq!(respawn_time(&mut slot, later), later, "lived 5 s: at once");
        assert_eq!(slot.quick_deaths, 0);
    }
}
