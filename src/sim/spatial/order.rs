//! Keeping the agents in space order.
//!
//! Every stage walks the agents in ECS table order. Agents are spawned in
//! id order, which is random in space, so the neighbour search writes its
//! results all over the table, the grid rebuild scatters to random slots,
//! and sensing reads the raster at random. At frame 1 and then every
//! [`SpaceOrder::every`] frames (default 32), before the grid is rebuilt,
//! [`keep_space_order`] moves the agents' lasting state ([`Carried`]) so
//! that the table is in the last grid's cell order, renumbers their slots
//! to match, and tells the anomaly history ([`FusedHistory::renumber`],
//! which catches up over the following frames rather than moving 256 bytes
//! per agent at once). Agents move at most half a unit a frame, so the
//! order stays good for a while.
//!
//! Measured against never reordering, same binary, alternating: 1M agents
//! 5.6–6.6 → 9.1–9.6 Hz, 100k agents 66–72 → 99–100 Hz on a busy machine;
//! 10k agents +2–10%. The anomaly stage pays for reading old rows through
//! the renumbering (10k: 33 → 43 µs), the search and sensing gain more.
//! Every 16 frames was no better than 32; every 64 worse.
//!
//! Nothing computed depends on the order (ties go by id, noise by id, the
//! neighbour mean is summed nearest first), so positions, headings, fused
//! values, neighbour counts and MLP outputs are bit for bit the same with
//! it or without (tested). The one exception allowed: the anomaly detector
//! re-sums an agent's window on a schedule set by its slot (for cache
//! reasons, see [`crate::sim::anomaly`]), so renumbering moves when the
//! re-sums happen and `z` could differ in its last bits.

use bevy::prelude::*;
use rayon::prelude::*;

use super::{Neighbourhood, SpatialGrid};
use crate::sim::{
    SimClock,
    agents::{Agent, AgentId, AgentSlot, Heading, Position},
    anomaly::{Anomaly, FusedHistory, WindowSums},
    fusion::Fused,
    inference::MlpOutput,
    parallel::{CHUNK, ComputePool, TABLES},
    sensing::Sensors,
};

/// How often the agents are put back in space order.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpaceOrder {
    /// Every this many frames (0: never).
    pub every: u64,
}

impl Default for SpaceOrder {
    fn default() -> Self {
        Self { every: 32 }
    }
}

impl SpaceOrder {
    /// Whether frame `frame` starts by reordering: frame 1, the first
    /// with a grid to take the order from (agents are spawned in id order,
    /// random in space), then every [`Self::every`] frames. Waiting for
    /// frame `every` instead left the first 31 frames in spawn order: at 1M
    /// agents their search and rebuild took 30–40% longer, and a short
    /// benchmark measured mostly those.
    pub fn is_due(&self, frame: u64) -> bool {
        self.every > 0 && frame > 0 && (frame == 1 || frame.is_multiple_of(self.every))
    }
}

/// The agent state that lives from one frame to the next, moved with its
/// agent. (Slots are renumbered instead, and the anomaly history follows:
/// [`FusedHistory::renumber`].)
type Carried = (
    &'static mut AgentId,
    &'static mut AgentSlot,
    &'static mut Position,
    &'static mut Heading,
    &'static mut Fused,
    &'static mut WindowSums,
);

/// Puts the agents in the last grid's cell order, when due.
///
/// The other agent components ([`Transient`]) are outputs that their stage
/// writes for every agent each frame before any later stage reads them,
/// so they are left where they are: the frame that reorders rewrites them.
/// Columns move through the grid's rebuild scratch (4 bytes per agent,
/// unused until the rebuild that follows), one 4-byte word of a component
/// at a time, so the reordering needs no memory of its own.
pub fn keep_space_order(
    mut agents: Query<Carried, With<Agent>>,
    mut grid: ResMut<SpatialGrid>,
    order: Res<SpaceOrder>,
    clock: Res<SimClock>,
    mut history: ResMut<FusedHistory>,
    pool: Res<ComputePool>,
) {
    if !order.is_due(clock.frame) {
        return;
    }
    let mut tables = agents.contiguous_iter_mut().expect(TABLES);
    let (Some(table), None) = (tables.next(), tables.next()) else {
        // Agents in several tables carry different components; leave them.
        return;
    };
    let (mut ids, mut slots, mut positions, mut headings, mut fused, mut sums) = table;
    // The grid's `origin`, slot to agent, is a permutation of the agents it
    // was built from; the table has not changed since, unless agents were
    // respawned (then the lengths differ, or it is still a permutation).
    let grid = &mut *grid;
    let (from, scratch) = (&grid.origin[..], &mut grid.cell_of[..]);
    if from.len() != ids.len() || scratch.len() != from.len() {
        return;
    }
    pool.install(|| {
        let slots = &slots[..];
        history.renumber(|j| slots[from[j] as usize].index() as u32);
        permute(&mut ids, from, scratch);
        permute(&mut positions, from, scratch);
        permute(&mut headings, from, scratch);
        permute(&mut fused, from, scratch);
        permute(&mut sums, from, scratch);
    });
    AgentSlot::renumber(&mut slots);
}

/// Agent components that are not moved: each is written for every agent by
/// its stage, every frame, before any later stage reads it.
pub type Transient = (Neighbourhood, Sensors, MlpOutput, Anomaly);

/// Components made of 4-byte words with no padding, any bits of which are
/// a value: safe to move a word at a time.
///
/// # Safety
/// Implement only for such types.
unsafe trait Words: Copy + Send + Sync {}
// SAFETY: a `u32`, a pair of `f32`, an `f32`, an `f32`, a pair of `f64`:
// no padding, every bit pattern a value.
unsafe impl Words for AgentId {}
unsafe impl Words for Position {}
unsafe impl Words for Heading {}
unsafe impl Words for Fused {}
unsafe impl Words for WindowSums {}

/// `column[j] = old column[from[j]]` for every `j` (`from` a permutation),
/// one 4-byte word of the elements at a time through `scratch` (as long as
/// the column): gather every element's word into the scratch, then write
/// the scratch back.
fn permute<T: Words>(column: &mut [T], from: &[u32], scratch: &mut [u32]) {
    const WORD: usize = size_of::<u32>();
    assert!(size_of::<T>().is_multiple_of(WORD) && align_of::<T>() >= WORD, "whole, aligned words");
    assert!(column.len() == from.len() && scratch.len() == from.len());
    let lanes = size_of::<T>() / WORD;
    // SAFETY: `T` is whole aligned words with no padding, any bits a value
    // (`Words`), so the column is `len × lanes` initialised `u32`s.
    let words: &mut [u32] = unsafe { std::slice::from_raw_parts_mut(column.as_mut_ptr().cast(), column.len() * lanes) };
    for lane in 0..lanes {
        let source = &*words;
        scratch.par_chunks_mut(CHUNK).zip(from.par_chunks(CHUNK)).for_each(|(out, from)| {
            for (word, &k) in out.iter_mut().zip(from) {
                *word = source[k as usize * lanes + lane];
            }
        });
        words.par_chunks_mut(CHUNK * lanes).zip(scratch.par_chunks(CHUNK)).for_each(|(out, moved)| {
            for (element, &word) in out.chunks_exact_mut(lanes).zip(moved) {
                element[lane] = word;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use bevy::ecs::component::ComponentId;

    use super::*;
    use crate::sim::{Scenario, SimulationPlugin};

    /// Frame 1 reorders (the first grid's order), then every `every`
    /// frames; 0 never does, and frame 0 (no grid yet) never.
    #[test]
    fn reorders_at_frame_one_then_every_n() {
        let due = |every, frames: std::ops::Range<u64>| {
            frames.filter(|&f| SpaceOrder { every }.is_due(f)).collect::<Vec<_>>()
        };
        assert_eq!(due(32, 0..100), [1, 32, 64, 96]);
        assert_eq!(due(5, 0..16), [1, 5, 10, 15]);
        assert_eq!(due(1, 0..4), [1, 2, 3]);
        assert_eq!(due(0, 0..100), Vec::<u64>::new());
    }

    /// Every component an agent has is either carried along or transient:
    /// a stage that adds agent state must say which (here).
    #[test]
    fn every_agent_component_is_carried_or_transient() {
        let mut app = App::new();
        app.add_plugins(SimulationPlugin { scenario: Scenario::default(), threads: 1, timing_capacity: 4 });
        app.world_mut().run_schedule(crate::sim::SimStart);
        let world = app.world_mut();
        let agent = world.query_filtered::<Entity, With<Agent>>().iter(world).next().expect("agents spawned");
        let mut have: Vec<ComponentId> = world.entity(agent).archetype().components().to_vec();
        have.sort();
        // The marker and the carried components (as `Carried` queries
        // them), then `Transient` itself.
        let mut listed = world
            .register_bundle::<(Agent, AgentId, AgentSlot, Position, Heading, Fused, WindowSums)>()
            .explicit_components()
            .to_vec();
        listed.extend_from_slice(world.register_bundle::<Transient>().explicit_components());
        listed.sort();
        assert_eq!(
            have, listed,
            "agents have a component this module does not know: add it to `Carried` (state that lasts \
             between frames, moved with its agent) or to `Transient` (rewritten every frame before it is \
             read)"
        );
    }
}
