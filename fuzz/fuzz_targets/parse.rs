//! Fuzzes the CSV engine: any bytes must give a table or an error, never a
//! panic, and the parallel parse (tiny chunks) must equal the sequential one.
#![no_main]

use genesis::csv::{ParseOptions, parse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let sequential = parse(data, ParseOptions { chunk_size: usize::MAX / 4, keep_offsets: true, ..ParseOptions::default() });
    let chunked = parse(data, ParseOptions { chunk_size: 3, keep_offsets: true, ..ParseOptions::default() });
    match (sequential, chunked) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a, b),
        (a, b) => panic!("sequential {a:?} but chunked {b:?}"),
    }
});
