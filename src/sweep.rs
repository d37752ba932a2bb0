//! `genesis sweep`: many headless runs across parameters and seeds, as
//! Mesa's `batch_run` or NetLogo's BehaviorSpace do, several at a time.
//!
//! Every combination of the given values (the cartesian product, seeds
//! innermost, [`plan`]) is one run of [`bench::run`]; runs go in parallel
//! on `--jobs` threads ([`run`]). A run's results depend only on its
//! parameters and seed (SPEC 2), never on what ran beside it or where.
//!
//! The pieces are public because three doors share them: the command line,
//! Python's `genesis_sim.sweep` on this machine (which calls [`run`]), and
//! the same on a Dask cluster, where each worker calls [`run_row`] for a
//! run named by its [`Run::key`] and the client writes the rows back
//! through an [`Output`]. A row is defined once, in [`row`].
//!
//! Each finished run appends one CSV row with one `write` call. A sweep run
//! again with the same `--out` skips the runs already in the file, and a
//! row cut short by a crash (no line end) is dropped and its run redone, so
//! the file never keeps a corrupt row. The [`Output`] keeps each run's key
//! once, so a run done twice (a retried cluster task) is written once.
//!
//! A sweep too big for one process splits into `--shard K/N` slices
//! ([`Shard`]) whose files `--merge` joins again ([`merge`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::json;

use crate::bench::{self, BenchOptions, BenchReport};
use crate::sim::{ModelConfig, Population, Scenario};
use crate::weights;

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
    pub fn as_u64(self) -> u64 {
        match self {
            Value::Int(v) => v,
            Value::Float(v) => v as u64,
        }
    }

    pub fn as_f32(self) -> f32 {
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

/// Whether a parameter takes whole numbers (else any finite number).
pub fn is_integer(parameter: &str) -> bool {
    matches!(parameter, "agents" | "raster" | "channels" | "neighbours" | "window" | "hidden" | "seed")
}

/// A parameter's value when a sweep leaves it out: SPEC's default (as
/// `genesis bench` runs it; 10,000 agents, seed 42).
pub fn default_value(parameter: &str) -> Option<Value> {
    let c = ModelConfig::default();
    Some(match parameter {
        "agents" => Value::Int(10_000),
        "width" => Value::Float(c.width),
        "height" => Value::Float(c.height),
        "raster" => Value::Int(c.raster as u64),
        "channels" => Value::Int(c.channels as u64),
        "radius" => Value::Float(c.radius),
        "neighbours" => Value::Int(c.neighbours as u64),
        "window" => Value::Int(c.window as u64),
        "z_threshold" => Value::Float(c.z_threshold),
        "noise" => Value::Float(c.noise),
        "dt" => Value::Float(c.dt),
        "top_speed" => Value::Float(c.top_speed),
        "hidden" => Value::Int(c.hidden as u64),
        "seed" => Value::Int(c.seed),
        _ => return None,
    })
}

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
    /// The run's parameter columns as written in the output: the run's
    /// name in a sweep file, and all a worker needs to redo it
    /// ([`Run::from_key`]).
    pub fn key(&self) -> String {
        self.values.iter().map(Value::to_string).collect::<Vec<_>>().join(",")
    }

    /// The run a [`Run::key`] names. Values are written in their shortest
    /// exact form, so the run read back is the run written.
    pub fn from_key(key: &str) -> Result<Run, String> {
        let fields: Vec<&str> = key.split(',').collect();
        if fields.len() != PARAMETERS.len() {
            return Err(format!("a run key has {} values, found {} in {key:?}", PARAMETERS.len(), fields.len()));
        }
        let mut values = [Value::Int(0); PARAMETERS.len()];
        for ((value, field), name) in values.iter_mut().zip(&fields).zip(PARAMETERS) {
            *value = match parse_values(name, field, is_integer(name))?.as_slice() {
                [v] => *v,
                _ => return Err(format!("{name}: one value expected in the run key {key:?}")),
            };
        }
        Ok(Run { values })
    }

    /// The run's parameters as `name=value` pairs, for messages.
    pub fn describe(&self) -> String {
        PARAMETERS.iter().zip(&self.values).map(|(p, v)| format!("{p}={v}")).collect::<Vec<_>>().join(", ")
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

    /// Checks the run as `genesis bench` would check its options.
    fn validate(&self) -> Result<(), String> {
        self.config().validate()?;
        if self.agents() == 0 || self.values[0].to_string() != self.agents().to_string() {
            return Err(format!("--agents must be between 1 and {}, got {}", u32::MAX, self.values[0]));
        }
        Ok(())
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

/// The runs of a sweep: every combination of `axes`, each checked as
/// `genesis bench` checks its options, and `weights` (when given) checked
/// against every model shape the sweep uses. The first bad run's message
/// names the option.
pub fn plan(axes: &[Vec<Value>; PARAMETERS.len()], weights: Option<&Path>) -> Result<Vec<Run>, String> {
    if let Some((name, _)) = PARAMETERS.iter().zip(axes).find(|(_, axis)| axis.is_empty()) {
        return Err(format!("--{}: no values given", name.replace('_', "-")));
    }
    let runs = combinations(axes);
    let mut weights_checked = HashSet::new();
    for run in &runs {
        run.validate()?;
        let config = run.config();
        if let Some(path) = weights
            && weights_checked.insert((config.channels, config.hidden))
        {
            weights::load(path, &config).map_err(|e| format!("--weights {e}"))?;
        }
    }
    Ok(runs)
}

/// `--jobs` as given, 0 meaning one per core (the command line's and
/// Python's default).
pub fn jobs_or_cores(jobs: usize) -> usize {
    if jobs == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { jobs }
}

/// Checks that `jobs` runs at a time fit in the memory available: the
/// `jobs` biggest runs together, as can happen ([`crate::machine`]).
pub fn check_memory(runs: &[Run], jobs: usize) -> Result<(), String> {
    let need = |run: &Run| -> u64 {
        crate::machine::run_needs(&run.config(), run.agents() as u64)
            .iter()
            .fold(0u64, |s, n| s.saturating_add(n.bytes))
    };
    let mut sizes: Vec<(u64, &Run)> = runs.iter().map(|r| (need(r), r)).collect();
    sizes.sort_by_key(|(bytes, _)| std::cmp::Reverse(*bytes));
    let together = sizes.iter().take(jobs.max(1)).fold(0u64, |s, (b, _)| s.saturating_add(*b));
    let Some((_, biggest)) = sizes.first() else { return Ok(()) };
    let config = biggest.config();
    let at_once = jobs.min(runs.len()).max(1);
    let what = if at_once > 1 {
        format!(
            "--jobs {at_once} runs at once, the biggest --agents {} with --window {} and --raster {},",
            biggest.agents(),
            config.window,
            config.raster
        )
    } else {
        format!("--agents {} with --window {} and --raster {}", biggest.agents(), config.window, config.raster)
    };
    let lower = if at_once > 1 { "--jobs or --agents" } else { "--agents" };
    crate::machine::check_memory(&[crate::machine::Need { what, bytes: together, lower }])
}

/// The K-th of N slices of a sweep (`--shard K/N`, K from 1), so that a
/// job array can split a sweep with no coordinator: slice K takes the
/// runs at positions K-1, K-1+N, K-1+2N, … of the combination order. Dealt
/// round-robin rather than cut in blocks, every slice gets its share of
/// each parameter value, so slices of a sweep over agent counts take
/// about the same time. The N slices hold every run exactly once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    /// 1 ..= count.
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Shard {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{s:?}: {why} (--shard K/N runs the K-th of N slices, K from 1 to N)");
        let (k, n) = s.split_once('/').ok_or_else(|| bad("expected K/N, such as 2/8"))?;
        let number = |t: &str| t.trim().parse::<usize>().map_err(|_| bad(&format!("{t:?} is not a whole number")));
        let (index, count) = (number(k)?, number(n)?);
        if count == 0 {
            return Err(bad("N must be at least 1"));
        }
        if index == 0 || index > count {
            return Err(bad(&format!("K must be between 1 and {count}")));
        }
        Ok(Shard { index, count })
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Shard {
    /// This slice's runs, in their order.
    pub fn select(&self, runs: &[Run]) -> Vec<Run> {
        runs.iter().skip(self.index - 1).step_by(self.count).cloned().collect()
    }
}

/// How each run of a sweep runs, besides its parameters.
#[derive(Clone, Debug)]
pub struct RowSettings {
    /// Frames per run, warm-up included.
    pub frames: u64,
    pub warmup: u64,
    /// The run's worker threads (1 in a sweep of one run per core).
    pub threads: usize,
    /// Every run's MLP weights, from this safetensors file.
    pub weights: Option<PathBuf>,
}

/// Runs one run and returns its output row: the unit of work every door
/// hands out (a `--jobs` thread here, a task on a Dask worker).
pub fn run_row(run: &Run, settings: &RowSettings) -> Result<String, String> {
    let config = run.config();
    let weights = settings.weights.as_deref().map(|path| weights::load(path, &config)).transpose()?;
    let scenario = Scenario { config, population: Population::Generated(run.agents()), weights, ..Scenario::default() };
    let report = bench::run(&BenchOptions::new(scenario, settings.frames, settings.warmup, settings.threads))?;
    Ok(row(run, settings.frames, &report))
}

/// What to sweep.
#[derive(Clone, Debug)]
pub struct SweepOptions {
    pub runs: Vec<Run>,
    pub settings: RowSettings,
    /// Runs at a time.
    pub jobs: usize,
    pub out: PathBuf,
    pub json: Option<PathBuf>,
    /// Stop after this many new runs (to test resuming).
    pub max_runs: Option<usize>,
    pub progress: bool,
    /// Set from another thread to start no further run (Ctrl-C from
    /// Python); the runs under way finish and are written.
    pub cancel: Option<Arc<AtomicBool>>,
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

/// A sweep file's complete rows: the header checked, a row cut short by a
/// crash (no line end) left out.
struct Rows {
    /// With their line ends.
    rows: Vec<String>,
    /// The length of the complete part.
    complete: usize,
    /// Whether a row was cut short (bytes past `complete`).
    torn: bool,
}

fn read_rows(path: &Path) -> Result<Rows, String> {
    let name = path.display();
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {name}: {e}"))?;
    let complete = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let text = std::str::from_utf8(&bytes[..complete]).map_err(|e| format!("{name}: not a sweep file ({e})"))?;
    let mut lines = text.split_inclusive('\n');
    let mut rows = Vec::new();
    match lines.next() {
        None => {}
        Some(h) if h.trim_end() == header() => {
            for (i, line) in lines.enumerate() {
                let fields = line.trim_end().split(',').count();
                if fields != PARAMETERS.len() + RESULTS.len() {
                    return Err(format!(
                        "{name}:{}: a row with {fields} fields, expected {}",
                        i + 2,
                        PARAMETERS.len() + RESULTS.len()
                    ));
                }
                rows.push(line.to_string());
            }
        }
        Some(_) => return Err(format!("{name}:1: not a genesis sweep file (its header differs)")),
    }
    Ok(Rows { rows, complete, torn: bytes.len() > complete })
}

/// The run key of an output row: its parameter columns.
fn key_of(row: &str) -> &str {
    let mut commas = row.match_indices(',').map(|(i, _)| i);
    commas.nth(PARAMETERS.len() - 1).map_or(row, |end| &row[..end])
}

/// A sweep's output file, open for appending rows.
#[derive(Debug)]
pub struct Output {
    file: File,
    path: PathBuf,
    keys: HashSet<String>,
}

impl Output {
    /// Opens `path` for appending: writes the header to a new file; for an
    /// existing one checks the header, drops a row cut short by a crash,
    /// and remembers the runs already done.
    pub fn open(path: &Path) -> Result<Output, String> {
        let name = path.display();
        let mut keys = HashSet::new();
        if path.exists() {
            let Rows { rows, complete, .. } = read_rows(path)?;
            keys.extend(rows.iter().map(|r| key_of(r).to_string()));
            let file = OpenOptions::new().write(true).open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
            file.set_len(complete as u64).map_err(|e| format!("cannot truncate {name}: {e}"))?;
        }
        let mut file =
            OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("cannot open {name}: {e}"))?;
        if file.metadata().map(|m| m.len()).unwrap_or(0) == 0 {
            file.write_all(format!("{}\n", header()).as_bytes()).map_err(|e| format!("cannot write {name}: {e}"))?;
        }
        Ok(Output { file, path: path.to_path_buf(), keys })
    }

    /// Whether the run named `key` is in the file.
    pub fn has(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    /// How many runs the file holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Appends a finished run's row ([`run_row`]) unless its run is in the
    /// file already; says whether it was written. One `write` call per
    /// row: a crash leaves at worst a row with no line end, which the next
    /// open drops.
    pub fn append(&mut self, line: &str) -> Result<bool, String> {
        let key = key_of(line);
        if !line.ends_with('\n') || line.trim_end().split(',').count() != PARAMETERS.len() + RESULTS.len() {
            return Err(format!("not a sweep row: {line:?}"));
        }
        if self.keys.contains(key) {
            return Ok(false);
        }
        self.file.write_all(line.as_bytes()).map_err(|e| format!("cannot write {}: {e}", self.path.display()))?;
        self.keys.insert(key.to_string());
        Ok(true)
    }
}

/// A progress line on stderr: runs done, time so far, ETA. Redrawn in
/// place on a terminal, a line every 2 s otherwise (logs, notebooks).
#[derive(Debug)]
pub struct Progress {
    total: usize,
    done: usize,
    started: Instant,
    last_note: Instant,
    show: bool,
}

impl Progress {
    pub fn new(total: usize, show: bool) -> Self {
        Progress { total, done: 0, started: Instant::now(), last_note: Instant::now(), show }
    }

    /// Whether the line is shown.
    pub fn shows(&self) -> bool {
        self.show
    }

    /// Runs finished so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// One more run finished.
    pub fn tick(&mut self) {
        self.done += 1;
        let (n, total) = (self.done, self.total);
        let terminal = std::io::stderr().is_terminal();
        if !self.show || (!terminal && n < total && self.last_note.elapsed().as_secs_f64() < 2.0) {
            return;
        }
        self.last_note = Instant::now();
        let elapsed = self.started.elapsed().as_secs_f64();
        let eta = elapsed / n as f64 * total.saturating_sub(n) as f64;
        let width = 30;
        let filled = (width * n / total.max(1)).min(width);
        let bar: String = "#".repeat(filled) + &".".repeat(width - filled);
        let text = format!("[{bar}] {n}/{total} runs, {elapsed:.0} s, ETA {eta:.0} s");
        if terminal {
            eprint!("\r{text}");
        } else {
            eprintln!("{text}");
        }
    }

    /// The closing line: runs, time, rate.
    pub fn finish(&self) {
        if self.show && self.done > 0 {
            let seconds = self.started.elapsed().as_secs_f64();
            // A terminal's line was redrawn in place: end it first.
            let end = if std::io::stderr().is_terminal() { "\n" } else { "" };
            eprintln!(
                "{end}genesis sweep: {} runs in {seconds:.1} s ({:.1} runs per minute)",
                self.done,
                self.done as f64 / seconds * 60.0
            );
        }
    }
}

/// A run that failed, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct RunFailure {
    pub run: Run,
    pub error: String,
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "run {} failed: {}", self.run.describe(), self.error)
    }
}

/// What a sweep did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outcome {
    /// Runs done and written now.
    pub done: usize,
    /// Runs that failed; the others went on.
    pub failures: Vec<RunFailure>,
}

/// The message of a panic caught in a run.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| panic.downcast_ref::<String>().cloned());
    format!("panicked: {}", text.unwrap_or_else(|| "(no message)".into()))
}

/// Runs the sweep's runs not yet in `--out`, `jobs` at a time. A run that
/// fails is reported (on stderr and in the outcome) and the others go on;
/// only an output that cannot be written stops the sweep.
pub fn run(options: &SweepOptions) -> Result<Outcome, String> {
    let output = Output::open(&options.out)?;
    let mut todo: Vec<&Run> = options.runs.iter().filter(|r| !output.has(&r.key())).collect();
    if let Some(max) = options.max_runs {
        todo.truncate(max);
    }
    let total = todo.len();
    if options.progress && !output.is_empty() {
        eprintln!("genesis sweep: {} runs already in {}, {} to go", output.len(), options.out.display(), total);
    }
    let sink = Mutex::new((output, Progress::new(total, options.progress)));
    let failures = Mutex::new(Vec::new());
    let cancelled = || options.cancel.as_ref().is_some_and(|c| c.load(Ordering::Relaxed));
    // Plain threads taking the next run in order, not a rayon pool: a
    // rayon worker waiting on its run's own pool steals the next run
    // meanwhile, so runs nest, all of their worlds live at once, and rows
    // come out last-started-first (measured: 14 of 30 runs under way after
    // 50 ms on 2 jobs).
    let next = AtomicUsize::new(0);
    let worker = || -> Result<(), String> {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(run) = todo.get(i) else { return Ok(()) };
            if cancelled() {
                return Ok(());
            }
            match catch_unwind(AssertUnwindSafe(|| run_row(run, &options.settings))) {
                Ok(Ok(line)) => {
                    let (output, progress) = &mut *sink.lock().unwrap();
                    output.append(&line)?;
                    progress.tick();
                }
                Ok(Err(error)) => failures.lock().unwrap().push(RunFailure { run: (*run).clone(), error }),
                Err(panic) => {
                    failures.lock().unwrap().push(RunFailure { run: (*run).clone(), error: panic_message(&*panic) })
                }
            }
        }
    };
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..options.jobs.clamp(1, total.max(1))).map(|_| scope.spawn(worker)).collect();
        workers.into_iter().try_for_each(|w| w.join().unwrap_or_else(|p| Err(panic_message(&*p))))
    })?;
    let (_, progress) = sink.into_inner().unwrap();
    progress.finish();
    let mut failures = failures.into_inner().unwrap();
    // In the sweep's order, whichever thread failed first.
    failures.sort_by_key(|f| options.runs.iter().position(|r| *r == f.run));
    Ok(Outcome { done: progress.done(), failures })
}

/// The rows of `runs` found in the sweep file `path`, under the header, in
/// the order of `runs` (not the order they finished in): what Python's
/// `sweep` returns.
pub fn rows(path: &Path, runs: &[String]) -> Result<String, String> {
    let found = read_rows(path)?.rows;
    let by_key: HashMap<&str, &String> = found.iter().map(|r| (key_of(r), r)).collect();
    let mut text = format!("{}\n", header());
    for key in runs {
        if let Some(row) = by_key.get(key.as_str()) {
            text.push_str(row);
        }
    }
    Ok(text)
}

/// What [`merge`] did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Merged {
    /// Distinct runs in the merged file.
    pub rows: usize,
    /// Rows dropped because their run was already in an earlier file.
    pub duplicates: usize,
    /// Files whose last row was cut short (left out; resume that shard).
    pub torn: Vec<PathBuf>,
}

/// Columns whose values a run's parameters decide (SPEC 2: the same seed
/// gives the same results); the timing columns are left out.
fn deterministic(row: &str) -> Vec<&str> {
    let fields: Vec<&str> = row.trim_end().split(',').collect();
    let timing = ["hz", "frame_ms_p50", "frame_ms_p99"];
    PARAMETERS.iter().chain(RESULTS.iter()).zip(fields).filter(|(c, _)| !timing.contains(c)).map(|(_, v)| v).collect()
}

/// Joins sweep files (the shards of one sweep, or a sweep's pieces run in
/// different places) into `out`: each run once, in the order of its
/// parameters (for a whole sweep, the combination order). `out`'s own
/// rows, when it exists, are kept as a first input. The files must
/// describe the same sweep: the same header, the same frames per run, and
/// where a run is in two files, the same results (runs are deterministic,
/// so different results mean different settings such as `--weights`).
/// The merged file is written beside `out` and renamed over it, so a
/// failed merge leaves `out` as it was.
pub fn merge(inputs: &[PathBuf], out: &Path) -> Result<Merged, String> {
    let mut sources: Vec<PathBuf> = Vec::new();
    if out.exists() {
        sources.push(out.to_path_buf());
    }
    sources.extend(inputs.iter().filter(|p| p.as_path() != out).cloned());
    let mut merged = Merged::default();
    // key -> (row, file, line)
    let mut runs: HashMap<String, (String, usize, usize)> = HashMap::new();
    let mut frames: Option<(String, usize, usize)> = None;
    for (f, path) in sources.iter().enumerate() {
        let Rows { rows, torn, .. } = read_rows(path)?;
        if torn {
            merged.torn.push(path.clone());
        }
        let place = |file: usize, line: usize| format!("{}:{line}", sources[file].display());
        for (i, row) in rows.into_iter().enumerate() {
            let line = i + 2;
            let this_frames = row.split(',').nth(PARAMETERS.len()).unwrap_or("").to_string();
            match &frames {
                None => frames = Some((this_frames, f, line)),
                Some((first, ff, fl)) if *first != this_frames => {
                    return Err(format!(
                        "{} runs {this_frames} frames, {} runs {first}: not the same sweep",
                        place(f, line),
                        place(*ff, *fl)
                    ));
                }
                Some(_) => {}
            }
            let key = key_of(&row).to_string();
            match runs.get(&key) {
                Some((earlier, ef, el)) => {
                    if deterministic(earlier) != deterministic(&row) {
                        return Err(format!(
                            "{} and {} hold the same run with different results: not the same sweep \
                             (another --weights or --warmup?)",
                            place(*ef, *el),
                            place(f, line)
                        ));
                    }
                    merged.duplicates += 1;
                }
                None => {
                    runs.insert(key, (row, f, line));
                }
            }
        }
    }
    let mut rows: Vec<(Vec<f64>, String)> = runs
        .into_iter()
        .map(|(key, (row, _, _))| (key.split(',').map(|v| v.parse().unwrap_or(f64::NAN)).collect(), row))
        .collect();
    rows.sort_by(|a, b| a.0.iter().zip(&b.0).map(|(x, y)| x.total_cmp(y)).find(|o| o.is_ne()).unwrap_or(a.1.cmp(&b.1)));
    merged.rows = rows.len();
    let mut text = format!("{}\n", header());
    for (_, row) in &rows {
        text.push_str(row);
    }
    let name = out.display();
    let partial = out.with_extension("merging");
    std::fs::write(&partial, text).map_err(|e| format!("cannot write {}: {e}", partial.display()))?;
    std::fs::rename(&partial, out).map_err(|e| format!("cannot write {name}: {e}"))?;
    Ok(merged)
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
pub fn summarize(out: &Path) -> Result<(String, serde_json::Value), String> {
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
    let machine = crate::machine::Machine::this();
    table.push_str(&format!("machine (this process's runs): {}\n", machine.line()));
    Ok((table, json!({ "groups": json_groups, "machine": machine.to_json() })))
}
