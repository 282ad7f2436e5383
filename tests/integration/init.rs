//! /init in the container harness (tools/container.sh: new PID, mount and network
//! namespaces, chroot): boot, services, CMD, environment, shutdown and exit codes,
//! as an s6-overlay image would see them.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use nix::sys::signal::Signal;
use svkit_core::event::Goal;

use crate::util::*;

/// The seed sample (tools/sample/etc) as the image's /etc.
fn seed_etc(sb: &Sandbox) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/sample/etc");
    let st = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", src.display()))
        .arg(sb.join("etc"))
        .status();
    assert!(st.unwrap().success());
}

/// A service in the image's /etc/services.d.
fn svc(sb: &Sandbox, name: &str) -> ServiceDir {
    sb.service(&format!("etc/services.d/{name}"))
}

/// An executable file in the image's /etc.
fn etc_script(sb: &Sandbox, path: &str, body: &str) {
    let p = sb.join(&format!("etc/{path}"));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    write_exec(&p, body);
}

fn exit_of(sb: &mut Sandbox, c: &Container) -> i32 {
    sb.wait_exit(c.pid).expect("the harness exits normally")
}

#[test]
fn seed_sample_serves_then_stops_on_sigterm() {
    let mut sb = Sandbox::new();
    seed_etc(&sb);
    let c = sb.container(&["-e", "PORT=8080"], &[]);
    c.wait_service("service1", Goal::UP);
    c.wait_service("service2", Goal::UP);
    let init = c.init_pid();
    // Each service runs under its own supervisor, and service1 answers HTTP.
    let py = host_pid(init, read_status(&c.service("service1")).pid);
    // The supervised pid goes through with-contenv and sh before it is python.
    poll_until("service1's run to exec python", || {
        fs::read_to_string(format!("/proc/{py}/cmdline")).is_ok_and(|c| c.contains("http.server"))
    });
    let mut answer = String::new();
    poll_until("service1 answering HTTP", || {
        let out = Command::new("nsenter")
            .args(["-t", &init.to_string(), "-n", "/usr/bin/python3", "-c"])
            .arg("import urllib.request as u; print(u.urlopen('http://127.0.0.1:8080/').status)")
            .output()
            .unwrap();
        answer = stdout_of(&out);
        answer.trim() == "200"
    });
    signal(init, Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
    let out = sb.log("container");
    for line in [
        "service1 exited. code=256\n",
        "service2 exited. code=256\n",
        "[cont-finish.d] executing container finish scripts...\n",
        "cont-finish: cleaning up\n",
        "[cont-finish.d] done.\n",
    ] {
        assert!(out.contains(line), "{line:?} missing from:\n{out}");
    }
}

#[test]
fn v2_finish_idiom_stops_the_container_with_the_code_it_wrote() {
    let mut sb = Sandbox::new();
    svc(&sb, "main").run("exec sleep 1000").finish(
        "echo 42 > /run/s6-linux-init-container-results/exitcode\nexec s6-svscanctl -t /var/run/s6/services",
    );
    svc(&sb, "other").run("exec sleep 1000");
    let c = sb.container(&[], &[]);
    c.wait_service("main", Goal::UP);
    c.wait_service("other", Goal::UP);
    sb.svkit("svc")
        .arg("-k")
        .arg(c.service("main"))
        .assert()
        .success();
    assert_eq!(exit_of(&mut sb, &c), 42);
}

#[test]
fn cmd_exit_code_becomes_the_containers() {
    for (cmd, code) in [("exit 3", 3), ("kill -KILL $$", 137), ("exit 0", 0)] {
        let mut sb = Sandbox::new();
        let c = sb.container(&[], &["sh", "-c", cmd]);
        assert_eq!(exit_of(&mut sb, &c), code, "{cmd}");
        assert!(
            sb.log("container")
                .contains(&format!("[cmd] sh exited {code}\n"))
        );
    }
}

#[test]
fn halt_from_a_service_stops_the_container() {
    let mut sb = Sandbox::new();
    svc(&sb, "a").run("echo 9 > /run/s6-linux-init-container-results/exitcode\n/run/s6/basedir/bin/poweroff\nexec sleep 1000");
    let c = sb.container(&[], &[]);
    assert_eq!(exit_of(&mut sb, &c), 9);
}

#[test]
fn container_environment_reaches_with_contenv_services_only() {
    let mut sb = Sandbox::new();
    svc(&sb, "withenv").exec(
        "run",
        "#!/usr/bin/with-contenv sh\nprintf '%s' \"${SECRET-unset}\" > /run/out-with\nprintf '%s' \"${NEWVAR-unset}\" > /run/out-new\nprintcontenv SECRET > /run/out-print\nexec sleep 1000\n",
    );
    svc(&sb, "plain").run("printf '%s' \"${SECRET-unset}\" > /run/out-plain\nexec sleep 1000");
    etc_script(
        &sb,
        "cont-init.d/10-add",
        "#!/bin/sh\nprintf 'from-init\\n' > /run/s6/container_environment/NEWVAR\n",
    );
    let c = sb.container(&["-e", "SECRET=s3cret"], &[]);
    c.wait_service("withenv", Goal::UP);
    c.wait_service("plain", Goal::UP);
    assert_eq!(
        read_when(&c.path("/run/out-with"), |s| !s.is_empty()),
        "s3cret"
    );
    assert_eq!(
        read_when(&c.path("/run/out-new"), |s| !s.is_empty()),
        "from-init"
    );
    assert_eq!(
        read_when(&c.path("/run/out-print"), |s| !s.is_empty()),
        "s3cret\n"
    );
    assert_eq!(
        read_when(&c.path("/run/out-plain"), |s| !s.is_empty()),
        "unset"
    );
    let dump = c.path("/run/s6/container_environment");
    assert_eq!(
        fs::metadata(&dump).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(fs::read(dump.join("SECRET")).unwrap(), b"s3cret\n");
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
}

#[test]
fn keep_env_gives_everyone_the_environment() {
    let mut sb = Sandbox::new();
    svc(&sb, "plain").run("printf '%s' \"${SECRET-unset}\" > /run/out-plain\nexec sleep 1000");
    let c = sb.container(&["-e", "SECRET=s3cret", "-e", "S6_KEEP_ENV=1"], &[]);
    c.wait_service("plain", Goal::UP);
    assert_eq!(
        read_when(&c.path("/run/out-plain"), |s| !s.is_empty()),
        "s3cret"
    );
    assert!(
        !c.path("/run/s6/container_environment").exists(),
        "no dump with S6_KEEP_ENV"
    );
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
}

#[test]
fn awkward_values_survive_the_round_trip() {
    let mut sb = Sandbox::new();
    // Values only a file can carry (newlines, NUL-free bytes) come from cont-init.
    etc_script(
        &sb,
        "cont-init.d/10-values",
        "#!/bin/sh\nd=/run/s6/container_environment\nprintf 'l1\\nl2\\n' > $d/MULTI\nprintf '' > $d/GONE\nprintf '\\n' > $d/BLANK\nprintf '\\377\\376x' > $d/BYTES\nprintf '  tail  ' > $d/TAIL\n",
    );
    let mut body = String::from("#!/usr/bin/with-contenv sh\n");
    for v in ["SPACES", "EMPTY", "MULTI", "GONE", "BLANK", "BYTES", "TAIL"] {
        body.push_str(&format!("printf '%s' \"${{{v}-unset}}\" > /run/out-{v}\n"));
    }
    body.push_str("touch /run/out-done\nexec sleep 1000\n");
    svc(&sb, "reader").exec("run", &body);
    let c = sb.container(
        &["-e", "SPACES=a  b c", "-e", "EMPTY=", "-e", "GONE=x"],
        &[],
    );
    wait_file(&c.path("/run/out-done"));
    let got = |v: &str| fs::read(c.path(&format!("/run/out-{v}"))).unwrap();
    assert_eq!(got("SPACES"), b"a  b c");
    assert_eq!(got("EMPTY"), b"", "an empty value stays set and empty");
    assert_eq!(got("MULTI"), b"l1\nl2");
    assert_eq!(got("GONE"), b"unset", "an empty file unsets");
    assert_eq!(got("BLANK"), b"");
    assert_eq!(got("BYTES"), b"\xff\xfex");
    assert_eq!(got("TAIL"), b"  tail  ");
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
}

#[test]
fn cont_init_failure_follows_s6_behaviour_if_stage2_fails() {
    for b in [0, 1, 2] {
        let mut sb = Sandbox::new();
        etc_script(&sb, "cont-init.d/10-fail", "#!/bin/sh\nexit 1\n");
        svc(&sb, "a").run("touch /run/started\nexec sleep 1000");
        let c = sb.container(&["-e", &format!("S6_BEHAVIOUR_IF_STAGE2_FAILS={b}")], &[]);
        let warning = "init-stage2: warning: some cont-init.d scripts exited nonzero\n";
        if b < 2 {
            c.wait_service("a", Goal::UP);
            signal(c.init_pid(), Signal::SIGTERM);
            assert_eq!(exit_of(&mut sb, &c), 0, "b={b}");
            assert_eq!(sb.log("container").contains(warning), b == 1, "b={b}");
        } else {
            assert_eq!(exit_of(&mut sb, &c), 1, "b=2 stops the container with 1");
            let out = sb.log("container");
            assert!(
                out.contains(warning)
                    && out.contains("init-stage2: fatal: stopping the container\n")
            );
            assert!(!c.path("/run/started").exists(), "services never started");
        }
    }
}

#[test]
fn a_service_ignoring_term_is_killed_after_the_grace_times() {
    let mut sb = Sandbox::new();
    svc(&sb, "stubborn").run("trap '' TERM\nexec sleep 1000");
    let c = sb.container(
        &[
            "-e",
            "S6_SERVICES_GRACETIME=100",
            "-e",
            "S6_KILL_GRACETIME=100",
        ],
        &[],
    );
    c.wait_service("stubborn", Goal::UP);
    let init = c.init_pid();
    let sleeper = host_pid(init, read_status(&c.service("stubborn")).pid);
    signal(init, Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
    assert!(
        sb.log("container")
            .contains("[s6-finish] sending all processes the KILL signal and exiting.\n")
    );
    assert!(!Path::new(&format!("/proc/{sleeper}")).exists());
}

/// The grace times are bounds: with every service honouring TERM, the container
/// is gone long before them (here they are 10 minutes, and the test's own bound
/// on the wait is 10 seconds).
#[test]
fn grace_times_are_upper_bounds() {
    let mut sb = Sandbox::new();
    seed_etc(&sb);
    let c = sb.container(
        &[
            "-e",
            "S6_SERVICES_GRACETIME=600000",
            "-e",
            "S6_KILL_GRACETIME=600000",
        ],
        &[],
    );
    c.wait_service("service1", Goal::UP);
    c.wait_service("service2", Goal::UP);
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
    assert!(!sb.log("container").contains("KILL signal"));
}

#[test]
fn orphans_are_reaped_by_pid_1() {
    let mut sb = Sandbox::new();
    svc(&sb, "forker").run(
        "i=0\nwhile [ $i -lt 200 ]; do ( (echo x >> /run/orphans) & ); i=$((i+1)); done\nexec sleep 1000",
    );
    let c = sb.container(&[], &[]);
    read_when(&c.path("/run/orphans"), |s| s.len() == 400);
    let init = c.init_pid();
    poll_until("no zombie left under PID 1", || {
        fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .unwrap_or_default()
            .split_whitespace()
            .all(|p| {
                !fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                    s.rsplit_once(')')
                        .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
                })
            })
    });
    signal(init, Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
}

#[test]
fn init_not_pid_1_carries_on() {
    let mut sb = Sandbox::new();
    seed_etc(&sb);
    let c = sb.container(&["-n"], &[]);
    c.wait_service("service1", Goal::UP);
    c.wait_service("service2", Goal::UP);
    let shell = c.init_pid(); // PID 1 is a shell; /init is its child
    let init: u32 = fs::read_to_string(format!("/proc/{shell}/task/{shell}/children"))
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    signal(init, Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
    let out = sb.log("container");
    assert!(out.contains("init: warning: not running as PID 1"), "{out}");
    assert!(out.contains("service1 exited. code=256"));
}

#[test]
fn receive_signals_forwards_term_to_the_cmd() {
    let mut sb = Sandbox::new();
    let c = sb.container(
        &["-e", "S6_CMD_RECEIVE_SIGNALS=1"],
        &[
            "sh",
            "-c",
            "trap 'exit 7' TERM; touch /run/cmd-up; sleep 1000 & wait",
        ],
    );
    wait_file(&c.path("/run/cmd-up"));
    poll_until("the cmd pid file", || c.path("/run/s6/cmdpid").exists());
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 7);
}

#[test]
fn an_essential_service_takes_the_container_down_with_its_code() {
    for (how, code) in [("exit", 5), ("kill", 137)] {
        let mut sb = Sandbox::new();
        svc(&sb, "core")
            .run("mkfifo /run/gate\nread x < /run/gate\nexit 5")
            .file("essential", "");
        svc(&sb, "other").run("exec sleep 1000");
        let c = sb.container(&[], &[]);
        c.wait_service("core", Goal::UP);
        c.wait_service("other", Goal::UP);
        if how == "exit" {
            poll_until("the service's gate", || c.path("/run/gate").exists());
            fs::write(c.path("/run/gate"), "go\n").unwrap();
        } else {
            sb.svkit("svc")
                .arg("-k")
                .arg(c.service("core"))
                .assert()
                .success();
        }
        assert_eq!(exit_of(&mut sb, &c), code, "{how}");
        assert!(
            sb.log("container")
                .contains(&format!("essential service core exited {code}"))
        );
    }
}

#[test]
fn stage2_hook_runs_first_and_its_failure_can_stop_the_container() {
    let mut sb = Sandbox::new();
    etc_script(&sb, "hook", "#!/bin/sh\ntouch /run/hook-ran\nexit 3\n");
    etc_script(
        &sb,
        "cont-init.d/10-after",
        "#!/bin/sh\ntouch /run/cont-init-ran\n",
    );
    let c = sb.container(
        &[
            "-e",
            "S6_STAGE2_HOOK=/etc/hook",
            "-e",
            "S6_BEHAVIOUR_IF_STAGE2_FAILS=2",
        ],
        &[],
    );
    assert_eq!(exit_of(&mut sb, &c), 3);
    assert!(c.path("/run/hook-ran").exists() && !c.path("/run/cont-init-ran").exists());
}

#[test]
fn bad_scripts_get_clear_messages_and_nothing_hangs() {
    let mut sb = Sandbox::new();
    // Not executable: run anyway, with a warning.
    let p = sb.join("etc/cont-init.d/10-noexec");
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(&p, "#!/bin/sh\ntouch /run/noexec-ran\n").unwrap();
    svc(&sb, "noexec").file(
        "run",
        "#!/bin/sh\ntouch /run/noexec-svc-ran\nexec sleep 1000\n",
    );
    // Windows line endings: said plainly.
    svc(&sb, "crlf").file("run", "#!/bin/sh\r\nexec sleep 1000\r\n");
    fs::set_permissions(
        sb.join("etc/services.d/crlf/run"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let c = sb.container(&[], &[]);
    c.wait_service("noexec", Goal::UP);
    wait_file(&c.path("/run/noexec-ran"));
    wait_file(&c.path("/run/noexec-svc-ran"));
    poll_until("supervise's warning about crlf", || {
        sb.log("container")
            .contains("supervise crlf: warning: unable to spawn ./run")
    });
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
    let out = sb.log("container");
    for want in [
        "init-stage2: warning: /etc/cont-init.d/10-noexec is not executable: running it with /bin/sh",
        "init-stage2: warning: /etc/services.d/noexec/run is not executable: running it anyway",
        "init-stage2: warning: /etc/services.d/crlf/run has Windows (CRLF) line endings",
    ] {
        assert!(out.contains(want), "{want:?} missing from:\n{out}");
    }
}

#[test]
fn no_services_d_and_a_read_only_run_still_boot() {
    let mut sb = Sandbox::new();
    let c = sb.container(
        &["-R"],
        &["sh", "-c", "test -w /run && echo ok > /run/out && exit 4"],
    );
    assert_eq!(exit_of(&mut sb, &c), 4);
    let out = sb.log("container");
    assert!(
        out.contains("[s6-init] /run is not writable: mounting a tmpfs on it"),
        "{out}"
    );
}

#[test]
fn verbosity_0_silences_progress_and_warnings() {
    let mut sb = Sandbox::new();
    etc_script(&sb, "cont-init.d/10-fail", "#!/bin/sh\nexit 1\n");
    let c = sb.container(
        &[
            "-e",
            "S6_VERBOSITY=0",
            "-e",
            "S6_BEHAVIOUR_IF_STAGE2_FAILS=1",
        ],
        &["sh", "-c", "echo from the cmd; exit 2"],
    );
    assert_eq!(exit_of(&mut sb, &c), 2);
    assert_eq!(sb.log("container"), "from the cmd\n");
}

#[test]
fn read_only_root_needs_no_writable_run() {
    let mut sb = Sandbox::new();
    let c = sb.container(
        &["-R", "-e", "S6_READ_ONLY_ROOT=1"],
        &["sh", "-c", "test -w /run"],
    );
    assert_eq!(exit_of(&mut sb, &c), 0);
    let out = sb.log("container");
    assert!(
        out.contains(
            "[s6-init] read-only root\n[s6-init] /run is not writable: mounting a tmpfs on it\n"
        ),
        "{out}"
    );
}

/// Under a terminal (`docker run -it`), the CMD gets it as its controlling
/// terminal, so an interactive shell has job control.
#[test]
fn the_cmd_gets_the_terminal() {
    let mut sb = Sandbox::new();
    fs::create_dir_all(sb.join("etc")).unwrap();
    let harness = format!(
        "sh {}/tools/container.sh -r {} -b {} {} sh -c 'read pid comm state ppid pgrp session tty rest < /proc/self/stat; echo tty_nr=$tty'",
        env!("CARGO_MANIFEST_DIR"),
        sb.join("root").display(),
        svkit_bin().display(),
        sb.join("etc").display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &harness, "/dev/null"]);
    let pid = sb.spawn(c, "script.log");
    assert_eq!(sb.wait_exit(pid), Some(0));
    let out = sb.log("script");
    let tty = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("tty_nr="))
        .unwrap_or_else(|| panic!("no tty line in:\n{out}"));
    assert_ne!(tty, "0", "the CMD has a controlling terminal");
}

#[test]
fn removing_the_essential_file_allows_a_restart() {
    let mut sb = Sandbox::new();
    svc(&sb, "core")
        .run("exec sleep 1000")
        .file("essential", "");
    let c = sb.container(&[], &[]);
    c.wait_service("core", Goal::UP);
    let before = read_status(&c.service("core")).pid;
    fs::remove_file(c.service("core").join("essential")).unwrap();
    let mut w = watch(&c.service("core"));
    sb.svkit("svc")
        .arg("-k")
        .arg(c.service("core"))
        .assert()
        .success();
    wait_on(&mut w, Goal::DOWN);
    wait_on(&mut w, Goal::UP);
    assert_ne!(
        read_status(&c.service("core")).pid,
        before,
        "restarted, container still up"
    );
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
}

/// S6_LOGGING_PREFIX: two services writing interleaved lines (one on stderr)
/// come out on the container's output as `[name] line`, each line whole.
#[test]
fn prefix_mode_names_every_services_lines() {
    let mut sb = Sandbox::new();
    svc(&sb, "svc-a")
        .run("i=0\nwhile [ $i -lt 300 ]; do i=$((i+1)); echo \"a line $i of the first service\"; done\nexec sleep 1000")
        .finish("echo svc-a finished with $1 $2");
    svc(&sb, "svc-b").run("i=0\nwhile [ $i -lt 300 ]; do i=$((i+1)); echo \"b line $i of the second service\" >&2; done\nexec sleep 1000");
    // A service with its own logger keeps it.
    svc(&sb, "svc-c").run("echo c-own-logger\nexec sleep 1000");
    svc(&sb, "svc-c/log").run("exec cat > /run/c.out");
    let c = sb.container(&["-e", "S6_LOGGING_PREFIX=1"], &[]);
    poll_until("both services' last lines", || {
        let out = sb.log("container");
        out.contains("[svc-a] a line 300 ") && out.contains("[svc-b] b line 300 ")
    });
    poll_until("svc-c's own logger", || {
        fs::read_to_string(c.path("/run/c.out")).is_ok_and(|s| s == "c-own-logger\n")
    });
    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(exit_of(&mut sb, &c), 0);
    let out = sb.log("container");
    let mut seen = [0, 0];
    for line in out.lines().filter(|l| l.contains(" line ")) {
        let (who, rest) = line.split_once("] ").expect(line);
        let (k, word) = match who {
            "[svc-a" => (0, "first"),
            "[svc-b" => (1, "second"),
            _ => panic!("unexpected prefix in {line:?}"),
        };
        seen[k] += 1;
        assert_eq!(
            rest,
            format!("{} line {} of the {word} service", ["a", "b"][k], seen[k]),
            "whole and in order"
        );
    }
    assert_eq!(seen, [300, 300]);
    assert!(
        !out.contains("c-own-logger"),
        "a logged service is left alone"
    );
}

/// S6_LOGGING=1: services, cont-init and the CMD go to /run/uncaught-logs (with
/// ISO stamps by default) and are copied to the container's stderr; =2: only to
/// the files. The CMD's exit code is still the container's.
#[test]
fn catch_all_logger_keeps_what_nobody_else_logs() {
    for mode in ["1", "2"] {
        let mut sb = Sandbox::new();
        svc(&sb, "talker").run("echo hello from talker\nexec sleep 1000");
        etc_script(
            &sb,
            "cont-init.d/10-hi",
            "#!/bin/sh\necho cont-init says hi\n",
        );
        let c = sb.container(
            &["-e", &format!("S6_LOGGING={mode}"), "-e", "S6_CATCHALL_USER=nobody"],
            &["sh", "-c", "echo cmd output; until grep -q 'hello from talker' /run/uncaught-logs/current; do sleep 0.05; done; exit 3"],
        );
        assert_eq!(exit_of(&mut sb, &c), 3, "mode {mode}");
        let current = fs::read_to_string(c.path("/run/uncaught-logs/current")).unwrap();
        for needle in ["hello from talker", "cont-init says hi", "cmd output"] {
            let line = current
                .lines()
                .find(|l| l.ends_with(needle))
                .unwrap_or_else(|| panic!("{needle} in {current}"));
            assert_eq!(&line[4..5], "-", "ISO stamp first: {line}");
        }
        let meta = fs::metadata(c.path("/run/uncaught-logs")).unwrap();
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&meta),
            65534,
            "owned by S6_CATCHALL_USER"
        );
        assert_eq!(meta.permissions().mode() & 0o7777, 0o2750);
        let console = sb.log("container");
        assert_eq!(
            console.contains("hello from talker"),
            mode == "1",
            "mode {mode}:\n{console}"
        );
    }
}

/// S6_SYSLOGD: syslog(3) messages sent to /dev/log are sorted by facility and
/// priority into /var/log/syslogd/…, as with s6-overlay's syslogd overlay.
#[test]
fn syslogd_sorts_dev_log_messages() {
    let mut sb = Sandbox::new();
    let c = sb.container(
        &["-e", "S6_SYSLOGD=1"],
        &[
            "sh",
            "-c",
            "logger -u /dev/log -p daemon.err svkit-daemon-err && logger -u /dev/log -p user.info svkit-user-info && logger -u /dev/log -p auth.notice svkit-auth && until grep -q svkit-user-info /var/log/syslogd/everything/current 2>/dev/null; do sleep 0.05; done",
        ],
    );
    assert_eq!(exit_of(&mut sb, &c), 0, "{}", sb.log("container"));
    let read = |d: &str| {
        fs::read_to_string(c.path(&format!("/var/log/syslogd/{d}/current"))).unwrap_or_default()
    };
    for (dir, has, lacks) in [
        ("daemon", "svkit-daemon-err", "svkit-user-info"),
        ("errors", "svkit-daemon-err", "svkit-user-info"),
        ("user", "svkit-user-info", "svkit-daemon-err"),
        ("messages", "svkit-user-info", "svkit-daemon-err"),
        ("secure", "svkit-auth", "svkit-user-info"),
        ("everything", "svkit-user-info", "svkit-auth"),
    ] {
        let text = read(dir);
        assert!(text.contains(has), "{dir} should have {has}: {text:?}");
        assert!(
            !text.contains(lacks),
            "{dir} should not have {lacks}: {text:?}"
        );
    }
    assert!(
        read("daemon")
            .lines()
            .any(|l| l.starts_with("daemon.err: ")),
        "{}",
        read("daemon")
    );
    let meta = fs::metadata(c.path("/var/log/syslogd/user")).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        32761,
        "owned by sysllog's fallback id"
    );
}

/// `docker run --read-only --tmpfs /run`: the root is read-only and /run a
/// noexec tmpfs. Services of services.d and s6-rc longruns still start (their
/// scripts run from the image through links), and the container stops cleanly.
#[test]
fn read_only_root_with_a_noexec_run_starts_every_service() {
    let mut sb = Sandbox::new();
    svc(&sb, "legacy").run("exec sleep 1000");
    etc_script(
        &sb,
        "s6-overlay/s6-rc.d/app/run",
        "#!/bin/sh\nexec sleep 1001\n",
    );
    fs::write(sb.join("etc/s6-overlay/s6-rc.d/app/type"), "longrun\n").unwrap();
    fs::create_dir_all(sb.join("etc/s6-overlay/s6-rc.d/user/contents.d")).unwrap();
    fs::write(sb.join("etc/s6-overlay/s6-rc.d/user/type"), "bundle\n").unwrap();
    fs::write(sb.join("etc/s6-overlay/s6-rc.d/user/contents.d/app"), "").unwrap();
    let c = sb.container(
        &["-O", "-e", "S6_CMD_WAIT_FOR_SERVICES=1"],
        &[
            "sh",
            "-c",
            "grep -q ' /run .*noexec' /proc/mounts || exit 7; touch /probe 2>/dev/null && exit 8; svwait -u -t 5000 /run/service/legacy /run/service/app || exit 9; svstat /run/service/legacy /run/service/app",
        ],
    );
    let code = exit_of(&mut sb, &c);
    let out = sb.log("container");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("/run is mounted noexec"), "{out}");
    assert!(
        out.contains("/run/service/legacy: up") && out.contains("/run/service/app: up"),
        "{out}"
    );
}

/// `USER 1000` with a `/run` it cannot write (root's, read-only — Kubernetes'
/// `runAsNonRoot` without an emptyDir): `/init` says so in one line and runs
/// the tree in /tmp/svkit, exported as SVKIT_RUNTIME_DIR; services, with-contenv,
/// the probe and `halt` all find it there, root-only tools refuse in one line,
/// and the exit code written there is the container's.
#[test]
fn a_user_whose_run_is_not_writable_gets_the_fallback_runtime_directory() {
    let mut sb = Sandbox::new();
    svc(&sb, "app").run("exec sleep 1000");
    etc_script(
        &sb,
        "cont-init.d/10-env",
        "#!/command/with-contenv sh\necho \"cont-init: FOO=$FOO uid=$(id -u) dir=$SVKIT_RUNTIME_DIR\"\n",
    );
    let c = sb.container(
        &[
            "-O",
            "-R",
            "-u",
            "1000:1000",
            "-e",
            "FOO=bar",
            "-e",
            "S6_SYSLOGD=1",
            "-e",
            "S6_CMD_WAIT_FOR_SERVICES=1",
        ],
        &[
            "sh",
            "-c",
            "svwait -u -t 5000 \"$SVKIT_RUNTIME_DIR/service/app\" || exit 9
             svstat --all-ready || exit 10
             with-contenv sh -c 'echo \"cmd: FOO=$FOO\"'
             s6-setuidgid root true; echo \"setuidgid: $?\"
             echo 7 > \"$SVKIT_RUNTIME_DIR/s6-linux-init-container-results/exitcode\"
             \"$SVKIT_RUNTIME_DIR/s6/basedir/bin/halt\"
             exec sleep 1000",
        ],
    );
    let code = exit_of(&mut sb, &c);
    let out = sb.log("container");
    assert_eq!(code, 7, "{out}");
    for line in [
        "init: warning: /run is not writable by uid 1000: the runtime directory is /tmp/svkit (SVKIT_RUNTIME_DIR chooses another)\n",
        "cont-init: FOO=bar uid=1000 dir=/tmp/svkit\n",
        "all ready: 1 service up\n",
        "cmd: FOO=bar\n",
        "s6-setuidgid: fatal: unable to switch to uid 0 gid 0: only root can switch users, and this runs as uid 1000\nsetuidgid: 111\n",
        "S6_SYSLOGD needs root",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
}

/// SVKIT_RUNTIME_DIR moves the whole tree (here as root, /run writable).
#[test]
fn svkit_runtime_dir_moves_the_tree() {
    let mut sb = Sandbox::new();
    svc(&sb, "app").run("exec sleep 1000");
    let c = sb.container(
        &[
            "-e",
            "SVKIT_RUNTIME_DIR=/tmp/rt",
            "-e",
            "S6_CMD_WAIT_FOR_SERVICES=1",
        ],
        &[
            "sh",
            "-c",
            "svwait -u -t 5000 /tmp/rt/service/app || exit 9
             test -e /run/service && exit 10
             s6-rc -a list
             exit 3",
        ],
    );
    let code = exit_of(&mut sb, &c);
    let out = sb.log("container");
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("runtime directory /tmp/rt (SVKIT_RUNTIME_DIR)"),
        "{out}"
    );
    assert!(
        out.contains("legacy-services\n"),
        "s6-rc finds its live state: {out}"
    );
}

/// A runtime directory that cannot be used is fatal with s6's wording and 111;
/// S6_LOGGING on a noexec runtime directory is left out with a warning instead
/// of a logger that can never start (everyone would block on its FIFO).
#[test]
fn unusable_runtime_directories_and_a_noexec_catch_all_say_why() {
    let mut sb = Sandbox::new();
    let c = sb.container(
        &["-u", "1000:1000", "-e", "SVKIT_RUNTIME_DIR=/etc/rt"],
        &["true"],
    );
    assert_eq!(exit_of(&mut sb, &c), 111);
    assert_eq!(
        sb.log("container"),
        "init: fatal: unable to use /etc/rt as the runtime directory: Permission denied\n"
    );

    let mut sb = Sandbox::new();
    let c = sb.container(
        &["-O", "-e", "S6_LOGGING=1"],
        &["sh", "-c", "echo from the cmd; exit 6"],
    );
    let code = exit_of(&mut sb, &c);
    let out = sb.log("container");
    assert_eq!(code, 6, "{out}");
    assert!(
        out.contains("init: warning: S6_LOGGING=1 needs a runtime directory that allows exec (/run is noexec): no catch-all logger, everything goes to the console\n"),
        "{out}"
    );
    assert!(out.contains("from the cmd\n"), "{out}");
}
