//! The small text files of a service directory, read as s6-supervise reads them
//! (s6: `read_uint`/`read_file` in `s6-supervise.c`, skalibs `openreadnclose_nb`).
//!
//! Invariant: a file is read with one non-blocking `read` of at most 11 bytes (15
//! for a signal), cut at the first newline, and the rest must be exactly the
//! value: `"3"` and `"3\n"` are valid, `" 3"`, `"3 "` and `"3\r\n"` are not. Files
//! are re-read every time they are needed, never cached.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::signals;

/// The outcome of reading one setting.
#[derive(Debug)]
pub enum Setting<T> {
    /// The file does not exist: the default applies.
    Absent,
    /// A valid value.
    Set(T),
    /// The file exists but does not hold a valid value: the default applies, with a warning.
    Invalid,
    /// The file could not be read: the default applies, with a warning.
    Unreadable(io::Error),
}

impl<T> Setting<T> {
    /// The value, or `default` if absent or bad.
    pub fn or(self, default: T) -> T {
        match self {
            Setting::Set(v) => v,
            _ => default,
        }
    }
}

/// Reads at most `N` bytes and returns what precedes the first newline.
fn read_head<const N: usize>(path: &Path, buf: &mut [u8; N]) -> Result<Option<usize>, io::Error> {
    let mut f = match File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let n = f.read(buf)?;
    let line = buf[..n].iter().position(|&b| b == b'\n').unwrap_or(n);
    Ok(Some(line))
}

/// Parses an unsigned decimal that must span the whole string (skalibs `uint0_scan`).
#[must_use]
pub fn parse_uint(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// Reads an unsigned integer setting.
pub fn read_uint(path: &Path) -> Setting<u32> {
    let mut buf = [0u8; 11];
    match read_head(path, &mut buf) {
        Ok(None) => Setting::Absent,
        Ok(Some(n)) => parse_uint(&buf[..n]).map_or(Setting::Invalid, Setting::Set),
        Err(e) => Setting::Unreadable(e),
    }
}

/// Reads a signal setting (`TERM`, `SIGTERM`, `sigterm` or `15`).
pub fn read_signal(path: &Path) -> Setting<i32> {
    let mut buf = [0u8; 15];
    match read_head(path, &mut buf) {
        Ok(None) => Setting::Absent,
        Ok(Some(n)) => signals::parse(&buf[..n]).map_or(Setting::Invalid, Setting::Set),
        Err(e) => Setting::Unreadable(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_scan_is_strict() {
        assert_eq!(parse_uint(b"3"), Some(3));
        assert_eq!(parse_uint(b"0012"), Some(12));
        assert_eq!(parse_uint(b""), None);
        assert_eq!(parse_uint(b" 3"), None);
        assert_eq!(parse_uint(b"3 "), None);
        assert_eq!(parse_uint(b"3\r"), None);
        assert_eq!(parse_uint(b"-1"), None);
        assert_eq!(parse_uint(b"99999999999"), None);
    }

    #[test]
    fn files_are_cut_at_the_first_newline() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("n");
        std::fs::write(&p, "3\ngarbage").unwrap();
        assert!(matches!(read_uint(&p), Setting::Set(3)));
        std::fs::write(&p, "3\r\n").unwrap();
        assert!(matches!(read_uint(&p), Setting::Invalid));
        std::fs::write(&p, "123456789012\n").unwrap();
        assert!(matches!(read_uint(&p), Setting::Invalid));
        assert!(matches!(
            read_uint(&d.path().join("missing")),
            Setting::Absent
        ));
        std::fs::write(&p, "SIGUSR1\n").unwrap();
        assert!(matches!(read_signal(&p), Setting::Set(10)));
        std::fs::write(&p, "hup").unwrap();
        assert!(matches!(read_signal(&p), Setting::Set(1)));
        std::fs::write(&p, "NOPE").unwrap();
        assert!(matches!(read_signal(&p), Setting::Invalid));
    }
}
