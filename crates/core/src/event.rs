//! The `event/` fifodir: broadcasting supervisor events and waiting for them
//! (s6: `ftrigw_notifyb_nosig.c`, `ftrigw_fifodir_make.c`, `ftrig1_make.c`,
//! `s6_svlisten_loop.c`).
//!
//! Invariants: a listener's FIFO is named `ftrig1:@<24 hex TAI64N>:<6 chars>` (39
//! bytes) and only appears under that name once it is open for reading; a listener
//! subscribes **before** it reads `supervise/status`, and a supervisor writes the
//! status **before** it notifies, so no transition can fall between the two.

use std::collections::VecDeque;
use std::ffi::CStr;
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};

use crate::exit::Exit;
use crate::report::{Failure, show};
use crate::servicedir::EVENT_DIR;
use crate::status::{self, Status};
use crate::sys;
use crate::tai64n::Tai64n;

/// Event bytes sent by a supervisor.
pub mod byte {
    /// The supervisor started.
    pub const START: u8 = b's';
    /// `run` was spawned.
    pub const UP: u8 = b'u';
    /// `run` notified readiness.
    pub const READY: u8 = b'U';
    /// `run` died (finish may be running).
    pub const DOWN: u8 = b'd';
    /// Down and ready: finish is done.
    pub const DOWN_READY: u8 = b'D';
    /// Permanent failure: finish exited 125 (sent just before `D`).
    pub const PERMANENT: u8 = b'O';
    /// The supervisor is exiting.
    pub const EXIT: u8 = b'x';
}

const PREFIX: &[u8] = b"ftrig1:@";
const NAME_LEN: usize = 39;

/// Creates the fifodir `path` if missing: mode 03730, group = our egid (only that
/// group may subscribe). An existing directory is used as it is.
pub fn make_fifodir(path: &Path) -> io::Result<()> {
    match DirBuilder::new().mode(0o700).create(path) {
        Ok(()) => claim_fifodir(path),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Gives a directory we just created the fifodir mode: 03730, group = our egid.
pub fn claim_fifodir(path: &Path) -> io::Result<()> {
    nix::unistd::chown(path, None, Some(nix::unistd::getegid()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o3730))
}

/// Sends `bytes` to every listener in the fifodir `dir`. Listeners that are gone
/// (`ENXIO`, `EPIPE`, short write) are unlinked. Allocates nothing.
pub fn notify(dir: &Path, bytes: &[u8]) -> io::Result<()> {
    let d = File::options()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)?;
    let mut buf = [0u8; 2048];
    loop {
        let n = sys::getdents64(d.as_fd(), &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        for name in dirents(&buf[..n]) {
            if name.to_bytes().len() == NAME_LEN && name.to_bytes().starts_with(PREFIX) {
                notify_one(&d, name, bytes);
            }
        }
    }
}

fn notify_one(dir: &File, name: &CStr, bytes: &[u8]) {
    let gone = match openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Err(Errno::ENXIO) => true,
        Err(_) => false,
        Ok(fd) => match nix::unistd::write(&fd, bytes) {
            Ok(n) => n < bytes.len(),
            Err(e) => e == Errno::EPIPE,
        },
    };
    if gone {
        let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    }
}

/// Names in a `getdents64` buffer (`linux_dirent64`: ino u64, off i64, reclen u16,
/// type u8, NUL-terminated name).
fn dirents(buf: &[u8]) -> impl Iterator<Item = &CStr> {
    let mut off = 0;
    std::iter::from_fn(move || {
        let rec = buf.get(off..)?;
        let reclen = usize::from(u16::from_ne_bytes([*rec.get(16)?, *rec.get(17)?]));
        if reclen == 0 {
            return None;
        }
        off += reclen;
        rec.get(19..reclen)
            .and_then(|n| CStr::from_bytes_until_nul(n).ok())
    })
    .filter(|n| !n.is_empty())
}

/// A listener's FIFO in a service's `event/`; unlinked when dropped.
#[derive(Debug)]
pub struct Subscription {
    path: PathBuf,
    fifo: File,
    _keepalive: OwnedFd,
}

fn suffix() -> [u8; 6] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let t = Tai64n::now();
    let mut x = u64::from(t.nanos)
        ^ (u64::from(std::process::id()) << 32)
        ^ COUNTER
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut out = [0u8; 6];
    for c in &mut out {
        // splitmix64 step: cheap, and collisions are caught by mkfifo's EEXIST anyway.
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        *c = ALPHABET[(z % ALPHABET.len() as u64) as usize];
    }
    out
}

impl Subscription {
    /// Subscribes to the events of service directory `dir`, creating `dir/event` if needed.
    pub fn new(dir: &Path) -> io::Result<Self> {
        let evdir = dir.join(EVENT_DIR);
        make_fifodir(&evdir)?;
        let foreign = fs::metadata(&evdir)?.uid() != nix::unistd::geteuid().as_raw();
        loop {
            let name = format!(
                "ftrig1:{}:{}",
                Tai64n::now(),
                String::from_utf8_lossy(&suffix())
            );
            let tmp = evdir.join(format!(".{name}"));
            match nix::unistd::mkfifo(&tmp, Mode::from_bits_truncate(0o600)) {
                Ok(()) => {}
                Err(Errno::EEXIST) => continue,
                Err(e) => return Err(e.into()),
            }
            // The FIFO takes the fifodir's group (setgid dir): the supervisor's. If
            // the supervisor is another user (root waiting on a service supervised
            // as nobody), it can only write to us through that group.
            if foreign {
                fs::set_permissions(&tmp, fs::Permissions::from_mode(0o620))?;
            }
            let opened = File::options()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&tmp)
                .and_then(|fifo| {
                    let w = File::options()
                        .write(true)
                        .custom_flags(libc::O_NONBLOCK)
                        .open(&tmp)?;
                    Ok((fifo, OwnedFd::from(w)))
                });
            let path = evdir.join(&name);
            let r = opened.and_then(|(fifo, keep)| {
                fs::rename(&tmp, &path)?;
                Ok(Subscription {
                    path,
                    fifo,
                    _keepalive: keep,
                })
            });
            if r.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            return r;
        }
    }

    /// Reads the events that arrived, without blocking.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.fifo.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
            r => r,
        }
    }
}

impl AsFd for Subscription {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fifo.as_fd()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// A state to wait for, in s6-svwait's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Goal {
    /// Up (`u`, `U`) or down (`d`, `D`).
    pub up: bool,
    /// Also ready: up and ready (`U`), or down and finished (`D`).
    pub ready: bool,
}

impl Goal {
    /// `-u`
    pub const UP: Goal = Goal {
        up: true,
        ready: false,
    };
    /// `-U`
    pub const READY: Goal = Goal {
        up: true,
        ready: true,
    };
    /// `-d`
    pub const DOWN: Goal = Goal {
        up: false,
        ready: false,
    };
    /// `-D`
    pub const DOWN_READY: Goal = Goal {
        up: false,
        ready: true,
    };
}

/// Why a wait ended without its goal.
#[derive(Debug)]
pub enum WaitError {
    /// The deadline passed.
    Timeout,
    /// A system call failed.
    Sys(io::Error),
}

/// One watched service: its subscription and its last known (up, ready) state.
#[derive(Debug)]
struct Watched {
    sub: Subscription,
    up: bool,
    ready: bool,
    /// False when waiting for readiness is pointless (no `notification-fd`):
    /// then "up" is enough for an up-and-ready goal, as s6-svc's `-wU` downgrade does.
    notifies: bool,
    /// Events read but not applied yet. A wait stops at the event that meets its
    /// goal; the events after it stay here for the next wait (`svc -wr` reading
    /// `dDu` at once must not lose the `u`).
    pending: VecDeque<u8>,
}

impl Watched {
    fn meets(&self, goal: Goal) -> bool {
        self.up == goal.up && (!goal.ready || self.ready || (goal.up && !self.notifies))
    }

    /// Applies one event; returns whether it is a failure for `goal`. A failed
    /// service counts as having reached the goal, as in s6.
    fn apply(&mut self, ev: u8, goal: Goal) -> bool {
        match ev {
            byte::DOWN => (self.up, self.ready) = (false, false),
            byte::DOWN_READY => (self.up, self.ready) = (false, true),
            byte::UP => (self.up, self.ready) = (true, false),
            byte::READY => (self.up, self.ready) = (true, true),
            byte::PERMANENT if goal.up => {
                (self.up, self.ready) = (goal.up, goal.ready);
                return true;
            }
            byte::EXIT if !self.meets(goal) => {
                (self.up, self.ready) = (goal.up, goal.ready);
                return true;
            }
            _ => {}
        }
        false
    }
}

/// Services being watched: subscribed first, then their status read.
#[derive(Debug)]
pub struct Watch {
    services: Vec<Watched>,
}

/// Which step of subscribing failed, for the caller's message.
#[derive(Debug)]
pub enum WatchError {
    /// Could not subscribe to `event/` of the service at this index.
    Subscribe(usize, io::Error),
    /// Could not read the status file of the service at this index.
    Status(usize, io::Error),
}

impl WatchError {
    /// The failure in s6's words, naming the directory (`dirs` as given to [`Watch::new`]).
    pub fn failure<P: AsRef<Path>>(&self, dirs: &[P]) -> Failure {
        let (what, i, e) = match self {
            WatchError::Subscribe(i, e) => ("subscribe to events for", *i, e),
            WatchError::Status(i, e) => ("read status for", *i, e),
        };
        let dir = dirs.get(i).map(|d| show(d.as_ref())).unwrap_or_default();
        Failure::sys(format!("{what} {dir}"), e)
    }
}

/// The result of a finished wait as a tool reports it: success, the number of
/// failed services, a timeout (99) or a system error (111).
pub fn wait_outcome(r: Result<u32, WaitError>) -> Result<(), Failure> {
    match r {
        Ok(0) => Ok(()),
        Ok(n) => Err(Failure::new(
            Exit::Failures(u8::try_from(n).unwrap_or(u8::MAX)),
            "some services reported permanent failure or their supervisor died",
        )),
        Err(WaitError::Timeout) => Err(Failure::new(Exit::Timeout, "timed out")),
        Err(WaitError::Sys(e)) => Err(Failure::sys("wait for events", &e)),
    }
}

impl Watch {
    /// Subscribes to each service, then reads its status (in that order, per service).
    pub fn new<P: AsRef<Path>>(dirs: &[P]) -> Result<Self, WatchError> {
        Self::subscribe(dirs, false)
    }

    /// Subscribes to services that may not be supervised yet (a scanner is about to
    /// start them): a missing status file counts as "down, not ready", and the
    /// events tell the rest. The subscriptions must exist before the scanner starts
    /// the supervisors, or their first events could be missed.
    pub fn unstarted<P: AsRef<Path>>(dirs: &[P]) -> Result<Self, WatchError> {
        Self::subscribe(dirs, true)
    }

    fn subscribe<P: AsRef<Path>>(dirs: &[P], missing_ok: bool) -> Result<Self, WatchError> {
        let mut services = Vec::with_capacity(dirs.len());
        for (i, dir) in dirs.iter().enumerate() {
            let sub = Subscription::new(dir.as_ref()).map_err(|e| WatchError::Subscribe(i, e))?;
            let st = match status::read(dir.as_ref()) {
                Ok(st) => st,
                Err(e) if missing_ok && e.kind() == io::ErrorKind::NotFound => Status::default(),
                Err(e) => return Err(WatchError::Status(i, e)),
            };
            services.push(Watched {
                sub,
                up: st.is_up(),
                ready: st.ready,
                notifies: true,
                pending: VecDeque::new(),
            });
        }
        Ok(Watch { services })
    }

    /// Declares that service `i` never notifies readiness (see [`Watched::notifies`]).
    pub fn without_readiness(&mut self, i: usize) {
        if let Some(s) = self.services.get_mut(i) {
            s.notifies = false;
        }
    }

    fn got(&self, goal: Goal, any: bool) -> bool {
        if any {
            self.services.iter().any(|s| s.meets(goal))
        } else {
            self.services.iter().all(|s| s.meets(goal))
        }
    }

    /// Waits until every service (or, with `any`, one of them) meets `goal`.
    ///
    /// Returns the number of services that failed on the way: a permanent failure
    /// (`O`) while waiting for up, or a supervisor exit (`x`) before the goal. A
    /// failed service counts as having reached the goal, as in s6.
    pub fn wait(
        &mut self,
        goal: Goal,
        any: bool,
        deadline: Option<Instant>,
    ) -> Result<u32, WaitError> {
        let mut failures = 0;
        let mut buf = [0u8; 256];
        loop {
            if self.got(goal, any) {
                return Ok(failures);
            }
            // Apply what was already read, one event at a time, before reading more.
            if let Some(s) = self.services.iter_mut().find(|s| !s.pending.is_empty()) {
                if let Some(ev) = s.pending.pop_front() {
                    failures += u32::from(s.apply(ev, goal));
                }
                continue;
            }
            if deadline.is_some_and(|d| d <= Instant::now()) {
                return Err(WaitError::Timeout);
            }
            let timeout = crate::poll::timeout(deadline);
            let readable: Vec<bool> = {
                let mut fds: Vec<PollFd<'_>> = self
                    .services
                    .iter()
                    .map(|s| PollFd::new(s.sub.as_fd(), PollFlags::POLLIN))
                    .collect();
                match poll(&mut fds, timeout) {
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(WaitError::Sys(e.into())),
                }
                fds.iter()
                    .map(|f| f.revents().is_some_and(|r| !r.is_empty()))
                    .collect()
            };
            for (s, readable) in self.services.iter_mut().zip(readable) {
                if readable {
                    let n = s.sub.read(&mut buf).map_err(WaitError::Sys)?;
                    s.pending.extend(&buf[..n]);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_name_and_notification() {
        let d = tempfile::tempdir().unwrap();
        let mut sub = Subscription::new(d.path()).unwrap();
        let ev = d.path().join(EVENT_DIR);
        let meta = fs::metadata(&ev).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o3730);
        let names: Vec<String> = fs::read_dir(&ev)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names.len(), 1);
        assert_eq!(names[0].len(), NAME_LEN);
        assert!(names[0].starts_with("ftrig1:@"));
        // A stale listener (FIFO with no reader) and a foreign file are handled.
        nix::unistd::mkfifo(
            &ev.join("ftrig1:@400000006b06dd392544d8de:stale0"),
            Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        fs::write(ev.join("unrelated"), "").unwrap();
        notify(&ev, b"dD").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(sub.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"dD");
        assert!(!ev.join("ftrig1:@400000006b06dd392544d8de:stale0").exists());
        assert!(ev.join("unrelated").exists());
        let path = sub.path.clone();
        drop(sub);
        assert!(!path.exists());
    }

    #[test]
    fn dirent_parsing_handles_many_entries() {
        let d = tempfile::tempdir().unwrap();
        for i in 0..300 {
            fs::write(d.path().join(format!("entry-with-a-long-name-{i:04}")), "").unwrap();
        }
        let f = File::open(d.path()).unwrap();
        let mut buf = [0u8; 2048];
        let mut seen = 0;
        loop {
            let n = sys::getdents64(f.as_fd(), &mut buf).unwrap();
            if n == 0 {
                break;
            }
            seen += dirents(&buf[..n])
                .filter(|n| n.to_bytes().starts_with(b"entry-"))
                .count();
        }
        assert_eq!(seen, 300);
    }

    #[test]
    fn events_after_the_goal_are_kept_for_the_next_wait() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("supervise")).unwrap();
        let up = Status {
            pid: 7,
            wantup: true,
            ..Status::default()
        };
        status::write(d.path(), &up).unwrap();
        let mut w = Watch::new(&[d.path()]).unwrap();
        // A restart as one burst: down, finished, up again.
        notify(&d.path().join(EVENT_DIR), b"dDu").unwrap();
        let soon = Some(Instant::now() + std::time::Duration::from_secs(5));
        assert_eq!(w.wait(Goal::DOWN_READY, false, soon).unwrap(), 0);
        assert_eq!(w.wait(Goal::UP, false, soon).unwrap(), 0, "the u was kept");
        let now = Some(Instant::now());
        assert!(matches!(
            w.wait(Goal::DOWN, false, now),
            Err(WaitError::Timeout)
        ));
    }

    #[test]
    fn permanent_failure_and_supervisor_exit_are_counted() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("supervise")).unwrap();
        status::write(d.path(), &Status::default()).unwrap();
        let mut w = Watch::new(&[d.path()]).unwrap();
        notify(&d.path().join(EVENT_DIR), b"udOD").unwrap();
        let soon = Some(Instant::now() + std::time::Duration::from_secs(5));
        assert_eq!(w.wait(Goal::READY, false, soon).unwrap(), 1);
        let mut w = Watch::new(&[d.path()]).unwrap();
        notify(&d.path().join(EVENT_DIR), b"x").unwrap();
        assert_eq!(w.wait(Goal::UP, false, soon).unwrap(), 1);
    }

    #[test]
    fn meets_follows_s6_svwait() {
        let d = tempfile::tempdir().unwrap();
        let mut w = Watched {
            sub: Subscription::new(d.path()).unwrap(),
            up: true,
            ready: false,
            notifies: true,
            pending: VecDeque::new(),
        };
        assert!(w.meets(Goal::UP));
        assert!(!w.meets(Goal::READY));
        w.notifies = false;
        assert!(w.meets(Goal::READY));
        w.up = false;
        assert!(w.meets(Goal::DOWN));
        assert!(!w.meets(Goal::DOWN_READY));
    }
}
