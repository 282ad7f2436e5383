//! Environment directories: one file per variable (s6-envdir's input, and the
//! container environment dump `/run/s6/container_environment`).
//!
//! Invariants: a dump is written whole and atomically (a temporary directory
//! renamed into place), each file holding the raw value bytes plus one `\n`; a
//! reader in whole-file mode removes exactly one trailing `\n`, turns NUL bytes
//! into newlines and unsets the variable for an empty file — so every value,
//! including empty ones, newlines and non-UTF-8 bytes, survives the round trip.

use std::ffi::{OsStr, OsString};
use std::fs::{self, DirBuilder, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

/// One change to apply to an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// Set the variable to this value.
    Set(OsString, OsString),
    /// Remove the variable.
    Unset(OsString),
}

/// Whether `name` can be a variable taken from a file: not empty, no `=`, and
/// not a dot-file (s6-envdir skips those).
#[must_use]
pub fn valid_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    !b.is_empty() && !b.contains(&b'=') && b[0] != b'.'
}

/// How a file of an environment directory becomes a value: `s6-envdir`'s options.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mode {
    /// `-f`: the whole file, not only its first line.
    pub whole: bool,
    /// `-n`: keep what is normally chomped — trailing spaces, tabs and carriage
    /// returns of a line, or the final newline of a whole file.
    pub verbatim: bool,
    /// `-L`: no [`VALUE_MAX`] limit.
    pub unlimited: bool,
    /// What a NUL byte becomes (`-c`; a newline by default).
    pub nul: u8,
}

/// The most bytes `s6-envdir` reads from a file without `-L`.
pub const VALUE_MAX: usize = 4095;

impl Mode {
    /// `s6-envdir` without options: the first line, at most 4095 bytes, trailing
    /// blanks removed.
    pub const LINE: Mode = Mode {
        whole: false,
        verbatim: false,
        unlimited: false,
        nul: b'\n',
    };
    /// `s6-envdir -Lf`: the whole file, one final newline removed (the inverse of
    /// [`dump`]).
    pub const WHOLE: Mode = Mode {
        whole: true,
        verbatim: false,
        unlimited: true,
        nul: b'\n',
    };

    /// The value a file holding `bytes` gives (`None`: an empty file, which unsets
    /// the variable).
    #[must_use]
    pub fn decode(self, mut bytes: Vec<u8>) -> Option<OsString> {
        if bytes.is_empty() {
            return None;
        }
        if !self.unlimited {
            bytes.truncate(VALUE_MAX);
        }
        if self.whole {
            if !self.verbatim && bytes.last() == Some(&b'\n') {
                bytes.pop();
            }
        } else {
            if let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
                bytes.truncate(nl);
            }
            if !self.verbatim {
                let kept = bytes
                    .iter()
                    .rposition(|b| !matches!(b, b' ' | b'\t' | b'\r'))
                    .map_or(0, |i| i + 1);
                bytes.truncate(kept);
            }
        }
        for b in &mut bytes {
            if *b == 0 {
                *b = self.nul;
            }
        }
        Some(OsString::from_vec(bytes))
    }
}

/// The variable names an environment directory defines, sorted (so the result
/// does not depend on the directory's order).
fn names(dir: &Path) -> io::Result<Vec<OsString>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        if valid_name(&name) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Reads `dir` as `s6-envdir` does with `mode`: every entry that can name a
/// variable must be a readable file (a subdirectory fails with "Is a directory").
pub fn read(dir: &Path, mode: Mode) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    for name in names(dir)? {
        let f = File::open(dir.join(&name))?;
        let limit = if mode.unlimited {
            u64::MAX
        } else {
            VALUE_MAX as u64
        };
        let mut bytes = Vec::new();
        f.take(limit).read_to_end(&mut bytes)?;
        out.push(match mode.decode(bytes) {
            Some(v) => Change::Set(name, v),
            None => Change::Unset(name),
        });
    }
    Ok(out)
}

/// Reads `dir` as `s6-envdir -Lf` does (whole files, no size limit): one trailing
/// newline removed, NUL bytes become newlines, an empty file unsets its variable.
/// Entries that are not regular files are skipped.
pub fn read_whole(dir: &Path) -> io::Result<Vec<Change>> {
    let mut out = Vec::new();
    for name in names(dir)? {
        match read_value(&dir.join(&name))? {
            Value::Missing => {}
            Value::Unset => out.push(Change::Unset(name)),
            Value::Set(v) => out.push(Change::Set(name, v)),
        }
    }
    Ok(out)
}

/// What one file of an environment directory says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// No such file, or not a regular file: not a variable.
    Missing,
    /// An empty file: the variable is removed.
    Unset,
    /// The value.
    Set(OsString),
}

/// Reads one variable file in whole-file mode (see [`read_whole`]).
pub fn read_value(path: &Path) -> io::Result<Value> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Value::Missing),
        Err(e) => return Err(e),
    };
    if !f.metadata()?.is_file() {
        return Ok(Value::Missing);
    }
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    Ok(Mode::WHOLE.decode(bytes).map_or(Value::Unset, Value::Set))
}

/// Writes `vars` as an environment directory at `dir` (replacing it): one file per
/// valid name, content = value + `\n`, files `file_mode`, the directory `dir_mode`.
/// Names that cannot be file names (`/`, `=`, leading `.`, empty) are skipped and
/// returned.
pub fn dump<'a>(
    dir: &Path,
    vars: impl IntoIterator<Item = (&'a OsStr, &'a OsStr)>,
    dir_mode: u32,
    file_mode: u32,
) -> io::Result<Vec<OsString>> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let tmp = parent.join(format!(
        ".{}:dump:{}",
        dir.file_name()
            .map(OsStr::to_string_lossy)
            .unwrap_or_default(),
        std::process::id()
    ));
    let _ = fs::remove_dir_all(&tmp);
    DirBuilder::new().mode(dir_mode).create(&tmp)?;
    let mut skipped = Vec::new();
    let r = (|| {
        for (name, value) in vars {
            if !valid_name(name) || name.as_bytes().contains(&b'/') {
                skipped.push(name.to_owned());
                continue;
            }
            let mut f = File::options()
                .write(true)
                .create_new(true)
                .mode(file_mode)
                .open(tmp.join(name))?;
            let mut content = value.as_bytes().to_vec();
            content.push(b'\n');
            f.write_all(&content)?;
        }
        // The umask may have trimmed the requested mode.
        fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(dir_mode))?;
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::rename(&tmp, dir)
    })();
    if r.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    r.map(|()| skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &[u8]) -> OsString {
        OsString::from_vec(s.to_vec())
    }

    #[test]
    fn every_value_survives_a_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let env = d.path().join("env");
        let values: Vec<(OsString, OsString)> = vec![
            (os(b"SPACES"), os(b"  a b  ")),
            (os(b"NEWLINES"), os(b"line1\nline2\n")),
            (os(b"EMPTY"), os(b"")),
            (os(b"BYTES"), os(b"\xff\xfe caf\xc3\xa9")),
            (os(b"bad=name"), os(b"x")),
            (os(b"with/slash"), os(b"x")),
        ];
        let skipped = dump(
            &env,
            values.iter().map(|(n, v)| (n.as_os_str(), v.as_os_str())),
            0o700,
            0o600,
        )
        .unwrap();
        assert_eq!(skipped, [os(b"bad=name"), os(b"with/slash")]);
        let back = read_whole(&env).unwrap();
        let mut expect: Vec<Change> = values[..4]
            .iter()
            .map(|(n, v)| Change::Set(n.clone(), v.clone()))
            .collect();
        expect.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        let mut got = back.clone();
        got.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
        assert_eq!(got, expect);
        let mode = fs::metadata(&env).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o700
        );
    }

    #[test]
    fn modes_follow_s6_envdir() {
        let v = |m: Mode, b: &[u8]| m.decode(b.to_vec()).map(OsString::into_vec);
        let line = Mode::LINE;
        assert_eq!(v(line, b""), None);
        assert_eq!(v(line, b"\n"), Some(b"".to_vec()));
        assert_eq!(v(line, b"a b \t\r\nsecond\n"), Some(b"a b".to_vec()));
        assert_eq!(v(line, b"v\x0b\x0c \n"), Some(b"v\x0b\x0c".to_vec()));
        assert_eq!(v(line, b"one\0two  "), Some(b"one\ntwo".to_vec()));
        let n = Mode {
            verbatim: true,
            ..line
        };
        assert_eq!(v(n, b"x \t\nmore"), Some(b"x \t".to_vec()));
        let f = Mode {
            whole: true,
            unlimited: false,
            ..line
        };
        assert_eq!(v(f, b"tail\n\n\n"), Some(b"tail\n\n".to_vec()));
        assert_eq!(v(f, &[b'z'; 5000]).map(|b| b.len()), Some(VALUE_MAX));
        let fn_ = Mode {
            verbatim: true,
            ..f
        };
        assert_eq!(v(fn_, b"x \n"), Some(b"x \n".to_vec()));
        let c = Mode { nul: b'X', ..line };
        assert_eq!(v(c, b"a\0b"), Some(b"aXb".to_vec()));
    }

    #[test]
    fn reader_follows_s6_envdir_lf() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path();
        fs::write(p.join("A"), "val\n").unwrap();
        fs::write(p.join("B"), "val").unwrap();
        fs::write(p.join("C"), "x\n\n").unwrap();
        fs::write(p.join("D"), "\n").unwrap();
        fs::write(p.join("E"), "").unwrap();
        fs::write(p.join("F"), b"a\0b  ").unwrap();
        fs::write(p.join(".hidden"), "x").unwrap();
        fs::create_dir(p.join("SUBDIR")).unwrap();
        let got = read_whole(p).unwrap();
        assert_eq!(
            got,
            [
                Change::Set(os(b"A"), os(b"val")),
                Change::Set(os(b"B"), os(b"val")),
                Change::Set(os(b"C"), os(b"x\n")),
                Change::Set(os(b"D"), os(b"")),
                Change::Unset(os(b"E")),
                Change::Set(os(b"F"), os(b"a\nb  ")),
            ]
        );
    }
}
