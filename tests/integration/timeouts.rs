//! maximumtime and with-retries: time-limited runs of real programs. (Debian has
//! no s6-maximumtime, in s6-portable-utils; the contract is its documentation.)

use std::fs;

use crate::util::*;

/// A shell script that writes `TERM` to `file` when it gets SIGTERM, then exits
/// 0; otherwise it waits forever. The time limits given to it (500 ms) leave a
/// shell ample time to set its trap, the one race these tests cannot remove.
fn terminable(file: &std::path::Path) -> String {
    format!(
        "trap 'echo TERM > {}; kill $!; exit 0' TERM; sleep 100000 & wait $!",
        file.display()
    )
}

#[test]
fn maximumtime_passes_the_exit_code_through() {
    let sb = Sandbox::new();
    sb.svkit("maximumtime")
        .args(["0", "sh", "-c", "exit 7"])
        .assert()
        .code(7);
    sb.svkit("s6-maximumtime")
        .args(["10000", "true"])
        .assert()
        .success();
    sb.svkit("maximumtime")
        .args(["0", "sh", "-c", "kill -USR1 $$"])
        .assert()
        .code(128 + 10);
}

#[test]
fn maximumtime_signals_and_exits_99_on_timeout() {
    let sb = Sandbox::new();
    let got = sb.join("got");
    sb.svkit("maximumtime")
        .args(["500", "sh", "-c", &terminable(&got)])
        .assert()
        .code(99)
        .stderr("maximumtime: fatal: timed out\n");
    assert_eq!(read_when(&got, |s| !s.is_empty()), "TERM\n");
    // -q: SIGQUIT instead, of which the child dies.
    let pidfile = sb.join("pid");
    sb.svkit("maximumtime")
        .args(["-q", "500", "sh", "-c"])
        .arg(format!(
            "echo $$ > {}; exec sleep 100000",
            pidfile.display()
        ))
        .assert()
        .code(99);
    let pid = fs::read_to_string(&pidfile).unwrap().trim().to_owned();
    poll_until("the child to die of SIGQUIT", || {
        fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    });
}

#[test]
fn maximumtime_bad_input() {
    let sb = Sandbox::new();
    for args in [&["soon", "true"][..], &["100"], &[], &["-z", "100", "true"]] {
        sb.svkit("maximumtime").args(args).assert().code(100);
    }
    sb.svkit("maximumtime")
        .args(["100", "/nonexistent/prog"])
        .assert()
        .code(127)
        .stderr(
            "maximumtime: fatal: unable to exec /nonexistent/prog: No such file or directory\n",
        );
    sb.svkit("maximumtime")
        .args(["100", "/etc/passwd"])
        .assert()
        .code(126);
}

#[test]
fn with_retries_stops_at_the_first_success() {
    let sb = Sandbox::new();
    let count = sb.join("count");
    let script = format!("echo x >> {0}; [ $(wc -l < {0}) -ge 3 ]", count.display());
    sb.svkit("with-retries")
        .args(["-n", "5", "-t", "0", "sh", "-c", &script])
        .assert()
        .success();
    assert_eq!(fs::read_to_string(&count).unwrap().lines().count(), 3);
}

#[test]
fn with_retries_gives_up_after_n_tries() {
    let sb = Sandbox::new();
    let count = sb.join("count");
    let script = format!("echo x >> {}; exit 3", count.display());
    sb.svkit("with-retries")
        .args(["-n", "4", "sh", "-c", &script])
        .assert()
        .code(1)
        .stderr("with-retries: fatal: sh failed 4 times\n");
    assert_eq!(fs::read_to_string(&count).unwrap().lines().count(), 4);
    // The default is 3 tries; -n 0 runs nothing.
    fs::remove_file(&count).unwrap();
    sb.svkit("with-retries")
        .args(["sh", "-c", &script])
        .assert()
        .code(1);
    assert_eq!(fs::read_to_string(&count).unwrap().lines().count(), 3);
    fs::remove_file(&count).unwrap();
    sb.svkit("with-retries")
        .args(["-n", "0", "sh", "-c", &script])
        .assert()
        .code(1);
    assert!(!count.exists());
}

#[test]
fn with_retries_stops_each_try_at_its_time_limit() {
    let sb = Sandbox::new();
    let got = sb.join("got");
    // Each try is stopped with SIGTERM and waited for before the next one.
    let prog = format!(
        "echo try >> {}; {}",
        sb.join("tries").display(),
        terminable(&got)
    );
    sb.svkit("with-retries")
        .args(["-n", "2", "-t", "500", "sh", "-c", &prog])
        .assert()
        .code(1);
    assert_eq!(fs::read_to_string(sb.join("tries")).unwrap(), "try\ntry\n");
    assert_eq!(fs::read_to_string(&got).unwrap(), "TERM\n");
    sb.svkit("with-retries")
        .args(["-n", "3", "/nonexistent/prog"])
        .assert()
        .code(127);
    sb.svkit("with-retries")
        .args(["-n", "x", "true"])
        .assert()
        .code(100);
}
