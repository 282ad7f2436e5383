//! The system oneshots behind s6-overlay's built-in service names, run by `rc` as
//! `init-legacy WHAT`: `fix-attrs`, `cont-init` and `cont-finish` (up and down of
//! `legacy-cont-init`), `services-up` and `services-down` (of `legacy-services`).
//!
//! Invariants: a failure follows `S6_BEHAVIOUR_IF_STAGE2_FAILS` (0 ignore, 1 warn,
//! 2 fail the oneshot, which stops the container); every subscription to a legacy
//! service is made before the scanner is told about it; an essential service is
//! watched by a process of its own that outlives `services-up`.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Read;
use std::os::fd::AsFd;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::poll::{PollFd, PollFlags, poll};
use svkit_core::event::{Goal, Subscription, Watch, byte};
use svkit_core::overlay::layout;
use svkit_core::process;
use svkit_core::report::{show, strerror};
use svkit_core::servicedir::{NOTIFICATION_FD, SCAN_CONTROL, SCAN_CTL_DIR, copy_tree};
use svkit_core::{control, status};

use crate::control::{halt, set_exit_code, shell_code};
use crate::settings::{Log, contenv_uint};
use crate::{ESSENTIAL, fixattrs, scripts};

/// `init-legacy WHAT`.
pub(crate) fn run(what: &str) -> ExitCode {
    // Stage 2's name, as when these steps ran inside it: users grep for it.
    let log = Log::from_contenv("init-stage2");
    let etc = crate::stage2::etc();
    let ok = match what {
        "fix-attrs" => {
            fixattrs::run(&etc.join("fix-attrs.d"), &log) == 0
                || tolerated(&log, "some fix-attrs files failed to apply")
        }
        "cont-init" => cont_init(&etc, &log),
        "cont-finish" => {
            cont_finish(&etc, &log);
            true
        }
        "services-up" => services_up(&etc.join("services.d"), &log),
        "services-down" => {
            services_down(&log);
            true
        }
        "syslogd-prepare" => crate::logging::syslogd_prepare(&log),
        _ => {
            svkit_core::report::fatal("init-legacy", format_args!("unknown step {what}"));
            return ExitCode::from(100);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A failure under `S6_BEHAVIOUR_IF_STAGE2_FAILS`: warned about from 1, fatal
/// (false) from 2.
fn tolerated(log: &Log, what: &str) -> bool {
    let b = contenv_uint("S6_BEHAVIOUR_IF_STAGE2_FAILS", 0);
    if b >= 1 {
        log.warn(what);
    }
    b < 2
}

fn cont_init(etc: &Path, log: &Log) -> bool {
    log.info("[cont-init.d] executing container initialization scripts...");
    let bad = scripts::run_dir(&etc.join("cont-init.d"), "cont-init.d", None, log);
    log.info("[cont-init.d] done.");
    // cont-init scripts may have changed it in the container environment.
    let _ = crate::stage0::write_timeout_stop(contenv_uint("S6_SERVICES_GRACETIME", 3000));
    bad == 0 || tolerated(log, "some cont-init.d scripts exited nonzero")
}

/// Runs cont-finish.d once per container (stage 3 runs it if this never did).
pub(crate) fn cont_finish(etc: &Path, log: &Log) {
    if File::options()
        .write(true)
        .create_new(true)
        .open(&layout().cont_finish_mark)
        .is_err()
        && layout().cont_finish_mark.exists()
    {
        return;
    }
    log.info("[cont-finish.d] executing container finish scripts...");
    let limit = contenv_uint("S6_KILL_FINISH_MAXTIME", 5000);
    let limit = (limit > 0).then(|| Duration::from_millis(limit));
    scripts::run_dir(&etc.join("cont-finish.d"), "cont-finish.d", limit, log);
    log.info("[cont-finish.d] done.");
}

/// Copies each service of `dir` to `/run/s6/legacy-services/NAME`, links it into
/// the scan directory and tells the scanner; watches the essential ones; with
/// `S6_CMD_WAIT_FOR_SERVICES`, waits for them to be up (ready if they notify).
fn services_up(dir: &Path, log: &Log) -> bool {
    let names: Vec<PathBuf> = scripts::entries(dir)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    log.info("[services.d] starting services");
    if names.is_empty() {
        log.info("[services.d] done.");
        return true;
    }
    let _ = fs::remove_dir_all(&layout().legacy_services);
    let _ = fs::create_dir_all(&layout().legacy_services);
    let mut copies = Vec::new();
    for src in names {
        let Some(name) = src.file_name().map(OsStr::to_owned) else {
            continue;
        };
        let copy = layout().legacy_services.join(&name);
        if let Err(e) = copy_tree(&src, &copy) {
            log.warn(format_args!(
                "unable to copy {} to {}: {}",
                show(&src),
                show(&copy),
                strerror(&e)
            ));
            continue;
        }
        for f in ["run", "finish", "log/run", "log/finish", "data/check"] {
            fix_script(&copy.join(f), &src.join(f), log);
            if fs::symlink_metadata(copy.join(f)).is_ok_and(|m| m.is_file())
                && svkit_core::servicedir::is_noexec(&copy)
            {
                // A noexec /run: the copy cannot run, the image's file can.
                if let Err(e) = svkit_core::servicedir::place_script(&src.join(f), &copy.join(f)) {
                    log.warn(format_args!(
                        "unable to link {}: {}",
                        show(src.join(f)),
                        strerror(&e)
                    ));
                }
            }
        }
        copies.push((name, copy));
    }
    // Subscribe before the scanner starts anything.
    let mut essentials = Vec::new();
    for (_, copy) in &copies {
        if copy.join(ESSENTIAL).exists() {
            match Subscription::new(copy) {
                Ok(sub) => essentials.push((copy.clone(), sub)),
                Err(e) => log.warn(format_args!(
                    "unable to watch essential service {}: {}",
                    show(copy),
                    strerror(&e)
                )),
            }
        }
    }
    let waited: Vec<PathBuf> = copies
        .iter()
        .filter(|(_, c)| !c.join("down").exists())
        .map(|(_, c)| c.clone())
        .collect();
    let wait = contenv_uint("S6_CMD_WAIT_FOR_SERVICES", 0) > 0 && !waited.is_empty();
    let mut watch = if wait {
        Watch::unstarted(&waited).ok().map(|mut w| {
            for (i, c) in waited.iter().enumerate() {
                if !c.join(NOTIFICATION_FD).exists() {
                    w.without_readiness(i);
                }
            }
            w
        })
    } else {
        None
    };
    for (name, copy) in &copies {
        let link = layout().scandir.join(name);
        let _ = fs::remove_file(&link);
        if let Err(e) = symlink(copy, &link) {
            log.warn(format_args!(
                "unable to link {}: {}",
                show(&link),
                strerror(&e)
            ));
        }
    }
    if let Err(e) = control::send_via(&layout().scandir, SCAN_CTL_DIR, SCAN_CONTROL, b"a") {
        log.warn(format_args!("unable to tell the scanner to rescan: {e}"));
    }
    if !essentials.is_empty() {
        watch_in_background(essentials, log);
    }
    log.info("[services.d] done.");
    if let Some(w) = &mut watch {
        let maxtime = contenv_uint("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", 0);
        let deadline = (maxtime > 0).then(|| Instant::now() + Duration::from_millis(maxtime));
        if !matches!(w.wait(Goal::READY, false, deadline), Ok(0)) {
            return tolerated(log, "some services in services.d failed to start");
        }
    }
    true
}

/// Hands the essential services' subscriptions to a child that watches them for
/// as long as their supervisors live.
fn watch_in_background(essentials: Vec<(PathBuf, Subscription)>, log: &Log) {
    match process::fork() {
        Ok(Some(_)) => {
            // The child owns the subscriptions now: dropping ours would unlink them.
            std::mem::forget(essentials);
        }
        Ok(None) => {
            let _ = nix::unistd::setsid();
            watch_essentials(essentials, log);
            std::process::exit(0);
        }
        Err(e) => log.warn(format_args!(
            "unable to watch the essential services: {}",
            strerror(&e)
        )),
    }
}

/// The first essential service to die while wanted up sets the container's exit
/// code and stops it.
fn watch_essentials(mut essentials: Vec<(PathBuf, Subscription)>, log: &Log) {
    // Subscribed before the scanner knew the services: no death was missed.
    let mut buf = [0u8; 64];
    while !essentials.is_empty() {
        let readable: Vec<bool> = {
            let mut fds: Vec<PollFd<'_>> = essentials
                .iter()
                .map(|(_, s)| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            let _ = poll(&mut fds, svkit_core::poll::timeout(None));
            fds.iter().map(svkit_core::poll::readable).collect()
        };
        let mut gone = Vec::new();
        for (i, ((dir, sub), ready)) in essentials.iter_mut().zip(readable).enumerate() {
            if !ready {
                continue;
            }
            let n = sub.read(&mut buf).unwrap_or(0);
            if buf[..n].contains(&byte::DOWN) {
                if let Some(code) = essential_exit(dir) {
                    stop_for(dir, code, log);
                    return;
                }
            }
            if n == 0 || buf[..n].contains(&byte::EXIT) {
                gone.push(i);
            }
        }
        for i in gone.into_iter().rev() {
            essentials.remove(i);
        }
    }
}

fn stop_for(dir: &Path, code: i32, log: &Log) {
    log.info(format_args!(
        "[s6-init] essential service {} exited {code}: stopping the container",
        show(dir.file_name().unwrap_or_default())
    ));
    let _ = set_exit_code(code);
    let _ = halt();
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

/// Unlinks the legacy services from the scan directory, has the scanner stop
/// their supervisors, and waits up to `S6_SERVICES_GRACETIME` for them.
fn services_down(log: &Log) {
    let copies: Vec<PathBuf> = scripts::entries(&layout().legacy_services)
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if copies.is_empty() {
        return;
    }
    let watch = Watch::new(&copies).ok();
    for c in &copies {
        if let Some(name) = c.file_name() {
            let _ = fs::remove_file(layout().scandir.join(name));
        }
    }
    if let Err(e) = control::send_via(&layout().scandir, SCAN_CTL_DIR, SCAN_CONTROL, b"an") {
        log.warn(format_args!("unable to tell the scanner to rescan: {e}"));
        return;
    }
    let grace = contenv_uint("S6_SERVICES_GRACETIME", 3000);
    if let Some(mut w) = watch {
        let _ = w.wait(
            Goal::DOWN_READY,
            false,
            Some(Instant::now() + Duration::from_millis(grace)),
        );
    }
}

/// Makes a copied script executable if it is not, and reports CRLF line endings.
fn fix_script(copy: &Path, src: &Path, log: &Log) {
    // The copy may be a link to the image's file (a noexec runtime directory):
    // only a real copy is made executable, and the lines are read in the image.
    if let Some(meta) = fs::symlink_metadata(copy)
        .ok()
        .filter(fs::Metadata::is_file)
    {
        let mode = meta.permissions().mode();
        if mode & 0o111 == 0 {
            log.warn(format_args!(
                "{} is not executable: running it anyway (make it executable in the image)",
                show(src)
            ));
            let _ = fs::set_permissions(copy, fs::Permissions::from_mode(mode | 0o755));
        }
    }
    if !fs::metadata(src).is_ok_and(|m| m.is_file()) {
        return;
    }
    let mut head = [0u8; 128];
    if let Ok(n) = File::open(src).and_then(|mut f| f.read(&mut head)) {
        let first = head[..n].split(|&b| b == b'\n').next().unwrap_or_default();
        if first.starts_with(b"#!") && first.ends_with(b"\r") {
            log.warn(format_args!(
                "{} has Windows (CRLF) line endings: it cannot run (convert it with dos2unix)",
                show(src)
            ));
        }
    }
}
