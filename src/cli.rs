//! The command line. It only parses and checks arguments, builds a
//! [`Scenario`] and options struct, and hands them to the module that does
//! the work. Invalid values get a message naming the option and exit code 2.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::bench::{self, BenchOptions};
use crate::sim::{EventSchedule, ModelConfig, Population, Scenario};

/// Genesis: a real-time environmental-awareness simulation.
///
/// Agents in a 2-D world sense eight environment channels, fuse them with
/// their neighbours' view, run a small neural network, flag anomalies with a
/// rolling z-score and move, every frame (see SPEC.md).
#[derive(Parser, Debug)]
#[command(name = "genesis", version, propagate_version = true, allow_negative_numbers = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the simulation headless (no window, no GPU) as fast as it can and
    /// report speed (Hz, frame and per-stage latency, memory) and awareness
    /// (anomalies, recall, false alarms).
    Bench(BenchArgs),
}

/// Options of `genesis bench`.
#[derive(Args, Debug, Clone)]
#[command(allow_negative_numbers = true)]
pub struct BenchArgs {
    /// Number of agents, spawned with ids 0..N at seeded positions.
    #[arg(long, default_value_t = 10_000, value_parser = count::<u32>(1))]
    pub agents: u32,
    /// Frames to simulate (warm-up included).
    #[arg(long, default_value_t = 1000, value_parser = count::<u64>(1))]
    pub frames: u64,
    /// Leading frames simulated but left out of the timing figures
    /// [default: a tenth of --frames].
    #[arg(long, value_parser = count::<u64>(0))]
    pub warmup: Option<u64>,
    /// Worker threads; 0 uses one per core. Results do not depend on it.
    #[arg(long, default_value_t = 0, value_parser = count::<usize>(0))]
    pub threads: usize,
    /// Write the JSON report (SPEC section 6) to FILE.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Write the state after the last frame as CSV (SPEC section 6) to FILE.
    #[arg(long, value_name = "FILE")]
    pub dump: Option<PathBuf>,
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
        let config = self.model.config();
        config.validate()?;
        let warmup = self.warmup.unwrap_or(self.frames / 10);
        if warmup >= self.frames {
            return Err(format!("--warmup ({warmup}) must be less than --frames ({})", self.frames));
        }
        Ok(BenchOptions {
            scenario: Scenario {
                config,
                population: Population::Generated(self.agents),
                events: EventSchedule::Default,
            },
            frames: self.frames,
            warmup,
            threads: self.threads,
            json: self.json.clone(),
            dump: self.dump.clone(),
            progress: !self.quiet,
        })
    }
}

/// Exit code for invalid arguments (clap uses the same).
const USAGE: u8 = 2;

/// Parses the process's arguments and runs the command.
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => {
            let options = match args.options() {
                Ok(options) => options,
                Err(message) => {
                    eprintln!("error: {message}");
                    return ExitCode::from(USAGE);
                }
            };
            match bench::run(&options) {
                Ok(report) => {
                    print!("{}", bench::summary(&report));
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("error: {message}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<BenchOptions, String> {
        let cli = Cli::try_parse_from(args).map_err(|e| e.to_string())?;
        let Command::Bench(b) = cli.command;
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
