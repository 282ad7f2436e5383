//! The compiled database: the source definitions, checked and normalised into a
//! source tree of their own — `DB/services/<name>/` with `type`, `dependencies`
//! (atomic names, one per line), `contents` (a bundle's atomic members), the
//! oneshot's `up`/`down`, the longrun's files — so that it is read back by the
//! same reader, and a user can look at what will run.
//!
//! Invariant: a database is written whole or not at all (built beside, then
//! renamed into place), and only from a graph without fatal problems.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use svkit_core::Exit;
use svkit_core::report::{Failure, show};
use svkit_core::servicedir::copy_tree;

use crate::graph::{self, Graph};
use crate::source::{self, Kind, LONGRUN_COPIED, Problems};

/// Where the definitions are inside a database.
pub(crate) const SERVICES: &str = "services";

/// Reads and checks `sources`; the graph, with the problems found.
pub(crate) fn check(sources: &[PathBuf]) -> (Graph, Problems) {
    let mut problems = Problems::default();
    let defs = source::read_dirs(sources, &mut problems);
    let g = graph::resolve(defs, &mut problems);
    if problems.fatal.is_empty() {
        unreachable_warnings(&g, &mut problems);
    }
    (g, problems)
}

/// Warns about every service `top` does not reach (neither a member of a bundle
/// in it nor a dependency of one): it is defined, and will never start at boot.
fn unreachable_warnings(g: &Graph, problems: &mut Problems) {
    let Some(top) = g.members.get("top") else {
        return;
    };
    let reached = g.with_dependencies(top);
    for (name, def) in &g.defs {
        if def.kind == Kind::Bundle || reached.contains(name) || g.logger_of.contains_key(name) {
            continue;
        }
        let in_bundle = g
            .members
            .iter()
            .any(|(b, m)| b != "top" && m.contains(name));
        if in_bundle {
            continue;
        }
        let user = g.defs.get("user").map_or_else(
            || {
                def.dir
                    .parent()
                    .map_or_else(PathBuf::new, |p| p.join("user"))
            },
            |u| u.dir.clone(),
        );
        problems.warnings.push(format!(
            "service {name} ({}) will not start: no bundle contains it and nothing depends on it (add an empty file {}/contents.d/{name})",
            show(&def.dir),
            show(user)
        ));
    }
}

/// Writes the database of graph `g` at `db`, replacing any previous one.
pub(crate) fn write(g: &Graph, db: &Path) -> Result<(), Failure> {
    let tmp = PathBuf::from(format!("{}.new{}", db.display(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    let r = write_into(g, &tmp.join(SERVICES));
    if let Err(e) = r {
        let _ = fs::remove_dir_all(&tmp);
        return Err(Failure::sys(format!("write {}", show(&tmp)), &e));
    }
    let _ = fs::remove_dir_all(db);
    fs::rename(&tmp, db)
        .map_err(|e| Failure::sys(format!("rename {} to {}", show(&tmp), show(db)), &e))
}

fn write_into(g: &Graph, dir: &Path) -> io::Result<()> {
    fs::create_dir_all(dir)?;
    for (name, def) in &g.defs {
        let d = dir.join(name);
        fs::create_dir(&d)?;
        fs::write(d.join("type"), format!("{}\n", def.kind.word()))?;
        if def.timeout_up > 0 {
            fs::write(d.join("timeout-up"), format!("{}\n", def.timeout_up))?;
        }
        if def.timeout_down > 0 {
            fs::write(d.join("timeout-down"), format!("{}\n", def.timeout_down))?;
        }
        if def.essential {
            fs::write(d.join("flag-essential"), "")?;
        }
        let lines = |set: Option<&std::collections::BTreeSet<String>>| -> String {
            set.into_iter()
                .flatten()
                .map(|n| format!("{n}\n"))
                .collect()
        };
        match def.kind {
            Kind::Bundle => fs::write(d.join("contents"), lines(g.members.get(name)))?,
            Kind::Oneshot => {
                fs::write(d.join("dependencies"), lines(g.deps.get(name)))?;
                for f in ["up", "down"] {
                    if def.dir.join(f).is_file() {
                        fs::copy(def.dir.join(f), d.join(f))?;
                    }
                }
            }
            Kind::Longrun => {
                fs::write(d.join("dependencies"), lines(g.deps.get(name)))?;
                copy_longrun(&def.dir, &d)?;
                if let Some(p) = g.logger_of.get(name) {
                    fs::write(d.join("consumer-for"), format!("{p}\n"))?;
                }
                if let Some((c, _)) = g.logger_of.iter().find(|(_, p)| *p == name) {
                    fs::write(d.join("producer-for"), format!("{c}\n"))?;
                }
            }
        }
    }
    Ok(())
}

/// Copies what s6-rc copies of a longrun: `run` and `finish` made executable, the
/// supervisor's settings, `data/`, `env/`, `template/`.
pub(crate) fn copy_longrun(src: &Path, dst: &Path) -> io::Result<()> {
    fs::create_dir_all(dst)?;
    for f in LONGRUN_COPIED {
        let from = src.join(f);
        let Ok(meta) = fs::metadata(&from) else {
            continue;
        };
        let to = dst.join(f);
        if meta.is_dir() {
            copy_tree(&from, &to)?;
        } else if *f == "run" || *f == "finish" {
            // On a noexec /run the script stays where it can be executed.
            if !svkit_core::servicedir::place_script(&from, &to)? {
                fs::set_permissions(&to, fs::Permissions::from_mode(0o755))?;
            }
        } else {
            fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

/// Reads a database back.
pub(crate) fn load(db: &Path) -> Result<Graph, Failure> {
    let services = db.join(SERVICES);
    if !services.is_dir() {
        return Err(Failure::new(
            Exit::System,
            format!(
                "unable to read the service database {}: not a database",
                show(db)
            ),
        ));
    }
    let (g, problems) = check(&[services]);
    if let Some(first) = problems.fatal.first() {
        return Err(Failure::new(
            Exit::Failures(4),
            format!("invalid service database {}: {first}", show(db)),
        ));
    }
    Ok(g)
}
