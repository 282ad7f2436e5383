//! The s6-log logging script: directives read once, in order, into a list of
//! actions, each with the selection and formatting that precede it.
//!
//! Invariant: parsing is all-or-nothing — a script with any bad directive is
//! refused (exit 100) before a single logdir is touched, and numbers outside
//! s6-log's ranges are clamped or refused exactly where s6-log clamps or refuses.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use svkit_core::Exit;
use svkit_core::report::{Failure, show};
use svkit_core::text::Regex;

/// Smallest and largest `s` (rotation size), as s6-log clamps them.
const MIN_SIZE: u64 = 4096;
const MAX_SIZE: u64 = 268_435_455;

/// One selection directive.
pub(crate) enum Select {
    /// `+regex`: select yet-unselected lines that match.
    Plus(Regex),
    /// `-regex`: deselect yet-selected lines that match.
    Minus(Regex),
    /// `f`: select exactly the lines no earlier action took.
    Default,
}

/// What runs at rotation time on the archived file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Processor {
    /// `!cmd`: `execlineb -Pc cmd`.
    Execline(OsString),
    /// `?cmd`: `/bin/sh -c cmd`.
    Shell(OsString),
}

/// A logdir and the control directives in force when it was named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DirConf {
    pub(crate) path: PathBuf,
    /// `n`: archives kept.
    pub(crate) keep: u32,
    /// `s`: rotate when `current` approaches this size.
    pub(crate) max_size: u64,
    /// `S`: total size of archives kept, 0 = unlimited.
    pub(crate) max_total: u64,
    /// `l`: rotate when `current` exceeds `max_size - tolerance`.
    pub(crate) tolerance: u64,
    /// `r`: retry delay after an error.
    pub(crate) cooldown: Duration,
    /// `!` / `?`.
    pub(crate) processor: Option<Processor>,
}

/// Where an action sends its selected lines.
pub(crate) enum Target {
    /// A logdir, by index into [`Script::dirs`].
    Dir(usize),
    /// `1`: standard output.
    Stdout,
    /// `2` (or `e`): an alert on standard error, the line cut after `size` bytes.
    Alert { size: usize },
    /// `=file`: the file holds the last selected line, padded to `size` bytes.
    Status { path: PathBuf, size: usize },
}

/// An action directive with the selection and formatting before it.
pub(crate) struct Action {
    pub(crate) select: Vec<Select>,
    /// `t`: prepend a TAI64N stamp.
    pub(crate) tai: bool,
    /// `T`: prepend a local ISO 8601 stamp.
    pub(crate) iso: bool,
    /// `p…`: prepend this and a space (after the stamps).
    pub(crate) prefix: Option<Vec<u8>>,
    pub(crate) target: Target,
}

/// A parsed logging script.
pub(crate) struct Script {
    pub(crate) actions: Vec<Action>,
    pub(crate) dirs: Vec<DirConf>,
}

impl Script {
    /// Whether the script copies every byte of input, unchanged, into its only
    /// logdir — the case where lines can move from stdin to `current` inside the
    /// kernel, so that no line is ever lost or doubled whatever kills the logger.
    pub(crate) fn is_plain(&self) -> bool {
        matches!(
            self.actions.as_slice(),
            [Action { select, tai: false, iso: false, prefix: None, target: Target::Dir(0) }]
                if select.is_empty()
        )
    }
}

fn bad(d: &OsStr) -> Failure {
    Failure::new(Exit::Usage, format!("unrecognized directive: {}", show(d)))
}

fn number(d: &OsStr, digits: &[u8]) -> Result<u64, Failure> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad(d));
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n <= u64::from(u32::MAX))
        .ok_or_else(|| bad(d))
}

fn regex(d: &OsStr, pattern: &[u8]) -> Result<Regex, Failure> {
    Regex::new(OsStr::from_bytes(pattern)).map_err(|e| {
        Failure::new(
            Exit::Usage,
            format!("invalid regular expression in directive {}: {e}", show(d)),
        )
    })
}

/// Parses a logging script (the arguments after the options).
pub(crate) fn parse(args: &[OsString]) -> Result<Script, Failure> {
    let mut keep = 10u32;
    let mut max_size = 99_999u64;
    let mut max_total = 0u64;
    let mut tolerance = 2000u64;
    let mut cooldown = Duration::from_millis(2000);
    let mut alert_size = 200usize;
    let mut status_size = 1001usize;
    let mut prefix: Option<Vec<u8>> = None;
    let mut processor: Option<Processor> = None;
    let mut select = Vec::new();
    let (mut tai, mut iso) = (false, false);
    let mut actions = Vec::new();
    let mut dirs: Vec<DirConf> = Vec::new();

    for d in args {
        let b = d.as_bytes();
        let Some((&first, rest)) = b.split_first() else {
            return Err(bad(d));
        };
        let target = match first {
            b'+' => {
                select.push(Select::Plus(regex(d, rest)?));
                continue;
            }
            b'-' => {
                select.push(Select::Minus(regex(d, rest)?));
                continue;
            }
            b'f' if rest.is_empty() => {
                select.push(Select::Default);
                continue;
            }
            b't' if rest.is_empty() => {
                tai = true;
                continue;
            }
            b'T' if rest.is_empty() => {
                iso = true;
                continue;
            }
            b'n' => {
                keep = u32::try_from(number(d, rest)?).map_err(|_| bad(d))?;
                continue;
            }
            b's' => {
                max_size = number(d, rest)?.clamp(MIN_SIZE, MAX_SIZE);
                // s6-log accepts a smaller s after an l; the tolerance then
                // cannot be more than half of it.
                tolerance = tolerance.min(max_size / 2);
                continue;
            }
            b'S' => {
                max_total = number(d, rest)?;
                continue;
            }
            b'l' => {
                tolerance = number(d, rest)?;
                if tolerance > max_size / 2 {
                    return Err(conflict(d, 's'));
                }
                continue;
            }
            b'r' => {
                cooldown = Duration::from_millis(number(d, rest)?);
                continue;
            }
            b'E' => {
                alert_size = usize::try_from(number(d, rest)?).map_err(|_| bad(d))?;
                continue;
            }
            b'^' => {
                status_size = usize::try_from(number(d, rest)?).map_err(|_| bad(d))?;
                continue;
            }
            b'p' => {
                prefix = (!rest.is_empty()).then(|| rest.to_vec());
                continue;
            }
            b'!' => {
                processor = (!rest.is_empty())
                    .then(|| Processor::Execline(OsStr::from_bytes(rest).to_owned()));
                continue;
            }
            b'?' => {
                processor = (!rest.is_empty())
                    .then(|| Processor::Shell(OsStr::from_bytes(rest).to_owned()));
                continue;
            }
            b'1' if rest.is_empty() => Target::Stdout,
            b'2' | b'e' if rest.is_empty() => Target::Alert { size: alert_size },
            b'=' if !rest.is_empty() => Target::Status {
                path: PathBuf::from(OsStr::from_bytes(rest)),
                size: status_size,
            },
            b'/' | b'.' => {
                let path = PathBuf::from(d);
                if dirs.iter().any(|c| c.path == path) {
                    return Err(Failure::new(
                        Exit::Usage,
                        format!("logdir {} is named twice", show(d)),
                    ));
                }
                dirs.push(DirConf {
                    path,
                    keep,
                    max_size,
                    max_total,
                    tolerance,
                    cooldown,
                    processor: processor.clone(),
                });
                Target::Dir(dirs.len() - 1)
            }
            _ => return Err(bad(d)),
        };
        actions.push(Action {
            select: std::mem::take(&mut select),
            tai: std::mem::take(&mut tai),
            iso: std::mem::take(&mut iso),
            prefix: prefix.clone(),
            target,
        });
    }
    if actions.is_empty() {
        return Err(Failure::new(Exit::Usage, "no action directive specified"));
    }
    Ok(Script { actions, dirs })
}

fn conflict(d: &OsStr, other: char) -> Failure {
    Failure::new(
        Exit::Usage,
        format!(
            "directive {} conflicts with previous {other} directive",
            show(d)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(words: &[&str]) -> Result<Script, Failure> {
        let v: Vec<OsString> = words.iter().map(OsString::from).collect();
        parse(&v)
    }

    #[test]
    fn control_directives_apply_to_the_logdirs_after_them() {
        let s = script(&["n3", "s5000", "./a", "n7", "S9000", "!gzip", "/b"]).unwrap();
        assert_eq!(s.dirs[0].keep, 3);
        assert_eq!(s.dirs[0].max_size, 5000);
        assert_eq!(s.dirs[0].processor, None);
        assert_eq!(s.dirs[1].keep, 7);
        assert_eq!(s.dirs[1].max_size, 5000, "sticky");
        assert_eq!(s.dirs[1].max_total, 9000);
        assert_eq!(
            s.dirs[1].processor,
            Some(Processor::Execline("gzip".into()))
        );
    }

    #[test]
    fn stamps_are_not_sticky_prefixes_are() {
        let s = script(&["t", "T", "pfoo", "1", "2", "p", "1"]).unwrap();
        assert!(s.actions[0].tai && s.actions[0].iso);
        assert!(!s.actions[1].tai && !s.actions[1].iso);
        assert_eq!(s.actions[1].prefix.as_deref(), Some(&b"foo"[..]));
        assert_eq!(s.actions[2].prefix, None);
    }

    #[test]
    fn sizes_clamp_like_s6_log_and_tolerance_conflicts_are_refused() {
        assert_eq!(script(&["s1000", "./a"]).unwrap().dirs[0].max_size, 4096);
        assert_eq!(
            script(&["s999999999", "./a"]).unwrap().dirs[0].max_size,
            268_435_455
        );
        let s = script(&["l3000", "s5000", "./a"]).unwrap();
        assert_eq!((s.dirs[0].max_size, s.dirs[0].tolerance), (5000, 2500));
        let e = script(&["l50000", "./a"]).err().unwrap();
        assert_eq!(
            e.msg,
            "directive l50000 conflicts with previous s directive"
        );
        assert_eq!(e.exit, Exit::Usage);
    }

    #[test]
    fn bad_scripts_are_refused_with_s6_words() {
        for (words, msg) in [
            (&["x"][..], "unrecognized directive: x"),
            (&["nx", "1"][..], "unrecognized directive: nx"),
            (&["n-1", "1"][..], "unrecognized directive: n-1"),
            (&["1x"][..], "unrecognized directive: 1x"),
            (&["t"][..], "no action directive specified"),
            (&[][..], "no action directive specified"),
            (&["./a", "./a"][..], "logdir ./a is named twice"),
        ] {
            let e = script(words).err().unwrap();
            assert_eq!(e.msg, msg, "{words:?}");
            assert_eq!(e.exit, Exit::Usage);
        }
        let e = script(&["+a(", "1"]).err().unwrap();
        assert!(
            e.msg
                .starts_with("invalid regular expression in directive +a(: ")
        );
    }

    #[test]
    fn plain_scripts_are_recognised() {
        assert!(script(&["n3", "s5000", "./a"]).unwrap().is_plain());
        assert!(!script(&["t", "./a"]).unwrap().is_plain());
        assert!(!script(&["+x", "./a"]).unwrap().is_plain());
        assert!(!script(&["./a", "1"]).unwrap().is_plain());
        assert!(!script(&["pz", "./a"]).unwrap().is_plain());
    }
}
