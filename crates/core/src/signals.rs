//! Signal names as skalibs spells them (s6: skalibs `sig_table.c`, `sig0_scan`).
//!
//! Invariant: number → name uses the table's first match, in skalibs' order, so a
//! number with two names prints as s6 prints it (6 is `ABRT`, not `IOT`; 29 is `POLL`).

/// skalibs' table, in its order, with Linux numbers.
const TABLE: &[(i32, &str)] = &[
    (libc::SIGABRT, "ABRT"),
    (libc::SIGALRM, "ALRM"),
    (libc::SIGBUS, "BUS"),
    (libc::SIGCHLD, "CHLD"),
    (libc::SIGCONT, "CONT"),
    (libc::SIGFPE, "FPE"),
    (libc::SIGHUP, "HUP"),
    (libc::SIGILL, "ILL"),
    (libc::SIGINT, "INT"),
    (libc::SIGKILL, "KILL"),
    (libc::SIGPIPE, "PIPE"),
    (libc::SIGQUIT, "QUIT"),
    (libc::SIGSEGV, "SEGV"),
    (libc::SIGSTOP, "STOP"),
    (libc::SIGTERM, "TERM"),
    (libc::SIGTSTP, "TSTP"),
    (libc::SIGTTIN, "TTIN"),
    (libc::SIGTTOU, "TTOU"),
    (libc::SIGUSR1, "USR1"),
    (libc::SIGUSR2, "USR2"),
    (libc::SIGPOLL, "POLL"),
    (libc::SIGPROF, "PROF"),
    (libc::SIGSYS, "SYS"),
    (libc::SIGTRAP, "TRAP"),
    (libc::SIGURG, "URG"),
    (libc::SIGVTALRM, "VTALRM"),
    (libc::SIGXCPU, "XCPU"),
    (libc::SIGXFSZ, "XFSZ"),
    (libc::SIGIOT, "IOT"),
    (libc::SIGSTKFLT, "STKFLT"),
    (libc::SIGWINCH, "WINCH"),
    (libc::SIGIO, "IO"),
    (libc::SIGPWR, "PWR"),
];

/// The name without the `SIG` prefix (`TERM`), if the number has one.
#[must_use]
pub fn name(sig: i32) -> Option<&'static str> {
    TABLE.iter().find(|(n, _)| *n == sig).map(|(_, s)| *s)
}

/// Parses `TERM`, `SIGTERM`, `sigterm` or a decimal number.
#[must_use]
pub fn parse(s: &[u8]) -> Option<i32> {
    if let Some(n) = crate::config::parse_uint(s) {
        return i32::try_from(n).ok().filter(|&n| n > 0 && n < 65);
    }
    let bare = match s.get(..3) {
        Some(p) if p.eq_ignore_ascii_case(b"SIG") => &s[3..],
        _ => s,
    };
    TABLE
        .iter()
        .find(|(_, name)| name.as_bytes().eq_ignore_ascii_case(bare))
        .map(|(n, _)| *n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_skalibs_order() {
        assert_eq!(name(15), Some("TERM"));
        assert_eq!(name(6), Some("ABRT"));
        assert_eq!(name(29), Some("POLL"));
        assert_eq!(name(40), None);
    }

    #[test]
    fn parse_accepts_s6_forms() {
        for s in ["TERM", "SIGTERM", "sigterm", "Term", "15"] {
            assert_eq!(parse(s.as_bytes()), Some(15), "{s}");
        }
        assert_eq!(parse(b"IOT"), Some(6));
        assert_eq!(parse(b"SIG"), None);
        assert_eq!(parse(b"0"), None);
        assert_eq!(parse(b""), None);
    }
}
