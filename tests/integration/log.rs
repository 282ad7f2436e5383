//! `log` (s6-log) against the real s6-log: the same lines in the same files for
//! the same script, the same rotation count, stamps s6's own tools read; no line
//! lost or doubled when the logger is killed; a full disk survived.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

use nix::sys::signal::Signal;
use svkit_core::event::Goal;

use crate::util::*;

/// Runs `cmd` with `input` on stdin; its stdout and stderr.
fn feed(mut cmd: Command, input: &[u8]) -> (String, String, i32) {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

fn svkit_log(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(svkit_bin());
    std::os::unix::process::CommandExt::arg0(&mut c, "s6-log");
    c.args(args).current_dir(dir);
    c
}

fn real_log(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(s6_bin("s6-log"));
    c.args(args).current_dir(dir);
    c
}

/// Every archive (oldest first) then `current`, concatenated.
fn logdir_text(dir: &Path) -> String {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    names.sort();
    names.push("current".into());
    names
        .iter()
        .map(|n| fs::read_to_string(dir.join(n)).unwrap_or_default())
        .collect()
}

fn archives(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('@'))
        .collect();
    v.sort();
    v
}

#[test]
fn selection_and_actions_match_real_s6_log() {
    let sb = Sandbox::new();
    let mut input = String::new();
    for i in 0..300 {
        let kind = [
            "fatal: disk",
            "warn: slow",
            "info: ok",
            "STAT load",
            "debug x",
        ][i % 5];
        input.push_str(&format!("{kind} {i}\n"));
    }
    input.push_str("\n\nlast line\n");
    let script = [
        "-",
        "+fatal:",
        "E10",
        "2",
        "+^warn",
        "./errs",
        "-",
        "+^STAT",
        "^20",
        "=./status",
        "f",
        "-debug",
        "./rest",
        "+.",
        "pALL:",
        "1",
        "p",
        "-",
        "f",
        "./never",
    ];
    let mut outputs = Vec::new();
    for (name, make) in [
        ("svkit", svkit_log as fn(&Path, &[&str]) -> Command),
        ("s6", real_log),
    ] {
        let dir = sb.join(name);
        fs::create_dir(&dir).unwrap();
        let (out, err, code) = feed(make(&dir, &script), input.as_bytes());
        assert_eq!(code, 0, "{name}: {err}");
        let alerts: Vec<String> = err
            .lines()
            .map(|l| l.split_once(": alert: ").unwrap().1.to_owned())
            .collect();
        outputs.push((
            fs::read_to_string(dir.join("errs/current")).unwrap(),
            fs::read_to_string(dir.join("rest/current")).unwrap(),
            fs::read_to_string(dir.join("never/current")).unwrap(),
            fs::read(dir.join("status")).unwrap(),
            out,
            alerts,
        ));
    }
    assert_eq!(outputs[0], outputs[1], "svkit log and s6-log agree");
    assert!(outputs[0].0.contains("fatal: disk 0\n") && outputs[0].0.contains("warn: slow 1\n"));
    assert_eq!(outputs[0].3.len(), 20);
    assert!(outputs[0].5.iter().all(|a| a.len() <= 13));
}

#[test]
fn rotation_keeps_the_same_number_of_archives_as_s6_log() {
    let sb = Sandbox::new();
    let input: String = (1..=20_000).map(|i| format!("{i:05}\n")).collect();
    let input = &input.as_bytes()[..100_002];
    for (name, make) in [
        ("svkit", svkit_log as fn(&Path, &[&str]) -> Command),
        ("s6", real_log),
    ] {
        let (_, err, code) = feed(
            make(sb.path(), &["n3", "s1000", &format!("./{name}")]),
            input,
        );
        assert_eq!(code, 0, "{name}: {err}");
        let dir = sb.join(name);
        let names = archives(&dir);
        assert_eq!(names.len(), 3, "{name}: 3 archives + current: {names:?}");
        for n in &names {
            assert!(
                n.len() == 27
                    && n.ends_with(".s")
                    && n[1..25].bytes().all(|b| b.is_ascii_hexdigit()),
                "{name}: archive name {n}"
            );
            let mode = fs::metadata(dir.join(n)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o744, "{name}: archives are finalised");
        }
        assert_eq!(
            fs::metadata(dir.join("current"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o744,
            "{name}: current finalised at exit"
        );
        // What is kept is the end of the input, whole lines, in order.
        let kept = logdir_text(&dir);
        let text = std::str::from_utf8(input).unwrap();
        assert!(text.ends_with(&kept), "{name}: a suffix of the input");
        assert!(
            kept.starts_with(|c: char| c.is_ascii_digit()) && kept.lines().all(|l| l.len() == 5)
        );
    }
}

#[test]
fn stamps_are_read_by_s6_tai64nlocal() {
    let sb = Sandbox::new();
    let (_, err, code) = feed(
        svkit_log(sb.path(), &["t", "./tai", "T", "./iso", "t", "T", "1"]),
        b"one\ntwo\n",
    );
    assert_eq!(code, 0, "{err}");
    let tai = fs::read_to_string(sb.join("tai/current")).unwrap();
    let out = Command::new(s6_bin("s6-tai64nlocal"))
        .stdin(fs::File::open(sb.join("tai/current")).unwrap())
        .output()
        .unwrap();
    let local = String::from_utf8(out.stdout).unwrap();
    for (raw, conv) in tai.lines().zip(local.lines()) {
        assert!(raw.starts_with('@') && raw.len() == 25 + 1 + 3, "{raw}");
        let (stamp, rest) = conv.split_once(' ').unwrap();
        assert_eq!(stamp.len(), 10, "a date: {conv}");
        assert!(rest.ends_with(" one") || rest.ends_with(" two"), "{conv}");
    }
    let iso = fs::read_to_string(sb.join("iso/current")).unwrap();
    for l in iso.lines() {
        // 2026-11-25 17:41:15.972232220  one
        let (date, rest) = l.split_at(10);
        assert!(date.bytes().filter(|&b| b == b'-').count() == 2, "{l}");
        assert!(
            rest.starts_with(' ') && rest[1..].split_once("  ").is_some(),
            "{l}"
        );
    }
}

#[test]
fn sigalrm_rotates_and_sigterm_flushes() {
    let mut sb = Sandbox::new();
    let fifo = sb.fifo("in");
    let (ready_r, ready_w) = nix::unistd::pipe().unwrap();
    // fdmove (one of svkit's tools) gives the logger the pipe as its fd 3; the
    // shell opens the FIFO read-write as stdin (spawn's own stdin is /dev/null).
    let mut c = Command::new("sh");
    c.args(["-c", "exec \"$@\" <>in", "sh"])
        .arg(svkit_bin())
        .args(["fdmove", "3"])
        .arg(std::os::fd::AsRawFd::as_raw_fd(&ready_w).to_string())
        .arg(svkit_bin())
        .args(["s6-log", "-d3", "./d"]);
    let pid = sb.spawn(c, "log.err");
    drop(ready_w);
    let mut r = fs::File::from(ready_r);
    let mut byte = [0u8; 1];
    std::io::Read::read_exact(&mut r, &mut byte).unwrap();
    assert_eq!(&byte, b"\n", "readiness once the logdir is open");
    let mut w = fs::File::options().write(true).open(&fifo).unwrap();
    w.write_all(b"before\n").unwrap();
    poll_until("the line in current", || {
        fs::read_to_string(sb.join("d/current")).is_ok_and(|s| s == "before\n")
    });
    signal(pid, Signal::SIGALRM);
    poll_until("an archive", || archives(&sb.join("d")).len() == 1);
    w.write_all(b"after\n").unwrap();
    signal(pid, Signal::SIGTERM);
    assert_eq!(sb.wait_exit(pid), Some(0));
    assert_eq!(logdir_text(&sb.join("d")), "before\nafter\n");
}

/// A scan directory with service `p` writing `batches` batches of `per_batch`
/// numbered lines (each batch when the test writes a line to the returned gate)
/// into its logger `exec log SCRIPT ../../logs`; both up. The gate, and `p/log`.
fn numbered_pipeline(
    sb: &mut Sandbox,
    batches: u32,
    per_batch: u32,
    script: &str,
) -> (fs::File, std::path::PathBuf) {
    fs::create_dir_all(sb.join("scan")).unwrap();
    sb.service("p").run(&format!(
        "exec 3< ../gate\ni=0\nwhile [ $i -lt {batches} ]; do\n  read x <&3\n  seq $((i*{per_batch}+1)) $((i*{per_batch}+{per_batch}))\n  i=$((i+1))\ndone\nexec sleep 1000"
    ));
    sb.service("p/log").run(&format!(
        "exec {} log {script} ../../logs",
        svkit_bin().display()
    ));
    std::os::unix::fs::symlink(sb.join("p"), sb.join("scan/p")).unwrap();
    sb.fifo("gate");
    sb.svscan("scan");
    let log = sb.join("scan/p/log");
    wait_for(&sb.join("scan/p"), Goal::UP);
    wait_for(&log, Goal::UP);
    let gate = fs::File::options()
        .write(true)
        .open(sb.join("gate"))
        .unwrap();
    (gate, log)
}

/// Waits until the logdir `logs` ends with `last`, then checks that its lines,
/// through `number`, are 1..=total once each, in order.
fn assert_every_line_once(logs: &Path, last: &str, total: u32, number: impl Fn(&str) -> u32) {
    poll_until_within(
        std::time::Duration::from_secs(60),
        "every line logged",
        || logdir_text(logs).ends_with(last),
    );
    let numbers: Vec<u32> = logdir_text(logs).lines().map(number).collect();
    assert_eq!(numbers.len(), total as usize, "every line once");
    assert!(
        numbers.iter().enumerate().all(|(i, &n)| n == i as u32 + 1),
        "in order"
    );
}

/// 500,000 numbered lines from a service, through a `log/` logger rotating every
/// 10 kB, the logger SIGKILLed 10 times: every line once, in order.
#[test]
fn killed_logger_loses_and_doubles_no_line() {
    let mut sb = Sandbox::new();
    let (mut gate, log) = numbered_pipeline(&mut sb, 20, 25_000, "n1000 s10000");
    for batch in 0..20 {
        gate.write_all(b"go\n").unwrap();
        if batch % 2 == 0 {
            kill_and_wait_restart(&log, Signal::SIGKILL);
        }
    }
    let logs = sb.join("logs");
    assert_every_line_once(&logs, "\n500000\n", 500_000, |l| l.parse().unwrap());
    assert!(archives(&logs).len() > 300, "rotated about every 10 kB");
    for a in archives(&logs) {
        let body = fs::read_to_string(logs.join(&a)).unwrap();
        assert!(body.ends_with('\n'), "{a}: archives hold whole lines");
    }
}

/// The same with a transforming script (ISO stamps) and SIGTERM as the kill:
/// the logger finishes the line it is in and exits; nothing lost or doubled.
#[test]
fn terminated_stamping_logger_loses_and_doubles_no_line() {
    let mut sb = Sandbox::new();
    let (mut gate, log) = numbered_pipeline(&mut sb, 10, 10_000, "n1000 s10000 T");
    for _ in 0..10 {
        gate.write_all(b"go\n").unwrap();
        kill_and_wait_restart(&log, Signal::SIGTERM);
    }
    assert_every_line_once(&sb.join("logs"), "  100000\n", 100_000, |l| {
        l.rsplit_once("  ").unwrap().1.parse().unwrap()
    });
}

/// A logdir on a full filesystem: one warning, the logger keeps running, and
/// every line arrives once space is back.
#[test]
fn a_full_disk_is_waited_out() {
    let mut sb = Sandbox::new();
    let mnt = sb.join("small");
    fs::create_dir(&mnt).unwrap();
    let lines: String = (1..=6000).map(|i| format!("{i:07}\n")).collect();
    fs::write(sb.join("in.txt"), &lines).unwrap();
    sb.fifo("gate");
    // In a private mount namespace: a 64 KiB tmpfs, most of it taken by ballast;
    // the input stays open until the test opens the gate.
    let script = format!(
        "mount -t tmpfs -o size=64k tmpfs small && head -c 40000 /dev/zero > small/ballast && (cat in.txt; read x < gate) | exec {} log r50 s1000000 ./small/d",
        svkit_bin().display()
    );
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", &script]);
    let pid = sb.spawn(c, "logger.log");
    poll_until("the full-disk warning", || {
        sb.log("logger").contains("No space left on device")
    });
    // The namespace's view of the tmpfs, through the shell that lives in it.
    let inside = Path::new("/proc")
        .join(pid.to_string())
        .join("root")
        .join(mnt.strip_prefix("/").unwrap());
    fs::remove_file(inside.join("ballast")).unwrap();
    poll_until("every line written", || {
        fs::read_to_string(inside.join("d/current")).is_ok_and(|s| s == lines)
    });
    fs::write(sb.join("gate"), "go\n").unwrap();
    assert_eq!(sb.wait_exit(pid), Some(0));
    let log = sb.log("logger");
    assert_eq!(
        log.matches("No space left on device").count(),
        1,
        "one warning, not a flood: {log}"
    );
    assert!(
        log.starts_with(
            "log: warning: unable to write to ./small/d/current: No space left on device"
        ),
        "{log}"
    );
}

#[test]
fn bad_scripts_and_busy_logdirs_get_s6_errors() {
    let mut sb = Sandbox::new();
    sb.svkit("s6-log")
        .args(["1", "bogus"])
        .assert()
        .code(100)
        .stderr("s6-log: fatal: unrecognized directive: bogus\n");
    sb.svkit("s6-log")
        .arg("t")
        .assert()
        .code(100)
        .stderr("s6-log: fatal: no action directive specified\n");
    sb.svkit("s6-log")
        .args(["s5000", "l3000", "1"])
        .assert()
        .code(100)
        .stderr("s6-log: fatal: directive l3000 conflicts with previous s directive\n");
    sb.svkit("s6-log")
        .args(["-d", "1", "1"])
        .assert()
        .code(100)
        .stderr("s6-log: fatal: notification fd must be 3 or more\n");
    // A logdir another logger (the real one) holds.
    sb.fifo("in");
    let mut c = Command::new("sh");
    c.args(["-c", "exec \"$@\" <>in", "sh"])
        .arg(s6_bin("s6-log"))
        .arg("./d");
    let pid = sb.spawn(c, "s6log.err");
    poll_until("s6-log holds the lock", || {
        svkit_core::lock::is_locked(&sb.join("d/lock")).unwrap_or(false)
    });
    sb.svkit("s6-log")
        .arg("./d")
        .write_stdin("x\n")
        .assert()
        .code(111)
        .stderr("s6-log: fatal: unable to lock ./d/lock: Device or resource busy\n");
    signal(pid, Signal::SIGTERM);
    sb.wait_exit(pid);
}

#[test]
fn logutil_service_logs_as_nobody_with_s6_logging_script() {
    let sb = Sandbox::new();
    fs::set_permissions(sb.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let out = sb
        .svkit("logutil-service")
        .env("S6_LOGGING_SCRIPT", "n2 s4096 t")
        .arg(sb.join("logs"))
        .write_stdin("hello\n")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let current = sb.join("logs/current");
    let meta = fs::metadata(&current).unwrap();
    assert_eq!(meta.uid(), 65534, "written as nobody");
    let text = fs::read_to_string(&current).unwrap();
    assert!(
        text.starts_with("@4000") && text.ends_with(" hello\n"),
        "{text}"
    );
    sb.svkit("logutil-service").assert().code(100);
}

/// svkit's log and the real s6-log take turns on one logdir: each accepts what
/// the other left (lock, finalised current, archives), and what is kept is the
/// end of the input, whole lines, in order.
#[test]
fn svkit_log_and_s6_log_share_a_logdir() {
    let sb = Sandbox::new();
    let mut all = String::new();
    for (turn, make) in [
        svkit_log as fn(&Path, &[&str]) -> Command,
        real_log,
        svkit_log,
        real_log,
    ]
    .into_iter()
    .enumerate()
    {
        let part: String = (turn * 3000 + 1..=turn * 3000 + 3000)
            .map(|i| format!("{i:06}\n"))
            .collect();
        all.push_str(&part);
        let (_, err, code) = feed(make(sb.path(), &["n4", "s4096", "./d"]), part.as_bytes());
        assert_eq!(code, 0, "turn {turn}: {err}");
        let mode = fs::metadata(sb.join("d/current"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o744, "turn {turn}: current finalised");
    }
    let names = archives(&sb.join("d"));
    assert_eq!(names.len(), 4, "{names:?}");
    assert!(names.iter().all(|n| n.ends_with(".s")), "{names:?}");
    let kept = logdir_text(&sb.join("d"));
    assert!(
        kept.len() > 4 * 2000 && all.ends_with(&kept),
        "a suffix of everything, in order"
    );
}

/// Processors: `!` (execlineb) and `?` (sh) see `previous` on stdin and `state`
/// on fd 4; their stdout becomes the archive, their fd 5 the next `state`.
#[test]
fn processors_make_the_archives_and_the_state() {
    let sb = Sandbox::new();
    let input: String = (1..=3000).map(|i| format!("line {i:05}\n")).collect();
    let (_, err, code) = feed(
        svkit_log(
            sb.path(),
            &[
                "n100",
                "s4096",
                "?tr a-z A-Z; n=$(cat <&4); echo $((n+1)) >&5",
                "./sh",
                "!tr l L",
                "./el",
            ],
        ),
        input.as_bytes(),
    );
    assert_eq!(code, 0, "{err}");
    let sh = archives(&sb.join("sh"));
    assert!(sh.len() > 3, "{sh:?}");
    let mut joined = String::new();
    for a in &sh {
        let body = fs::read_to_string(sb.join("sh").join(a)).unwrap();
        assert!(body.starts_with("LINE "), "{a}: processed");
        joined.push_str(&body);
    }
    joined.push_str(
        &fs::read_to_string(sb.join("sh/current"))
            .unwrap()
            .to_uppercase(),
    );
    assert_eq!(joined, input.to_uppercase(), "every line once, in order");
    let state = fs::read_to_string(sb.join("sh/state")).unwrap();
    assert_eq!(
        state.trim(),
        sh.len().to_string(),
        "state carried from one rotation to the next"
    );
    for leftover in ["previous", "processed", "newstate"] {
        assert!(
            !sb.join("sh").join(leftover).exists(),
            "{leftover} cleaned up"
        );
    }
    let el = archives(&sb.join("el"));
    assert!(!el.is_empty());
    for a in &el {
        assert!(
            fs::read_to_string(sb.join("el").join(a))
                .unwrap()
                .starts_with("Line "),
            "{a}"
        );
    }
}

#[test]
fn logutil_service_creates_a_missing_logdir_for_nobody() {
    let sb = Sandbox::new();
    fs::set_permissions(sb.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let dir = sb.join("var/log/app");
    // The binary where nobody cannot reach it by its path (a checkout in a 0700
    // home): after the switch to nobody, the logger must still start.
    let hidden = sb.join("private");
    fs::create_dir(&hidden).unwrap();
    fs::set_permissions(&hidden, fs::Permissions::from_mode(0o700)).unwrap();
    fs::copy(svkit_bin(), hidden.join("svkit")).unwrap();
    let mut c = Command::new(hidden.join("svkit"));
    c.arg("logutil-service")
        .arg(&dir)
        .env("S6_LOGGING_SCRIPT", "n2 s4096 !cat");
    let (_, err, code) = feed(c, b"one\n");
    assert_eq!(code, 0, "{err}");
    assert_eq!(fs::read_to_string(dir.join("current")).unwrap(), "one\n");
    let meta = fs::metadata(&dir).unwrap();
    assert_eq!(
        (meta.uid(), meta.permissions().mode() & 0o7777),
        (65534, 0o2750)
    );
    let parent = fs::metadata(sb.join("var/log")).unwrap();
    assert_eq!(
        (parent.uid(), parent.permissions().mode() & 0o777),
        (0, 0o755)
    );
}
