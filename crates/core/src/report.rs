//! Diagnostics in skalibs' format: `prog: fatal: unable to <verb> <obj>: <reason>`.
//!
//! Invariant: every message is one line, written with a single `write(2)` so that
//! lines from concurrent processes sharing a stderr never interleave, and a system
//! error is rendered as its bare `strerror` text (no Rust " (os error N)" suffix).

use std::ffi::OsStr;
use std::fmt;
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::exit::Exit;

/// A fatal outcome: the message that follows `prog: fatal: ` and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Exit code the tool returns.
    pub exit: Exit,
    /// Message without the `prog: fatal: ` prefix, e.g. `unable to control x: No such file or directory`.
    pub msg: String,
}

impl Failure {
    /// A failure with an explicit code and message.
    pub fn new(exit: Exit, msg: impl Into<String>) -> Self {
        Failure {
            exit,
            msg: msg.into(),
        }
    }

    /// `unable to <what>: <strerror>`, exit 111.
    pub fn sys(what: impl fmt::Display, err: &io::Error) -> Self {
        Failure::new(Exit::System, format!("unable to {what}: {}", strerror(err)))
    }

    /// A usage error (exit 100). The message is printed as `prog: usage: <msg>`.
    pub fn usage() -> Self {
        Failure::new(Exit::Usage, String::new())
    }

    /// `unable to exec <program>: <strerror>`: exit 127 if it was not found, 126
    /// if it was found but could not be run (the shell's and s6's convention).
    pub fn exec(program: &OsStr, err: &io::Error) -> Self {
        let exit = if err.kind() == io::ErrorKind::NotFound {
            Exit::NotFound
        } else {
            Exit::CantExec
        };
        Failure::new(
            exit,
            format!("unable to exec {}: {}", show(program), strerror(err)),
        )
    }
}

/// The program name for messages: the basename of argv\[0\].
#[must_use]
pub fn prog_name(argv0: &OsStr) -> String {
    let base = Path::new(argv0)
        .file_name()
        .map_or(argv0.as_bytes(), OsStrExt::as_bytes);
    String::from_utf8_lossy(base).into_owned()
}

/// Displays a path or any OS string byte-faithfully enough for a message.
#[must_use]
pub fn show(p: impl AsRef<OsStr>) -> String {
    String::from_utf8_lossy(p.as_ref().as_bytes()).into_owned()
}

/// `strerror` text of an I/O error, without Rust's " (os error N)" suffix.
#[must_use]
pub fn strerror(err: &io::Error) -> String {
    // std renders an OS error with the C library's strerror text, then " (os error N)".
    let text = err.to_string();
    match err.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .map_or_else(|| text.clone(), str::to_owned),
        None => text,
    }
}

fn emit(line: &str) {
    // One write per line; a failing stderr is not worth dying for.
    let _ = io::stderr().lock().write_all(line.as_bytes());
}

/// `prog: fatal: msg`, for a process that reports a fatal condition and goes on
/// to clean up (the exit code comes later).
pub fn fatal(prog: &str, msg: impl fmt::Display) {
    emit(&format!("{prog}: fatal: {msg}\n"));
}

/// `prog: info: msg` — a fault is over (s6-rc's prefix for what is not a problem).
pub fn info(prog: &str, msg: impl fmt::Display) {
    emit(&format!("{prog}: info: {msg}\n"));
}

/// `prog: warning: msg`
pub fn warn(prog: &str, msg: impl fmt::Display) {
    emit(&format!("{prog}: warning: {msg}\n"));
}

/// Prints a failure (`prog: fatal: …`, or `prog: usage: <usage>` for usage errors
/// without a message) and returns its exit code.
pub fn die(prog: &str, usage: &str, f: &Failure) -> std::process::ExitCode {
    if f.exit == Exit::Usage && f.msg.is_empty() {
        emit(&format!("{prog}: usage: {prog} {usage}\n"));
    } else {
        emit(&format!("{prog}: fatal: {}\n", f.msg));
    }
    f.exit.into()
}

/// The common shape of a tool's entry point: `--help` as the first argument prints
/// `help`; otherwise `body` gets the program name (argv\[0\]'s basename, `name`
/// if there is none) and the arguments after argv\[0\], and its failure is
/// reported with [`die`].
pub fn tool_main(
    args: impl IntoIterator<Item = std::ffi::OsString>,
    name: &str,
    usage: &str,
    help: &str,
    body: impl FnOnce(&str, &[std::ffi::OsString]) -> Result<std::process::ExitCode, Failure>,
) -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let prog = prog_name(args.first().map_or(OsStr::new(name), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if crate::getopt::wants_help(rest) {
        print!("{help}");
        return std::process::ExitCode::SUCCESS;
    }
    body(&prog, rest).unwrap_or_else(|f| die(&prog, usage, &f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_has_no_rust_suffix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(strerror(&e), "No such file or directory");
        let e = io::Error::from_raw_os_error(libc::EBADF);
        assert_eq!(strerror(&e), "Bad file descriptor", "the C library's words");
    }

    #[test]
    fn prog_name_is_basename() {
        assert_eq!(prog_name(OsStr::new("/command/s6-svc")), "s6-svc");
        assert_eq!(prog_name(OsStr::new("svc")), "svc");
    }
}
