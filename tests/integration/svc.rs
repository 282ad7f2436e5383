//! svc: bytes on the wire, exit codes, and waiting.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;

use nix::sys::stat::Mode;
use predicates::prelude::*;
use svkit_core::event::Goal;

use crate::util::*;

/// A fake supervisor: a control FIFO that we read ourselves.
fn fake_control(sb: &Sandbox, name: &str) -> File {
    let dir = sb.join(name);
    std::fs::create_dir_all(dir.join("supervise")).unwrap();
    nix::unistd::mkfifo(
        &dir.join("supervise/control"),
        Mode::from_bits_truncate(0o600),
    )
    .unwrap();
    File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(dir.join("supervise/control"))
        .unwrap()
}

#[test]
fn letters_are_sent_in_argv_order_with_repeats() {
    let sb = Sandbox::new();
    let mut ctl = fake_control(&sb, "a");
    sb.svkit("svc")
        .args(["-du", "-k", "-d", "-s", "HUP", "-12", "a"])
        .assert()
        .success();
    let mut got = String::new();
    ctl.read_to_string(&mut got).unwrap();
    assert_eq!(got, "dukdh12");
}

#[test]
fn every_s6_letter_is_a_control_byte() {
    let sb = Sandbox::new();
    let mut ctl = fake_control(&sb, "a");
    let letters = "abqhkti12pcyroduDUxOQ";
    sb.svkit("s6-svc")
        .arg(format!("-{letters}"))
        .arg("a")
        .assert()
        .success();
    let mut got = String::new();
    ctl.read_to_string(&mut got).unwrap();
    assert_eq!(got, letters);
}

#[test]
fn exit_codes_match_s6_svc() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.join("nosup")).unwrap();
    std::fs::create_dir_all(sb.join("broken/supervise")).unwrap();
    std::fs::write(sb.join("afile"), "").unwrap();
    let ctl = fake_control(&sb, "noreader");
    drop(ctl);
    for (dir, code, msg) in [
        (
            "nosup",
            100,
            "svc: fatal: unable to control nosup: supervisor not listening\n",
        ),
        (
            "noreader",
            100,
            "svc: fatal: unable to control noreader: supervisor not listening\n",
        ),
        (
            "broken",
            100,
            "svc: fatal: something is wrong with the broken/supervise directory\n",
        ),
        (
            "missing",
            111,
            "svc: fatal: unable to control missing: No such file or directory\n",
        ),
        (
            "afile",
            111,
            "svc: fatal: unable to control afile: Not a directory\n",
        ),
    ] {
        sb.svkit("svc")
            .args(["-u", dir])
            .assert()
            .code(code)
            .stderr(msg);
        // The oracle agrees on the code.
        sb.s6("s6-svc").args(["-u", dir]).assert().code(code);
    }
    for bad in [
        &["-z", "a"][..],
        &["-wx", "a"],
        &["-T", "soon", "a"],
        &["-u"],
    ] {
        sb.svkit("svc")
            .args(bad)
            .assert()
            .code(100)
            .stderr(predicate::str::starts_with("svc: usage: svc [ -wu"));
    }
}

#[test]
fn wait_options_on_a_ready_service() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("echo >&3\nexec sleep 1000")
        .file("notification-fd", "3");
    let a = sb.start("a", Goal::READY);
    sb.svkit("svc").args(["-wD", "-d", "a"]).assert().success();
    assert_eq!(read_status(&a).pid, 0);
    sb.svkit("svc").args(["-wU", "-u", "a"]).assert().success();
    let first = read_status(&a);
    assert!(first.is_up() && first.ready);
    sb.svkit("svc").args(["-wR", "-r", "a"]).assert().success();
    let second = read_status(&a);
    assert!(second.is_up() && second.ready && second.pid != first.pid);
    sb.svkit("svc").args(["-wr", "-k", "a"]).assert().success();
    assert_ne!(read_status(&a).pid, second.pid);
}

#[test]
fn wait_timeout_is_99_and_permanent_failure_is_1() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000").down();
    sb.service("b")
        .run("exit 1")
        .finish("exit 125")
        .file("notification-fd", "3");
    sb.supervise("a");
    sb.supervise("b");
    wait_for(&sb.join("a"), Goal::DOWN);
    // b starts, exits, and its finish says "permanent": it stays down.
    poll_until("b given up", || {
        svkit_core::status::read(&sb.join("b")).is_ok_and(|st| !st.wantup && st.pid == 0)
    });
    sb.svkit("svc")
        .args(["-wu", "-T", "50", "a"])
        .assert()
        .code(99)
        .stderr("svc: fatal: timed out\n");
    sb.svkit("svc")
        .args(["-wU", "-u", "b"])
        .assert()
        .code(1)
        .stderr("svc: fatal: some services reported permanent failure or their supervisor died\n");
}

#[test]
fn wait_ready_without_notification_fd_is_downgraded() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000").down();
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::DOWN);
    sb.svkit("svc")
        .args(["-wU", "-u", "a"])
        .assert()
        .success()
        .stderr("svc: warning: a/notification-fd not present - ignoring request for readiness notification\n");
    assert!(read_status(&sb.join("a")).is_up());
}

#[test]
fn several_directories_at_once() {
    let mut sb = Sandbox::new();
    for n in ["a", "b"] {
        sb.service(n).run("exec sleep 1000").down();
        sb.supervise(n);
        wait_for(&sb.join(n), Goal::DOWN);
    }
    sb.svkit("svc")
        .args(["-wu", "-u", "a", "b"])
        .assert()
        .success();
    assert!(read_status(&sb.join("a")).is_up() && read_status(&sb.join("b")).is_up());
    sb.svkit("svc")
        .args(["-d", "a", "nosuch", "b"])
        .assert()
        .code(111)
        .stderr("svc: warning: unable to control nosuch: No such file or directory\n");
    wait_for(&sb.join("b"), Goal::DOWN);
}
