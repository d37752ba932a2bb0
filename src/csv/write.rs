//! Writing a table back as RFC 4180 CSV (`genesis parse --out`): comma,
//! `"` only where a field needs it (a comma, a quote, a line end), quotes
//! doubled, LF line ends, UTF-8, a header row. What was read from any
//! dialect comes out in the one every tool reads.
//!
//! Numbers are written as text that reads back to exactly the same value,
//! floats always with a point or an exponent, so a float column stays float
//! when read again; missing values are empty fields. A float is written in
//! fixed point with as many decimals as its column's previous value had,
//! where that reads back exactly (so `0.2820` stays `0.2820`, as sensor
//! data is printed), else with the fewest decimals that do, else by `ryu`
//! (shortest round trip, with an exponent where needed). The check is the
//! parser's own fast path: `m / 10^k` with `m < 2^53` is correctly rounded,
//! so if it gives the value back, the text `m·10^-k` reads as that value in
//! any correct parser. Digits are written into small fixed buffers and
//! copied whole. Rows are formatted in blocks on all cores and
//! written in order.

use std::io::Write;

use rayon::prelude::*;

use super::plain::POW10;
use super::table::{Reject, Table, Values};

/// Most decimals tried in fixed point (`m` stays below 2^53).
const MAX_DECIMALS: usize = 15;

/// `m` with `k` decimals if `m / 10^k` is exactly `|v|` (see the module).
#[inline(always)]
fn fixed(magnitude: f64, k: usize) -> Option<u64> {
    const TWO_52: f64 = 4_503_599_627_370_496.0;
    let x = magnitude * POW10[k];
    // Rounded to an integer without a libm call: above 2^52 every double
    // is one already.
    let m = if x < TWO_52 { (x + TWO_52) - TWO_52 } else { x };
    (m < 9.0e15 && m / POW10[k] == magnitude).then_some(m as u64)
}

/// Appends the `len` bytes `fill` writes, from the last to the first,
/// straight into the vector's spare room: numbers are built in place (a
/// scratch buffer read back whole stalled on store forwarding, and a
/// `memcpy` call per number cost more than formatting it).
#[inline(always)]
fn push_backwards(out: &mut Vec<u8>, len: usize, fill: impl FnOnce(&mut [std::mem::MaybeUninit<u8>])) {
    out.reserve(len);
    let at = out.len();
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote all `len` bytes (each caller writes every
    // place of the slice it is given).
    unsafe { out.set_len(at + len) };
}

/// `"00" "01" … "99"`.
const PAIRS: [u8; 200] = {
    let mut t = [0u8; 200];
    let mut i = 0;
    while i < 100 {
        t[2 * i] = b'0' + (i / 10) as u8;
        t[2 * i + 1] = b'0' + (i % 10) as u8;
        i += 1;
    }
    t
};

/// Decimal digits of `m` (at least one).
#[inline(always)]
fn digit_count(m: u64) -> usize {
    m.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// The eight decimal digits of `m < 10^8` (leading zeros included) as
/// ASCII, the first in the lowest byte: SWAR, two halves of four digits,
/// then pairs, then digits, each split by a multiply and a shift (exact
/// in these ranges: `x / 100` as `x · 10486 >> 20` for `x < 10^4`, `x / 10`
/// as `x · 103 >> 10` for `x < 100`).
#[inline(always)]
fn eight_digits(m: u32) -> u64 {
    let merged = (m / 10_000) as u64 | (((m % 10_000) as u64) << 32);
    let hundreds = ((merged * 10_486) >> 20) & 0x0000_007F_0000_007F;
    let pairs = ((merged - 100 * hundreds) << 16) | hundreds;
    let tens = ((pairs * 103) >> 10) & 0x000F_000F_000F_000F;
    let ones = pairs - 10 * tens;
    (tens | (ones << 8)) + 0x3030_3030_3030_3030
}

/// Appends a number below 10^8 written with `k < 8` decimals: `m`'s
/// digits (at least `k + 1`) with a point before the last `k`, or `m`
/// itself (`k = None`, an integer). Three unaligned 8-byte stores into
/// the vector's spare room, no loop.
#[inline(always)]
fn push_short(out: &mut Vec<u8>, m: u32, k: Option<usize>, negative: bool) {
    let d = eight_digits(m);
    let digits = digit_count(m as u64).max(k.map_or(1, |k| k + 1));
    let sign = negative as usize;
    out.reserve(24);
    // SAFETY: `reserve` made room for 24 bytes past the length; the stores
    // below reach at most 1 + 8 + 1 + 8 = 18 bytes in, and only the text's
    // own bytes become part of the vector. `digits` is 1 to 8 and `k` 1 to
    // 7 where shifted by, so no shift reaches 64.
    unsafe {
        let p = out.as_mut_ptr().add(out.len());
        *p = b'-';
        let int = digits - k.unwrap_or(0);
        std::ptr::write_unaligned(p.add(sign).cast::<u64>(), (d >> (8 * (8 - digits))).to_le());
        let len = match k {
            None => sign + digits,
            Some(0) => {
                *p.add(sign + int) = b'.';
                *p.add(sign + int + 1) = b'0';
                sign + int + 2
            }
            Some(k) => {
                *p.add(sign + int) = b'.';
                std::ptr::write_unaligned(p.add(sign + int + 1).cast::<u64>(), (d >> (8 * (8 - k))).to_le());
                sign + digits + 1
            }
        };
        out.set_len(out.len() + len);
    }
}

/// Appends the integer `v`.
#[inline(always)]
fn push_integer(out: &mut Vec<u8>, v: i64) {
    if v.unsigned_abs() < 100_000_000 {
        return push_short(out, v.unsigned_abs() as u32, None, v < 0);
    }
    let (mut m, sign) = (v.unsigned_abs(), (v < 0) as usize);
    let len = sign + digit_count(m);
    push_backwards(out, len, |text| {
        for place in text[sign..].iter_mut().rev() {
            place.write(b'0' + (m % 10) as u8);
            m /= 10;
        }
        if sign == 1 {
            text[0].write(b'-');
        }
    });
}

/// Appends the float `v` (finite); `decimals` is the column's last count,
/// updated.
#[inline]
fn push_float(out: &mut Vec<u8>, v: f64, decimals: &mut usize, floats: &mut ryu::Buffer) {
    let magnitude = v.abs();
    let found = fixed(magnitude, *decimals)
        .map(|m| (m, *decimals))
        .or_else(|| (0..=MAX_DECIMALS).find_map(|k| fixed(magnitude, k).map(|m| (m, k))));
    let Some((mut m, k)) = found else {
        out.extend_from_slice(floats.format_finite(v).as_bytes());
        return;
    };
    *decimals = k;
    if m < 100_000_000 && k < 8 {
        return push_short(out, m as u32, Some(k), v.is_sign_negative());
    }
    // `m`'s digits (at least `k + 1`) with a point before the last `k`;
    // `.0` after them for `k = 0`.
    let sign = v.is_sign_negative() as usize;
    let digits = digit_count(m).max(k + 1);
    let len = sign + digits + 1 + (k == 0) as usize;
    push_backwards(out, len, |text| {
        let mut i = len;
        if k == 0 {
            i -= 2;
            text[i].write(b'.');
            text[i + 1].write(b'0');
        } else {
            // The fraction, two digits at a time (half the chain of
            // divisions), then the point.
            let mut left = k;
            while left >= 2 {
                let pair = (m % 100) as usize * 2;
                m /= 100;
                i -= 2;
                text[i].write(PAIRS[pair]);
                text[i + 1].write(PAIRS[pair + 1]);
                left -= 2;
            }
            if left == 1 {
                i -= 1;
                text[i].write(b'0' + (m % 10) as u8);
                m /= 10;
            }
            i -= 1;
            text[i].write(b'.');
        }
        for place in text[sign..i].iter_mut().rev() {
            place.write(b'0' + (m % 10) as u8);
            m /= 10;
        }
        if sign == 1 {
            text[0].write(b'-');
        }
    });
}

/// Rows formatted per task.
const BLOCK: usize = 16 << 10;

/// Appends `field` to `out`, quoted if it needs to be.
fn push_text(out: &mut Vec<u8>, field: &str) {
    let bytes = field.as_bytes();
    if memchr::memchr3(b',', b'"', b'\n', bytes).is_none() && memchr::memchr(b'\r', bytes).is_none() {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for part in field.split('"').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
    out.push(b'"');
}

/// Rows `rows` of `table`, formatted into `out` (cleared first).
fn block(table: &Table, rows: std::ops::Range<usize>, out: &mut Vec<u8>) {
    out.clear();
    out.reserve(rows.len() * table.columns.len() * 12);
    let mut floats = ryu::Buffer::new();
    // Each column's next missing row, walked alongside.
    let mut missing: Vec<usize> =
        table.columns.iter().map(|c| c.missing.partition_point(|&m| m < rows.start)).collect();
    let mut decimals = vec![0usize; table.columns.len()];
    for r in rows {
        let cells = table.columns.iter().zip(&mut missing).zip(&mut decimals);
        for (i, ((column, next), decimals)) in cells.enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if column.missing.get(*next) == Some(&r) {
                *next += 1;
                continue;
            }
            match &column.values {
                Values::Integer(v) => push_integer(out, v[r]),
                Values::Float(v) => push_float(out, v[r], decimals, &mut floats),
                Values::Text(t) => push_text(out, t.get(r)),
            }
        }
        out.push(b'\n');
    }
}

/// Writes `table` as RFC 4180 CSV.
pub fn write_table(table: &Table, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    let mut header = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            header.push(b',');
        }
        push_text(&mut header, &c.name);
    }
    header.push(b'\n');
    out.write_all(&header)?;
    // A few blocks per thread at a time, in buffers reused from batch to
    // batch (fresh ones cost a page fault per 4 KiB): bounded memory.
    let per_batch = 4 * rayon::current_num_threads();
    let mut buffers: Vec<Vec<u8>> = (0..per_batch).map(|_| Vec::new()).collect();
    for start in (0..table.rows).step_by(BLOCK * per_batch) {
        let end = (start + BLOCK * per_batch).min(table.rows);
        buffers.par_iter_mut().enumerate().for_each(|(i, buffer)| {
            let from = (start + i * BLOCK).min(end);
            block(table, from..(from + BLOCK).min(end), buffer);
        });
        for b in &buffers {
            out.write_all(b)?;
        }
    }
    Ok(())
}

/// Writes the rows that did not fit the header: `line,column,reason,raw`.
pub fn write_rejects(rejects: &[Reject], width: usize, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    let mut text = b"line,column,reason,raw\n".to_vec();
    for r in rejects {
        text.extend_from_slice(format!("{},{},", r.line, r.column).as_bytes());
        push_text(&mut text, &r.reason(width));
        text.push(b',');
        push_text(&mut text, &r.raw);
        text.push(b'\n');
    }
    out.write_all(&text)
}

#[cfg(test)]
mod tests {
    use super::super::table::{ParseOptions, parse};
    use super::*;

    #[test]
    fn fields_are_quoted_only_where_needed() {
        let mut out = Vec::new();
        push_text(&mut out, "plain");
        out.push(b'|');
        push_text(&mut out, "a,b");
        out.push(b'|');
        push_text(&mut out, "say \"hi\"\r\n");
        assert_eq!(String::from_utf8(out).unwrap(), "plain|\"a,b\"|\"say \"\"hi\"\"\r\n\"");
    }

    /// Every float written reads back bit for bit (the standard library's
    /// parser as the oracle), on decimals of every length and on values
    /// with no short decimal form.
    #[test]
    fn floats_read_back_exactly() {
        let mut floats = ryu::Buffer::new();
        let mut state = 7u64;
        let mut decimals = 0;
        for i in 0..200_000 {
            state = crate::rng::splitmix64(state);
            let v = match i % 4 {
                0 => f64::from_bits(state) % 1e6,
                1 => (state % 1_000_000) as f64 / POW10[(state >> 40) as usize % 8],
                2 => -((state % 100_000) as f64) / 1e4,
                _ => f64::from_bits((state >> 2) | 0x3000_0000_0000_0000),
            };
            if !v.is_finite() {
                continue;
            }
            let mut out = Vec::new();
            push_float(&mut out, v, &mut decimals, &mut floats);
            let text = std::str::from_utf8(&out).unwrap();
            assert!(text.contains(['.', 'e', 'E']), "{text} would read back as an integer");
            assert_eq!(text.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{v:e} written as {text}");
        }
        let mut out = Vec::new();
        decimals = 4;
        for v in [0.282, -0.0, 5.0, 1e-300] {
            push_float(&mut out, v, &mut decimals, &mut floats);
            out.push(b' ');
        }
        assert_eq!(String::from_utf8(out).unwrap(), "0.2820 -0.0000 5.0000 1e-300 ");
        let mut out = Vec::new();
        decimals = 0;
        for v in [5.0, -0.0, 123.0, 99_999_999.0, 123_456_789.0, -0.5] {
            push_float(&mut out, v, &mut decimals, &mut floats);
            out.push(b' ');
        }
        assert_eq!(String::from_utf8(out).unwrap(), "5.0 -0.0 123.0 99999999.0 123456789.0 -0.5 ");
    }

    #[test]
    fn eight_digits_by_swar_are_the_digits() {
        let mut state = 11u64;
        for m in
            [0u32, 7, 10, 99, 100, 9_999, 10_000, 12_345_678, 99_999_999].into_iter().chain((0..100_000).map(|_| {
                state = crate::rng::splitmix64(state);
                (state % 100_000_000) as u32
            }))
        {
            assert_eq!(eight_digits(m).to_le_bytes(), *format!("{m:08}").as_bytes(), "{m}");
        }
    }

    #[test]
    fn integers_are_written_as_the_standard_library_writes_them() {
        let mut state = 3u64;
        for v in [0, -1, 9, 10, i64::MIN, i64::MAX].into_iter().chain((0..10_000).map(|_| {
            state = crate::rng::splitmix64(state);
            (state as i64) >> (state % 60)
        })) {
            let mut out = Vec::new();
            push_integer(&mut out, v);
            assert_eq!(String::from_utf8(out).unwrap(), v.to_string());
        }
    }

    #[test]
    fn a_table_reads_back_equal() {
        let text = "n;x;name\n3;1.0;bob\n-1;;\"a;b, \"\"c\"\"\"\n;2.5e-7;\n";
        let table = parse(text.as_bytes(), ParseOptions::default()).unwrap();
        let mut out = Vec::new();
        write_table(&table, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "n,x,name\n3,1.0,bob\n-1,,\"a;b, \"\"c\"\"\"\n,0.00000025,\n"
        );
        let again = parse(&out, ParseOptions::default()).unwrap();
        assert_eq!(again.columns, table.columns);
    }
}
