//! `supervise/death_tally`: one 14-byte record per death of `run` (s6:
//! `s6_dtally_pack.c`, `s6_dtally_write.c`; read by `s6-svdt`, `s6-permafailon`).
//!
//! Record: TAI64N of the death, then `128+sig` or the exit code, then the signal (0
//! if none). Invariant: the file is only replaced whole (`death_tally.new` +
//! rename), keeps the newest `max` records, and appending uses no heap.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::servicedir::{DEATH_TALLY, DEATH_TALLY_NEW};
use crate::status::{wstat_exitcode, wstat_signal};
use crate::tai64n::Tai64n;

/// Size of one record.
pub const RECORD: usize = 14;
/// Largest `max-death-tally` honoured.
pub const MAX: u32 = 4096;
/// Default `max-death-tally`.
pub const DEFAULT: u32 = 100;

/// Packs the record of a death at `when` with raw wait status `wstat`.
#[must_use]
pub fn record(when: Tai64n, wstat: u16) -> [u8; RECORD] {
    let w = i32::from(wstat);
    let (code, sig) = match wstat_signal(w) {
        Some(s) => (128 + s as u8, s as u8),
        None => (wstat_exitcode(w).unwrap_or(0), 0),
    };
    let mut r = [0u8; RECORD];
    r[..12].copy_from_slice(&when.pack());
    r[12] = code;
    r[13] = sig;
    r
}

/// Empties the tally of the service under `base`, as a supervisor does when it starts.
pub fn reset(base: &Path) -> io::Result<()> {
    File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o666)
        .custom_flags(libc::O_NONBLOCK)
        .open(base.join(DEATH_TALLY))
        .map(drop)
}

/// Appends `rec`, keeping at most `max` records (capped at [`MAX`]; 0 = keep none).
pub fn append(base: &Path, rec: &[u8; RECORD], max: u32) -> io::Result<()> {
    let max = u64::from(max.min(MAX));
    if max == 0 {
        return Ok(());
    }
    let new_path = base.join(DEATH_TALLY_NEW);
    let r = (|| {
        let mut new = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o666)
            .open(&new_path)?;
        match File::open(base.join(DEATH_TALLY)) {
            Ok(mut old) => {
                let have = old.metadata()?.len() / RECORD as u64;
                let keep = have.min(max - 1);
                old.seek(SeekFrom::Start((have - keep) * RECORD as u64))?;
                let mut left = keep * RECORD as u64;
                let mut buf = [0u8; 4096 - 4096 % RECORD];
                while left > 0 {
                    let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
                    let n = old.read(&mut buf[..want])?;
                    if n == 0 {
                        break;
                    }
                    new.write_all(&buf[..n])?;
                    left -= n as u64;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        new.write_all(rec)
    })();
    if let Err(e) = r {
        let _ = fs::remove_file(&new_path);
        return Err(e);
    }
    fs::rename(&new_path, base.join(DEATH_TALLY))
}

/// Number of whole records in the tally of service directory `dir`.
pub fn count(dir: &Path) -> io::Result<u64> {
    Ok(fs::metadata(dir.join(DEATH_TALLY))?.len() / RECORD as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_like_s6() {
        let t = Tai64n {
            secs: 0x4000_0000_6b06_da59,
            nanos: 0x0011_663b,
        };
        let r = record(t, 1 << 8);
        assert_eq!(&r[12..], &[1, 0]);
        assert_eq!(&record(t, 15)[12..], &[143, 15]);
    }

    #[test]
    fn keeps_the_newest_max_records() {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("supervise")).unwrap();
        reset(d.path()).unwrap();
        for i in 0..10u8 {
            let mut r = [0u8; RECORD];
            r[12] = i;
            append(d.path(), &r, 4).unwrap();
        }
        let b = fs::read(d.path().join(DEATH_TALLY)).unwrap();
        assert_eq!(b.len(), 4 * RECORD);
        let codes: Vec<u8> = b.chunks(RECORD).map(|c| c[12]).collect();
        assert_eq!(codes, [6, 7, 8, 9]);
        assert_eq!(count(d.path()).unwrap(), 4);
        append(d.path(), &[0; RECORD], 0).unwrap();
        assert_eq!(count(d.path()).unwrap(), 4);
    }
}
