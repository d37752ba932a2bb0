//! The fast lane: a row of plain numbers found and parsed in one pass.
//!
//! Most numeric CSV (sensor traces, agent lists) is nothing but digits, a
//! sign, a decimal point, commas and line ends. For such a row the general
//! reader does every byte twice: once to find where the field ends, once to
//! turn it into a number. Here each byte is looked at once: the digits are
//! accumulated as they are scanned and the byte that stops them must be the
//! separator the row expects.
//!
//! Three speeds, each falling back on the next: where the processor has
//! AVX-512 with byte permutes, a row laid out as the one before is read
//! whole, in one register (`avx512`); else each field laid out as its
//! column's last is read eight bytes at a time through the column's
//! [`Shape`]; else byte by byte, and the field's layout becomes the shape.
//!
//! Anything else (an empty field, spaces, an exponent, `\r` before the line
//! end, a field too long for the exact path, a row of the wrong width) is
//! not decided here: [`Lane::row`] returns `None` and the caller reads the
//! row with the general reader, whose rules (errors, type changes, missing
//! values) stay the only ones. So every value this lane produces is bit for
//! bit the value [`super::table::parse_integer`] or
//! [`super::table::parse_float`] would give for the same field.

#[cfg(target_arch = "x86_64")]
mod avx512;

/// Exact powers of ten as `f64` (all below 2^53 · 2^22, so exact).
pub(super) const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Most significant digits a float may have here: `m < 2^53`, exact.
const FLOAT_DIGITS: usize = 15;
/// Most digits an integer may have here: no overflow of `i64`.
const INTEGER_DIGITS: usize = 18;

/// Accumulates the digits from `p` on; returns the value and the first
/// byte after them.
#[inline(always)]
fn digits(d: &[u8], mut p: usize, mut m: u64) -> (u64, usize) {
    while let Some(&b) = d.get(p) {
        let x = b.wrapping_sub(b'0');
        if x > 9 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(x as u64);
        p += 1;
    }
    (m, p)
}

/// A field as the lane reads it, before it becomes a value: the
/// digits as an integer `m`, how many of them follow the point, and the
/// sign.
#[derive(Clone, Copy)]
struct Parts {
    m: u64,
    fraction: usize,
    negative: bool,
}

/// What the byte loop saw of a field besides its value: where a
/// [`Shape`] is learned from.
#[derive(Clone, Copy)]
struct Layout {
    int: usize,
    point: bool,
    /// The separator byte that ended it (none: the end of the input).
    separator: Option<u8>,
}

/// One field at `d[p..]` as a plain number: `-`? digits (`.` digits)?,
/// ended by `,` or, for the row's last field, by `\n` or the end of `d`.
/// Returns the value's bits (`i64` or `f64`, as `float` asks) and where the
/// next field starts. (The byte loop alone, for the tests: the lane reads
/// rows with [`Lane::row`].)
#[cfg(test)]
pub fn plain_number(d: &[u8], p: usize, float: bool, last: bool) -> Option<(u64, usize)> {
    let (parts, next, _) = scan_number(d, p, float, last, (b',', b'\n'))?;
    let bits = if float {
        let v = parts.m as f64 / POW10[parts.fraction];
        (if parts.negative { -v } else { v }).to_bits()
    } else {
        (if parts.negative { -(parts.m as i64) } else { parts.m as i64 }) as u64
    };
    Some((bits, next))
}

/// [`plain_number`]'s field, byte by byte, with its [`Layout`]; `None`
/// also for `-0` as an integer (a float: the general reader decides).
#[inline(always)]
fn scan_number(d: &[u8], p: usize, float: bool, last: bool, ends: (u8, u8)) -> Option<(Parts, usize, Layout)> {
    let negative = d.get(p) == Some(&b'-');
    let start = p + negative as usize;
    let (mut m, mut p) = digits(d, start, 0);
    let int = p - start;
    let mut fraction = 0;
    let point = d.get(p) == Some(&b'.');
    if point {
        if !float {
            return None;
        }
        let (mf, q) = digits(d, p + 1, m);
        fraction = q - (p + 1);
        m = mf;
        p = q;
    }
    let count = int + fraction;
    let limit = if float { FLOAT_DIGITS } else { INTEGER_DIGITS };
    if count == 0 || count > limit || (negative && m == 0 && !float) {
        return None;
    }
    let (delimiter, newline) = ends;
    let (next, separator) = match d.get(p) {
        Some(&b) if b == delimiter && !last => (p + 1, Some(b)),
        Some(&b) if b == newline && last => (p + 1, Some(b)),
        None if last => (p, None),
        _ => return None,
    };
    Some((Parts { m, fraction, negative }, next, Layout { int, point, separator }))
}

/// A column's field layout as last seen, when it fits in 8 bytes with its
/// separator: where the sign, the digits, the point and the separator are.
///
/// Fields of a column are usually printed alike (`0.3622`, `0.4972`, ...).
/// `Shape::read` checks a field's 8 bytes against the shape at once
/// (every digit place a digit, every other byte the one expected) and,
/// where they match, turns the digits into the mantissa with three
/// multiplications (SWAR: eight digits in a word). The next field then
/// starts a known distance on, so nothing waits on the digits, where the
/// byte loop has a branch per byte and a chain through the position.
/// Where they do not match, the byte loop reads the field and its layout
/// becomes the column's shape. (Eight digits at a time with the field's end
/// found from the bytes, tried before, lost to the byte loop: each field's
/// end waited on a load, a mask and a `tzcnt`.)
///
/// The mantissa, fraction digits and sign are the byte loop's, so the value
/// is the same, bit for bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shape {
    /// The field's bytes with its separator; 0: nothing learned.
    len: u32,
    /// `0xFF` in the integer digits' bytes.
    int: u64,
    /// `0xFF` in the fraction digits' bytes.
    fraction_places: u64,
    /// `0xFF` in the field's other bytes: sign, point, separator.
    fixed: u64,
    /// Those bytes' values.
    pattern: u64,
    /// Bits the integer digits move up to close the point's gap.
    close: u32,
    /// Bits all digits then move up, so that the last is in byte 7.
    align: u32,
    fraction: usize,
    negative: bool,
}

/// `0xFF` in bytes `from .. to` of a word (`from <= to <= 8`).
#[inline(always)]
fn bytes(from: usize, to: usize) -> u64 {
    let below = |n: usize| if n >= 8 { u64::MAX } else { (1u64 << (8 * n)) - 1 };
    below(to) & !below(from)
}

/// The number written by eight digit values (0 to 9), one per byte, the
/// most significant in byte 0: pairs, then groups of four, then all eight.
#[inline(always)]
fn eight_digits(v: u64) -> u64 {
    let v = v.wrapping_mul(10 << 8 | 1) >> 8;
    let v = (v & 0x00FF_00FF_00FF_00FF).wrapping_mul(100 << 16 | 1) >> 16;
    (v & 0x0000_FFFF_0000_FFFF).wrapping_mul(10_000 << 32 | 1) >> 32
}

impl Shape {
    /// The shape of a field the byte loop read, or none (a field longer
    /// than 8 bytes with its separator, or one ended by the input's end).
    fn of(parts: Parts, layout: Layout) -> Self {
        let Some(separator) = layout.separator else { return Self::default() };
        let (sign, point) = (parts.negative as usize, layout.point as usize);
        let len = sign + layout.int + point + parts.fraction + 1;
        if len > 8 {
            return Self::default();
        }
        let int = bytes(sign, sign + layout.int);
        let fraction_places = bytes(sign + layout.int + point, len - 1);
        let fixed = bytes(0, len) & !(int | fraction_places);
        let mut pattern = (separator as u64) << (8 * (len - 1));
        if parts.negative {
            pattern |= b'-' as u64;
        }
        if layout.point {
            pattern |= (b'.' as u64) << (8 * (sign + layout.int));
        }
        // With the gap closed, the digits fill bytes `sign + point .. end`.
        let end = sign + point + layout.int + parts.fraction;
        Self {
            len: len as u32,
            int,
            fraction_places,
            fixed,
            pattern,
            close: 8 * point as u32,
            align: 8 * (8 - end) as u32,
            fraction: parts.fraction,
            negative: parts.negative,
        }
    }

    /// The field at `d[p..]` if it has this shape, and where the next
    /// field starts.
    #[inline(always)]
    fn read(&self, d: &[u8], p: usize) -> Option<(Parts, usize)> {
        let word = u64::from_le_bytes(d.get(p..p + 8)?.try_into().ok()?);
        // Digits become 0 to 9; any other byte is 10 or more, so it, or
        // it plus 0x76, has its top bit set. (A carry out of a byte over
        // 0x89 can only set the next byte's bit too: never clear one.)
        let t = word ^ 0x3030_3030_3030_3030;
        let not_digit = (t | t.wrapping_add(0x7676_7676_7676_7676)) & 0x8080_8080_8080_8080;
        let wrong = (not_digit & (self.int | self.fraction_places)) | ((word ^ self.pattern) & self.fixed);
        if self.len == 0 || wrong != 0 {
            return None;
        }
        let digits = (((t & self.int) << self.close) | (t & self.fraction_places)) << self.align;
        let parts = Parts { m: eight_digits(digits), fraction: self.fraction, negative: self.negative };
        Some((parts, p + self.len as usize))
    }
}

/// `2^52` as `f64`: an integer below it, put in the mantissa bits of this
/// number and this number taken away, is the integer as `f64`, exactly.
pub(super) const TWO_52: f64 = 4_503_599_627_370_496.0;

/// The fast lane of one chunk: each column's type and [`Shape`], and a row
/// being read.
///
/// A row is read whole where it can be (`avx512`). Else it is read in two
/// passes. The first finds each field and its parts (`Shape::read`, else
/// the byte loop); the second turns all of them into values in one loop
/// the compiler vectorises, two or more divisions by powers of ten at once.
/// Each field's division on its own was a third of the lane's time once
/// the shapes had made reading cheap: divisions follow one another through
/// a single divider, however independent.
pub struct Lane {
    /// `true`: the column is float, else integer.
    floats: Vec<bool>,
    shapes: Vec<Shape>,
    mantissas: Vec<u64>,
    /// `1 << 63` where the field is negative.
    signs: Vec<u64>,
    /// `10^fraction` per field.
    scales: Vec<f64>,
    /// The last row read: `i64` or `f64` bits per column.
    bits: Vec<u64>,
    /// The field delimiter and the record's line end byte.
    ends: (u8, u8),
    /// Whole rows at once, where the processor can ([`avx512`]).
    #[cfg(target_arch = "x86_64")]
    rows: Option<avx512::WholeRows>,
}

impl Lane {
    /// A lane for rows of `width` fields (`,` between them, `\n` after),
    /// all integer until [`Self::start`].
    pub fn new(width: usize) -> Self {
        Self::with_ends(width, b',', b'\n')
    }

    /// [`Self::new`] for another field delimiter or line end byte.
    pub fn with_ends(width: usize, delimiter: u8, newline: u8) -> Self {
        Self {
            floats: vec![false; width],
            shapes: vec![Shape::default(); width],
            mantissas: vec![0; width],
            signs: vec![0; width],
            scales: vec![1.0; width],
            bits: vec![0; width],
            ends: (delimiter, newline),
            #[cfg(target_arch = "x86_64")]
            rows: avx512::WholeRows::where_available(),
        }
    }

    /// [`Self::new`] that reads each field through its column's shape
    /// even where whole rows could be read at once: for the tests, which
    /// compare the two.
    #[cfg(test)]
    fn by_fields(width: usize) -> Self {
        Self {
            #[cfg(target_arch = "x86_64")]
            rows: None,
            ..Self::new(width)
        }
    }

    /// The columns' types (`true`: float), to be written before rows are
    /// read with them; the shapes are learned anew.
    pub fn start(&mut self) -> &mut [bool] {
        self.shapes.fill(Shape::default());
        #[cfg(target_arch = "x86_64")]
        if let Some(rows) = &mut self.rows {
            *rows = Default::default();
        }
        &mut self.floats
    }

    /// The row at `d[pos..]`, one plain number per column, into
    /// [`Self::bits`]; returns where the next row starts, or `None` (the
    /// bits partly written) when the row is not for this lane.
    #[inline]
    pub fn row(&mut self, d: &[u8], pos: usize) -> Option<usize> {
        #[cfg(target_arch = "x86_64")]
        if let Some(rows) = &self.rows
            && let Some(next) = rows.read(d, pos, &mut self.bits)
        {
            return Some(next);
        }
        let last = self.floats.len().checked_sub(1)?;
        let mut p = pos;
        let mut shaped = true;
        let fields = self.floats.iter().zip(&mut self.shapes).zip(&mut self.mantissas).zip(&mut self.signs);
        for (i, ((((&float, shape), mantissa), sign), scale)) in fields.zip(&mut self.scales).enumerate() {
            let (parts, next) = match shape.read(d, p) {
                // An integer `-0` is the general reader's to decide.
                Some((parts, next)) if float || !parts.negative || parts.m != 0 => (parts, next),
                _ => {
                    let (parts, next, layout) = scan_number(d, p, float, i == last, self.ends)?;
                    *shape = Shape::of(parts, layout);
                    shaped = false;
                    (parts, next)
                }
            };
            *mantissa = parts.m;
            *sign = (parts.negative as u64) << 63;
            *scale = POW10[parts.fraction];
            p = next;
        }
        self.convert();
        #[cfg(not(target_arch = "x86_64"))]
        let _ = shaped;
        #[cfg(target_arch = "x86_64")]
        if let Some(rows) = &mut self.rows {
            if shaped {
                rows.learn(&self.shapes, &self.floats);
            } else {
                rows.columns_changed();
            }
        }
        Some(p)
    }

    /// The values of the row's parts, as [`plain_number`] gives them.
    #[inline(always)]
    fn convert(&mut self) {
        let fields = self.bits.iter_mut().zip(&self.floats).zip(&self.mantissas).zip(&self.signs).zip(&self.scales);
        for ((((bits, &float), &m), &sign), &scale) in fields {
            // Float mantissas are below 10^15 < 2^52 (an integer's may not
            // be, but its float is not used). The division is the one of
            // `plain_number`, so are the bits; a negative value is the
            // positive one with its sign bit set.
            let value = (f64::from_bits(m | TWO_52.to_bits()) - TWO_52) / scale;
            let integer = if sign != 0 { m.wrapping_neg() } else { m };
            *bits = if float { value.to_bits() | sign } else { integer };
        }
    }

    /// The last row's values.
    pub fn bits(&self) -> &[u64] {
        &self.bits
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::{parse_float, parse_integer};
    use super::*;

    /// The lane either declines or agrees with the general parsers, bit
    /// for bit, on fields of every awkward shape.
    #[test]
    fn plain_numbers_agree_with_the_general_parsers() {
        let fields = [
            "0",
            "7",
            "-7",
            "-0",
            "+5",
            "007",
            "12.5",
            "-12.5",
            "0.2426",
            "5.",
            ".5",
            "-.5",
            ".",
            "-",
            "",
            "1.2.3",
            "1e5",
            " 1",
            "1 ",
            "123456789012345",
            "1234567890123456",
            "12345678.9012345",
            "1234567890.123456",
            "123456789012345678",
            "1234567890123456789",
            "-0.0",
            "0.1",
            "9007199254740993",
            "0x10",
        ];
        // The field alone, and followed by more bytes it must not take.
        for (f, pad) in fields.iter().flat_map(|f| [(f, ""), (f, "12345678,12345678")]) {
            for (float, last) in [(true, false), (true, true), (false, false), (false, true)] {
                let field = format!("{f}{}", if last { "\n" } else { "," });
                let text = format!("{field}{pad}");
                let got = plain_number(text.as_bytes(), 0, float, last);
                if let Some((bits, next)) = got {
                    assert_eq!(next, field.len(), "{f:?}");
                    if float {
                        assert_eq!(Some(bits), parse_float(f.as_bytes()).map(f64::to_bits), "{f:?}");
                    } else {
                        assert_eq!(Some(bits as i64), parse_integer(f.as_bytes()), "{f:?}");
                    }
                }
            }
        }
        // The lane does take the ordinary shapes.
        for f in ["0", "-7", "12.5", "0.2426", "5.", ".5", "123456789012345"] {
            assert!(plain_number(format!("{f},").as_bytes(), 0, true, false).is_some(), "{f:?}");
        }
        for f in ["0", "-7", "007", "123456789012345678"] {
            assert!(plain_number(format!("{f}\n").as_bytes(), 0, false, true).is_some(), "{f:?}");
        }
    }

    /// A column's shape, learned from one field, reads the next field
    /// only as the byte loop would: the same bits and the same end, or
    /// the byte loop reads it (and declines what it declines). Fields of
    /// every length around the 8 bytes a shape covers, followed by bytes
    /// the shape must not take for its own.
    #[test]
    fn shapes_read_only_what_the_byte_loop_reads() {
        let fields = [
            "0.3622", "0.4972", "0.36221", "1.3622", "-0.3622", "-0.0000", "10.5", "7", "-7", "-0", "0", "123",
            "12345", "123456", "1234567", "-123456", "1.234567", "12.34567", ".25", "-.25", "5.", "-5.", "00", ".",
            "1.2.3", "1e5", "+5", " 1", "", "3a", "0x10",
        ];
        let pads = ["", "0", "12345678", ".5,7", ",", "\n9"];
        let (mut taken, mut hits) = (0, 0);
        for learned in fields {
            for field in fields {
                for pad in pads {
                    for (float, last) in [(true, false), (true, true), (false, false), (false, true)] {
                        // One column, or the field then a second column.
                        let row = |f: &str| if last { format!("{f}\n{pad}") } else { format!("{f},1\n{pad}") };
                        let mut lane = Lane::new(if last { 1 } else { 2 });
                        lane.start().fill(float);
                        let _ = lane.row(row(learned).as_bytes(), 0);
                        let text = row(field);
                        let want = plain_number(text.as_bytes(), 0, float, last);
                        // A field laid out as the learned one, with 8 bytes
                        // to read, is read by the shape.
                        let layout = |f: &str| f.replace(|c: char| c.is_ascii_digit(), "d");
                        let alike = layout(learned) == layout(field) && field.len() < 8 && text.len() >= 8;
                        let shaped = lane.shapes[0].read(text.as_bytes(), 0).is_some();
                        if alike && plain_number(row(learned).as_bytes(), 0, float, last).is_some() {
                            assert!(shaped, "{learned:?} then {field:?}{pad:?}, float {float}");
                            hits += 1;
                        }
                        let got = lane.row(text.as_bytes(), 0);
                        assert_eq!(got.is_some(), want.is_some(), "{learned:?} then {field:?}{pad:?}, float {float}");
                        if let (Some(end), Some((bits, next))) = (got, want) {
                            assert_eq!(lane.bits()[0], bits, "{learned:?} then {field:?}{pad:?}, float {float}");
                            assert_eq!(end, if last { next } else { next + 2 }, "{learned:?} then {field:?}{pad:?}");
                            taken += 1;
                        }
                    }
                }
            }
        }
        // And the lane does take the ordinary fields, shaped or not.
        assert!(taken > 10_000 && hits > 200, "{taken} {hits}");
    }

    /// Whole rows read at once (where the processor can) give what the
    /// columns' shapes give, row for row: the same values, the same ends,
    /// the same rows declined. Rows of a few layouts, each column printed
    /// alike, with a field of another layout (longer, shorter, signed,
    /// `-0`, a letter, empty, 9 digits) now and then; tables of up to 20
    /// columns, so that some rows take two registers and some are too
    /// wide (more than 16 fields) to be read whole.
    #[test]
    fn whole_rows_read_what_the_fields_read() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        let (mut whole, mut long_rows) = (0, 0);
        for table in 0..60 {
            let width = 1 + next(if table % 3 == 0 { 20 } else { 8 }) as usize;
            // (integer digits, fraction digits or no point, sign); an
            // integer has a digit at least. The wide tables' fields are
            // longer, so that their rows run well into a second register.
            let long = table % 3 == 0;
            let formats: Vec<(u64, Option<u64>, bool)> = (0..width)
                .map(|_| {
                    if long {
                        return (1 + next(2), Some(2 + next(3)), next(4) == 0);
                    }
                    let fraction = (next(3) > 0).then(|| next(6));
                    (next(4).max(fraction.is_none() as u64), fraction, next(4) == 0)
                })
                .collect();
            let floats: Vec<bool> = formats.iter().map(|f| f.1.is_some() || next(2) == 0).collect();
            // Odd fields: about one field in 7, or (every other table) 70.
            let odds = if table % 2 == 0 { 40 } else { 400 };
            let field = |next: &mut dyn FnMut(u64) -> u64, (int, fraction, negative): (u64, Option<u64>, bool)| {
                let digits = |next: &mut dyn FnMut(u64) -> u64, n: u64| -> String {
                    (0..n).map(|_| char::from(b'0' + next(10) as u8)).collect()
                };
                let mut f = String::from(if negative { "-" } else { "" });
                f += &digits(next, int);
                if let Some(n) = fraction {
                    f += ".";
                    f += &digits(next, n);
                }
                match next(odds) {
                    0 => "-0".to_string(),
                    1 => "x".to_string(),
                    2 => String::new(),
                    3 => digits(next, 9),
                    4 => format!("-{f}"),
                    5 => f.chars().skip(1).collect(),
                    _ => f,
                }
            };
            let mut text = String::new();
            for _ in 0..300 {
                let row: Vec<String> = formats.iter().map(|&f| field(&mut next, f)).collect();
                text += &row.join(",");
                text += "\n";
            }
            let d = text.as_bytes();
            let (mut rows, mut fields) = (Lane::new(width), Lane::by_fields(width));
            rows.start().copy_from_slice(&floats);
            fields.start().copy_from_slice(&floats);
            let mut pos = 0;
            while pos < d.len() {
                #[cfg(target_arch = "x86_64")]
                let read_whole = rows.rows.as_ref().is_some_and(|r| r.read(d, pos, &mut [0; 20]).is_some());
                #[cfg(not(target_arch = "x86_64"))]
                let read_whole = false;
                let (got, want) = (rows.row(d, pos), fields.row(d, pos));
                let line = &text[pos..][..text[pos..].find('\n').unwrap()];
                assert_eq!(got, want, "{line:?}");
                if got.is_some() {
                    assert_eq!(rows.bits(), fields.bits(), "{line:?}");
                }
                whole += read_whole as usize;
                // Rows with digits in a second 64-byte register.
                long_rows += (read_whole && line.len() >= 72) as usize;
                // A declined row is the general reader's: skip it.
                pos += line.len() + 1;
            }
        }
        #[cfg(target_arch = "x86_64")]
        if avx512::WholeRows::where_available().is_some() {
            assert!(whole > 2_000 && long_rows > 100, "{whole} {long_rows}");
        }
    }

    #[test]
    fn a_row_needs_its_separators_in_place() {
        let mut lane = Lane::new(3);
        lane.start().copy_from_slice(&[false, true, true]);
        let d = b"3,0.5,-2\n4,1,2";
        assert_eq!(lane.row(d, 0), Some(9));
        assert_eq!(lane.bits(), [3, 0.5f64.to_bits(), (-2.0f64).to_bits()]);
        // The last row may end the input without a line end.
        assert_eq!(lane.row(d, 9), Some(d.len()));
        assert_eq!(lane.bits(), [4, 1.0f64.to_bits(), 2.0f64.to_bits()]);
        for bad in [&b"3,0.5\n"[..], b"3,0.5,1,2\n", b"3,0.5,1\r\n", b"3,,1\n", b"3,0.5,"] {
            assert_eq!(lane.row(bad, 0), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
