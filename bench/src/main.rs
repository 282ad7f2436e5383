//! `make bench`: the same workloads on svkit, s6, runit and daemontools in one
//! run, interleaved, medians of several repetitions, every figure read from
//! outside the suites (`/proc`, the files they write, wall-clock time around
//! their commands). Writes `latest.md`, `latest.json` and `latest.svg`.
//!
//! Invariant: no workload is shaped for one suite; where a suite cannot do a
//! workload (daemontools has no ordered shutdown) the table says so.
#![allow(clippy::cast_precision_loss)]

mod procs;
mod report;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

pub(crate) use report::Results;

/// How many times each timed workload runs (the median is kept).
const REPS: usize = 3;
/// The services' program, recognisable in `/proc`.
const SLEEP: &str = "exec sleep 31536001";

/// One supervision suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Suite {
    Svkit,
    S6,
    Runit,
    Daemontools,
}

pub(crate) const SUITES: [Suite; 4] = [Suite::Svkit, Suite::S6, Suite::Runit, Suite::Daemontools];

impl Suite {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Suite::Svkit => "svkit",
            Suite::S6 => "s6",
            Suite::Runit => "runit",
            Suite::Daemontools => "daemontools",
        }
    }

    fn scanner(self, svkit: &Path, dir: &Path, n: usize) -> Command {
        match self {
            Suite::Svkit => {
                let mut c = Command::new(svkit);
                c.arg0("svscan").arg(dir);
                c
            }
            Suite::S6 => {
                let mut c = Command::new("/usr/bin/s6-svscan");
                c.arg(format!("-c{}", (n + 10).max(2))).arg(dir);
                c
            }
            Suite::Runit => {
                let mut c = Command::new("/usr/bin/runsvdir");
                c.arg(dir);
                c
            }
            Suite::Daemontools => {
                let mut c = Command::new("/usr/bin/svscan");
                c.arg(dir);
                c
            }
        }
    }

    /// The signal that stops the whole tree in order, if the suite has one.
    fn stop_signal(self) -> Option<Signal> {
        match self {
            Suite::Svkit | Suite::S6 => Some(Signal::SIGTERM),
            // runsvdir: HUP = TERM to every runsv, which stops its service, then exit.
            Suite::Runit => Some(Signal::SIGHUP),
            Suite::Daemontools => None,
        }
    }
}

/// A running scan directory of one suite.
struct Tree {
    scanner: Child,
    dir: PathBuf,
}

fn write_exec(path: &Path, body: &str) {
    fs::write(path, body).expect("write a run script");
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A fresh scan directory of `n` services running `run`.
fn scandir(work: &Path, n: usize, run: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = work.join(format!("scan-{}", unique()));
    fs::create_dir_all(&dir).expect("mkdir scan");
    for i in 0..n {
        let s = dir.join(format!("s{i:05}"));
        fs::create_dir(&s).expect("mkdir service");
        write_exec(&s.join("run"), &format!("#!/bin/sh\n{run}\n"));
        for (name, content) in files {
            fs::write(s.join(name), content).expect("write a service file");
        }
    }
    dir
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

impl Tree {
    fn start(suite: Suite, svkit: &Path, dir: PathBuf, n: usize) -> Tree {
        let mut c = suite.scanner(svkit, &dir, n);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        let scanner = c.spawn().expect("start the scanner");
        Tree { scanner, dir }
    }

    fn pid(&self) -> i32 {
        i32::try_from(self.scanner.id()).unwrap_or(0)
    }

    /// Waits until `n` services run; the time it took since `since`.
    fn wait_services(&self, n: usize, since: Instant) -> Option<Duration> {
        let end = since + Duration::from_secs(120);
        while Instant::now() < end {
            let snap = procs::snapshot();
            if procs::tree(&snap, self.pid()).1.len() >= n {
                return Some(since.elapsed());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        None
    }

    /// Kills the scanner and everything under it.
    fn kill(mut self) {
        let snap = procs::snapshot();
        let mut all = procs::descendants(&snap, self.pid());
        all.push(self.pid());
        for p in all {
            let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
        }
        let _ = self.scanner.wait();
        reap_orphans();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// We are a child subreaper: the orphans of killed trees come back to us.
fn reap_orphans() {
    loop {
        match nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG)) {
            Ok(nix::sys::wait::WaitStatus::StillAlive) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Workloads 1, 2, 3, 4 and 7 on one tree of `n` services.
fn tree_workloads(suite: Suite, svkit: &Path, work: &Path, n: usize, idle: bool, r: &mut Results) {
    let mut boots = Vec::new();
    let mut stops = Vec::new();
    let mut respawns = Vec::new();
    for rep in 0..REPS {
        let dir = scandir(work, n, SLEEP, &[]);
        let t0 = Instant::now();
        let tree = Tree::start(suite, svkit, dir, n);
        let Some(boot) = tree.wait_services(n, t0) else {
            eprintln!("bench: {} did not start {n} services", suite.name());
            tree.kill();
            return;
        };
        boots.push(ms(boot));
        if rep == 0 {
            // Let start-up allocations settle, then memory and idle cost.
            std::thread::sleep(Duration::from_secs(1));
            let snap = procs::snapshot();
            let (sups, _) = procs::tree(&snap, tree.pid());
            let mems: Vec<(u64, u64, u64)> =
                sups.iter().filter_map(|&p| procs::memory(p)).collect();
            let pick =
                |f: fn(&(u64, u64, u64)) -> u64| median(mems.iter().map(|m| f(m) as f64).collect());
            r.set("sup_rss_kb", suite, n, pick(|m| m.0));
            r.set("sup_pss_kb", suite, n, pick(|m| m.1));
            r.set("sup_anon_kb", suite, n, pick(|m| m.2));
            if let Some((rss, pss, anon)) = procs::memory(tree.pid()) {
                r.set("scan_rss_kb", suite, n, Some(rss as f64));
                r.set("scan_pss_kb", suite, n, Some(pss as f64));
                r.set("scan_anon_kb", suite, n, Some(anon as f64));
            }
            if idle {
                let pids: Vec<i32> = std::iter::once(tree.pid())
                    .chain(sups.iter().copied())
                    .collect();
                let before: u64 = pids.iter().map(|&p| procs::switches(p)).sum();
                std::thread::sleep(Duration::from_secs(10));
                let after: u64 = pids.iter().map(|&p| procs::switches(p)).sum();
                r.set("idle_switches_10s", suite, n, Some((after - before) as f64));
            }
        }
        // Respawn: a service up for more than a second is killed.
        std::thread::sleep(Duration::from_millis(1100));
        if let Some(d) = respawn(&tree) {
            respawns.push(ms(d));
        }
        // Shutdown.
        match suite.stop_signal() {
            Some(sig) => stops.push(shutdown(tree, sig)),
            None => tree.kill(),
        }
    }
    r.set("boot_ms", suite, n, median(boots));
    r.set("respawn_ms", suite, n, median(respawns));
    r.set(
        "shutdown_ms",
        suite,
        n,
        median(stops.into_iter().flatten().collect()),
    );
}

/// SIGKILLs the first supervisor's service; the time until that supervisor has a
/// new child.
fn respawn(tree: &Tree) -> Option<Duration> {
    let snap = procs::snapshot();
    let (sups, _) = procs::tree(&snap, tree.pid());
    let sup = *sups.first()?;
    let old = procs::children(&snap, sup);
    let victim = *old.first()?;
    let path = format!("/proc/{sup}/task/{sup}/children");
    let t0 = Instant::now();
    kill(Pid::from_raw(victim), Signal::SIGKILL).ok()?;
    while t0.elapsed() < Duration::from_secs(10) {
        let now = fs::read_to_string(&path).unwrap_or_default();
        if now
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .any(|p| p != victim)
        {
            return Some(t0.elapsed());
        }
        std::hint::spin_loop();
    }
    None
}

/// Sends `sig` to the scanner; the time until it and every process under it
/// are gone.
fn shutdown(mut tree: Tree, sig: Signal) -> Option<f64> {
    let snap = procs::snapshot();
    let mut all = procs::descendants(&snap, tree.pid());
    all.push(tree.pid());
    let t0 = Instant::now();
    kill(Pid::from_raw(tree.pid()), sig).ok()?;
    let mut done = None;
    while t0.elapsed() < Duration::from_secs(30) {
        let _ = tree.scanner.try_wait();
        reap_orphans();
        let snap = procs::snapshot();
        if all.iter().all(|p| !snap.contains_key(p)) {
            done = Some(ms(t0.elapsed()));
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    tree.kill();
    done
}

/// Workload 5: one service that exits at once, for 10 s: starts per minute and
/// the CPU its supervisor used.
fn crash_loop(suite: Suite, svkit: &Path, work: &Path, r: &mut Results) {
    let dir = scandir(work, 1, "echo x >> starts\nexit 1", &[]);
    let starts = dir.join("s00000/starts");
    let tree = Tree::start(suite, svkit, dir, 1);
    std::thread::sleep(Duration::from_millis(1500));
    let snap = procs::snapshot();
    let Some(&sup) = procs::tree(&snap, tree.pid()).0.first() else {
        tree.kill();
        return;
    };
    let count = || fs::read_to_string(&starts).map_or(0, |s| s.lines().count());
    let (c0, t0) = (count(), procs::cpu_ns(sup));
    std::thread::sleep(Duration::from_secs(10));
    let (c1, t1) = (count(), procs::cpu_ns(sup));
    r.set(
        "crash_starts_per_min",
        suite,
        1,
        Some(((c1 - c0) * 6) as f64),
    );
    r.set(
        "crash_sup_cpu_ms_per_min",
        suite,
        1,
        Some((t1 - t0) as f64 * 6.0 / 1e6),
    );
    tree.kill();
}

/// Workload 6: `svc -wD -d` and `svc -wU -u` on a service that notifies
/// readiness (s6's notification-fd): s6 and svkit only.
fn control(suite: Suite, svkit: &Path, work: &Path, r: &mut Results) {
    let svc = |args: &[&str], dir: &Path| -> Option<f64> {
        let mut c = match suite {
            Suite::Svkit => {
                let mut c = Command::new(svkit);
                c.arg0("svc");
                c
            }
            Suite::S6 => Command::new("/usr/bin/s6-svc"),
            _ => return None,
        };
        let t0 = Instant::now();
        let ok = c.args(args).arg(dir).status().ok()?.success();
        ok.then(|| ms(t0.elapsed()))
    };
    let dir = scandir(
        work,
        1,
        "echo >&3\nexec sleep 31536001 3>&-",
        &[("notification-fd", "3\n")],
    );
    let svcdir = dir.join("s00000");
    let tree = Tree::start(suite, svkit, dir, 1);
    if tree.wait_services(1, Instant::now()).is_none() {
        tree.kill();
        return;
    }
    let (mut downs, mut ups) = (Vec::new(), Vec::new());
    for _ in 0..10 {
        downs.extend(svc(&["-wD", "-d"], &svcdir));
        ups.extend(svc(&["-wU", "-u"], &svcdir));
    }
    r.set("ctl_down_ms", suite, 1, median(downs));
    r.set("ctl_up_ms", suite, 1, median(ups));
    tree.kill();
}

/// Workload 8a: `log` against `s6-log`, 1,000,000 lines through a pipe.
fn log_throughput(svkit: &Path, work: &Path, r: &mut Results) {
    let input = work.join("log.in");
    let mut text = String::with_capacity(50_000_000);
    for i in 0..1_000_000 {
        text.push_str(&format!("{i} a typical log line payload with some words\n"));
    }
    fs::write(&input, &text).expect("write the log input");
    let bytes = text.len() as f64;
    for (key, script) in [
        ("log_plain_mb_s", "n20 s1000000 ./d"),
        ("log_iso_mb_s", "n20 s1000000 T ./d"),
        ("log_select_mb_s", "- +5 n20 s1000000 ./d"),
    ] {
        let mut times: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
        for _ in 0..REPS {
            for (k, prog) in [svkit.display().to_string(), "/usr/bin/s6-log".into()]
                .iter()
                .enumerate()
            {
                let _ = fs::remove_dir_all(work.join("d"));
                let argv0 = if k == 0 {
                    format!("{prog} log")
                } else {
                    prog.clone()
                };
                let t0 = Instant::now();
                let ok = Command::new("sh")
                    .arg("-c")
                    .arg(format!("cat log.in | {argv0} -b {script}"))
                    .current_dir(work)
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    times[k].push(t0.elapsed().as_secs_f64());
                }
            }
        }
        let mbs = |v: Vec<f64>| median(v).map(|s| bytes / s / 1e6);
        let [a, b] = times;
        r.set(key, Suite::Svkit, 0, mbs(a));
        r.set(key, Suite::S6, 0, mbs(b));
    }
    let _ = fs::remove_dir_all(work.join("d"));
    let _ = fs::remove_file(&input);
}

/// Workload 8b: the seed-style container under svkit's /init (tools/container.sh):
/// start → CMD running, SIGTERM → the harness exits.
fn container(svkit: &Path, repo: &Path, work: &Path, r: &mut Results) {
    let (mut ups, mut downs) = (Vec::new(), Vec::new());
    let etc = repo.join("tools/sample/etc");
    for _ in 0..REPS {
        let root = work.join(format!("root-{}", unique()));
        let t0 = Instant::now();
        let mut c = Command::new("sh");
        c.arg(repo.join("tools/container.sh"))
            .arg("-r")
            .arg(&root)
            .arg("-b")
            .arg(svkit)
            .arg("-e")
            .arg("PORT=8080")
            .arg(&etc)
            .args(["sleep", "31536002"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let Ok(mut h) = c.spawn() else { return };
        // The CMD runs when a process `sleep 31536002` exists.
        let mut cmd_pid = None;
        while t0.elapsed() < Duration::from_secs(30) && cmd_pid.is_none() {
            cmd_pid = procs::snapshot().into_iter().find_map(|(p, pr)| {
                (pr.comm == "sleep"
                    && fs::read(format!("/proc/{p}/cmdline"))
                        .is_ok_and(|c| c.ends_with(b"31536002\0")))
                .then_some(p)
            });
            std::thread::sleep(Duration::from_millis(1));
        }
        if cmd_pid.is_some() {
            ups.push(ms(t0.elapsed()));
            // PID 1 of the container: the child of the harness (unshare).
            let hpid = h.id();
            let init = fs::read_to_string(format!("/proc/{hpid}/task/{hpid}/children"))
                .ok()
                .and_then(|s| s.split_whitespace().next()?.parse::<i32>().ok());
            if let Some(init) = init {
                let t1 = Instant::now();
                let _ = kill(Pid::from_raw(init), Signal::SIGTERM);
                if h.wait().is_ok() {
                    downs.push(ms(t1.elapsed()));
                }
            }
        }
        let _ = h.kill();
        let _ = h.wait();
        let _ = fs::remove_dir_all(&root);
    }
    r.set("container_boot_ms", Suite::Svkit, 0, median(ups));
    r.set("container_stop_ms", Suite::Svkit, 0, median(downs));
}

/// Workload 9: installed size in bytes (svkit's stripped binary; the peers'
/// packages' programs and libraries, from dpkg).
fn sizes(svkit: &Path, r: &mut Results) {
    r.set(
        "installed_bytes",
        Suite::Svkit,
        0,
        fs::metadata(svkit).ok().map(|m| m.len() as f64),
    );
    for (suite, pkgs) in [
        (
            Suite::S6,
            &[
                "s6",
                "libs6-2.11",
                "libskarnet2.13",
                "execline",
                "libexecline2.9",
            ][..],
        ),
        (Suite::Runit, &["runit"][..]),
        (Suite::Daemontools, &["daemontools"][..]),
    ] {
        let mut total = 0u64;
        for p in pkgs {
            let Ok(out) = Command::new("dpkg").args(["-L", p]).output() else {
                continue;
            };
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                let wanted = ["/bin/", "/sbin/", "/lib/"]
                    .iter()
                    .any(|d| line.contains(d));
                if let Ok(m) = fs::symlink_metadata(line) {
                    if wanted && m.is_file() {
                        total += m.len();
                    }
                }
            }
        }
        r.set(
            "installed_bytes",
            suite,
            0,
            (total > 0).then_some(total as f64),
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut svkit, mut out, mut quick) = (
        PathBuf::from("target/release/svkit"),
        PathBuf::from("bench/results"),
        false,
    );
    while let Some(a) = args.next() {
        match a.as_str() {
            "--svkit" => svkit = args.next().map(PathBuf::from).unwrap_or(svkit),
            "--out" => out = args.next().map(PathBuf::from).unwrap_or(out),
            "--quick" => quick = true,
            _ => {
                eprintln!("usage: svkit-bench [--svkit BIN] [--out DIR] [--quick]");
                std::process::exit(100);
            }
        }
    }
    let svkit = fs::canonicalize(&svkit).expect("the svkit binary (make build)");
    let repo = std::env::current_dir().expect("cwd");
    for needed in [
        "/usr/bin/s6-svscan",
        "/usr/bin/runsvdir",
        "/usr/bin/svscan",
        "/usr/bin/s6-log",
    ] {
        assert!(
            Path::new(needed).exists(),
            "{needed} is missing: tools/deps.sh --bench installs the peers"
        );
    }
    let _ = nix::sys::prctl::set_child_subreaper(true);
    raise_limits();
    let work = std::env::temp_dir().join(format!("svkit-bench-{}", std::process::id()));
    fs::create_dir_all(&work).expect("work dir");
    let started = Instant::now();
    let mut r = Results::default();
    let sizes_n: &[usize] = if quick { &[10, 100] } else { &[10, 100, 1000] };
    for &n in sizes_n {
        // Interleaved: each suite in turn at the same size.
        for suite in SUITES {
            eprintln!("bench: {} with {n} services", suite.name());
            tree_workloads(suite, &svkit, &work, n, !quick || n == 10, &mut r);
        }
    }
    if !quick {
        eprintln!("bench: svkit with 5000 services");
        tree_workloads(Suite::Svkit, &svkit, &work, 5000, false, &mut r);
    }
    for suite in SUITES {
        eprintln!("bench: crash loop, {}", suite.name());
        crash_loop(suite, &svkit, &work, &mut r);
    }
    for suite in [Suite::Svkit, Suite::S6] {
        control(suite, &svkit, &work, &mut r);
    }
    eprintln!("bench: log throughput");
    log_throughput(&svkit, &work, &mut r);
    eprintln!("bench: container sample");
    container(&svkit, &repo, &work, &mut r);
    sizes(&svkit, &mut r);
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&out).expect("results dir");
    let took = started.elapsed();
    let what = format!("svkit binary: `{}`", svkit.display());
    fs::write(out.join("latest.md"), report::markdown(&r, took, &what)).expect("write latest.md");
    fs::write(out.join("latest.json"), report::json(&r)).expect("write latest.json");
    fs::write(out.join("latest.svg"), report::svg(&r)).expect("write latest.svg");
    print!("{}", report::markdown(&r, took, &what));
}

/// 5000 services need processes and descriptors.
fn raise_limits() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    for res in [Resource::RLIMIT_NOFILE, Resource::RLIMIT_NPROC] {
        if let Ok((_, hard)) = getrlimit(res) {
            let _ = setrlimit(res, hard, hard);
        }
    }
}
