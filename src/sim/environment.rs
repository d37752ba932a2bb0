//! The environment every agent senses (SPEC section 3): a smooth background
//! raster per channel plus circular events that come and go.
//!
//! The raster is stored cell-major with all channels of a cell side by side
//! (`[f32; 8]` per cell), so sampling one agent's eight channels touches four
//! 32-byte cells instead of thirty-two scattered floats. Which events are
//! active is worked out once per frame into [`ActiveEvents`], so the
//! per-agent loop only sees the handful that matter.

use std::f64::consts::TAU;

use bevy::prelude::*;

use super::{SimClock, Stage, config::MAX_CHANNELS, config::ModelConfig};
use crate::rng::{EVENT_SALT, splitmix64, unit};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<ActiveEvents>()
        .add_systems(super::SimStart, |mut active: ResMut<ActiveEvents>| active.0.clear())
        .add_systems(super::SimFrame, activate_events.in_set(Stage::Sensing).before(super::sensing::sense));
}

/// The background fields `B_c`: a `G × G` raster per channel.
#[derive(Resource, Clone, Debug)]
pub struct Background {
    side: usize,
    width: f32,
    height: f32,
    /// `cells[gy * G + gx][c]` is `B_c[gx, gy]`.
    cells: Vec<[f32; MAX_CHANNELS]>,
}

impl Background {
    /// Builds the raster of SPEC 3 (values computed in `f64`, stored `f32`).
    pub fn new(config: &ModelConfig) -> Self {
        let side = config.raster;
        let (w, h) = (config.width as f64, config.height as f64);
        let mut cells = vec![[0.0; MAX_CHANNELS]; side * side];
        for gy in 0..side {
            let cy = (gy as f64 + 0.5) * h / side as f64;
            for gx in 0..side {
                let cx = (gx as f64 + 0.5) * w / side as f64;
                let cell = &mut cells[gy * side + gx];
                for (c, value) in cell.iter_mut().enumerate() {
                    let (c, k) = (c as f64, c as f64 + 1.0);
                    let v = 0.5 + 0.25 * (TAU * (k * cx / w + c / 8.0)).sin() * (TAU * (k * cy / h + c / 16.0)).cos();
                    *value = v as f32;
                }
            }
        }
        Self { side, width: config.width, height: config.height, cells }
    }

    /// `B_c[gx, gy]`, the stored value of one cell.
    pub fn cell(&self, channel: usize, gx: usize, gy: usize) -> f32 {
        self.cells[gy * self.side + gx][channel]
    }

    /// Raster side `G`.
    pub fn side(&self) -> usize {
        self.side
    }

    /// The raster cell at or below-left of `(x, y)`, `(i0, j0)`, and where
    /// in it the point lies, `(fu, fv)` in `[0, 1)`, with coordinates
    /// clamped to the outer cell centres (SPEC 3).
    #[inline(always)]
    fn locate(&self, x: f32, y: f32) -> (usize, usize, f32, f32) {
        let g = self.side as f32;
        let last = (self.side - 1) as f32;
        let u = (x / self.width * g - 0.5).clamp(0.0, last);
        let v = (y / self.height * g - 0.5).clamp(0.0, last);
        // u, v ≥ 0 after the clamp, so truncation is floor (and needs no
        // call into libm on baseline x86-64).
        let (i0, j0) = (u as usize, v as usize);
        (i0, j0, u - i0 as f32, v - j0 as f32)
    }

    /// Bilinear samples of all channels at `(x, y)`, as SPEC 3 defines them
    /// (clamped to the outer cell centres).
    #[inline(always)]
    pub fn sample_all(&self, x: f32, y: f32) -> [f32; MAX_CHANNELS] {
        let (i0, j0, fu, fv) = self.locate(x, y);
        let i1 = (i0 + 1).min(self.side - 1);
        let j1 = (j0 + 1).min(self.side - 1);
        let b00 = &self.cells[j0 * self.side + i0];
        let b10 = &self.cells[j0 * self.side + i1];
        let b01 = &self.cells[j1 * self.side + i0];
        let b11 = &self.cells[j1 * self.side + i1];
        let (w00, w10, w01, w11) = ((1.0 - fu) * (1.0 - fv), fu * (1.0 - fv), (1.0 - fu) * fv, fu * fv);
        std::array::from_fn(|c| w00 * b00[c] + w10 * b10[c] + w01 * b01[c] + w11 * b11[c])
    }

    /// Where `(x, y)` samples the raster ([`Self::locate`]), kept so that a
    /// loop that prefetches a few agents ahead locates each agent once.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn located(&self, x: f32, y: f32) -> Located {
        let (i0, j0, fu, fv) = self.locate(x, y);
        Located { i0, j0, fu, fv }
    }

    /// [`Self::prefetch`] for a point already located.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) fn prefetch_located(&self, at: &Located) {
        use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        let j1 = (at.j0 + 1).min(self.side - 1);
        for j in [at.j0, j1] {
            let cell = self.cells[j * self.side + at.i0..].as_ptr();
            // SAFETY: a prefetch reads nothing and cannot fault; the
            // pointer is inside `cells`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(cell.cast()) };
        }
    }

    /// [`Self::sample_all`] as one 256-bit register, at a point already
    /// [`Self::located`]: the same products and sums in the same order, so
    /// the same bits. The compiler's own vectorisation of `sample_all` came
    /// out in 2-, 2- and 4-lane pieces.
    ///
    /// # Safety
    /// Only for code compiled with AVX (a caller with that
    /// `target_feature`, into which this is inlined).
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(crate) unsafe fn sample_all_avx(&self, at: &Located) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        let Located { i0, j0, fu, fv } = *at;
        let i1 = (i0 + 1).min(self.side - 1);
        let j1 = (j0 + 1).min(self.side - 1);
        let (w00, w10, w01, w11) = ((1.0 - fu) * (1.0 - fv), fu * (1.0 - fv), (1.0 - fu) * fv, fu * fv);
        let (b00, b10) = (&self.cells[j0 * self.side + i0], &self.cells[j0 * self.side + i1]);
        let (b01, b11) = (&self.cells[j1 * self.side + i0], &self.cells[j1 * self.side + i1]);
        // SAFETY: each load reads one whole cell's eight floats; AVX is
        // there (this function's contract). No closure: one left out of
        // line would turn the intrinsics into calls.
        unsafe {
            let sum = _mm256_add_ps(
                _mm256_mul_ps(_mm256_set1_ps(w00), _mm256_loadu_ps(b00.as_ptr())),
                _mm256_mul_ps(_mm256_set1_ps(w10), _mm256_loadu_ps(b10.as_ptr())),
            );
            let sum = _mm256_add_ps(sum, _mm256_mul_ps(_mm256_set1_ps(w01), _mm256_loadu_ps(b01.as_ptr())));
            _mm256_add_ps(sum, _mm256_mul_ps(_mm256_set1_ps(w11), _mm256_loadu_ps(b11.as_ptr())))
        }
    }

    /// Asks the cache for the raster cells [`Self::sample_all`] will read
    /// at `(x, y)`, so that a loop over agents can ask a few agents ahead:
    /// the raster (2 MiB at the default size) does not fit in L2, and
    /// agents in table order land on it at random.
    #[inline(always)]
    pub fn prefetch(&self, x: f32, y: f32) {
        #[cfg(target_arch = "x86_64")]
        self.prefetch_located(&self.located(x, y));
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (x, y);
    }

    /// One channel of [`Self::sample_all`].
    pub fn sample(&self, channel: usize, x: f32, y: f32) -> f32 {
        self.sample_all(x, y)[channel]
    }
}

/// A point's raster cell (at or below-left) and where in it the point
/// lies ([`Background::located`]).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Located {
    i0: usize,
    j0: usize,
    fu: f32,
    fv: f32,
}

/// An environment event: a bump of `magnitude` on one channel, fading to
/// zero at `radius`, active for frames `start ≤ t < end`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    pub start: u64,
    pub end: u64,
    pub x: f32,
    pub y: f32,
    pub radius: f32,
    pub channel: usize,
    pub magnitude: f32,
}

impl Event {
    /// Whether the event is active at frame `t`.
    pub fn is_active(&self, t: u64) -> bool {
        self.start <= t && t < self.end
    }

    /// Squared distance from the event's centre.
    #[inline(always)]
    pub fn distance_sq(&self, x: f32, y: f32) -> f32 {
        let (dx, dy) = (x - self.x, y - self.y);
        dx * dx + dy * dy
    }

    /// The event's term of `F_c`: `magnitude · max(0, 1 - d²/r²)`.
    #[inline(always)]
    pub fn field(&self, x: f32, y: f32) -> f32 {
        self.magnitude * (1.0 - self.distance_sq(x, y) / (self.radius * self.radius)).max(0.0)
    }
}

/// Where the events come from.
#[derive(Resource, Clone, Debug)]
pub enum EventSchedule {
    /// SPEC 3's endless default schedule: event `k` starts at `300k + 120`.
    Default,
    /// Events loaded from a file, replacing the default schedule.
    Listed(Vec<Event>),
}

/// Period and timing of the default schedule.
const DEFAULT_PERIOD: u64 = 300;
const DEFAULT_FIRST_START: u64 = 120;
const DEFAULT_DURATION: u64 = 60;

/// Event `k` of the default schedule.
pub fn default_event(config: &ModelConfig, k: u64) -> Event {
    let start = DEFAULT_PERIOD * k + DEFAULT_FIRST_START;
    Event {
        start,
        end: start + DEFAULT_DURATION,
        x: unit(splitmix64(config.seed ^ EVENT_SALT ^ (2 * k))) * config.width,
        y: unit(splitmix64(config.seed ^ EVENT_SALT ^ (2 * k + 1))) * config.height,
        radius: 50.0,
        channel: (k % config.channels as u64) as usize,
        magnitude: 2.0,
    }
}

impl EventSchedule {
    /// Appends the events active at frame `t` to `out`, in schedule order.
    pub fn active_at(&self, config: &ModelConfig, t: u64, out: &mut Vec<Event>) {
        match self {
            EventSchedule::Default => {
                if t >= DEFAULT_FIRST_START && (t - DEFAULT_FIRST_START) % DEFAULT_PERIOD < DEFAULT_DURATION {
                    out.push(default_event(config, (t - DEFAULT_FIRST_START) / DEFAULT_PERIOD));
                }
            }
            EventSchedule::Listed(events) => out.extend(events.iter().filter(|e| e.is_active(t))),
        }
    }
}

/// The events active in the current frame, refreshed at the start of
/// [`Stage::Sensing`].
#[derive(Resource, Default, Debug)]
pub struct ActiveEvents(pub Vec<Event>);

/// Finds this frame's active events (reusing the list's allocation).
pub fn activate_events(
    clock: Res<SimClock>,
    config: Res<ModelConfig>,
    schedule: Res<EventSchedule>,
    mut active: ResMut<ActiveEvents>,
) {
    active.0.clear();
    schedule.active_at(&config, clock.frame, &mut active.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32, tol: f32) -> bool {
        (a - b).abs() <= tol
    }

    /// SPEC section 8: raster cells and samples at the world's centre.
    #[test]
    fn background_matches_the_published_values() {
        let bg = Background::new(&ModelConfig::default());
        assert!(close(bg.cell(0, 0, 0), 0.503_067_68, 1e-6));
        assert!(close(bg.cell(3, 10, 200), 0.525_971_83, 1e-6));
        let want = [0.5, 0.663_221_96, 0.676_537_16, 0.567_486_64, 0.5, 0.567_283_39, 0.675_475_48, 0.661_751_33];
        let got = bg.sample_all(500.0, 500.0);
        for c in 0..8 {
            assert!(close(got[c], want[c], 1e-6), "channel {c}: {} vs {}", got[c], want[c]);
        }
    }

    /// The raster formula evaluated directly in f64, independent of storage.
    fn formula(c: usize, gx: usize, gy: usize, g: usize) -> f64 {
        let (w, h) = (1000.0, 1000.0);
        let cx = (gx as f64 + 0.5) * w / g as f64;
        let cy = (gy as f64 + 0.5) * h / g as f64;
        let k = c as f64 + 1.0;
        0.5 + 0.25 * (TAU * (k * cx / w + c as f64 / 8.0)).sin() * (TAU * (k * cy / h + c as f64 / 16.0)).cos()
    }

    /// Corners and edges: outside the outer cell centres the sample clamps
    /// to the edge cells, and at a cell centre it is that cell exactly.
    #[test]
    fn bilinear_sampling_at_corners_and_edges() {
        let config = ModelConfig::default();
        let bg = Background::new(&config);
        let g = config.raster;
        let last = g - 1;
        for c in 0..8 {
            // The four corners of the world clamp to the corner cells.
            for (x, y, gx, gy) in
                [(0.0, 0.0, 0, 0), (1000.0, 0.0, last, 0), (0.0, 1000.0, 0, last), (1000.0, 1000.0, last, last)]
            {
                let want = formula(c, gx, gy, g) as f32;
                assert!(close(bg.sample(c, x, y), want, 1e-6), "corner ({x},{y}) channel {c}");
            }
            // Along the left edge (x = 0) the sample interpolates in y only,
            // between the cells of column 0.
            let cell = 1000.0 / g as f32;
            let y = 10.3 * cell; // between centres of rows 9 (9.5) and 10 (10.5)
            let fv = (10.3f64 - 0.5) - 9.0;
            let want = (1.0 - fv) * formula(c, 0, 9, g) + fv * formula(c, 0, 10, g);
            assert!(close(bg.sample(c, 0.0, y), want as f32, 2e-6), "left edge channel {c}");
            // Along the top edge (y = H) it interpolates in x only, in the last row.
            let x = 100.75 * cell;
            let fu = (100.75f64 - 0.5) - 100.0;
            let want = (1.0 - fu) * formula(c, 100, last, g) + fu * formula(c, 101, last, g);
            assert!(close(bg.sample(c, x, 1000.0), want as f32, 2e-6), "top edge channel {c}");
            // At an inner cell centre the sample is that cell.
            let (gx, gy) = (37, 201);
            let (x, y) = ((gx as f32 + 0.5) * cell, (gy as f32 + 0.5) * cell);
            assert!(close(bg.sample(c, x, y), formula(c, gx, gy, g) as f32, 2e-6), "centre channel {c}");
        }
    }

    /// SPEC section 8: default events 0 and 1.
    #[test]
    fn default_events_match_the_published_values() {
        let config = ModelConfig::default();
        let e0 = default_event(&config, 0);
        assert_eq!((e0.start, e0.end, e0.channel), (120, 180, 0));
        assert!(close(e0.x, 112.036_17, 1e-4) && close(e0.y, 441.368_16, 1e-4));
        let e1 = default_event(&config, 1);
        assert_eq!((e1.start, e1.end, e1.channel), (420, 480, 1));
        assert!(close(e1.x, 46.042_562, 1e-4) && close(e1.y, 584.662_74, 1e-4));
        assert_eq!((e0.radius, e0.magnitude), (50.0, 2.0));
    }

    #[test]
    fn default_schedule_activity_windows() {
        let config = ModelConfig::default();
        let mut out = Vec::new();
        for t in 0..1000 {
            out.clear();
            EventSchedule::Default.active_at(&config, t, &mut out);
            let want: Vec<Event> = (0..4).map(|k| default_event(&config, k)).filter(|e| e.is_active(t)).collect();
            assert_eq!(out, want, "frame {t}");
        }
    }
}
