//! Stage 2 of `/init`, a child of PID 1: the hook, then the service tree — the
//! image's s6-rc definitions and the system ones that run fix-attrs.d,
//! cont-init.d and services.d (`init-legacy`) — brought up by `s6-rc`, then the CMD.
//!
//! Invariants: nothing runs before the scanner has said it is ready; nothing
//! starts from definitions with errors (the container stops with 100); a failure follows
//! `S6_BEHAVIOUR_IF_STAGE2_FAILS` (0 go on, 1 go on and warn, 2 stop the container
//! with the failure's exit code); when the CMD ends, its exit code is written and
//! the container stopped.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::sys::signal::Signal;
use svkit_core::overlay::layout;
use svkit_core::process::{self, Spawn};
use svkit_core::report::show;

use crate::control::{halt, set_exit_code, shell_code, wait_child};
use crate::scripts::explain;
use crate::settings::{Log, contenv, contenv_uint, words};

const PROG: &str = "init-stage2";

/// Where the image's legacy directories are: `/etc`, or a runtime profile's.
pub(crate) fn etc() -> PathBuf {
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

    if let Some(e) = boot_services(&log) {
        return e;
    }
    // For `svstat --all-ready`: the services have been brought up (or tried).
    let _ = File::create(&layout().booted_mark);

    if cmd.is_empty() {
        return ExitCode::SUCCESS;
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
        let _ = fs::write(&layout().cmdpid_file, format!("{pid}\n"));
    }
    watch_cmd(pid, program, &log)
}

/// The service tree: s6-rc definitions (the image's, and the system ones that run
/// fix-attrs.d, cont-init.d and services.d) checked and compiled, handed to the
/// scanner, and brought up with `s6-rc -u change top`. Definitions with errors
/// stop the container with exit code 100 before anything starts; a failed start
/// follows `S6_BEHAVIOUR_IF_STAGE2_FAILS` with s6-rc's exit code.
fn boot_services(log: &Log) -> Option<ExitCode> {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            log.warn(format_args!("unable to find my own executable: {e}"));
            return failed(log, "unable to start the services", 111);
        }
    };
    let sources = match rc_sources(&exe, log) {
        Ok(s) => s,
        Err(e) => {
            log.warn(format_args!(
                "unable to write {}: {}",
                layout().rc_system_sources.display(),
                svkit_core::report::strerror(&e)
            ));
            return failed(log, "unable to start the services", 111);
        }
    };
    let v = OsString::from(contenv_uint("S6_VERBOSITY", 2).to_string());
    let mut args: Vec<OsString> = vec!["-v".into(), v.clone(), layout().rc_db.clone().into()];
    args.extend(sources.into_iter().map(PathBuf::into_os_string));
    let code = run_tool(&exe, "rc-compile", &args);
    if code != 0 {
        let what = if code == 100 {
            "the service definitions have errors (see above)"
        } else {
            "unable to compile the service definitions (see above)"
        };
        svkit_core::report::fatal(PROG, format_args!("{what}: stopping the container"));
        let _ = set_exit_code(code);
        let _ = halt();
        return Some(ExitCode::from(1));
    }
    let args: Vec<OsString> = vec![
        "-c".into(),
        layout().rc_db.clone().into(),
        "-l".into(),
        layout().rc_live.clone().into(),
        layout().scandir.clone().into(),
    ];
    let code = run_tool(&exe, "rc-init", &args);
    if code != 0 {
        return failed(log, "unable to hand the services to the scanner", code);
    }
    let maxtime = contenv_uint("S6_CMD_WAIT_FOR_SERVICES_MAXTIME", 0).to_string();
    let args: Vec<OsString> = vec![
        "-v".into(),
        v,
        "-u".into(),
        "-t".into(),
        maxtime.into(),
        "change".into(),
        "top".into(),
    ];
    let code = run_tool(&exe, "s6-rc", &args);
    if code != 0 {
        if layout().shutdown_mark.exists() {
            return Some(ExitCode::SUCCESS); // interrupted by the stop of the container
        }
        return failed(
            log,
            "s6-rc failed to properly bring all the services up! Check your logs for more information.",
            code,
        );
    }
    None
}

/// Runs tool `name` of the multi-call binary `exe` with `args`, to its end.
fn run_tool(exe: &Path, name: &str, args: &[OsString]) -> i32 {
    let args: Vec<&OsStr> = args.iter().map(OsString::as_os_str).collect();
    let how = Spawn {
        cwd: Some(Path::new("/")),
        ..Spawn::default()
    };
    match how.run(exe, OsStr::new(name), &args) {
        Ok(pid) => wait_child(pid, None).map_or(111, shell_code),
        Err(_) => 111,
    }
}

/// The source directories for `rc-compile`: the image's `s6-rc.d`, its bundle
/// directory, and the system definitions written now in `/run/s6/rc-sources` —
/// `fix-attrs`, `legacy-cont-init`, `base`, `legacy-services`, `top`, and empty
/// `user`/`user2` bundles when the image defines none.
fn rc_sources(exe: &Path, log: &Log) -> std::io::Result<Vec<PathBuf>> {
    let profile = etc().join("s6-overlay");
    let srcdir = profile.join("s6-rc.d");
    let bundledir = contenv("S6_RUNTIME_BUNDLEDIR")
        .filter(|b| !b.is_empty())
        .map_or_else(|| profile.join("user-bundles.d"), PathBuf::from);
    let mut sources = vec![srcdir.clone()];
    if srcdir.join("user").is_dir() {
        // s6-overlay ≤ 3.2.3.0's layout: the bundles live in s6-rc.d.
        if bundledir.join("user").is_dir() || bundledir.join("user2").is_dir() {
            log.warn(format_args!(
                "{} is ignored: the user bundle is defined in {}",
                show(&bundledir),
                show(&srcdir)
            ));
        }
    } else if bundledir.is_dir() {
        sources.push(bundledir.clone());
    }
    let defined = |name: &str| sources.iter().any(|d| d.join(name).is_dir());
    let (has_user, has_user2) = (defined("user"), defined("user2"));

    let sys = layout().rc_system_sources.as_path();
    let syslogd = crate::logging::syslogd_wanted(log);
    let _ = fs::remove_dir_all(sys);
    let quoted = crate::logging::execline_quote(&exe.to_string_lossy());
    let legacy = |what: &str| format!("{quoted} init-legacy {what}\n");
    let service = |name: &str, kind: &str, files: &[(&str, String)]| -> std::io::Result<()> {
        let d = sys.join(name);
        fs::create_dir_all(&d)?;
        fs::write(d.join("type"), format!("{kind}\n"))?;
        for (f, content) in files {
            fs::write(d.join(f), content)?;
        }
        Ok(())
    };
    service("fix-attrs", "oneshot", &[("up", legacy("fix-attrs"))])?;
    service(
        "legacy-cont-init",
        "oneshot",
        &[
            ("up", legacy("cont-init")),
            ("down", legacy("cont-finish")),
            ("dependencies", "fix-attrs\n".into()),
        ],
    )?;
    service(
        "base",
        "bundle",
        &[("contents", "fix-attrs\nlegacy-cont-init\n".into())],
    )?;
    service(
        "legacy-services",
        "oneshot",
        &[
            ("up", legacy("services-up")),
            ("down", legacy("services-down")),
            (
                "dependencies",
                if syslogd {
                    "base\nuser\nsyslogd-bundle\n".into()
                } else {
                    "base\nuser\n".into()
                },
            ),
        ],
    )?;
    // S6_SYSLOGD: a syslog daemon (socklog on /dev/log, sorted by log), up with
    // base, before the user's services, so they can log from their start.
    if syslogd {
        for (name, files) in crate::logging::syslogd_sources(exe) {
            let d = sys.join(name);
            fs::create_dir_all(&d)?;
            for (f, content) in files {
                fs::write(d.join(f), content)?;
                if f == "run" {
                    fs::set_permissions(
                        d.join(f),
                        <fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
                    )?;
                }
            }
        }
    }
    let top = if syslogd {
        "base\nsyslogd-bundle\nlegacy-services\nuser\nuser2\n"
    } else {
        "base\nlegacy-services\nuser\nuser2\n"
    };
    service("top", "bundle", &[("contents", top.into())])?;
    if !has_user {
        service("user", "bundle", &[("contents", String::new())])?;
    }
    if !has_user2 {
        service("user2", "bundle", &[("contents", String::new())])?;
    }
    sources.push(sys.to_owned());
    Ok(sources)
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

/// Waits for the CMD to end, reaping whatever else dies meanwhile, then writes
/// its exit code and stops the container.
fn watch_cmd(pid: i32, name: &OsStr, log: &Log) -> ExitCode {
    let code = wait_child(pid, None).map_or(0, shell_code);
    let _ = fs::remove_file(&layout().cmdpid_file);
    log.info(format_args!("[cmd] {} exited {code}", show(name)));
    let _ = set_exit_code(code);
    let _ = halt();
    ExitCode::SUCCESS
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
