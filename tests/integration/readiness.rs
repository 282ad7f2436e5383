//! notifyoncheck (readiness by polling a check) and svlisten1 (subscribe, spawn,
//! wait), against svkit's supervise and real s6's.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use svkit_core::event::Goal;

use crate::util::*;

/// svkit linked as `notifyoncheck`, `svc` and `svlisten1` in `bin/`: run scripts
/// call it by path (never through `PATH`, where daemontools' `svc` may be).
fn bin(sb: &Sandbox) -> PathBuf {
    let bin = sb.join("bin");
    fs::create_dir_all(&bin).unwrap();
    for name in ["notifyoncheck", "svc", "svlisten1", "s6-svlisten1"] {
        let _ = std::os::unix::fs::symlink(svkit_bin(), bin.join(name));
    }
    bin
}

/// A free TCP port on the loopback.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn lines(path: &Path) -> usize {
    fs::read_to_string(path).unwrap_or_default().lines().count()
}

#[test]
fn a_service_is_ready_once_its_check_reaches_the_port() {
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    let port = free_port();
    let gate = sb.fifo("gate");
    let checks = sb.join("checks");
    // The daemon opens its port only when the test opens the gate; until then
    // every check fails.
    sb.service("web")
        .file("notification-fd", "3\n")
        .run(&format!(
            "exec {}/notifyoncheck -s 0 -w 20 sh -c 'read x < {}; exec python3 -m http.server --bind 127.0.0.1 {port}'",
            bin.display(),
            gate.display()
        ))
        .exec(
            "data/check",
            &format!(
                "#!/bin/sh\necho check >> {}\nexec python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), 1)' 2>/dev/null\n",
                checks.display()
            ),
        );
    let dir = sb.start("web", Goal::UP);
    poll_until("two failed checks", || lines(&checks) >= 2);
    assert!(
        !read_status(&dir).ready,
        "not ready while the port is closed"
    );
    fs::write(&gate, "open\n").unwrap();
    sb.svkit("svwait")
        .args(["-U", "-t", "10000"])
        .arg(&dir)
        .assert()
        .success();
    sb.svkit("svstat")
        .args(["-o", "up,ready"])
        .arg(&dir)
        .assert()
        .success()
        .stdout("true true\n");
    sb.s6("s6-svstat")
        .args(["-o", "ready"])
        .arg(&dir)
        .assert()
        .success()
        .stdout("true\n");
    // The daemon does not hold the notification pipe, which the run script got
    // on 3: only the poller did (python may have reused 3 for its socket).
    let pid = read_status(&dir).pid;
    let fd3 = fs::read_link(format!("/proc/{pid}/fd/3")).unwrap_or_default();
    assert!(!fd3.to_string_lossy().starts_with("pipe:"), "{fd3:?}");
}

#[test]
fn a_check_that_never_succeeds_gives_up_after_the_tries() {
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    let checks = sb.join("checks");
    sb.service("svc")
        .file("notification-fd", "3\n")
        .run(&format!(
            "exec {}/notifyoncheck -s 0 -w 10 -n 3 sleep 100000",
            bin.display()
        ))
        .exec(
            "data/check",
            &format!("#!/bin/sh\necho check >> {}\nexit 1\n", checks.display()),
        );
    let dir = sb.start("svc", Goal::UP);
    let log = read_when(&sb.join("svc.log"), |l| l.contains("giving up"));
    assert_eq!(
        log.trim_end(),
        "notifyoncheck: warning: ./data/check failed 3 times; giving up: the service stays up but not ready"
    );
    assert_eq!(lines(&checks), 3, "exactly the documented tries");
    let st = read_status(&dir);
    assert!(st.is_up() && !st.ready);
}

/// The poller: a process whose argv\[0\] is `…/notifyoncheck` and that is not
/// the daemon (which exec'd into `sleep`).
fn pollers(bin: &Path) -> Vec<i32> {
    let argv0 = bin.join("notifyoncheck");
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let state = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            cmd.split(|&b| b == 0).next() == Some(argv0.as_os_str().as_encoded_bytes())
                && !state
                    .rsplit_once(')')
                    .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
        .collect()
}

#[test]
fn the_poller_stops_when_the_daemon_dies() {
    for fork in ["-s0", "-d"] {
        let mut sb = Sandbox::new();
        let bin = bin(&sb);
        let checks = sb.join("checks");
        sb.service("svc")
            .file("notification-fd", "3\n")
            .run(&format!(
                "exec {}/notifyoncheck {fork} -w 10 -n 0 sleep 100000",
                bin.display()
            ))
            .exec(
                "data/check",
                &format!("#!/bin/sh\necho check >> {}\nexit 1\n", checks.display()),
            );
        let dir = sb.start("svc", Goal::UP);
        poll_until("a failed check", || lines(&checks) >= 1);
        assert_eq!(pollers(&bin).len(), 1, "{fork}: one poller");
        sb.svkit("svc").args(["-d"]).arg(&dir).assert().success();
        wait_for(&dir, Goal::DOWN);
        poll_until("the poller to exit", || pollers(&bin).is_empty());
    }
}

#[test]
fn a_check_command_line_goes_through_execline() {
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    let flag = sb.join("flag");
    sb.service("svc")
        .file("notification-fd", "3\n")
        .run(&format!(
            "exec {}/notifyoncheck -s 0 -w 10 -n 0 -c \"test -e {}\" sleep 100000",
            bin.display(),
            flag.display()
        ));
    let dir = sb.start("svc", Goal::UP);
    let mut w = watch(&dir);
    fs::write(&flag, "").unwrap();
    wait_on(&mut w, Goal::READY);
}

#[test]
fn notifyoncheck_refuses_to_run_outside_a_supervised_directory() {
    let sb = Sandbox::new();
    let bin = bin(&sb);
    let ours = Command::new(bin.join("notifyoncheck"))
        .arg("true")
        .current_dir(sb.path())
        .output()
        .unwrap();
    let s6 = Command::new(s6_bin("s6-notifyoncheck"))
        .arg("true")
        .current_dir(sb.path())
        .output()
        .unwrap();
    assert_eq!(ours.status.code(), s6.status.code());
    assert_eq!(ours.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        "notifyoncheck: fatal: supervise not running\n"
    );
    for args in [&["-n", "x", "true"][..], &[]] {
        let ours = Command::new(bin.join("notifyoncheck"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), Some(100), "{args:?}");
    }
}

/// A service that is down until told, and notifies readiness when up.
fn notifying(sb: &Sandbox, name: &str) {
    sb.service(name)
        .file("notification-fd", "3\n")
        .run("echo >&3; exec sleep 100000")
        .down();
}

#[test]
fn svlisten1_spawns_then_waits_for_the_state_both_ways_with_s6() {
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    notifying(&sb, "ours");
    notifying(&sb, "theirs");
    let ours = sb.start("ours", Goal::DOWN);
    sb.s6_supervise("theirs");
    let theirs = sb.join("theirs");
    wait_for(&theirs, Goal::DOWN);
    // svkit's svlisten1 on s6's supervisor, s6's on svkit's.
    for (listen, dir) in [
        (bin.join("svlisten1"), &theirs),
        (s6_bin("s6-svlisten1"), &ours),
    ] {
        let st = Command::new(&listen)
            .args(["-U", "-t", "10000"])
            .arg(dir)
            .arg(bin.join("svc"))
            .arg("-u")
            .arg(dir)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(0), "{}", listen.display());
        let s = read_status(dir);
        assert!(s.is_up() && s.ready, "{}", dir.display());
    }
    // -R: down and finished, then up and ready again: a new pid.
    for dir in [&ours, &theirs] {
        let before = read_status(dir).pid;
        let st = Command::new(bin.join("svlisten1"))
            .args(["-R", "-t", "10000"])
            .arg(dir)
            .arg(bin.join("svc"))
            .arg("-r")
            .arg(dir)
            .status()
            .unwrap();
        assert_eq!(st.code(), Some(0));
        let s = read_status(dir);
        assert!(s.is_up() && s.ready && s.pid != before, "{}", dir.display());
    }
}

#[test]
fn svlisten1_timeouts_and_errors_match_s6() {
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    notifying(&sb, "a");
    let dir = sb.start("a", Goal::DOWN);
    let unsupervised = sb.join("nothing");
    fs::create_dir_all(&unsupervised).unwrap();
    let d = dir.to_str().unwrap();
    let n = unsupervised.to_str().unwrap();
    for (what, args) in [
        ("timeout", &["-u", "-t", "50", d, "true"][..]),
        ("already there", &["-d", d, "true"]),
        ("no status", &["-u", n, "true"]),
        ("no program", &["-u", d]),
        ("bad timeout", &["-t", "soon", d, "true"]),
        ("nothing", &[]),
    ] {
        let run = |prog: PathBuf| Command::new(prog).args(args).output().unwrap();
        let (s6, ours) = (run(s6_bin("s6-svlisten1")), run(bin.join("s6-svlisten1")));
        assert_eq!(ours.status.code(), s6.status.code(), "{what}: {ours:?}");
        if what != "no status" {
            // s6 names its internal function there; the rest reads the same.
            assert_eq!(
                String::from_utf8_lossy(&ours.stderr),
                String::from_utf8_lossy(&s6.stderr),
                "{what}"
            );
        }
    }
}
