//! `cargo bench`: the headless pipeline at several sizes, on one thread and
//! on all cores, from one run. Figures are printed as Hz and per-stage p50,
//! with the all-core run as a ratio of the one-thread baseline (absolute
//! times on a shared machine are noisy; ratios from one run are not).
//!
//! `GENESIS_BENCH_SIZES=10000,100000,1000000` picks the agent counts.

use genesis::bench::{self, BenchOptions, BenchReport};
use genesis::sim::{EventSchedule, ModelConfig, Population, Scenario};

fn run(agents: u32, threads: usize) -> BenchReport {
    // Enough frames for a steady figure, fewer for big worlds.
    let frames = (2_000_000_000 / (agents as u64 * 1000)).clamp(20, 1000);
    let scenario = Scenario {
        config: ModelConfig::default(),
        population: Population::Generated(agents),
        events: EventSchedule::Default,
        ..Scenario::default()
    };
    let options = BenchOptions::new(scenario, frames, frames / 10, threads);
    bench::run(&options).expect("benchmark runs")
}

fn main() {
    let sizes: Vec<u32> = std::env::var("GENESIS_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("GENESIS_BENCH_SIZES: comma-separated agent counts"))
        .collect();
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "{:>9} {:>7} {:>9} {:>8} {:>9}  stage p50 µs (spatial sensing fusion inference anomaly movement)",
        "agents", "threads", "Hz", "speedup", "p99/p50"
    );
    for agents in sizes {
        let base = run(agents, 1);
        for (threads, r) in [(1, base.clone()), (all, run(agents, all))] {
            let stages: Vec<String> = r.systems.iter().map(|s| format!("{:.0}", s.p50_us)).collect();
            println!(
                "{:>9} {:>7} {:>9.1} {:>7.2}x {:>9.2}  {}",
                agents,
                threads,
                r.hz,
                r.hz / base.hz,
                r.frame_ms_p99 / r.frame_ms_p50,
                stages.join(" ")
            );
        }
    }
}
