//! Stage 1, spatial mapping (SPEC 4.1): who is near whom.
//!
//! Each frame the agents are bucketed into a uniform grid with a counting
//! sort, reading the ECS columns as plain slices: a parallel pass finds
//! each agent's cell, one pass counts agents per cell, a prefix sum gives
//! each cell its range, and a last pass scatters positions, ids and
//! previous `fused` values into flat cell-ordered arrays. No per-cell `Vec`s, and after the
//! first frame no allocation at all. Cells are sized from the mean density
//! (see [`SpatialGrid`]), so a search reads a few dozen candidates whether
//! the world is sparse or crowded.
//!
//! For each agent the `K` nearest within `R` are kept in a short sorted
//! list with a branch-free SIMD insertion ([`Nearest`], ties broken by
//! smaller id, SPEC 4.1); only their count,
//! the nearest distance and the mean of their previous `fused` are stored,
//! as that is all later stages use ([`SpatialGrid::neighbourhood`]).
//! Agents are searched in cell order, for cache locality, and each result
//! is then written to its agent. Where the processor has AVX-512 the
//! search runs a build with 16-candidate blocks ([`avx512`]): the stage's
//! search does not sort at all, but counts each hit's rank to pick the `K`
//! nearest, runs one search ahead of its summary and finishes the
//! summaries sixteen at a time ([`SpatialGrid::neighbourhoods`]); the
//! answer is the same bits.

use bevy::prelude::*;
use rayon::prelude::*;

mod avx512;
pub mod order;

pub use order::SpaceOrder;

use super::{
    SimClock, Stage,
    agents::{Agent, AgentId, Position},
    config::{MAX_NEIGHBOURS, ModelConfig},
    fusion::Fused,
    parallel::{CHUNK, ComputePool, TABLES, TaskPerChunk},
};

pub(super) fn plugin(app: &mut App) {
    app.register_required_components::<Agent, Neighbourhood>()
        .init_resource::<SpatialGrid>()
        .init_resource::<SpaceOrder>()
        .add_systems(super::SimFrame, (order::keep_space_order, map_neighbourhoods).chain().in_set(Stage::Spatial));
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
        Self { count: 0, nearest: f32::INFINITY, nbr_mean: f32::NAN }
    }
}

/// The `K` nearest neighbours of one search: a sorted list of candidate
/// keys while searching, then the resolved neighbours in SPEC 4.1's order
/// (nearer first, ties by smaller id).
///
/// While searching, a candidate is one 64-bit key, `distance² bits << 32 |
/// slot`, where `slot` is its index in the grid's cell-ordered arrays: for
/// non-negative floats the bit pattern orders like the value, so comparing
/// keys compares distances in one instruction. The key is held as the `f64`
/// with that bit pattern (top bit clear, exponent never all ones: a
/// non-negative finite `f64` or a subnormal, which compares exactly), so
/// the list stays sorted through a branch-free insertion of SIMD min/max
/// ([`insert_sorted`]) instead of a heap whose every sift step is a branch
/// the processor mispredicts half the time.
///
/// Grid slots order ties differently from ids, so the list holds `K + 1`
/// keys: when the `(K+1)`-th is as near as the `K`-th, who is in the set
/// depends on ids, and [`SpatialGrid::nearest`] settles it exactly by id.
#[derive(Clone, Debug)]
pub struct Nearest {
    k: usize,
    /// Width of the portable build's key list: one of [`LANES`], at least
    /// `K + 1`.
    lanes: usize,
    len: usize,
    ids: [u32; MAX_NEIGHBOURS],
    dist_sq: [f32; MAX_NEIGHBOURS],
    fused: [f32; MAX_NEIGHBOURS],
    /// Candidates of the rare exact tie-break, reused between searches.
    ties: Vec<(f32, u32, usize)>,
}

/// Key slots: `MAX_NEIGHBOURS + 1`, rounded up to even.
const KEY_SLOTS: usize = MAX_NEIGHBOURS + 2;
/// The widths the insertion runs at (even, so SIMD pairs fill them; the
/// default `K = 16` needs 17, so 18 is one of them).
const LANES: [usize; 6] = [2, 4, 8, 18, 34, KEY_SLOTS];

/// An unfilled key slot: above every real key (whose distance² is finite),
/// and its distance half reads back as `+∞`.
const EMPTY: f64 = f64::from_bits((0x7F80_0000u64 << 32) | 0xFFFF_FFFF);

#[inline]
fn key(dist_sq: f32, slot: usize) -> f64 {
    f64::from_bits(((dist_sq.to_bits() as u64) << 32) | slot as u64)
}

#[inline]
fn key_dist_sq(key: f64) -> f32 {
    f32::from_bits((key.to_bits() >> 32) as u32)
}

#[inline]
fn key_slot(key: f64) -> usize {
    key.to_bits() as u32 as usize
}

/// Inserts `x` into the sorted `keys` (length even), dropping the last.
/// Slot `j` becomes `max(a[j-1], min(a[j], x))`: `a[j-1]` if `x` sorts
/// before it (shifted up), `x` if it sorts between, else `a[j]`. A key
/// above every slot leaves the list as it was. (The same as `min(a[j],
/// max(a[j-1], x))`, but the shift and the first min/max are independent,
/// so an insertion waits on one step less of the one before.)
#[inline]
fn insert_sorted(keys: &mut [f64], x: f64) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        debug_assert!(keys.len().is_multiple_of(2));
        // SAFETY: SSE2 is part of the x86_64 baseline; every load and store
        // is of two lanes inside `keys` (length even, checked by the loop).
        unsafe {
            let xv = _mm_set1_pd(x);
            let mut before = _mm_set1_pd(-1.0);
            for pair in keys.chunks_exact_mut(2) {
                let at = pair.as_mut_ptr();
                let cur = _mm_loadu_pd(at);
                // [last of the previous pair, first of this one]
                let prev = _mm_shuffle_pd::<0b01>(before, cur);
                _mm_storeu_pd(at, _mm_max_pd(prev, _mm_min_pd(cur, xv)));
                before = cur;
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut prev = -1.0f64;
        for slot in keys.iter_mut() {
            let cur = *slot;
            let m = if cur < x { cur } else { x };
            *slot = if prev > m { prev } else { m };
            prev = cur;
        }
    }
}

/// The next search distance after a square that covered `covered` found
/// `found` candidates, fewer than `K`: far enough to hold `K` with room to
/// spare at the density it saw (1.5 times the area `K` need), at most
/// `radius`, and always more than `covered`, as `found < K`. None found
/// counts as one: a square clipped by a wall may find none, and a jump
/// straight to `R` then offers a crowd (in a dense world, more than the
/// AVX-512 stage search ranks).
///
/// Jumping straight to `R` instead, as the search first did, made these
/// rare rounds (2–3% of searches, where the first square is short by a
/// few, or clipped by a wall) cost a dozen ordinary searches each in a
/// dense world: at 1M agents, where `R` is 3.5 times the first square's
/// reach, a round of `R` offers about 300 candidates, and the 1M search
/// spent a tenth of its time on them.
#[cold]
#[inline(never)]
fn next_reach(covered: f32, found: usize, k: usize, radius: f32) -> f32 {
    (covered * (1.5 * k as f32 / found.max(1) as f32).sqrt()).min(radius)
}

/// Squared distances from `(x, y)` to a block of 8 agents, and the bit
/// mask of those within `cut` that are not agent `id`.
#[inline]
fn block_hits(xs: &[f32; 8], ys: &[f32; 8], ids: &[u32; 8], x: f32, y: f32, id: u32, cut: f32) -> ([f32; 8], u32) {
    let mut d2 = [0.0f32; 8];
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::*;
        // SAFETY: SSE2 is part of the x86_64 baseline; loads and stores are
        // of four lanes at offsets 0 and 4 of 8-element arrays.
        unsafe {
            let (xv, yv, cv, iv) = (_mm_set1_ps(x), _mm_set1_ps(y), _mm_set1_ps(cut), _mm_set1_epi32(id as i32));
            let mut hits = 0;
            for at in [0, 4] {
                let dx = _mm_sub_ps(_mm_loadu_ps(xs.as_ptr().add(at)), xv);
                let dy = _mm_sub_ps(_mm_loadu_ps(ys.as_ptr().add(at)), yv);
                let d = _mm_add_ps(_mm_mul_ps(dx, dx), _mm_mul_ps(dy, dy));
                _mm_storeu_ps(d2.as_mut_ptr().add(at), d);
                let own = _mm_cmpeq_epi32(_mm_loadu_si128(ids.as_ptr().add(at).cast()), iv);
                let keep = _mm_andnot_ps(_mm_castsi128_ps(own), _mm_cmple_ps(d, cv));
                hits |= (_mm_movemask_ps(keep) as u32) << at;
            }
            (d2, hits)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let mut hits = 0;
        for j in 0..8 {
            let (dx, dy) = (xs[j] - x, ys[j] - y);
            d2[j] = dx * dx + dy * dy;
            hits |= ((d2[j] <= cut && ids[j] != id) as u32) << j;
        }
        (d2, hits)
    }
}

/// What one search gathers, as the search drives it: a sorted key list of
/// the portable build ([`Keys`]) or of the AVX-512 one, or the AVX-512
/// stage search's candidate buffer, which never sorts. Every method is
/// inlined into the search, so the list stays in registers for a whole
/// square.
trait KeyList: Sized {
    /// Whether the list wants the agent's own row of cells scanned first,
    /// then rows outwards: a list that cuts candidates off at its own
    /// `(K+1)`-th key sees that shrink sooner. A list without such a
    /// cut-off takes the rows top to bottom, a loop the processor predicts
    /// (the nearest-first order picks between the rows above and below
    /// the agent's, a coin toss in a sparse world whose squares span two).
    const NEAREST_ROW_FIRST: bool;

    fn new(k: usize) -> Self;

    /// Offers the candidates in grid slots `lo .. hi` with `d² ≤ r2` that
    /// are not agent `id` (it may offer fewer: those that cannot make the
    /// list).
    #[allow(clippy::too_many_arguments)]
    fn scan_run(&mut self, grid: &SpatialGrid, lo: usize, hi: usize, x: f32, y: f32, id: u32, r2: f32);

    /// Tells the list that the round about to be scanned covers `R`, so
    /// that its hits are every neighbour there is (a list may then gather
    /// what a sparse answer needs as it scans).
    fn last_round(&mut self) {}

    /// Puts every candidate offered so far into the list (a list may hold
    /// some back, to insert them in one go).
    fn settle(&mut self) {}

    /// Whether `K` candidates were offered (after [`Self::settle`]).
    fn full(&self) -> bool;

    /// How many candidates were offered, when fewer than `K` (after
    /// [`Self::settle`]; it sizes the next square).
    fn found(&mut self) -> usize;
}

/// A [`KeyList`] that lists its answer: the keys, `distance² bits << 32 |
/// grid slot`, sorted.
trait Listed: KeyList {
    /// The keys, sorted (after [`KeyList::settle`]), at least `K + 1` of
    /// them.
    fn keys(&mut self) -> &[f64];
}

/// The sorted key list of one search, `L` slots (one of [`LANES`]): a
/// local of fixed size, so that the compiler unrolls every insertion and
/// may keep the list in registers for the whole search.
struct Keys<const L: usize> {
    keys: [f64; L],
    k: usize,
}

impl<const L: usize> Keys<L> {
    /// Squared distance a candidate must not exceed to be kept: that of the
    /// `(K+1)`-th key so far (`+∞` while fewer are held), since a candidate
    /// that far away may still beat it on the tie-break.
    #[inline(always)]
    fn cut(&self) -> f32 {
        key_dist_sq(self.keys[self.k])
    }
}

impl<const L: usize> KeyList for Keys<L> {
    const NEAREST_ROW_FIRST: bool = true;

    #[inline(always)]
    fn new(k: usize) -> Self {
        Self { keys: [EMPTY; L], k }
    }

    /// Distances in blocks of 8 with no branches (vectorised), then only
    /// the few under the cut-off are offered (a key that no longer beats
    /// the list by then leaves it as it was). The last block reads past
    /// the run (the arrays are padded) and masks those lanes off: they may
    /// be another row's, offered there.
    #[inline(always)]
    fn scan_run(&mut self, grid: &SpatialGrid, lo: usize, hi: usize, x: f32, y: f32, id: u32, r2: f32) {
        let mut start = lo;
        while start < hi {
            let cut = r2.min(self.cut());
            let xs: &[f32; 8] = grid.xs[start..start + 8].try_into().expect("padded");
            let ys: &[f32; 8] = grid.ys[start..start + 8].try_into().expect("padded");
            let ids: &[u32; 8] = grid.ids[start..start + 8].try_into().expect("padded");
            let valid = (1u32 << (hi - start).min(8)) - 1;
            let (d2, hits) = block_hits(xs, ys, ids, x, y, id, cut);
            let mut hits = hits & valid;
            while hits != 0 {
                let j = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                insert_sorted(&mut self.keys, key(d2[j], start + j));
            }
            start += 8;
        }
    }

    #[inline(always)]
    fn full(&self) -> bool {
        self.keys[self.k - 1] != EMPTY
    }

    fn found(&mut self) -> usize {
        self.keys.iter().take_while(|&&key| key != EMPTY).count()
    }
}

impl<const L: usize> Listed for Keys<L> {
    #[inline(always)]
    fn keys(&mut self) -> &[f64] {
        &self.keys
    }
}

impl Nearest {
    /// `K`, the most neighbours it keeps.
    pub fn capacity(&self) -> usize {
        self.k
    }

    pub fn new(k: usize) -> Self {
        assert!((1..=MAX_NEIGHBOURS).contains(&k), "K must be 1..={MAX_NEIGHBOURS}");
        Self {
            k,
            lanes: LANES.into_iter().find(|&n| n > k).expect("KEY_SLOTS covers MAX_NEIGHBOURS + 1"),
            len: 0,
            ids: [0; MAX_NEIGHBOURS],
            dist_sq: [0.0; MAX_NEIGHBOURS],
            fused: [0.0; MAX_NEIGHBOURS],
            ties: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ids of the neighbours, nearest first, ties by smaller id.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.ids[..self.len].iter().copied()
    }

    /// Squared distances of the neighbours (ordered as [`Self::ids`]).
    pub fn distances_sq(&self) -> impl Iterator<Item = f32> + '_ {
        self.dist_sq[..self.len].iter().copied()
    }

    /// Summary stored on the agent; `previous_defined` is false at frame 0.
    /// The mean's `f64` sum runs nearest first.
    pub fn summary(&self, previous_defined: bool) -> Neighbourhood {
        let nearest = if self.len > 0 { self.dist_sq[0].sqrt() } else { f32::INFINITY };
        let nbr_mean = if previous_defined && self.len > 0 {
            let sum: f64 = self.fused[..self.len].iter().map(|&f| f as f64).sum();
            (sum / self.len as f64) as f32
        } else {
            f32::NAN
        };
        Neighbourhood { count: self.len as u32, nearest, nbr_mean }
    }
}

/// One ECS table's agents, as column slices (the grid reads them once).
#[derive(Clone, Copy, Debug)]
pub struct Columns<'a> {
    pub ids: &'a [AgentId],
    pub positions: &'a [Position],
    /// Previous frame's `fused`, for the neighbour mean.
    pub fused: &'a [Fused],
}

/// Agents bucketed by grid cell (rebuilt every frame by counting sort).
///
/// The search for one agent scans the square of cells that covers a disc of
/// radius `h` around it, row by row (each row of cells is one contiguous run
/// of the arrays). `h` starts at the distance that holds about `K` agents at
/// the world's mean density (capped at `R`), and grows only when the square
/// did not prove the answer: in a dense world an agent reads a few dozen
/// candidates, not all the hundreds within `R`. Cells are half that first
/// guess wide, so the square is a handful of cells a side, but hold at
/// least about half a block of candidates (two agents for the portable
/// build's blocks of 8, four for the AVX-512 build's 16): in a sparse world
/// a row of nearly empty cells costs more in set-up than the few extra
/// candidates of wider cells.
#[derive(Resource, Debug, Default)]
pub struct SpatialGrid {
    cols: usize,
    rows: usize,
    /// Cells per world unit along x and y: a cell index is a multiply, not
    /// a division (any monotone map is exact here, as long as the rebuild
    /// and the search use the same one).
    per_x: f32,
    per_y: f32,
    /// `starts[c] .. starts[c + 1]` is cell `c`'s range in the arrays below.
    starts: Vec<u32>,
    xs: Vec<f32>,
    ys: Vec<f32>,
    ids: Vec<u32>,
    fused: Vec<f32>,
    /// `origin[at]`: which agent given to `rebuild` (numbered across the
    /// parts, in order) sits in slot `at` of the arrays.
    origin: Vec<u32>,
    /// Each agent's cell, in the order given to `rebuild` (rebuild
    /// scratch, kept so that no frame allocates).
    cell_of: Vec<u32>,
    /// Per part of the agents, per cell: a count, then a write cursor
    /// (rebuild scratch, as above).
    cursors: Vec<u32>,
    /// First search distance `h` (see the type's docs), for the last `K`.
    first_reach: f32,
    /// Searches run the AVX-512 build ([`avx512`]) where it fits `K`: the
    /// processor has it, and the grid was not made [`Self::portable`].
    wide: bool,
    /// Never run the AVX-512 build.
    portable: bool,
}

/// The agents `from .. to` of `parts` (numbered across the parts, in
/// order), as one [`Columns`] per part they span, each with the number of
/// its first agent: the rebuild's loops run over plain slices, with no
/// iterator chained across parts (a `flat_map` per agent cost a tenth of
/// the rebuild and kept the cell loop from vectorising).
fn segments<'a>(parts: &'a [Columns<'a>], from: usize, to: usize) -> impl Iterator<Item = (usize, Columns<'a>)> + 'a {
    let mut first = 0;
    parts.iter().filter_map(move |part| {
        let (lo, hi) = (first, first + part.ids.len());
        first = hi;
        let (start, end) = (from.max(lo), to.min(hi));
        (start < end).then(|| {
            let range = start - lo..end - lo;
            let columns = Columns {
                ids: &part.ids[range.clone()],
                positions: &part.positions[range.clone()],
                fused: &part.fused[range],
            };
            (start, columns)
        })
    })
}

/// Raw access to the grid's cell-ordered arrays for the parallel scatter,
/// where every part writes its own, disjoint, slots.
#[derive(Clone, Copy)]
struct GridWriter {
    xs: *mut f32,
    ys: *mut f32,
    ids: *mut u32,
    fused: *mut f32,
    origin: *mut u32,
}
// SAFETY: the parts write disjoint slots (see `SpatialGrid::rebuild`).
unsafe impl Send for GridWriter {}
unsafe impl Sync for GridWriter {}

impl GridWriter {
    /// # Safety
    /// `at` is below the arrays' length, and no other thread touches slot
    /// `at` meanwhile.
    #[inline]
    unsafe fn write(self, at: usize, x: f32, y: f32, id: u32, fused: f32, origin: u32) {
        unsafe {
            self.xs.add(at).write(x);
            self.ys.add(at).write(y);
            self.ids.add(at).write(id);
            self.fused.add(at).write(fused);
            self.origin.add(at).write(origin);
        }
    }
}

/// Slots of padding after the grid's arrays: the widest block a search
/// reads at once (16 lanes, [`avx512`]).
const PADDING: usize = 16;

/// First search distance, as a multiple of the radius of a disc that holds
/// `K` agents at mean density: a little more, so one square usually does.
const REACH_MARGIN: f32 = 1.25;
/// Cell width as a share of the first search distance.
const CELL_PER_REACH: f32 = 0.5;
/// Cells at least this many agents big on average in the portable build,
/// twice that in the AVX-512 one, whose blocks are twice as wide
/// (measured at 10k agents: 1 and 4 were slower than 2 with 8-lane blocks;
/// 2, 3 and 6 slower than 4 with 16-lane ones). Denser worlds are sized by
/// reach instead.
const AGENTS_PER_CELL: f32 = 2.0;
/// At most this many cells per axis, so memory stays bounded whatever the
/// radius; cells grow instead (correctness holds for any cell size).
const MAX_CELLS_PER_AXIS: usize = 4096;

/// The cell (column or row) holding coordinate `v`, for `per_unit` cells
/// per world unit, `count` of them; outside the world clamps to the edge
/// cells.
#[inline]
fn axis_cell(v: f32, per_unit: f32, count: usize) -> usize {
    ((v * per_unit) as isize).clamp(0, count as isize - 1) as usize
}

impl SpatialGrid {
    /// A grid whose searches always run the portable build (SSE2), never
    /// the AVX-512 one, with cells sized for it: for the tests and the
    /// benchmark that compare the two.
    pub fn portable() -> Self {
        Self { portable: true, ..Self::default() }
    }

    /// Rebuilds the grid from the agents in `parts` (the ECS's tables, in
    /// order; usually one).
    ///
    /// A counting sort in two parallel passes, one part of the agents per
    /// worker: each part finds its agents' cells and counts them per cell,
    /// the counts become per-part write cursors, and each part scatters its
    /// own agents. Agents stay in table order within a cell, so the grid
    /// does not depend on the thread count. (At 10k agents each parallel
    /// pass costs more in waking the workers than in work, so there are
    /// only two.)
    pub fn rebuild(&mut self, width: f32, height: f32, radius: f32, k: usize, parts: &[Columns<'_>]) {
        let n: usize = parts.iter().map(|p| p.ids.len()).sum();
        let density = n.max(1) as f32 / (width * height);
        self.first_reach = (REACH_MARGIN * (k as f32 / (std::f32::consts::PI * density)).sqrt()).min(radius);
        self.wide = !self.portable && avx512::available();
        // Cells hold about half a block of candidates, and no fewer than
        // half the first reach wide. A dense world's AVX-512 search takes
        // the reach alone: four agents a cell there (100k agents: cells 6.3
        // wide for a reach of 8.9) made rows of about fifteen candidates,
        // one 16-lane block or two, a branch the processor guessed wrong
        // (measured: search 100k 65 → 62 ns, 1M 67 → 64 with half the
        // reach; 0.4 and 0.6 both slower).
        let wide = self.wide && avx512::fits(k);
        let per_cell = if wide { 2.0 * AGENTS_PER_CELL } else { AGENTS_PER_CELL };
        let cell = if wide && self.first_reach < radius {
            CELL_PER_REACH * self.first_reach
        } else {
            (CELL_PER_REACH * self.first_reach).max((per_cell / density).sqrt())
        }
        .max(radius / 64.0);
        self.cols = ((width / cell) as usize).clamp(1, MAX_CELLS_PER_AXIS);
        self.rows = ((height / cell) as usize).clamp(1, MAX_CELLS_PER_AXIS);
        self.per_x = self.cols as f32 / width;
        self.per_y = self.rows as f32 / height;
        let cells = self.cols * self.rows;

        // Padding, far away, so a block read from any slot stays in bounds.
        self.xs.resize(n + PADDING, 0.0);
        self.ys.resize(n + PADDING, 0.0);
        self.xs[n..].fill(f32::INFINITY);
        self.ys[n..].fill(f32::INFINITY);
        self.fused.resize(n + PADDING, 0.0);
        self.ids.resize(n + PADDING, 0);
        self.origin.resize(n, 0);
        self.cell_of.resize(n, 0);

        // The parts: equal chunks of the agents (so nothing is allocated).
        let workers = rayon::current_num_threads().clamp(1, n.div_ceil(CHUNK).max(1));
        let size = n.div_ceil(workers).max(1);
        let parts_n = n.div_ceil(size);
        self.cursors.clear();
        self.cursors.resize(parts_n * cells, 0);
        let (cols, rows, per_x, per_y) = (self.cols, self.rows, self.per_x, self.per_y);
        self.cursors.par_chunks_mut(cells).zip(self.cell_of.par_chunks_mut(size)).enumerate().for_each(
            |(part, (counts, cell_of))| {
                let from = part * size;
                for (start, columns) in segments(parts, from, from + cell_of.len()) {
                    for (c, p) in cell_of[start - from..].iter_mut().zip(columns.positions) {
                        *c = (axis_cell(p.0.y, per_y, rows) * cols + axis_cell(p.0.x, per_x, cols)) as u32;
                    }
                }
                for &c in cell_of.iter() {
                    counts[c as usize] += 1;
                }
            },
        );
        // Cell c's slots go to part 0's agents, then part 1's, ...
        self.starts.clear();
        self.starts.resize(cells + 1, 0);
        let mut total = 0u32;
        for c in 0..cells {
            self.starts[c] = total;
            for part in 0..parts_n {
                let count = std::mem::replace(&mut self.cursors[part * cells + c], total);
                total += count;
            }
        }
        self.starts[cells] = total;
        let out = GridWriter {
            xs: self.xs.as_mut_ptr(),
            ys: self.ys.as_mut_ptr(),
            ids: self.ids.as_mut_ptr(),
            fused: self.fused.as_mut_ptr(),
            origin: self.origin.as_mut_ptr(),
        };
        self.cursors.par_chunks_mut(cells).zip(self.cell_of.par_chunks(size)).enumerate().for_each(
            |(part, (cursors, cell_of))| {
                let from = part * size;
                for (start, columns) in segments(parts, from, from + cell_of.len()) {
                    let agents = columns.ids.iter().zip(columns.positions).zip(columns.fused);
                    for (k, (&c, ((id, p), fused))) in (start..).zip(cell_of[start - from..].iter().zip(agents)) {
                        let cursor = &mut cursors[c as usize];
                        let at = *cursor as usize;
                        *cursor += 1;
                        // SAFETY: `at` is below n (the cursors of all parts
                        // run over disjoint slot ranges covering 0..n), and
                        // only this part writes it (see the cursors above).
                        unsafe { out.write(at, p.0.x, p.0.y, id.0, fused.0, k as u32) };
                    }
                }
            },
        );
    }

    /// Hands `run` the candidates of the square of cells covering the disc
    /// of radius `reach` around `(x, y)`, one row of cells at a time (each
    /// row is one contiguous run of slots); returns the radius actually
    /// covered (a hair more, so rounding in the cell index never drops a
    /// cell). With `nearest_row_first`, the agent's own row comes first,
    /// then outwards, so a list's cut-off shrinks early; else top to
    /// bottom (see [`KeyList::NEAREST_ROW_FIRST`]).
    #[inline(always)]
    fn scan_square(
        &self,
        x: f32,
        y: f32,
        reach: f32,
        nearest_row_first: bool,
        mut run: impl FnMut(f32, usize, usize),
    ) -> f32 {
        let (reach, (c0, c1), (r0, r1)) = self.square(x, y, reach);
        if !nearest_row_first {
            for r in r0..=r1 {
                let (lo, hi) = self.run(r, c0, c1);
                run(reach, lo, hi);
            }
            return reach;
        }
        let centre = self.row(y);
        let (lo, hi) = self.run(centre, c0, c1);
        run(reach, lo, hi);
        for d in 1..=(centre - r0).max(r1 - centre) {
            if centre >= r0 + d {
                let (lo, hi) = self.run(centre - d, c0, c1);
                run(reach, lo, hi);
            }
            if centre + d <= r1 {
                let (lo, hi) = self.run(centre + d, c0, c1);
                run(reach, lo, hi);
            }
        }
        reach
    }

    /// The slots of row `r`'s cells `c0 ..= c1`.
    #[inline(always)]
    fn run(&self, r: usize, c0: usize, c1: usize) -> (usize, usize) {
        let base = r * self.cols;
        (self.starts[base + c0] as usize, self.starts[base + c1 + 1] as usize)
    }

    /// The square of cells covering the disc of radius `reach` around
    /// `(x, y)`: the radius it covers (a hair more, so rounding in the cell
    /// index never drops a cell), its columns and its rows (inclusive).
    #[inline]
    fn square(&self, x: f32, y: f32, reach: f32) -> (f32, (usize, usize), (usize, usize)) {
        let reach = reach * 1.0001 + 1e-6;
        (reach, (self.col(x - reach), self.col(x + reach)), (self.row(y - reach), self.row(y + reach)))
    }

    #[inline]
    fn col(&self, x: f32) -> usize {
        axis_cell(x, self.per_x, self.cols)
    }

    #[inline]
    fn row(&self, y: f32) -> usize {
        axis_cell(y, self.per_y, self.rows)
    }

    /// Settles who is in the set by id when the `K`-th and `(K+1)`-th keys
    /// are equally near: every candidate in the square at most that far,
    /// sorted by `(distance², id)`, first `K`. Rare (exact float ties).
    fn break_ties(&self, x: f32, y: f32, id: u32, reach: f32, kth: f32, out: &mut Nearest) {
        let (_, (c0, c1), (r0, r1)) = self.square(x, y, reach);
        out.ties.clear();
        for r in r0..=r1 {
            let base = r * self.cols;
            for at in self.starts[base + c0] as usize..self.starts[base + c1 + 1] as usize {
                let (dx, dy) = (self.xs[at] - x, self.ys[at] - y);
                let d2 = dx * dx + dy * dy;
                if d2 <= kth && self.ids[at] != id {
                    out.ties.push((d2, self.ids[at], at));
                }
            }
        }
        out.ties.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        out.len = out.k.min(out.ties.len());
        for j in 0..out.len {
            let (d2, other, at) = out.ties[j];
            (out.dist_sq[j], out.ids[j], out.fused[j]) = (d2, other, self.fused[at]);
        }
    }

    /// The agents as the last rebuild saw them (positions at the start of
    /// the last frame), `(x, y, id)` in the grid's cell order.
    pub fn points(&self) -> impl ExactSizeIterator<Item = (f32, f32, u32)> + '_ {
        let n = self.origin.len(); // the others carry padding
        self.xs[..n].iter().zip(&self.ys[..n]).zip(&self.ids[..n]).map(|((&x, &y), &id)| (x, y, id))
    }

    /// The square search for `K` (`k`) neighbours into `keys` (a fresh
    /// list), grown until it proves the answer; returns the last square's
    /// reach. Always inlined, so that the AVX-512 entry points compile it
    /// (and the list's code) for AVX-512. The list is the caller's, not
    /// returned: a list with buffers was copied out with a `memcpy` call.
    #[inline(always)]
    fn search<S: KeyList>(&self, x: f32, y: f32, id: u32, radius: f32, k: usize, keys: &mut S) -> f32 {
        let r2 = radius * radius;
        let mut reach = if self.first_reach > 0.0 { self.first_reach.min(radius) } else { radius };
        loop {
            if reach >= radius {
                keys.last_round();
            }
            // Only candidates within the square's inscribed disc can be
            // part of a proven answer (see the end test below), so none
            // beyond it is offered: in a dense world that halves the
            // insertions (1M agents: about 58 candidates in the square, 25 in
            // the disc).
            let covered = self.scan_square(
                x,
                y,
                reach,
                S::NEAREST_ROW_FIRST,
                #[inline(always)]
                |covered, lo, hi| keys.scan_run(self, lo, hi, x, y, id, r2.min(covered * covered)),
            );
            keys.settle();
            // Done when everything that could beat the K-th lies inside the
            // square (K found within it), or the square covered `R`. As
            // only candidates within `covered` were offered, K found means
            // the first: the search goes on only when fewer were.
            if keys.full() || reach >= radius {
                break;
            }
            reach = next_reach(covered, keys.found(), k, radius);
            *keys = S::new(k);
        }
        reach
    }

    /// [`Self::search`], its answer into `out`.
    #[inline(always)]
    fn search_into<S: Listed>(&self, x: f32, y: f32, id: u32, radius: f32, out: &mut Nearest) {
        let mut keys = S::new(out.k);
        let reach = self.search(x, y, id, radius, out.k, &mut keys);
        self.finish(x, y, id, reach, keys.keys(), out);
    }

    /// The neighbours in `keys` (from a search that covered `reach`) into
    /// `out`. Read straight from the search's local list: copying it into
    /// `out` first cost a `memcpy` call per search, whose wide loads could
    /// not be forwarded from the list's just-made 16-byte stores (9% of a
    /// frame at 10k agents).
    #[inline(always)]
    fn finish(&self, x: f32, y: f32, id: u32, reach: f32, keys: &[f64], out: &mut Nearest) {
        // Anything outside the square is farther than the K-th, so only
        // the (K+1)-th key can tie with it.
        let kth = key_dist_sq(keys[out.k - 1]);
        if kth == key_dist_sq(keys[out.k]) && kth.is_finite() {
            return self.break_ties(x, y, id, reach, kth, out);
        }
        let mut len = 0;
        let mut equal = false;
        while len < out.k && keys[len] != EMPTY {
            let at = key_slot(keys[len]);
            (out.dist_sq[len], out.ids[len], out.fused[len]) = (key_dist_sq(keys[len]), self.ids[at], self.fused[at]);
            equal |= len > 0 && out.dist_sq[len] == out.dist_sq[len - 1];
            len += 1;
        }
        out.len = len;
        // Equal distances inside the set came out in slot order: put them
        // in id order (rare: exact float ties).
        if equal {
            for j in 1..len {
                let mut i = j;
                while i > 0 && out.dist_sq[i - 1] == out.dist_sq[i] && out.ids[i - 1] > out.ids[i] {
                    out.dist_sq.swap(i - 1, i);
                    out.ids.swap(i - 1, i);
                    out.fused.swap(i - 1, i);
                    i -= 1;
                }
            }
        }
    }

    /// Fills `out` with the `K` nearest agents other than `id` within
    /// `radius` of `(x, y)` (distance ≤ R, compared as `d² ≤ R²` in `f32`),
    /// nearest first, ties by smaller id. `K` is `out`'s capacity.
    pub fn nearest(&self, x: f32, y: f32, id: u32, radius: f32, out: &mut Nearest) {
        #[cfg(target_arch = "x86_64")]
        if self.wide && avx512::fits(out.k) {
            // SAFETY: `wide` is only set where the processor has AVX-512.
            return unsafe { avx512::nearest(self, x, y, id, radius, out) };
        }
        // One instance of the search per list width, the list a local.
        match out.lanes {
            2 => self.search_into::<Keys<2>>(x, y, id, radius, out),
            4 => self.search_into::<Keys<4>>(x, y, id, radius, out),
            8 => self.search_into::<Keys<8>>(x, y, id, radius, out),
            18 => self.search_into::<Keys<18>>(x, y, id, radius, out),
            34 => self.search_into::<Keys<34>>(x, y, id, radius, out),
            _ => self.search_into::<Keys<KEY_SLOTS>>(x, y, id, radius, out),
        }
    }

    /// What the spatial stage stores: [`Self::nearest`]'s answer as
    /// [`Nearest::summary`] gives it, bit for bit, but without listing the
    /// neighbours where the build can help it (the AVX-512 one sums their
    /// `fused` straight from its registers). `scratch` (of capacity `K`)
    /// holds the list when it must be listed.
    pub fn neighbourhood(
        &self,
        x: f32,
        y: f32,
        id: u32,
        radius: f32,
        previous_defined: bool,
        scratch: &mut Nearest,
    ) -> Neighbourhood {
        #[cfg(target_arch = "x86_64")]
        if self.wide && avx512::fits(scratch.k) {
            // SAFETY: `wide` is only set where the processor has AVX-512.
            return unsafe { avx512::neighbourhood(self, x, y, id, radius, previous_defined, scratch) };
        }
        self.nearest(x, y, id, radius, scratch);
        scratch.summary(previous_defined)
    }

    /// [`Self::neighbourhood`] of the agent in each grid slot of `slots`,
    /// handed to `out` with its slot, in slot order: what the spatial
    /// stage asks of a chunk of the grid. The AVX-512 build runs the whole
    /// chunk in one call, one search ahead of its summaries (see
    /// [`avx512::neighbourhoods`]).
    pub fn neighbourhoods(
        &self,
        slots: std::ops::Range<usize>,
        radius: f32,
        previous_defined: bool,
        scratch: &mut Nearest,
        mut out: impl FnMut(usize, Neighbourhood),
    ) {
        debug_assert!(slots.end <= self.origin.len());
        #[cfg(target_arch = "x86_64")]
        if self.wide && avx512::fits(scratch.k) {
            // SAFETY: `wide` is only set where the processor has AVX-512.
            return unsafe { avx512::neighbourhoods(self, slots, radius, previous_defined, scratch, out) };
        }
        for at in slots {
            out(at, self.neighbourhood(self.xs[at], self.ys[at], self.ids[at], radius, previous_defined, scratch));
        }
    }
}

/// Rebuilds the grid and stores every agent's [`Neighbourhood`].
///
/// Neighbourhoods are computed in cell order, not in the agents' (random)
/// table order: consecutive searches then read the same few cells, which
/// stay in cache. Each result goes straight to its agent (through the
/// grid's `origin`), rather than through a buffer and a second parallel
/// pass, which at 10k agents cost more in waking the workers than in work.
pub fn map_neighbourhoods(
    mut agents: Query<(&AgentId, &Position, &Fused, &mut Neighbourhood), With<Agent>>,
    mut grid: ResMut<SpatialGrid>,
    config: Res<ModelConfig>,
    clock: Res<SimClock>,
    pool: Res<ComputePool>,
) {
    let mut tables: Vec<_> = agents.contiguous_iter_mut().expect(TABLES).collect();
    let parts: Vec<Columns> =
        tables.iter().map(|&(ids, positions, fused, _)| Columns { ids, positions, fused }).collect();
    let n: usize = parts.iter().map(|p| p.ids.len()).sum();
    pool.install(|| grid.rebuild(config.width, config.height, config.radius, config.neighbours, &parts));

    let (radius, k, previous_defined) = (config.radius, config.neighbours, clock.frame > 0);
    let grid = &*grid;
    let out = NeighbourhoodWriter {
        tables: tables
            .iter_mut()
            .map(|(.., neighbourhoods)| {
                let neighbourhoods: &mut [Neighbourhood] = neighbourhoods;
                (neighbourhoods.as_mut_ptr(), neighbourhoods.len())
            })
            .collect(),
    };
    pool.install(|| {
        (0..n.div_ceil(CHUNK)).into_par_iter().task_per_chunk().for_each(|chunk| {
            let mut scratch = Nearest::new(k);
            let slots = chunk * CHUNK..((chunk + 1) * CHUNK).min(n);
            grid.neighbourhoods(slots, radius, previous_defined, &mut scratch, |at, summary| {
                // SAFETY: `origin` is a permutation of 0..n (a counting
                // sort's), so each agent is written once, by the one
                // worker whose chunk holds its slot; the columns outlive
                // this pass (`tables` holds them).
                unsafe { out.write(grid.origin[at] as usize, summary) };
            });
        })
    });
    drop(tables);
}

/// Raw access to the agents' [`Neighbourhood`] columns (one per ECS table,
/// in order) for the parallel search, which writes each agent once.
struct NeighbourhoodWriter {
    tables: Vec<(*mut Neighbourhood, usize)>,
}
// SAFETY: the workers write disjoint agents (see `map_neighbourhoods`).
unsafe impl Send for NeighbourhoodWriter {}
unsafe impl Sync for NeighbourhoodWriter {}

impl NeighbourhoodWriter {
    /// Stores agent `k`'s neighbourhood (`k` numbered across the tables).
    ///
    /// # Safety
    /// `k` is below the tables' total length, and no other thread touches
    /// agent `k` meanwhile.
    #[inline]
    unsafe fn write(&self, mut k: usize, value: Neighbourhood) {
        for &(column, len) in &self.tables {
            if k < len {
                // SAFETY: `k < len`, the column's length; exclusive by the
                // caller's promise.
                unsafe { column.add(k).write(value) };
                return;
            }
            k -= len;
        }
        unreachable!("agent {k} beyond the tables");
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
        *state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (*state >> 40) as f32 / (1u64 << 24) as f32
    }

    /// A grid of `(x, y, id, fused)` agents, handed over as two tables
    /// (as the ECS may), so the seam between parts is exercised too.
    fn grid_of(points: &[(f32, f32, u32, f32)], width: f32, height: f32, radius: f32, k: usize) -> SpatialGrid {
        build(SpatialGrid::default(), points, width, height, radius, k)
    }

    /// `grid` rebuilt from `points` (see [`grid_of`]).
    fn build(
        mut grid: SpatialGrid,
        points: &[(f32, f32, u32, f32)],
        width: f32,
        height: f32,
        radius: f32,
        k: usize,
    ) -> SpatialGrid {
        let ids: Vec<AgentId> = points.iter().map(|p| AgentId(p.2)).collect();
        let positions: Vec<Position> = points.iter().map(|p| Position(Vec2::new(p.0, p.1))).collect();
        let fused: Vec<Fused> = points.iter().map(|p| Fused(p.3)).collect();
        let half = points.len() / 2;
        let parts = [
            Columns { ids: &ids[..half], positions: &positions[..half], fused: &fused[..half] },
            Columns { ids: &ids[half..], positions: &positions[half..], fused: &fused[half..] },
        ];
        grid.rebuild(width, height, radius, k, &parts);
        grid
    }

    /// Both builds of the search (where the processor has AVX-512; else the
    /// portable one twice) against brute force.
    /// Each with the agents' `fused` from [`cancelling`] and from
    /// [`ranged`].
    fn check_world(points: &[(f32, f32, u32)], width: f32, height: f32, radius: f32, k: usize) {
        for fused_of in [cancelling, ranged] {
            let with_fused: Vec<_> = points.iter().map(|&(x, y, id)| (x, y, id, fused_of(id))).collect();
            for grid in [SpatialGrid::default(), SpatialGrid::portable()] {
                let grid = build(grid, &with_fused, width, height, radius, k);
                check_grid(&grid, points, radius, k, fused_of);
            }
        }
    }

    /// A test agent's `fused`: ±1e18 or a small value, pseudo-randomly, so
    /// that sums cancel and a sum in another order than nearest first
    /// comes out different even after rounding to `f32` (`(1e18 + 0.5) -
    /// 1e18` is 0, `(1e18 - 1e18) + 0.5` is 0.5).
    fn cancelling(id: u32) -> f32 {
        let h = id.wrapping_mul(2_654_435_761);
        match h % 3 {
            0 => 1e18,
            1 => -1e18,
            _ => (h >> 8) as f32 / (1u32 << 24) as f32,
        }
    }

    /// A test agent's `fused` as the AVX-512 summary's shortcut sums them
    /// (any order, see `Ranked::unfinished` in `avx512.rs`): ±0, or of either sign with any
    /// exponent from 2^-12 to 2^11; one agent in 64 is outside that range
    /// (2^-13 or 2^12), and takes the nearest-first sum.
    fn ranged(id: u32) -> f32 {
        let h = id.wrapping_mul(2_654_435_761);
        let sign = if h & 1 == 0 { 1.0 } else { -1.0 };
        let mantissa = 1.0 + ((h >> 9) & 0xFFFF) as f32 / 65536.0;
        match (h >> 1) % 64 {
            0 => sign * 0.0,
            1 if h & 2 == 0 => sign * mantissa * 2f32.powi(-13),
            1 => sign * mantissa * 2f32.powi(12),
            e => sign * mantissa * 2f32.powi((e % 24) as i32 - 12),
        }
    }

    fn check_grid(grid: &SpatialGrid, points: &[(f32, f32, u32)], radius: f32, k: usize, fused_of: fn(u32) -> f32) {
        let (mut nearest, mut scratch) = (Nearest::new(k), Nearest::new(k));
        // The stage's chunked form, over the grid in uneven pieces (so a
        // piece starts and ends anywhere), gives each slot's summary once.
        let n = grid.origin.len();
        for previous_defined in [true, false] {
            let mut chunked = vec![None; n];
            for slots in [0..n / 3, n / 3..n / 3 + 1, n / 3 + 1..n] {
                grid.neighbourhoods(slots, radius, previous_defined, &mut scratch, |at, summary| {
                    assert!(chunked[at].replace(summary).is_none(), "slot {at} answered twice");
                });
            }
            for (at, got) in chunked.into_iter().enumerate() {
                let got = got.unwrap_or_else(|| panic!("slot {at} not answered"));
                let (x, y, id) = (grid.xs[at], grid.ys[at], grid.ids[at]);
                let want = grid.neighbourhood(x, y, id, radius, previous_defined, &mut scratch);
                assert_eq!(
                    (got.count, got.nearest.to_bits(), got.nbr_mean.to_bits()),
                    (want.count, want.nearest.to_bits(), want.nbr_mean.to_bits()),
                    "slot {at}, previous defined: {previous_defined}"
                );
            }
        }
        for (i, &(x, y, id)) in points.iter().enumerate() {
            grid.nearest(x, y, id, radius, &mut nearest);
            // The spatial stage's shortcut gives the listed search's summary.
            for previous_defined in [true, false] {
                let want = nearest.summary(previous_defined);
                let got = grid.neighbourhood(x, y, id, radius, previous_defined, &mut scratch);
                assert_eq!(
                    (got.count, got.nearest.to_bits(), got.nbr_mean.to_bits()),
                    (want.count, want.nearest.to_bits(), want.nbr_mean.to_bits()),
                    "agent {id} at ({x}, {y}), previous defined: {previous_defined}"
                );
            }
            let want = brute_force(points, i, radius, k);
            let got: Vec<(f32, u32)> = nearest.distances_sq().zip(nearest.ids()).collect();
            assert_eq!(got, want, "agent {id} at ({x}, {y})");
            // The fused values travel with their ids, and are summed
            // nearest first (with `cancelling`, the order shows).
            let mean = nearest.summary(true).mean();
            if want.is_empty() {
                assert_eq!(mean, None);
            } else {
                let sum = want.iter().map(|&(_, j)| fused_of(j) as f64).sum::<f64>();
                assert_eq!(mean, Some((sum / want.len() as f64) as f32), "agent {id}'s mean");
            }
        }
    }

    /// The parallel counting sort leaves the grid exactly as on one
    /// thread, whatever the number of workers (and parts).
    #[test]
    fn the_grid_is_the_same_on_any_thread_count() {
        let mut s = 11;
        let points: Vec<(f32, f32, u32, f32)> =
            (0..5000).map(|i| (lcg(&mut s) * 300.0, lcg(&mut s) * 200.0, i * 3 + 1, lcg(&mut s))).collect();
        let grids: Vec<SpatialGrid> = [1, 2, 3, 7]
            .into_iter()
            .map(|threads| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| grid_of(&points, 300.0, 200.0, 10.0, 16))
            })
            .collect();
        for grid in &grids[1..] {
            assert_eq!(grid.starts, grids[0].starts);
            assert_eq!(grid.origin, grids[0].origin);
            assert_eq!(grid.ids, grids[0].ids);
            assert_eq!((&grid.xs, &grid.ys, &grid.fused), (&grids[0].xs, &grids[0].ys, &grids[0].fused));
        }
        // And it is a counting sort: cells in order, table order within.
        let g = &grids[0];
        for (at, &k) in g.origin.iter().enumerate() {
            assert_eq!(g.ids[at], points[k as usize].2);
        }
        let mut seen = g.origin.clone();
        seen.sort_unstable();
        assert!(seen.iter().copied().eq(0..points.len() as u32), "origin is a permutation");
        for c in 0..g.cols * g.rows {
            let ids = &g.ids[g.starts[c] as usize..g.starts[c + 1] as usize];
            assert!(ids.windows(2).all(|w| w[0] < w[1]), "cell {c} out of table order");
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
            // Dense: small cells, the ring search stops early.
            (6000, 60.0, 60.0, 10.0, 16),
            (5000, 50.0, 50.0, 10.0, 20),
            (4000, 40.0, 80.0, 10.0, 64),
            (3000, 30.0, 30.0, 2.0, 5),
        ] {
            let points: Vec<(f32, f32, u32)> =
                (0..n).map(|i| (lcg(&mut s) * w, lcg(&mut s) * h, (i * 7 + 3) as u32)).collect();
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
            points.push((75.0 + 5.0 * a.cos(), 25.0 + 5.0 * a.sin(), 100 + (j * 13) % 24));
        }
        points.push((75.0, 25.0, 99));
        // A tight cluster far from everyone else: cells are sized for the
        // average density, so the cluster's cells are crowded.
        for j in 0..400u32 {
            points.push((90.0 + (j % 20) as f32 * 0.25, 60.0 + (j / 20) as f32 * 0.25, 1000 + j));
        }
        check_world(&points, 100.0, 100.0, r, 16);
        check_world(&points, 100.0, 100.0, r, 3);
        // K = 1: the duplicates tie at distance 0 for the only place.
        check_world(&points, 100.0, 100.0, r, 1);
    }

    /// The AVX-512 stage search answers from its ranks alone wherever
    /// nothing calls for the listed search (a tie across the `K`-th place,
    /// a value outside the exact range, a crowd): in a dense and a sparse
    /// random world, every agent. A wrong rank (say, counting the agent's
    /// own distance) would only hand every search over, correct but slow.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn ranked_summary_answers_without_the_listed_search() {
        if !avx512::available() {
            return;
        }
        let mut s = 5;
        for (n, side, k) in [(6000, 60.0, 16), (4000, 200.0, 16), (3000, 40.0, 5)] {
            let points: Vec<(f32, f32, u32, f32)> =
                (0..n).map(|i| (lcg(&mut s) * side, lcg(&mut s) * side, i, 0.5 + lcg(&mut s) / 2.0)).collect();
            let grid = grid_of(&points, side, side, 10.0, k);
            let mut nearest = Nearest::new(k);
            for &(x, y, id, _) in &points {
                grid.nearest(x, y, id, 10.0, &mut nearest);
                let want = nearest.summary(true);
                // SAFETY: the processor has AVX-512F (checked above); K < 24.
                let got = unsafe { avx512::ranked(&grid, x, y, id, 10.0, k, true) };
                let got = got.unwrap_or_else(|| panic!("agent {id} of {n} at ({x}, {y}) handed over: {want:?}"));
                assert_eq!(
                    (got.count, got.nearest.to_bits(), got.nbr_mean.to_bits()),
                    (want.count, want.nearest.to_bits(), want.nbr_mean.to_bits())
                );
            }
        }
    }

    #[test]
    fn neighbour_summary_is_undefined_without_history_or_neighbours() {
        // Agent 0 alone in one corner; agents 1 and 2 at distances 2 and 1
        // of agent 3, with fused values 0.5 and 1.5.
        let points = [(1.0, 1.0, 0, 9.0), (50.0, 52.0, 1, 0.5), (51.0, 50.0, 2, 1.5), (50.0, 50.0, 3, 7.0)];
        let grid = grid_of(&points, 100.0, 100.0, 5.0, 4);
        let mut nearest = Nearest::new(4);
        grid.nearest(1.0, 1.0, 0, 5.0, &mut nearest);
        let empty = nearest.summary(true);
        assert_eq!((empty.count, empty.nearest, empty.mean()), (0, f32::INFINITY, None));
        grid.nearest(50.0, 50.0, 3, 5.0, &mut nearest);
        let s = nearest.summary(true);
        assert_eq!((s.count, s.nearest, s.mean()), (2, 1.0, Some(1.0)));
        assert_eq!(nearest.ids().collect::<Vec<_>>(), [2, 1]);
        assert_eq!(nearest.summary(false).mean(), None);
    }

    #[test]
    fn sorted_insertion_keeps_the_smallest_keys() {
        // Against a sort of everything offered, over random keys with
        // many repeats, for each width the search uses.
        let mut s = 11;
        for lanes in [2usize, 4, 6, 18, 66] {
            let mut keys = vec![EMPTY; lanes];
            let mut all = Vec::new();
            for _ in 0..200 {
                let x = key((lcg(&mut s) * 8.0).floor(), (lcg(&mut s) * 50.0) as usize);
                insert_sorted(&mut keys, x);
                all.push(x);
                let mut want = all.clone();
                want.sort_by(f64::total_cmp);
                want.resize(want.len().max(lanes), EMPTY);
                assert_eq!(keys, want[..lanes]);
            }
        }
    }
}
