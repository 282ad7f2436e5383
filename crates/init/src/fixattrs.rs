//! `/etc/fix-attrs.d` (deprecated by s6-overlay, still in v2 images): ownership and
//! modes to apply before cont-init.d runs.
//!
//! Format, one rule per line: `path recurse account fmode dmode`, where `account`
//! is `user[:group][,fallbackuid:fallbackgid]` and the modes are octal. Lines that
//! are empty or start with `#` are skipped. Invariant: a bad line is reported with
//! its file and line number and does not stop the other rules.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::unistd::{Gid, Group, Uid, User, chown};
use svkit_core::report::show;

use crate::scripts;
use crate::settings::{Log, contenv_uint};

/// One parsed rule.
#[derive(Debug, PartialEq, Eq)]
struct Rule {
    path: String,
    recurse: bool,
    uid: u32,
    gid: u32,
    fmode: u32,
    dmode: u32,
}

fn parse_account(account: &str) -> Option<(u32, u32)> {
    let (names, fallback) = match account.split_once(',') {
        Some((n, f)) => (n, Some(f)),
        None => (account, None),
    };
    let (user, group) = match names.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (names, None),
    };
    let fallback = fallback.and_then(|f| {
        let (u, g) = f.split_once(':')?;
        Some((u.parse::<u32>().ok()?, g.parse::<u32>().ok()?))
    });
    let pw = User::from_name(user).ok().flatten();
    let uid = pw
        .as_ref()
        .map(|p| p.uid.as_raw())
        .or_else(|| user.parse().ok())
        .or(fallback.map(|f| f.0))?;
    let gid = match group {
        Some(g) => Group::from_name(g)
            .ok()
            .flatten()
            .map(|gr| gr.gid.as_raw())
            .or_else(|| g.parse().ok())
            .or(fallback.map(|f| f.1))?,
        None => pw
            .as_ref()
            .map(|p| p.gid.as_raw())
            .or(fallback.map(|f| f.1))?,
    };
    Some((uid, gid))
}

fn parse_line(line: &str) -> Result<Option<Rule>, String> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.is_empty() || f[0].starts_with('#') {
        return Ok(None);
    }
    let [path, recurse, account, fmode, dmode] = f[..] else {
        return Err("expected: path recurse account fmode dmode".to_owned());
    };
    let recurse = match recurse {
        "true" => true,
        "false" => false,
        other => return Err(format!("recurse must be true or false, not {other}")),
    };
    let (uid, gid) = parse_account(account).ok_or_else(|| format!("unknown account {account}"))?;
    let mode = |m: &str| u32::from_str_radix(m, 8).map_err(|_| format!("bad mode {m}"));
    Ok(Some(Rule {
        path: path.to_owned(),
        recurse,
        uid,
        gid,
        fmode: mode(fmode)?,
        dmode: mode(dmode)?,
    }))
}

fn apply(path: &Path, rule: &Rule, hidden: bool) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    chown(
        path,
        Some(Uid::from_raw(rule.uid)),
        Some(Gid::from_raw(rule.gid)),
    )?;
    let mode = if meta.is_dir() {
        rule.dmode
    } else {
        rule.fmode
    };
    fs::set_permissions(path, fs::Permissions::from_mode(mode))?;
    if meta.is_dir() && rule.recurse {
        for e in fs::read_dir(path)? {
            let e = e?;
            if !hidden && e.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            apply(&e.path(), rule, hidden)?;
        }
    }
    Ok(())
}

/// Applies every file of `dir`; returns how many rules failed.
pub(crate) fn run(dir: &Path, log: &Log) -> usize {
    let files = scripts::entries(dir);
    if files.is_empty() {
        return 0;
    }
    log.warn(
        "fix-attrs.d is deprecated: set ownership and modes in the image or the container manager",
    );
    let hidden = contenv_uint("S6_FIX_ATTRS_HIDDEN", 0) != 0;
    let mut failed = 0;
    for file in files {
        log.info(format_args!(
            "[fix-attrs.d] {}: applying...",
            show(file.file_name().unwrap_or_default())
        ));
        let Ok(text) = fs::read_to_string(&file) else {
            log.warn(format_args!("unable to read {}", show(&file)));
            failed += 1;
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            let err = match parse_line(line) {
                Ok(None) => continue,
                Ok(Some(rule)) => apply(Path::new(&rule.path), &rule, hidden)
                    .err()
                    .map(|e| format!("{}: {}", rule.path, svkit_core::report::strerror(&e))),
                Err(e) => Some(e),
            };
            if let Some(e) = err {
                log.warn(format_args!("{} line {}: {e}", show(&file), n + 1));
                failed += 1;
            }
        }
    }
    log.info("[fix-attrs.d] done.");
    failed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        assert_eq!(parse_line("# comment").unwrap(), None);
        assert_eq!(parse_line("   ").unwrap(), None);
        let r = parse_line("/var/lib/app true root 0644 0755")
            .unwrap()
            .unwrap();
        assert_eq!(
            (r.recurse, r.uid, r.gid, r.fmode, r.dmode),
            (true, 0, 0, 0o644, 0o755)
        );
        let r = parse_line("/x false nosuchuser,1234:5678 0600 0700")
            .unwrap()
            .unwrap();
        assert_eq!((r.uid, r.gid), (1234, 5678));
        let r = parse_line("/x false root:0 0600 0700").unwrap().unwrap();
        assert_eq!((r.uid, r.gid), (0, 0));
        assert!(parse_line("/x maybe root 0600 0700").is_err());
        assert!(parse_line("/x false nosuchuser 0600 0700").is_err());
        assert!(parse_line("/x false root 0999 0700").is_err());
        assert!(parse_line("/x false root").is_err());
    }
}
