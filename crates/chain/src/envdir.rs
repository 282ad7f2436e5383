//! `envdir [-I|-i] [-n] [-f] [-L] [-c nullis] DIR PROG...` (s6-envdir, and
//! daemontools' `envdir` by its plain name): one variable per file of DIR.
//!
//! Invariant: the environment PROG gets differs from ours only by the variables
//! DIR names — each set to its file's value as `s6-envdir` reads it, or removed
//! for an empty file — and a DIR that cannot be read whole changes nothing.

use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::ExitCode;

use svkit_core::Failure;
use svkit_core::envdir::{self, Change, Mode};
use svkit_core::getopt::Getopt;
use svkit_core::process;
use svkit_core::report::show;

use crate::{Outcome, chain_main, program};

const USAGE: &str = "[ -I | -i ] [ -n ] [ -f ] [ -L ] [ -c nullchar ] dir prog...";
const HELP: &str = "\
envdir [ -I | -i ] [ -n ] [ -f ] [ -L ] [ -c NULLCHAR ] DIR PROG...
Run PROG with one environment variable per file of DIR (dot-files and names
with '=' skipped): the first line, trailing spaces, tabs and CRs removed; an
empty file removes the variable. -f: the whole file, one final newline removed.
-n: keep what would be removed. -L: no 4095-byte limit. -c C: NUL bytes become
C (default: newline). -I: a missing DIR is not an error; -i: it is (default).
See docs/envdir.md.
";

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    mode: Mode,
    /// `-I`: a missing DIR changes nothing instead of failing.
    tolerant: bool,
}

fn parse(args: &[OsString]) -> Result<(Opts, &[OsString]), Failure> {
    let mut o = Opts {
        mode: Mode::LINE,
        tolerant: false,
    };
    let mut g = Getopt::new(args, "IinfLc:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b'I' => o.tolerant = true,
            b'i' => o.tolerant = false,
            b'n' => o.mode.verbatim = true,
            b'f' => o.mode.whole = true,
            b'L' => o.mode.unlimited = true,
            _ => {
                // The first character; a NUL cannot be a value's byte.
                let c = opt.arg.and_then(|a| a.as_bytes().first().copied());
                o.mode.nul = c.filter(|&c| c != 0).ok_or_else(Failure::usage)?;
            }
        }
    }
    Ok((o, g.rest()))
}

/// Entry point: `envdir [options] DIR PROG...`.
pub fn envdir(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(args, "envdir", USAGE, HELP, |_, rest| -> Outcome {
        let (o, rest) = parse(rest)?;
        let (dir, argv) = rest.split_first().ok_or_else(Failure::usage)?;
        let argv = program(argv)?;
        let env = read(Path::new(dir), o.mode)
            .and_then(|env| match env {
                Some(env) => Ok(env),
                None if o.tolerant => Ok(Vec::new()),
                None => Err(io::Error::from_raw_os_error(libc::ENOENT)),
            })
            .map_err(|e| Failure::sys(format!("envdir {}", show(dir)), &e))?;
        Err(process::chain(argv, &env))
    })
}

/// [`envdir::read`], or `None` if DIR itself does not exist — what `-I` forgives.
/// As in skalibs' `envdir_internal`, an entry listed but not there to open (a
/// dangling symbolic link, a file removed meanwhile) is `EIDRM`, "Identifier
/// removed", so that it cannot pass for a missing DIR.
fn read(dir: &Path, mode: Mode) -> io::Result<Option<Vec<Change>>> {
    match envdir::read(dir, mode) {
        Ok(env) => Ok(Some(env)),
        // Not found: DIR (which is then still not there), or one of its entries.
        Err(e) if e.kind() == io::ErrorKind::NotFound => match std::fs::metadata(dir) {
            Err(d) if d.kind() == io::ErrorKind::NotFound => Ok(None),
            _ => Err(io::Error::from_raw_os_error(libc::EIDRM)),
        },
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use svkit_core::Exit;

    fn p(a: &[&str]) -> Result<Opts, Failure> {
        let v: Vec<OsString> = a.iter().map(OsString::from).collect();
        parse(&v).map(|(o, _)| o)
    }

    #[test]
    fn options_set_the_mode() {
        let o = p(&["-fnL", "-c", "ab", "-I", "d", "prog"]).unwrap();
        assert_eq!(
            o.mode,
            Mode {
                whole: true,
                verbatim: true,
                unlimited: true,
                nul: b'a'
            }
        );
        assert!(o.tolerant);
        assert!(!p(&["-I", "-i", "d", "p"]).unwrap().tolerant);
    }

    #[test]
    fn bad_options_are_usage_errors() {
        assert_eq!(p(&["-x", "d", "p"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(p(&["-c", "", "d", "p"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(p(&["-c"]).unwrap_err().exit, Exit::Usage);
    }
}
