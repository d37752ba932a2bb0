//! `cargo bench --bench csv`: the CSV engine against the `csv` crate on the
//! same generated sensor trace, in one run (throughput in bytes/s).
//!
//! - `genesis/typed`: full parse into typed columns, all cores;
//! - `genesis/typed_1_thread`: the same on one thread;
//! - `genesis/split_only`: records and fields counted, one thread;
//! - `csv_crate/typed`: `csv::ByteRecord`s, each field parsed into `i64` or
//!   `f64` columns (the same work as `genesis/typed`), one thread;
//! - `csv_crate/split_only`: `ByteRecord`s counted, one thread;
//! - `genesis/detect_dialect`: dialect detection alone (what every parse
//!   does first), one thread;
//! - `genesis/write_rfc4180`: the parsed table written back as CSV into
//!   memory (`parse --out` without the file), all cores.
//!
//! `GENESIS_CSV_ROWS` sets the trace size (default 500,000 rows, ≈ 32 MB).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use genesis::csv::dialect::sniff;
use genesis::csv::split::Records;
use genesis::csv::{DialectOptions, ParseOptions, parse};

/// A sensor trace as `genesis gen` writes it.
fn trace(rows: usize) -> Vec<u8> {
    let mut out = String::from("frame,agent,s0,s1,s2,s3,s4,s5,s6,s7\n");
    let mut state = 7u64;
    for r in 0..rows {
        out.push_str(&format!("{},{}", r / 1000, r % 1000));
        for _ in 0..8 {
            state = genesis::rng::splitmix64(state);
            out.push_str(&format!(",{:.4}", 0.2 + 0.6 * genesis::rng::unit(state)));
        }
        out.push('\n');
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let rows = std::env::var("GENESIS_CSV_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let data = trace(rows);
    let mut group = c.benchmark_group(format!("trace_{rows}_rows"));
    group.throughput(Throughput::Bytes(data.len() as u64)).sample_size(10);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();

    group.bench_function("genesis/typed", |b| b.iter(|| parse(black_box(&data), ParseOptions::default()).unwrap()));
    group.bench_function("genesis/detect_dialect", |b| {
        b.iter(|| sniff(black_box(&data), false, &DialectOptions::default()))
    });
    let table = parse(&data, ParseOptions::default()).unwrap();
    group.bench_function("genesis/write_rfc4180", |b| {
        let mut out = Vec::with_capacity(data.len() + (1 << 20));
        b.iter(|| {
            out.clear();
            genesis::csv::write::write_table(black_box(&table), &mut out).unwrap();
            out.len()
        })
    });
    group.bench_function("genesis/typed_1_thread", |b| {
        b.iter(|| one.install(|| parse(black_box(&data), ParseOptions::default()).unwrap()))
    });
    group.bench_function("genesis/split_only", |b| {
        b.iter(|| {
            let mut records = Records::new(&data, 0, data.len(), genesis::csv::split::Syntax::default());
            let (mut n, mut fields) = (0usize, 0usize);
            while let Some(f) = records.read_record(|_, _| Ok(())).unwrap() {
                n += 1;
                fields += f;
            }
            black_box((n, fields))
        })
    });
    group.bench_function("csv_crate/typed", |b| {
        b.iter(|| {
            let mut reader = csv::ReaderBuilder::new().from_reader(black_box(&data[..]));
            let (mut frames, mut agents) = (Vec::new(), Vec::new());
            let mut sensors: Vec<Vec<f64>> = vec![Vec::new(); 8];
            let mut record = csv::ByteRecord::new();
            while reader.read_byte_record(&mut record).unwrap() {
                let num = |i: usize| std::str::from_utf8(&record[i]).unwrap();
                frames.push(num(0).parse::<i64>().unwrap());
                agents.push(num(1).parse::<i64>().unwrap());
                for (c, column) in sensors.iter_mut().enumerate() {
                    column.push(num(2 + c).parse::<f64>().unwrap());
                }
            }
            black_box((frames, agents, sensors))
        })
    });
    group.bench_function("csv_crate/split_only", |b| {
        b.iter(|| {
            let mut reader = csv::ReaderBuilder::new().from_reader(black_box(&data[..]));
            let mut record = csv::ByteRecord::new();
            let (mut n, mut fields) = (0usize, 0usize);
            while reader.read_byte_record(&mut record).unwrap() {
                n += 1;
                fields += record.len();
            }
            black_box((n, fields))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
