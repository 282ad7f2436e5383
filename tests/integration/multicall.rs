//! The multi-call binary: dispatch on argv[0], `svkit TOOL`, `--list`, and install.

use std::fs;
use std::path::Path;
use std::process::Command;

use crate::util::*;

#[test]
fn list_names_every_tool_and_its_s6_alias() {
    let out = Command::new(svkit_bin()).arg("--list").output().unwrap();
    assert!(out.status.success());
    let names = stdout_of(&out);
    for n in [
        "supervise",
        "s6-supervise",
        "svc",
        "s6-svc",
        "svstat",
        "s6-svstat",
        "svok",
        "s6-svok",
        "svwait",
        "s6-svwait",
    ] {
        assert!(names.lines().any(|l| l == n), "{n} missing from:\n{names}");
    }
}

#[test]
fn dispatches_on_symlink_name_and_on_first_argument() {
    let sb = Sandbox::new();
    std::os::unix::fs::symlink(svkit_bin(), sb.join("s6-svok")).unwrap();
    let st = Command::new(sb.join("s6-svok"))
        .arg(sb.path())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1), "not supervised");
    let out = Command::new(svkit_bin()).args(["svok"]).output().unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "svok: usage: svok servicedir\n"
    );
    let out = Command::new(svkit_bin())
        .arg("nosuchtool")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("svkit: fatal: unknown tool: nosuchtool")
    );
}

#[test]
fn install_lays_out_command_and_usr_bin() {
    let sb = Sandbox::new();
    let dest = sb.join("root");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/install.sh");
    let st = Command::new("sh")
        .arg(script)
        .arg(svkit_bin())
        .arg(&dest)
        .status()
        .unwrap();
    assert!(st.success());
    assert!(dest.join("command/svkit").is_file());
    let names = stdout_of(&Command::new(svkit_bin()).arg("--list").output().unwrap());
    for n in names.lines() {
        let link = dest.join("command").join(n);
        assert_eq!(fs::read_link(&link).unwrap(), Path::new("svkit"), "{n}");
        let bin = dest.join("usr/bin").join(n);
        if ["setsid", "rc", "log", "socklog"].contains(&n) {
            // util-linux's /usr/bin/setsid is in every Debian image, rc is Plan 9's
            // shell, socklog runit's syslogd, log too generic: left alone.
            assert!(fs::symlink_metadata(&bin).is_err(), "{n} in usr/bin");
            continue;
        }
        assert_eq!(
            fs::read_link(&bin).unwrap(),
            Path::new("../../command").join(n)
        );
    }
    // Every tool of the issue is there under both names.
    for n in [
        "setuidgid",
        "s6-setuidgid",
        "setuser",
        "envuidgid",
        "s6-envuidgid",
        "applyuidgid",
        "s6-applyuidgid",
        "envdir",
        "s6-envdir",
        "setsid",
        "s6-setsid",
        "softlimit",
        "s6-softlimit",
        "maximumtime",
        "s6-maximumtime",
        "with-retries",
        "notifyoncheck",
        "s6-notifyoncheck",
        "svlisten1",
        "s6-svlisten1",
        "rc",
        "s6-rc",
        "rc-compile",
        "rc-init",
        "execlineb",
        "foreground",
        "importas",
    ] {
        assert!(dest.join("command").join(n).exists(), "{n}");
    }
    let st = Command::new(dest.join("usr/bin/s6-svok"))
        .arg(sb.path())
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(1));
}
