//! # Genesis
//!
//! A real-time environmental-awareness simulation: thousands to millions of
//! agents in a 2-D world sense their environment, fuse what they sense with
//! what their neighbours know, run a small neural network, flag anomalies
//! and move, every frame. The model is pinned down in `SPEC.md` (shared with
//! other implementations) and implemented exactly here, as Bevy ECS
//! systems.
//!
//! | module | what it is |
//! |---|---|
//! | [`sim`] | the model as a headless Bevy plugin: one module per pipeline stage |
//! | [`rng`] | the counter-based random numbers every stage draws from |
//! | [`run`] | a simulation you step: the one run behind the benchmark, the sweep and Python |
//! | [`state`] | the agents' state in id order: the state dump and the Python arrays |
//! | [`bench`](mod@bench) | the headless benchmark: run N frames, report speed and awareness |
//! | [`series`] | per-frame time series of a run |
//! | [`sweep`] | many runs across parameters and seeds, resumable |
//! | [`csv`] | the CSV engine: RFC 4180 parser, typed columns, dataset statistics (no Bevy) |
//! | [`scenario`] | agents, events and sensor-trace files, checked against the model |
//! | [`weights`] | trained MLP weights (safetensors files or arrays), checked against the model |
//! | `desktop` | the window: the simulation drawn live with an egui overlay (feature `desktop`) |
//! | [`cli`] | the command line, a thin layer that builds a [`sim::Scenario`] |
//!
//! Run a simulation in your own app:
//!
//! ```no_run
//! use bevy::prelude::*;
//! use genesis::sim::SimulationPlugin;
//!
//! let mut app = App::new();
//! app.add_plugins(SimulationPlugin::default());
//! for _ in 0..100 {
//!     app.update(); // one simulation frame per update by default
//! }
//! ```

pub mod bench;
pub mod cli;
pub mod csv;
#[cfg(feature = "desktop")]
pub mod desktop;
pub mod generate;
pub mod machine;
pub mod rng;
pub mod run;
pub mod scenario;
pub mod series;
pub mod sim;
pub mod state;
pub mod sweep;
pub mod weights;
