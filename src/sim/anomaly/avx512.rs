//! The detector's per-agent loop written out for AVX-512, eight agents a
//! step, for a run of agents whose slots are consecutive (what the space
//! order keeper leaves: slots are renumbered in table order).
//!
//! Scalar, each agent took about 35 instructions: its slot and the bounds
//! check, the oldest value (through the renumbering map where the row is
//! old), the history write, the verdict's square root and division, the
//! sums. Here the history is read and written a register at a time (a
//! gather where the row is read through the map), the sums are loaded as
//! two registers and split into `Σx` and `Σx²` lanes, and the verdict's
//! square root and division take eight agents each. Same operations in the
//! same order as [`super::verdict`] and the scalar update, so the same bits
//! (tested against the baseline build).

#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::{Anomaly, WindowSums};
use crate::sim::fusion::Fused;

/// Where this frame's run reads and writes the history: raw row bases
/// into [`super::FusedHistory`]'s values.
pub(super) struct Rows<'a> {
    pub values: *mut f32,
    /// First element of the row written this frame.
    pub write: usize,
    /// First element of the oldest live row, read and dropped this frame
    /// (once the window is full), and the renumbering map if that row is
    /// in the old numbering.
    pub oldest: Option<(usize, Option<&'a [u32]>)>,
}

/// Runs the detector for agents in slots `first ..` (one per element of
/// `fused`), writing verdicts (when `full`), this frame's history values
/// and the updated sums; returns how many were flagged. Re-sums are the
/// caller's, afterwards.
///
/// # Safety
/// The processor has AVX-512 F, DQ, VL and BW. Slots `first .. first +
/// fused.len()` are below the history's agent count, no other thread
/// touches them, and `sums` and `out` are as long as `fused`; every map
/// entry is below the agent count.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn detect_run(
    rows: &Rows,
    first: usize,
    fused: &[Fused],
    sums: &mut [WindowSums],
    out: &mut [Anomaly],
    full: bool,
    inv_window: f64,
    threshold: f64,
) -> u64 {
    let n = fused.len();
    assert!(sums.len() == n && out.len() == n, "one sum and one verdict per agent");
    let fused = fused.as_ptr().cast::<f32>();
    let sums = sums.as_mut_ptr().cast::<f64>();
    let out = out.as_mut_ptr().cast::<u64>();
    let mut flagged = 0u64;
    // SAFETY (whole body): the caller's contract bounds every slot and
    // map entry; element `i < n` of `fused`, `sums` (2 f64 each) and `out`
    // (one u64 each, `Anomaly` being `repr(C)` f32 + bool + padding) is
    // inside its slice; masked loads and stores touch only lanes `< n`.
    unsafe {
        let (inv, thr, zero) = (_mm512_set1_pd(inv_window), _mm512_set1_pd(threshold), _mm512_setzero_pd());
        let (least_sd, abs) = (_mm512_set1_pd(0.001), _mm512_castsi512_pd(_mm512_set1_epi64(i64::MAX)));
        // Σx in the even lanes of a pair of registers, Σx² in the odd.
        let (even, odd) = (_mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15));
        let (interleave_low, interleave_high) =
            (_mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11), _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15));
        let mut i = 0;
        while i < n {
            let lanes = (n - i).min(8);
            let m8 = ((1u32 << lanes) - 1) as __mmask8;
            let m16 = ((1u32 << (2 * lanes)) - 1) as __mmask16;
            let (m_low, m_high) = (m16 as __mmask8, (m16 >> 8) as __mmask8);
            let slot = first + i;
            let x32 = _mm256_maskz_loadu_ps(m8, fused.add(i));
            let x = _mm512_cvtps_pd(x32);
            let oldest = match rows.oldest {
                None => zero,
                Some((base, None)) => _mm512_cvtps_pd(_mm256_maskz_loadu_ps(m8, rows.values.add(base + slot))),
                Some((base, Some(map))) => {
                    let columns = _mm256_maskz_loadu_epi32(m8, map.as_ptr().add(slot).cast());
                    let values =
                        _mm256_mmask_i32gather_ps::<4>(_mm256_setzero_ps(), m8, columns, rows.values.add(base).cast());
                    _mm512_cvtps_pd(values)
                }
            };
            _mm256_mask_storeu_ps(rows.values.add(rows.write + slot), m8, x32);
            let a = _mm512_maskz_loadu_pd(m_low, sums.add(2 * i));
            let b = _mm512_maskz_loadu_pd(m_high, sums.add(2 * i + 8));
            let (sum, sum_sq) = (_mm512_permutex2var_pd(a, even, b), _mm512_permutex2var_pd(a, odd, b));
            if full {
                // `verdict`, lane-wise.
                let m = _mm512_mul_pd(sum, inv);
                let var = _mm512_sub_pd(_mm512_mul_pd(sum_sq, inv), _mm512_mul_pd(m, m));
                let sd = _mm512_sqrt_pd(_mm512_max_pd(var, zero));
                let z = _mm512_div_pd(_mm512_and_pd(_mm512_sub_pd(x, m), abs), _mm512_max_pd(sd, least_sd));
                let flags = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(z, thr) & m8;
                flagged += flags.count_ones() as u64;
                let z_bits = _mm512_cvtepu32_epi64(_mm256_castps_si256(_mm512_cvtpd_ps(z)));
                let verdicts = _mm512_mask_or_epi64(z_bits, flags, z_bits, _mm512_set1_epi64(1 << 32));
                _mm512_mask_storeu_epi64(out.add(i).cast(), m8, verdicts);
            } else {
                _mm512_mask_storeu_epi64(out.add(i).cast(), m8, _mm512_setzero_si512());
            }
            let sum = _mm512_add_pd(sum, _mm512_sub_pd(x, oldest));
            let sum_sq = _mm512_add_pd(sum_sq, _mm512_sub_pd(_mm512_mul_pd(x, x), _mm512_mul_pd(oldest, oldest)));
            _mm512_mask_storeu_pd(sums.add(2 * i), m_low, _mm512_permutex2var_pd(sum, interleave_low, sum_sq));
            _mm512_mask_storeu_pd(sums.add(2 * i + 8), m_high, _mm512_permutex2var_pd(sum, interleave_high, sum_sq));
            i += 8;
        }
    }
    flagged
}
