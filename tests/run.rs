//! The run every door shares ([`genesis::run::Run`]): readings given for a
//! frame equal a trace holding them, given weights equal to SPEC's change
//! nothing, a reset run equals a new one, and a step can be stopped.

use std::ops::ControlFlow;

use genesis::run::{Run, RunSettings};
use genesis::sim::{AgentSpec, LiveReadings, Mlp, ModelConfig, Population, Scenario, SensorTrace};

fn dump(run: &mut Run) -> String {
    let mut out = Vec::new();
    genesis::state::write_dump(run.world_mut(), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn stepped(scenario: Scenario, frames: u64) -> String {
    let mut run = Run::new(scenario, RunSettings::new(2, 64));
    run.step(frames, |_| ControlFlow::Continue(()));
    dump(&mut run)
}

/// Agents with scattered ids, listed out of order.
fn listed(config: &ModelConfig) -> Scenario {
    let agents =
        [(907, 100.0, 120.0), (12, 105.0, 118.0), (40_000, 700.0, 300.0), (3, 102.0, 125.0), (512, 400.0, 800.0)]
            .map(|(id, x, y)| AgentSpec { id, x, y, heading: None });
    Scenario { config: config.clone(), population: Population::Listed(agents.to_vec()), ..Scenario::default() }
}

#[test]
fn readings_given_for_a_frame_equal_a_trace_holding_them() {
    for channels in [8, 3] {
        let config = ModelConfig { channels, seed: 5, ..ModelConfig::default() };
        let scenario = listed(&config);
        let ids = [3u32, 12, 512, 907, 40_000]; // id order
        let values: Vec<f32> = (0..ids.len() * channels).map(|k| 0.1 * k as f32 - 0.7).collect();
        let mut live = Run::new(scenario.clone(), RunSettings::new(1, 64));
        live.step(4, |_| ControlFlow::Continue(()));
        let readings = LiveReadings::from_rows(4, &values, (ids.len(), channels), ids.len(), channels).unwrap();
        live.step_with_readings(readings);
        live.step(6, |_| ControlFlow::Continue(()));
        assert_eq!(live.frame(), 11);
        let rows = ids
            .iter()
            .enumerate()
            .map(|(k, &id)| (4, id, std::array::from_fn(|c| if c < channels { values[k * channels + c] } else { 0.0 })))
            .collect();
        let traced = Scenario { trace: Some(SensorTrace::new(rows).unwrap()), ..scenario.clone() };
        assert_eq!(dump(&mut live), stepped(traced, 11), "{channels} channels");
        assert_ne!(dump(&mut live), stepped(scenario, 11), "the readings changed nothing");
    }
}

#[test]
fn readings_of_the_wrong_shape_or_not_finite_are_refused() {
    let ok = vec![0.5f32; 12];
    assert!(LiveReadings::from_rows(0, &ok, (4, 3), 4, 3).is_ok());
    let e = LiveReadings::from_rows(0, &ok, (3, 4), 4, 3).unwrap_err();
    assert!(e.contains("shape (4, 3)") && e.contains("got (3, 4)"), "{e}");
    let mut bad = ok.clone();
    bad[7] = f32::INFINITY;
    let e = LiveReadings::from_rows(0, &bad, (4, 3), 4, 3).unwrap_err();
    assert!(e.contains("row 2 column 1 is inf"), "{e}");
}

#[test]
fn spec_weights_given_explicitly_change_nothing_and_others_do() {
    let config = ModelConfig { seed: 9, ..ModelConfig::default() };
    let plain = Scenario { config: config.clone(), population: Population::Generated(400), ..Scenario::default() };
    let mut mlp = Mlp::default_for(&config);
    let explicit = Scenario { weights: Some(mlp.clone()), ..plain.clone() };
    assert_eq!(stepped(explicit, 20), stepped(plain.clone(), 20));
    mlp.b2[3] = 1.5;
    let faster = Scenario { weights: Some(mlp), ..plain.clone() };
    assert_ne!(stepped(faster, 20), stepped(plain, 20));
}

#[test]
fn a_reset_run_equals_a_new_one_and_a_step_can_be_stopped() {
    let scenario = listed(&ModelConfig::default());
    let mut run = Run::new(scenario.clone(), RunSettings::new(2, 64));
    assert_eq!(run.step(100, |frame| if frame < 7 { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }), 7);
    assert_eq!(run.frame(), 7);
    run.reset();
    assert_eq!(run.frame(), 0);
    run.step(30, |_| ControlFlow::Continue(()));
    assert_eq!(dump(&mut run), stepped(scenario, 30));
    assert_eq!(run.report().frames, 30);
}
