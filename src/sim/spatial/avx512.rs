//! The neighbour search compiled for AVX-512, where the processor has it
//! (checked at run time: the build targets baseline x86-64).
//!
//! The search itself is the portable one ([`SpatialGrid::search`]), always
//! inlined into [`nearest`], which is compiled for AVX-512; only the key
//! list and its scan of a run of candidates differ:
//!
//! - the list is three 8-lane registers (24 keys, for `K` up to 23), so an
//!   insertion is three shift-max-min steps where the portable build's
//!   18 keys take nine SSE pairs;
//! - a block of candidates is 16 wide, one register of distances, and the
//!   compare gives the hit mask directly.
//!
//! Same keys in the same order, so the answer is bit for bit the portable
//! build's; the tests run both against brute force.

use super::{KeyList, Nearest, SpatialGrid};

/// Keys the list holds: three registers of eight.
const SLOTS: usize = 24;

/// Whether the processor has AVX-512F.
pub(super) fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
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
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn nearest(grid: &SpatialGrid, x: f32, y: f32, id: u32, radius: f32, out: &mut Nearest) {
    grid.search::<x86::Keys>(x, y, id, radius, out)
}

/// Never called: [`available`] is false off x86-64.
///
/// # Safety
/// None needed; it only exists so that callers compile everywhere.
#[cfg(not(target_arch = "x86_64"))]
pub(super) unsafe fn nearest(grid: &SpatialGrid, x: f32, y: f32, id: u32, radius: f32, out: &mut Nearest) {
    let _ = (grid, x, y, id, radius, out);
    unreachable!("the AVX-512 search only runs on x86-64")
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{super::key, super::key_dist_sq, KeyList, SLOTS, SpatialGrid};
    use crate::sim::spatial::EMPTY;

    /// The sorted list: lanes 0–7, 8–15 and 16–23.
    ///
    /// Every method is always inlined into [`super::nearest`], whose
    /// AVX-512 the intrinsics need; that is the only caller, so the
    /// `unsafe` blocks below hold.
    pub(in crate::sim::spatial) struct Keys {
        regs: [__m512d; 3],
        k: usize,
        /// The keys in memory, for [`KeyList::keys`].
        flat: [f64; SLOTS],
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

        /// Inserts `x`, dropping the last key: lane `j` becomes
        /// `min(a[j], max(a[j-1], x))`, as in the portable build, with
        /// `a[j-1]` brought in by one lane shift across the registers.
        #[inline(always)]
        fn insert(&mut self, x: f64) {
            // SAFETY: only ever inlined into code compiled for AVX-512F.
            unsafe {
                let xv = _mm512_set1_pd(x);
                let [a0, a1, a2] = self.regs;
                let before = _mm512_set1_pd(-1.0);
                let step = |cur: __m512d, prev: __m512d| {
                    let shifted = _mm512_alignr_epi64::<7>(_mm512_castpd_si512(cur), _mm512_castpd_si512(prev));
                    _mm512_min_pd(cur, _mm512_max_pd(_mm512_castsi512_pd(shifted), xv))
                };
                self.regs = [step(a0, before), step(a1, a0), step(a2, a1)];
            }
        }
    }

    impl KeyList for Keys {
        #[inline(always)]
        fn new(k: usize) -> Self {
            debug_assert!(k < SLOTS);
            // SAFETY: only ever inlined into code compiled for AVX-512F.
            let empty = unsafe { _mm512_set1_pd(EMPTY) };
            Self { regs: [empty; 3], k, flat: [EMPTY; SLOTS] }
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
                let mut d2 = [0.0f32; 16];
                // SAFETY: compiled for AVX-512F (see the type); the loads
                // read slots `start .. start + 16`, inside the arrays as
                // `start < hi <= n` and they hold `n + PADDING` slots.
                let mut hits = unsafe {
                    let dx = _mm512_sub_ps(_mm512_loadu_ps(grid.xs.as_ptr().add(start)), _mm512_set1_ps(x));
                    let dy = _mm512_sub_ps(_mm512_loadu_ps(grid.ys.as_ptr().add(start)), _mm512_set1_ps(y));
                    let d = _mm512_add_ps(_mm512_mul_ps(dx, dx), _mm512_mul_ps(dy, dy));
                    _mm512_storeu_ps(d2.as_mut_ptr(), d);
                    let near = _mm512_mask_cmp_ps_mask::<_CMP_LE_OQ>(valid, d, _mm512_set1_ps(r2));
                    let ids = _mm512_loadu_si512(grid.ids.as_ptr().add(start).cast());
                    _mm512_mask_cmpneq_epi32_mask(near, ids, _mm512_set1_epi32(id as i32)) as u32
                };
                while hits != 0 {
                    let j = hits.trailing_zeros() as usize;
                    hits &= hits - 1;
                    self.insert(key(d2[j], start + j));
                }
                start += 16;
            }
        }

        #[inline(always)]
        fn kth(&self) -> f32 {
            key_dist_sq(self.lane(self.k - 1))
        }

        #[inline(always)]
        fn keys(&mut self) -> &[f64] {
            // SAFETY: compiled for AVX-512F (see the type); three stores of
            // eight lanes fill the 24-slot array.
            unsafe {
                for (at, reg) in self.regs.iter().enumerate() {
                    _mm512_storeu_pd(self.flat.as_mut_ptr().add(8 * at), *reg);
                }
            }
            &self.flat
        }
    }
}
