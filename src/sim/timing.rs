//! Per-stage latency, measured by the simulation itself.
//!
//! Bevy reports frame time but not per-system percentiles, so the pipeline
//! times itself: a tiny "lap" system sits after each [`Stage`] set and
//! records the time since the previous lap. A stage's time therefore covers
//! every system in its set, including ones a user adds. Samples go into
//! fixed-size rings (no allocation per frame), from which the benchmark and
//! the overlay read percentiles.

use std::time::{Duration, Instant};

use bevy::prelude::*;

use super::Stage;

/// Nearest-rank percentile of `samples` (`p` in 0–100); sorts in place.
/// `None` when there are no samples.
pub fn percentile(samples: &mut [u64], p: f64) -> Option<u64> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
    Some(samples[rank.clamp(1, samples.len()) - 1])
}

/// A ring of the last `capacity` samples, in nanoseconds.
#[derive(Clone, Debug)]
pub struct SampleRing {
    samples: Vec<u64>,
    capacity: usize,
    next: usize,
}

impl SampleRing {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { samples: Vec::with_capacity(capacity), capacity, next: 0 }
    }

    pub fn push(&mut self, ns: u64) {
        if self.samples.len() < self.capacity {
            self.samples.push(ns);
        } else {
            self.samples[self.next] = ns;
        }
        self.next = (self.next + 1) % self.capacity;
    }

    pub fn clear(&mut self) {
        self.samples.clear();
        self.next = 0;
    }

    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Samples oldest first.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        let (newer, older) = self.samples.split_at(if self.samples.len() < self.capacity { 0 } else { self.next });
        older.iter().chain(newer).copied()
    }

    /// Percentile `p` of the held samples, using `scratch` as sort space.
    pub fn percentile_with(&self, p: f64, scratch: &mut Vec<u64>) -> Option<u64> {
        scratch.clear();
        scratch.extend_from_slice(&self.samples);
        percentile(scratch, p)
    }

    /// The newest sample.
    pub fn last(&self) -> Option<u64> {
        (!self.samples.is_empty()).then(|| self.samples[(self.next + self.capacity - 1) % self.capacity])
    }

    /// Largest held sample.
    pub fn max(&self) -> Option<u64> {
        self.samples.iter().copied().max()
    }
}

/// Frame and stage timings of the last frames.
#[derive(Resource, Debug)]
pub struct StageTimings {
    /// Whole simulation frame (all stages plus the laps themselves).
    pub frame: SampleRing,
    /// One ring per [`Stage`], in [`Stage::ALL`] order.
    pub stages: [SampleRing; Stage::ALL.len()],
    frame_start: Option<Instant>,
    lap_start: Option<Instant>,
}

impl StageTimings {
    /// Timings that remember the last `capacity` frames.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            frame: SampleRing::new(capacity),
            stages: std::array::from_fn(|_| SampleRing::new(capacity)),
            frame_start: None,
            lap_start: None,
        }
    }

    /// Forgets all samples (the benchmark does this after warm-up).
    pub fn clear(&mut self) {
        self.frame.clear();
        self.stages.iter_mut().for_each(SampleRing::clear);
    }

    /// The ring of one stage.
    pub fn stage(&self, stage: Stage) -> &SampleRing {
        &self.stages[stage as usize]
    }

    fn begin_frame(&mut self, now: Instant) {
        self.frame_start = Some(now);
        self.lap_start = Some(now);
    }

    fn lap(&mut self, stage: Stage, now: Instant) {
        let since = self.lap_start.map_or(Duration::ZERO, |t| now - t);
        self.stages[stage as usize].push(since.as_nanos() as u64);
        self.lap_start = Some(now);
        if stage == Stage::Movement {
            let frame = self.frame_start.map_or(Duration::ZERO, |t| now - t);
            self.frame.push(frame.as_nanos() as u64);
        }
    }
}

impl Default for StageTimings {
    /// Ten seconds of history at 60 frames per second.
    fn default() -> Self {
        Self::with_capacity(600)
    }
}

/// Marks the start of a frame.
pub(super) fn begin_frame(mut timings: ResMut<StageTimings>) {
    timings.begin_frame(Instant::now());
}

/// The lap system that closes `stage`.
pub(super) fn end_stage(stage: Stage) -> impl FnMut(ResMut<StageTimings>) {
    move |mut timings: ResMut<StageTimings>| timings.lap(stage, Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nearest-rank percentiles against a brute-force definition: the
    /// smallest sample with at least p% of samples at or below it.
    #[test]
    fn percentile_is_nearest_rank() {
        let values: Vec<u64> = (0..257u64).map(|i| (i * 7919) % 1009).collect();
        for p in [0.0, 1.0, 50.0, 90.0, 99.0, 99.9, 100.0] {
            let mut sorted = values.clone();
            let got = percentile(&mut sorted, p).unwrap();
            let want = *values
                .iter()
                .filter(|&&v| {
                    let at_or_below = values.iter().filter(|&&w| w <= v).count() as f64;
                    at_or_below / values.len() as f64 * 100.0 >= p
                })
                .min()
                .unwrap();
            assert_eq!(got, want, "p{p}");
        }
        assert_eq!(percentile(&mut [], 50.0), None);
    }

    #[test]
    fn ring_keeps_the_newest_samples_in_order() {
        let mut ring = SampleRing::new(4);
        for v in 1..=6 {
            ring.push(v);
        }
        assert_eq!(ring.iter().collect::<Vec<_>>(), vec![3, 4, 5, 6]);
        assert_eq!(ring.last(), Some(6));
        assert_eq!(ring.max(), Some(6));
        let mut scratch = Vec::new();
        assert_eq!(ring.percentile_with(50.0, &mut scratch), Some(4));
        ring.clear();
        assert!(ring.is_empty());
    }
}
