//! What the user can change: pause, single step, simulation steps per
//! rendered frame, reset, seed, agent count, scenario files, and what is
//! shown. The overlay's buttons and the keyboard shortcuts both write
//! [`Requests`]; one exclusive system applies them before the simulation
//! runs, so a restart is never half-done while a frame is computed.
//!
//! Everything that changes the model restarts it with
//! [`crate::sim::restart`] from [`CurrentScenario`]: the state is then what
//! `genesis bench` would have after the same frames with the same options.

use bevy::prelude::*;
use bevy_egui::input::EguiWantsInput;

use super::{Selection, ViewSettings};
use crate::scenario::{ScenarioFiles, embedded_default, without_built_in};
use crate::sim::{ModelConfig, Population, Scenario, SimControl, advance_simulation, restart, run_frames};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<Requests>()
        .init_resource::<ScenarioMessage>()
        .add_systems(Update, (shortcuts, apply_requests.after(shortcuts).before(advance_simulation)));
}

/// The scenario the simulation was last started from, and its files.
#[derive(Resource, Clone, Debug)]
pub struct CurrentScenario {
    pub scenario: Scenario,
    pub files: ScenarioFiles,
}

/// A change of the simulation asked for this frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Restart {
    /// The same scenario from frame 0.
    Reset,
    /// Another seed (positions, noise, events and raster change with it).
    Seed(u64),
    /// `n` generated agents (replacing an agents file).
    Agents(u32),
    /// Load these files over the current model and agent count.
    Load(ScenarioFiles),
}

/// Pending actions, applied once per rendered frame by [`apply_requests`].
#[derive(Resource, Debug, Default)]
pub struct Requests {
    /// Frames to run now even while paused.
    pub step: u32,
    pub restart: Option<Restart>,
}

/// The outcome of the last scenario change, shown in the overlay: an error
/// names the file, line and column; the app keeps running the old scenario.
#[derive(Resource, Debug, Default)]
pub struct ScenarioMessage(pub Option<Result<String, String>>);

/// The scenario a restart asks for, built from the current one; an error
/// (a bad file) leaves the current one as it is.
pub fn next_scenario(current: &CurrentScenario, restart: &Restart) -> Result<CurrentScenario, String> {
    let config = &current.scenario.config;
    let agents = current.scenario.population.len() as u32;
    // Generated agents and the given files, read again (so their
    // statistics are fresh and a trace is checked against the agents).
    let load = |agents: u32, files: ScenarioFiles| {
        if agents == 0 {
            return Err("the agent count must be at least 1".to_string());
        }
        let population = Population::Generated(agents);
        let weights = current.scenario.weights.clone();
        let mut scenario = Scenario { config: config.clone(), population, weights, ..Scenario::default() };
        files.load_into(&mut scenario).map_err(|e| e.to_string())?;
        embedded_default(&mut scenario).map_err(|e| e.to_string())?;
        Ok(CurrentScenario { scenario, files })
    };
    match restart {
        Restart::Reset => Ok(current.clone()),
        // Everything drawn from the seed (positions, noise, events, the
        // raster) is drawn again; files stay as they are.
        Restart::Seed(seed) => {
            let mut scenario =
                Scenario { config: ModelConfig { seed: *seed, ..config.clone() }, ..current.scenario.clone() };
            // The built-in files hold seed 42's world: another seed draws
            // its own (and seed 42 reads the files again).
            without_built_in(&mut scenario);
            embedded_default(&mut scenario).map_err(|e| e.to_string())?;
            Ok(CurrentScenario { scenario, files: current.files.clone() })
        }
        // Generated agents replace an agents file.
        Restart::Agents(n) => load(*n, ScenarioFiles { agents: None, ..current.files.clone() }),
        Restart::Load(files) => load(agents, files.clone()),
    }
}

/// Applies the pending requests.
pub fn apply_requests(world: &mut World) {
    let Requests { step, restart: wanted } = std::mem::take(&mut *world.resource_mut::<Requests>());
    if let Some(wanted) = wanted {
        let outcome = next_scenario(world.resource::<CurrentScenario>(), &wanted);
        let message = match outcome {
            Ok(next) => {
                restart(world, next.scenario.clone());
                let agents = next.scenario.population.len();
                world.insert_resource(next);
                world.resource_mut::<Selection>().0 = None;
                Ok(format!("started {agents} agents"))
            }
            Err(error) => Err(error),
        };
        world.resource_mut::<ScenarioMessage>().0 = Some(message);
    }
    if step > 0 {
        run_frames(world, step);
    }
}

/// The keyboard shortcuts (also listed in the overlay's help).
pub const SHORTCUTS: [(&str, &str); 11] = [
    ("Space", "pause / resume"),
    ("N  or  →", "one frame (while paused)"),
    ("↑ / ↓", "double / halve steps per frame"),
    ("R", "reset to frame 0"),
    ("0 … 7", "field channel shown"),
    ("F", "field on / off"),
    ("E", "event circles on / off"),
    ("G", "neighbour graph on / off"),
    ("Home", "fit the world in the window"),
    ("Esc", "clear the selection"),
    ("H", "this help"),
];

/// Most simulation frames per rendered frame the controls allow.
pub const MAX_STEPS: u32 = 4096;

fn shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Res<EguiWantsInput>,
    config: Res<ModelConfig>,
    mut control: ResMut<SimControl>,
    mut view: ResMut<ViewSettings>,
    mut requests: ResMut<Requests>,
    mut selection: ResMut<Selection>,
) {
    if egui.wants_keyboard_input() {
        return;
    }
    if keys.just_pressed(KeyCode::Space) {
        control.paused = !control.paused;
    }
    if control.paused && (keys.just_pressed(KeyCode::KeyN) || keys.just_pressed(KeyCode::ArrowRight)) {
        requests.step += 1;
    }
    if keys.just_pressed(KeyCode::ArrowUp) {
        control.steps_per_update = (control.steps_per_update * 2).min(MAX_STEPS);
    }
    if keys.just_pressed(KeyCode::ArrowDown) {
        control.steps_per_update = (control.steps_per_update / 2).max(1);
    }
    if keys.just_pressed(KeyCode::KeyR) {
        requests.restart = Some(Restart::Reset);
    }
    const DIGITS: [KeyCode; 8] = [
        KeyCode::Digit0,
        KeyCode::Digit1,
        KeyCode::Digit2,
        KeyCode::Digit3,
        KeyCode::Digit4,
        KeyCode::Digit5,
        KeyCode::Digit6,
        KeyCode::Digit7,
    ];
    for (channel, key) in DIGITS.iter().enumerate().take(config.channels) {
        if keys.just_pressed(*key) {
            view.channel = channel;
        }
    }
    if keys.just_pressed(KeyCode::KeyF) {
        view.show_field = !view.show_field;
    }
    if keys.just_pressed(KeyCode::KeyE) {
        view.show_events = !view.show_events;
    }
    if keys.just_pressed(KeyCode::KeyG) {
        view.show_graph = !view.show_graph;
    }
    if keys.just_pressed(KeyCode::KeyH) {
        view.show_help = !view.show_help;
    }
    if keys.just_pressed(KeyCode::Escape) {
        selection.0 = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{build_app, build_app_with};
    use crate::state::write_dump;
    use std::path::PathBuf;

    fn dump(world: &mut World) -> Vec<u8> {
        let mut out = Vec::new();
        write_dump(world, &mut out).unwrap();
        out
    }

    /// The desktop's clock: steps per rendered frame, pauses, single steps
    /// and a reset in between all land on the state `bench` has after the
    /// same number of simulation frames.
    #[test]
    fn the_simulation_clock_ignores_how_frames_are_rendered() {
        let config = ModelConfig { width: 300.0, height: 300.0, ..ModelConfig::default() };
        let scenario = Scenario { config, population: Population::Generated(800), ..Scenario::default() };
        let mut bench = build_app(scenario.clone(), 2, 16);
        for _ in 0..150 {
            bench.update();
        }

        let current = CurrentScenario { scenario: scenario.clone(), files: ScenarioFiles::default() };
        let mut app = build_app_with(scenario, 2, 16, |app| {
            app.insert_resource(current)
                .init_resource::<Requests>()
                .init_resource::<ScenarioMessage>()
                .init_resource::<Selection>()
                .add_systems(Update, apply_requests.before(advance_simulation));
        });
        let render = |app: &mut App, frames: u32| (0..frames).for_each(|_| app.update());
        // 40 frames at 1 per rendered frame, then a reset to frame 0.
        render(&mut app, 40);
        app.world_mut().resource_mut::<Requests>().restart = Some(Restart::Reset);
        render(&mut app, 1); // restart, then 1 frame
        // 7 rendered frames of 16 steps: frame 113.
        app.world_mut().resource_mut::<SimControl>().steps_per_update = 16;
        render(&mut app, 7);
        // Paused: rendering runs no frames; three single steps run three.
        app.world_mut().resource_mut::<SimControl>().paused = true;
        render(&mut app, 5);
        for _ in 0..3 {
            app.world_mut().resource_mut::<Requests>().step += 1;
            render(&mut app, 1);
        }
        // Resumed at 34 per rendered frame: one more is frame 150.
        let control = SimControl { paused: false, steps_per_update: 34 };
        app.insert_resource(control);
        render(&mut app, 1);
        assert_eq!(app.world().resource::<crate::sim::SimClock>().frame, 150);
        assert!(dump(bench.world_mut()) == dump(app.world_mut()), "desktop clock state differs from bench");
        assert_eq!(
            *app.world().resource::<crate::sim::AnomalyCount>(),
            *bench.world().resource::<crate::sim::AnomalyCount>()
        );
    }

    fn current() -> CurrentScenario {
        CurrentScenario { scenario: Scenario::default(), files: ScenarioFiles::default() }
    }

    #[test]
    fn seed_and_agent_changes_keep_the_rest_of_the_model() {
        let base = current();
        let seeded = next_scenario(&base, &Restart::Seed(7)).unwrap();
        assert_eq!(seeded.scenario.config, ModelConfig { seed: 7, ..ModelConfig::default() });
        assert_eq!(seeded.scenario.population, Population::Generated(10_000));
        let grown = next_scenario(&seeded, &Restart::Agents(2500)).unwrap();
        assert_eq!(grown.scenario.population, Population::Generated(2500));
        assert_eq!(grown.scenario.config.seed, 7);
        assert!(next_scenario(&base, &Restart::Agents(0)).is_err());
    }

    /// The default world runs from the built-in files; another seed draws
    /// its own world (the files hold seed 42's), and seed 42 or 10,000
    /// agents again read the files again.
    #[test]
    fn a_restart_leaves_the_built_in_files_only_for_another_world() {
        let mut built_in = Scenario::default();
        assert!(embedded_default(&mut built_in).unwrap());
        let base = CurrentScenario { scenario: built_in, files: ScenarioFiles::default() };
        assert!(matches!(base.scenario.population, Population::Listed(_)));
        let seeded = next_scenario(&base, &Restart::Seed(7)).unwrap();
        assert_eq!(seeded.scenario.population, Population::Generated(10_000));
        assert!(matches!(seeded.scenario.events, crate::sim::EventSchedule::Default));
        assert!(seeded.scenario.datasets.is_empty());
        let back = next_scenario(&seeded, &Restart::Seed(42)).unwrap();
        assert!(matches!(back.scenario.population, Population::Listed(_)));
        assert_eq!(back.scenario.datasets.len(), 2);
        let fewer = next_scenario(&back, &Restart::Agents(500)).unwrap();
        assert_eq!(fewer.scenario.population, Population::Generated(500));
        assert!(fewer.scenario.datasets.is_empty());
        assert_eq!(next_scenario(&fewer, &Restart::Agents(10_000)).unwrap().scenario.datasets.len(), 2);
    }

    #[test]
    fn a_bad_file_is_an_error_naming_it_and_changes_nothing() {
        let dir = std::env::temp_dir().join(format!("genesis-controls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("agents.csv");
        std::fs::write(&path, "id,x,y\n0,1,2\n1,oops,3\n").unwrap();
        let files = ScenarioFiles { agents: Some(path.clone()), ..ScenarioFiles::default() };
        let error = next_scenario(&current(), &Restart::Load(files)).unwrap_err();
        assert!(error.contains("agents.csv") && error.contains(":3:"), "{error}");

        std::fs::write(&path, "id,x,y\n0,1,2\n1,5,3\n").unwrap();
        let files = ScenarioFiles { agents: Some(path.clone()), ..ScenarioFiles::default() };
        let loaded = next_scenario(&current(), &Restart::Load(files.clone())).unwrap();
        assert_eq!(loaded.scenario.population.len(), 2);
        assert_eq!(loaded.files, files);
        assert_eq!(loaded.scenario.datasets.len(), 1);
        // Back to generated agents: the agents file and its statistics go.
        let generated = next_scenario(&loaded, &Restart::Agents(50)).unwrap();
        assert_eq!(generated.files.agents, None::<PathBuf>);
        assert!(generated.scenario.datasets.is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
