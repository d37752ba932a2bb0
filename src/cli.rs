//! The command line. It only parses and checks arguments, builds a
//! [`Scenario`] and options struct, and hands them to the module that does
//! the work. Invalid values get a message naming the option and exit code 2.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::bench::{self, BenchOptions};
use crate::scenario::ScenarioFiles;
use crate::sim::parallel::Isa;
use crate::sim::{ModelConfig, Population, Scenario, SpaceOrder};
use crate::{csv, generate, sweep, weights};

/// Genesis: a real-time environmental-awareness simulation.
///
/// Agents in a 2-D world sense eight environment channels, fuse them with
/// their neighbours' view, run a small neural network, flag anomalies with a
/// rolling z-score and move, every frame (see SPEC.md).
///
/// With no command, opens the desktop simulation: the world and its agents
/// drawn live, with an overlay of speed, latency, anomalies and datasets
/// (press H in the window for the controls).
#[derive(Parser, Debug)]
#[command(
    name = "genesis",
    version,
    propagate_version = true,
    allow_negative_numbers = true,
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Run every loop built for this instruction set at most (default: the
    /// widest the processor has), to compare builds on one machine; the
    /// results are the same bits on each. `GENESIS_ISA` does the same for
    /// `cargo bench` and Python.
    #[arg(long, global = true, value_name = "ISA",
          value_parser = clap::builder::TypedValueParser::map(clap::builder::PossibleValuesParser::new(["baseline", "avx2", "avx512"]),
              |s| s.parse::<Isa>().expect("one of the possible values")))]
    pub isa: Option<Isa>,
    #[command(flatten)]
    pub desktop: DesktopArgs,
}

/// Options of the desktop simulation (`genesis` with no command).
#[derive(Args, Debug, Clone)]
pub struct DesktopArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    /// Worker threads for the simulation; 0 uses one per core.
    #[arg(long, default_value_t = 0, value_parser = count::<usize>(0))]
    pub threads: usize,
    /// Window size in pixels.
    #[arg(long, value_name = "WIDTHxHEIGHT", default_value = "1600x900", value_parser = window_size)]
    pub window_size: (u32, u32),
    /// Simulation frames per rendered frame (the simulation keeps its own
    /// clock: results do not depend on the render rate).
    #[arg(long, default_value_t = 1, value_parser = count::<u32>(1))]
    pub steps_per_frame: u32,
    /// Start paused.
    #[arg(long)]
    pub paused: bool,
    /// Show the neighbour graph from the start.
    #[arg(long)]
    pub graph: bool,
    /// Close the window after N rendered frames.
    #[arg(long, value_name = "N", value_parser = count::<u64>(1))]
    pub exit_after: Option<u64>,
    /// Save a PNG screenshot of the last frame before closing (needs
    /// --exit-after).
    #[arg(long, value_name = "FILE", requires = "exit_after")]
    pub screenshot: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// `1280x720` → `(1280, 720)`.
fn window_size(s: &str) -> Result<(u32, u32), String> {
    let size = s.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse().ok()?, h.trim().parse().ok()?)));
    match size {
        Some((w, h)) if (100..=16384).contains(&w) && (100..=16384).contains(&h) => Ok((w, h)),
        _ => Err(format!("expected WIDTHxHEIGHT with each side 100 to 16384 pixels, got '{s}'")),
    }
}

// Parsed once per process: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the simulation headless (no window, no GPU) as fast as it can and
    /// report speed (Hz, frame and per-stage latency, memory) and awareness
    /// (anomalies, recall, false alarms).
    Bench(BenchArgs),
    /// Parse any CSV file into typed columns and print its dataset
    /// statistics: rows, columns, bytes, parse time and throughput, and per
    /// column its type, missing count, min, max and mean.
    Parse(ParseArgs),
    /// Write example scenario files (agents.csv, events.csv, trace.csv) of
    /// any size, seeded, for `bench --agents-csv/--events-csv/--trace-csv`
    /// and for `parse`.
    Gen(GenArgs),
    /// Run the model many times, headless, across lists or ranges of any
    /// model option and seeds (every combination), several runs at a time,
    /// one CSV row per run in --out. Run again with the same --out to resume.
    ///
    /// Values: a list `1000,10000`, a range `start:end:step` (`5:20:5` is
    /// 5,10,15,20), or for whole numbers `a..b` (both ends included).
    Sweep(SweepArgs),
}

/// How long a run is, shared by `bench` and `sweep`.
#[derive(Args, Debug, Clone)]
pub struct RunLength {
    /// Frames to simulate per run (warm-up included).
    #[arg(long, default_value_t = 1000, value_parser = count::<u64>(1))]
    pub frames: u64,
    /// Leading frames simulated but left out of the timing figures
    /// [default: a tenth of --frames].
    #[arg(long, value_parser = count::<u64>(0))]
    pub warmup: Option<u64>,
}

impl RunLength {
    /// `(frames, warmup)`, the warm-up defaulted and checked to leave at
    /// least one measured frame.
    pub fn frames_and_warmup(&self) -> Result<(u64, u64), String> {
        crate::bench::frames_and_warmup(self.frames, self.warmup)
    }
}

/// Options of `genesis sweep`: every model option takes a list of values.
#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct SweepArgs {
    /// Output CSV, one row per run; an existing file is resumed.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write the summary (per parameter group, mean and spread over
    /// seeds) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    #[command(flatten)]
    pub length: RunLength,
    /// Runs at a time (each on one thread); 0 uses one per core.
    #[arg(long, default_value_t = 0, value_parser = count::<usize>(0))]
    pub jobs: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Run only the K-th of N slices of the combinations (every N-th run
    /// from the K-th), so a job array can split a sweep: `--shard 3/8`.
    /// Join the slices' files with --merge.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<sweep::Shard>,
    /// Join these sweep files (shards, or pieces run elsewhere) into
    /// --out, each run once, checking that they come from the same sweep;
    /// runs nothing (the run options are ignored).
    #[arg(long, value_name = "FILE", num_args = 1.., conflicts_with_all = ["shard", "max_runs", "weights"])]
    pub merge: Vec<PathBuf>,
    /// Stop after this many new runs (for testing resumption).
    #[arg(long, hide = true)]
    pub max_runs: Option<usize>,
    /// Every run's MLP weights from a safetensors file (as `bench
    /// --weights`); resume a sweep with the same file.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Agent counts.
    #[arg(long, default_value = "10000")]
    pub agents: String,
    /// Seeds.
    #[arg(long, alias = "seed", default_value = "42")]
    pub seeds: String,
    /// World widths W.
    #[arg(long, default_value = "1000")]
    pub width: String,
    /// World heights H.
    #[arg(long, default_value = "1000")]
    pub height: String,
    /// Raster sides G.
    #[arg(long, default_value = "256")]
    pub raster: String,
    /// Sensor channel counts S.
    #[arg(long, default_value = "8")]
    pub channels: String,
    /// Neighbour radii R.
    #[arg(long, default_value = "10")]
    pub radius: String,
    /// Neighbour counts K.
    #[arg(long, short = 'k', default_value = "16")]
    pub neighbours: String,
    /// Anomaly windows WIN.
    #[arg(long, default_value = "64")]
    pub window: String,
    /// Anomaly z thresholds.
    #[arg(long, default_value = "4")]
    pub z_threshold: String,
    /// Noise amplitudes σ.
    #[arg(long, default_value = "0.05")]
    pub noise: String,
    /// Time steps dt [default: 1/60].
    #[arg(long, default_value = "0.016666668", hide_default_value = true)]
    pub dt: String,
    /// Top speeds.
    #[arg(long, default_value = "30")]
    pub top_speed: String,
    /// MLP hidden units.
    #[arg(long, default_value = "16")]
    pub hidden: String,
}

impl SweepArgs {
    /// Checks the value lists and every combination, and builds the sweep.
    pub fn options(&self) -> Result<sweep::SweepOptions, String> {
        use sweep::parse_values as values;
        let axes = [
            values("agents", &self.agents, true)?,
            values("width", &self.width, false)?,
            values("height", &self.height, false)?,
            values("raster", &self.raster, true)?,
            values("channels", &self.channels, true)?,
            values("radius", &self.radius, false)?,
            values("neighbours", &self.neighbours, true)?,
            values("window", &self.window, true)?,
            values("z-threshold", &self.z_threshold, false)?,
            values("noise", &self.noise, false)?,
            values("dt", &self.dt, false)?,
            values("top-speed", &self.top_speed, false)?,
            values("hidden", &self.hidden, true)?,
            values("seeds", &self.seeds, true)?,
        ];
        let mut runs = sweep::plan(&axes, self.weights.as_deref())?;
        if let Some(shard) = self.shard {
            runs = shard.select(&runs);
        }
        let jobs = sweep::jobs_or_cores(self.jobs);
        sweep::check_memory(&runs, jobs)?;
        let (frames, warmup) = self.length.frames_and_warmup()?;
        Ok(sweep::SweepOptions {
            runs,
            settings: sweep::RowSettings { frames, warmup, threads: 1, weights: self.weights.clone() },
            jobs,
            out: self.out.clone(),
            json: self.json.clone(),
            max_runs: self.max_runs,
            progress: !self.quiet,
            cancel: None,
        })
    }
}

/// Options of `genesis gen`.
#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct GenArgs {
    /// Folder to write into (created if needed).
    #[arg(long, default_value = "scenario")]
    pub out: PathBuf,
    /// Agents in agents.csv.
    #[arg(long, default_value_t = 10_000, value_parser = count::<u32>(1))]
    pub agents: u32,
    /// Events in events.csv.
    #[arg(long, default_value_t = 20, value_parser = count::<u32>(0))]
    pub events: u32,
    /// Rows in trace.csv (up to 1,000 agents per frame, consecutive frames).
    #[arg(long, default_value_t = 10_000, value_parser = count::<u64>(0))]
    pub trace_rows: u64,
    /// Seed of the generated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// World width the positions fall in.
    #[arg(long, default_value_t = 1000.0, value_parser = positive)]
    pub width: f32,
    /// World height the positions fall in.
    #[arg(long, default_value_t = 1000.0, value_parser = positive)]
    pub height: f32,
    /// Sensor channels (trace columns s0.., event channels 0..).
    #[arg(long, default_value_t = 8, value_parser = count::<usize>(1))]
    pub channels: usize,
    /// Write SPEC's default world instead of random example data: the
    /// agents of SPEC 1's spawn (for --agents, --seed, --width, --height)
    /// and the events of SPEC 3's default schedule starting before
    /// --frames; no trace. The desktop app's built-in scenario is
    /// `--spec-default --frames 1000000`.
    #[arg(long)]
    pub spec_default: bool,
    /// With --spec-default: the frames the events cover.
    #[arg(long, default_value_t = 1_000_000, value_parser = count::<u64>(1), requires = "spec_default")]
    pub frames: u64,
}

/// Options of `genesis parse`.
#[derive(Args, Debug, Clone)]
pub struct ParseArgs {
    /// The CSV file; `-` reads standard input. Its dialect (delimiter,
    /// quote, escape, line end, header, lines before the table, encoding)
    /// is detected unless forced by the options below.
    pub file: PathBuf,
    /// Field delimiter: a character, or tab, space (default: detected
    /// among , ; tab | space).
    #[arg(long, value_parser = csv::dialect::parse_delimiter)]
    pub delimiter: Option<u8>,
    /// Quote character, or `none` (default: detected among " ' none).
    #[arg(long, value_parser = |s: &str| csv::dialect::parse_quote(s).map(MaybeByte))]
    pub quote: Option<MaybeByte>,
    /// How a quote is written inside quotes: `double` ("") or `backslash`
    /// (\"); with `--quote none`, a backslash makes the next byte data
    /// anywhere, delimiters and line ends included (default: detected).
    #[arg(long, value_parser = |s: &str| csv::dialect::parse_escape(s).map(MaybeByte))]
    pub escape: Option<MaybeByte>,
    /// The first row is data, not names: columns are column_1, column_2, ...
    #[arg(long)]
    pub no_header: bool,
    /// The first row holds the column names (the default when detected).
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// Lines to skip before the header (a title, notes) (default: detected).
    #[arg(long, value_name = "N")]
    pub skip_rows: Option<usize>,
    /// Text encoding: utf-8, windows-1252 or latin-1 (default: UTF-8, else
    /// Windows-1252, converted to UTF-8).
    #[arg(long, value_parser = str::parse::<csv::Encoding>)]
    pub encoding: Option<csv::Encoding>,
    /// Line ends: lf (also CRLF) or cr (default: detected).
    #[arg(long, value_parser = str::parse::<csv::dialect::LineEnd>)]
    pub line_end: Option<csv::dialect::LineEnd>,
    /// The numbers' decimal mark: `.` or `,` (1,5) (default: `,` where the
    /// delimiter is not a comma and the numbers are written so, else `.`).
    #[arg(long, value_parser = csv::dialect::parse_decimal)]
    pub decimal: Option<u8>,
    /// Rows with another number of fields than the header: `pad` fills
    /// short rows with missing values and drops the extra fields of long
    /// ones (as pandas and polars pad short rows), `skip` leaves them out,
    /// `error` stops at the first. Each is counted in the report.
    #[arg(long, default_value = "pad", value_parser = str::parse::<csv::BadRows>)]
    pub bad_rows: csv::BadRows,
    /// Write every such row to FILE as CSV: line, column, reason, raw line.
    #[arg(long, value_name = "FILE")]
    pub rejects: Option<PathBuf>,
    /// Write the table as read to FILE: RFC 4180 (comma, quotes only where
    /// needed, LF, UTF-8, a header row); `-` writes to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Also write the statistics as JSON to OUT.
    #[arg(long, value_name = "OUT")]
    pub json: Option<PathBuf>,
    /// Parsing threads; 0 uses one per core.
    #[arg(long, default_value_t = 0, value_parser = count::<usize>(0))]
    pub threads: usize,
    /// Parse the file N times in this process (each from opening the file
    /// to typed columns, the last table dropped first) and report the
    /// fastest, as the Python peers in `benches/compare.sh` are timed; the
    /// first run's time is reported too.
    #[arg(long, default_value_t = 1, value_name = "N", value_parser = count::<usize>(1))]
    pub repeat: usize,
}

/// Where the agents, events and readings come from: shared by `bench` and
/// the desktop app.
#[derive(Args, Debug, Clone)]
pub struct ScenarioArgs {
    /// Number of agents, spawned with ids 0..N at seeded positions.
    #[arg(long, default_value_t = 10_000, value_parser = count::<u32>(1), conflicts_with = "agents_csv")]
    pub agents: u32,
    /// Load the agents from a CSV file (columns id,x,y and optional heading)
    /// instead of generating them.
    #[arg(long, value_name = "FILE")]
    pub agents_csv: Option<PathBuf>,
    /// Load the events from a CSV file (start,end,x,y,radius,channel,magnitude),
    /// replacing the default schedule.
    #[arg(long, value_name = "FILE")]
    pub events_csv: Option<PathBuf>,
    /// Replay recorded sensor readings (frame,agent,s0..s7) in place of
    /// sensing for the (frame, agent) pairs the file holds.
    #[arg(long, value_name = "FILE")]
    pub trace_csv: Option<PathBuf>,
    /// Run the MLP with trained weights from a safetensors file (float32
    /// tensors w1: S×hidden, b1: hidden, w2: hidden×4, b2: 4) instead of
    /// SPEC's.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
}

impl ScenarioArgs {
    pub fn files(&self) -> ScenarioFiles {
        ScenarioFiles {
            agents: self.agents_csv.clone(),
            events: self.events_csv.clone(),
            trace: self.trace_csv.clone(),
        }
    }

    /// The scenario of these options and `config` (checked), files not yet
    /// loaded.
    pub fn scenario(&self, config: ModelConfig) -> Result<Scenario, String> {
        config.validate()?;
        Ok(Scenario { config, population: Population::Generated(self.agents), ..Scenario::default() })
    }

    /// Loads the scenario files and the weights into `scenario`.
    /// Checks that a run of `scenario` fits in the memory available,
    /// before anything big is allocated: with `files`, also the scenario
    /// files still to be loaded (each about twice its size once parsed).
    pub fn check_memory(&self, scenario: &Scenario, files: bool) -> Result<(), String> {
        let mut needs = crate::machine::run_needs(&scenario.config, scenario.population.len() as u64);
        let named =
            [("--agents-csv", &self.agents_csv), ("--events-csv", &self.events_csv), ("--trace-csv", &self.trace_csv)];
        for (option, path) in named.into_iter().filter(|_| files) {
            if let Some(path) = path
                && let Ok(meta) = std::fs::metadata(path)
            {
                let what = format!("{option} {} ({} file)", path.display(), crate::machine::bytes(meta.len()));
                needs.push(crate::machine::Need { what, bytes: meta.len().saturating_mul(2), lower: option });
            }
        }
        crate::machine::check_memory(&needs)
    }

    pub fn load_into(&self, scenario: &mut Scenario) -> Result<(), String> {
        self.files().load_into(scenario).map_err(|e| e.to_string())?;
        if let Some(path) = &self.weights {
            scenario.weights = Some(weights::load(path, &scenario.config)?);
        }
        Ok(())
    }
}

/// Options of `genesis bench`.
#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct BenchArgs {
    #[command(flatten)]
    pub scenario: ScenarioArgs,
    #[command(flatten)]
    pub length: RunLength,
    /// Worker threads; 0 uses one per core. Results do not depend on it.
    #[arg(long, default_value_t = 0, value_parser = count::<usize>(0))]
    pub threads: usize,
    /// Put the agents back in space order (for cache locality) at frame 1
    /// and every N frames; 0 never does. Results do not depend on it.
    #[arg(long, value_name = "N", default_value_t = SpaceOrder::default().every)]
    pub reorder_every: u64,
    /// Write the JSON report (SPEC section 6) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the state after the last frame as CSV (SPEC section 6) to FILE.
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
    /// Write a time series to FILE: one CSV row per frame (anomalies, mean
    /// and spread of fused, mean neighbour count, recall so far, each
    /// stage's time in µs).
    #[arg(long, value_name = "FILE")]
    pub series: Option<PathBuf>,
    /// No progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The model's parameters (SPEC section 5), each with the SPEC default.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Seed of every random number: positions, noise, events.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// World width W.
    #[arg(long, default_value_t = 1000.0, value_parser = positive)]
    pub width: f32,
    /// World height H.
    #[arg(long, default_value_t = 1000.0, value_parser = positive)]
    pub height: f32,
    /// Background raster side G (cells per axis).
    #[arg(long, default_value_t = 256, value_parser = count::<usize>(1))]
    pub raster: usize,
    /// Sensor channels S (1 to 8).
    #[arg(long, default_value_t = 8, value_parser = count::<usize>(1))]
    pub channels: usize,
    /// Neighbour radius R.
    #[arg(long, default_value_t = 10.0, value_parser = positive)]
    pub radius: f32,
    /// Neighbours kept per agent, K (nearest first, ties by smaller id; 1 to 64).
    #[arg(long, short = 'k', default_value_t = 16, value_parser = count::<usize>(1))]
    pub neighbours: usize,
    /// Anomaly window WIN: past fused values per agent.
    #[arg(long, default_value_t = 64, value_parser = count::<usize>(1))]
    pub window: usize,
    /// Anomaly when the z-score exceeds this.
    #[arg(long, default_value_t = 4.0, value_parser = non_negative)]
    pub z_threshold: f32,
    /// Sensor noise amplitude σ.
    #[arg(long, default_value_t = 0.05, value_parser = non_negative)]
    pub noise: f32,
    /// Time step dt, in seconds [default: 1/60].
    #[arg(long, default_value_t = 1.0 / 60.0, hide_default_value = true, value_parser = positive)]
    pub dt: f32,
    /// Top speed (at MLP output y3 = 1), in world units per second.
    #[arg(long, default_value_t = 30.0, value_parser = non_negative)]
    pub top_speed: f32,
    /// Hidden units of the MLP (S → hidden → 4).
    #[arg(long, default_value_t = 16, value_parser = count::<usize>(1))]
    pub hidden: usize,
}

impl ModelArgs {
    pub fn config(&self) -> ModelConfig {
        ModelConfig {
            seed: self.seed,
            width: self.width,
            height: self.height,
            raster: self.raster,
            channels: self.channels,
            radius: self.radius,
            neighbours: self.neighbours,
            window: self.window,
            z_threshold: self.z_threshold,
            noise: self.noise,
            dt: self.dt,
            top_speed: self.top_speed,
            hidden: self.hidden,
        }
    }
}

/// A whole number of at least `min`, with a message that says so.
fn count<T>(min: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy + Send + Sync + 'static,
{
    move |s: &str| match s.trim().parse::<T>() {
        Ok(v) if v >= min => Ok(v),
        _ => Err(format!("expected a whole number ≥ {min}, got '{s}'")),
    }
}

fn positive(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a finite number > 0, got '{s}'")),
    }
}

fn non_negative(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("expected a finite number ≥ 0, got '{s}'")),
    }
}

impl BenchArgs {
    /// Checks the options together and builds the benchmark's options.
    pub fn options(&self) -> Result<BenchOptions, String> {
        let scenario = self.scenario.scenario(self.model.config())?;
        let (frames, warmup) = self.length.frames_and_warmup()?;
        Ok(BenchOptions {
            scenario,
            frames,
            warmup,
            threads: self.threads,
            json: self.json.clone(),
            dump: self.dump.clone(),
            series: self.series.clone(),
            progress: !self.quiet,
            reorder_every: self.reorder_every,
            // The command runs one benchmark and exits.
            join_pool: true,
        })
    }
}

/// Why a command failed, which decides the exit code.
enum Failure {
    /// Invalid arguments: exit code 2, as clap uses.
    Usage(String),
    /// Anything else (bad input files, I/O): exit code 1.
    Run(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Run(message)
    }
}

fn bench_command(args: &BenchArgs) -> Result<(), Failure> {
    let mut options = args.options().map_err(Failure::Usage)?;
    args.scenario.check_memory(&options.scenario, true).map_err(Failure::Usage)?;
    args.scenario.load_into(&mut options.scenario)?;
    args.scenario.check_memory(&options.scenario, false).map_err(Failure::Usage)?;
    let report = bench::run(&options)?;
    print!("{}", bench::summary(&report));
    Ok(())
}

/// A quote or escape byte, or none (`--quote none`, `--escape double`).
#[derive(Clone, Copy, Debug)]
pub struct MaybeByte(pub Option<u8>);

impl ParseArgs {
    /// The parse options these arguments ask for.
    pub fn options(&self) -> Result<csv::ParseOptions, String> {
        let dialect = csv::DialectOptions {
            delimiter: self.delimiter,
            quote: self.quote.map(|q| q.0),
            escape: self.escape.map(|e| e.0),
            header: if self.no_header {
                Some(false)
            } else if self.header {
                Some(true)
            } else {
                None
            },
            skip_lines: self.skip_rows,
            encoding: self.encoding,
            line_end: self.line_end,
            decimal: self.decimal,
        };
        dialect.validate()?;
        Ok(csv::ParseOptions {
            dialect,
            bad_rows: self.bad_rows,
            keep_rejects: self.rejects.is_some(),
            ..csv::ParseOptions::default()
        })
    }
}

/// Creates `path` (`-`: standard output) and writes into it, through a
/// buffer small enough that writes of whole blocks of rows bypass it (a
/// larger one would copy every block once more).
fn write_to(path: &Path, write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>) -> Result<(), String> {
    let result = if path == Path::new("-") {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(64 << 10, stdout.lock());
        write(&mut out).and_then(|_| std::io::Write::flush(&mut out))
    } else {
        std::fs::File::create(path).and_then(|file| {
            let mut out = std::io::BufWriter::with_capacity(64 << 10, file);
            write(&mut out).and_then(|_| std::io::Write::flush(&mut out))
        })
    };
    result.map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn parse_command(args: &ParseArgs) -> Result<(), Failure> {
    let options = args.options().map_err(Failure::Usage)?;
    if args.file == Path::new("-") && args.repeat > 1 {
        return Err(Failure::Usage("--repeat needs a file: standard input can be read once".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(args.threads).build().map_err(|e| e.to_string())?;
    let read = || pool.install(|| csv::read_file(&args.file, options)).map_err(|e| e.to_string());
    let mut loaded = read()?;
    let mut times = vec![loaded.parse_seconds];
    for _ in 1..args.repeat {
        drop(loaded);
        loaded = read()?;
        times.push(loaded.parse_seconds);
    }
    let stats = pool.install(|| csv::DatasetStats::of(&loaded)).with_times(&times);
    let machine = crate::machine::Machine::this();
    if let Some(out) = &args.out {
        let started = std::time::Instant::now();
        pool.install(|| write_to(out, |w| csv::write::write_table(&loaded.table, w)))?;
        if out != Path::new("-") {
            let bytes = std::fs::metadata(out).map(|m| m.len()).unwrap_or(0);
            let seconds = started.elapsed().as_secs_f64();
            eprintln!(
                "genesis parse: wrote {} ({bytes} bytes) in {seconds:.4} s: {:.1} MB/s",
                out.display(),
                bytes as f64 / 1e6 / seconds.max(1e-9)
            );
        }
    }
    if let Some(path) = &args.rejects {
        let damage = &loaded.table.damage;
        write_to(path, |w| csv::write::write_rejects(&damage.rejects, loaded.table.columns.len(), w))?;
    }
    // With the table on standard output, the report goes to standard error.
    let report =
        format!("{}  machine    {}, {} parse threads\n", stats.summary(), machine.line(), pool.current_num_threads());
    if args.out.as_deref() == Some(Path::new("-")) {
        eprint!("{report}");
    } else {
        print!("{report}");
    }
    if stats.bad_rows() > 0 && args.rejects.is_none() {
        eprintln!("genesis parse: {} row(s) did not fit the header; --rejects FILE lists them", stats.bad_rows());
    }
    if let Some(out) = &args.json {
        let mut json = stats.to_json();
        json["machine"] = machine.to_json();
        let text = format!("{json:#}\n");
        std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    }
    Ok(())
}

fn gen_command(args: &GenArgs) -> Result<(), Failure> {
    let config = ModelConfig {
        width: args.width,
        height: args.height,
        channels: args.channels,
        seed: args.seed,
        ..ModelConfig::default()
    };
    config.validate().map_err(Failure::Usage)?;
    if args.spec_default {
        let files = generate::write_spec_default(&args.out, &config, args.agents, args.frames)
            .map_err(|e| format!("cannot write into {}: {e}", args.out.display()))?;
        for f in [files.agents, files.events] {
            println!("wrote {}", f.display());
        }
        return Ok(());
    }
    let options = generate::GenOptions {
        dir: args.out.clone(),
        agents: args.agents,
        events: args.events,
        trace_rows: args.trace_rows,
        seed: args.seed,
        config,
    };
    let files = generate::generate(&options).map_err(|e| format!("cannot write into {}: {e}", args.out.display()))?;
    for f in [files.agents, files.events, files.trace] {
        println!("wrote {}", f.display());
    }
    Ok(())
}

fn sweep_command(args: &SweepArgs) -> Result<(), Failure> {
    let mut failures = Vec::new();
    if args.merge.is_empty() {
        let options = args.options().map_err(Failure::Usage)?;
        if let Some(shard) = args.shard
            && !args.quiet
        {
            eprintln!("genesis sweep: shard {shard}, {} runs", options.runs.len());
        }
        failures = sweep::run(&options)?.failures;
    } else {
        let merged = sweep::merge(&args.merge, &args.out)?;
        for path in &merged.torn {
            eprintln!(
                "genesis sweep: {}: its last row was cut short and is left out (resume that sweep)",
                path.display()
            );
        }
        eprintln!(
            "genesis sweep: merged {} files into {}: {} runs, {} duplicates dropped",
            args.merge.len(),
            args.out.display(),
            merged.rows,
            merged.duplicates
        );
    }
    let (table, json) = sweep::summarize(&args.out)?;
    print!("{table}");
    if let Some(path) = &args.json {
        std::fs::write(path, format!("{json:#}\n")).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if failures.is_empty() {
        return Ok(());
    }
    for failure in &failures {
        eprintln!("genesis sweep: {failure}");
    }
    Err(Failure::Run(format!(
        "{} runs failed (listed above); the others are in {}; run the same command again to retry them",
        failures.len(),
        args.out.display()
    )))
}

#[cfg(feature = "desktop")]
fn desktop_command(args: &DesktopArgs) -> Result<(), Failure> {
    let mut scenario = args.scenario.scenario(args.model.config()).map_err(Failure::Usage)?;
    args.scenario.check_memory(&scenario, true).map_err(Failure::Usage)?;
    args.scenario.load_into(&mut scenario)?;
    // The default world runs from its built-in files, so the overlay shows
    // parsed data from the first run (and computes what `bench` does).
    crate::scenario::embedded_default(&mut scenario).map_err(|e| e.to_string())?;
    args.scenario.check_memory(&scenario, false).map_err(Failure::Usage)?;
    crate::desktop::run(crate::desktop::DesktopOptions {
        scenario,
        files: args.scenario.files(),
        threads: args.threads,
        window: args.window_size,
        steps_per_frame: args.steps_per_frame,
        paused: args.paused,
        show_graph: args.graph,
        exit_after: args.exit_after,
        screenshot: args.screenshot.clone(),
    })?;
    Ok(())
}

#[cfg(not(feature = "desktop"))]
fn desktop_command(_: &DesktopArgs) -> Result<(), Failure> {
    Err(Failure::Usage(
        "this genesis was built without the desktop window (feature `desktop`); \
         run a command such as `genesis bench`, or see `genesis --help`"
            .into(),
    ))
}

/// Parses the process's arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    if let Some(isa) = cli.isa
        && let Err(message) = Isa::set_limit(isa)
    {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    let result = match cli.command {
        None => desktop_command(&cli.desktop),
        Some(Command::Bench(args)) => bench_command(&args),
        Some(Command::Parse(args)) => parse_command(&args),
        Some(Command::Gen(args)) => gen_command(&args),
        Some(Command::Sweep(args)) => sweep_command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchOptions, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let Some(Command::Bench(b)) = cli.command else { panic!("not bench") };
        b.options()
    }

    #[test]
    fn defaults_are_the_spec_defaults() {
        let o = parse(&["genesis", "bench"]).unwrap();
        assert_eq!(o.scenario.config, ModelConfig::default());
        assert_eq!(o.scenario.population, Population::Generated(10_000));
        assert_eq!((o.frames, o.warmup, o.threads), (1000, 100, 0));
    }

    #[test]
    fn no_command_is_the_desktop_with_bench_like_options() {
        let cli =
            Cli::try_parse_from(["genesis", "--agents", "2000", "--seed", "7", "--window-size", "800x600"]).unwrap();
        assert!(cli.command.is_none());
        let d = cli.desktop;
        assert_eq!((d.scenario.agents, d.model.seed, d.window_size, d.steps_per_frame), (2000, 7, (800, 600), 1));
        assert_eq!(d.model.config(), ModelConfig { seed: 7, ..ModelConfig::default() });
        for (args, needle) in [
            (&["genesis", "--window-size", "800"][..], "--window-size"),
            (&["genesis", "--window-size", "20x20"][..], "--window-size"),
            (&["genesis", "--screenshot", "a.png"][..], "--exit-after"),
            (&["genesis", "--steps-per-frame", "0"][..], "--steps-per-frame"),
        ] {
            let err = Cli::try_parse_from(args).expect_err(&format!("{args:?} accepted")).to_string();
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        // Desktop options do not mix with a command.
        assert!(Cli::try_parse_from(["genesis", "--paused", "bench"]).is_err());
    }

    #[test]
    fn invalid_values_are_refused_with_the_option_named() {
        for (args, needle) in [
            (&["genesis", "bench", "--agents", "-5"][..], "--agents"),
            (&["genesis", "bench", "--frames", "0"][..], "--frames"),
            (&["genesis", "bench", "--radius", "0"][..], "--radius"),
            (&["genesis", "bench", "--radius", "-1"][..], "--radius"),
            (&["genesis", "bench", "--noise", "nan"][..], "--noise"),
            (&["genesis", "bench", "--channels", "9"][..], "--channels"),
            (&["genesis", "bench", "-k", "65"][..], "--neighbours"),
            (&["genesis", "bench", "--frames", "10", "--warmup", "10"][..], "--warmup"),
        ] {
            let err = parse(args).expect_err(&format!("{args:?} accepted"));
            assert!(err.contains(needle), "{args:?}: {err}");
        }
    }
}
