//! Fuzzes the CSV engine: any bytes must give a table or an error, never a
//! panic; the parallel parse (tiny chunks, whose guessed starts are
//! checked and re-read where wrong) must equal the sequential one; and a
//! table written out (`parse --out`) must read back with the same columns.
//! The first byte picks the options: the dialect detected (and every
//! lenient path: stray quotes, ragged rows padded or skipped,
//! Windows-1252, decimal commas), or a forced one (`;` or tab, `'` or no
//! quote, backslash escapes: inside quotes, or without quoting anywhere;
//! CR ends; a decimal comma).
#![no_main]

use genesis::csv::dialect::{DialectOptions, LineEnd};
use genesis::csv::table::parse_float;
use genesis::csv::write::write_table;
use genesis::csv::{BadRows, ParseOptions, Table, Values, parse};
use libfuzzer_sys::fuzz_target;

fn options(pick: u8) -> ParseOptions {
    let bad_rows = [BadRows::Pad, BadRows::Skip, BadRows::Error][(pick % 3) as usize];
    let dialect = match (pick / 3) % 5 {
        0 => DialectOptions::default(),
        1 => DialectOptions::rfc4180(),
        2 => DialectOptions {
            delimiter: Some(b';'),
            quote: Some(Some(b'\'')),
            escape: Some(Some(b'\\')),
            line_end: Some(LineEnd::Cr),
            ..DialectOptions::default()
        },
        3 => DialectOptions {
            delimiter: Some(b'\t'),
            quote: Some(None),
            escape: Some(Some(b'\\')),
            header: Some(false),
            ..DialectOptions::default()
        },
        _ => DialectOptions { delimiter: Some(b';'), decimal: Some(b','), ..DialectOptions::default() },
    };
    ParseOptions { keep_offsets: true, keep_rejects: true, dialect, bad_rows, ..ParseOptions::default() }
}

/// The table written as `parse --out` writes it and read back as RFC 4180
/// has the same names, types, values and missing fields (but for text
/// from a decimal-comma file that reads as numbers written with points).
fn check_round_trip(table: &Table) {
    let mut out = Vec::new();
    write_table(table, &mut out).expect("writing to memory");
    let again =
        parse(&out, ParseOptions::rfc4180()).unwrap_or_else(|e| panic!("the written table does not read back: {e}"));
    assert_eq!(again.rows, table.rows, "rows");
    assert_eq!(again.columns.len(), table.columns.len(), "columns");
    for (a, b) in table.columns.iter().zip(&again.columns) {
        if table.dialect.decimal != b'.'
            && let (Values::Text(text), Values::Integer(_) | Values::Float(_)) = (&a.values, &b.values)
        {
            // Text in a decimal-comma file (`.3`, `16`) that reads as numbers
            // once written with points: the same values, typed.
            assert_eq!((&a.name, &a.missing), (&b.name, &b.missing));
            for (row, t) in text.iter().enumerate() {
                let number = b.values.as_f64(row).expect("numeric");
                if !a.missing.contains(&row) {
                    assert_eq!(parse_float(t.as_bytes()).map(f64::to_bits), Some(number.to_bits()), "{t:?}");
                }
            }
            continue;
        }
        assert_eq!((&a.name, &a.values, &a.missing), (&b.name, &b.values, &b.missing));
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let options = options(pick);
    let sequential = parse(data, ParseOptions { chunk_size: usize::MAX / 4, ..options });
    let chunked = parse(data, ParseOptions { chunk_size: 3, ..options });
    match (sequential, chunked) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b);
            check_round_trip(&a);
        }
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("sequential {a:?} but chunked {b:?}"),
    }
});
