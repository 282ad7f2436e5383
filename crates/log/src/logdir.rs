//! One logdir: `lock`, `current`, `state`, the `@<tai64n>.s` archives, rotation
//! and its processor, in s6-log's on-disk format.
//!
//! Invariants: a rotation only happens when `current` ends with a whole line and
//! nothing accepted is still unwritten, so a line is never split between two
//! files; `current` has its user-execute bit exactly when no logger is writing to
//! it (s6-log's "cleanly finalised" mark); an error never loses accepted bytes —
//! they stay pending and the operation is retried after the `r` cooldown.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Instant;

use svkit_core::Tai64n;
use svkit_core::lock;
use svkit_core::process::Spawn;
use svkit_core::report::{Failure, show, strerror};
use svkit_core::text;

use crate::script::{DirConf, Processor};

/// `current` while being written, and once finalised / archived.
const WRITING: u32 = 0o644;
const FINISHED: u32 = 0o744;

/// A logdir in use.
pub(crate) struct Logdir {
    pub(crate) conf: DirConf,
    /// Held for the logger's lifetime: one logger per logdir.
    _lock: File,
    /// `current`, positioned at its end; `None` after a failed reopen.
    current: Option<File>,
    /// Bytes in `current`.
    size: u64,
    /// Lines accepted, not yet written.
    pub(crate) pending: Vec<u8>,
    /// `current` ends in the middle of a line (plain mode writes partial lines).
    pub(crate) mid_line: bool,
    /// Bytes since the last newline in `current` (plain mode's line limit).
    pub(crate) line_len: usize,
    /// A rotation is due (size reached, or SIGALRM) but could not happen yet.
    pub(crate) rotate_due: bool,
    /// The running processor, and the archive name it will produce.
    pub(crate) processor: Option<(i32, String)>,
    /// A failed operation is retried at this time.
    pub(crate) retry_at: Option<Instant>,
    /// A failure has been reported and not yet recovered from: one warning each.
    warned: bool,
}

fn warn(prog: &str, verbose: bool, msg: impl std::fmt::Display) {
    if verbose {
        svkit_core::report::warn(prog, msg);
    }
}

impl Logdir {
    /// Creates (if needed) and locks the logdir, settles what a previous logger
    /// left, and opens `current` for appending.
    pub(crate) fn open(conf: DirConf) -> Result<Logdir, Failure> {
        let dir = conf.path.clone();
        match fs::DirBuilder::new().mode(0o2700).create(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Failure::sys(format!("mkdir {}", show(&dir)), &e)),
        }
        let lock_path = dir.join("lock");
        let lock = match lock::take(&lock_path, 0o644) {
            Ok(Some(f)) => f,
            Ok(None) => {
                return Err(Failure::sys(
                    format!("lock {}", show(&lock_path)),
                    &io::Error::from_raw_os_error(libc::EBUSY),
                ));
            }
            Err(e) => return Err(Failure::sys(format!("lock {}", show(&lock_path)), &e)),
        };
        // A rotation that was interrupted: its input is kept as an unprocessed
        // archive, its half-made outputs are dropped.
        let previous = dir.join("previous");
        if previous.exists() {
            let to = dir.join(format!("{}.u", Tai64n::now()));
            fs::rename(&previous, &to)
                .map_err(|e| Failure::sys(format!("rename {}", show(&previous)), &e))?;
        }
        for leftover in ["processed", "newstate"] {
            let p = dir.join(leftover);
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(Failure::sys(format!("unlink {}", show(&p)), &e)),
            }
        }
        let state = dir.join("state");
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&state)
            .map_err(|e| Failure::sys(format!("open {}", show(&state)), &e))?;
        let path = dir.join("current");
        let (current, size, mid_line) =
            open_current(&path).map_err(|e| Failure::sys(format!("open {}", show(&path)), &e))?;
        Ok(Logdir {
            conf,
            _lock: lock,
            current: Some(current),
            size,
            pending: Vec::new(),
            mid_line,
            line_len: 0,
            rotate_due: false,
            processor: None,
            retry_at: None,
            warned: false,
        })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.conf.path.join(name)
    }

    /// Whether everything accepted is on disk, no retry is waiting, and no
    /// rotation waits for the processor: the logdir can take more input. (While a
    /// processor runs and `current` is full again, input waits, as with s6-log,
    /// instead of growing `current` without bound.)
    pub(crate) fn is_idle(&self) -> bool {
        self.pending.is_empty()
            && self.retry_at.is_none()
            && self.current.is_some()
            && !(self.rotate_due && self.processor.is_some())
    }

    /// Whether `current`, with what is pending, has reached the rotation size.
    pub(crate) fn is_full(&self) -> bool {
        self.is_full_with(0)
    }

    /// Whether `current` would have reached the rotation size with `extra` more bytes.
    pub(crate) fn is_full_with(&self, extra: u64) -> bool {
        self.size + self.pending.len() as u64 + extra + self.conf.tolerance >= self.conf.max_size
    }

    fn failed(&mut self, prog: &str, verbose: bool, (what, file): (&str, &str), e: &io::Error) {
        if !self.warned {
            warn(
                prog,
                verbose,
                format_args!(
                    "unable to {what} {}/{file}: {} (retrying every {} ms)",
                    show(&self.conf.path),
                    strerror(e),
                    self.conf.cooldown.as_millis()
                ),
            );
            self.warned = true;
        }
        self.retry_at = Some(Instant::now() + self.conf.cooldown);
    }

    fn recovered(&mut self) {
        self.retry_at = None;
        self.warned = false;
    }

    /// Writes what is pending. On error the rest stays pending (a short write
    /// leaves a partial line, finished by the retry in the same file).
    pub(crate) fn flush(&mut self, prog: &str, verbose: bool) -> bool {
        if self.pending.is_empty() {
            return true;
        }
        if self.current.is_none() && !self.reopen(prog, verbose) {
            return false;
        }
        let Some(f) = self.current.as_mut() else {
            return false;
        };
        let mut done = 0;
        let result = loop {
            match f.write(&self.pending[done..]) {
                Ok(0) => break Err(io::Error::from_raw_os_error(libc::ENOSPC)),
                Ok(n) => {
                    done += n;
                    if done == self.pending.len() {
                        break Ok(());
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.size += done as u64;
        if let Some(&last) = self.pending[..done].last() {
            self.mid_line = last != b'\n';
        }
        self.pending.drain(..done);
        match result {
            Ok(()) => {
                self.recovered();
                true
            }
            Err(e) => {
                self.failed(prog, verbose, ("write to", "current"), &e);
                false
            }
        }
    }

    /// Moves up to `len` bytes from the input pipe straight into `current`
    /// (plain scripts): the bytes moved, which may be fewer after an error.
    pub(crate) fn splice_from(
        &mut self,
        prog: &str,
        verbose: bool,
        input: std::os::fd::BorrowedFd<'_>,
        len: usize,
    ) -> usize {
        let Some(f) = self.current.as_ref() else {
            return 0;
        };
        let mut done = 0;
        while done < len {
            match text::splice(input, f.as_fd(), len - done) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // What was looked at is gone: another reader shares our input.
                // Nothing to retry; the caller looks again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    self.size += done as u64;
                    self.failed(prog, verbose, ("write to", "current"), &e);
                    return done;
                }
            }
        }
        self.size += done as u64;
        if done == len {
            self.recovered();
        }
        done
    }

    /// Appends bytes written directly (a newline closing a cut line).
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
    }

    fn reopen(&mut self, prog: &str, verbose: bool) -> bool {
        let path = self.path("current");
        match open_current(&path) {
            Ok((f, size, mid_line)) => {
                self.current = Some(f);
                self.size = size;
                self.mid_line = mid_line;
                self.recovered();
                true
            }
            Err(e) => {
                self.failed(prog, verbose, ("open", "current"), &e);
                false
            }
        }
    }

    /// Rotates if a rotation is due and possible now: `current` becomes an
    /// archive (through the processor if there is one) and a new `current` starts.
    pub(crate) fn rotate_if_due(&mut self, prog: &str, verbose: bool) {
        if !self.rotate_due || self.processor.is_some() || self.mid_line {
            return;
        }
        if !self.flush(prog, verbose) || self.retry_at.is_some() {
            return;
        }
        if self.size == 0 {
            self.rotate_due = false;
            return;
        }
        let Some(f) = self.current.as_ref() else {
            return;
        };
        let previous = self.path("previous");
        let step = f
            .sync_all()
            .and_then(|()| f.set_permissions(Permissions::from_mode(FINISHED)))
            .and_then(|()| fs::rename(self.path("current"), &previous));
        if let Err(e) = step {
            self.failed(prog, verbose, ("rename", "current"), &e);
            return;
        }
        self.current = None;
        self.rotate_due = false;
        if !self.reopen(prog, verbose) {
            // Pending lines wait for the retry; the archive is finished below.
        }
        self.finish_previous(prog, verbose);
    }

    /// Turns `previous` into an archive, or starts the processor that will.
    fn finish_previous(&mut self, prog: &str, verbose: bool) {
        let archive = format!("{}.s", Tai64n::now());
        let Some(processor) = self.conf.processor.clone() else {
            match fs::rename(self.path("previous"), self.path(&archive)) {
                Ok(()) => self.prune(prog, verbose),
                Err(e) => self.failed(prog, verbose, ("rename", "previous"), &e),
            }
            return;
        };
        match self.spawn_processor(&processor) {
            Ok(pid) => self.processor = Some((pid, archive)),
            Err(e) => self.failed(prog, verbose, ("spawn the processor for", "previous"), &e),
        }
    }

    fn spawn_processor(&self, processor: &Processor) -> io::Result<i32> {
        let dir = &self.conf.path;
        let previous = File::open(dir.join("previous"))?;
        let processed = File::create(dir.join("processed"))?;
        let state = File::open(dir.join("state"))?;
        let newstate = File::create(dir.join("newstate"))?;
        let how = Spawn {
            stdin: Some(previous.as_fd()),
            stdout: Some(processed.as_fd()),
            fd: Some((state.as_fd(), 4)),
            fd2: Some((newstate.as_fd(), 5)),
            cwd: Some(dir),
            ..Spawn::default()
        };
        match processor {
            // Our own execlineb, through the magic link: a logger running as
            // nobody may not be able to search the path to our binary.
            Processor::Execline(cmd) => how.run(
                Path::new("/proc/self/exe"),
                OsStr::new("execlineb"),
                &[OsStr::new("-Pc"), cmd],
            ),
            Processor::Shell(cmd) => how.run(
                Path::new("/bin/sh"),
                OsStr::new("sh"),
                &[OsStr::new("-c"), cmd],
            ),
        }
    }

    /// The processor exited with wait status `status`: keep its output as the
    /// archive and its fd 5 as the new `state`, or try again after the cooldown.
    pub(crate) fn processor_done(&mut self, prog: &str, verbose: bool, status: i32) {
        let Some((_, archive)) = self.processor.take() else {
            return;
        };
        let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        if !ok {
            for name in ["processed", "newstate"] {
                let _ = fs::remove_file(self.path(name));
            }
            warn(
                prog,
                verbose,
                format_args!(
                    "processor failed in {}, retrying in {} ms",
                    show(&self.conf.path),
                    self.conf.cooldown.as_millis()
                ),
            );
            self.retry_at = Some(Instant::now() + self.conf.cooldown);
            return;
        }
        let step = (|| {
            let processed = OpenOptions::new()
                .append(true)
                .open(self.path("processed"))?;
            processed.sync_all()?;
            processed.set_permissions(Permissions::from_mode(FINISHED))?;
            OpenOptions::new()
                .append(true)
                .open(self.path("newstate"))?
                .sync_all()?;
            fs::remove_file(self.path("previous"))?;
            fs::rename(self.path("newstate"), self.path("state"))?;
            fs::rename(self.path("processed"), self.path(&archive))
        })();
        match step {
            Ok(()) => self.prune(prog, verbose),
            Err(e) => {
                self.processor = None;
                self.failed(prog, verbose, ("rename", "processed"), &e);
            }
        }
    }

    /// A retry is due: redo whatever failed.
    pub(crate) fn retry(&mut self, prog: &str, verbose: bool) {
        self.retry_at = None;
        if self.current.is_none() && !self.reopen(prog, verbose) {
            return;
        }
        if self.path("previous").exists() && self.processor.is_none() {
            self.finish_previous(prog, verbose);
            if self.retry_at.is_some() {
                return;
            }
        }
        if self.flush(prog, verbose) {
            self.rotate_if_due(prog, verbose);
        }
    }

    /// Deletes the oldest archives beyond `n` files or `S` bytes.
    fn prune(&mut self, prog: &str, verbose: bool) {
        let Ok(entries) = fs::read_dir(&self.conf.path) else {
            return;
        };
        let mut archives: Vec<(String, u64)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let archived =
                    name.starts_with('@') && (name.ends_with(".s") || name.ends_with(".u"));
                archived.then(|| (name, e.metadata().map_or(0, |m| m.len())))
            })
            .collect();
        archives.sort();
        let mut total: u64 = archives.iter().map(|a| a.1).sum();
        let mut count = archives.len();
        for (name, len) in &archives {
            let over_total = self.conf.max_total > 0 && total > self.conf.max_total;
            if count <= self.conf.keep as usize && !over_total {
                break;
            }
            if let Err(e) = fs::remove_file(self.path(name)) {
                warn(
                    prog,
                    verbose,
                    format_args!(
                        "unable to remove {}/{name}: {}",
                        show(&self.conf.path),
                        strerror(&e)
                    ),
                );
            }
            total -= len;
            count -= 1;
        }
        self.recovered();
    }

    /// At exit: syncs `current` and marks it finalised.
    pub(crate) fn finalize(&mut self, prog: &str, verbose: bool) {
        if let Some(f) = self.current.as_mut() {
            if self.mid_line {
                // Plain mode's last line had no newline: end it, as a line.
                if f.write_all(b"\n").is_ok() {
                    self.mid_line = false;
                }
            }
            let r = f
                .sync_all()
                .and_then(|()| f.set_permissions(Permissions::from_mode(FINISHED)));
            if let Err(e) = r {
                warn(
                    prog,
                    verbose,
                    format_args!(
                        "unable to finalize {}/current: {}",
                        show(&self.conf.path),
                        strerror(&e)
                    ),
                );
            }
        }
    }
}

/// Opens `current` for writing at its end (not `O_APPEND`, which `splice` refuses;
/// the lock makes this logger its only writer): the file, its size, and whether it
/// ends in the middle of a line. A `current` a killed logger left unfinalised is
/// continued, so the line it was cut in is completed in the same file.
fn open_current(path: &Path) -> io::Result<(File, u64, bool)> {
    let mut f = OpenOptions::new()
        .write(true)
        .read(true)
        .create(true)
        .truncate(false)
        .mode(WRITING)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    f.set_permissions(Permissions::from_mode(WRITING))?;
    let size = f.seek(SeekFrom::End(0))?;
    let mid_line = if size == 0 {
        false
    } else {
        use std::os::unix::fs::FileExt;
        let mut last = [0u8; 1];
        f.read_exact_at(&mut last, size - 1)?;
        last[0] != b'\n'
    };
    Ok((f, size, mid_line))
}
