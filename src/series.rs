//! Time series of a run: one row per frame (`genesis bench --series FILE`).
//!
//! A recorder system in [`AfterFrame`] (after the stages and their timing,
//! so it counts in no stage's latency) reduces the agents in fixed chunks,
//! in parallel and in a fixed order (the same bits on any thread count),
//! and appends a row to a buffer reserved up front. The file is written
//! once, after the run.

use std::io::{self, Write};

use bevy::prelude::*;
use rayon::prelude::*;

use crate::sim::{
    AfterFrame, Agent, AnomalyCount, ComputePool, DetectionScore, Fused, Neighbourhood, SimClock, SimFrame, Stage,
    StageTimings, parallel::CHUNK, parallel::TABLES,
};

/// Adds the recorder; rows land in [`Series`].
pub struct SeriesPlugin {
    /// Frames to reserve room for.
    pub frames: usize,
}

impl Plugin for SeriesPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Series { rows: Vec::with_capacity(self.frames) })
            .add_systems(SimFrame, record_frame.in_set(AfterFrame));
    }
}

/// One frame of the series.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesRow {
    pub frame: u64,
    pub anomalies: u64,
    pub fused_mean: f64,
    pub fused_sd: f64,
    pub nbr_count_mean: f64,
    /// Detection recall over the frames so far (`None` before any event).
    pub recall: Option<f64>,
    /// Each stage's time this frame, in [`Stage::ALL`] order, in µs.
    pub stage_us: [f64; 6],
}

/// The rows recorded so far.
#[derive(Resource, Debug, Default)]
pub struct Series {
    pub rows: Vec<SeriesRow>,
}

/// `(Σ fused, Σ fused², Σ neighbour count)` of one table, in `f64`, per
/// fixed chunk in parallel, chunks added in order (same bits on any thread
/// count).
fn table_sums(fused: &[Fused], neighbourhoods: &[Neighbourhood], pool: &ComputePool) -> (f64, f64, f64) {
    let partial: Vec<(f64, f64, f64)> = pool.install(|| {
        fused
            .par_chunks(CHUNK)
            .zip(neighbourhoods.par_chunks(CHUNK))
            .map(|(f, n)| {
                let (mut s, mut s2, mut c) = (0.0, 0.0, 0.0);
                for (f, n) in f.iter().zip(n) {
                    let v = f.0 as f64;
                    s += v;
                    s2 += v * v;
                    c += n.count as f64;
                }
                (s, s2, c)
            })
            .collect()
    });
    partial.iter().fold((0.0, 0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1, a.2 + p.2))
}

/// Population summary over all agent tables: mean and standard deviation
/// of `fused`, mean neighbour count.
pub fn summarize<'a>(
    tables: impl Iterator<Item = (&'a [Fused], &'a [Neighbourhood])>,
    pool: &ComputePool,
) -> (f64, f64, f64) {
    let (mut s, mut s2, mut c, mut total) = (0.0, 0.0, 0.0, 0usize);
    for (fused, neighbourhoods) in tables {
        let (ts, ts2, tc) = table_sums(fused, neighbourhoods, pool);
        (s, s2, c, total) = (s + ts, s2 + ts2, c + tc, total + fused.len());
    }
    if total == 0 {
        return (0.0, 0.0, 0.0);
    }
    let t = total as f64;
    let mean = s / t;
    (mean, (s2 / t - mean * mean).max(0.0).sqrt(), c / t)
}

/// [`summarize`] of a world's agents (after a run).
pub fn summarize_world(world: &mut World) -> (f64, f64, f64) {
    let pool = world.resource::<ComputePool>().clone();
    let mut query = world.query_filtered::<(&Fused, &Neighbourhood), With<Agent>>();
    summarize(query.contiguous_iter(world).expect(TABLES), &pool)
}

fn record_frame(
    agents: Query<(&Fused, &Neighbourhood), With<Agent>>,
    clock: Res<SimClock>,
    count: Res<AnomalyCount>,
    score: Res<DetectionScore>,
    timings: Res<StageTimings>,
    pool: Res<ComputePool>,
    mut series: ResMut<Series>,
) {
    let (fused_mean, fused_sd, nbr_count_mean) = summarize(agents.contiguous_iter().expect(TABLES), &pool);
    let stage_us = std::array::from_fn(|i| timings.stage(Stage::ALL[i]).last().unwrap_or(0) as f64 / 1e3);
    series.rows.push(SeriesRow {
        frame: clock.frame,
        anomalies: count.this_frame,
        fused_mean,
        fused_sd,
        nbr_count_mean,
        recall: score.recall(),
        stage_us,
    });
}

/// Writes the series as CSV (header row, one row per frame).
pub fn write_csv(rows: &[SeriesRow], w: &mut impl Write) -> io::Result<()> {
    let stages: Vec<String> = Stage::ALL.iter().map(|s| format!("{}_us", s.name())).collect();
    writeln!(w, "frame,anomalies,fused_mean,fused_sd,nbr_count_mean,recall,{}", stages.join(","))?;
    for r in rows {
        // Floats keep a decimal point when whole (`1.0`), for type inference.
        let recall = r.recall.map_or(String::new(), |v| format!("{v:?}"));
        let stage_us: Vec<String> = r.stage_us.iter().map(|v| format!("{v:.1}")).collect();
        writeln!(
            w,
            "{},{},{:?},{:?},{:?},{},{}",
            r.frame,
            r.anomalies,
            r.fused_mean,
            r.fused_sd,
            r.nbr_count_mean,
            recall,
            stage_us.join(",")
        )?;
    }
    Ok(())
}
