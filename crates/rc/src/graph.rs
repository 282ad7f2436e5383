//! The service graph: bundles expanded to their atomic members, dependencies
//! between atomic services, pipelines checked — and every undefined name and
//! every cycle reported with the files that make it.
//!
//! Invariant: a [`Graph`] built without fatal problems is acyclic and closed —
//! every name it mentions is defined — so the transitions can never wait forever
//! on a dependency.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use svkit_core::report::show;

use crate::source::{Def, Kind, Problems, Ref};

/// The resolved graph.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    /// Every definition, by name.
    pub(crate) defs: BTreeMap<String, Def>,
    /// Each atomic service's direct atomic dependencies (bundles expanded).
    pub(crate) deps: BTreeMap<String, BTreeSet<String>>,
    /// Each bundle's atomic members.
    pub(crate) members: BTreeMap<String, BTreeSet<String>>,
    /// Consumer → producer, for pipelines supervised as the producer's `log/`.
    pub(crate) logger_of: BTreeMap<String, String>,
}

impl Graph {
    /// Whether `name` is a oneshot or a longrun.
    #[must_use]
    pub(crate) fn is_atomic(&self, name: &str) -> bool {
        self.defs.get(name).is_some_and(|d| d.kind != Kind::Bundle)
    }

    /// The atomic services `names` stand for (bundles expanded); unknown names in `bad`.
    pub(crate) fn atomics<'a>(
        &self,
        names: impl IntoIterator<Item = &'a str>,
        bad: &mut Vec<String>,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for n in names {
            match self.defs.get(n).map(|d| d.kind) {
                Some(Kind::Bundle) => {
                    out.extend(self.members.get(n).into_iter().flatten().cloned())
                }
                Some(_) => {
                    out.insert(n.to_owned());
                }
                None => bad.push(n.to_owned()),
            }
        }
        out
    }

    /// `set` and everything it depends on, transitively.
    #[must_use]
    pub(crate) fn with_dependencies(&self, set: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = set.clone();
        let mut todo: Vec<String> = set.iter().cloned().collect();
        while let Some(n) = todo.pop() {
            for d in self.deps.get(&n).into_iter().flatten() {
                if out.insert(d.clone()) {
                    todo.push(d.clone());
                }
            }
        }
        out
    }

    /// `set` and everything that depends on it, transitively.
    #[must_use]
    pub(crate) fn with_dependents(&self, set: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = set.clone();
        loop {
            let more: Vec<String> = self
                .deps
                .iter()
                .filter(|(n, ds)| !out.contains(*n) && ds.iter().any(|d| out.contains(d)))
                .map(|(n, _)| n.clone())
                .collect();
            if more.is_empty() {
                return out;
            }
            out.extend(more);
        }
    }
}

/// Resolves definitions into a graph; fatal problems for undefined names, bad
/// pipelines and cycles.
pub(crate) fn resolve(mut defs: BTreeMap<String, Def>, problems: &mut Problems) -> Graph {
    // Undefined names (a pipeline's name is a bundle, defined below).
    let names: BTreeSet<String> = defs
        .keys()
        .cloned()
        .chain(defs.values().filter_map(|d| d.pipeline_name.clone()))
        .collect();
    for def in defs.values_mut() {
        for list in [&mut def.deps, &mut def.contents] {
            list.retain(|r| {
                let ok = names.contains(&r.name);
                if !ok {
                    problems.fatal.push(format!(
                        "{}: no service named {} is defined",
                        show(&r.file),
                        r.name
                    ));
                }
                ok
            });
        }
    }
    let logger_of = pipelines(&mut defs, problems);

    let mut g = Graph {
        logger_of,
        ..Graph::default()
    };
    // Bundles: atomic members, bundle cycles reported.
    for (name, def) in &defs {
        if def.kind == Kind::Bundle {
            let mut path = vec![name.clone()];
            let mut files = Vec::new();
            let mut out = BTreeSet::new();
            expand(&defs, name, &mut path, &mut files, &mut out, problems);
            g.members.insert(name.clone(), out);
        }
    }
    // Atomic dependencies, with the file behind each edge.
    let mut edge_file: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
    for (name, def) in &defs {
        if def.kind == Kind::Bundle {
            continue;
        }
        let mut set = BTreeSet::new();
        for r in &def.deps {
            let targets: Vec<String> = match defs.get(&r.name).map(|d| d.kind) {
                Some(Kind::Bundle) => g
                    .members
                    .get(&r.name)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect(),
                _ => vec![r.name.clone()],
            };
            for t in targets {
                edge_file
                    .entry((name.clone(), t.clone()))
                    .or_insert_with(|| r.file.clone());
                set.insert(t);
            }
        }
        g.deps.insert(name.clone(), set);
    }
    g.defs = defs;
    report_cycles(&g, &edge_file, problems);
    g
}

fn expand(
    defs: &BTreeMap<String, Def>,
    bundle: &str,
    path: &mut Vec<String>,
    files: &mut Vec<PathBuf>,
    out: &mut BTreeSet<String>,
    problems: &mut Problems,
) {
    let Some(def) = defs.get(bundle) else { return };
    for Ref { name, file } in &def.contents {
        match defs.get(name).map(|d| d.kind) {
            Some(Kind::Bundle) => {
                if let Some(i) = path.iter().position(|p| p == name) {
                    let mut cycle: Vec<&str> = path[i..].iter().map(String::as_str).collect();
                    let mut fs: Vec<String> = files[i..].iter().map(show).collect();
                    fs.push(show(file));
                    // One report per cycle: start it at its smallest name.
                    let start = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                    cycle.rotate_left(start);
                    fs.rotate_left(start);
                    cycle.push(cycle[0]);
                    let msg = format!("bundle cycle: {} ({})", cycle.join(" -> "), fs.join(", "));
                    if !problems.fatal.contains(&msg) {
                        problems.fatal.push(msg);
                    }
                    continue;
                }
                path.push(name.clone());
                files.push(file.clone());
                expand(defs, name, path, files, out, problems);
                path.pop();
                files.pop();
            }
            Some(_) => {
                out.insert(name.clone());
            }
            None => {}
        }
    }
}

/// Reports each dependency cycle once, as `a -> b -> a (files)`.
fn report_cycles(
    g: &Graph,
    edge_file: &BTreeMap<(String, String), PathBuf>,
    problems: &mut Problems,
) {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    let mut mark: BTreeMap<&str, Mark> = g.deps.keys().map(|k| (k.as_str(), Mark::New)).collect();
    let mut seen_cycles: BTreeSet<BTreeSet<String>> = BTreeSet::new();
    for start in g.deps.keys() {
        if mark.get(start.as_str()) != Some(&Mark::New) {
            continue;
        }
        // Iterative DFS: (node, its deps, next index).
        let mut stack: Vec<(&str, Vec<&str>, usize)> = Vec::new();
        let deps_of = |n: &str| -> Vec<&str> {
            g.deps
                .get(n)
                .map(|s| s.iter().map(String::as_str).collect())
                .unwrap_or_default()
        };
        stack.push((start.as_str(), deps_of(start), 0));
        mark.insert(start.as_str(), Mark::Open);
        while let Some((node, deps, i)) = stack.last_mut() {
            let Some(&next) = deps.get(*i) else {
                mark.insert(node, Mark::Done);
                stack.pop();
                continue;
            };
            *i += 1;
            match mark.get(next).copied().unwrap_or(Mark::Done) {
                Mark::New => {
                    mark.insert(next, Mark::Open);
                    let d = deps_of(next);
                    stack.push((next, d, 0));
                }
                Mark::Open => {
                    let from = stack.iter().position(|(n, _, _)| *n == next).unwrap_or(0);
                    let mut cycle: Vec<&str> = stack[from..].iter().map(|(n, _, _)| *n).collect();
                    let key: BTreeSet<String> = cycle.iter().map(|s| (*s).to_owned()).collect();
                    cycle.push(next);
                    if seen_cycles.insert(key) {
                        let files: Vec<String> = cycle
                            .windows(2)
                            .filter_map(|w| {
                                edge_file.get(&(w[0].to_owned(), w[1].to_owned())).map(show)
                            })
                            .collect();
                        problems.fatal.push(format!(
                            "dependency cycle: {} ({})",
                            cycle.join(" -> "),
                            files.join(", ")
                        ));
                    }
                }
                Mark::Done => {}
            }
        }
    }
}

/// Checks `producer-for`/`consumer-for` pairs and adds the `pipeline-name`
/// bundles. svkit supervises a pipeline as the producer's `log/` (the scanner holds
/// the pipe, as for any `log/`), so it takes one producer and one consumer; longer
/// pipelines and fan-in are reported and run without the pipe. The producer
/// depends on its consumer (the reader is up first). Returns consumer → producer.
fn pipelines(
    defs: &mut BTreeMap<String, Def>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let mut logger_of = BTreeMap::new();
    let mut bundles = Vec::new();
    let producers: Vec<(String, String, PathBuf)> = defs
        .values()
        .filter_map(|d| Some((d.name.clone(), d.producer_for.clone()?, d.dir.clone())))
        .collect();
    for (p, c, pdir) in &producers {
        let pfile = show(pdir.join("producer-for"));
        let Some(cdef) = defs.get(c) else {
            problems
                .fatal
                .push(format!("{pfile}: no service named {c} is defined"));
            continue;
        };
        if cdef.kind != Kind::Longrun {
            problems
                .fatal
                .push(format!("{pfile}: {c} is not a longrun"));
            continue;
        }
        if !cdef.consumer_for.contains(p) {
            problems.fatal.push(format!(
                "{pfile}: {c} does not declare {p} in {}",
                show(cdef.dir.join("consumer-for"))
            ));
            continue;
        }
        if cdef.consumer_for.len() > 1 || cdef.producer_for.is_some() {
            problems.warnings.push(format!(
                "{}: svkit runs pipelines of one producer and one consumer: {p} and {c} run without a pipe between them",
                show(cdef.dir.join("consumer-for"))
            ));
            continue;
        }
        logger_of.insert(c.clone(), p.clone());
        if let Some(pd) = defs.get_mut(p) {
            pd.deps.push(Ref {
                name: c.clone(),
                file: pdir.join("producer-for"),
            });
        }
        if let Some(name) = defs.get(c).and_then(|d| d.pipeline_name.clone()) {
            bundles.push((name, vec![p.clone(), c.clone()], defs[c].dir.clone()));
        }
    }
    for cdef in defs.values() {
        for p in &cdef.consumer_for {
            let ok = defs
                .get(p)
                .is_some_and(|pd| pd.producer_for.as_deref() == Some(&cdef.name));
            if !ok {
                problems.fatal.push(format!(
                    "{}: {p} does not declare {} in its producer-for",
                    show(cdef.dir.join("consumer-for")),
                    cdef.name
                ));
            }
        }
    }
    for (name, members, dir) in bundles {
        if defs.contains_key(&name) {
            problems.fatal.push(format!(
                "{}: pipeline name {name} is already a service",
                show(dir.join("pipeline-name"))
            ));
            continue;
        }
        let file = dir.join("pipeline-name");
        defs.insert(
            name.clone(),
            Def {
                name,
                dir: dir.clone(),
                kind: Kind::Bundle,
                deps: Vec::new(),
                contents: members
                    .into_iter()
                    .map(|m| Ref {
                        name: m,
                        file: file.clone(),
                    })
                    .collect(),
                timeout_up: 0,
                timeout_down: 0,
                essential: false,
                producer_for: None,
                consumer_for: Vec::new(),
                pipeline_name: None,
            },
        );
    }
    logger_of
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn def(name: &str, kind: Kind, deps: &[&str], contents: &[&str]) -> Def {
        let r = |n: &&str| Ref {
            name: (*n).to_owned(),
            file: Path::new("/s").join(name).join("dependencies.d").join(n),
        };
        Def {
            name: name.to_owned(),
            dir: Path::new("/s").join(name),
            kind,
            deps: deps.iter().map(r).collect(),
            contents: contents.iter().map(r).collect(),
            timeout_up: 0,
            timeout_down: 0,
            essential: false,
            producer_for: None,
            consumer_for: Vec::new(),
            pipeline_name: None,
        }
    }

    fn graph(defs: Vec<Def>) -> (Graph, Problems) {
        let mut p = Problems::default();
        let g = resolve(
            defs.into_iter().map(|d| (d.name.clone(), d)).collect(),
            &mut p,
        );
        (g, p)
    }

    #[test]
    fn bundles_expand_and_dependencies_close() {
        let (g, p) = graph(vec![
            def("a", Kind::Oneshot, &[], &[]),
            def("b", Kind::Oneshot, &["base"], &[]),
            def("base", Kind::Bundle, &[], &["a"]),
            def("top", Kind::Bundle, &[], &["base", "b"]),
        ]);
        assert!(p.fatal.is_empty(), "{:?}", p.fatal);
        assert_eq!(g.members["top"].iter().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(g.deps["b"].iter().collect::<Vec<_>>(), ["a"]);
        let b: BTreeSet<String> = ["b".to_owned()].into();
        assert_eq!(g.with_dependencies(&b).len(), 2);
        let a: BTreeSet<String> = ["a".to_owned()].into();
        assert_eq!(g.with_dependents(&a).len(), 2);
    }

    #[test]
    fn undefined_names_and_cycles_name_the_files() {
        let (_, p) = graph(vec![
            def("a", Kind::Oneshot, &["b"], &[]),
            def("b", Kind::Oneshot, &["c"], &[]),
            def("c", Kind::Oneshot, &["a", "nope"], &[]),
        ]);
        assert_eq!(p.fatal.len(), 2, "{:?}", p.fatal);
        assert_eq!(
            p.fatal[0],
            "/s/c/dependencies.d/nope: no service named nope is defined"
        );
        assert_eq!(
            p.fatal[1],
            "dependency cycle: a -> b -> c -> a (/s/a/dependencies.d/b, /s/b/dependencies.d/c, /s/c/dependencies.d/a)"
        );
    }

    #[test]
    fn bundle_cycles_are_fatal() {
        let (_, p) = graph(vec![
            def("x", Kind::Bundle, &[], &["y"]),
            def("y", Kind::Bundle, &[], &["x"]),
        ]);
        assert!(
            p.fatal
                .iter()
                .any(|m| m.starts_with("bundle cycle: x -> y -> x")),
            "{:?}",
            p.fatal
        );
        assert_eq!(p.fatal.len(), 1, "one report per cycle: {:?}", p.fatal);
    }
}
