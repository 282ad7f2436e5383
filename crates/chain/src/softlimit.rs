//! `softlimit [-H|-h] [-a n] [-c n] [-d n] [-f n] [-l n] [-m n] [-o n] [-P n]
//! [-p n] [-r n] [-s n] [-t n] PROG...` (s6-softlimit): set resource limits, exec PROG.
//!
//! Invariant: options apply in argv order, so a later one wins (`-l 1000 -m N`
//! leaves the locked-memory limit at N); a soft limit never exceeds the hard limit
//! (a larger value is clamped to it, `=` means "the hard limit").

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
it. -H sets hard and soft limits (raising needs root); -h only hard limits.
Options apply in order. See docs/softlimit.md.
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

/// Which of the two limits to set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    Soft,
    /// `-H`
    Both,
    /// `-h`
    Hard,
}

/// The command line: which limits to set, and the (option letter, value) pairs
/// in order.
#[derive(Debug, PartialEq, Eq)]
struct Opts {
    which: Which,
    limits: Vec<(u8, Value)>,
}

fn parse(args: &[OsString]) -> Result<(Opts, &[OsString]), Failure> {
    let mut which = Which::Soft;
    let mut limits = Vec::new();
    let mut g = Getopt::new(args, "Hha:c:d:f:l:m:o:P:p:r:s:t:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b'H' => which = Which::Both,
            b'h' => which = Which::Hard,
            letter => {
                let arg = opt.arg.map(OsStr::as_bytes).unwrap_or_default();
                limits.push((letter, parse_value(arg).ok_or_else(Failure::usage)?));
            }
        }
    }
    Ok((Opts { which, limits }, g.rest()))
}

/// The new (soft, hard) pair for a resource now at (`soft`, `hard`).
fn new_limits(which: Which, value: Value, soft: u64, hard: u64) -> (u64, u64) {
    match (which, value) {
        (Which::Soft, Value::Hard) => (hard, hard),
        (Which::Soft, Value::Set(v)) => (v.min(hard), hard),
        (_, Value::Hard) => (soft, hard),
        (Which::Both, Value::Set(v)) => (v, v),
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
        let (o, argv) = parse(rest)?;
        let argv = program(argv)?;
        for (letter, value) in o.limits {
            for &resource in resources(letter) {
                set(o.which, resource, value)?;
            }
        }
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
    fn order_is_kept() {
        let a: Vec<OsString> = ["-l", "1000", "-m", "=", "-H", "p"]
            .iter()
            .map(OsString::from)
            .collect();
        let (o, rest) = parse(&a).unwrap();
        assert_eq!(o.which, Which::Both);
        assert_eq!(o.limits, [(b'l', Value::Set(1000)), (b'm', Value::Hard)]);
        assert_eq!(rest.len(), 1);
    }
}
