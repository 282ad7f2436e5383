//! What every stage does to the running container: stop it, and set its exit code.
//!
//! Invariant: stopping the container is always the scanner's terminate (`t` on
//! `/run/service/.s6-svscan/control`), whoever asks — a signal to PID 1, `halt`,
//! the CMD's end, a v2 finish script's `s6-svscanctl -t /var/run/s6/services` — so
//! there is one shutdown sequence. The exit code file is replaced atomically.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use svkit_core::control::{self, ControlError};
use svkit_core::lock;
use svkit_core::overlay::layout;
use svkit_core::process::{self, Spawn};

use crate::settings::contenv_uint;
use svkit_core::servicedir::{SCAN_CONTROL, SCAN_CTL_DIR};

/// Stops the container. With s6-rc services, the first call starts the ordered
/// stop in a process of its own ([`shutdown`]) and returns; later calls do
/// nothing. Otherwise (or if that process cannot start) the scanner is told at once.
pub(crate) fn halt() -> Result<(), ControlError> {
    if layout().rc_live.join("compiled").exists() {
        match File::options()
            .write(true)
            .create_new(true)
            .open(&layout().shutdown_mark)
        {
            Ok(_) => {
                let started = std::env::current_exe().and_then(|exe| {
                    Spawn {
                        session: true,
                        cwd: Some(Path::new("/")),
                        ..Spawn::default()
                    }
                    .run(&exe, OsStr::new(SHUTDOWN), &[])
                });
                if started.is_ok() {
                    return Ok(());
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
            Err(_) => {}
        }
    }
    terminate()
}

/// Tells the scanner to stop every service and exit (into stage 3).
fn terminate() -> Result<(), ControlError> {
    control::send_via(&layout().scandir, SCAN_CTL_DIR, SCAN_CONTROL, b"t")
}

/// argv\[0\] of the ordered stop (a hidden name of the multi-call binary).
pub(crate) const SHUTDOWN: &str = "init-shutdown";

/// The ordered stop: an `s6-rc` start-up still running is interrupted, then
/// `s6-rc -bda change` brings every service down in reverse dependency order
/// (user2, services.d, the user services, cont-finish.d…), within
/// `S6_SERVICES_GRACETIME` + `S6_KILL_FINISH_MAXTIME` (+1 s) unless the latter is
/// 0; then the scanner is told to finish.
pub(crate) fn shutdown() -> ExitCode {
    let live = layout().rc_live.as_path();
    if let Ok(Some(pid)) = lock::holder(&live.join("lock")) {
        let _ = process::kill(pid, nix::sys::signal::Signal::SIGTERM as i32);
    }
    let v = contenv_uint("S6_VERBOSITY", 2).to_string();
    let grace = contenv_uint("S6_SERVICES_GRACETIME", 3000);
    let finish = contenv_uint("S6_KILL_FINISH_MAXTIME", 5000);
    let limit = if finish == 0 {
        0
    } else {
        grace + finish + 1000
    };
    let limit = limit.to_string();
    let args = [
        OsStr::new("-v"),
        OsStr::new(&v),
        OsStr::new("-b"),
        OsStr::new("-da"),
        OsStr::new("-t"),
        OsStr::new(&limit),
        OsStr::new("change"),
    ];
    if let Ok(exe) = std::env::current_exe() {
        let how = Spawn {
            cwd: Some(Path::new("/")),
            ..Spawn::default()
        };
        if let Ok(pid) = how.run(&exe, OsStr::new("s6-rc"), &args) {
            let _ = wait_child(pid, None);
        }
    }
    match terminate() {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::from(111),
    }
}

/// Writes the container's exit code (last writer wins).
pub(crate) fn set_exit_code(code: i32) -> io::Result<()> {
    let file = &layout().exitcode_file;
    let tmp = file.with_extension("new");
    fs::write(&tmp, format!("{code}\n"))?;
    fs::rename(&tmp, file)
}

/// Reads the exit code as s6-overlay's exit script does: the first line, trailing
/// blanks removed; missing or empty means 0, anything else not a number 100;
/// numbers are taken modulo 256, as `_exit` does.
pub(crate) fn exit_code() -> u8 {
    let Ok(text) = fs::read(&layout().exitcode_file) else {
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
