//! Fault injection: the world around the supervisors fails — a full `/run`, no
//! descriptors left, `fork` refused, supervisors and scanners killed at random
//! moments — and the tree keeps its promises: it goes on supervising, says what
//! is wrong once, never writes a torn status record, and recovers by itself.
//! Each test runs in its own temp dir; the full disk is a tmpfs in a mount
//! namespace of its own; fork is refused to a user id no one else uses.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use nix::sys::signal::Signal;
use svkit_core::event::Goal;
use svkit_core::{lock, status};

use crate::util::*;

/// How many lines of `log` contain `needle`.
fn count(log: &str, needle: &str) -> usize {
    log.lines().filter(|l| l.contains(needle)).count()
}

/// The last pid a run script appended to `file` (one per line).
fn last_pid(file: &Path) -> u64 {
    fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0)
}

/// A thread that reads status records in a loop until stopped, and counts the
/// reads and the records that did not decode (torn, short, missing).
struct Reader {
    stop: Arc<AtomicBool>,
    reads: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Reader {
    fn start(dirs: Vec<PathBuf>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let reads = Arc::new(AtomicU64::new(0));
        let (s, r) = (stop.clone(), reads.clone());
        let thread = std::thread::spawn(move || {
            let mut bad = Vec::new();
            while !s.load(Ordering::Relaxed) {
                for d in &dirs {
                    if let Err(e) = status::read(d) {
                        bad.push(format!("{}: {e}", d.display()));
                    }
                    r.fetch_add(1, Ordering::Relaxed);
                }
            }
            bad
        });
        Reader {
            stop,
            reads,
            thread: Some(thread),
        }
    }

    fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Stops the thread; fails the test if a record did not decode.
    #[track_caller]
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let bad = self.thread.take().unwrap().join().unwrap();
        assert!(bad.is_empty(), "records that did not decode: {bad:?}");
        self.reads()
    }
}

/// `/run` full: a supervisor whose service directory is on a 64 kB tmpfs that
/// someone filled. It goes on supervising (a killed service comes back, events
/// go out), each status record it cannot write costs one warning, the file on
/// disk stays the last whole record, and once space returns the current record
/// is written within a second, with one line saying so.
#[test]
fn a_full_run_costs_one_warning_per_record_and_the_status_catches_up() {
    let mut sb = Sandbox::new();
    sb.service("template")
        .run("echo $$ >> ../../pids\nexec sleep 1000");
    fs::create_dir(sb.join("run")).unwrap();
    let mut c = Command::new("unshare");
    c.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(
            "mount -t tmpfs -o size=64k svkit-full \"$1/run\" && cp -a \"$1/template\" \"$1/run/svc\" \
             && exec \"$2\" supervise \"$1/run/svc\"",
        )
        .arg("sh")
        .arg(sb.path())
        .arg(svkit_bin());
    let pid = sb.spawn(c, "svc.log");
    // The tmpfs is only seen from inside the namespace, through the supervisor.
    let inside = |p: &str| {
        PathBuf::from(format!("/proc/{pid}/root")).join(sb.join(p).strip_prefix("/").unwrap())
    };
    let dir = inside("run/svc");
    poll_until("the supervisor on the tmpfs", || {
        fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "svkit")
            && status::read(&dir).is_ok()
    });
    wait_for(&dir, Goal::UP);
    let pids = sb.join("pids");
    let first = read_status(&dir).pid;
    poll_until("the run's pid", || last_pid(&pids) == first);
    let reader = Reader::start(vec![dir.clone()]);

    // Fill the file system.
    let mut w = watch(&dir);
    let mut fill = File::create(inside("run/fill")).unwrap();
    let block = [0u8; 4096];
    let full = loop {
        if let Err(e) = fill.write_all(&block) {
            break e;
        }
    };
    assert_eq!(full.raw_os_error(), Some(libc::ENOSPC), "{full}");
    let refused = "supervise/status - trying again every 1 second: No space left on device";

    // Two restarts on a full disk: each down and each up is refused, and said so once.
    for round in 1..=2 {
        sb.svkit("svc").arg("-k").arg(&dir).assert().success();
        wait_on(&mut w, Goal::DOWN);
        wait_on(&mut w, Goal::UP);
        poll_until("the new run's pid", || {
            fs::read_to_string(&pids).unwrap().lines().count() == round + 1
        });
        let now = last_pid(&pids);
        assert!(
            Path::new(&format!("/proc/{now}")).exists(),
            "the service runs"
        );
        let on_disk = read_status(&dir);
        assert_eq!(on_disk.pid, first, "the last whole record stays");
        let log = sb.log("svc");
        assert_eq!(count(&log, refused), 2 * round, "{log}");
    }
    assert!(!inside("run/svc/supervise/status.new").exists());

    // Space returns: the current record is written without any command.
    drop(fill);
    fs::remove_file(inside("run/fill")).unwrap();
    let current = last_pid(&pids);
    assert_ne!(current, first);
    poll_until("the current record on disk", || {
        status::read(&dir).is_ok_and(|s| s.pid == current)
    });
    poll_until("the recovery line", || {
        count(&sb.log("svc"), "info: supervise/status written again") == 1
    });
    let log = sb.log("svc");
    assert_eq!(count(&log, refused), 4, "{log}");
    assert_eq!(
        count(&log, "warning: unable to write supervise/status"),
        4,
        "{log}"
    );
    assert!(reader.finish() > 0);
}

/// Descriptors exhausted: a scanner whose descriptor limit is lowered to 48 while
/// it runs (without `CAP_SYS_RESOURCE` a test can lower a hard limit but never
/// raise it again, so the soft limit is what moves), then given 40 services with
/// loggers — two descriptors per log pipe. It says once per service what it
/// cannot do, supervises what it can, never exits; once the limit is back, it
/// completes the tree by itself (its scans retry, 1 s, 2 s, 4 s… apart, while
/// they run short).
#[test]
fn descriptors_exhausted_the_scanner_says_so_once_and_completes_the_tree_later() {
    let mut sb = Sandbox::new();
    fs::create_dir(sb.join("scan")).unwrap();
    let scanner = sb.svscan("scan");
    wait_file(&sb.join("scan/.s6-svscan/control"));
    let limit = |soft: &str| {
        let out = Command::new("prlimit")
            .arg(format!("--pid={scanner}"))
            .arg(format!("--nofile={soft}:"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    limit("48");
    let names: Vec<String> = (0..40).map(|i| format!("s{i:02}")).collect();
    for n in &names {
        sb.service(&format!("scan/{n}")).run("exec sleep 1000");
        sb.service(&format!("scan/{n}/log"))
            .run("exec cat > /dev/null");
    }
    sb.svkit("svscanctl")
        .args(["-a", "scan"])
        .assert()
        .success();
    poll_until("a warning about descriptors", || {
        sb.log("svscan").contains("Too many open files")
    });
    let supervised = || {
        names
            .iter()
            .filter(|n| status::read(&sb.join(&format!("scan/{n}"))).is_ok())
            .count()
    };
    // What got a pipe is supervised, logger included.
    poll_until("the services that got a pipe", || {
        let log = sb.log("svscan");
        supervised() + count(&log, "unable to create a log pipe for") == names.len()
    });
    assert!(supervised() > 0);
    let before = sb.log("svscan");
    for line in before.lines() {
        assert!(
            line.starts_with("svscan: warning: unable to create a log pipe for s")
                && line.ends_with(": Too many open files"),
            "{before}"
        );
    }
    for n in &names {
        assert!(
            count(&before, &format!(" {n}:")) <= 1,
            "{n} warned about twice: {before}"
        );
    }

    limit("1024");
    for n in &names {
        let dir = sb.join(&format!("scan/{n}"));
        poll_until_within(Duration::from_secs(90), &format!("{n} supervised"), || {
            status::read(&dir).is_ok_and(|s| s.is_up())
                && status::read(&dir.join("log")).is_ok_and(|s| s.is_up())
        });
    }
    assert!(
        Path::new(&format!("/proc/{scanner}")).exists(),
        "the scanner is still there"
    );
    let after = sb.log("svscan");
    assert_eq!(after, before, "no more warnings once descriptors returned");
}

/// A user id that nothing else on the machine runs as: `RLIMIT_NPROC` counts
/// every process of the user.
const NPROC_UID: &str = "47213";

fn as_user(cmd: &mut Command) -> &mut Command {
    cmd.args([
        &format!("--reuid={NPROC_UID}"),
        &format!("--regid={NPROC_UID}"),
        "--clear-groups",
        "--",
    ])
}

/// `fork` refused: the user's processes are at its `RLIMIT_NPROC`, held by
/// other processes of the same user. The scanner and its supervisors cannot
/// start what they need; each says so in one line (`Resource temporarily
/// unavailable`) and backs off (1 s, 2 s, 4 s… 60 s) instead of spinning; none
/// exits. Once the other processes end, every service comes up by itself.
#[test]
fn fork_refused_backs_off_and_everything_comes_up_when_processes_free_up() {
    let mut sb = Sandbox::new();
    std::os::unix::fs::chown(sb.path(), Some(47213), Some(47213)).unwrap();
    let names = ["a", "b", "c"];
    for n in names {
        sb.service(&format!("scan/{n}")).run("exec sleep 1000");
    }
    Command::new("chown")
        .args(["-R", &format!("{NPROC_UID}:{NPROC_UID}")])
        .arg(sb.join("scan"))
        .status()
        .unwrap();
    let bin = sb.join("svkit");
    fs::copy(svkit_bin(), &bin).unwrap();
    let user_procs = || {
        fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| {
                fs::read_to_string(e.path().join("status")).is_ok_and(|s| {
                    s.lines().any(|l| {
                        l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some(NPROC_UID)
                    })
                })
            })
            .count()
    };
    assert_eq!(user_procs(), 0, "uid {NPROC_UID} is in use on this machine");
    // Eight processes of the user hold the quota (10): the scanner makes nine,
    // and one more fork succeeds; everything else is refused.
    let mut hogs = Vec::new();
    for i in 0..8 {
        let mut h = Command::new("setpriv");
        as_user(&mut h).args(["sleep", "1000"]);
        hogs.push(sb.spawn(h, &format!("hog{i}.log")));
    }
    poll_until("the hogs", || user_procs() == 8);
    let mut c = Command::new("prlimit");
    c.args(["--nproc=10:10", "--", "setpriv"]);
    as_user(&mut c).arg(&bin).args(["svscan", "scan"]);
    let scanner = sb.spawn(c, "svscan.log");
    // The supervisor that could not fork its service backs off: 1 s, then 2 s.
    poll_until("fork refused twice in a row", || {
        sb.log("svscan").contains(
            ": warning: unable to spawn ./run: Resource temporarily unavailable - waiting 2 seconds",
        )
    });
    let log = sb.log("svscan");
    assert!(
        log.contains("- waiting 1 seconds\n"),
        "the first wait is a second: {log}"
    );
    for line in log.lines() {
        let scanner_line = line.starts_with("svscan: warning: unable to spawn supervise ")
            && line.ends_with(": Resource temporarily unavailable");
        let supervisor_line = line.starts_with("supervise ")
            && line.contains(
                ": warning: unable to spawn ./run: Resource temporarily unavailable - waiting ",
            );
        assert!(scanner_line || supervisor_line, "{log}");
    }
    for n in names {
        assert!(
            count(&log, &format!("spawn supervise {n}:")) <= 1,
            "the scanner said it twice: {log}"
        );
    }

    for h in hogs {
        signal(h, Signal::SIGKILL);
        sb.wait_exit(h);
    }
    for n in names {
        let dir = sb.join(&format!("scan/{n}"));
        poll_until_within(Duration::from_secs(90), &format!("{n} up"), || {
            status::read(&dir).is_ok_and(|s| s.is_up())
        });
    }
    assert!(Path::new(&format!("/proc/{scanner}")).exists());
    assert_eq!(
        user_procs(),
        1 + 2 * names.len(),
        "the scanner, 3 supervisors, 3 services"
    );
}

/// xorshift64*: a generator for the fault schedule, seeded from the clock unless
/// `SVKIT_FAULT_SEED` is set; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let seed = std::env::var("SVKIT_FAULT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
                    | 1
            });
        eprintln!("fault schedule: SVKIT_FAULT_SEED={seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

/// A live (not zombie) process's state letter, if it exists.
fn proc_state(pid: u64) -> Option<u8> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().bytes().next().filter(|&b| b != b'Z')
}

/// The live processes whose working directory is `dir`, other than its
/// supervisor (the lock's holder) and svkit's own: the service's `run` (or its
/// `finish`). Host pids; `dir` may be a path into a container (the directories
/// are compared, not their names).
fn processes_in(dir: &Path) -> Vec<u64> {
    use std::os::unix::fs::MetadataExt;
    let Ok(want) = fs::metadata(dir).map(|m| (m.dev(), m.ino())) else {
        return Vec::new();
    };
    let svkit = fs::metadata(svkit_bin()).map(|m| (m.dev(), m.ino())).ok();
    let holder = supervisor(dir);
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
        .filter(|pid| {
            fs::metadata(format!("/proc/{pid}/cwd")).is_ok_and(|m| (m.dev(), m.ino()) == want)
        })
        .filter(|pid| {
            fs::metadata(format!("/proc/{pid}/exe"))
                .is_ok_and(|m| Some((m.dev(), m.ino())) != svkit)
        })
        .filter(|&pid| pid != holder && proc_state(pid).is_some())
        .collect()
}

/// A host pid's pid in its own (innermost) PID namespace.
fn ns_pid(pid: u64) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("NSpid:"))?.to_owned();
            line.split_whitespace().last()?.parse().ok()
        })
        .unwrap_or(0)
}

/// SIGKILL to `pid`, if it is a process to kill (not 0, not PID 1); it may be
/// gone already.
fn kill(pid: u64) {
    if pid > 1 {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap()),
            Signal::SIGKILL,
        );
    }
}

/// The pid of the supervisor holding `dir`'s lock, or 0.
fn supervisor(dir: &Path) -> u64 {
    lock::holder(&dir.join("supervise/lock"))
        .ok()
        .flatten()
        .map_or(0, |p| u64::try_from(p).unwrap_or(0))
}

/// What keeps `dirs` from being converged: every one supervised, up, and run by
/// exactly one process, the one its status names. `None` once converged.
fn not_converged(dirs: &[PathBuf]) -> Option<String> {
    for d in dirs {
        if supervisor(d) == 0 {
            return Some(format!("{}: no supervisor", d.display()));
        }
        let st = match status::read(d) {
            Ok(st) if st.is_up() => st,
            Ok(_) => return Some(format!("{}: down", d.display())),
            Err(e) => return Some(format!("{}: {e}", d.display())),
        };
        let running: Vec<u64> = processes_in(d).into_iter().map(ns_pid).collect();
        if running != [st.pid] {
            return Some(format!(
                "{}: status says pid {}, running: {running:?}",
                d.display(),
                st.pid
            ));
        }
    }
    None
}

/// Waits until `dirs` converge; on failure, says what did not and shows `logs`.
#[track_caller]
fn converge(dirs: &[PathBuf], round: usize, logs: impl Fn() -> String) {
    let mut why = None;
    let end = std::time::Instant::now() + Duration::from_secs(60);
    poll_until_within(Duration::from_secs(61), "convergence", || {
        why = not_converged(dirs);
        why.is_none() || std::time::Instant::now() > end
    });
    if let Some(why) = why {
        panic!(
            "round {round}: {why}\nthe supervision tree said:\n{}",
            logs()
        );
    }
}

/// 200 rounds of SIGKILL at random moments — to the scanner (a new one is then
/// started, as systemd or an init would), to supervisors of services and of
/// loggers, to services and loggers, to a supervisor in the middle of a restart,
/// to the scanner and a supervisor at once — while a reader decodes every status
/// file in a loop and `svstat` runs against them. Every 20 rounds and at the end
/// the tree must converge: every service and logger up, exactly once (no orphan
/// left running next to its replacement), and no record ever read torn.
#[test]
fn two_hundred_sigkills_at_random_moments_and_the_tree_converges() {
    const SERVICES: usize = 12;
    let mut sb = Sandbox::new();
    let mut dirs = Vec::new();
    for i in 0..SERVICES {
        let name = format!("scan/s{i:02}");
        let s = sb.service(&name).run("exec sleep 100000");
        if i % 3 == 0 {
            s.finish("exit 0");
        }
        sb.service(&format!("{name}/log"))
            .run("exec cat > /dev/null");
        dirs.push(sb.join(&name));
        dirs.push(sb.join(&format!("{name}/log")));
    }
    let svscan = |sb: &mut Sandbox, round: usize| {
        let mut c = Command::new(svkit_bin());
        std::os::unix::process::CommandExt::arg0(&mut c, "svscan").arg("scan");
        sb.spawn(c, &format!("svscan-{round}.log"))
    };
    let mut scanner = svscan(&mut sb, 0);
    let root = sb.path().to_owned();
    let logs = |round: usize| {
        (0..=round)
            .map(|r| fs::read_to_string(root.join(format!("svscan-{r}.log"))).unwrap_or_default())
            .collect::<String>()
    };
    converge(&dirs, 0, || logs(0));

    let reader = Reader::start(dirs.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let svstats = {
        let (stop, dirs) = (stop.clone(), dirs.clone());
        std::thread::spawn(move || {
            let mut runs = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let mut c = Command::new(svkit_bin());
                std::os::unix::process::CommandExt::arg0(&mut c, "svstat");
                let out = c.args(&dirs[..1]).output().unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                let err = String::from_utf8_lossy(&out.stderr);
                let fine = (out.status.code() == Some(0)
                    && (text.starts_with("up (pid ") || text.starts_with("down (")))
                    || (out.status.code() == Some(1) && err.contains("supervisor not running"));
                assert!(fine, "svstat: {:?} {text} {err}", out.status);
                runs += 1;
            }
            runs
        })
    };

    let mut rng = Rng::new();
    let mut kinds = [0u32; 7];
    for round in 1..=200 {
        let i = usize::try_from(rng.below(SERVICES as u64)).unwrap();
        let (service, logger) = (&dirs[2 * i], &dirs[2 * i + 1]);
        let kind = usize::try_from(rng.below(7)).unwrap();
        kinds[kind] += 1;
        match kind {
            0 | 6 => {
                if kind == 6 {
                    kill(supervisor(service));
                }
                kill(u64::from(scanner));
                sb.wait_exit(scanner);
                scanner = svscan(&mut sb, round);
            }
            1 => kill(supervisor(service)),
            2 => kill(supervisor(logger)),
            3 => kill(status::read(service).map_or(0, |s| s.pid)),
            4 => kill(status::read(logger).map_or(0, |s| s.pid)),
            _ => {
                let _ = sb.svkit("svc").arg("-r").arg(service).output();
                kill(supervisor(service));
            }
        }
        // A random moment: the reader's next 0 to 2,000 records.
        let until = reader.reads() + rng.below(2000);
        poll_until("the reader", || reader.reads() >= until);
        if round % 20 == 0 {
            converge(&dirs, round, || logs(round));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let runs = svstats.join().unwrap();
    let reads = reader.finish();
    eprintln!("kinds of kill: {kinds:?}; {reads} records read, {runs} svstat runs");
    assert!(reads > 0 && runs > 0);
}

/// Found by the rounds above. A scanner killed and replaced, then a supervisor
/// of its killed: the new supervisor's service must write into the pipe the
/// old logger still reads. The new scanner adopts that pipe (through `/proc`)
/// instead of making one nobody reads, where the service would block once it
/// filled and the logger, fed by nobody, would see end of file over and over.
#[test]
fn after_a_scanner_is_replaced_a_new_supervisor_still_feeds_the_old_logger() {
    let mut sb = Sandbox::new();
    sb.service("scan/a")
        .run("echo \"line from $$\"\nexec sleep 1000");
    sb.service("scan/a/log").run("exec cat >> ../../../out");
    let first = sb.svscan("scan");
    let a = sb.join("scan/a");
    wait_for(&a, Goal::UP);
    wait_for(&a.join("log"), Goal::UP);
    let out = sb.join("out");
    let old = read_status(&a).pid;
    read_when(&out, |s| s.contains(&format!("line from {old}\n")));
    let logger = read_status(&a.join("log")).pid;

    signal(first, Signal::SIGKILL);
    sb.wait_exit(first);
    let mut c = Command::new(svkit_bin());
    std::os::unix::process::CommandExt::arg0(&mut c, "svscan").arg("scan");
    sb.spawn(c, "svscan-2.log");
    poll_until("the new scanner's warning", || {
        fs::read_to_string(sb.join("svscan-2.log"))
            .is_ok_and(|l| l.contains("a is already supervised"))
    });
    let sup = sb.supervisor_of(&a);
    signal(u32::try_from(sup).unwrap(), Signal::SIGKILL);
    poll_until("a new supervisor and run", || {
        status::read(&a).is_ok_and(|s| s.is_up() && s.pid != old)
    });
    let new = read_status(&a).pid;
    read_when(&out, |s| s.contains(&format!("line from {new}\n")));
    assert_eq!(read_status(&a.join("log")).pid, logger, "the same logger");
}

/// Found by the rounds above: a supervisor killed between its fork of `run` and
/// its status write leaves a `run` that no status file names. Its replacement
/// finds it among its ancestors' children (a session leader working in the
/// service directory) and stops it before starting anew. Here the orphan is
/// made by hand: a session leader in the directory, child of the test (the
/// supervisor's parent), and a status file written now naming another, dead run.
#[test]
fn a_run_no_status_names_is_found_and_stopped_before_a_new_one_starts() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    let dir = sb.join("a");
    fs::create_dir(dir.join("supervise")).unwrap();
    let stale = status::Status {
        pid: 999_999_999,
        wantup: true,
        stamp: svkit_core::Tai64n::now(),
        ..Default::default()
    };
    status::write(&dir, &stale).unwrap();
    let mut o = Command::new("sh");
    o.args(["-c", "cd a && exec setsid sleep 1001"]);
    let orphan = sb.spawn(o, "orphan.log");
    poll_until("the orphan's session", || {
        processes_in(&dir) == [u64::from(orphan)]
            && svkit_core::process::proc_info(i32::try_from(orphan).unwrap())
                .is_ok_and(|i| i.session == i32::try_from(orphan).unwrap())
    });
    sb.supervise("a");
    assert_eq!(sb.wait_exit(orphan), None, "killed by a signal");
    // The stale file says "up" already: wait for the new run's record.
    poll_until("the new run", || {
        status::read(&dir).is_ok_and(|s| s.is_up() && s.pid != stale.pid)
    });
    assert!(sb.log("a").contains(&format!(
        "supervise a: warning: the previous supervisor left pid {orphan} running: stopping its process group before starting anew\n"
    )));
    assert_eq!(processes_in(&dir), [read_status(&dir).pid]);
}

/// The same inside a container under `/init`, with the catch-all logger
/// (`S6_LOGGING=1`): 60 rounds of SIGKILL at random moments to the helpers PID 1
/// runs — supervisors, the catch-all logger and its supervisor, services and
/// their loggers, a supervisor and its service at once. Every 15 rounds and at
/// the end the tree converges, every record read decodes, and `docker stop`
/// still ends the container cleanly with exit code 0.
#[test]
fn sigkills_inside_a_container_and_the_tree_converges_then_stops_cleanly() {
    let mut sb = Sandbox::new();
    let names = ["a", "b", "c"];
    for n in names {
        sb.service(&format!("etc/services.d/{n}"))
            .run("exec sleep 1000");
        sb.service(&format!("etc/services.d/{n}/log"))
            .run("exec cat > /dev/null");
    }
    let c = sb.container(&["-e", "S6_LOGGING=1"], &[]);
    let mut dirs = vec![c.path("/run/service/s6-svscan-log")];
    for n in names {
        dirs.push(c.service(n));
        dirs.push(c.service(n).join("log"));
    }
    for d in &dirs {
        c.wait_dir(d, Goal::UP);
    }
    let log_file = sb.join("container.log");
    let logs = || fs::read_to_string(&log_file).unwrap_or_default();
    converge(&dirs, 0, logs);
    let reader = Reader::start(dirs.clone());
    let mut rng = Rng::new();
    let init = u64::from(c.init_pid());
    for round in 1..=60 {
        let d = &dirs[usize::try_from(rng.below(dirs.len() as u64)).unwrap()];
        let kind = rng.below(3);
        if kind != 1 {
            kill(supervisor(d));
        }
        if kind != 0 {
            processes_in(d).into_iter().for_each(kill);
        }
        assert!(
            Path::new(&format!("/proc/{init}")).exists(),
            "PID 1 is alive"
        );
        let until = reader.reads() + rng.below(2000);
        poll_until("the reader", || reader.reads() >= until);
        if round % 15 == 0 {
            converge(&dirs, round, logs);
        }
    }
    assert!(reader.finish() > 0);
    signal(u32::try_from(init).unwrap(), Signal::SIGTERM);
    assert_eq!(sb.wait_exit(c.pid), Some(0), "{}", logs());
}

/// A `run` that forks a daemon and exits (the classic mistake: a program that
/// backgrounds itself), the daemon ignoring SIGTERM, in a container. The
/// supervisor restarts `run` (at most once a second), the daemons are orphans
/// that PID 1 adopts and keeps alive, never zombies; and `docker stop` still
/// ends the container: SIGTERM to everything, then SIGKILL after
/// `S6_KILL_GRACETIME`, exit code 0.
#[test]
fn a_run_that_forks_a_daemon_and_exits_and_the_container_still_stops() {
    let mut sb = Sandbox::new();
    sb.service("etc/services.d/forker")
        .run("(trap '' TERM; exec sleep 1001) &\necho $! >> /run/daemons\nexit 0");
    let c = sb.container(
        &[
            "-e",
            "S6_SERVICES_GRACETIME=100",
            "-e",
            "S6_KILL_GRACETIME=100",
        ],
        &[],
    );
    let daemons = c.path("/run/daemons");
    read_when(&daemons, |s| s.lines().count() >= 2);
    let init = c.init_pid();
    let first: u64 = fs::read_to_string(&daemons)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let host = host_pid(init, first);
    let stat = fs::read_to_string(format!("/proc/{host}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    assert_eq!(fields[0], "S", "the daemon runs: {stat}");
    assert_eq!(fields[1], init.to_string(), "PID 1 adopted it: {stat}");
    signal(init, Signal::SIGTERM);
    assert_eq!(sb.wait_exit(c.pid), Some(0));
    let log = sb.log("container");
    assert!(
        log.contains("[s6-finish] sending all processes the KILL signal and exiting.\n"),
        "{log}"
    );
    assert!(!Path::new(&format!("/proc/{host}")).exists());
}

/// A service whose whole process group ignores SIGTERM. `svc -d` sends the
/// down signal to `run` (as s6 does), `timeout-kill` ends it with SIGKILL, and
/// `finish`, which gets the process group as its fourth argument, ends the rest
/// of the group (`kill -9 -$4`); `timeout-finish` bounds that.
/// When `svc -wD` returns, nothing of the group is left.
#[test]
fn a_process_group_that_ignores_term_ends_within_timeout_kill_and_finish() {
    let mut sb = Sandbox::new();
    sb.service("g")
        .run("trap '' TERM\nsleep 1001 &\nsleep 1002 &\necho ready > ../ready\nwait")
        .finish("kill -9 -$4")
        .file("timeout-kill", "200\n")
        .file("timeout-finish", "2000\n");
    let dir = sb.start("g", Goal::UP);
    wait_file(&sb.join("ready"));
    let group = read_status(&dir).pid;
    let members = || -> Vec<u64> {
        fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter_map(|e| e.file_name().to_str()?.parse::<u64>().ok())
            .filter(|&pid| {
                svkit_core::process::proc_info(i32::try_from(pid).unwrap()).is_ok_and(|i| {
                    i64::from(i.pgrp) == i64::try_from(group).unwrap() && i.state != b'Z'
                })
            })
            .collect()
    };
    assert_eq!(members().len(), 3, "run and two sleeps");
    sb.svkit("svc")
        .args(["-wD", "-T", "5000", "-d"])
        .arg(&dir)
        .assert()
        .success();
    let st = read_status(&dir);
    assert_eq!(st.signal(), Some(9), "run was killed after timeout-kill");
    // SIGKILL was sent before finish exited; dying takes the killed a moment.
    poll_until("the group gone", || members().is_empty());
}

/// The search for unrecorded orphans never takes an ancestor: a shell working
/// in the service directory, session leader without a terminal (a script run by
/// `setsid`, a `sudo` monitor), that starts the supervisor there, survives it.
#[test]
fn the_shell_that_starts_a_supervisor_in_its_directory_is_not_taken_for_an_orphan() {
    let mut sb = Sandbox::new();
    sb.service("a").run("exec sleep 1000");
    let dir = sb.join("a");
    let first = sb.supervise("a");
    wait_for(&dir, Goal::UP);
    sb.svkit("svc")
        .args(["-wD", "-dx"])
        .arg(&dir)
        .assert()
        .success();
    sb.wait_exit(first);
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("cd a && exec setsid sh -c '\"$0\" supervise . & wait; echo survived > ../shell' \"$0\"")
        .arg(svkit_bin());
    let shell = sb.spawn(c, "shell.log");
    wait_for(&dir, Goal::UP);
    sb.svkit("svc")
        .args(["-wD", "-dx"])
        .arg(&dir)
        .assert()
        .success();
    assert_eq!(
        read_when(&sb.join("shell"), |s| s.ends_with('\n')),
        "survived\n"
    );
    assert_eq!(sb.wait_exit(shell), Some(0));
    assert!(
        !sb.log("shell").contains("previous supervisor"),
        "{}",
        sb.log("shell")
    );
}

/// A logging script whose regular expression would take the C library minutes
/// to compile (concatenated optional repetitions, found in review: `x??+`
/// 24 times): `log` compiles it first in a child limited to 1 s of CPU and
/// 512 MB, and refuses it in one line, exit 100, instead of hanging at start.
#[test]
fn a_regular_expression_too_costly_to_compile_is_refused_not_waited_for() {
    let sb = Sandbox::new();
    let out = sb
        .svkit("log")
        .arg(format!("+{}", "x??+".repeat(24)))
        .arg("1")
        .write_stdin("hello\n")
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(100));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("log: fatal: invalid regular expression in directive +x??+")
            && err.ends_with(": Regular expression too big\n"),
        "{err}"
    );
}
