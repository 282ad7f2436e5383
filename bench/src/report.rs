//! The benchmark's results and their three renderings: a Markdown table with the
//! targets as ratios, JSON, and an SVG chart of boot time and memory against N.
//!
//! Invariant: a missing figure is shown as "n/a", never as 0 or a guess; ratios
//! are taken against the best peer (or the named one, for the targets).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::time::Duration;

use crate::{SUITES, Suite};

/// One figure's place: the metric's key, the suite, N (0 when N does not apply).
type Cell = (String, &'static str, usize);

#[derive(Default)]
pub(crate) struct Results {
    values: BTreeMap<Cell, f64>,
}

impl Results {
    pub(crate) fn set(&mut self, key: &str, suite: Suite, n: usize, v: Option<f64>) {
        if let Some(v) = v {
            self.values.insert((key.to_owned(), suite.name(), n), v);
        }
    }

    fn get(&self, key: &str, suite: Suite, n: usize) -> Option<f64> {
        self.values.get(&(key.to_owned(), suite.name(), n)).copied()
    }

    fn sizes(&self, key: &str) -> Vec<usize> {
        let mut v: Vec<usize> = self
            .values
            .keys()
            .filter(|k| k.0 == key)
            .map(|k| k.2)
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }
}

/// (key, title, unit, lower is better)
const METRICS: &[(&str, &str, &str, bool)] = &[
    (
        "boot_ms",
        "Boot: scanner start → every service running",
        "ms",
        true,
    ),
    (
        "sup_rss_kb",
        "Supervisor RSS, per service (median)",
        "kB",
        true,
    ),
    (
        "sup_pss_kb",
        "Supervisor Pss, per service (median)",
        "kB",
        true,
    ),
    (
        "sup_anon_kb",
        "Supervisor anonymous memory, per service (median)",
        "kB",
        true,
    ),
    ("scan_pss_kb", "Scanner Pss", "kB", true),
    ("scan_anon_kb", "Scanner anonymous memory", "kB", true),
    (
        "idle_switches_10s",
        "Idle: context switches of the whole tree in 10 s",
        "",
        true,
    ),
    (
        "respawn_ms",
        "Respawn: SIGKILL of a service up > 1 s → its replacement started",
        "ms",
        true,
    ),
    (
        "shutdown_ms",
        "Shutdown: stop signal to the scanner → every process gone",
        "ms",
        true,
    ),
    (
        "crash_starts_per_min",
        "Crash loop: starts per minute of a service that exits at once",
        "",
        true,
    ),
    (
        "crash_sup_cpu_ms_per_min",
        "Crash loop: its supervisor's CPU per minute",
        "ms",
        true,
    ),
    (
        "ctl_down_ms",
        "Control: `svc -wD -d` on a service with readiness notification",
        "ms",
        true,
    ),
    (
        "ctl_up_ms",
        "Control: `svc -wU -u` on a service with readiness notification",
        "ms",
        true,
    ),
    (
        "log_plain_mb_s",
        "log throughput, `n20 s1000000 ./d` (1,000,000 lines)",
        "MB/s",
        false,
    ),
    (
        "log_iso_mb_s",
        "log throughput, `n20 s1000000 T ./d`",
        "MB/s",
        false,
    ),
    (
        "log_select_mb_s",
        "log throughput, `- +5 n20 s1000000 ./d`",
        "MB/s",
        false,
    ),
    (
        "container_boot_ms",
        "Container sample: /init start → CMD running",
        "ms",
        true,
    ),
    (
        "container_stop_ms",
        "Container sample: SIGTERM to PID 1 → container exited",
        "ms",
        true,
    ),
    (
        "installed_bytes",
        "Installed size (programs and their libraries)",
        "bytes",
        true,
    ),
];

fn fmt(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) if v >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// svkit's figure over the best peer's (for "higher is better", best = highest).
fn ratio(r: &Results, key: &str, n: usize, lower: bool) -> Option<(f64, &'static str)> {
    let ours = r.get(key, Suite::Svkit, n)?;
    let best = SUITES[1..]
        .iter()
        .filter_map(|&s| r.get(key, s, n).map(|v| (v, s.name())))
        .reduce(|a, b| if (b.0 < a.0) == lower { b } else { a })?;
    (best.0 > 0.0).then(|| (ours / best.0, best.1))
}

fn machine() -> String {
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_default();
    format!("Linux {}, {cpus} CPUs ({model})", kernel.trim())
}

/// The targets, each as a ratio and whether it is met.
fn targets(r: &Results) -> Vec<(String, String, bool)> {
    let mut v = Vec::new();
    let vs_s6 = |key: &str, n: usize| -> Option<f64> {
        Some(r.get(key, Suite::Svkit, n)? / r.get(key, Suite::S6, n)?)
    };
    for n in r.sizes("sup_anon_kb") {
        if let Some(x) = vs_s6("sup_anon_kb", n) {
            v.push((
                format!("supervise anonymous memory ≤ 0.5× s6-supervise's (N={n})"),
                format!("{x:.2}×"),
                x <= 0.5,
            ));
        }
        if let Some(x) = vs_s6("sup_pss_kb", n) {
            v.push((
                format!("supervise Pss ≤ s6-supervise's (N={n})"),
                format!("{x:.2}×"),
                x <= 1.0,
            ));
        }
    }
    for n in [100, 1000] {
        if let Some(x) = vs_s6("boot_ms", n) {
            v.push((
                format!("boot of {n} services ≤ 1.0× s6's"),
                format!("{x:.2}×"),
                x <= 1.0,
            ));
        }
    }
    for n in r.sizes("respawn_ms") {
        if let Some(x) = r.get("respawn_ms", Suite::Svkit, n) {
            v.push((
                format!("respawn ≤ 5 ms (N={n})"),
                format!("{x:.2} ms"),
                x <= 5.0,
            ));
        }
    }
    if let Some(x) = r.get("crash_starts_per_min", Suite::Svkit, 1) {
        v.push((
            "crash loop ≤ 60 starts per minute".into(),
            format!("{x:.0}/min"),
            x <= 60.0,
        ));
    }
    for n in r.sizes("idle_switches_10s") {
        if let Some(x) = r.get("idle_switches_10s", Suite::Svkit, n) {
            v.push((
                format!("zero wake-ups while idle (N={n})"),
                format!("{x:.0}"),
                x == 0.0,
            ));
        }
    }
    for n in r.sizes("shutdown_ms") {
        if let Some(x) = vs_s6("shutdown_ms", n) {
            v.push((
                format!("shutdown ≤ 1.0× s6's (N={n})"),
                format!("{x:.2}×"),
                x <= 1.0,
            ));
        }
    }
    for key in ["log_plain_mb_s", "log_iso_mb_s", "log_select_mb_s"] {
        if let Some(x) = vs_s6(key, 0) {
            v.push((
                format!("`log` throughput ≥ 1.0× s6-log ({key})"),
                format!("{x:.2}×"),
                x >= 1.0,
            ));
        }
    }
    v
}

pub(crate) fn markdown(r: &Results, took: Duration, what: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# svkit benchmark: svkit, s6, runit, daemontools\n");
    let _ = writeln!(
        s,
        "{}; {what}; run took {:.0} s. Produced by `make bench` (bench/src/main.rs); every \
         figure is read from outside the suites (`/proc`, wall-clock time around commands). \
         Timed workloads: median of 3 runs, suites interleaved. See docs/performance.md.\n",
        machine(),
        took.as_secs_f64()
    );
    let _ = writeln!(s, "## Targets\n\n| target | svkit | met |\n|---|---|---|");
    for (what, value, ok) in targets(r) {
        let _ = writeln!(
            s,
            "| {what} | {value} | {} |",
            if ok { "yes" } else { "**no**" }
        );
    }
    for &(key, title, unit, lower) in METRICS {
        let sizes = r.sizes(key);
        if sizes.is_empty() {
            continue;
        }
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" ({unit})")
        };
        let _ = writeln!(s, "\n## {title}{unit}\n");
        let _ = writeln!(
            s,
            "| N | svkit | s6 | runit | daemontools | svkit / best peer |\n|---|---|---|---|---|---|"
        );
        for n in sizes {
            let cells: Vec<String> = SUITES.iter().map(|&su| fmt(r.get(key, su, n))).collect();
            let rat = ratio(r, key, n, lower)
                .map_or_else(|| "n/a".into(), |(x, who)| format!("{x:.2} (vs {who})"));
            let label = if n == 0 {
                "—".to_owned()
            } else {
                n.to_string()
            };
            let _ = writeln!(s, "| {label} | {} | {rat} |", cells.join(" | "));
        }
    }
    s
}

pub(crate) fn json(r: &Results) -> String {
    let mut s = String::from("{\n");
    let mut first = true;
    for ((key, suite, n), v) in &r.values {
        if !first {
            s.push_str(",\n");
        }
        first = false;
        let _ = write!(s, "  \"{key}/{suite}/{n}\": {v}");
    }
    s.push_str("\n}\n");
    s
}

/// Two log-log panels: boot time and supervisor Pss against N, one line a suite.
pub(crate) fn svg(r: &Results) -> String {
    let colours = ["#d62728", "#1f77b4", "#2ca02c", "#9467bd"];
    let (w, h, pad) = (420.0, 300.0, 50.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"12\">\n",
        2.0 * w,
        h + 30.0
    );
    for (panel, (key, title)) in [
        ("boot_ms", "boot time (ms) vs services"),
        ("sup_pss_kb", "supervisor Pss (kB) vs services"),
    ]
    .into_iter()
    .enumerate()
    {
        let x0 = panel as f64 * w;
        let pts: Vec<(usize, f64)> = SUITES
            .iter()
            .flat_map(|&su| {
                r.sizes(key)
                    .into_iter()
                    .filter_map(move |n| r.get(key, su, n).map(|v| (n, v)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let lx = |n: usize| (n.max(1) as f64).log10();
        let ly = |v: f64| v.max(0.01).log10();
        let (xmin, xmax) = (
            1.0,
            lx(pts.iter().map(|p| p.0).max().unwrap_or(10)).max(1.5),
        );
        let ymin = pts.iter().map(|p| ly(p.1)).fold(f64::MAX, f64::min).floor();
        let ymax = pts
            .iter()
            .map(|p| ly(p.1))
            .fold(f64::MIN, f64::max)
            .ceil()
            .max(ymin + 1.0);
        let px = |n: usize| x0 + pad + (lx(n) - xmin) / (xmax - xmin) * (w - 2.0 * pad);
        let py = |v: f64| h - pad + 20.0 - (ly(v) - ymin) / (ymax - ymin) * (h - 2.0 * pad);
        let _ = writeln!(
            s,
            "<text x=\"{}\" y=\"16\" font-weight=\"bold\">{title}</text>",
            x0 + pad
        );
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>",
            x0 + pad,
            pad - 30.0 + 20.0,
            w - 2.0 * pad,
            h - 2.0 * pad + 30.0
        );
        for n in [10usize, 100, 1000, 5000] {
            if lx(n) <= xmax + 1e-9 {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{n}</text>",
                    px(n),
                    h - pad + 36.0
                );
            }
        }
        let mut e = ymin;
        while e <= ymax {
            let v = 10f64.powf(e);
            let _ = writeln!(
                s,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                x0 + pad - 4.0,
                py(v) + 4.0,
                fmt(Some(v))
            );
            e += 1.0;
        }
        for (i, &su) in SUITES.iter().enumerate() {
            let line: Vec<String> = r
                .sizes(key)
                .into_iter()
                .filter_map(|n| {
                    r.get(key, su, n)
                        .map(|v| format!("{:.1},{:.1}", px(n), py(v)))
                })
                .collect();
            if line.is_empty() {
                continue;
            }
            let _ = writeln!(
                s,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
                colours[i],
                line.join(" ")
            );
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"{}\">{}</text>",
                x0 + pad + 8.0,
                pad + 8.0 + 14.0 * i as f64,
                colours[i],
                su.name()
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
