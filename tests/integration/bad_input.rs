//! Bad input: one clear line in s6's format, s6's exit code, and a supervisor that
//! keeps running whatever it is fed.

use std::fs::{self, File};
use std::io::Write;

use svkit_core::event::Goal;

use crate::util::*;

#[test]
fn usage_and_unusable_directories() {
    let sb = Sandbox::new();
    sb.svkit("supervise")
        .assert()
        .code(100)
        .stderr("supervise: usage: supervise dir\n");
    sb.svkit("s6-supervise")
        .args(["a", "b"])
        .assert()
        .code(100)
        .stderr("s6-supervise: usage: s6-supervise dir\n");
    fs::write(sb.join("afile"), "").unwrap();
    sb.svkit("supervise")
        .arg("afile")
        .assert()
        .code(111)
        .stderr("supervise: fatal: unable to chdir to afile: Not a directory\n");
    sb.svkit("supervise")
        .arg("missing")
        .assert()
        .code(111)
        .stderr("supervise: fatal: unable to chdir to missing: No such file or directory\n");
    sb.s6("s6-supervise").arg("afile").assert().code(111);
}

#[test]
fn a_second_supervisor_is_refused() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    sb.supervise("a");
    wait_for(&sb.join("a"), Goal::UP);
    sb.svkit("supervise")
        .arg("a")
        .assert()
        .code(100)
        .stderr("supervise a: fatal: another instance of supervise is already running\n");
    // Real s6-supervise sees our lock too.
    sb.s6("s6-supervise").arg("a").assert().code(100);
    sb.svkit("svc").args(["-wu", "a"]).assert().success();
}

#[test]
fn a_second_supervisor_is_refused_on_an_s6_supervised_dir() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    sb.s6_supervise("a");
    wait_for(&sb.join("a"), Goal::UP);
    sb.svkit("supervise").arg("a").assert().code(100);
}

#[track_caller]
fn survives_missing_run(sb: &mut Sandbox, name: &str, expect: &str) {
    sb.supervise(name);
    poll_until("a warning", || {
        sb.log(name).contains("unable to spawn ./run")
    });
    assert_eq!(
        sb.log(name),
        format!(
            "supervise {name}: warning: unable to spawn ./run: {expect} - waiting 10 seconds\n"
        )
    );
    sb.svkit("svok").arg(name).assert().success();
    let st = read_status(&sb.join(name));
    assert!(st.wantup && st.pid == 0);
}

#[test]
fn missing_non_executable_or_directory_run_is_a_warning() {
    let mut sb = Sandbox::new();
    fs::create_dir(sb.join("norun")).unwrap();
    fs::create_dir(sb.join("noexec")).unwrap();
    fs::write(sb.join("noexec/run"), "#!/bin/sh\nexec sleep 1000\n").unwrap();
    fs::create_dir_all(sb.join("dirrun/run")).unwrap();
    survives_missing_run(&mut sb, "norun", "No such file or directory");
    survives_missing_run(&mut sb, "noexec", "Permission denied");
    survives_missing_run(&mut sb, "dirrun", "Permission denied");
    // Once fixed, an explicit start works at once (no 10 s wait).
    write_exec(&sb.join("norun/run"), "#!/bin/sh\nexec sleep 1000\n");
    sb.svkit("svc")
        .args(["-wu", "-u", "norun"])
        .assert()
        .success();
}

#[test]
fn garbage_on_the_control_fifo_changes_nothing() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    let a = sb.start("a", Goal::UP);
    let before = read_status(&a);
    // Every byte that is not a command, plus pseudo-random noise, in big writes.
    let commands = b"abqhkti12pcyroduDUxOQ";
    let mut junk: Vec<u8> = (0..=255u8).filter(|b| !commands.contains(b)).collect();
    let mut x: u32 = 0x1234_5678;
    while junk.len() < 64 * 1024 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let b = (x & 0xff) as u8;
        if !commands.contains(&b) {
            junk.push(b);
        }
    }
    let mut ctl = File::options()
        .write(true)
        .open(a.join("supervise/control"))
        .unwrap();
    ctl.write_all(&junk).unwrap();
    drop(ctl);
    // Still there, same service, and still obeying: the d after the junk is seen.
    sb.svkit("svc").args(["-wD", "-d", "a"]).assert().success();
    let after = read_status(&a);
    assert_eq!(after.signal(), Some(15));
    assert!(before.pid != 0 && after.pid == 0);
    sb.svkit("svok").arg("a").assert().success();
}

#[test]
fn unparsable_settings_warn_and_use_defaults() {
    let mut sb = Sandbox::new();
    sb.service("a")
        .run("exec sleep 1000")
        .file("notification-fd", "three\n")
        .file("timeout-kill", " 100")
        .file("max-death-tally", "-1");
    let a = sb.start("a", Goal::UP);
    sb.svkit("svc").args(["-wD", "-d", "a"]).assert().success();
    let log = sb.log("a");
    for w in [
        "invalid notification-fd",
        "invalid timeout-kill",
        "invalid max-death-tally",
    ] {
        assert!(
            log.contains(&format!("supervise a: warning: {w}\n")),
            "{w} missing from:\n{log}"
        );
    }
    assert_eq!(log.lines().count(), 3, "{log}");
    assert_eq!(
        fs::metadata(a.join("supervise/death_tally")).unwrap().len(),
        14,
        "default tally"
    );
}

#[test]
fn control_path_that_is_not_a_fifo_is_refused() {
    let sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    fs::create_dir(sb.join("a/supervise")).unwrap();
    fs::write(sb.join("a/supervise/control"), "").unwrap();
    sb.svkit("supervise")
        .arg("a")
        .assert()
        .code(100)
        .stderr("supervise a: fatal: supervise/control exists and is not a named pipe\n");
    sb.svkit("svc")
        .args(["-u", "a"])
        .assert()
        .code(100)
        .stderr("svc: fatal: something is wrong with the a/supervise directory\n");
}
