//! A whole row of the fast lane at once, where the processor has AVX-512
//! with byte permutes (VBMI; checked at run time: the build targets
//! baseline x86-64, and other processors keep to the columns' shapes).
//!
//! A sensor trace's rows are laid out alike as much as its columns are
//! (`12,345,0.3622,0.4972,…`): once every column has read a row through
//! its [`Shape`], the columns' shapes together say where every byte of the
//! next row should be. [`RowShape::read`] then takes the row in one
//! 64-byte register, or two for a row of up to 128 bytes:
//! - one compare a register finds the digits and one the other bytes
//!   (signs, points, commas, the line end), checked against the row's
//!   shape at once;
//! - one byte permute (of both registers) moves each field's digits into
//!   a 64-bit lane of their own, right-aligned, eight fields a register;
//! - two multiply-adds and one multiply make the lanes' mantissas, one
//!   conversion and one division their values.
//!
//! That is about thirty instructions for a row of ten fields, where the
//! columns' shapes take about fifty a field. The mantissas, fraction
//! digits and signs are those of the byte loop, and the division is the
//! same, so the bits are the same; a row that does not match goes to the
//! columns' shapes and the byte loop, as before.

use super::{POW10, Shape};

/// The most fields a row shape holds: two registers of eight.
const FIELDS: usize = 16;
/// The most bytes a row shape covers, its line end included: two
/// registers.
const BYTES: usize = 128;

/// Whole rows read at once, where the processor can: the row shape last
/// learned, and whether the columns' shapes have changed since it was.
#[derive(Clone, Debug, Default)]
pub(super) struct WholeRows {
    shape: RowShape,
    /// The row shape was built from the columns' current shapes (or could
    /// not be: a row too long or too wide), so building it again is moot.
    current: bool,
}

impl WholeRows {
    /// A reader where the processor has AVX-512 F, BW, DQ and VBMI, and
    /// `--isa` allows AVX-512.
    pub(super) fn where_available() -> Option<Self> {
        let has = crate::sim::parallel::Isa::limit() >= crate::sim::parallel::Isa::Avx512
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vbmi");
        has.then(Self::default)
    }

    /// The row at `d[pos..]` if it has the row shape: its values' bits into
    /// `out` and where the next row starts.
    #[inline(always)]
    pub(super) fn read(&self, d: &[u8], pos: usize, out: &mut [u64]) -> Option<usize> {
        // SAFETY: a `WholeRows` exists only where the processor has the
        // features `read` is compiled for (`where_available`).
        unsafe { self.shape.read(d, pos, out) }
    }

    /// A column's shape changed: the row shape is out of date.
    pub(super) fn columns_changed(&mut self) {
        self.current = false;
    }

    /// Every field of a row had its column's shape: build the row shape
    /// from them, unless it was built from these already.
    pub(super) fn learn(&mut self, shapes: &[Shape], floats: &[bool]) {
        if !self.current {
            self.shape = RowShape::of(shapes, floats);
            self.current = true;
        }
    }
}

/// Where every byte of a row laid out as the last one should be, and how
/// its digits become values.
#[derive(Clone, Debug)]
pub(super) struct RowShape {
    /// The row's bytes, its line end included; 0: none learned.
    len: usize,
    /// Bit `i` of register `r`: byte `64 r + i` must be a digit.
    digits: [u64; 2],
    /// Bit `i` of register `r`: byte `64 r + i` must be its `expected`
    /// (sign, point, separator).
    fixed: [u64; 2],
    expected: [u8; BYTES],
    /// Fields, eight per register.
    fields: usize,
    /// Per register of fields, for byte `b` of lane `j`: the row byte it
    /// takes, or none (bit `8 j + b` of `keep` clear: a zero before the
    /// digits).
    index: [[u8; 64]; 2],
    keep: [u64; 2],
    scales: [[f64; 8]; 2],
    /// Lanes whose field is negative, and lanes whose column is float.
    negative: [u8; 2],
    floats: [u8; 2],
}

impl Default for RowShape {
    fn default() -> Self {
        Self {
            len: 0,
            digits: [0; 2],
            fixed: [0; 2],
            expected: [0; BYTES],
            fields: 0,
            index: [[0; 64]; 2],
            keep: [0; 2],
            scales: [[1.0; 8]; 2],
            negative: [0; 2],
            floats: [0; 2],
        }
    }
}

impl RowShape {
    /// The shape of a row whose every field had its column's `shapes`
    /// (with their types, `floats`): none where a column has no shape, or
    /// the row is longer than 128 bytes or wider than 16 fields.
    pub(super) fn of(shapes: &[Shape], floats: &[bool]) -> Self {
        let mut row = Self::default();
        if shapes.len() > FIELDS || shapes.iter().any(|s| s.len == 0) {
            return row;
        }
        let mut at = 0;
        for (j, (shape, &float)) in shapes.iter().zip(floats).enumerate() {
            let len = shape.len as usize;
            if at + len > BYTES {
                return Self::default();
            }
            let byte = |mask: u64, i: usize| (mask >> (8 * i)) as u8;
            let (r, lane) = (j / 8, j % 8);
            let places = (0..len).filter(|&i| byte(shape.int | shape.fraction_places, i) != 0);
            let count = places.clone().count();
            for (t, i) in places.enumerate() {
                row.digits[(at + i) / 64] |= 1 << ((at + i) % 64);
                let b = 8 * lane + 8 - count + t;
                row.index[r][b] = (at + i) as u8;
                row.keep[r] |= 1 << b;
            }
            for i in (0..len).filter(|&i| byte(shape.fixed, i) != 0) {
                row.fixed[(at + i) / 64] |= 1 << ((at + i) % 64);
                row.expected[at + i] = byte(shape.pattern, i);
            }
            row.scales[r][lane] = POW10[shape.fraction];
            row.negative[r] |= (shape.negative as u8) << lane;
            row.floats[r] |= (float as u8) << lane;
            at += len;
        }
        row.len = at;
        row.fields = shapes.len();
        row
    }

    /// Whether register `r` of a row (its bytes `v`, less `'0'`: `t`) has
    /// digits and the expected bytes where the shape says.
    #[target_feature(enable = "avx512f,avx512bw")]
    fn matches(&self, v: std::arch::x86_64::__m512i, t: std::arch::x86_64::__m512i, r: usize) -> bool {
        use std::arch::x86_64::*;
        // SAFETY: a 64-byte load of `expected`'s bytes `64 r ..`, inside it.
        let expected = unsafe { _mm512_loadu_si512(self.expected.as_ptr().add(64 * r).cast()) };
        let digits = _mm512_cmple_epu8_mask(t, _mm512_set1_epi8(9));
        let same = _mm512_cmpeq_epi8_mask(v, expected);
        digits & self.digits[r] == self.digits[r] && same & self.fixed[r] == self.fixed[r]
    }

    /// The row at `d[pos..]` if it has this shape: its values' bits into
    /// `out` (one per field) and where the next row starts.
    ///
    /// # Safety
    /// The processor has AVX-512 F, BW, DQ and VBMI.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vbmi")]
    pub(super) unsafe fn read(&self, d: &[u8], pos: usize, out: &mut [u64]) -> Option<usize> {
        use std::arch::x86_64::*;
        if self.len == 0 || d.len() - pos < self.len || out.len() < self.fields {
            return None;
        }
        // SAFETY: the loads read `len <= 128` bytes from `pos`, inside `d`
        // (checked above; the others are masked off and not read); the
        // stores write `fields <= out.len()` lanes of `out`.
        unsafe {
            // The rows ahead, asked for now: the processor's own prefetch
            // stops at each 4 KiB page, and a row's load waiting on memory
            // was most of this function's time (one thread: 32-33 ms for
            // the 500k-row trace without, 27-28 with; 512 to 4,096 bytes
            // ahead alike). A prefetch never faults, wherever it points.
            _mm_prefetch::<_MM_HINT_T0>(d.as_ptr().wrapping_add(pos + 1024).cast());
            let (first, second) = (self.len.min(64), self.len.saturating_sub(64));
            let load = |n: usize| if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            let v = _mm512_maskz_loadu_epi8(load(first), d.as_ptr().add(pos).cast());
            let t = _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8));
            if !self.matches(v, t, 0) {
                return None;
            }
            // The second register only for a row longer than 64 bytes.
            let t_high = if second > 0 {
                let v = _mm512_maskz_loadu_epi8(load(second), d.as_ptr().add(pos + 64).cast());
                let t = _mm512_sub_epi8(v, _mm512_set1_epi8(b'0' as i8));
                if !self.matches(v, t, 1) {
                    return None;
                }
                t
            } else {
                t
            };
            let zero = _mm512_setzero_si512();
            for r in 0..self.fields.div_ceil(8) {
                let index = _mm512_loadu_si512(self.index[r].as_ptr().cast());
                let lanes = _mm512_maskz_permutex2var_epi8(self.keep[r], t, index, t_high);
                // Pairs of digits (the first × 10), then fours (the first
                // pair × 100), then eight (the first four × 10,000).
                let pairs = _mm512_maddubs_epi16(lanes, _mm512_set1_epi16(0x010A));
                let fours = _mm512_madd_epi16(pairs, _mm512_set1_epi32(0x0001_0064));
                let m = _mm512_add_epi64(
                    _mm512_mul_epu32(fours, _mm512_set1_epi64(10_000)),
                    _mm512_srli_epi64::<32>(fours),
                );
                let (negative, floats) = (self.negative[r], self.floats[r]);
                // An integer `-0` is the general reader's to decide.
                if _mm512_mask_cmpeq_epi64_mask(negative & !floats, m, zero) != 0 {
                    return None;
                }
                let values = _mm512_div_pd(_mm512_cvtepu64_pd(m), _mm512_loadu_pd(self.scales[r].as_ptr()));
                let signs = _mm512_maskz_mov_epi64(negative, _mm512_set1_epi64(i64::MIN));
                let float_bits = _mm512_or_si512(_mm512_castpd_si512(values), signs);
                let integer_bits = _mm512_mask_sub_epi64(m, negative, zero, m);
                let bits = _mm512_mask_blend_epi64(floats, integer_bits, float_bits);
                let lanes_used = (self.fields - 8 * r).min(8);
                _mm512_mask_storeu_epi64(out.as_mut_ptr().add(8 * r).cast(), ((1u32 << lanes_used) - 1) as u8, bits);
            }
            Some(pos + self.len)
        }
    }
}
