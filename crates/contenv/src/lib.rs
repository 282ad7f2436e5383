//! `with-contenv PROG...` and `printcontenv VAR` (s6-overlay's): give a program the
//! container's environment, as dumped by `/init` in `/run/s6/container_environment`.
//!
//! Invariant: unless `S6_KEEP_ENV` is set to a non-zero value in the caller's
//! environment, `with-contenv` runs PROG with exactly `PATH` plus the dump, read
//! afresh at every call (so variables written by cont-init scripts are seen), and
//! every value comes back byte for byte (see `svkit_core::envdir`).
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode};

use svkit_core::envdir::{self, Change};
use svkit_core::overlay::{RUNTIME_DIR_VAR, layout};
use svkit_core::report::{self, Failure};
use svkit_core::{Exit, getopt};

const WITH_USAGE: &str = "PROG [ARGS...]";
const WITH_HELP: &str = "\
with-contenv PROG [ARGS...]
Run PROG with the container's environment: PATH plus every variable dumped by
/init in /run/s6/container_environment (including ones cont-init scripts added).
With S6_KEEP_ENV set to non-zero, PROG keeps the caller's environment as is.
Usable as a shebang: #!/usr/bin/with-contenv sh. See docs/with-contenv.md.
";
const PRINT_USAGE: &str = "VAR";
const PRINT_HELP: &str = "\
printcontenv VAR
Print the value of the container environment variable VAR, then a newline.
Exit 1 if it is not set. See docs/with-contenv.md.
";

/// `S6_KEEP_ENV` is on: set to something that is not a number equal to 0.
fn keep_env() -> bool {
    svkit_core::overlay::keep_env(std::env::var_os("S6_KEEP_ENV").as_deref())
}

/// The environment PROG gets: PATH (and the runtime directory when it is not
/// `/run`, so that PROG's tools find the tree), then the dump applied in order.
fn container_env() -> Result<Vec<(OsString, OsString)>, Failure> {
    let dump = &layout().container_env;
    let changes = envdir::read_whole(dump)
        .map_err(|e| Failure::sys(format!("read {}", dump.display()), &e))?;
    let mut env: Vec<(OsString, OsString)> = ["PATH", RUNTIME_DIR_VAR]
        .into_iter()
        .filter_map(|k| Some((OsString::from(k), std::env::var_os(k)?)))
        .collect();
    for c in changes {
        match c {
            Change::Set(k, v) => {
                env.retain(|(n, _)| *n != k);
                env.push((k, v));
            }
            Change::Unset(k) => env.retain(|(n, _)| *n != k),
        }
    }
    Ok(env)
}

/// Entry point: `with-contenv PROG [ARGS...]`.
pub fn with_contenv(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("with-contenv"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{WITH_HELP}");
        return ExitCode::SUCCESS;
    }
    let Some((program, prog_args)) = rest.split_first() else {
        return report::die(&prog, WITH_USAGE, &Failure::usage());
    };
    let mut cmd = Command::new(program);
    cmd.args(prog_args);
    if !keep_env() {
        match container_env() {
            Ok(env) => {
                cmd.env_clear().envs(env);
            }
            Err(f) => return report::die(&prog, WITH_USAGE, &f),
        }
    }
    let e = cmd.exec();
    report::die(&prog, WITH_USAGE, &Failure::exec(program, &e))
}

/// Entry point: `printcontenv VAR`.
pub fn printcontenv(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("printcontenv"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{PRINT_HELP}");
        return ExitCode::SUCCESS;
    }
    let var = match rest {
        [var] => var,
        [] => {
            return report::die(
                &prog,
                PRINT_USAGE,
                &Failure::new(Exit::Usage, "too few arguments"),
            );
        }
        _ => return report::die(&prog, PRINT_USAGE, &Failure::usage()),
    };
    let value = if keep_env() {
        std::env::var_os(var).filter(|v| !v.is_empty())
    } else if envdir::valid_name(var) && !var.as_bytes().contains(&b'/') {
        match envdir::read_value(&layout().container_env.join(var)) {
            Ok(envdir::Value::Set(v)) => Some(v),
            _ => None,
        }
    } else {
        None
    };
    let Some(value) = value else {
        return Exit::No.into();
    };
    let mut line = value.as_bytes().to_vec();
    line.push(b'\n');
    match io::stdout().lock().write_all(&line) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => report::die(&prog, PRINT_USAGE, &Failure::sys("write to stdout", &e)),
    }
}
