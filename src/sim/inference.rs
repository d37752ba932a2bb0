//! Stage 4, neural inference (SPEC 4.4): a small MLP per agent,
//! `S → hidden → 4`, logistic sigmoid on both layers.
//!
//! The weights live in `ndarray` arrays and inference is batched: the
//! sensors of a chunk of agents are viewed, without copying, as an
//! `n × S` matrix (the [`Sensors`] column of the ECS table is exactly that,
//! row-major), multiplied by `W1` into a per-thread scratch matrix, and the
//! hidden layer multiplied by `W2` straight into the [`MlpOutput`] column.
//! Chunks have a fixed size, so results do not depend on the thread count.

use std::cell::RefCell;

use bevy::prelude::*;
use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut2, linalg::general_mat_mul, s};
use rayon::prelude::*;

use super::{
    Stage,
    agents::Agent,
    config::{MAX_CHANNELS, ModelConfig},
    parallel::{CHUNK, ComputePool, TABLES},
    sensing::Sensors,
};
use crate::rng::{MLP_SALT, splitmix64, unit};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, MlpOutput>().add_systems(super::SimFrame, infer.in_set(Stage::Inference));
}

/// Outputs of the MLP: `y0` threat, `y1` interest, `y2, y3` steer.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct MlpOutput(pub [f32; OUTPUTS]);

impl MlpOutput {
    pub fn threat(&self) -> f32 {
        self.0[0]
    }
    pub fn interest(&self) -> f32 {
        self.0[1]
    }
    /// `y2`: turn (0.5 is straight on).
    pub fn turn(&self) -> f32 {
        self.0[2]
    }
    /// `y3`: speed as a share of the top speed.
    pub fn throttle(&self) -> f32 {
        self.0[3]
    }
}

/// Output units of the MLP.
pub const OUTPUTS: usize = 4;

/// The network's weights (biases are zero by default but kept general).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct Mlp {
    /// `S × hidden`.
    pub w1: Array2<f32>,
    pub b1: Array1<f32>,
    /// `hidden × 4`.
    pub w2: Array2<f32>,
    pub b2: Array1<f32>,
}

impl Mlp {
    /// SPEC 4.4's default weights: element `n` of `W1` then `W2`, flattened
    /// row-major, is `(2·unit(splitmix64(salt ^ n)) - 1) · sqrt(6 / fans)`.
    pub fn default_for(config: &ModelConfig) -> Self {
        let (inputs, hidden) = (config.channels, config.hidden);
        let weight = |n: usize, fans: usize| {
            let u = 2.0 * unit(splitmix64(MLP_SALT ^ n as u64)) - 1.0;
            (u as f64 * (6.0 / fans as f64).sqrt()) as f32
        };
        let w1 = Array2::from_shape_fn((inputs, hidden), |(r, c)| weight(r * hidden + c, inputs + hidden));
        let offset = inputs * hidden;
        let w2 = Array2::from_shape_fn((hidden, OUTPUTS), |(r, c)| weight(offset + r * OUTPUTS + c, hidden + OUTPUTS));
        Self { w1, b1: Array1::zeros(hidden), w2, b2: Array1::zeros(OUTPUTS) }
    }

    pub fn inputs(&self) -> usize {
        self.w1.nrows()
    }

    pub fn hidden(&self) -> usize {
        self.w1.ncols()
    }

    /// Runs the network on `sensors.len()` agents, writing `outputs`;
    /// `hidden` is scratch space, grown as needed.
    pub fn infer_batch(&self, sensors: &[Sensors], outputs: &mut [MlpOutput], hidden: &mut Vec<f32>) {
        let n = sensors.len();
        assert_eq!(n, outputs.len());
        let width = self.hidden();
        hidden.resize(n * width, 0.0);
        let x = ArrayView2::from_shape((n, MAX_CHANNELS), sensor_rows(sensors)).expect("sensor rows are n × 8");
        let x = x.slice(s![.., ..self.inputs()]);
        let mut h = ArrayViewMut2::from_shape((n, width), &mut hidden[..n * width]).expect("scratch is n × hidden");
        general_mat_mul(1.0, &x, &self.w1, 0.0, &mut h);
        h += &self.b1;
        h.mapv_inplace(sigmoid);
        let mut y = ArrayViewMut2::from_shape((n, OUTPUTS), output_rows(outputs)).expect("outputs are n × 4");
        general_mat_mul(1.0, &h, &self.w2, 0.0, &mut y);
        y += &self.b2;
        y.mapv_inplace(sigmoid);
    }
}

/// The logistic sigmoid `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// The sensors of `n` agents as `n × 8` row-major floats.
fn sensor_rows(sensors: &[Sensors]) -> &[f32] {
    // SAFETY: `Sensors` is `repr(transparent)` over `[f32; MAX_CHANNELS]`,
    // so a slice of them is `len × MAX_CHANNELS` contiguous, aligned f32s.
    unsafe { std::slice::from_raw_parts(sensors.as_ptr().cast::<f32>(), sensors.len() * MAX_CHANNELS) }
}

/// The outputs of `n` agents as `n × 4` row-major floats.
fn output_rows(outputs: &mut [MlpOutput]) -> &mut [f32] {
    // SAFETY: `MlpOutput` is `repr(transparent)` over `[f32; OUTPUTS]`, and
    // the returned slice borrows `outputs` mutably for its whole life.
    unsafe { std::slice::from_raw_parts_mut(outputs.as_mut_ptr().cast::<f32>(), outputs.len() * OUTPUTS) }
}

thread_local! {
    /// Hidden-layer scratch of the current worker thread, reused every frame.
    static HIDDEN: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs the MLP for every agent, a chunk at a time.
pub fn infer(mut agents: Query<(&Sensors, &mut MlpOutput), With<Agent>>, mlp: Res<Mlp>, pool: Res<ComputePool>) {
    let mlp = &*mlp;
    for (sensors, mut outputs) in agents.contiguous_iter_mut().expect(TABLES) {
        let outputs: &mut [MlpOutput] = &mut outputs;
        pool.install(|| {
            (sensors.par_chunks(CHUNK), outputs.par_chunks_mut(CHUNK)).into_par_iter().for_each(
                |(sensors, outputs)| {
                    HIDDEN.with_borrow_mut(|hidden| mlp.infer_batch(sensors, outputs, hidden));
                },
            );
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC section 8: default weights.
    #[test]
    fn default_weights_match_the_published_values() {
        let mlp = Mlp::default_for(&ModelConfig::default());
        assert_eq!((mlp.w1.dim(), mlp.w2.dim()), ((8, 16), (16, 4)));
        for (c, want) in [0.155_036_99, -0.472_872_61, 0.309_666_34].into_iter().enumerate() {
            assert!((mlp.w1[[0, c]] - want).abs() < 1e-6, "W1[0][{c}] = {}", mlp.w1[[0, c]]);
        }
        assert!((mlp.w2[[15, 3]] - 0.357_579_08).abs() < 1e-6, "W2[15][3] = {}", mlp.w2[[15, 3]]);
        assert!(mlp.b1.iter().chain(&mlp.b2).all(|&b| b == 0.0));
    }

    /// The batched product against a plain per-agent loop in f64.
    #[test]
    fn batched_inference_matches_a_scalar_loop() {
        for channels in [8, 3] {
            let config = ModelConfig { channels, hidden: 5, ..ModelConfig::default() };
            let mut mlp = Mlp::default_for(&config);
            mlp.b1.iter_mut().enumerate().for_each(|(i, b)| *b = 0.1 * i as f32 - 0.2);
            mlp.b2.iter_mut().enumerate().for_each(|(i, b)| *b = -0.05 * i as f32);
            let n = 1500;
            let sensors: Vec<Sensors> = (0..n)
                .map(|a| {
                    Sensors(std::array::from_fn(|c| {
                        if c < channels { ((a * 31 + c * 7) % 97) as f32 / 40.0 - 0.8 } else { 0.0 }
                    }))
                })
                .collect();
            let mut outputs = vec![MlpOutput::default(); n];
            mlp.infer_batch(&sensors, &mut outputs, &mut Vec::new());
            for (s, y) in sensors.iter().zip(&outputs) {
                let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
                let h: Vec<f64> = (0..mlp.hidden())
                    .map(|j| {
                        sig((0..channels).map(|i| s.0[i] as f64 * mlp.w1[[i, j]] as f64).sum::<f64>()
                            + mlp.b1[j] as f64)
                    })
                    .collect();
                for o in 0..OUTPUTS {
                    let want =
                        sig(h.iter().enumerate().map(|(j, hj)| hj * mlp.w2[[j, o]] as f64).sum::<f64>()
                            + mlp.b2[o] as f64);
                    assert!((y.0[o] as f64 - want).abs() < 1e-6, "output {o}: {} vs {want}", y.0[o]);
                }
            }
        }
    }
}
