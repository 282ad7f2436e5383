//! `softlimit [-H|-h] [-a n] [-c n] [-d n] [-f n] [-l n] [-m n] [-o n] [-P n]
//! [-p n] [-r n] [-s n] [-t n] PROG...` (s6-softlimit): set resource limits, exec PROG.
//!
//! Invariant: options apply in argv order, each as soon as it is read, so a later
//! one wins (`-l 1000 -m N` leaves the locked-memory limit at N) and `-H`/`-h`
//! only change the options after them, as in s6-softlimit; a soft limit set alone
//! never exceeds the hard limit (a larger value is clamped to it, `=` means "the
//! hard limit").

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use nix::sys::resource::{RLIM_INFINITY, Resource, getrlimit, setrlimit};

use svkit_core::getopt::Getopt;
use svkit_core::{Failure, process};

use crate::{Outcome, chain_main, program};

// s6-softlimit 2.11's words, so that a usage error reads the same; --help and
// docs/softlimit.md list the later options (-H, -h, -P) as well.
const USAGE: &str = "[ -a allbytes ] [ -c corebytes ] [ -d databytes ] [ -f filebytes ] [ -l lockbytes ] [ -m membytes ] [ -o openfiles ] [ -p processes ] [ -r residentbytes ] [ -s stackbytes ] [ -t cpusecs ] prog...";
const HELP: &str = "\
softlimit [ -H | -h ] [ -a ALL ] [ -c CORE ] [ -d DATA ] [ -f FSIZE ] [ -l LOCK ]
          [ -m MEM ] [ -o FILES ] [ -P RTPRIO ] [ -p PROCS ] [ -r RSS ] [ -s STACK ]
          [ -t CPUSECS ] PROG...
Set resource limits, then exec PROG. Sizes are in bytes. -m sets the address
space, data, stack and locked-memory limits at once. A value is a number, '='
(the hard limit) or 'unlimited'; a soft limit above the hard one is lowered to
it. After -H, options set hard and soft limits (raising needs root); after -h,
only hard limits, and '=' means unlimited. Options apply in order.
See docs/softlimit.md.
";

/// Which limits an option letter sets.
fn resources(letter: u8) -> &'static [Resource] {
    use Resource as R;
    match letter {
        b'a' => &[R::RLIMIT_AS],
        b'c' => &[R::RLIMIT_CORE],
        b'd' => &[R::RLIMIT_DATA],
        b'f' => &[R::RLIMIT_FSIZE],
        b'l' => &[R::RLIMIT_MEMLOCK],
        b'm' => &[
            R::RLIMIT_AS,
            R::RLIMIT_DATA,
            R::RLIMIT_STACK,
            R::RLIMIT_MEMLOCK,
        ],
        b'o' => &[R::RLIMIT_NOFILE],
        b'P' => &[R::RLIMIT_RTPRIO],
        b'p' => &[R::RLIMIT_NPROC],
        b'r' => &[R::RLIMIT_RSS],
        b's' => &[R::RLIMIT_STACK],
        _ => &[R::RLIMIT_CPU],
    }
}

/// A limit value on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Value {
    /// `=`: whatever the hard limit is.
    Hard,
    /// A number, or `unlimited` (`RLIM_INFINITY`).
    Set(u64),
}

fn parse_value(s: &[u8]) -> Option<Value> {
    match s {
        b"=" => Some(Value::Hard),
        b"unlimited" | b"infinity" => Some(Value::Set(RLIM_INFINITY)),
        _ if !s.is_empty() && s.iter().all(u8::is_ascii_digit) => {
            std::str::from_utf8(s).ok()?.parse().ok().map(Value::Set)
        }
        _ => None,
    }
}

/// Which of the two limits to set: the last `-H` or `-h` before the option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Soft,
    /// `-H`
    Both,
    /// `-h`
    Hard,
}

/// Goes through the command line as s6-softlimit does, calling `set` for each
/// limit option as soon as it is read — with the `-H`/`-h` mode in force at that
/// point — so that a failing `setrlimit` stops it before a later bad option is
/// seen. The program's argv on success.
fn each_limit(
    args: &[OsString],
    mut set: impl FnMut(Which, u8, Value) -> Result<(), Failure>,
) -> Result<&[OsString], Failure> {
    let mut which = Which::Soft;
    let mut g = Getopt::new(args, "Hha:c:d:f:l:m:o:P:p:r:s:t:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b'H' => which = Which::Both,
            b'h' => which = Which::Hard,
            letter => {
                let arg = opt.arg.map(OsStr::as_bytes).unwrap_or_default();
                set(which, letter, parse_value(arg).ok_or_else(Failure::usage)?)?;
            }
        }
    }
    Ok(g.rest())
}

/// The new (soft, hard) pair for a resource now at (`soft`, `hard`). With `-H` or
/// `-h`, `=` means no limit, as in s6-softlimit (the hard limit being the one set).
fn new_limits(which: Which, value: Value, soft: u64, hard: u64) -> (u64, u64) {
    match (which, value) {
        (Which::Soft, Value::Hard) => (hard, hard),
        (Which::Soft, Value::Set(v)) => (v.min(hard), hard),
        (Which::Both, Value::Hard) => (RLIM_INFINITY, RLIM_INFINITY),
        (Which::Both, Value::Set(v)) => (v, v),
        (Which::Hard, Value::Hard) => (soft, RLIM_INFINITY),
        (Which::Hard, Value::Set(v)) => (soft.min(v), v),
    }
}

fn set(which: Which, resource: Resource, value: Value) -> Result<(), Failure> {
    let (soft, hard) = getrlimit(resource).map_err(|e| Failure::sys("getrlimit", &e.into()))?;
    let (soft, hard) = new_limits(which, value, soft, hard);
    setrlimit(resource, soft, hard).map_err(|e| Failure::sys("setrlimit", &e.into()))
}

/// Entry point: `softlimit [options] PROG...`.
pub fn softlimit(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    chain_main(args, "softlimit", USAGE, HELP, |_, rest| -> Outcome {
        let argv = each_limit(rest, |which, letter, value| {
            resources(letter)
                .iter()
                .try_for_each(|&resource| set(which, resource, value))
        })?;
        let argv = program(argv)?;
        Err(process::chain(argv, &[]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse_value(b"="), Some(Value::Hard));
        assert_eq!(parse_value(b"100"), Some(Value::Set(100)));
        assert_eq!(parse_value(b"unlimited"), Some(Value::Set(RLIM_INFINITY)));
        assert_eq!(parse_value(b""), None);
        assert_eq!(parse_value(b"1k"), None);
        assert_eq!(parse_value(b"99999999999999999999999"), None);
    }

    #[test]
    fn soft_limits_stay_under_the_hard_one() {
        assert_eq!(new_limits(Which::Soft, Value::Set(50), 10, 20), (20, 20));
        assert_eq!(new_limits(Which::Soft, Value::Set(5), 10, 20), (5, 20));
        assert_eq!(new_limits(Which::Soft, Value::Hard, 10, 20), (20, 20));
        assert_eq!(new_limits(Which::Both, Value::Set(5), 10, 20), (5, 5));
        assert_eq!(new_limits(Which::Hard, Value::Set(5), 10, 20), (5, 5));
        assert_eq!(new_limits(Which::Hard, Value::Set(15), 10, 20), (10, 15));
    }

    #[test]
    fn equals_is_no_limit_for_hard_limits() {
        let inf = RLIM_INFINITY;
        assert_eq!(new_limits(Which::Both, Value::Hard, 10, 20), (inf, inf));
        assert_eq!(new_limits(Which::Hard, Value::Hard, 10, 20), (10, inf));
    }

    #[test]
    fn modes_apply_to_the_options_after_them() {
        let a: Vec<OsString> = ["-l", "1000", "-H", "-m", "=", "-h", "-o", "5", "p"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut seen = Vec::new();
        let rest = each_limit(&a, |w, l, v| {
            seen.push((w, l, v));
            Ok(())
        })
        .unwrap();
        assert_eq!(
            seen,
            [
                (Which::Soft, b'l', Value::Set(1000)),
                (Which::Both, b'm', Value::Hard),
                (Which::Hard, b'o', Value::Set(5)),
            ]
        );
        assert_eq!(rest.len(), 1);
    }

    #[test]
    fn limits_are_set_as_they_are_read() {
        let a: Vec<OsString> = ["-c", "5", "-o", "abc", "p"]
            .iter()
            .map(OsString::from)
            .collect();
        let mut n = 0;
        let e = each_limit(&a, |_, _, _| {
            n += 1;
            Err(Failure::new(svkit_core::Exit::System, String::new()))
        })
        .unwrap_err();
        assert_eq!((n, e.exit), (1, svkit_core::Exit::System));
    }
}
