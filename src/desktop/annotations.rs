//! Line drawings over the world, with Bevy's gizmos: the active events as
//! circles (those on the shown channel brighter), the neighbour graph when
//! toggled on, and the selected agent with its neighbours and radius `R`.
//!
//! The graph is the one the last frame's spatial stage used: the spatial
//! grid keeps the positions it was built from, and each agent's `K`
//! nearest are searched there again with the stage's own search. Lines go
//! between those positions, so they match the `nbr_count` the agents used.

use bevy::prelude::*;

use super::{Selection, ViewSettings};
use crate::sim::environment::ActiveEvents;
use crate::sim::spatial::{Nearest, SpatialGrid};
use crate::sim::{Agent, AgentId, ModelConfig, Position};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<GraphScratch>()
        .add_systems(Update, (draw_events, draw_graph, draw_selection).after(crate::sim::advance_simulation));
}

/// Reused between frames: the grid's agents sorted by id (to find a
/// neighbour's position) and the search buffer.
#[derive(Resource, Default)]
struct GraphScratch {
    by_id: Vec<(u32, Vec2)>,
    nearest: Option<Nearest>,
}

impl GraphScratch {
    /// Sorts the grid's points by id, and sizes the search for `k`.
    fn prepare(&mut self, grid: &SpatialGrid, k: usize) {
        self.by_id.clear();
        self.by_id.extend(grid.points().map(|(x, y, id)| (id, Vec2::new(x, y))));
        self.by_id.sort_unstable_by_key(|&(id, _)| id);
        if self.nearest.as_ref().is_none_or(|n| n.capacity() != k) {
            self.nearest = Some(Nearest::new(k));
        }
    }

    fn position(&self, id: u32) -> Option<Vec2> {
        self.by_id.binary_search_by_key(&id, |&(i, _)| i).ok().map(|at| self.by_id[at].1)
    }
}

fn draw_events(mut gizmos: Gizmos, events: Res<ActiveEvents>, view: Res<ViewSettings>) {
    if !view.show_events {
        return;
    }
    for e in &events.0 {
        let colour = if e.channel == view.channel {
            Color::srgba(1.0, 0.95, 0.55, 0.95)
        } else {
            Color::srgba(0.85, 0.85, 0.95, 0.35)
        };
        gizmos.circle_2d(Isometry2d::from_translation(Vec2::new(e.x, e.y)), e.radius, colour).resolution(48);
    }
}

fn draw_graph(
    mut gizmos: Gizmos,
    grid: Res<SpatialGrid>,
    config: Res<ModelConfig>,
    view: Res<ViewSettings>,
    mut scratch: ResMut<GraphScratch>,
) {
    if !view.show_graph {
        return;
    }
    scratch.prepare(&grid, config.neighbours);
    let GraphScratch { by_id, nearest } = &mut *scratch;
    let nearest = nearest.as_mut().expect("sized by prepare");
    let colour = Color::srgba(0.7, 0.9, 1.0, 0.25);
    for (x, y, id) in grid.points() {
        grid.nearest(x, y, id, config.radius, nearest);
        for other in nearest.ids() {
            // A mutual pair is drawn twice, on the same pixels.
            if let Ok(at) = by_id.binary_search_by_key(&other, |&(i, _)| i) {
                gizmos.line_2d(Vec2::new(x, y), by_id[at].1, colour);
            }
        }
    }
}

fn draw_selection(
    mut gizmos: Gizmos,
    selection: Res<Selection>,
    agents: Query<(&AgentId, &Position), With<Agent>>,
    grid: Res<SpatialGrid>,
    config: Res<ModelConfig>,
    mut scratch: ResMut<GraphScratch>,
) {
    let Some(selected) = selection.0 else { return };
    let Some((_, p)) = agents.iter().find(|(id, _)| id.0 == selected) else { return };
    let highlight = Color::srgb(1.0, 1.0, 1.0);
    gizmos.circle_2d(Isometry2d::from_translation(p.0), 3.0, highlight);
    gizmos.circle_2d(Isometry2d::from_translation(p.0), config.radius, Color::srgba(1.0, 1.0, 1.0, 0.5)).resolution(64);
    scratch.prepare(&grid, config.neighbours);
    let Some(from) = scratch.position(selected) else { return };
    let mut nearest = scratch.nearest.take().expect("sized by prepare");
    grid.nearest(from.x, from.y, selected, config.radius, &mut nearest);
    for other in nearest.ids() {
        if let Some(to) = scratch.position(other) {
            gizmos.line_2d(from, to, Color::srgb(1.0, 0.9, 0.3));
        }
    }
    scratch.nearest = Some(nearest);
}
