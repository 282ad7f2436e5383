//! Names inside a service directory (s6: `supervise.h`'s `S6_SUPERVISE_*` constants).
//!
//! Invariant: every path the protocol uses is spelled once, here. Paths are relative
//! to the service directory; `supervise` chdirs there and uses them as they are,
//! client tools join them onto the directory they were given.

/// The supervisor's private directory.
pub const SUPERVISE_DIR: &str = "supervise";
/// fcntl-locked while a supervisor runs.
pub const LOCK: &str = "supervise/lock";
/// Control FIFO (mode 0600).
pub const CONTROL: &str = "supervise/control";
/// The 35-byte status record.
pub const STATUS: &str = "supervise/status";
/// Written first, then renamed onto [`STATUS`].
pub const STATUS_NEW: &str = "supervise/status.new";
/// 14-byte death records.
pub const DEATH_TALLY: &str = "supervise/death_tally";
/// Written first, then renamed onto [`DEATH_TALLY`].
pub const DEATH_TALLY_NEW: &str = "supervise/death_tally.new";
/// The event fifodir.
pub const EVENT_DIR: &str = "event";

/// The service's program.
pub const RUN: &str = "run";
/// Run after each death of `run`.
pub const FINISH: &str = "finish";
/// If present, the service is "normally down": not started when the supervisor starts.
pub const DOWN: &str = "down";
/// fd number on which `run` writes a newline when ready.
pub const NOTIFICATION_FD: &str = "notification-fd";
/// Milliseconds between the down signal and SIGKILL (0 = never).
pub const TIMEOUT_KILL: &str = "timeout-kill";
/// Milliseconds `finish` may run (default 5000, 0 = unlimited).
pub const TIMEOUT_FINISH: &str = "timeout-finish";
/// Number of death records kept (default 100, at most 4096).
pub const MAX_DEATH_TALLY: &str = "max-death-tally";
/// Signal that stops the service (default SIGTERM).
pub const DOWN_SIGNAL: &str = "down-signal";

/// A service's logger: a service directory inside the service directory.
pub const LOG_DIR: &str = "log";

/// The scanner's control directory, inside the scan directory (ignored by the scan).
pub const SCAN_CTL_DIR: &str = ".s6-svscan";
/// fcntl-locked while a scanner runs (mode 0600).
pub const SCAN_LOCK: &str = ".s6-svscan/lock";
/// The scanner's control FIFO (mode 0600).
pub const SCAN_CONTROL: &str = ".s6-svscan/control";
/// Exec'd by the scanner when it is done.
pub const SCAN_FINISH: &str = ".s6-svscan/finish";
/// svkit extension: milliseconds the scanner gives its supervisors to exit when it
/// stops, before it runs `finish` anyway (absent or 0: no limit). Read at stop time.
pub const SCAN_TIMEOUT_STOP: &str = ".s6-svscan/timeout-stop";
/// Exec'd by the scanner on a fatal error.
pub const SCAN_CRASH: &str = ".s6-svscan/crash";

/// The names of `dir`'s entries that do not start with a dot, in bytewise order:
/// how a scan directory, `cont-init.d` or `services.d` is read.
pub fn visible_names(dir: &std::path::Path) -> std::io::Result<Vec<std::ffi::OsString>> {
    let mut names: Vec<std::ffi::OsString> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name())
        .filter(|n| !n.as_encoded_bytes().starts_with(b"."))
        .collect();
    names.sort();
    Ok(names)
}

/// Copies a service directory tree: regular files with their modes (executable
/// ones through [`place_script`], so they still run from a `noexec` copy),
/// symlinks as links, directories with their modes; a supervisor's runtime
/// state (`supervise/`, `event/`) is left out.
pub fn copy_tree(src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    std::fs::set_permissions(dst, std::fs::metadata(src)?.permissions())?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let name = e.file_name();
        if name == SUPERVISE_DIR || name == EVENT_DIR {
            continue;
        }
        let (from, to) = (e.path(), dst.join(&name));
        let ty = e.file_type()?;
        if ty.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if ty.is_dir() {
            copy_tree(&from, &to)?;
        } else if std::os::unix::fs::PermissionsExt::mode(&e.metadata()?.permissions()) & 0o111 != 0
        {
            place_script(&from, &to)?;
        } else {
            std::fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// Whether programs cannot be executed from the filesystem holding `dir`
/// (`noexec`: a `--tmpfs /run` as Docker and podman mount it by default).
#[must_use]
pub fn is_noexec(dir: &std::path::Path) -> bool {
    nix::sys::statvfs::statvfs(dir)
        .is_ok_and(|s| s.flags().contains(nix::sys::statvfs::FsFlags::ST_NOEXEC))
}

/// Puts a copy of the script `src` (a `run`, a `finish`…) at `dst`, where a
/// supervisor will execute it. When `dst` is on a `noexec` filesystem and the
/// script's real file is not, `dst` is a link to that file instead, so the
/// service still starts. Returns whether a link was made.
pub fn place_script(src: &std::path::Path, dst: &std::path::Path) -> std::io::Result<bool> {
    let dir = dst.parent().unwrap_or(std::path::Path::new("."));
    if is_noexec(dir) {
        let real = std::fs::canonicalize(src)?;
        if !real.parent().is_some_and(is_noexec) {
            match std::fs::remove_file(dst) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            std::os::unix::fs::symlink(real, dst)?;
            return Ok(true);
        }
    }
    std::fs::copy(src, dst)?;
    Ok(false)
}
