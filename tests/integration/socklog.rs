//! `socklog` (s6-socklog) against the real s6-socklog: the same datagrams give
//! the same lines; readiness after binding, the socket lock, SIGTERM, the
//! lame-duck timeout, back-pressure from a stuck stdout, and s6's messages.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::net::UdpSocket;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;

use crate::util::*;

/// A running socklog (ours or s6's), killed when dropped.
struct Logger {
    child: Child,
    notif: PathBuf,
}

impl Logger {
    /// Starts `prog args…` with stdout on `out` and descriptor 3 on a file, and
    /// waits for its readiness newline there (written once the socket is bound
    /// and SIGTERM is handled).
    #[track_caller]
    fn start(dir: &Path, name: &str, prog: &[&str], args: &[&str], out: Stdio) -> Logger {
        let notif = dir.join(format!("{name}.notif"));
        let _ = fs::remove_file(&notif);
        let child = Command::new("/bin/sh")
            .arg("-c")
            .arg(r#"exec 3>"$0"; exec "$@""#)
            .arg(&notif)
            .args(prog)
            .arg("-d3")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(File::create(dir.join(format!("{name}.err"))).unwrap())
            .spawn()
            .expect("spawn");
        let l = Logger { child, notif };
        poll_until(&format!("{name}'s readiness"), || {
            fs::read(&l.notif).is_ok_and(|b| b == b"\n")
        });
        l
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM; the exit code.
    #[track_caller]
    fn term(mut self) -> Option<i32> {
        signal(self.pid(), Signal::SIGTERM);
        self.wait()
    }

    #[track_caller]
    fn wait(&mut self) -> Option<i32> {
        let mut code = None;
        poll_until("the logger to exit", || match self.child.try_wait() {
            Ok(Some(st)) => {
                code = Some(st.code());
                true
            }
            Ok(None) => false,
            Err(e) => panic!("wait: {e}"),
        });
        code.flatten()
    }
}

impl Drop for Logger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SVKIT: &[&str] = &[env!("CARGO_BIN_EXE_svkit"), "socklog"];

fn s6() -> String {
    s6_bin("s6-socklog").display().to_string()
}

/// Waits until `path` holds `n` complete lines; its content.
#[track_caller]
fn lines(path: &Path, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    poll_until(&format!("{n} lines in {}", path.display()), || {
        got = fs::read(path).unwrap_or_default();
        got.iter().filter(|&&b| b == b'\n').count() >= n
    });
    got
}

fn send_all(sock: &Path, dgrams: &[Vec<u8>]) {
    let c = UnixDatagram::unbound().unwrap();
    for d in dgrams {
        c.send_to(d, sock).unwrap();
    }
}

/// Datagrams that exercise every rule. s6-socklog parses `<digits` past the end
/// of a datagram that has no trailing NUL or newline into the previous one's
/// bytes: each unterminated code follows a datagram with no digit there.
fn corpus() -> Vec<Vec<u8>> {
    let mut d: Vec<Vec<u8>> = [
        &b"<13>hello"[..],
        b"<165>Nov 25 12:00:00 host prog[42]: message",
        b"<0>",
        b"<191>last",
        b"<192>x",
        b"<193>x",
        b"<1023>y",
        b"<1024>z",
        b"<4294967295>q",
        b"<4294967296>q",
        b"<abc>x",
        b"<>x",
        b"hi there",
        b"<13",
        b"hi there",
        b"<",
        b"<013>z",
        b"< 1>z",
        b"<+1>z",
        b"a\0b\nc",
        b"<1\0>x",
        b"trail\n\n\0\0",
        b"\n",
        b"\0",
        b"<13>\n",
        b"<13>   spaced",
        b"\xff\xfe binary \x01\x7f",
    ]
    .iter()
    .map(|s| s.to_vec())
    .collect();
    for f in 0..32 {
        d.push(format!("<{}>facility {f}", f * 8 + 4).into_bytes());
    }
    for p in 0..8 {
        d.push(format!("<{}>priority {p}", 8 + p).into_bytes());
    }
    for len in [99, 100, 101, 102, 1023, 1024, 1025, 1026, 2000] {
        d.push(vec![b'A'; len]);
        let mut with_code = b"<14>".to_vec();
        with_code.resize(len, b'B');
        d.push(with_code);
    }
    let mut nl = vec![b'C'; 1023];
    nl.extend(b"\n\n");
    d.push(nl);
    d.push(b"end".to_vec());
    d
}

/// svkit's and s6's output for the same datagrams, with the same options.
fn both(args: &[&str], dgrams: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    let sb = Sandbox::new();
    let s6 = s6();
    let mut outs = Vec::new();
    for (name, prog) in [("svkit", SVKIT.to_vec()), ("s6", vec![s6.as_str()])] {
        let sock = sb.join(&format!("{name}.sock"));
        let out = sb.join(&format!("{name}.out"));
        let mut a = args.to_vec();
        a.extend(["-x", sock.to_str().unwrap()]);
        let l = Logger::start(
            sb.path(),
            name,
            &prog,
            &a,
            File::create(&out).unwrap().into(),
        );
        send_all(&sock, dgrams);
        let got = lines(&out, dgrams.len());
        assert_eq!(l.term(), Some(0), "{name} after SIGTERM");
        assert_eq!(fs::read(&out).unwrap(), got, "{name}: nothing after TERM");
        outs.push(got);
    }
    let s6_out = outs.pop().unwrap();
    (outs.pop().unwrap(), s6_out)
}

#[track_caller]
fn assert_same(args: &[&str]) {
    let d = corpus();
    let (ours, theirs) = both(args, &d);
    if ours != theirs {
        let o = String::from_utf8_lossy(&ours);
        let t = String::from_utf8_lossy(&theirs);
        for (i, (a, b)) in o.lines().zip(t.lines()).enumerate() {
            assert_eq!(a, b, "line {i} differs (datagram {:?})", d.get(i));
        }
        panic!("outputs differ in length:\n{o}\n---\n{t}");
    }
}

#[test]
fn same_lines_as_s6_socklog() {
    assert_same(&[]);
}

#[test]
fn same_lines_as_s6_socklog_with_short_lines() {
    assert_same(&["-l", "100"]);
}

#[test]
fn same_lines_as_s6_socklog_with_a_linelen_below_the_minimum() {
    assert_same(&["-l", "10"]);
}

#[test]
fn same_lines_as_s6_socklog_raw() {
    assert_same(&["-r"]);
}

#[test]
fn names_and_truncation_are_s6s() {
    let (ours, theirs) = both(
        &["-l", "100"],
        &[
            b"<13>hello".to_vec(),
            b"<86>su: session opened".to_vec(),
            b"<36>warned".to_vec(),
            b"<192>mark".to_vec(),
            vec![b'x'; 200],
        ],
    );
    let want = format!(
        "user.notice: hello\nauthpriv.info: su: session opened\nauth.warn: warned\nmark.emerg: mark\n{}...\n",
        "x".repeat(101)
    );
    assert_eq!(String::from_utf8_lossy(&ours), want);
    assert_eq!(ours, theirs);
}

#[test]
fn an_empty_datagram_is_an_empty_line_not_a_crash() {
    // s6-socklog 2.11 dies on it ("unable to recv: Broken pipe", exit 111).
    let sb = Sandbox::new();
    let sock = sb.join("sock");
    let out = sb.join("out");
    let l = Logger::start(
        sb.path(),
        "svkit",
        SVKIT,
        &["-x", sock.to_str().unwrap()],
        File::create(&out).unwrap().into(),
    );
    send_all(&sock, &[b"before".to_vec(), Vec::new(), b"after".to_vec()]);
    assert_eq!(lines(&out, 3), b"before\n\nafter\n");
    assert_eq!(l.term(), Some(0));
}

#[test]
fn udp_lines_start_with_the_client_address() {
    let sb = Sandbox::new();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let cport = client.local_addr().unwrap().port();
    let s6 = s6();
    let mut outs = Vec::new();
    for (name, prog) in [("svkit", SVKIT.to_vec()), ("s6", vec![s6.as_str()])] {
        let out = sb.join(&format!("{name}.out"));
        // A free port: taken, released, then bound by the logger.
        let port = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1_{port}");
        let l = Logger::start(
            sb.path(),
            name,
            &prog,
            &["-i", &addr],
            File::create(&out).unwrap().into(),
        );
        for d in [&b"<13>udp hello"[..], b"plain", b"<30>a\0b\n"] {
            client.send_to(d, ("127.0.0.1", port)).unwrap();
        }
        outs.push(lines(&out, 3));
        assert_eq!(l.term(), Some(0));
    }
    let prefix = format!("127.0.0.1_{cport}: ");
    let want = format!("{prefix}user.notice: udp hello\n{prefix}plain\n{prefix}daemon.info: a~b\n");
    assert_eq!(String::from_utf8_lossy(&outs[0]), want);
    // s6-socklog 2.11 garbles the address (it writes the port over the start of
    // the ip), but what follows it is the same.
    let after = |b: &[u8]| -> Vec<Vec<u8>> {
        b.split(|&c| c == b'\n')
            .map(|l| l.get(prefix.len()..).unwrap_or_default().to_vec())
            .collect()
    };
    assert_eq!(after(&outs[0]), after(&outs[1]));
}

#[test]
fn readiness_comes_after_binding_and_the_socket_is_open_to_all() {
    let sb = Sandbox::new();
    let sock = sb.join("sock");
    // A stale socket left by a dead logger is replaced.
    drop(UnixDatagram::bind(&sock).unwrap());
    assert!(
        UnixDatagram::unbound()
            .unwrap()
            .send_to(b"x", &sock)
            .is_err()
    );
    let out = sb.join("out");
    let l = Logger::start(
        sb.path(),
        "svkit",
        SVKIT,
        &["-x", sock.to_str().unwrap()],
        File::create(&out).unwrap().into(),
    );
    // Ready means bound: the first datagram is accepted and logged.
    let meta = fs::metadata(&sock).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o777);
    assert!(sb.join("sock.lock").exists(), "s6's lock file");
    send_all(&sock, &[b"<13>first".to_vec()]);
    assert_eq!(lines(&out, 1), b"user.notice: first\n");
    assert_eq!(l.term(), Some(0));
}

#[test]
fn a_second_logger_on_the_same_socket_is_refused_either_way() {
    let sb = Sandbox::new();
    let s6 = s6();
    let sock = sb.join("sock");
    let sockarg = sock.to_str().unwrap();
    for (first, second) in [
        (SVKIT.to_vec(), vec![s6.as_str()]),
        (vec![s6.as_str()], SVKIT.to_vec()),
    ] {
        let l = Logger::start(sb.path(), "first", &first, &["-x", sockarg], Stdio::null());
        let errfile = sb.join("second.err");
        let mut other = Logger {
            child: Command::new(second[0])
                .args(&second[1..])
                .args(["-x", sockarg])
                .stdout(Stdio::null())
                .stderr(File::create(&errfile).unwrap())
                .spawn()
                .unwrap(),
            notif: PathBuf::new(),
        };
        assert_eq!(other.wait(), Some(111));
        let err = fs::read_to_string(&errfile).unwrap();
        assert!(
            err.ends_with(&format!(
                ": fatal: unable to bind socket to {sockarg}: Device or resource busy\n"
            )),
            "{err}"
        );
        assert_eq!(l.term(), Some(0));
    }
}

#[test]
fn privileges_are_dropped_after_binding() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let sb = Sandbox::new();
    let s6 = s6();
    let mut seen = Vec::new();
    for (name, prog) in [("svkit", SVKIT.to_vec()), ("s6", vec![s6.as_str()])] {
        let sock = sb.join(&format!("{name}.sock"));
        let l = Logger::start(
            sb.path(),
            name,
            &prog,
            &[
                "-u",
                "65534",
                "-g",
                "65533",
                "-G",
                "7,8",
                "-x",
                sock.to_str().unwrap(),
            ],
            Stdio::null(),
        );
        let status = fs::read_to_string(format!("/proc/{}/status", l.pid())).unwrap();
        let ids: Vec<String> = status
            .lines()
            .filter(|s| s.starts_with("Uid:") || s.starts_with("Gid:") || s.starts_with("Groups:"))
            .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        assert_eq!(
            ids,
            [
                "Uid: 65534 65534 65534 65534",
                "Gid: 65533 65533 65533 65533",
                "Groups: 7 8 65533"
            ],
            "{name}"
        );
        // Bound as root, before the switch: the socket is root's.
        assert_eq!(
            std::os::unix::fs::MetadataExt::uid(&fs::metadata(&sock).unwrap()),
            0
        );
        seen.push(ids);
        assert_eq!(l.term(), Some(0));
    }
    // -U takes the ids from the environment.
    let sock = sb.join("env.sock");
    let mut c = Command::new(SVKIT[0]);
    c.args(&SVKIT[1..])
        .args(["-U", "-x", sock.to_str().unwrap()])
        .env("UID", "65534")
        .env("GID", "65533")
        .env("GIDLIST", "")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = Logger {
        child: c.spawn().unwrap(),
        notif: PathBuf::new(),
    };
    poll_until("the -U logger's ids", || {
        fs::read_to_string(format!("/proc/{}/status", child.pid()))
            .is_ok_and(|s| s.contains("\nGroups:\t65533 \n") && s.contains("\nUid:\t65534\t"))
    });
    assert_eq!(child.term(), Some(0));
}

#[test]
fn usage_and_setup_errors_read_like_s6s() {
    let sb = Sandbox::new();
    let bad: &[&[&str]] = &[
        &["-z"],
        &["-l", "x"],
        &["-t"],
        &["-i", "nowhere"],
        &["-i", "127.0.0.1:99999"],
        &["-G", "x"],
        &["-d", "1"],
        &["-d", "9", "-x", "s"],
        &["-U"],
        &["-x", "/nonexistent/dir/sock"],
    ];
    for args in bad {
        let ours = sb
            .svkit("s6-socklog")
            .args(*args)
            .env_remove("UID")
            .output()
            .unwrap();
        let theirs = sb
            .s6("s6-socklog")
            .args(*args)
            .env_remove("UID")
            .output()
            .unwrap();
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&ours.stderr),
            String::from_utf8_lossy(&theirs.stderr),
            "{args:?}"
        );
        assert!(matches!(ours.status.code(), Some(100 | 111)), "{args:?}");
    }
    sb.svkit("socklog")
        .arg("-z")
        .assert()
        .code(100)
        .stderr(predicates::str::starts_with(
            "socklog: usage: socklog [ -d notif ] [ -r ]",
        ));
    sb.svkit("socklog")
        .arg("--help")
        .assert()
        .success()
        .stdout(predicates::str::contains("docs/socklog.md"));
}

/// A pipe for the logger's stdout, 4096 bytes deep; the test keeps a copy of
/// the write end to tell when it is full.
fn small_pipe() -> (File, OwnedFd, OwnedFd) {
    // Close-on-exec: the other tests' children must not hold it open.
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    nix::fcntl::fcntl(&w, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).unwrap();
    let probe = w.try_clone().unwrap();
    (File::from(r), w, probe)
}

fn pipe_full(probe: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(probe.as_fd(), PollFlags::POLLOUT)];
    poll(&mut fds, PollTimeout::ZERO).unwrap() == 0
}

/// Sends `msg N` datagrams until the logger's stdout is full and it stopped
/// reading its socket (a non-blocking send fails twice in a row, 10 ms apart):
/// its buffer is then full too. How many were sent.
#[track_caller]
fn flood(sock: &Path, probe: &OwnedFd) -> usize {
    let c = UnixDatagram::unbound().unwrap();
    c.set_nonblocking(true).unwrap();
    let mut sent = 0;
    let mut stuck_before = false;
    poll_until("the logger to stop reading", || {
        loop {
            match c.send_to(format!("msg {sent:05}").as_bytes(), sock) {
                Ok(_) => {
                    sent += 1;
                    stuck_before = false;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        let stuck = pipe_full(probe);
        let done = stuck && stuck_before;
        stuck_before = stuck;
        done
    });
    sent
}

#[test]
fn a_stuck_stdout_stops_the_reading_and_nothing_is_lost() {
    let sb = Sandbox::new();
    let sock = sb.join("sock");
    let (mut r, w, probe) = small_pipe();
    let l = Logger::start(
        sb.path(),
        "svkit",
        SVKIT,
        &["-x", sock.to_str().unwrap()],
        w.into(),
    );
    // The datagrams that do not fit wait in the kernel, where senders feel it.
    let sent = flood(&sock, &probe);
    // Lines are 10 bytes; the logger stops reading with 1024 + 80 bytes free
    // in its 4 × 1024 buffer.
    assert!(sent * 10 > 4 * 1024 - 1104, "the buffer was filled: {sent}");
    drop(probe);
    // Drain: every datagram sent comes out, in order, none twice.
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    while got.iter().filter(|&&b| b == b'\n').count() < sent {
        let n = r.read(&mut buf).unwrap();
        assert!(n > 0, "early EOF");
        got.extend_from_slice(&buf[..n]);
    }
    let want: String = (0..sent).map(|i| format!("msg {i:05}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&got), want);
    assert_eq!(l.term(), Some(0));
}

#[test]
fn term_flushes_what_was_read_then_exits_0() {
    let sb = Sandbox::new();
    let sock = sb.join("sock");
    let (mut r, w, probe) = small_pipe();
    let mut l = Logger::start(
        sb.path(),
        "svkit",
        SVKIT,
        &["-x", sock.to_str().unwrap()],
        w.into(),
    );
    flood(&sock, &probe);
    drop(probe);
    signal(l.pid(), Signal::SIGTERM);
    // It waits (no lame-duck limit) until the buffer is written, then exits.
    let mut got = Vec::new();
    r.read_to_end(&mut got).unwrap();
    assert_eq!(l.wait(), Some(0));
    let text = String::from_utf8_lossy(&got);
    let n = text.lines().count();
    assert!(n > 0 && text.ends_with('\n'), "{text}");
    let want: String = (0..n).map(|i| format!("msg {i:05}\n")).collect();
    assert_eq!(text, want, "whole lines, in order, from the first one");
}

#[test]
fn lameduck_timeout_exits_99_when_the_buffer_cannot_be_written() {
    let sb = Sandbox::new();
    let s6 = s6();
    for (name, prog) in [("svkit", SVKIT.to_vec()), ("s6", vec![s6.as_str()])] {
        let (_r, w, probe) = small_pipe();
        let sock = sb.join(&format!("{name}.sock"));
        let l = Logger::start(
            sb.path(),
            name,
            &prog,
            &["-t", "50", "-x", sock.to_str().unwrap()],
            w.into(),
        );
        flood(&sock, &probe);
        assert_eq!(l.term(), Some(99), "{name}");
    }
}

#[test]
fn a_vanished_reader_ends_it_at_the_next_line_with_111() {
    // s6-socklog spins on the pipe's POLLERR until then; svkit sleeps.
    let sb = Sandbox::new();
    let s6 = s6();
    for (name, prog) in [("svkit", SVKIT.to_vec()), ("s6", vec![s6.as_str()])] {
        let (r, w, probe) = small_pipe();
        drop(probe);
        let sock = sb.join(&format!("{name}.sock"));
        let mut l = Logger::start(
            sb.path(),
            name,
            &prog,
            &["-x", sock.to_str().unwrap()],
            w.into(),
        );
        drop(r);
        send_all(&sock, &[b"<13>nobody reads this".to_vec()]);
        assert_eq!(l.wait(), Some(111), "{name}");
        let err = fs::read_to_string(sb.join(&format!("{name}.err"))).unwrap();
        assert!(
            err.ends_with(": fatal: unable to write to stdout: Broken pipe\n"),
            "{name}: {err}"
        );
    }
}
