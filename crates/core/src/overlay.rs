//! s6-overlay's runtime layout: the paths every image and script relies on
//! (`/run/service`, `/run/s6/container_environment`, the exit-code file, `halt`),
//! under one runtime directory.
//!
//! Invariant: these are the paths of s6-overlay v3, spelled once, under `/run`
//! unless `SVKIT_RUNTIME_DIR` names another directory or `/init` fell back to
//! [`FALLBACK`] (a container whose `/run` its user cannot write: `/init` then
//! exports the variable to everything it starts, and a tool started from
//! outside, such as a probe, finds the fallback tree if it is its user's). The v2 names
//! (`/var/run/s6/...`) reach them through the `/var/run` → `/run` link.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The default runtime directory.
pub const RUN: &str = "/run";
/// The environment variable that moves the runtime directory off `/run`.
pub const RUNTIME_DIR_VAR: &str = "SVKIT_RUNTIME_DIR";
/// The runtime directory `/init` uses when `/run` cannot be written and
/// `SVKIT_RUNTIME_DIR` is not set.
pub const FALLBACK: &str = "/tmp/svkit";

/// Every path of the layout, under one runtime directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The writable runtime directory (`/run`).
    pub run: PathBuf,
    /// The scan directory the container's scanner runs on (`/run/service`).
    pub scandir: PathBuf,
    /// svkit's (and s6-overlay's) runtime state (`/run/s6`).
    pub s6_dir: PathBuf,
    /// One file per container environment variable.
    pub container_env: PathBuf,
    /// Copies of `/etc/services.d/*`, supervised through links in the scan directory.
    pub legacy_services: PathBuf,
    /// The v2 scan directory name (`/run/s6/services`): a link to the scan directory.
    pub v2_scandir: PathBuf,
    /// `halt`, `poweroff`, `reboot`: stop the container from inside.
    pub basedir_bin: PathBuf,
    /// The s6-rc live directory: supervised copies of the longruns, the state.
    pub rc_live: PathBuf,
    /// The compiled s6-rc service database.
    pub rc_db: PathBuf,
    /// The system service definitions (`base`, `legacy-services`, `top`…) `/init` writes.
    pub rc_system_sources: PathBuf,
    /// Created by the first `halt` when s6-rc services run: the ordered stop is under way.
    pub shutdown_mark: PathBuf,
    /// Created when cont-finish.d starts, so it runs once.
    pub cont_finish_mark: PathBuf,
    /// Created by stage 2 once the services have been brought up (boot done).
    pub booted_mark: PathBuf,
    /// The container's working directory (`WORKDIR`), for the CMD.
    pub workdir_file: PathBuf,
    /// The CMD's pid, while it runs with `S6_CMD_RECEIVE_SIGNALS`.
    pub cmdpid_file: PathBuf,
    /// Directory of the container's results.
    pub results_dir: PathBuf,
    /// The container's exit code: last writer wins.
    pub exitcode_file: PathBuf,
    /// Where the catch-all logger keeps its logs.
    pub uncaught_logs: PathBuf,
}

impl Layout {
    /// The layout under the runtime directory `run`.
    #[must_use]
    pub fn at(run: &Path) -> Self {
        let s6 = run.join("s6");
        let results = run.join("s6-linux-init-container-results");
        Self {
            scandir: run.join("service"),
            container_env: s6.join("container_environment"),
            legacy_services: s6.join("legacy-services"),
            v2_scandir: s6.join("services"),
            basedir_bin: s6.join("basedir/bin"),
            rc_live: run.join("s6-rc"),
            rc_db: s6.join("db"),
            rc_system_sources: s6.join("rc-sources"),
            shutdown_mark: s6.join("shutdown-started"),
            cont_finish_mark: s6.join("cont-finish-started"),
            booted_mark: s6.join("booted"),
            workdir_file: s6.join("workdir"),
            cmdpid_file: s6.join("cmdpid"),
            exitcode_file: results.join("exitcode"),
            results_dir: results,
            uncaught_logs: run.join("uncaught-logs"),
            s6_dir: s6,
            run: run.to_path_buf(),
        }
    }

    /// Whether this is the usual layout under `/run`.
    #[must_use]
    pub fn is_default(&self) -> bool {
        self.run == Path::new(RUN)
    }
}

static LAYOUT: OnceLock<Layout> = OnceLock::new();

/// The runtime directory `SVKIT_RUNTIME_DIR` names, if it names an absolute one.
#[must_use]
pub fn runtime_dir_from_env() -> Option<PathBuf> {
    std::env::var_os(RUNTIME_DIR_VAR)
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
}

/// This process's layout: under `SVKIT_RUNTIME_DIR` when set (and absolute);
/// else under `/run`, unless a scanner runs on [`FALLBACK`]'s tree, none on
/// `/run`'s, and the fallback is ours. Settled on first use.
pub fn layout() -> &'static Layout {
    LAYOUT.get_or_init(|| Layout::at(&runtime_dir_from_env().unwrap_or_else(discover)))
}

fn discover() -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let fallback = Path::new(FALLBACK);
    let ours = || {
        std::fs::symlink_metadata(fallback)
            .is_ok_and(|m| m.is_dir() && m.uid() == nix::unistd::geteuid().as_raw())
    };
    let scanning = |run: &Path| {
        crate::lock::is_locked(&run.join("service").join(crate::servicedir::SCAN_LOCK))
            .unwrap_or(false)
    };
    if !scanning(Path::new(RUN)) && scanning(fallback) && ours() {
        fallback.to_path_buf()
    } else {
        PathBuf::from(RUN)
    }
}

/// Settles this process's layout under `run` (`/init`, once it has chosen its
/// runtime directory, before anything reads the layout). Returns the layout in
/// force, which is the one asked for unless the layout was already settled.
pub fn settle(run: &Path) -> &'static Layout {
    let l = LAYOUT.get_or_init(|| Layout::at(run));
    debug_assert_eq!(l.run, run, "the layout was read before it was settled");
    l
}

/// s6-overlay's `S6_KEEP_ENV` test, shared by `/init` and `with-contenv`: on when
/// set to something other than empty or a number equal to 0 (`eltest 0$V -eq 0`
/// fails for "yes", so "yes" keeps the environment too).
#[must_use]
pub fn keep_env(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| {
        let b = v.as_encoded_bytes();
        !(b.is_empty() || b.iter().all(|&c| c == b'0'))
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_default_layout_is_s6_overlay_v3s() {
        let l = super::Layout::at(std::path::Path::new(super::RUN));
        assert!(l.is_default());
        for (p, want) in [
            (&l.scandir, "/run/service"),
            (&l.container_env, "/run/s6/container_environment"),
            (&l.v2_scandir, "/run/s6/services"),
            (&l.basedir_bin, "/run/s6/basedir/bin"),
            (&l.rc_live, "/run/s6-rc"),
            (&l.rc_db, "/run/s6/db"),
            (
                &l.exitcode_file,
                "/run/s6-linux-init-container-results/exitcode",
            ),
            (&l.uncaught_logs, "/run/uncaught-logs"),
        ] {
            assert_eq!(p.to_str(), Some(want));
        }
        let moved = super::Layout::at(std::path::Path::new("/tmp/svkit"));
        assert!(!moved.is_default());
        assert_eq!(moved.scandir.to_str(), Some("/tmp/svkit/service"));
    }

    #[test]
    fn keep_env_rule() {
        use std::ffi::OsStr;
        for (v, on) in [
            (None, false),
            (Some(""), false),
            (Some("0"), false),
            (Some("00"), false),
            (Some("1"), true),
            (Some("yes"), true),
            (Some("10"), true),
        ] {
            assert_eq!(super::keep_env(v.map(OsStr::new)), on, "{v:?}");
        }
    }
}
