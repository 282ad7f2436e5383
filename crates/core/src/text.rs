//! Line tools shared by the loggers: POSIX extended regular expressions (the
//! C library's, so `+regex` means exactly what it means to s6-log), local-time
//! ISO 8601 stamps, and zero-copy pipe moves.
//!
//! Invariant: a [`Regex`] sees a line as s6-log does — up to its first NUL byte.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::ffi::OsStrExt;

use crate::sys;

/// A compiled POSIX extended regular expression.
pub struct Regex(Kind);

/// Patterns that are plain strings are matched without the regex engine (musl's
/// is several times slower than glibc's): same answers, as a literal ERE
/// matches exactly where the string occurs.
enum Kind {
    /// Occurs anywhere.
    Literal(Vec<u8>),
    /// `^string`: the line starts with it.
    Prefix(Vec<u8>),
    Posix(sys::RawRegex),
}

/// ERE's special characters.
const SPECIAL: &[u8] = b".[]()*+?{}|^$\\";

/// The string a pattern stands for if it has no special character other than
/// escaped ones (`\.`) and an optional leading `^`.
fn plain(pattern: &[u8]) -> Option<(bool, Vec<u8>)> {
    let (anchored, body) = match pattern.split_first() {
        Some((b'^', rest)) => (true, rest),
        _ => (false, pattern),
    };
    let mut out = Vec::with_capacity(body.len());
    let mut it = body.iter();
    while let Some(&b) = it.next() {
        match b {
            b'\\' => match it.next() {
                Some(&e) if SPECIAL.contains(&e) => out.push(e),
                _ => return None,
            },
            _ if SPECIAL.contains(&b) => return None,
            _ => out.push(b),
        }
    }
    Some((anchored, out))
}

/// The most nodes a pattern may expand to, and the most repetitions that may
/// apply to one atom (stacked, `x?+`, or through groups, `((x?)+)*`). The C
/// library copies the tree under a repetition (`a+` is `aa*`, `a{1,9}` is nine
/// copies) and its closures cost more than the copies, so stacked or nested
/// repetitions grow its time and memory exponentially: gigabytes for `a` and
/// fifty `+`, seconds for `x??+` repeated a hundred times. Found by fuzzing the
/// log scripts; s6-log, on the same `regcomp`, has the same problem.
const MAX_NODES: u64 = 1_100;
const MAX_NESTED_REPETITIONS: u32 = 3;

/// An upper estimate of the nodes the C library builds for an ERE, and the
/// deepest stack of repetitions on one atom: every atom counts one, a group the
/// sum of what it holds plus one, and each repetition multiplies what it
/// applies to (`*`, `+`, `?` by 2, `{m,n}` by the larger bound + 1).
fn expanded_size(pattern: &[u8]) -> (u64, u32) {
    /// What an open group holds so far: the size before its last atom, that
    /// atom's (the one a repetition applies to), and their repetition depths.
    #[derive(Default)]
    struct Frame {
        before: u64,
        last: u64,
        depth: u32,
        last_depth: u32,
    }
    impl Frame {
        fn atom(&mut self, size: u64, depth: u32) {
            self.before = self.before.saturating_add(self.last);
            self.depth = self.depth.max(self.last_depth);
            self.last = size;
            self.last_depth = depth;
        }
        fn repeat(&mut self, times: u64) {
            self.last = self.last.saturating_mul(times).saturating_add(1);
            self.last_depth += 1;
        }
        fn size(&self) -> (u64, u32) {
            (
                self.before.saturating_add(self.last),
                self.depth.max(self.last_depth),
            )
        }
    }
    let mut frames = vec![Frame::default()];
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'(' => frames.push(Frame::default()),
            b')' if frames.len() > 1 => {
                let (size, depth) = frames.pop().map_or((0, 0), |f| f.size());
                if let Some(top) = frames.last_mut() {
                    top.atom(size.saturating_add(1), depth);
                }
            }
            b => {
                let Some(top) = frames.last_mut() else {
                    return (u64::MAX, u32::MAX);
                };
                match b {
                    b'\\' => {
                        top.atom(1, 0);
                        i += 1;
                    }
                    b'[' => {
                        top.atom(1, 0);
                        i = bracket_end(pattern, i);
                    }
                    b'*' | b'?' | b'+' => top.repeat(2),
                    b'{' => match interval(&pattern[i..]) {
                        Some((len, max)) => {
                            top.repeat(max.saturating_add(1));
                            i += len - 1;
                        }
                        None => top.atom(1, 0),
                    },
                    _ => top.atom(1, 0),
                }
            }
        }
        i += 1;
    }
    frames.iter().fold((0, 0), |(n, d), f| {
        let (size, depth) = f.size();
        (n.saturating_add(size), d.max(depth))
    })
}

/// Whether the C library compiles `pattern` within 1 s of CPU and 512 MB of
/// address space, tried first in a child with those limits: the estimate of
/// [`expanded_size`] catches the known explosions cheaply, but concatenated
/// optional repetitions (`x??+x??+…`) still take glibc minutes. A daemon
/// (single-threaded) always checks; a multi-threaded caller cannot fork safely
/// and relies on the estimate.
fn compiles_within_limits(pattern: &std::ffi::CStr) -> bool {
    use nix::sys::resource::{Resource, setrlimit};
    use nix::sys::wait::{WaitStatus, waitpid};
    match crate::process::fork() {
        Ok(Some(pid)) => loop {
            match waitpid(nix::unistd::Pid::from_raw(pid), None) {
                Ok(WaitStatus::Exited(_, 0 | 1)) => return true,
                Err(nix::errno::Errno::EINTR) => {}
                _ => return false,
            }
        },
        Ok(None) => {
            let _ = setrlimit(Resource::RLIMIT_CPU, 1, 1);
            let _ = setrlimit(Resource::RLIMIT_AS, 512 << 20, 512 << 20);
            sys::exit_now(match sys::RawRegex::compile(pattern) {
                Ok(_) => 0,
                Err((libc::REG_ESPACE, _)) => 2,
                Err(_) => 1,
            })
        }
        Err(_) => true,
    }
}

/// The index of the `]` that closes the bracket expression opening at `start`
/// (a `]` first, or after `^`, is a member; `[:class:]` and the like are skipped).
fn bracket_end(p: &[u8], start: usize) -> usize {
    let mut j = start + 1;
    if p.get(j) == Some(&b'^') {
        j += 1;
    }
    if p.get(j) == Some(&b']') {
        j += 1;
    }
    while j < p.len() && p[j] != b']' {
        if p[j] == b'[' && matches!(p.get(j + 1), Some(b':' | b'.' | b'=')) {
            let close = p[j + 1];
            j += 2;
            while j + 1 < p.len() && !(p[j] == close && p[j + 1] == b']') {
                j += 1;
            }
            j += 1;
        }
        j += 1;
    }
    j
}

/// `{m}`, `{m,}` or `{m,n}` at the start of `p`: its length and its larger bound.
fn interval(p: &[u8]) -> Option<(usize, u64)> {
    let close = p.iter().position(|&b| b == b'}')?;
    let inner = std::str::from_utf8(&p[1..close]).ok()?;
    let max = inner
        .split(',')
        .filter_map(|n| n.parse::<u64>().ok())
        .max()?;
    Some((close + 1, max))
}

impl Regex {
    /// Compiles `pattern` (ERE syntax); the C library's error text on failure,
    /// or its text for a pattern too big (see [`MAX_NODES`]) before it is tried.
    pub fn new(pattern: &OsStr) -> Result<Regex, String> {
        let bytes = pattern.as_bytes();
        if !bytes.contains(&0) {
            match plain(bytes) {
                Some((false, s)) => return Ok(Regex(Kind::Literal(s))),
                Some((true, s)) => return Ok(Regex(Kind::Prefix(s))),
                None => {}
            }
        }
        // Each atom costs one node at least: a long pattern is not a big one.
        let (nodes, nested) = expanded_size(bytes);
        let limit = MAX_NODES.max(
            u64::try_from(bytes.len())
                .unwrap_or(u64::MAX)
                .saturating_mul(2),
        );
        if nodes > limit || nested > MAX_NESTED_REPETITIONS {
            return Err("Regular expression too big".to_owned());
        }
        let c = CString::new(bytes).map_err(|_| "pattern contains a NUL byte".to_owned())?;
        if !compiles_within_limits(&c) {
            return Err("Regular expression too big".to_owned());
        }
        sys::RawRegex::compile(&c)
            .map(|r| Regex(Kind::Posix(r)))
            .map_err(|(_, text)| text)
    }

    /// Whether `line` matches. `scratch` is reused for the NUL-terminated copy.
    pub fn matches(&self, line: &[u8], scratch: &mut Vec<u8>) -> bool {
        let end = find_byte(0, line).unwrap_or(line.len());
        let line = &line[..end];
        match &self.0 {
            Kind::Literal(s) => contains(line, s),
            Kind::Prefix(s) => line.starts_with(s),
            Kind::Posix(re) => {
                scratch.clear();
                scratch.extend_from_slice(line);
                scratch.push(0);
                match std::ffi::CStr::from_bytes_with_nul(scratch) {
                    Ok(c) => re.matches(c),
                    Err(_) => false,
                }
            }
        }
    }
}

/// Whether `needle` occurs in `hay`.
fn contains(hay: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    let mut from = 0;
    while let Some(i) = find_byte(first, &hay[from..]) {
        let at = from + i + 1;
        if hay[at..].starts_with(rest) {
            return true;
        }
        from = at;
    }
    false
}

/// The index of the first `byte` in `hay` (the C library's vectorised `memchr`).
#[must_use]
pub fn find_byte(byte: u8, hay: &[u8]) -> Option<usize> {
    sys::memchr(byte, hay)
}

/// `YYYY-MM-DD hh:mm:ss.nnnnnnnnn` in local time, as s6-log's `T` writes it.
#[must_use]
pub fn local_iso8601(unix_secs: u64, nanos: u32) -> String {
    let secs = i64::try_from(unix_secs).unwrap_or(i64::MAX);
    let (y, mo, d, h, mi, s) = sys::local_time(secs).unwrap_or((1970, 1, 1, 0, 0, 0));
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{nanos:09}")
}

/// Copies up to `len` bytes from pipe `from` into pipe `to` without consuming
/// them (`tee(2)`); 0 means `from` is empty and has no writer left.
pub fn tee(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
    nonblock: bool,
) -> io::Result<usize> {
    sys::tee(from, to, len, nonblock)
}

/// Moves up to `len` bytes from `from` to `to` inside the kernel (`splice(2)`):
/// each byte is either still in `from` or already in `to`, whatever happens to
/// the caller. Never waits on the pipe: `WouldBlock` if it is empty.
pub fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    sys::splice(from, to, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stacked and nested repetitions make the C library's time and memory
    /// grow exponentially (gigabytes for `a` and fifty `+`, 77 s for a dozen
    /// `?` then four `+`, found by libFuzzer on the log scripts): refused before
    /// compiling, with the C library's words. Ordinary patterns, intervals up to
    /// a thousand included, still compile.
    #[test]
    fn patterns_that_would_expand_too_far_are_refused_before_compiling() {
        let big = |p: &str| Regex::new(OsStr::new(p)).err();
        let too_big = Some("Regular expression too big".to_owned());
        for p in [
            format!("a{}", "+".repeat(50)),
            format!(".*{}+", "?".repeat(12)),
            format!("{}a{}", "(".repeat(30), "+)".repeat(30)),
            "(a{1,1000}){1,1000}".to_owned(),
            "((x?)+){1,250}".to_owned(),
            "(x??+){1,120}".to_owned(),
            "x{1,2000}".to_owned(),
        ] {
            assert_eq!(big(&p), too_big, "{p}");
        }
        for fine in [
            "^[0-9]+ error",
            "(foo|bar)*baz+",
            "[]a]+x",
            "[[:alpha:]]{1,1000}",
            "a+?",
            "(a+b?)*c",
            "x{2,}y{3}",
            "\\{a",
        ] {
            assert_eq!(big(fine), None, "{fine}");
        }
        // Long is not big: a long literal, an alternation of many names.
        assert!(Regex::new(OsStr::new(&"x".repeat(1200))).is_ok());
        let hosts: Vec<String> = (0..150).map(|i| format!("host{i}\\.example")).collect();
        assert_eq!(big(&format!("^({})$", hosts.join("|"))), None);
        // (a, b, the group) × (3 + 1) + 1; one repetition deep
        assert_eq!(expanded_size(b"(ab){3}"), (13, 1));
    }

    #[test]
    fn regex_is_posix_extended_and_stops_at_nul() {
        let mut s = Vec::new();
        let re = Regex::new(OsStr::new("^[[:alnum:]]*\\.err:")).unwrap();
        assert!(re.matches(b"daemon.err: x", &mut s));
        assert!(!re.matches(b"daemon.info: x", &mut s));
        let re = Regex::new(OsStr::new("b$")).unwrap();
        assert!(re.matches(b"ab\0cd", &mut s));
        assert!(Regex::new(OsStr::new("a(")).is_err());
        assert!(
            Regex::new(OsStr::new(""))
                .unwrap()
                .matches(b"anything", &mut s)
        );
    }

    #[test]
    fn plain_patterns_match_as_the_regex_engine_does() {
        let lines: [&[u8]; 7] = [
            b"auth.info: x",
            b"xauth.info",
            b"authXinfo",
            b"",
            b"5",
            b"a5b",
            b"ab\0 5",
        ];
        for pattern in [
            "auth.", "^auth\\.", "auth\\.", "5", "^5", "", "^", "a5", "b$", "[0-9]",
        ] {
            let fast = Regex::new(OsStr::new(pattern)).unwrap();
            let c = CString::new(pattern).unwrap();
            let slow = sys::RawRegex::compile(&c).unwrap();
            let mut s = Vec::new();
            for line in lines {
                let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
                let want = slow.matches(&CString::new(&line[..end]).unwrap());
                assert_eq!(fast.matches(line, &mut s), want, "{pattern:?} on {line:?}");
            }
        }
    }

    #[test]
    fn find_byte_finds_the_first() {
        assert_eq!(find_byte(b'\n', b"ab\ncd\n"), Some(2));
        assert_eq!(find_byte(b'\n', b"abc"), None);
        assert_eq!(find_byte(b'\n', b""), None);
    }

    #[test]
    fn iso8601_has_nine_digits_of_nanoseconds() {
        let s = local_iso8601(0, 5);
        assert_eq!(s.len(), "1970-01-01 00:00:00.000000005".len());
        assert!(s.ends_with(".000000005"));
    }
}
