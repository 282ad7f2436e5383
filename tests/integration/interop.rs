//! Both directions of compatibility: real s6 tools on services run by svkit's
//! supervise, svkit's tools on services run by real s6-supervise, and status
//! records that decode the same under both readers.

use std::fs;

use svkit_core::Status;
use svkit_core::event::Goal;

use crate::util::*;

const ALL_FIELDS: &str = "up,wantedup,normallyup,ready,paused,pid,exitcode,signal,signum,\
                          updownsince,readysince,updownfor,readyfor";

/// Which supervisor runs the services of a scenario.
#[derive(Clone, Copy, Debug)]
enum Sup {
    Svkit,
    S6,
}

fn start(sb: &mut Sandbox, sup: Sup, name: &str) {
    match sup {
        Sup::Svkit => sb.supervise(name),
        Sup::S6 => sb.s6_supervise(name),
    };
}

/// One command's stdout, exit code included.
fn line(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.output().unwrap();
    format!("{}[{}]", stdout_of(&out), out.status.code().unwrap_or(-1))
}

/// svstat and s6-svstat print the same thing for `dir`, with `args`. The seconds
/// count is read between two s6 readings that agree, so a second boundary passing
/// mid-comparison makes us read again rather than fail.
#[track_caller]
fn same_svstat(sb: &Sandbox, args: &[&str], dir: &str) {
    for _ in 0..5 {
        let before = line(sb.s6("s6-svstat").args(args).arg(dir));
        let ours = line(sb.svkit("svstat").args(args).arg(dir));
        let after = line(sb.s6("s6-svstat").args(args).arg(dir));
        if before == after {
            assert_eq!(ours, before, "svstat {args:?} {dir}");
            return;
        }
    }
    panic!("s6-svstat never gave the same answer twice in a row");
}

#[track_caller]
fn same_everywhere(sb: &Sandbox, dir: &str, expect_human: &str) {
    same_svstat(sb, &[], dir);
    same_svstat(sb, &["-n"], dir);
    same_svstat(sb, &["-o", ALL_FIELDS], dir);
    same_svstat(sb, &["-uwNrpest"], dir);
    same_svstat(sb, &["-o", "wa,u,norm,re,pa"], dir);
    let human = line(sb.svkit("svstat").arg(dir));
    assert!(
        human.starts_with(expect_human),
        "{dir}: {human:?} should start with {expect_human:?}"
    );
}

/// The same states under either supervisor; our svstat must print what s6-svstat does.
fn status_scenarios(sup: Sup) {
    let mut sb = Sandbox::new();
    sb.service("up").run("exec sleep 1000");
    sb.service("ready")
        .run("echo >&3\nexec sleep 1000")
        .file("notification-fd", "3");
    sb.service("killed").run("exec sleep 1000");
    sb.service("exited").run("exit 3").down();
    sb.service("paused").run("exec sleep 1000");
    sb.service("normdown").run("exec sleep 1000").down();
    sb.service("wantdown").run("exec sleep 1000");
    sb.service("finishing")
        .run("exit 3")
        .finish("exec sleep 1000")
        .file("timeout-finish", "0");
    for n in [
        "up",
        "ready",
        "killed",
        "exited",
        "paused",
        "normdown",
        "wantdown",
        "finishing",
    ] {
        start(&mut sb, sup, n);
    }
    wait_for(&sb.join("up"), Goal::UP);
    wait_for(&sb.join("ready"), Goal::READY);
    wait_for(&sb.join("killed"), Goal::UP);
    sb.svkit("svc")
        .args(["-wD", "-d", "killed"])
        .assert()
        .success();
    let mut exited = watch(&sb.join("exited"));
    sb.svkit("svc").args(["-o", "exited"]).assert().success();
    wait_on(&mut exited, Goal::UP);
    wait_on(&mut exited, Goal::DOWN_READY);
    wait_for(&sb.join("paused"), Goal::UP);
    sb.svkit("svc").args(["-p", "paused"]).assert().success();
    poll_until("paused flag", || read_status(&sb.join("paused")).paused);
    wait_for(&sb.join("normdown"), Goal::DOWN);
    sb.svkit("svc")
        .args(["-wu", "-u", "normdown"])
        .assert()
        .success();
    wait_for(&sb.join("wantdown"), Goal::UP);
    sb.svkit("svc").args(["-O", "wantdown"]).assert().success();
    poll_until("want down", || !read_status(&sb.join("wantdown")).wantup);
    poll_until("finish running", || {
        svkit_core::status::read(&sb.join("finishing")).is_ok_and(|st| st.finishing)
    });

    same_everywhere(&sb, "up", "up (pid ");
    same_everywhere(&sb, "ready", "up (pid ");
    same_everywhere(&sb, "killed", "down (signal SIGTERM) ");
    same_everywhere(&sb, "exited", "down (exitcode 3) ");
    same_everywhere(&sb, "paused", "up (pid ");
    same_everywhere(&sb, "normdown", "up (pid ");
    same_everywhere(&sb, "wantdown", "up (pid ");
    same_everywhere(&sb, "finishing", "down (exitcode 3) ");
    assert!(line(sb.svkit("svstat").arg("paused")).contains(", paused"));
    assert!(line(sb.svkit("svstat").arg("normdown")).contains(", normally down"));
    assert!(line(sb.svkit("svstat").arg("wantdown")).contains(", want down"));
    assert!(line(sb.svkit("svstat").arg("ready")).contains(", ready "));
}

#[test]
fn svstat_matches_s6_svstat_on_svkit_supervise() {
    status_scenarios(Sup::Svkit);
}

#[test]
fn svstat_matches_s6_svstat_on_real_s6_supervise() {
    status_scenarios(Sup::S6);
}

#[test]
fn real_s6_tools_drive_svkit_supervise() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo >&3\nexec sleep 1000")
        .file("notification-fd", "3")
        .finish(r#"echo "$1 $2" >> ../finish-args"#);
    let sup = sb.supervise("a");
    let a = sb.join("a");
    // s6-svwait needs a status file to exist: wait for the supervisor to write one.
    poll_until("a status file", || svkit_core::status::read(&a).is_ok());
    sb.s6("s6-svwait")
        .args(["-U", "-t", "10000", "a"])
        .assert()
        .success();
    sb.s6("s6-svok").arg("a").assert().success();
    sb.s6("s6-svc").args(["-wD", "-d", "a"]).assert().success();
    let st = read_status(&a);
    assert!(st.pid == 0 && st.ready && !st.wantup);
    sb.s6("s6-svc").args(["-wU", "-u", "a"]).assert().success();
    let before = read_status(&a);
    assert!(before.is_up() && before.ready);
    sb.s6("s6-svc").args(["-wR", "-r", "a"]).assert().success();
    let after = read_status(&a);
    assert!(after.is_up() && after.ready && after.pid != before.pid);
    let mut w = watch(&a);
    sb.s6("s6-svc").args(["-x", "-d", "a"]).assert().success();
    wait_on(&mut w, Goal::DOWN_READY);
    assert_eq!(sb.wait_exit(sup), Some(0));
    sb.s6("s6-svok").arg("a").assert().code(1);
    assert_eq!(
        fs::read_to_string(sb.join("finish-args")).unwrap(),
        "256 15\n256 15\n256 15\n"
    );
}

#[test]
fn svkit_tools_drive_real_s6_supervise() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo >&3\nexec sleep 1000")
        .file("notification-fd", "3");
    let sup = sb.s6_supervise("a");
    let a = sb.join("a");
    poll_until("a status file", || svkit_core::status::read(&a).is_ok());
    sb.svkit("svwait")
        .args(["-U", "-t", "10000", "a"])
        .assert()
        .success();
    sb.svkit("svok").arg("a").assert().success();
    sb.svkit("svc").args(["-wD", "-d", "a"]).assert().success();
    assert_eq!(read_status(&a).pid, 0);
    sb.svkit("svc").args(["-wU", "-u", "a"]).assert().success();
    let before = read_status(&a);
    sb.svkit("svc").args(["-wR", "-r", "a"]).assert().success();
    assert_ne!(read_status(&a).pid, before.pid);
    sb.svkit("svc").args(["-wD", "-d", "a"]).assert().success();
    sb.svkit("svc").args(["-x", "a"]).assert().success();
    assert_eq!(sb.wait_exit(sup), Some(0));
    sb.svkit("svok").arg("a").assert().code(1);
}

/// A status record captured from real s6-supervise 2.11.3.2 (an up, ready service)
/// decodes to the values s6-svstat printed for it and re-encodes to the same bytes.
#[test]
fn golden_s6_status_round_trips() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/s6-status-up-ready");
    let bytes: [u8; 35] = fs::read(&path).unwrap().try_into().expect("35 bytes");
    let st = Status::unpack(&bytes);
    assert_eq!(st.pack(), bytes);
    let expected = fs::read_to_string(path.with_extension("fields")).unwrap();
    let mut f = expected.split_whitespace();
    let mut next = || f.next().unwrap().to_owned();
    assert_eq!(st.is_up().to_string(), next());
    assert_eq!(st.wantup.to_string(), next());
    assert_eq!((st.pid != 0 && st.ready).to_string(), next());
    assert_eq!(st.paused.to_string(), next());
    assert_eq!(st.pid.to_string(), next());
    assert_eq!(st.stamp.to_string(), next());
    assert_eq!(st.readystamp.to_string(), next());
}

/// What svkit's supervise writes decodes the same under s6-svstat and svstat,
/// field by field, timestamps included.
#[test]
fn svkit_status_file_decodes_identically_under_s6() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo >&3\nexec sleep 1000")
        .file("notification-fd", "3");
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::READY);
    let s6 = line(
        sb.s6("s6-svstat")
            .args(["-o", "updownsince,readysince,pid,wantedup,ready"])
            .arg("a"),
    );
    let st = read_status(&sb.join("a"));
    assert_eq!(
        s6,
        format!("{} {} {} true true\n[0]", st.stamp, st.readystamp, st.pid)
    );
}

/// A real s6-svwait -U that is already waiting is woken by readiness.
#[test]
fn readiness_wakes_a_waiting_s6_svwait() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("read x < ../gate\necho >&3\nexec sleep 1000")
        .file("notification-fd", "3");
    nix::unistd::mkfifo(
        &sb.join("gate"),
        nix::sys::stat::Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    let a = sb.start("a", Goal::UP);
    let waiter = std::process::Command::new(s6_bin("s6-svwait"))
        .args(["-U", "-t", "10000", "a"])
        .current_dir(sb.path())
        .spawn()
        .unwrap();
    poll_until("s6-svwait's subscription", || {
        fs::read_dir(a.join("event")).unwrap().count() == 1
    });
    assert!(!read_status(&a).ready);
    fs::write(sb.join("gate"), "go\n").unwrap();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    sb.s6("s6-svstat")
        .args(["-o", "up,ready", "a"])
        .assert()
        .success()
        .stdout("true true\n");
}
