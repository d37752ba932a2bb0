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
    parallel::{CHUNK, ComputePool, TABLES},
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

/// One agent's move: new position and heading.
#[inline]
pub fn step(config: &ModelConfig, id: u32, frame: u64, y: &MlpOutput, p: Vec2, theta: f32) -> (Vec2, f32) {
    let jitter = noise(config.seed, id, frame, JITTER_CHANNEL);
    let mut theta = wrap_angle(theta + TURN_GAIN * (2.0 * y.turn() - 1.0) + JITTER * jitter);
    let speed = config.top_speed * y.throttle();
    let (sin, cos) = theta.sin_cos();
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
                .for_each(|(ids, outputs, positions, headings)| {
                    for (((id, y), p), h) in ids.iter().zip(outputs).zip(positions).zip(headings) {
                        (p.0, h.0) = step(config, id.0, frame, y, p.0, h.0);
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
