//! Stage 1, spatial mapping (SPEC 4.1): who is near whom.
//!
//! Each frame the agents are bucketed into a uniform grid with a counting
//! sort: one pass counts agents per cell, a prefix sum gives each cell its
//! range, and a second pass scatters positions, ids and previous `fused`
//! values into flat cell-ordered arrays. No per-cell `Vec`s, and after the
//! first frame no allocation at all. Cells are at least `R` wide, so an
//! agent's neighbours all lie in its own cell and the eight around it.
//!
//! For each agent the `K` nearest within `R` are kept in a small sorted
//! array (ties broken by smaller id, SPEC 4.1); only their count, the
//! nearest distance and the mean of their previous `fused` are stored, as
//! that is all later stages use.

use bevy::prelude::*;
use rayon::prelude::*;

use super::{
    SimClock, Stage,
    agents::{Agent, AgentId, Position},
    config::{MAX_NEIGHBOURS, ModelConfig},
    fusion::Fused,
    parallel::{CHUNK, ComputePool, TABLES},
};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, Neighbourhood>()
        .init_resource::<SpatialGrid>()
        .add_systems(super::SimFrame, map_neighbourhoods.in_set(Stage::Spatial));
}

/// What an agent knows of its neighbours this frame.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct Neighbourhood {
    /// Neighbours kept (at most `K`).
    pub count: u32,
    /// Distance to the nearest neighbour, `+∞` with none.
    pub nearest: f32,
    /// Mean of the neighbours' previous `fused`; NaN where SPEC 4.1 leaves
    /// it undefined (frame 0, or no neighbours). Read it with [`Self::mean`].
    pub nbr_mean: f32,
}

impl Neighbourhood {
    /// `nbr_mean` where it is defined.
    pub fn mean(&self) -> Option<f32> {
        (!self.nbr_mean.is_nan()).then_some(self.nbr_mean)
    }
}

impl Default for Neighbourhood {
    fn default() -> Self {
        Self {
            count: 0,
            nearest: f32::INFINITY,
            nbr_mean: f32::NAN,
        }
    }
}

/// The `K` nearest candidates seen so far, sorted by `(distance², id)`.
#[derive(Clone, Debug)]
pub struct Nearest {
    len: usize,
    cap: usize,
    dist_sq: [f32; MAX_NEIGHBOURS],
    id: [u32; MAX_NEIGHBOURS],
    fused: [f32; MAX_NEIGHBOURS],
}

impl Nearest {
    pub fn new(k: usize) -> Self {
        assert!(
            (1..=MAX_NEIGHBOURS).contains(&k),
            "K must be 1..={MAX_NEIGHBOURS}"
        );
        Self {
            len: 0,
            cap: k,
            dist_sq: [0.0; MAX_NEIGHBOURS],
            id: [0; MAX_NEIGHBOURS],
            fused: [0.0; MAX_NEIGHBOURS],
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Offers a candidate; kept if it is among the `K` best.
    #[inline]
    pub fn offer(&mut self, dist_sq: f32, id: u32, fused: f32) {
        let before = |this: &Self, i: usize| (dist_sq, id) < (this.dist_sq[i], this.id[i]);
        if self.len == self.cap && !before(self, self.len - 1) {
            return;
        }
        let mut at = self.len.min(self.cap - 1);
        while at > 0 && before(self, at - 1) {
            self.dist_sq[at] = self.dist_sq[at - 1];
            self.id[at] = self.id[at - 1];
            self.fused[at] = self.fused[at - 1];
            at -= 1;
        }
        self.dist_sq[at] = dist_sq;
        self.id[at] = id;
        self.fused[at] = fused;
        self.len = (self.len + 1).min(self.cap);
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ids of the kept neighbours, nearest first.
    pub fn ids(&self) -> &[u32] {
        &self.id[..self.len]
    }

    /// Squared distances of the kept neighbours, nearest first.
    pub fn distances_sq(&self) -> &[f32] {
        &self.dist_sq[..self.len]
    }

    /// Summary stored on the agent; `previous_defined` is false at frame 0.
    pub fn summary(&self, previous_defined: bool) -> Neighbourhood {
        let nearest = if self.len > 0 {
            self.dist_sq[0].sqrt()
        } else {
            f32::INFINITY
        };
        let nbr_mean = if previous_defined && self.len > 0 {
            let sum: f64 = self.fused[..self.len].iter().map(|&f| f as f64).sum();
            (sum / self.len as f64) as f32
        } else {
            f32::NAN
        };
        Neighbourhood {
            count: self.len as u32,
            nearest,
            nbr_mean,
        }
    }
}

/// Agents bucketed by grid cell (rebuilt every frame by counting sort).
#[derive(Resource, Debug, Default)]
pub struct SpatialGrid {
    cols: usize,
    rows: usize,
    cell_w: f32,
    cell_h: f32,
    /// `starts[c] .. starts[c + 1]` is cell `c`'s range in the arrays below.
    starts: Vec<u32>,
    xs: Vec<f32>,
    ys: Vec<f32>,
    ids: Vec<u32>,
    fused: Vec<f32>,
}

/// At most this many cells per axis, so a tiny radius cannot blow up memory
/// (cells grow instead; correctness only needs them at least `R` wide).
const MAX_CELLS_PER_AXIS: usize = 1024;

impl SpatialGrid {
    /// Rebuilds the grid. `agents` is called twice and must yield the same
    /// `(x, y, id, fused)` sequence both times.
    pub fn rebuild<I>(&mut self, width: f32, height: f32, radius: f32, agents: impl Fn() -> I)
    where
        I: Iterator<Item = (f32, f32, u32, f32)>,
    {
        // A hair wider than R, so float rounding in `x / cell` can never put
        // two agents within R more than one cell apart.
        let cell = radius * 1.001;
        self.cols = ((width / cell) as usize).clamp(1, MAX_CELLS_PER_AXIS);
        self.rows = ((height / cell) as usize).clamp(1, MAX_CELLS_PER_AXIS);
        self.cell_w = width / self.cols as f32;
        self.cell_h = height / self.rows as f32;
        let cells = self.cols * self.rows;

        self.starts.clear();
        self.starts.resize(cells + 1, 0);
        let mut n = 0usize;
        for (x, y, _, _) in agents() {
            let c = self.cell_of(x, y);
            self.starts[c + 1] += 1;
            n += 1;
        }
        for c in 0..cells {
            self.starts[c + 1] += self.starts[c];
        }
        for v in [&mut self.xs, &mut self.ys, &mut self.fused] {
            v.resize(n, 0.0);
        }
        self.ids.resize(n, 0);
        // Scatter, using `starts[c]` as cell c's cursor; afterwards each
        // cursor sits at the next cell's start, so shift them back.
        for (x, y, id, fused) in agents() {
            let c = self.cell_of(x, y);
            let at = self.starts[c] as usize;
            self.starts[c] += 1;
            (self.xs[at], self.ys[at], self.ids[at], self.fused[at]) = (x, y, id, fused);
        }
        for c in (1..=cells).rev() {
            self.starts[c] = self.starts[c - 1];
        }
        self.starts[0] = 0;
    }

    #[inline]
    fn cell_xy(&self, x: f32, y: f32) -> (usize, usize) {
        let cx = ((x / self.cell_w) as isize).clamp(0, self.cols as isize - 1) as usize;
        let cy = ((y / self.cell_h) as isize).clamp(0, self.rows as isize - 1) as usize;
        (cx, cy)
    }

    #[inline]
    fn cell_of(&self, x: f32, y: f32) -> usize {
        let (cx, cy) = self.cell_xy(x, y);
        cy * self.cols + cx
    }

    /// Fills `out` with the `K` nearest agents other than `id` within
    /// `radius` of `(x, y)` (distance ≤ R, compared as `d² ≤ R²` in `f32`).
    pub fn nearest(&self, x: f32, y: f32, id: u32, radius: f32, out: &mut Nearest) {
        out.clear();
        let r2 = radius * radius;
        let (cx, cy) = self.cell_xy(x, y);
        for ny in cy.saturating_sub(1)..=(cy + 1).min(self.rows - 1) {
            let row = ny * self.cols;
            let first = self.starts[row + cx.saturating_sub(1)] as usize;
            let last = self.starts[row + (cx + 1).min(self.cols - 1) + 1] as usize;
            // Cells of a row are adjacent in the arrays: one contiguous run.
            for j in first..last {
                let (dx, dy) = (self.xs[j] - x, self.ys[j] - y);
                let d2 = dx * dx + dy * dy;
                if d2 <= r2 && self.ids[j] != id {
                    out.offer(d2, self.ids[j], self.fused[j]);
                }
            }
        }
    }
}

/// Rebuilds the grid and stores every agent's [`Neighbourhood`].
pub fn map_neighbourhoods(
    mut agents: Query<(&AgentId, &Position, &Fused, &mut Neighbourhood), With<Agent>>,
    mut grid: ResMut<SpatialGrid>,
    config: Res<ModelConfig>,
    clock: Res<SimClock>,
    pool: Res<ComputePool>,
) {
    let readonly = agents.as_readonly();
    grid.rebuild(config.width, config.height, config.radius, || {
        readonly
            .iter()
            .map(|(id, p, f, _)| (p.0.x, p.0.y, id.0, f.0))
    });
    let grid = &*grid;
    let (radius, k, previous_defined) = (config.radius, config.neighbours, clock.frame > 0);
    for (ids, positions, _, mut neighbourhoods) in agents.contiguous_iter_mut().expect(TABLES) {
        let neighbourhoods: &mut [Neighbourhood] = &mut neighbourhoods;
        pool.install(|| {
            (
                ids.par_chunks(CHUNK),
                positions.par_chunks(CHUNK),
                neighbourhoods.par_chunks_mut(CHUNK),
            )
                .into_par_iter()
                .for_each(|(ids, positions, out)| {
                    let mut nearest = Nearest::new(k);
                    for ((id, p), out) in ids.iter().zip(positions).zip(out) {
                        grid.nearest(p.0.x, p.0.y, id.0, radius, &mut nearest);
                        *out = nearest.summary(previous_defined);
                    }
                });
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: every pair, sorted by (d², id), first K.
    fn brute_force(points: &[(f32, f32, u32)], i: usize, radius: f32, k: usize) -> Vec<(f32, u32)> {
        let (x, y, id) = points[i];
        let mut all: Vec<(f32, u32)> = points
            .iter()
            .filter(|p| p.2 != id)
            .map(|&(px, py, pid)| {
                let (dx, dy) = (px - x, py - y);
                (dx * dx + dy * dy, pid)
            })
            .filter(|&(d2, _)| d2 <= radius * radius)
            .collect();
        all.sort_by(|a, b| a.partial_cmp(b).unwrap());
        all.truncate(k);
        all
    }

    /// A tiny deterministic generator for the test worlds.
    fn lcg(state: &mut u64) -> f32 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 40) as f32 / (1u64 << 24) as f32
    }

    fn check_world(points: &[(f32, f32, u32)], width: f32, height: f32, radius: f32, k: usize) {
        let mut grid = SpatialGrid::default();
        grid.rebuild(width, height, radius, || {
            points.iter().map(|&(x, y, id)| (x, y, id, id as f32))
        });
        let mut nearest = Nearest::new(k);
        for (i, &(x, y, id)) in points.iter().enumerate() {
            grid.nearest(x, y, id, radius, &mut nearest);
            let want = brute_force(points, i, radius, k);
            let got: Vec<(f32, u32)> = nearest
                .distances_sq()
                .iter()
                .copied()
                .zip(nearest.ids().iter().copied())
                .collect();
            assert_eq!(got, want, "agent {id} at ({x}, {y})");
            // The fused values travel with their ids.
            let mean = nearest.summary(true).mean();
            if want.is_empty() {
                assert_eq!(mean, None);
            } else {
                let want_mean =
                    want.iter().map(|&(_, j)| j as f64).sum::<f64>() / want.len() as f64;
                assert!((mean.unwrap() as f64 - want_mean).abs() < 1e-3);
            }
        }
    }

    #[test]
    fn random_worlds_match_brute_force() {
        let mut s = 7;
        for (n, w, h, r, k) in [
            (500, 100.0, 100.0, 10.0, 16),
            (2000, 200.0, 50.0, 7.5, 4),
            (300, 30.0, 30.0, 12.0, 16),
            (50, 1000.0, 1000.0, 0.3, 1),
        ] {
            let points: Vec<(f32, f32, u32)> = (0..n)
                .map(|i| (lcg(&mut s) * w, lcg(&mut s) * h, (i * 7 + 3) as u32))
                .collect();
            check_world(&points, w, h, r, k);
        }
    }

    #[test]
    fn exact_radius_duplicates_walls_and_ties() {
        let r = 10.0;
        let mut points = vec![
            // Exactly at distance R (3-4-5 triangles scaled by 2, and axis-aligned).
            (50.0, 50.0, 0),
            (60.0, 50.0, 1),
            (56.0, 58.0, 2),
            (50.0, 40.0, 3),
            // Just beyond R.
            (50.0, 60.0001, 4),
            // Duplicate positions (distance 0, ties broken by id).
            (20.0, 20.0, 9),
            (20.0, 20.0, 5),
            (20.0, 20.0, 7),
            // On the walls and corners.
            (0.0, 0.0, 10),
            (0.0, 7.0, 11),
            (100.0, 100.0, 12),
            (100.0, 93.0, 13),
            (100.0, 0.0, 14),
            (0.0, 100.0, 15),
        ];
        // More than K = 16 neighbours, all at the same distance: ties by id.
        for j in 0..24u32 {
            let a = j as f32 * std::f32::consts::TAU / 24.0;
            points.push((
                75.0 + 5.0 * a.cos(),
                25.0 + 5.0 * a.sin(),
                100 + (j * 13) % 24,
            ));
        }
        points.push((75.0, 25.0, 99));
        check_world(&points, 100.0, 100.0, r, 16);
        check_world(&points, 100.0, 100.0, r, 3);
    }

    #[test]
    fn neighbour_summary_is_undefined_without_history_or_neighbours() {
        let mut nearest = Nearest::new(4);
        let empty = nearest.summary(true);
        assert_eq!(
            (empty.count, empty.nearest, empty.mean()),
            (0, f32::INFINITY, None)
        );
        nearest.offer(4.0, 1, 0.5);
        nearest.offer(1.0, 2, 1.5);
        let s = nearest.summary(true);
        assert_eq!((s.count, s.nearest, s.mean()), (2, 1.0, Some(1.0)));
        assert_eq!(nearest.summary(false).mean(), None);
    }
}
