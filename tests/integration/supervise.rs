//! supervise: how it runs, restarts and finishes a service, and what it writes.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use svkit_core::event::Goal;

use crate::util::*;

/// A service that records its argv, cwd and ids, then waits to be killed.
const RECORDER: &str = r#"echo "$0|$1|$PWD|$$|$(cut -d' ' -f5,6 /proc/$$/stat)" > ../runinfo
exec sleep 1000"#;

#[test]
fn run_gets_name_cwd_and_its_own_session() {
    let mut sb = Sandbox::new();
    sb.service("a").run(RECORDER);
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::UP);
    let info = read_when(&sb.join("runinfo"), |s| s.ends_with('\n'));
    let f: Vec<&str> = info.trim().split('|').collect();
    assert_eq!(
        f[0], "./run",
        "argv[0] as the kernel shows a script run by path"
    );
    assert_eq!(f[1], "a", "argv[1] is the directory as given");
    assert_eq!(
        fs::canonicalize(f[2]).unwrap(),
        fs::canonicalize(sb.join("a")).unwrap()
    );
    let pid = f[3];
    assert_eq!(
        f[4],
        format!("{pid} {pid}"),
        "pgid and sid equal the pid: setsid"
    );
    assert_eq!(read_status(&sb.join("a")).pid.to_string(), pid);
}

#[test]
fn supervise_directory_has_s6_modes() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::UP);
    let mode = |p: &str| {
        fs::symlink_metadata(sb.join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("a/supervise"), 0o700);
    assert_eq!(mode("a/supervise/control"), 0o600);
    assert_eq!(mode("a/supervise/lock"), 0o644);
    assert_eq!(mode("a/event"), 0o3730);
    assert_eq!(
        fs::metadata(sb.join("a/supervise/status")).unwrap().size(),
        35
    );
    assert_eq!(fs::metadata(sb.join("a/supervise/lock")).unwrap().size(), 0);
    let locks = fs::read_to_string("/proc/locks").unwrap();
    let ino = fs::metadata(sb.join("a/supervise/lock")).unwrap().ino();
    assert!(
        locks
            .lines()
            .any(|l| l.contains("POSIX") && l.contains("WRITE") && l.contains(&format!(":{ino} "))),
        "an fcntl (POSIX) write lock on supervise/lock:\n{locks}"
    );
}

#[test]
fn restarts_run_when_it_dies() {
    let mut sb = Sandbox::new();
    sb.service("a").run("echo $$ >> ../pids\nexec sleep 1000");
    let a = sb.start("a", Goal::UP);
    let first = read_status(&a).pid;
    let mut w = watch(&a);
    sb.svkit("svc").args(["-k", "a"]).assert().success();
    wait_on(&mut w, Goal::DOWN);
    wait_on(&mut w, Goal::UP);
    let second = read_status(&a).pid;
    assert_ne!(first, second);
    let pids = read_when(&sb.join("pids"), |s| s.lines().count() == 2);
    assert_eq!(pids, format!("{first}\n{second}\n"));
}

#[test]
fn finish_gets_256_and_signal_after_svc_d() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("exec sleep 1000")
        .finish(r#"echo "$@" > ../finish-args"#);
    let a = sb.start("a", Goal::UP);
    let pid = read_status(&a).pid;
    let mut w = watch(&a);
    sb.svkit("svc").args(["-d", "a"]).assert().success();
    wait_on(&mut w, Goal::DOWN_READY);
    let args = fs::read_to_string(sb.join("finish-args")).unwrap();
    assert_eq!(args, format!("256 15 a {pid}\n"));
    let st = read_status(&a);
    assert_eq!((st.pid, st.signal(), st.wantup), (0, Some(15), false));
}

#[test]
fn finish_gets_exit_code_and_zero() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo $$ > ../pid\nexec sh -c 'read x; exit 3' < ../gate")
        .finish(r#"echo "$@" > ../finish-args"#)
        .down();
    nix::unistd::mkfifo(
        &sb.join("gate"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let a = sb.start("a", Goal::DOWN);
    let mut w = watch(&a);
    sb.svkit("svc").args(["-o", "a"]).assert().success();
    wait_on(&mut w, Goal::UP);
    let pid = read_when(&sb.join("pid"), |s| s.ends_with('\n'));
    fs::write(sb.join("gate"), "go\n").unwrap();
    wait_on(&mut w, Goal::DOWN_READY);
    assert_eq!(
        fs::read_to_string(sb.join("finish-args")).unwrap(),
        format!("3 0 a {}", pid)
    );
    assert_eq!(read_status(&a).exitcode(), Some(3));
}

#[test]
fn hanging_finish_is_killed_after_timeout_finish() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("exec sleep 1000")
        .finish("echo $$ > ../finish-pid\nexec sleep 1000")
        .file("timeout-finish", "100\n");
    let a = sb.start("a", Goal::UP);
    let mut w = watch(&a);
    sb.svkit("svc").args(["-d", "a"]).assert().success();
    wait_on(&mut w, Goal::DOWN);
    assert!(read_status(&a).finishing);
    wait_on(&mut w, Goal::DOWN_READY);
    // D is sent only after supervise reaped the killed finish.
    let fpid = fs::read_to_string(sb.join("finish-pid")).unwrap();
    assert!(!std::path::Path::new(&format!("/proc/{}", fpid.trim())).exists());
    assert!(
        sb.log("a")
            .contains("warning: finish script lifetime reached maximum value")
    );
}

#[test]
fn timeout_kill_kills_a_service_that_ignores_term() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("trap '' TERM\nexec sleep 1000")
        .file("timeout-kill", "100");
    let a = sb.start("a", Goal::UP);
    let mut w = watch(&a);
    sb.svkit("svc").args(["-d", "a"]).assert().success();
    wait_on(&mut w, Goal::DOWN_READY);
    assert_eq!(read_status(&a).signal(), Some(9));
}

#[test]
fn down_signal_is_used_to_stop() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("exec sleep 1000")
        .finish(r#"echo "$1 $2" > ../finish-args"#)
        .file("down-signal", "SIGHUP\n");
    let a = sb.start("a", Goal::UP);
    let mut w = watch(&a);
    sb.svkit("svc").args(["-d", "a"]).assert().success();
    wait_on(&mut w, Goal::DOWN_READY);
    assert_eq!(
        fs::read_to_string(sb.join("finish-args")).unwrap(),
        "256 1\n"
    );
}

#[test]
fn down_file_means_not_started() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("touch ../started; exec sleep 1000")
        .down();
    let a = sb.start("a", Goal::DOWN_READY);
    let st = read_status(&a);
    assert!(!st.wantup && st.pid == 0);
    assert!(!sb.join("started").exists());
    sb.svkit("svc").args(["-wu", "-u", "a"]).assert().success();
    assert!(read_status(&a).is_up());
}

#[test]
fn readiness_through_notification_fd() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("read x < ../gate\necho >&3\nexec sleep 1000")
        .file("notification-fd", "3\n");
    nix::unistd::mkfifo(
        &sb.join("gate"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let a = sb.start("a", Goal::UP);
    assert!(!read_status(&a).ready, "not ready before the newline");
    let mut w = watch(&a);
    fs::write(sb.join("gate"), "go\n").unwrap();
    wait_on(&mut w, Goal::READY);
    let st = read_status(&a);
    assert!(st.ready && st.readystamp >= st.stamp);
}

#[test]
fn death_tally_keeps_max_death_tally_records_readable_by_s6_svdt() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo x >> ../starts\nexec sleep 1000")
        .file("max-death-tally", "2\n");
    let a = sb.start("a", Goal::UP);
    for _ in 0..3 {
        let mut w = watch(&a);
        sb.svkit("svc").args(["-k", "a"]).assert().success();
        wait_on(&mut w, Goal::DOWN_READY);
        sb.svkit("svc").args(["-u", "a"]).assert().success();
        wait_on(&mut w, Goal::UP);
    }
    assert_eq!(
        fs::metadata(a.join("supervise/death_tally")).unwrap().len(),
        28
    );
    let out = sb.s6("s6-svdt").arg("a").output().unwrap();
    let text = stdout_of(&out);
    assert_eq!(text.lines().count(), 2, "{text}");
    assert!(
        text.lines()
            .all(|l| l.starts_with('@') && l.ends_with("signal SIGKILL")),
        "{text}"
    );
}

#[test]
fn sigterm_stops_the_service_and_exits_after_finish() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("exec sleep 1000")
        .finish("echo finished > ../finished");
    let sup = sb.supervise("a");
    let a = sb.join("a");
    wait_for(&a, Goal::UP);
    signal(sup, nix::sys::signal::Signal::SIGTERM);
    assert_eq!(sb.wait_exit(sup), Some(0));
    assert_eq!(
        fs::read_to_string(sb.join("finished")).unwrap(),
        "finished\n"
    );
    assert_eq!(read_status(&a).signal(), Some(15));
}

#[test]
fn x_makes_supervise_exit_once_the_service_is_down() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    let sup = sb.supervise("a");
    let a = sb.join("a");
    wait_for(&a, Goal::UP);
    let mut w = watch(&a);
    sb.svkit("svc").args(["-x", "a"]).assert().success();
    sb.svkit("svc").args(["-d", "a"]).assert().success();
    assert_eq!(sb.wait_exit(sup), Some(0));
    wait_on(&mut w, Goal::DOWN_READY);
    sb.svkit("svok").arg("a").assert().code(1);
}

#[test]
fn events_come_in_s6_order() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000").finish("exit 125");
    let a = sb.join("a");
    // Listeners may subscribe before the supervisor exists (they create event/).
    let mut sub = svkit_core::event::Subscription::new(&a).unwrap();
    let mut got = Vec::new();
    let mut read_until = |sub: &mut svkit_core::event::Subscription, n: usize| {
        poll_until("events", || {
            let mut buf = [0u8; 16];
            let k = sub.read(&mut buf).unwrap();
            got.extend_from_slice(&buf[..k]);
            got.len() >= n
        });
        got.clone()
    };
    sb.supervise("a");
    assert_eq!(read_until(&mut sub, 2), b"su");
    sb.svkit("svc").args(["-k", "a"]).assert().success();
    assert_eq!(
        read_until(&mut sub, 5),
        b"sudOD",
        "finish exit 125: permanent failure before down-and-ready"
    );
    assert!(!read_status(&a).wantup);
}

#[test]
fn sigquit_exits_at_once_and_leaves_the_service_running() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    let sup = sb.supervise("a");
    let a = sb.join("a");
    wait_for(&a, Goal::UP);
    let pid = read_status(&a).pid;
    let mut sub = svkit_core::event::Subscription::new(&a).unwrap();
    signal(sup, nix::sys::signal::Signal::SIGQUIT);
    assert_eq!(sb.wait_exit(sup), Some(0));
    assert!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "service untouched"
    );
    // The last thing a supervisor says is x.
    let mut buf = [0u8; 8];
    let n = sub.read(&mut buf).unwrap();
    assert_eq!(buf[..n].last(), Some(&b'x'), "{:?}", &buf[..n]);
    sb.svkit("svok").arg("a").assert().code(1);
}

#[test]
fn sighup_exits_once_the_service_is_down() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    let sup = sb.supervise("a");
    let a = sb.join("a");
    wait_for(&a, Goal::UP);
    signal(sup, nix::sys::signal::Signal::SIGHUP);
    // Like x: the service keeps running until it is stopped; then supervise exits.
    sb.svkit("svc").args(["-wd", "-d", "a"]).assert().success();
    assert_eq!(sb.wait_exit(sup), Some(0));
}
