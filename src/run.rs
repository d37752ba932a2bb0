//! A simulation you drive frame by frame: build it from a [`Scenario`],
//! step it, read its state, ask for its report.
//!
//! This is the one implementation of a run behind every door: `genesis
//! bench` steps one through its warm-up and its measured frames, each
//! `genesis sweep` row is one, and the Python package's `Simulation` holds
//! one and steps it as Python asks. So a run's numbers (its dump, its
//! report) do not depend on which door started it.
//!
//! A [`Run`] holds the app's main [`SubApp`], not the [`App`]: a sub-app is
//! `Send` (an `App` is not), so a run can be stepped on another thread
//! than the one that built it — Python releases its lock (the GIL) while
//! frames run. Frames run *on* the simulation's worker pool, all of one
//! [`Run::step`] in one hand-off, so each stage starts its parallel loop
//! where it is instead of waking the pool and sleeping until it is done.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use bevy::app::SubApp;
use bevy::prelude::*;

use crate::bench::{BenchReport, StageReport, peak_rss_bytes};
use crate::series::SeriesPlugin;
use crate::sim::timing::SampleRing;
use crate::sim::{
    AnomalyCount, ComputePool, DetectionScore, LiveReadings, Scenario, SimClock, SpaceOrder, Stage, StageTimings,
    parallel::Isa,
};

/// How a run is set up, beyond its scenario.
#[derive(Clone, Debug)]
pub struct RunSettings {
    /// Worker threads (0: one per core). Results do not depend on it.
    pub threads: usize,
    /// Put the agents back in space order every this many frames (0:
    /// never); see [`crate::sim::spatial::order`]. Results do not depend on it.
    pub reorder_every: u64,
    /// Frames of timing kept for the report's percentiles (the newest).
    pub timing_capacity: usize,
    /// Record a per-frame time series ([`crate::series`]) of up to this many
    /// frames.
    pub series_frames: Option<usize>,
    /// Make the calling thread one of the workers
    /// ([`ComputePool::joined_by_caller`]): for a process's one run only.
    pub join_pool: bool,
}

impl RunSettings {
    /// `threads` workers, SPEC's space order, no series, timing kept for
    /// `timing_capacity` frames.
    pub fn new(threads: usize, timing_capacity: usize) -> Self {
        Self {
            threads,
            reorder_every: SpaceOrder::default().every,
            timing_capacity,
            series_frames: None,
            join_pool: false,
        }
    }
}

/// A simulation ready for its next frame.
pub struct Run {
    app: SubApp,
    scenario: Scenario,
    settings: RunSettings,
    /// Wall time of each measured frame (one app update), newest kept.
    frame_ns: SampleRing,
    /// Frames measured since [`Self::start_measuring`], and the wall time
    /// spent stepping them.
    measured: u64,
    busy: Duration,
    /// The frame measuring started at (the report's warm-up).
    measured_from: u64,
}

impl Run {
    /// Builds the simulation of `scenario`, its agents spawned, at frame 0.
    pub fn new(scenario: Scenario, settings: RunSettings) -> Self {
        let mut app =
            crate::bench::build_app_with(scenario.clone(), settings.threads, settings.timing_capacity, |app| {
                if let Some(frames) = settings.series_frames {
                    app.add_plugins(SeriesPlugin { frames });
                }
                app.insert_resource(SpaceOrder { every: settings.reorder_every });
                if settings.join_pool {
                    app.insert_resource(ComputePool::joined_by_caller(settings.threads));
                }
            });
        let app = std::mem::take(app.main_mut());
        let frame_ns = SampleRing::new(settings.timing_capacity);
        Self { app, scenario, settings, frame_ns, measured: 0, busy: Duration::ZERO, measured_from: 0 }
    }

    /// Frames simulated so far (the next frame's `t`).
    pub fn frame(&self) -> u64 {
        self.app.world().resource::<SimClock>().frame
    }

    /// Agents in the simulation.
    pub fn agents(&self) -> usize {
        self.app.world().resource::<crate::sim::IdOrder>().len()
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn settings(&self) -> &RunSettings {
        &self.settings
    }

    pub fn world(&self) -> &World {
        self.app.world()
    }

    pub fn world_mut(&mut self) -> &mut World {
        self.app.world_mut()
    }

    /// Runs up to `frames` frames, calling `after_frame` with the frame
    /// count after each; it can stop the run early ([`ControlFlow::Break`]).
    /// Returns the frames run.
    pub fn step(&mut self, frames: u64, mut after_frame: impl FnMut(u64) -> ControlFlow<()> + Send) -> u64 {
        let pool = self.app.world().resource::<ComputePool>().clone();
        let Self { app, frame_ns, .. } = self;
        let started = Instant::now();
        let done = pool.install(|| {
            let mut done = 0;
            while done < frames {
                let t0 = Instant::now();
                app.update();
                frame_ns.push(t0.elapsed().as_nanos() as u64);
                done += 1;
                if after_frame(app.world().resource::<SimClock>().frame).is_break() {
                    break;
                }
            }
            done
        });
        self.busy += started.elapsed();
        self.measured += done;
        done
    }

    /// Runs one frame with `readings` in place of sensing.
    pub fn step_with_readings(&mut self, readings: LiveReadings) {
        assert_eq!(readings.frame, self.frame(), "readings for another frame");
        self.app.world_mut().insert_resource(readings);
        self.step(1, |_| ControlFlow::Continue(()));
        self.app.world_mut().remove_resource::<LiveReadings>();
    }

    /// Forgets the timings so far: the report covers the frames after this
    /// (the benchmark calls it after its warm-up).
    pub fn start_measuring(&mut self) {
        self.app.world_mut().resource_mut::<StageTimings>().clear();
        self.frame_ns.clear();
        self.measured = 0;
        self.busy = Duration::ZERO;
        self.measured_from = self.frame();
    }

    /// Back to frame 0 of the same scenario, as a new run would start
    /// (tested: the same frames then give the same state).
    pub fn reset(&mut self) {
        let world = self.app.world_mut();
        world.remove_resource::<LiveReadings>();
        crate::sim::restart(world, self.scenario.clone());
        self.start_measuring();
    }

    /// Speed and awareness over the measured frames.
    pub fn report(&mut self) -> BenchReport {
        let measured = self.measured;
        let hz = if self.busy.is_zero() { 0.0 } else { measured as f64 / self.busy.as_secs_f64() };
        let mut scratch = Vec::new();
        let agents = self.agents();
        let world = self.app.world_mut();
        let timings = world.resource::<StageTimings>();
        let us = |ns: Option<u64>| ns.unwrap_or(0) as f64 / 1e3;
        let systems = Stage::ALL
            .iter()
            .map(|&stage| {
                let ring = timings.stage(stage);
                StageReport {
                    name: stage.name(),
                    p50_us: us(ring.percentile_with(50.0, &mut scratch)),
                    p99_us: us(ring.percentile_with(99.0, &mut scratch)),
                }
            })
            .collect();
        let ms = |ns: Option<u64>| ns.unwrap_or(0) as f64 / 1e6;
        let count = *world.resource::<AnomalyCount>();
        let (fused_mean, fused_sd, nbr_count_mean) = crate::series::summarize_world(world);
        let frames = world.resource::<SimClock>().frame;
        BenchReport {
            agents,
            frames,
            warmup: self.measured_from,
            threads: world.resource::<ComputePool>().threads(),
            seed: self.scenario.config.seed,
            isa: Isa::best().name(),
            machine: crate::machine::Machine::this(),
            hz,
            wall_seconds: self.busy.as_secs_f64(),
            frame_ms_p50: ms(self.frame_ns.percentile_with(50.0, &mut scratch)),
            frame_ms_p99: ms(self.frame_ns.percentile_with(99.0, &mut scratch)),
            frame_ms_max: ms(self.frame_ns.max()),
            systems,
            peak_rss_bytes: peak_rss_bytes(),
            anomalies_total: count.total,
            anomalies_last_frame: count.this_frame,
            detection: world.resource::<DetectionScore>().clone(),
            fused_mean,
            fused_sd,
            nbr_count_mean,
            config: self.scenario.config.clone(),
            reorder_every: self.settings.reorder_every,
            datasets: self.scenario.datasets.clone(),
            weights: self.scenario.weights.is_some(),
        }
    }
}
