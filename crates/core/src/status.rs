//! The 35-byte `supervise/status` record (s6: `s6_svstatus_pack.c`, `_unpack.c`,
//! `_read.c`, `_write.c`).
//!
//! Layout, big-endian: `[0..12)` stamp, `[12..24)` readystamp (TAI64N), `[24..32)`
//! pid u64, `[32..34)` raw wait status u16, `[34]` flags (paused 1, finishing 2,
//! want up 4, ready 8). Invariant: the file is only ever replaced whole, by writing
//! `status.new` and renaming it, so a reader never sees a torn record.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::servicedir::{STATUS, STATUS_NEW};
use crate::tai64n::Tai64n;

/// Size of the record.
pub const SIZE: usize = 35;

const PAUSED: u8 = 0x01;
const FINISHING: u8 = 0x02;
const WANTUP: u8 = 0x04;
const READY: u8 = 0x08;

/// A decoded status record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Time of the last up/down transition.
    pub stamp: Tai64n,
    /// Time of the last ready transition (readiness, or end of finish).
    pub readystamp: Tai64n,
    /// `run`'s pid while up, `finish`'s while finishing, 0 when down.
    pub pid: u64,
    /// Raw wait status of the last death of `run`.
    pub wstat: u16,
    /// Stopped with `svc -p`.
    pub paused: bool,
    /// `finish` is running; `pid` is its pid.
    pub finishing: bool,
    /// The supervisor (re)starts the service when it is down.
    pub wantup: bool,
    /// Up: readiness was notified. Down: finish is done ("down and ready").
    pub ready: bool,
}

impl Status {
    /// Packs the record.
    #[must_use]
    pub fn pack(&self) -> [u8; SIZE] {
        let mut b = [0u8; SIZE];
        b[0..12].copy_from_slice(&self.stamp.pack());
        b[12..24].copy_from_slice(&self.readystamp.pack());
        b[24..32].copy_from_slice(&self.pid.to_be_bytes());
        b[32..34].copy_from_slice(&self.wstat.to_be_bytes());
        b[34] = (u8::from(self.paused) * PAUSED)
            | (u8::from(self.finishing) * FINISHING)
            | (u8::from(self.wantup) * WANTUP)
            | (u8::from(self.ready) * READY);
        b
    }

    /// Unpacks a record; bits 4–7 of the flags byte are ignored, as s6 does.
    #[must_use]
    pub fn unpack(b: &[u8; SIZE]) -> Self {
        let mut t = [0u8; 12];
        t.copy_from_slice(&b[0..12]);
        let stamp = Tai64n::unpack(&t);
        t.copy_from_slice(&b[12..24]);
        let readystamp = Tai64n::unpack(&t);
        let mut pid = [0u8; 8];
        pid.copy_from_slice(&b[24..32]);
        let flags = b[34];
        Status {
            stamp,
            readystamp,
            pid: u64::from_be_bytes(pid),
            wstat: u16::from_be_bytes([b[32], b[33]]),
            paused: flags & PAUSED != 0,
            finishing: flags & FINISHING != 0,
            wantup: flags & WANTUP != 0,
            ready: flags & READY != 0,
        }
    }

    /// `run` is alive: `pid != 0 && !finishing`.
    #[must_use]
    pub fn is_up(&self) -> bool {
        self.pid != 0 && !self.finishing
    }

    /// The exit code of the last death, if `run` exited (rather than being killed).
    #[must_use]
    pub fn exitcode(&self) -> Option<u8> {
        wstat_exitcode(i32::from(self.wstat))
    }

    /// The signal that killed `run` last, if it was killed.
    #[must_use]
    pub fn signal(&self) -> Option<i32> {
        wstat_signal(i32::from(self.wstat))
    }
}

/// `WEXITSTATUS` if `WIFEXITED`.
#[must_use]
pub fn wstat_exitcode(w: i32) -> Option<u8> {
    (w & 0x7f == 0).then_some(((w >> 8) & 0xff) as u8)
}

/// `WTERMSIG` if `WIFSIGNALED`.
#[must_use]
pub fn wstat_signal(w: i32) -> Option<i32> {
    let sig = w & 0x7f;
    (sig != 0 && sig != 0x7f).then_some(sig)
}

/// Reads `dir/supervise/status`. A record shorter than 35 bytes is an error (EPIPE), as in s6.
pub fn read(dir: &Path) -> io::Result<Status> {
    read_file(&dir.join(STATUS))
}

/// Reads a status record from an explicit path.
pub fn read_file(path: &Path) -> io::Result<Status> {
    let mut f = File::open(path)?;
    let mut b = [0u8; SIZE];
    let mut got = 0;
    while got < SIZE {
        match f.read(&mut b[got..]) {
            Ok(0) => return Err(io::Error::from_raw_os_error(libc::EPIPE)),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Status::unpack(&b))
}

/// Writes the record atomically under `base` (the service directory, or `.` for a
/// supervisor that chdir'd there): `status.new`, then `rename`. No fsync, as in s6:
/// the file describes processes, which do not survive a reboot either.
pub fn write(base: &Path, st: &Status) -> io::Result<()> {
    write_files(&base.join(STATUS_NEW), &base.join(STATUS), st)
}

/// Writes the record to `new`, then renames it onto `path`.
pub fn write_files(new: &Path, path: &Path, st: &Status) -> io::Result<()> {
    let r = File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .custom_flags(libc::O_NONBLOCK)
        .open(new)
        .and_then(|mut f| f.write_all(&st.pack()));
    if let Err(e) = r {
        let _ = fs::remove_file(new);
        return Err(e);
    }
    fs::rename(new, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Service `a` of s6-protocol.md §5.3(a): up and ready, captured from real s6 2.11.3.2.
    const UP_READY: [u8; SIZE] = [
        0x40, 0, 0, 0, 0x6b, 0x06, 0xda, 0x2f, 0x29, 0xca, 0x5b, 0x21, 0x40, 0, 0, 0, 0x6b, 0x06,
        0xda, 0x30, 0x29, 0xe6, 0x2a, 0x18, 0, 0, 0, 0, 0, 0, 0x51, 0x31, 0, 0, 0x0c,
    ];

    #[test]
    fn decodes_real_s6_record() {
        let s = Status::unpack(&UP_READY);
        assert_eq!(s.pid, 20785);
        assert_eq!(s.stamp.to_string(), "@400000006b06da2f29ca5b21");
        assert_eq!(s.readystamp.to_string(), "@400000006b06da3029e62a18");
        assert!(s.wantup && s.ready && !s.paused && !s.finishing);
        assert!(s.is_up());
        assert_eq!(s.pack(), UP_READY);
    }

    #[test]
    fn wait_status_decoding() {
        assert_eq!(wstat_exitcode(3 << 8), Some(3));
        assert_eq!(wstat_signal(3 << 8), None);
        assert_eq!(wstat_signal(15), Some(15));
        assert_eq!(wstat_exitcode(15), None);
        assert_eq!(wstat_signal(0x80 | 11), Some(11));
    }

    #[test]
    fn every_flag_combination_round_trips() {
        for flags in 0u8..16 {
            let mut b = UP_READY;
            b[34] = flags;
            assert_eq!(Status::unpack(&b).pack(), b);
        }
        let mut b = UP_READY;
        b[34] = 0xf0 | 0x0c;
        assert_eq!(Status::unpack(&b).pack()[34], 0x0c);
    }

    #[test]
    fn short_file_is_epipe_and_write_is_atomic() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("supervise")).unwrap();
        fs::write(d.path().join(STATUS), [0u8; 34]).unwrap();
        let e = read(d.path()).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EPIPE));
        let st = Status::unpack(&UP_READY);
        write(d.path(), &st).unwrap();
        assert_eq!(read(d.path()).unwrap(), st);
        assert!(!d.path().join(STATUS_NEW).exists());
    }
}
