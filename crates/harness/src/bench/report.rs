//! Benchmark reports: a table and the targets on stdout (or one JSON object), and the whole
//! report as JSON in `target/bench/<name>.json` (relative to the working directory).

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;

use super::figures::round1;
use super::{io, BenchError};

/// One target of a benchmark and whether the run met it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Target {
    name: String,
    goal: String,
    measured: String,
    met: bool,
}

impl Target {
    pub(super) fn new(name: &str, goal: &str, measured: String, met: bool) -> Self {
        Self {
            name: name.to_owned(),
            goal: goal.to_owned(),
            measured,
            met,
        }
    }
}

/// What a benchmark produced.
pub(super) struct Outcome {
    /// Human-readable table lines.
    pub(super) table: Vec<String>,
    /// Every figure, for the JSON report.
    pub(super) figures: Value,
    /// The targets and whether each was met.
    pub(super) targets: Vec<Target>,
    /// What the reader needs to know to read the figures.
    pub(super) notes: Vec<String>,
}

#[derive(Serialize)]
struct Report<'a> {
    benchmark: &'a str,
    command_line: String,
    cores: usize,
    started_at: String,
    elapsed_s: f64,
    build: &'static str,
    /// `/proc/loadavg` before and after (other work on the machine skews every figure).
    load_average: [Option<String>; 2],
    targets_met: bool,
    targets: &'a [Target],
    figures: &'a Value,
    notes: &'a [String],
}

/// When and on what machine load a benchmark started.
pub(super) struct Timing {
    /// RFC 3339, UTC.
    pub(super) started_at: String,
    pub(super) started: Instant,
    /// `/proc/loadavg` before the run.
    pub(super) load_before: Option<String>,
}

/// Writes `target/bench/<name>.json` and prints the table (or the JSON); returns whether every
/// target was met.
pub(super) fn publish(
    name: &str,
    outcome: &Outcome,
    timing: Timing,
    json: bool,
) -> Result<bool, BenchError> {
    let Timing {
        started_at,
        started,
        load_before,
    } = timing;
    let met = outcome.targets.iter().all(|t| t.met);
    let report = Report {
        benchmark: name,
        command_line: std::env::args().collect::<Vec<_>>().join(" "),
        cores: cores(),
        started_at,
        elapsed_s: round1(started.elapsed().as_secs_f64()),
        build: if cfg!(debug_assertions) {
            "debug (figures are not meaningful; use --release)"
        } else {
            "release"
        },
        load_average: [load_before, load_average()],
        targets_met: met,
        targets: &outcome.targets,
        figures: &outcome.figures,
        notes: &outcome.notes,
    };
    let text = serde_json::to_string_pretty(&report)?;
    let dir = PathBuf::from("target").join("bench");
    std::fs::create_dir_all(&dir).map_err(io("creating target/bench"))?;
    let file = dir.join(format!("{name}.json"));
    std::fs::write(&file, format!("{text}\n"))
        .map_err(io(&format!("writing {}", file.display())))?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for line in &outcome.table {
            println!("{line}");
        }
        println!("  targets:");
        for t in &outcome.targets {
            println!(
                "    [{}] {}: {} (target {})",
                if t.met { "met " } else { "MISS" },
                t.name,
                t.measured,
                t.goal
            );
        }
        for note in &outcome.notes {
            println!("  note: {note}");
        }
        let [before, after] = &report.load_average;
        println!(
            "  {} cores, {} build, {:.1} s, load average {} before, {} after; JSON in {}",
            report.cores,
            report.build,
            report.elapsed_s,
            before.as_deref().unwrap_or("?"),
            after.as_deref().unwrap_or("?"),
            file.display()
        );
        println!(
            "RESULT: {}",
            if met { "targets met" } else { "targets missed" }
        );
    }
    Ok(met)
}

/// The 1, 5 and 15 minute load averages, if the system reports them.
pub(super) fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

pub(super) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}
