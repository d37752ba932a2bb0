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
    parallel::{CHUNK, ComputePool, TABLES, TaskPerChunk},
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

/// Where the carried state waits while it is moved: two [`Transient`]
/// components, which their stages rewrite later in the frame that
/// reorders, before anything reads them.
type Stash = (&'static mut Sensors, &'static mut Neighbourhood);

/// Puts the agents in the last grid's cell order, when due.
///
/// The other agent components ([`Transient`]) are outputs that their stage
/// writes for every agent each frame before any later stage reads them,
/// so they are not moved, and two of them hold the carried state on its
/// way ([`stash`]): one parallel pass gathers every agent's state into its
/// new slot's stash, a second writes it back. The reordering needs no
/// memory of its own, and two passes over the workers, not one per word
/// (18 before, whose start and end cost more than their work at 10k
/// agents: a reordering frame took about 1.5 times another, and set p99).
pub fn keep_space_order(
    mut agents: Query<(Carried, Stash), With<Agent>>,
    grid: Res<SpatialGrid>,
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
    let ((mut ids, mut slots, mut positions, mut headings, mut fused, mut sums), (mut sensors, mut nbrs)) = table;
    // The grid's `origin`, slot to agent, is a permutation of the agents it
    // was built from; the table has not changed since, unless agents were
    // respawned (then the lengths differ, or it is still a permutation).
    let from = &grid.origin[..];
    if from.len() != ids.len() {
        return;
    }
    pool.install(|| {
        let slots = &slots[..];
        history.renumber(|j| slots[from[j] as usize].index() as u32);
        let (ids, positions, headings, fused, sums) = (&*ids, &*positions, &*headings, &*fused, &*sums);
        (sensors.par_chunks_mut(CHUNK), nbrs.par_chunks_mut(CHUNK), from.par_chunks(CHUNK))
            .into_par_iter()
            .task_per_chunk()
            .for_each(|(sensors, nbrs, from)| {
                for ((sensors, nbr), &k) in sensors.iter_mut().zip(nbrs).zip(from) {
                    let k = k as usize;
                    (*sensors, nbr.count) = stash(ids[k], positions[k], headings[k], fused[k], sums[k]);
                }
            });
    });
    pool.install(|| {
        (
            ids.par_chunks_mut(CHUNK),
            positions.par_chunks_mut(CHUNK),
            headings.par_chunks_mut(CHUNK),
            fused.par_chunks_mut(CHUNK),
            sums.par_chunks_mut(CHUNK),
            sensors.par_chunks(CHUNK),
            nbrs.par_chunks(CHUNK),
        )
            .into_par_iter()
            .task_per_chunk()
            .for_each(|(ids, positions, headings, fused, sums, sensors, nbrs)| {
                for (j, (sensors, nbr)) in sensors.iter().zip(nbrs).enumerate() {
                    (ids[j], positions[j], headings[j], fused[j], sums[j]) = unstash(sensors, nbr.count);
                }
            });
    });
    AgentSlot::renumber(&mut slots);
}

/// Agent components that are not moved: each is written for every agent by
/// its stage, every frame, before any later stage reads it.
pub type Transient = (Neighbourhood, Sensors, MlpOutput, Anomaly);

/// One agent's carried state (but its slot) as a [`Sensors`] and the
/// [`Neighbourhood::count`] beside it: the window sums' bits in four lanes,
/// then position, heading and `fused`; the id in the count.
/// [`unstash`] gives back the same bits.
#[inline(always)]
fn stash(id: AgentId, position: Position, heading: Heading, fused: Fused, sums: WindowSums) -> (Sensors, u32) {
    let half = |v: f64, high: bool| f32::from_bits((v.to_bits() >> if high { 32 } else { 0 }) as u32);
    let lanes = [
        half(sums.sum, false),
        half(sums.sum, true),
        half(sums.sum_sq, false),
        half(sums.sum_sq, true),
        position.0.x,
        position.0.y,
        heading.0,
        fused.0,
    ];
    (Sensors(lanes), id.0)
}

/// What [`stash`] was given.
#[inline(always)]
fn unstash(sensors: &Sensors, id: u32) -> (AgentId, Position, Heading, Fused, WindowSums) {
    let [sum_low, sum_high, sq_low, sq_high, x, y, heading, fused] = sensors.0;
    let whole = |low: f32, high: f32| f64::from_bits(u64::from(low.to_bits()) | u64::from(high.to_bits()) << 32);
    let sums = WindowSums { sum: whole(sum_low, sum_high), sum_sq: whole(sq_low, sq_high) };
    (AgentId(id), Position(Vec2::new(x, y)), Heading(heading), Fused(fused), sums)
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

    /// The stash gives back every bit it was given, in the right place:
    /// values that a float operation would not keep (a NaN's payload, the
    /// sign of zero, a subnormal), sums whose halves differ, and each field
    /// distinct from the others, so that two swapped fields would show.
    #[test]
    fn the_stash_gives_back_every_bit() {
        let odd =
            [f32::from_bits(0x7FC0_1234), f32::from_bits(0xFF80_0001), -0.0, f32::from_bits(1), f32::INFINITY, 1.5];
        let wide = [f64::from_bits(0x7FF0_0000_DEAD_BEEF), -0.0, f64::from_bits(3), 1e300, 0.1];
        for (n, &a) in odd.iter().enumerate() {
            let [b, c, d] = [1, 2, 3].map(|step| odd[(n + step) % odd.len()]);
            let (sum, sum_sq) = (wide[n % wide.len()], wide[(n + 2) % wide.len()]);
            let id = 0xA5A5_0000 | n as u32;
            let carried = (AgentId(id), Position(Vec2::new(a, b)), Heading(c), Fused(d), WindowSums { sum, sum_sq });
            let (sensors, count) = stash(carried.0, carried.1, carried.2, carried.3, carried.4);
            let (got_id, position, heading, fused, sums) = unstash(&sensors, count);
            assert_eq!(got_id, AgentId(id));
            let got = [position.0.x, position.0.y, heading.0, fused.0].map(f32::to_bits);
            assert_eq!(got, [a, b, c, d].map(f32::to_bits), "case {n}");
            assert_eq!([sums.sum.to_bits(), sums.sum_sq.to_bits()], [sum.to_bits(), sum_sq.to_bits()], "case {n}");
        }
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
