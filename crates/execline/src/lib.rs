//! `execlineb` and the execline builtins that s6-rc `up`/`down` files, run scripts
//! and s6-overlay's `with-contenv` shebangs use (`foreground`, `if`, `importas`…),
//! as one chain interpreter.
//!
//! Invariant: an argv means what it means to execline 2.9 — same lexing, block
//! encoding, substitution, environment, messages and exit codes — and a chain
//! never depends on `PATH` to find a builtin: when the next argv\[0\] (by
//! basename) is one of ours it runs in this process, in a loop; a block spawned by
//! `foreground`/`if`/`ifelse`/`background` whose first word is ours runs in a
//! `fork`ed child of this process (no re-exec); anything else is exec'd through
//! `PATH` (126/127 on failure), and a real execline builtin that svkit does not
//! implement is refused at once with exit 100 instead of being looked up.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode};

use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::Pid;
use svkit_core::report::{self, Failure};
use svkit_core::{Exit, process};

mod builtins;
mod env;
#[doc(hidden)]
pub mod fuzz;
mod lexer;
mod script;
mod subst;

use env::Env;

/// What a builtin does once its own work is done.
pub(crate) enum Next {
    /// Go on with this argv (exec semantics; an empty argv means exit 0).
    Run(Vec<OsString>),
    /// Exec this program with this argv (argv\[0\] may differ: `exec -a`).
    Exec(OsString, Vec<OsString>),
    /// Exit with this code.
    Exit(u8),
}

/// A builtin: program name (for messages), its whole argv (argv\[0\] included),
/// the environment it may change.
pub(crate) type Body = fn(&str, &[OsString], &mut Env) -> Result<Next, Failure>;

/// A builtin's name, body and usage (after `name: usage: name`).
pub(crate) type Builtin = (&'static str, Body, &'static str);

/// The builtins svkit implements: name, body, usage (after `name: usage: name`).
const BUILTINS: &[Builtin] = &[
    (
        "execlineb",
        script::execlineb,
        "[ -p | -P | -S nmin | -s nmin ] [ -q | -w | -W ] [ -c commandline ] script args",
    ),
    ("foreground", builtins::foreground, "{ command... }"),
    ("background", builtins::background, "[ -d ] { command... }"),
    (
        "if",
        builtins::if_,
        "[ -n ] [ -X ] [ -t | -x exitcode ] { command... }",
    ),
    (
        "ifelse",
        builtins::ifelse,
        "[ -n ] [ -X ] { command-if } { command-then... } command-else...",
    ),
    (
        "importas",
        builtins::importas,
        "[ -i | -D default ] [ -u ] [ -N | -n ] [ -s ] [ -C | -c ] [ -d delim ] key var prog...",
    ),
    (
        "define",
        builtins::define,
        "[ -N | -n ] [ -s ] [ -C | -c ] [ -d delim ] key value prog...",
    ),
    (
        "multisubstitute",
        builtins::multisubstitute,
        "multisubstitute { [ define ... ] [ importas ... ] } prog...",
    ),
    ("export", builtins::export, "variable value prog..."),
    ("unexport", builtins::unexport, "variable prog..."),
    (
        "redirfd",
        builtins::redirfd,
        "-[ r | w | u | a | x ] [ -n ] [ -b ] fd file prog...",
    ),
    ("fdmove", builtins::fdmove, "[ -c ] to from prog..."),
    ("exec", builtins::exec, "[ -c ] [ -l ] [ -a argv0 ] prog..."),
    (
        "emptyenv",
        builtins::emptyenv,
        "[ -p | -c | -o | -P ] prog...",
    ),
    ("exit", builtins::exit, "[ exitcode ]"),
];

/// Real execline programs that svkit does not implement: a chain that reaches one
/// stops with exit 100 rather than run whatever `PATH` has under that name.
pub const UNSUPPORTED: &[&str] = &[
    "backtick",
    "case",
    "cd",
    "dollarat",
    "elgetopt",
    "elgetpositionals",
    "elglob",
    "eltest",
    "envfile",
    "execline-cd",
    "execline-umask",
    "fdblock",
    "fdclose",
    "fdreserve",
    "fdswap",
    "forbacktickx",
    "forstdin",
    "forx",
    "getcwd",
    "getpid",
    "heredoc",
    "homeof",
    "ifte",
    "ifthenelse",
    "import",
    "loopwhilex",
    "multidefine",
    "pipeline",
    "piperw",
    "posix-cd",
    "posix-umask",
    "runblock",
    "shift",
    "trap",
    "tryexec",
    "umask",
    "wait",
    "withstdinas",
];

/// The names of the builtins svkit implements, `execlineb` first.
#[must_use]
pub fn names() -> Vec<&'static str> {
    BUILTINS.iter().map(|(n, _, _)| *n).collect()
}

fn basename(argv0: &OsStr) -> &[u8] {
    Path::new(argv0)
        .file_name()
        .map_or(argv0.as_bytes(), OsStrExt::as_bytes)
}

fn find(name: &[u8]) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|(n, _, _)| n.as_bytes() == name)
}

fn unsupported(name: &[u8]) -> bool {
    UNSUPPORTED.iter().any(|n| n.as_bytes() == name)
}

/// The message for a real execline builtin svkit does not implement.
fn refuse(name: &[u8]) -> Failure {
    Failure::new(
        Exit::Usage,
        format!(
            "unsupported execline command: {} (svkit's execlineb implements: {})",
            String::from_utf8_lossy(name),
            names().join(" ")
        ),
    )
}

/// Execs `program` with `argv` (argv\[0\] included) and exactly `env`; returns
/// only on failure.
fn exec_program(program: &OsStr, argv: &[OsString], env: &Env) -> Failure {
    let mut cmd = Command::new(program);
    if let Some((arg0, args)) = argv.split_first() {
        cmd.arg0(arg0).args(args);
    }
    cmd.env_clear().envs(env.vars().iter().map(|(k, v)| (k, v)));
    Failure::exec(program, &cmd.exec())
}

/// Runs a chain to its end: builtins in this process, the first other program by
/// exec. `prog` names the caller in messages until a builtin takes over;
/// `forced` runs argv as that builtin whatever argv\[0\] is. Returns the exit
/// code when the chain exits instead of exec'ing.
pub(crate) fn run_chain(
    prog: &str,
    mut argv: Vec<OsString>,
    mut env: Env,
    mut forced: Option<&'static Builtin>,
) -> u8 {
    let mut prog = prog.to_owned();
    loop {
        let Some(first) = argv.first() else {
            return 0;
        };
        let name = basename(first);
        if let Some(&(bname, body, usage)) = forced.take().or_else(|| find(name)) {
            prog = bname.to_owned();
            match body(&prog, &argv, &mut env) {
                Ok(Next::Run(next)) => argv = next,
                Ok(Next::Exec(program, next)) => {
                    let f = exec_program(&program, &next, &env);
                    return die(&prog, usage, &f);
                }
                Ok(Next::Exit(code)) => return code,
                Err(f) => return die(&prog, usage, &f),
            }
        } else if unsupported(name) {
            return die(&prog, "", &refuse(name));
        } else {
            let program = first.clone();
            let f = exec_program(&program, &argv, &env);
            return die(&prog, "", &f);
        }
    }
}

fn die(prog: &str, usage: &str, f: &Failure) -> u8 {
    let _ = report::die(prog, usage, f);
    f.exit.code()
}

/// A child started for a block.
pub(crate) enum Spawned {
    /// Its pid.
    Pid(i32),
    /// It could not be started (the `exec` failed): why.
    Failed(io::Error),
}

/// Starts `block` as a child with `env`: a builtin first word runs in a forked
/// copy of this process, anything else is spawned (an `exec` failure is then
/// reported here, as `posix_spawn` reports it to real execline). An empty block
/// is a child that exits 0 at once.
pub(crate) fn spawn(prog: &str, block: &[OsString], env: &Env) -> io::Result<Spawned> {
    let in_process = match block.first() {
        None => true,
        Some(first) => {
            let name = basename(first);
            find(name).is_some() || unsupported(name)
        }
    };
    if in_process {
        return match process::fork()? {
            Some(pid) => Ok(Spawned::Pid(pid)),
            None => {
                let code = run_chain(prog, block.to_vec(), env.clone(), None);
                std::process::exit(i32::from(code))
            }
        };
    }
    let Some((program, args)) = block.split_first() else {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    };
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .envs(env.vars().iter().map(|(k, v)| (k, v)));
    match cmd.spawn() {
        Ok(child) => {
            let pid = i32::try_from(child.id())
                .map_err(|_| io::Error::from_raw_os_error(libc::ERANGE))?;
            // Reaped by `wait_for`; dropping `Child` neither waits nor kills.
            drop(child);
            Ok(Spawned::Pid(pid))
        }
        Err(e) => Ok(Spawned::Failed(e)),
    }
}

/// How a child ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Exited(u8),
    Signaled(i32),
}

impl Ended {
    /// skalibs' `wait_status`: the exit code, or 256 + the signal.
    pub(crate) fn status(self) -> u32 {
        match self {
            Ended::Exited(c) => u32::from(c),
            Ended::Signaled(s) => 256 + s.unsigned_abs(),
        }
    }
}

/// Waits for child `pid`.
pub(crate) fn wait_for(pid: i32) -> io::Result<Ended> {
    loop {
        match waitpid(Pid::from_raw(pid), None) {
            Ok(WaitStatus::Exited(_, code)) => {
                return Ok(Ended::Exited(u8::try_from(code & 0xff).unwrap_or(0)));
            }
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Ended::Signaled(sig as i32)),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
}

/// Entry point of `execlineb` (argv\[0\] included), whatever it is called.
pub fn execlineb(args: Vec<OsString>) -> ExitCode {
    entry(args, find(b"execlineb"))
}

/// Entry point of every builtin, `execlineb` included: dispatches on the basename
/// of argv\[0\] (`foreground`, `if`, …).
pub fn builtin(args: Vec<OsString>) -> ExitCode {
    let which = args.first().and_then(|a| find(basename(a)));
    entry(args, which)
}

fn entry(args: Vec<OsString>, which: Option<&'static Builtin>) -> ExitCode {
    let Some(b) = which else {
        let name = args
            .first()
            .map_or_else(String::new, |a| report::prog_name(a));
        report::fatal("execlineb", format!("unknown execline command: {name}"));
        return ExitCode::from(Exit::Usage.code());
    };
    if args.get(1).is_some_and(|a| a == "--help") {
        print!(
            "{} {}\nsvkit's execline subset (docs/execlineb.md): {}\n",
            b.0,
            b.2,
            names().join(" ")
        );
        return ExitCode::SUCCESS;
    }
    ExitCode::from(run_chain(b.0, args, Env::from_process(), Some(b)))
}
