//! The `genesis` binary as a user runs it: help, bad options, the report
//! files, and determinism of `--dump` across thread counts.

use std::path::PathBuf;
use std::process::{Command, Output};

fn genesis(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_genesis"))
        .args(args)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("the genesis binary runs")
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genesis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[test]
fn help_explains_every_option() {
    let out = genesis(&["bench", "--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for option in [
        "--agents",
        "--frames",
        "--warmup",
        "--seed",
        "--threads",
        "--json",
        "--dump",
        "--width",
        "--height",
        "--raster",
        "--channels",
        "--radius",
        "--neighbours",
        "--window",
        "--z-threshold",
        "--noise",
        "--dt",
        "--top-speed",
        "--hidden",
    ] {
        assert!(text.contains(option), "bench --help lacks {option}");
    }
    assert!(genesis(&["--help"]).status.success());
}

#[test]
fn invalid_options_exit_with_code_2_and_a_message() {
    for args in [
        &["bench", "--agents", "-3"][..],
        &["bench", "--frames", "0"],
        &["bench", "--radius", "0"],
        &["bench", "--window", "0"],
        &["bench", "--frames", "5", "--warmup", "7"],
        &["bench", "--no-such-option"],
    ] {
        let out = genesis(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("error"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[test]
fn an_unwritable_output_fails_at_once_with_the_path_named() {
    let out = genesis(&["bench", "--frames", "100000", "--json", "/no/such/dir/report.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("/no/such/dir/report.json") && !err.contains("panicked"), "{err}");
}

#[test]
fn dump_is_byte_identical_on_one_and_two_threads() {
    let run = |threads: &str| {
        let path = temp(&format!("dump-{threads}.csv"));
        let out = genesis(&[
            "bench",
            "--agents",
            "2000",
            "--frames",
            "140",
            "--width",
            "250",
            "--height",
            "250",
            "--threads",
            threads,
            "--dump",
            path.to_str().unwrap(),
            "--quiet",
        ]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        std::fs::read(path).unwrap()
    };
    let (one, two) = (run("1"), run("2"));
    assert!(one == two, "--dump differs between 1 and 2 threads");
    let text = String::from_utf8(one).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("id,x,y,heading,fused,z,anomaly,nbr_count,y0,y1,y2,y3"));
    let ids: Vec<u32> = lines.map(|l| l.split(',').next().unwrap().parse().unwrap()).collect();
    assert_eq!(ids, (0..2000).collect::<Vec<_>>(), "one row per agent in id order");
}

#[test]
fn json_report_has_the_spec_fields() {
    let path = temp("report.json");
    let out =
        genesis(&["bench", "--agents", "500", "--frames", "200", "--warmup", "20", "--json", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!(report["agents"], 500);
    assert_eq!(report["frames"], 200);
    assert_eq!(report["seed"], 42);
    assert!(report["threads"].as_u64().unwrap() >= 1);
    assert!(report["hz"].as_f64().unwrap() > 0.0);
    assert_eq!(report["reorder_every"], 32);
    // The build the hot loops ran in, from the processor's flags as the
    // kernel lists them.
    let flags: Vec<String> = std::fs::read_to_string("/proc/cpuinfo")
        .map(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .map(|l| l.split_whitespace().map(String::from).collect())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    if !flags.is_empty() && cfg!(target_arch = "x86_64") {
        let has = |f: &str| flags.iter().any(|g| g == f);
        let want = if ["avx512f", "avx512dq", "avx512vl", "avx512bw"].iter().all(|f| has(f)) {
            "avx512"
        } else if has("avx2") {
            "avx2"
        } else {
            "baseline"
        };
        assert_eq!(report["isa"], want);
    }
    let frame = &report["frame_ms"];
    let (p50, p99, max) =
        (frame["p50"].as_f64().unwrap(), frame["p99"].as_f64().unwrap(), frame["max"].as_f64().unwrap());
    assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{frame}");
    let names: Vec<&str> = report["systems"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["spatial", "sensing", "fusion", "inference", "anomaly", "movement"]);
    assert!(report["peak_rss_bytes"].as_u64().unwrap() > 0);
    assert!(report["anomalies_total"].is_u64());
    // Event 0 starts at frame 120, so recall is defined.
    let recall = report["detection"]["recall"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&recall));
    assert!(report["detection"]["false_alarms_per_1000"].as_f64().unwrap() >= 0.0);
    // The summary names the same figures.
    let text = String::from_utf8(out.stdout).unwrap();
    for word in ["Hz", "p50", "p99", "spatial", "movement", "peak RSS", "recall", "false alarms"] {
        assert!(text.contains(word), "summary lacks {word}:\n{text}");
    }
}

/// `genesis` with no display says what to do instead of crashing; a bad
/// scenario file is reported before any window opens.
#[cfg(feature = "desktop")]
#[test]
fn the_desktop_without_a_display_explains_itself() {
    let out = genesis(&["--agents", "100"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no display") && err.contains("genesis bench"), "{err}");

    let bad = temp("bad-agents.csv");
    std::fs::write(&bad, "id,x,y\n0,1,oops\n").unwrap();
    let out = genesis(&["--agents-csv", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad-agents.csv:2:3") && err.contains("column 'y'"), "{err}");
}

/// The command line's pool, of which the calling thread is a worker
/// (`ComputePool::joined_by_caller`), computes exactly what a pool of its
/// own does, on one thread and two. Each run on a fresh thread: joining
/// keeps the thread in the pool for good.
#[test]
fn a_pool_joined_by_the_caller_changes_nothing() {
    use genesis::bench::{self, BenchOptions};
    use genesis::sim::{ModelConfig, Population, Scenario};
    let run = |join: bool, threads: usize| {
        std::thread::spawn(move || {
            let path = temp(&format!("joined-{join}-{threads}.csv"));
            let scenario = Scenario {
                config: ModelConfig { width: 300.0, height: 300.0, ..ModelConfig::default() },
                population: Population::Generated(3000),
                ..Scenario::default()
            };
            let options = BenchOptions {
                dump: Some(path.clone()),
                join_pool: join,
                ..BenchOptions::new(scenario, 70, 0, threads)
            };
            bench::run(&options).unwrap();
            std::fs::read(path).unwrap()
        })
        .join()
        .unwrap()
    };
    let own = run(false, 2);
    assert!(run(true, 2) == own, "joined pool of two threads differs");
    assert!(run(true, 1) == own, "joined pool of one thread differs");
}

/// `genesis parse --repeat`: a file of more than two 4 MiB chunks (so its
/// numbers are written in place into whole-column buffers, the memory of
/// one parse reused by the next) parsed three times in one process. The
/// statistics are the file's, worked out here from how it was written,
/// and the time reported is the fastest of the three listed.
#[test]
fn a_file_parsed_repeatedly_reports_its_statistics_and_the_fastest_parse() {
    const ROWS: usize = 600_000;
    let path = temp("repeat.csv");
    let mut text = String::from("i,x,late\n");
    for i in 0..ROWS {
        // `late` is missing in the first half: the chunks there never see
        // a value of it.
        let late = if i < ROWS / 2 { String::new() } else { (i % 7).to_string() };
        text += &format!("{i},{}.25,{late}\n", i % 1000);
    }
    assert!(text.len() > 8 << 20 && text.len() / 2 > 4 << 20, "{} bytes: not the chunks meant", text.len());
    std::fs::write(&path, &text).unwrap();
    let json = temp("repeat.json");
    let out = genesis(&["parse", path.to_str().unwrap(), "--repeat", "3", "--json", json.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8(out.stdout).unwrap().contains("the fastest of 3 parses"));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(report["rows"], ROWS);
    assert_eq!(report["bytes"], text.len());
    let runs: Vec<f64> = report["parse_runs"].as_array().unwrap().iter().map(|t| t.as_f64().unwrap()).collect();
    assert_eq!(runs.len(), 3);
    assert_eq!(report["parse_seconds"].as_f64().unwrap(), runs.iter().copied().fold(f64::INFINITY, f64::min));
    let column = |name: &str| report["columns"].as_array().unwrap().iter().find(|c| c["name"] == name).unwrap().clone();
    let i = column("i");
    assert_eq!((i["type"].as_str(), i["min"].as_i64(), i["max"].as_i64()), (Some("integer"), Some(0), Some(599_999)));
    assert_eq!(i["mean"].as_f64(), Some(299_999.5));
    let x = column("x");
    assert_eq!((x["type"].as_str(), x["min"].as_f64(), x["max"].as_f64()), (Some("float"), Some(0.25), Some(999.25)));
    assert_eq!(x["mean"].as_f64(), Some(499.75)); // 0..999 evenly, 600 times, plus a quarter
    let late = column("late");
    assert_eq!((late["type"].as_str(), late["missing"].as_u64()), (Some("integer"), Some(ROWS as u64 / 2)));
    let sevens: u64 = (ROWS / 2..ROWS).map(|i| (i % 7) as u64).sum();
    assert_eq!(late["mean"].as_f64(), Some(sevens as f64 / (ROWS / 2) as f64));
    assert_eq!((late["min"].as_i64(), late["max"].as_i64()), (Some(0), Some(6)));
}

#[test]
fn parse_refuses_a_bad_repeat_count_and_names_the_place_of_bad_input() {
    let path = temp("bad.csv");
    // Quoted fields that hold delimiters: detection keeps `"` as the quote.
    std::fs::write(&path, "a,b\n\"x, y\",1\n\"z, w\",2\n1,\"2\n").unwrap();
    let out = genesis(&["parse", path.to_str().unwrap(), "--repeat", "0"]);
    assert_eq!(out.status.code(), Some(2));
    let out = genesis(&["parse", path.to_str().unwrap(), "--repeat", "2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    // Line 4, field 2, where the quote opens.
    assert!(err.contains(&format!("{}:4:2", path.display())) && !err.contains("panicked"), "{err}");
}

/// `--weights` reaches every run of a sweep as it reaches `bench`, and a
/// file that does not fit is refused before any run, naming the option.
#[test]
fn a_sweep_runs_the_given_weights() {
    use genesis::sim::{Mlp, ModelConfig};
    let mut mlp = Mlp::default_for(&ModelConfig::default());
    mlp.b2[3] = 1.5; // faster agents: different neighbourhoods, anomalies, fused values
    let weights = temp("sweep.safetensors");
    std::fs::write(&weights, genesis::weights::to_safetensors(&mlp)).unwrap();
    let w = weights.to_str().unwrap();
    let sweep_row = |extra: &[&str], name: &str| {
        let out = temp(name);
        let _ = std::fs::remove_file(&out);
        let mut args = vec!["sweep", "--agents", "300", "--frames", "60", "--quiet", "--out", out.to_str().unwrap()];
        args.extend_from_slice(extra);
        let run = genesis(&args);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let text = std::fs::read_to_string(&out).unwrap();
        let (header, row) = text.split_once('\n').unwrap();
        let column = |name: &str| {
            row.trim().split(',').nth(header.split(',').position(|h| h == name).unwrap()).unwrap().to_string()
        };
        (column("anomalies_total"), column("fused_mean"))
    };
    let json = temp("sweep-weights.json");
    let bench = genesis(&[
        "bench",
        "--agents",
        "300",
        "--frames",
        "60",
        "--quiet",
        "--weights",
        w,
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(bench.status.success(), "{}", String::from_utf8_lossy(&bench.stderr));
    let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let (anomalies, fused) = sweep_row(&["--weights", w], "with.csv");
    assert_eq!(anomalies, report["anomalies_total"].to_string());
    assert_eq!(fused.parse::<f64>().unwrap(), report["final"]["fused_mean"].as_f64().unwrap());
    assert_eq!(report["weights"], "given");
    assert_ne!(sweep_row(&[], "without.csv").1, fused);
    // Weights for 8 channels do not fit a 3-channel run.
    let out = temp("bad.csv");
    let refused = genesis(&["sweep", "--channels", "3", "--weights", w, "--out", out.to_str().unwrap(), "--quiet"]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("--weights") && err.contains("'w1' has shape [8, 16], expected [3, 16]"), "{err}");
    assert!(!out.exists());
}

/// Runs that need more memory than there is stop before allocating, with
/// exit code 2 and the option, the estimate and what is available named.
/// `GENESIS_MEMORY_LIMIT` stands for the machine's memory, so the cases
/// are the same on any host.
#[test]
fn over_memory_requests_exit_with_code_2_before_allocating() {
    let limited = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_genesis"))
            .args(args)
            .env("GENESIS_MEMORY_LIMIT", "1000000000")
            .output()
            .unwrap()
    };
    let out = temp("never.csv");
    let _ = std::fs::remove_file(&out);
    let o = out.to_str().unwrap();
    let mut cases = vec![
        (vec!["bench", "--agents", "4000000000"], "--agents 4000000000 with --window 64", "lower --agents"),
        (vec!["bench", "--agents", "100000", "--window", "4096"], "--agents 100000 with --window 4096", "--window"),
        (vec!["bench", "--agents", "10", "--raster", "8192"], "--raster 8192", "lower --raster"),
        (
            vec!["sweep", "--agents", "1000000", "--seeds", "1,2", "--jobs", "2", "--out", o],
            "--jobs 2 runs at once",
            "--jobs",
        ),
        (vec!["sweep", "--agents", "3000000", "--jobs", "1", "--out", o], "--agents 3000000", "lower --agents"),
    ];
    if cfg!(feature = "desktop") {
        cases.push((vec!["--agents", "4000000000"], "--agents 4000000000", "lower --agents"));
    }
    for (args, names, lower) in cases {
        let refused = limited(&args);
        let err = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("not enough memory") && err.contains(names) && err.contains(lower), "{args:?}: {err}");
        assert!(err.contains("953.7 MiB available (GENESIS_MEMORY_LIMIT)"), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("memory allocation"), "{err}");
    }
    assert!(!out.exists());
    // What fits runs.
    assert!(limited(&["bench", "--agents", "1000", "--frames", "5", "--quiet"]).status.success());
}

/// The estimate is a lower bound of what a run takes, and not far below:
/// checked against the run's own peak resident memory.
#[test]
fn the_memory_estimate_stays_below_the_measured_peak() {
    use genesis::machine::run_needs;
    use genesis::sim::ModelConfig;
    // What the program itself holds (code pages, relocations, the thread
    // pools): a debug build with the desktop app linked in holds tens of
    // MiB before the first agent, which the upper bound must not count.
    let idle = temp("memory-idle.json");
    let run = genesis(&[
        "bench",
        "--agents",
        "1",
        "--frames",
        "1",
        "--warmup",
        "0",
        "--quiet",
        "--json",
        idle.to_str().unwrap(),
    ]);
    assert!(run.status.success());
    let idle: serde_json::Value = serde_json::from_slice(&std::fs::read(&idle).unwrap()).unwrap();
    let Some(idle) = idle["peak_rss_bytes"].as_u64() else { return }; // not on this OS
    for (agents, window) in [(50_000u64, "64"), (50_000, "512")] {
        let json = temp(&format!("memory-{window}.json"));
        let run = genesis(&[
            "bench",
            "--agents",
            &agents.to_string(),
            "--window",
            window,
            "--frames",
            "70",
            "--warmup",
            "0",
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(run.status.success());
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let Some(peak) = report["peak_rss_bytes"].as_u64() else { return }; // not on this OS
        let config = ModelConfig { window: window.parse().unwrap(), ..ModelConfig::default() };
        let estimate: u64 = run_needs(&config, agents).iter().map(|n| n.bytes).sum();
        // 70 frames touch 70 window slots of a 512-slot window.
        let touched = if window == "512" { estimate - agents * 4 * (512 - 70) } else { estimate };
        assert!(
            touched <= peak && peak - idle < 2 * touched,
            "{agents} agents, window {window}: estimate {touched}, peak {peak}, {idle} of it before any agent"
        );
    }
}

/// Every report names its machine: processor, cores, the build that ran
/// and the compiler; `--isa` narrows the build and changes no result.
#[test]
fn reports_name_the_machine_and_every_isa_build_gives_the_same_dump() {
    use genesis::sim::parallel::Isa;
    let mut dumps = Vec::new();
    for isa in Isa::available() {
        let (dump, json) = (temp(&format!("isa-{}.csv", isa.name())), temp(&format!("isa-{}.json", isa.name())));
        let run = genesis(&[
            "bench",
            "--agents",
            "2000",
            "--frames",
            "80",
            "--quiet",
            "--isa",
            isa.name(),
            "--dump",
            dump.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
        let report: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
        let machine = &report["machine"];
        assert_eq!(machine["isa"], isa.name());
        assert_eq!(report["isa"], isa.name());
        assert_eq!(machine["cores"], std::thread::available_parallelism().unwrap().get());
        assert!(machine["rust"].as_str().unwrap().starts_with("rustc 1."), "{machine}");
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let processor = machine["processor"].as_str().unwrap();
        assert!(cpuinfo.is_empty() || cpuinfo.contains(processor), "{processor}");
        let text = genesis(&["bench", "--agents", "100", "--frames", "3", "--isa", isa.name()]);
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains(&format!("machine    {processor}, ")) && text.contains(&format!("{} build", isa.name())));
        dumps.push(std::fs::read(&dump).unwrap());
    }
    assert!(dumps.windows(2).all(|w| w[0] == w[1]));
    let refused = genesis(&["bench", "--isa", "avx9"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("avx512"));
    // parse and the sweep summary name it too.
    let json = temp("parse-machine.json");
    let parsed = genesis(&["parse", "assets/scenario/events.csv", "--json", json.to_str().unwrap()]);
    assert!(String::from_utf8_lossy(&parsed.stdout).contains("  machine    "));
    let stats: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert!(stats["machine"]["processor"].is_string() && stats["machine"]["rust"].is_string());
}
