//! Line drawings over the world, with Bevy's gizmos: the active events as
//! circles (those on the shown channel brighter), the neighbour graph when
//! toggled on, and the selected agent with its neighbours and radius `R`.
//!
//! The graph is the one the last frame's spatial stage used: the spatial
//! grid keeps the positions it was built from, and each agent's `K`
//! nearest are searched there again with the stage's own search. Lines go
//! between those positions, so they match the `nbr_count` the agents used.
//! The selected agent's neighbours are found the same way once per frame
//! ([`SelectedNeighbours`]), for the lines here and the overlay's list.

use bevy::prelude::*;

use super::{Selection, ViewSettings};
use crate::sim::environment::ActiveEvents;
use crate::sim::spatial::{Nearest, SpatialGrid};
use crate::sim::{Agent, AgentId, ModelConfig, Position};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<GraphScratch>().init_resource::<SelectedNeighbours>().add_systems(
        Update,
        (draw_events, draw_graph, (find_selected_neighbours, draw_selection).chain())
            .after(crate::sim::advance_simulation),
    );
}

/// The selected agent's neighbours in the last frame's spatial stage:
/// where the agent was then, and each neighbour's id, distance and
/// position, nearest first (ties by id).
#[derive(Resource, Debug, Default)]
pub struct SelectedNeighbours {
    pub at: Option<Vec2>,
    pub list: Vec<(u32, f32, Vec2)>,
}

fn find_selected_neighbours(
    selection: Res<Selection>,
    grid: Res<SpatialGrid>,
    config: Res<ModelConfig>,
    mut found: ResMut<SelectedNeighbours>,
) {
    found.at = None;
    found.list.clear();
    let Some(id) = selection.0 else { return };
    let Some((x, y, _)) = grid.points().find(|p| p.2 == id) else { return };
    found.at = Some(Vec2::new(x, y));
    let mut nearest = Nearest::new(config.neighbours);
    grid.nearest(x, y, id, config.radius, &mut nearest);
    let list = &mut found.list;
    list.extend(nearest.ids().zip(nearest.distances_sq()).map(|(other, d2)| (other, d2.sqrt(), Vec2::ZERO)));
    // One pass over the grid fills in the (at most K) positions.
    for (px, py, other) in grid.points() {
        if let Some(entry) = list.iter_mut().find(|entry| entry.0 == other) {
            entry.2 = Vec2::new(px, py);
        }
    }
}

/// Reused between frames by the graph: the grid's agents sorted by id (to
/// find a neighbour's position) and the search buffer.
#[derive(Resource, Default)]
struct GraphScratch {
    by_id: Vec<(u32, Vec2)>,
    nearest: Option<Nearest>,
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
    let GraphScratch { by_id, nearest } = &mut *scratch;
    by_id.clear();
    by_id.extend(grid.points().map(|(x, y, id)| (id, Vec2::new(x, y))));
    by_id.sort_unstable_by_key(|&(id, _)| id);
    let nearest = match nearest {
        Some(n) if n.capacity() == config.neighbours => n,
        _ => nearest.insert(Nearest::new(config.neighbours)),
    };
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
    neighbours: Res<SelectedNeighbours>,
    config: Res<ModelConfig>,
) {
    let Some(selected) = selection.0 else { return };
    let Some((_, p)) = agents.iter().find(|(id, _)| id.0 == selected) else { return };
    gizmos.circle_2d(Isometry2d::from_translation(p.0), 3.0, Color::WHITE);
    gizmos.circle_2d(Isometry2d::from_translation(p.0), config.radius, Color::srgba(1.0, 1.0, 1.0, 0.5)).resolution(64);
    if let Some(from) = neighbours.at {
        for &(_, _, to) in &neighbours.list {
            gizmos.line_2d(from, to, Color::srgb(1.0, 0.9, 0.3));
        }
    }
}
