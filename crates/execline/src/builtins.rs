//! The execline builtins svkit implements: each reads its options and blocks from
//! argv exactly as execline 2.9's program of that name does, does its one thing
//! to this process (environment, descriptors, a child), and hands back the rest
//! of the chain.
//!
//! Invariant: options, block parsing (`el_semicolon`, `EXECLINE_STRICT`
//! included), messages and exit codes are those of the real program; a builtin
//! never execs by itself — it returns [`Next`] and the chain loop decides.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl, open};
use nix::sys::stat::Mode;
use svkit_core::getopt::Getopt;
use svkit_core::report::{self, Failure};
use svkit_core::{Exit, process};

use crate::env::{Env, POSITIONALS};
use crate::subst::{Subst, Transform, substitute};
use crate::{Ended, Next, Spawned, basename, find, spawn, wait_for};

/// The arguments after argv\[0\].
fn rest(argv: &[OsString]) -> &[OsString] {
    argv.get(1..).unwrap_or(&[])
}

fn fatal(msg: impl Into<String>) -> Failure {
    Failure::new(Exit::Usage, msg)
}

fn show(s: &OsStr) -> String {
    report::show(s)
}

/// Unsigned decimal, the whole word (skalibs' `uint0_scan`).
fn uint0(s: &OsStr) -> Option<u32> {
    let b = s.as_bytes();
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// `el_semicolon`: the block at the start of `args`, each word with its one
/// leading space removed, and the index just past its terminating empty word;
/// `None` if no word ends it. Unquoted words warn (`EXECLINE_STRICT=1`) or are
/// fatal (`EXECLINE_STRICT=2`).
fn block(
    prog: &str,
    args: &[OsString],
    env: &Env,
    nblock: u32,
) -> Result<Option<(Vec<OsString>, usize)>, Failure> {
    let strict = env.strictness();
    let mut words = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let b = a.as_bytes();
        match b.first() {
            None => return Ok(Some((words, i + 1))),
            Some(b' ') => words.push(OsString::from_vec(b.get(1..).unwrap_or_default().to_vec())),
            Some(_) => {
                if strict > 0 {
                    let msg = format!(
                        "unquoted argument {} at block {nblock} position {i}",
                        show(a)
                    );
                    if strict >= 2 {
                        return Err(fatal(msg));
                    }
                    report::warn(prog, msg);
                }
                words.push(a.clone());
            }
        }
    }
    Ok(None)
}

/// Waits for a block started with [`spawn`]; `Err` with the spawn error.
fn run_block(
    prog: &str,
    words: &[OsString],
    env: &Env,
) -> Result<Result<Ended, std::io::Error>, Failure> {
    let what = words.first().map_or_else(String::new, |w| show(w));
    match spawn(prog, words, env) {
        Ok(Spawned::Pid(pid)) => wait_for(pid)
            .map(Ok)
            .map_err(|e| Failure::sys(format_args!("wait for {what}"), &e)),
        Ok(Spawned::Failed(e)) | Err(e) => Ok(Err(e)),
    }
}

/// The rest of the chain after a builtin: exit 0 if there is none.
fn then(args: &[OsString]) -> Next {
    if args.is_empty() {
        Next::Exit(0)
    } else {
        Next::Run(args.to_vec())
    }
}

/// A builtin's options, or a usage error.
fn options<'a>(
    args: &'a [OsString],
    spec: &'static str,
    mut each: impl FnMut(u8, Option<&'a OsStr>) -> Result<(), Failure>,
) -> Result<&'a [OsString], Failure> {
    let mut g = Getopt::new(args, spec);
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        each(opt.letter, opt.arg)?;
    }
    Ok(g.rest())
}

/// `foreground { prog... } rest...`: runs prog, sets `?` to its exit code (256 +
/// the signal if it was killed; 127 if it could not be started), goes on.
pub(crate) fn foreground(prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let args = rest(argv);
    let (words, after) = block(prog, args, env, 1)?.ok_or_else(|| fatal("unterminated block"))?;
    let status = match run_block(prog, &words, env)? {
        Ok(ended) => ended.status(),
        Err(e) => {
            report::warn(
                prog,
                Failure::sys(
                    format_args!(
                        "spawn {}",
                        words.first().map_or_else(String::new, |w| show(w))
                    ),
                    &e,
                )
                .msg,
            );
            127
        }
    };
    env.set(b"?", status.to_string().as_bytes());
    Ok(then(args.get(after..).unwrap_or(&[])))
}

/// `background [-d] { prog... } rest...`: starts prog, sets `!` to its pid.
pub(crate) fn background(prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let mut detach = false;
    let args = options(rest(argv), "d", |_, _| {
        detach = true;
        Ok(())
    })?;
    let Some((words, after)) = block(prog, args, env, 1)? else {
        return Err(fatal("unterminated block"));
    };
    if words.is_empty() {
        return Err(fatal("empty block"));
    }
    let remaining = args.get(after..).unwrap_or(&[]);
    let what = words.first().map_or_else(String::new, |w| show(w));
    let pid = if detach && !remaining.is_empty() {
        double_fork(prog, &words, env).map_err(|e| Failure::sys("doublefork", &e))?
    } else {
        match spawn(prog, &words, env) {
            Ok(Spawned::Pid(pid)) => pid,
            Ok(Spawned::Failed(e)) | Err(e) => {
                return Err(Failure::sys(format_args!("spawn {what}"), &e));
            }
        }
    };
    if remaining.is_empty() {
        return Ok(Next::Exit(0));
    }
    env.set(b"!", pid.to_string().as_bytes());
    Ok(Next::Run(remaining.to_vec()))
}

/// Starts `words` as a grandchild that is not ours to wait for; its pid.
fn double_fork(prog: &str, words: &[OsString], env: &Env) -> std::io::Result<i32> {
    let (rd, wr) = nix::unistd::pipe()?;
    match process::fork()? {
        None => {
            drop(rd);
            let pid = match spawn(prog, words, env) {
                Ok(Spawned::Pid(pid)) => pid,
                Ok(Spawned::Failed(e)) | Err(e) => {
                    let f = Failure::exec(words.first().map_or(OsStr::new(""), |w| w), &e);
                    report::fatal(&format!("{prog} (grandchild)"), &f.msg);
                    0
                }
            };
            let _ = File::from(wr).write_all(&pid.to_ne_bytes());
            std::process::exit(0)
        }
        Some(child) => {
            drop(wr);
            let mut buf = [0u8; 4];
            let got = File::from(rd).read_exact(&mut buf);
            wait_for(child)?;
            got?;
            Ok(i32::from_ne_bytes(buf))
        }
    }
}

/// What `if` and `ifelse` do with a child that was killed, unless -X: say so and
/// exit 128 + the signal.
fn crashed(prog: &str, ended: Ended, normal_crash: bool) -> Option<Next> {
    match ended {
        Ended::Signaled(sig) if !normal_crash => {
            report::fatal(prog, format_args!("child crashed with signal {sig}"));
            Some(Next::Exit(u8::try_from(128 + sig).unwrap_or(255)))
        }
        _ => None,
    }
}

/// skalibs' `wait_estatus` as `if` reports it: the exit code (128 for codes
/// above 128), or 128 + the signal.
fn estatus(ended: Ended) -> u8 {
    match ended {
        Ended::Exited(c) => c.min(128),
        Ended::Signaled(s) => u8::try_from(128 + s).unwrap_or(255),
    }
}

/// `if [-n] [-X] [-t | -x code] { prog... } rest...`
pub(crate) fn if_(prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let (mut not, mut normal_crash) = (false, false);
    let mut code: Option<u32> = None;
    let args = options(rest(argv), "nXtx:", |c, arg| {
        match c {
            b'n' => not = true,
            b'X' => normal_crash = true,
            b't' => code = Some(0),
            _ => {
                code = Some(
                    arg.and_then(uint0)
                        .filter(|&n| n <= 65535)
                        .ok_or_else(Failure::usage)?,
                )
            }
        }
        Ok(())
    })?;
    if code.is_some_and(|c| c > 255) {
        return Err(fatal("invalid exit code"));
    }
    let (words, after) = block(prog, args, env, 1)?.ok_or_else(|| fatal("unterminated block"))?;
    let what = words.first().map_or_else(String::new, |w| show(w));
    let ended = match run_block(prog, &words, env)? {
        Ok(ended) => ended,
        Err(e) => return Err(Failure::sys(format_args!("spawn {what}"), &e)),
    };
    if let Some(exit) = crashed(prog, ended, normal_crash) {
        return Ok(exit);
    }
    let status = estatus(ended);
    if not == (status == 0) {
        let exit = match code {
            Some(c) => u8::try_from(c).unwrap_or(1),
            None if not => 1,
            None => status,
        };
        return Ok(Next::Exit(exit));
    }
    Ok(then(args.get(after..).unwrap_or(&[])))
}

/// `ifelse [-n] [-X] { cond... } { then... } else...`
pub(crate) fn ifelse(prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let (mut not, mut normal_crash) = (false, false);
    let args = options(rest(argv), "nX", |c, _| {
        if c == b'n' {
            not = true;
        } else {
            normal_crash = true;
        }
        Ok(())
    })?;
    let (cond, after1) =
        block(prog, args, env, 1)?.ok_or_else(|| fatal("unterminated if block"))?;
    let tail = args.get(after1..).unwrap_or(&[]);
    if tail.is_empty() {
        return Err(fatal("then block required"));
    }
    let (then_words, after2) =
        block(prog, tail, env, 2)?.ok_or_else(|| fatal("unterminated then block"))?;
    let what = cond.first().map_or_else(String::new, |w| show(w));
    let ended = match run_block(prog, &cond, env)? {
        Ok(ended) => ended,
        Err(e) => return Err(Failure::sys(format_args!("spawn {what}"), &e)),
    };
    if let Some(exit) = crashed(prog, ended, normal_crash) {
        return Ok(exit);
    }
    let ok = ended == Ended::Exited(0);
    if not != ok {
        Ok(Next::Run(then_words))
    } else {
        Ok(Next::Run(tail.get(after2..).unwrap_or(&[]).to_vec()))
    }
}

/// Substitutes and goes on: what define, importas and multisubstitute end with.
fn substitute_rest(args: &[OsString], substs: &[Subst]) -> Next {
    let words: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let out = substitute(&words, substs);
    then(&out.into_iter().map(OsString::from_vec).collect::<Vec<_>>())
}

fn transform_failed() -> Failure {
    Failure::new(
        Exit::System,
        "unable to complete exlsn function: Invalid argument",
    )
}

/// The options shared by define and importas that shape the value.
fn transform_opt(t: &mut Transform, c: u8, arg: Option<&OsStr>) {
    match c {
        b'N' => t.chomp = false,
        b'n' => t.chomp = true,
        b's' => t.split = true,
        b'C' => t.crunch = true,
        b'c' => t.crunch = false,
        b'd' => t.delim = arg.map(|a| a.as_bytes().to_vec()).unwrap_or_default(),
        _ => {}
    }
}

/// One `define` directive: the variable and how many arguments it used.
fn define_directive(args: &[OsString]) -> Result<(Subst, usize), Failure> {
    let mut t = Transform::default();
    let mut g = Getopt::new(args, "NnsCcd:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        transform_opt(&mut t, opt.letter, opt.arg);
    }
    let used = args.len() - g.rest().len();
    let [key, value, ..] = g.rest() else {
        return Err(Failure::usage());
    };
    if key.is_empty() {
        return Err(Failure::new(Exit::System, "bad substitution key"));
    }
    let values = t.apply(value.as_bytes()).map_err(|_| transform_failed())?;
    Ok((
        Subst {
            name: key.as_bytes().to_vec(),
            values,
        },
        used + 2,
    ))
}

/// One `importas` directive: the variable, how many arguments it used, and the
/// environment variable to remove (-u).
fn importas_directive(
    args: &[OsString],
    env: &Env,
) -> Result<(Subst, usize, Option<OsString>), Failure> {
    let mut t = Transform::default();
    let (mut insist, mut unexport) = (false, false);
    let mut default: Option<OsString> = None;
    let mut g = Getopt::new(args, "iuD:NnsCcd:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        match opt.letter {
            b'i' => insist = true,
            b'u' => unexport = true,
            b'D' => default = opt.arg.map(OsStr::to_os_string),
            c => transform_opt(&mut t, c, opt.arg),
        }
    }
    let used = args.len() - g.rest().len();
    let [key, var, ..] = g.rest() else {
        return Err(Failure::usage());
    };
    if key.is_empty() {
        return Err(Failure::new(Exit::System, "bad substitution key"));
    }
    let mut remove = None;
    let value = match env.get(var.as_bytes()) {
        Some(v) => {
            if unexport {
                remove = Some(var.clone());
            }
            Some(v.to_os_string())
        }
        None if insist => return Err(fatal(format!("{} not set", show(var)))),
        None => default,
    };
    let values = match value {
        Some(v) => t.apply(v.as_bytes()).map_err(|_| transform_failed())?,
        None => Vec::new(),
    };
    Ok((
        Subst {
            name: key.as_bytes().to_vec(),
            values,
        },
        used + 2,
        remove,
    ))
}

/// `define [-N|-n] [-s] [-C|-c] [-d delim] key value prog...`
pub(crate) fn define(_prog: &str, argv: &[OsString], _env: &mut Env) -> Result<Next, Failure> {
    let args = rest(argv);
    let (s, used) = define_directive(args)?;
    Ok(substitute_rest(args.get(used..).unwrap_or(&[]), &[s]))
}

/// `importas [-i|-D default] [-u] [-N|-n] [-s] [-C|-c] [-d delim] key var prog...`
pub(crate) fn importas(_prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let args = rest(argv);
    let (s, used, remove) = importas_directive(args, env)?;
    let next = substitute_rest(args.get(used..).unwrap_or(&[]), &[s]);
    if let Some(var) = remove {
        env.unset(var.as_bytes());
    }
    Ok(next)
}

/// `multisubstitute { define … importas … } prog...`: several substitutions at
/// once (define and importas directives only).
pub(crate) fn multisubstitute(
    prog: &str,
    argv: &[OsString],
    env: &mut Env,
) -> Result<Next, Failure> {
    let args = rest(argv);
    let (words, after) = block(prog, args, env, 1)?.ok_or_else(|| fatal("unterminated block"))?;
    let mut substs: Vec<Subst> = Vec::new();
    let mut removes = Vec::new();
    let mut i = 0;
    while let Some(d) = words.get(i) {
        let tail = words.get(i + 1..).unwrap_or(&[]);
        let (s, used) = match d.as_bytes() {
            b"define" => define_directive(tail)?,
            b"importas" => {
                let (s, used, remove) = importas_directive(tail, env)?;
                removes.extend(remove);
                (s, used)
            }
            _ => {
                return Err(fatal(format!(
                    "syntax error: unrecognized directive {}",
                    show(d)
                )));
            }
        };
        if substs.iter().any(|x| x.name == s.name) {
            return Err(fatal(format!("wrong key for directive {}", show(d))));
        }
        substs.push(s);
        i += 1 + used;
    }
    let next = substitute_rest(args.get(after..).unwrap_or(&[]), &substs);
    for var in removes {
        env.unset(var.as_bytes());
    }
    Ok(next)
}

fn valid_name(name: &OsStr) -> Result<(), Failure> {
    if name.as_bytes().contains(&b'=') {
        return Err(fatal(format!("invalid variable name: {}", show(name))));
    }
    Ok(())
}

/// `export var value prog...`
pub(crate) fn export(_prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let args = rest(argv);
    let [var, value, next @ ..] = args else {
        return Err(Failure::usage());
    };
    if next.is_empty() {
        return Err(Failure::usage());
    }
    valid_name(var)?;
    env.set(var.as_bytes(), value.as_bytes());
    Ok(Next::Run(next.to_vec()))
}

/// `unexport var prog...`
pub(crate) fn unexport(_prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let args = rest(argv);
    let [var, next @ ..] = args else {
        return Err(Failure::usage());
    };
    if next.is_empty() {
        return Err(Failure::usage());
    }
    valid_name(var)?;
    env.unset(var.as_bytes());
    Ok(Next::Run(next.to_vec()))
}

/// Makes `to` a copy of `from` (skalibs' `fd_copy`), leaving both open.
fn fd_copy(to: RawFd, from: RawFd) -> Result<(), Errno> {
    if to == from {
        return if process::with_fd(from, |_| ()).is_some() {
            Ok(())
        } else {
            Err(Errno::EBADF)
        };
    }
    process::with_fd(from, |src| -> Result<(), Errno> {
        match process::inherited_fd(to) {
            Ok(mut dst) => {
                let r = nix::unistd::dup2(src, &mut dst);
                // `to` stays open: it is the process's descriptor, not ours.
                let _ = dst.into_raw_fd();
                r
            }
            Err(_) => {
                let got = fcntl(src, FcntlArg::F_DUPFD(to))?;
                if got == to { Ok(()) } else { Err(Errno::EBADF) }
            }
        }
    })
    .unwrap_or(Err(Errno::EBADF))
}

/// Moves `from` to `to` (skalibs' `fd_move`): copy, then close `from`.
fn fd_move(to: RawFd, from: RawFd) -> Result<(), Errno> {
    fd_copy(to, from)?;
    if to != from {
        drop(process::inherited_fd(from));
    }
    Ok(())
}

/// `redirfd -[r|w|u|a|c|x] [-n] [-b] fd file prog...`
pub(crate) fn redirfd(_prog: &str, argv: &[OsString], _env: &mut Env) -> Result<Next, Failure> {
    let mut what: Option<OFlag> = None;
    let mut flags = OFlag::empty();
    let mut change_mode = false;
    let args = options(rest(argv), "rwuacxnb", |c, _| {
        let create = OFlag::O_APPEND | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_EXCL;
        match c {
            b'r' => {
                what = Some(OFlag::O_RDONLY);
                flags.remove(create);
            }
            b'w' => {
                what = Some(OFlag::O_WRONLY);
                flags.remove(create);
                flags.insert(OFlag::O_CREAT | OFlag::O_TRUNC);
            }
            b'u' => {
                what = Some(OFlag::O_RDWR);
                flags.remove(create);
            }
            b'a' => {
                what = Some(OFlag::O_WRONLY);
                flags.remove(create);
                flags.insert(OFlag::O_CREAT | OFlag::O_APPEND);
            }
            b'c' => {
                what = Some(OFlag::O_WRONLY);
                flags.remove(create);
                flags.insert(OFlag::O_APPEND);
            }
            b'x' => {
                what = Some(OFlag::O_WRONLY);
                flags.remove(create);
                flags.insert(OFlag::O_CREAT | OFlag::O_EXCL);
            }
            b'n' => flags.insert(OFlag::O_NONBLOCK),
            _ => change_mode = true,
        }
        Ok(())
    })?;
    let (Some(what), [fd, file, next @ ..]) = (what, args) else {
        return Err(Failure::usage());
    };
    if next.is_empty() {
        return Err(Failure::usage());
    }
    let fd = uint0(fd)
        .and_then(|n| RawFd::try_from(n).ok())
        .ok_or_else(Failure::usage)?;
    let flags = flags | what;
    let mode = Mode::from_bits_truncate(0o666);
    let opened: OwnedFd = match open(file.as_os_str(), flags, mode) {
        Err(Errno::ENXIO) if what == OFlag::O_WRONLY => {
            // A FIFO without a reader: be the reader for the time of the open.
            let reader = open(
                file.as_os_str(),
                OFlag::O_RDONLY | OFlag::O_NONBLOCK,
                Mode::empty(),
            )
            .map_err(|e| Failure::sys(format_args!("open_read {}", show(file)), &e.into()))?;
            let w = open(file.as_os_str(), flags, mode);
            drop(reader);
            w
        }
        r => r,
    }
    .map_err(|e| Failure::sys(format_args!("open {}", show(file)), &e.into()))?;
    let from = opened.as_raw_fd();
    if from == fd {
        let _ = opened.into_raw_fd();
    } else {
        let r = fd_copy(fd, from);
        drop(opened);
        r.map_err(|e| Failure::sys(format_args!("move fd {from} to fd {fd}"), &e.into()))?;
    }
    if change_mode {
        let nonblock = !flags.contains(OFlag::O_NONBLOCK);
        process::with_fd(fd, |f| -> Result<(), Errno> {
            let fl = OFlag::from_bits_truncate(fcntl(f, FcntlArg::F_GETFL)?);
            let fl = if nonblock {
                fl | OFlag::O_NONBLOCK
            } else {
                fl - OFlag::O_NONBLOCK
            };
            fcntl(f, FcntlArg::F_SETFL(fl)).map(drop)
        })
        .unwrap_or(Err(Errno::EBADF))
        .map_err(|e| Failure::sys("change blocking mode", &e.into()))?;
    }
    Ok(Next::Run(next.to_vec()))
}

/// `fdmove [-c] to from prog...`
pub(crate) fn fdmove(_prog: &str, argv: &[OsString], _env: &mut Env) -> Result<Next, Failure> {
    let mut copy = false;
    let args = options(rest(argv), "c", |_, _| {
        copy = true;
        Ok(())
    })?;
    let [to_s, from_s, next @ ..] = args else {
        return Err(Failure::usage());
    };
    let (Some(to), Some(from)) = (uint0(to_s), uint0(from_s)) else {
        return Err(Failure::usage());
    };
    if next.is_empty() {
        return Err(Failure::usage());
    }
    let (to, from) = (
        RawFd::try_from(to).map_err(|_| Failure::usage())?,
        RawFd::try_from(from).map_err(|_| Failure::usage())?,
    );
    let r = if copy {
        fd_copy(to, from)
    } else {
        fd_move(to, from)
    };
    r.map_err(|e| {
        Failure::sys(
            format_args!("move fd {} to fd {}", show(from_s), show(to_s)),
            &e.into(),
        )
    })?;
    Ok(Next::Run(next.to_vec()))
}

/// `exec [-c] [-l] [-a argv0] prog...`
pub(crate) fn exec(_prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let (mut clear, mut dash) = (false, false);
    let mut argv0: Option<OsString> = None;
    let args = options(rest(argv), "cla:", |c, arg| {
        match c {
            b'c' => clear = true,
            b'l' => dash = true,
            _ => argv0 = arg.map(OsStr::to_os_string),
        }
        Ok(())
    })?;
    let Some(program) = args.first() else {
        return Err(Failure::usage());
    };
    if clear {
        env.clear();
    }
    if argv0.is_none() && !dash && find(basename(program)).is_some() {
        return Ok(Next::Run(args.to_vec()));
    }
    let mut name = argv0.unwrap_or_else(|| program.clone());
    if dash {
        let mut d = OsString::from("-");
        d.push(&name);
        name = d;
    }
    let mut v = args.to_vec();
    if let Some(first) = v.first_mut() {
        *first = name;
    }
    Ok(Next::Exec(program.clone(), v))
}

/// `emptyenv [-p] [-c] [-o] [-P] prog...`
pub(crate) fn emptyenv(_prog: &str, argv: &[OsString], env: &mut Env) -> Result<Next, Failure> {
    let (mut path, mut cleanup, mut opt, mut pos) = (false, false, false, false);
    let args = options(rest(argv), "pcoP", |c, _| {
        match c {
            b'p' => path = true,
            b'c' => cleanup = true,
            b'o' => opt = true,
            _ => pos = true,
        }
        Ok(())
    })?;
    if args.is_empty() {
        return Err(Failure::usage());
    }
    if cleanup {
        env.unset(b"!");
        env.unset(b"?");
        let doomed: Vec<OsString> = env
            .vars()
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| {
                let k = k.as_bytes();
                k.starts_with(b"ELGETOPT_")
                    || k.starts_with(b"EXECLINE_")
                    || k.starts_with(b"FD")
                    || k.first().is_some_and(|&c| c == b'#' || c.is_ascii_digit())
            })
            .collect();
        for k in doomed {
            env.unset(k.as_bytes());
        }
    } else if !opt && !pos {
        let keep = if path {
            env.get(b"PATH").map(OsStr::to_os_string)
        } else {
            None
        };
        env.clear();
        if let Some(p) = keep {
            env.set(b"PATH", p.as_bytes());
        }
    } else {
        let mut list: Vec<&[u8]> = Vec::new();
        if pos {
            list.extend_from_slice(POSITIONALS);
        }
        if opt {
            list.push(b"ELGETOPT_");
        }
        env.pop(&list);
    }
    Ok(Next::Run(args.to_vec()))
}

/// `exit [code]`
pub(crate) fn exit(_prog: &str, argv: &[OsString], _env: &mut Env) -> Result<Next, Failure> {
    match rest(argv).first() {
        None => Ok(Next::Exit(0)),
        Some(n) => {
            let n = uint0(n).ok_or_else(Failure::usage)?;
            Ok(Next::Exit(n.to_le_bytes()[0]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn blocks_strip_one_space_and_stop_at_the_empty_word() {
        let env = Env::default();
        let (w, after) = block("t", &v(&[" a", "  b", " ", "", "rest"]), &env, 1)
            .unwrap()
            .unwrap();
        assert_eq!(w, v(&["a", " b", ""]));
        assert_eq!(after, 4);
        assert!(block("t", &v(&[" a"]), &env, 1).unwrap().is_none());
    }
}
