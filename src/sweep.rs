//! `genesis sweep`: many headless runs across parameters and seeds, as
//! Mesa's `batch_run` or NetLogo's BehaviorSpace do, several at a time.
//!
//! Every combination of the given values (the cartesian product, seeds
//! innermost) is one run of [`bench::run`] on one worker thread; runs go in
//! parallel on `--jobs` threads. A run's results depend only on its
//! parameters and seed (SPEC 2), never on what ran beside it.
//!
//! Each finished run appends one CSV row with one `write` call. A sweep run
//! again with the same `--out` skips the runs already in the file, and a
//! row cut short by a crash (no line end) is dropped and its run redone, so
//! the file never keeps a corrupt row.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::json;

use crate::bench::{self, BenchOptions, BenchReport};
use crate::sim::{ModelConfig, Population, Scenario};

/// One swept value, written back exactly as it was read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f32),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Int(v) => write!(f, "{v}"),
            Value::Float(v) => write!(f, "{v}"),
        }
    }
}

impl Value {
    fn as_u64(self) -> u64 {
        match self {
            Value::Int(v) => v,
            Value::Float(v) => v as u64,
        }
    }

    fn as_f32(self) -> f32 {
        match self {
            Value::Int(v) => v as f32,
            Value::Float(v) => v,
        }
    }
}

/// Parses a list of values for `option`: `a,b,c`, `start:end:step`
/// (inclusive of `end` when a step lands on it) or, for whole numbers,
/// `a..b` (both ends included). Lists may mix forms: `1,5:9:2`.
pub fn parse_values(option: &str, spec: &str, integer: bool) -> Result<Vec<Value>, String> {
    let bad = |what: &str| format!("--{option} {spec:?}: {what}");
    let number = |s: &str| -> Result<Value, String> {
        let s = s.trim();
        if integer {
            s.parse::<u64>().map(Value::Int).map_err(|_| bad(&format!("expected a whole number ≥ 0, found {s:?}")))
        } else {
            match s.parse::<f32>() {
                Ok(v) if v.is_finite() => Ok(Value::Float(v)),
                _ => Err(bad(&format!("expected a number, found {s:?}"))),
            }
        }
    };
    let mut values = Vec::new();
    for part in spec.split(',') {
        if let Some((a, b)) = part.split_once("..") {
            if !integer {
                return Err(bad("a..b ranges are for whole numbers; use start:end:step"));
            }
            let (a, b) = (number(a)?.as_u64(), number(b)?.as_u64());
            if a > b {
                return Err(bad(&format!("empty range {a}..{b}")));
            }
            values.extend((a..=b).map(Value::Int));
        } else if part.contains(':') {
            let p: Vec<&str> = part.split(':').collect();
            if p.len() != 3 {
                return Err(bad("expected start:end:step"));
            }
            let (start, end, step) =
                (number(p[0])?.as_f32() as f64, number(p[1])?.as_f32() as f64, number(p[2])?.as_f32() as f64);
            if step <= 0.0 {
                return Err(bad("the step must be > 0"));
            }
            if start > end {
                return Err(bad(&format!("empty range: start {start} is past end {end}")));
            }
            let count = ((end - start) / step + 1e-9).floor() as u64 + 1;
            if count > 100_000 {
                return Err(bad("more than 100,000 values"));
            }
            for k in 0..count {
                let v = start + k as f64 * step;
                values.push(if integer { Value::Int(v.round() as u64) } else { Value::Float(v as f32) });
            }
        } else {
            values.push(number(part)?);
        }
    }
    Ok(values)
}

/// The swept parameters, in column order; seeds last (innermost).
pub const PARAMETERS: [&str; 14] = [
    "agents",
    "width",
    "height",
    "raster",
    "channels",
    "radius",
    "neighbours",
    "window",
    "z_threshold",
    "noise",
    "dt",
    "top_speed",
    "hidden",
    "seed",
];

/// Run results, in column order after the parameters.
pub const RESULTS: [&str; 10] = [
    "frames",
    "hz",
    "frame_ms_p50",
    "frame_ms_p99",
    "anomalies_total",
    "recall",
    "false_alarms_per_1000",
    "fused_mean",
    "fused_sd",
    "nbr_count_mean",
];

/// One run: a value for every parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    pub values: [Value; PARAMETERS.len()],
}

impl Run {
    /// The run's parameter columns as written in the output.
    pub fn key(&self) -> String {
        self.values.iter().map(Value::to_string).collect::<Vec<_>>().join(",")
    }

    pub fn config(&self) -> ModelConfig {
        let v = |name: &str| self.values[PARAMETERS.iter().position(|p| *p == name).unwrap()];
        ModelConfig {
            seed: v("seed").as_u64(),
            width: v("width").as_f32(),
            height: v("height").as_f32(),
            raster: v("raster").as_u64() as usize,
            channels: v("channels").as_u64() as usize,
            radius: v("radius").as_f32(),
            neighbours: v("neighbours").as_u64() as usize,
            window: v("window").as_u64() as usize,
            z_threshold: v("z_threshold").as_f32(),
            noise: v("noise").as_f32(),
            dt: v("dt").as_f32(),
            top_speed: v("top_speed").as_f32(),
            hidden: v("hidden").as_u64() as usize,
        }
    }

    pub fn agents(&self) -> u32 {
        self.values[0].as_u64() as u32
    }
}

/// Every combination of `axes` (one list per parameter, in
/// [`PARAMETERS`] order), the last varying fastest.
pub fn combinations(axes: &[Vec<Value>; PARAMETERS.len()]) -> Vec<Run> {
    let mut runs = vec![Vec::new()];
    for axis in axes {
        runs = runs
            .into_iter()
            .flat_map(|prefix: Vec<Value>| axis.iter().map(move |v| [prefix.clone(), vec![*v]].concat()))
            .collect();
    }
    runs.into_iter().map(|v| Run { values: v.try_into().expect("one value per parameter") }).collect()
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub runs: Vec<Run>,
    pub frames: u64,
    pub warmup: u64,
    pub jobs: usize,
    pub out: PathBuf,
    pub json: Option<PathBuf>,
    /// Stop after this many new runs (to test resuming).
    pub max_runs: Option<usize>,
    pub progress: bool,
    /// Every run's MLP weights, from this safetensors file.
    pub weights: Option<PathBuf>,
}

/// The CSV header of a sweep's output.
pub fn header() -> String {
    PARAMETERS.iter().chain(RESULTS.iter()).copied().collect::<Vec<_>>().join(",")
}

/// The output row of a finished run. Float columns are written with a
/// decimal point even when whole (`1.0`, not `1`), so tools that infer
/// column types from the first rows (polars, pandas) read them as floats.
pub fn row(run: &Run, frames: u64, r: &BenchReport) -> String {
    let recall = r.detection.recall().map_or(String::new(), |v| format!("{v:?}"));
    format!(
        "{},{},{:?},{:?},{:?},{},{},{:?},{:?},{:?},{:?}\n",
        run.key(),
        frames,
        r.hz,
        r.frame_ms_p50,
        r.frame_ms_p99,
        r.anomalies_total,
        recall,
        r.detection.false_alarms_per_1000(),
        r.fused_mean,
        r.fused_sd,
        r.nbr_count_mean
    )
}

/// Opens `out` for appending: writes the header to a new file; for an
/// existing one checks the header, drops a row cut short by a crash, and
/// returns the keys of the runs already done.
fn open_output(options: &SweepOptions) -> Result<(File, HashSet<String>), String> {
    let path = &options.out;
    let name = path.display();
    let mut done = HashSet::new();
    if path.exists() {
        let text = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
        let complete = match text.iter().rposition(|&b| b == b'\n') {
            Some(p) => p + 1,
            None => 0,
        };
        let text = String::from_utf8_lossy(&text[..complete]).into_owned();
        let file = OpenOptions::new().write(true).open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
        file.set_len(complete as u64).map_err(|e| format!("cannot truncate {name}: {e}"))?;
        let mut lines = text.lines();
        match lines.next() {
            None => {}
            Some(h) if h == header() => {
                for line in lines {
                    let fields: Vec<&str> = line.split(',').collect();
                    if fields.len() != PARAMETERS.len() + RESULTS.len() {
                        return Err(format!(
                            "{name}: a row with {} fields, expected {}",
                            fields.len(),
                            PARAMETERS.len() + RESULTS.len()
                        ));
                    }
                    done.insert(fields[..PARAMETERS.len()].join(","));
                }
            }
            Some(_) => {
                return Err(format!("{name} holds another kind of file (its header differs); choose another --out"));
            }
        }
    }
    let mut file =
        OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
        file.write_all(format!("{}\n", header()).as_bytes()).map_err(|e| format!("cannot write {name}: {e}"))?;
    }
    Ok((file, done))
}

/// Runs the sweep; returns how many runs were done now.
pub fn run(options: &SweepOptions) -> Result<usize, String> {
    let (file, done) = open_output(options)?;
    let mut todo: Vec<&Run> = options.runs.iter().filter(|r| !done.contains(&r.key())).collect();
    if let Some(max) = options.max_runs {
        todo.truncate(max);
    }
    let total = todo.len();
    if options.progress && !done.is_empty() {
        eprintln!("genesis sweep: {} runs already in {}, {} to go", done.len(), options.out.display(), total);
    }
    let file = Mutex::new(file);
    let finished = AtomicUsize::new(0);
    let started = Instant::now();
    let last_note = Mutex::new(Instant::now());
    let pool = rayon::ThreadPoolBuilder::new().num_threads(options.jobs).build().map_err(|e| e.to_string())?;
    pool.install(|| {
        todo.par_iter().with_max_len(1).try_for_each(|run| -> Result<(), String> {
            let config = run.config();
            let weights = options.weights.as_deref().map(|path| crate::weights::load(path, &config)).transpose()?;
            let scenario =
                Scenario { config, population: Population::Generated(run.agents()), weights, ..Scenario::default() };
            let report = bench::run(&BenchOptions::new(scenario, options.frames, options.warmup, 1))?;
            let line = row(run, options.frames, &report);
            // One write per row: a crash leaves at worst a row with no line
            // end, which the next run of the sweep drops and redoes.
            file.lock()
                .unwrap()
                .write_all(line.as_bytes())
                .map_err(|e| format!("cannot write {}: {e}", options.out.display()))?;
            let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
            if options.progress {
                progress(n, total, started, &last_note);
            }
            Ok(())
        })
    })?;
    if options.progress && total > 0 {
        let minutes = started.elapsed().as_secs_f64() / 60.0;
        eprintln!(
            "\ngenesis sweep: {total} runs in {:.1} s ({:.1} runs per minute)",
            minutes * 60.0,
            total as f64 / minutes
        );
    }
    Ok(total)
}

fn progress(n: usize, total: usize, started: Instant, last_note: &Mutex<Instant>) {
    let terminal = std::io::stderr().is_terminal();
    let mut last = last_note.lock().unwrap();
    if !terminal && n < total && last.elapsed().as_secs_f64() < 2.0 {
        return;
    }
    *last = Instant::now();
    let elapsed = started.elapsed().as_secs_f64();
    let eta = elapsed / n as f64 * (total - n) as f64;
    let width = 30;
    let filled = width * n / total.max(1);
    let bar: String = "#".repeat(filled) + &".".repeat(width - filled);
    let text = format!("[{bar}] {n}/{total} runs, {elapsed:.0} s, ETA {eta:.0} s");
    if terminal {
        eprint!("\r{text}");
    } else {
        eprintln!("{text}");
    }
}

/// Mean and standard deviation of a metric over a group of runs.
fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    (mean, (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt())
}

/// Metrics summarised per group.
const SUMMARISED: [&str; 5] = ["hz", "anomalies_total", "recall", "false_alarms_per_1000", "fused_mean"];

/// Groups the output's rows by their parameters other than the seed: mean
/// and spread (standard deviation) of each metric over the seeds. Returns
/// the table for stdout and the same as JSON.
pub fn summarize(out: &PathBuf) -> Result<(String, serde_json::Value), String> {
    let text = std::fs::read_to_string(out).map_err(|e| format!("cannot read {}: {e}", out.display()))?;
    let mut groups: BTreeMap<String, Vec<Vec<String>>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let fields: Vec<String> = line.split(',').map(str::to_string).collect();
        let key = fields[..PARAMETERS.len() - 1].join(",");
        groups.entry(key).or_default().push(fields);
    }
    let column = |name: &str| PARAMETERS.iter().chain(RESULTS.iter()).position(|c| *c == name).unwrap();
    let mut table = format!("{:<60} {:>5}", "parameters (agents,width,…,hidden)", "seeds");
    for m in SUMMARISED {
        table.push_str(&format!(" {:>24}", format!("{m} mean ± sd")));
    }
    table.push('\n');
    let mut json_groups = Vec::new();
    for (key, rows) in &groups {
        let mut metrics = serde_json::Map::new();
        table.push_str(&format!("{key:<60} {:>5}", rows.len()));
        for m in SUMMARISED {
            let values: Vec<f64> = rows.iter().filter_map(|r| r[column(m)].parse().ok()).collect();
            let (mean, sd) = mean_sd(&values);
            table.push_str(&format!(" {:>24}", format!("{mean:.4} ± {sd:.4}")));
            metrics.insert(m.to_string(), json!({ "mean": mean, "sd": sd, "n": values.len() }));
        }
        table.push('\n');
        let params: serde_json::Map<String, serde_json::Value> = PARAMETERS[..PARAMETERS.len() - 1]
            .iter()
            .zip(key.split(','))
            .map(|(p, v)| (p.to_string(), v.parse::<f64>().map_or(json!(v), |n| json!(n))))
            .collect();
        json_groups.push(json!({ "parameters": params, "seeds": rows.len(), "metrics": metrics }));
    }
    Ok((table, json!({ "groups": json_groups })))
}
