//! Reading s6-rc source definitions — `DIR/<name>/type`, `dependencies.d/`,
//! `contents.d/`, `up`, `run`, … — into [`Def`]s, with one line per problem, naming
//! the file.
//!
//! Invariants: reading never stops at the first problem (every problem of every
//! directory is reported; fatal ones refuse the database, the rest are warnings);
//! nothing is written; a compiled database is itself a source tree, read by this
//! same code.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use svkit_core::report::{show, strerror};

/// What a service is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `up` (and `down`) command lines, run to their end.
    Oneshot,
    /// A supervised daemon: `run`, `finish`, …
    Longrun,
    /// A name for a set of services.
    Bundle,
}

impl Kind {
    /// The word in the `type` file.
    #[must_use]
    pub(crate) fn word(self) -> &'static str {
        match self {
            Kind::Oneshot => "oneshot",
            Kind::Longrun => "longrun",
            Kind::Bundle => "bundle",
        }
    }
}

/// A name a definition refers to, and the file that says so (for messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ref {
    /// The service named.
    pub(crate) name: String,
    /// `DIR/x/dependencies.d/name`, or the `dependencies` file.
    pub(crate) file: PathBuf,
}

/// One service definition.
#[derive(Clone, Debug)]
pub(crate) struct Def {
    /// Its name (the directory's).
    pub(crate) name: String,
    /// Its directory.
    pub(crate) dir: PathBuf,
    /// Oneshot, longrun or bundle.
    pub(crate) kind: Kind,
    /// Direct dependencies (atomic services or bundles).
    pub(crate) deps: Vec<Ref>,
    /// A bundle's members.
    pub(crate) contents: Vec<Ref>,
    /// Milliseconds allowed to come up; 0 = no limit.
    pub(crate) timeout_up: u64,
    /// Milliseconds allowed to go down; 0 = no limit.
    pub(crate) timeout_down: u64,
    /// `flag-essential`: only `rc -D` stops it.
    pub(crate) essential: bool,
    /// `producer-for`: the longrun that reads this one's output.
    pub(crate) producer_for: Option<String>,
    /// `consumer-for`: the longruns whose output this one reads.
    pub(crate) consumer_for: Vec<String>,
    /// `pipeline-name`: a bundle name for the whole pipeline.
    pub(crate) pipeline_name: Option<String>,
}

/// What reading found wrong.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    /// Problems that refuse the database.
    pub(crate) fatal: Vec<String>,
    /// Problems worth a line at boot.
    pub(crate) warnings: Vec<String>,
}

impl Problems {
    fn fatal(&mut self, msg: String) {
        self.fatal.push(msg);
    }
    fn warn(&mut self, msg: String) {
        self.warnings.push(msg);
    }
}

/// Entries any service directory may hold.
const COMMON: &[&str] = &[
    "type",
    "dependencies",
    "dependencies.d",
    "flag-essential",
    "flag-recommended",
    "timeout-up",
    "timeout-down",
];
const ONESHOT: &[&str] = &["up", "down", "reload"];
const BUNDLE: &[&str] = &["contents", "contents.d"];
/// The longrun entries s6-rc copies into the service directory it supervises.
pub(crate) const LONGRUN_COPIED: &[&str] = &[
    "run",
    "finish",
    "notification-fd",
    "lock-fd",
    "timeout-kill",
    "timeout-finish",
    "max-death-tally",
    "down-signal",
    "reload-signal",
    "nosetsid",
    "flag-newpidns",
    "flag-timeout-killpg",
    "data",
    "env",
    "template",
];
const LONGRUN_OTHER: &[&str] = &["producer-for", "consumer-for", "pipeline-name"];
/// Misspellings seen in the wild, and what was meant.
const TYPOS: &[(&str, &str)] = &[
    ("depends.d", "dependencies.d"),
    ("depend.d", "dependencies.d"),
    ("deps.d", "dependencies.d"),
    ("requires.d", "dependencies.d"),
    ("dependencies.d.d", "dependencies.d"),
    ("content", "contents.d"),
];

/// Reads every service definition of `dirs` (in order; a name defined twice is
/// fatal). Dot-entries and non-directories are skipped.
pub(crate) fn read_dirs(dirs: &[PathBuf], problems: &mut Problems) -> BTreeMap<String, Def> {
    let mut defs: BTreeMap<String, Def> = BTreeMap::new();
    for dir in dirs {
        let rd = match fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                problems.fatal(format!("unable to read {}: {}", show(dir), strerror(&e)));
                continue;
            }
        };
        let mut names: Vec<_> = rd.filter_map(Result::ok).map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            if name.as_bytes().starts_with(b".") {
                continue;
            }
            let path = dir.join(&name);
            if !path.is_dir() {
                continue;
            }
            let Some(name) = name.to_str().map(str::to_owned) else {
                problems.fatal(format!("{}: invalid service name: not UTF-8", show(&path)));
                continue;
            };
            if name.starts_with("s6rc-") || name.starts_with("s6-rc-") {
                problems.fatal(format!(
                    "{}: invalid service name: the s6rc- and s6-rc- prefixes are reserved",
                    show(&path)
                ));
                continue;
            }
            if let Some(prev) = defs.get(&name) {
                problems.fatal(format!(
                    "{}: service {name} is already defined in {}",
                    show(&path),
                    show(&prev.dir)
                ));
                continue;
            }
            if let Some(def) = read_def(&name, &path, problems) {
                defs.insert(name, def);
            }
        }
    }
    defs
}

/// Reads one definition; `None` if it cannot be used (a fatal problem was noted).
pub(crate) fn read_def(name: &str, dir: &Path, problems: &mut Problems) -> Option<Def> {
    let kind = read_type(name, dir, problems)?;
    check_entries(dir, kind, problems);
    let mut def = Def {
        name: name.to_owned(),
        dir: dir.to_owned(),
        kind,
        deps: read_list(dir, "dependencies", problems),
        contents: Vec::new(),
        timeout_up: read_ms(dir, "timeout-up", problems),
        timeout_down: read_ms(dir, "timeout-down", problems),
        essential: dir.join("flag-essential").exists(),
        producer_for: None,
        consumer_for: Vec::new(),
        pipeline_name: None,
    };
    match kind {
        Kind::Bundle => {
            def.contents = read_list(dir, "contents", problems);
            if !def.deps.is_empty() {
                problems.warn(format!(
                    "{}: ignored: a bundle has no dependencies of its own (its members do)",
                    show(dir.join("dependencies.d"))
                ));
                def.deps.clear();
            }
        }
        Kind::Oneshot => {
            if !dir.join("up").is_file() {
                let hint = if dir.join("run").exists() {
                    " (this one has a run file: is its type longrun?)"
                } else {
                    ""
                };
                problems.fatal(format!(
                    "{}: missing: a oneshot needs an up file{hint}",
                    show(dir.join("up"))
                ));
                return None;
            }
        }
        Kind::Longrun => {
            if !dir.join("run").is_file() {
                let hint = if dir.join("up").exists() {
                    " (this one has an up file: is its type oneshot?)"
                } else {
                    ""
                };
                problems.fatal(format!(
                    "{}: missing: a longrun needs a run file{hint}",
                    show(dir.join("run"))
                ));
                return None;
            }
            def.producer_for = read_names(dir, "producer-for", problems).into_iter().next();
            def.consumer_for = read_names(dir, "consumer-for", problems);
            def.pipeline_name = read_names(dir, "pipeline-name", problems)
                .into_iter()
                .next();
        }
    }
    Some(def)
}

/// The `type` file: `oneshot`, `longrun` or `bundle`, optionally followed by one
/// newline. Windows line endings and stray blanks are accepted with a warning;
/// `user` and `user2` without a `type` are bundles (s6-overlay ships their `type`
/// in its tarball, images often lack it).
fn read_type(name: &str, dir: &Path, problems: &mut Problems) -> Option<Kind> {
    let file = dir.join("type");
    let raw = match fs::read(&file) {
        Ok(raw) => raw,
        Err(e) if e.kind() == io::ErrorKind::NotFound && (name == "user" || name == "user2") => {
            return Some(Kind::Bundle);
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            problems.fatal(format!(
                "{}: missing: every service directory needs a type file (oneshot, longrun or bundle)",
                show(&file)
            ));
            return None;
        }
        Err(e) => {
            problems.fatal(format!("unable to read {}: {}", show(&file), strerror(&e)));
            return None;
        }
    };
    let exact = raw.strip_suffix(b"\n").unwrap_or(&raw);
    let word = raw.trim_ascii();
    let kind = match word {
        b"oneshot" => Kind::Oneshot,
        b"longrun" => Kind::Longrun,
        b"bundle" => Kind::Bundle,
        _ => {
            problems.fatal(format!(
                "{}: invalid type {:?}: must be oneshot, longrun or bundle",
                show(&file),
                String::from_utf8_lossy(&raw[..raw.len().min(32)])
            ));
            return None;
        }
    };
    if exact != word {
        let why = if raw.contains(&b'\r') {
            "Windows (CRLF) line endings"
        } else {
            "extra blanks"
        };
        problems.warn(format!(
            "{}: has {why}; read as {} (s6-rc-compile would refuse it)",
            show(&file),
            kind.word()
        ));
    }
    Some(kind)
}

/// Warns about entries that look like a misspelt or misplaced file.
fn check_entries(dir: &Path, kind: Kind, problems: &mut Problems) {
    let Ok(rd) = fs::read_dir(dir) else {
        return;
    };
    let own: &[&str] = match kind {
        Kind::Oneshot => ONESHOT,
        Kind::Bundle => BUNDLE,
        Kind::Longrun => LONGRUN_COPIED,
    };
    let mut names: Vec<_> = rd.filter_map(Result::ok).map(|e| e.file_name()).collect();
    names.sort();
    // A oneshot's up/down may run a script kept beside them (the linuxserver
    // images' `up` is `/etc/s6-overlay/s6-rc.d/NAME/run`): that file is used.
    let scripts: Vec<String> = if kind == Kind::Oneshot {
        ["up", "down"]
            .iter()
            .filter_map(|f| fs::read_to_string(dir.join(f)).ok())
            .collect()
    } else {
        Vec::new()
    };
    let here = dir.file_name().map(|d| d.to_string_lossy().into_owned());
    let named_by_script = |n: &str| {
        let Some(d) = &here else { return false };
        let path = format!("/{d}/{n}");
        scripts.iter().any(|text| {
            text.split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                .any(|word| word.ends_with(&path))
        })
    };
    for n in names {
        let Some(n) = n.to_str() else { continue };
        if n.starts_with('.') || COMMON.contains(&n) || own.contains(&n) || named_by_script(n) {
            continue;
        }
        if kind == Kind::Longrun && LONGRUN_OTHER.contains(&n) {
            continue;
        }
        let path = show(dir.join(n));
        let k = kind.word();
        if kind == Kind::Longrun && n == "log" {
            problems.warn(format!(
                "{path}: ignored: an s6-rc longrun gets a logger from a consumer-for/producer-for pair, not from log/"
            ));
            continue;
        }
        if kind == Kind::Longrun && n == "down" {
            problems.warn(format!(
                "{path}: ignored: s6-rc decides whether a longrun is up (leave it out of the user bundle instead)"
            ));
            continue;
        }
        let others = [ONESHOT, BUNDLE, LONGRUN_COPIED, LONGRUN_OTHER];
        if others.iter().any(|set| set.contains(&n)) {
            problems.warn(format!("{path}: ignored: a {k} does not use it"));
            continue;
        }
        let meant = TYPOS
            .iter()
            .find(|(typo, _)| *typo == n)
            .map(|(_, meant)| *meant)
            .or_else(|| {
                COMMON
                    .iter()
                    .chain(own)
                    .copied()
                    .filter(|known| known.len() >= 4)
                    .map(|known| (distance(n, known), known))
                    .filter(|(d, _)| *d <= 2)
                    .min()
                    .map(|(_, known)| known)
            });
        if let Some(meant) = meant {
            problems.warn(format!("{path}: ignored: did you mean {meant}?"));
        }
    }
}

/// Edit distance (insertions, deletions, substitutions) between two short names.
fn distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A list of names: the entries of `DIR/what.d/`, or the lines of the older
/// `DIR/what` file (blank and `#` lines skipped, blanks around names trimmed).
fn read_list(dir: &Path, what: &str, problems: &mut Problems) -> Vec<Ref> {
    let d = dir.join(format!("{what}.d"));
    let mut out = Vec::new();
    match fs::read_dir(&d) {
        Ok(rd) => {
            let mut names: Vec<_> = rd.filter_map(Result::ok).map(|e| e.file_name()).collect();
            names.sort();
            for n in names {
                if n.as_bytes().starts_with(b".") {
                    continue;
                }
                match n.to_str() {
                    Some(s) => out.push(Ref {
                        name: s.to_owned(),
                        file: d.join(&n),
                    }),
                    None => problems.fatal(format!(
                        "{}: invalid service name: not UTF-8",
                        show(d.join(&n))
                    )),
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => problems.fatal(format!("unable to read {}: {}", show(&d), strerror(&e))),
    }
    let f = dir.join(what);
    for name in read_names(dir, what, problems) {
        out.push(Ref {
            name,
            file: f.clone(),
        });
    }
    out
}

/// The names listed one per line in `DIR/file`; none if it is missing.
fn read_names(dir: &Path, file: &str, problems: &mut Problems) -> Vec<String> {
    let path = dir.join(file);
    let text = match fs::read(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => return Vec::new(),
        Err(e) => {
            problems.fatal(format!("unable to read {}: {}", show(&path), strerror(&e)));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        match std::str::from_utf8(line) {
            Ok(s) => out.push(s.to_owned()),
            Err(_) => problems.fatal(format!("{}: invalid service name: not UTF-8", show(&path))),
        }
    }
    out
}

/// A number of milliseconds in `DIR/file`; 0 (no limit) if missing.
fn read_ms(dir: &Path, file: &str, problems: &mut Problems) -> u64 {
    let path = dir.join(file);
    let Ok(text) = fs::read(&path) else {
        return 0;
    };
    let t = text.trim_ascii();
    match std::str::from_utf8(t)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(n) => n,
        None => {
            problems.fatal(format!(
                "{}: invalid: must be a number of milliseconds",
                show(&path)
            ));
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance() {
        assert_eq!(distance("content.d", "contents.d"), 1);
        assert_eq!(distance("dependencies", "dependencies.d"), 2);
        assert_eq!(distance("up", "up"), 0);
        assert_eq!(distance("abc", ""), 3);
    }

    fn mk(root: &Path, name: &str, files: &[(&str, &str)]) {
        let d = root.join(name);
        fs::create_dir_all(&d).unwrap();
        for (f, content) in files {
            let p = d.join(f);
            if let Some(parent) = p.parent() {
                fs::create_dir_all(parent).unwrap();
            }
            if f.ends_with('/') {
                fs::create_dir_all(&p).unwrap();
            } else {
                fs::write(p, content).unwrap();
            }
        }
    }

    #[test]
    fn reads_types_lists_and_reports_typos() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        mk(
            r,
            "a",
            &[
                ("type", "oneshot\n"),
                ("up", "echo a"),
                ("dependencies.d/b", ""),
            ],
        );
        mk(r, "b", &[("type", "longrun\r\n"), ("run", "#!/bin/sh\n")]);
        mk(r, "user", &[("content.d/a", "")]);
        mk(
            r,
            "c",
            &[("type", "bundle"), ("contents", "# x\n  a\n\nb\n")],
        );
        mk(r, "bad", &[("type", "daemon\n")]);
        mk(r, "s6rc-x", &[("type", "bundle")]);
        let mut p = Problems::default();
        let defs = read_dirs(&[r.to_owned()], &mut p);
        assert_eq!(defs["a"].kind, Kind::Oneshot);
        assert_eq!(defs["a"].deps[0].name, "b");
        assert_eq!(defs["b"].kind, Kind::Longrun);
        assert_eq!(defs["user"].kind, Kind::Bundle);
        let c: Vec<&str> = defs["c"].contents.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(c, ["a", "b"]);
        assert!(!defs.contains_key("bad"));
        assert_eq!(p.fatal.len(), 2, "{:?}", p.fatal);
        assert!(p.fatal.iter().any(|m| m.contains("bad/type: invalid type")));
        assert!(p.warnings.iter().any(|m| m.contains("b/type: has Windows")));
        assert!(
            p.warnings
                .iter()
                .any(|m| m.contains("user/content.d: ignored: did you mean contents.d?")),
            "{:?}",
            p.warnings
        );
    }
}
