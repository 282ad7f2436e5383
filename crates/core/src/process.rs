//! Starting and reaping children the way s6-supervise does: each program starts in
//! a new session (so its pgid is its pid), in the caller's cwd and environment.
//!
//! Invariant: children start with an empty signal mask (std's `Command` resets
//! SIGPIPE's disposition but keeps the mask, so the pre-exec hook empties it) —
//! whatever the supervisor blocked for its signalfd; every descriptor the
//! supervisor holds is close-on-exec.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::envdir::Change;
use crate::report::Failure;
use crate::sys;

/// How to start a child: by default in the caller's session, with the caller's
/// standard descriptors.
#[derive(Default)]
pub struct Spawn<'a> {
    /// Call `setsid()` in the child, so its pgid and sid are its pid.
    pub session: bool,
    /// Give the child `from` as descriptor `to` (a notification pipe).
    pub fd: Option<(BorrowedFd<'a>, RawFd)>,
    /// A second descriptor to give the child, as `fd` (a log processor's fd 5).
    pub fd2: Option<(BorrowedFd<'a>, RawFd)>,
    /// The child's stdin.
    pub stdin: Option<BorrowedFd<'a>>,
    /// The child's stdout.
    pub stdout: Option<BorrowedFd<'a>>,
    /// An `RLIMIT_NOFILE` (soft, hard) to restore in the child, for a parent that
    /// raised its own limit (see [`raise_nofile`]).
    pub nofile: Option<(u64, u64)>,
    /// Replace the environment with exactly these variables.
    pub env: Option<&'a [(OsString, OsString)]>,
    /// Run in this directory.
    pub cwd: Option<&'a Path>,
}

impl Spawn<'_> {
    /// Starts `program` with `argv = [argv0, args…]`; its pid. An `exec` failure is
    /// reported here, as an error, not as a child exit status.
    pub fn run(&self, program: &Path, argv0: &OsStr, args: &[&OsStr]) -> io::Result<i32> {
        let (mut cmd, parked) = self.command(program, argv0, args)?;
        let child = cmd.spawn();
        drop(parked);
        let child = child?;
        // The caller reaps it with `reap`; dropping `Child` neither waits nor kills.
        i32::try_from(child.id()).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
    }

    /// Replaces the current process with `program`, set up as for [`Spawn::run`]
    /// (the signal mask emptied, `RLIMIT_NOFILE` restored…). Returns only on failure.
    pub fn exec(&self, program: &Path, argv0: &OsStr, args: &[&OsStr]) -> io::Error {
        match self.command(program, argv0, args) {
            Ok((mut cmd, _parked)) => cmd.exec(),
            Err(e) => e,
        }
    }

    /// The `Command`, and a descriptor to keep until it has forked (see below).
    fn command(
        &self,
        program: &Path,
        argv0: &OsStr,
        args: &[&OsStr],
    ) -> io::Result<(Command, Vec<std::os::fd::OwnedFd>)> {
        // std reports exec failures through a pipe it opens just before forking, on
        // the lowest free descriptors. If `to` is free it could be one of them, and
        // the child's dup2 would clobber it; so `to` is kept busy in the parent.
        let mut parked = Vec::new();
        let mut maps = [None, None];
        for (slot, fd) in maps.iter_mut().zip([self.fd, self.fd2]) {
            *slot = match fd {
                Some((from, to)) if from.as_raw_fd() != to && !sys::fd_is_open(to) => {
                    parked.push(sys::dup_to(from, to)?);
                    Some((to, to))
                }
                Some((from, to)) => Some((from.as_raw_fd(), to)),
                None => None,
            };
        }
        let mut cmd = Command::new(program);
        cmd.arg0(argv0).args(args);
        if let Some(fd) = self.stdin {
            cmd.stdin(Stdio::from(fd.try_clone_to_owned()?));
        }
        if let Some(fd) = self.stdout {
            cmd.stdout(Stdio::from(fd.try_clone_to_owned()?));
        }
        if let Some(env) = self.env {
            cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
        }
        if let Some(dir) = self.cwd {
            cmd.current_dir(dir);
        }
        sys::pre_exec(&mut cmd, self.session, maps, self.nofile);
        Ok((cmd, parked))
    }
}

/// Replaces this process with `argv[0]` (looked up in `PATH` when it holds no `/`,
/// as `execvp` does, in the changed environment's `PATH`), given `argv[1..]` and the
/// environment changed by `env`: the last step of every chain-loader. The signal
/// mask and dispositions are inherited as they are. Returns only on failure, with
/// what to report (exit 127 for a program not found, 126 otherwise).
pub fn chain(argv: &[OsString], env: &[Change]) -> Failure {
    let Some((program, args)) = argv.split_first() else {
        return Failure::usage();
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for change in env {
        match change {
            Change::Set(k, v) => cmd.env(k, v),
            Change::Unset(k) => cmd.env_remove(k),
        };
    }
    Failure::exec(program, &cmd.exec())
}

/// `fork(2)`: `Some(child pid)` in the parent, `None` in the child. Refused
/// (`EDEADLK`) when the process has more than one thread, the one case where the
/// child could inherit a lock that another thread holds; svkit's tools never start
/// threads.
pub fn fork() -> io::Result<Option<i32>> {
    if thread_count()? != 1 {
        return Err(io::Error::from_raw_os_error(libc::EDEADLK));
    }
    sys::fork_single_threaded()
}

/// The number of threads of this process (`/proc/self/stat`, field 20).
fn thread_count() -> io::Result<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(17)?.parse().ok())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Calls `f` with descriptor `fd` (one the process was given, such as a terminal
/// on 0) borrowed; `None` if `fd` is not open.
pub fn with_fd<R>(fd: RawFd, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
    sys::with_open_fd(fd, f)
}

/// Whether descriptor `fd` is an open pipe (FIFO) or socket.
#[must_use]
pub fn fd_is_pipe_or_socket(fd: RawFd) -> bool {
    sys::fd_file_type(fd).is_some_and(|t| t == libc::S_IFIFO || t == libc::S_IFSOCK)
}

/// If stdin is a terminal, makes it the controlling terminal of our session (we
/// must be a session leader without one). A container's terminal is usually held
/// by PID 1 already (runc gives it to it), which has no use for it: it is taken
/// over when we may. Failures are ignored: no terminal, no job control.
pub fn take_controlling_tty() {
    if nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
        && sys::set_controlling_tty(0, false).is_err()
    {
        let _ = sys::set_controlling_tty(0, true);
    }
}

/// Takes ownership of descriptor `fd`, inherited from our parent and named on the
/// command line (`svscan -d 3`). Fails with EBADF if it is not open. Call it before
/// opening anything else, so that the number cannot be one of our own.
pub fn inherited_fd(fd: RawFd) -> io::Result<std::os::fd::OwnedFd> {
    sys::take_inherited_fd(fd)
}

/// Writes a newline to `fd` and closes it: the readiness protocol of
/// `s6-svscan -d` and of `notification-fd`.
pub fn notify_ready(fd: std::os::fd::OwnedFd) -> io::Result<()> {
    nix::unistd::write(&fd, b"\n")?;
    Ok(())
}

/// Spawns `program` in a new session, with `fd` mapped as [`Spawn::fd`].
pub fn spawn_session(
    program: &Path,
    argv0: &OsStr,
    args: &[&OsStr],
    fd: Option<(BorrowedFd<'_>, RawFd)>,
) -> io::Result<i32> {
    Spawn {
        session: true,
        fd,
        ..Spawn::default()
    }
    .run(program, argv0, args)
}

/// One terminated child and its raw wait status, without blocking.
pub fn reap() -> io::Result<Option<(i32, i32)>> {
    sys::reap_one()
}

/// Sends `sig` to process `pid` (raw numbers, so real-time signals work too).
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    sys::kill(pid, sig)
}

/// Sends `sig` to every process of group `pgid`.
pub fn killpg(pgid: i32, sig: i32) -> io::Result<()> {
    sys::kill(-pgid, sig)
}

/// Makes sure descriptors 0, 1 and 2 are open (on `/dev/null` if they were closed),
/// so that no file the program opens later lands on a standard descriptor.
pub fn sanitize_stdio() -> io::Result<()> {
    for fd in 0..3 {
        if !sys::fd_is_open(fd) {
            // open() returns the lowest free descriptor, which is `fd`, since every
            // lower one is open by now.
            let f = std::fs::File::options()
                .read(true)
                .write(true)
                .open("/dev/null")?;
            let _ = std::os::fd::IntoRawFd::into_raw_fd(f);
        }
    }
    Ok(())
}

/// Raises our soft `RLIMIT_NOFILE` to the hard limit (a scanner holds two pipe ends
/// per logged service); returns the original limits, to restore in children.
pub fn raise_nofile() -> Option<(u64, u64)> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).ok()?;
    }
    Some((soft, hard))
}

/// What `/proc/PID/stat` says about a process that matters to a supervisor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcInfo {
    /// One-letter state (`R`, `S`, `Z`…).
    pub state: u8,
    /// Parent process.
    pub ppid: i32,
    /// Process group.
    pub pgrp: i32,
    /// Session.
    pub session: i32,
    /// Controlling terminal (`tty_nr`; 0 for none).
    pub tty: i32,
    /// Start time, in Unix seconds (to within a second).
    pub started: u64,
}

/// Reads `/proc/PID/stat`. Fields are counted after the last `)`, since the
/// command name may hold spaces and parentheses.
pub fn proc_info(pid: i32) -> io::Result<ProcInfo> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let bad = || io::Error::from_raw_os_error(libc::EINVAL);
    let rest = stat.rsplit_once(')').ok_or_else(bad)?.1;
    // After ")": state(3) ppid(4) pgrp(5) session(6) … starttime(22).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<i64>().ok()).ok_or_else(bad);
    let ticks = u64::try_from(num(19)?).map_err(|_| bad())?;
    let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|v| u64::try_from(v).ok())
        .filter(|&v| v > 0)
        .unwrap_or(100);
    Ok(ProcInfo {
        state: f.first().and_then(|s| s.bytes().next()).ok_or_else(bad)?,
        ppid: i32::try_from(num(1)?).map_err(|_| bad())?,
        pgrp: i32::try_from(num(2)?).map_err(|_| bad())?,
        session: i32::try_from(num(3)?).map_err(|_| bad())?,
        tty: i32::try_from(num(4)?).map_err(|_| bad())?,
        started: boot_time()? + ticks / hz,
    })
}

/// When the system booted, in Unix seconds (`btime` in `/proc/stat`).
pub fn boot_time() -> io::Result<u64> {
    std::fs::read_to_string("/proc/stat")?
        .lines()
        .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// A pidfd for process `pid` (not necessarily our child): it becomes readable,
/// for `poll`, when the process exits.
pub fn pidfd(pid: i32) -> io::Result<std::os::fd::OwnedFd> {
    sys::pidfd_open(pid)
}

/// Waits up to `timeout` for process `pid` (not necessarily our child) to exit:
/// true if it did. Uses a pidfd, which becomes readable at exit.
pub fn wait_exit(pid: i32, timeout: Duration) -> io::Result<bool> {
    let fd = match sys::pidfd_open(pid) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(true),
        Err(e) => return Err(e),
    };
    let end = Instant::now() + timeout;
    loop {
        let ms = crate::poll::timeout(Some(end));
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&fd),
            nix::poll::PollFlags::POLLIN,
        )];
        match nix::poll::poll(&mut fds, ms) {
            Ok(0) => return Ok(false),
            Ok(_) => return Ok(true),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}
