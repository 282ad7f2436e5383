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
    for name in [
        "notifyoncheck",
        "s6-notifyoncheck",
        "svc",
        "svlisten1",
        "s6-svlisten1",
    ] {
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
    processes_named(&bin.join("notifyoncheck"))
}

/// Live processes whose argv\[0\] is exactly `argv0`.
fn processes_named(argv0: &Path) -> Vec<i32> {
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

/// The two notifyoncheck programs to compare, each under a name unique to the
/// sandbox (so that [`processes_named`] finds this test's pollers only): ours
/// and Debian's s6-notifyoncheck.
fn both_notifyonchecks(sb: &Sandbox) -> [(&'static str, PathBuf); 2] {
    let bin = bin(sb);
    let real = bin.join("real-s6-notifyoncheck");
    let _ = std::os::unix::fs::symlink(s6_bin("s6-notifyoncheck"), &real);
    [("ours", bin.join("notifyoncheck")), ("s6", real)]
}

#[test]
fn wait_0_means_a_single_check_as_in_s6() {
    // s6-notifyoncheck reads -w 0 as "infinite", as it does -t 0 and -T 0: after
    // a failed check the poller waits for the daemon's death (or -T), and never
    // checks again, whatever -n says.
    let mut sb = Sandbox::new();
    for (name, prog) in both_notifyonchecks(&sb) {
        let checks = sb.join(&format!("{name}.checks"));
        sb.service(name)
            .file("notification-fd", "3\n")
            .run(&format!(
                "exec {} -s 0 -w 0 -n 3 sleep 100000",
                prog.display()
            ))
            .exec(
                "data/check",
                &format!("#!/bin/sh\necho check >> {}\nexit 1\n", checks.display()),
            );
        let dir = sb.start(name, Goal::UP);
        poll_until("a failed check", || lines(&checks) >= 1);
        assert_eq!(processes_named(&prog).len(), 1, "{name}: the poller waits");
        sb.svkit("svc").arg("-d").arg(&dir).assert().success();
        wait_for(&dir, Goal::DOWN);
        poll_until("the poller to exit", || processes_named(&prog).is_empty());
        assert_eq!(lines(&checks), 1, "{name}: one check only");
    }
}

/// The warnings of a poller's log, without the program's name.
fn warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter_map(|l| l.split_once(": warning: ").map(|(_, w)| w))
        .collect()
}

#[test]
fn a_check_that_cannot_be_spawned_is_a_failed_try_as_in_s6() {
    let mut sb = Sandbox::new();
    for (name, prog) in both_notifyonchecks(&sb) {
        // No data/check at all.
        sb.service(name)
            .file("notification-fd", "3\n")
            .run(&format!(
                "exec {} -s 0 -w 10 -n 2 sleep 100000",
                prog.display()
            ));
        let dir = sb.start(name, Goal::UP);
        poll_until("the poller to give up", || {
            warnings(&sb.log(name)).len() >= 2 && processes_named(&prog).is_empty()
        });
        let log = sb.log(name);
        let spawn = "unable to spawn ./data/check: No such file or directory";
        let want: &[&str] = if name == "s6" {
            // s6's poller calls itself `s6-notifyoncheck (child)`, and gives up silently.
            &[spawn, spawn]
        } else {
            &[
                spawn,
                spawn,
                "./data/check failed 2 times; giving up: the service stays up but not ready",
            ]
        };
        assert_eq!(warnings(&log), want, "{name}: {log}");
        let st = read_status(&dir);
        assert!(st.is_up() && !st.ready, "{name}");
    }
}

#[test]
fn a_notification_descriptor_below_3_is_closed_in_the_daemon_as_in_s6() {
    let mut sb = Sandbox::new();
    for (name, prog) in both_notifyonchecks(&sb) {
        let seen = sb.join(&format!("{name}.fd1"));
        // `readlink` runs in a child; `$$` is the daemon's shell, whose 1 it reports.
        sb.service(name).run(&format!(
            "exec {} -s 0 -n 1 -3 1 sh -c '(readlink /proc/$$/fd/1 || echo closed) > {} 2>/dev/null; exec sleep 100000'",
            prog.display(),
            seen.display()
        ));
        sb.start(name, Goal::UP);
        assert_eq!(
            read_when(&seen, |s| s.ends_with('\n')),
            "closed\n",
            "{name}"
        );
    }
}

#[test]
fn a_check_command_line_falls_back_to_sh_without_execline() {
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    let nopath = sb.join("no-execline");
    fs::create_dir_all(&nopath).unwrap();
    let flag = sb.join("flag");
    let mark = sb.join("mark");
    // Only sh reads `&&` and `>`: execlineb would run `test` with all of it as
    // arguments, which fails, and would never write the mark.
    sb.service("svc")
        .file("notification-fd", "3\n")
        .run(&format!(
            "PATH={}; export PATH\nexec {}/notifyoncheck -s 0 -w 10 -n 0 -c 'test -e {} && echo sh > {}' /bin/sleep 100000",
            nopath.display(),
            bin.display(),
            flag.display(),
            mark.display()
        ));
    let dir = sb.start("svc", Goal::UP);
    let mut w = watch(&dir);
    fs::write(&flag, "").unwrap();
    wait_on(&mut w, Goal::READY);
    assert_eq!(fs::read_to_string(&mark).unwrap(), "sh\n");
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
        "notifyoncheck: fatal: s6-supervise not running.\n"
    );
    // Called by s6's name, ours says exactly what s6's does.
    let ours = Command::new(bin.join("s6-notifyoncheck"))
        .arg("true")
        .current_dir(sb.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        String::from_utf8_lossy(&s6.stderr)
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

#[test]
fn svlisten1_r_ends_when_the_supervisor_dies_in_the_down_phase_as_in_s6() {
    // A real supervisor announces `x` only once its service is down and
    // finished, after `D`, so the `x` is sent here by PROG itself (s6's own
    // s6-ftrig-notify, once the listener has subscribed), while the service is
    // up, as a supervisor dying then would. s6-svlisten1 stops at the end of the
    // first phase with exit 1; it does not go on to wait for "up" until -t.
    let mut sb = Sandbox::new();
    let bin = bin(&sb);
    for supervisor in ["svkit", "s6"] {
        sb.service(supervisor).run("exec sleep 100000");
        if supervisor == "svkit" {
            sb.supervise(supervisor);
        } else {
            sb.s6_supervise(supervisor);
        }
        let dir = sb.join(supervisor);
        wait_for(&dir, Goal::UP);
        for prog in [bin.join("s6-svlisten1"), s6_bin("s6-svlisten1")] {
            let out = Command::new(&prog)
                .args(["-R", "-t", "10000"])
                .arg(&dir)
                .arg(s6_bin("s6-ftrig-notify"))
                .arg(dir.join("event"))
                .arg("x")
                .output()
                .unwrap();
            let what = format!("{} on {supervisor}", prog.display());
            assert_eq!(out.status.code(), Some(1), "{what}: {out:?}");
            assert_eq!(
                String::from_utf8_lossy(&out.stderr),
                format!(
                    "s6-svlisten1: fatal: {} failed permanently or its supervisor died\n",
                    dir.display()
                ),
                "{what}"
            );
            assert!(read_status(&dir).is_up(), "{what}: nothing happened to it");
        }
    }
}
