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

#[cfg(target_arch = "x86_64")]
mod avx512;

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    Stage,
    agents::{Agent, AgentSlot, spawn_population},
    config::ModelConfig,
    fusion::Fused,
    parallel::{CHUNK, ComputePool, Isa, TABLES, TaskPerChunk},
};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, WindowSums>()
        .register_required_components::<Agent, Anomaly>()
        .init_resource::<AnomalyCount>()
        .init_resource::<FusedHistory>()
        .add_systems(super::SimStart, (size_history, reset_count).after(spawn_population))
        .add_systems(super::SimFrame, detect_anomalies.in_set(Stage::Anomaly));
}

/// The detector's verdict on an agent this frame. (`repr(C)`: the AVX-512
/// loop writes it as one 64-bit word, `z`'s bits and then the flag.)
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct Anomaly {
    /// `|fused - m| / max(0.001, sd)`; 0 until the window is full.
    pub z: f32,
    /// `z > threshold`.
    pub flagged: bool,
}

/// Running `Σx` and `Σx²` over the agent's window. (`repr(C)`: the AVX-512
/// loop reads and writes them as pairs of lanes in that order.)
#[derive(Component, Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
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
///
/// A ring of `WIN + 1` rows, each one frame's values of every agent by
/// slot: `WIN` live rows, and a spare that the next frame writes while it
/// reads the oldest live row (which then becomes the spare).
///
/// When the agents are renumbered ([`Self::renumber`], by the space order
/// keeper), the rows already written are not moved at once: at a million
/// agents that cost 40–70 ms, most of a frame, every time. They keep the
/// old numbering and are read through a map (the agent now in slot `j`
/// sits in column `map[j]` there), while each frame moves one of them to
/// the new numbering, newest first; the oldest leave the window by
/// themselves. After `WIN / 2` frames no old row is left.
#[derive(Resource, Debug, Default)]
pub struct FusedHistory {
    agents: usize,
    window: usize,
    /// `(window + 1) × agents`; row `r`, column `slot`.
    values: Vec<f32>,
    /// Row the next frame writes.
    head: usize,
    /// Frames stored so far, at most `window`.
    filled: usize,
    /// Frames stored so far, modulo `window`: whose turn it is to re-sum.
    tick: usize,
    /// Where each of the ring's positions is stored in `values` (a row
    /// moved to the new numbering is written to the spare's storage, and
    /// the two swap places: no scratch row).
    place: Vec<usize>,
    /// Per ring position: written before the last renumbering (read through
    /// `map`).
    old: Vec<bool>,
    /// The column, in old rows, of the agent now in each slot.
    map: Vec<u32>,
    /// The last frame's [`Frame::window`], kept for its allocation.
    rows: Vec<RowRef>,
}

/// Where an agent's values sit in one live row: the row's first element,
/// and whether the row is in the old numbering (read through the map).
#[derive(Clone, Copy, Debug)]
struct RowRef {
    base: usize,
    old: bool,
}

/// What every agent's detector needs to know about the ring this frame.
struct Frame {
    /// The row this frame writes.
    write: usize,
    /// The oldest live row, read and dropped this frame (once full).
    oldest: Option<RowRef>,
    /// The rows a re-sum reads, oldest first: the window after this
    /// frame's write.
    window: Vec<RowRef>,
}

impl FusedHistory {
    pub fn new(agents: usize, window: usize) -> Self {
        Self {
            agents,
            window,
            values: vec![0.0; agents * (window + 1)],
            head: 0,
            filled: 0,
            tick: 0,
            place: (0..=window).collect(),
            old: vec![false; window + 1],
            map: Vec::new(),
            rows: Vec::new(),
        }
    }

    /// Whether every agent holds `WIN` values.
    pub fn is_full(&self) -> bool {
        self.filled == self.window
    }

    /// Physical row `back` rows before the head (1: the newest).
    fn row_back(&self, back: usize) -> usize {
        (self.head + self.window + 1 - back) % (self.window + 1)
    }

    fn row_ref(&self, row: usize) -> RowRef {
        RowRef { base: self.place[row] * self.agents, old: self.old[row] }
    }

    /// The column of the agent in `slot` in `row`.
    #[inline]
    fn column(&self, row: RowRef, slot: usize) -> usize {
        if row.old { self.map[slot] as usize } else { slot }
    }

    /// The values remembered for `slot`, oldest first.
    pub fn values(&self, slot: usize) -> impl Iterator<Item = f32> + '_ {
        (1..=self.filled).rev().map(move |back| {
            let row = self.row_ref(self.row_back(back));
            self.values[row.base + self.column(row, slot)]
        })
    }

    /// The ring as this frame's detectors see it; hand it back to
    /// [`Self::advance`].
    fn frame(&mut self) -> Frame {
        let oldest = self.is_full().then(|| self.row_ref(self.row_back(self.window)));
        // After the write: the `WIN - 1` newest live rows, then the head.
        let write = RowRef { base: self.place[self.head] * self.agents, old: false };
        let mut window = std::mem::take(&mut self.rows);
        window.clear();
        window.extend((1..self.window).rev().map(|back| self.row_ref(self.row_back(back))).chain([write]));
        Frame { write: write.base, oldest, window }
    }

    /// Runs the detector for agents `slots` with this frame's `fused`
    /// values, writing verdicts and sums; returns how many were flagged.
    /// Call [`Self::advance`] once all agents are done.
    ///
    /// # Safety
    /// No two calls running at the same time may share a slot, and every
    /// slot must be below the agent count (both hold for [`AgentSlot`]s,
    /// which are unique and dense; the count is checked).
    #[allow(clippy::too_many_arguments)]
    unsafe fn detect(
        &self,
        view: HistoryView,
        frame: &Frame,
        slots: &[AgentSlot],
        fused: &[Fused],
        sums: &mut [WindowSums],
        out: &mut [Anomaly],
        threshold: f64,
        isa: Isa,
    ) -> u64 {
        let full = self.is_full();
        let inv = 1.0 / self.window as f64;
        #[cfg(target_arch = "x86_64")]
        if isa == Isa::Avx512
            && let Some(first) = consecutive(slots)
        {
            assert!(first + slots.len() <= self.agents, "agent slots beyond the history's {} agents", self.agents);
            let rows = avx512::Rows {
                values: view.base,
                write: frame.write,
                oldest: frame.oldest.map(|row| (row.base, row.old.then_some(&self.map[..]))),
            };
            // SAFETY: `isa` is only ever `Avx512` where the processor has
            // it (`Isa::best`, `Isa::available`); the slots are in bounds
            // (just checked), and the caller's contract keeps them ours;
            // map entries are below the agent count (`renumber` checks).
            let flagged = unsafe { avx512::detect_run(&rows, first, fused, sums, out, full, inv, threshold) };
            if full {
                // Re-sums, by whole groups of slots, after this frame's
                // value is in place (as in the loop below).
                let end = first + slots.len();
                for group in first / RESUM_GROUP..end.div_ceil(RESUM_GROUP) {
                    if self.resums(group) {
                        for slot in (group * RESUM_GROUP).max(first)..((group + 1) * RESUM_GROUP).min(end) {
                            // SAFETY: as for the loop below.
                            sums[slot - first] = unsafe { self.fresh_sums(view, frame, slot) };
                        }
                    }
                }
            }
            return flagged;
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = isa; // only x86 has the AVX-512 loop
        let mut flagged = 0;
        for (((slot, fused), sums), out) in slots.iter().zip(fused).zip(sums).zip(out) {
            let slot = slot.index();
            assert!(slot < self.agents, "agent slot {slot} beyond the history's {} agents", self.agents);
            let x = fused.0 as f64;
            *out = if full { verdict(sums, x, inv, threshold) } else { Anomaly::default() };
            flagged += out.flagged as u64;
            // SAFETY: every index is a row's first element plus a column
            // below the agent count (slots and the map are permutations of
            // it). This call writes only its own slot of the write row; the
            // old rows it reads other columns of are written by no one now.
            let oldest = match frame.oldest {
                Some(row) => (unsafe { view.base.add(row.base + self.column(row, slot)).read() }) as f64,
                None => 0.0,
            };
            unsafe { view.base.add(frame.write + slot).write(fused.0) };
            if full && self.resums(slot / RESUM_GROUP) {
                *sums = unsafe { self.fresh_sums(view, frame, slot) };
            } else {
                sums.sum += x - oldest;
                sums.sum_sq += x * x - oldest * oldest;
            }
        }
        flagged
    }

    /// Whether the slots of group `group` (`slot / RESUM_GROUP`) are
    /// re-summed this frame (once the window is full): each group's turn
    /// comes once every `WIN` frames, staggered across groups.
    fn resums(&self, group: usize) -> bool {
        (self.tick + group).is_multiple_of(self.window)
    }

    /// Fresh two-pass sums of `slot`'s stored column, this frame's value
    /// included.
    ///
    /// # Safety
    /// As for [`Self::detect`], for `slot`, after its value was written.
    unsafe fn fresh_sums(&self, view: HistoryView, frame: &Frame, slot: usize) -> WindowSums {
        let (mut s, mut s2) = (0.0, 0.0);
        for &row in &frame.window {
            // SAFETY: a row's first element plus a column below the agent
            // count, in a row no one writes now.
            let v = unsafe { view.base.add(row.base + self.column(row, slot)).read() } as f64;
            s += v;
            s2 += v * v;
        }
        WindowSums { sum: s, sum_sq: s2 }
    }

    /// Renumbers the agents: the agent now in slot `j` was in slot
    /// `from(j)` (a permutation of the slots). Rows left in the numbering
    /// before are moved to the current one first (with renumberings
    /// `WIN / 2` frames apart or more, there are none left).
    pub fn renumber(&mut self, from: impl Fn(usize) -> u32 + Sync) {
        while self.move_one_row() {}
        let agents = self.agents;
        self.map.resize(agents, 0);
        self.map.par_chunks_mut(CHUNK).enumerate().task_per_chunk().for_each(|(chunk, map)| {
            for (j, old) in map.iter_mut().enumerate() {
                *old = from(chunk * CHUNK + j);
                // The detector reads old rows at these columns.
                assert!((*old as usize) < agents, "old slot {old} beyond the {agents} agents");
            }
        });
        for back in 1..=self.filled {
            let row = self.row_back(back);
            self.old[row] = true;
        }
    }

    /// Moves the newest live row still in the old numbering to the current
    /// one, into the spare row's storage (the two then swap places); false
    /// if there was none. Call between frames, when the head is the spare.
    fn move_one_row(&mut self) -> bool {
        let Some(row) = (1..=self.filled).map(|back| self.row_back(back)).find(|&r| self.old[r]) else {
            return false;
        };
        let n = self.agents;
        let (source, target) = split_rows(&mut self.values, n, self.place[row], self.place[self.head]);
        target.par_chunks_mut(CHUNK).zip(self.map.par_chunks(CHUNK)).task_per_chunk().for_each(|(target, map)| {
            for (value, &column) in target.iter_mut().zip(map) {
                *value = source[column as usize];
            }
        });
        self.place.swap(row, self.head);
        self.old[row] = false;
        true
    }

    /// Moves the ring on by one frame (`frame`, from [`Self::frame`], is
    /// done with), and one old row to the new numbering.
    fn advance(&mut self, frame: Frame) {
        self.rows = frame.window;
        self.old[self.head] = false;
        self.head = (self.head + 1) % (self.window + 1);
        self.filled = (self.filled + 1).min(self.window);
        self.tick = (self.tick + 1) % self.window;
        self.move_one_row();
    }
}

/// Rows `source` and `target` (different) of `values`, `n` wide.
fn split_rows(values: &mut [f32], n: usize, source: usize, target: usize) -> (&[f32], &mut [f32]) {
    assert_ne!(source, target, "a row is moved to another");
    if source < target {
        let (low, high) = values.split_at_mut(target * n);
        (&low[source * n..(source + 1) * n], &mut high[..n])
    } else {
        let (low, high) = values.split_at_mut(source * n);
        (&high[..n], &mut low[target * n..(target + 1) * n])
    }
}

/// Agents re-summed in the same frame: one 64-byte line of `f32`s.
const RESUM_GROUP: usize = 16;

/// The first slot, where `slots` are consecutive (as the space order
/// keeper numbers them).
#[cfg(target_arch = "x86_64")]
fn consecutive(slots: &[AgentSlot]) -> Option<usize> {
    let first = slots.first()?.index();
    slots.iter().zip(first..).all(|(slot, want)| slot.index() == want).then_some(first)
}

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
    let isa = Isa::best();
    let frame = history.frame();
    let view = HistoryView { base: history.values.as_mut_ptr() };
    let history_ref = &*history;
    let frame_ref = &frame;
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
                .task_per_chunk()
                // SAFETY: AgentSlots are unique, so chunks touch disjoint columns.
                .map(|(slots, fused, sums, out)| unsafe {
                    history_ref.detect(view, frame_ref, slots, fused, sums, out, threshold, isa)
                })
                .sum::<u64>()
        });
    }
    history.advance(frame);
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
            let frame = self.history.frame();
            let view = HistoryView { base: self.history.values.as_mut_ptr() };
            let mut out = [Anomaly::default()];
            let slot = [AgentSlot::for_test(0)];
            let sums = std::slice::from_mut(&mut self.sums);
            // SAFETY: a single slot, a single caller.
            unsafe { self.history.detect(view, &frame, &slot, &[Fused(x)], sums, &mut out, threshold, Isa::best()) };
            self.history.advance(frame);
            out[0]
        }
    }

    /// A random permutation of `0..n` (Fisher–Yates on `next`'s numbers).
    fn shuffled(n: usize, next: &mut impl FnMut() -> u64) -> Vec<u32> {
        let mut order: Vec<u32> = (0..n as u32).collect();
        for i in (1..n).rev() {
            order.swap(i, (next() % (i as u64 + 1)) as usize);
        }
        order
    }

    /// Two-pass mean and standard deviation of a window.
    fn two_pass(values: &[f32]) -> (f64, f64) {
        let n = values.len() as f64;
        let m = values.iter().map(|&v| v as f64).sum::<f64>() / n;
        let var = values.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n;
        (m, var.sqrt())
    }

    /// Every build the processor has gives the baseline's bits: verdicts,
    /// flag counts, sums and the stored history, with the window filling
    /// and full, re-sums, values that get flagged, runs that start at any
    /// slot and end in a partial step, and old rows read through the
    /// renumbering map (renumbered every five frames).
    #[test]
    fn every_build_gives_the_same_bits() {
        let (agents, window) = (203, 8);
        let isas = Isa::available();
        let mut histories: Vec<FusedHistory> = isas.iter().map(|_| FusedHistory::new(agents, window)).collect();
        let mut sums = vec![vec![WindowSums::default(); agents]; isas.len()];
        let slots: Vec<AgentSlot> = (0..agents as u32).map(AgentSlot::for_test).collect();
        let mut flagged_in_all = 0;
        let mut state = 11u64;
        let mut next = || {
            state = crate::rng::splitmix64(state);
            state
        };
        for t in 0..6 * window {
            if t % 5 == 3 {
                let from = shuffled(agents, &mut next);
                for (history, sums) in histories.iter_mut().zip(&mut sums) {
                    history.renumber(|j| from[j]);
                    *sums = from.iter().map(|&f| sums[f as usize]).collect();
                }
            }
            // Now and then a value 10^7 times larger: flagged where the
            // window holds none, and sums of such mixed sizes round, so a
            // re-sum at another frame than the baseline's would show.
            let fused: Vec<Fused> = (0..agents)
                .map(|_| {
                    let h = next();
                    let v = crate::rng::unit(h) * 0.2 + 0.5;
                    Fused(if h % 7 == 0 { v * 1e7 } else { v })
                })
                .collect();
            let mut results = Vec::new();
            for (history, sums) in histories.iter_mut().zip(&mut sums) {
                let isa = isas[results.len()];
                let mut out = vec![Anomaly::default(); agents];
                let frame = history.frame();
                let view = HistoryView { base: history.values.as_mut_ptr() };
                let mut flagged = 0;
                // Two runs: one from slot 0, one from slot 97 to the end.
                for (lo, hi) in [(0, 97), (97, agents)] {
                    // SAFETY: one caller, unique slots below the agent count.
                    flagged += unsafe {
                        history.detect(
                            view,
                            &frame,
                            &slots[lo..hi],
                            &fused[lo..hi],
                            &mut sums[lo..hi],
                            &mut out[lo..hi],
                            4.0,
                            isa,
                        )
                    };
                }
                history.advance(frame);
                let bits = |s: &WindowSums| (s.sum.to_bits(), s.sum_sq.to_bits());
                let stored: Vec<Vec<u32>> =
                    (0..agents).map(|a| history.values(a).map(f32::to_bits).collect()).collect();
                let verdicts: Vec<(u32, bool)> = out.iter().map(|a| (a.z.to_bits(), a.flagged)).collect();
                results.push((flagged, verdicts, sums.iter().map(bits).collect::<Vec<_>>(), stored));
            }
            for (isa, got) in isas.iter().zip(&results).skip(1) {
                assert!(got == &results[0], "frame {t}: {isa:?} differs from the baseline build");
            }
            flagged_in_all += results[0].0;
        }
        // The spikes were flagged (so flagged verdicts were compared too).
        assert!(flagged_in_all > 0, "no agent was ever flagged");
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
            let frame = history.frame();
            let view = HistoryView { base: history.values.as_mut_ptr() };
            // SAFETY: one caller, unique slots below the agent count.
            unsafe { history.detect(view, &frame, &slots, &fused, &mut sums, &mut out, 4.0, Isa::best()) };
            history.advance(frame);
            if !history.is_full() {
                continue;
            }
            for (slot, s) in sums.iter().enumerate() {
                let (mut sum, mut sum_sq) = (0.0f64, 0.0f64);
                for v in history.values(slot) {
                    sum += v as f64;
                    sum_sq += v as f64 * v as f64;
                }
                if (s.sum, s.sum_sq) == (sum, sum_sq) {
                    last_fresh[slot] = t;
                }
            }
        }
        // Every agent was re-summed in the last window.
        assert!(last_fresh.iter().all(|&t| t >= 4 * window), "{last_fresh:?}");
    }

    /// Renumbering agents (moving the history's columns, the slots and the
    /// sums with them) changes no verdict: two detectors fed the same
    /// values, one renumbered now and then, flag the same agents with the
    /// same z-scores, before and after the window fills.
    #[test]
    fn renumbered_history_follows_its_agents() {
        let (agents, window) = (40, 8);
        let mut plain = FusedHistory::new(agents, window);
        let mut moved = FusedHistory::new(agents, window);
        let slots: Vec<AgentSlot> = (0..agents as u32).map(AgentSlot::for_test).collect();
        let (mut plain_sums, mut moved_sums) =
            (vec![WindowSums::default(); agents], vec![WindowSums::default(); agents]);
        // `order[j]`: the agent (plain slot) now in moved slot j.
        let mut order: Vec<usize> = (0..agents).collect();
        let mut state = 7u64;
        let mut next = || {
            state = crate::rng::splitmix64(state);
            state
        };
        for t in 0..5 * window {
            if t % 3 == 1 {
                // Moved slot j takes old slot from[j].
                let from = shuffled(agents, &mut next);
                moved.renumber(|j| from[j]);
                order = from.iter().map(|&f| order[f as usize]).collect();
                moved_sums = from.iter().map(|&f| moved_sums[f as usize]).collect();
            }
            let fused: Vec<Fused> = (0..agents).map(|_| Fused(crate::rng::unit(next()) * 2.0)).collect();
            let moved_fused: Vec<Fused> = order.iter().map(|&a| fused[a]).collect();
            let (mut plain_out, mut moved_out) = (vec![Anomaly::default(); agents], vec![Anomaly::default(); agents]);
            for (history, fused, sums, out) in [
                (&mut plain, &fused, &mut plain_sums, &mut plain_out),
                (&mut moved, &moved_fused, &mut moved_sums, &mut moved_out),
            ] {
                let frame = history.frame();
                let view = HistoryView { base: history.values.as_mut_ptr() };
                // SAFETY: one caller, unique slots below the agent count.
                unsafe { history.detect(view, &frame, &slots, fused, sums, out, 1.5, Isa::best()) };
                history.advance(frame);
            }
            for (j, &a) in order.iter().enumerate() {
                assert_eq!(moved.values(j).collect::<Vec<_>>(), plain.values(a).collect::<Vec<_>>(), "frame {t}");
                // Re-sums come on a slot's turn, so sums may differ in
                // rounding; verdicts within it.
                assert!((moved_out[j].z - plain_out[a].z).abs() <= 1e-5 * plain_out[a].z.max(1.0), "frame {t}");
            }
        }
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
