//! The desktop simulation: the same [`SimulationPlugin`] the headless
//! benchmark runs, with a window, a renderer and an egui overlay on top.
//!
//! The simulation keeps its own clock: each rendered frame runs
//! [`SimControl::steps_per_update`] simulation frames (none while paused),
//! so a run of N simulation frames gives the same state as `genesis bench
//! --frames N` with the same seed, whatever the render rate.
//!
//! | module | what it draws or does |
//! |---|---|
//! | [`field`] | the background raster of one channel as a heat-map sprite |
//! | [`swarm`] | every agent as a triangle along its heading, one mesh, one draw call |
//! | [`annotations`] | active events, the neighbour graph, the selected agent (gizmos) |
//! | [`view`] | the 2-D camera: pan, zoom, fit; picking an agent under the cursor |
//! | [`controls`] | pause, step, speed, reset, reseed, respawn, loading scenario files; keyboard shortcuts |
//! | [`overlay`] | the egui panel: rates, stage latencies, anomalies, datasets, controls, the selected agent |
//! | [`capture`] | `--screenshot FILE --exit-after N` for tests and the README |
//!
//! Drawing reads the simulation's components and resources and never
//! writes them; everything the user changes goes through [`controls`],
//! which restarts the simulation with [`crate::sim::restart`].

pub mod annotations;
pub mod capture;
pub mod controls;
pub mod field;
pub mod overlay;
pub mod swarm;
pub mod view;

use std::path::PathBuf;

use bevy::prelude::*;
use bevy::window::WindowResolution;
use bevy_egui::EguiPlugin;

use crate::scenario::ScenarioFiles;
use crate::sim::{Scenario, SimControl, SimulationPlugin};

/// How the desktop app starts.
#[derive(Clone, Debug)]
pub struct DesktopOptions {
    /// The scenario, its files already loaded.
    pub scenario: Scenario,
    /// The files it was loaded from (shown, and kept when reloading).
    pub files: ScenarioFiles,
    /// Worker threads for the simulation (0: one per core).
    pub threads: usize,
    /// Window size in logical pixels.
    pub window: (u32, u32),
    pub steps_per_frame: u32,
    pub paused: bool,
    pub show_graph: bool,
    /// Close after this many rendered frames...
    pub exit_after: Option<u64>,
    /// ...saving a screenshot of the last one here first.
    pub screenshot: Option<PathBuf>,
}

/// What the user chose to see; read by the drawing systems.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewSettings {
    /// The background channel drawn as the heat-map.
    pub channel: usize,
    pub show_field: bool,
    pub show_events: bool,
    pub show_graph: bool,
    pub show_help: bool,
}

impl Default for ViewSettings {
    fn default() -> Self {
        Self { channel: 0, show_field: true, show_events: true, show_graph: false, show_help: false }
    }
}

/// The agent the user clicked on, by id.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Selection(pub Option<u32>);

/// Rendering, picking, controls and the overlay, for an app that already
/// has [`SimulationPlugin`] and a window.
pub struct DesktopPlugin {
    pub files: ScenarioFiles,
    pub scenario: Scenario,
}

impl Plugin for DesktopPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ViewSettings>()
            .init_resource::<Selection>()
            .insert_resource(controls::CurrentScenario { scenario: self.scenario.clone(), files: self.files.clone() })
            .add_plugins((
                view::plugin,
                field::plugin,
                swarm::plugin,
                annotations::plugin,
                controls::plugin,
                overlay::plugin,
            ));
    }
}

/// Opens the window and runs until it is closed (or `--exit-after`).
pub fn run(options: DesktopOptions) -> Result<(), String> {
    if cfg!(target_os = "linux") && ["DISPLAY", "WAYLAND_DISPLAY"].iter().all(|v| std::env::var_os(v).is_none()) {
        return Err("no display to open a window on (DISPLAY and WAYLAND_DISPLAY are unset): \
                    run `genesis bench` for the headless benchmark, or the desktop under \
                    `xvfb-run` (see the README)"
            .into());
    }
    let (width, height) = options.window;
    let mut app = App::new();
    app.add_plugins(DefaultPlugins.set(WindowPlugin {
        primary_window: Some(Window {
            title: "Genesis".into(),
            resolution: WindowResolution::new(width, height),
            ..default()
        }),
        ..default()
    }))
    .add_plugins(EguiPlugin::default())
    .add_plugins(SimulationPlugin {
        scenario: options.scenario.clone(),
        threads: options.threads,
        timing_capacity: 600,
    })
    .add_plugins(DesktopPlugin { files: options.files.clone(), scenario: options.scenario.clone() })
    .insert_resource(SimControl { paused: options.paused, steps_per_update: options.steps_per_frame })
    .insert_resource(ViewSettings { show_graph: options.show_graph, ..default() });
    if let Some(frames) = options.exit_after {
        app.add_plugins(capture::CapturePlugin { frames, screenshot: options.screenshot.clone() });
    }
    match app.run() {
        AppExit::Success => Ok(()),
        AppExit::Error(code) => Err(format!("the desktop app stopped with an error (code {code})")),
    }
}
