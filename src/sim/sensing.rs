//! Stage 2, sensing (SPEC 4.2): each agent samples the environment's
//! channels at its position, plus counter-based noise.
//!
//! `s_c = B_c(p) + Σ active events on c + σ · noise(i, t, c)`. The eight
//! background samples share one bilinear footprint, and the noise of all
//! channels shares one `splitmix64(seed ^ i << 32 ^ t)` key.

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    SimClock, Stage,
    agents::{Agent, AgentId, Position},
    config::{MAX_CHANNELS, ModelConfig},
    environment::{ActiveEvents, Background, Event},
    parallel::{CHUNK, ComputePool, TABLES},
};
use crate::rng::{noise_from, noise_key};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, Sensors>().add_systems(super::SimFrame, sense.in_set(Stage::Sensing));
}

/// This frame's sensor readings `s_0 .. s_{S-1}` (channels beyond `S` stay 0).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct Sensors(pub [f32; MAX_CHANNELS]);

/// The readings of one agent at `(x, y)` in frame `t` (SPEC 4.2).
#[inline]
pub fn sense_at(
    config: &ModelConfig,
    background: &Background,
    events: &[Event],
    id: u32,
    frame: u64,
    x: f32,
    y: f32,
) -> [f32; MAX_CHANNELS] {
    let mut s = background.sample_all(x, y);
    for event in events {
        if event.channel < config.channels {
            s[event.channel] += event.field(x, y);
        }
    }
    let key = noise_key(config.seed, id, frame);
    for (c, value) in s.iter_mut().enumerate() {
        *value = if c < config.channels { *value + config.noise * noise_from(key, c as u64) } else { 0.0 };
    }
    s
}

/// Stores every agent's [`Sensors`] for this frame.
pub fn sense(
    mut agents: Query<(&AgentId, &Position, &mut Sensors), With<Agent>>,
    config: Res<ModelConfig>,
    background: Res<Background>,
    events: Res<ActiveEvents>,
    clock: Res<SimClock>,
    pool: Res<ComputePool>,
) {
    let (config, background, events, frame) = (&*config, &*background, &events.0[..], clock.frame);
    for (ids, positions, mut sensors) in agents.contiguous_iter_mut().expect(TABLES) {
        let sensors: &mut [Sensors] = &mut sensors;
        pool.install(|| {
            (ids.par_chunks(CHUNK), positions.par_chunks(CHUNK), sensors.par_chunks_mut(CHUNK))
                .into_par_iter()
                .for_each(|(ids, positions, sensors)| {
                    for ((id, p), s) in ids.iter().zip(positions).zip(sensors) {
                        s.0 = sense_at(config, background, events, id.0, frame, p.0.x, p.0.y);
                    }
                });
        });
    }
}
