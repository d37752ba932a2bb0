//! `genesis gen`: example scenario files of any size (agents, events and a
//! recorded sensor trace), seeded, so users and benchmarks have data; and
//! with `--spec-default`, SPEC's default world itself as files (the
//! scenario the desktop app embeds, [`crate::scenario::embedded_default`]).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::sim::ModelConfig;

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    pub dir: PathBuf,
    pub agents: u32,
    pub events: u32,
    pub trace_rows: u64,
    pub seed: u64,
    pub config: ModelConfig,
}

/// The files written.
pub struct Generated {
    pub agents: PathBuf,
    pub events: PathBuf,
    pub trace: PathBuf,
}

fn writer(path: &Path) -> io::Result<BufWriter<File>> {
    Ok(BufWriter::with_capacity(1 << 20, File::create(path)?))
}

const KINDS: [&str; 4] = ["scout", "relay, mobile", "\"sentinel\"", "drone"];

/// Writes `agents.csv`, `events.csv` and `trace.csv` into `options.dir`.
pub fn generate(options: &GenOptions) -> io::Result<Generated> {
    std::fs::create_dir_all(&options.dir)?;
    let mut rng = StdRng::seed_from_u64(options.seed);
    let c = &options.config;
    let out = Generated {
        agents: options.dir.join("agents.csv"),
        events: options.dir.join("events.csv"),
        trace: options.dir.join("trace.csv"),
    };

    // Agents: the required columns plus a quoted text column, which the
    // loader ignores but which exercises quoting.
    let mut w = writer(&out.agents)?;
    writeln!(w, "id,x,y,heading,kind")?;
    for id in 0..options.agents {
        let kind = KINDS[rng.random_range(0..KINDS.len())];
        let kind =
            if kind.contains([',', '"']) { format!("\"{}\"", kind.replace('"', "\"\"")) } else { kind.to_string() };
        writeln!(
            w,
            "{id},{:.3},{:.3},{:.4},{kind}",
            rng.random_range(0.0..c.width),
            rng.random_range(0.0..c.height),
            rng.random_range(-std::f32::consts::PI..std::f32::consts::PI),
        )?;
    }
    w.flush()?;

    let mut w = writer(&out.events)?;
    writeln!(w, "start,end,x,y,radius,channel,magnitude")?;
    for _ in 0..options.events {
        let start = rng.random_range(0..2000u64);
        writeln!(
            w,
            "{start},{},{:.2},{:.2},{:.1},{},{:.2}",
            start + rng.random_range(30..120u64),
            rng.random_range(0.0..c.width),
            rng.random_range(0.0..c.height),
            rng.random_range(20.0..80.0f32),
            rng.random_range(0..c.channels),
            rng.random_range(0.5..3.0f32),
        )?;
    }
    w.flush()?;

    // Trace: consecutive frames, the first agents of each, sorted by
    // (frame, agent) as a recorder would write them.
    let mut w = writer(&out.trace)?;
    let channels: Vec<String> = (0..c.channels).map(|i| format!("s{i}")).collect();
    writeln!(w, "frame,agent,{}", channels.join(","))?;
    let per_frame = options.agents.clamp(1, 1000) as u64;
    for row in 0..options.trace_rows.min(per_frame * u32::MAX as u64) {
        let (frame, agent) = (row / per_frame, row % per_frame);
        write!(w, "{frame},{agent}")?;
        for _ in 0..c.channels {
            write!(w, ",{:.4}", 0.5 + rng.random_range(-0.3..0.3f32))?;
        }
        writeln!(w)?;
    }
    w.flush()?;
    Ok(out)
}

/// Writes SPEC's default world as scenario files: `agents.csv` holds the
/// agents of SPEC 1's spawn (`id,x,y,heading`) and `events.csv` the events
/// of SPEC 3's default schedule that start before `frames`. Values are
/// written in the shortest form that reads back as the same `f32`, so a
/// run loaded from the files computes what the generated world computes.
pub fn write_spec_default(dir: &Path, config: &ModelConfig, agents: u32, frames: u64) -> io::Result<Generated> {
    use crate::sim::agents::generated_agent;
    use crate::sim::environment::default_event;
    std::fs::create_dir_all(dir)?;
    let out = Generated { agents: dir.join("agents.csv"), events: dir.join("events.csv"), trace: PathBuf::new() };
    let mut w = writer(&out.agents)?;
    writeln!(w, "id,x,y,heading")?;
    for id in 0..agents {
        let a = generated_agent(config, id);
        writeln!(w, "{id},{},{},{}", a.x, a.y, a.heading.expect("a generated agent has its heading"))?;
    }
    w.flush()?;
    let mut w = writer(&out.events)?;
    writeln!(w, "start,end,x,y,radius,channel,magnitude")?;
    for k in 0.. {
        let e = default_event(config, k);
        if e.start >= frames {
            break;
        }
        writeln!(w, "{},{},{},{},{},{},{}", e.start, e.end, e.x, e.y, e.radius, e.channel, e.magnitude)?;
    }
    w.flush()?;
    Ok(out)
}
