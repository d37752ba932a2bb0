//! The neighbour search compiled for AVX-512, where the processor has it
//! (checked at run time: the build targets baseline x86-64).
//!
//! The search itself is the portable one ([`SpatialGrid::search`]), always
//! inlined into [`nearest`] and [`neighbourhood`], which are compiled for
//! AVX-512; only the key list and its scan of a run of candidates differ:
//!
//! - the list is three 8-lane registers (24 keys, for `K` up to 23), so an
//!   insertion is three shift-max-min steps where the portable build's
//!   18 keys take nine SSE pairs;
//! - a block of candidates is 16 wide, one register of distances, and the
//!   compare gives the hit mask directly;
//! - the hits are compressed into a buffer, their keys built in registers,
//!   and inserted in one loop at the end of the square: a loop over each
//!   block's hits mispredicted its exit once per block;
//! - many hits (a dense world) go into two lists, alternately, which are
//!   then merged: each insertion waits on the one before in its list, so
//!   two lists run two chains side by side;
//! - for the spatial stage ([`neighbourhood`]) a key's low half is the
//!   candidate's `fused` instead of its slot, and the summary the stage
//!   stores (count, nearest, mean) comes straight from the registers;
//!   equal distances, whose order needs ids, go to the slot-keyed search.
//!
//! Same keys in the same order, so the answer is bit for bit the portable
//! build's; the tests run both against brute force, and the summary
//! against the listed answer's.

#[cfg(target_arch = "x86_64")]
use super::{KeyList, Nearest, Neighbourhood, SpatialGrid};

/// Keys the list holds: three registers of eight.
const SLOTS: usize = 24;
/// Held candidates from which [`KeyList::settle`] builds two lists and
/// merges them (measured at 100k agents: 8 and 16 alike, 24 worse).
#[cfg(target_arch = "x86_64")]
const TWO_LISTS: usize = 8;
/// Candidates held back before they are inserted (more are inserted at
/// once: a crowded square).
#[cfg(target_arch = "x86_64")]
const PENDING: usize = 64;

/// Whether the processor has AVX-512F.
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("popcnt")
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
    grid.search_into::<x86::Keys<false>>(x, y, id, radius, out)
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
    let (keys, _) = grid.search::<x86::Keys<true>>(x, y, id, radius, scratch.capacity());
    if let Some(summary) = keys.summary(scratch.capacity(), previous_defined) {
        return summary;
    }
    // SAFETY: as for this function.
    unsafe { listed(grid, x, y, id, radius, previous_defined, scratch) }
}

/// [`neighbourhood`] through the listed search, which settles equal
/// distances by id. Rare (exact float ties), so out of line.
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

    use super::{super::key_dist_sq, KeyList, Neighbourhood, PENDING, SLOTS, SpatialGrid, TWO_LISTS};
    use crate::sim::spatial::EMPTY;

    /// The sorted list: lanes 0–7, 8–15 and 16–23.
    ///
    /// A key's low half is the candidate's grid slot, or with `FUSED` its
    /// previous `fused` (the bits of the `f32`), which is all that
    /// [`Self::summary`] needs of it: no gather by slot at the end (two
    /// 8-lane gathers cost 6–8 ns a search, more than the rest of the
    /// summary). Distinct distances sort the same either way; equal ones
    /// the summary leaves to the slot-keyed search.
    ///
    /// Every method is always inlined into [`super::nearest`] or
    /// [`super::neighbourhood`], whose AVX-512 the intrinsics need; they
    /// are the only callers, so the `unsafe` blocks below hold.
    pub(in crate::sim::spatial) struct Keys<const FUSED: bool> {
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
        /// The keys in memory, for [`KeyList::keys`] (which writes them
        /// all first).
        flat: [MaybeUninit<f64>; SLOTS],
        /// With `FUSED`, in a round that covers `R`: the hits gathered as
        /// they are scanned, so that a sparse search (at most `K` hits, all
        /// of them the answer) needs no sorting: their number, the least
        /// distance², the `fused` values summed lane-wise in `f64`, and
        /// which hits had a value outside the range where such a sum is
        /// exact (see [`Self::summary`]).
        gather: Option<Gathered>,
    }

    #[derive(Clone, Copy)]
    struct Gathered {
        hits: usize,
        least: __m512,
        sums: [__m512d; 2],
        outside: u32,
    }

    /// Lanes whose `f32` bits are 0 or have `2^-12 ≤ |v| < 2^12`: where a
    /// sum of fewer than 32 such values is exact in `f64`, whatever its
    /// order (see [`Keys::summary`]).
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

    impl<const FUSED: bool> Keys<FUSED> {
        /// What a last round gathered, where it is the whole answer: at most
        /// `k` hits, each value in the exact range. (Then the search stopped
        /// there and sorted nothing: [`KeyList::answered_unsorted`].)
        #[inline(always)]
        fn unsorted_answer(&self, k: usize) -> Option<Gathered> {
            self.gather.filter(|g| g.hits <= k && g.outside == 0)
        }

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

    impl Keys<true> {
        /// The finished search's [`Nearest::summary`], bit for bit,
        /// straight from the registers: which lanes hold a key (the
        /// count), lane 0's distance (the nearest), and the `fused` halves
        /// of the first `K`, widened to `f64` and summed in lane order,
        /// which is nearest first, as [`Nearest::summary`] sums them; an
        /// unheld lane adds `-0.0`, which leaves any sum as it was. Listing
        /// the neighbours first cost a loop whose length (the count)
        /// changes from one search to the next, and so mispredicted its
        /// exit.
        ///
        /// Equal distances anywhere in lanes `0 ..= K` (within the set,
        /// whose order is then by id, or across its edge, which decides who
        /// is in) give `None`: the listed search settles them.
        ///
        /// [`Nearest::summary`]: crate::sim::spatial::Nearest::summary
        #[inline(always)]
        pub(in crate::sim::spatial) fn summary(&self, k: usize, previous_defined: bool) -> Option<Neighbourhood> {
            debug_assert!(k < SLOTS);
            if let Some(g) = self.unsorted_answer(k) {
                // Every hit is a neighbour, each value in the exact range:
                // the lane-wise sums add up to the nearest-first sum's bits.
                // SAFETY: compiled for AVX-512F (see the type).
                let (least, sum) = unsafe {
                    (_mm512_reduce_min_ps(g.least), _mm512_reduce_add_pd(_mm512_add_pd(g.sums[0], g.sums[1])))
                };
                let count = g.hits as u32;
                let nbr_mean = if previous_defined && count > 0 { (sum / count as f64) as f32 } else { f32::NAN };
                return Some(Neighbourhood { count, nearest: least.sqrt(), nbr_mean });
            }
            // SAFETY: compiled for AVX-512F (see the type); the stores
            // write eight lanes each inside the 24-lane array.
            unsafe {
                let regs = self.regs.map(|r| _mm512_castpd_si512(r));
                let empty = _mm512_set1_epi64(EMPTY.to_bits() as i64);
                // Lane j's previous key, as in `insert`; before lane 0 a key
                // whose distance bits no real distance has.
                let previous = [
                    _mm512_alignr_epi64::<7>(regs[0], _mm512_set1_epi64(-1)),
                    _mm512_alignr_epi64::<7>(regs[1], regs[0]),
                    _mm512_alignr_epi64::<7>(regs[2], regs[1]),
                ];
                let (mut held, mut equal) = (0u32, 0u32);
                for r in 0..3 {
                    let lanes = _mm512_cmpneq_epi64_mask(regs[r], empty);
                    let same = _mm512_mask_cmpeq_epi64_mask(
                        lanes,
                        _mm512_srli_epi64::<32>(regs[r]),
                        _mm512_srli_epi64::<32>(previous[r]),
                    );
                    held |= (lanes as u32) << (8 * r);
                    equal |= (same as u32) << (8 * r);
                }
                if equal & ((2u32 << k) - 1) != 0 {
                    return None;
                }
                let held = held & ((1u32 << k) - 1);
                let count = held.count_ones();
                let nearest = key_dist_sq(f64::from_bits(_mm_cvtsi128_si64(_mm512_castsi512_si128(regs[0])) as u64));
                // An empty list's lane 0 is EMPTY, whose distance is +∞.
                let mut summary = Neighbourhood { count, nearest: nearest.sqrt(), nbr_mean: f32::NAN };
                if previous_defined && count > 0 {
                    // Widened, unheld lanes -0.0; and whether every held
                    // value is 0 or within 2^-12 ≤ |v| < 2^12.
                    let mut fused = [_mm512_set1_pd(-0.0); 3];
                    let mut ranged = 0u32;
                    for (r, reg) in regs.iter().enumerate().take(k.div_ceil(8)) {
                        let bits = _mm512_cvtepi64_epi32(*reg);
                        let low = _mm512_cvtps_pd(_mm256_castsi256_ps(bits));
                        fused[r] = _mm512_mask_mov_pd(fused[r], (held >> (8 * r)) as u8, low);
                        // Eight values: the low eight lanes of the test.
                        let inside = in_exact_range(_mm512_castsi256_si512(bits)) as u8;
                        ranged |= (inside as u32) << (8 * r);
                    }
                    let sum = if held & !ranged == 0 {
                        // Every value is a multiple of 2^-35 below 2^12, so
                        // every partial sum of fewer than 32 of them is a
                        // multiple of 2^-35 below 2^17: 52 bits, exact in
                        // f64. Exact sums do not depend on the order, so
                        // a tree gives the nearest-first sum's bits without
                        // its chain of K dependent adds.
                        _mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(fused[0], fused[1]), fused[2]))
                    } else {
                        let mut flat = [0.0f64; SLOTS];
                        for (r, reg) in fused.iter().enumerate() {
                            _mm512_storeu_pd(flat.as_mut_ptr().add(8 * r), *reg);
                        }
                        flat[..k].iter().sum()
                    };
                    summary.nbr_mean = (sum / count as f64) as f32;
                }
                Some(summary)
            }
        }
    }

    impl<const FUSED: bool> KeyList for Keys<FUSED> {
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
                gather: None,
            }
        }

        /// Distances 16 at a time; the compare masks off candidates beyond
        /// `r2`, the agent itself, and the lanes past the run (the arrays
        /// are padded by 16). Unlike the portable build, no cut-off from
        /// the list itself: it would make every block wait on the last
        /// insertion (measured: 7% slower at 100k agents); the search's own
        /// cut-off, the square's inscribed disc, does that job.
        #[inline(always)]
        fn scan_run(&mut self, grid: &SpatialGrid, lo: usize, hi: usize, x: f32, y: f32, id: u32, r2: f32) {
            debug_assert!(hi + super::super::PADDING <= grid.xs.len() && grid.xs.len() == grid.ids.len());
            let mut start = lo;
            while start < hi {
                let valid = ((1u32 << (hi - start).min(16)) - 1) as __mmask16;
                // SAFETY: compiled for AVX-512F (see the type); the loads
                // read slots `start .. start + 16`, inside the arrays as
                // `start < hi <= n` and they hold `n + PADDING` slots. The
                // two stores write 8 keys each from `held <= PENDING` on,
                // at most up to `PENDING + 16`, the buffer's length.
                unsafe {
                    let dx = _mm512_sub_ps(_mm512_loadu_ps(grid.xs.as_ptr().add(start)), _mm512_set1_ps(x));
                    let dy = _mm512_sub_ps(_mm512_loadu_ps(grid.ys.as_ptr().add(start)), _mm512_set1_ps(y));
                    let d = _mm512_add_ps(_mm512_mul_ps(dx, dx), _mm512_mul_ps(dy, dy));
                    let near = _mm512_mask_cmp_ps_mask::<_CMP_LE_OQ>(valid, d, _mm512_set1_ps(r2));
                    let ids = _mm512_loadu_si512(grid.ids.as_ptr().add(start).cast());
                    let hits = _mm512_mask_cmpneq_epi32_mask(near, ids, _mm512_set1_epi32(id as i32));
                    // Keys, `distance² bits << 32 | slot` (or `fused`
                    // bits), eight per register.
                    let bits = _mm512_castps_si512(d);
                    let keys = |half: __m256i, low: __m512i| {
                        _mm512_or_si512(_mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(half)), low)
                    };
                    let (low, high) = if FUSED {
                        let fused = _mm512_loadu_si512(grid.fused.as_ptr().add(start).cast());
                        if let Some(g) = &mut self.gather {
                            g.hits += hits.count_ones() as usize;
                            g.least = _mm512_mask_min_ps(g.least, hits, g.least, d);
                            let values = _mm512_castsi512_ps(fused);
                            let (low, high) = (
                                _mm512_cvtps_pd(_mm512_castps512_ps256(values)),
                                _mm512_cvtps_pd(_mm256_castsi256_ps(_mm512_extracti64x4_epi64::<1>(fused))),
                            );
                            g.sums[0] = _mm512_mask_add_pd(g.sums[0], hits as u8, g.sums[0], low);
                            g.sums[1] = _mm512_mask_add_pd(g.sums[1], (hits >> 8) as u8, g.sums[1], high);
                            g.outside |= (hits & !in_exact_range(fused)) as u32;
                        }
                        (
                            keys(_mm512_castsi512_si256(bits), _mm512_cvtepu32_epi64(_mm512_castsi512_si256(fused))),
                            keys(
                                _mm512_extracti64x4_epi64::<1>(bits),
                                _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64::<1>(fused)),
                            ),
                        )
                    } else {
                        let slots = _mm512_add_epi64(
                            _mm512_set1_epi64(start as i64),
                            _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7),
                        );
                        (
                            keys(_mm512_castsi512_si256(bits), slots),
                            keys(_mm512_extracti64x4_epi64::<1>(bits), _mm512_add_epi64(slots, _mm512_set1_epi64(8))),
                        )
                    };
                    for (mask, keys) in [(hits as u8, low), ((hits >> 8) as u8, high)] {
                        let at = self.pending.as_mut_ptr().add(self.held);
                        _mm512_storeu_si512(at.cast(), _mm512_maskz_compress_epi64(mask, keys));
                        self.held += mask.count_ones() as usize;
                    }
                }
                if self.held > PENDING {
                    self.settle();
                }
                start += 16;
            }
        }

        #[inline(always)]
        fn last_round(&mut self) {
            if FUSED {
                // SAFETY: only ever inlined into code compiled for AVX-512F.
                let (least, zero) = unsafe { (_mm512_set1_ps(f32::INFINITY), _mm512_set1_pd(-0.0)) };
                self.gather = Some(Gathered { hits: 0, least, sums: [zero; 2], outside: 0 });
            }
        }

        #[inline(always)]
        fn answered_unsorted(&mut self, k: usize) -> bool {
            self.unsorted_answer(k).is_some()
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
        fn kth(&self) -> f32 {
            key_dist_sq(self.lane(self.k - 1))
        }

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
}
