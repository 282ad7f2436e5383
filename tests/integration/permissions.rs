//! The permission model: what another user can and cannot do to root's tree,
//! and what a file name or value can and cannot inject into an environment.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use svkit_core::event::Goal;

use crate::util::*;

/// A copy of svkit that `nobody` can run (the build directory may be private).
fn nobody_bin(sb: &Sandbox) -> PathBuf {
    fs::set_permissions(sb.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let bin = sb.join("svkit-for-nobody");
    fs::copy(svkit_bin(), &bin).unwrap();
    bin
}

fn as_nobody(sb: &Sandbox, bin: &PathBuf, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(bin)
        .args(args)
        .current_dir(sb.path())
        .output()
        .unwrap()
}

/// Root's scanner and supervisors: their control FIFOs are 0600 and their
/// directories closed, so `nobody` can neither send a command (to a service or
/// to the scanner), nor subscribe to events, nor write a fake event into a
/// listener's FIFO; the service is untouched afterwards.
#[test]
fn another_user_can_neither_control_nor_fake_events_for_roots_services() {
    let mut sb = Sandbox::new();
    sb.service("scan/web").run("exec sleep 1000");
    sb.svscan("scan");
    let web = sb.join("scan/web");
    wait_for(&web, Goal::UP);
    let mode = |p: &str| fs::metadata(sb.join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("scan/web/supervise/control"), 0o600);
    assert_eq!(mode("scan/web/supervise"), 0o700);
    assert_eq!(mode("scan/web/event"), 0o3730);
    assert_eq!(mode("scan/.s6-svscan/control"), 0o600);
    assert_eq!(mode("scan/.s6-svscan"), 0o700);
    // A listener of root's, whose FIFO nobody must not be able to write into.
    let mut w = watch(&web);
    let before = read_status(&web);

    let bin = nobody_bin(&sb);
    for (args, what) in [
        (&["svc", "-d", "scan/web"][..], "svc"),
        (&["svc", "-k", "scan/web"], "svc"),
        (&["svscanctl", "-t", "scan"], "svscanctl"),
        (&["svwait", "-d", "-t", "100", "scan/web"], "svwait"),
    ] {
        let out = as_nobody(&sb, &bin, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(111), "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("{what}: fatal: unable to "))
                && err.ends_with(": Permission denied\n"),
            "{args:?}: {err}"
        );
    }
    let fake = as_nobody(
        &sb,
        &bin,
        &["execlineb", "-Pc", "redirfd -w 1 scan/web/event/x echo d"],
    );
    assert!(!fake.status.success(), "a fake event was written");
    let out = Command::new("sh")
        .arg("-c")
        .arg("for f in scan/web/event/*; do setpriv --reuid=65534 --regid=65534 --clear-groups sh -c \"echo d > $f\" 2>/dev/null && echo wrote $f; done; true")
        .current_dir(sb.path())
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "", "nobody wrote into a listener's FIFO");

    let after = read_status(&web);
    assert_eq!(
        (after.pid, after.stamp),
        (before.pid, before.stamp),
        "the service was untouched"
    );
    // Root still controls it, and its listener heard only root's command.
    sb.svkit("svc").args(["-d", "scan/web"]).assert().success();
    assert_eq!(wait_on(&mut w, Goal::DOWN), 0);
}

/// envdir and with-contenv: a file whose name holds `=` is not a variable (it
/// cannot set another one), and a NUL in a value becomes a newline, never an
/// end of string that would hide the rest.
#[test]
fn file_names_and_values_cannot_inject_variables() {
    let sb = Sandbox::new();
    let env = sb.join("env");
    fs::create_dir(&env).unwrap();
    fs::write(env.join("PATH=evil"), "x\n").unwrap();
    fs::write(env.join("A"), b"one\0B=two\n").unwrap();
    fs::write(env.join(".hidden"), "h\n").unwrap();
    let out = sb
        .svkit("envdir")
        .arg(&env)
        .args([
            "sh",
            "-c",
            "echo \"B:${B-unset} PATH:$PATH\"; printf '%s' \"$A\" | od -An -c | tr -s ' '",
        ])
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert!(out.status.success(), "{out:?}");
    assert!(text.starts_with("B:unset PATH:/usr/bin:/bin\n"), "{text}");
    assert!(
        text.contains(" o n e \\n B = t w o"),
        "the NUL became a newline: {text}"
    );
}
