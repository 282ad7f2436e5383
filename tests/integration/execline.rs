//! svkit's `execlineb` and builtins against Debian's execline 2.9 as the oracle:
//! the same script, run by the real `execlineb` (real builtins on PATH) and by
//! svkit's (PATH holding only links to svkit under the builtins' names), must
//! print the same argv, environment and messages and exit with the same code.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::util::*;

/// Where Debian's execline keeps its programs.
const REAL_BIN: &str = "/usr/lib/execline/bin";

/// Dumps argv, one `<word>` per line: `sh -c '…' x args…`.
const ARGV: &str = r#"/bin/sh -c "printf '<%s>\\n' \"$@\"" x"#;

/// Dumps the environment, except PATH (which differs between the two runs).
const ENV: &str = r#"/bin/sh -c "/usr/bin/env | /bin/grep -v ^PATH= ; true""#;

struct Oracle {
    sb: Sandbox,
    ours: PathBuf,
}

impl Oracle {
    fn new() -> Self {
        assert!(
            Path::new(REAL_BIN).join("execlineb").exists(),
            "{REAL_BIN}/execlineb is missing: these tests need Debian's execline (apt-get install execline)"
        );
        let sb = Sandbox::new();
        let ours = sb.join("bin");
        std::fs::create_dir_all(&ours).unwrap();
        for n in [
            "execlineb",
            "foreground",
            "background",
            "if",
            "ifelse",
            "importas",
            "define",
            "multisubstitute",
            "export",
            "unexport",
            "redirfd",
            "fdmove",
            "exec",
            "emptyenv",
            "exit",
        ] {
            std::os::unix::fs::symlink(svkit_bin(), ours.join(n)).unwrap();
        }
        Oracle { sb, ours }
    }

    /// `execlineb OPTS script ARGS` with `env` (and PATH) only, by one implementation.
    fn run(
        &self,
        real: bool,
        opts: &[&str],
        script: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Output {
        let file = self.sb.join("script");
        std::fs::write(&file, script).unwrap();
        // Scripts may write `out`: each run starts without it.
        std::fs::remove_file(self.sb.join("out")).ok();
        let (exe, path) = if real {
            (
                Path::new(REAL_BIN).join("execlineb"),
                format!("{REAL_BIN}:/usr/bin:/bin"),
            )
        } else {
            (
                self.ours.join("execlineb"),
                format!("{}:/usr/bin:/bin", self.ours.display()),
            )
        };
        let mut cmd = Command::new(exe);
        cmd.arg0("execlineb")
            .args(opts)
            .arg("script")
            .args(args)
            .current_dir(self.sb.path())
            .env_clear()
            .env("PATH", path)
            .envs(env.iter().copied())
            .stdin(Stdio::null());
        cmd.output().unwrap()
    }

    /// Both implementations agree on stdout, stderr and the exit code.
    #[track_caller]
    fn same_env(&self, opts: &[&str], script: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
        let real = self.run(true, opts, script, args, env);
        let ours = self.run(false, opts, script, args, env);
        assert_eq!(
            (
                stdout_of(&ours),
                String::from_utf8_lossy(&ours.stderr).into_owned(),
                ours.status.code()
            ),
            (
                stdout_of(&real),
                String::from_utf8_lossy(&real.stderr).into_owned(),
                real.status.code()
            ),
            "ours vs real execline for {opts:?} {script:?} {args:?}"
        );
        ours
    }

    #[track_caller]
    fn same(&self, script: &str) -> Output {
        self.same_env(&["-P"], script, &[], &[])
    }
}

#[test]
fn execline_lexer_quoting_escapes_blocks_comments() {
    let o = Oracle::new();
    for body in [
        r#"a b   c"#,
        "#!/bin/execlineb -P\n# comment\na # trailing\nb#c",
        r#""a b" "" "x\ty\nz" "\a\b\v\f\r""#,
        r#""\101\0101\x41\0x41z" "\065\12a\1234" "\019" "\0xFg" "\99" "\9""#,
        r#"a\ b \"x "q\"q" "\\" a"b"c \{ \}"#,
        "\\\nx a\\\nb \"c\\\nd\" \"\\q\\$\\{\"",
        "{ a { b { c } \"\" d } e } f",
        "{{ x}} y {} \"{\" \"}\" { } { \"\" }",
        "héllo \"ünï\\0303\\0251\" ∑",
        "{\ty\t} {\ry\r}",
    ] {
        o.same(&format!("{ARGV} {body}"));
    }
    for bad in [
        "x \"open",
        "x y\\",
        r#"x "\0""#,
        r#"x "\0z""#,
        r#"x "\300""#,
        r#"x "\0400""#,
        "x {",
        "x { y",
        "x } y",
        "{ x } }",
    ] {
        let out = o.same(&format!("{ARGV} {bad}"));
        assert_eq!(out.status.code(), Some(100), "{bad}");
    }
    // An empty script, and one with only comments: exit 0.
    o.same("");
    o.same("# nothing\n  \n");
}

#[test]
fn execline_positional_parameters() {
    let o = Oracle::new();
    let args = ["a", "b c", "", "d"];
    o.same_env(
        &["-S0"],
        &format!("{ARGV} $# $0 $1 $2 $3 $4 $5 ${{1}}x $1x $@ x${{@}}y"),
        &args,
        &[],
    );
    o.same_env(&["-S3"], &format!("{ARGV} $@ $# ${{3}}"), &["a"], &[]);
    o.same_env(&["-q", "-S3"], &format!("{ARGV} $@ $# ${{3}}"), &["a"], &[]);
    o.same_env(&["-W", "-S3"], &format!("{ARGV} $@"), &["a"], &[]);
    o.same_env(&["-s1"], &format!("{ARGV} $# $1 $@"), &["a", "b", "c"], &[]);
    o.same_env(&["-s2"], &format!("{ARGV} $# $@"), &["a"], &[]);
    o.same_env(
        &["-S0"],
        &format!("{ARGV} \\$1 \\\\$1 $10 ${{10}}"),
        &args,
        &[],
    );
    // -s and the default push the positionals into the environment.
    let env = [
        ("#", "9"),
        ("0", "zero"),
        ("1", "one"),
        ("1:1", "older"),
        ("5", "five"),
        ("X", "y"),
    ];
    o.same_env(&[], ENV, &["p", "q"], &env);
    o.same_env(&["-p"], ENV, &["p"], &env);
    o.same_env(&["-P"], ENV, &["p"], &env);
    o.same_env(&["-S1"], ENV, &["p"], &env);
    o.same_env(&["-w"], ENV, &[], &[("EXECLINE_STRICT", "2")]);
    o.same_env(&["-W"], ENV, &[], &[]);
    o.same_env(&["-q"], ENV, &[], &[("EXECLINE_STRICT", "2")]);
    o.same_env(&["-P", "-c"], ARGV, &[], &[]);
    o.same_env(&["-z"], ARGV, &[], &[]);
}

#[test]
fn execline_define_and_importas_substitution() {
    let o = Oracle::new();
    let env = [("V", "a  b\n"), ("E", ""), ("W", "x y")];
    for s in [
        r#"define x "a b" ARGV $x ${x} <$x> <${x}> $xy \$x \\$x \\\$x \\\\${x} \${x} $y"#,
        r#"define -s x "a b" ARGV <${x}> $x$x ${x}${x}"#,
        r#"define -sd : x a:b::c: ARGV ${x}"#,
        r#"define -sn -d : x a:b ARGV ${x}"#,
        r#"define -sC x "a  b " ARGV ${x}"#,
        r#"define -s x "" ARGV gone${x} kept"#,
        r#"define -s -d "" x "1:a,2:bc," ARGV ${x}"#,
        r#"define x 1 define y 2 ARGV $x$y ${x}${y} ${y}$x"#,
        r#"importas x V ARGV ${x}"#,
        r#"importas -s x V ARGV ${x}"#,
        r#"importas -sn x V ARGV ${x}"#,
        r#"importas -sC x V ARGV ${x}"#,
        r#"importas -n x V ARGV ${x}"#,
        r#"importas -s x E ARGV a${x}b c"#,
        r#"importas x NOPE ARGV <${x}> y"#,
        r#"importas -D "" x NOPE ARGV <${x}> y"#,
        r#"importas -D dflt x NOPE ARGV <${x}> y"#,
        r#"importas -i x NOPE ARGV never"#,
        r#"importas -u x W ENV"#,
        r#"importas -u x NOPE ENV"#,
        r#"importas "" W ARGV"#,
        r#"importas x"#,
        r#"define x y"#,
        r#"define x y $x"#,
        r#"importas x NOPE $x"#,
        r#"multisubstitute { define a 1 importas b W } ARGV $a ${b}"#,
        r#"multisubstitute { define a 1 define a 2 } ARGV $a"#,
        r#"multisubstitute { define a 1 nosuch } ARGV $a"#,
    ] {
        let s = s.replace("ARGV", ARGV).replace("ENV", ENV);
        o.same_env(&["-P"], &s, &[], &env);
    }
}

#[test]
fn execline_sequencing_and_conditions() {
    let o = Oracle::new();
    for s in [
        "foreground { echo one } ARGV two",
        "foreground { exit 3 } importas r ? ARGV $r",
        r#"foreground { /bin/sh -c "kill $$" } importas r ? ARGV $r"#,
        "foreground { nosuch-program } importas r ? ARGV $r",
        "foreground { /etc/passwd } importas r ? ARGV $r",
        "foreground { } importas r ? ARGV $r",
        "foreground { foreground { exit 4 } importas r ? exit $r } importas r ? ARGV $r",
        "foreground { true }",
        "foreground { true",
        "if { true } ARGV yes",
        "if { exit 3 } ARGV no",
        "if { exit 200 } ARGV no",
        "if -t { exit 3 } ARGV no",
        "if -x 7 { exit 3 } ARGV no",
        "if -x 300 { exit 3 } ARGV no",
        "if -n { true } ARGV no",
        "if -n { false } ARGV yes",
        "if -n -x 9 { true } ARGV no",
        r#"if { /bin/sh -c "kill $$" } ARGV no"#,
        r#"if -X { /bin/sh -c "kill $$" } ARGV no"#,
        r#"if -nX { /bin/sh -c "kill $$" } ARGV yes"#,
        "if { nosuch-program } ARGV no",
        "if { } ARGV yes",
        "if { true }",
        "if { if { exit 5 } true } ARGV no",
        "ifelse { true } { ARGV then } ARGV else",
        "ifelse { false } { ARGV then } ARGV else",
        "ifelse -n { false } { ARGV then } ARGV else",
        "ifelse { false } { ARGV then }",
        "ifelse { true }",
        "ifelse { true } { ARGV then",
        r#"ifelse { /bin/sh -c "kill -9 $$" } { ARGV then } ARGV else"#,
        r#"ifelse -X { /bin/sh -c "kill -9 $$" } { ARGV then } ARGV else"#,
        "ifelse { if { false } true } { ARGV then } ARGV else",
        "background { true } importas -i p ! ARGV ok",
        "background { }",
        "background -d { true } importas -i p ! ARGV ok",
        "background { true }",
        "exit",
        "exit 7",
        "exit 300",
        "exit x",
        "exit -1",
        "exit 1 2",
        "nosuch-program a b",
        "/etc/passwd",
        "foreground -x { true } ARGV x",
    ] {
        o.same(&s.replace("ARGV", ARGV).replace("ENV", ENV));
    }
}

#[test]
fn execline_environment_and_descriptors() {
    let o = Oracle::new();
    let env = [
        ("A", "1"),
        ("B", "2"),
        ("FDX", "3"),
        ("EXECLINE_STRICT", "0"),
        ("#", "1"),
        ("1", "x"),
        ("1:1", "y"),
        ("?", "0"),
    ];
    for s in [
        "export A 9 export C 3 unexport B ENV",
        "export A=x 1 ENV",
        "unexport A=x ENV",
        "export A",
        "unexport A",
        "emptyenv ENV",
        "emptyenv -p ENV",
        "emptyenv -c ENV",
        "emptyenv -P ENV",
        "emptyenv -o ENV",
        "emptyenv",
        "exec -c ENV",
        r#"exec -a foo /bin/sh -c "echo $0""#,
        r#"exec -l -a foo /bin/sh -c "echo $0""#,
        r#"exec -l /bin/sh -c "echo $0""#,
        "exec nosuch-program",
        "exec",
        "redirfd -w 1 out foreground { echo hi } redirfd -r 0 out /bin/cat",
        "foreground { redirfd -a 1 out echo one } foreground { redirfd -a 1 out echo two } /bin/cat out",
        "redirfd -x 1 /etc/passwd echo no",
        "redirfd -r 0 /nonexistent echo no",
        "redirfd 1 out echo no",
        "redirfd -w x out echo no",
        "redirfd -w 1 out",
        r#"fdmove -c 2 1 /bin/sh -c "echo to-stderr >&2""#,
        r#"fdmove 3 1 fdmove -c 1 3 /bin/sh -c "echo via-3""#,
        "fdmove 1 9 echo no",
        "fdmove -c 1 9 echo no",
        "fdmove 1 x echo no",
        r#"redirfd -w 4 out fdmove 1 4 foreground { echo moved } fdmove -c 1 2 /bin/cat out"#,
    ] {
        o.same_env(
            &["-P"],
            &s.replace("ARGV", ARGV).replace("ENV", ENV),
            &[],
            &env,
        );
    }
}

#[test]
fn execline_strict_blocks_called_directly() {
    // Builtins given hand-made argvs, as other programs exec them.
    let o = Oracle::new();
    for (strict, argv) in [
        ("0", vec!["if", "true", "", "echo", "x"]),
        ("1", vec!["if", "true", "", "echo", "x"]),
        ("2", vec!["if", "true", "", "echo", "x"]),
        ("2", vec!["if", " true", "", "echo", "x"]),
        ("0", vec!["if", " true"]),
        ("0", vec!["foreground"]),
        ("0", vec!["background"]),
        ("0", vec!["ifelse"]),
        ("0", vec!["ifelse", "-z"]),
        ("0", vec!["importas"]),
        ("0", vec!["define"]),
        ("0", vec!["fdmove"]),
        ("0", vec!["emptyenv"]),
        (
            "0",
            vec!["foreground", " /bin/echo", "  a", " ", "", "echo", "b"],
        ),
    ] {
        let run = |dir: &Path| {
            Command::new(dir.join(argv[0]))
                .args(&argv[1..])
                .env_clear()
                .env("PATH", format!("{}:/usr/bin:/bin", dir.display()))
                .env("EXECLINE_STRICT", strict)
                .output()
                .unwrap()
        };
        let real = run(Path::new(REAL_BIN));
        let ours = run(&o.ours);
        assert_eq!(
            (
                stdout_of(&ours),
                String::from_utf8_lossy(&ours.stderr).into_owned(),
                ours.status.code()
            ),
            (
                stdout_of(&real),
                String::from_utf8_lossy(&real.stderr).into_owned(),
                real.status.code()
            ),
            "{argv:?} with EXECLINE_STRICT={strict}"
        );
    }
}

#[test]
fn execline_unsupported_builtins_are_refused() {
    let o = Oracle::new();
    for s in [
        "backtick x { echo } echo",
        "foreground { forx x { a } echo } echo after",
    ] {
        let out = o.run(false, &["-P"], s, &[], &[]);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if s.starts_with("backtick") {
            assert_eq!(out.status.code(), Some(100));
            assert!(
                err.starts_with("execlineb: fatal: unsupported execline command: backtick (svkit's execlineb implements: execlineb foreground background if "),
                "{err}"
            );
        } else {
            assert_eq!(stdout_of(&out), "after\n");
            assert!(
                err.starts_with("foreground: fatal: unsupported execline command: forx"),
                "{err}"
            );
        }
    }
}

#[test]
fn execline_builtins_run_without_path() {
    // A chain of builtins and a block starting with one never look at PATH.
    let o = Oracle::new();
    let out = Command::new(o.ours.join("execlineb"))
        .args([
            "-Pc",
            "foreground { if { exit 0 } /bin/echo in-block } define x y /bin/echo $x",
        ])
        .env_clear()
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "in-block\ny\n");
    assert_eq!(out.status.code(), Some(0));
    // Through the multi-call binary by its first argument, too.
    let out = Command::new(svkit_bin())
        .args(["foreground", " /bin/echo", " a", "", "/bin/echo", "b"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(stdout_of(&out), "a\nb\n");
}

#[test]
fn execline_names_are_listed_for_install() {
    let out = Command::new(svkit_bin()).arg("--list").output().unwrap();
    let names = stdout_of(&out);
    for n in [
        "execlineb",
        "foreground",
        "background",
        "if",
        "ifelse",
        "importas",
        "define",
        "multisubstitute",
        "export",
        "unexport",
        "redirfd",
        "fdmove",
        "exec",
        "emptyenv",
        "exit",
    ] {
        assert!(names.lines().any(|l| l == n), "{n} missing from:\n{names}");
    }
}
