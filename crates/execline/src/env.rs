//! The environment an execline chain carries from builtin to builtin: an ordered
//! list of variables, changed in place (no `setenv`, no `unsafe`) and handed whole
//! to the program finally exec'd.
//!
//! Invariant: the order is the one real execline produces through skalibs'
//! `env_merge` — a variable that is set is removed from where it was and
//! appended — so `env` prints the same lines in the same order as under real
//! execline; and `#`, `0`…`9` are pushed and popped exactly as `el_pushenv` /
//! `el_popenv` do.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Names whose variables make up a frame of positional parameters.
pub(crate) const POSITIONALS: &[&[u8]] = &[
    b"0", b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9", b"#",
];

#[derive(Debug, Clone, Default)]
pub(crate) struct Env {
    vars: Vec<(OsString, OsString)>,
}

impl Env {
    /// The process's own environment, in order.
    pub(crate) fn from_process() -> Self {
        Env {
            vars: std::env::vars_os().collect(),
        }
    }

    pub(crate) fn get(&self, name: &[u8]) -> Option<&OsStr> {
        self.vars
            .iter()
            .find(|(k, _)| k.as_bytes() == name)
            .map(|(_, v)| v.as_os_str())
    }

    /// Sets `name`, moving it to the end.
    pub(crate) fn set(&mut self, name: &[u8], value: &[u8]) {
        self.unset(name);
        self.vars.push((
            OsString::from_vec(name.to_vec()),
            OsString::from_vec(value.to_vec()),
        ));
    }

    pub(crate) fn unset(&mut self, name: &[u8]) {
        self.vars.retain(|(k, _)| k.as_bytes() != name);
    }

    pub(crate) fn clear(&mut self) {
        self.vars.clear();
    }

    pub(crate) fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }

    /// `EXECLINE_STRICT` as a number (0 when unset or not a number).
    pub(crate) fn strictness(&self) -> u32 {
        self.get(b"EXECLINE_STRICT")
            .and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// `el_pushenv`: every variable whose name starts with one of `list` is
    /// renamed `NAME:1`, or `NAME:n+1` if it was `NAME:n`.
    pub(crate) fn push(&mut self, list: &[&[u8]]) {
        for (k, _) in &mut self.vars {
            let key = k.as_bytes();
            let Some(prefix) = list.iter().find(|p| key.starts_with(p)) else {
                continue;
            };
            let rest = key.get(prefix.len()..).unwrap_or_default();
            let renamed = match rest.iter().position(|&c| c == b':') {
                None => [key, b":1"].concat(),
                Some(colon) => match parse_level(rest.get(colon + 1..).unwrap_or_default()) {
                    Some(n) => {
                        let base = key.get(..prefix.len() + colon).unwrap_or_default();
                        [base, format!(":{}", n + 1).as_bytes()].concat()
                    }
                    None => continue,
                },
            };
            *k = OsString::from_vec(renamed);
        }
    }

    /// `el_popenv`: drops the current frame of the variables starting with one of
    /// `list`, and brings `NAME:1` back as `NAME`, `NAME:n` as `NAME:n-1`.
    pub(crate) fn pop(&mut self, list: &[&[u8]]) {
        let mut kept = Vec::with_capacity(self.vars.len());
        for (k, v) in std::mem::take(&mut self.vars) {
            let key = k.as_bytes();
            let Some(prefix) = list.iter().find(|p| key.starts_with(p)) else {
                kept.push((k, v));
                continue;
            };
            let rest = key.get(prefix.len()..).unwrap_or_default();
            let Some(colon) = rest.iter().position(|&c| c == b':') else {
                continue; // the current frame: dropped
            };
            let base = key.get(..prefix.len() + colon).unwrap_or_default();
            let name = match parse_level(rest.get(colon + 1..).unwrap_or_default()) {
                None | Some(0) => k.clone(),
                Some(1) => OsString::from_vec(base.to_vec()),
                Some(n) => OsString::from_vec([base, format!(":{}", n - 1).as_bytes()].concat()),
            };
            kept.push((name, v));
        }
        self.vars = kept;
    }
}

/// The `n` of a `NAME:n` suffix: decimal digits only.
fn parse_level(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> Env {
        Env {
            vars: vars
                .iter()
                .map(|(k, v)| (OsString::from(k), OsString::from(v)))
                .collect(),
        }
    }

    fn names(e: &Env) -> Vec<String> {
        e.vars()
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect()
    }

    #[test]
    fn set_moves_to_the_end() {
        let mut e = env(&[("A", "1"), ("B", "2")]);
        e.set(b"A", b"3");
        assert_eq!(names(&e), ["B=2", "A=3"]);
    }

    #[test]
    fn push_and_pop_frames() {
        let mut e = env(&[
            ("#", "9"),
            ("X", "y"),
            ("1", "a"),
            ("1:1", "old"),
            ("12", "z"),
        ]);
        e.push(POSITIONALS);
        assert_eq!(names(&e), ["#:1=9", "X=y", "1:1=a", "1:2=old", "12:1=z"]);
        e.pop(POSITIONALS);
        assert_eq!(names(&e), ["#=9", "X=y", "1=a", "1:1=old", "12=z"]);
        e.pop(POSITIONALS);
        assert_eq!(names(&e), ["X=y", "1=old"]);
    }
}
