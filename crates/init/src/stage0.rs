//! Stage 0 and 1 of `/init`: make `/run` usable, dump the environment, lay out the
//! scan directory and its hooks, start stage 2, and become the scanner (PID 1).
//!
//! Invariants: the runtime directory is writable before anything is written
//! there (`/run`, with a tmpfs mounted over it if it is not and we may; else
//! `SVKIT_RUNTIME_DIR` or `/tmp/svkit`, exported to everything started); state
//! from a previous run of the container is removed first; the supervision tree and stage 2 get exactly `PATH`
//! (plus everything with `S6_KEEP_ENV`); the scanner is exec'd in this very process,
//! so PID 1 stays PID 1.

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::unistd::Uid;
use svkit_core::overlay::{FALLBACK, Layout, RUN, RUNTIME_DIR_VAR};
use svkit_core::process::{self, Spawn};
use svkit_core::report::{Failure, show, strerror};
use svkit_core::servicedir::{SCAN_CTL_DIR, SCAN_TIMEOUT_STOP};
use svkit_core::{Exit, envdir};

use crate::control::set_exit_code;
use crate::settings::{Log, uint};
use crate::{HOOK_SIGNALS, STAGE2};

const PROG: &str = "init";

/// `PATH` with `/command`, `/usr/bin` and `/bin` in front when missing (s6-overlay's
/// rule), so the tools are found whatever the image's `PATH`.
pub(crate) fn fixed_path(current: Option<OsString>) -> OsString {
    let mut path = current
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "/bin".into());
    for dir in ["/bin", "/usr/bin", "/command"] {
        if !path
            .as_bytes()
            .split(|&b| b == b':')
            .any(|d| d == dir.as_bytes())
        {
            let mut p = OsString::from(dir);
            p.push(":");
            p.push(&path);
            path = p;
        }
    }
    path
}

/// Runs `/init CMD...`; returns only on failure (the success path execs the scanner).
pub(crate) fn run(args: &[OsString]) -> Failure {
    match boot(args) {
        Ok(never) => match never {},
        Err(f) => f,
    }
}

enum Never {}

fn boot(cmd: &[OsString]) -> Result<Never, Failure> {
    let path = fixed_path(std::env::var_os("PATH"));
    let log = Log {
        prog: PROG,
        verbosity: uint(std::env::var_os("S6_VERBOSITY").as_ref(), 2),
    };
    docker_readiness();
    wait_for_closing_fd(&log);
    let exe = std::env::current_exe().map_err(|e| Failure::sys("find my own executable", &e))?;
    if std::process::id() != 1 {
        // Under docker --init, tini, catatonit...: we carry on as a subreaper (the
        // scanner makes itself one), so orphans are still reaped here.
        log.warn(format_args!(
            "not running as PID 1 (pid {}): carrying on as a child subreaper",
            std::process::id()
        ));
    }
    let layout = svkit_core::overlay::settle(&runtime_dir(&log)?);
    if layout.is_default() {
        link_var_run(&log);
    }
    clean_run(layout)?;
    let keep = crate::settings::keep_env();
    // Everything started learns where the tree is when it is not under /run.
    let moved = (!layout.is_default()).then(|| {
        (
            OsString::from(RUNTIME_DIR_VAR),
            layout.run.clone().into_os_string(),
        )
    });
    let env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| k != "PATH" && k != RUNTIME_DIR_VAR)
        .chain([("PATH".into(), path.clone())])
        .chain(moved.clone())
        .collect();
    if !keep {
        dump_env(layout, &env, &log)?;
    }
    let cwd =
        std::env::current_dir().map_err(|e| Failure::sys("read the working directory", &e))?;
    let mut workdir = cwd.as_os_str().as_bytes().to_vec();
    workdir.push(b'\n');
    fs::write(&layout.workdir_file, workdir)
        .map_err(|e| Failure::sys(format!("write {}", layout.workdir_file.display()), &e))?;
    lay_out(layout, &exe)?;

    // The tree, stage 2 and the CMD get PATH only, unless S6_KEEP_ENV.
    let tree_env: Vec<(OsString, OsString)> = if keep {
        env
    } else {
        std::iter::once(("PATH".into(), path))
            .chain(moved)
            .collect()
    };
    // With a catch-all logger, everything from here on (stage 2, the CMD, the
    // scanner and every service without a logger) writes into its FIFO.
    let console = crate::logging::catch_all(&exe, &log)?;
    let (ready_r, ready_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map_err(|e| Failure::sys("create a pipe", &e.into()))?;
    let cmd: Vec<&OsStr> = cmd.iter().map(OsString::as_os_str).collect();
    Spawn {
        session: true,
        fd: Some((ready_r.as_fd(), 3)),
        env: Some(&tree_env),
        ..Spawn::default()
    }
    .run(&exe, OsStr::new(STAGE2), &cmd)
    .map_err(|e| Failure::sys("start stage 2", &e))?;
    drop(ready_r);

    let null = File::open("/dev/null").map_err(|e| Failure::sys("open /dev/null", &e))?;
    let mut args = vec![OsString::from("-d4")];
    if console.is_some() {
        args.push("-X5".into());
    }
    if let Some(style) = crate::logging::prefix_style(&log) {
        args.extend(["-P".into(), style.into()]);
    }
    args.push(layout.scandir.clone().into_os_string());
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let e = Spawn {
        fd: Some((ready_w.as_fd(), 4)),
        fd2: console.as_ref().map(|c| (c.as_fd(), 5)),
        stdin: Some(null.as_fd()),
        env: Some(&tree_env),
        cwd: Some(Path::new("/")),
        ..Spawn::default()
    }
    .exec(&exe, OsStr::new("s6-svscan"), &args);
    Err(Failure::sys("exec s6-svscan", &e))
}

/// s6-overlay's "Docker readiness notification": when fd 3 is an open pipe or
/// socket, read one line (or EOF) from it first, and close it if a line came.
/// Only a pipe or a socket is read, so that an unrelated inherited fd 3 cannot
/// block the boot.
fn docker_readiness() {
    if !process::fd_is_pipe_or_socket(3) {
        return;
    }
    let Ok(fd) = process::inherited_fd(3) else {
        return;
    };
    let mut f = File::from(fd);
    let mut byte = [0u8; 1];
    let mut got_line = false;
    while let Ok(1) = f.read(&mut byte) {
        if byte[0] == b'\n' {
            got_line = true;
            break;
        }
    }
    if !got_line {
        // EOF: leave fd 3 open, as s6-overlay does.
        let _ = std::os::fd::IntoRawFd::into_raw_fd(f);
    }
}

/// `S6_WAIT_FOR_CLOSING_FD`: a container manager's sync — block until that fd
/// reports end-of-file.
fn wait_for_closing_fd(log: &Log) {
    let fd = uint(std::env::var_os("S6_WAIT_FOR_CLOSING_FD").as_ref(), 0);
    if fd < 3 {
        return;
    }
    let Ok(fd) = i32::try_from(fd) else { return };
    match process::inherited_fd(fd) {
        Ok(owned) => {
            let mut f = File::from(owned);
            let mut buf = [0u8; 64];
            while let Ok(n) = f.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        }
        Err(e) => log.warn(format_args!(
            "S6_WAIT_FOR_CLOSING_FD={fd}: {}",
            strerror(&e)
        )),
    }
}

fn writable(dir: &Path) -> bool {
    let probe = dir.join(".svkit-write-test");
    let ok = File::create(&probe).is_ok();
    let _ = fs::remove_file(&probe);
    ok
}

/// Where the tree lives: `SVKIT_RUNTIME_DIR` when set; else `/run`, made usable
/// ([`prepare_run`]); else — `/run` cannot be written and cannot be made so, as in
/// a container run with `USER` whose `/run` belongs to root — [`FALLBACK`], said
/// in one line.
fn runtime_dir(log: &Log) -> Result<PathBuf, Failure> {
    if let Some(v) = std::env::var_os(RUNTIME_DIR_VAR).filter(|v| !v.is_empty()) {
        let dir = PathBuf::from(&v);
        if !dir.is_absolute() {
            return Err(Failure::new(
                Exit::Usage,
                format!("{RUNTIME_DIR_VAR}={}: not an absolute path", show(&v)),
            ));
        }
        make_runtime_dir(&dir, false).map_err(|why| {
            Failure::new(
                Exit::System,
                format!(
                    "unable to use {} as the runtime directory: {why}",
                    dir.display()
                ),
            )
        })?;
        if dir != Path::new(RUN) {
            log.info(format_args!(
                "[s6-init] runtime directory {} ({RUNTIME_DIR_VAR})",
                dir.display()
            ));
        }
        return Ok(dir);
    }
    let why = match prepare_run(log) {
        Ok(()) => return Ok(RUN.into()),
        Err(f) => f.msg,
    };
    let dir = PathBuf::from(FALLBACK);
    make_runtime_dir(&dir, true).map_err(|fallback| {
        Failure::new(
            Exit::System,
            format!(
                "unable to find a runtime directory: {why}, and {FALLBACK}: {fallback}; give the \
                 container a writable /run (an emptyDir, --tmpfs /run) or set {RUNTIME_DIR_VAR} \
                 to a writable directory"
            ),
        )
    })?;
    log.warn(format_args!(
        "{why}: the runtime directory is {FALLBACK} ({RUNTIME_DIR_VAR} chooses another)"
    ));
    Ok(dir)
}

/// Creates the runtime directory `dir` if it is missing and checks that we can
/// write it; the reason when we cannot use it. In `/tmp` (`shared`), it must
/// also be a real directory of our own (not a link, not another user's), it is
/// made 0755 whatever it was, and root does not use it when `/tmp` lets anyone
/// rename it away (world-writable without the sticky bit).
fn make_runtime_dir(dir: &Path, shared: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let me = Uid::effective();
    if shared && me.is_root() {
        let parent = dir.parent().unwrap_or(Path::new("/"));
        let m = fs::metadata(parent).map_err(|e| strerror(&e))?;
        if m.mode() & 0o1002 == 0o002 {
            return Err(format!(
                "{} is world-writable without the sticky bit",
                parent.display()
            ));
        }
    }
    match DirBuilder::new().mode(0o755).recursive(!shared).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(strerror(&e)),
    }
    if shared {
        let m = fs::symlink_metadata(dir).map_err(|e| strerror(&e))?;
        if !m.is_dir() || m.uid() != me.as_raw() {
            return Err(format!("not a directory of uid {me}"));
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).map_err(|e| strerror(&e))?;
    }
    if writable(dir) {
        Ok(())
    } else {
        Err(format!("not writable by uid {me}"))
    }
}

/// `/run` must exist and be writable. If it is not writable and we may mount, a
/// tmpfs goes over it (s6-overlay does that only with `S6_READ_ONLY_ROOT`). With
/// `S6_READ_ONLY_ROOT`, `/run` cannot be created (the root is read-only), and a
/// writable but noexec `/run` is remounted exec, as s6-overlay does.
fn prepare_run(log: &Log) -> Result<(), Failure> {
    let run = Path::new(RUN);
    let read_only_root = uint(std::env::var_os("S6_READ_ONLY_ROOT").as_ref(), 0) != 0;
    if read_only_root {
        log.info("[s6-init] read-only root");
    }
    match fs::metadata(run) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(Failure::new(Exit::Usage, "/run is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound && read_only_root => {
            return Err(Failure::new(
                Exit::Usage,
                "/run is missing: with S6_READ_ONLY_ROOT, give the container a /run (--tmpfs /run)",
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            DirBuilder::new()
                .mode(0o755)
                .create(run)
                .map_err(|e| Failure::sys("create /run", &e))?;
        }
        Err(e) => return Err(Failure::sys("stat /run", &e)),
    }
    if writable(run) {
        if run_is_noexec() {
            let remounted = read_only_root
                && nix::mount::mount(
                    None::<&str>,
                    run,
                    None::<&str>,
                    nix::mount::MsFlags::MS_REMOUNT
                        | nix::mount::MsFlags::MS_NOSUID
                        | nix::mount::MsFlags::MS_NODEV,
                    None::<&str>,
                )
                .is_ok();
            if !remounted {
                log.warn(
                    "/run is mounted noexec: service scripts are run from the image through links",
                );
            }
        }
        return Ok(());
    }
    if !Uid::effective().is_root() {
        return Err(Failure::new(
            Exit::System,
            format!("/run is not writable by uid {}", Uid::effective()),
        ));
    }
    log.info("[s6-init] /run is not writable: mounting a tmpfs on it");
    nix::mount::mount(
        Some("tmpfs"),
        run,
        Some("tmpfs"),
        nix::mount::MsFlags::MS_NOSUID | nix::mount::MsFlags::MS_NODEV,
        Some("mode=0755"),
    )
    .map_err(|e| {
        Failure::new(
            Exit::System,
            format!(
                "/run is not writable and a tmpfs cannot be mounted on it: {}",
                e.desc()
            ),
        )
    })?;
    if writable(run) {
        Ok(())
    } else {
        Err(Failure::new(Exit::System, "/run is still not writable"))
    }
}

fn run_is_noexec() -> bool {
    fs::read_to_string("/proc/self/mounts").is_ok_and(|m| {
        m.lines()
            .rfind(|l| l.split_whitespace().nth(1) == Some(RUN))
            .is_some_and(|l| {
                l.split_whitespace()
                    .nth(3)
                    .is_some_and(|o| o.split(',').any(|x| x == "noexec"))
            })
    })
}

/// `/var/run` must lead to `/run` (v2 paths such as `/var/run/s6/services` and
/// `/var/run/s6/container_environment` depend on it). Fixed where possible.
fn link_var_run(log: &Log) {
    let var_run = Path::new("/var/run");
    if fs::canonicalize(var_run).is_ok_and(|p| p == Path::new(RUN)) {
        return;
    }
    let r = (|| {
        fs::create_dir_all("/var")?;
        match fs::symlink_metadata(var_run) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(var_run)?,
            Ok(_) => fs::remove_file(var_run)?,
            Err(_) => {}
        }
        symlink(RUN, var_run)
    })();
    if let Err(e) = r {
        log.warn(format_args!(
            "/var/run is not a link to /run and cannot be made one: {}",
            strerror(&e)
        ));
    }
}

/// Removes what a previous run of this container left in `/run` (a `docker restart`
/// keeps the writable layer), then creates the directories the stages use.
fn clean_run(l: &Layout) -> Result<(), Failure> {
    for p in [&l.s6_dir, &l.scandir, &l.uncaught_logs, &l.results_dir] {
        match fs::remove_dir_all(p) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Failure::sys(format!("remove {}", p.display()), &e)),
        }
    }
    if let Ok(rd) = fs::read_dir(&l.run) {
        for e in rd.filter_map(Result::ok) {
            if e.file_name().as_bytes().starts_with(b"s6-rc") {
                let _ = fs::remove_dir_all(e.path()).or_else(|_| fs::remove_file(e.path()));
            }
        }
    }
    for p in [&l.s6_dir, &l.scandir, &l.results_dir, &l.basedir_bin] {
        DirBuilder::new()
            .mode(0o755)
            .recursive(true)
            .create(p)
            .map_err(|e| Failure::sys(format!("create {}", p.display()), &e))?;
    }
    Ok(())
}

/// The container environment, one file per variable. The directory is 0700 and
/// the files 0600: the environment often holds secrets.
fn dump_env(l: &Layout, env: &[(OsString, OsString)], log: &Log) -> Result<(), Failure> {
    let dir = &l.container_env;
    let skipped = envdir::dump(
        dir,
        env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str())),
        0o700,
        0o600,
    )
    .map_err(|e| Failure::sys(format!("write {}", dir.display()), &e))?;
    for name in skipped {
        log.warn(format_args!(
            "variable {} cannot be a file name: not in {}",
            show(&name),
            dir.display()
        ));
    }
    Ok(())
}

/// The scan directory's hooks, `halt`, the v2 scan-dir name and the exit code file.
/// Hooks and `halt` are links to this executable, which knows them by name: no
/// shell is needed in the image.
fn lay_out(l: &Layout, exe: &Path) -> Result<(), Failure> {
    let ctl = l.scandir.join(SCAN_CTL_DIR);
    DirBuilder::new()
        .mode(0o700)
        .create(&ctl)
        .map_err(|e| Failure::sys(format!("create {}", ctl.display()), &e))?;
    let link = |name: &Path| {
        symlink(exe, name).map_err(|e| Failure::sys(format!("link {}", name.display()), &e))
    };
    for hook in ["finish", "crash"].into_iter().chain(HOOK_SIGNALS) {
        link(&ctl.join(hook))?;
    }
    let grace = uint(std::env::var_os("S6_SERVICES_GRACETIME").as_ref(), 3000);
    write_timeout_stop(grace)?;
    for name in ["halt", "poweroff", "reboot"] {
        link(&l.basedir_bin.join(name))?;
    }
    symlink(&l.scandir, &l.v2_scandir)
        .map_err(|e| Failure::sys(format!("link {}", l.v2_scandir.display()), &e))?;
    set_exit_code(0).map_err(|e| Failure::sys("write the exit code", &e))
}

/// How long the scanner gives services to stop at shutdown (`S6_SERVICES_GRACETIME`).
pub(crate) fn write_timeout_stop(ms: u64) -> Result<(), Failure> {
    let ms = ms.min(u64::from(u32::MAX)); // what the scanner can read
    let p: PathBuf = svkit_core::overlay::layout()
        .scandir
        .join(SCAN_TIMEOUT_STOP);
    fs::write(&p, format!("{ms}\n")).map_err(|e| Failure::sys(format!("write {}", p.display()), &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_gets_command_usr_bin_and_bin() {
        assert_eq!(
            fixed_path(Some(
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
            )),
            OsString::from("/command:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
        );
        assert_eq!(fixed_path(None), OsString::from("/command:/usr/bin:/bin"));
        assert_eq!(
            fixed_path(Some("/opt/bin".into())),
            OsString::from("/command:/usr/bin:/bin:/opt/bin")
        );
    }
}
