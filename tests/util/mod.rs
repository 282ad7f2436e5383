//! The integration-test harness: one sandbox per test (a temp dir, a tag that every
//! process it starts inherits, and a Drop that kills them all), tools found by the
//! binary's own path, and the only two ways a test may wait — events, or
//! [`poll_until`] with a deadline.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use svkit_core::event::{Goal, Watch};
use svkit_core::{Status, status};
use tempfile::TempDir;

/// How long any wait may take before the test fails. A bound, never a delay.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Environment variable carrying the sandbox tag into every process a test starts.
const TAG_VAR: &str = "SVKIT_TEST_TAG";

/// The svkit multi-call binary under test.
pub fn svkit_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_svkit"))
}

/// A real s6 program from Debian's `s6` package: the compatibility oracle.
pub fn s6_bin(name: &str) -> PathBuf {
    let p = PathBuf::from("/usr/bin").join(name);
    assert!(
        p.exists(),
        "{} is missing: the interop tests need Debian's s6 (apt-get install s6; .ci/run does it)",
        p.display()
    );
    p
}

/// Waits until `cond` holds, checking every 10 ms; fails the test after [`DEADLINE`].
/// The one place in the tests that sleeps.
#[track_caller]
pub fn poll_until(what: &str, cond: impl FnMut() -> bool) {
    poll_until_within(DEADLINE, what, cond);
}

/// [`poll_until`] with another bound, for the few tests whose work is big by
/// design (10,000 services).
#[track_caller]
pub fn poll_until_within(bound: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + bound;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10)); // poll_until's step: the only sleep
    }
}

/// Creates an executable file in one open/write/close, before anything is spawned
/// from it (the ETXTBSY race needs a write fd alive across someone's fork).
pub fn write_exec(path: &Path, body: &str) {
    let mut f = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o755)
        .open(path)
        .unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    f.write_all(body.as_bytes()).unwrap();
}

/// The status record of `dir`.
#[track_caller]
pub fn read_status(dir: &Path) -> Status {
    status::read(dir).unwrap_or_else(|e| panic!("read status of {}: {e}", dir.display()))
}

/// Waits until the service at `dir` is supervised (status written), then until it
/// reaches `goal`: subscribe, read status, wait — as s6-svwait does.
#[track_caller]
pub fn wait_for(dir: &Path, goal: Goal) {
    poll_until("a status file", || status::read(dir).is_ok());
    let mut w = Watch::new(&[dir]).expect("subscribe");
    w.wait(goal, false, Some(Instant::now() + DEADLINE))
        .unwrap_or_else(|e| panic!("{} never reached {goal:?}: {e:?}", dir.display()));
}

/// Subscribes to `dir` now, to wait later for a state reached after some action.
pub fn watch(dir: &Path) -> Watch {
    poll_until("a status file", || status::read(dir).is_ok());
    Watch::new(&[dir]).expect("subscribe")
}

/// Waits on a subscription made earlier.
#[track_caller]
pub fn wait_on(w: &mut Watch, goal: Goal) -> u32 {
    w.wait(goal, false, Some(Instant::now() + DEADLINE))
        .unwrap_or_else(|e| panic!("never reached {goal:?}: {e:?}"))
}

/// Waits until `path` exists.
#[track_caller]
pub fn wait_file(path: &Path) {
    poll_until(&format!("{}", path.display()), || path.exists());
}

/// Reads a file that a service writes, once it exists and satisfies `done`.
#[track_caller]
pub fn read_when(path: &Path, done: impl Fn(&str) -> bool) -> String {
    let mut got = String::new();
    poll_until(&format!("{}", path.display()), || {
        got = fs::read_to_string(path).unwrap_or_default();
        done(&got)
    });
    got
}

/// One test's world: a temp directory, and every process started under a tag.
pub struct Sandbox {
    dir: TempDir,
    tag: String,
    children: Vec<Child>,
}

/// A service directory being written.
pub struct ServiceDir {
    pub path: PathBuf,
}

impl ServiceDir {
    /// `run`, as a `/bin/sh` script body.
    pub fn run(self, body: &str) -> Self {
        write_exec(&self.path.join("run"), &format!("#!/bin/sh\n{body}\n"));
        self
    }

    /// `finish`, as a `/bin/sh` script body.
    pub fn finish(self, body: &str) -> Self {
        write_exec(&self.path.join("finish"), &format!("#!/bin/sh\n{body}\n"));
        self
    }

    /// An executable file with exactly this content (shebang included).
    pub fn exec(self, name: &str, content: &str) -> Self {
        let p = self.path.join(name);
        if let Some(d) = p.parent() {
            fs::create_dir_all(d).unwrap();
        }
        write_exec(&p, content);
        self
    }

    /// Any other file.
    pub fn file(self, name: &str, content: &str) -> Self {
        fs::write(self.path.join(name), content).unwrap();
        self
    }

    /// The `down` file.
    pub fn down(self) -> Self {
        self.file("down", "")
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Sandbox {
    pub fn new() -> Self {
        // Orphans of the processes we start (a service whose supervisor was killed)
        // are re-parented to us, not to the machine's init, so Drop can reap them.
        let _ = nix::sys::prctl::set_child_subreaper(true);
        let tag = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        Sandbox {
            dir: tempfile::Builder::new()
                .prefix("svkit-test")
                .tempdir()
                .unwrap(),
            tag,
            children: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `path/name`.
    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A new service directory `name`.
    pub fn service(&self, name: &str) -> ServiceDir {
        let path = self.join(name);
        fs::create_dir_all(&path).unwrap();
        ServiceDir { path }
    }

    fn tagged(&self, mut cmd: Command) -> Command {
        cmd.env(TAG_VAR, &self.tag).current_dir(self.path());
        cmd
    }

    /// An svkit tool, called by `name` through argv\[0\], run in the sandbox.
    pub fn svkit(&self, name: &str) -> assert_cmd::Command {
        let mut c = Command::new(svkit_bin());
        c.arg0(name);
        assert_cmd::Command::from_std(self.tagged(c))
    }

    /// A real s6 tool, run in the sandbox.
    pub fn s6(&self, name: &str) -> assert_cmd::Command {
        assert_cmd::Command::from_std(self.tagged(Command::new(s6_bin(name))))
    }

    /// Starts a long-running process (a supervisor), stderr into `<log>`.
    pub fn spawn(&mut self, mut cmd: Command, log: &str) -> u32 {
        let err = File::create(self.join(log)).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(err.try_clone().unwrap()))
            .stderr(err);
        let child = self.tagged(cmd).spawn().expect("spawn");
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// svkit's `supervise NAME` (NAME relative to the sandbox); stderr in `NAME.log`.
    pub fn supervise(&mut self, name: &str) -> u32 {
        let mut c = Command::new(svkit_bin());
        c.arg0("supervise").arg(name);
        self.spawn(c, &format!("{name}.log"))
    }

    /// svkit's `supervise NAME`, then waits until the service reaches `goal`; the
    /// service directory's path.
    #[track_caller]
    pub fn start(&mut self, name: &str, goal: Goal) -> PathBuf {
        self.supervise(name);
        let dir = self.join(name);
        wait_for(&dir, goal);
        dir
    }

    /// A FIFO `name` in the sandbox: a gate a run script can block on (`read x < ../gate`)
    /// until the test writes a line to it.
    pub fn fifo(&self, name: &str) -> PathBuf {
        let p = self.join(name);
        nix::unistd::mkfifo(&p, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        p
    }

    /// svkit's `svscan DIR` (relative to the sandbox); stdout and stderr in `svscan.log`.
    pub fn svscan(&mut self, dir: &str) -> u32 {
        let mut c = Command::new(svkit_bin());
        c.arg0("svscan").arg(dir);
        self.spawn(c, "svscan.log")
    }

    /// The pid of the supervisor holding `dir`'s lock, once there is one.
    #[track_caller]
    pub fn supervisor_of(&self, dir: &Path) -> i32 {
        let mut pid = None;
        poll_until(&format!("a supervisor on {}", dir.display()), || {
            pid = svkit_core::lock::holder(&dir.join("supervise/lock"))
                .ok()
                .flatten();
            pid.is_some()
        });
        pid.unwrap()
    }

    /// Real `s6-supervise NAME`; stderr in `NAME.log`.
    pub fn s6_supervise(&mut self, name: &str) -> u32 {
        let mut c = Command::new(s6_bin("s6-supervise"));
        c.arg(name);
        self.spawn(c, &format!("{name}.log"))
    }

    /// What a supervisor started with [`Sandbox::supervise`] wrote to stderr.
    pub fn log(&self, name: &str) -> String {
        fs::read_to_string(self.join(&format!("{name}.log"))).unwrap_or_default()
    }

    /// Waits for a started child to exit; its exit code.
    #[track_caller]
    pub fn wait_exit(&mut self, pid: u32) -> Option<i32> {
        let i = self
            .children
            .iter()
            .position(|c| c.id() == pid)
            .expect("one of our children");
        let mut child = self.children.remove(i);
        let mut out = None;
        poll_until("a supervisor to exit", || match child.try_wait() {
            Ok(Some(st)) => {
                out = Some(st.code());
                true
            }
            Ok(None) => false,
            Err(e) => panic!("wait: {e}"),
        });
        out.flatten()
    }

    /// Processes (other than us) carrying this sandbox's tag.
    fn tagged_pids(&self) -> Vec<i32> {
        let needle = format!("{TAG_VAR}={}", self.tag);
        let me = std::process::id().to_string();
        fs::read_dir("/proc")
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                    .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && *n != me)
                    .filter(|n| {
                        fs::read(format!("/proc/{n}/environ")).is_ok_and(|env| {
                            env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes())
                        })
                    })
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        // Kill everything that carries our tag — supervisors, services, their
        // children, orphans — until nothing is left, then reap what is ours.
        for _ in 0..50 {
            let pids = self.tagged_pids();
            if pids.is_empty() {
                break;
            }
            for &pid in &pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            for &pid in &pids {
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            }
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends `sig` to the process supervised on `dir` and waits, on events, until
/// it is down and up again (its supervisor restarted it).
#[track_caller]
pub fn kill_and_wait_restart(dir: &Path, sig: nix::sys::signal::Signal) {
    let mut w = watch(dir);
    let pid = read_status(dir).pid;
    assert!(pid != 0, "{} is not up", dir.display());
    signal(u32::try_from(pid).unwrap(), sig);
    wait_on(&mut w, Goal::DOWN);
    wait_on(&mut w, Goal::UP);
}

/// Sends `sig` to a process we started.
pub fn signal(pid: u32, sig: nix::sys::signal::Signal) {
    let pid = nix::unistd::Pid::from_raw(i32::try_from(pid).unwrap());
    nix::sys::signal::kill(pid, sig).unwrap();
}

/// A container: `tools/container.sh` running an image-like root under svkit's
/// `/init`, in new namespaces. Killing the harness (the sandbox does) kills the
/// container: its PID 1 gets SIGKILL when `unshare` dies.
pub struct Container {
    /// The harness process (`unshare`), parent of the container's PID 1.
    pub pid: u32,
    /// The container's root, as seen from here.
    pub root: PathBuf,
}

impl Container {
    /// A path inside the container, as seen from here.
    pub fn path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches('/'))
    }

    /// The copy of `/etc/services.d/NAME` the container supervises.
    pub fn service(&self, name: &str) -> PathBuf {
        self.path(&format!("/run/s6/legacy-services/{name}"))
    }

    /// A path inside the running container, mounts included (a tmpfs `/run`
    /// is only seen from here through its PID 1's root).
    #[track_caller]
    pub fn inside(&self, p: &str) -> PathBuf {
        Path::new(&format!("/proc/{}/root", self.init_pid())).join(p.trim_start_matches('/'))
    }

    /// Waits until the service directory `dir` (an [`inside`](Self::inside)
    /// path) has a supervisor and reaches `goal`.
    #[track_caller]
    pub fn wait_dir(&self, dir: &Path, goal: Goal) {
        poll_until(&format!("{} supervised", dir.display()), || {
            status::read(dir).is_ok()
        });
        wait_for(dir, goal);
    }

    /// The host pid of the container's PID 1.
    #[track_caller]
    pub fn init_pid(&self) -> u32 {
        let mut init = 0;
        poll_until("the container's PID 1", || {
            // Before the harness becomes unshare, its children are setup commands.
            let comm = fs::read_to_string(format!("/proc/{}/comm", self.pid)).unwrap_or_default();
            if comm.trim() != "unshare" {
                return false;
            }
            init = fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid))
                .unwrap_or_default()
                .split_whitespace()
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            init != 0
        });
        init
    }

    /// Waits until service `name` has a supervisor and reaches `goal`.
    #[track_caller]
    pub fn wait_service(&self, name: &str, goal: Goal) {
        self.wait_dir(&self.service(name), goal);
    }
}

impl Sandbox {
    /// Starts a container whose `/etc` is the sandbox's `etc` directory, with
    /// harness options (`-e NAME=VALUE`, `-n`, `-R`…) and a CMD.
    pub fn container(&mut self, opts: &[&str], cmd: &[&str]) -> Container {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/container.sh");
        let root = self.join("root");
        fs::create_dir_all(self.join("etc")).unwrap();
        let mut c = Command::new("sh");
        c.arg(script)
            .arg("-r")
            .arg(&root)
            .arg("-b")
            .arg(svkit_bin())
            .args(opts)
            .arg(self.join("etc"))
            .args(cmd);
        let pid = self.spawn(c, "container.log");
        Container { pid, root }
    }
}

/// The output of a finished command as text.
pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `OsStr` helper.
pub fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// The host pid of the container process whose pid inside the container is `ns_pid`.
pub fn host_pid(init: u32, ns_pid: u64) -> u32 {
    let ns = fs::read_link(format!("/proc/{init}/ns/pid")).unwrap();
    fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| {
            fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns)
                && fs::read_to_string(format!("/proc/{pid}/status")).is_ok_and(|s| {
                    s.lines()
                        .any(|l| l.starts_with("NSpid:") && l.ends_with(&format!("\t{ns_pid}")))
                })
        })
        .unwrap_or_else(|| panic!("no process with pid {ns_pid} in the container"))
}
