//! What the benchmark knows about processes, read from `/proc` only — never from
//! the suites' own output: the process tree, memory, context switches, CPU time.
//!
//! Invariant: every figure comes from the kernel's view of the processes.

use std::collections::HashMap;
use std::fs;

/// One process: its parent and its command name.
#[derive(Clone, Debug)]
pub(crate) struct Proc {
    pub(crate) ppid: i32,
    pub(crate) comm: String,
}

/// Every live process (zombies left out).
pub(crate) fn snapshot() -> HashMap<i32, Proc> {
    let mut m = HashMap::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return m;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = stat[open + 1..close].to_owned();
        let mut rest = stat[close + 1..].split_whitespace();
        let state = rest.next().unwrap_or("");
        let ppid = rest.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if state != "Z" {
            m.insert(pid, Proc { ppid, comm });
        }
    }
    m
}

/// The children of `pid` in a snapshot.
pub(crate) fn children(snap: &HashMap<i32, Proc>, pid: i32) -> Vec<i32> {
    let mut v: Vec<i32> = snap
        .iter()
        .filter(|(_, p)| p.ppid == pid)
        .map(|(&c, _)| c)
        .collect();
    v.sort_unstable();
    v
}

/// Every descendant of `pid`.
pub(crate) fn descendants(snap: &HashMap<i32, Proc>, pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for c in children(snap, p) {
            out.push(c);
            todo.push(c);
        }
    }
    out
}

/// A scanner's supervisors (its children) and the services they run (their
/// children named `sleep`).
pub(crate) fn tree(snap: &HashMap<i32, Proc>, scanner: i32) -> (Vec<i32>, Vec<i32>) {
    let sups: Vec<i32> = children(snap, scanner)
        .into_iter()
        .filter(|p| snap.get(p).is_some_and(|p| p.comm != "sleep"))
        .collect();
    let services = sups
        .iter()
        .flat_map(|&s| children(snap, s))
        .filter(|p| snap.get(p).is_some_and(|p| p.comm == "sleep"))
        .collect();
    (sups, services)
}

/// (Rss, Pss, anonymous) in kB, from `smaps_rollup`.
pub(crate) fn memory(pid: i32) -> Option<(u64, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    };
    Some((field("Rss:")?, field("Pss:")?, field("Anonymous:")?))
}

/// Voluntary + involuntary context switches so far.
pub(crate) fn switches(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/status"))
        .map(|s| {
            s.lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0)
}

/// CPU time so far, in nanoseconds (`/proc/PID/schedstat`: time on a CPU).
pub(crate) fn cpu_ns(pid: i32) -> u64 {
    fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}
