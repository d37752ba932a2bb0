//! Stage 6, movement (SPEC 4.6): agents steer by their MLP's last two
//! outputs plus jitter, move at a speed it sets, and bounce off the walls.

use std::f32::consts::{PI, TAU};

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    SimClock, Stage,
    agents::{Agent, AgentId, Heading, Position},
    config::{JITTER_CHANNEL, ModelConfig},
    inference::MlpOutput,
    parallel::{CHUNK, ComputePool, TABLES, TaskPerChunk, vectorised},
};
use crate::rng::noise;

pub(super) fn plugin(app: &mut App) {
    app.add_systems(super::SimFrame, move_agents.in_set(Stage::Movement));
}

/// Turn per frame at full steer (`y2 = 1` turns by `+0.5` rad).
const TURN_GAIN: f32 = 0.5;
/// Amplitude of the heading jitter.
const JITTER: f32 = 0.3;

/// Wraps an angle into `[-π, π)`: `θ - 2π·floor((θ + π) / 2π)`.
#[inline]
pub fn wrap_angle(theta: f32) -> f32 {
    theta - TAU * ((theta + PI) / TAU).floor()
}

/// `(sin θ, cos θ)`, within 2e-7 of the exact values, in plain
/// arithmetic (libm's `sincosf` is a call, which keeps the movement loop
/// from being vectorised). `θ` is reduced by the nearest multiple of π/2
/// (Cody–Waite, π/2 split in three so the reduction is exact to `f32`
/// precision), Cephes' `sinf` and `cosf` polynomials on `[-π/4, π/4]` give
/// both, and the quadrant swaps and signs them through bit masks (it is
/// random from agent to agent: a branch on it would mispredict).
#[inline]
pub fn sin_cos(theta: f32) -> (f32, f32) {
    const DP1: f32 = 1.570_312_5;
    const DP2: f32 = 4.837_512_969_970_703e-4;
    const DP3: f32 = 7.549_789_954_891_882e-8;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let q = theta * std::f32::consts::FRAC_2_PI + ROUND;
    let j = q.to_bits(); // the quadrant in the low mantissa bits
    let n = q - ROUND;
    let r = ((theta - n * DP1) - n * DP2) - n * DP3;
    let r2 = r * r;
    let sin = r + r * r2 * (-1.666_665_5e-1 + r2 * (8.332_161e-3 + r2 * -1.951_529_6e-4));
    let cos = 1.0 - 0.5 * r2 + r2 * r2 * (4.166_664_6e-2 + r2 * (-1.388_731_6e-3 + r2 * 2.443_315_7e-5));
    // Quadrant j mod 4: (sin, cos), (cos, -sin), (-sin, -cos), (-cos, sin).
    let swap = 0u32.wrapping_sub(j & 1);
    let (sb, cb) = (sin.to_bits(), cos.to_bits());
    let (s, c) = ((sb & !swap) | (cb & swap), (cb & !swap) | (sb & swap));
    (f32::from_bits(s ^ ((j & 2) << 30)), f32::from_bits(c ^ (j.wrapping_add(1) & 2) << 30))
}

/// One agent's move: new position and heading.
#[inline(always)]
pub fn step(config: &ModelConfig, id: u32, frame: u64, y: &MlpOutput, p: Vec2, theta: f32) -> (Vec2, f32) {
    let jitter = noise(config.seed, id, frame, JITTER_CHANNEL);
    let mut theta = wrap_angle(theta + TURN_GAIN * (2.0 * y.turn() - 1.0) + JITTER * jitter);
    let speed = config.top_speed * y.throttle();
    let (sin, cos) = sin_cos(theta);
    let (mut x, mut yy) = (p.x + speed * cos * config.dt, p.y + speed * sin * config.dt);
    let (w, h) = (config.width, config.height);
    if x < 0.0 {
        x = -x;
        theta = PI - theta;
    } else if x > w {
        x = 2.0 * w - x;
        theta = PI - theta;
    }
    if yy < 0.0 {
        yy = -yy;
        theta = -theta;
    } else if yy > h {
        yy = 2.0 * h - yy;
        theta = -theta;
    }
    (Vec2::new(x, yy), wrap_angle(theta))
}

/// Moves a chunk of agents: a loop with no calls in it (the sine and
/// cosine are polynomials, `floor` is an instruction in the AVX2 build), so
/// it is vectorised.
#[inline(always)]
fn move_chunk(
    config: &ModelConfig,
    frame: u64,
    ids: &[AgentId],
    outputs: &[MlpOutput],
    positions: &mut [Position],
    headings: &mut [Heading],
) {
    for (((id, y), p), h) in ids.iter().zip(outputs).zip(positions).zip(headings) {
        (p.0, h.0) = step(config, id.0, frame, y, p.0, h.0);
    }
}

/// Moves every agent.
pub fn move_agents(
    mut agents: Query<(&AgentId, &MlpOutput, &mut Position, &mut Heading), With<Agent>>,
    config: Res<ModelConfig>,
    clock: Res<SimClock>,
    pool: Res<ComputePool>,
) {
    let (config, frame) = (&*config, clock.frame);
    for (ids, outputs, mut positions, mut headings) in agents.contiguous_iter_mut().expect(TABLES) {
        let (positions, headings): (&mut [Position], &mut [Heading]) = (&mut positions, &mut headings);
        pool.install(|| {
            (
                ids.par_chunks(CHUNK),
                outputs.par_chunks(CHUNK),
                positions.par_chunks_mut(CHUNK),
                headings.par_chunks_mut(CHUNK),
            )
                .into_par_iter()
                .task_per_chunk()
                .for_each(|(ids, outputs, positions, headings)| {
                    vectorised(
                        #[inline(always)]
                        || move_chunk(config, frame, ids, outputs, positions, headings),
                    )
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::parallel::{Isa, vectorised_for};

    #[test]
    fn wrap_angle_lands_in_range() {
        for k in -2000..2000 {
            let theta = k as f32 * 0.0173;
            let w = wrap_angle(theta);
            assert!((-PI..PI).contains(&w) || (w - PI).abs() < 1e-6, "{theta} → {w}");
            // Same direction as before.
            assert!((w.sin() - theta.sin()).abs() < 1e-3 && (w.cos() - theta.cos()).abs() < 1e-3);
        }
    }

    /// Against `f64` sine and cosine, over and beyond the wrapped range.
    #[test]
    fn sin_cos_is_within_2e_7() {
        for k in -200_000..=200_000 {
            let theta = k as f32 * (2.0 * PI / 100_000.0);
            let (s, c) = sin_cos(theta);
            let t = theta as f64;
            assert!((s as f64 - t.sin()).abs() < 2e-7, "sin {theta}: {s} vs {}", t.sin());
            assert!((c as f64 - t.cos()).abs() < 2e-7, "cos {theta}: {c} vs {}", t.cos());
        }
    }

    /// Every build of the loop the processor has (AVX-512, AVX2) moves
    /// agents to the same bits as the baseline build, walls included.
    #[test]
    fn vectorised_moves_are_bit_identical() {
        let config = ModelConfig::default();
        let n = 3000;
        let mut state = 9u64;
        let mut unit = || {
            state = crate::rng::splitmix64(state);
            crate::rng::unit(state)
        };
        let ids: Vec<AgentId> = (0..n).map(AgentId).collect();
        let outputs: Vec<MlpOutput> = (0..n).map(|_| MlpOutput([unit(), unit(), unit(), unit()])).collect();
        // Some agents on and near the walls, so every reflection runs.
        let start: Vec<(Position, Heading)> = (0..n)
            .map(|i| {
                let edge = |v: f32| if i % 3 == 0 { v * 2.0 } else { v * config.width };
                (Position(Vec2::new(edge(unit()), edge(unit()))), Heading((unit() * 2.0 - 1.0) * 4.0))
            })
            .collect();
        let run = |isa: Isa| {
            let mut positions: Vec<Position> = start.iter().map(|s| s.0).collect();
            let mut headings: Vec<Heading> = start.iter().map(|s| s.1).collect();
            for frame in 0..5 {
                vectorised_for(
                    isa,
                    #[inline(always)]
                    || move_chunk(&config, frame, &ids, &outputs, &mut positions, &mut headings),
                );
            }
            positions
                .iter()
                .zip(&headings)
                .map(|(p, h)| (p.0.x.to_bits(), p.0.y.to_bits(), h.0.to_bits()))
                .collect::<Vec<_>>()
        };
        let base = run(Isa::Baseline);
        for isa in Isa::available() {
            assert_eq!(run(isa), base, "{isa:?}");
        }
    }

    #[test]
    fn walls_reflect_position_and_heading() {
        let config = ModelConfig { top_speed: 60.0, dt: 1.0, ..ModelConfig::default() };
        // y2 = 0.5 (no steer); jitter is unknown, so compare with the same
        // step made away from the walls.
        let y = MlpOutput([0.0, 0.0, 0.5, 1.0]);
        let free = |theta| step(&config, 3, 0, &y, Vec2::new(500.0, 500.0), theta);
        // Heading left from near the left wall.
        let (p0, t0) = free(PI * 0.99);
        let (p, t) = step(&config, 3, 0, &y, Vec2::new(10.0, 500.0), PI * 0.99);
        let dx = p0.x - 500.0; // < -10, so the agent crosses x = 0
        assert!(dx < -10.0);
        assert!((p.x - (-(10.0 + dx))).abs() < 1e-3 && (p.y - p0.y).abs() < 1e-3);
        assert!((t - wrap_angle(PI - t0)).abs() < 1e-5, "{t} vs {}", wrap_angle(PI - t0));
        // Heading up from near the top wall.
        let (p0, t0) = free(PI / 2.0);
        let (p, t) = step(&config, 3, 0, &y, Vec2::new(500.0, 990.0), PI / 2.0);
        let dy = p0.y - 500.0;
        assert!(dy > 10.0);
        assert!((p.y - (2000.0 - (990.0 + dy))).abs() < 1e-3);
        assert!((t - wrap_angle(-t0)).abs() < 1e-5);
    }
}
