//! s6-rc service definitions outside a container: `rc-compile` diagnostics,
//! `rc-init` handing longruns to a real scanner, `rc -u/-d change`, `rc -a list`,
//! parallel oneshots — and real s6 tools controlling the longruns `rc` manages.

use std::fs;
use std::path::{Path, PathBuf};

use svkit_core::event::Goal;

use crate::util::*;

/// A source definition `src/NAME` with `type` and files (`dir/` entries are
/// directories, `dependencies.d/x` entries empty files).
fn def(sb: &Sandbox, name: &str, kind: &str, files: &[(&str, &str)]) {
    let d = sb.join(&format!("src/{name}"));
    fs::create_dir_all(&d).unwrap();
    if !kind.is_empty() {
        fs::write(d.join("type"), format!("{kind}\n")).unwrap();
    }
    for (f, content) in files {
        let p = d.join(f);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        if *f == "run" || *f == "finish" {
            write_exec(&p, content);
        } else {
            fs::write(p, content).unwrap();
        }
    }
}

/// A oneshot whose `up` (and `down`) append a line to `SANDBOX/order`.
fn recording_oneshot(sb: &Sandbox, name: &str, deps: &[&str]) {
    let order = sb.join("order");
    let up = format!("/bin/sh -c \"echo up {name} >> {}\"\n", order.display());
    let down = format!("/bin/sh -c \"echo down {name} >> {}\"\n", order.display());
    let mut files: Vec<(String, String)> = vec![("up".into(), up), ("down".into(), down)];
    for d in deps {
        files.push((format!("dependencies.d/{d}"), String::new()));
    }
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    def(sb, name, "oneshot", &files);
}

fn compile(sb: &Sandbox) {
    sb.svkit("rc-compile")
        .arg(sb.join("db"))
        .arg(sb.join("src"))
        .assert()
        .success();
}

/// Compiles `src`, starts a scanner on `scan` and runs rc-init; the live dir.
fn boot(sb: &mut Sandbox) -> PathBuf {
    compile(sb);
    fs::create_dir_all(sb.join("scan")).unwrap();
    sb.svscan("scan");
    poll_until("the scanner", || {
        sb.join("scan/.s6-svscan/control").exists()
    });
    sb.svkit("rc-init")
        .arg("-c")
        .arg(sb.join("db"))
        .arg("-l")
        .arg(sb.join("live"))
        .arg(sb.join("scan"))
        .assert()
        .success();
    sb.join("live")
}

fn rc(sb: &Sandbox, live: &Path, args: &[&str]) -> std::process::Output {
    sb.svkit("s6-rc")
        .arg("-l")
        .arg(live)
        .args(args)
        .output()
        .unwrap()
}

fn lines(out: &std::process::Output) -> Vec<String> {
    stdout_of(out).lines().map(str::to_owned).collect()
}

#[test]
fn compile_names_every_problem_and_writes_nothing() {
    let sb = Sandbox::new();
    recording_oneshot(&sb, "a", &["b"]);
    recording_oneshot(&sb, "b", &["c"]);
    recording_oneshot(&sb, "c", &["a"]);
    recording_oneshot(&sb, "d", &["nope"]);
    def(&sb, "user", "", &[("content.d/d", "")]);
    def(&sb, "bad", "daemon", &[]);
    let out = sb
        .svkit("rc-compile")
        .arg(sb.join("db"))
        .arg(sb.join("src"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let src = sb.join("src");
    let s = src.display();
    for line in [
        format!("rc-compile: warning: {s}/user/content.d: ignored: did you mean contents.d?"),
        format!("rc-compile: fatal: {s}/d/dependencies.d/nope: no service named nope is defined"),
        format!(
            "rc-compile: fatal: dependency cycle: a -> b -> c -> a ({s}/a/dependencies.d/b, {s}/b/dependencies.d/c, {s}/c/dependencies.d/a)"
        ),
        format!(
            "rc-compile: fatal: {s}/bad/type: invalid type \"daemon\\n\": must be oneshot, longrun or bundle"
        ),
        "rc-compile: fatal: 3 problems in the service definitions: nothing started".to_owned(),
    ] {
        assert!(err.contains(&line), "{line:?} missing from:\n{err}");
    }
    assert!(!sb.join("db").exists());
    assert!(!sb.join("order").exists());
}

#[test]
fn compile_warns_about_a_service_nothing_starts() {
    let sb = Sandbox::new();
    recording_oneshot(&sb, "a", &[]);
    recording_oneshot(&sb, "forgotten", &[]);
    def(&sb, "top", "bundle", &[("contents.d/a", "")]);
    let out = sb
        .svkit("rc-compile")
        .arg(sb.join("db"))
        .arg(sb.join("src"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains(&format!(
            "rc-compile: warning: service forgotten ({}/forgotten) will not start: no bundle contains it",
            sb.join("src").display()
        )),
        "{err}"
    );
    assert!(sb.join("db/services/forgotten/up").exists());
}

#[test]
fn change_brings_dependencies_up_and_dependents_down() {
    let mut sb = Sandbox::new();
    recording_oneshot(&sb, "setup", &[]);
    def(
        &sb,
        "db-server",
        "longrun",
        &[
            ("run", "#!/bin/sh\nexec sleep 1000\n"),
            ("dependencies.d/setup", ""),
        ],
    );
    def(
        &sb,
        "app",
        "longrun",
        &[
            ("run", "#!/bin/sh\necho >&3\nexec sleep 1000\n"),
            ("notification-fd", "3\n"),
            ("dependencies.d/db-server", ""),
        ],
    );
    def(&sb, "stack", "bundle", &[("contents.d/app", "")]);
    let live = boot(&mut sb);
    let scan = sb.join("scan");
    // Handed to the scanner, supervised, down.
    for name in ["db-server", "app"] {
        let st = read_status(&scan.join(name));
        assert!(!st.is_up(), "{name} must stay down until rc says");
    }
    // A relative live directory (rc runs in the sandbox) works as well.
    let out = rc(&sb, Path::new("live"), &["-u", "change", "stack"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(fs::read_to_string(sb.join("order")).unwrap(), "up setup\n");
    // The real s6 tools read what rc brought up.
    let out = sb
        .s6("s6-svstat")
        .arg("-o")
        .arg("up,ready")
        .arg(scan.join("app"))
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "true true\n");
    assert_eq!(
        lines(&rc(&sb, &live, &["-a", "list"])),
        ["app", "db-server", "setup"]
    );
    assert_eq!(
        lines(&rc(&sb, &live, &["-d", "listall", "setup"])),
        ["app", "db-server", "setup"]
    );

    // Down: db-server takes app down with it, setup stays up.
    let out = rc(&sb, &live, &["-d", "change", "db-server"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(lines(&rc(&sb, &live, &["-a", "list"])), ["setup"]);
    for name in ["db-server", "app"] {
        let out = sb
            .s6("s6-svstat")
            .arg("-o")
            .arg("up,wantedup")
            .arg(scan.join(name))
            .output()
            .unwrap();
        assert_eq!(stdout_of(&out), "false false\n", "{name}");
    }
    // A real s6-svc controls a longrun rc manages.
    rc(&sb, &live, &["-u", "change", "app"]);
    let app = scan.join("app");
    let before = read_status(&app).pid;
    let mut w = watch(&app);
    sb.s6("s6-svc").arg("-r").arg(&app).assert().success();
    wait_on(&mut w, Goal::DOWN);
    wait_on(&mut w, Goal::UP);
    assert_ne!(read_status(&app).pid, before);

    // Everything down: the oneshot's down runs last.
    let out = rc(&sb, &live, &["-da", "change"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        fs::read_to_string(sb.join("order")).unwrap(),
        "up setup\ndown setup\n"
    );
    assert!(lines(&rc(&sb, &live, &["-a", "list"])).is_empty());
}

#[test]
fn independent_oneshots_start_in_parallel() {
    let mut sb = Sandbox::new();
    let rec = sb.join("rec");
    for i in 0..10 {
        let name = format!("slow{i}");
        let up = format!(
            "/bin/sh -c \"echo start >> {r}; sleep 1; echo end >> {r}\"\n",
            r = rec.display()
        );
        def(&sb, &name, "oneshot", &[("up", &up)]);
    }
    let live = boot(&mut sb);
    let names: Vec<String> = (0..10).map(|i| format!("slow{i}")).collect();
    let mut args = vec!["-u", "change"];
    args.extend(names.iter().map(String::as_str));
    let out = rc(&sb, &live, &args);
    assert!(out.status.success(), "{out:?}");
    // Every one started before any finished its second of work.
    let text = fs::read_to_string(&rec).unwrap();
    let recs: Vec<&str> = text.lines().collect();
    assert_eq!(recs.len(), 20);
    assert!(recs[..10].iter().all(|l| *l == "start"), "{recs:?}");
}

#[test]
fn a_failed_dependency_stops_the_chain_and_rc_says_why() {
    let mut sb = Sandbox::new();
    def(
        &sb,
        "broken",
        "oneshot",
        &[("up", "/bin/sh -c \"exit 3\"\n")],
    );
    recording_oneshot(&sb, "after", &["broken"]);
    recording_oneshot(&sb, "other", &[]);
    let live = boot(&mut sb);
    let out = rc(&sb, &live, &["-u", "change", "after", "other"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        err.contains("s6-rc: warning: unable to start service broken: command exited 3"),
        "{err}"
    );
    assert!(
        err.contains(
            "s6-rc: warning: unable to start service after: dependency broken failed to start"
        ),
        "{err}"
    );
    assert_eq!(fs::read_to_string(sb.join("order")).unwrap(), "up other\n");
    assert_eq!(lines(&rc(&sb, &live, &["-a", "list"])), ["other"]);
    // Unknown names and bad usage.
    assert_eq!(
        rc(&sb, &live, &["-u", "change", "nope"]).status.code(),
        Some(3)
    );
    assert_eq!(
        rc(&sb, &live, &["-u", "frobnicate"]).status.code(),
        Some(100)
    );
}

#[test]
fn a_pipeline_runs_as_producer_and_logger() {
    let mut sb = Sandbox::new();
    let out = sb.join("logged");
    def(
        &sb,
        "talker",
        "longrun",
        &[
            (
                "run",
                "#!/bin/sh\necho hello from talker\nexec sleep 1000\n",
            ),
            ("producer-for", "talker-log\n"),
        ],
    );
    def(
        &sb,
        "talker-log",
        "longrun",
        &[
            ("run", &format!("#!/bin/sh\nexec cat > {}\n", out.display())),
            ("consumer-for", "talker\n"),
            ("pipeline-name", "talker-pipeline\n"),
        ],
    );
    let live = boot(&mut sb);
    let r = rc(&sb, &live, &["-u", "change", "talker-pipeline"]);
    assert!(r.status.success(), "{r:?}");
    poll_until("the logger to get the producer's line", || {
        fs::read_to_string(&out).is_ok_and(|t| t == "hello from talker\n")
    });
    // The consumer is supervised as the producer's log/.
    assert!(read_status(&sb.join("scan/talker/log")).is_up());
    assert_eq!(
        lines(&rc(&sb, &live, &["-a", "list"])),
        ["talker", "talker-log"]
    );
}
