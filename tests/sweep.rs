//! `genesis sweep`: value-list parsing, rows equal to lone `bench` runs,
//! and resuming after a stop or a crash mid-write.

use std::collections::BTreeSet;
use std::path::PathBuf;

use genesis::bench::{self, BenchOptions};
use genesis::sim::{Population, Scenario};
use genesis::sweep::{PARAMETERS, RESULTS, Run, SweepOptions, Value, combinations, parse_values, run};

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genesis-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
fn value_lists_and_ranges() {
    let ints = |s| parse_values("x", s, true).unwrap();
    let floats = |s| parse_values("x", s, false).unwrap();
    assert_eq!(ints("1000,10000"), [Value::Int(1000), Value::Int(10000)]);
    assert_eq!(ints("1..4"), [1, 2, 3, 4].map(Value::Int));
    assert_eq!(ints("1,5:9:2"), [1, 5, 7, 9].map(Value::Int));
    assert_eq!(floats("5:20:5"), [5.0, 10.0, 15.0, 20.0].map(Value::Float));
    assert_eq!(floats("0.1:0.35:0.1"), [0.1, 0.2, 0.3].map(|v: f64| Value::Float(v as f32)));
    assert_eq!(floats("0.05"), [Value::Float(0.05)]);
    for (spec, integer, needle) in [
        ("5:1:0", false, "step must be > 0"),
        ("5:1:1", false, "empty range"),
        ("5..1", true, "empty range"),
        ("1..3", false, "whole numbers"),
        ("1:2", false, "start:end:step"),
        ("abc", true, "whole number"),
        ("-3", true, "whole number"),
        ("nan", false, "expected a number"),
    ] {
        let e = parse_values("radius", spec, integer).unwrap_err();
        assert!(e.contains("--radius") && e.contains(needle), "{spec}: {e}");
    }
}

#[test]
fn unknown_options_and_bad_values_are_refused_by_the_cli() {
    let genesis =
        |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_genesis")).args(args).output().unwrap();
    let out = genesis(&["sweep", "--out", "/tmp/x.csv", "--speed", "1,2"]);
    assert_eq!(out.status.code(), Some(2));
    let out = genesis(&["sweep", "--out", "/tmp/x.csv", "--radius", "5:1:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("step must be > 0"));
    let out = genesis(&["sweep", "--out", "/tmp/x.csv", "--channels", "4,9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--channels"));
}

/// Two agent counts × two radii × three seeds, small and short.
fn small_sweep(out: PathBuf, max_runs: Option<usize>) -> SweepOptions {
    let mut axes: [Vec<Value>; PARAMETERS.len()] = Default::default();
    let defaults = ["200", "300", "300", "64", "8", "10", "16", "16", "4", "0.05", "0.016666668", "30", "16", "1"];
    for (i, d) in defaults.iter().enumerate() {
        let integer =
            matches!(PARAMETERS[i], "agents" | "raster" | "channels" | "neighbours" | "window" | "hidden" | "seed");
        axes[i] = parse_values(PARAMETERS[i], d, integer).unwrap();
    }
    axes[0] = parse_values("agents", "200,400", true).unwrap();
    axes[5] = parse_values("radius", "6:12:6", false).unwrap();
    axes[13] = parse_values("seeds", "1..3", true).unwrap();
    SweepOptions {
        runs: combinations(&axes),
        frames: 140,
        warmup: 10,
        jobs: 2,
        out,
        json: None,
        max_runs,
        progress: false,
        weights: None,
    }
}

/// The deterministic part of each row (parameters and results that do
/// not depend on timing), as a set: order aside.
fn deterministic_rows(path: &PathBuf) -> BTreeSet<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let columns: Vec<&str> = PARAMETERS.iter().chain(RESULTS.iter()).copied().collect();
    assert_eq!(text.lines().next().unwrap(), columns.join(","));
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f.len(), columns.len(), "{l}");
            columns
                .iter()
                .zip(&f)
                .filter(|(c, _)| !matches!(**c, "hz" | "frame_ms_p50" | "frame_ms_p99"))
                .map(|(_, v)| *v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}

#[test]
fn rows_equal_lone_bench_runs() {
    let out = temp("lone.csv");
    let options = small_sweep(out.clone(), None);
    assert_eq!(options.runs.len(), 12);
    assert_eq!(run(&options).unwrap(), 12);
    let rows = deterministic_rows(&out);
    assert_eq!(rows.len(), 12);
    // Each combination alone, on two threads instead of one.
    let lone: BTreeSet<String> = options
        .runs
        .iter()
        .map(|r: &Run| {
            let scenario =
                Scenario { config: r.config(), population: Population::Generated(r.agents()), ..Scenario::default() };
            let report = bench::run(&BenchOptions::new(scenario, 140, 10, 2)).unwrap();
            let line = genesis::sweep::row(r, 140, &report);
            let f: Vec<&str> = line.trim_end().split(',').collect();
            let keep: Vec<&str> = f
                .iter()
                .enumerate()
                .filter(|(i, _)| !(PARAMETERS.len() + 1..PARAMETERS.len() + 4).contains(i))
                .map(|(_, v)| *v)
                .collect();
            keep.join(",")
        })
        .collect();
    assert_eq!(rows, lone);
}

#[test]
fn a_stopped_or_crashed_sweep_resumes_to_the_same_file() {
    let whole = temp("whole.csv");
    run(&small_sweep(whole.clone(), None)).unwrap();

    let resumed = temp("resumed.csv");
    // Stopped after 5 runs...
    assert_eq!(run(&small_sweep(resumed.clone(), Some(5))).unwrap(), 5);
    // ...then killed in the middle of writing a row.
    let mut text = std::fs::read(&resumed).unwrap();
    text.extend_from_slice(b"400,300,300,64,8,12,16,16,4,0.05,0.0166");
    std::fs::write(&resumed, text).unwrap();
    // Run again: only the 7 missing runs are done, the torn row is gone.
    assert_eq!(run(&small_sweep(resumed.clone(), None)).unwrap(), 7);
    assert_eq!(deterministic_rows(&resumed), deterministic_rows(&whole));
    assert_eq!(run(&small_sweep(resumed.clone(), None)).unwrap(), 0);
    // The result loads back with the CSV engine.
    let t = genesis::csv::read_file(&resumed, genesis::csv::ParseOptions::default()).unwrap().table;
    assert_eq!(t.rows, 12);
}
