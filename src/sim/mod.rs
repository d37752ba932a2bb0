//! The awareness model (SPEC sections 1–6) as a Bevy plugin.
//!
//! Agents are entities. One simulation frame is one run of the [`SimFrame`]
//! schedule, whose systems sit in six public, chained [`Stage`] sets in the
//! order of SPEC section 4:
//!
//! | set | module | reads → writes |
//! |---|---|---|
//! | [`Stage::Spatial`] | [`spatial`] | positions, previous `fused` → [`Neighbourhood`] |
//! | [`Stage::Sensing`] | [`sensing`] | positions, environment → [`Sensors`] |
//! | [`Stage::Fusion`] | [`fusion`] | sensors, neighbourhood → [`Fused`] |
//! | [`Stage::Inference`] | [`inference`] | sensors → [`MlpOutput`] |
//! | [`Stage::Anomaly`] | [`anomaly`] | `fused` and its history → [`Anomaly`] |
//! | [`Stage::Movement`] | [`movement`] | MLP steer → [`Position`], [`Heading`] |
//!
//! After them, the public [`AfterFrame`] set holds observers (the time
//! series recorder) whose cost counts in no stage. The detection score
//! ([`detection`]) runs inside [`Stage::Anomaly`], after the detector, while
//! positions are still those the agents sensed from.
//!
//! [`SimulationPlugin`] needs no window, renderer or GPU: the headless
//! benchmark runs it alone, and the desktop app adds drawing on top of it.
//! The schedule is run from `Update` by [`advance_simulation`], as many
//! frames per app update as [`SimControl::steps_per_update`] says, so the
//! simulation keeps its own clock whatever the render rate.
//!
//! Inside each stage, agents are processed in parallel in fixed-size chunks
//! on a [`ComputePool`] of `--threads` workers, and every random number is a
//! pure function of `(seed, id, frame)`: the same seed gives bit-identical
//! state on one thread or many.

pub mod agents;
pub mod anomaly;
pub mod config;
pub mod detection;
pub mod environment;
pub mod fusion;
pub mod inference;
pub mod movement;
pub mod parallel;
pub mod sensing;
pub mod spatial;
pub mod timing;

use bevy::ecs::schedule::{ScheduleLabel, SingleThreadedExecutor};
use bevy::prelude::*;

use crate::csv::DatasetStats;
pub use agents::{Agent, AgentId, AgentSlot, AgentSpec, Heading, IdOrder, Population, Position};
pub use anomaly::{Anomaly, AnomalyCount};
pub use config::ModelConfig;
pub use detection::DetectionScore;
pub use environment::{Background, Event, EventSchedule};
pub use fusion::Fused;
pub use inference::{Mlp, MlpOutput};
pub use parallel::ComputePool;
pub use sensing::{LiveReadings, SensorTrace, Sensors};
pub use spatial::{Neighbourhood, SpaceOrder};
pub use timing::StageTimings;

/// The schedule that sets a simulation up from its [`Scenario`]: spawning
/// the agents and sizing or zeroing each stage's state. It runs at
/// `Startup` and again on every [`restart`]; a stage that keeps state from
/// frame to frame resets it here.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimStart;

/// The schedule that advances the model by one frame.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SimFrame;

/// The six pipeline stages of SPEC section 4, chained in this order inside
/// [`SimFrame`]. Add your own systems to a set to run (and be timed) with it.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    Spatial,
    Sensing,
    Fusion,
    Inference,
    Anomaly,
    Movement,
}

impl Stage {
    /// All stages in execution order.
    pub const ALL: [Stage; 6] =
        [Stage::Spatial, Stage::Sensing, Stage::Fusion, Stage::Inference, Stage::Anomaly, Stage::Movement];

    /// The stage's name in reports (`systems[].name` of the JSON report).
    pub fn name(self) -> &'static str {
        match self {
            Stage::Spatial => "spatial",
            Stage::Sensing => "sensing",
            Stage::Fusion => "fusion",
            Stage::Inference => "inference",
            Stage::Anomaly => "anomaly",
            Stage::Movement => "movement",
        }
    }
}

/// Runs after the six stages and their timing, before the clock moves on:
/// the place for observers (time series, recorders) whose cost should not
/// count in any stage's latency. `SimClock::frame` is still the frame just
/// computed.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AfterFrame;

/// Frame bookkeeping around the stages: timing laps and the clock.
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Boundary {
    Begin,
    After(Stage),
    End,
}

/// The frame counter `t` of SPEC section 4: the frame being computed, and
/// after it, the number of frames done.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SimClock {
    pub frame: u64,
}

/// How the app drives the simulation.
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SimControl {
    /// When set, app updates run no simulation frames.
    pub paused: bool,
    /// Simulation frames per app update.
    pub steps_per_update: u32,
}

impl Default for SimControl {
    fn default() -> Self {
        Self { paused: false, steps_per_update: 1 }
    }
}

/// Everything a simulation is made from: the model, the agents and the
/// events. [`SimulationPlugin`] turns it into resources and entities.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub config: ModelConfig,
    pub population: Population,
    pub events: EventSchedule,
    /// Recorded readings replayed in place of sensing.
    pub trace: Option<SensorTrace>,
    /// Statistics of the CSV files the scenario was loaded from.
    pub datasets: Vec<DatasetStats>,
    /// Trained MLP weights ([`crate::weights`]); `None` runs SPEC 4.4's.
    pub weights: Option<Mlp>,
}

/// Statistics of every CSV file the running scenario was loaded from (for
/// reports and the overlay).
#[derive(Resource, Clone, Debug, Default)]
pub struct LoadedDatasets(pub Vec<DatasetStats>);

impl Default for Scenario {
    /// SPEC defaults: 10,000 generated agents and the default events.
    fn default() -> Self {
        Self {
            config: ModelConfig::default(),
            population: Population::Generated(10_000),
            events: EventSchedule::Default,
            trace: None,
            datasets: Vec::new(),
            weights: None,
        }
    }
}

/// The headless awareness simulation.
pub struct SimulationPlugin {
    pub scenario: Scenario,
    /// Worker threads for the stages (0: one per core).
    pub threads: usize,
    /// Frames of timing history kept for percentiles.
    pub timing_capacity: usize,
}

impl Default for SimulationPlugin {
    fn default() -> Self {
        Self { scenario: Scenario::default(), threads: 0, timing_capacity: 600 }
    }
}

impl Plugin for SimulationPlugin {
    fn build(&self, app: &mut App) {
        install_scenario(app.world_mut(), self.scenario.clone());
        app.insert_resource(ComputePool::new(self.threads))
            .insert_resource(StageTimings::with_capacity(self.timing_capacity))
            .init_resource::<SimClock>()
            .init_resource::<SimControl>()
            .init_schedule(SimStart)
            .add_systems(SimStart, reset_clock)
            .add_systems(Startup, |world: &mut World| world.run_schedule(SimStart))
            .init_schedule(SimFrame)
            .edit_schedule(SimFrame, |schedule| {
                // Stages are strictly ordered and parallel inside; a
                // multi-threaded executor would only add overhead.
                schedule.set_executor(SingleThreadedExecutor::new());
            })
            .configure_sets(
                SimFrame,
                (
                    Boundary::Begin,
                    Stage::Spatial,
                    Boundary::After(Stage::Spatial),
                    Stage::Sensing,
                    Boundary::After(Stage::Sensing),
                    Stage::Fusion,
                    Boundary::After(Stage::Fusion),
                    Stage::Inference,
                    Boundary::After(Stage::Inference),
                    Stage::Anomaly,
                    Boundary::After(Stage::Anomaly),
                    Stage::Movement,
                    Boundary::After(Stage::Movement),
                    AfterFrame,
                    Boundary::End,
                )
                    .chain(),
            )
            .add_systems(SimFrame, (timing::begin_frame.in_set(Boundary::Begin), advance_clock.in_set(Boundary::End)))
            .add_systems(Update, advance_simulation);
        for stage in Stage::ALL {
            app.add_systems(SimFrame, timing::end_stage(stage).in_set(Boundary::After(stage)));
        }
        app.add_plugins((
            agents::plugin,
            environment::plugin,
            spatial::plugin,
            sensing::plugin,
            fusion::plugin,
            inference::plugin,
            anomaly::plugin,
            detection::plugin,
            movement::plugin,
        ));
    }
}

/// Runs the frames this app update owes the simulation.
///
/// The frames run *on* the worker pool: the stages' own `install` calls
/// then start their parallel loops where they are instead of handing work
/// to the pool and sleeping until it is done. On this kind of machine each
/// such hand-off costs tens of microseconds, once per stage; now it is paid
/// once per update.
pub fn advance_simulation(world: &mut World) {
    let control = *world.resource::<SimControl>();
    if !control.paused {
        run_frames(world, control.steps_per_update);
    }
}

/// Runs `frames` simulation frames now, paused or not (single-stepping).
pub fn run_frames(world: &mut World, frames: u32) {
    let pool = world.resource::<ComputePool>().clone();
    pool.install(|| {
        for _ in 0..frames {
            world.run_schedule(SimFrame);
        }
    });
}

/// Puts the resources of `scenario` in place (replacing any earlier ones).
fn install_scenario(world: &mut World, scenario: Scenario) {
    let Scenario { config, population, events, trace, datasets, weights } = scenario;
    match trace {
        Some(trace) => world.insert_resource(trace),
        None => {
            world.remove_resource::<SensorTrace>();
        }
    }
    world.insert_resource(LoadedDatasets(datasets));
    // The raster follows from the model alone: a restart with the same
    // model (reset, respawn, other files) keeps it.
    world.insert_resource(weights.unwrap_or_else(|| Mlp::default_for(&config)));
    if world.get_resource::<ModelConfig>() != Some(&config) {
        world.insert_resource(Background::new(&config));
        world.insert_resource(config);
    }
    world.insert_resource(population);
    world.insert_resource(events);
}

/// Replaces the running simulation with a fresh one of `scenario`, in the
/// state a new app would start in: the agents are despawned and spawned
/// again, and [`SimStart`] resets every stage. Running the same frames
/// afterwards gives the same results as a new app (tested). The worker pool
/// and [`SimControl`] are kept.
pub fn restart(world: &mut World, scenario: Scenario) {
    let agents: Vec<Entity> = world.query_filtered::<Entity, With<Agent>>().iter(world).collect();
    for agent in agents {
        world.despawn(agent);
    }
    install_scenario(world, scenario);
    world.run_schedule(SimStart);
}

fn reset_clock(mut clock: ResMut<SimClock>, mut timings: ResMut<StageTimings>) {
    *clock = SimClock::default();
    timings.clear();
}

fn advance_clock(mut clock: ResMut<SimClock>) {
    clock.frame += 1;
}
