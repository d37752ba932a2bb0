//! Keeping the agents in space order.
//!
//! Every stage walks the agents in ECS table order. Agents are spawned in
//! id order, which is random in space, so the neighbour search writes its
//! results all over the table, the grid rebuild scatters to random slots,
//! and sensing reads the raster at random. Every [`SpaceOrder::every`]
//! frames (default 32), before the grid is rebuilt, [`keep_space_order`]
//! moves the agents' lasting state ([`Carried`]) so that the table is in
//! the last grid's cell order, renumbers their slots to match, and tells
//! the anomaly history ([`FusedHistory::renumber`], which catches up over
//! the following frames rather than moving 256 bytes per agent at once).
//! Agents move at most half a unit a frame, so the order stays good for a
//! while.
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

/// Buffers reused between reorderings, so that moving a column allocates
/// nothing after the first time.
#[derive(Resource, Default)]
pub struct OrderScratch {
    words: Vec<u64>,
    from: Vec<u32>,
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
pub fn keep_space_order(
    mut agents: Query<Carried, With<Agent>>,
    grid: Res<SpatialGrid>,
    order: Res<SpaceOrder>,
    clock: Res<SimClock>,
    mut history: ResMut<FusedHistory>,
    mut scratch: ResMut<OrderScratch>,
    pool: Res<ComputePool>,
) {
    if order.every == 0 || clock.frame == 0 || !clock.frame.is_multiple_of(order.every) {
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
    let from = &grid.origin;
    if from.len() != ids.len() {
        return;
    }
    let scratch = &mut *scratch;
    scratch.from.clear();
    scratch.from.extend(from.iter().map(|&k| slots[k as usize].index() as u32));
    pool.install(|| {
        history.renumber(&scratch.from);
        let words = &mut scratch.words;
        permute(&mut ids, from, words);
        permute(&mut positions, from, words);
        permute(&mut headings, from, words);
        permute(&mut fused, from, words);
        permute(&mut sums, from, words);
    });
    AgentSlot::renumber(&mut slots);
}

/// Agent components that are not moved: each is written for every agent by
/// its stage, every frame, before any later stage reads it.
pub type Transient = (Neighbourhood, Sensors, MlpOutput, Anomaly);

/// `column[j] = old column[from[j]]` for every `j` (`from` a permutation),
/// the old column copied into `scratch` first.
fn permute<T: Send + Sync>(column: &mut [T], from: &[u32], scratch: &mut Vec<u64>) {
    assert!(align_of::<T>() <= align_of::<u64>(), "scratch words align the column's elements");
    assert_eq!(column.len(), from.len());
    let bytes = size_of_val(column);
    scratch.clear();
    scratch.resize(bytes.div_ceil(size_of::<u64>()), 0);
    let old = scratch.as_mut_ptr().cast::<T>();
    // SAFETY: the scratch holds `bytes` bytes, aligned for `T` (checked
    // above), and does not overlap the column. The old values are bitwise
    // moved out and each moved back exactly once (`from` is a permutation),
    // so nothing is dropped twice or lost.
    unsafe { std::ptr::copy_nonoverlapping(column.as_ptr(), old, column.len()) };
    let old = OldColumn(old);
    column.par_chunks_mut(CHUNK).zip(from.par_chunks(CHUNK)).for_each(|(out, from)| {
        for (value, &k) in out.iter_mut().zip(from) {
            // SAFETY: `k` is below the length (a permutation of it), and
            // each old value is read once; the write does not drop the
            // slot's bits, which were moved out above.
            unsafe { std::ptr::write(value, old.read(k as usize)) };
        }
    });
}

/// The moved-out values of a column being permuted.
struct OldColumn<T>(*const T);
// SAFETY: the workers read disjoint elements, each once (see `permute`).
unsafe impl<T: Send> Send for OldColumn<T> {}
unsafe impl<T: Send> Sync for OldColumn<T> {}

impl<T> OldColumn<T> {
    /// # Safety
    /// `k` is in bounds and read once.
    #[inline]
    unsafe fn read(&self, k: usize) -> T {
        unsafe { self.0.add(k).read() }
    }
}

#[cfg(test)]
mod tests {
    use bevy::ecs::component::ComponentId;

    use super::*;
    use crate::sim::{Scenario, SimulationPlugin};

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
        let components = world.components();
        let id = |name: &str, id: Option<ComponentId>| id.unwrap_or_else(|| panic!("{name} registered"));
        let mut listed = vec![
            id("Agent", components.component_id::<Agent>()),
            id("AgentId", components.component_id::<AgentId>()),
            id("AgentSlot", components.component_id::<AgentSlot>()),
            id("Position", components.component_id::<Position>()),
            id("Heading", components.component_id::<Heading>()),
            id("Fused", components.component_id::<Fused>()),
            id("WindowSums", components.component_id::<WindowSums>()),
            id("Neighbourhood", components.component_id::<Neighbourhood>()),
            id("Sensors", components.component_id::<Sensors>()),
            id("MlpOutput", components.component_id::<MlpOutput>()),
            id("Anomaly", components.component_id::<Anomaly>()),
        ];
        listed.sort();
        assert_eq!(have, listed);
    }
}
