//! `execlineb [-q|-w|-W] [-p|-P|-S nmin|-s nmin] [-c script | file] [args...]`:
//! lex a script into one argv, deal with the positional parameters, run it.
//!
//! Invariant: the argv and the environment handed to the chain are those the
//! real `execlineb` 2.9 execs into: `-P` touches nothing, `-S`/`-s` substitute
//! `$#`, `$0`…, `$@` in the script and set nothing, `-p` sets `#`, `0`, `1`…, and
//! the default first pushes the caller's frame (`#` → `#:1`…) then sets them.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use svkit_core::Exit;
use svkit_core::getopt::Getopt;
use svkit_core::report::{self, Failure};

use crate::Next;
use crate::env::{Env, POSITIONALS};
use crate::lexer;
use crate::subst::{Subst, substitute};

/// What to do with the positional parameters.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Positional {
    /// `-P`: nothing.
    Ignore,
    /// `-p`: set `#`, `0`, `1`… over the caller's.
    Overwrite,
    /// Default: push the caller's frame, then set.
    Push,
    /// `-S nmin` (`shift` false) or `-s nmin` (`shift` true): substitute.
    Substitute { nmin: u32, shift: bool },
}

fn num(n: usize) -> Vec<u8> {
    n.to_string().into_bytes()
}

/// The substitutions of `-S`/`-s`: `#`, `0`, `@`, then `1`… up to
/// max(argc, nmin) (missing ones empty); `$@` is every argument, or with `-s`
/// those after the first nmin.
fn positionals(dollar0: &[u8], args: &[OsString], nmin: usize, shift: bool) -> Vec<Subst> {
    let argc = args.len();
    let words: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let at = if shift {
        words
            .get(nmin..)
            .map(<[Vec<u8>]>::to_vec)
            .unwrap_or_default()
    } else {
        words.clone()
    };
    let mut s = vec![
        Subst {
            name: b"#".to_vec(),
            values: vec![num(argc)],
        },
        Subst {
            name: b"0".to_vec(),
            values: vec![dollar0.to_vec()],
        },
        Subst {
            name: b"@".to_vec(),
            values: at,
        },
    ];
    for i in 0..argc.max(nmin) {
        s.push(Subst {
            name: num(i + 1),
            values: vec![words.get(i).cloned().unwrap_or_default()],
        });
    }
    s
}

/// The body of `execlineb`.
pub(crate) fn execlineb(prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let mut mode = Positional::Push;
    let mut strict: Option<u8> = None;
    let mut script: Option<OsString> = None;
    let mut g = Getopt::new(argv.get(1..).unwrap_or(&[]), "pPqwWc:S:s:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b'p' => mode = Positional::Overwrite,
            b'P' => mode = Positional::Ignore,
            b'q' => strict = Some(0),
            b'w' => strict = Some(1),
            b'W' => strict = Some(2),
            b'c' => script = opt.arg.map(|a| a.to_os_string()),
            c => {
                let nmin = opt
                    .arg
                    .and_then(|a| std::str::from_utf8(a.as_bytes()).ok())
                    .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(Failure::usage)?;
                mode = Positional::Substitute {
                    nmin,
                    shift: c == b's',
                };
            }
        }
    }
    let mut args: &[OsString] = g.rest();
    let (text, dollar0) = match script {
        Some(s) => (s.into_vec(), argv.first().cloned().unwrap_or_default()),
        None => {
            let [file, rest @ ..] = args else {
                return Err(Failure::usage());
            };
            args = rest;
            let text = std::fs::read(file).map_err(|e| {
                Failure::sys(format_args!("open {} for reading", report::show(file)), &e)
            })?;
            (text, file.clone())
        }
    };
    let mut words = lexer::parse(&text).map_err(|e| Failure::new(Exit::Usage, e.message()))?;
    if words.is_empty() {
        return Ok(Next::Exit(0));
    }
    if let Positional::Substitute { nmin, shift } = mode {
        let nmin = usize::try_from(nmin).unwrap_or(usize::MAX);
        if strict != Some(0) && args.len() < nmin {
            let msg = format!(
                "too few arguments: expecting at least {nmin} but got {}",
                args.len()
            );
            if strict == Some(2) {
                return Err(Failure::new(Exit::Usage, msg));
            }
            report::warn(prog, msg);
        }
        words = substitute(&words, &positionals(dollar0.as_bytes(), args, nmin, shift));
        if words.is_empty() {
            return Ok(Next::Exit(0));
        }
    }
    if mode == Positional::Push {
        env.push(POSITIONALS);
    }
    match strict {
        Some(0) => env.unset(b"EXECLINE_STRICT"),
        Some(n) => env.set(b"EXECLINE_STRICT", n.to_string().as_bytes()),
        None => {}
    }
    if matches!(mode, Positional::Push | Positional::Overwrite) {
        env.set(b"#", &num(args.len()));
        env.set(b"0", dollar0.as_bytes());
        for (i, a) in args.iter().enumerate() {
            env.set(&num(i + 1), a.as_bytes());
        }
    }
    Ok(Next::Run(
        words.into_iter().map(OsString::from_vec).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(words: &[&str], args: &[&str], nmin: usize, shift: bool) -> Vec<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        let words: Vec<Vec<u8>> = words.iter().map(|w| w.as_bytes().to_vec()).collect();
        substitute(&words, &positionals(b"s", &args, nmin, shift))
            .into_iter()
            .map(|w| String::from_utf8(w).unwrap())
            .collect()
    }

    #[test]
    fn dollar_at_and_friends() {
        assert_eq!(
            run(
                &["$#", "$0", "$1", "${1}x", "$1x", "$@"],
                &["a", "b c"],
                0,
                false
            ),
            ["2", "s", "a", "ax", "$1x", "a", "b c"]
        );
        assert_eq!(run(&["x${@}y"], &["a", "b"], 0, false), ["xay", "xby"]);
        assert_eq!(
            run(&["$@", "${3}.", "$3."], &["a", "b"], 3, false),
            ["a", "b", ".", "$3."]
        );
        assert_eq!(
            run(&["$@", "$#"], &["a", "b", "c"], 1, true),
            ["b", "c", "3"]
        );
        assert_eq!(run(&["<${@}>"], &[], 0, false), Vec::<String>::new());
    }
}
