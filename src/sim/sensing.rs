//! Stage 2, sensing (SPEC 4.2): each agent samples the environment's
//! channels at its position, plus counter-based noise.
//!
//! `s_c = B_c(p) + Σ active events on c + σ · noise(i, t, c)`. The eight
//! background samples share one bilinear footprint, and the noise of all
//! channels shares one `splitmix64(seed ^ i << 32 ^ t)` key.
//!
//! The loop runs in the widest build the processor has
//! ([`super::parallel::vectorised`]): with AVX-512 the eight channels'
//! hashes are one vector of 64-bit multiplies.
//!
//! A recorded [`SensorTrace`] replaces the readings of the `(frame, agent)`
//! pairs it holds. It is sorted by frame then agent: a frame it does not
//! cover costs one binary search, not one per agent.
//!
//! [`LiveReadings`] replace the readings of every agent for one frame:
//! real sensor data handed in by the program driving the simulation (the
//! Python package's `step(sensors=…)`). The stage then computes no field
//! and no noise at all, only copies each agent's row.

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    SimClock, Stage,
    agents::{Agent, AgentId, IdOrder, Position},
    config::{MAX_CHANNELS, ModelConfig},
    environment::{ActiveEvents, Background, Event},
    parallel::{CHUNK, ComputePool, Isa, TABLES, TaskPerChunk, vectorised, vectorised_for},
};
use crate::rng::{noise_from, noise_key};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, Sensors>().add_systems(super::SimFrame, sense.in_set(Stage::Sensing));
}

/// This frame's sensor readings `s_0 .. s_{S-1}` (channels beyond `S` stay 0).
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
#[repr(transparent)]
pub struct Sensors(pub [f32; MAX_CHANNELS]);

/// Recorded readings replayed in place of sensing, sorted by `(frame, agent)`.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct SensorTrace {
    frames: Vec<u64>,
    agents: Vec<u32>,
    readings: Vec<[f32; MAX_CHANNELS]>,
}

impl SensorTrace {
    /// A trace from rows `(frame, agent id, readings)` in file order;
    /// `Err(row)` names the first row (in file order) that repeats an
    /// earlier row's `(frame, agent)`.
    pub fn new(rows: Vec<(u64, u32, [f32; MAX_CHANNELS])>) -> Result<Self, usize> {
        let mut order: Vec<usize> = (0..rows.len()).collect();
        if !rows.windows(2).all(|w| (w[0].0, w[0].1) < (w[1].0, w[1].1)) {
            order.sort_by_key(|&r| (rows[r].0, rows[r].1, r));
        }
        let duplicate = order
            .windows(2)
            .filter(|w| (rows[w[0]].0, rows[w[0]].1) == (rows[w[1]].0, rows[w[1]].1))
            .map(|w| w[1])
            .min();
        if let Some(row) = duplicate {
            return Err(row);
        }
        Ok(Self {
            frames: order.iter().map(|&r| rows[r].0).collect(),
            agents: order.iter().map(|&r| rows[r].1).collect(),
            readings: order.iter().map(|&r| rows[r].2).collect(),
        })
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The agents and readings recorded for `frame` (sorted by agent).
    pub fn frame(&self, frame: u64) -> (&[u32], &[[f32; MAX_CHANNELS]]) {
        let lo = self.frames.partition_point(|&f| f < frame);
        let hi = lo + self.frames[lo..].partition_point(|&f| f == frame);
        (&self.agents[lo..hi], &self.readings[lo..hi])
    }
}

/// Readings for every agent in one frame, in place of sensing: row `k`
/// holds the agent with the `k`-th smallest id ([`IdOrder`]), channels
/// beyond `S` are 0. They apply to frame [`Self::frame`] only, and take
/// precedence over a [`SensorTrace`] row for the same frame.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct LiveReadings {
    pub frame: u64,
    pub rows: Vec<[f32; MAX_CHANNELS]>,
}

impl LiveReadings {
    /// Readings for `frame` from an `agents × channels` row-major array,
    /// checked: the shape must be the simulation's and every value finite.
    pub fn from_rows(
        frame: u64,
        values: &[f32],
        shape: (usize, usize),
        agents: usize,
        channels: usize,
    ) -> Result<Self, String> {
        if shape != (agents, channels) || values.len() != agents * channels {
            return Err(format!(
                "sensors: expected an array of shape ({agents}, {channels}) (agents × channels), got {shape:?}"
            ));
        }
        // Copied, then checked where the copy is hot in cache, in one pass
        // that vectorises (no early exit); the place of a bad value is
        // looked for only when there is one. (Measured at 10k agents in
        // the extension: a single pass that copies row by row and checks
        // took 38 µs against 29 µs this way.)
        let rows: Vec<[f32; MAX_CHANNELS]> = if channels == MAX_CHANNELS {
            values.as_chunks::<MAX_CHANNELS>().0.to_vec()
        } else {
            let mut rows = vec![[0.0; MAX_CHANNELS]; agents];
            for (row, given) in rows.iter_mut().zip(values.chunks_exact(channels.max(1))) {
                row[..channels].copy_from_slice(given);
            }
            rows
        };
        let finite = rows.as_flattened().iter().fold(true, |ok, v| ok & (v.abs() <= f32::MAX));
        if !finite {
            let i = values.iter().position(|v| !v.is_finite()).expect("a value is not finite");
            return Err(format!(
                "sensors: row {} column {} is {}: expected finite readings",
                i / channels,
                i % channels,
                values[i]
            ));
        }
        Ok(Self { frame, rows })
    }
}

/// The readings of one agent at `(x, y)` in frame `t` (SPEC 4.2): its
/// [`channel_noise`] added to the field ([`add_field`]), as the stage
/// computes them in two passes.
#[inline(always)]
pub fn sense_at(
    config: &ModelConfig,
    background: &Background,
    events: &[Event],
    id: u32,
    frame: u64,
    x: f32,
    y: f32,
) -> [f32; MAX_CHANNELS] {
    add_field(config, background, events, x, y, channel_noise(config, id, frame))
}

/// `σ · noise(i, t, c)` for every channel `c` (all eight, kept or not).
/// Always inlined, so that the sensing loop's AVX-512 build covers it.
#[inline(always)]
pub fn channel_noise(config: &ModelConfig, id: u32, frame: u64) -> [f32; MAX_CHANNELS] {
    let key = noise_key(config.seed, id, frame);
    std::array::from_fn(|c| config.noise * noise_from(key, c as u64))
}

/// The readings at `(x, y)` given each channel's `noise` term:
/// `F_c(p, t) + noise[c]` for the `S` channels, 0 beyond. Always inlined,
/// like [`channel_noise`].
#[inline(always)]
pub fn add_field(
    config: &ModelConfig,
    background: &Background,
    events: &[Event],
    x: f32,
    y: f32,
    noise: [f32; MAX_CHANNELS],
) -> [f32; MAX_CHANNELS] {
    let mut s = background.sample_all(x, y);
    for event in events {
        // Added lane-wise, so that `s` stays one vector: the other lanes
        // add +0.0, which leaves them as they are (none is -0.0: the
        // background is positive and a sum that cancels is +0.0). An event
        // on a channel beyond `S` lands in a lane zeroed below.
        let field = event.field(x, y);
        for (c, v) in s.iter_mut().enumerate() {
            *v += if c == event.channel { field } else { 0.0 };
        }
    }
    // The channels beyond `S` zeroed by a bit mask (a select per lane
    // compiled to a shuffle sequence).
    let kept: [u32; MAX_CHANNELS] = std::array::from_fn(|c| if c < config.channels { u32::MAX } else { 0 });
    std::array::from_fn(|c| f32::from_bits((s[c] + noise[c]).to_bits() & kept[c]))
}

/// The field pass of the stage: each agent's readings `s` (its noise
/// terms) become [`add_field`]'s, in the build `isa` (with AVX-512: the
/// written-out one below).
fn add_fields(
    isa: Isa,
    config: &ModelConfig,
    background: &Background,
    events: &[Event],
    positions: &[Position],
    sensors: &mut [Sensors],
) {
    #[cfg(target_arch = "x86_64")]
    if isa == Isa::Avx512 {
        // SAFETY: `Isa::Avx512` is only ever picked where the processor
        // has those features (`Isa::best`, `Isa::available`).
        return unsafe { add_fields_avx512(config, background, events, positions, sensors) };
    }
    vectorised_for(
        isa,
        #[inline(always)]
        || {
            for (i, (p, s)) in positions.iter().zip(sensors.iter_mut()).enumerate() {
                if let Some(ahead) = positions.get(i + PREFETCH_AHEAD) {
                    background.prefetch(ahead.0.x, ahead.0.y);
                }
                s.0 = add_field(config, background, events, p.0.x, p.0.y, s.0);
            }
        },
    )
}

/// [`add_fields`] with each agent's eight channels in one 256-bit
/// register throughout, written out: the compiler's vectorisation of
/// [`add_field`] split them into 2-, 2- and 4-lane pieces (sensing 10k,
/// one thread: 146 µs, against 96 this way). The same operations in the
/// same order: [`Background::sample_all_avx`], each event added to its
/// channel's lane (+0.0 to the others), the noise, the channels beyond `S`
/// cleared. Built with the AVX-512 tier's features, like
/// [`vectorised`]'s: with AVX alone the scalar part (the raster cell's
/// float-to-index conversions and clamps) took twice as long as all of
/// the vector part.
///
/// # Safety
/// The processor has AVX-512 F, DQ, VL and BW ([`Isa::Avx512`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
unsafe fn add_fields_avx512(
    config: &ModelConfig,
    background: &Background,
    events: &[Event],
    positions: &[Position],
    sensors: &mut [Sensors],
) {
    use std::arch::x86_64::*;
    let lanes = _mm256_setr_ps(0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0);
    let kept = _mm256_cmp_ps::<_CMP_LT_OQ>(lanes, _mm256_set1_ps(config.channels as f32));
    // Each agent is located once, PREFETCH_AHEAD agents ahead, for its
    // prefetch, and its sample reads the cells found then (locating it
    // twice was a third of the pass).
    let mut ahead = [crate::sim::environment::Located::default(); PREFETCH_AHEAD];
    for (at, p) in ahead.iter_mut().zip(positions) {
        *at = background.located(p.0.x, p.0.y);
        background.prefetch_located(at);
    }
    for (i, (p, s)) in positions.iter().zip(sensors.iter_mut()).enumerate() {
        let here = ahead[i % PREFETCH_AHEAD];
        if let Some(p) = positions.get(i + PREFETCH_AHEAD) {
            let at = background.located(p.0.x, p.0.y);
            background.prefetch_located(&at);
            ahead[i % PREFETCH_AHEAD] = at;
        }
        let (x, y) = (p.0.x, p.0.y);
        // SAFETY: this function has AVX; the load and store are of the
        // agent's eight readings.
        unsafe {
            let mut field = background.sample_all_avx(&here);
            for event in events {
                // Channels are small counts, exact as floats; one beyond
                // the eight lanes matches none.
                let lane = _mm256_cmp_ps::<_CMP_EQ_OQ>(lanes, _mm256_set1_ps(event.channel as f32));
                field = _mm256_add_ps(field, _mm256_and_ps(_mm256_set1_ps(event.field(x, y)), lane));
            }
            let noisy = _mm256_add_ps(field, _mm256_loadu_ps(s.0.as_ptr()));
            _mm256_storeu_ps(s.0.as_mut_ptr(), _mm256_and_ps(noisy, kept));
        }
    }
}

/// How many agents ahead the raster cells are prefetched.
const PREFETCH_AHEAD: usize = 8;

/// Stores every agent's [`Sensors`] for this frame.
#[allow(clippy::too_many_arguments)]
pub fn sense(
    mut agents: Query<(&AgentId, &Position, &mut Sensors), With<Agent>>,
    config: Res<ModelConfig>,
    background: Res<Background>,
    events: Res<ActiveEvents>,
    clock: Res<SimClock>,
    trace: Option<Res<SensorTrace>>,
    live: Option<Res<LiveReadings>>,
    order: Res<IdOrder>,
    pool: Res<ComputePool>,
) {
    let (config, background, events, frame) = (&*config, &*background, &events.0[..], clock.frame);
    if let Some(live) = live.as_deref().filter(|live| live.frame == frame) {
        for (ids, _, mut sensors) in agents.contiguous_iter_mut().expect(TABLES) {
            let sensors: &mut [Sensors] = &mut sensors;
            pool.install(|| {
                (ids.par_chunks(CHUNK), sensors.par_chunks_mut(CHUNK)).into_par_iter().task_per_chunk().for_each(
                    |(ids, sensors)| {
                        for (id, s) in ids.iter().zip(sensors) {
                            s.0 = live.rows[order.row(id.0)];
                        }
                    },
                );
            });
        }
        return;
    }
    let (traced, recorded) = trace.as_deref().map_or((&[][..], &[][..]), |t| t.frame(frame));
    for (ids, positions, mut sensors) in agents.contiguous_iter_mut().expect(TABLES) {
        let sensors: &mut [Sensors] = &mut sensors;
        pool.install(|| {
            (ids.par_chunks(CHUNK), positions.par_chunks(CHUNK), sensors.par_chunks_mut(CHUNK))
                .into_par_iter()
                .task_per_chunk()
                .for_each(|(ids, positions, sensors)| {
                    // In two passes over the chunk: the noise of every
                    // agent, then the field added to it. In one, the
                    // compiler split each agent's eight hashes into
                    // scalar and part-vector pieces: the loop took twice
                    // as long as its two halves apart.
                    vectorised(
                        #[inline(always)]
                        || {
                            for (id, s) in ids.iter().zip(sensors.iter_mut()) {
                                s.0 = channel_noise(config, id.0, frame);
                            }
                        },
                    );
                    add_fields(Isa::best(), config, background, events, positions, sensors);
                    if !traced.is_empty() {
                        for (id, s) in ids.iter().zip(sensors) {
                            if let Ok(row) = traced.binary_search(&id.0) {
                                s.0 = recorded[row];
                            }
                        }
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::parallel::Isa;

    /// Every build of the sensing loop the processor has (AVX-512, AVX2)
    /// reads the same bits as the baseline build, events and all, with
    /// fewer channels than the maximum too.
    #[test]
    fn vectorised_sensing_is_bit_identical() {
        for channels in [MAX_CHANNELS, 3] {
            let config = ModelConfig { channels, ..ModelConfig::default() };
            let background = Background::new(&config);
            let events: Vec<Event> = (0..4)
                .map(|c| Event {
                    start: 0,
                    end: 10,
                    x: 300.0 + 100.0 * c as f32,
                    y: 500.0,
                    radius: 120.0,
                    channel: c,
                    magnitude: 1.5,
                })
                .collect();
            let mut state = 3u64;
            let points: Vec<(u32, f32, f32)> = (0..2000)
                .map(|id| {
                    state = crate::rng::splitmix64(state);
                    let x = crate::rng::unit(state) * 1100.0 - 50.0;
                    state = crate::rng::splitmix64(state);
                    (id * 3, x, crate::rng::unit(state) * 1000.0)
                })
                .collect();
            let run = |isa: Isa| {
                vectorised_for(
                    isa,
                    #[inline(always)]
                    || {
                        points
                            .iter()
                            .flat_map(|&(id, x, y)| sense_at(&config, &background, &events, id, 7, x, y))
                            .map(f32::to_bits)
                            .collect::<Vec<_>>()
                    },
                )
            };
            let base = run(Isa::Baseline);
            // Events do land: some readings are above any background value.
            assert!(base.iter().any(|&b| f32::from_bits(b) > 1.5));
            for isa in Isa::available() {
                assert_eq!(run(isa), base, "{isa:?}, {channels} channels");
            }
            // The stage's field pass, in every build (AVX-512: the written-
            // out one), after its noise pass, gives the same bits.
            let positions: Vec<Position> = points.iter().map(|&(_, x, y)| Position(Vec2::new(x, y))).collect();
            for isa in Isa::available() {
                let mut sensors: Vec<Sensors> =
                    points.iter().map(|&(id, ..)| Sensors(channel_noise(&config, id, 7))).collect();
                add_fields(isa, &config, &background, &events, &positions, &mut sensors);
                let got: Vec<u32> = sensors.iter().flat_map(|s| s.0).map(f32::to_bits).collect();
                assert_eq!(got, base, "field pass, {isa:?}, {channels} channels");
            }
        }
    }

    #[test]
    fn trace_rows_are_found_by_frame_and_agent() {
        let r = |v: f32| [v; MAX_CHANNELS];
        let trace = SensorTrace::new(vec![(5, 2, r(1.0)), (3, 9, r(2.0)), (5, 1, r(3.0)), (7, 2, r(4.0))]).unwrap();
        assert_eq!(trace.frame(5), (&[1, 2][..], &[r(3.0), r(1.0)][..]));
        assert_eq!(trace.frame(3), (&[9][..], &[r(2.0)][..]));
        assert_eq!(trace.frame(4).0, &[] as &[u32]);
        assert_eq!(trace.frame(100).0, &[] as &[u32]);
        // The second (5, 2) is row 3 in file order.
        assert_eq!(SensorTrace::new(vec![(5, 2, r(1.0)), (1, 1, r(0.0)), (2, 2, r(0.0)), (5, 2, r(9.0))]), Err(3));
    }
}
