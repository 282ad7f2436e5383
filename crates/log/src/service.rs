//! `logutil-service [-f fifo] logdir`: s6-overlay's one-line `log/run` — the
//! logger, as `nobody`, with the script from `S6_LOGGING_SCRIPT`.
//!
//! Invariant: the logger never runs as root when we could drop to `nobody`
//! (65534:65534 when the user database has no `nobody`), and it starts with an
//! empty environment, as s6-overlay's `exec -c s6-log` does.

use std::ffi::{OsStr, OsString};
use std::fs::{self, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::process::ExitCode;

use nix::unistd::{Gid, Uid, User};
use svkit_core::envdir;
use svkit_core::getopt::Getopt;
use svkit_core::overlay::layout;
use svkit_core::process::Spawn;
use svkit_core::report::{Failure, show, warn};

pub(crate) const USAGE: &str = "[ -f fifo ] logdir";
pub(crate) const HELP: &str = "\
logutil-service [-f fifo] logdir
Run the logger (log -b) on logdir as nobody, with S6_LOGGING_SCRIPT as its
script (default: n20 s1000000 T). -f: read from fifo instead of stdin.
See docs/logutil-service.md.
";

/// The script when `S6_LOGGING_SCRIPT` is unset.
pub(crate) const DEFAULT_SCRIPT: &str = "n20 s1000000 T";
/// `nobody`'s ids when the user database does not know it.
const NOBODY: u32 = 65534;

/// `S6_LOGGING_SCRIPT` from the container environment, then our own, split on
/// blanks; the default when neither has it.
fn script_words() -> Vec<OsString> {
    let from_file = match envdir::read_value(&layout().container_env.join("S6_LOGGING_SCRIPT")) {
        Ok(envdir::Value::Set(v)) => Some(v),
        _ => None,
    };
    let value = from_file
        .or_else(|| std::env::var_os("S6_LOGGING_SCRIPT"))
        .unwrap_or_else(|| DEFAULT_SCRIPT.into());
    value
        .as_bytes()
        .split(|b| matches!(b, b' ' | b'\t' | b'\n'))
        .filter(|w| !w.is_empty())
        .map(|w| OsStr::from_bytes(w).to_owned())
        .collect()
}

pub(crate) fn run(prog: &str, rest: &[OsString]) -> Result<ExitCode, Failure> {
    let mut g = Getopt::new(rest, "f:");
    let mut fifo = None;
    for opt in g.by_ref() {
        match opt.map_err(|_| Failure::usage())? {
            o if o.letter == b'f' => fifo = o.arg,
            _ => return Err(Failure::usage()),
        }
    }
    let [logdir] = g.rest() else {
        return Err(Failure::usage());
    };
    if let Some(fifo) = fifo {
        // redirfd -rnb: open without waiting for a writer, then block as usual.
        let f = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .map_err(|e| Failure::sys(format!("open {}", show(fifo)), &e))?;
        nix::fcntl::fcntl(
            &f,
            nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::empty()),
        )
        .map_err(|e| Failure::sys(format!("set {} blocking", show(fifo)), &e.into()))?;
        nix::unistd::dup2_stdin(&f)
            .map_err(|e| Failure::sys(format!("read from {}", show(fifo)), &e.into()))?;
    }
    if Uid::effective().is_root() {
        drop_to_nobody(logdir)?;
    } else {
        warn(
            prog,
            format_args!(
                "not running as root: the logger keeps uid {}",
                Uid::effective()
            ),
        );
    }
    let mut args: Vec<&OsStr> = vec![OsStr::new("-b"), OsStr::new("--")];
    let words = script_words();
    args.extend(words.iter().map(OsString::as_os_str));
    args.push(logdir);
    // Through the magic link: after the switch to nobody the path to our binary
    // may no longer be searchable (a checkout under a 0700 home), the link is.
    let exe = Path::new("/proc/self/exe");
    let how = Spawn {
        env: Some(&[]),
        ..Spawn::default()
    };
    Err(Failure::exec(
        OsStr::new("s6-log"),
        &how.exec(exe, OsStr::new("s6-log"), &args),
    ))
}

/// Creates `logdir` for `nobody` if it is missing, then becomes `nobody`.
fn drop_to_nobody(logdir: &OsStr) -> Result<(), Failure> {
    let (uid, gid) = match User::from_name("nobody") {
        Ok(Some(u)) => (u.uid, u.gid),
        _ => (Uid::from_raw(NOBODY), Gid::from_raw(NOBODY)),
    };
    let dir = Path::new(logdir);
    if !dir.exists() {
        // Missing parents as mkdir -p makes them (0755: the logger must get
        // through), the logdir itself 02750 and nobody's.
        if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs::create_dir_all(parent)
                .map_err(|e| Failure::sys(format!("mkdir {}", show(parent)), &e))?;
        }
        fs::DirBuilder::new()
            .mode(0o750)
            .create(dir)
            .and_then(|()| fs::set_permissions(dir, fs::Permissions::from_mode(0o2750)))
            .map_err(|e| Failure::sys(format!("mkdir {}", show(logdir)), &e))?;
        nix::unistd::chown(dir, Some(uid), Some(gid))
            .map_err(|e| Failure::sys(format!("chown {}", show(logdir)), &e.into()))?;
    }
    nix::unistd::setgroups(&[gid]).map_err(|e| Failure::sys("setgroups", &e.into()))?;
    nix::unistd::setgid(gid).map_err(|e| Failure::sys("setgid", &e.into()))?;
    nix::unistd::setuid(uid).map_err(|e| Failure::sys("setuid", &e.into()))?;
    Ok(())
}
