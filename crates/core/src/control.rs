//! The control FIFO, client side (s6: `s6_svc_write.c`, `s6_svc_writectl.c`).
//!
//! Invariant: commands are written in one `write(2)` of every byte, in order, to a
//! FIFO opened `O_WRONLY|O_NONBLOCK`; `ENXIO` there means nobody reads it ("supervisor
//! not listening"). The same transport drives `supervise/control` and
//! `.s6-svscan/control`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

use nix::fcntl::{FcntlArg, OFlag, fcntl};

use crate::servicedir::{CONTROL, SUPERVISE_DIR};

/// Why commands could not be delivered.
#[derive(Debug)]
pub enum ControlError {
    /// No process reads the FIFO (or the control directory does not exist yet).
    NotListening,
    /// The control directory exists but has no usable FIFO in it.
    Broken,
    /// Another system error, e.g. the service directory does not exist.
    Sys(io::Error),
}

impl std::fmt::Display for ControlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ControlError::NotListening => f.write_str("not listening"),
            ControlError::Broken => f.write_str("no usable control FIFO"),
            ControlError::Sys(e) => f.write_str(&crate::report::strerror(e)),
        }
    }
}

/// Writes `bytes` to the FIFO at `fifo`. `ENXIO` becomes `NotListening`; any other
/// open error is returned as `Sys` for the caller to interpret.
pub fn write_fifo(fifo: &Path, bytes: &[u8]) -> Result<(), ControlError> {
    let mut f = match File::options()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(fifo)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ENXIO) => return Err(ControlError::NotListening),
        Err(e) => return Err(ControlError::Sys(e)),
    };
    match f.metadata() {
        Ok(m) if m.file_type().is_fifo() => {}
        Ok(_) => return Err(ControlError::Broken),
        Err(e) => return Err(ControlError::Sys(e)),
    }
    // Blocking from here on: a full FIFO waits for the supervisor instead of failing.
    fcntl(&f, FcntlArg::F_SETFL(OFlag::empty())).map_err(|e| ControlError::Sys(e.into()))?;
    if bytes.is_empty() {
        return Ok(());
    }
    f.write_all(bytes).map_err(ControlError::Sys)
}

/// Sends control bytes to the supervisor of the service directory `dir`.
///
/// Distinguishes, as s6-svc does: `dir` missing or not a directory (`Sys`), no
/// `supervise/` (`NotListening`), `supervise/` without a control FIFO (`Broken`).
pub fn send(dir: &Path, bytes: &[u8]) -> Result<(), ControlError> {
    send_via(dir, SUPERVISE_DIR, CONTROL, bytes)
}

/// Sends bytes to the FIFO `ctl` (relative to `dir`) inside control directory `ctldir`.
pub fn send_via(dir: &Path, ctldir: &str, ctl: &str, bytes: &[u8]) -> Result<(), ControlError> {
    match write_fifo(&dir.join(ctl), bytes) {
        Err(ControlError::Sys(e))
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOENT | libc::ENOTDIR | libc::EISDIR)
            ) =>
        {
            if let Err(e) = File::options()
                .read(true)
                .custom_flags(libc::O_DIRECTORY)
                .open(dir)
            {
                return Err(ControlError::Sys(e));
            }
            if dir.join(ctldir).is_dir() {
                Err(ControlError::Broken)
            } else {
                Err(ControlError::NotListening)
            }
        }
        r => r,
    }
}

/// The server side of a control FIFO (`supervise/control`, `.s6-svscan/control`):
/// created with mode 0600 if missing (an existing FIFO, or a symlink to one, is
/// reused; anything else is refused with exit 100), then opened for reading and
/// for writing, both non-blocking. Keep the writer: with it the reader never sees
/// end-of-file. Call with the umask cleared, so the mode is exact.
pub fn listen(path: &str) -> Result<(File, File), crate::report::Failure> {
    use crate::report::Failure;
    match nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(Failure::sys(format!("mkfifo {path}"), &e.into())),
    }
    if !std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo()) {
        return Err(Failure::new(
            crate::exit::Exit::Usage,
            format!("{path} exists and is not a named pipe"),
        ));
    }
    let open = |write: bool| {
        File::options()
            .read(!write)
            .write(write)
            .custom_flags(libc::O_NONBLOCK)
            .open(path)
            .map_err(|e| Failure::sys(format!("open {path}"), &e))
    };
    Ok((open(false)?, open(true)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_like_s6_svc() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("nope");
        assert!(
            matches!(send(&missing, b"u"), Err(ControlError::Sys(e)) if e.raw_os_error() == Some(libc::ENOENT))
        );
        assert!(matches!(
            send(d.path(), b"u"),
            Err(ControlError::NotListening)
        ));
        std::fs::create_dir(d.path().join("supervise")).unwrap();
        assert!(matches!(send(d.path(), b"u"), Err(ControlError::Broken)));
        nix::unistd::mkfifo(
            &d.path().join(CONTROL),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
        assert!(matches!(
            send(d.path(), b"u"),
            Err(ControlError::NotListening)
        ));
        let file = d.path().join("afile");
        std::fs::write(&file, "").unwrap();
        assert!(
            matches!(send(&file, b"u"), Err(ControlError::Sys(e)) if e.raw_os_error() == Some(libc::ENOTDIR))
        );
    }
}
