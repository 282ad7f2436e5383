//! svstat beyond s6's single line: several directories, JSON, errors.

use predicates::prelude::*;
use svkit_core::event::Goal;

use crate::util::*;

#[test]
fn not_running_is_exit_1() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.join("a")).unwrap();
    sb.svkit("svstat")
        .arg("a")
        .assert()
        .code(1)
        .stderr("svstat: fatal: unable to read status for a: supervisor not running\n");
    sb.s6("s6-svstat").arg("a").assert().code(1);
    sb.svkit("svstat")
        .args(["--json", "a"])
        .assert()
        .code(1)
        .stdout("{\"service\":\"a\",\"supervised\":false}\n");
}

#[test]
fn usage_errors_are_100() {
    let sb = Sandbox::new();
    sb.svkit("svstat")
        .assert()
        .code(100)
        .stderr(predicate::str::starts_with(
            "svstat: usage: svstat [ -uwNrpestg",
        ));
    sb.svkit("svstat")
        .args(["-o", "nope", "a"])
        .assert()
        .code(100)
        .stderr("svstat: fatal: invalid option field: nope\n");
    sb.svkit("svstat")
        .args(["-o", "up,,pid", "a"])
        .assert()
        .code(100)
        .stderr("svstat: fatal: invalid null option field\n");
    sb.s6("s6-svstat")
        .args(["-o", "nope", "a"])
        .assert()
        .code(100);
}

#[test]
fn several_directories_and_json() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo >&3\nexec sleep 1000")
        .file("notification-fd", "3");
    sb.service("b").run("exit 7").down();
    sb.supervise("a");
    sb.supervise("b");
    wait_for(&sb.join("a"), Goal::READY);
    wait_for(&sb.join("b"), Goal::DOWN);
    let mut w = watch(&sb.join("b"));
    sb.svkit("svc").args(["-o", "b"]).assert().success();
    wait_on(&mut w, Goal::UP);
    wait_on(&mut w, Goal::DOWN_READY);
    let pid = read_status(&sb.join("a")).pid;

    let out = sb
        .svkit("svstat")
        .args(["-o", "up,pid,exitcode", "a", "b"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        stdout_of(&out),
        format!("a: true {pid} -1\nb: false -1 7\n")
    );

    let out = sb
        .svkit("svstat")
        .args(["--json", "a", "b", "c"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "c is not supervised");
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    for want in [
        "\"service\":\"a\"",
        "\"supervised\":true",
        "\"state\":\"up\"",
        "\"up\":true",
        "\"ready\":true",
        &format!("\"pid\":{pid}"),
        "\"exitcode\":null",
        "\"signal\":null",
        "\"deaths\":0",
    ] {
        assert!(lines[0].contains(want), "{want} not in {}", lines[0]);
    }
    for want in [
        "\"service\":\"b\"",
        "\"state\":\"down\"",
        "\"exitcode\":7",
        "\"pid\":null",
        "\"wantedup\":false",
        "\"normallyup\":false",
        "\"deaths\":1",
    ] {
        assert!(lines[1].contains(want), "{want} not in {}", lines[1]);
    }
    assert_eq!(lines[2], "{\"service\":\"c\",\"supervised\":false}");
    assert!(lines.iter().all(|l| l.starts_with('{') && l.ends_with('}')));
}

/// `svstat --all-ready SCANDIR` on a tree real s6-svscan runs: a service that
/// declares readiness counts only once ready, one down on purpose (down file)
/// does not count, a logger counts like its service, and one stopped while
/// normally up fails the probe again.
#[test]
fn all_ready_probes_a_whole_tree_run_by_s6() {
    use std::fs;
    use std::process::Command;
    let mut sb = Sandbox::new();
    sb.service("scan/web").run("exec sleep 1000");
    sb.service("scan/web/log").run("exec cat > /dev/null");
    sb.service("scan/spare").run("exec sleep 1000").down();
    let gate = sb.join("gate");
    nix::unistd::mkfifo(&gate, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
    sb.service("scan/db")
        .run(&format!(
            "read x < {}\necho >&3\nexec sleep 1000",
            gate.display()
        ))
        .file("notification-fd", "3\n");
    let mut c = Command::new(s6_bin("s6-svscan"));
    c.arg("scan");
    sb.spawn(c, "s6-svscan.log");
    let scan = sb.join("scan");
    for d in ["web", "web/log", "db"] {
        wait_for(&scan.join(d), Goal::UP);
    }
    sb.svkit("svstat")
        .args(["--all-ready", "scan"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::starts_with("db: up (pid ")
                .and(predicate::str::ends_with(", not ready yet\n"))
                .and(predicate::str::contains("\n").count(1)),
        );
    let mut w = watch(&scan.join("db"));
    fs::write(&gate, "go\n").unwrap();
    wait_on(&mut w, Goal::READY);
    sb.svkit("svstat")
        .args(["--all-ready", "scan"])
        .assert()
        .code(0)
        .stdout("all ready: 3 services up, 1 down on purpose\n");
    // -wD: the probe's line says "ready", which comes after finish (-wd raced it).
    sb.s6("s6-svc")
        .args(["-wD", "-d", "scan/web"])
        .assert()
        .success();
    sb.svkit("svstat")
        .args(["--all-ready", "scan"])
        .assert()
        .code(1)
        .stdout(
            predicate::str::starts_with("web: down (signal SIGTERM) ")
                .and(predicate::str::contains(", normally up, ready "))
                .and(predicate::str::contains("\n").count(1)),
        );
    sb.svkit("svstat")
        .args(["--all-ready", "scan", "extra"])
        .assert()
        .code(100);
}
