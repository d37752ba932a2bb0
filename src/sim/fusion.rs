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
    config::{MAX_CHANNELS, ModelConfig},
    parallel::{CHUNK, ComputePool, TABLES, TaskPerChunk, vectorised},
    sensing::Sensors,
    spatial::Neighbourhood,
};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, Fused>().add_systems(super::SimFrame, fuse.in_set(Stage::Fusion));
}

/// The agent's fused reading. Until fusion runs in a frame it holds the
/// previous frame's value, which is what spatial mapping averages.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct Fused(pub f32);

/// Weight of the agent's own readings against its neighbours' mean.
const OWN_WEIGHT: f32 = 0.75;
const NEIGHBOUR_WEIGHT: f32 = 0.25;

/// `fused` from readings of `channels` channels and the neighbour mean.
#[inline(always)]
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
                .task_per_chunk()
                .for_each(|(sensors, neighbourhoods, fused)| {
                    if channels == MAX_CHANNELS {
                        // All eight channels, a constant: the sum unrolls,
                        // and the widest build runs the loop 16 agents at
                        // a time.
                        vectorised(
                            #[inline(always)]
                            || {
                                for ((s, n), f) in sensors.iter().zip(neighbourhoods).zip(fused.iter_mut()) {
                                    f.0 = fuse_one(&s.0, MAX_CHANNELS, n);
                                }
                            },
                        );
                    } else {
                        for ((s, n), f) in sensors.iter().zip(neighbourhoods).zip(fused) {
                            f.0 = fuse_one(&s.0, channels, n);
                        }
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::parallel::{Isa, vectorised_for};

    /// Every build of the fusion loop the processor has gives the baseline
    /// build's bits, with and without a neighbour mean, and both agree
    /// with SPEC 4.3 computed by hand in `f64` (to rounding).
    #[test]
    fn vectorised_fusion_is_bit_identical() {
        let mut state = 9u64;
        let agents: Vec<(Sensors, Neighbourhood)> = (0..1000)
            .map(|i| {
                let sensors = Sensors(std::array::from_fn(|_| {
                    state = crate::rng::splitmix64(state);
                    crate::rng::unit(state) * 4.0 - 1.0
                }));
                let mean = if i % 3 == 0 { f32::NAN } else { crate::rng::unit(state >> 7) * 2.0 };
                (sensors, Neighbourhood { count: 1, nearest: 1.0, nbr_mean: mean })
            })
            .collect();
        let run = |isa: Isa| {
            vectorised_for(
                isa,
                #[inline(always)]
                || agents.iter().map(|(s, n)| fuse_one(&s.0, MAX_CHANNELS, n).to_bits()).collect::<Vec<_>>(),
            )
        };
        let base = run(Isa::Baseline);
        for isa in Isa::available() {
            assert_eq!(run(isa), base, "{} build", isa.name());
        }
        for ((s, n), &bits) in agents.iter().zip(&base) {
            let raw = s.0.iter().map(|&v| v as f64).sum::<f64>() / 8.0;
            let want = match n.mean() {
                Some(mean) => 0.75 * raw + 0.25 * mean as f64,
                None => raw,
            };
            assert!((f32::from_bits(bits) as f64 - want).abs() < 1e-5, "{} against {want}", f32::from_bits(bits));
        }
    }
}
