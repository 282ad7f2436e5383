//! Exit codes shared by every svkit tool: skarnet's conventions, one enum, one place.
//!
//! A tool's exit code is part of its interface (scripts test `s6-svwait`'s 99 or
//! `s6-svok`'s 1), so every code a tool can return is named here and documented in
//! `docs/exit-codes.md`.

use std::process::ExitCode;

/// The exit codes of the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Success.
    Ok,
    /// A negative answer: not supervised, not running.
    No,
    /// This many services failed permanently or lost their supervisor while waited
    /// for (`svwait`, `svc -w`): 1 to 98.
    Failures(u8),
    /// A wait timed out.
    Timeout,
    /// Wrong usage, or a permanent error such as "supervisor not listening".
    Usage,
    /// Internal error: a state that cannot happen. Please report it.
    Bug,
    /// The service directory is not supervised (s6 2.14 `s6-svc`).
    NotSupervised,
    /// A system call failed; retrying may help.
    System,
    /// Exit code of `./finish` that means "do not restart this service".
    Permanent,
    /// A program was found but could not be executed.
    CantExec,
    /// A program was not found.
    NotFound,
}

impl Exit {
    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::No => 1,
            Exit::Failures(n) => n.clamp(1, 98),
            Exit::Timeout => 99,
            Exit::Usage => 100,
            Exit::Bug => 101,
            Exit::NotSupervised => 102,
            Exit::System => 111,
            Exit::Permanent => 125,
            Exit::CantExec => 126,
            Exit::NotFound => 127,
        }
    }

    /// The more serious of two outcomes (the higher code), for tools that go on
    /// after an error and report the worst one at the end.
    #[must_use]
    pub fn worst(self, other: Exit) -> Exit {
        if other.code() > self.code() {
            other
        } else {
            self
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}
