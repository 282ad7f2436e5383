//! What every stage does to the running container: stop it, and set its exit code.
//!
//! Invariant: stopping the container is always the scanner's terminate (`t` on
//! `/run/service/.s6-svscan/control`), whoever asks — a signal to PID 1, `halt`,
//! the CMD's end, a v2 finish script's `s6-svscanctl -t /var/run/s6/services` — so
//! there is one shutdown sequence. The exit code file is replaced atomically.

use std::fs;
use std::io;
use std::path::Path;
use std::time::Instant;

use svkit_core::control::{self, ControlError};
use svkit_core::overlay::{EXITCODE_FILE, SCANDIR};
use svkit_core::process;
use svkit_core::servicedir::{SCAN_CONTROL, SCAN_CTL_DIR};

/// Tells the scanner to stop the container.
pub(crate) fn halt() -> Result<(), ControlError> {
    control::send_via(Path::new(SCANDIR), SCAN_CTL_DIR, SCAN_CONTROL, b"t")
}

/// Writes the container's exit code (last writer wins).
pub(crate) fn set_exit_code(code: i32) -> io::Result<()> {
    let tmp = format!("{EXITCODE_FILE}.new");
    fs::write(&tmp, format!("{code}\n"))?;
    fs::rename(&tmp, EXITCODE_FILE)
}

/// Reads the exit code as s6-overlay's exit script does: the first line, trailing
/// blanks removed; missing or empty means 0, anything else not a number 100;
/// numbers are taken modulo 256, as `_exit` does.
pub(crate) fn exit_code() -> u8 {
    let Ok(text) = fs::read(EXITCODE_FILE) else {
        return 0;
    };
    parse_exit_code(&text)
}

fn parse_exit_code(text: &[u8]) -> u8 {
    let line = text.split(|&b| b == b'\n').next().unwrap_or_default();
    let end = line
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r'))
        .map_or(0, |i| i + 1);
    let line = &line[..end];
    if line.is_empty() {
        return 0;
    }
    if !line.iter().all(u8::is_ascii_digit) {
        return 100;
    }
    let n = line.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    });
    (n % 256) as u8
}

/// The exit code a shell would report for a raw wait status: the code, or
/// 128 + the signal.
pub(crate) fn shell_code(wstat: i32) -> i32 {
    match svkit_core::status::wstat_signal(wstat) {
        Some(sig) => 128 + sig,
        None => i32::from(svkit_core::status::wstat_exitcode(wstat).unwrap_or(0)),
    }
}

/// Waits for our child `pid` to exit (or `deadline` to pass: `None` then), reaping
/// any other dead child on the way — a container's PID 1 inherits every orphan.
pub(crate) fn wait_child(pid: i32, deadline: Option<Instant>) -> Option<i32> {
    let fd = process::pidfd(pid).ok();
    loop {
        while let Ok(Some((p, wstat))) = process::reap() {
            if p == pid {
                return Some(wstat);
            }
        }
        let Some(fd) = &fd else {
            return None; // not our child any more
        };
        if deadline.is_some_and(|d| d <= Instant::now()) {
            return None;
        }
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(fd),
            nix::poll::PollFlags::POLLIN,
        )];
        let _ = nix::poll::poll(&mut fds, svkit_core::poll::timeout(deadline));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_file_like_s6_overlay() {
        assert_eq!(parse_exit_code(b"3\n"), 3);
        assert_eq!(parse_exit_code(b"3"), 3);
        assert_eq!(parse_exit_code(b"42 \t\r\nrest"), 42);
        assert_eq!(parse_exit_code(b""), 0);
        assert_eq!(parse_exit_code(b"\n7"), 0);
        assert_eq!(parse_exit_code(b"abc"), 100);
        assert_eq!(parse_exit_code(b"256"), 0);
        assert_eq!(parse_exit_code(b"300"), 44);
    }

    #[test]
    fn shell_codes() {
        assert_eq!(shell_code(3 << 8), 3);
        assert_eq!(shell_code(15), 143);
        assert_eq!(shell_code(9 | 0x80), 137);
    }
}
