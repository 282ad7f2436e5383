//! `/init`'s logging switches: the catch-all logger (`S6_LOGGING=1|2`, logs in
//! `/run/uncaught-logs`, run as `S6_CATCHALL_USER`) and svkit's prefix mode
//! (`S6_LOGGING_PREFIX`: every unlogged service's lines on the container's stdout
//! as `[name] line`).
//!
//! Invariants: the catch-all FIFO is opened read-write by PID 1 before anything
//! writes into it, so no writer ever blocks on open or gets EPIPE while the logger
//! restarts; the logger's own output (`S6_LOGGING=1`) goes to the console the
//! container started with, never back into the FIFO.

use std::ffi::OsString;
use std::fs::{self, DirBuilder, File};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

use nix::sys::stat::Mode;
use nix::unistd::{Uid, User};
use svkit_core::overlay::SCANDIR;
use svkit_core::report::{Failure, show};

use crate::settings::{Log, uint};

/// Where the catch-all logger keeps its logs.
pub(crate) const UNCAUGHT_LOGS: &str = "/run/uncaught-logs";
/// Its service directory in the scan directory (s6-linux-init's name).
const SERVICE: &str = "s6-svscan-log";

/// The control directives of `S6_LOGGING_SCRIPT` the catch-all logger takes
/// (rotation sizes and stamps; the default script's when unset).
fn catch_all_words() -> Vec<OsString> {
    let script = std::env::var_os("S6_LOGGING_SCRIPT").unwrap_or_else(|| "n20 s1000000 T".into());
    crate::settings::words(&script)
        .into_iter()
        .filter(|w| {
            let b = w.as_bytes();
            matches!(b, b"t" | b"T")
                || (b.len() > 1
                    && matches!(b[0], b'n' | b's' | b'S' | b'l' | b'r')
                    && b[1..].iter().all(u8::is_ascii_digit))
        })
        .collect()
}

/// Sets up the catch-all logger when `S6_LOGGING` is 1 or 2: its service, its
/// FIFO (now our stdout and stderr, inherited by stage 2 and the scanner) and its
/// log directory. Returns the console (our original stderr) for the scanner's `-X`.
pub(crate) fn catch_all(exe: &Path, log: &Log) -> Result<Option<OwnedFd>, Failure> {
    let mode = uint(std::env::var_os("S6_LOGGING").as_ref(), 0);
    if mode == 0 {
        return Ok(None);
    }
    let bin = exe.parent().unwrap_or(Path::new("/command"));
    let dir = Path::new(SCANDIR).join(SERVICE);
    let sys = |what: &str, e: std::io::Error| {
        Failure::sys(format!("{what} for the catch-all logger"), &e)
    };
    DirBuilder::new()
        .mode(0o755)
        .create(&dir)
        .map_err(|e| sys("create its service directory", e))?;
    let fifo = dir.join("fifo");
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600))
        .map_err(|e| sys("create its fifo", e.into()))?;
    fs::write(dir.join("notification-fd"), "3\n").map_err(|e| sys("write notification-fd", e))?;

    DirBuilder::new()
        .mode(0o2750)
        .create(UNCAUGHT_LOGS)
        .map_err(|e| sys(&format!("create {UNCAUGHT_LOGS}"), e))?;
    fs::set_permissions(UNCAUGHT_LOGS, fs::Permissions::from_mode(0o2750))
        .map_err(|e| sys(&format!("chmod {UNCAUGHT_LOGS}"), e))?;
    let user = std::env::var_os("S6_CATCHALL_USER").filter(|u| !u.is_empty());
    let mut setuid = String::new();
    if let Some(name) = &user {
        if !Uid::effective().is_root() {
            log.warn(format_args!(
                "S6_CATCHALL_USER={} needs root: the catch-all logger keeps uid {}",
                show(name),
                Uid::effective()
            ));
        } else {
            match User::from_name(&name.to_string_lossy()) {
                Ok(Some(u)) => {
                    nix::unistd::chown(UNCAUGHT_LOGS, Some(u.uid), Some(u.gid))
                        .map_err(|e| sys(&format!("chown {UNCAUGHT_LOGS}"), e.into()))?;
                    setuid = format!("{}/s6-setuidgid {}\n", bin.display(), u.name);
                }
                _ => log.warn(format_args!(
                    "S6_CATCHALL_USER={}: no such user; the catch-all logger runs as root",
                    show(name)
                )),
            }
        }
    }
    let mut script = format!(
        "#!{bin}/execlineb -P\nfdmove -c 1 2\nredirfd -r 0 fifo\n{setuid}{bin}/s6-log -bd3 --",
        bin = bin.display()
    );
    if mode == 1 {
        script.push_str(" 1");
    }
    for w in catch_all_words() {
        script.push(' ');
        script.push_str(&w.to_string_lossy());
    }
    script.push(' ');
    script.push_str(UNCAUGHT_LOGS);
    script.push('\n');
    write_exec(&dir.join("run"), &script).map_err(|e| sys("write its run script", e))?;

    let console = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| sys("keep the console", e))?;
    // Read-write: we count as a reader, so writers neither wait for the logger to
    // open it nor get EPIPE while it restarts.
    let w = File::options()
        .read(true)
        .write(true)
        .open(&fifo)
        .map_err(|e| sys("open its fifo", e))?;
    nix::unistd::dup2_stdout(&w).map_err(|e| sys("redirect stdout", e.into()))?;
    nix::unistd::dup2_stderr(&w).map_err(|e| sys("redirect stderr", e.into()))?;
    Ok(Some(console))
}

fn write_exec(path: &Path, body: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(path)?;
    std::io::Write::write_all(&mut f, body.as_bytes())
}

/// `S6_LOGGING_PREFIX`: the scanner's `-P` style (`1`, `t` or `T`), or none.
pub(crate) fn prefix_style(log: &Log) -> Option<&'static str> {
    let v = std::env::var_os("S6_LOGGING_PREFIX")?;
    match v.as_bytes() {
        b"" => None,
        b"t" => Some("t"),
        b"T" => Some("T"),
        b if b.iter().all(u8::is_ascii_digit) => (uint(Some(&v), 0) != 0).then_some("1"),
        _ => {
            log.warn(format_args!(
                "S6_LOGGING_PREFIX={}: not 0, 1, t or T; ignored",
                show(&v)
            ));
            None
        }
    }
}
