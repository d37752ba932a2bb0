//! Agents and where they come from (SPEC section 1).
//!
//! An agent entity carries its identity ([`AgentId`], [`AgentSlot`]) and its
//! body ([`Position`], [`Heading`]). Every stage registers the state it owns
//! as a *required component* of [`Agent`], so spawning `Agent` gives an
//! entity with the whole pipeline's state at its defaults, and a stage's data
//! is declared next to the systems that use it.

use std::f32::consts::TAU;

use bevy::prelude::*;

use super::config::ModelConfig;
use crate::rng::{spawn, unit};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<IdOrder>().add_systems(super::SimStart, (spawn_population, index_ids));
}

/// Marks an entity as a simulated agent.
#[derive(Component, Clone, Copy, Debug, Default)]
pub struct Agent;

/// The agent's stable id `i` (SPEC 1): it keys all of the agent's noise.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AgentId(pub u32);

/// The agent's column in dense per-agent stores (the anomaly history):
/// `0 .. agent count`, unique, assigned by [`spawn_population`] and
/// renumbered by [`AgentSlot::renumber`] only. It has no public
/// constructor, so two live agents never share one.
#[derive(Component, Debug, PartialEq, Eq)]
pub struct AgentSlot(u32);

impl AgentSlot {
    pub fn index(&self) -> usize {
        self.0 as usize
    }

    /// Gives the agents of `slots` the slots `0 .. len` in order: the space
    /// order keeper ([`super::spatial::order`]) does, after moving the
    /// per-agent stores' columns to match.
    pub(crate) fn renumber(slots: &mut [AgentSlot]) {
        for (j, slot) in slots.iter_mut().enumerate() {
            slot.0 = j as u32;
        }
    }

    #[cfg(test)]
    pub(crate) fn for_test(slot: u32) -> Self {
        Self(slot)
    }
}

/// Position `p = (x, y)` in world units.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct Position(pub Vec2);

/// Heading `θ` in radians, kept in `[-π, π)` by movement.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct Heading(pub f32);

/// One agent as a scenario file describes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AgentSpec {
    pub id: u32,
    pub x: f32,
    pub y: f32,
    /// `None` takes SPEC 1's default heading for the id.
    pub heading: Option<f32>,
}

/// The agents a simulation starts with.
#[derive(Resource, Clone, Debug, PartialEq)]
pub enum Population {
    /// Ids `0 .. n`, placed by the seed (SPEC 1).
    Generated(u32),
    /// Agents from a file.
    Listed(Vec<AgentSpec>),
}

impl Population {
    pub fn len(&self) -> usize {
        match self {
            Population::Generated(n) => *n as usize,
            Population::Listed(agents) => agents.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// SPEC 1's default heading of agent `id`: `2π · unit(spawn(2^32 + id))`.
pub fn default_heading(seed: u64, id: u32) -> f32 {
    TAU * unit(spawn(seed, (1 << 32) + id as u64))
}

/// SPEC 1's generated agent `id`.
pub fn generated_agent(config: &ModelConfig, id: u32) -> AgentSpec {
    let k = 2 * id as u64;
    AgentSpec {
        id,
        x: unit(spawn(config.seed, k)) * config.width,
        y: unit(spawn(config.seed, k + 1)) * config.height,
        heading: Some(default_heading(config.seed, id)),
    }
}

/// Spawns the [`Population`] as agent entities, slots in spawn order.
pub fn spawn_population(world: &mut World) {
    let config = world.resource::<ModelConfig>().clone();
    let population = world.resource::<Population>().clone();
    let bundle = |slot: usize, spec: AgentSpec| {
        let heading = spec.heading.unwrap_or_else(|| default_heading(config.seed, spec.id));
        (Agent, AgentId(spec.id), AgentSlot(slot as u32), Position(Vec2::new(spec.x, spec.y)), Heading(heading))
    };
    match population {
        Population::Generated(n) => {
            world.spawn_batch((0..n).map(|id| bundle(id as usize, generated_agent(&config, id))));
        }
        Population::Listed(specs) => {
            world.spawn_batch(specs.into_iter().enumerate().map(|(slot, spec)| bundle(slot, spec)));
        }
    }
}

/// Where each agent stands in id order: row `k` is the agent with the
/// `k`-th smallest id. The state dump (SPEC 6), the arrays the Python
/// package hands out and readings given from outside are all in this
/// order, while the ECS tables keep agents in space order
/// ([`super::spatial::order`]); [`Self::row`] maps one to the other in
/// O(1) for any population a file or generator is likely to give.
#[derive(Resource, Clone, Debug, PartialEq, Eq)]
pub enum IdOrder {
    /// Ids `0 .. n` (every generated population): the row is the id.
    Dense(u32),
    /// Other ids, sorted, and where they are compact (no id above four
    /// times the count) each id's row in a table indexed by id; otherwise
    /// rows are found by binary search.
    Sparse { ids: Vec<u32>, rows: Option<Vec<u32>> },
}

impl Default for IdOrder {
    fn default() -> Self {
        IdOrder::Dense(0)
    }
}

impl IdOrder {
    pub fn of(population: &Population) -> Self {
        let mut ids = match population {
            Population::Generated(n) => return IdOrder::Dense(*n),
            Population::Listed(agents) => agents.iter().map(|a| a.id).collect::<Vec<u32>>(),
        };
        ids.sort_unstable();
        if ids.iter().enumerate().all(|(k, &id)| id as usize == k) {
            return IdOrder::Dense(ids.len() as u32);
        }
        let top = ids.last().map_or(0, |&id| id as usize);
        let rows = (top < 4 * ids.len() + 1024).then(|| {
            let mut rows = vec![u32::MAX; top + 1];
            for (k, &id) in ids.iter().enumerate() {
                rows[id as usize] = k as u32;
            }
            rows
        });
        IdOrder::Sparse { ids, rows }
    }

    /// Agents in all.
    pub fn len(&self) -> usize {
        match self {
            IdOrder::Dense(n) => *n as usize,
            IdOrder::Sparse { ids, .. } => ids.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The row of agent `id` (which must be one of the agents).
    #[inline]
    pub fn row(&self, id: u32) -> usize {
        match self {
            IdOrder::Dense(_) => id as usize,
            IdOrder::Sparse { rows: Some(rows), .. } => rows[id as usize] as usize,
            IdOrder::Sparse { ids, rows: None } => ids.binary_search(&id).expect("an agent's id"),
        }
    }

    /// The ids in id order.
    pub fn ids(&self) -> Vec<u32> {
        match self {
            IdOrder::Dense(n) => (0..*n).collect(),
            IdOrder::Sparse { ids, .. } => ids.clone(),
        }
    }
}

fn index_ids(population: Res<Population>, mut order: ResMut<IdOrder>) {
    *order = IdOrder::of(&population);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_ranks_of_the_ids() {
        let listed = |ids: &[u32]| {
            Population::Listed(ids.iter().map(|&id| AgentSpec { id, x: 0.0, y: 0.0, heading: None }).collect())
        };
        for ids in [&[3u32, 0, 2, 1][..], &[10, 4, 7, 1_000], &[5, 4_000_000_000, 17, 9, 2], &[42]] {
            let order = IdOrder::of(&listed(ids));
            let mut sorted = ids.to_vec();
            sorted.sort();
            assert_eq!(order.ids(), sorted);
            for &id in ids {
                let rank = ids.iter().filter(|&&other| other < id).count();
                assert_eq!(order.row(id), rank, "{ids:?}: id {id}");
            }
        }
        assert_eq!(IdOrder::of(&listed(&[1, 0, 2])), IdOrder::Dense(3));
        assert_eq!(IdOrder::of(&Population::Generated(7)).row(6), 6);
        assert!(matches!(IdOrder::of(&listed(&[5, 4_000_000_000])), IdOrder::Sparse { rows: None, .. }));
        assert!(matches!(IdOrder::of(&listed(&[5, 9])), IdOrder::Sparse { rows: Some(_), .. }));
    }

    /// SPEC section 8: the first three generated agents with seed 42.
    #[test]
    fn generated_agents_match_the_published_values() {
        let config = ModelConfig::default();
        let want = [
            (814.7142, 993.8991, 0.447_119_1),
            (77.561_74, 880.6187, 2.474_166_9),
            (854.269_65, 149.790_47, 3.519_294),
        ];
        for (id, (x, y, theta)) in want.into_iter().enumerate() {
            let a = generated_agent(&config, id as u32);
            assert!((a.x - x).abs() < 1e-4 && (a.y - y).abs() < 1e-4, "agent {id} at ({}, {})", a.x, a.y);
            assert!((a.heading.unwrap() - theta).abs() < 1e-6, "agent {id} heading {:?}", a.heading);
        }
    }
}
