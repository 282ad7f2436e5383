//! s6-rc service definitions under /init in the container harness: a tree laid
//! out like the linuxserver.io images boots in dependency order and stops in
//! reverse; bad definitions stop the container before anything starts.

use std::fs;
use std::path::Path;

use nix::sys::signal::Signal;

use crate::util::*;

/// A file in the image's /etc (executable when it starts with `#!`).
fn etc_file(sb: &Sandbox, path: &str, content: &str) {
    let p = sb.join(&format!("etc/{path}"));
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    if content.starts_with("#!") {
        write_exec(&p, content);
    } else {
        fs::write(p, content).unwrap();
    }
}

/// `etc/s6-overlay/s6-rc.d/NAME/FILE`.
fn rc_file(sb: &Sandbox, name: &str, file: &str, content: &str) {
    etc_file(sb, &format!("s6-overlay/s6-rc.d/{name}/{file}"), content);
}

/// The host's passwd and group, plus the linuxserver user `abc`.
fn with_abc(sb: &Sandbox) {
    let passwd = fs::read_to_string("/etc/passwd").unwrap();
    let group = fs::read_to_string("/etc/group").unwrap();
    etc_file(
        sb,
        "passwd",
        &format!("{passwd}abc:x:911:911::/config:/bin/false\n"),
    );
    etc_file(sb, "group", &format!("{group}abc:x:911:\n"));
}

/// An `init-*` oneshot in the linuxserver style: `up` names a `run` script with a
/// `with-contenv bash` shebang, which records its name.
fn init_oneshot(sb: &Sandbox, name: &str, dep: &str, down: bool) {
    rc_file(sb, name, "type", "oneshot\n");
    rc_file(
        sb,
        name,
        "up",
        &format!("/etc/s6-overlay/s6-rc.d/{name}/run\n"),
    );
    rc_file(
        sb,
        name,
        "run",
        &format!("#!/usr/bin/with-contenv bash\necho {name} >> /run/order\n"),
    );
    rc_file(sb, name, &format!("dependencies.d/{dep}"), "");
    if down {
        rc_file(
            sb,
            name,
            "down",
            &format!("# execline\n/bin/sh -c \"echo down {name} >> /run/order\"\n"),
        );
    }
    rc_file(sb, "user", &format!("contents.d/{name}"), "");
}

fn linuxserver_tree(sb: &Sandbox) {
    with_abc(sb);
    let chain = [
        ("init-adduser", "base"),
        ("init-envfile", "init-adduser"),
        ("init-config", "init-envfile"),
        ("init-app-config", "init-config"),
        ("init-config-end", "init-app-config"),
    ];
    for (name, dep) in chain {
        init_oneshot(
            sb,
            name,
            dep,
            name.ends_with("config") || name.ends_with("end"),
        );
    }
    // The barrier: an up file that only holds a comment is a no-op.
    rc_file(sb, "init-services", "type", "oneshot\n");
    rc_file(
        sb,
        "init-services",
        "up",
        "# This file doesn't do anything, it's just the end of the downstream image init process\n",
    );
    rc_file(sb, "init-services", "dependencies.d/init-config-end", "");
    rc_file(sb, "user", "contents.d/init-services", "");

    rc_file(sb, "svc-app", "type", "longrun\n");
    rc_file(sb, "svc-app", "notification-fd", "3\n");
    rc_file(
        sb,
        "svc-app",
        "run",
        "#!/usr/bin/with-contenv bash\necho svc-app >> /run/order\n\
         exec s6-notifyoncheck -d -n 300 -w 100 -c \"test -e /tmp/app-ready\" \\\n  \
         s6-setuidgid abc /bin/sh -c 'touch /tmp/app-ready; exec sleep 1000'\n",
    );
    rc_file(sb, "svc-web", "type", "longrun\n");
    rc_file(
        sb,
        "svc-web",
        "run",
        "#!/usr/bin/with-contenv bash\necho svc-web >> /run/order\nexec s6-setuidgid abc sleep 1000\n",
    );
    for svc in ["svc-app", "svc-web"] {
        rc_file(sb, svc, "dependencies.d/init-services", "");
        rc_file(
            sb,
            svc,
            "finish",
            &format!("#!/bin/sh\necho stop {svc} >> /run/order\n"),
        );
        rc_file(sb, "user", &format!("contents.d/{svc}"), "");
    }
    // user2: runs once services.d is up; prints the line linuxserver's CI waits for.
    rc_file(sb, "ci-service-check", "type", "oneshot\n");
    rc_file(sb, "ci-service-check", "dependencies.d/legacy-services", "");
    rc_file(
        sb,
        "ci-service-check",
        "up",
        "foreground { /etc/s6-overlay/scripts/record-state }\necho \"[ls.io-init] done.\"\n",
    );
    rc_file(sb, "user2", "contents.d/ci-service-check", "");
    etc_file(
        sb,
        "s6-overlay/scripts/record-state",
        "#!/bin/sh\necho \"svc-app $(s6-svstat -o up,ready /run/service/svc-app)\" >> /run/order\necho \"svc-web $(s6-svstat -o up /run/service/svc-web)\" >> /run/order\n",
    );
}

fn order(root: &Path) -> Vec<String> {
    fs::read_to_string(root.join("run/order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_linuxserver_tree_boots_in_order_and_stops_in_reverse() {
    let mut sb = Sandbox::new();
    linuxserver_tree(&sb);
    let c = sb.container(&[], &[]);
    poll_until("[ls.io-init] done.", || {
        sb.log("container").contains("[ls.io-init] done.\n")
    });
    let up = order(&c.root);
    assert_eq!(
        up[..5],
        [
            "init-adduser",
            "init-envfile",
            "init-config",
            "init-app-config",
            "init-config-end"
        ],
        "{up:?}"
    );
    let mut svcs = up[5..7].to_vec();
    svcs.sort();
    assert_eq!(svcs, ["svc-app", "svc-web"], "{up:?}");
    // Both longruns were up, and svc-app ready, before the done line.
    assert_eq!(up[7..], ["svc-app true true", "svc-web true"], "{up:?}");
    // They are supervised where s6-overlay puts them, with real s6 tools working.
    assert_eq!(
        fs::read_link(c.path("/run/service/svc-app")).unwrap(),
        Path::new("/run/s6-rc/servicedirs/svc-app")
    );
    let app = c.path("/run/s6-rc/servicedirs/svc-app");
    let out = sb
        .s6("s6-svstat")
        .arg("-o")
        .arg("up,ready")
        .arg(&app)
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "true true\n");
    let cwd = fs::read_link(format!(
        "/proc/{}/cwd",
        host_pid(c.init_pid(), read_status(&app).pid)
    ))
    .unwrap();
    assert!(cwd.ends_with("servicedirs/svc-app"), "{}", cwd.display());

    signal(c.init_pid(), Signal::SIGTERM);
    assert_eq!(sb.wait_exit(c.pid), Some(0));
    let all = order(&c.root);
    let down = &all[9..];
    let mut stops = down[..2].to_vec();
    stops.sort();
    assert_eq!(stops, ["stop svc-app", "stop svc-web"], "{all:?}");
    assert_eq!(
        down[2..],
        [
            "down init-config-end",
            "down init-app-config",
            "down init-config"
        ],
        "{all:?}"
    );
}

#[test]
fn a_failing_oneshot_stops_the_container_under_behaviour_2() {
    let mut sb = Sandbox::new();
    rc_file(&sb, "init-fail", "type", "oneshot\n");
    rc_file(&sb, "init-fail", "up", "/bin/sh -c \"exit 3\"\n");
    rc_file(&sb, "svc-after", "type", "longrun\n");
    rc_file(
        &sb,
        "svc-after",
        "run",
        "#!/bin/sh\necho started >> /run/order\nexec sleep 1000\n",
    );
    rc_file(&sb, "svc-after", "dependencies.d/init-fail", "");
    rc_file(&sb, "user", "contents.d/svc-after", "");
    let c = sb.container(
        &["-e", "S6_BEHAVIOUR_IF_STAGE2_FAILS=2"],
        &["sleep", "1000"],
    );
    assert_eq!(sb.wait_exit(c.pid), Some(1));
    let log = sb.log("container");
    for line in [
        "s6-rc: warning: unable to start service init-fail: command exited 3\n",
        "s6-rc: warning: unable to start service svc-after: dependency init-fail failed to start\n",
    ] {
        assert!(log.contains(line), "{line:?} missing from:\n{log}");
    }
    assert!(order(&c.root).is_empty(), "svc-after must not start");
}

#[test]
fn cycles_and_undefined_names_refuse_to_boot() {
    let mut sb = Sandbox::new();
    for (name, dep) in [("a", "b"), ("b", "a"), ("c", "missing")] {
        rc_file(&sb, name, "type", "oneshot\n");
        rc_file(&sb, name, "up", "/bin/sh -c \"echo ran >> /run/order\"\n");
        rc_file(&sb, name, &format!("dependencies.d/{dep}"), "");
        rc_file(&sb, "user", &format!("contents.d/{name}"), "");
    }
    etc_file(
        &sb,
        "cont-init.d/10-record",
        "#!/bin/sh\necho cont-init >> /run/order\n",
    );
    let c = sb.container(&[], &["sleep", "1000"]);
    assert_eq!(sb.wait_exit(c.pid), Some(100));
    let log = sb.log("container");
    let d = "/etc/s6-overlay/s6-rc.d";
    for line in [
        format!(
            "rc-compile: fatal: dependency cycle: a -> b -> a ({d}/a/dependencies.d/b, {d}/b/dependencies.d/a)\n"
        ),
        format!(
            "rc-compile: fatal: {d}/c/dependencies.d/missing: no service named missing is defined\n"
        ),
    ] {
        assert!(log.contains(&line), "{line:?} missing from:\n{log}");
    }
    assert!(
        order(&c.root).is_empty(),
        "nothing may run: {:?}",
        order(&c.root)
    );
}

/// The shipped s6-rc sample (`tools/sample-rc`, used by Dockerfile.s6-rc.example)
/// as `USER 1000` on a read-only root with a noexec tmpfs /run: the init-*
/// oneshot writes the page from the container environment, the web service
/// becomes ready through its data/check, its logger stamps the access lines on
/// stdout, and the probe passes before the CMD's exit code ends the container.
#[test]
fn the_s6_rc_sample_boots_read_only_as_a_user() {
    let mut sb = Sandbox::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/sample-rc/etc");
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", sample.display()))
        .arg(sb.join("etc"))
        .status()
        .unwrap();
    assert!(st.success());
    let c = sb.container(
        &["-O", "-u", "1000:1000", "-e", "GREETING=hi there"],
        &[
            "sh",
            "-c",
            "svstat --all-ready || exit 9; busybox wget -q -O - http://127.0.0.1:8080/ || exit 10; exit 4",
        ],
    );
    let code = sb.wait_exit(c.pid);
    let out = sb.log("container");
    assert_eq!(code, Some(4), "{out}");
    for line in [
        "init-www: page written\n",
        "all ready: 2 services up\n",
        "hi there\n",
        ": url:/\n",
        ": response:200\n",
    ] {
        assert!(out.contains(line), "{line:?} in:\n{out}");
    }
    assert!(!out.contains("rc-compile: warning"), "{out}");
}
