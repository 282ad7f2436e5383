//! `svc` (s6-svc): sends control bytes to supervisors and, with `-w`, waits until
//! the services reach the requested state.
//!
//! Invariants: command letters are sent in argv order, repeats included, in one
//! write per service; with `-w` every service is subscribed to (and its status read)
//! **before** any command is sent, so the transition cannot be missed.
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use svkit_core::control::{self, ControlError};
use svkit_core::event::{Goal, Watch, wait_outcome};
use svkit_core::getopt::{self, Getopt};
use svkit_core::report::{self, Failure, show};
use svkit_core::servicedir::NOTIFICATION_FD;
use svkit_core::{Exit, config, signals};

const USAGE: &str = "[ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T timeout ] [ -s signal ] \
                     [ -abqhkti12pcyroduDUxOQ ] servicedir...";
const HELP: &str = "\
svc [ -wu | -wU | -wd | -wD | -wr | -wR ] [ -T ms ] [ -s SIG ] [ -abqhkti12pcyroduDUxOQ ] DIR...
Send commands to the supervisor of each DIR, in the order given.
  -u up   -d down   -o once   -r restart (down-signal)   -x exit supervisor when down
  -U / -D / -Q   like -u / -d / -O, and also remove / create DIR/down
  -O   do not restart   -p pause   -c continue
  -a -b -q -h -k -t -i -1 -2 -y   send ALRM ABRT QUIT HUP KILL TERM INT USR1 USR2 WINCH
  -s SIG   the letter for SIG (one of the signals above, STOP or CONT)
  -wX  then wait: u up, U up and ready, d down, D down and finished,
       r restarted, R restarted and ready;  -T ms  give up after ms (exit 99)
See docs/svc.md.
";

/// The letters that are control bytes, in s6's order.
pub const LETTERS: &str = "abqhkti12pcyroduDUxOQ";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
struct Opts {
    cmds: Vec<u8>,
    wait: Option<u8>,
    timeout_ms: u32,
    dirs: Vec<PathBuf>,
}

/// Entry point: `svc [options] DIR...`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("svc"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    match parse(rest).and_then(|o| run(&prog, &o)) {
        Ok(code) => code,
        Err(f) => report::die(&prog, USAGE, &f),
    }
}

/// The control letter that sends `sig` (`svc -s`).
fn letter_for(sig: i32) -> Option<u8> {
    let name = signals::name(sig)?;
    let letter = match name {
        "ALRM" => b'a',
        "ABRT" => b'b',
        "QUIT" => b'q',
        "HUP" => b'h',
        "KILL" => b'k',
        "TERM" => b't',
        "INT" => b'i',
        "USR1" => b'1',
        "USR2" => b'2',
        "STOP" => b'p',
        "CONT" => b'c',
        "WINCH" => b'y',
        _ => return None,
    };
    Some(letter)
}

fn parse(args: &[OsString]) -> Result<Opts, Failure> {
    let mut o = Opts {
        cmds: Vec::new(),
        wait: None,
        timeout_ms: 0,
        dirs: Vec::new(),
    };
    let mut g = Getopt::new(args, "abqhkti12pcyroduDUxOQT:w:s:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let arg = opt.arg.map(OsStr::as_encoded_bytes).unwrap_or_default();
        match opt.letter {
            b'T' => o.timeout_ms = config::parse_uint(arg).ok_or_else(Failure::usage)?,
            b'w' => match arg {
                [c @ (b'u' | b'U' | b'd' | b'D' | b'r' | b'R')] => o.wait = Some(*c),
                _ => return Err(Failure::usage()),
            },
            b's' => {
                let sig = signals::parse(arg).ok_or_else(Failure::usage)?;
                let c = letter_for(sig).ok_or_else(|| {
                    Failure::new(
                        Exit::Usage,
                        format!(
                            "signal {} cannot be sent with svc",
                            String::from_utf8_lossy(arg)
                        ),
                    )
                })?;
                o.cmds.push(c);
            }
            c => o.cmds.push(c),
        }
    }
    o.dirs = g.rest().iter().map(PathBuf::from).collect();
    if o.dirs.is_empty() || o.dirs.iter().any(|d| d.as_os_str().is_empty()) {
        return Err(Failure::usage());
    }
    Ok(o)
}

/// The failure of sending to one directory, in s6-svc's words.
fn control_failure(dir: &Path, e: ControlError) -> Failure {
    match e {
        ControlError::NotListening => Failure::new(
            Exit::Usage,
            format!("unable to control {}: supervisor not listening", show(dir)),
        ),
        ControlError::Broken => Failure::new(
            Exit::Usage,
            format!(
                "something is wrong with the {}/supervise directory",
                show(dir)
            ),
        ),
        ControlError::Sys(e) => Failure::sys(format!("control {}", show(dir)), &e),
    }
}

/// Sends the commands to every directory. With one directory a failure is fatal;
/// with several, each failure is a warning, the others are still served, and the
/// highest exit code wins.
fn send_all(prog: &str, o: &Opts) -> Result<Exit, Failure> {
    let mut worst = Exit::Ok;
    for dir in &o.dirs {
        if let Err(e) = control::send(dir, &o.cmds) {
            let f = control_failure(dir, e);
            if o.dirs.len() == 1 {
                return Err(f);
            }
            report::warn(prog, &f.msg);
            worst = worst.worst(f.exit);
        }
    }
    Ok(worst)
}

fn run(prog: &str, o: &Opts) -> Result<ExitCode, Failure> {
    let Some(w) = o.wait else {
        return send_all(prog, o).map(ExitCode::from);
    };
    let (goal, restart) = match w {
        b'u' => (Goal::UP, false),
        b'U' => (Goal::READY, false),
        b'd' => (Goal::DOWN, false),
        b'D' => (Goal::DOWN_READY, false),
        b'r' => (Goal::UP, true),
        _ => (Goal::READY, true),
    };
    let mut watch = Watch::new(&o.dirs).map_err(|e| e.failure(&o.dirs))?;
    if goal == Goal::READY {
        for (i, dir) in o.dirs.iter().enumerate() {
            if !dir.join(NOTIFICATION_FD).exists() {
                report::warn(
                    prog,
                    format_args!(
                        "{}/{NOTIFICATION_FD} not present - ignoring request for readiness notification",
                        show(dir)
                    ),
                );
                watch.without_readiness(i);
            }
        }
    }
    // Without command letters s6-svc execs s6-svwait, which does not probe the FIFO.
    if !o.cmds.is_empty() {
        let sent = send_all(prog, o)?;
        if sent != Exit::Ok {
            return Ok(sent.into());
        }
    }
    let deadline =
        (o.timeout_ms > 0).then(|| Instant::now() + Duration::from_millis(u64::from(o.timeout_ms)));
    // -wr / -wR: first down and finished, then up (s6-svlisten1 -r).
    let first = if restart {
        watch.wait(Goal::DOWN_READY, false, deadline)
    } else {
        Ok(0)
    };
    let total = first.and_then(|n| Ok(n + watch.wait(goal, false, deadline)?));
    wait_outcome(total).map(|()| ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Opts, Failure> {
        let v: Vec<OsString> = a.iter().map(OsString::from).collect();
        parse(&v)
    }

    #[test]
    fn letters_in_order_with_repeats() {
        let o = p(&["-du", "-k", "-d", "x"]).unwrap();
        assert_eq!(o.cmds, b"dukd");
        assert_eq!(o.dirs, [PathBuf::from("x")]);
    }

    #[test]
    fn wait_timeout_and_signal_options() {
        let o = p(&["-wU", "-T", "500", "-s", "SIGHUP", "-r", "a", "b"]).unwrap();
        assert_eq!(o.wait, Some(b'U'));
        assert_eq!(o.timeout_ms, 500);
        assert_eq!(o.cmds, b"hr");
        assert_eq!(o.dirs.len(), 2);
    }

    #[test]
    fn usage_errors() {
        for bad in [
            &["-z", "x"][..],
            &["-wz", "x"],
            &["-T", "x1", "x"],
            &["-u"],
            &["-u", ""],
        ] {
            assert_eq!(p(bad).unwrap_err().exit, Exit::Usage, "{bad:?}");
        }
        assert!(p(&["-s", "SEGV", "x"]).is_err());
    }
}
