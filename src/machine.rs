//! The machine a figure comes from. The same binary has run 3× slower on
//! one host of a kind than another, so every figure Genesis reports (`bench`
//! text and JSON, `parse`, `sweep`'s summary, the desktop overlay) names
//! the processor, its logical cores, the instruction-set build that ran
//! (see [`Isa`], which `--isa` can narrow) and the compiler.

use std::sync::OnceLock;

use serde_json::{Value, json};

use crate::sim::parallel::Isa;

/// This machine and build.
#[derive(Clone, Debug, PartialEq)]
pub struct Machine {
    /// The processor's model name (`/proc/cpuinfo`), or `unknown processor`.
    pub processor: String,
    /// Logical cores this process may use.
    pub cores: usize,
    /// The widest instruction set the loops run with ([`Isa::best`]).
    pub isa: &'static str,
    /// The compiler that built this binary (`rustc --version`).
    pub rust: &'static str,
}

impl Machine {
    /// This machine, looked up on the first call (after `--isa` is set).
    pub fn this() -> Machine {
        static THIS: OnceLock<Machine> = OnceLock::new();
        THIS.get_or_init(Machine::look_up).clone()
    }

    fn look_up() -> Machine {
        Machine {
            processor: processor(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            isa: Isa::best().name(),
            rust: env!("GENESIS_RUSTC_VERSION"),
        }
    }

    /// The JSON reports' `machine` object.
    pub fn to_json(&self) -> Value {
        json!({ "processor": self.processor, "cores": self.cores, "isa": self.isa, "rust": self.rust })
    }

    /// One line for text reports: `AMD EPYC, 2 cores, avx512 build, rustc 1.95.0 (…)`.
    pub fn line(&self) -> String {
        format!("{}, {} cores, {} build, {}", self.processor, self.cores, self.isa, self.rust)
    }
}

/// The processor's model name, where the OS tells it.
fn processor() -> String {
    let from_cpuinfo = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|text| {
        text.lines()
            .find(|l| l.starts_with("model name") || l.starts_with("Model"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, name)| name.split_whitespace().collect::<Vec<_>>().join(" "))
    });
    from_cpuinfo.filter(|s| !s.is_empty()).unwrap_or_else(|| "unknown processor".into())
}

/// Bytes per agent a run holds besides its anomaly window: components and
/// their change ticks, entities, the grid and the space order. Measured
/// (peak RSS after 70 frames, AMD EPYC): 542 bytes per agent between
/// 20,000 and 50,000 agents and 548 at 1,000,000 with `--window 64`, 4
/// bytes more per window slot; channels and neighbours change it by less
/// than 1%. Rounded down, so the estimate stays below what a run takes.
const BYTES_PER_AGENT: u64 = 270;
/// Bytes per raster cell: eight channels of `f32` (whatever `--channels`).
const BYTES_PER_CELL: u64 = 32;
/// The process before any agent or raster (measured: 8.7 MB in all at 10
/// agents with a 2 MiB raster).
const BASE_BYTES: u64 = 4 << 20;

/// One part of what a run needs, named by the options that decide it.
#[derive(Clone, Debug, PartialEq)]
pub struct Need {
    /// The options, as the user gave them: `--agents 4000000000 with --window 64`.
    pub what: String,
    pub bytes: u64,
    /// The option to lower if this part is too big.
    pub lower: &'static str,
}

/// What one run of `agents` agents with `config` needs at least, by
/// option. A lower bound (pages a run touches), so a run that fits is
/// never refused.
pub fn run_needs(config: &crate::sim::ModelConfig, agents: u64) -> Vec<Need> {
    let per_agent = BYTES_PER_AGENT + 4 * config.window as u64;
    vec![
        Need {
            what: format!("--agents {agents} with --window {} ({per_agent} bytes per agent)", config.window),
            bytes: agents.saturating_mul(per_agent),
            lower: if per_agent > 2 * BYTES_PER_AGENT { "--agents or --window" } else { "--agents" },
        },
        Need {
            what: format!("--raster {} ({BYTES_PER_CELL} bytes per cell)", config.raster),
            bytes: (config.raster as u64).pow(2) * BYTES_PER_CELL,
            lower: "--raster",
        },
        Need { what: "the program".into(), bytes: BASE_BYTES, lower: "" },
    ]
}

/// Memory this process can still take: the kernel's `MemAvailable`, within
/// a container's limit (cgroup v2 `memory.max`), or `GENESIS_MEMORY_LIMIT`
/// (bytes) where set. `None` where the OS does not say.
pub fn available_memory() -> Option<(u64, &'static str)> {
    if let Some(limit) = std::env::var("GENESIS_MEMORY_LIMIT").ok().and_then(|v| v.trim().parse().ok()) {
        return Some((limit, "GENESIS_MEMORY_LIMIT"));
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let available = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())?
        * 1024;
    let read = |name: &str| -> Option<u64> {
        std::fs::read_to_string(format!("/sys/fs/cgroup/{name}")).ok()?.trim().parse().ok()
    };
    match (read("memory.max"), read("memory.current")) {
        (Some(max), Some(current)) if max.saturating_sub(current) < available => {
            Some((max.saturating_sub(current), "the container's memory.max"))
        }
        _ => Some((available, "MemAvailable")),
    }
}

/// Checks `needs` against the memory available before anything big is
/// allocated: too much is an error naming the options, the estimate and
/// what the machine has (where the OS tells it; else it passes).
pub fn check_memory(needs: &[Need]) -> Result<(), String> {
    let Some((available, source)) = available_memory() else { return Ok(()) };
    let total = needs.iter().fold(0u64, |sum, n| sum.saturating_add(n.bytes));
    if total <= available {
        return Ok(());
    }
    let biggest = needs.iter().max_by_key(|n| n.bytes).expect("at least one need");
    let parts: Vec<String> = needs
        .iter()
        .filter(|n| n.bytes >= total / 100 && !n.lower.is_empty())
        .map(|n| format!("{} needs about {}", n.what, bytes(n.bytes)))
        .collect();
    Err(format!(
        "not enough memory: {}; {} in all, but this machine has {} available ({source}); lower {}",
        parts.join(", "),
        bytes(total),
        bytes(available),
        biggest.lower
    ))
}

/// A byte count for people: `2.0 TiB`, `14.2 GiB`, `512 KiB`.
pub fn bytes(n: u64) -> String {
    let units = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} bytes") } else { format!("{value:.1} {}", units[unit]) }
}
