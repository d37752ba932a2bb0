//! The headless benchmark: runs the simulation for N frames as fast as it
//! can and reports speed (Hz, frame and stage percentiles, memory) and
//! awareness (anomalies, recall, false alarms), as text and as the JSON
//! report of SPEC section 6. It also writes the state dump of SPEC 6.
//!
//! Warm-up frames are simulated like any other (the state after `--frames`
//! frames does not depend on `--warmup`); they are only left out of the
//! timing figures. Awareness figures cover every simulated frame.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bevy::ecs::schedule::SingleThreadedExecutor;
use bevy::prelude::*;
use serde_json::json;

use crate::csv::DatasetStats;
use crate::run::{Run, RunSettings};
use crate::series::Series;
use crate::sim::{DetectionScore, ModelConfig, Scenario, SimControl, SimulationPlugin, SpaceOrder};

/// What to run and where to write the results.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    pub scenario: Scenario,
    /// Frames simulated in all (warm-up included).
    pub frames: u64,
    /// Leading frames left out of the timing figures.
    pub warmup: u64,
    /// Worker threads (0: one per core).
    pub threads: usize,
    pub json: Option<PathBuf>,
    pub dump: Option<PathBuf>,
    /// Write a per-frame time series (CSV) here.
    pub series: Option<PathBuf>,
    /// Print progress lines to stderr on long runs.
    pub progress: bool,
    /// Put the agents back in space order every this many frames (0:
    /// never); see [`crate::sim::spatial::order`].
    pub reorder_every: u64,
    /// Make the calling thread one of the simulation's workers
    /// ([`ComputePool::joined_by_caller`]): faster, but the thread stays in
    /// that pool for good, so only for a process's one benchmark (the
    /// command line's).
    pub join_pool: bool,
}

impl BenchOptions {
    /// A quiet run of `scenario` writing no files.
    pub fn new(scenario: Scenario, frames: u64, warmup: u64, threads: usize) -> Self {
        Self {
            scenario,
            frames,
            warmup,
            threads,
            json: None,
            dump: None,
            series: None,
            progress: false,
            reorder_every: SpaceOrder::default().every,
            join_pool: false,
        }
    }
}

/// `(frames, warmup)` with the warm-up defaulted to a tenth of the frames
/// and checked to leave at least one measured frame: how `bench`, `sweep`
/// and Python's `sweep` read a run's length.
pub fn frames_and_warmup(frames: u64, warmup: Option<u64>) -> Result<(u64, u64), String> {
    if frames == 0 {
        return Err("--frames must be at least 1".into());
    }
    let warmup = warmup.unwrap_or(frames / 10);
    if warmup >= frames {
        return Err(format!("--warmup ({warmup}) must be less than --frames ({frames})"));
    }
    Ok((frames, warmup))
}

/// Percentiles of one stage, in microseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct StageReport {
    pub name: &'static str,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Everything the benchmark measured.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchReport {
    pub agents: usize,
    pub frames: u64,
    pub warmup: u64,
    pub threads: usize,
    pub seed: u64,
    /// The widest instruction set the hot loops ran in
    /// ([`crate::sim::parallel::Isa`]): speed depends on it, results do not.
    pub isa: &'static str,
    /// The processor, cores, build and compiler behind the figures.
    pub machine: crate::machine::Machine,
    /// Measured frames per second of wall time.
    pub hz: f64,
    pub wall_seconds: f64,
    pub frame_ms_p50: f64,
    pub frame_ms_p99: f64,
    pub frame_ms_max: f64,
    pub systems: Vec<StageReport>,
    pub peak_rss_bytes: Option<u64>,
    pub anomalies_total: u64,
    pub anomalies_last_frame: u64,
    pub detection: DetectionScore,
    /// Mean and standard deviation of `fused`, mean neighbour count, after
    /// the last frame.
    pub fused_mean: f64,
    pub fused_sd: f64,
    pub nbr_count_mean: f64,
    /// The model it ran, its space-order period, the CSV files it loaded
    /// and whether it ran given weights rather than SPEC's.
    pub config: ModelConfig,
    pub reorder_every: u64,
    pub datasets: Vec<DatasetStats>,
    pub weights: bool,
}

/// A headless app running `scenario` on `threads` workers, agents spawned,
/// ready for its first simulation frame.
pub fn build_app(scenario: Scenario, threads: usize, timing_capacity: usize) -> App {
    build_app_with(scenario, threads, timing_capacity, |_| {})
}

/// [`build_app`], letting `extend` add plugins before the app starts.
pub fn build_app_with(
    scenario: Scenario,
    threads: usize,
    timing_capacity: usize,
    extend: impl FnOnce(&mut App),
) -> App {
    let mut app = App::new();
    app.add_plugins(SimulationPlugin { scenario, threads, timing_capacity });
    extend(&mut app);
    // A handful of systems per update, strictly in order: Bevy's
    // multi-threaded executor (compiled in with the `desktop` feature) would
    // only add hand-offs to its own task pool to every schedule run.
    for (_, schedule) in app.world_mut().resource_mut::<Schedules>().iter_mut() {
        schedule.set_executor(SingleThreadedExecutor::new());
    }
    app.finish();
    app.cleanup();
    // One update with the simulation paused runs `Startup` (spawning) so
    // that it is not charged to the first frame.
    app.world_mut().resource_mut::<SimControl>().paused = true;
    app.update();
    app.world_mut().resource_mut::<SimControl>().paused = false;
    app
}

/// Runs the benchmark and writes the requested files.
pub fn run(options: &BenchOptions) -> Result<BenchReport, String> {
    let scenario = &options.scenario;
    crate::machine::check_memory(&crate::machine::run_needs(&scenario.config, scenario.population.len() as u64))?;
    // Open the output files first: a bad path should fail in a second, not
    // after a long run.
    let dump = options.dump.as_deref().map(create).transpose()?;
    let json = options.json.as_deref().map(create).transpose()?;
    let series = options.series.as_deref().map(create).transpose()?;
    let measured = options.frames.saturating_sub(options.warmup).max(1);
    let settings = RunSettings {
        threads: options.threads,
        reorder_every: options.reorder_every,
        timing_capacity: measured as usize,
        series_frames: series.is_some().then_some(options.frames as usize),
        join_pool: options.join_pool,
    };
    let mut run = Run::new(options.scenario.clone(), settings);
    let started = Instant::now();
    let mut last_note = started;
    let total = options.frames;
    let mut progress = |frame: u64| {
        if options.progress && frame.is_multiple_of(16) && last_note.elapsed() > Duration::from_secs(2) {
            last_note = Instant::now();
            let rate = frame as f64 / started.elapsed().as_secs_f64();
            eprintln!("genesis bench: frame {frame}/{total} ({rate:.0} Hz)");
        }
        ControlFlow::Continue(())
    };
    run.step(options.warmup, &mut progress);
    run.start_measuring();
    run.step(options.frames - options.warmup, &mut progress);
    let report = run.report();
    let world = run.world_mut();
    if let (Some(path), Some(file)) = (&options.series, series) {
        write_file(path, file, |w| crate::series::write_csv(&world.resource::<Series>().rows, w))?;
    }
    if let (Some(path), Some(file)) = (&options.dump, dump) {
        write_file(path, file, |w| crate::state::write_dump(world, w))?;
    }
    if let (Some(path), Some(file)) = (&options.json, json) {
        write_file(path, file, |w| writeln!(w, "{:#}", report_json(&report)))?;
    }
    Ok(report)
}

fn create(path: &Path) -> Result<File, String> {
    File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))
}

fn write_file(
    path: &Path,
    file: File,
    write: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), String> {
    let mut w = BufWriter::new(file);
    write(&mut w).and_then(|()| w.flush()).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Peak resident memory of this process (`VmHWM`), where the OS tells it.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The SPEC 6 report as JSON (plus the model parameters used).
pub fn report_json(r: &BenchReport) -> serde_json::Value {
    json!({
        "agents": r.agents,
        "frames": r.frames,
        "warmup": r.warmup,
        "threads": r.threads,
        "seed": r.seed,
        "isa": r.isa,
        "machine": r.machine.to_json(),
        "reorder_every": r.reorder_every,
        "hz": r.hz,
        "wall_seconds": r.wall_seconds,
        "frame_ms": { "p50": r.frame_ms_p50, "p99": r.frame_ms_p99, "max": r.frame_ms_max },
        "systems": r.systems.iter().map(|s| json!({ "name": s.name, "p50_us": s.p50_us, "p99_us": s.p99_us })).collect::<Vec<_>>(),
        "peak_rss_bytes": r.peak_rss_bytes,
        "anomalies_total": r.anomalies_total,
        "detection": {
            "recall": r.detection.recall(),
            "false_alarms_per_1000": r.detection.false_alarms_per_1000(),
            "witnesses": r.detection.witnesses,
            "noticed": r.detection.noticed,
            "false_alarms": r.detection.false_alarms,
        },
        "final": { "fused_mean": r.fused_mean, "fused_sd": r.fused_sd, "nbr_count_mean": r.nbr_count_mean },
        "datasets": r.datasets.iter().map(|d| d.to_json()).collect::<Vec<_>>(),
        "weights": if r.weights { "given" } else { "spec" },
        "config": config_json(&r.config),
    })
}

/// The model's parameters (all but the seed) as the report's `config`.
pub fn config_json(c: &ModelConfig) -> serde_json::Value {
    json!({
        "width": c.width, "height": c.height, "raster": c.raster, "channels": c.channels,
        "radius": c.radius, "neighbours": c.neighbours, "window": c.window,
        "z_threshold": c.z_threshold, "noise": c.noise, "dt": c.dt,
        "top_speed": c.top_speed, "hidden": c.hidden,
    })
}

/// The human-readable summary.
pub fn summary(r: &BenchReport) -> String {
    let mut s = String::new();
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!(
        "genesis bench: {} agents, {} frames ({} warm-up), {} threads, seed {}, {} build",
        r.agents, r.frames, r.warmup, r.threads, r.seed, r.isa
    ));
    line(format!("  machine    {}", r.machine.line()));
    line(format!(
        "  speed      {:.1} Hz   frame p50 {:.3} ms  p99 {:.3} ms  max {:.3} ms",
        r.hz, r.frame_ms_p50, r.frame_ms_p99, r.frame_ms_max
    ));
    line(format!("  {:<10} {:>10} {:>10}", "stage", "p50 µs", "p99 µs"));
    for st in &r.systems {
        line(format!("  {:<10} {:>10.1} {:>10.1}", st.name, st.p50_us, st.p99_us));
    }
    match r.peak_rss_bytes {
        Some(b) => line(format!(
            "  memory     peak RSS {:.1} MiB ({:.0} bytes per agent)",
            b as f64 / (1024.0 * 1024.0),
            b as f64 / r.agents.max(1) as f64
        )),
        None => line("  memory     peak RSS unknown on this OS".into()),
    }
    line(format!("  anomalies  {} in all, {} in the last frame", r.anomalies_total, r.anomalies_last_frame));
    let d = &r.detection;
    let recall = match d.recall() {
        Some(v) => format!("recall {:.3} ({} of {} agents near a starting event)", v, d.noticed, d.witnesses),
        None => "recall n/a (no event started)".into(),
    };
    line(format!("  awareness  {recall}; false alarms {:.4} per 1000 agent-frames", d.false_alarms_per_1000()));
    for data in &r.datasets {
        line(format!(
            "  loaded     {}: {} rows in {:.4} s ({:.0} MB/s)",
            data.path.display(),
            data.rows,
            data.parse_seconds(),
            data.megabytes_per_second()
        ));
    }
    s
}
