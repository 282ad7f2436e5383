//! `socklog` (s6-socklog): a minimal syslog daemon — datagrams in, lines out.
//!
//! Invariants: one single-threaded poll loop (signalfd, socket, stdout) that
//! never wakes up while idle; the output buffer is bounded (4 × linelen) and the
//! socket is not read while it could not take one more line, so a stuck reader
//! of stdout makes datagrams queue in the kernel, never in our memory; stdout is
//! never made non-blocking (its file description is shared with the logger's
//! other writers) and at most `PIPE_BUF` bytes are written per wake-up, so a
//! write after `POLLOUT` does not block on a pipe.
#![forbid(unsafe_code)]

mod line;

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;
use nix::sys::stat::{Mode, umask};
use nix::unistd::{Gid, Uid, getegid, setgid, setgroups, setuid};

use svkit_core::config::parse_uint;
use svkit_core::report::{self, Failure, show};
use svkit_core::{Exit, lock, poll as deadline, process};

const USAGE: &str = "[ -d notif ] [ -r ] [ -U | -u uid -g gid -G gidlist ] [ -l linelen ] [ -t lameducktimeout ] [ -x socket | -i ip_port ]";
const HELP: &str = "\
socklog [ -d NOTIF ] [ -r ] [ -U | -u UID -g GID -G GIDLIST ] [ -l LINELEN ]
        [ -t LAMEDUCK ] [ -x SOCKET | -i IP_PORT ]
A minimal syslog daemon: bind the Unix datagram socket /dev/log (or SOCKET, or
the UDP address IP_PORT: ip, ip_port, or ip:port for IPv4; port 514 by
default), drop privileges (-U: $UID $GID $GIDLIST; -u -g -G: numbers), and
print every datagram received as one line on stdout, its leading <code> spelt
facility.priority: (-r: left as is), cut at LINELEN bytes (1024; 76 to 1048576)
with a ... mark. UDP lines start with clientip_clientport: . -d: write a newline
to descriptor NOTIF once bound. SIGTERM: flush and exit 0, or 99 if LAMEDUCK
milliseconds (0: no limit) were not enough. See docs/socklog.md.
";

/// Default and bounds of `-l` (s6 clamps, it does not refuse).
const LINELEN: (usize, usize, usize) = (1024, 76, 1_048_576);
/// Room for what a line adds to its datagram: client address, names, `...`, `\n`.
const LINE_EXTRA: usize = 80;
/// The largest write that cannot block once a pipe is reported writable.
const PIPE_BUF: usize = 4096;
/// The UDP port when `-i` names none.
const SYSLOG_PORT: u16 = 514;

/// Where to listen.
#[derive(Debug, PartialEq, Eq)]
enum Listen {
    Unix(OsString),
    Udp(SocketAddr),
}

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    /// `-d`: 0 means none, as in s6.
    notif: u32,
    raw: bool,
    /// 0 means "leave as is", as in s6.
    uid: u32,
    gid: u32,
    /// `-G` or `-U`: the supplementary groups (the gid is added first).
    gids: Option<Vec<u32>>,
    linelen: usize,
    lameduck_ms: u32,
    listen: Listen,
}

/// A comma-separated list of decimal gids; empty means none.
fn parse_gidlist(s: &[u8]) -> Option<Vec<u32>> {
    if s.is_empty() {
        return Some(Vec::new());
    }
    s.split(|&b| b == b',').map(parse_uint).collect()
}

/// `ip`, `ip_port`, or `ip:port` for IPv4 (skalibs' `ip46_scan` then a port).
fn parse_ipport(s: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(s).ok()?;
    let port = |p: &str| u16::try_from(parse_uint(p.as_bytes())?).ok();
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, SYSLOG_PORT));
    }
    if let Some((ip, p)) = s.rsplit_once('_') {
        return Some(SocketAddr::new(ip.parse().ok()?, port(p)?));
    }
    let (ip, p) = s.rsplit_once(':')?;
    Some(SocketAddr::new(IpAddr::V4(ip.parse().ok()?), port(p)?))
}

/// An id from the environment for `-U`: `X not set` / `invalid $X`, exit 100.
fn env_value<T>(name: &str, parse: impl Fn(&[u8]) -> Option<T>) -> Result<T, Failure> {
    let v = std::env::var_os(name)
        .ok_or_else(|| Failure::new(Exit::Usage, format!("{name} not set")))?;
    parse(v.as_bytes()).ok_or_else(|| Failure::new(Exit::Usage, format!("invalid ${name}")))
}

fn parse(args: &[OsString]) -> Result<Opts, Failure> {
    let mut o = Opts {
        notif: 0,
        raw: false,
        uid: 0,
        gid: 0,
        gids: None,
        linelen: LINELEN.0,
        lameduck_ms: 0,
        listen: Listen::Unix(OsString::from("/dev/log")),
    };
    let mut g = svkit_core::getopt::Getopt::new(args, "rd:l:t:u:g:G:Ux:i:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let arg = opt.arg.unwrap_or_default().as_bytes();
        let num = || parse_uint(arg).ok_or_else(Failure::usage);
        match opt.letter {
            b'r' => o.raw = true,
            b'd' => o.notif = num()?,
            b'l' => {
                let n = usize::try_from(num()?).unwrap_or(LINELEN.2);
                o.linelen = n.clamp(LINELEN.1, LINELEN.2);
            }
            b't' => o.lameduck_ms = num()?,
            b'u' => o.uid = num()?,
            b'g' => o.gid = num()?,
            b'G' => o.gids = Some(parse_gidlist(arg).ok_or_else(Failure::usage)?),
            b'U' => {
                o.uid = env_value("UID", parse_uint)?;
                o.gid = env_value("GID", parse_uint)?;
                o.gids = Some(env_value("GIDLIST", parse_gidlist)?);
            }
            b'x' => o.listen = Listen::Unix(OsStr::from_bytes(arg).to_owned()),
            _ => o.listen = Listen::Udp(parse_ipport(arg).ok_or_else(Failure::usage)?),
        }
    }
    if !g.rest().is_empty() {
        return Err(Failure::usage());
    }
    Ok(o)
}

/// The socket we read.
enum Socket {
    Unix(UnixDatagram),
    Udp(UdpSocket),
}

impl Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            Socket::Unix(s) => s.as_fd(),
            Socket::Udp(s) => s.as_fd(),
        }
    }
}

/// skalibs' `ipc_bind_reuse_lock_perms(…, 0777)`: lock `PATH.lock` (a second
/// instance fails with EBUSY instead of stealing the socket), remove whatever is
/// at `path`, bind with permissions 0777. The lock is held while we live.
fn bind_unix(path: &Path) -> io::Result<(File, UnixDatagram)> {
    let mut lockname = path.as_os_str().to_owned();
    lockname.push(".lock");
    let lock = lock::take(Path::new(&lockname), 0o600)?
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EBUSY))?;
    let _ = std::fs::remove_file(path);
    let old = umask(Mode::empty());
    let sock = UnixDatagram::bind(path);
    umask(old);
    let sock = sock?;
    sock.set_nonblocking(true)?;
    Ok((lock, sock))
}

fn bind(listen: &Listen) -> Result<(Option<File>, Socket), Failure> {
    match listen {
        Listen::Unix(path) => bind_unix(Path::new(path))
            .map(|(l, s)| (Some(l), Socket::Unix(s)))
            .map_err(|e| Failure::sys(format!("bind socket to {}", show(path)), &e)),
        Listen::Udp(addr) => UdpSocket::bind(addr)
            .and_then(|s| s.set_nonblocking(true).map(|()| s))
            .map(|s| (None, Socket::Udp(s)))
            .map_err(|e| {
                Failure::sys(
                    format!("bind socket to ip {} port {}", addr.ip(), addr.port()),
                    &e,
                )
            }),
    }
}

/// Supplementary groups, then the gid, then the uid; 0 leaves an id alone.
fn drop_privileges(o: &Opts) -> Result<(), Failure> {
    if let Some(list) = &o.gids {
        let gid = if o.gid == 0 {
            getegid()
        } else {
            Gid::from_raw(o.gid)
        };
        let mut all = Vec::with_capacity(list.len() + 1);
        if list.first() != Some(&gid.as_raw()) {
            all.push(gid);
        }
        all.extend(list.iter().map(|&g| Gid::from_raw(g)));
        setgroups(&all).map_err(|e| Failure::sys("set supplementary group list", &e.into()))?;
    }
    if o.gid != 0 {
        setgid(Gid::from_raw(o.gid)).map_err(|e| Failure::sys("setgid", &e.into()))?;
    }
    if o.uid != 0 {
        setuid(Uid::from_raw(o.uid)).map_err(|e| Failure::sys("setuid", &e.into()))?;
    }
    Ok(())
}

/// The notification descriptor of `-d`, taken before anything else is opened.
fn notification_fd(notif: u32) -> Result<Option<OwnedFd>, Failure> {
    if notif == 0 {
        return Ok(None);
    }
    if notif < 3 {
        return Err(Failure::new(
            Exit::Usage,
            "notification fd must be 3 or more",
        ));
    }
    let fd = i32::try_from(notif).unwrap_or(-1);
    process::inherited_fd(fd).map(Some).map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("invalid notification fd: {}", report::strerror(&e)),
        )
    })
}

/// Entry point: `socklog [-d notif] [-r] [-U | -u uid -g gid -G gidlist] [-l linelen] [-t lameducktimeout] [-x unixsocket | -i ipport]`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    report::tool_main(args, "socklog", USAGE, HELP, |_, rest| run(rest))
}

fn run(args: &[OsString]) -> Result<ExitCode, Failure> {
    let o = parse(args)?;
    let notif = notification_fd(o.notif)?;
    let sigfd = deadline::signalfd(&[Signal::SIGTERM])?;
    let (_lock, sock) = bind(&o.listen)?;
    drop_privileges(&o)?;
    if let Some(fd) = notif {
        // As s6: a reader that went away does not stop the logger.
        let _ = process::notify_ready(fd);
    }
    let mut d = Daemon {
        sock,
        raw: o.raw,
        linelen: o.linelen,
        line: vec![0; o.linelen + 1],
        out: VecDeque::with_capacity(o.linelen * 4),
    };
    let lameduck = (o.lameduck_ms > 0).then(|| Duration::from_millis(u64::from(o.lameduck_ms)));
    d.serve(&sigfd, lameduck).map(ExitCode::from)
}

struct Daemon {
    sock: Socket,
    raw: bool,
    linelen: usize,
    /// The receive buffer: linelen + 1 bytes, so a longer datagram is detected.
    line: Vec<u8>,
    /// Lines not yet written to stdout.
    out: VecDeque<u8>,
}

impl Daemon {
    /// Whether one more line is sure to fit in the output buffer.
    fn has_room(&self) -> bool {
        (self.linelen * 4).saturating_sub(self.out.len()) >= self.linelen + LINE_EXTRA
    }

    /// Runs until SIGTERM and an empty buffer (0), or the lame-duck deadline (99).
    fn serve(&mut self, sigfd: &SignalFd, lameduck: Option<Duration>) -> Result<Exit, Failure> {
        let stdout = io::stdout();
        let mut cont = true;
        let mut until: Option<Instant> = None;
        while cont || !self.out.is_empty() {
            let writing = !self.out.is_empty();
            let reading = cont && self.has_room();
            let (sig, out, inp) = {
                let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
                if writing {
                    fds.push(PollFd::new(stdout.as_fd(), PollFlags::POLLOUT));
                }
                if reading {
                    fds.push(PollFd::new(self.sock.as_fd(), PollFlags::POLLIN));
                }
                let timeout = if cont { None } else { until };
                match poll(&mut fds, deadline::timeout(timeout)) {
                    Ok(0) if !cont => return Ok(Exit::Timeout),
                    Ok(_) | Err(Errno::EINTR) => {}
                    Err(e) => return Err(Failure::sys("poll", &e.into())),
                }
                let mut ready = fds.iter().map(deadline::readable);
                let sig = ready.next().unwrap_or(false);
                let out = writing && ready.next().unwrap_or(false);
                let inp = reading && ready.next().unwrap_or(false);
                (sig, out, inp)
            };
            if sig {
                while let Ok(Some(info)) = sigfd.read_signal() {
                    if i32::try_from(info.ssi_signo) == Ok(Signal::SIGTERM as i32) {
                        cont = false;
                        until = lameduck.map(|d| Instant::now() + d);
                    }
                }
            }
            if out {
                self.flush(&stdout)?;
            }
            if inp && cont {
                self.receive()?;
            }
        }
        Ok(Exit::Ok)
    }

    /// Writes the front of the buffer: at most `PIPE_BUF` bytes, one `write`.
    fn flush(&mut self, stdout: &io::Stdout) -> Result<(), Failure> {
        let (front, _) = self.out.as_slices();
        let chunk = front.get(..PIPE_BUF.min(front.len())).unwrap_or(front);
        match nix::unistd::write(stdout.as_fd(), chunk) {
            Ok(n) => {
                self.out.drain(..n.min(self.out.len()));
                Ok(())
            }
            Err(Errno::EAGAIN | Errno::EINTR) => Ok(()),
            Err(e) => Err(Failure::sys("write to stdout", &e.into())),
        }
    }

    /// Reads the datagrams that are waiting, while one more line fits.
    fn receive(&mut self) -> Result<(), Failure> {
        while self.has_room() {
            let got = match &self.sock {
                Socket::Unix(s) => s.recv(&mut self.line).map(|n| (n, None)),
                Socket::Udp(s) => s.recv_from(&mut self.line).map(|(n, a)| (n, Some(a))),
            };
            let (n, from) = match got {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::sys("recv", &e)),
            };
            if let Some(a) = from {
                self.out
                    .extend(format!("{}_{}: ", a.ip(), a.port()).into_bytes());
            }
            let truncated = n == self.line.len();
            let data = self.line.get_mut(..n).unwrap_or_default();
            line::render(&mut self.out, data, truncated, self.raw);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn ipport_forms() {
        let a = |s: &str| parse_ipport(s.as_bytes());
        assert_eq!(a("127.0.0.1"), Some("127.0.0.1:514".parse().unwrap()));
        assert_eq!(a("127.0.0.1_5514"), Some("127.0.0.1:5514".parse().unwrap()));
        assert_eq!(a("127.0.0.1:5514"), Some("127.0.0.1:5514".parse().unwrap()));
        assert_eq!(a("::1"), Some("[::1]:514".parse().unwrap()));
        assert_eq!(a("::1_5516"), Some("[::1]:5516".parse().unwrap()));
        assert_eq!(a("0.0.0.0_0"), Some("0.0.0.0:0".parse().unwrap()));
        for bad in [
            "",
            "127.1",
            "127.0.0.1:",
            "127.0.0.1:abc",
            "127.0.0.1_70000",
            "[::1]:5518",
            "127.0.0.1xyz",
        ] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn options() {
        let o = parse(&v(&["-r", "-l10", "-t", "500", "-x", "/s", "-G", ""])).unwrap();
        assert!(o.raw);
        assert_eq!(o.linelen, 76, "clamped, as s6 does");
        assert_eq!(o.lameduck_ms, 500);
        assert_eq!(o.listen, Listen::Unix("/s".into()));
        assert_eq!(o.gids, Some(vec![]));
        let o = parse(&v(&["-l", "99999999", "-i", "127.0.0.1", "-G1,2"])).unwrap();
        assert_eq!(o.linelen, 1_048_576);
        assert_eq!(o.listen, Listen::Udp("127.0.0.1:514".parse().unwrap()));
        assert_eq!(o.gids, Some(vec![1, 2]));
        for bad in [
            &["-z"][..],
            &["-l", "x"],
            &["-d"],
            &["-G", "1,x"],
            &["-i", "nowhere"],
            &["extra"],
        ] {
            assert!(parse(&v(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_longest_line_fits_in_the_room_kept() {
        let linelen = LINELEN.1;
        let mut out: Vec<u8> = b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff_65535: ".to_vec();
        let mut data = b"<86>".to_vec();
        data.resize(linelen + 1, b'a');
        line::render(&mut out, &mut data, true, false);
        assert!(out.len() <= linelen + LINE_EXTRA, "{}", out.len());
    }
}
