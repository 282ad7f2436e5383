//! `svstat` (s6-svstat): prints the status of supervised services — s6's human
//! line, s6's `-o` fields, or one JSON object per service — and, with
//! `--all-ready`, probes a whole scan directory ([`ready`]).
//!
//! Invariants: for a single directory the human line and the field line are
//! byte-for-byte what s6-svstat 2.11 prints for the same status file; a directory
//! is only reported on if its supervisor holds the lock (otherwise the status file
//! may be stale).
#![forbid(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use svkit_core::getopt::{self, Getopt};
use svkit_core::report::{self, Failure, show};
use svkit_core::servicedir::{DOWN, LOCK};
use svkit_core::{Exit, Status, Tai64n, deathtally, lock, signals, status};

mod ready;

const USAGE: &str = "[ -uwNrpestg | -o up,wantedup,normallyup,ready,paused,pid,exitcode,signal,\
                     signum,updownsince,readysince,updownfor,readyfor,pgid ] [ -n ] [ --json ] \
                     servicedir... | --all-ready [ scandir ]";
const HELP: &str = "\
svstat [ -uwNrpestg | -o FIELD,... ] [ -n ] [ --json ] DIR...
svstat --all-ready [ SCANDIR ]
Print the status of each supervised DIR: s6-svstat's line by default, the named
fields with -o (up wantedup normallyup ready paused pid exitcode signal signum
updownsince readysince updownfor readyfor pgid; prefixes work) or the short
options (-u up -w wantedup -N normallyup -r ready -p pid -e exitcode -s signal
-t updownfor -g pgid), one JSON object per service with --json. -n prints
signals as numbers. With several DIRs each line starts with \"DIR: \".
Exit 0, or 1 if a DIR is not supervised.
--all-ready (a probe) exits 0 only when every service of SCANDIR (default: the
container's, /run/service or $SVKIT_RUNTIME_DIR/service) that is normally up or
wanted up is up, and ready if it declares readiness; otherwise it prints one
line per problem and exits 1.
See docs/svstat.md.
";

/// The `-o` fields, in s6's table order (which decides prefix matches).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Up,
    WantedUp,
    NormallyUp,
    Ready,
    Paused,
    Pid,
    ExitCode,
    Signal,
    Signum,
    UpDownSince,
    ReadySince,
    UpDownFor,
    ReadyFor,
    Pgid,
}

const FIELDS: &[(&str, Field)] = &[
    ("up", Field::Up),
    ("wantedup", Field::WantedUp),
    ("normallyup", Field::NormallyUp),
    ("ready", Field::Ready),
    ("paused", Field::Paused),
    ("pid", Field::Pid),
    ("exitcode", Field::ExitCode),
    ("signal", Field::Signal),
    ("signum", Field::Signum),
    ("updownsince", Field::UpDownSince),
    ("readysince", Field::ReadySince),
    ("updownfor", Field::UpDownFor),
    ("readyfor", Field::ReadyFor),
    ("pgid", Field::Pgid),
];

/// At most this many fields, as s6.
const MAX_FIELDS: usize = 16;

#[derive(Debug, PartialEq, Eq)]
struct Opts {
    fields: Vec<Field>,
    numeric: bool,
    json: bool,
    all_ready: bool,
    dirs: Vec<PathBuf>,
}

/// Entry point: `svstat [options] DIR...`.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let args: Vec<OsString> = args.into_iter().collect();
    let prog = report::prog_name(args.first().map_or(OsStr::new("svstat"), |a| a));
    let rest = args.get(1..).unwrap_or(&[]);
    if getopt::wants_help(rest) {
        print!("{HELP}");
        return ExitCode::SUCCESS;
    }
    let result = parse(rest).and_then(|o| {
        if o.all_ready {
            ready::run(o.dirs.first().map(PathBuf::as_path))
        } else {
            run(&prog, &o)
        }
    });
    match result {
        Ok(e) => e.into(),
        Err(f) => report::die(&prog, USAGE, &f),
    }
}

fn field_named(token: &[u8]) -> Result<Field, Failure> {
    if token.is_empty() {
        return Err(Failure::new(Exit::Usage, "invalid null option field"));
    }
    // s6 2.11 matches by prefix, first in table order: `u` is `up`, `re` is `ready`.
    FIELDS
        .iter()
        .find(|(name, _)| name.as_bytes().starts_with(token))
        .map(|&(_, f)| f)
        .ok_or_else(|| {
            Failure::new(
                Exit::Usage,
                format!("invalid option field: {}", String::from_utf8_lossy(token)),
            )
        })
}

fn parse(args: &[OsString]) -> Result<Opts, Failure> {
    // --json and --all-ready are svkit's own: recognised anywhere before a `--`.
    let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let json = args[..end].iter().any(|a| a == "--json");
    let all_ready = args[..end].iter().any(|a| a == "--all-ready");
    let args: Vec<OsString> = args[..end]
        .iter()
        .filter(|a| *a != "--json" && *a != "--all-ready")
        .chain(&args[end..])
        .cloned()
        .collect();
    let mut o = Opts {
        fields: Vec::new(),
        numeric: false,
        json,
        all_ready,
        dirs: Vec::new(),
    };
    let mut g = Getopt::new(&args, "uwNrpestgno:");
    for opt in g.by_ref() {
        let opt = opt.map_err(|_| Failure::usage())?;
        let short = match opt.letter {
            b'n' => {
                o.numeric = true;
                continue;
            }
            b'o' => {
                let list = opt.arg.map(OsStr::as_encoded_bytes).unwrap_or_default();
                for token in list.split(|&b| b == b',') {
                    o.fields.push(field_named(token)?);
                }
                continue;
            }
            b'u' => Field::Up,
            b'w' => Field::WantedUp,
            b'N' => Field::NormallyUp,
            b'r' => Field::Ready,
            b'p' => Field::Pid,
            b'e' => Field::ExitCode,
            b's' => Field::Signal,
            b't' => Field::UpDownFor,
            _ => Field::Pgid,
        };
        o.fields.push(short);
    }
    if o.fields.len() > MAX_FIELDS {
        return Err(Failure::new(Exit::Usage, "too many option fields"));
    }
    o.dirs = g.rest().iter().map(PathBuf::from).collect();
    let probe_ok = o.dirs.len() <= 1 && o.fields.is_empty() && !o.numeric && !o.json;
    if (o.all_ready && !probe_ok) || (!o.all_ready && o.dirs.is_empty()) {
        return Err(Failure::usage());
    }
    Ok(o)
}

/// A status as read, with what s6-svstat derives from it.
struct Report {
    st: Status,
    now: Tai64n,
    normallyup: bool,
}

impl Report {
    fn read(dir: &Path) -> Result<Option<Report>, Failure> {
        match lock::is_locked(&dir.join(LOCK)) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(Failure::sys(format!("read status for {}", show(dir)), &e)),
        }
        let mut st = status::read(dir)
            .map_err(|e| Failure::sys(format!("read status for {}", show(dir)), &e))?;
        let now = Tai64n::now();
        // As s6-svstat: a stamp in the future (clock moved back) counts as now.
        if st.stamp > now {
            st.stamp = now;
        }
        Ok(Some(Report {
            st,
            now,
            normallyup: !dir.join(DOWN).exists(),
        }))
    }

    fn up(&self) -> bool {
        self.st.is_up()
    }

    fn signal(&self) -> Option<i32> {
        if self.up() { None } else { self.st.signal() }
    }

    fn exitcode(&self) -> Option<u8> {
        if self.up() { None } else { self.st.exitcode() }
    }

    fn pid(&self) -> Option<u64> {
        self.up().then_some(self.st.pid)
    }

    fn updownfor(&self) -> u64 {
        self.st.stamp.secs_until(self.now)
    }

    fn readyfor(&self) -> u64 {
        self.st.readystamp.secs_until(self.now)
    }

    /// s6-svstat's human line.
    fn human(&self, numeric: bool) -> String {
        let st = &self.st;
        let up = self.up();
        let mut s = if up {
            format!("up (pid {}) {} seconds", st.pid, self.updownfor())
        } else {
            let why = match st.signal() {
                Some(sig) => match (numeric, signals::name(sig)) {
                    (false, Some(name)) => format!("signal SIG{name}"),
                    (false, None) => "signal SIG???".to_owned(),
                    (true, _) => format!("signal {sig}"),
                },
                None => format!("exitcode {}", st.exitcode().unwrap_or(0)),
            };
            format!("down ({why}) {} seconds", self.updownfor())
        };
        if up && !self.normallyup {
            s.push_str(", normally down");
        }
        if !up && self.normallyup {
            s.push_str(", normally up");
        }
        if up && st.paused {
            s.push_str(", paused");
        }
        if !up && st.wantup {
            s.push_str(", want up");
        }
        if up && !st.wantup {
            s.push_str(", want down");
        }
        if st.ready {
            let _ = write!(s, ", ready {} seconds", self.readyfor());
        }
        s
    }

    /// One `-o` field, as s6-svstat prints it.
    fn field(&self, f: Field) -> String {
        let st = &self.st;
        let minus1 = |v: Option<String>| v.unwrap_or_else(|| "-1".to_owned());
        match f {
            Field::Up => self.up().to_string(),
            Field::WantedUp => st.wantup.to_string(),
            Field::NormallyUp => self.normallyup.to_string(),
            Field::Ready => (st.pid != 0 && st.ready).to_string(),
            Field::Paused => st.paused.to_string(),
            Field::Pid | Field::Pgid => minus1(self.pid().map(|p| p.to_string())),
            Field::ExitCode => minus1(self.exitcode().map(|c| c.to_string())),
            Field::Signal => self.signal().map_or_else(
                || "NA".to_owned(),
                |s| format!("SIG{}", signals::name(s).unwrap_or("???")),
            ),
            Field::Signum => minus1(self.signal().map(|s| s.to_string())),
            Field::UpDownSince => st.stamp.to_string(),
            Field::ReadySince => st.readystamp.to_string(),
            Field::UpDownFor => self.updownfor().to_string(),
            Field::ReadyFor => self.readyfor().to_string(),
        }
    }

    fn json(&self, dir: &Path) -> String {
        let st = &self.st;
        let state = if self.up() {
            "up"
        } else if st.finishing {
            "finishing"
        } else {
            "down"
        };
        let opt = |v: Option<String>| v.unwrap_or_else(|| "null".to_owned());
        let deaths = opt(deathtally::count(dir).ok().map(|n| n.to_string()));
        format!(
            "{{\"service\":{},\"supervised\":true,\"state\":\"{state}\",\"up\":{},\
             \"wantedup\":{},\"normallyup\":{},\"ready\":{},\"paused\":{},\"pid\":{},\
             \"pgid\":{},\"finishpid\":{},\"exitcode\":{},\"signal\":{},\"signum\":{},\
             \"updownsince\":\"{}\",\"readysince\":\"{}\",\"updownfor\":{},\"readyfor\":{},\
             \"updownsince_unix\":{},\"readysince_unix\":{},\"deaths\":{deaths}}}",
            json_string(dir.as_os_str()),
            self.up(),
            st.wantup,
            self.normallyup,
            st.pid != 0 && st.ready,
            st.paused,
            opt(self.pid().map(|p| p.to_string())),
            opt(self.pid().map(|p| p.to_string())),
            opt((st.finishing && st.pid != 0).then(|| st.pid.to_string())),
            opt(self.exitcode().map(|c| c.to_string())),
            opt(self
                .signal()
                .map(|s| format!("\"SIG{}\"", signals::name(s).unwrap_or("???")))),
            opt(self.signal().map(|s| s.to_string())),
            st.stamp,
            st.readystamp,
            self.updownfor(),
            self.readyfor(),
            st.stamp.unix_secs(),
            st.readystamp.unix_secs(),
        )
    }
}

/// A JSON string literal; bytes that are not UTF-8 become U+FFFD.
fn json_string(s: &OsStr) -> String {
    let mut out = String::from("\"");
    for c in s.to_string_lossy().chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn run(prog: &str, o: &Opts) -> Result<Exit, Failure> {
    let many = o.dirs.len() > 1;
    let mut worst = Exit::Ok;
    let mut out = io::stdout().lock();
    for dir in &o.dirs {
        let line = match Report::read(dir) {
            Ok(Some(r)) if o.json => r.json(dir),
            Ok(Some(r)) if o.fields.is_empty() => r.human(o.numeric),
            Ok(Some(r)) => {
                let v: Vec<String> = o.fields.iter().map(|&f| r.field(f)).collect();
                v.join(" ")
            }
            Ok(None) if o.json => {
                worst = worst.worst(Exit::No);
                format!(
                    "{{\"service\":{},\"supervised\":false}}",
                    json_string(dir.as_os_str())
                )
            }
            Ok(None) => {
                let f = Failure::new(
                    Exit::No,
                    format!(
                        "unable to read status for {}: supervisor not running",
                        show(dir)
                    ),
                );
                if !many {
                    return Err(f);
                }
                report::warn(prog, &f.msg);
                worst = worst.worst(f.exit);
                continue;
            }
            Err(f) if !many => return Err(f),
            Err(f) => {
                report::warn(prog, &f.msg);
                worst = worst.worst(f.exit);
                continue;
            }
        };
        let r = if many && !o.json {
            writeln!(out, "{}: {line}", show(dir))
        } else {
            writeln!(out, "{line}")
        };
        r.map_err(|e| Failure::sys("write to stdout", &e))?;
    }
    Ok(worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(a: &[&str]) -> Result<Opts, Failure> {
        let v: Vec<OsString> = a.iter().map(OsString::from).collect();
        parse(&v)
    }

    #[test]
    fn prefixes_match_in_table_order() {
        let o = p(&["-o", "wa,u,norm,re,p,s", "x"]).unwrap();
        assert_eq!(
            o.fields,
            [
                Field::WantedUp,
                Field::Up,
                Field::NormallyUp,
                Field::Ready,
                Field::Paused,
                Field::Signal
            ]
        );
    }

    #[test]
    fn short_options_and_o_accumulate_in_order() {
        let o = p(&["-p", "-o", "up", "-n", "--json", "x"]).unwrap();
        assert_eq!(o.fields, [Field::Pid, Field::Up]);
        assert!(o.numeric && o.json);
    }

    #[test]
    fn all_ready_takes_at_most_one_scandir_and_no_fields() {
        let o = p(&["--all-ready"]).unwrap();
        assert!(o.all_ready && o.dirs.is_empty());
        let o = p(&["--all-ready", "/run/service"]).unwrap();
        assert_eq!(o.dirs, [PathBuf::from("/run/service")]);
        for bad in [
            &["--all-ready", "a", "b"][..],
            &["--all-ready", "-u"],
            &["--all-ready", "--json"],
        ] {
            assert_eq!(p(bad).unwrap_err().exit, Exit::Usage, "{bad:?}");
        }
        assert_eq!(p(&[]).unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn json_after_double_dash_is_a_directory() {
        let o = p(&["--", "--json"]).unwrap();
        assert!(!o.json);
        assert_eq!(o.dirs, [PathBuf::from("--json")]);
    }

    #[test]
    fn field_errors_are_usage_errors() {
        let e = p(&["-o", "foo", "x"]).unwrap_err();
        assert_eq!(
            (e.exit, e.msg.as_str()),
            (Exit::Usage, "invalid option field: foo")
        );
        let e = p(&["-o", "up,", "x"]).unwrap_err();
        assert_eq!(e.msg, "invalid null option field");
        let many = vec!["-u"; 17];
        let mut a = many.clone();
        a.push("x");
        assert_eq!(p(&a).unwrap_err().msg, "too many option fields");
    }

    fn report(b: [u8; 35], now_secs: u64, normallyup: bool) -> Report {
        let st = Status::unpack(&b);
        Report {
            st,
            now: Tai64n {
                secs: now_secs,
                nanos: 999_999_999,
            },
            normallyup,
        }
    }

    /// s6-protocol.md §5.3: real records and the lines real s6-svstat printed for them.
    #[test]
    fn human_lines_match_s6() {
        let up_ready: [u8; 35] = [
            0x40, 0, 0, 0, 0x6b, 0x06, 0xda, 0x2f, 0x29, 0xca, 0x5b, 0x21, 0x40, 0, 0, 0, 0x6b,
            0x06, 0xda, 0x30, 0x29, 0xe6, 0x2a, 0x18, 0, 0, 0, 0, 0, 0, 0x51, 0x31, 0, 0, 0x0c,
        ];
        let r = report(up_ready, 0x4000_0000_6b06_da2f + 7, true);
        assert_eq!(r.human(false), "up (pid 20785) 7 seconds, ready 6 seconds");
        let all: Vec<String> = FIELDS[..13].iter().map(|&(_, f)| r.field(f)).collect();
        assert_eq!(
            all.join(" "),
            "true true true true false 20785 -1 NA -1 @400000006b06da2f29ca5b21 \
             @400000006b06da3029e62a18 7 6"
        );

        let finishing: [u8; 35] = [
            0x40, 0, 0, 0, 0x6b, 0x06, 0xda, 0x4e, 0x05, 0xbc, 0xfb, 0x4d, 0x40, 0, 0, 0, 0x6b,
            0x06, 0xda, 0x4c, 0x2d, 0x9c, 0xce, 0x57, 0, 0, 0, 0, 0, 0, 0x58, 0x94, 0x03, 0x00,
            0x06,
        ];
        let r = report(finishing, 0x4000_0000_6b06_da4e, false);
        assert_eq!(r.human(false), "down (exitcode 3) 0 seconds, want up");
        let f: Vec<String> = [
            Field::Up,
            Field::Ready,
            Field::Pid,
            Field::ExitCode,
            Field::WantedUp,
        ]
        .iter()
        .map(|&f| r.field(f))
        .collect();
        assert_eq!(f.join(" "), "false false -1 3 true");

        let killed: [u8; 35] = [
            0x40, 0, 0, 0, 0x6b, 0x06, 0xda, 0x40, 0x19, 0x14, 0x2c, 0xa5, 0x40, 0, 0, 0, 0x6b,
            0x06, 0xda, 0x40, 0x19, 0x37, 0x18, 0xb7, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x0f, 0x08,
        ];
        let r = report(killed, 0x4000_0000_6b06_da40, true);
        assert_eq!(
            r.human(false),
            "down (signal SIGTERM) 0 seconds, normally up, ready 0 seconds"
        );
        assert_eq!(
            r.human(true),
            "down (signal 15) 0 seconds, normally up, ready 0 seconds"
        );
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(
            json_string(OsStr::new("a\"b\\c\n")),
            "\"a\\\"b\\\\c\\u000a\""
        );
    }
}
