//! Running a directory of scripts (`cont-init.d`, `cont-finish.d`) and single
//! commands, forgiving what s6-overlay v3 is strict about.
//!
//! Invariants: scripts run one at a time in bytewise name order, dot-files
//! skipped, each to its end (or its time limit); a script that is not executable
//! still runs, through its `#!` interpreter (or `/bin/sh`), with one warning; a
//! script that cannot run gets one line saying why — a missing interpreter, or
//! Windows (CRLF) line endings — instead of a bare "No such file or directory".

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use svkit_core::process::{self, Spawn};
use svkit_core::report::{show, strerror};

use crate::control::{shell_code, wait_child};
use crate::settings::Log;

/// The entries of `dir` to run, in bytewise order; a missing directory has none.
pub(crate) fn entries(dir: &Path) -> Vec<PathBuf> {
    svkit_core::servicedir::visible_names(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|n| dir.join(n))
        .collect()
}

/// The `#!` line of a file: interpreter and optional argument, raw.
fn shebang(path: &Path) -> Option<(Vec<u8>, Option<Vec<u8>>)> {
    let mut head = [0u8; 256];
    let n = fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .ok()?;
    let line = head[..n].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let mut parts = line
        .trim_ascii_start()
        .splitn(2, |b| *b == b' ' || *b == b'\t');
    let interp = parts.next()?.to_vec();
    let arg = parts
        .next()
        .map(|a| a.trim_ascii().to_vec())
        .filter(|a| !a.is_empty());
    Some((interp, arg))
}

/// Why `path` could not be executed, in words a user can act on.
pub(crate) fn explain(path: &Path, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::NotFound && path.is_file() {
        if let Some((interp, arg)) = shebang(path) {
            let crlf = interp.ends_with(b"\r") || arg.as_ref().is_some_and(|a| a.ends_with(b"\r"));
            if crlf {
                return "it has Windows (CRLF) line endings: its #! line names an interpreter \
                        ending in a carriage return (convert it with dos2unix)"
                    .to_owned();
            }
            return format!(
                "its interpreter {} does not exist",
                String::from_utf8_lossy(&interp)
            );
        }
    }
    strerror(e)
}

/// Starts `path` (no arguments) in `cwd`. A regular file without execute
/// permission is run through its `#!` interpreter, or `/bin/sh`, with a warning.
pub(crate) fn spawn(path: &Path, cwd: &Path, log: &Log) -> io::Result<i32> {
    let how = Spawn {
        cwd: Some(cwd),
        ..Spawn::default()
    };
    match how.run(path, path.as_os_str(), &[]) {
        Err(e) if e.raw_os_error() == Some(libc_eacces()) && is_unexecutable_file(path) => {
            let (interp, arg) = shebang(path).map_or((b"/bin/sh".to_vec(), None), |(i, a)| (i, a));
            let interp = PathBuf::from(OsStr::from_bytes(&interp));
            log.warn(format_args!(
                "{} is not executable: running it with {} (make it executable in the image)",
                show(path),
                show(&interp)
            ));
            let arg = arg.map(|a| OsStr::from_bytes(&a).to_owned());
            let mut args: Vec<&OsStr> = arg.iter().map(OsString::as_os_str).collect();
            args.push(path.as_os_str());
            how.run(&interp, interp.as_os_str(), &args)
        }
        r => r,
    }
}

const fn libc_eacces() -> i32 {
    nix::errno::Errno::EACCES as i32
}

fn is_unexecutable_file(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 == 0)
}

/// How a script ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Its exit code (128 + signal if killed).
    Exited(i32),
    /// It could not be started.
    NotRun,
    /// It ran out of time and was killed.
    TimedOut,
}

impl Outcome {
    pub(crate) fn ok(self) -> bool {
        self == Outcome::Exited(0)
    }
}

/// Runs every script of `dir` in order, as `[label] NAME: executing...` /
/// `[label] NAME: exited N.` lines say; each may run for `limit` (then SIGKILL).
/// Returns how many did not exit 0.
pub(crate) fn run_dir(dir: &Path, label: &str, limit: Option<Duration>, log: &Log) -> usize {
    let scripts = entries(dir);
    if scripts.is_empty() {
        return 0;
    }
    let mut failed = 0;
    for path in scripts {
        let name = path.file_name().map(show).unwrap_or_default();
        log.info(format_args!("[{label}] {name}: executing..."));
        let outcome = run_one(&path, limit, log);
        match outcome {
            Outcome::Exited(code) => log.info(format_args!("[{label}] {name}: exited {code}.")),
            Outcome::TimedOut => log.warn(format_args!(
                "{}: killed after {} ms",
                show(&path),
                limit.map_or(0, |d| d.as_millis())
            )),
            Outcome::NotRun => {}
        }
        if !outcome.ok() {
            failed += 1;
        }
    }
    failed
}

/// Runs one script to its end (or `limit`), in `/`.
pub(crate) fn run_one(path: &Path, limit: Option<Duration>, log: &Log) -> Outcome {
    if !path.is_file() {
        log.warn(format_args!(
            "unable to run {}: not a regular file",
            show(path)
        ));
        return Outcome::NotRun;
    }
    let pid = match spawn(path, Path::new("/"), log) {
        Ok(pid) => pid,
        Err(e) => {
            log.warn(format_args!(
                "unable to run {}: {}",
                show(path),
                explain(path, &e)
            ));
            return Outcome::NotRun;
        }
    };
    let deadline = limit.map(|d| Instant::now() + d);
    match wait_child(pid, deadline) {
        Some(wstat) => Outcome::Exited(shell_code(wstat)),
        None => {
            let _ = process::kill(pid, nix::sys::signal::Signal::SIGKILL as i32);
            let _ = wait_child(pid, None);
            Outcome::TimedOut
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebang_parsing() {
        let d = tempfile_dir();
        let p = d.join("s");
        fs::write(&p, "#!/usr/bin/with-contenv bash\necho hi\n").unwrap();
        assert_eq!(
            shebang(&p),
            Some((b"/usr/bin/with-contenv".to_vec(), Some(b"bash".to_vec())))
        );
        fs::write(&p, "#!/bin/sh\r\necho hi\r\n").unwrap();
        let e = io::Error::from_raw_os_error(2);
        assert!(explain(&p, &e).contains("CRLF"));
        fs::write(&p, "#!/nonexistent/interp\n").unwrap();
        assert_eq!(
            explain(&p, &e),
            "its interpreter /nonexistent/interp does not exist"
        );
        fs::write(&p, "echo no shebang\n").unwrap();
        assert_eq!(shebang(&p), None);
        let _ = fs::remove_dir_all(d);
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("svkit-init-test-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        d
    }
}
