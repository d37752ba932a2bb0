//! `cargo bench --bench spatial`: the neighbour search alone, on uniform
//! random worlds of 10k, 100k and 1M agents at the default model (1000 ×
//! 1000, R = 10, K = 16): grid rebuild and search (to the summary the
//! spatial stage stores), in ns per agent on one thread. The search runs in cell order, as the spatial stage does, in
//! the build the simulation picks (AVX-512 where the processor has it) and
//! in the portable one, taking turns; each figure is the best of three.
//!
//! `GENESIS_BENCH_SIZES=100000` picks the agent counts; `GENESIS_BENCH_REPS`
//! the repetitions (default: about two million agents' worth).

use std::time::Instant;

use bevy::math::Vec2;
use genesis::sim::spatial::{Columns, Nearest, SpatialGrid};
use genesis::sim::{AgentId, Fused, Position};

fn main() {
    let sizes: Vec<usize> = std::env::var("GENESIS_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("GENESIS_BENCH_SIZES: comma-separated agent counts"))
        .collect();
    let reps: Option<usize> =
        std::env::var("GENESIS_BENCH_REPS").ok().map(|s| s.parse().expect("GENESIS_BENCH_REPS: a count"));
    println!(
        "{:>9} {:>14} {:>14} {:>14} {:>10}",
        "agents", "rebuild ns/ag", "search ns/ag", "portable ns/ag", "mean count"
    );
    for n in sizes {
        let mut state = 12345u64;
        let mut unit = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32
        };
        let agents: Vec<(f32, f32, f32)> = (0..n).map(|_| (unit() * 1000.0, unit() * 1000.0, unit())).collect();
        let positions: Vec<Position> = agents.iter().map(|a| Position(Vec2::new(a.0, a.1))).collect();
        let fused: Vec<Fused> = agents.iter().map(|a| Fused(a.2)).collect();
        let ids: Vec<AgentId> = (0..n as u32).map(AgentId).collect();
        let parts = [Columns { ids: &ids, positions: &positions, fused: &fused }];
        let reps = reps.unwrap_or((2_000_000 / n).max(3));
        let mut grid = SpatialGrid::default();
        let start = Instant::now();
        for _ in 0..reps {
            grid.rebuild(1000.0, 1000.0, 10.0, 16, &parts);
        }
        let rebuild = start.elapsed().as_secs_f64() / reps as f64;
        let mut portable_grid = SpatialGrid::portable();
        portable_grid.rebuild(1000.0, 1000.0, 10.0, 16, &parts);
        let per = |t: f64| t * 1e9 / n as f64;
        // The build the simulation runs (AVX-512 where the processor has
        // it), then the portable one, taking turns: same sitting, same noise.
        let (mut fast, mut portable) = (Vec::new(), Vec::new());
        let mut nearest = Nearest::new(16);
        let mut found = 0u64;
        for round in 0..4 {
            for (times, grid) in [(&mut fast, &grid), (&mut portable, &portable_grid)] {
                let start = Instant::now();
                for _ in 0..reps.div_ceil(4) {
                    grid.neighbourhoods(0..n, 10.0, true, &mut nearest, |_, summary| {
                        found += std::hint::black_box(summary).count as u64;
                    });
                }
                if round > 0 {
                    times.push(per(start.elapsed().as_secs_f64() / reps.div_ceil(4) as f64));
                }
            }
        }
        let best = |t: &[f64]| t.iter().copied().fold(f64::INFINITY, f64::min);
        let mean_count = found as f64 / (8 * reps.div_ceil(4) * n) as f64;
        println!("{n:>9} {:>14.1} {:>14.1} {:>14.1} {:>10.2}", per(rebuild), best(&fast), best(&portable), mean_count);
    }
}
