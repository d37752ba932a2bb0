//! `genesis sweep`: value-list parsing, rows equal to lone `bench` runs,
//! and resuming after a stop or a crash mid-write.

use std::collections::BTreeSet;
use std::path::PathBuf;

use genesis::bench::{self, BenchOptions};
use genesis::sim::{Population, Scenario};
use genesis::sweep::{PARAMETERS, RESULTS, RowSettings, Run, SweepOptions, Value, combinations, parse_values, run};

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
        axes[i] = parse_values(PARAMETERS[i], d, genesis::sweep::is_integer(PARAMETERS[i])).unwrap();
    }
    axes[0] = parse_values("agents", "200,400", true).unwrap();
    axes[5] = parse_values("radius", "6:12:6", false).unwrap();
    axes[13] = parse_values("seeds", "1..3", true).unwrap();
    SweepOptions {
        runs: combinations(&axes),
        settings: RowSettings { frames: 140, warmup: 10, threads: 1, weights: None },
        jobs: 2,
        out,
        json: None,
        max_runs,
        progress: false,
        cancel: None,
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
    assert_eq!(run(&options).unwrap().done, 12);
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
    assert_eq!(run(&small_sweep(resumed.clone(), Some(5))).unwrap().done, 5);
    // ...then killed in the middle of writing a row.
    let mut text = std::fs::read(&resumed).unwrap();
    text.extend_from_slice(b"400,300,300,64,8,12,16,16,4,0.05,0.0166");
    std::fs::write(&resumed, text).unwrap();
    // Run again: only the 7 missing runs are done, the torn row is gone.
    assert_eq!(run(&small_sweep(resumed.clone(), None)).unwrap().done, 7);
    assert_eq!(deterministic_rows(&resumed), deterministic_rows(&whole));
    assert_eq!(run(&small_sweep(resumed.clone(), None)).unwrap().done, 0);
    // The result loads back with the CSV engine.
    let t = genesis::csv::read_file(&resumed, genesis::csv::ParseOptions::default()).unwrap().table;
    assert_eq!(t.rows, 12);
}

/// A run's key names it exactly: every run of a sweep over awkward floats
/// (1/60, 0.05, 1e-3) is read back from its key as itself.
#[test]
fn a_run_is_rebuilt_from_its_key() {
    let mut options = small_sweep(temp("unused.csv"), None);
    let mut axes: [Vec<Value>; PARAMETERS.len()] = Default::default();
    for (i, p) in PARAMETERS.iter().enumerate() {
        axes[i] = vec![options.runs[0].values[i]];
        let _ = p;
    }
    axes[9] = parse_values("noise", "0.05,0.001,0.3", false).unwrap();
    axes[10] = vec![Value::Float(1.0 / 60.0), Value::Float(0.1)];
    options.runs.extend(combinations(&axes));
    for r in &options.runs {
        assert_eq!(&Run::from_key(&r.key()).unwrap(), r, "{}", r.key());
    }
    assert!(Run::from_key("1,2,3").unwrap_err().contains("14 values"));
    assert!(Run::from_key(&options.runs[0].key().replacen("200", "2.5", 1)).unwrap_err().contains("agents"));
}

#[test]
fn shards_deal_every_run_exactly_once() {
    use genesis::sweep::Shard;
    let runs = small_sweep(temp("unused.csv"), None).runs;
    for n in 1..=runs.len() + 2 {
        let mut seen = Vec::new();
        let mut sizes = Vec::new();
        for k in 1..=n {
            let shard: Shard = format!("{k}/{n}").parse().unwrap();
            let part = shard.select(&runs);
            sizes.push(part.len());
            seen.extend(part.iter().map(|r| runs.iter().position(|x| x == r).unwrap()));
        }
        seen.sort();
        assert_eq!(seen, (0..runs.len()).collect::<Vec<_>>(), "{n} shards");
        // Dealt round-robin: sizes differ by at most one.
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
    }
    for (bad, needle) in
        [("0/3", "between 1 and 3"), ("4/3", "between 1 and 3"), ("1/0", "at least 1"), ("3", "K/N"), ("a/2", "\"a\"")]
    {
        let e = bad.parse::<Shard>().unwrap_err();
        assert!(e.contains(needle) && e.contains("--shard"), "{bad}: {e}");
    }
}

/// A run that fails (here: weights that do not fit its channel count) is
/// reported with its parameters; the other runs are done and written.
#[test]
fn a_failing_run_does_not_stop_the_others() {
    use genesis::sim::{Mlp, ModelConfig};
    let weights = temp("eight.safetensors");
    std::fs::write(&weights, genesis::weights::to_safetensors(&Mlp::default_for(&ModelConfig::default()))).unwrap();
    let mut options = small_sweep(temp("failing.csv"), None);
    let three = options.runs.iter().map(|r| {
        let mut r = r.clone();
        r.values[4] = Value::Int(3);
        r
    });
    options.runs = options.runs.iter().cloned().chain(three).collect();
    options.settings.weights = Some(weights);
    let outcome = run(&options).unwrap();
    assert_eq!(outcome.done, 12);
    assert_eq!(outcome.failures.len(), 12);
    for f in &outcome.failures {
        assert_eq!(f.run.values[4], Value::Int(3));
        let text = f.to_string();
        assert!(text.contains("channels=3") && text.contains("seed=") && text.contains("'w1' has shape"), "{text}");
    }
    assert_eq!(deterministic_rows(&options.out).len(), 12);
    // Planned, the same sweep is refused before any run.
    let mut axes: [Vec<Value>; PARAMETERS.len()] = Default::default();
    for (i, a) in axes.iter_mut().enumerate() {
        *a = vec![options.runs.last().unwrap().values[i]];
    }
    let e = genesis::sweep::plan(&axes, options.settings.weights.as_deref()).unwrap_err();
    assert!(e.contains("--weights"), "{e}");
}

fn genesis(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_genesis")).args(args).output().unwrap()
}

/// The small sweep on the command line, with extra arguments.
fn cli_sweep(out: &std::path::Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "sweep", "--agents", "200,400", "--width", "300", "--height", "300", "--raster", "64", "--radius", "6:12:6",
        "--window", "16", "--seeds", "1..3", "--warmup", "10", "--quiet", "--out",
    ];
    args.push(out.to_str().unwrap());
    if !extra.contains(&"--frames") {
        args.extend(["--frames", "140"]);
    }
    args.extend_from_slice(extra);
    genesis(&args)
}

#[test]
fn shards_merged_equal_the_whole_sweep() {
    let whole = temp("cli-whole.csv");
    assert!(cli_sweep(&whole, &[]).status.success());
    let shards: Vec<PathBuf> = (1..=3).map(|k| temp(&format!("shard-{k}.csv"))).collect();
    for (k, path) in shards.iter().enumerate() {
        let done = cli_sweep(path, &["--shard", &format!("{}/3", k + 1)]);
        assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
        assert_eq!(deterministic_rows(path).len(), 4);
    }
    let all = temp("merged.csv");
    let mut args = vec!["sweep", "--out", all.to_str().unwrap(), "--quiet", "--merge"];
    args.extend(shards.iter().map(|p| p.to_str().unwrap()));
    // The first shard twice: its rows are kept once.
    args.push(shards[0].to_str().unwrap());
    let merged = genesis(&args);
    let err = String::from_utf8_lossy(&merged.stderr);
    assert!(merged.status.success(), "{err}");
    assert!(err.contains("12 runs, 4 duplicates dropped"), "{err}");
    assert_eq!(deterministic_rows(&all), deterministic_rows(&whole));
    // In the combination order, as the whole sweep's own file.
    let keys = |p: &PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| l.split(',').take(14).collect::<Vec<_>>().join(","))
            .collect()
    };
    let planned: Vec<String> = small_sweep(temp("unused.csv"), None).runs.iter().map(Run::key).collect();
    assert_eq!(keys(&all)[1..], planned);
    // Merging into the merged file again changes nothing.
    assert!(
        genesis(&["sweep", "--out", all.to_str().unwrap(), "--quiet", "--merge", shards[1].to_str().unwrap()])
            .status
            .success()
    );
    assert_eq!(keys(&all)[1..], planned);
}

#[test]
fn merge_refuses_files_of_another_sweep_and_reports_torn_rows() {
    let a = temp("merge-a.csv");
    let longer = temp("merge-longer.csv");
    assert!(cli_sweep(&a, &["--shard", "1/2"]).status.success());
    assert!(cli_sweep(&longer, &["--shard", "2/2", "--frames", "150"]).status.success());
    let out = temp("merge-out.csv");
    let refused =
        genesis(&["sweep", "--out", out.to_str().unwrap(), "--merge", a.to_str().unwrap(), longer.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(
        err.contains("150 frames") && err.contains("not the same sweep") && err.contains("merge-longer.csv:2"),
        "{err}"
    );
    assert!(!out.exists());
    // The same runs with other results (as from other weights).
    let other = temp("merge-other.csv");
    let text = std::fs::read_to_string(&a).unwrap();
    let changed: String = text
        .lines()
        .enumerate()
        .map(
            |(i, l)| if i == 1 { l.rsplit_once(',').map(|(h, _)| format!("{h},99.5")).unwrap() } else { l.to_string() },
        )
        .map(|l| l + "\n")
        .collect();
    std::fs::write(&other, changed).unwrap();
    let refused =
        genesis(&["sweep", "--out", out.to_str().unwrap(), "--merge", a.to_str().unwrap(), other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(1));
    assert!(err.contains("same run with different results") && err.contains("merge-other.csv:2"), "{err}");
    // A header of another kind.
    std::fs::write(&other, "a,b\n1,2\n").unwrap();
    let refused = genesis(&["sweep", "--out", out.to_str().unwrap(), "--merge", other.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&refused.stderr).contains("merge-other.csv:1: not a genesis sweep file"));
    // A shard cut short mid-row: the torn row is left out and named.
    let mut torn = std::fs::read(&a).unwrap();
    torn.extend_from_slice(b"400,300,300,64,8,12,16,16,4,0.05");
    std::fs::write(&other, torn).unwrap();
    let merged = genesis(&["sweep", "--out", out.to_str().unwrap(), "--merge", other.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&merged.stderr);
    assert!(merged.status.success() && err.contains("cut short"), "{err}");
    assert_eq!(deterministic_rows(&out), deterministic_rows(&a));
}

#[test]
fn bad_shards_are_refused_with_exit_code_2() {
    for bad in ["0/3", "4/3", "2", "x/y", "1/0"] {
        let out = temp("bad-shard.csv");
        let refused = cli_sweep(&out, &["--shard", bad]);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{bad}: {err}");
        assert!(err.contains("--shard"), "{bad}: {err}");
        assert!(!out.exists());
    }
}
