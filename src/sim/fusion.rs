//! Stage 3, sensor fusion (SPEC 4.3): one number per agent from its own
//! readings and what its neighbours fused last frame.
//!
//! `raw = Σ_c s_c / S`; `fused = 0.75 · raw + 0.25 · nbr_mean` where the
//! neighbour mean is defined, else `raw`.

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    Stage,
    agents::Agent,
    config::ModelConfig,
    parallel::{CHUNK, ComputePool, TABLES},
    sensing::Sensors,
    spatial::Neighbourhood,
};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, Fused>().add_systems(super::SimFrame, fuse.in_set(Stage::Fusion));
}

/// The agent's fused reading. Until fusion runs in a frame it holds the
/// previous frame's value, which is what spatial mapping averages.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct Fused(pub f32);

/// Weight of the agent's own readings against its neighbours' mean.
const OWN_WEIGHT: f32 = 0.75;
const NEIGHBOUR_WEIGHT: f32 = 0.25;

/// `fused` from readings of `channels` channels and the neighbour mean.
#[inline]
pub fn fuse_one(sensors: &[f32], channels: usize, neighbourhood: &Neighbourhood) -> f32 {
    let w = 1.0 / channels as f32;
    let raw = sensors[..channels].iter().fold(0.0f32, |acc, &s| acc + w * s);
    match neighbourhood.mean() {
        Some(mean) => OWN_WEIGHT * raw + NEIGHBOUR_WEIGHT * mean,
        None => raw,
    }
}

/// Stores every agent's [`Fused`] value for this frame.
pub fn fuse(
    mut agents: Query<(&Sensors, &Neighbourhood, &mut Fused), With<Agent>>,
    config: Res<ModelConfig>,
    pool: Res<ComputePool>,
) {
    let channels = config.channels;
    for (sensors, neighbourhoods, mut fused) in agents.contiguous_iter_mut().expect(TABLES) {
        let fused: &mut [Fused] = &mut fused;
        pool.install(|| {
            (sensors.par_chunks(CHUNK), neighbourhoods.par_chunks(CHUNK), fused.par_chunks_mut(CHUNK))
                .into_par_iter()
                .for_each(|(sensors, neighbourhoods, fused)| {
                    for ((s, n), f) in sensors.iter().zip(neighbourhoods).zip(fused) {
                        f.0 = fuse_one(&s.0, channels, n);
                    }
                });
        });
    }
}
