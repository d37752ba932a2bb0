//! Scenario files: valid ones load and drive the simulation; every kind of
//! malformed input is refused with the file, line and column, never a panic.

use std::collections::HashSet;
use std::path::PathBuf;

use bevy::prelude::*;
use genesis::bench::build_app;
use genesis::csv::CsvError;
use genesis::scenario::{load_agents, load_events, load_trace};
use genesis::sim::{AgentId, ModelConfig, Population, Scenario, Sensors};

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("genesis-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn config() -> ModelConfig {
    ModelConfig::default()
}

fn expect(
    result: Result<impl std::fmt::Debug, CsvError>,
    file: &std::path::Path,
    line: u64,
    column: usize,
    needle: &str,
) {
    let e = result.expect_err("malformed input accepted");
    let text = e.to_string();
    assert_eq!((e.line(), e.column()), (Some(line), Some(column)), "{text}");
    assert!(text.contains(needle), "{text} lacks {needle:?}");
    assert!(text.starts_with(&file.display().to_string()), "{text} does not name the file");
}

#[test]
fn agents_load_with_columns_in_any_order_and_unknown_ones_ignored() {
    let path = write("agents_ok.csv", b"\xEF\xBB\xBFnote,y,id,x\r\n\"a, b\",5.5,7,1\r\nz,10,3,999.5\r\n");
    let (agents, stats) = load_agents(&path, &config()).unwrap();
    assert_eq!(agents.len(), 2);
    assert_eq!((agents[0].id, agents[0].x, agents[0].y, agents[0].heading), (7, 1.0, 5.5, None));
    assert_eq!((agents[1].id, agents[1].x, agents[1].y), (3, 999.5, 10.0));
    assert_eq!((stats.rows, stats.columns.len()), (2, 4));
    // Headings as given; an empty one takes the default (None here).
    let path = write("agents_heading.csv", b"id,x,y,heading\n1,2,3,0.25\n2,4,5,\n3,6,7,-1\n");
    let (agents, _) = load_agents(&path, &config()).unwrap();
    assert_eq!(agents.iter().map(|a| a.heading).collect::<Vec<_>>(), [Some(0.25), None, Some(-1.0)]);
    let path = write("agents_bad_heading.csv", b"id,x,y,heading\n1,2,3,0.25\n2,4,5,north\n");
    expect(load_agents(&path, &config()), &path, 3, 4, "expected a heading in radians, found 'north'");
}

/// A file as a spreadsheet saves it (BOM, `;`, CRLF, a title line, text
/// in Windows-1252) loads through the same detection as `genesis parse`;
/// its ragged rows stay errors.
#[test]
fn spreadsheet_exports_load() {
    let path =
        write("agents_semicolon.csv", b"Agents for run 7\r\nid;x;y;name\r\n1;2.5;3;caf\xe9\r\n2;4;5;\"a; b\"\r\n");
    let (agents, stats) = load_agents(&path, &config()).unwrap();
    assert_eq!(agents.iter().map(|a| (a.id, a.x, a.y)).collect::<Vec<_>>(), [(1, 2.5, 3.0), (2, 4.0, 5.0)]);
    assert_eq!(stats.columns[3].min, Some(genesis::csv::stats::Extreme::Text("a; b".into())));
    assert_eq!(stats.columns[3].max, Some(genesis::csv::stats::Extreme::Text("café".into())));
    // Saved where the decimal mark is a comma (Germany, France, ...).
    let path = write("agents_decimal_comma.csv", b"id;x;y;heading\r\n1;2,5;3;-0,25\r\n2;4;999,75;1\r\n");
    let (agents, _) = load_agents(&path, &config()).unwrap();
    assert_eq!(
        agents.iter().map(|a| (a.id, a.x, a.y, a.heading)).collect::<Vec<_>>(),
        [(1, 2.5, 3.0, Some(-0.25)), (2, 4.0, 999.75, Some(1.0))]
    );
    let path = write("agents_semicolon_ragged.csv", b"id;x;y\r\n1;2;3\r\n2;4\r\n");
    expect(load_agents(&path, &config()), &path, 3, 3, "too few fields");
}

#[test]
fn malformed_agents_are_refused_with_line_and_column() {
    let c = config();
    let cases: [(&str, &[u8], u64, usize, &str); 9] = [
        ("unterminated.csv", b"id,x,y\n1,2,3\n2,\"4,5\n3,1,1\n", 3, 2, "unterminated"),
        ("fields.csv", b"id,x,y\n1,2,3\n2,4\n", 3, 3, "too few fields"),
        ("nonnumeric.csv", b"id,x,y\n1,2,3\n2,abc,5\n", 3, 2, "expected a finite number, found 'abc'"),
        ("missingcol.csv", b"id,x\n1,2\n", 1, 3, "missing required column 'y'"),
        ("duplicate.csv", b"id,x,y\n1,2,3\n2,2,3\n1,5,5\n", 4, 1, "duplicate agent id 1"),
        ("nonfinite.csv", b"id,x,y\n1,2,3\n2,inf,5\n", 3, 2, "found 'inf'"),
        ("outside.csv", b"id,x,y\n1,2,3\n2,5,1000.5\n", 3, 3, "inside the world"),
        ("negative_id.csv", b"id,x,y\n1,2,3\n-4,5,5\n", 3, 1, "an agent id"),
        ("empty_value.csv", b"id,x,y\n1,,3\n", 2, 2, "empty field"),
    ];
    for (name, bytes, line, column, needle) in cases {
        let path = write(name, bytes);
        expect(load_agents(&path, &c), &path, line, column, needle);
    }
    for (name, bytes) in [("empty.csv", &b""[..]), ("headeronly.csv", b"id,x,y\n")] {
        let path = write(name, bytes);
        let e = load_agents(&path, &c).unwrap_err().to_string();
        assert!(e.contains(&path.display().to_string()) && (e.contains("empty") || e.contains("no agents")), "{e}");
    }
}

#[test]
fn malformed_events_are_refused_with_line_and_column() {
    let c = config();
    let head = "start,end,x,y,radius,channel,magnitude\n";
    let cases = [
        ("ev_end.csv", "10,20,1,1,5,0,1\n30,25,1,1,5,0,1\n", 3, 2, "expected end ≥ start"),
        ("ev_channel.csv", "10,20,1,1,5,8,1\n", 2, 6, "a channel (0 to 7)"),
        ("ev_radius.csv", "10,20,1,1,0,0,1\n", 2, 5, "radius > 0"),
        ("ev_pos.csv", "10,20,-1,1,5,0,1\n", 2, 3, "inside the world"),
        ("ev_frame.csv", "1.5,20,1,1,5,0,1\n", 2, 1, "whole number"),
    ];
    for (name, body, line, column, needle) in cases {
        let path = write(name, format!("{head}{body}").as_bytes());
        expect(load_events(&path, &c), &path, line, column, needle);
    }
    let path = write("ev_ok.csv", format!("{head}10,20,1,2,5,3,1.5\n").as_bytes());
    let (events, _) = load_events(&path, &c).unwrap();
    assert_eq!((events[0].start, events[0].end, events[0].channel, events[0].magnitude), (10, 20, 3, 1.5));
}

#[test]
fn malformed_traces_are_refused_with_line_and_column() {
    let c = config();
    let ids: HashSet<u32> = (0..10).collect();
    let head = "frame,agent,s0,s1,s2,s3,s4,s5,s6,s7\n";
    let row = |f: u32, a: u32| format!("{f},{a},1,1,1,1,1,1,1,1\n");
    let cases = [
        ("tr_unknown.csv", format!("{}{}", row(0, 1), row(0, 12)), 3, 2, "unknown agent id 12"),
        ("tr_dup.csv", format!("{}{}{}", row(0, 1), row(1, 1), row(0, 1)), 4, 2, "duplicate trace row"),
        ("tr_nan.csv", format!("{}0,1,1,1,nan,1,1,1,1,1\n", row(0, 2)), 3, 5, "found 'nan'"),
    ];
    for (name, body, line, column, needle) in cases {
        let path = write(name, format!("{head}{body}").as_bytes());
        expect(load_trace(&path, &c, &ids), &path, line, column, needle);
    }
    let path = write("tr_missing.csv", b"frame,agent,s0\n0,1,1\n");
    expect(load_trace(&path, &c, &ids), &path, 1, 4, "missing required column 's1'");
}

#[test]
fn a_trace_replaces_sensing_for_its_frame_and_agent_only() {
    let c = ModelConfig::default();
    let path = write("tr_replay.csv", b"frame,agent,s0,s1,s2,s3,s4,s5,s6,s7\n1,2,9,8,7,6,5,4,3,2\n");
    let ids: HashSet<u32> = (0..4).collect();
    let (trace, _) = load_trace(&path, &c, &ids).unwrap();
    let plain = Scenario { config: c.clone(), population: Population::Generated(4), ..Scenario::default() };
    let traced = Scenario { trace: Some(trace), ..plain.clone() };
    let sensors_after = |scenario: Scenario, frames: usize| {
        let mut app = build_app(scenario, 1, 16);
        for _ in 0..frames {
            app.update();
        }
        let world = app.world_mut();
        let mut q = world.query::<(&AgentId, &Sensors)>();
        let mut v: Vec<(u32, [f32; 8])> = q.iter(world).map(|(id, s)| (id.0, s.0)).collect();
        v.sort_by_key(|x| x.0);
        v
    };
    // Frame 0: identical. Frame 1: agent 2 replays the trace, others sense.
    assert_eq!(sensors_after(traced.clone(), 1), sensors_after(plain.clone(), 1));
    let (with, without) = (sensors_after(traced, 2), sensors_after(plain, 2));
    assert_eq!(with[2].1, [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0]);
    for id in [0, 1, 3] {
        assert_eq!(with[id], without[id], "agent {id}");
    }
}

#[test]
fn the_shipped_example_scenario_loads_and_runs() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/scenario");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_genesis"))
        .args(["bench", "--frames", "150", "--quiet"])
        .arg("--agents-csv")
        .arg(dir.join("agents.csv"))
        .arg("--events-csv")
        .arg(dir.join("events.csv"))
        .arg("--trace-csv")
        .arg(dir.join("trace.csv"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("loaded") && text.contains("agents.csv") && text.contains("trace.csv"), "{text}");
}

#[test]
fn a_bad_scenario_file_exits_non_zero_with_the_place_named() {
    let path = write("cli_bad.csv", b"id,x,y\n1,2,3\n1,2,3\n");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_genesis"))
        .args(["bench", "--frames", "10", "--agents-csv"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("{}:3:1", path.display())) && !err.contains("panicked"), "{err}");
}

/// The built-in default scenario is SPEC's default world exactly: every
/// agent as SPEC 1 spawns it and every default event of the first
/// 1,000,000 frames, bit for bit, so its dump equals the generated
/// world's on 1 and 2 threads.
#[test]
fn the_built_in_default_scenario_is_the_default_world() {
    use genesis::bench::{self, BenchOptions};
    use genesis::scenario::{DEFAULT_AGENTS, DEFAULT_EVENT_FRAMES, embedded_default};
    use genesis::sim::EventSchedule;
    use genesis::sim::agents::generated_agent;
    use genesis::sim::environment::default_event;

    let mut built_in = Scenario::default();
    assert!(embedded_default(&mut built_in).unwrap());
    let config = config();
    let Population::Listed(agents) = &built_in.population else { panic!("agents not loaded") };
    assert_eq!(agents.len(), DEFAULT_AGENTS as usize);
    for a in agents {
        let g = generated_agent(&config, a.id);
        assert_eq!((a.x.to_bits(), a.y.to_bits()), (g.x.to_bits(), g.y.to_bits()), "agent {}", a.id);
        assert_eq!(a.heading.map(f32::to_bits), g.heading.map(f32::to_bits), "agent {}", a.id);
    }
    let EventSchedule::Listed(events) = &built_in.events else { panic!("events not loaded") };
    let expected: Vec<_> =
        (0..).map(|k| default_event(&config, k)).take_while(|e| e.start < DEFAULT_EVENT_FRAMES).collect();
    assert_eq!(events.len(), expected.len());
    for (e, d) in events.iter().zip(&expected) {
        assert_eq!(format!("{e:?}"), format!("{d:?}"));
        assert_eq!((e.x.to_bits(), e.y.to_bits()), (d.x.to_bits(), d.y.to_bits()));
    }
    let names: Vec<String> = built_in.datasets.iter().map(|d| d.path.display().to_string()).collect();
    assert_eq!(names, ["agents.csv (built in)", "events.csv (built in)"]);
    assert_eq!(built_in.datasets[0].rows, 10_000);

    // Not the default world: nothing is loaded.
    let mut other = Scenario { config: ModelConfig { seed: 7, ..config.clone() }, ..Scenario::default() };
    assert!(!embedded_default(&mut other).unwrap());
    assert!(matches!(other.population, Population::Generated(10_000)));

    for threads in [1, 2] {
        let dump = |scenario: Scenario, name: &str| {
            let path = write(name, b"");
            let options = BenchOptions { dump: Some(path.clone()), ..BenchOptions::new(scenario, 200, 20, threads) };
            bench::run(&options).unwrap();
            std::fs::read(path).unwrap()
        };
        let generated = dump(Scenario::default(), "generated-dump.csv");
        assert_eq!(dump(built_in.clone(), "built-in-dump.csv"), generated, "{threads} threads");
    }
}
