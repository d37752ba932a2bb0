//! The 2-D camera over the world, and picking an agent under the cursor.
//!
//! World units map to the screen through one orthographic camera: its
//! translation is the world point at the window's centre and its scale is
//! world units per logical pixel. [`screen_to_world`] is that mapping
//! written out, so picking is a pure function of the cursor, the camera
//! and the agents, and can be tested without a window.

use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::input::EguiWantsInput;

use super::Selection;
use super::overlay::{PANEL_WIDTH, PanelWidth};
use crate::sim::{Agent, AgentId, ModelConfig, Position};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Drag>()
        .add_systems(Startup, spawn_camera)
        .add_systems(Update, ((pan, pick_on_click).chain(), zoom, fit_on_home));
}

/// The world point under screen position `cursor` (logical pixels, origin
/// top-left, y down), for a window of `window` pixels whose centre shows
/// world point `centre` at `scale` world units per pixel (world y up).
pub fn screen_to_world(cursor: Vec2, window: Vec2, centre: Vec2, scale: f32) -> Vec2 {
    let offset = cursor - window / 2.0;
    centre + Vec2::new(offset.x, -offset.y) * scale
}

/// The agent nearest to `point` within `max_distance`, ties going to the
/// smaller id; `None` if no agent is that close.
pub fn pick_agent(agents: impl IntoIterator<Item = (u32, Vec2)>, point: Vec2, max_distance: f32) -> Option<u32> {
    let mut best: Option<(f32, u32)> = None;
    for (id, p) in agents {
        let d = p.distance_squared(point);
        if d <= max_distance * max_distance && best.is_none_or(|(bd, bid)| d < bd || (d == bd && id < bid)) {
            best = Some((d, id));
        }
    }
    best.map(|(_, id)| id)
}

/// The camera placement that shows the whole world in the part of a
/// `window`-sized window right of an overlay panel `panel` pixels wide:
/// `(centre, scale)`.
pub fn fit_world(world: Vec2, window: Vec2, panel: f32) -> (Vec2, f32) {
    let free = Vec2::new((window.x - panel).max(window.x * 0.3), window.y);
    let scale = (world.x / free.x).max(world.y / free.y) * 1.05;
    // Shift left by half the panel so the world sits centred in the free part.
    let shift = (window.x - free.x) / 2.0 * scale;
    (world / 2.0 - Vec2::new(shift, 0.0), scale)
}

fn spawn_camera(mut commands: Commands, config: Res<ModelConfig>, window: Single<&Window, With<PrimaryWindow>>) {
    // Before the panel's first frame: its default width.
    let (centre, scale) = fit_world(Vec2::new(config.width, config.height), window.size(), PANEL_WIDTH);
    commands.spawn((
        Camera2d,
        Transform::from_translation(centre.extend(0.0)),
        Projection::Orthographic(OrthographicProjection { scale, ..OrthographicProjection::default_2d() }),
        // Agents are a few pixels wide: multisampling buys little there and
        // halved the frame rate under Mesa's software renderer (14 → 29 FPS
        // at 1600×900 with 10,000 agents).
        Msaa::Off,
    ));
}

/// Where a left-button press started and how far the pointer has moved
/// since (in pixels), to tell a click from a drag.
#[derive(Resource, Default)]
struct Drag {
    pressed: bool,
    moved: f32,
}

fn camera_scale(projection: &Projection) -> f32 {
    match projection {
        Projection::Orthographic(o) => o.scale,
        _ => 1.0,
    }
}

/// Dragging with the left button pans (a press that starts over the
/// overlay does not).
fn pan(
    mut camera: Single<(&mut Transform, &Projection), With<Camera2d>>,
    buttons: Res<ButtonInput<MouseButton>>,
    motion: Res<AccumulatedMouseMotion>,
    egui: Res<EguiWantsInput>,
    mut drag: ResMut<Drag>,
) {
    if buttons.just_pressed(MouseButton::Left) {
        *drag = Drag { pressed: !egui.wants_pointer_input(), moved: 0.0 };
    }
    if !buttons.pressed(MouseButton::Left) {
        drag.pressed = false;
    }
    if drag.pressed && motion.delta != Vec2::ZERO {
        let (transform, projection) = &mut *camera;
        let scale = camera_scale(projection);
        drag.moved += motion.delta.length();
        transform.translation.x -= motion.delta.x * scale;
        transform.translation.y += motion.delta.y * scale;
    }
}

/// The wheel zooms about the cursor: the world point under it stays put.
fn zoom(
    mut camera: Single<(&mut Transform, &mut Projection), With<Camera2d>>,
    window: Single<&Window, With<PrimaryWindow>>,
    scroll: Res<AccumulatedMouseScroll>,
    egui: Res<EguiWantsInput>,
) {
    if scroll.delta.y == 0.0 || egui.wants_pointer_input() {
        return;
    }
    let (transform, projection) = &mut *camera;
    let Projection::Orthographic(ortho) = &mut **projection else { return };
    let notches = match scroll.unit {
        MouseScrollUnit::Line => scroll.delta.y,
        MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
    };
    let new_scale = (ortho.scale * 0.85f32.powf(notches)).clamp(0.005, 50.0);
    if let Some(cursor) = window.cursor_position() {
        let centre = transform.translation.truncate();
        let under = screen_to_world(cursor, window.size(), centre, ortho.scale);
        let centre = under + (centre - under) * (new_scale / ortho.scale);
        transform.translation = centre.extend(transform.translation.z);
    }
    ortho.scale = new_scale;
}

/// Home fits the whole world in the window again.
fn fit_on_home(
    mut camera: Single<(&mut Transform, &mut Projection), With<Camera2d>>,
    window: Single<&Window, With<PrimaryWindow>>,
    keys: Res<ButtonInput<KeyCode>>,
    egui: Res<EguiWantsInput>,
    config: Res<ModelConfig>,
    panel: Res<PanelWidth>,
) {
    if !keys.just_pressed(KeyCode::Home) || egui.wants_keyboard_input() {
        return;
    }
    let (transform, projection) = &mut *camera;
    let (centre, scale) = fit_world(Vec2::new(config.width, config.height), window.size(), panel.0);
    transform.translation = centre.extend(transform.translation.z);
    if let Projection::Orthographic(ortho) = &mut **projection {
        ortho.scale = scale;
    }
}

/// A click (press and release with little movement, outside the overlay)
/// selects the agent under the cursor, or clears the selection.
fn pick_on_click(
    camera: Single<(&Transform, &Projection), With<Camera2d>>,
    window: Single<&Window, With<PrimaryWindow>>,
    buttons: Res<ButtonInput<MouseButton>>,
    egui: Res<EguiWantsInput>,
    drag: Res<Drag>,
    agents: Query<(&AgentId, &Position), With<Agent>>,
    mut selection: ResMut<Selection>,
) {
    if !buttons.just_released(MouseButton::Left) || egui.wants_pointer_input() || drag.moved > 4.0 {
        return;
    }
    let Some(cursor) = window.cursor_position() else { return };
    let (transform, projection) = *camera;
    let scale = camera_scale(projection);
    let point = screen_to_world(cursor, window.size(), transform.translation.truncate(), scale);
    // Eight pixels of slack, or two world units when zoomed far in.
    let reach = (8.0 * scale).max(2.0);
    selection.0 = pick_agent(agents.iter().map(|(id, p)| (id.0, p.0)), point, reach);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked by hand: a 1000×800 window centred on (500, 500) at 2 world
    /// units per pixel. The window centre is (500, 400) in pixels; the agent
    /// at world (100, 200) is 200 px left and 150 px below it, at (300, 550).
    #[test]
    fn a_click_on_an_agent_picks_it() {
        let (window, centre, scale) = (Vec2::new(1000.0, 800.0), Vec2::new(500.0, 500.0), 2.0);
        assert_eq!(screen_to_world(Vec2::new(300.0, 550.0), window, centre, scale), Vec2::new(100.0, 200.0));
        assert_eq!(screen_to_world(Vec2::new(500.0, 400.0), window, centre, scale), centre);
        let agents = [(7, Vec2::new(100.0, 200.0)), (3, Vec2::new(130.0, 200.0)), (9, Vec2::new(900.0, 900.0))];
        let at = |x, y| screen_to_world(Vec2::new(x, y), window, centre, scale);
        assert_eq!(pick_agent(agents, at(300.0, 550.0), 16.0), Some(7));
        // 3 px right of agent 7 on screen (6 world units): still 7.
        assert_eq!(pick_agent(agents, at(303.0, 550.0), 16.0), Some(7));
        // Agent 3 is 15 px right of agent 7: the point between them at 8 px
        // from 7 and 7 px from 3 picks 3.
        assert_eq!(pick_agent(agents, at(308.0, 550.0), 16.0), Some(3));
        // Nothing within 16 world units of the window's top-left corner.
        assert_eq!(pick_agent(agents, at(0.0, 0.0), 16.0), None);
    }

    #[test]
    fn equally_near_agents_go_to_the_smaller_id() {
        let agents = [(5, Vec2::new(-1.0, 0.0)), (2, Vec2::new(1.0, 0.0)), (4, Vec2::new(0.0, 1.0))];
        assert_eq!(pick_agent(agents, Vec2::ZERO, 1.0), Some(2));
        assert_eq!(pick_agent(agents, Vec2::ZERO, 0.99), None);
    }

    #[test]
    fn pick_agrees_with_a_sort_of_all_distances() {
        // Pseudo-random agents on a small lattice, so exact ties occur.
        let agents: Vec<(u32, Vec2)> =
            (0..500u32).map(|i| (i, Vec2::new(((i * 37) % 41) as f32, ((i * 53) % 29) as f32))).collect();
        for q in 0..200u32 {
            let point = Vec2::new((q % 45) as f32 * 0.9, (q / 7) as f32);
            let mut sorted: Vec<(f32, u32)> = agents.iter().map(|&(id, p)| (p.distance_squared(point), id)).collect();
            sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let want = sorted.first().filter(|(d2, _)| *d2 <= 9.0).map(|&(_, id)| id);
            assert_eq!(pick_agent(agents.iter().copied(), point, 3.0), want, "at {point}");
        }
    }

    #[test]
    fn the_fitted_world_is_entirely_visible_right_of_the_panel() {
        let window = Vec2::new(1600.0, 900.0);
        // The default panel, one widened by dragging, and none (collapsed).
        for panel in [PANEL_WIDTH, 700.0, 0.0] {
            let (centre, scale) = fit_world(Vec2::new(1000.0, 1000.0), window, panel);
            let corner_px = |cursor: Vec2| screen_to_world(cursor, window, centre, scale);
            let top_left = corner_px(Vec2::new(panel, 0.0));
            let bottom_right = corner_px(window);
            assert!(top_left.x <= 0.0 && top_left.y >= 1000.0, "{panel}: {top_left}");
            assert!(bottom_right.x >= 1000.0 && bottom_right.y <= 0.0, "{panel}: {bottom_right}");
            // Snug: the world fills the free height or width within 5%.
            let free = Vec2::new(window.x - panel, window.y);
            assert!((1000.0 / scale - free.x.min(free.y)).abs() <= free.x.min(free.y) * 0.05 + 1.0, "{panel}: {scale}");
        }
    }
}
