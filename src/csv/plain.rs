//! The fast lane: a row of plain numbers found and parsed in one pass.
//!
//! Most numeric CSV (sensor traces, agent lists) is nothing but digits, a
//! sign, a decimal point, commas and line ends. For such a row the general
//! reader does every byte twice: once to find where the field ends, once to
//! turn it into a number. Here each byte is looked at once: the digits are
//! accumulated as they are scanned and the byte that stops them must be the
//! separator the row expects.
//!
//! Anything else (an empty field, spaces, an exponent, `\r` before the line
//! end, a field too long for the exact path, a row of the wrong width) is
//! not decided here: [`plain_row`] returns `None` and the caller reads the
//! row with the general reader, whose rules (errors, type changes, missing
//! values) stay the only ones. So every value this lane produces is bit for
//! bit the value [`super::table::parse_integer`] or
//! [`super::table::parse_float`] would give for the same field.

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

/// One field at `d[p..]` as a plain number: `-`? digits (`.` digits)?,
/// ended by `,` or, for the row's last field, by `\n` or the end of `d`.
/// Returns the value's bits (`i64` or `f64`, as `float` asks) and where the
/// next field starts.
#[inline(always)]
pub fn plain_number(d: &[u8], p: usize, float: bool, last: bool) -> Option<(u64, usize)> {
    let negative = d.get(p) == Some(&b'-');
    let start = p + negative as usize;
    let (mut m, mut p) = digits(d, start, 0);
    let mut count = p - start;
    let mut fraction = 0;
    if d.get(p) == Some(&b'.') {
        if !float {
            return None;
        }
        let (mf, q) = digits(d, p + 1, m);
        fraction = q - (p + 1);
        count += fraction;
        m = mf;
        p = q;
    }
    let limit = if float { FLOAT_DIGITS } else { INTEGER_DIGITS };
    if count == 0 || count > limit {
        return None;
    }
    let next = match d.get(p) {
        Some(b',') if !last => p + 1,
        Some(b'\n') if last => p + 1,
        None if last => p,
        _ => return None,
    };
    let bits = if float {
        // `m < 10^15 < 2^53`: converted exactly, and as `i64` it is one instruction.
        let v = m as i64 as f64 / POW10[fraction];
        (if negative { -v } else { v }).to_bits()
    } else {
        if negative && m == 0 {
            return None; // "-0" is a float: the general reader decides
        }
        (if negative { -(m as i64) } else { m as i64 }) as u64
    };
    Some((bits, next))
}

/// A whole row at `d[pos..]` of plain numbers, one per entry of `floats`
/// (`true`: the column is float, else integer), into `out`; returns where
/// the next row starts, or `None` (with `out` partly written) when the row
/// is not for this lane.
#[inline]
pub fn plain_row(d: &[u8], pos: usize, floats: &[bool], out: &mut [u64]) -> Option<usize> {
    let last = floats.len().checked_sub(1)?;
    let mut p = pos;
    for (i, (&float, slot)) in floats.iter().zip(out.iter_mut()).enumerate() {
        let (bits, next) = plain_number(d, p, float, i == last)?;
        *slot = bits;
        p = next;
    }
    Some(p)
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

    #[test]
    fn a_row_needs_its_separators_in_place() {
        let floats = [false, true, true];
        let mut out = [0u64; 3];
        let d = b"3,0.5,-2\n4,1,2";
        assert_eq!(plain_row(d, 0, &floats, &mut out), Some(9));
        assert_eq!(out, [3, 0.5f64.to_bits(), (-2.0f64).to_bits()]);
        // The last row may end the input without a line end.
        assert_eq!(plain_row(d, 9, &floats, &mut out), Some(d.len()));
        assert_eq!(out, [4, 1.0f64.to_bits(), 2.0f64.to_bits()]);
        for bad in [&b"3,0.5\n"[..], b"3,0.5,1,2\n", b"3,0.5,1\r\n", b"3,,1\n", b"3,0.5,"] {
            assert_eq!(plain_row(bad, 0, &floats, &mut out), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
