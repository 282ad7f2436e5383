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
use svkit_core::overlay::layout;
use svkit_core::report::{Failure, show};

use crate::settings::{Log, uint};

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
    if svkit_core::servicedir::is_noexec(&layout().scandir) {
        // Its run script is generated there: it could not start, and everyone
        // would block on a FIFO nobody reads.
        log.warn(format_args!(
            "S6_LOGGING={mode} needs a runtime directory that allows exec ({} is noexec): \
             no catch-all logger, everything goes to the console",
            layout().run.display()
        ));
        return Ok(None);
    }
    let bin = exe.parent().unwrap_or(Path::new("/command"));
    let dir = layout().scandir.join(SERVICE);
    let logs = &layout().uncaught_logs;
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
        .create(logs)
        .map_err(|e| sys(&format!("create {}", logs.display()), e))?;
    fs::set_permissions(logs, fs::Permissions::from_mode(0o2750))
        .map_err(|e| sys(&format!("chmod {}", logs.display()), e))?;
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
                    nix::unistd::chown(logs, Some(u.uid), Some(u.gid))
                        .map_err(|e| sys(&format!("chown {}", logs.display()), e.into()))?;
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
    script.push_str(&execline_quote(&logs.to_string_lossy()));
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

/// `s` as one execline word, whatever it holds (our executable's path, a
/// runtime directory given by `SVKIT_RUNTIME_DIR`, may have blanks or quotes).
pub(crate) fn execline_quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
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

/// Where the syslogd services sort what they receive (s6-overlay's syslogd overlay).
pub(crate) const SYSLOGD_DIR: &str = "/var/log/syslogd";
const SYSLOGD_SUBDIRS: [&str; 10] = [
    "cron",
    "daemon",
    "debug",
    "errors",
    "everything",
    "kernel",
    "mail",
    "messages",
    "secure",
    "user",
];
/// The users the syslogd overlay runs as, with its fallback ids.
const SYSLOG_USER: (&str, u32) = ("syslog", 32760);
const SYSLLOG_USER: (&str, u32) = ("sysllog", 32761);

/// Whether `S6_SYSLOGD` asks for the syslog services, and we can give them:
/// they need root (to create `/dev/log` and to switch to their users), so a
/// container run with `USER` gets a warning instead.
pub(crate) fn syslogd_wanted(log: &Log) -> bool {
    if crate::settings::contenv_uint("S6_SYSLOGD", 0) == 0 {
        return false;
    }
    if !Uid::effective().is_root() {
        log.warn(format_args!(
            "S6_SYSLOGD needs root (it creates /dev/log and runs as its own users): \
             not started, as this runs as uid {}",
            Uid::effective()
        ));
        return false;
    }
    if svkit_core::servicedir::is_noexec(&layout().run) {
        log.warn(format_args!(
            "S6_SYSLOGD needs a runtime directory that allows exec ({} is noexec): not started",
            layout().run.display()
        ));
        return false;
    }
    true
}

/// The s6-rc definitions of the syslog services, as (name, files): `syslogd`
/// (`socklog` on /dev/log) piped into `syslogd-log` (`log`, sorting by facility
/// and priority into /var/log/syslogd/…), after `syslogd-prepare`, in the bundle
/// `syslogd-bundle`.
pub(crate) fn syslogd_sources(exe: &Path) -> Vec<(&'static str, Vec<(&'static str, String)>)> {
    let bin = exe
        .parent()
        .unwrap_or(Path::new("/command"))
        .display()
        .to_string();
    let quoted = execline_quote(&exe.to_string_lossy());
    let rotation = crate::settings::contenv("S6_LOGGING_SCRIPT").map_or_else(
        || "n20 s1000000".to_owned(),
        |s| s.to_string_lossy().into_owned(),
    );
    let t = rotation.split_whitespace().collect::<Vec<_>>().join(" ");
    let d = SYSLOGD_DIR;
    let any = "^[[:alnum:]]*[.]";
    let script = format!(
        "#!{bin}/execlineb -P\n\
         {bin}/s6-envuidgid -D {u}:{u}: {name}\n\
         {bin}/s6-applyuidgid -U --\n\
         {bin}/s6-log -d3 --\n\
         - +^auth[.] +^authpriv[.] {t} {d}/secure\n\
         - +^cron[.] {t} {d}/cron\n\
         - +^daemon[.] {t} {d}/daemon\n\
         - \"+{any}debug:\" {t} {d}/debug\n\
         - \"+{any}err:\" \"+{any}error:\" \"+{any}emerg:\" \"+{any}alert:\" \"+{any}crit:\" {t} {d}/errors\n\
         - +^kern[.] {t} {d}/kernel\n\
         - +mail[.] {t} {d}/mail\n\
         - +user[.] {t} {d}/user\n\
         - \"+{any}info:\" \"+{any}notice:\" \"+{any}warn:\" -^auth[.] -^authpriv[.] -^cron[.] -daemon[.] -mail[.] {t} {d}/messages\n\
         + -^auth[.] -^authpriv[.] {t} {d}/everything\n",
        u = SYSLLOG_USER.1,
        name = SYSLLOG_USER.0,
    );
    vec![
        (
            "syslogd-prepare",
            vec![
                ("type", "oneshot\n".into()),
                ("up", format!("{quoted} init-legacy syslogd-prepare\n")),
            ],
        ),
        (
            "syslogd",
            vec![
                ("type", "longrun\n".into()),
                (
                    "run",
                    format!(
                        "#!{bin}/execlineb -P\n{bin}/s6-envuidgid -D {u}:{u}: {name}\n{bin}/s6-socklog -d3 -U -t3000\n",
                        u = SYSLOG_USER.1,
                        name = SYSLOG_USER.0
                    ),
                ),
                ("notification-fd", "3\n".into()),
                ("producer-for", "syslogd-log\n".into()),
                ("dependencies", "syslogd-prepare\n".into()),
            ],
        ),
        (
            "syslogd-log",
            vec![
                ("type", "longrun\n".into()),
                ("run", script),
                ("notification-fd", "3\n".into()),
                ("consumer-for", "syslogd\n".into()),
                ("pipeline-name", "syslogd-pipeline\n".into()),
                ("dependencies", "syslogd-prepare\n".into()),
            ],
        ),
        (
            "syslogd-bundle",
            vec![
                ("type", "bundle\n".into()),
                ("contents", "syslogd-prepare\nsyslogd-pipeline\n".into()),
            ],
        ),
    ]
}

/// `init-legacy syslogd-prepare`: /var/log/syslogd and its sorted subdirectories,
/// 02750, owned by the logger's user when we are root (the top one by root, in the
/// logger's group).
pub(crate) fn syslogd_prepare(log: &Log) -> bool {
    let owner = Uid::effective()
        .is_root()
        .then(|| match User::from_name(SYSLLOG_USER.0) {
            Ok(Some(u)) => (u.uid, u.gid),
            _ => (
                nix::unistd::Uid::from_raw(SYSLLOG_USER.1),
                nix::unistd::Gid::from_raw(SYSLLOG_USER.1),
            ),
        });
    let base = Path::new(SYSLOGD_DIR);
    if let Some(parent) = base.parent() {
        if let Err(e) = fs::create_dir_all(parent) {
            log.warn(format_args!(
                "unable to create {}: {}",
                parent.display(),
                svkit_core::report::strerror(&e)
            ));
            return false;
        }
    }
    for dir in
        std::iter::once(base.to_path_buf()).chain(SYSLOGD_SUBDIRS.iter().map(|s| base.join(s)))
    {
        let r = DirBuilder::new()
            .recursive(true)
            .mode(0o2750)
            .create(&dir)
            .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o2750)));
        if let Err(e) = r {
            log.warn(format_args!(
                "unable to create {}: {}",
                dir.display(),
                svkit_core::report::strerror(&e)
            ));
            return false;
        }
        // The subdirectories belong to the logger; the top one to root, in the
        // logger's group, so that the logger can get through it.
        if let Some((uid, gid)) = owner {
            let uid = (dir != base).then_some(uid);
            if let Err(e) = nix::unistd::chown(&dir, uid, Some(gid)) {
                log.warn(format_args!(
                    "unable to chown {}: {}",
                    dir.display(),
                    e.desc()
                ));
                return false;
            }
        }
    }
    true
}
