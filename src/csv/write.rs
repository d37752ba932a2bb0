//! Writing a table back as RFC 4180 CSV (`genesis parse --out`): comma,
//! `"` only where a field needs it (a comma, a quote, a line end), quotes
//! doubled, LF line ends, UTF-8, a header row. What was read from any
//! dialect comes out in the one every tool reads.
//!
//! Numbers are written as text that reads back to exactly the same value,
//! floats always with a point or an exponent, so a float column stays float
//! when read again; missing values are empty fields. A float column has
//! one count of decimals, the one most of its first 1,024 values need (so
//! a column printed with `%.4f` comes back as it was, `0.2820` included);
//! a value is written with that many where they read back exactly, else
//! with the fewest that do, else by `ryu` (shortest round trip, with an
//! exponent where needed). The check is the parser's own fast path:
//! `m / 10^k` with `m < 2^53` is correctly rounded, so if it gives the
//! value back, the text `m·10^-k` reads as that value in any correct
//! parser.
//!
//! Speed (the target is 1 GB/s): rows are cut into blocks formatted on
//! all cores, written in order while the next batch of blocks is being
//! formatted. Within a block, 64 rows at a time are formatted column by
//! column into fixed 40-byte slots, in passes the compiler vectorises for
//! the widest instruction set there is (the exactness check, then eight
//! digits at once by SWAR), and the rows are then assembled by fixed-size
//! copies out of the slots.

use std::io::Write;

use rayon::prelude::*;

use super::plain::{POW10, TWO_52};
use super::table::{Column, Reject, Table, TextValues, Values};
use crate::sim::parallel::Isa;

/// Most decimals tried in fixed point (`m` stays below 2^53).
const MAX_DECIMALS: usize = 15;

/// `m` with `k` decimals if `m / 10^k` is exactly `|v|` (see the module).
#[inline(always)]
fn fixed(magnitude: f64, k: usize) -> Option<u64> {
    let x = magnitude * POW10[k];
    // Rounded to an integer without a libm call: above 2^52 every double
    // is one already.
    let m = if x < TWO_52 { (x + TWO_52) - TWO_52 } else { x };
    (m < 9.0e15 && m / POW10[k] == magnitude).then_some(m as u64)
}

/// One formatted number: the longest text is 24 bytes (`ryu`'s), and the
/// digit stores below reach at most 34 bytes in.
type Slot = [u8; 40];

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

/// The sixteen decimal digits of `m < 10^16`, leading zeros included,
/// the first in the lowest byte.
#[inline(always)]
fn sixteen_digits(m: u64) -> u128 {
    eight_digits((m / 100_000_000) as u32) as u128 | (eight_digits((m % 100_000_000) as u32) as u128) << 64
}

/// Writes `m`'s digits (at least `k + 1`) with a point before the last
/// `k` (`k = 0`: `.0` after them; `k = None`: an integer) after a `-` if
/// `negative`, into the slot's first bytes; returns the length. Whole
/// registers are stored and later bytes overwritten, with no loop over
/// the digits.
#[inline(always)]
fn fixed_point(slot: &mut Slot, m: u64, k: Option<usize>, negative: bool) -> usize {
    if m < 100_000_000 && k.is_none_or(|k| k < 8) {
        return short_point(slot, eight_digits(m as u32), m as u32, k, negative);
    }
    let sign = negative as usize;
    slot[0] = b'-';
    let digits = digit_count(m).max(k.map_or(1, |k| k + 1));
    let int = digits - k.unwrap_or(0);
    if digits <= 16 {
        let d = sixteen_digits(m);
        slot[sign..sign + 16].copy_from_slice(&(d >> (8 * (16 - digits))).to_le_bytes());
        match k {
            None => return sign + digits,
            Some(0) => {}
            Some(k) => {
                slot[sign + int] = b'.';
                slot[sign + int + 1..sign + int + 17].copy_from_slice(&(d >> (8 * (16 - k))).to_le_bytes());
                return sign + digits + 1;
            }
        }
    } else {
        // 17 to 20 digits: integers only (fixed-point `m` stays below 2^53).
        let mut rest = m;
        for place in slot[sign..sign + digits].iter_mut().rev() {
            *place = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        return sign + digits;
    }
    slot[sign + int..sign + int + 2].copy_from_slice(b".0");
    sign + int + 2
}

/// [`fixed_point`] for `m < 10^8` and `k < 8`, given `m`'s
/// [`eight_digits`] `d`: three stores, no loop.
#[inline(always)]
fn short_point(slot: &mut Slot, d: u64, m: u32, k: Option<usize>, negative: bool) -> usize {
    let sign = negative as usize;
    slot[0] = b'-';
    let digits = (m.checked_ilog10().map_or(1, |l| l as usize + 1)).max(k.map_or(1, |k| k + 1)).min(8);
    let int = digits - k.unwrap_or(0).min(digits - 1);
    slot[sign..sign + 8].copy_from_slice(&(d >> (8 * (8 - digits))).to_le_bytes());
    match k {
        None => sign + digits,
        Some(0) => {
            slot[sign + int..sign + int + 2].copy_from_slice(b".0");
            sign + int + 2
        }
        Some(k) => {
            slot[sign + int] = b'.';
            slot[sign + int + 1..sign + int + 9].copy_from_slice(&(d >> (8 * (8 - k.min(7)))).to_le_bytes());
            sign + digits + 1
        }
    }
}

/// The fewest decimals that write `magnitude` exactly, with its `m`.
fn fewest_decimals(magnitude: f64) -> Option<(u64, usize)> {
    (0..=MAX_DECIMALS).find_map(|k| fixed(magnitude, k).map(|m| (m, k)))
}

/// A float column's decimals: the count most of its first values need
/// (ties to the smaller; a value that needs more gets its own), so a column printed with `%.4f` comes back with
/// four decimals on every value, `0.2820` included.
fn column_decimals(values: &[f64]) -> usize {
    let mut counts = [0u32; MAX_DECIMALS + 1];
    // Missing values are NaN and have no count.
    for v in values.iter().take(1024).filter(|v| !v.is_nan()) {
        if let Some((_, k)) = fewest_decimals(v.abs()) {
            counts[k] += 1;
        }
    }
    // `max_by_key` keeps the last of equals: the smaller count of decimals.
    (0..=MAX_DECIMALS).rev().max_by_key(|&k| counts[k]).filter(|&k| counts[k] > 0).unwrap_or(0)
}

/// Writes the finite `v` into `slot`, with `k` decimals where that reads
/// back exactly, else the fewest that do, else as `ryu` writes it.
#[inline(always)]
fn float_slot(slot: &mut Slot, v: f64, k: usize, floats: &mut ryu::Buffer) -> usize {
    match fixed(v.abs(), k) {
        Some(m) => fixed_point(slot, m, Some(k), v.is_sign_negative()),
        None => float_slot_cold(slot, v, floats),
    }
}

#[cold]
#[inline(never)]
fn float_slot_cold(slot: &mut Slot, v: f64, floats: &mut ryu::Buffer) -> usize {
    if let Some((m, k)) = fewest_decimals(v.abs()) {
        return fixed_point(slot, m, Some(k), v.is_sign_negative());
    }
    let text = floats.format_finite(v).as_bytes();
    slot[..text.len()].copy_from_slice(text);
    text.len()
}

/// Appends `field` to `out`, quoted if it needs to be.
fn push_text(out: &mut Vec<u8>, field: &str) {
    push_with(out, field, put_text);
}

/// Appends `field` to `out`, quoted whether or not it needs to be.
fn push_text_quoted(out: &mut Vec<u8>, field: &str) {
    push_with(out, field, put_quoted);
}

/// Appends `field` to `out` as `put` ([`put_text`] or [`put_quoted`])
/// writes it.
fn push_with(out: &mut Vec<u8>, field: &str, put: unsafe fn(*mut u8, &[u8]) -> *mut u8) {
    out.reserve(2 * field.len() + 2);
    // SAFETY: room for the quoted field was just reserved, as `put` needs.
    unsafe {
        let end = put(out.as_mut_ptr().add(out.len()), field.as_bytes());
        out.set_len(end.offset_from(out.as_ptr()) as usize);
    }
}

/// Writes `field`, quoted if it needs to be, at `p`; returns the end.
///
/// # Safety
/// `p` must have room for `2 · field.len() + 2` bytes.
#[inline]
unsafe fn put_text(p: *mut u8, field: &[u8]) -> *mut u8 {
    unsafe {
        if memchr::memchr3(b',', b'"', b'\n', field).is_none() && memchr::memchr(b'\r', field).is_none() {
            std::ptr::copy_nonoverlapping(field.as_ptr(), p, field.len());
            return p.add(field.len());
        }
        put_quoted(p, field)
    }
}

/// Writes `field` quoted at `p`; returns the end.
///
/// # Safety
/// `p` must have room for `2 · field.len() + 2` bytes.
#[inline]
unsafe fn put_quoted(mut p: *mut u8, field: &[u8]) -> *mut u8 {
    unsafe {
        *p = b'"';
        p = p.add(1);
        for &b in field {
            *p = b;
            p = p.add(1);
            if b == b'"' {
                *p = b'"';
                p = p.add(1);
            }
        }
        *p = b'"';
        p.add(1)
    }
}

/// Rows formatted per task.
const BLOCK: usize = 4 << 10;

/// Rows formatted column by column before they are assembled: one run's
/// slots (64 rows × 10 columns × 40 bytes = 25 KiB for the trace) stay in
/// the core's first-level cache until the rows are assembled from them
/// (runs of 512, 200 KiB, took 10% longer; 32, 3% longer).
const RUN: usize = 64;

/// A task's reused room: each number column's slots and lengths for a
/// run, and one column's numbers on their way to them.
#[derive(Default)]
struct Scratch {
    slots: Vec<Slot>,
    lens: Vec<u8>,
    /// Each value's digits as a number below 10^8, or [`LONG`].
    magnitudes: Vec<u64>,
    /// Their [`eight_digits`].
    digits: Vec<u64>,
}

/// A value that takes the general path (see [`number_run`]).
const LONG: u64 = u64::MAX;

/// Formats one run of a number column into its slots; a missing value is
/// an empty field. In three passes, each a short loop whose iterations do
/// not wait on one another, so the processor keeps many in flight (one
/// loop doing it all was bound by the chain of each number: its check,
/// division, conversion and SWAR multiplies): the magnitude of every value
/// that fits eight digits, their digits, then the slots.
fn number_run(
    column: &Column,
    rows: std::ops::Range<usize>,
    decimals: usize,
    at: usize,
    scratch: &mut Scratch,
    isa: Isa,
) {
    // Built for the widest instruction set there is: the first two passes
    // vectorise there (64-bit multiplies, conversions), and the results are
    // the same bits in every build.
    crate::sim::parallel::vectorised_for(
        isa,
        #[inline(always)]
        || {
            let n = rows.len();
            let (slots, lens) = (&mut scratch.slots[at..at + n], &mut scratch.lens[at..at + n]);
            let (magnitudes, digits) = (&mut scratch.magnitudes[..n], &mut scratch.digits[..n]);
            let mut floats = ryu::Buffer::new();
            match &column.values {
                Values::Integer(v) => {
                    let v = &v[rows.clone()];
                    for (m, &v) in magnitudes.iter_mut().zip(v) {
                        *m = if v.unsigned_abs() < 100_000_000 { v.unsigned_abs() } else { LONG };
                    }
                    for (d, &m) in digits.iter_mut().zip(&*magnitudes) {
                        *d = eight_digits(m as u32);
                    }
                    for (i, &v) in v.iter().enumerate() {
                        lens[i] = match magnitudes[i] {
                            LONG => fixed_point(&mut slots[i], v.unsigned_abs(), None, v < 0),
                            m => short_point(&mut slots[i], digits[i], m as u32, None, v < 0),
                        } as u8;
                    }
                }
                Values::Float(v) => {
                    let v = &v[rows.clone()];
                    let scale = POW10[decimals];
                    // [`fixed`]'s check, written out without an `Option` so it
                    // vectorises (above 2^52 the rounding is off, but so is
                    // `rounded < 1e8`). Missing values (NaN) fail it and are
                    // emptied below.
                    for (m, &v) in magnitudes.iter_mut().zip(v) {
                        let (magnitude, x) = (v.abs(), v.abs() * scale);
                        let rounded = (x + TWO_52) - TWO_52;
                        *m = if decimals < 8 && rounded < 1e8 && rounded / scale == magnitude {
                            rounded as u64
                        } else {
                            LONG
                        };
                    }
                    for (d, &m) in digits.iter_mut().zip(&*magnitudes) {
                        *d = eight_digits(m as u32);
                    }
                    for (i, &v) in v.iter().enumerate() {
                        lens[i] = match magnitudes[i] {
                            LONG if v.is_nan() => 0,
                            LONG => float_slot(&mut slots[i], v, decimals, &mut floats),
                            m => short_point(&mut slots[i], digits[i], m as u32, Some(decimals), v.is_sign_negative()),
                        } as u8;
                    }
                }
                Values::Text(_) => unreachable!("text is copied as the rows are assembled"),
            }
        },
    );
    let first = column.missing.partition_point(|&m| m < rows.start);
    for &m in column.missing[first..].iter().take_while(|&&m| m < rows.end) {
        scratch.lens[at + m - rows.start] = 0;
    }
}

/// Rows `rows` of `table`, formatted into `out` (cleared first): each run
/// of rows column by column into slots (one tight loop per column, no
/// choice per cell), then its rows assembled from them by fixed-size
/// copies.
fn block(
    table: &Table,
    decimals: &[usize],
    rows: std::ops::Range<usize>,
    scratch: &mut Scratch,
    out: &mut Vec<u8>,
    isa: Isa,
) {
    out.clear();
    let width = table.columns.len();
    scratch.slots.resize(width * RUN, [0; 40]);
    scratch.lens.resize(width * RUN, 0);
    scratch.magnitudes.resize(RUN, 0);
    scratch.digits.resize(RUN, 0);
    let texts: Vec<Option<&TextValues>> =
        table.columns.iter().map(|c| if let Values::Text(t) = &c.values { Some(t) } else { None }).collect();
    for start in rows.clone().step_by(RUN) {
        let run = start..(start + RUN).min(rows.end);
        let n = run.len();
        // The most this run can take: 32 bytes and a comma a number (the
        // copies below store whole 16-byte halves), every text byte
        // doubled in quotes, and the copies' overrun.
        let mut room = 32 + n * width * 33;
        for (c, column) in table.columns.iter().enumerate() {
            match texts[c] {
                Some(t) => room += 2 * (t.parts().1[run.end] - t.parts().1[run.start]) + 3 * n,
                None => number_run(column, run.clone(), decimals[c], c * RUN, scratch, isa),
            }
        }
        out.reserve(room);
        // SAFETY: `room` bounds every byte written from `out.len()` on
        // (numbers are at most 24 bytes, copied as up to two 16-byte
        // halves from slots of 40; text as `put_text` needs), and the
        // length is set to the bytes written.
        unsafe {
            let mut p = out.as_mut_ptr().add(out.len());
            for r in 0..n {
                for (c, text) in texts.iter().enumerate() {
                    match text {
                        None => {
                            let len = *scratch.lens.get_unchecked(c * RUN + r) as usize;
                            let slot = scratch.slots.as_ptr().add(c * RUN + r).cast::<u8>();
                            std::ptr::copy_nonoverlapping(slot, p, 16);
                            if len > 16 {
                                std::ptr::copy_nonoverlapping(slot.add(16), p.add(16), 16);
                            }
                            p = p.add(len);
                        }
                        Some(t) if !table.columns[c].is_missing(run.start + r) => {
                            p = put_text(p, t.get(run.start + r).as_bytes())
                        }
                        Some(_) => {}
                    }
                    *p = b',';
                    p = p.add(1);
                }
                *p.sub(1) = b'\n';
            }
            out.set_len(p.offset_from(out.as_ptr()) as usize);
        }
    }
}

/// Writes `table` as RFC 4180 CSV.
pub fn write_table(table: &Table, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    write_table_for(table, out, Isa::best())
}

/// [`write_table`] with its loops built for `isa` (the same bytes in
/// every build).
fn write_table_for(table: &Table, out: &mut (impl Write + ?Sized), isa: Isa) -> std::io::Result<()> {
    let mut header = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            header.push(b',');
        }
        if i == 0 && c.name.starts_with('\u{feff}') {
            // At the start of the file, a reader would take it for a
            // byte-order mark and drop it; quoted, it stays a name.
            push_text_quoted(&mut header, &c.name);
        } else {
            push_text(&mut header, &c.name);
        }
    }
    header.push(b'\n');
    out.write_all(&header)?;
    if table.columns.is_empty() {
        return Ok(());
    }
    let decimals: Vec<usize> =
        table.columns.iter().map(|c| if let Values::Float(v) = &c.values { column_decimals(v) } else { 0 }).collect();
    // Batches of a few blocks per thread, in two sets of buffers reused
    // from batch to batch (fresh ones cost a page fault per 4 KiB), so
    // memory stays bounded: one set is written out while the other is
    // being formatted by the rest of the pool.
    let per_batch = 4 * rayon::current_num_threads();
    let format = |batch: usize, set: &mut Vec<(Scratch, Vec<u8>)>| {
        let start = batch * BLOCK * per_batch;
        let end = (start + BLOCK * per_batch).min(table.rows);
        set.par_iter_mut().enumerate().for_each(|(i, (scratch, buffer))| {
            let from = (start + i * BLOCK).min(end);
            block(table, &decimals, from..(from + BLOCK).min(end), scratch, buffer, isa);
        });
    };
    let new_set = || (0..per_batch).map(|_| (Scratch::default(), Vec::new())).collect::<Vec<_>>();
    let (mut ready, mut next) = (new_set(), new_set());
    let batches = table.rows.div_ceil(BLOCK * per_batch);
    if batches > 0 {
        format(0, &mut ready);
    }
    for batch in 1..=batches {
        let written = rayon::in_place_scope(|scope| {
            if batch < batches {
                scope.spawn(|_| format(batch, &mut next));
            }
            ready.iter().try_for_each(|(_, b)| out.write_all(b))
        });
        written?;
        std::mem::swap(&mut ready, &mut next);
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

    fn float_text(v: f64, k: usize) -> String {
        let mut slot = [0; 40];
        let len = float_slot(&mut slot, v, k, &mut ryu::Buffer::new());
        String::from_utf8(slot[..len].to_vec()).unwrap()
    }

    /// Every float written reads back bit for bit (the standard library's
    /// parser as the oracle), on decimals of every length, with column
    /// decimals of every count, and on values with no short decimal form.
    #[test]
    fn floats_read_back_exactly() {
        let mut state = 7u64;
        for i in 0..200_000 {
            state = crate::rng::splitmix64(state);
            let v = match i % 5 {
                0 => f64::from_bits(state) % 1e6,
                1 => (state % 1_000_000) as f64 / POW10[(state >> 40) as usize % 8],
                2 => -((state % 100_000) as f64) / 1e4,
                3 => (state % 10_000_000_000_000) as f64 / POW10[(state >> 40) as usize % 16],
                _ => f64::from_bits((state >> 2) | 0x3000_0000_0000_0000),
            };
            if !v.is_finite() {
                continue;
            }
            let text = float_text(v, (state >> 50) as usize % 16);
            assert!(text.contains(['.', 'e', 'E']), "{text} would read back as an integer");
            assert_eq!(text.parse::<f64>().unwrap().to_bits(), v.to_bits(), "{v:e} written as {text}");
        }
        let texts = |k, values: &[f64]| values.iter().map(|&v| float_text(v, k)).collect::<Vec<_>>().join(" ");
        assert_eq!(texts(4, &[0.282, -0.0, 5.0, 1e-300]), "0.2820 -0.0000 5.0000 1e-300");
        assert_eq!(
            texts(0, &[5.0, -0.0, 123.0, 99_999_999.0, 123_456_789.0, -0.5]),
            "5.0 -0.0 123.0 99999999.0 123456789.0 -0.5"
        );
        assert_eq!(texts(9, &[1.5, 123_456.789, -0.000_000_001]), "1.500000000 123456.789000000 -0.000000001");
    }

    /// A column's decimals are the count most of its first values need.
    #[test]
    fn column_decimals_are_the_most_common_count() {
        assert_eq!(column_decimals(&[0.282, 0.2821, 0.5, 0.1234, f64::NAN]), 4);
        assert_eq!(column_decimals(&[1.0, 2.0, 2.5]), 0);
        assert_eq!(column_decimals(&[1.5, 2.25]), 1);
        assert_eq!(column_decimals(&[f64::NAN]), 0);
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
            let mut slot = [0; 40];
            let len = fixed_point(&mut slot, v.unsigned_abs(), None, v < 0);
            assert_eq!(std::str::from_utf8(&slot[..len]).unwrap(), v.to_string());
        }
    }

    /// Tables of every kind of number, written through the column passes
    /// in every instruction set this processor has, over several runs,
    /// blocks and batches: every field reads back as its value (the
    /// standard library's parser as the oracle), missing ones are empty,
    /// a float is written with its column's decimals wherever `format!`
    /// writes those exactly, and every build writes the same bytes.
    #[test]
    fn columns_read_back_in_every_build() {
        let rows = 4 * BLOCK * 3 + 3 * RUN + 77;
        let mut text = String::from("small,large,sensor,wide,whole,mixed,text\n");
        let mut state = 5u64;
        let mut next = || {
            state = crate::rng::splitmix64(state);
            state
        };
        for r in 0..rows {
            let (a, b, c, d, e, f) = (next(), next(), next(), next(), next(), next());
            let small =
                if a % 17 == 0 { String::new() } else { ((a >> 8) as i64 % 200_000_000 - 100_000_000).to_string() };
            let large = match b % 4 {
                0 => i64::MIN.to_string(),
                1 => i64::MAX.to_string(),
                _ => ((b as i64) >> (b % 40)).to_string(),
            };
            // Mostly four decimals below 1, some negative, some large
            // enough to leave the eight-digit path, some missing.
            let sensor = match c % 50 {
                0 => String::new(),
                1 => format!("{:.4}", (c >> 20) as f64 / 1e3),
                _ => format!("{:.4}", ((c >> 11) as f64 / (1u64 << 53) as f64 - 0.1) * 2.0),
            };
            let wide =
                format!("{:?}", f64::from_bits((d >> 2) | 0x3000_0000_0000_0000) * if d % 2 == 0 { 1.0 } else { -1.0 });
            let whole =
                if r == 0 { "-0.0".to_string() } else { format!("{}.0", (e % 1_000_000_000) as i64 - 500_000_000) };
            // Two decimals, and a value in seven needing more.
            let x = (f >> 11) as f64 / (1u64 << 53) as f64 * 100.0;
            let mixed = if f % 7 == 0 { format!("{x:?}") } else { format!("{x:.2}") };
            text.push_str(&format!("{small},{large},{sensor},{wide},{whole},{mixed},\"t,{r}\"\n"));
        }
        let table = parse(text.as_bytes(), ParseOptions::default()).unwrap();
        let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
        let outputs: Vec<Vec<u8>> = Isa::available()
            .into_iter()
            .map(|isa| {
                let mut out = Vec::new();
                one.install(|| write_table_for(&table, &mut out, isa)).unwrap();
                out
            })
            .collect();
        assert!(outputs.iter().all(|o| *o == outputs[0]), "the builds wrote different bytes");
        let written = String::from_utf8(outputs[0].clone()).unwrap();
        let decimals: Vec<usize> = table
            .columns
            .iter()
            .map(|c| if let Values::Float(v) = &c.values { column_decimals(v) } else { 0 })
            .collect();
        assert_eq!((decimals[2], decimals[5]), (4, 2));
        let mut lines = written.lines();
        assert_eq!(lines.next(), Some("small,large,sensor,wide,whole,mixed,text"));
        for (r, line) in lines.enumerate() {
            let fields: Vec<&str> = line.splitn(7, ',').collect();
            for (c, column) in table.columns.iter().enumerate().take(6) {
                let field = fields[c];
                if column.is_missing(r) {
                    assert_eq!(field, "", "row {r} column {c}");
                    continue;
                }
                match &column.values {
                    Values::Integer(v) => assert_eq!(field.parse::<i64>(), Ok(v[r]), "row {r} column {c}"),
                    Values::Float(v) => {
                        assert_eq!(
                            field.parse::<f64>().unwrap().to_bits(),
                            v[r].to_bits(),
                            "row {r} column {c}: {field}"
                        );
                        assert!(field.contains(['.', 'e']), "{field}");
                        let k = decimals[c];
                        let expected = format!("{:.k$}", v[r]);
                        if expected.parse::<f64>().unwrap().to_bits() == v[r].to_bits() && v[r].abs() < 1e15 {
                            let expected = if k == 0 { expected + ".0" } else { expected };
                            assert_eq!(field, expected, "row {r} column {c}");
                        }
                    }
                    Values::Text(_) => unreachable!(),
                }
            }
            assert_eq!(fields[6], format!("\"t,{r}\""));
        }
        assert_eq!(written.lines().count(), rows + 1);
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

    /// Found by the fuzzer: a first name starting with U+FEFF (a file with
    /// two byte-order marks) was written unquoted at the very start, where
    /// the reader took it for a byte-order mark and dropped it.
    #[test]
    fn a_first_name_like_a_byte_order_mark_keeps_it() {
        let text = "\u{feff}\u{feff}h,k\n1,x\n";
        let table = parse(text.as_bytes(), ParseOptions::default()).unwrap();
        assert_eq!(table.columns[0].name, "\u{feff}h");
        let mut out = Vec::new();
        write_table(&table, &mut out).unwrap();
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "\"\u{feff}h\",k\n1,x\n");
        let again = parse(&out, ParseOptions::default()).unwrap();
        assert_eq!(again.columns[0].name, "\u{feff}h");
    }
}
