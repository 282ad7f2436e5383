//! Starting and reaping children the way s6-supervise does: each program starts in
//! a new session (so its pgid is its pid), in the caller's cwd and environment.
//!
//! Invariant: children start with an empty signal mask (std's `Command` resets
//! SIGPIPE's disposition but keeps the mask, so the pre-exec hook empties it) —
//! whatever the supervisor blocked for its signalfd; every descriptor the
//! supervisor holds is close-on-exec.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use crate::sys;

/// Spawns `program` with `argv = [argv0, args…]` in a new session. If `fd` is
/// `Some((from, to))`, the child gets `from` as descriptor `to`.
///
/// An `exec` failure is reported here, as an error, not as a child exit status.
pub fn spawn_session(
    program: &Path,
    argv0: &OsStr,
    args: &[&OsStr],
    fd: Option<(BorrowedFd<'_>, RawFd)>,
) -> io::Result<i32> {
    // std reports exec failures through a pipe it opens just before forking, on the
    // lowest free descriptors. If `to` is free it could be one of them, and the
    // child's dup2 would clobber it; so `to` is kept busy in the parent meanwhile.
    let mut parked = None;
    let map = match fd {
        Some((from, to)) if from.as_raw_fd() != to && !sys::fd_is_open(to) => {
            parked = Some(sys::dup_to(from, to)?);
            Some((to, to))
        }
        Some((from, to)) => Some((from.as_raw_fd(), to)),
        None => None,
    };
    let mut cmd = Command::new(program);
    cmd.arg0(argv0).args(args);
    sys::session_and_fd(&mut cmd, map);
    let child = cmd.spawn();
    drop(parked);
    let child = child?;
    // The caller reaps it with `reap`; dropping `Child` neither waits nor kills.
    i32::try_from(child.id()).map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))
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
