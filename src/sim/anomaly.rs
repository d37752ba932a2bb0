//! Stage 5, anomaly detection (SPEC 4.5): a rolling z-score of each agent's
//! `fused` against its own last `WIN` values.
//!
//! The last `WIN` values of all agents live in one [`FusedHistory`] laid out
//! frame-major: row `r` holds every agent's value from one frame, indexed by
//! [`AgentSlot`]. All agents advance together, so the ring's head is one
//! number for everybody, and a frame reads the oldest row and overwrites it
//! in place: 4 bytes per agent of memory traffic, where a per-agent ring
//! would drag a whole cache line in and out.
//!
//! Mean and spread come from running sums in `f64` ([`WindowSums`]). Each
//! agent also recomputes its sums from the stored values once every `WIN`
//! frames, staggered so no frame pays for everybody: rounding drift is
//! bounded for any run length, and no frame is slower than the others. The
//! stagger goes by groups of [`RESUM_GROUP`] consecutive slots, one 64-byte
//! line of a history row: a re-sum reads its agents' `WIN` values from
//! `WIN` rows, and the group's other agents then find those lines in cache
//! (staggered one slot at a time, each re-sum cost `WIN` cache and TLB
//! misses of its own: the stage took 6.4–6.7 ms a frame at a million
//! agents with the window full, 4.4 ms grouped).

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    Stage,
    agents::{Agent, AgentSlot, spawn_population},
    config::ModelConfig,
    fusion::Fused,
    parallel::{CHUNK, ComputePool, TABLES},
};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, WindowSums>()
        .register_required_components::<Agent, Anomaly>()
        .init_resource::<AnomalyCount>()
        .init_resource::<FusedHistory>()
        .add_systems(super::SimStart, (size_history, reset_count).after(spawn_population))
        .add_systems(super::SimFrame, detect_anomalies.in_set(Stage::Anomaly));
}

/// The detector's verdict on an agent this frame.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct Anomaly {
    /// `|fused - m| / max(0.001, sd)`; 0 until the window is full.
    pub z: f32,
    /// `z > threshold`.
    pub flagged: bool,
}

/// Running `Σx` and `Σx²` over the agent's window.
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
pub struct WindowSums {
    pub sum: f64,
    pub sum_sq: f64,
}

/// Anomalies flagged in the last frame and since the start.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AnomalyCount {
    pub this_frame: u64,
    pub total: u64,
}

/// The last `WIN` fused values of every agent, frame-major.
#[derive(Resource, Debug, Default)]
pub struct FusedHistory {
    agents: usize,
    window: usize,
    /// `window × agents`; row `r`, column `slot`.
    values: Vec<f32>,
    /// Row the next frame writes (and, once full, the oldest row).
    head: usize,
    /// Frames stored so far, at most `window`.
    filled: usize,
}

impl FusedHistory {
    pub fn new(agents: usize, window: usize) -> Self {
        Self { agents, window, values: vec![0.0; agents * window], head: 0, filled: 0 }
    }

    /// Whether every agent holds `WIN` values.
    pub fn is_full(&self) -> bool {
        self.filled == self.window
    }

    /// The values remembered for `slot`, oldest first.
    pub fn values(&self, slot: usize) -> impl Iterator<Item = f32> + '_ {
        let start = if self.is_full() { self.head } else { 0 };
        (0..self.filled).map(move |k| self.values[((start + k) % self.window) * self.agents + slot])
    }

    /// Runs the detector for agents `slots` with this frame's `fused`
    /// values, writing verdicts and sums; returns how many were flagged.
    /// Call [`Self::advance`] once all agents are done.
    ///
    /// # Safety
    /// No two calls running at the same time may share a slot, and every
    /// slot must be below the agent count (both hold for [`AgentSlot`]s,
    /// which are unique and dense; the count is checked).
    unsafe fn detect(
        &self,
        view: HistoryView,
        slots: &[AgentSlot],
        fused: &[Fused],
        sums: &mut [WindowSums],
        out: &mut [Anomaly],
        threshold: f64,
    ) -> u64 {
        let full = self.is_full();
        let window = self.window;
        let inv = 1.0 / window as f64;
        let mut flagged = 0;
        for (((slot, fused), sums), out) in slots.iter().zip(fused).zip(sums).zip(out) {
            let slot = slot.index();
            assert!(slot < self.agents, "agent slot {slot} beyond the history's {} agents", self.agents);
            let x = fused.0 as f64;
            *out = if full { verdict(sums, x, inv, threshold) } else { Anomaly::default() };
            flagged += out.flagged as u64;
            // SAFETY: slot < agents and head < window, so the index is in
            // bounds; only this call touches this slot's column (caller).
            let cell = unsafe { view.base.add(self.head * self.agents + slot) };
            let oldest = unsafe { cell.read() } as f64;
            unsafe { cell.write(fused.0) };
            if full && (self.head + slot / RESUM_GROUP).is_multiple_of(window) {
                // Fresh two-pass sums from the stored column.
                let (mut s, mut s2) = (0.0, 0.0);
                for r in 0..window {
                    let v = unsafe { view.base.add(r * self.agents + slot).read() } as f64;
                    s += v;
                    s2 += v * v;
                }
                *sums = WindowSums { sum: s, sum_sq: s2 };
            } else {
                let old = if full { oldest } else { 0.0 };
                sums.sum += x - old;
                sums.sum_sq += x * x - old * old;
            }
        }
        flagged
    }

    /// Moves the ring on by one frame.
    fn advance(&mut self) {
        self.head = (self.head + 1) % self.window;
        self.filled = (self.filled + 1).min(self.window);
    }
}

/// Agents re-summed in the same frame: one 64-byte line of `f32`s.
const RESUM_GROUP: usize = 16;

/// Raw access to [`FusedHistory::values`] for the parallel detector.
#[derive(Clone, Copy)]
struct HistoryView {
    base: *mut f32,
}
// SAFETY: workers only touch disjoint slots (see `FusedHistory::detect`).
unsafe impl Send for HistoryView {}
unsafe impl Sync for HistoryView {}

/// The z-score test of SPEC 4.5 on a full window.
#[inline]
fn verdict(sums: &WindowSums, x: f64, inv_window: f64, threshold: f64) -> Anomaly {
    let m = sums.sum * inv_window;
    let sd = (sums.sum_sq * inv_window - m * m).max(0.0).sqrt();
    let z = (x - m).abs() / sd.max(0.001);
    Anomaly { z: z as f32, flagged: z > threshold }
}

/// Sizes the history for the spawned agents.
pub fn size_history(agents: Query<(), With<Agent>>, config: Res<ModelConfig>, mut history: ResMut<FusedHistory>) {
    *history = FusedHistory::new(agents.iter().count(), config.window);
}

fn reset_count(mut count: ResMut<AnomalyCount>) {
    *count = AnomalyCount::default();
}

/// Scores every agent and remembers its `fused` value.
pub fn detect_anomalies(
    mut agents: Query<(&AgentSlot, &Fused, &mut WindowSums, &mut Anomaly), With<Agent>>,
    mut history: ResMut<FusedHistory>,
    mut count: ResMut<AnomalyCount>,
    config: Res<ModelConfig>,
    pool: Res<ComputePool>,
) {
    let threshold = config.z_threshold as f64;
    let view = HistoryView { base: history.values.as_mut_ptr() };
    let history_ref = &*history;
    let mut flagged = 0;
    for (slots, fused, mut sums, mut anomalies) in agents.contiguous_iter_mut().expect(TABLES) {
        let (sums, anomalies): (&mut [WindowSums], &mut [Anomaly]) = (&mut sums, &mut anomalies);
        flagged += pool.install(|| {
            (
                slots.par_chunks(CHUNK),
                fused.par_chunks(CHUNK),
                sums.par_chunks_mut(CHUNK),
                anomalies.par_chunks_mut(CHUNK),
            )
                .into_par_iter()
                // SAFETY: AgentSlots are unique, so chunks touch disjoint columns.
                .map(|(slots, fused, sums, out)| unsafe {
                    history_ref.detect(view, slots, fused, sums, out, threshold)
                })
                .sum::<u64>()
        });
    }
    history.advance();
    count.this_frame = flagged;
    count.total += flagged;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::agents::AgentSlot;

    /// One agent's detector, driven directly.
    struct Single {
        history: FusedHistory,
        sums: WindowSums,
    }

    impl Single {
        fn new(window: usize) -> Self {
            Self { history: FusedHistory::new(1, window), sums: WindowSums::default() }
        }

        fn step(&mut self, x: f32, threshold: f64) -> Anomaly {
            let view = HistoryView { base: self.history.values.as_mut_ptr() };
            let mut out = [Anomaly::default()];
            let slot = [AgentSlot::for_test(0)];
            // SAFETY: a single slot, a single caller.
            unsafe {
                self.history.detect(view, &slot, &[Fused(x)], std::slice::from_mut(&mut self.sums), &mut out, threshold)
            };
            self.history.advance();
            out[0]
        }
    }

    /// Two-pass mean and standard deviation of a window.
    fn two_pass(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let m = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
        (m, var.sqrt())
    }

    /// With many agents, every one is re-summed from its stored values
    /// (its sums then equal a fresh two-pass sum bit for bit) within every
    /// `WIN` frames, whatever its slot's group.
    #[test]
    fn every_agent_is_re_summed_once_a_window() {
        let (agents, window) = (100, 64);
        let mut history = FusedHistory::new(agents, window);
        let slots: Vec<AgentSlot> = (0..agents as u32).map(AgentSlot::for_test).collect();
        let mut sums = vec![WindowSums::default(); agents];
        let mut out = vec![Anomaly::default(); agents];
        let mut last_fresh = vec![0usize; agents];
        let mut state = 3u64;
        for t in 0..5 * window {
            let fused: Vec<Fused> = (0..agents)
                .map(|_| {
                    state = crate::rng::splitmix64(state);
                    Fused(crate::rng::unit(state) * 3.7 + 0.1)
                })
                .collect();
            let view = HistoryView { base: history.values.as_mut_ptr() };
            // SAFETY: one caller, unique slots below the agent count.
            unsafe { history.detect(view, &slots, &fused, &mut sums, &mut out, 4.0) };
            history.advance();
            if !history.is_full() {
                continue;
            }
            for (slot, s) in sums.iter().enumerate() {
                let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
                for r in 0..window {
                    let v = history.values[r * agents + slot] as f64;
                    sum += v;
                    sum_sq += v * v;
                }
                if (s.sum, s.sum_sq) == (sum, sum_sq) {
                    last_fresh[slot] = t;
                }
            }
        }
        // Every agent was re-summed in the last window.
        assert!(last_fresh.iter().all(|&t| t >= 4 * window), "{last_fresh:?}");
    }

    #[test]
    fn running_sums_match_two_pass_after_100k_frames() {
        let window = 64;
        let mut det = Single::new(window);
        let mut all = Vec::new();
        let mut state = 12345u64;
        for t in 0..100_000u64 {
            state = crate::rng::splitmix64(state);
            // A drifting signal with noise and the occasional large value.
            let x = 0.5
                + 0.3 * (t as f32 * 0.01).sin()
                + 0.05 * crate::rng::unit(state)
                + if t % 997 == 0 { 50.0 } else { 0.0 };
            let out = det.step(x, 4.0);
            if all.len() >= window {
                let (m, sd) = two_pass(&all[all.len() - window..]);
                let want = (x as f64 - m).abs() / sd.max(0.001);
                assert!((out.z as f64 - want).abs() <= 1e-4 * want.max(1.0), "frame {t}: z {} vs {want}", out.z);
            } else {
                assert_eq!(out, Anomaly::default(), "frame {t}: window not yet full");
            }
            all.push(x);
            let last = &all[all.len().saturating_sub(window)..];
            let sum: f64 = last.iter().map(|&v| v as f64).sum();
            let sum_sq: f64 = last.iter().map(|&v| (v as f64).powi(2)).sum();
            assert!((det.sums.sum - sum).abs() <= 1e-4 * sum.abs().max(1e-9), "frame {t}: Σx");
            assert!((det.sums.sum_sq - sum_sq).abs() <= 1e-4 * sum_sq.abs().max(1e-9), "frame {t}: Σx²");
        }
        assert_eq!(det.history.values(0).collect::<Vec<_>>(), all[all.len() - window..]);
    }

    #[test]
    fn a_planted_jump_is_flagged_and_quiet_data_is_not() {
        let mut det = Single::new(64);
        for t in 0..200 {
            let x = 0.5 + 0.01 * ((t * 37 % 11) as f32 - 5.0) / 5.0;
            assert!(!det.step(x, 4.0).flagged, "frame {t} flagged without cause");
        }
        let jump = det.step(0.8, 4.0);
        assert!(jump.flagged && jump.z > 4.0, "jump not flagged: {jump:?}");
    }

    #[test]
    fn a_constant_signal_uses_the_minimum_spread() {
        let mut det = Single::new(8);
        for _ in 0..8 {
            det.step(1.0, 4.0);
        }
        // sd = 0 → divided by 0.001: a step of 0.003 gives z = 3, 0.005 gives 5.
        let z = det.step(1.003, 4.0);
        assert!((z.z - 3.0).abs() < 1e-3 && !z.flagged, "{z:?}");
    }
}
