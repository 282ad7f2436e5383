//! Stage 2 of `/init`, a child of PID 1: the hook, fix-attrs.d, cont-init.d, the
//! services of services.d, the optional wait for them, then the CMD — and the
//! watch over essential services.
//!
//! Invariants: nothing runs before the scanner has said it is ready; every
//! subscription to a service's events is made before the service is handed to the
//! scanner, so no transition is missed; a failure follows
//! `S6_BEHAVIOUR_IF_STAGE2_FAILS` (0 go on, 1 go on and warn, 2 stop the container
//! with the failure's exit code); when the CMD ends, its exit code is written and
//! the container stopped.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use svkit_core::event::{Goal, Subscription, Watch, byte};
use svkit_core::overlay::{CMDPID_FILE, LEGACY_SERVICES, SCANDIR};
use svkit_core::process::{self, Spawn};
use svkit_core::report::show;
use svkit_core::servicedir::{NOTIFICATION_FD, SCAN_CONTROL, SCAN_CTL_DIR};
use svkit_core::{control, status};

use crate::control::{halt, set_exit_code, shell_code, wait_child};
use crate::scripts::{self, explain};
use crate::settings::{Log, contenv, contenv_uint, words};
use crate::{ESSENTIAL, fixattrs};

const PROG: &str = "init-stage2";

/// Where the image's legacy directories are: `/etc`, or a runtime profile's.
fn etc() -> PathBuf {
    match contenv("S6_RUNTIME_PROFILE") {
        Some(p) if !p.is_empty() => Path::new("/etc/cont-profile.d").join(p),
        _ => PathBuf::from("/etc"),
    }
}

/// A stage-2 failure: go on, warn, or stop the container with `code`.
fn failed(log: &Log, what: &str, code: i32) -> Option<ExitCode> {
    let b = contenv_uint("S6_BEHAVIOUR_IF_STAGE2_FAILS", 0);
    if b >= 1 {
        log.warn(what);
    }
    if b >= 2 {
        svkit_core::report::fatal(PROG, "stopping the container");
        let _ = set_exit_code(code);
        let _ = halt();
        return Some(ExitCode::from(1));
    }
    None
}

/// Entry point: `init-stage2 [CMD...]`, started by `/init` with the scanner's
/// readiness pipe on fd 3.
pub(crate) fn run(cmd: &[OsString]) -> ExitCode {
    wait_for_scanner();
    // Stage 2 leads a session of its own: if the container has a terminal, make it
    // ours, so an interactive CMD (docker run -it … bash) gets job control.
    process::take_controlling_tty();
    let log = Log::from_contenv(PROG);
    if !scripts::entries(Path::new("/etc/s6-overlay/s6-rc.d")).is_empty() {
        log.warn(
            "s6-rc service definitions (/etc/s6-overlay/s6-rc.d) are not supported yet: ignored",
        );
    }

    if let Some(hook) = contenv("S6_STAGE2_HOOK").filter(|h| !h.is_empty()) {
        let code = run_command(&words(&hook), &log);
        if code != 0 {
            let what = format!("hook {} exited {code}", show(&hook));
            if let Some(e) = failed(&log, &what, code) {
                return e;
            }
        } else {
            log.info(format_args!("[s6-init] hook {} exited 0", show(&hook)));
        }
    }

    let etc = etc();
    if fixattrs::run(&etc.join("fix-attrs.d"), &log) > 0 {
        if let Some(e) = failed(&log, "some fix-attrs files failed to apply", 1) {
            return e;
        }
    }

    log.info("[cont-init.d] executing container initialization scripts...");
    let bad = scripts::run_dir(&etc.join("cont-init.d"), "cont-init.d", None, &log);
    log.info("[cont-init.d] done.");
    if bad > 0 {
        if let Some(e) = failed(&log, "some cont-init.d scripts exited nonzero", 1) {
            return e;
        }
    }
    // cont-init scripts may have changed it in the container environment.
    let _ = crate::stage0::write_timeout_stop(contenv_uint("S6_SERVICES_GRACETIME", 3000));

    let legacy = start_legacy_services(&etc.join("services.d"), &log);
    if contenv_uint("S6_CMD_WAIT_FOR_SERVICES", 0) > 0 && !legacy.waited.is_empty() {
        if let Some(mut w) = legacy.watch {
            let maxtime = contenv_uint("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", 0);
            let deadline = (maxtime > 0).then(|| Instant::now() + Duration::from_millis(maxtime));
            let ok = matches!(w.wait(Goal::READY, false, deadline), Ok(0));
            if !ok {
                if let Some(e) = failed(&log, "some services in services.d failed to start", 1) {
                    return e;
                }
            }
        }
    }

    let mut essentials: Vec<(PathBuf, Subscription)> = legacy.essentials;
    if cmd.is_empty() {
        if essentials.is_empty() {
            return ExitCode::SUCCESS;
        }
        return watch(None, &mut essentials, &log);
    }
    let mut argv: Vec<OsString> = contenv("S6_CMD_ARG0")
        .map(|a| words(&a))
        .unwrap_or_default();
    argv.extend(cmd.iter().cloned());
    let Some((program, args)) = argv.split_first() else {
        return ExitCode::SUCCESS;
    };
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let pid = match (Spawn::default()).run(Path::new(program), program, &args) {
        Ok(pid) => pid,
        Err(e) => {
            svkit_core::report::fatal(
                PROG,
                format_args!(
                    "unable to run {}: {}",
                    show(program),
                    explain(Path::new(program), &e)
                ),
            );
            let code = if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            let _ = set_exit_code(code);
            let _ = halt();
            return ExitCode::from(1);
        }
    };
    if contenv_uint("S6_CMD_RECEIVE_SIGNALS", 0) > 0 {
        let _ = fs::write(CMDPID_FILE, format!("{pid}\n"));
    }
    watch(Some((pid, program.clone())), &mut essentials, &log)
}

/// Blocks until the scanner writes its readiness newline on fd 3 (or dies).
fn wait_for_scanner() {
    if let Ok(fd) = process::inherited_fd(3) {
        let mut f = File::from(fd);
        let mut b = [0u8; 1];
        let _ = f.read(&mut b);
    }
}

/// Runs a command (PATH search) in `/` to its end; its exit code, 126/127 if it
/// could not be started.
fn run_command(argv: &[OsString], log: &Log) -> i32 {
    let Some((program, args)) = argv.split_first() else {
        return 0;
    };
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let how = Spawn {
        cwd: Some(Path::new("/")),
        ..Spawn::default()
    };
    match how.run(Path::new(program), program, &args) {
        Ok(pid) => wait_child(pid, None).map_or(1, shell_code),
        Err(e) => {
            log.warn(format_args!(
                "unable to run {}: {}",
                show(program),
                explain(Path::new(program), &e)
            ));
            if e.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            }
        }
    }
}

/// What starting services.d left for later: the services to wait for, and the
/// essential ones to watch — both subscribed to before the scanner saw them.
struct Legacy {
    waited: Vec<PathBuf>,
    watch: Option<Watch>,
    essentials: Vec<(PathBuf, Subscription)>,
}

/// Copies each service of `dir` to `/run/s6/legacy-services/NAME`, links it into
/// the scan directory and tells the scanner. Copies of `run`, `finish`, `log/run`,
/// `log/finish` and `data/check` are made executable (as s6-overlay v2 did), with
/// a warning; a CRLF `#!` line is reported.
fn start_legacy_services(dir: &Path, log: &Log) -> Legacy {
    let mut out = Legacy {
        waited: Vec::new(),
        watch: None,
        essentials: Vec::new(),
    };
    let names: Vec<PathBuf> = scripts::entries(dir)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    log.info("[services.d] starting services");
    if names.is_empty() {
        log.info("[services.d] done.");
        return out;
    }
    let _ = fs::remove_dir_all(LEGACY_SERVICES);
    let _ = fs::create_dir_all(LEGACY_SERVICES);
    let mut copies = Vec::new();
    for src in names {
        let Some(name) = src.file_name().map(OsStr::to_owned) else {
            continue;
        };
        let copy = Path::new(LEGACY_SERVICES).join(&name);
        if let Err(e) = copy_tree(&src, &copy) {
            log.warn(format_args!(
                "unable to copy {} to {}: {}",
                show(&src),
                show(&copy),
                svkit_core::report::strerror(&e)
            ));
            continue;
        }
        for f in ["run", "finish", "log/run", "log/finish", "data/check"] {
            fix_script(&copy.join(f), &src.join(f), log);
        }
        copies.push((name, copy));
    }
    // Subscribe before the scanner starts anything.
    for (_, copy) in &copies {
        if copy.join(ESSENTIAL).exists() {
            match Subscription::new(copy) {
                Ok(sub) => out.essentials.push((copy.clone(), sub)),
                Err(e) => log.warn(format_args!(
                    "unable to watch essential service {}: {}",
                    show(copy),
                    svkit_core::report::strerror(&e)
                )),
            }
        }
    }
    out.waited = copies
        .iter()
        .filter(|(_, c)| !c.join("down").exists())
        .map(|(_, c)| c.clone())
        .collect();
    if let Ok(mut w) = Watch::unstarted(&out.waited) {
        for (i, c) in out.waited.iter().enumerate() {
            if !c.join(NOTIFICATION_FD).exists() {
                w.without_readiness(i);
            }
        }
        out.watch = Some(w);
    }
    for (name, copy) in &copies {
        let link = Path::new(SCANDIR).join(name);
        if let Err(e) = symlink(copy, &link) {
            log.warn(format_args!(
                "unable to link {}: {}",
                show(&link),
                svkit_core::report::strerror(&e)
            ));
        }
    }
    if let Err(e) = control::send_via(Path::new(SCANDIR), SCAN_CTL_DIR, SCAN_CONTROL, b"a") {
        log.warn(format_args!("unable to tell the scanner to rescan: {e}"));
    }
    log.info("[services.d] done.");
    out
}

/// Copies a directory tree: regular files with their modes, symlinks as links,
/// directories; a service's runtime state (`supervise/`, `event/`) is left out.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dst)?;
    fs::set_permissions(dst, fs::metadata(src)?.permissions())?;
    for e in fs::read_dir(src)? {
        let e = e?;
        let name = e.file_name();
        if name == "supervise" || name == "event" {
            continue;
        }
        let (from, to) = (e.path(), dst.join(&name));
        let ty = e.file_type()?;
        if ty.is_symlink() {
            symlink(fs::read_link(&from)?, &to)?;
        } else if ty.is_dir() {
            copy_tree(&from, &to)?;
        } else {
            fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// Makes a copied script executable if it is not, and reports CRLF line endings.
fn fix_script(copy: &Path, src: &Path, log: &Log) {
    let Ok(meta) = fs::symlink_metadata(copy) else {
        return;
    };
    if !meta.is_file() {
        return;
    }
    let mode = meta.permissions().mode();
    if mode & 0o111 == 0 {
        log.warn(format_args!(
            "{} is not executable: running it anyway (make it executable in the image)",
            show(src)
        ));
        let _ = fs::set_permissions(copy, fs::Permissions::from_mode(mode | 0o755));
    }
    let mut head = [0u8; 128];
    if let Ok(n) = File::open(copy).and_then(|mut f| f.read(&mut head)) {
        let first = head[..n].split(|&b| b == b'\n').next().unwrap_or_default();
        if first.starts_with(b"#!") && first.ends_with(b"\r") {
            log.warn(format_args!(
                "{} has Windows (CRLF) line endings: it cannot run (convert it with dos2unix)",
                show(src)
            ));
        }
    }
}

/// Waits for the CMD to end (if any) while watching essential services: the first
/// to end sets the container's exit code and stops it.
fn watch(
    cmd: Option<(i32, OsString)>,
    essentials: &mut [(PathBuf, Subscription)],
    log: &Log,
) -> ExitCode {
    let cmd_fd = cmd.as_ref().and_then(|(pid, _)| process::pidfd(*pid).ok());
    let mut buf = [0u8; 64];
    loop {
        if let Some((pid, name)) = &cmd {
            if let Ok(Some((p, wstat))) = process::reap() {
                if p == *pid {
                    let code = shell_code(wstat);
                    let _ = fs::remove_file(CMDPID_FILE);
                    log.info(format_args!("[cmd] {} exited {code}", show(name)));
                    let _ = set_exit_code(code);
                    let _ = halt();
                    return ExitCode::SUCCESS;
                }
                continue;
            }
        }
        let mut fds: Vec<PollFd<'_>> = essentials
            .iter()
            .map(|(_, s)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
            .collect();
        if let Some(fd) = &cmd_fd {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
        }
        if fds.is_empty() {
            return ExitCode::SUCCESS;
        }
        let _ = poll(&mut fds, svkit_core::poll::timeout(None));
        let readable: Vec<bool> = fds.iter().map(svkit_core::poll::readable).collect();
        drop(fds);
        for ((dir, sub), ready) in essentials.iter_mut().zip(readable) {
            if !ready {
                continue;
            }
            let n = sub.read(&mut buf).unwrap_or(0);
            if buf[..n].contains(&byte::DOWN) {
                if let Some(code) = essential_exit(dir) {
                    log.info(format_args!(
                        "[s6-init] essential service {} exited {code}: stopping the container",
                        show(dir.file_name().unwrap_or_default())
                    ));
                    let _ = set_exit_code(code);
                    let _ = halt();
                    return ExitCode::SUCCESS;
                }
            }
        }
    }
}

/// An essential service's `run` died: its exit code for the container, unless the
/// death was asked for (`svc -d`, shutdown), which clears "want up" first, or the
/// `essential` file was removed meanwhile (to restart the service by hand).
fn essential_exit(dir: &Path) -> Option<i32> {
    if !dir.join(ESSENTIAL).exists() {
        return None;
    }
    let st = status::read(dir).ok()?;
    if !st.wantup {
        return None;
    }
    Some(shell_code(i32::from(st.wstat)))
}

/// Signals to forward to the CMD with `S6_CMD_RECEIVE_SIGNALS`.
pub(crate) fn forwarded(sig: Signal) -> bool {
    matches!(
        sig,
        Signal::SIGTERM
            | Signal::SIGQUIT
            | Signal::SIGINT
            | Signal::SIGUSR1
            | Signal::SIGUSR2
            | Signal::SIGPWR
            | Signal::SIGWINCH
    )
}
