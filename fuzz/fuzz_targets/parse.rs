//! Fuzzes the CSV engine: any bytes must give a table or an error, never a
//! panic, and the parallel parse (tiny chunks, whose guessed starts are
//! checked and re-read where wrong) must equal the sequential one. The
//! first byte picks the options: the dialect detected (and every lenient
//! path: stray quotes, ragged rows padded or skipped, Windows-1252), or a
//! forced one (`;` or tab, `'` or no quote, backslash escapes, CR ends).
#![no_main]

use genesis::csv::dialect::{DialectOptions, LineEnd};
use genesis::csv::{BadRows, ParseOptions, parse};
use libfuzzer_sys::fuzz_target;

fn options(pick: u8) -> ParseOptions {
    let bad_rows = [BadRows::Pad, BadRows::Skip, BadRows::Error][(pick % 3) as usize];
    let dialect = match (pick / 3) % 4 {
        0 => DialectOptions::default(),
        1 => DialectOptions::rfc4180(),
        2 => DialectOptions {
            delimiter: Some(b';'),
            quote: Some(Some(b'\'')),
            escape: Some(Some(b'\\')),
            line_end: Some(LineEnd::Cr),
            ..DialectOptions::default()
        },
        _ => DialectOptions { delimiter: Some(b'\t'), quote: Some(None), header: Some(false), ..DialectOptions::default() },
    };
    ParseOptions { keep_offsets: true, keep_rejects: true, dialect, bad_rows, ..ParseOptions::default() }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, data)) = data.split_first() else { return };
    let options = options(pick);
    let sequential = parse(data, ParseOptions { chunk_size: usize::MAX / 4, ..options });
    let chunked = parse(data, ParseOptions { chunk_size: 3, ..options });
    match (sequential, chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("sequential {a:?} but chunked {b:?}"),
    }
});
