//! The neighbour search compiled for AVX-512, where the processor has it
//! (checked at run time: the build targets baseline x86-64).
//!
//! The search itself is the portable one ([`SpatialGrid::search`]), always
//! inlined into [`nearest`] and [`neighbourhood`], which are compiled for
//! AVX-512; only what a search gathers differs.
//!
//! [`nearest`], which lists the neighbours, keeps a sorted list:
//! - three 8-lane registers (24 keys, for `K` up to 23), so an insertion is
//!   three shift-max-min steps where the portable build's 18 keys take nine
//!   SSE pairs;
//! - a block of candidates is 16 wide, one register of distances, and the
//!   compare gives the hit mask directly;
//! - the hits are compressed into a buffer, their keys built in registers,
//!   and inserted in one loop at the end of the square (a loop over each
//!   block's hits mispredicted its exit once per block), alternately into
//!   two lists that are then merged: each insertion waits on the one
//!   before in its list, so two lists run two chains side by side.
//!
//! The spatial stage's [`neighbourhood`] needs only a summary (count,
//! nearest, mean of `fused`), and sorts nothing ([`x86::Ranked`]): the
//! hits' distances and `fused` values are compressed into two buffers, and
//! each hit's rank (how many hits are nearer) is counted with all sixteen
//! lanes of a register compared against one hit at a time. The `K` whose
//! rank is below `K` are the answer; their `fused` sum is exact in any
//! order where every value lies in a range (see [`x86::Ranked`]), so it is
//! the nearest-first sum's bits. A tie across the `K`-th place, a value
//! outside that range, or a crowd too big for the buffer goes to the
//! listed search. Counting ranks costs a compare and a masked add per
//! hit and register, with no chain between them; the sorted list's
//! insertions cost three times that in 512-bit operations, and their
//! merge waited on a chain of permutes.
//!
//! Same answer, bit for bit, as the portable build; the tests run both
//! against brute force, and the summary against the listed answer's.

#[cfg(target_arch = "x86_64")]
use super::{KeyList, Nearest, Neighbourhood, SpatialGrid};

/// Keys the list holds: three registers of eight.
const SLOTS: usize = 24;
/// Held candidates from which the list's settle builds two lists and
/// merges them (measured at 100k agents: 8 and 16 alike, 24 worse).
#[cfg(target_arch = "x86_64")]
const TWO_LISTS: usize = 8;
/// Candidates held back before they are inserted (more are inserted at
/// once: a crowded square).
#[cfg(target_arch = "x86_64")]
const PENDING: usize = 64;
/// Hits the stage search ranks: four registers of sixteen. A square with
/// more within its disc (a crowd several times the mean density) goes to
/// the listed search.
#[cfg(target_arch = "x86_64")]
const RANKED: usize = 64;

/// Whether the processor has AVX-512F, and `--isa` allows it.
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        crate::sim::parallel::Isa::limit() >= crate::sim::parallel::Isa::Avx512
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the list holds the `K + 1` keys a search for `k` needs.
pub(super) fn fits(k: usize) -> bool {
    k < SLOTS
}

/// [`SpatialGrid::nearest`], compiled for AVX-512.
///
/// # Safety
/// The processor has AVX-512F ([`available`] said so), and [`fits`]
/// holds for `out`'s `K`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,popcnt")]
pub(super) unsafe fn nearest(grid: &SpatialGrid, x: f32, y: f32, id: u32, radius: f32, out: &mut Nearest) {
    grid.search_into::<x86::Keys>(x, y, id, radius, out)
}

/// [`SpatialGrid::neighbourhood`], compiled for AVX-512.
///
/// # Safety
/// As for [`nearest`], with [`fits`] holding for `scratch`'s `K`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,popcnt")]
pub(super) unsafe fn neighbourhood(
    grid: &SpatialGrid,
    x: f32,
    y: f32,
    id: u32,
    radius: f32,
    previous_defined: bool,
    scratch: &mut Nearest,
) -> Neighbourhood {
    // SAFETY: as for this function.
    unsafe {
        ranked(grid, x, y, id, radius, scratch.capacity(), previous_defined)
            .unwrap_or_else(|| listed(grid, x, y, id, radius, previous_defined, scratch))
    }
}

/// [`neighbourhood`]'s ranked summary alone: `None` where it hands over
/// to the listed search. (The tests call it too, to check that it does
/// not hand over without a reason, which would only show as lost speed.)
///
/// # Safety
/// As for [`neighbourhood`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,popcnt")]
#[inline]
pub(super) unsafe fn ranked(
    grid: &SpatialGrid,
    x: f32,
    y: f32,
    id: u32,
    radius: f32,
    k: usize,
    previous_defined: bool,
) -> Option<Neighbourhood> {
    let mut hits = x86::Ranked::new(k);
    grid.search(x, y, id, radius, k, &mut hits);
    hits.summary(k, previous_defined)
}

/// [`SpatialGrid::neighbourhoods`], compiled for AVX-512: each slot's
/// [`neighbourhood`], one search ahead of its summary. The summary's chain
/// (ranks, sums) waits on its own search; issued after the next search's
/// scan, it overlaps with that instead of holding up the processor's
/// window. The square roots and divisions that finish the summaries run
/// sixteen at a time ([`x86::Finishing`]).
///
/// # Safety
/// As for [`neighbourhood`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,popcnt")]
pub(super) unsafe fn neighbourhoods(
    grid: &SpatialGrid,
    slots: std::ops::Range<usize>,
    radius: f32,
    previous_defined: bool,
    scratch: &mut Nearest,
    mut out: impl FnMut(usize, Neighbourhood),
) {
    let k = scratch.capacity();
    let mut finishing = x86::Finishing::new(previous_defined);
    let mut answer = |at: usize, hits: &x86::Ranked, scratch: &mut Nearest| {
        let listed = || {
            // SAFETY: as for this function.
            unsafe { listed(grid, grid.xs[at], grid.ys[at], grid.ids[at], radius, previous_defined, scratch) }
        };
        finishing.push(at, hits, k, listed, &mut out);
    };
    let mut hits = [x86::Ranked::new(k), x86::Ranked::new(k)];
    let mut previous = None;
    for at in slots {
        let current = &mut hits[at & 1];
        *current = x86::Ranked::new(k);
        grid.search(grid.xs[at], grid.ys[at], grid.ids[at], radius, k, current);
        if let Some(before) = previous {
            answer(before, &hits[before & 1], scratch);
        }
        previous = Some(at);
    }
    if let Some(before) = previous {
        answer(before, &hits[before & 1], scratch);
    }
    finishing.flush(&mut out);
}

/// [`neighbourhood`] through the listed search, which settles equal
/// distances by id and sums in nearest-first order. Rare (exact float
/// ties, values far from 1, crowds), so out of line.
///
/// # Safety
/// As for [`neighbourhood`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,popcnt")]
#[cold]
#[inline(never)]
unsafe fn listed(
    grid: &SpatialGrid,
    x: f32,
    y: f32,
    id: u32,
    radius: f32,
    previous_defined: bool,
    scratch: &mut Nearest,
) -> Neighbourhood {
    // SAFETY: as for this function.
    unsafe { nearest(grid, x, y, id, radius, scratch) };
    scratch.summary(previous_defined)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    use super::super::{KeyList, Listed};
    use super::{Neighbourhood, PENDING, RANKED, SLOTS, SpatialGrid, TWO_LISTS};
    use crate::sim::spatial::{EMPTY, PADDING};

    /// The run of candidates in slots `lo .. hi` as blocks of 16: each
    /// block's first slot, the candidates' squared distances from `(x,
    /// y)`, and the mask of those within `r2` that are not agent `id`. The
    /// arrays are padded by 16, so the loads stay inside them; lanes past
    /// `hi` are masked off.
    struct Blocks<'a> {
        grid: &'a SpatialGrid,
        start: usize,
        hi: usize,
        x: f32,
        y: f32,
        id: u32,
        r2: f32,
    }

    impl Iterator for Blocks<'_> {
        type Item = (usize, __m512, __mmask16);

        #[inline(always)]
        fn next(&mut self) -> Option<Self::Item> {
            let (grid, start, hi) = (self.grid, self.start, self.hi);
            if start >= hi {
                return None;
            }
            debug_assert!(hi + PADDING <= grid.xs.len() && grid.xs.len() == grid.ids.len());
            self.start += 16;
            let valid = ((1u32 << (hi - start).min(16)) - 1) as __mmask16;
            // SAFETY: only ever inlined into code compiled for AVX-512F;
            // the loads read slots `start .. start + 16`, inside the arrays
            // as `start < hi <= n` and they hold `n + PADDING` slots.
            unsafe {
                let dx = _mm512_sub_ps(_mm512_loadu_ps(grid.xs.as_ptr().add(start)), _mm512_set1_ps(self.x));
                let dy = _mm512_sub_ps(_mm512_loadu_ps(grid.ys.as_ptr().add(start)), _mm512_set1_ps(self.y));
                let d = _mm512_add_ps(_mm512_mul_ps(dx, dx), _mm512_mul_ps(dy, dy));
                let near = _mm512_mask_cmp_ps_mask::<_CMP_LE_OQ>(valid, d, _mm512_set1_ps(self.r2));
                let ids = _mm512_loadu_si512(grid.ids.as_ptr().add(start).cast());
                Some((start, d, _mm512_mask_cmpneq_epi32_mask(near, ids, _mm512_set1_epi32(self.id as i32))))
            }
        }
    }

    /// [`Blocks`] of slots `lo .. hi`.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn blocks(grid: &SpatialGrid, lo: usize, hi: usize, x: f32, y: f32, id: u32, r2: f32) -> Blocks<'_> {
        Blocks { grid, start: lo, hi, x, y, id, r2 }
    }

    /// The sorted list of [`super::nearest`]: lanes 0–7, 8–15 and 16–23,
    /// keys `distance² bits << 32 | slot`.
    ///
    /// Every method is always inlined into [`super::nearest`], whose
    /// AVX-512 the intrinsics need; it is the only caller, so the `unsafe`
    /// blocks below hold.
    pub(in crate::sim::spatial) struct Keys {
        regs: [__m512d; 3],
        k: usize,
        /// Candidates offered but not yet in the list: a scan compresses
        /// each block's hits here with no branch per hit, and
        /// [`KeyList::settle`] inserts them in one loop (one mispredicted
        /// exit per search, not one per block). Only the first `held` are
        /// ever written before being read: left uninitialised, as zeroing
        /// its 640 bytes cost every search ten stores.
        pending: [MaybeUninit<u64>; PENDING + 16],
        held: usize,
        /// The keys in memory, for [`Listed::keys`] (which writes them all
        /// first).
        flat: [MaybeUninit<f64>; SLOTS],
    }

    impl Keys {
        /// The key in lane `at` (0 to 23).
        #[inline(always)]
        fn lane(&self, at: usize) -> f64 {
            let reg = match at / 8 {
                0 => self.regs[0],
                1 => self.regs[1],
                _ => self.regs[2],
            };
            // SAFETY: only ever inlined into code compiled for AVX-512F.
            unsafe { _mm512_cvtsd_f64(_mm512_permutexvar_pd(_mm512_set1_epi64((at % 8) as i64), reg)) }
        }
    }

    /// Inserts `x` into the sorted list `regs`, dropping the last key: lane
    /// `j` becomes `max(a[j-1], min(a[j], x))`, as in the portable build,
    /// with `a[j-1]` brought in by one lane shift across the registers. The
    /// min and max are the 64-bit integer ones: keys order as signed
    /// integers just as they do as `f64` (non-negative, and the `-1.0`
    /// shifted in below is negative either way), and on AMD's Zen they take
    /// one cycle where the float ones take two; with the shift and the min
    /// side by side, an insertion's chain is about half what it was
    /// (measured: search 100k 104 → 100 ns, 1M 119 → 111).
    #[inline(always)]
    fn insert(regs: [__m512d; 3], x: f64) -> [__m512d; 3] {
        // SAFETY: only ever inlined into code compiled for AVX-512F.
        unsafe {
            let xv = _mm512_set1_pd(x);
            let [a0, a1, a2] = regs;
            let before = _mm512_set1_pd(-1.0);
            [insert_step(a0, before, xv), insert_step(a1, a0, xv), insert_step(a2, a1, xv)]
        }
    }

    /// One register of [`insert`]: `cur` with `prev`'s last lane shifted in.
    #[inline(always)]
    fn insert_step(cur: __m512d, prev: __m512d, x: __m512d) -> __m512d {
        // SAFETY: only ever inlined into code compiled for AVX-512F.
        unsafe {
            let (cur_i, x_i) = (_mm512_castpd_si512(cur), _mm512_castpd_si512(x));
            let shifted = _mm512_alignr_epi64::<7>(cur_i, _mm512_castpd_si512(prev));
            _mm512_castsi512_pd(_mm512_max_epi64(shifted, _mm512_min_epi64(cur_i, x_i)))
        }
    }

    /// The 24 smallest keys of two sorted 24-key lists, sorted: a bitonic
    /// merge. Each list is taken as 32 keys (8 [`EMPTY`] after it); the
    /// smaller of `a[i]` and `b[31 - i]` is the 32 smallest of both as a
    /// bitonic sequence, which half-cleaners at distances 16, 8, 4, 2 and 1
    /// sort (the last 8, all beyond the first 24, are dropped after the
    /// second).
    #[inline(always)]
    fn merge(a: [__m512d; 3], b: [__m512d; 3]) -> [__m512d; 3] {
        // SAFETY: only ever inlined into code compiled for AVX-512F.
        unsafe {
            let reverse = _mm512_setr_epi64(7, 6, 5, 4, 3, 2, 1, 0);
            let (b0, b1, b2) = (
                _mm512_permutexvar_pd(reverse, b[0]),
                _mm512_permutexvar_pd(reverse, b[1]),
                _mm512_permutexvar_pd(reverse, b[2]),
            );
            // a3 and b3 are all EMPTY, so c0 = a0 and c3 = reversed b0.
            let (c0, c1, c2, c3) = (a[0], _mm512_min_pd(a[1], b2), _mm512_min_pd(a[2], b1), b0);
            let (l0, h2, l1, h3) =
                (_mm512_min_pd(c0, c2), _mm512_max_pd(c0, c2), _mm512_min_pd(c1, c3), _mm512_max_pd(c1, c3));
            let (r0, r1, r2) = (_mm512_min_pd(l0, l1), _mm512_max_pd(l0, l1), _mm512_min_pd(h2, h3));
            [sort_bitonic(r0), sort_bitonic(r1), sort_bitonic(r2)]
        }
    }

    /// Sorts a bitonic register: half-cleaners at distances 4, 2 and 1.
    /// (A function, not a closure: closures are not always inlined, and
    /// out of line the intrinsics would be calls.)
    #[inline(always)]
    fn sort_bitonic(x: __m512d) -> __m512d {
        // SAFETY: only ever inlined into code compiled for AVX-512F.
        unsafe {
            let x = half_clean(x, _mm512_shuffle_f64x2::<0x4E>(x, x), 0xF0);
            let x = half_clean(x, _mm512_permutex_pd::<0x4E>(x), 0xCC);
            half_clean(x, _mm512_permute_pd::<0x55>(x), 0xAA)
        }
    }

    /// Each lane against its partner's value: the smaller, or the larger in
    /// the lanes set in `upper`.
    #[inline(always)]
    fn half_clean(x: __m512d, partner: __m512d, upper: __mmask8) -> __m512d {
        // SAFETY: only ever inlined into code compiled for AVX-512F.
        unsafe { _mm512_mask_blend_pd(upper, _mm512_min_pd(x, partner), _mm512_max_pd(x, partner)) }
    }

    impl KeyList for Keys {
        /// No cut-off from the list (see [`Self::scan_run`]): rows in order.
        const NEAREST_ROW_FIRST: bool = false;

        #[inline(always)]
        fn new(k: usize) -> Self {
            debug_assert!(k < SLOTS);
            // SAFETY: only ever inlined into code compiled for AVX-512F.
            let empty = unsafe { _mm512_set1_pd(EMPTY) };
            Self {
                regs: [empty; 3],
                k,
                pending: [MaybeUninit::uninit(); PENDING + 16],
                held: 0,
                flat: [MaybeUninit::uninit(); SLOTS],
            }
        }

        /// Blocks of 16 ([`Blocks`]). Unlike the portable build, no cut-off
        /// from the list itself: it would make every block wait on the last
        /// insertion (measured: 7% slower at 100k agents); the search's own
        /// cut-off, the square's inscribed disc, does that job.
        #[inline(always)]
        fn scan_run(&mut self, grid: &SpatialGrid, lo: usize, hi: usize, x: f32, y: f32, id: u32, r2: f32) {
            for (start, d, hits) in blocks(grid, lo, hi, x, y, id, r2) {
                // SAFETY: compiled for AVX-512F (see the type); the two
                // stores write 8 keys each from `held <= PENDING` on, at
                // most up to `PENDING + 16`, the buffer's length.
                unsafe {
                    // Keys, `distance² bits << 32 | slot`, eight per register.
                    let bits = _mm512_castps_si512(d);
                    let keys = |half: __m256i, low: __m512i| {
                        _mm512_or_si512(_mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(half)), low)
                    };
                    let slots =
                        _mm512_add_epi64(_mm512_set1_epi64(start as i64), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
                    let low = keys(_mm512_castsi512_si256(bits), slots);
                    let high =
                        keys(_mm512_extracti64x4_epi64::<1>(bits), _mm512_add_epi64(slots, _mm512_set1_epi64(8)));
                    for (mask, keys) in [(hits as u8, low), ((hits >> 8) as u8, high)] {
                        let at = self.pending.as_mut_ptr().add(self.held);
                        _mm512_storeu_si512(at.cast(), _mm512_maskz_compress_epi64(mask, keys));
                        self.held += mask.count_ones() as usize;
                    }
                }
                if self.held > PENDING {
                    self.settle();
                }
            }
        }

        #[inline(always)]
        fn settle(&mut self) {
            // SAFETY: the scans wrote the first `held` (see `scan_run`).
            let held: &[u64] = unsafe { std::slice::from_raw_parts(self.pending.as_ptr().cast(), self.held) };
            if held.len() < TWO_LISTS {
                let mut regs = self.regs;
                for &key in held {
                    regs = insert(regs, f64::from_bits(key));
                }
                self.regs = regs;
            } else {
                // Two lists, alternate keys: two independent insertion
                // chains the processor overlaps, then one merge.
                // SAFETY: only ever inlined into code compiled for AVX-512F.
                let mut other = [unsafe { _mm512_set1_pd(EMPTY) }; 3];
                let mut regs = self.regs;
                for pair in held.chunks(2) {
                    regs = insert(regs, f64::from_bits(pair[0]));
                    if let Some(&key) = pair.get(1) {
                        other = insert(other, f64::from_bits(key));
                    }
                }
                self.regs = merge(regs, other);
            }
            self.held = 0;
        }

        #[inline(always)]
        fn full(&self) -> bool {
            self.lane(self.k - 1) != EMPTY
        }

        fn found(&mut self) -> usize {
            self.keys().iter().take_while(|&&key| key != EMPTY).count()
        }
    }

    impl Listed for Keys {
        #[inline(always)]
        fn keys(&mut self) -> &[f64] {
            // SAFETY: compiled for AVX-512F (see the type); three stores of
            // eight lanes fill the 24-slot array, which is then initialised.
            unsafe {
                for (at, reg) in self.regs.iter().enumerate() {
                    _mm512_storeu_pd(self.flat.as_mut_ptr().add(8 * at).cast(), *reg);
                }
                std::slice::from_raw_parts(self.flat.as_ptr().cast(), SLOTS)
            }
        }
    }

    /// What [`super::neighbourhood`] gathers: every hit's squared distance
    /// and `fused`, compressed into two buffers, unsorted. Its
    /// [`Self::summary`] picks the `K` nearest by counting ranks.
    ///
    /// Every method is always inlined into [`super::ranked`] or
    /// [`super::neighbourhoods`], whose AVX-512 the intrinsics need; they
    /// are the only callers, so the `unsafe` blocks below hold.
    pub(in crate::sim::spatial) struct Ranked {
        /// The hits' squared distances, as `f32` bits (which order as
        /// integers as the distances do: none is negative).
        dist: [MaybeUninit<i32>; RANKED + 16],
        /// Their previous `fused`, as `f32` bits.
        fused: [MaybeUninit<i32>; RANKED + 16],
        /// Hits offered; beyond [`RANKED`] the buffers are full (their
        /// last 16 slots rewritten) and the summary gives up.
        held: usize,
        k: usize,
        /// In a round that covers `R`: the hits gathered as they are
        /// scanned, so that a sparse search (at most `K` hits, all of them
        /// the answer) reads nothing back from the buffers (loads right
        /// after the compress stores, which the processor cannot forward
        /// from them: 10k agents, 25.8 → 27.7 ns a search without this).
        gather: Option<Gathered>,
    }

    /// What a round that covers `R` gathers: the hits' number, the least
    /// distance², their `fused` values summed lane-wise in `f64`, and which
    /// hits had a value outside the range where such a sum is exact.
    #[derive(Clone, Copy)]
    struct Gathered {
        least: __m512,
        sums: [__m512d; 2],
        outside: __mmask16,
    }

    /// Lanes whose `f32` bits are 0 or have `2^-12 ≤ |v| < 2^12`: where a
    /// sum of fewer than 32 such values is exact in `f64`, whatever its
    /// order (see [`Ranked::unfinished`]).
    #[inline(always)]
    fn in_exact_range(bits: __m512i) -> __mmask16 {
        // SAFETY: only ever inlined into code compiled for AVX-512F.
        unsafe {
            let exponent = _mm512_and_si512(_mm512_srli_epi32::<23>(bits), _mm512_set1_epi32(0xFF));
            let magnitude = _mm512_and_si512(bits, _mm512_set1_epi32(0x7FFF_FFFF));
            _mm512_cmple_epu32_mask(_mm512_sub_epi32(exponent, _mm512_set1_epi32(127 - 12)), _mm512_set1_epi32(23))
                | _mm512_cmpeq_epi32_mask(magnitude, _mm512_setzero_si512())
        }
    }

    /// The lanes of register `r` (slots `16 r ..`) below `n`.
    #[inline(always)]
    fn lanes(n: usize, r: usize) -> __mmask16 {
        let inside = n.saturating_sub(16 * r).min(16);
        ((1u32 << inside) - 1) as __mmask16
    }

    impl Ranked {
        /// The search's [`Nearest::summary`], bit for bit, or `None` where
        /// only the listed search can give it. One at a time; the stage's
        /// chunks finish sixteen at once ([`Finishing`]).
        ///
        /// [`Nearest::summary`]: crate::sim::spatial::Nearest::summary
        #[inline(always)]
        pub(in crate::sim::spatial) fn summary(&self, k: usize, previous_defined: bool) -> Option<Neighbourhood> {
            self.unfinished(k, previous_defined).map(|u| {
                let nbr_mean = if previous_defined && u.count > 0 { (u.sum / u.count as f64) as f32 } else { f32::NAN };
                Neighbourhood { count: u.count, nearest: u.least.sqrt(), nbr_mean }
            })
        }

        /// The summary but its square root and division, or `None` where
        /// only the listed search can give it.
        ///
        /// - The answer is the `K` hits nearer than at most `K - 1` others
        ///   (all of them when there are at most `K`): hit `i`'s rank, the
        ///   number of hits strictly nearer, is below `K` exactly when its
        ///   distance is at most the `K`-th's. More than `K` such hits
        ///   means the `K`-th and `(K+1)`-th are equally near, and ids
        ///   decide who is in: `None`.
        /// - The count is theirs, the nearest distance the least of all.
        /// - With `previous_defined`, their `fused` values, widened to
        ///   `f64`, are summed in a tree. Where every value is 0 or
        ///   `2^-12 ≤ |v| < 2^12`, each is a multiple of `2^-35` below
        ///   `2^12`, so every partial sum of fewer than 32 of them is a
        ///   multiple of `2^-35` below `2^17`: 52 bits, exact in `f64`.
        ///   Exact sums do not depend on the order, so the tree gives the
        ///   nearest-first sum's bits (unused lanes add `-0.0`, which
        ///   changes no sum). A value outside that range: `None`.
        #[inline(always)]
        fn unfinished(&self, k: usize, previous_defined: bool) -> Option<Unfinished> {
            debug_assert!(k < SLOTS);
            match self.held.div_ceil(16) {
                0 | 1 => self.unfinished_in::<1>(k, previous_defined),
                2 => self.unfinished_in::<2>(k, previous_defined),
                3 => self.unfinished_in::<3>(k, previous_defined),
                4 => self.unfinished_in::<4>(k, previous_defined),
                _ => None,
            }
        }

        /// [`Self::unfinished`] with the hits in `R` registers.
        #[inline(always)]
        fn unfinished_in<const R: usize>(&self, k: usize, previous_defined: bool) -> Option<Unfinished> {
            let n = self.held;
            if let Some(g) = self.gather.filter(|g| n <= k && g.outside == 0) {
                // Every hit is a neighbour, each value in the exact range.
                // SAFETY: compiled for AVX-512F (see the type).
                let (least, sum) = unsafe {
                    (_mm512_reduce_min_ps(g.least), _mm512_reduce_add_pd(_mm512_add_pd(g.sums[0], g.sums[1])))
                };
                return Some(Unfinished { count: n as u32, least, sum });
            }
            let dist = self.dist.as_ptr().cast::<i32>();
            // SAFETY: compiled for AVX-512F (see the type). The scans wrote
            // slots `0 .. n` of both buffers (n ≤ RANKED here); the masked
            // loads read no other slot, and `j < n` for the broadcasts.
            unsafe {
                let infinite = _mm512_set1_epi32(f32::INFINITY.to_bits() as i32);
                let valid: [__mmask16; R] = std::array::from_fn(|r| lanes(n, r));
                let d: [__m512i; R] =
                    std::array::from_fn(|r| _mm512_mask_loadu_epi32(infinite, valid[r], dist.add(16 * r)));
                let mut chosen = valid;
                if n > k {
                    // rank_i = #{j : d_j < d_i}, sixteen i at a time.
                    let (mut rank, one) = ([_mm512_setzero_si512(); R], _mm512_set1_epi32(1));
                    for j in 0..n {
                        let dj = _mm512_set1_epi32(*dist.add(j));
                        for r in 0..R {
                            let nearer = _mm512_cmplt_epi32_mask(dj, d[r]);
                            rank[r] = _mm512_mask_add_epi32(rank[r], nearer, rank[r], one);
                        }
                    }
                    let below = _mm512_set1_epi32(k as i32);
                    chosen = std::array::from_fn(|r| _mm512_mask_cmplt_epi32_mask(valid[r], rank[r], below));
                    if chosen.iter().map(|c| c.count_ones() as usize).sum::<usize>() != k {
                        return None;
                    }
                }
                let count = n.min(k) as u32;
                let least = d.iter().fold(infinite, |a, &b| _mm512_min_epi32(a, b));
                let least = f32::from_bits(_mm512_reduce_min_epi32(least) as u32);
                let mut sum = 0.0;
                if previous_defined && count > 0 {
                    let fused = self.fused.as_ptr().cast::<i32>();
                    let mut sums = [_mm512_set1_pd(-0.0); 2];
                    let mut outside = 0;
                    for (r, &chosen) in chosen.iter().enumerate() {
                        let bits = _mm512_maskz_loadu_epi32(chosen, fused.add(16 * r));
                        outside |= chosen & !in_exact_range(bits);
                        let values = _mm512_castsi512_ps(bits);
                        let low = _mm512_cvtps_pd(_mm512_castps512_ps256(values));
                        let high = _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(bits)));
                        sums[0] = _mm512_mask_add_pd(sums[0], chosen as u8, sums[0], low);
                        sums[1] = _mm512_mask_add_pd(sums[1], (chosen >> 8) as u8, sums[1], high);
                    }
                    if outside != 0 {
                        return None;
                    }
                    sum = _mm512_reduce_add_pd(_mm512_add_pd(sums[0], sums[1]));
                }
                Some(Unfinished { count, least, sum })
            }
        }
    }

    /// A [`Neighbourhood`] before its square root and division: the count,
    /// the least squared distance, and the sum of the neighbours' `fused`
    /// (meaningful where the previous values are defined and the count is
    /// not 0).
    #[derive(Clone, Copy)]
    struct Unfinished {
        count: u32,
        least: f32,
        sum: f64,
    }

    /// The stage's searches' summaries, finished sixteen at a time: the
    /// square roots and divisions in one register each instead of one
    /// search's slow scalar chain each (same operations, same bits).
    pub(in crate::sim::spatial) struct Finishing {
        previous_defined: bool,
        len: usize,
        slots: [usize; 16],
        count: [u32; 16],
        least: [f32; 16],
        sum: [f64; 16],
        /// Lanes the listed search answered, with its answers.
        listed: u16,
        answers: [Neighbourhood; 16],
    }

    impl Finishing {
        #[inline(always)]
        pub(in crate::sim::spatial) fn new(previous_defined: bool) -> Self {
            Self {
                previous_defined,
                len: 0,
                slots: [0; 16],
                count: [0; 16],
                least: [0.0; 16],
                sum: [0.0; 16],
                listed: 0,
                answers: [Neighbourhood::default(); 16],
            }
        }

        /// Slot `at`'s search, or the listed search's answer where the
        /// ranks cannot give one (`listed` runs it); sixteen held, they
        /// are finished and handed to `out`.
        #[inline(always)]
        pub(in crate::sim::spatial) fn push(
            &mut self,
            at: usize,
            hits: &Ranked,
            k: usize,
            listed: impl FnOnce() -> Neighbourhood,
            out: &mut impl FnMut(usize, Neighbourhood),
        ) {
            let i = self.len;
            self.slots[i] = at;
            match hits.unfinished(k, self.previous_defined) {
                Some(u) => (self.count[i], self.least[i], self.sum[i]) = (u.count, u.least, u.sum),
                None => {
                    self.listed |= 1 << i;
                    self.answers[i] = listed();
                }
            }
            self.len += 1;
            if self.len == 16 {
                self.flush(out);
            }
        }

        /// Finishes what is held and hands it to `out`, in order.
        #[inline(always)]
        pub(in crate::sim::spatial) fn flush(&mut self, out: &mut impl FnMut(usize, Neighbourhood)) {
            let (mut nearest, mut mean) = ([0.0f32; 16], [0.0f32; 16]);
            // SAFETY: only ever inlined into code compiled for AVX-512F;
            // every load and store is of 16 lanes (8 for the `f64` halves)
            // of a 16-element array.
            unsafe {
                _mm512_storeu_ps(nearest.as_mut_ptr(), _mm512_sqrt_ps(_mm512_loadu_ps(self.least.as_ptr())));
                let counts = _mm512_loadu_si512(self.count.as_ptr().cast());
                let halves = [_mm512_castsi512_si256(counts), _mm512_extracti64x4_epi64::<1>(counts)];
                for (h, half) in halves.into_iter().enumerate() {
                    let sum = _mm512_loadu_pd(self.sum.as_ptr().add(8 * h));
                    let quotient = _mm512_cvtpd_ps(_mm512_div_pd(sum, _mm512_cvtepu32_pd(half)));
                    _mm256_storeu_ps(mean.as_mut_ptr().add(8 * h), quotient);
                }
            }
            for i in 0..self.len {
                let answer = if self.listed & (1 << i) != 0 {
                    self.answers[i]
                } else {
                    let count = self.count[i];
                    let defined = self.previous_defined && count > 0;
                    Neighbourhood { count, nearest: nearest[i], nbr_mean: if defined { mean[i] } else { f32::NAN } }
                };
                out(self.slots[i], answer);
            }
            (self.len, self.listed) = (0, 0);
        }
    }

    impl KeyList for Ranked {
        /// No cut-off at all: rows in order.
        const NEAREST_ROW_FIRST: bool = false;

        #[inline(always)]
        fn new(k: usize) -> Self {
            debug_assert!(k < RANKED);
            Self {
                dist: [MaybeUninit::uninit(); RANKED + 16],
                fused: [MaybeUninit::uninit(); RANKED + 16],
                held: 0,
                k,
                gather: None,
            }
        }

        #[inline(always)]
        fn last_round(&mut self) {
            // SAFETY: only ever inlined into code compiled for AVX-512F.
            let (least, zero) = unsafe { (_mm512_set1_ps(f32::INFINITY), _mm512_set1_pd(-0.0)) };
            self.gather = Some(Gathered { least, sums: [zero; 2], outside: 0 });
        }

        /// Blocks of 16 ([`Blocks`]), each block's hits compressed into the
        /// buffers (to a register, then stored: the memory form of the
        /// compress is slow on AMD).
        #[inline(always)]
        fn scan_run(&mut self, grid: &SpatialGrid, lo: usize, hi: usize, x: f32, y: f32, id: u32, r2: f32) {
            for (start, d, hits) in blocks(grid, lo, hi, x, y, id, r2) {
                // SAFETY: compiled for AVX-512F (see the type); the fused
                // load reads slots `start .. start + 16`, as the block's do;
                // the stores write 16 slots from `at <= RANKED`, inside the
                // buffers' `RANKED + 16`.
                unsafe {
                    let fused = _mm512_loadu_si512(grid.fused.as_ptr().add(start).cast());
                    if let Some(g) = &mut self.gather {
                        g.least = _mm512_mask_min_ps(g.least, hits, g.least, d);
                        let values = _mm512_castsi512_ps(fused);
                        let (low, high) = (
                            _mm512_cvtps_pd(_mm512_castps512_ps256(values)),
                            _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(fused))),
                        );
                        g.sums[0] = _mm512_mask_add_pd(g.sums[0], hits as u8, g.sums[0], low);
                        g.sums[1] = _mm512_mask_add_pd(g.sums[1], (hits >> 8) as u8, g.sums[1], high);
                        g.outside |= hits & !in_exact_range(fused);
                    }
                    let at = self.held.min(RANKED);
                    _mm512_storeu_si512(
                        self.dist.as_mut_ptr().add(at).cast(),
                        _mm512_maskz_compress_epi32(hits, _mm512_castps_si512(d)),
                    );
                    _mm512_storeu_si512(
                        self.fused.as_mut_ptr().add(at).cast(),
                        _mm512_maskz_compress_epi32(hits, fused),
                    );
                }
                self.held += hits.count_ones() as usize;
            }
        }

        #[inline(always)]
        fn full(&self) -> bool {
            self.held >= self.k
        }

        fn found(&mut self) -> usize {
            self.held
        }
    }
}
