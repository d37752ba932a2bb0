//! The model's parameters (SPEC section 5), as one resource.
//!
//! Every stage reads its constants from [`ModelConfig`]; the command line
//! fills it in, and [`ModelConfig::validate`] is the single place that says
//! which values make sense, so the CLI and the desktop app reject the same
//! inputs with the same words.

use bevy::prelude::*;

/// Most sensor channels an agent can carry: storage is a fixed `[f32; 8]`
/// per agent, so the channel count can be lowered but not raised.
pub const MAX_CHANNELS: usize = 8;
/// Most neighbours kept per agent (the `K` of SPEC 4.1 can be set up to this).
pub const MAX_NEIGHBOURS: usize = 64;
/// Noise channel of the movement jitter (SPEC 2: channel 8).
pub const JITTER_CHANNEL: u64 = 8;

/// Parameters of the awareness model; `Default` is SPEC section 5.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Seed of every random number (SPEC 2).
    pub seed: u64,
    /// World width `W`.
    pub width: f32,
    /// World height `H`.
    pub height: f32,
    /// Background raster side `G` (cells per axis).
    pub raster: usize,
    /// Sensor channels `S` (1 to [`MAX_CHANNELS`]); fusion weights are `1/S`.
    pub channels: usize,
    /// Neighbour radius `R`.
    pub radius: f32,
    /// Neighbours kept, `K` (nearest first, ties by smaller id).
    pub neighbours: usize,
    /// Anomaly window `WIN`: fused values remembered per agent.
    pub window: usize,
    /// Anomaly threshold on the z-score.
    pub z_threshold: f32,
    /// Sensor noise amplitude `σ`.
    pub noise: f32,
    /// Time step `dt`.
    pub dt: f32,
    /// Speed at `y3 = 1`.
    pub top_speed: f32,
    /// Hidden units of the MLP (`S → hidden → 4`).
    pub hidden: usize,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            seed: 42,
            width: 1000.0,
            height: 1000.0,
            raster: 256,
            channels: 8,
            radius: 10.0,
            neighbours: 16,
            window: 64,
            z_threshold: 4.0,
            noise: 0.05,
            dt: 1.0 / 60.0,
            top_speed: 30.0,
            hidden: 16,
        }
    }
}

impl ModelConfig {
    /// Checks every parameter; the error names the option and the bound.
    pub fn validate(&self) -> Result<(), String> {
        fn positive(name: &str, v: f32) -> Result<(), String> {
            if v.is_finite() && v > 0.0 { Ok(()) } else { Err(format!("{name} must be a finite number > 0, got {v}")) }
        }
        fn non_negative(name: &str, v: f32) -> Result<(), String> {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(format!("{name} must be a finite number ≥ 0, got {v}"))
            }
        }
        fn within(name: &str, v: usize, lo: usize, hi: usize) -> Result<(), String> {
            if (lo..=hi).contains(&v) { Ok(()) } else { Err(format!("{name} must be between {lo} and {hi}, got {v}")) }
        }
        positive("--width", self.width)?;
        positive("--height", self.height)?;
        positive("--radius", self.radius)?;
        positive("--dt", self.dt)?;
        non_negative("--noise", self.noise)?;
        non_negative("--top-speed", self.top_speed)?;
        non_negative("--z-threshold", self.z_threshold)?;
        within("--raster", self.raster, 1, 8192)?;
        within("--channels", self.channels, 1, MAX_CHANNELS)?;
        within("--neighbours", self.neighbours, 1, MAX_NEIGHBOURS)?;
        within("--window", self.window, 1, 4096)?;
        within("--hidden", self.hidden, 1, 256)?;
        Ok(())
    }
}
