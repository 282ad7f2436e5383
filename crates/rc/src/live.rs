//! The live state of the service manager: `LIVE/compiled` (→ the database),
//! `LIVE/scandir` (→ the scan directory), `LIVE/servicedirs/<name>` (the longruns'
//! supervised copies), `LIVE/state/<name>` (present while the service is up) and
//! `LIVE/lock` (held by the one `rc` changing things).
//!
//! Invariants: a longrun's directory holds a `down` file, so its supervisor (or a
//! restarted one) never starts it on its own — only `rc` does; every supervisor
//! is subscribed to before the scanner learns about it, so its start is never
//! missed; a state file changes only under the lock.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, poll};
use svkit_core::event::{Subscription, byte};
use svkit_core::report::{Failure, show};
use svkit_core::servicedir::{DOWN, LOG_DIR, SCAN_CONTROL, SCAN_CTL_DIR};
use svkit_core::{Exit, control, lock};

use crate::db::{self, SERVICES};
use crate::graph::Graph;
use crate::source::Kind;

/// The live directory and what it points to.
#[derive(Debug)]
pub(crate) struct Live {
    /// `LIVE`.
    pub(crate) dir: PathBuf,
}

impl Live {
    /// The live directory at `dir`.
    #[must_use]
    pub(crate) fn new(dir: &Path) -> Self {
        Live {
            dir: dir.to_owned(),
        }
    }

    /// The compiled database.
    #[must_use]
    pub(crate) fn db(&self) -> PathBuf {
        self.dir.join("compiled")
    }

    /// The supervised directory of longrun `name`.
    #[must_use]
    pub(crate) fn servicedir(&self, name: &str) -> PathBuf {
        self.dir.join("servicedirs").join(name)
    }

    /// The command file `up` or `down` of oneshot `name`.
    #[must_use]
    pub(crate) fn script(&self, name: &str, which: &str) -> PathBuf {
        self.db().join(SERVICES).join(name).join(which)
    }

    /// The services that are up.
    #[must_use]
    pub(crate) fn up_set(&self) -> BTreeSet<String> {
        fs::read_dir(self.dir.join("state"))
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| !n.starts_with('.'))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records that `name` is up (or down).
    pub(crate) fn set_up(&self, name: &str, up: bool) -> io::Result<()> {
        let f = self.dir.join("state").join(name);
        if up {
            File::create(f).map(drop)
        } else {
            match fs::remove_file(f) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        }
    }

    /// Takes the lock (waiting for it with `block`).
    pub(crate) fn lock(&self, block: bool) -> Result<File, Failure> {
        let path = self.dir.join("lock");
        let what = || format!("take lock on {}", show(&path));
        if block {
            return lock::take_wait(&path, 0o644).map_err(|e| Failure::sys(what(), &e));
        }
        match lock::take(&path, 0o644) {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err(Failure::new(
                Exit::System,
                format!(
                    "unable to {}: another rc is changing the services (use -b to wait)",
                    what()
                ),
            )),
            Err(e) => Err(Failure::sys(what(), &e)),
        }
    }
}

/// `rc-init`: lays out `live` for database `db` and hands the longruns to the
/// scanner of `scandir`, down; returns once every supervisor has started.
pub(crate) fn init(
    db_dir: &Path,
    live: &Path,
    scandir: &Path,
    deadline: Option<Instant>,
) -> Result<(), Failure> {
    let g = db::load(db_dir)?;
    let abs = |p: &Path| -> Result<PathBuf, Failure> {
        std::path::absolute(p).map_err(|e| Failure::sys(format!("resolve {}", show(p)), &e))
    };
    let (db_dir, live_dir, scandir) = (abs(db_dir)?, abs(live)?, abs(scandir)?);
    if live_dir.exists() {
        return Err(Failure::new(
            Exit::System,
            format!(
                "unable to initialize {}: it already exists",
                show(&live_dir)
            ),
        ));
    }
    let mk = |p: &Path| {
        fs::create_dir_all(p).map_err(|e| Failure::sys(format!("mkdir {}", show(p)), &e))
    };
    mk(&live_dir.join("state"))?;
    mk(&live_dir.join("servicedirs"))?;
    let link = |to: &Path, at: &Path| {
        symlink(to, at).map_err(|e| Failure::sys(format!("symlink {}", show(at)), &e))
    };
    link(&db_dir, &live_dir.join("compiled"))?;
    link(&scandir, &live_dir.join("scandir"))?;
    let l = Live::new(&live_dir);

    let mut dirs: Vec<PathBuf> = Vec::new();
    let mut top: Vec<(String, PathBuf)> = Vec::new();
    for (name, def) in &g.defs {
        if def.kind != Kind::Longrun || g.logger_of.contains_key(name) {
            continue;
        }
        let sd = l.servicedir(name);
        lay_out(&db_dir.join(SERVICES).join(name), &sd)?;
        dirs.push(sd.clone());
        if let Some((c, _)) = g.logger_of.iter().find(|(_, p)| *p == name) {
            let logdir = sd.join(LOG_DIR);
            lay_out(&db_dir.join(SERVICES).join(c), &logdir)?;
            link(Path::new(&format!("{name}/{LOG_DIR}")), &l.servicedir(c))?;
            dirs.push(logdir);
        }
        top.push((name.clone(), sd));
    }
    // Subscribe first: the supervisors' `s` must not be missed.
    let mut subs = Vec::new();
    for d in &dirs {
        subs.push(
            Subscription::new(d)
                .map_err(|e| Failure::sys(format!("subscribe to {}", show(d)), &e))?,
        );
    }
    for (name, sd) in &top {
        let at = scandir.join(name);
        let _ = fs::remove_file(&at);
        link(sd, &at)?;
    }
    if !top.is_empty() {
        control::send_via(&scandir, SCAN_CTL_DIR, SCAN_CONTROL, b"a").map_err(|e| {
            Failure::new(
                Exit::System,
                format!(
                    "unable to tell the scanner of {} to rescan: {e}",
                    show(&scandir)
                ),
            )
        })?;
    }
    wait_started(&dirs, &mut subs, deadline)
}

/// Copies a longrun from the database to where it is supervised, down.
fn lay_out(from: &Path, to: &Path) -> Result<(), Failure> {
    db::copy_longrun(from, to)
        .and_then(|()| File::create(to.join(DOWN)).map(drop))
        .map_err(|e| Failure::sys(format!("copy {} to {}", show(from), show(to)), &e))
}

/// Waits for an `s` (supervisor started) from each subscription.
fn wait_started(
    dirs: &[PathBuf],
    subs: &mut [Subscription],
    deadline: Option<Instant>,
) -> Result<(), Failure> {
    let mut started = vec![false; subs.len()];
    let mut buf = [0u8; 64];
    while started.iter().any(|s| !s) {
        if deadline.is_some_and(|d| d <= Instant::now()) {
            let missing: Vec<String> = dirs
                .iter()
                .zip(&started)
                .filter(|(_, s)| !**s)
                .map(|(d, _)| show(d))
                .collect();
            return Err(Failure::new(
                Exit::Timeout,
                format!(
                    "timed out waiting for the supervisors of {} (is a scanner running?)",
                    missing.join(" ")
                ),
            ));
        }
        let readable: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = subs
                .iter()
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            let _ = poll(&mut fds, svkit_core::poll::timeout(deadline));
            fds.iter().map(svkit_core::poll::readable).collect()
        };
        for ((sub, ok), r) in subs.iter_mut().zip(started.iter_mut()).zip(readable) {
            if r {
                let n = sub
                    .read(&mut buf)
                    .map_err(|e| Failure::sys("read events", &e))?;
                if buf[..n].contains(&byte::START) {
                    *ok = true;
                }
            }
        }
    }
    Ok(())
}

/// The graph of the live database.
pub(crate) fn graph(live: &Live) -> Result<Graph, Failure> {
    db::load(&live.db())
}
