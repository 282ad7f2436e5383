//! The chain-loaders against Debian's s6 as the oracle: the same command line,
//! through svkit and through s6, must give the same ids, groups, environment,
//! limits, session, output and exit code.

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::*;

/// A user database for the tests, seen through a private mount namespace.
const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
alice:x:1500:1500:Alice:/home/alice:/bin/sh
bob:x:1501:1600::/srv/bob:/bin/sh
";
const GROUP: &str = "\
root:x:0:
nogroup:x:65534:
alice:x:1500:
staff2:x:1600:alice,bob
dev:x:1601:alice
ops:x:1602:bob,alice
";

/// Runs tools in a private mount namespace whose `/etc/passwd`, `/etc/group` and
/// `/etc/nsswitch.conf` are the test's (the machine's `/etc` is never touched),
/// with svkit linked under s6's names, so that messages name the same program.
struct Users {
    wrapper: PathBuf,
    bin: PathBuf,
}

impl Users {
    fn new(sb: &Sandbox) -> Self {
        let etc = sb.join("etc");
        fs::create_dir_all(&etc).unwrap();
        fs::write(etc.join("passwd"), PASSWD).unwrap();
        fs::write(etc.join("group"), GROUP).unwrap();
        fs::write(etc.join("nsswitch.conf"), "passwd: files\ngroup: files\n").unwrap();
        let wrapper = sb.join("users.sh");
        write_exec(
            &wrapper,
            &format!(
                "#!/bin/sh\nset -e\nfor f in passwd group nsswitch.conf; do mount --bind {}/$f /etc/$f; done\nexec \"$@\"\n",
                etc.display()
            ),
        );
        Users {
            wrapper,
            bin: links(sb),
        }
    }

    /// `tool args…` (tool by its s6 name) through s6 and through svkit.
    fn both(&self, tool: &str, args: &[&str]) -> (Output, Output) {
        self.both_env(tool, args, &[])
    }

    /// The same, with `env` added to the environment.
    fn both_env(&self, tool: &str, args: &[&str], env: &[(&str, &str)]) -> (Output, Output) {
        let run = |prog: PathBuf| {
            Command::new("unshare")
                .arg("--mount")
                .arg(&self.wrapper)
                .arg(prog)
                .args(args)
                .envs(env.iter().copied())
                .output()
                .unwrap()
        };
        (run(s6_bin(tool)), run(self.bin.join(tool)))
    }
}

/// svkit linked under every s6 name, in `bin/` of the sandbox.
fn links(sb: &Sandbox) -> PathBuf {
    let bin = sb.join("bin");
    if !bin.exists() {
        fs::create_dir(&bin).unwrap();
        for name in [
            "s6-setuidgid",
            "s6-envuidgid",
            "s6-applyuidgid",
            "s6-envdir",
            "s6-setsid",
            "s6-softlimit",
            "s6-svlisten1",
            "s6-notifyoncheck",
            "setuser",
        ] {
            std::os::unix::fs::symlink(svkit_bin(), bin.join(name)).unwrap();
        }
    }
    bin
}

/// `tool args…` through s6 and through svkit, outside any namespace.
fn both(sb: &Sandbox, tool: &str, args: &[&str]) -> (Output, Output) {
    let bin = links(sb);
    let run = |prog: PathBuf| {
        Command::new(prog)
            .args(args)
            .current_dir(sb.path())
            .output()
            .unwrap()
    };
    (run(s6_bin(tool)), run(bin.join(tool)))
}

#[track_caller]
fn assert_same(what: &str, s6: &Output, ours: &Output) {
    assert_eq!(
        (
            ours.status.code(),
            stdout_of(ours),
            String::from_utf8_lossy(&ours.stderr)
        ),
        (
            s6.status.code(),
            stdout_of(s6),
            String::from_utf8_lossy(&s6.stderr)
        ),
        "{what}: svkit (left) differs from s6 (right)"
    );
}

/// The lines of `/proc/self/status` that say who a process is.
const WHO: &str = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; id";

#[test]
fn setuidgid_matches_s6_for_names_numbers_and_errors() {
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    for account in ["nobody", "alice", "bob", "root", "1500:1601", "12:13"] {
        let (s6, ours) = u.both("s6-setuidgid", &[account, "sh", "-c", WHO]);
        assert!(s6.status.success(), "{account}: {s6:?}");
        assert_same(account, &s6, &ours);
    }
    // The caller's supplementary groups do not survive (4242 is ours).
    let (s6, ours) = u.both(
        "s6-setuidgid",
        &["alice", "sh", "-c", "grep Groups /proc/self/status"],
    );
    assert_same("groups", &s6, &ours);
    // An empty account changes nothing.
    let (s6, ours) = u.both("s6-setuidgid", &["", "id", "-u"]);
    assert_same("empty account", &s6, &ours);
    for (what, args) in [
        ("unknown user", &["nosuch", "true"][..]),
        ("missing program", &["nobody", "/nonexistent/prog"]),
        ("not executable", &["nobody", "/etc/passwd"]),
        ("no program", &["nobody"]),
        ("nothing", &[]),
    ] {
        let (mut s6, ours) = u.both("s6-setuidgid", args);
        // s6-setuidgid execs s6-envuidgid then s6-applyuidgid, whose names its
        // messages carry; svkit's is one program and says so.
        let text = String::from_utf8_lossy(&s6.stderr)
            .replace("s6-envuidgid:", "s6-setuidgid:")
            .replace("s6-applyuidgid:", "s6-setuidgid:");
        s6.stderr = text.into_bytes();
        assert_same(what, &s6, &ours);
    }
    let (_, ours) = u.both("s6-setuidgid", &["nosuch", "true"]);
    assert_eq!(ours.status.code(), Some(1), "s6's code for an unknown user");
}

#[test]
fn setuidgid_accepts_user_and_group_names() {
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    // s6 2.11 only takes numbers around the colon; names are svkit's extension.
    let (_, ours) = u.both("s6-setuidgid", &["alice:ops", "sh", "-c", WHO]);
    let out = stdout_of(&ours);
    assert!(out.contains("Uid:\t1500\t1500\t1500\t1500"), "{out}");
    assert!(out.contains("Gid:\t1602\t1602\t1602\t1602"), "{out}");
    assert!(out.contains("Groups:\t1602 \n"), "{out}");
    let (_, ours) = u.both("s6-setuidgid", &["alice:nosuch", "true"]);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&ours.stderr),
        "s6-setuidgid: fatal: unknown group: nosuch\n"
    );
}

#[test]
fn setuidgid_clears_uid_gid_gidlist_for_a_user_name_like_s6() {
    // s6-setuidgid USER runs `s6-applyuidgid -Uz`: UID, GID and GIDLIST are gone,
    // even the caller's; UID:GID and '' leave the environment alone.
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    let show = "env | grep -E '^(UID|GID|GIDLIST|KEEP)=' | sort";
    let callers: &[&[(&str, &str)]] = &[
        &[("KEEP", "1")],
        &[
            ("UID", "7"),
            ("GID", "8"),
            ("GIDLIST", "9,10"),
            ("KEEP", "1"),
        ],
    ];
    for env in callers {
        for account in ["nobody", "alice", "root", "12:13", ""] {
            let (s6, ours) = u.both_env("s6-setuidgid", &[account, "sh", "-c", show], env);
            assert!(s6.status.success(), "{account}: {s6:?}");
            assert_same(&format!("{account:?} {env:?}"), &s6, &ours);
        }
    }
}

#[test]
fn envuidgid_numbers_and_defaults_match_s6() {
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    let cases: &[&[&str]] = &[
        // -n turns the default mode into -B: UID and GID (0 without ":GROUP").
        &["-n", "nobody"],
        &["-n", "alice"],
        &["-n", "alice:dev"],
        // -n reads the digits a number starts with.
        &["-n", "5x"],
        &["-n", "55:6x"],
        &["-n", "5x:6y"],
        &["-u", "-n", "5x"],
        &["-u", "-n", "5:6"],
        &["-g", "-n", "5x"],
        &["-n", "-u", "5x"],
        &["-n", "x5"],
        &["-n", ":5"],
        &["-n", "55:"],
        &["-n", ""],
        // The group is looked up first, and a bad one is reported as such.
        &["-n", "55:x"],
        &["-nB", "x:y"],
        &["-g", "-n", ":5"],
        &["-u", "-n", ":5"],
        // -D parts may be empty; -B takes empty parts from -D, even after -i.
        &["-D", ":5", "nosuch"],
        &["-D", ":", "nosuch"],
        &["-D", "::3", "nosuch"],
        &["-D", "1:", "nosuch"],
        &["-D", "1:2:", "nosuch"],
        &["-D", "", "nosuch"],
        &["-D", "1x", "nosuch"],
        &["-D", "1:x", "nosuch"],
        &["-B", "-D", "1:2", ":"],
        &["-B", "-D", "1:2", "nosuch:"],
        &["-B", "-D", "1:2", ":nosuch"],
        &["-B", "-D", "1:2", "alice:"],
        &["-B", "-D", "1:2", ":dev"],
        &["-D", "1:2:3", "-i", "-B", ":"],
        &["-D", "1:2:3", "-i", "nosuch"],
        &["-n", "-D", "1:2:3", "nosuch"],
        &["-D", "1:2", "-u", "-n", "x5"],
        &["-B", ":"],
        &["-B", ""],
        &["-g", ""],
        &[""],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend(["sh", "-c", "env | grep -E '^(UID|GID|GIDLIST)=' | sort"]);
        let (s6, ours) = u.both_env("s6-envuidgid", &args, &[]);
        assert_same(&format!("{case:?}"), &s6, &ours);
    }
}

#[test]
fn envuidgid_matches_s6() {
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    let cases: &[&[&str]] = &[
        &["alice"],
        &["bob"],
        &["nobody"],
        &["-u", "alice"],
        &["-g", "staff2"],
        &["-g", "nosuch"],
        &["-B", "alice:dev"],
        &["-B", "bob"],
        &["-B", ":dev"],
        &["-nB", "5:7"],
        &["-n", "55:66"],
        &["-u", "-n", "66"],
        &["-D", "1:2:3,4", "nosuch"],
        &["-u", "-D", "1:2:3", "nosuch"],
        &["-D", "1:2:3", "-i", "nosuch"],
        &["-B", "nosuch:dev"],
        &["-B", "alice:nosuch"],
        &["nosuch"],
        &["-D", "x", "nosuch"],
        &["-z", "alice"],
    ];
    for case in cases {
        let mut args = case.to_vec();
        args.extend(["sh", "-c", "env | grep -E '^(UID|GID|GIDLIST)=' | sort"]);
        let (s6, ours) = u.both("s6-envuidgid", &args);
        assert_same(&case.join(" "), &s6, &ours);
    }
}

#[test]
fn applyuidgid_matches_s6() {
    let sb = Sandbox::new();
    let bin = links(&sb);
    let who = "grep -E '^(Uid|Gid|Groups):' /proc/self/status; env | grep -E '^(UID|GID|GIDLIST)=' | sort";
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let cases: &[Case] = &[
        (&["-u", "12"], &[]),
        (&["-g", "12"], &[]),
        (&["-G", "1,2,3"], &[]),
        (&["-G", ""], &[]),
        (&["-G", "1,2", "-g", "7"], &[]),
        (&["-U"], &[("UID", "5"), ("GID", "6"), ("GIDLIST", "7,8")]),
        (&["-Uz"], &[("UID", "5"), ("GID", "6"), ("GIDLIST", "7,8")]),
        (
            &["-U", "-u", "9", "-G", "10"],
            &[("UID", "5"), ("GID", "6"), ("GIDLIST", "")],
        ),
        (
            &["-u", "9", "-G", "10", "-U"],
            &[("UID", "5"), ("GID", "6"), ("GIDLIST", "7")],
        ),
        (&["-U"], &[]),
        (&["-U"], &[("UID", "5")]),
        (&["-U"], &[("UID", "x"), ("GID", "6"), ("GIDLIST", "")]),
        (&["-u", "x"], &[]),
        (&["-q"], &[]),
    ];
    for (args, env) in cases {
        let run = |prog: PathBuf| {
            Command::new(prog)
                .args(*args)
                .args(["sh", "-c", who])
                .env_remove("UID")
                .env_remove("GID")
                .env_remove("GIDLIST")
                .envs(env.iter().copied())
                .output()
                .unwrap()
        };
        let (s6, ours) = (
            run(s6_bin("s6-applyuidgid")),
            run(bin.join("s6-applyuidgid")),
        );
        assert_same(&format!("{args:?} {env:?}"), &s6, &ours);
    }
}

#[test]
fn setuser_sets_home_user_logname_and_drops_caller_groups() {
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    let bin = links(&sb);
    // The caller holds supplementary group 4242; alice must not.
    let out = Command::new("unshare")
        .arg("--mount")
        .arg(&u.wrapper)
        .arg(s6_bin("s6-applyuidgid"))
        .args(["-G", "4242"])
        .arg(bin.join("setuser"))
        .args([
            "alice",
            "sh",
            "-c",
            "echo $HOME $USER $LOGNAME; grep -E '^(Uid|Gid|Groups):' /proc/self/status",
        ])
        .env("HOME", "/root")
        .env("USER", "root")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout_of(&out),
        "/home/alice alice alice\n\
         Uid:\t1500\t1500\t1500\t1500\n\
         Gid:\t1500\t1500\t1500\t1500\n\
         Groups:\t1500 1600 1601 1602 \n"
    );
    let out = Command::new("unshare")
        .arg("--mount")
        .arg(&u.wrapper)
        .arg(bin.join("setuser"))
        .args(["nosuch", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "setuser: fatal: unknown user: nosuch\n"
    );
}

/// An environment directory with every kind of file s6-envdir has to handle.
fn nasty_envdir(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let files: &[(&str, &[u8])] = &[
        ("SPACES", b"a b  \t\r\n\nsecond  \n"),
        ("TWO_NL", b"x  \n\n"),
        ("NUL", b"one\0two  "),
        ("NUL_END", b"x\0\n"),
        ("NEWLINE", b"\n"),
        ("BLANK", b"  \n"),
        ("EMPTY", b""),
        ("VTAB", b"v\x0b\x0c \n"),
        ("TAILS", b"tail\n\n\n"),
        ("MULTI", b"line1\nline2\nline3\n"),
        ("BYTES", b"\xff\xfe caf\xc3\xa9 \n"),
        ("PATH_LIKE", b"/usr/bin:/bin\n"),
        ("bad=name", b"x\n"),
        (".hidden", b"x\n"),
    ];
    for (name, content) in files {
        fs::write(dir.join(name), content).unwrap();
    }
    // Over the 4095-byte limit, with and without a final newline (GIANT is too
    // big for an environment: only for the modes that cut it).
    fs::write(dir.join("GIANT"), vec![b'z'; 1 << 20]).unwrap();
    fs::write(dir.join("HUGE"), vec![b'z'; 100_000]).unwrap();
    let mut line = vec![b'y'; 100_000];
    line.push(b'\n');
    fs::write(dir.join("LONG_LINE"), line).unwrap();
}

/// The environment `env -0` printed, as a sorted list of entries.
fn env_entries(out: &Output) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = out
        .stdout
        .split(|&b| b == 0)
        .filter(|e| !e.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    v.sort();
    v
}

#[test]
fn envdir_gives_the_environment_s6_envdir_gives() {
    let sb = Sandbox::new();
    let dir = sb.join("env");
    nasty_envdir(&dir);
    let d = dir.to_str().unwrap();
    for opts in [
        &[][..],
        &["-n"],
        &["-f"],
        &["-fn"],
        &["-c", "X"],
        &["-fc", "X"],
        &["-i"],
        &["-Lf"],
        &["-Lfn"],
    ] {
        if opts.first().is_some_and(|o| o.starts_with("-L")) {
            let _ = fs::remove_file(dir.join("GIANT"));
        }
        let mut args = opts.to_vec();
        args.extend([d, "env", "-0"]);
        let (s6, ours) = both(&sb, "s6-envdir", &args);
        assert!(s6.status.success(), "{opts:?}: {s6:?}");
        assert_eq!(ours.status.code(), Some(0), "{opts:?}: {ours:?}");
        let (s6, ours) = (env_entries(&s6), env_entries(&ours));
        if s6 != ours {
            let show = |v: &[Vec<u8>]| {
                v.iter()
                    .map(|e| String::from_utf8_lossy(&e[..e.len().min(80)]).into_owned())
                    .collect::<Vec<_>>()
            };
            panic!("{opts:?}: svkit {:?}\n   s6 {:?}", show(&ours), show(&s6));
        }
    }
    // An empty file unsets a variable the caller had.
    let (s6, ours) = both(&sb, "s6-envdir", &[d, "sh", "-c", "echo ${EMPTY-unset}"]);
    assert_same("unset", &s6, &ours);
}

#[test]
fn envdir_dash_l_matches_s6_on_newline_terminated_files() {
    // `-L` without `-f` on a file whose line has no final newline gives an empty
    // value in s6 2.11 (a quirk svkit does not copy): compare on the others.
    let sb = Sandbox::new();
    let dir = sb.join("env");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("A"), "a b  \t\n\nsecond\n").unwrap();
    let mut line = vec![b'y'; 100_000];
    line.push(b'\n');
    fs::write(dir.join("LONG"), line).unwrap();
    fs::write(dir.join("NL"), "\n").unwrap();
    let d = dir.to_str().unwrap();
    for opts in [&["-L"][..], &["-Ln"]] {
        let mut args = opts.to_vec();
        args.extend([d, "env", "-0"]);
        let (s6, ours) = both(&sb, "s6-envdir", &args);
        assert_eq!(env_entries(&ours), env_entries(&s6), "{opts:?}");
    }
    fs::write(dir.join("NO_NL"), "abc").unwrap();
    let (_, ours) = both(&sb, "s6-envdir", &["-L", d, "sh", "-c", "echo $NO_NL"]);
    assert_eq!(stdout_of(&ours), "abc\n");
}

#[test]
fn envdir_errors_match_s6() {
    let sb = Sandbox::new();
    let dir = sb.join("env");
    fs::create_dir_all(dir.join("SUBDIR")).unwrap();
    let d = dir.to_str().unwrap();
    let missing = sb.join("missing");
    let m = missing.to_str().unwrap();
    for (what, args) in [
        ("missing dir", &[m, "true"][..]),
        ("missing dir tolerated", &["-I", m, "true"]),
        ("a subdirectory", &[d, "true"]),
        ("missing program", &["-I", m, "/nonexistent/prog"]),
        ("not executable", &["-I", m, "/etc/passwd"]),
        ("bad option", &["-x", m, "true"]),
        ("no program", &[m]),
    ] {
        let (s6, ours) = both(&sb, "s6-envdir", args);
        assert_same(what, &s6, &ours);
    }
}

#[test]
fn envdir_dash_capital_i_tolerates_only_a_missing_dir_like_s6() {
    let sb = Sandbox::new();
    let dir = sb.join("env");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("A"), "a\n").unwrap();
    // An entry that is listed but cannot be opened: s6 says EIDRM.
    std::os::unix::fs::symlink("/nonexistent/target", dir.join("DANGLING")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/dir", sb.join("dangling-dir")).unwrap();
    fs::write(sb.join("file"), "x\n").unwrap();
    let d = dir.to_str().unwrap();
    let m = sb.join("missing");
    let m = m.to_str().unwrap();
    let dd = sb.join("dangling-dir");
    let dd = dd.to_str().unwrap();
    let f = sb.join("file");
    let f = f.to_str().unwrap();
    let under_file = format!("{f}/sub");
    for (what, args) in [
        ("dangling entry, -I", &["-I", d, "echo", "ran"][..]),
        ("dangling entry", &[d, "echo", "ran"]),
        ("dangling entry, -i", &["-I", "-i", d, "echo", "ran"]),
        ("missing dir, -I", &["-I", m, "echo", "ran"]),
        ("dangling link as dir, -I", &["-I", dd, "echo", "ran"]),
        ("dangling link as dir", &[dd, "echo", "ran"]),
        ("a file, -I", &["-I", f, "echo", "ran"]),
        ("under a file, -I", &["-I", &under_file, "echo", "ran"]),
    ] {
        let (s6, ours) = both(&sb, "s6-envdir", args);
        assert_same(what, &s6, &ours);
    }
}

#[test]
fn plain_envdir_reads_non_utf8_names_and_values() {
    let sb = Sandbox::new();
    let dir = sb.join("env");
    fs::create_dir_all(&dir).unwrap();
    let name = OsString::from_vec(b"V\xe9".to_vec());
    fs::write(dir.join(&name), b"\xff\n").unwrap();
    let out = sb
        .svkit("envdir")
        .arg(&dir)
        .args(["env", "-0"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(env_entries(&out).contains(&b"V\xe9=\xff".to_vec()));
}

#[test]
fn softlimit_sets_the_limits_s6_softlimit_sets() {
    let sb = Sandbox::new();
    for opts in [
        &["-m", "200000000"][..],
        &["-o", "100"],
        &["-o", "99999999"],
        &["-o", "="],
        &["-c", "1000", "-c", "="],
        &["-l", "1000", "-m", "300000000"],
        &["-m", "300000000", "-l", "1000"],
        &[
            "-a",
            "900000000",
            "-c",
            "0",
            "-d",
            "200000000",
            "-f",
            "3000000",
            "-l",
            "65536",
            "-o",
            "100",
            "-p",
            "500",
            "-r",
            "4000000",
            "-s",
            "800000",
            "-t",
            "50",
        ],
        &["-m", "abc"],
        &["-o"],
    ] {
        let mut args = opts.to_vec();
        args.extend(["cat", "/proc/self/limits"]);
        let (s6, ours) = both(&sb, "s6-softlimit", &args);
        assert_same(&format!("{opts:?}"), &s6, &ours);
    }
}

#[test]
fn softlimit_hard_modes_apply_in_order_like_s6() {
    // -H and -h change only the options after them, `=` is "no limit" after
    // them, and each option is applied as soon as it is read (an error setting
    // one comes before a usage error further on). The core limit starts where
    // the test puts it; raising a hard one fails without CAP_SYS_RESOURCE, in
    // both.
    let sb = Sandbox::new();
    let bin = links(&sb);
    let cases: &[&[&str]] = &[
        &["-o", "100", "-H"],
        &["-o", "100", "-h"],
        &["-H", "-o", "100"],
        &["-o", "200", "-H", "-o", "100"],
        &["-H", "-c", "1000"],
        &["-H", "-c", "="],
        &["-h", "-c", "="],
        &["-c", "1000", "-H", "-c", "="],
        &["-h", "-H", "-c", "100"],
        &["-H", "-c", "500", "-h", "-c", "2500"],
        &["-h", "-c", "2500"],
        &["-c", "=", "-H", "-c", "2500"],
        &["-H", "-c", "5000", "-o", "abc"],
        &["-H", "-c", "5000"],
    ];
    for core in ["2000:unlimited", "2000:3000"] {
        for case in cases {
            let run = |prog: PathBuf| {
                Command::new("prlimit")
                    .arg(format!("--core={core}"))
                    .arg(prog)
                    .args(*case)
                    .args(["cat", "/proc/self/limits"])
                    .output()
                    .unwrap()
            };
            let (s6, ours) = (run(s6_bin("s6-softlimit")), run(bin.join("s6-softlimit")));
            assert_same(&format!("{core} {case:?}"), &s6, &ours);
        }
    }
}

#[test]
fn setsid_makes_the_same_session_and_group_as_s6() {
    let sb = Sandbox::new();
    // pid, pgid and sid, reduced to how they relate (the pids differ).
    let probe = "set -- $(cut -d' ' -f1,5,6 /proc/$$/stat); \
                 [ $1 = $2 ] && echo group-leader; [ $1 = $3 ] && echo session-leader; true";
    for opts in [&[][..], &["-s"], &["-b"], &["-q", "-b"]] {
        let mut args = opts.to_vec();
        args.extend(["sh", "-c", probe]);
        let (s6, ours) = both(&sb, "s6-setsid", &args);
        assert_same(&format!("{opts:?}"), &s6, &ours);
    }
    // As a session leader already, setsid fails: a warning, a failure with -i.
    let bin = links(&sb);
    for opts in [&[][..], &["-i"], &["-q"], &["-b"]] {
        let run = |prog: PathBuf| {
            Command::new("setsid")
                .arg("-w")
                .arg(prog)
                .args(opts)
                .args(["sh", "-c", probe])
                .output()
                .unwrap()
        };
        let (s6, ours) = (run(s6_bin("s6-setsid")), run(bin.join("s6-setsid")));
        assert_same(&format!("leader {opts:?}"), &s6, &ours);
    }
    for (what, args) in [
        ("missing program", &["/nonexistent/prog"][..]),
        ("bad option", &["-x", "true"]),
        ("nothing", &[]),
    ] {
        let (s6, ours) = both(&sb, "s6-setsid", args);
        assert_same(what, &s6, &ours);
    }
}

#[test]
fn chain_loaders_keep_ignored_signals_like_s6() {
    // An ignored SIGINT or SIGHUP stays ignored in the program. (SIGPIPE does
    // not: Rust's runtime and Command reset it, a documented difference.)
    let sb = Sandbox::new();
    let bin = links(&sb);
    let dir = sb.join("env");
    fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let probe = "grep SigIgn /proc/$$/status";
    for (tool, args) in [
        ("s6-envdir", &[d][..]),
        ("s6-softlimit", &["-o", "100"]),
        ("s6-setsid", &[]),
        ("s6-applyuidgid", &["-G", ""]),
        ("s6-setuidgid", &[""]),
    ] {
        let run = |prog: PathBuf| {
            Command::new("sh")
                .arg("-c")
                .arg("trap '' INT HUP; exec \"$@\"")
                .arg("sh")
                .arg(prog)
                .args(args)
                .args(["sh", "-c", probe])
                .output()
                .unwrap()
        };
        let (s6, ours) = (run(s6_bin(tool)), run(bin.join(tool)));
        let ignored = stdout_of(&s6)
            .trim()
            .strip_prefix("SigIgn:\t")
            .and_then(|h| u64::from_str_radix(h, 16).ok());
        assert_eq!(ignored.map(|m| m & 3), Some(3), "{tool}: {s6:?}");
        assert_same(tool, &s6, &ours);
    }
}

/// Without root (Kubernetes' `runAsUser` with `supplementalGroups`), a switch
/// to the user the process already is changes nothing and keeps its groups,
/// where s6 fails on setgroups; a switch to anyone else is refused in one line
/// that says why, where s6 names the failing call.
#[test]
fn setuidgid_without_root_keeps_the_ids_it_has_and_says_why_it_cannot_switch() {
    let sb = Sandbox::new();
    let u = Users::new(&sb);
    // uid 1500 may not be able to reach the build directory: a copy from here.
    fs::set_permissions(
        sb.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let ours = sb.join("s6-setuidgid");
    fs::copy(svkit_bin(), &ours).unwrap();
    let as_alice = |prog: &Path, args: &[&str]| {
        Command::new("unshare")
            .arg("--mount")
            .arg(&u.wrapper)
            .args([
                "setpriv",
                "--reuid=1500",
                "--regid=1500",
                "--groups=1500,4242",
            ])
            .arg(prog)
            .args(args)
            .output()
            .unwrap()
    };
    let s6 = as_alice(&s6_bin("s6-setuidgid"), &["alice", "id", "-G"]);
    assert_eq!(s6.status.code(), Some(111), "s6 fails: {s6:?}");
    let out = as_alice(&ours, &["alice", "id", "-G"]);
    assert_eq!(
        (out.status.code(), stdout_of(&out)),
        (Some(0), "1500 4242\n".to_owned()),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = as_alice(&ours, &["bob", "true"]);
    assert_eq!(out.status.code(), Some(111));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "s6-setuidgid: fatal: unable to switch to uid 1501 gid 1600: only root can switch users, and this runs as uid 1500\n"
    );
}
