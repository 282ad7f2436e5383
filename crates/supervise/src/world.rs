//! The real effects behind [`World`]: files in the service directory (the cwd),
//! processes, signals, and warnings on stderr.
//!
//! Invariants: settings are re-read each time they are needed (as s6 does), so an
//! edit to `timeout-kill` applies to the next stop without a restart; a failure here
//! is a warning, never an exit — the supervisor keeps supervising.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use svkit_core::config::{self, Setting};
use svkit_core::report::{self, strerror};
use svkit_core::servicedir::{
    DEATH_TALLY, DOWN, DOWN_SIGNAL, EVENT_DIR, FINISH, MAX_DEATH_TALLY, NOTIFICATION_FD, RUN,
    STATUS, STATUS_NEW, TIMEOUT_FINISH, TIMEOUT_KILL,
};
use svkit_core::status::{self, Status, wstat_exitcode};
use svkit_core::{Tai64n, deathtally, event, process};

use crate::machine::{RetryIn, World};

/// Wait after an `exec` failure of `./run` (missing, not executable…), as s6.
const RETRY_EXEC: Duration = Duration::from_secs(10);
/// First wait after a resource failure (fork refused, no descriptors, no
/// memory); it doubles with each failure in a row, up to [`RETRY_RESOURCE_MAX`].
/// s6 waits 60 s every time; starting small brings a service back within a second
/// of the resource returning, and the doubling keeps a lasting shortage quiet.
const RETRY_RESOURCE: Duration = Duration::from_secs(1);
/// The longest wait after resource failures in a row (s6's fixed wait).
const RETRY_RESOURCE_MAX: Duration = Duration::from_secs(60);
/// How often a status record that could not be written is tried again.
const RETRY_STATUS: Duration = Duration::from_secs(1);

/// The supervisor's side of the world.
pub(crate) struct Real {
    /// `supervise DIR`, the prefix of our messages.
    who: String,
    /// The service directory as given: `run`'s and `finish`'s argument.
    name: OsString,
    /// Read end of the current run's notification pipe.
    note: Option<OwnedFd>,
    /// Resource failures in a row (fork, pipe), for the back-off.
    resource_failures: u32,
    /// A status record that could not be written (disk full…), and when to try
    /// again: the file must not keep lying once space returns.
    unwritten: Option<(Status, Instant)>,
}

impl Real {
    pub(crate) fn new(who: String, name: OsString) -> Self {
        Real {
            who,
            name,
            note: None,
            resource_failures: 0,
            unwritten: None,
        }
    }

    /// When the unwritten status record is due to be tried again.
    pub(crate) fn status_retry(&self) -> Option<Instant> {
        self.unwritten.as_ref().map(|(_, at)| *at)
    }

    /// Tries the unwritten status record again, if due. Silent while it keeps
    /// failing (its warning was given when the record was first refused); one
    /// line when it goes through.
    pub(crate) fn retry_status(&mut self, now: Instant) {
        let Some((st, at)) = self.unwritten else {
            return;
        };
        if at <= now && self.put_status(&st).is_err() {
            self.unwritten = Some((st, now + RETRY_STATUS));
        }
    }

    /// Writes `st` (to `status.new`, then renamed); one line if it replaces a
    /// record that had been refused.
    fn put_status(&mut self, st: &Status) -> io::Result<()> {
        status::write_files(Path::new(STATUS_NEW), Path::new(STATUS), st)?;
        if self.unwritten.take().is_some() {
            report::info(&self.who, format_args!("{STATUS} written again"));
        }
        Ok(())
    }

    /// The wait before the next try after a failure to start `./run`: resource
    /// shortages back off from 1 s, doubling, to 60 s; anything else waits 10 s.
    fn retry_after(&mut self, e: &io::Error) -> Duration {
        if !e.raw_os_error().is_some_and(is_resource_errno) {
            return RETRY_EXEC;
        }
        let wait = RETRY_RESOURCE
            .saturating_mul(1 << self.resource_failures.min(6))
            .min(RETRY_RESOURCE_MAX);
        self.resource_failures = self.resource_failures.saturating_add(1);
        wait
    }

    /// The notification pipe to poll, if the current run has one.
    pub(crate) fn notification(&self) -> Option<&OwnedFd> {
        self.note.as_ref()
    }

    /// Reads the notification pipe: `Some(true)` once a newline arrives (the pipe is
    /// then closed), `Some(false)` if not yet, `None` if it was closed without one.
    pub(crate) fn read_notification(&mut self, buf: &mut [u8]) -> Option<bool> {
        let fd = self.note.as_ref()?;
        match nix::unistd::read(fd.as_fd(), buf) {
            Ok(n) if n > 0 => {
                if buf[..n].contains(&b'\n') {
                    self.note = None;
                    Some(true)
                } else {
                    Some(false)
                }
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Some(false),
            Ok(_) | Err(_) => {
                self.note = None;
                None
            }
        }
    }

    pub(crate) fn warn_io(&self, what: &str, e: &io::Error) {
        report::warn(&self.who, format_args!("unable to {what}: {}", strerror(e)));
    }

    fn uint(&self, file: &str) -> Option<u32> {
        self.setting(file, config::read_uint(Path::new(file)))
    }

    fn setting<T>(&self, file: &str, s: Setting<T>) -> Option<T> {
        match s {
            Setting::Set(v) => Some(v),
            Setting::Absent => None,
            Setting::Invalid => {
                report::warn(&self.who, format_args!("invalid {file}"));
                None
            }
            Setting::Unreadable(e) => {
                self.warn_io(&format!("read {file}"), &e);
                None
            }
        }
    }

    fn millis(&self, file: &str, default: u32) -> Option<Duration> {
        match self.uint(file).unwrap_or(default) {
            0 => None,
            ms => Some(Duration::from_millis(u64::from(ms))),
        }
    }
}

/// No room for a status record: a full file system, a quota, no inode.
fn is_space_errno(e: i32) -> bool {
    [Errno::ENOSPC, Errno::EDQUOT]
        .iter()
        .any(|x| *x as i32 == e)
}

fn is_resource_errno(e: i32) -> bool {
    [Errno::EAGAIN, Errno::ENOMEM, Errno::EMFILE, Errno::ENFILE]
        .iter()
        .any(|x| *x as i32 == e)
}

impl World for Real {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn stamp(&self) -> Tai64n {
        Tai64n::now()
    }

    /// One warning per record refused; the latest record refused for lack of
    /// space is retried every second until it is written (see
    /// [`Real::retry_status`]). The old file stays
    /// whole meanwhile: `status.new` is written, then renamed.
    fn write_status(&mut self, st: &Status) {
        match self.put_status(st) {
            Ok(()) => {}
            // Only a lack of space passes by itself; any other failure (a removed
            // supervise/, EIO) is said once and waits for the next change, so a
            // broken directory does not wake the supervisor every second.
            Err(e) if matches!(e.raw_os_error(), Some(libc_errno) if is_space_errno(libc_errno)) => {
                let wait = RETRY_STATUS.as_secs();
                self.warn_io(
                    &format!("write {STATUS} - trying again every {wait} second"),
                    &e,
                );
                self.unwritten = Some((*st, Instant::now() + RETRY_STATUS));
            }
            Err(e) => {
                self.unwritten = None;
                self.warn_io(&format!("write {STATUS}"), &e);
            }
        }
    }

    fn notify(&mut self, events: &[u8]) {
        // A missing event/ (removed by hand) only means nobody can listen.
        if let Err(e) = event::notify(Path::new(EVENT_DIR), events) {
            if e.kind() != io::ErrorKind::NotFound {
                self.warn_io("notify event/", &e);
            }
        }
    }

    fn spawn_run(&mut self) -> Result<i32, RetryIn> {
        let pipe = match self.uint(NOTIFICATION_FD) {
            None => None,
            Some(n) => match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
                Ok((r, w)) => Some((r, w, i32::try_from(n).unwrap_or(i32::MAX))),
                Err(e) => {
                    let e = e.into();
                    let wait = self.retry_after(&e);
                    self.warn_io(
                        &format!(
                            "create a notification pipe - waiting {} seconds",
                            wait.as_secs()
                        ),
                        &e,
                    );
                    return Err(RetryIn(wait));
                }
            },
        };
        let map = pipe.as_ref().map(|(_, w, n)| (w.as_fd(), *n));
        let run = Path::new(".").join(RUN);
        match process::spawn_session(&run, OsStr::new(RUN), &[&self.name], map) {
            Ok(pid) => {
                self.note = pipe.map(|(r, _, _)| r);
                self.resource_failures = 0;
                Ok(pid)
            }
            Err(e) => {
                let wait = self.retry_after(&e);
                report::warn(
                    &self.who,
                    format_args!(
                        "unable to spawn ./run: {} - waiting {} seconds",
                        strerror(&e),
                        wait.as_secs()
                    ),
                );
                Err(RetryIn(wait))
            }
        }
    }

    fn spawn_finish(&mut self, wstat: i32, pgid: i32) -> Option<i32> {
        let code = wstat_exitcode(wstat).map_or(256, u16::from).to_string();
        let sig = (wstat & 0x7f).to_string();
        let pgid = pgid.to_string();
        let args = [
            OsStr::new(&code),
            OsStr::new(&sig),
            self.name.as_os_str(),
            OsStr::new(&pgid),
        ];
        let finish = Path::new(".").join(FINISH);
        match process::spawn_session(&finish, OsStr::new(FINISH), &args, None) {
            Ok(pid) => Some(pid),
            Err(e) => {
                // No finish script is normal; anything else deserves a word.
                if e.kind() != io::ErrorKind::NotFound || fs::symlink_metadata(FINISH).is_ok() {
                    self.warn_io("spawn ./finish", &e);
                }
                None
            }
        }
    }

    fn kill(&mut self, pid: i32, sig: i32) {
        if pid > 0 {
            let _ = process::kill(pid, sig);
        }
    }

    fn killpg(&mut self, pgid: i32, sig: i32) {
        if pgid > 0 {
            let _ = process::killpg(pgid, sig);
        }
    }

    fn down_signal(&mut self) -> i32 {
        let s = config::read_signal(Path::new(DOWN_SIGNAL));
        self.setting(DOWN_SIGNAL, s)
            .unwrap_or(nix::sys::signal::Signal::SIGTERM as i32)
    }

    fn timeout_kill(&mut self) -> Option<Duration> {
        self.millis(TIMEOUT_KILL, 0)
    }

    fn timeout_finish(&mut self) -> Option<Duration> {
        self.millis(TIMEOUT_FINISH, 5000)
    }

    fn record_death(&mut self, when: Tai64n, wstat: u16) {
        let max = self.uint(MAX_DEATH_TALLY).unwrap_or(deathtally::DEFAULT);
        if let Err(e) = deathtally::append(Path::new("."), &deathtally::record(when, wstat), max) {
            self.warn_io(&format!("write {DEATH_TALLY}"), &e);
        }
    }

    fn drop_notification(&mut self) {
        self.note = None;
    }

    fn set_down_file(&mut self, present: bool) {
        let r = if present {
            File::options()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o666)
                .open(DOWN)
                .map(drop)
        } else {
            match fs::remove_file(DOWN) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        };
        if let Err(e) = r {
            let what = if present { "touch" } else { "unlink" };
            self.warn_io(&format!("{what} {DOWN}"), &e);
        }
    }

    fn detach_stdio(&mut self) {
        let r = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .and_then(|null| {
                nix::unistd::dup2_stdin(&null)?;
                nix::unistd::dup2_stdout(&null)?;
                Ok(())
            });
        if let Err(e) = r {
            self.warn_io("redirect stdin and stdout to /dev/null", &e);
        }
    }

    fn warn(&mut self, msg: &str) {
        report::warn(&self.who, msg);
    }
}
