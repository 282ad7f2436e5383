//! Command-line options exactly as skalibs' `subgetopt` reads them, so that every
//! s6 invocation (`-wU`, `-T5000`, `-du`, `-o up,pid`, `--`) means the same to svkit.
//!
//! Invariant: options are returned in argv order, repeats included (`svc -du -k -d`
//! sends `d u k d`); parsing stops at the first non-option, at `-` alone, or after `--`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;

/// One parsed option.
#[derive(Debug, PartialEq, Eq)]
pub struct Opt<'a> {
    /// The option letter.
    pub letter: u8,
    /// Its argument, for letters followed by `:` in the spec.
    pub arg: Option<&'a OsStr>,
}

/// A bad command line: an unknown letter or a missing argument.
#[derive(Debug, PartialEq, Eq)]
pub struct BadOption(pub u8);

/// An option parser over `args` (without argv\[0\]) for a spec such as `"abT:w:"`.
pub struct Getopt<'a> {
    args: &'a [OsString],
    spec: &'static [u8],
    ind: usize,
    pos: usize,
}

impl<'a> Getopt<'a> {
    /// Starts parsing.
    #[must_use]
    pub fn new(args: &'a [OsString], spec: &'static str) -> Self {
        Getopt {
            args,
            spec: spec.as_bytes(),
            ind: 0,
            pos: 0,
        }
    }

    /// The operands left after the options.
    #[must_use]
    pub fn rest(&self) -> &'a [OsString] {
        self.args.get(self.ind..).unwrap_or(&[])
    }

    fn takes_arg(&self, c: u8) -> Option<bool> {
        let i = self.spec.iter().position(|&s| s == c && s != b':')?;
        Some(self.spec.get(i + 1) == Some(&b':'))
    }
}

impl<'a> Iterator for Getopt<'a> {
    type Item = Result<Opt<'a>, BadOption>;

    fn next(&mut self) -> Option<Self::Item> {
        let word = self.args.get(self.ind)?.as_bytes();
        if self.pos == 0 {
            if word == b"--" {
                self.ind += 1;
                return None;
            }
            if word.len() < 2 || word[0] != b'-' {
                return None;
            }
            self.pos = 1;
        }
        let c = word[self.pos];
        self.pos += 1;
        let at_end = self.pos >= word.len();
        let Some(takes_arg) = self.takes_arg(c) else {
            if at_end {
                self.ind += 1;
                self.pos = 0;
            }
            return Some(Err(BadOption(c)));
        };
        if !takes_arg {
            if at_end {
                self.ind += 1;
                self.pos = 0;
            }
            return Some(Ok(Opt {
                letter: c,
                arg: None,
            }));
        }
        let arg = if at_end {
            self.ind += 1;
            let a = self.args.get(self.ind).map(OsString::as_os_str);
            if a.is_none() {
                self.pos = 0;
                return Some(Err(BadOption(c)));
            }
            a
        } else {
            Some(OsStr::from_bytes(&word[self.pos..]))
        };
        self.ind += 1;
        self.pos = 0;
        Some(Ok(Opt { letter: c, arg }))
    }
}

/// Whether the command line asks for help: its first argument is `--help`.
#[must_use]
pub fn wants_help(args: &[OsString]) -> bool {
    args.first().is_some_and(|a| a == "--help")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    fn letters(
        args: &[OsString],
        spec: &'static str,
    ) -> (Vec<(char, Option<String>)>, Vec<String>) {
        let mut g = Getopt::new(args, spec);
        let mut out = Vec::new();
        for o in g.by_ref() {
            let o = o.unwrap();
            out.push((
                o.letter as char,
                o.arg.map(|a| a.to_string_lossy().into_owned()),
            ));
        }
        let rest = g
            .rest()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        (out, rest)
    }

    #[test]
    fn clusters_keep_order_and_repeats() {
        let (o, rest) = letters(&v(&["-du", "-k", "-d", "dir"]), "dukT:w:");
        let l: String = o.iter().map(|(c, _)| *c).collect();
        assert_eq!(l, "dukd");
        assert_eq!(rest, ["dir"]);
    }

    #[test]
    fn arguments_attached_or_separate() {
        let (o, rest) = letters(&v(&["-wU", "-T", "500", "-T100", "--", "-x"]), "T:w:x");
        assert_eq!(
            o,
            [
                ('w', Some("U".into())),
                ('T', Some("500".into())),
                ('T', Some("100".into()))
            ]
        );
        assert_eq!(rest, ["-x"]);
    }

    #[test]
    fn errors_and_stops() {
        let a = v(&["-z"]);
        let mut g = Getopt::new(&a, "ab");
        assert_eq!(g.next(), Some(Err(BadOption(b'z'))));
        let a = v(&["-T"]);
        let mut g = Getopt::new(&a, "T:");
        assert_eq!(g.next(), Some(Err(BadOption(b'T'))));
        let (o, rest) = letters(&v(&["-", "-a"]), "a");
        assert!(o.is_empty());
        assert_eq!(rest, ["-", "-a"]);
    }
}
