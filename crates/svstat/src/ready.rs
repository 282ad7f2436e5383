//! `svstat --all-ready [SCANDIR]`: a readiness and liveness probe for a whole
//! supervision tree (Kubernetes exec probes, Docker `HEALTHCHECK`).
//!
//! Invariants: it exits 0 only when every service of SCANDIR that should run —
//! normally up (no `down` file) or wanted up (`svc -u`, s6-rc) — is supervised,
//! up, not paused, and ready if it declares readiness (`notification-fd`); each
//! service's `log/` is held to the same rule. For the container's own scan
//! directory it also needs the boot to be done and no stop under way. Each
//! problem is one line on stdout; nothing is ever changed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use svkit_core::overlay::layout;
use svkit_core::report::{Failure, show};
use svkit_core::servicedir::{LOG_DIR, NOTIFICATION_FD, SCAN_LOCK};
use svkit_core::{Exit, lock};

use crate::Report;

/// How one service stands.
enum Verdict {
    Ready,
    /// Neither normally up nor wanted up: it does not count.
    DownOnPurpose,
    /// What keeps it from counting as ready.
    Problem(String),
}

fn verdict(dir: &Path) -> Verdict {
    let r = match Report::read(dir) {
        Ok(Some(r)) => r,
        Ok(None) => return Verdict::Problem("not supervised".to_owned()),
        Err(f) => return Verdict::Problem(f.msg),
    };
    if !(r.normallyup || r.st.wantup) {
        Verdict::DownOnPurpose
    } else if !r.up() || r.st.paused {
        Verdict::Problem(r.human(false))
    } else if !r.st.ready && dir.join(NOTIFICATION_FD).exists() {
        Verdict::Problem(format!("{}, not ready yet", r.human(false)))
    } else {
        Verdict::Ready
    }
}

/// The service directories of `scandir` (and their loggers), by name.
fn services(scandir: &Path) -> Result<Vec<(String, PathBuf)>, Failure> {
    let names = svkit_core::servicedir::visible_names(scandir)
        .map_err(|e| Failure::sys(format!("read {}", show(scandir)), &e))?;
    let mut out = Vec::new();
    for name in names {
        let dir = scandir.join(&name);
        if !dir.is_dir() {
            continue;
        }
        let log = dir.join(LOG_DIR);
        let shown = show(&name);
        if log.is_dir() {
            out.push((shown.clone(), dir));
            out.push((format!("{shown}/{LOG_DIR}"), log));
        } else {
            out.push((shown, dir));
        }
    }
    Ok(out)
}

/// Whether `a` and `b` are the same directory, however they are spelt.
fn same_dir(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(x), Ok(y)) => (x.dev(), x.ino()) == (y.dev(), y.ino()),
        _ => a == b,
    }
}

/// Runs the probe on `scandir` (the container's when `None`).
pub(crate) fn run(scandir: Option<&Path>) -> Result<Exit, Failure> {
    let l = layout();
    let scandir = scandir.unwrap_or(&l.scandir);
    let mut problems: Vec<String> = Vec::new();
    let scan_lock = scandir.join(SCAN_LOCK);
    if scan_lock.exists() && !lock::is_locked(&scan_lock).unwrap_or(true) {
        problems.push("the scanner is not running".to_owned());
    }
    if same_dir(scandir, &l.scandir) {
        if !l.booted_mark.exists() {
            problems.push("the container is still booting".to_owned());
        }
        if l.shutdown_mark.exists() {
            problems.push("the container is stopping".to_owned());
        }
    }
    let (mut up, mut resting) = (0, 0);
    for (name, dir) in services(scandir)? {
        match verdict(&dir) {
            Verdict::Ready => up += 1,
            Verdict::DownOnPurpose => resting += 1,
            Verdict::Problem(p) => problems.push(format!("{name}: {p}")),
        }
    }
    let mut out = std::io::stdout().lock();
    let r = if problems.is_empty() {
        let s = if up == 1 { "" } else { "s" };
        if resting == 0 {
            writeln!(out, "all ready: {up} service{s} up")
        } else {
            writeln!(
                out,
                "all ready: {up} service{s} up, {resting} down on purpose"
            )
        }
    } else {
        problems.iter().try_for_each(|p| writeln!(out, "{p}"))
    };
    r.map_err(|e| Failure::sys("write to stdout", &e))?;
    Ok(if problems.is_empty() {
        Exit::Ok
    } else {
        Exit::No
    })
}
