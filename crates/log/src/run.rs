//! The logger's loop: peek at stdin, run each line through the script, write,
//! then consume; signals, processors and retries in the same single poll.
//!
//! Invariant: a byte leaves the input pipe only once its line is in every file
//! the script sends it to (or is kept in `carry`, for a line still incomplete).

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::Signal;
use nix::sys::stat::{SFlag, fstat};
use svkit_core::Exit;
use svkit_core::Tai64n;
use svkit_core::getopt::Getopt;
use svkit_core::poll as sp;
use svkit_core::process;
use svkit_core::report::{Failure, show, strerror, warn};
use svkit_core::text;

use crate::logdir::Logdir;
use crate::script::{self, Action, Select, Target};

/// How much input is looked at per round.
const CHUNK: usize = 64 * 1024;

/// Parsed options.
struct Options {
    notify: Option<i32>,
    verbosity: u8,
    protect: bool,
    linelimit: usize,
}

fn options(rest: &[OsString]) -> Result<(Options, &[OsString]), Failure> {
    let mut o = Options {
        notify: None,
        verbosity: 1,
        protect: false,
        linelimit: 8192,
    };
    let mut g = Getopt::new(rest, "d:qvbpl:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let num = || {
            opt.arg
                .and_then(|a| std::str::from_utf8(a.as_bytes()).ok())
                .and_then(|s| s.parse::<u32>().ok())
                .ok_or_else(Failure::usage)
        };
        match opt.letter {
            b'd' => {
                let fd = num()?;
                if fd < 3 {
                    return Err(Failure::new(
                        Exit::Usage,
                        "notification fd must be 3 or more",
                    ));
                }
                o.notify = i32::try_from(fd).ok();
            }
            b'q' => o.verbosity = 0,
            b'v' => o.verbosity = 2,
            b'b' => {}
            b'p' => o.protect = true,
            b'l' => {
                let n = num()? as usize;
                o.linelimit = if n == 0 { 0 } else { n.max(48) };
            }
            _ => return Err(Failure::usage()),
        }
    }
    Ok((o, g.rest()))
}

/// `log …`: parse, open the logdirs, notify, loop.
pub(crate) fn run(prog: &str, rest: &[OsString]) -> Result<ExitCode, Failure> {
    let (opts, words) = options(rest)?;
    let script = script::parse(words)?;
    // The notification descriptor is claimed before anything else is opened.
    let notify = opts
        .notify
        .map(|fd| {
            process::inherited_fd(fd).map_err(|e| {
                Failure::new(
                    Exit::Usage,
                    format!("invalid notification fd: {}", strerror(&e)),
                )
            })
        })
        .transpose()?;
    let sfd = sp::signalfd(&[
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGALRM,
        Signal::SIGCHLD,
        Signal::SIGPIPE,
    ])?;
    let dirs = script
        .dirs
        .iter()
        .cloned()
        .map(Logdir::open)
        .collect::<Result<Vec<_>, _>>()?;
    let input = Input::new()?;
    let plain = script.is_plain() && input.peek.is_some();
    let mut dirs = dirs;
    if !plain {
        // A killed plain logger can leave `current` in the middle of a line; this
        // script writes whole lines of its own, so that one is ended first.
        for d in dirs.iter_mut().filter(|d| d.mid_line) {
            d.push(b"\n");
            d.flush(prog, opts.verbosity >= 1);
        }
    }
    if let Some(fd) = notify {
        let _ = process::notify_ready(fd);
    }
    let mut logger = Logger {
        prog,
        verbose: opts.verbosity >= 1,
        plain,
        status: script.actions.iter().map(|_| None).collect(),
        actions: script.actions,
        dirs,
        linelimit: opts.linelimit,
        carry: Vec::new(),
        stdout_ok: true,
        out: Vec::new(),
        err: Vec::new(),
        scratch: Vec::new(),
        stamps: Stamps::default(),
    };
    logger.main_loop(&sfd, input, opts.protect);
    Ok(ExitCode::SUCCESS)
}

/// Standard input, and how to look at it without consuming it.
struct Input {
    /// A pipe that receives a `tee` of stdin (when stdin is a pipe).
    peek: Option<(File, OwnedFd)>,
    /// Where consumed bytes go when they were already handled.
    null: Option<File>,
    eof: bool,
}

impl Input {
    fn new() -> Result<Input, Failure> {
        let stdin = io::stdin();
        let is_pipe = fstat(stdin.as_fd()).is_ok_and(|st| {
            SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFIFO
        });
        if !is_pipe {
            return Ok(Input {
                peek: None,
                null: None,
                eof: false,
            });
        }
        let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
            .map_err(|e| Failure::sys("create a pipe", &e.into()))?;
        let null = File::options()
            .write(true)
            .open("/dev/null")
            .map_err(|e| Failure::sys("open /dev/null", &e))?;
        Ok(Input {
            peek: Some((File::from(r), w)),
            null: Some(null),
            eof: false,
        })
    }

    /// Fills `buf` with what stdin holds now, without consuming it when stdin is
    /// a pipe. `Ok(0)`: end of input. `WouldBlock`: nothing after all.
    fn look(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let stdin = io::stdin();
        let Some((r, w)) = self.peek.as_mut() else {
            return stdin.lock().read(buf);
        };
        let n = text::tee(stdin.as_fd(), w.as_fd(), buf.len(), true)?;
        r.read_exact(&mut buf[..n])?;
        Ok(n)
    }

    /// Consumes `n` bytes that [`Input::look`] returned and that were handled.
    fn consume(&mut self, mut n: usize) -> io::Result<()> {
        let Some(null) = self.null.as_ref() else {
            return Ok(());
        };
        let stdin = io::stdin();
        while n > 0 {
            match text::splice(stdin.as_fd(), null.as_fd(), n) {
                Ok(0) => break,
                Ok(k) => n -= k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Someone else read it (a second reader of our input).
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// The stamps of the current round (all lines read together share them).
#[derive(Default)]
struct Stamps {
    tai: Vec<u8>,
    iso: Vec<u8>,
}

struct Logger<'p> {
    prog: &'p str,
    verbose: bool,
    /// The script is plain and stdin a pipe: bytes are spliced into the logdir.
    plain: bool,
    actions: Vec<Action>,
    /// The last selected line of each `=file` action this round.
    status: Vec<Option<Vec<u8>>>,
    dirs: Vec<Logdir>,
    linelimit: usize,
    /// An incomplete line, taken out of the input.
    carry: Vec<u8>,
    stdout_ok: bool,
    out: Vec<u8>,
    err: Vec<u8>,
    scratch: Vec<u8>,
    stamps: Stamps,
}

impl Logger<'_> {
    fn main_loop(&mut self, sfd: &nix::sys::signalfd::SignalFd, mut input: Input, protect: bool) {
        let mut buf = vec![0u8; CHUNK];
        let (mut stopping, mut hangup) = (false, false);
        // After SIGTERM, what the pipe already holds is still read (up to this
        // much), so a logger stopped after its service keeps its last lines.
        let mut drain_left = 0usize;
        loop {
            let partial = !self.carry.is_empty() || self.dirs.iter().any(|d| d.mid_line);
            let leaving = hangup || input.eof || (stopping && drain_left == 0 && !partial);
            let busy = self
                .dirs
                .iter()
                .any(|d| d.processor.is_some() || !d.is_idle());
            if leaving && (!busy || hangup) {
                break;
            }
            let reading = !leaving && self.dirs.iter().all(Logdir::is_idle);
            let draining = stopping && drain_left > 0 && reading;
            let deadline = if draining {
                Some(Instant::now())
            } else {
                self.dirs.iter().filter_map(|d| d.retry_at).min()
            };
            let stdin = io::stdin();
            let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
            if reading {
                fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            }
            match poll(&mut fds, sp::timeout(deadline)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    warn(
                        self.prog,
                        format_args!("unable to poll: {}", strerror(&e.into())),
                    );
                    break;
                }
            }
            let signalled = sp::readable(&fds[0]);
            let input_ready = fds.get(1).is_some_and(sp::readable);
            drop(fds);
            if signalled {
                while let Ok(Some(info)) = sfd.read_signal() {
                    match Signal::try_from(i32::try_from(info.ssi_signo).unwrap_or(0)) {
                        Ok(Signal::SIGTERM) if !protect && !stopping => {
                            stopping = true;
                            drain_left = if input.peek.is_some() { 16 * CHUNK } else { 0 };
                        }
                        Ok(Signal::SIGHUP) => hangup = true,
                        Ok(Signal::SIGALRM) => {
                            for d in &mut self.dirs {
                                d.rotate_due = true;
                            }
                        }
                        Ok(Signal::SIGCHLD) => self.reap(),
                        _ => {}
                    }
                }
            }
            let now = Instant::now();
            for d in &mut self.dirs {
                if d.retry_at.is_some_and(|t| t <= now) {
                    d.retry(self.prog, self.verbose);
                }
            }
            if input_ready {
                let n = self.read_round(&mut input, &mut buf);
                if stopping {
                    drain_left = drain_left.saturating_sub(n.max(1));
                }
            } else if draining {
                drain_left = 0;
            }
            for d in &mut self.dirs {
                d.rotate_if_due(self.prog, self.verbose);
            }
        }
        if !self.carry.is_empty() {
            let line = std::mem::take(&mut self.carry);
            self.stamp();
            self.line(&line);
            self.write_round();
        }
        for d in &mut self.dirs {
            if !d.flush(self.prog, self.verbose) {
                warn(
                    self.prog,
                    format_args!(
                        "{} bytes for {} could not be written",
                        d.pending.len(),
                        show(&d.conf.path)
                    ),
                );
            }
            d.finalize(self.prog, self.verbose);
        }
    }

    fn reap(&mut self) {
        while let Ok(Some((pid, status))) = process::reap() {
            if let Some(d) = self
                .dirs
                .iter_mut()
                .find(|d| d.processor.as_ref().is_some_and(|p| p.0 == pid))
            {
                d.processor_done(self.prog, self.verbose, status);
            }
        }
    }

    /// One round of input: look, handle, write, consume. The bytes looked at.
    fn read_round(&mut self, input: &mut Input, buf: &mut [u8]) -> usize {
        let n = match input.look(buf) {
            Ok(0) => {
                input.eof = true;
                return 0;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) =>
            {
                return 0;
            }
            Err(e) => {
                warn(
                    self.prog,
                    format_args!("unable to read stdin: {}", strerror(&e)),
                );
                input.eof = true;
                return 0;
            }
        };
        let data = &buf[..n];
        if self.plain {
            self.splice_round(data);
            return n;
        }
        self.stamp();
        // With a peeked pipe, the round stops at a logdir whose rotation waits for
        // its processor: the rest stays in the pipe until the processor is done.
        let can_stop = input.peek.is_some();
        let mut off = 0;
        let mut stopped = false;
        while let Some(i) = text::find_byte(b'\n', &data[off..]) {
            let end = off + i;
            if self.carry.is_empty() {
                self.line_limited(&data[off..end]);
            } else {
                let mut line = std::mem::take(&mut self.carry);
                line.extend_from_slice(&data[off..end]);
                self.line_limited(&line);
            }
            off = end + 1;
            if can_stop
                && self
                    .dirs
                    .iter()
                    .any(|d| d.rotate_due && d.processor.is_some())
            {
                stopped = true;
                break;
            }
        }
        let used = if stopped {
            off
        } else {
            self.carry.extend_from_slice(&data[off..]);
            if self.linelimit > 0 && self.carry.len() >= self.linelimit {
                let line = std::mem::take(&mut self.carry);
                let whole = line.len() - line.len() % self.linelimit;
                self.line_limited(&line[..whole]);
                self.carry.extend_from_slice(&line[whole..]);
            }
            n
        };
        self.write_round();
        if let Err(e) = input.consume(used) {
            warn(
                self.prog,
                format_args!("unable to read stdin: {}", strerror(&e)),
            );
            input.eof = true;
        }
        used
    }

    /// A plain script: moves the peeked bytes into the logdir with `splice`,
    /// stopping at each point where a line must be cut or the file rotated.
    fn splice_round(&mut self, data: &[u8]) {
        let (prog, verbose, limit) = (self.prog, self.verbose, self.linelimit);
        let stdin = io::stdin();
        let d = &mut self.dirs[0];
        let mut start = 0;
        let mut off = 0;
        let mut line_len = d.line_len;
        while off < data.len() {
            let nl = text::find_byte(b'\n', &data[off..]);
            let content = nl.unwrap_or(data.len() - off);
            if limit > 0 && line_len + content > limit {
                let cut = off + (limit - line_len);
                if !move_bytes(d, prog, verbose, stdin.as_fd(), &data[start..cut]) {
                    return;
                }
                d.push(b"\n");
                if !d.flush(prog, verbose) {
                    return;
                }
                d.line_len = 0;
                (start, off, line_len) = (cut, cut, 0);
                if d.is_full() {
                    d.rotate_due = true;
                }
                d.rotate_if_due(prog, verbose);
                continue;
            }
            match nl {
                Some(i) => {
                    off += i + 1;
                    line_len = 0;
                    let size_after = (off - start) as u64;
                    if d.is_full_with(size_after) {
                        d.rotate_due = true;
                    }
                    if d.rotate_due {
                        if !move_bytes(d, prog, verbose, stdin.as_fd(), &data[start..off]) {
                            return;
                        }
                        start = off;
                        d.rotate_if_due(prog, verbose);
                        if !d.is_idle() {
                            return;
                        }
                    }
                }
                None => {
                    line_len += content;
                    off = data.len();
                }
            }
        }
        move_bytes(d, prog, verbose, stdin.as_fd(), &data[start..]);
    }

    fn stamp(&mut self) {
        let (tai, iso) = self
            .actions
            .iter()
            .fold((false, false), |(t, i), a| (t || a.tai, i || a.iso));
        if !tai && !iso {
            return;
        }
        let now = Tai64n::now();
        self.stamps.tai.clear();
        if tai {
            let _ = write!(self.stamps.tai, "{now} ");
        }
        self.stamps.iso.clear();
        if iso {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let _ = write!(
                self.stamps.iso,
                "{}  ",
                text::local_iso8601(unix.as_secs(), unix.subsec_nanos())
            );
        }
    }

    /// A line, split into pieces of at most `linelimit` bytes.
    fn line_limited(&mut self, line: &[u8]) {
        if self.linelimit == 0 || line.len() <= self.linelimit {
            self.line(line);
            return;
        }
        for piece in line.chunks(self.linelimit) {
            self.line(piece);
        }
    }

    /// Runs one line through the script.
    fn line(&mut self, line: &[u8]) {
        let (mut selected, mut acted) = (true, false);
        for (i, a) in self.actions.iter().enumerate() {
            for s in &a.select {
                match s {
                    Select::Plus(re) => {
                        if !selected && re.matches(line, &mut self.scratch) {
                            selected = true;
                        }
                    }
                    Select::Minus(re) => {
                        if selected && re.matches(line, &mut self.scratch) {
                            selected = false;
                        }
                    }
                    Select::Default => selected = !acted,
                }
            }
            if !selected {
                continue;
            }
            acted = true;
            match &a.target {
                Target::Dir(k) => {
                    let d = &mut self.dirs[*k];
                    head(&self.stamps, a, &mut d.pending);
                    d.pending.extend_from_slice(line);
                    d.pending.push(b'\n');
                    if d.is_full() {
                        d.rotate_due = true;
                        d.rotate_if_due(self.prog, self.verbose);
                    }
                }
                Target::Stdout => {
                    if self.stdout_ok {
                        head(&self.stamps, a, &mut self.out);
                        self.out.extend_from_slice(line);
                        self.out.push(b'\n');
                    }
                }
                Target::Alert { size } => {
                    self.err.extend_from_slice(self.prog.as_bytes());
                    self.err.extend_from_slice(b": alert: ");
                    head(&self.stamps, a, &mut self.err);
                    if *size > 0 && line.len() > size + 3 {
                        self.err.extend_from_slice(&line[..*size]);
                        self.err.extend_from_slice(b"...");
                    } else {
                        self.err.extend_from_slice(line);
                    }
                    self.err.push(b'\n');
                }
                Target::Status { .. } => {
                    let mut v = Vec::with_capacity(line.len() + 64);
                    head(&self.stamps, a, &mut v);
                    v.extend_from_slice(line);
                    self.status[i] = Some(v);
                }
            }
        }
    }

    /// Writes what a round produced: logdirs, stdout, alerts, status files.
    fn write_round(&mut self) {
        for d in &mut self.dirs {
            d.flush(self.prog, self.verbose);
        }
        if !self.out.is_empty() {
            if let Err(e) = io::stdout().lock().write_all(&self.out) {
                warn(
                    self.prog,
                    format_args!(
                        "unable to write to stdout, no longer doing so: {}",
                        strerror(&e)
                    ),
                );
                self.stdout_ok = false;
            }
            self.out.clear();
        }
        if !self.err.is_empty() {
            let _ = io::stderr().lock().write_all(&self.err);
            self.err.clear();
        }
        for (a, last) in self.actions.iter().zip(self.status.iter_mut()) {
            let (Target::Status { path, size }, Some(line)) = (&a.target, last.take()) else {
                continue;
            };
            if let Err(e) = write_status(path, *size, line) {
                if self.verbose {
                    warn(
                        self.prog,
                        format_args!(
                            "unable to write status file {}: {}",
                            show(path),
                            strerror(&e)
                        ),
                    );
                }
            }
        }
    }
}

/// Splices `bytes` (the head of the input pipe) into the logdir; false if not all
/// could be moved (the rest stays in the pipe, to be retried).
fn move_bytes(
    d: &mut Logdir,
    prog: &str,
    verbose: bool,
    stdin: BorrowedFd<'_>,
    bytes: &[u8],
) -> bool {
    if bytes.is_empty() {
        return true;
    }
    let moved = d.splice_from(prog, verbose, stdin, bytes.len());
    let done = &bytes[..moved];
    match done.iter().rposition(|&b| b == b'\n') {
        Some(j) => d.line_len = done.len() - j - 1,
        None => d.line_len += done.len(),
    }
    if let Some(&last) = done.last() {
        d.mid_line = last != b'\n';
    }
    moved == bytes.len()
}

/// The stamps and prefix an action puts before a line.
fn head(stamps: &Stamps, a: &Action, out: &mut Vec<u8>) {
    if a.tai {
        out.extend_from_slice(&stamps.tai);
    }
    if a.iso {
        out.extend_from_slice(&stamps.iso);
    }
    if let Some(p) = &a.prefix {
        out.extend_from_slice(p);
        out.push(b' ');
    }
}

/// `=file`: the line cut or padded with newlines to `size` bytes (0: the line and
/// one newline), written to `file.new` and renamed over `file`.
fn write_status(path: &Path, size: usize, mut line: Vec<u8>) -> io::Result<()> {
    if size == 0 {
        line.push(b'\n');
    } else {
        line.resize(size, b'\n');
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    fs::write(&tmp, &line)?;
    fs::rename(&tmp, path)
}
