//! svwait: goals, any/all, timeouts and failures.

use std::process::{Command, Stdio};

use svkit_core::event::Goal;

use crate::util::*;

#[test]
fn waits_for_up_and_down_and_returns_at_once_when_already_there() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::UP);
    sb.svkit("svwait").args(["-u", "a"]).assert().success();
    sb.svkit("svwait")
        .args(["-t", "50", "-d", "a"])
        .assert()
        .code(99)
        .stderr("svwait: fatal: timed out\n");
    // A waiter started now is woken by the transition.
    let mut waiter = Command::new(svkit_bin());
    std::os::unix::process::CommandExt::arg0(&mut waiter, "svwait");
    let mut waiter = waiter
        .args(["-D", "-t", "10000", "a"])
        .current_dir(sb.path())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The waiter subscribed once its FIFO is in event/.
    poll_until("the waiter's subscription", || {
        std::fs::read_dir(sb.join("a/event")).unwrap().count() == 1
    });
    sb.svkit("svc").args(["-d", "a"]).assert().success();
    assert_eq!(waiter.wait().unwrap().code(), Some(0));
}

#[test]
fn any_versus_all() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    sb.service("b").run("exec sleep 1000").down();
    sb.supervise("a");
    sb.supervise("b");
    wait_for(&sb.join("a"), Goal::UP);
    wait_for(&sb.join("b"), Goal::DOWN);
    sb.svkit("svwait")
        .args(["-o", "-u", "a", "b"])
        .assert()
        .success();
    sb.svkit("svwait")
        .args(["-a", "-t", "50", "-u", "a", "b"])
        .assert()
        .code(99);
}

#[test]
fn supervisor_exit_counts_as_a_failure() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000").down();
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::DOWN);
    let mut w = Command::new(svkit_bin());
    std::os::unix::process::CommandExt::arg0(&mut w, "svwait");
    let waiter = w
        .args(["-u", "-t", "10000", "a"])
        .current_dir(sb.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    poll_until("the waiter's subscription", || {
        std::fs::read_dir(sb.join("a/event")).unwrap().count() == 1
    });
    sb.svkit("svc").args(["-x", "a"]).assert().success();
    let out = waiter.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "svwait: fatal: some services reported permanent failure or their supervisor died\n"
    );
}

#[test]
fn usage_and_system_errors() {
    let sb = Sandbox::new();
    sb.svkit("svwait").assert().code(100).stderr(
        "svwait: usage: svwait [ -U | -u | -d | -D | -r | -R ] [ -a | -o ] [ -t timeout ] servicedir...\n",
    );
    sb.svkit("svwait")
        .args(["-t", "10", "missing"])
        .assert()
        .code(111)
        .stderr(
            "svwait: fatal: unable to subscribe to events for missing: No such file or directory\n",
        );
    std::fs::create_dir(sb.join("nosup")).unwrap();
    sb.svkit("svwait")
        .args(["-t", "10", "nosup"])
        .assert()
        .code(111)
        .stderr("svwait: fatal: unable to read status for nosup: No such file or directory\n");
    sb.s6("s6-svwait")
        .args(["-t", "10", "nosup"])
        .assert()
        .code(111);
}

#[test]
fn supervisor_exit_in_the_first_phase_of_r_ends_the_wait_as_in_s6() {
    // A supervisor announces `x` once its service is down, so a real one ends
    // -r's first phase ("down") before it exits; the event is written here by
    // hand while the service is up, as a supervisor dying then would. s6-svwait
    // stops at the end of that phase with the failure; it does not go on to
    // wait for "up" until -t.
    let mut sb = Sandbox::new();
    for (name, s6) in [("a", false), ("b", true)] {
        sb.service(name).run("exec sleep 1000");
        sb.supervise(name);
        wait_for(&sb.join(name), Goal::UP);
        let mut w = if s6 {
            Command::new(s6_bin("s6-svwait"))
        } else {
            let mut c = Command::new(svkit_bin());
            std::os::unix::process::CommandExt::arg0(&mut c, "s6-svwait");
            c
        };
        let waiter = w
            .args(["-r", "-t", "10000", name])
            .current_dir(sb.path())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        poll_until("the waiter's subscription", || {
            std::fs::read_dir(sb.join(name).join("event"))
                .unwrap()
                .count()
                == 1
        });
        svkit_core::event::notify(&sb.join(name).join("event"), b"x").unwrap();
        let out = waiter.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "s6: {s6}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "s6-svwait: fatal: some services reported permanent failure or their supervisor died\n",
            "s6: {s6}"
        );
    }
}
