//! s6-rc for svkit: `rc-compile` checks service definitions and writes their
//! database, `rc-init` hands the longruns to a scanner, `rc` (s6-rc) brings
//! services up and down with their dependencies.
//!
//! Invariant: nothing starts from definitions with a fatal problem (an undefined
//! name, a cycle, a bad `type`): `rc-compile` reports every one of them, one line
//! each naming the file, and exits 100 without writing anything.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod db;
mod engine;
#[doc(hidden)]
pub mod fuzz;
mod graph;
mod live;
mod source;

use std::collections::BTreeSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use svkit_core::Exit;
use svkit_core::getopt::Getopt;
use svkit_core::report::{self, Failure, show};

use engine::{Outcome, Settings, Way};
use live::Live;

/// Where `rc` finds the live state unless told (`-l`): `/run/s6-rc`, under
/// `SVKIT_RUNTIME_DIR` when that moves the runtime directory.
fn default_live() -> PathBuf {
    svkit_core::overlay::layout().rc_live.clone()
}

const RC_USAGE: &str = "[ -v verbosity ] [ -n ] [ -t timeout ] [ -l live ] [ -u | -d | -D ] [ -p ] [ -a ] [ -b ] help|list|listall|change [ servicenames... ]";
const RC_HELP: &str = "\
rc [ -v N ] [ -n ] [ -t ms ] [ -l live ] [ -u | -d | -D ] [ -p ] [ -a ] [ -b ] COMMAND [ NAME... ]
Brings services up or down with their dependencies (s6-rc).
Commands: change (bring the selection up with -u, the default, or down with
-d; -D also stops flag-essential services; -p with -u also stops every other
service), list (print the atomic services selected), listall (the selection
with its dependencies with -u, its dependents with -d), help.
The selection: the NAMEs (bundles expand to their members), plus every service
up now with -a. -t gives up after ms (exit 2); -n prints what would be done;
-b waits for another rc to finish; -v 2 prints a line per service.
Exits 0, 1 if some services failed, 2 on timeout, 3 for an unknown name,
4 for an invalid database, 100 for bad usage, 111 for a system error.
Live directory: /run/s6-rc by default ($SVKIT_RUNTIME_DIR/s6-rc when set). See docs/s6-rc.md.
";

/// `rc` (s6-rc).
pub fn rc(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    report::tool_main(args, "rc", RC_USAGE, RC_HELP, |prog, rest| {
        rc_run(prog, rest).map(ExitCode::from)
    })
}

fn parse_ms(arg: Option<&OsStr>) -> Result<u64, Failure> {
    arg.and_then(OsStr::to_str)
        .and_then(|s| s.parse().ok())
        .ok_or_else(Failure::usage)
}

fn rc_run(prog: &str, args: &[OsString]) -> Result<u8, Failure> {
    let mut verbosity = 1;
    let mut dry_run = false;
    let mut timeout = 0;
    let mut live_dir = default_live();
    let (mut way, mut force, mut prune, mut all, mut block) = (Way::Up, false, false, false, false);
    let mut opts = Getopt::new(args, "v:nt:l:uUdDpab");
    for o in opts.by_ref() {
        let o = o.map_err(|_| Failure::usage())?;
        match o.letter {
            b'v' => verbosity = u32::try_from(parse_ms(o.arg)?).unwrap_or(u32::MAX),
            b'n' => dry_run = true,
            b't' => timeout = parse_ms(o.arg)?,
            b'l' => live_dir = PathBuf::from(o.arg.unwrap_or_default()),
            b'u' | b'U' => way = Way::Up,
            b'd' => (way, force) = (Way::Down, false),
            b'D' => (way, force) = (Way::Down, true),
            b'p' => prune = true,
            b'a' => all = true,
            b'b' => block = true,
            _ => return Err(Failure::usage()),
        }
    }
    let rest = opts.rest();
    let Some((command, names)) = rest.split_first() else {
        return Err(Failure::usage());
    };
    let command = command.to_str().unwrap_or("");
    if command == "help" {
        print!("{RC_HELP}");
        return Ok(0);
    }
    if !matches!(command, "list" | "listall" | "change") {
        return Err(Failure::new(
            Exit::Usage,
            format!("unknown command {command:?}: use change, list, listall or help"),
        ));
    }
    // Oneshots run in the live directory: their paths must not depend on ours.
    let live_dir = std::path::absolute(&live_dir)
        .map_err(|e| Failure::sys(format!("resolve {}", show(&live_dir)), &e))?;
    let live = Live::new(&live_dir);
    let _lock = if command == "change" && !dry_run {
        Some(live.lock(block)?)
    } else {
        None
    };
    let g = live::graph(&live)?;
    let up = live.up_set();
    let mut bad = Vec::new();
    let mut selected = g.atomics(names.iter().filter_map(|n| n.to_str()), &mut bad);
    if let Some(n) = names.iter().find(|n| n.to_str().is_none()) {
        bad.push(show(n));
    }
    if let Some(b) = bad.first() {
        return Err(Failure::new(
            Exit::Failures(3),
            format!("unknown service name: {b}"),
        ));
    }
    if all {
        selected.extend(up.iter().cloned());
    }
    let closure = match way {
        Way::Up => g.with_dependencies(&selected),
        Way::Down => engine::down_set(&g, &up, &selected, force),
    };
    match command {
        "list" => {
            print_names(&selected);
            return Ok(0);
        }
        "listall" => {
            let set = match way {
                Way::Up => g.with_dependencies(&selected),
                Way::Down => g.with_dependents(&selected),
            };
            print_names(&set);
            return Ok(0);
        }
        _ => {}
    }
    let exe = std::env::current_exe().map_err(|e| Failure::sys("find my own executable", &e))?;
    let settings = Settings {
        prog: prog.to_owned(),
        verbosity,
        dry_run,
        deadline: (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout)),
        exe,
    };
    if way == Way::Up && prune {
        let others: BTreeSet<String> = up.difference(&closure).cloned().collect();
        let stop = engine::down_set(&g, &up, &others, false);
        let r = engine::transition(&live, &g, &stop, Way::Down, &settings)?;
        if r != Outcome::Done {
            return Ok(outcome_code(prog, &r));
        }
    }
    let r = engine::transition(&live, &g, &closure, way, &settings)?;
    Ok(outcome_code(prog, &r))
}

fn outcome_code(_prog: &str, r: &Outcome) -> u8 {
    match r {
        Outcome::Done => 0,
        Outcome::Failed => 1,
        Outcome::TimedOut => 2,
        Outcome::Interrupted => 111,
    }
}

fn print_names(set: &BTreeSet<String>) {
    let out: String = set.iter().map(|n| format!("{n}\n")).collect();
    print!("{out}");
}

const COMPILE_USAGE: &str = "[ -v verbosity ] db source...";
const COMPILE_HELP: &str = "\
rc-compile [ -v N ] DB SOURCE...
Reads the s6-rc service definitions in each SOURCE directory (type, up, down,
run, dependencies.d/, contents.d/, timeout-up, producer-for, …), checks them
and writes the database DB for rc-init and rc. Every problem gets one line
naming its file; an undefined name, a cycle or a bad type is fatal (exit 100,
nothing written). Warnings (a misspelt file, a service no bundle starts)
are printed with -v 1 (default). See docs/s6-rc.md.
";

/// `rc-compile DB SOURCE...`
pub fn rc_compile(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    report::tool_main(
        args,
        "rc-compile",
        COMPILE_USAGE,
        COMPILE_HELP,
        |prog, rest| compile_run(prog, rest).map(|()| ExitCode::SUCCESS),
    )
}

fn compile_run(prog: &str, args: &[OsString]) -> Result<(), Failure> {
    let mut verbosity = 1;
    let mut opts = Getopt::new(args, "v:");
    for o in opts.by_ref() {
        let o = o.map_err(|_| Failure::usage())?;
        if o.letter == b'v' {
            verbosity = parse_ms(o.arg)?;
        }
    }
    let Some((db, sources)) = opts.rest().split_first() else {
        return Err(Failure::usage());
    };
    if sources.is_empty() {
        return Err(Failure::usage());
    }
    let sources: Vec<PathBuf> = sources.iter().map(PathBuf::from).collect();
    let (g, problems) = db::check(&sources);
    if verbosity >= 1 {
        for w in &problems.warnings {
            report::warn(prog, w);
        }
    }
    for f in &problems.fatal {
        report::fatal(prog, f);
    }
    if !problems.fatal.is_empty() {
        return Err(Failure::new(
            Exit::Usage,
            format!(
                "{} problem{} in the service definitions: nothing started",
                problems.fatal.len(),
                if problems.fatal.len() == 1 { "" } else { "s" }
            ),
        ));
    }
    db::write(&g, Path::new(db))
}

const INIT_USAGE: &str = "[ -c db ] [ -l live ] [ -t timeout ] scandir";
const INIT_HELP: &str = "\
rc-init [ -c DB ] [ -l LIVE ] [ -t ms ] SCANDIR
Lays out the live directory LIVE (default /run/s6-rc) for database DB (default
/run/s6/db, written by rc-compile; both under $SVKIT_RUNTIME_DIR when set):
each longrun is copied to LIVE/servicedirs/NAME with a down file, linked as
SCANDIR/NAME, and handed to the scanner running on SCANDIR; returns once every
supervisor has started (-t gives up after ms, default 10000). Nothing is
brought up: rc does that.
";

/// `rc-init [-c DB] [-l LIVE] SCANDIR`
pub fn rc_init(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    report::tool_main(args, "rc-init", INIT_USAGE, INIT_HELP, |_, rest| {
        init_run(rest).map(|()| ExitCode::SUCCESS)
    })
}

fn init_run(args: &[OsString]) -> Result<(), Failure> {
    let mut db = svkit_core::overlay::layout().rc_db.clone();
    let mut live = default_live();
    let mut timeout = 10_000;
    let mut opts = Getopt::new(args, "c:l:t:");
    for o in opts.by_ref() {
        let o = o.map_err(|_| Failure::usage())?;
        match o.letter {
            b'c' => db = PathBuf::from(o.arg.unwrap_or_default()),
            b'l' => live = PathBuf::from(o.arg.unwrap_or_default()),
            b't' => timeout = parse_ms(o.arg)?,
            _ => return Err(Failure::usage()),
        }
    }
    let [scandir] = opts.rest() else {
        return Err(Failure::usage());
    };
    let deadline = (timeout > 0).then(|| Instant::now() + Duration::from_millis(timeout));
    live::init(&db, &live, Path::new(scandir), deadline)
}
