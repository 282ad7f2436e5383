//! s6-overlay's runtime layout: the paths every image and script relies on
//! (`/run/service`, `/run/s6/container_environment`, the exit-code file, `halt`).
//!
//! Invariant: these are the paths of s6-overlay v3, spelled once; the v2 names
//! (`/var/run/s6/...`) reach them through the `/var/run` → `/run` link.

/// The writable runtime directory.
pub const RUN: &str = "/run";
/// The scan directory the container's scanner runs on.
pub const SCANDIR: &str = "/run/service";
/// svkit's (and s6-overlay's) runtime state.
pub const S6_DIR: &str = "/run/s6";
/// One file per container environment variable.
pub const CONTAINER_ENV: &str = "/run/s6/container_environment";
/// Copies of `/etc/services.d/*`, supervised through links in the scan directory.
pub const LEGACY_SERVICES: &str = "/run/s6/legacy-services";
/// The v2 scan directory name: a link to [`SCANDIR`].
pub const V2_SCANDIR: &str = "/run/s6/services";
/// `halt`, `poweroff`, `reboot`: stop the container from inside.
pub const BASEDIR_BIN: &str = "/run/s6/basedir/bin";
/// The s6-rc live directory: supervised copies of the longruns, the state.
pub const RC_LIVE: &str = "/run/s6-rc";
/// The compiled s6-rc service database.
pub const RC_DB: &str = "/run/s6/db";
/// The system service definitions (`base`, `legacy-services`, `top`…) `/init` writes.
pub const RC_SYSTEM_SOURCES: &str = "/run/s6/rc-sources";
/// Created by the first `halt` when s6-rc services run: the ordered stop is under way.
pub const SHUTDOWN_MARK: &str = "/run/s6/shutdown-started";
/// Created when cont-finish.d starts, so it runs once.
pub const CONT_FINISH_MARK: &str = "/run/s6/cont-finish-started";
/// The container's working directory (`WORKDIR`), for the CMD.
pub const WORKDIR_FILE: &str = "/run/s6/workdir";
/// The CMD's pid, while it runs with `S6_CMD_RECEIVE_SIGNALS`.
pub const CMDPID_FILE: &str = "/run/s6/cmdpid";
/// Directory of the container's results.
pub const RESULTS_DIR: &str = "/run/s6-linux-init-container-results";
/// The container's exit code: last writer wins.
pub const EXITCODE_FILE: &str = "/run/s6-linux-init-container-results/exitcode";

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
