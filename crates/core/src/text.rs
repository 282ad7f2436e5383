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
pub struct Regex(sys::RawRegex);

impl Regex {
    /// Compiles `pattern` (ERE syntax); the C library's error text on failure.
    pub fn new(pattern: &OsStr) -> Result<Regex, String> {
        let c = CString::new(pattern.as_bytes())
            .map_err(|_| "pattern contains a NUL byte".to_owned())?;
        sys::RawRegex::compile(&c).map(Regex)
    }

    /// Whether `line` matches. `scratch` is reused for the NUL-terminated copy.
    pub fn matches(&self, line: &[u8], scratch: &mut Vec<u8>) -> bool {
        scratch.clear();
        let end = line.iter().position(|&b| b == 0).unwrap_or(line.len());
        scratch.extend_from_slice(&line[..end]);
        scratch.push(0);
        match std::ffi::CStr::from_bytes_with_nul(scratch) {
            Ok(c) => self.0.matches(c),
            Err(_) => false,
        }
    }
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
