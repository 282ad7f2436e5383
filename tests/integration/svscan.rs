//! svscan and svscanctl: a scan directory of services, loggers that lose nothing,
//! supervisors replaced without running a service twice, PID 1 duties, and both
//! directions of compatibility with s6-svscan and s6-svscanctl.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::Signal;
use svkit_core::event::Goal;

use crate::util::*;

/// A scan directory `scan/` whose entries are symlinks to `services/NAME`, so a
/// service can vanish from the scan without its directory (and supervise's cwd)
/// going away.
fn scan_with(sb: &Sandbox, names: &[&str]) {
    fs::create_dir_all(sb.join("scan")).unwrap();
    for n in names {
        link(sb, n);
    }
}

fn link(sb: &Sandbox, name: &str) {
    symlink(sb.join("services").join(name), sb.join("scan").join(name)).unwrap();
}

fn service(sb: &Sandbox, name: &str) -> ServiceDir {
    sb.service(&format!("services/{name}"))
}

#[test]
fn services_and_a_logger_come_and_go_with_their_directories() {
    let mut sb = Sandbox::new();
    service(&sb, "a")
        .run("exec sleep 1000")
        .finish(r#"echo "$1 $2 $3" >> ../../a-finish"#);
    service(&sb, "b").run("echo hello from b\nexec sleep 1000");
    service(&sb, "b/log").run("exec cat > ../../../b-log");
    service(&sb, "c").run("exec sleep 1000");
    scan_with(&sb, &["a", "b"]);
    sb.svscan("scan");
    let scan = sb.join("scan");
    for d in ["a", "b", "b/log"] {
        wait_for(&scan.join(d), Goal::UP);
    }
    assert_eq!(
        read_when(&sb.join("b-log"), |s| s.ends_with('\n')),
        "hello from b\n"
    );

    // A new directory is supervised after a rescan.
    link(&sb, "c");
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    wait_for(&scan.join("c"), Goal::UP);

    // Renaming keeps the same supervisor: identity is the directory, not its name.
    let b_sup = sb.supervisor_of(&scan.join("b"));
    fs::rename(scan.join("b"), scan.join("b2")).unwrap();
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    assert_eq!(sb.supervisor_of(&scan.join("b2")), b_sup);

    // A vanished directory keeps its supervisor until -n; then it is stopped.
    fs::remove_file(scan.join("a")).unwrap();
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    let a = sb.join("services/a");
    sb.svkit("svok").arg(&a).assert().success();
    sb.svkit("svscanctl")
        .args(["-n", "scan"])
        .assert()
        .success();
    poll_until("a's supervisor to exit", || {
        svkit_core::lock::holder(&a.join("supervise/lock"))
            .ok()
            .flatten()
            .is_none()
    });
    assert_eq!(
        fs::read_to_string(sb.join("a-finish")).unwrap(),
        "256 15 a\n"
    );
    sb.svkit("svok").arg(scan.join("c")).assert().success();
}

#[test]
fn logger_restarts_lose_no_line() {
    let mut sb = Sandbox::new();
    // The producer writes 20 batches of 10,000 numbered lines, each batch when the
    // test opens the gate; more than a pipe's worth, so it blocks on a dead logger.
    // The gate stays open across batches, so no "go" line can be lost between reads.
    service(&sb, "p").run(
        "exec 3< ../../gate\ni=0\nwhile [ $i -lt 20 ]; do\n  read x <&3\n  seq $((i*10000+1)) $((i*10000+10000))\n  i=$((i+1))\ndone\nexec sleep 1000",
    );
    // A logger that never holds data in its own memory: splice moves bytes from the
    // pipe to the file inside the kernel, so a SIGKILL cannot take a line with it.
    service(&sb, "p/log").run(
        "exec /usr/bin/python3 -c '\nimport os\nout = os.open(\"../../../out\", os.O_WRONLY | os.O_CREAT, 0o644)\nos.lseek(out, 0, os.SEEK_END)\nwhile os.splice(0, out, 1 << 16):\n    pass\n'",
    );
    sb.fifo("gate");
    scan_with(&sb, &["p"]);
    sb.svscan("scan");
    let log = sb.join("scan/p/log");
    wait_for(&sb.join("scan/p"), Goal::UP);
    wait_for(&log, Goal::UP);
    let mut gate = fs::File::options()
        .write(true)
        .open(sb.join("gate"))
        .unwrap();
    let mut kills = 0;
    for batch in 0..20 {
        std::io::Write::write_all(&mut gate, b"go\n").unwrap();
        if batch % 2 == 0 {
            kill_and_wait_restart(&log, Signal::SIGKILL);
            kills += 1;
        }
    }
    assert_eq!(kills, 10);
    let out = read_when(&sb.join("out"), |s| s.ends_with("200000\n"));
    let numbers: Vec<u32> = out.lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(numbers.len(), 200_000, "every line once");
    assert!(
        numbers.iter().enumerate().all(|(i, &n)| n == i as u32 + 1),
        "in order"
    );
}

/// Both svscanctl -t and real s6-svscanctl -t stop the tree: services get TERM,
/// finish scripts run, loggers drain, and the scanner execs .s6-svscan/finish.
fn stop_tree_with(ctl: impl Fn(&Sandbox) -> assert_cmd::Command) {
    let mut sb = Sandbox::new();
    service(&sb, "a")
        .run("exec sleep 1000")
        .finish(r#"echo "a $1 $2" >> ../../finished"#);
    service(&sb, "b")
        .run("echo last words\nexec sleep 1000")
        .finish(r#"echo "b $1 $2" >> ../../finished"#);
    service(&sb, "b/log").run("exec cat >> ../../../b-log");
    scan_with(&sb, &["a", "b"]);
    fs::create_dir_all(sb.join("scan/.s6-svscan")).unwrap();
    write_exec(
        &sb.join("scan/.s6-svscan/finish"),
        "#!/bin/sh\necho \"finish of pid $$ in $PWD\" > ../scan-finished\n",
    );
    let pid = sb.svscan("scan");
    for d in ["a", "b", "b/log"] {
        wait_for(&sb.join("scan").join(d), Goal::UP);
    }
    read_when(&sb.join("b-log"), |s| s.contains("last words"));
    ctl(&sb).assert().success();
    assert_eq!(sb.wait_exit(pid), Some(0));
    let finished = fs::read_to_string(sb.join("finished")).unwrap();
    let mut lines: Vec<&str> = finished.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["a 256 15", "b 256 15"]);
    let scan_finished = fs::read_to_string(sb.join("scan-finished")).unwrap();
    let scan = fs::canonicalize(sb.join("scan")).unwrap();
    assert_eq!(
        scan_finished,
        format!("finish of pid {pid} in {}\n", scan.display())
    );
    for d in ["a", "b", "b/log"] {
        sb.svkit("svok")
            .arg(sb.join("scan").join(d))
            .assert()
            .code(1);
    }
}

#[test]
fn svscanctl_t_stops_the_tree() {
    stop_tree_with(|sb| {
        let mut c = sb.svkit("svscanctl");
        c.args(["-t", "scan"]);
        c
    });
}

#[test]
fn real_s6_svscanctl_t_stops_the_tree() {
    stop_tree_with(|sb| {
        let mut c = sb.s6("s6-svscanctl");
        c.args(["-t", "scan"]);
        c
    });
}

#[test]
fn sigterm_stops_the_tree_and_sigterm_script_overrides_it() {
    let mut sb = Sandbox::new();
    service(&sb, "a").run("exec sleep 1000");
    scan_with(&sb, &["a"]);
    fs::create_dir_all(sb.join("scan/.s6-svscan")).unwrap();
    write_exec(
        &sb.join("scan/.s6-svscan/SIGTERM"),
        "#!/bin/sh\necho $0 > ../sigterm-ran\n",
    );
    let pid = sb.svscan("scan");
    wait_for(&sb.join("scan/a"), Goal::UP);
    signal(pid, Signal::SIGTERM);
    assert_eq!(
        read_when(&sb.join("sigterm-ran"), |s| s.ends_with('\n')),
        ".s6-svscan/SIGTERM\n"
    );
    sb.svkit("svok").arg(sb.join("scan/a")).assert().success();
    // Without the script, TERM means svscanctl -t.
    fs::remove_file(sb.join("scan/.s6-svscan/SIGTERM")).unwrap();
    signal(pid, Signal::SIGTERM);
    assert_eq!(sb.wait_exit(pid), Some(0));
    assert_eq!(read_status(&sb.join("scan/a")).signal(), Some(15));
}

#[test]
fn a_killed_supervise_is_replaced_and_the_service_never_runs_twice() {
    let mut sb = Sandbox::new();
    service(&sb, "a").run(
        "echo \"start $$\" >> ../../records\ntrap 'echo \"stop $$\" >> ../../records; exit 0' TERM\nsleep 1000 &\nwait",
    );
    scan_with(&sb, &["a"]);
    sb.svscan("scan");
    let a = sb.join("scan/a");
    wait_for(&a, Goal::UP);
    let first = read_status(&a).pid;
    let old_sup = sb.supervisor_of(&a);
    signal(u32::try_from(old_sup).unwrap(), Signal::SIGKILL);
    // A new supervisor takes over (svscan restarts it at once: it had lived > 1 s,
    // or a second after its start otherwise), stops the orphan, starts anew.
    poll_until("a new supervisor", || {
        svkit_core::lock::holder(&a.join("supervise/lock"))
            .ok()
            .flatten()
            .is_some_and(|p| p != old_sup)
    });
    poll_until("the service restarted", || {
        svkit_core::status::read(&a).is_ok_and(|st| st.is_up() && st.pid != first)
    });
    let second = read_status(&a).pid;
    let records = read_when(&sb.join("records"), |s| s.lines().count() >= 3);
    assert_eq!(
        records,
        format!("start {first}\nstop {first}\nstart {second}\n")
    );
    assert!(
        !Path::new(&format!("/proc/{first}")).exists(),
        "the orphan is gone"
    );
}

#[test]
fn as_pid_1_it_reaps_orphans_and_stops_on_sigterm() {
    let mut sb = Sandbox::new();
    // 1000 orphans: each double-forked process is re-parented to PID 1 and exits.
    service(&sb, "orphans").run(
        "i=0\nwhile [ $i -lt 1000 ]; do\n  ( (echo x >> ../../orphans) & )\n  i=$((i+1))\ndone\ntouch ../../spawned\nexec sleep 1000",
    );
    service(&sb, "b")
        .run("exec sleep 1000")
        .finish("echo \"$1 $2\" > ../../b-finish");
    scan_with(&sb, &["orphans", "b"]);
    let mut c = Command::new("unshare");
    c.args(["--pid", "--fork", "--mount-proc"])
        .arg(svkit_bin())
        .args(["svscan", "scan"]);
    let unshare = sb.spawn(c, "svscan.log");
    read_when(&sb.join("orphans"), |s| s.len() == 2000);
    // Every orphan has exited; none is left as a zombie of PID 1.
    let mut init = 0;
    poll_until("svscan as pid 1", || {
        init = children_of(unshare).first().copied().unwrap_or(0);
        init != 0
    });
    let status = fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert!(
        status
            .lines()
            .any(|l| l.starts_with("NSpid:") && l.ends_with("\t1")),
        "{status}"
    );
    poll_until("no zombie under PID 1", || {
        children_of(init as u32).iter().all(|c| !is_zombie(*c))
    });
    wait_for(&sb.join("scan/b"), Goal::UP);
    signal(init as u32, Signal::SIGTERM);
    assert_eq!(sb.wait_exit(unshare), Some(0));
    assert_eq!(fs::read_to_string(sb.join("b-finish")).unwrap(), "256 15\n");
}

fn children_of(pid: u32) -> Vec<i32> {
    fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn real_s6_svscan_takes_over_a_tree_svkit_ran_and_svkit_obeys_s6_svscanctl() {
    let mut sb = Sandbox::new();
    service(&sb, "a").run("exec sleep 1000");
    service(&sb, "b").run("echo from b\nexec sleep 1000");
    service(&sb, "b/log").run("exec cat >> ../../../b-log");
    scan_with(&sb, &["a", "b"]);
    let ours = sb.svscan("scan");
    for d in ["a", "b", "b/log"] {
        wait_for(&sb.join("scan").join(d), Goal::UP);
    }
    // svkit's svscan obeys real s6-svscanctl: rescan, then terminate.
    service(&sb, "c").run("exec sleep 1000");
    link(&sb, "c");
    sb.s6("s6-svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    wait_for(&sb.join("scan/c"), Goal::UP);
    sb.s6("s6-svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    assert_eq!(sb.wait_exit(ours), Some(0));
    // Real s6-svscan runs the same directories, left as svkit's supervise left them.
    let mut c = Command::new(s6_bin("s6-svscan"));
    c.arg("scan");
    let theirs = sb.spawn(c, "s6-svscan.log");
    for d in ["a", "b", "b/log", "c"] {
        wait_for(&sb.join("scan").join(d), Goal::UP);
    }
    sb.s6("s6-svstat").arg("scan/a").assert().success();
    read_when(&sb.join("b-log"), |s| s.matches("from b").count() == 2);
    sb.svkit("svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    assert_eq!(sb.wait_exit(theirs), Some(0));
}

#[test]
fn bad_entries_are_warned_about_and_the_rest_runs() {
    let mut sb = Sandbox::new();
    service(&sb, "good").run("exec sleep 1000");
    service(&sb, "norun");
    service(&sb, "lognorun").run("echo to nobody\nexec sleep 1000");
    service(&sb, "lognorun/log");
    scan_with(&sb, &["good", "norun", "lognorun"]);
    fs::write(sb.join("scan/afile"), "").unwrap();
    symlink(sb.join("nowhere"), sb.join("scan/dangling")).unwrap();
    let pid = sb.svscan("scan");
    wait_for(&sb.join("scan/good"), Goal::UP);
    wait_for(&sb.join("scan/lognorun"), Goal::UP);
    poll_until("warnings", || {
        let log = sb.log("svscan");
        log.contains("unable to spawn ./run") && log.matches("unable to spawn ./run").count() >= 2
    });
    let log = sb.log("svscan");
    for want in [
        "svscan: warning: ignoring afile: not a directory\n",
        "svscan: warning: unable to stat dangling: No such file or directory\n",
        "supervise norun: warning: unable to spawn ./run: No such file or directory - waiting 10 seconds\n",
        "supervise lognorun/log: warning: unable to spawn ./run: No such file or directory - waiting 10 seconds\n",
    ] {
        assert!(log.contains(want), "missing {want:?} in:\n{log}");
    }
    // Said once each, not at every rescan.
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    sb.svkit("svok")
        .arg(sb.join("scan/good"))
        .assert()
        .success();
    assert_eq!(sb.log("svscan").matches("ignoring afile").count(), 1);
    // A second scanner is refused.
    sb.svkit("svscan").arg("scan").assert().code(100).stderr(
        "svscan: fatal: another instance of svscan is already running on the same directory\n",
    );
    sb.s6("s6-svscan").arg("scan").assert().code(100);
    sb.svkit("svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    assert_eq!(sb.wait_exit(pid), Some(0));
}

#[test]
fn an_unwritable_service_directory_does_not_stop_the_others() {
    let mut sb = Sandbox::new();
    // svscan runs as nobody; one service directory belongs to root (mode 0755), so
    // supervise cannot create supervise/ there. The others work.
    service(&sb, "good").run("exec sleep 1000");
    service(&sb, "rootonly").run("exec sleep 1000");
    scan_with(&sb, &["good", "rootonly"]);
    let chown = |p: &str| {
        nix::unistd::chown(&sb.join(p), Some(65534.into()), Some(65534.into())).unwrap();
    };
    for p in ["", "scan", "services", "services/good", "services/good/run"] {
        chown(p);
    }
    fs::set_permissions(
        sb.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    // nobody may not be able to reach the build directory: run a copy from here.
    let bin = sb.join("svkit");
    fs::copy(svkit_bin(), &bin).unwrap();
    let mut c = Command::new("setpriv");
    c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(["svscan", "scan"]);
    let pid = sb.spawn(c, "svscan.log");
    // We (root) wait on a service supervised as nobody: our event FIFO must be
    // writable through the fifodir's group, or the wait never hears a thing.
    poll_until("good's status", || {
        svkit_core::status::read(&sb.join("scan/good")).is_ok()
    });
    let mut w = watch(&sb.join("scan/good"));
    wait_on(&mut w, Goal::UP);
    sb.svkit("svc")
        .args(["-wD", "-d", "scan/good"])
        .assert()
        .success();
    sb.svkit("svc")
        .args(["-wu", "-u", "scan/good"])
        .assert()
        .success();
    poll_until("a clear error for rootonly", || {
        sb.log("svscan")
            .contains("supervise rootonly: fatal: unable to mkdir event: Permission denied")
    });
    sb.svkit("svok")
        .arg(sb.join("scan/good"))
        .assert()
        .success();
    signal(pid, Signal::SIGTERM);
    assert_eq!(sb.wait_exit(pid), Some(0));
}

#[test]
fn svscanctl_errors_match_s6_svscanctl() {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.join("idle/.s6-svscan")).unwrap();
    fs::create_dir_all(sb.join("plain")).unwrap();
    for (dir, code, msg) in [
        (
            "missing",
            111,
            "svscanctl: fatal: unable to control missing: No such file or directory\n",
        ),
        (
            "plain",
            100,
            "svscanctl: fatal: unable to control plain: scanner not listening\n",
        ),
        (
            "idle",
            100,
            "svscanctl: fatal: something is wrong with the idle/.s6-svscan directory\n",
        ),
    ] {
        sb.svkit("svscanctl")
            .args(["-a", dir])
            .assert()
            .code(code)
            .stderr(msg);
        sb.s6("s6-svscanctl").args(["-a", dir]).assert().code(code);
    }
    sb.svkit("svscanctl")
        .args(["-x", "plain"])
        .assert()
        .code(100)
        .stderr("svscanctl: usage: svscanctl [ -zabhitqnN ] svscandir\n");
    sb.svkit("svscanctl").assert().code(100);
}

#[test]
fn ten_thousand_services_by_default() {
    let mut sb = Sandbox::new();
    fs::create_dir_all(sb.join("scan")).unwrap();
    for i in 0..10_000 {
        let d = sb.join(&format!("scan/s{i}"));
        fs::create_dir(&d).unwrap();
        fs::write(d.join("down"), "").unwrap();
        write_exec(&d.join("run"), "#!/bin/sh\nexec sleep 1000\n");
    }
    let pid = sb.svscan("scan");
    let mut up = 0;
    poll_until_within(
        std::time::Duration::from_secs(180),
        "10,000 supervisors",
        || {
            while up < 10_000 && svkit_core::status::read(&sb.join(&format!("scan/s{up}"))).is_ok()
            {
                up += 1;
            }
            up == 10_000
        },
    );
    assert!(sb.log("svscan").is_empty(), "{}", sb.log("svscan"));
    sb.svkit("svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    assert_eq!(sb.wait_exit(pid), Some(0));
}

#[test]
fn readiness_fd_gets_a_newline_and_a_closed_one_is_refused() {
    let mut sb = Sandbox::new();
    service(&sb, "a").run("exec sleep 1000");
    scan_with(&sb, &["a"]);
    let mut c = Command::new("sh");
    c.args(["-c", "exec \"$0\" svscan -d 3 scan 3> ready"])
        .arg(svkit_bin());
    let pid = sb.spawn(c, "svscan.log");
    assert_eq!(read_when(&sb.join("ready"), |s| !s.is_empty()), "\n");
    let out = Command::new("sh")
        .args(["-c", "exec \"$0\" svscan -d 9 scan 9>&-"])
        .arg(svkit_bin())
        .current_dir(sb.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "svscan: fatal: invalid notification fd 9: Bad file descriptor\n"
    );
    sb.svkit("svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    assert_eq!(sb.wait_exit(pid), Some(0));
}

#[test]
fn a_pruned_service_put_back_starts_again() {
    let mut sb = Sandbox::new();
    // finish takes its time, so the service is put back while still stopping.
    service(&sb, "a")
        .run("exec sleep 1000")
        .finish("read x < ../../gate");
    sb.fifo("gate");
    scan_with(&sb, &["a"]);
    let pid = sb.svscan("scan");
    let a = sb.join("scan/a");
    wait_for(&a, Goal::UP);
    let first = read_status(&a).pid;
    let old_sup = sb.supervisor_of(&a);
    fs::remove_file(&a).unwrap();
    sb.svkit("svscanctl")
        .args(["-an", "scan"])
        .assert()
        .success();
    poll_until("finish running", || {
        read_status(&sb.join("services/a")).finishing
    });
    link(&sb, "a");
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    fs::write(sb.join("gate"), "go\n").unwrap();
    poll_until("a supervised again, by a new supervisor", || {
        svkit_core::lock::holder(&a.join("supervise/lock"))
            .ok()
            .flatten()
            .is_some_and(|p| p != old_sup)
    });
    wait_for(&a, Goal::UP);
    assert_ne!(read_status(&a).pid, first);
    sb.svkit("svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    fs::write(sb.join("gate"), "go\n").unwrap();
    assert_eq!(sb.wait_exit(pid), Some(0));
}

#[test]
fn a_new_scanner_leaves_a_killed_scanners_supervisors_alone_then_stops_them() {
    let mut sb = Sandbox::new();
    service(&sb, "a").run("exec sleep 1000");
    scan_with(&sb, &["a"]);
    let first = sb.svscan("scan");
    let a = sb.join("scan/a");
    wait_for(&a, Goal::UP);
    let sup = sb.supervisor_of(&a);
    let svc = read_status(&a).pid;
    signal(first, Signal::SIGKILL);
    sb.wait_exit(first);
    let second = sb.svscan("scan");
    poll_until("the warning about the foreign supervisor", || {
        sb.log("svscan").contains(&format!(
            "svscan: warning: a is already supervised by pid {sup}: waiting for it to exit\n"
        ))
    });
    assert_eq!(sb.supervisor_of(&a), sup, "no second supervisor");
    assert_eq!(read_status(&a).pid, svc, "the service was not touched");
    // -t stops the foreign supervisor too, and waits for it.
    sb.svkit("svscanctl")
        .args(["-t", "scan"])
        .assert()
        .success();
    assert_eq!(sb.wait_exit(second), Some(0));
    sb.svkit("svok").arg(&a).assert().code(1);
    assert_eq!(read_status(&a).signal(), Some(15));
}
