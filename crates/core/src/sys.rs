//! Every `unsafe` block of svkit: raw system calls that nix does not wrap the way the
//! protocol needs them.
//!
//! Invariant: each function here is a thin, safe wrapper whose `// SAFETY:` note says
//! why its call cannot break memory safety; nothing outside this module uses `unsafe`.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Turns a `-1` return into the current `errno`.
macro_rules! syscall {
    ($e:expr) => {{
        let r = $e;
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }};
}

/// `getdents64(2)` into `buf`: the number of bytes filled, 0 at the end of the directory.
///
/// Used instead of `readdir(3)` so that listing `event/` allocates nothing (glibc's
/// `opendir` mallocs a 32 KiB buffer, which would stay in every supervisor's heap).
pub(crate) fn getdents64(dir: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`, which is a valid,
    // exclusively borrowed byte buffer; `dir` is an open descriptor for the whole call.
    let n = syscall!(unsafe {
        libc::syscall(
            libc::SYS_getdents64,
            dir.as_raw_fd(),
            buf.as_mut_ptr(),
            buf.len(),
        )
    })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// `waitpid(-1, WNOHANG)`: one terminated child and its raw wait status, if any.
pub(crate) fn reap_one() -> io::Result<Option<(i32, i32)>> {
    let mut status: libc::c_int = 0;
    // SAFETY: `status` is a valid, writable c_int for the duration of the call.
    let pid = syscall!(unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) })?;
    Ok((pid > 0).then_some((pid, status)))
}

/// `kill(2)`. A negative `pid` addresses a process group.
pub(crate) fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: plain FFI call; kill has no memory-safety preconditions.
    syscall!(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// Whether `fd` is an open descriptor.
pub(crate) fn fd_is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD on any integer only inspects the descriptor table.
    unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
}

/// Calls `f` with descriptor `fd` borrowed, if it is open (`None` otherwise).
pub(crate) fn with_open_fd<R>(fd: RawFd, f: impl FnOnce(BorrowedFd<'_>) -> R) -> Option<R> {
    if !fd_is_open(fd) {
        return None;
    }
    // SAFETY: `fd` is open, and the borrow cannot outlive the call; the descriptor
    // belongs to the process (inherited, like a terminal on 0), which is
    // single-threaded, so nothing closes it while `f` runs.
    Some(f(unsafe { BorrowedFd::borrow_raw(fd) }))
}

/// `dup3(from, to, O_CLOEXEC)`: a close-on-exec copy of `from` at exactly `to`,
/// which the caller has checked is not open.
pub(crate) fn dup_to(from: BorrowedFd<'_>, to: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: plain FFI call on descriptor numbers; no memory is involved.
    let fd = syscall!(unsafe { libc::dup3(from.as_raw_fd(), to, libc::O_CLOEXEC) })?;
    // SAFETY: dup3 succeeded, so `fd` is a descriptor that nothing else owns: `to`
    // was closed before the call.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Takes ownership of descriptor `fd`, inherited from our parent and named on the
/// command line (`svscan -d 3`). Fails with EBADF if it is not open.
pub(crate) fn take_inherited_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 || !fd_is_open(fd) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: `fd` is open, and the caller was handed it by its parent for this
    // one use; nothing else in the process refers to it by number.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The `S_IFMT` bits of what descriptor `fd` refers to, if it is open.
pub(crate) fn fd_file_type(fd: RawFd) -> Option<libc::mode_t> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a full `struct stat` into the buffer on success; we only
    // read it after checking that it succeeded.
    let r = unsafe { libc::fstat(fd, st.as_mut_ptr()) };
    if r != 0 {
        return None;
    }
    // SAFETY: fstat succeeded, so the structure is initialized.
    Some(unsafe { st.assume_init() }.st_mode & libc::S_IFMT)
}

/// `ioctl(fd, TIOCSCTTY, steal)`: make the terminal on `fd` our controlling
/// terminal, taking it from another session if `steal` (needs CAP_SYS_ADMIN).
pub(crate) fn set_controlling_tty(fd: RawFd, steal: bool) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument, not a pointer; no memory is
    // involved.
    syscall!(unsafe { libc::ioctl(fd, libc::TIOCSCTTY, libc::c_int::from(steal)) }).map(drop)
}

/// `pidfd_open(2)`: a descriptor that becomes readable when process `pid` exits.
pub(crate) fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain FFI call on integers; no memory is involved.
    let fd = syscall!(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    let fd = RawFd::try_from(fd).map_err(|_| io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: pidfd_open succeeded, so `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `fork(2)`: `Some(child pid)` in the parent, `None` in the child. The caller
/// ([`crate::process::fork`]) has checked that the process has a single thread.
pub(crate) fn fork_single_threaded() -> io::Result<Option<i32>> {
    // SAFETY: with one thread, the child is an exact copy of a process in which no
    // other thread can hold a lock (allocator, stdio) at the time of the fork, so
    // the child may go on running ordinary Rust code.
    let pid = syscall!(unsafe { libc::fork() })?;
    Ok((pid > 0).then_some(pid))
}

/// Arranges for the child of `cmd`, just before `exec`, to empty its signal mask,
/// call `setsid()` if `session`, `dup2(fd.0, fd.1)` if `fd` is given (clearing
/// close-on-exec on the target) for each given `fds` pair, and restore
/// `RLIMIT_NOFILE` to `nofile`.
pub(crate) fn pre_exec(
    cmd: &mut Command,
    session: bool,
    fds: [Option<(RawFd, RawFd)>; 2],
    nofile: Option<(u64, u64)>,
) {
    let hook = move || -> io::Result<()> {
        // Only async-signal-safe calls (sigprocmask, setsid, dup2, fcntl, setrlimit)
        // on values captured by copy run here; nothing allocates or takes a lock.
        // std resets SIGPIPE's disposition but not the mask, and a supervisor blocks
        // the signals it reads through signalfd: the program must not inherit that.
        nix::sys::signal::sigprocmask(
            nix::sys::signal::SigmaskHow::SIG_SETMASK,
            Some(&nix::sys::signal::SigSet::empty()),
            None,
        )?;
        if session {
            // SAFETY: plain setsid; no memory is involved.
            syscall!(unsafe { libc::setsid() })?;
        }
        for (from, to) in fds.into_iter().flatten() {
            if from == to {
                // SAFETY: plain fcntl on an fd number; no memory is involved.
                syscall!(unsafe { libc::fcntl(to, libc::F_SETFD, 0) })?;
            } else {
                // SAFETY: plain dup2 on fd numbers; no memory is involved.
                syscall!(unsafe { libc::dup2(from, to) })?;
            }
        }
        if let Some((soft, hard)) = nofile {
            nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, soft, hard)?;
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec and only makes
    // async-signal-safe system calls (see above), so it cannot deadlock on a lock
    // held by another thread at fork time or observe torn allocator state.
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// `_exit(code)`: ends a forked child without running exit handlers or flushing
/// buffers it shares with its parent.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit takes any status and never returns.
    unsafe { libc::_exit(code) }
}

/// A compiled POSIX regular expression (`regcomp(3)`), freed on drop.
pub(crate) struct RawRegex(Box<libc::regex_t>);

impl RawRegex {
    /// `regcomp(pattern, REG_EXTENDED | REG_NOSUB)`; the error code and the
    /// error text from `regerror`.
    pub(crate) fn compile(pattern: &std::ffi::CStr) -> Result<Self, (i32, String)> {
        // SAFETY: regex_t is a plain C struct for which all-zero bytes is a valid
        // (unused) value; regcomp initialises it.
        let mut re: Box<libc::regex_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: `re` points to a writable regex_t, `pattern` is NUL-terminated.
        let r = unsafe {
            libc::regcomp(
                &raw mut *re,
                pattern.as_ptr(),
                libc::REG_EXTENDED | libc::REG_NOSUB,
            )
        };
        if r == 0 {
            return Ok(RawRegex(re));
        }
        let mut buf = [0u8; 256];
        // SAFETY: regerror writes at most buf.len() bytes (NUL included) into buf;
        // `re` is the regex_t regcomp just failed on, as regerror expects.
        unsafe { libc::regerror(r, &raw const *re, buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Err((r, String::from_utf8_lossy(&buf[..end]).into_owned()))
    }

    /// `regexec(s) == 0`.
    pub(crate) fn matches(&self, s: &std::ffi::CStr) -> bool {
        // SAFETY: `self.0` was initialised by a successful regcomp and is only freed
        // on drop; `s` is NUL-terminated; REG_NOSUB means no match array is written.
        unsafe { libc::regexec(&raw const *self.0, s.as_ptr(), 0, std::ptr::null_mut(), 0) == 0 }
    }
}

impl Drop for RawRegex {
    fn drop(&mut self) {
        // SAFETY: the regex_t was initialised by a successful regcomp (the only way
        // to build a RawRegex) and is freed exactly once, here.
        unsafe { libc::regfree(&raw mut *self.0) };
    }
}

/// Broken-down local time of Unix second `secs` (`localtime_r(3)`, which reads
/// `TZ` and `/etc/localtime`): (year, month 1-12, day, hour, minute, second).
pub(crate) fn local_time(secs: i64) -> Option<(i32, u32, u32, u32, u32, u32)> {
    let t: libc::time_t = secs;
    // SAFETY: tm is a plain C struct for which all-zero bytes is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; localtime_r is
    // the reentrant variant and writes only into `tm`.
    let r = unsafe { libc::localtime_r(&raw const t, &raw mut tm) };
    if r.is_null() {
        return None;
    }
    let u = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    Some((
        tm.tm_year + 1900,
        u(tm.tm_mon + 1),
        u(tm.tm_mday),
        u(tm.tm_hour),
        u(tm.tm_min),
        u(tm.tm_sec),
    ))
}

/// `tee(2)`: duplicates up to `len` bytes from pipe `from` into pipe `to` without
/// consuming them. 0 means `from` is empty and has no writer left.
pub(crate) fn tee(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
    nonblock: bool,
) -> io::Result<usize> {
    let flags = if nonblock { libc::SPLICE_F_NONBLOCK } else { 0 };
    // SAFETY: plain FFI call on two open descriptors; no memory is passed.
    let n = syscall!(unsafe { libc::tee(from.as_raw_fd(), to.as_raw_fd(), len, flags) })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// `splice(2)` of up to `len` bytes from `from` to `to` at their file offsets: the
/// kernel moves the bytes, so they are either still in `from` or already in `to`.
/// The pipe side does not block (`SPLICE_F_NONBLOCK`): an empty pipe is `EAGAIN`.
pub(crate) fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: null offsets mean "use and update the file positions"; no memory is
    // passed besides those nulls.
    let n = syscall!(unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK,
        )
    })?;
    Ok(usize::try_from(n).unwrap_or(0))
}

/// `memchr(3)`: the index of the first `byte` in `hay`.
pub(crate) fn memchr(byte: u8, hay: &[u8]) -> Option<usize> {
    if hay.is_empty() {
        return None;
    }
    // SAFETY: `hay` is a valid slice of `hay.len()` readable bytes; the returned
    // pointer, if not null, points inside it.
    let p = unsafe { libc::memchr(hay.as_ptr().cast(), libc::c_int::from(byte), hay.len()) };
    if p.is_null() {
        return None;
    }
    Some((p as usize) - (hay.as_ptr() as usize))
}
