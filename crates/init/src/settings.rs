//! The `S6_*` settings and the progress lines of the container stages.
//!
//! Invariants: a setting read "from the container environment" comes from the dump
//! (`/run/s6/container_environment`, so cont-init scripts can change it for later
//! stages) unless `S6_KEEP_ENV` is on, when it comes from the process environment;
//! a numeric setting that is not all digits takes its default, as in s6-overlay.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use svkit_core::envdir;
use svkit_core::overlay::layout;
use svkit_core::report;

/// Whether `S6_KEEP_ENV` (in our own environment) is on.
pub(crate) fn keep_env() -> bool {
    svkit_core::overlay::keep_env(std::env::var_os("S6_KEEP_ENV").as_deref())
}

fn digits(v: &OsString) -> bool {
    !v.is_empty() && v.as_bytes().iter().all(u8::is_ascii_digit)
}

/// A numeric setting: the value if it is all digits, else `default`.
pub(crate) fn uint(v: Option<&OsString>, default: u64) -> u64 {
    match v {
        Some(v) if digits(v) => std::str::from_utf8(v.as_bytes())
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX),
        _ => default,
    }
}

/// A setting from the container environment (see the module doc).
pub(crate) fn contenv(name: &str) -> Option<OsString> {
    if keep_env() {
        return std::env::var_os(name);
    }
    match envdir::read_value(&layout().container_env.join(name)) {
        Ok(envdir::Value::Set(v)) => Some(v),
        _ => None,
    }
}

/// A numeric setting from the container environment.
pub(crate) fn contenv_uint(name: &str, default: u64) -> u64 {
    uint(contenv(name).as_ref(), default)
}

/// Progress and problems, gated by `S6_VERBOSITY` (default 2): progress lines
/// (`[cont-init.d] …`) at 2 and above, warnings at 1 and above, fatal errors always.
/// Everything goes to stderr.
pub(crate) struct Log {
    pub(crate) prog: &'static str,
    pub(crate) verbosity: u64,
}

impl Log {
    /// A logger whose verbosity comes from the container environment.
    pub(crate) fn from_contenv(prog: &'static str) -> Self {
        Log {
            prog,
            verbosity: contenv_uint("S6_VERBOSITY", 2),
        }
    }

    /// A progress line, printed as is (`[cont-init.d] 10-foo: executing...`).
    pub(crate) fn info(&self, line: impl std::fmt::Display) {
        if self.verbosity >= 2 {
            eprintln!("{line}");
        }
    }

    /// `prog: warning: msg`
    pub(crate) fn warn(&self, msg: impl std::fmt::Display) {
        if self.verbosity >= 1 {
            report::warn(self.prog, msg);
        }
    }
}

/// Splits a command line on blanks, as `sh` does for an unquoted `$VAR` (no globbing).
pub(crate) fn words(v: &OsString) -> Vec<OsString> {
    v.as_bytes()
        .split(|b| matches!(b, b' ' | b'\t' | b'\n'))
        .filter(|w| !w.is_empty())
        .map(|w| std::ffi::OsStr::from_bytes(w).to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_must_be_digits() {
        assert_eq!(uint(Some(&"300".into()), 7), 300);
        assert_eq!(uint(Some(&"3s".into()), 7), 7);
        assert_eq!(uint(Some(&"".into()), 7), 7);
        assert_eq!(uint(None, 7), 7);
    }

    #[test]
    fn word_splitting() {
        assert_eq!(
            words(&" s6-setuidgid  nobody\tenv ".into()),
            ["s6-setuidgid", "nobody", "env"]
        );
        assert!(words(&"   ".into()).is_empty());
    }
}
