//! `--series`: each row against the world's state computed independently,
//! and the CSV it writes.

use bevy::prelude::*;
use genesis::bench::{BenchOptions, build_app_with};
use genesis::series::{Series, SeriesPlugin};
use genesis::sim::{Agent, AnomalyCount, Fused, ModelConfig, Neighbourhood, Population, Scenario};

#[test]
fn rows_match_the_world_frame_by_frame() {
    let scenario = Scenario {
        config: ModelConfig { width: 200.0, height: 200.0, ..ModelConfig::default() },
        population: Population::Generated(2500),
        ..Scenario::default()
    };
    let mut app = build_app_with(scenario, 2, 16, |app| {
        app.add_plugins(SeriesPlugin { frames: 130 });
    });
    for frame in 0..130u64 {
        app.update();
        let world = app.world_mut();
        let mut q = world.query_filtered::<(&Fused, &Neighbourhood), With<Agent>>();
        let (fused, counts): (Vec<f64>, Vec<f64>) = q.iter(world).map(|(f, n)| (f.0 as f64, n.count as f64)).unzip();
        let n = fused.len() as f64;
        let mean = fused.iter().sum::<f64>() / n;
        let sd = (fused.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
        let nbr = counts.iter().sum::<f64>() / n;
        let anomalies = world.resource::<AnomalyCount>().this_frame;
        let row = world.resource::<Series>().rows.last().unwrap().clone();
        assert_eq!((row.frame, row.anomalies), (frame, anomalies));
        assert!((row.fused_mean - mean).abs() < 1e-12, "frame {frame}: {} vs {mean}", row.fused_mean);
        assert!((row.fused_sd - sd).abs() < 1e-9, "frame {frame}: {} vs {sd}", row.fused_sd);
        assert!((row.nbr_count_mean - nbr).abs() < 1e-12, "frame {frame}");
        assert!(row.stage_us.iter().all(|&us| us > 0.0));
        // Recall is defined from the first event's start (frame 120) on.
        assert_eq!(row.recall.is_some(), frame >= 120, "frame {frame}");
    }
}

#[test]
fn the_series_file_has_one_row_per_frame() {
    let path = std::env::temp_dir().join(format!("genesis-series-{}.csv", std::process::id()));
    let scenario = Scenario { population: Population::Generated(500), ..Scenario::default() };
    let options = BenchOptions { series: Some(path.clone()), ..BenchOptions::new(scenario, 50, 5, 1) };
    genesis::bench::run(&options).unwrap();
    let table = genesis::csv::read_file(&path, genesis::csv::ParseOptions::default()).unwrap().table;
    assert_eq!(table.rows, 50);
    let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "frame",
            "anomalies",
            "fused_mean",
            "fused_sd",
            "nbr_count_mean",
            "recall",
            "spatial_us",
            "sensing_us",
            "fusion_us",
            "inference_us",
            "anomaly_us",
            "movement_us"
        ]
    );
    assert_eq!(table.columns[0].values, genesis::csv::Values::Integer((0..50).collect()));
}
