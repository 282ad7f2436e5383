//! The svkit multi-call binary: one executable, every tool, chosen by the name it
//! is called by (`svc`, `s6-svc`, …) or by its first argument (`svkit svc …`).
//!
//! Invariant: each name maps to exactly one tool's `main`; the s6 name of a tool is
//! an alias that behaves identically.

use std::ffi::OsString;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

type ToolMain = fn(Vec<OsString>) -> ExitCode;

/// (plain name, s6 name, entry point, one-line summary)
const TOOLS: &[(&str, &str, ToolMain, &str)] = &[
    (
        "supervise",
        "s6-supervise",
        |a| svkit_supervise::main(a),
        "run and restart one service",
    ),
    (
        "svc",
        "s6-svc",
        |a| svkit_svc::main(a),
        "send commands to a supervised service",
    ),
    (
        "svstat",
        "s6-svstat",
        |a| svkit_svstat::main(a),
        "print a supervised service's status",
    ),
    (
        "svok",
        "s6-svok",
        |a| svkit_svok::main(a),
        "exit 0 if a service is supervised",
    ),
    (
        "svwait",
        "s6-svwait",
        |a| svkit_svwait::main(a),
        "wait for services to go up or down",
    ),
    (
        "svscan",
        "s6-svscan",
        |a| svkit_svscan::main(a),
        "supervise every service of a scan directory",
    ),
    (
        "svscanctl",
        "s6-svscanctl",
        |a| svkit_svscanctl::main(a),
        "send commands to a scanner",
    ),
    (
        "svlisten1",
        "s6-svlisten1",
        |a| svkit_svwait::svlisten1(a),
        "spawn a program and wait for a service's state",
    ),
    (
        "setuidgid",
        "s6-setuidgid",
        |a| svkit_chain::setuidgid(a),
        "run a program as another user",
    ),
    (
        "setuser",
        "setuser",
        |a| svkit_chain::setuser(a),
        "run a program as another user, with its HOME",
    ),
    (
        "envuidgid",
        "s6-envuidgid",
        |a| svkit_chain::envuidgid(a),
        "put a user's ids in the environment",
    ),
    (
        "applyuidgid",
        "s6-applyuidgid",
        |a| svkit_chain::applyuidgid(a),
        "switch to uid, gid and groups, then run",
    ),
    (
        "envdir",
        "s6-envdir",
        |a| svkit_chain::envdir(a),
        "run a program with variables from a directory",
    ),
    (
        "setsid",
        "s6-setsid",
        |a| svkit_chain::setsid(a),
        "run a program in a new session or group",
    ),
    (
        "softlimit",
        "s6-softlimit",
        |a| svkit_chain::softlimit(a),
        "run a program with resource limits",
    ),
    (
        "maximumtime",
        "s6-maximumtime",
        |a| svkit_maximumtime::maximumtime(a),
        "run a program with a time limit",
    ),
    (
        "with-retries",
        "with-retries",
        |a| svkit_maximumtime::with_retries(a),
        "run a program until it succeeds",
    ),
    (
        "notifyoncheck",
        "s6-notifyoncheck",
        |a| svkit_notifyoncheck::main(a),
        "make a daemon ready when a check passes",
    ),
    (
        "rc",
        "s6-rc",
        |a| svkit_rc::rc(a),
        "bring services up or down with their dependencies",
    ),
    (
        "rc-compile",
        "rc-compile",
        |a| svkit_rc::rc_compile(a),
        "check s6-rc service definitions, write their database",
    ),
    (
        "rc-init",
        "rc-init",
        |a| svkit_rc::rc_init(a),
        "hand an s6-rc database's longruns to a scanner",
    ),
    (
        "log",
        "s6-log",
        |a| svkit_log::main(a),
        "log lines into rotated directories",
    ),
    (
        "logutil-service",
        "logutil-service",
        |a| svkit_log::logutil_service(a),
        "run log as nobody with S6_LOGGING_SCRIPT",
    ),
    (
        "socklog",
        "s6-socklog",
        |a| svkit_socklog::main(a),
        "read syslog datagrams, print lines",
    ),
    (
        "with-contenv",
        "with-contenv",
        |a| svkit_contenv::with_contenv(a),
        "run a program with the container's environment",
    ),
    (
        "printcontenv",
        "printcontenv",
        |a| svkit_contenv::printcontenv(a),
        "print a container environment variable",
    ),
    (
        "execlineb",
        "execlineb",
        |a| svkit_execline::execlineb(a),
        "run an execline script (s6-rc up/down files)",
    ),
    (
        "foreground",
        "foreground",
        |a| svkit_execline::builtin(a),
        "execline: run a block, then the rest",
    ),
    (
        "background",
        "background",
        |a| svkit_execline::builtin(a),
        "execline: start a block, then run the rest",
    ),
    (
        "if",
        "if",
        |a| svkit_execline::builtin(a),
        "execline: run the rest if a block succeeds",
    ),
    (
        "ifelse",
        "ifelse",
        |a| svkit_execline::builtin(a),
        "execline: run one of two branches",
    ),
    (
        "importas",
        "importas",
        |a| svkit_execline::builtin(a),
        "execline: substitute an environment variable",
    ),
    (
        "define",
        "define",
        |a| svkit_execline::builtin(a),
        "execline: substitute a value",
    ),
    (
        "multisubstitute",
        "multisubstitute",
        |a| svkit_execline::builtin(a),
        "execline: several substitutions at once",
    ),
    (
        "export",
        "export",
        |a| svkit_execline::builtin(a),
        "execline: set an environment variable",
    ),
    (
        "unexport",
        "unexport",
        |a| svkit_execline::builtin(a),
        "execline: remove an environment variable",
    ),
    (
        "redirfd",
        "redirfd",
        |a| svkit_execline::builtin(a),
        "execline: redirect a descriptor to a file",
    ),
    (
        "fdmove",
        "fdmove",
        |a| svkit_execline::builtin(a),
        "execline: move or copy a descriptor",
    ),
    (
        "exec",
        "exec",
        |a| svkit_execline::builtin(a),
        "execline: exec a program (execline's exec)",
    ),
    (
        "emptyenv",
        "emptyenv",
        |a| svkit_execline::builtin(a),
        "execline: clear the environment",
    ),
    (
        "exit",
        "exit",
        |a| svkit_execline::builtin(a),
        "execline: exit with a code",
    ),
];

/// Names that run a tool but are not installed under `/command`: `/init` is linked
/// at the root of the tree, the rest are laid out by `/init` at run time.
const HIDDEN: &[(&str, ToolMain)] = &[
    ("init", |a| svkit_init::main(a)),
    (svkit_init::STAGE2, |a| svkit_init::stage2(a)),
    ("init-legacy", |a| svkit_init::legacy(a)),
    ("init-shutdown", |a| svkit_init::shutdown(a)),
    ("halt", |a| svkit_init::halt(a)),
    ("poweroff", |a| svkit_init::halt(a)),
    ("reboot", |a| svkit_init::halt(a)),
];

fn find(name: &str) -> Option<ToolMain> {
    TOOLS
        .iter()
        .find(|(plain, s6, _, _)| *plain == name || *s6 == name)
        .map(|&(_, _, f, _)| f)
        .or_else(|| HIDDEN.iter().find(|(n, _)| *n == name).map(|&(_, f)| f))
}

fn usage() -> String {
    let mut s = String::from(
        "svkit: s6-compatible process supervision\n\
         usage: svkit TOOL [ARGS...] | svkit --list | svkit --help\n\
         or call a tool by name through a link: svc -u /run/service/app\n\ntools:\n",
    );
    for (plain, s6, _, what) in TOOLS {
        let alias = if s6 == plain { "" } else { s6 };
        s.push_str(&format!("  {plain:<13} {alias:<16} {what}\n"));
    }
    s
}

fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let argv0 = args.first().cloned().unwrap_or_default();
    let name = Path::new(&argv0)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // The scanner's hooks (`.s6-svscan/finish`, `SIGTERM`…) are links to us,
    // called by their path.
    if Path::new(&argv0)
        .parent()
        .is_some_and(|p| p.file_name().is_some_and(|d| d == ".s6-svscan"))
    {
        return svkit_init::scanner_hook(args);
    }
    if let Some(tool) = find(&name) {
        return tool(args);
    }
    // Called as `svkit` (or any unknown name): the first argument names the tool.
    let Some(first) = args.get(1).map(|a| a.to_string_lossy().into_owned()) else {
        eprint!("{}", usage());
        return ExitCode::from(100);
    };
    match first.as_str() {
        "--list" => {
            let mut out = std::io::stdout().lock();
            for (plain, s6, _, _) in TOOLS {
                let _ = writeln!(out, "{plain}");
                if s6 != plain {
                    let _ = writeln!(out, "{s6}");
                }
            }
            ExitCode::SUCCESS
        }
        "--help" | "-h" => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        "--version" => {
            println!("svkit {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        tool => match find(tool) {
            Some(f) => {
                args.remove(0);
                f(args)
            }
            None => {
                eprintln!("svkit: fatal: unknown tool: {tool} (svkit --list shows them)");
                ExitCode::from(100)
            }
        },
    }
}
