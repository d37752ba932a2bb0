//! Stage 4, neural inference (SPEC 4.4): a small MLP per agent,
//! `S → hidden → 4`, logistic sigmoid on both layers.
//!
//! At SPEC's default width (16 hidden units) a dedicated kernel runs each
//! agent's two layers as multiply-adds of whole weight rows, with the
//! sigmoids of a chunk in one vectorised pass ([`Mlp::infer_batch`]).
//! Other widths go through the general product below.
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
    parallel::{CHUNK, ComputePool, Isa, TABLES, TaskPerChunk, vectorised_for},
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
        if self.hidden() == FIXED_HIDDEN {
            return self.infer_fixed(sensors, outputs, hidden);
        }
        let n = sensors.len();
        assert_eq!(n, outputs.len());
        let width = self.hidden();
        hidden.resize(n * width, 0.0);
        let x = ArrayView2::from_shape((n, MAX_CHANNELS), sensor_rows(sensors)).expect("sensor rows are n × 8");
        let x = x.slice(s![.., ..self.inputs()]);
        let mut h = ArrayViewMut2::from_shape((n, width), &mut hidden[..n * width]).expect("scratch is n × hidden");
        general_mat_mul(1.0, &x, &self.w1, 0.0, &mut h);
        activate(&mut hidden[..n * width], self.b1.as_slice().expect("b1 is contiguous"));
        let h = ArrayView2::from_shape((n, width), &hidden[..n * width]).expect("scratch is n × hidden");
        let mut y = ArrayViewMut2::from_shape((n, OUTPUTS), output_rows(outputs)).expect("outputs are n × 4");
        general_mat_mul(1.0, &h, &self.w2, 0.0, &mut y);
        activate(output_rows(outputs), self.b2.as_slice().expect("b2 is contiguous"));
    }
}

/// The hidden width with its own kernel: SPEC's default.
const FIXED_HIDDEN: usize = 16;

impl Mlp {
    /// [`Self::infer_batch`] for a hidden layer of [`FIXED_HIDDEN`] units:
    /// per agent, `h = b1 + Σ_c s_c · W1[c]` as multiply-adds of whole
    /// 16-wide rows (four SIMD registers), the layer's sigmoids in one
    /// vectorised pass over the chunk, then `y = b2 + Σ_j h_j · W2[j]` in
    /// one 4-wide register. With every width a constant the compiler
    /// unrolls and vectorises it all; the general product spent more of
    /// its time packing operands than multiplying at this size.
    ///
    /// Where the processor has AVX2 it runs compiled for it
    /// ([`vectorised_for`]: 8 lanes instead of SSE2's 4, the same bits),
    /// with AVX-512 with its output layer written out
    /// ([`output_layer_avx512`]).
    fn infer_fixed(&self, sensors: &[Sensors], outputs: &mut [MlpOutput], hidden: &mut Vec<f32>) {
        let isa = Isa::best();
        vectorised_for(
            isa,
            #[inline(always)]
            || {
                if self.inputs() == MAX_CHANNELS {
                    self.infer_fixed_body::<MAX_CHANNELS>(isa, sensors, outputs, hidden)
                } else {
                    self.infer_fixed_body::<0>(isa, sensors, outputs, hidden)
                }
            },
        )
    }

    /// The kernel, in the build `isa` (which the caller compiles it for:
    /// with AVX-512 the output layer is [`output_layer_avx512`]).
    #[inline(always)]
    fn infer_fixed_body<const INPUTS: usize>(
        &self,
        isa: Isa,
        sensors: &[Sensors],
        outputs: &mut [MlpOutput],
        hidden: &mut Vec<f32>,
    ) {
        const H: usize = FIXED_HIDDEN;
        let n = sensors.len();
        let inputs = if INPUTS > 0 { INPUTS } else { self.inputs() };
        let mut w1 = [[0.0f32; H]; MAX_CHANNELS];
        for (row, weights) in w1.iter_mut().zip(self.w1.rows()) {
            row.iter_mut().zip(weights).for_each(|(w, &v)| *w = v);
        }
        let mut w2 = [[0.0f32; OUTPUTS]; H];
        for (row, weights) in w2.iter_mut().zip(self.w2.rows()) {
            row.iter_mut().zip(weights).for_each(|(w, &v)| *w = v);
        }
        let b1: [f32; H] = std::array::from_fn(|j| self.b1[j]);
        let b2: [f32; OUTPUTS] = std::array::from_fn(|o| self.b2[o]);
        hidden.resize(n * H, 0.0);
        for (s, h) in sensors.iter().zip(hidden.chunks_exact_mut(H)) {
            let mut acc = b1;
            for (&v, row) in s.0[..inputs].iter().zip(&w1) {
                for j in 0..H {
                    acc[j] += v * row[j];
                }
            }
            h.copy_from_slice(&acc);
        }
        sigmoid_all(&mut hidden[..n * H]);
        // Sixteen agents at a time in AVX-512 registers where there are;
        // the rest (or all, in other builds) one by one.
        #[cfg(target_arch = "x86_64")]
        let done = if isa == Isa::Avx512 {
            let done = n / 16 * 16;
            // SAFETY: `Isa::Avx512` is only ever picked where the processor
            // has those features; `done` agents' rows and outputs.
            unsafe { output_layer_avx512(&hidden[..done * H], &w2, &b2, &mut outputs[..done]) };
            done
        } else {
            0
        };
        #[cfg(not(target_arch = "x86_64"))]
        let done = {
            let _ = isa;
            0
        };
        for (h, out) in hidden[done * H..n * H].chunks_exact(H).zip(outputs[done..].iter_mut()) {
            let mut y = b2;
            for (&v, row) in h.iter().zip(&w2) {
                for o in 0..OUTPUTS {
                    y[o] += v * row[o];
                }
            }
            out.0 = y;
        }
        sigmoid_all(output_rows(outputs));
    }
}

/// The output layer before its sigmoid, `y = b2 + Σ_j h_j · W2[j]` (in
/// that order), for agents in blocks of sixteen, one agent per lane: the
/// block's sixteen hidden rows are transposed in registers (64 shuffles),
/// so that every weight is a broadcast and every step a 16-lane multiply
/// and add; the four output registers are transposed back into the
/// agents' rows. The compiler vectorised the per-agent loop across agents
/// too, but fetched the transposed values with two gathers per hidden unit
/// (slow on AMD's Zen): 40% of the kernel's time.
///
/// # Safety
/// The processor has AVX-512 F, DQ, VL and BW; `hidden` holds sixteen
/// values per agent of `outputs`, whose length is a multiple of sixteen.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
unsafe fn output_layer_avx512(
    hidden: &[f32],
    w2: &[[f32; OUTPUTS]; FIXED_HIDDEN],
    b2: &[f32; OUTPUTS],
    outputs: &mut [MlpOutput],
) {
    use std::arch::x86_64::*;
    debug_assert!(outputs.len().is_multiple_of(16) && hidden.len() == outputs.len() * FIXED_HIDDEN);
    for (rows, out) in hidden.chunks_exact(16 * FIXED_HIDDEN).zip(outputs.chunks_exact_mut(16)) {
        // SAFETY: sixteen rows of sixteen floats read, sixteen outputs of
        // four written; the features are there (this function's contract).
        unsafe {
            let mut r = [_mm512_setzero_ps(); 16];
            for (a, r) in r.iter_mut().enumerate() {
                *r = _mm512_loadu_ps(rows.as_ptr().add(16 * a));
            }
            let columns = transpose16(r);
            let mut y = [_mm512_setzero_ps(); OUTPUTS];
            for (o, y) in y.iter_mut().enumerate() {
                let mut acc = _mm512_set1_ps(b2[o]);
                for (column, w) in columns.iter().zip(w2) {
                    acc = _mm512_add_ps(acc, _mm512_mul_ps(*column, _mm512_set1_ps(w[o])));
                }
                *y = acc;
            }
            // Back to rows: agent a's four outputs at 4a.
            let (t0, t1) = (_mm512_unpacklo_ps(y[0], y[1]), _mm512_unpackhi_ps(y[0], y[1]));
            let (t2, t3) = (_mm512_unpacklo_ps(y[2], y[3]), _mm512_unpackhi_ps(y[2], y[3]));
            // u_k: agents k, k + 4, k + 8, k + 12, one per 128-bit lane.
            let (u0, u1) = (unpack_pairs(t0, t2, false), unpack_pairs(t0, t2, true));
            let (u2, u3) = (unpack_pairs(t1, t3, false), unpack_pairs(t1, t3, true));
            let (w0, w1) = (_mm512_shuffle_f32x4::<0x88>(u0, u1), _mm512_shuffle_f32x4::<0x88>(u2, u3));
            let (w2_, w3) = (_mm512_shuffle_f32x4::<0xDD>(u0, u1), _mm512_shuffle_f32x4::<0xDD>(u2, u3));
            let base = out.as_mut_ptr().cast::<f32>();
            _mm512_storeu_ps(base, _mm512_shuffle_f32x4::<0x88>(w0, w1));
            _mm512_storeu_ps(base.add(16), _mm512_shuffle_f32x4::<0x88>(w2_, w3));
            _mm512_storeu_ps(base.add(32), _mm512_shuffle_f32x4::<0xDD>(w0, w1));
            _mm512_storeu_ps(base.add(48), _mm512_shuffle_f32x4::<0xDD>(w2_, w3));
        }
    }
}

/// A 16 × 16 transpose in registers: `rows[a]` lane `j` becomes the
/// result's `[j]` lane `a`. Unpacks of pairs of floats, then of pairs of
/// pairs, give 4 × 4 blocks transposed within each 128-bit lane; two
/// rounds of lane shuffles put the blocks in place.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn transpose16(r: [std::arch::x86_64::__m512; 16]) -> [std::arch::x86_64::__m512; 16] {
    use std::arch::x86_64::*;
    // SAFETY: only ever inlined into code compiled for AVX-512F. (Loops,
    // not closures: a closure left out of line would make every
    // intrinsic in it a call.)
    unsafe {
        let mut t = [_mm512_setzero_ps(); 16];
        for m in 0..8 {
            t[2 * m] = _mm512_unpacklo_ps(r[2 * m], r[2 * m + 1]);
            t[2 * m + 1] = _mm512_unpackhi_ps(r[2 * m], r[2 * m + 1]);
        }
        // u[4q + k]: rows 4q .. 4q + 3 of columns k, k + 4, k + 8, k + 12
        // (one column per 128-bit lane).
        let mut u = [_mm512_setzero_ps(); 16];
        for q in 0..4 {
            for k in 0..4 {
                u[4 * q + k] = unpack_pairs(t[4 * q + k / 2], t[4 * q + 2 + k / 2], k % 2 == 1);
            }
        }
        let mut columns = [_mm512_setzero_ps(); 16];
        for k in 0..4 {
            // [col k rows 0-3, col k+8 rows 0-3, col k rows 4-7, col k+8 rows 4-7], ...
            let v0 = _mm512_shuffle_f32x4::<0x88>(u[k], u[4 + k]);
            let v1 = _mm512_shuffle_f32x4::<0xDD>(u[k], u[4 + k]);
            let v2 = _mm512_shuffle_f32x4::<0x88>(u[8 + k], u[12 + k]);
            let v3 = _mm512_shuffle_f32x4::<0xDD>(u[8 + k], u[12 + k]);
            columns[k] = _mm512_shuffle_f32x4::<0x88>(v0, v2);
            columns[k + 8] = _mm512_shuffle_f32x4::<0xDD>(v0, v2);
            columns[k + 4] = _mm512_shuffle_f32x4::<0x88>(v1, v3);
            columns[k + 12] = _mm512_shuffle_f32x4::<0xDD>(v1, v3);
        }
        columns
    }
}

/// The low (or high) pairs of floats of each 128-bit lane of `a` and `b`,
/// interleaved: `unpacklo_pd` / `unpackhi_pd` on floats.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn unpack_pairs(a: std::arch::x86_64::__m512, b: std::arch::x86_64::__m512, high: bool) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    // SAFETY: only ever inlined into code compiled for AVX-512F.
    unsafe {
        let (a, b) = (_mm512_castps_pd(a), _mm512_castps_pd(b));
        _mm512_castpd_ps(if high { _mm512_unpackhi_pd(a, b) } else { _mm512_unpacklo_pd(a, b) })
    }
}

/// `v ← sigmoid(v)` over contiguous floats: one plain loop, which the
/// compiler vectorises (inlined, so that the AVX2 kernel's copy is built
/// for AVX2).
#[inline(always)]
fn sigmoid_all(values: &mut [f32]) {
    for v in values {
        *v = sigmoid(*v);
    }
}

/// `v ← sigmoid(v + bias)` over rows of `bias.len()` values: one plain
/// loop over contiguous floats, which the compiler vectorises.
fn activate(rows: &mut [f32], bias: &[f32]) {
    for row in rows.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v = sigmoid(*v + b);
        }
    }
}

/// The logistic sigmoid `1 / (1 + e^-x)`, with [`exp`] below: within
/// 1e-7 of the exact value everywhere (tested against `f64`).
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `e^x` in `f32` without a call into libm, so that loops over whole
/// layers (`mapv_inplace(sigmoid)`) vectorise: Cody–Waite reduction
/// `x = n·ln 2 + r` with `|r| ≤ ln 2 / 2`, Cephes' degree-6 polynomial for
/// `e^r`, and `2^n` built in the exponent bits. Relative error below 3e-7
/// (about 2 ulp; libm's `expf` is within 1) over the whole range; inputs
/// are clamped to `[-87.3, 88]`, where `e^x` and `2^n` are normal `f32`s. The
/// sigmoid was 16% of a frame's instructions with libm (20 calls per agent).
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.3, 88.0);
    // `biased` holds n in its low mantissa bits: no float-to-int
    // conversion, so the whole function is plain vector arithmetic.
    let biased = x * LOG2_E + ROUND;
    let n = biased - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let e_r = p * r * r + r + 1.0;
    let exponent = biased.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127);
    e_r * f32::from_bits(exponent << 23)
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
            (sensors.par_chunks(CHUNK), outputs.par_chunks_mut(CHUNK)).into_par_iter().task_per_chunk().for_each(
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
    use crate::sim::parallel::{Isa, vectorised_for};

    #[test]
    fn exp_is_within_3e_7_of_f64_over_the_whole_range() {
        let mut worst = 0.0f64;
        let mut x = -87.3f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            worst = worst.max(((got - want) / want).abs());
            x += 0.000_37;
        }
        for x in [0.0f32, -0.0, 1.0, -1.0, 1e-8, -1e-8, 0.346_573_6, -0.346_573_6, 88.0, -87.3] {
            let want = (x as f64).exp();
            worst = worst.max(((exp(x) as f64 - want) / want).abs());
        }
        assert!(worst < 3e-7, "worst relative error {worst:e}");
        assert_eq!(exp(0.0), 1.0);
        // Clamped, not infinite or zero.
        assert!(exp(1000.0).is_finite() && exp(-1000.0) > 0.0);
    }

    #[test]
    fn sigmoid_is_within_1e_7_of_f64() {
        let exact = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut x = -30.0f32;
        while x <= 30.0 {
            let err = (sigmoid(x) as f64 - exact(x as f64)).abs();
            assert!(err < 1e-7, "sigmoid({x}) off by {err:e}");
            x += 0.0013;
        }
        assert_eq!(sigmoid(0.0), 0.5);
    }

    /// Every build of the fixed kernel the processor has (AVX-512, AVX2)
    /// gives the baseline build's bits.
    #[test]
    fn vectorised_kernel_is_bit_identical() {
        let mut mlp = Mlp::default_for(&ModelConfig::default());
        mlp.b1.iter_mut().enumerate().for_each(|(i, b)| *b = 0.1 * i as f32 - 0.7);
        let mut state = 5u64;
        let sensors: Vec<Sensors> = (0..999)
            .map(|_| {
                Sensors(std::array::from_fn(|_| {
                    state = splitmix64(state);
                    8.0 * unit(state) - 4.0
                }))
            })
            .collect();
        // The kernel with the input count a constant and read at run time.
        let run = |isa: Isa, constant: bool| {
            let mut out = vec![MlpOutput::default(); 999];
            vectorised_for(
                isa,
                #[inline(always)]
                || match constant {
                    true => mlp.infer_fixed_body::<MAX_CHANNELS>(isa, &sensors, &mut out, &mut Vec::new()),
                    false => mlp.infer_fixed_body::<0>(isa, &sensors, &mut out, &mut Vec::new()),
                },
            );
            out.iter().flat_map(|y| y.0.map(f32::to_bits)).collect::<Vec<_>>()
        };
        let base = run(Isa::Baseline, false);
        for isa in Isa::available() {
            for constant in [false, true] {
                assert_eq!(run(isa, constant), base, "{isa:?}, constant input count: {constant}");
            }
        }
    }

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
        // Hidden 16 runs the fixed kernel, 5 the general product.
        for (channels, hidden) in [(8, 5), (3, 5), (8, 16), (3, 16)] {
            let config = ModelConfig { channels, hidden, ..ModelConfig::default() };
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
