//! The whole pipeline run through Bevy (`App::update()`), checked against
//! SPEC section 8 and against the plain reference implementation in
//! `common/`.

mod common;

use bevy::prelude::*;
use common::Reference;
use genesis::bench::build_app;
use genesis::sim::{
    AgentId, Anomaly, EventSchedule, Fused, Heading, MlpOutput, ModelConfig, Neighbourhood, Population, Position,
    Scenario, SimClock,
};
use genesis::state::write_dump;

fn scenario(config: ModelConfig, agents: u32) -> Scenario {
    Scenario {
        config,
        population: Population::Generated(agents),
        events: EventSchedule::Default,
        ..Scenario::default()
    }
}

/// `(id, x, y, heading, fused, z, anomaly, nbr_count, y)` of every agent, by id.
type Row = (u32, f32, f32, f32, f32, f32, bool, u32, [f32; 4]);

fn rows(app: &mut App) -> Vec<Row> {
    let world = app.world_mut();
    let mut q = world.query::<(&AgentId, &Position, &Heading, &Fused, &Anomaly, &Neighbourhood, &MlpOutput)>();
    let mut rows: Vec<Row> = q
        .iter(world)
        .map(|(id, p, h, f, a, n, y)| (id.0, p.0.x, p.0.y, h.0, f.0, a.z, a.flagged, n.count, y.0))
        .collect();
    rows.sort_by_key(|r| r.0);
    rows
}

/// SPEC section 8: a world of 3 generated agents after one frame.
#[test]
fn three_agents_after_one_frame_match_the_published_values() {
    let mut app = build_app(scenario(ModelConfig::default(), 3), 1, 16);
    app.update();
    assert_eq!(app.world().resource::<SimClock>().frame, 1);
    let rows = rows(&mut app);
    let a0 = rows[0];
    let close = |a: f32, b: f32, tol: f32| (a - b).abs() <= tol;
    assert!(close(a0.1, 814.935_61, 1e-4) && close(a0.2, 994.123_17, 1e-4), "id 0 at ({}, {})", a0.1, a0.2);
    assert!(close(a0.3, 0.791_286_89, 1e-6), "id 0 heading {}", a0.3);
    assert!(close(a0.4, 0.403_524_46, 1e-6), "id 0 fused {}", a0.4);
    for (got, want) in a0.8.iter().zip([0.466_279_72, 0.308_559_57, 0.572_692_87, 0.630_092_38]) {
        assert!(close(*got, want, 1e-6), "id 0 y {:?}", a0.8);
    }
    let a2 = rows[2];
    assert!(close(a2.1, 853.986_51, 1e-4) && close(a2.2, 149.662_16, 1e-4), "id 2 at ({}, {})", a2.1, a2.2);
    assert!(close(a2.3, -2.716_106_7, 1e-6), "id 2 heading {}", a2.3);
    assert!(close(a2.4, 0.527_794_24, 1e-6), "id 2 fused {}", a2.4);
}

/// A crowded small world through Bevy against the brute-force reference,
/// frame after frame, across an event and past the anomaly window filling.
#[test]
fn pipeline_matches_the_reference_implementation() {
    let config = ModelConfig { width: 120.0, height: 120.0, raster: 32, window: 16, ..ModelConfig::default() };
    let n = 300;
    let mut app = build_app(scenario(config.clone(), n), 2, 16);
    let mut reference = Reference::new(config, n);
    let mut flags = 0;
    let mut neighbours = 0;
    for frame in 0..200 {
        app.update();
        reference.step();
        for (got, want) in rows(&mut app).iter().zip(&reference.agents) {
            let ctx = format!("frame {frame}, agent {}", want.id);
            assert_eq!(got.0, want.id);
            assert!(
                (got.1 - want.x).abs() < 1e-3 && (got.2 - want.y).abs() < 1e-3,
                "{ctx}: position {:?} vs {:?}",
                (got.1, got.2),
                (want.x, want.y)
            );
            assert!((got.4 - want.fused).abs() < 1e-4, "{ctx}: fused {} vs {}", got.4, want.fused);
            assert_eq!(got.7, want.nbr_count, "{ctx}: neighbour count");
            for o in 0..4 {
                assert!((got.8[o] - want.y_out[o]).abs() < 1e-4, "{ctx}: y{o} {} vs {}", got.8[o], want.y_out[o]);
            }
            assert!((got.5 - want.z).abs() <= 1e-3 * want.z.max(1.0), "{ctx}: z {} vs {}", got.5, want.z);
            assert_eq!(got.6, want.anomaly, "{ctx}: anomaly flag (z {})", want.z);
            flags += want.anomaly as u32;
            neighbours += want.nbr_count;
        }
    }
    // The world was busy enough to exercise what was compared.
    assert!(flags > 0, "no anomaly in 200 frames");
    assert!(neighbours > 200 * n, "too few neighbours: {neighbours}");
}

/// Same seed, 1 thread and 2 threads: byte-identical state dumps.
#[test]
fn state_is_identical_on_one_and_two_threads() {
    let config = ModelConfig { width: 300.0, height: 300.0, ..ModelConfig::default() };
    let dump = |threads| {
        let mut app = build_app(scenario(config.clone(), 3000), threads, 16);
        for _ in 0..130 {
            app.update();
        }
        let mut out = Vec::new();
        write_dump(app.world_mut(), &mut out).unwrap();
        out
    };
    let (one, two) = (dump(1), dump(2));
    assert_eq!(one.len(), two.len());
    assert!(one == two, "dumps differ between 1 and 2 threads");
    assert_eq!(String::from_utf8(one).unwrap().lines().count(), 3001);
}

/// Putting the agents in space order moves them in the ECS table and
/// renumbers their anomaly-history slots, and changes nothing computed:
/// reordering every 5 frames (often, so that the history is renumbered
/// again before its old rows are gone) or every 32 gives the state of a run
/// that never reorders, through the window filling and past an event.
#[test]
fn space_order_changes_nothing_computed() {
    use genesis::sim::{AgentSlot, SpaceOrder};
    let config = ModelConfig { width: 300.0, height: 300.0, window: 16, ..ModelConfig::default() };
    let run = |every: u64| {
        let mut app = build_app(scenario(config.clone(), 3000), 2, 16);
        app.insert_resource(SpaceOrder { every });
        for _ in 0..130 {
            app.update();
        }
        let world = app.world_mut();
        // Table order: slots follow it, and ids do not once reordered.
        let order: Vec<(u32, usize)> =
            world.query::<(&AgentId, &AgentSlot)>().iter(world).map(|(id, slot)| (id.0, slot.index())).collect();
        assert!(order.iter().enumerate().all(|(k, &(_, slot))| slot == k), "slots follow the table");
        let ids_sorted = order.windows(2).all(|w| w[0].0 < w[1].0);
        assert_eq!(ids_sorted, every == 0, "agents reordered (every {every})");
        (rows(&mut app), app.world().resource::<genesis::sim::AnomalyCount>().total)
    };
    let (never, never_flags) = run(0);
    assert!(never_flags > 0, "the run should flag anomalies");
    for every in [5, 32] {
        let (rows, flags) = run(every);
        assert_eq!(flags, never_flags, "every {every}: anomalies");
        for (got, want) in rows.iter().zip(&never) {
            // The window's re-sums follow slots, so z may differ by rounding.
            assert!((got.5 - want.5).abs() <= 1e-5 * want.5.max(1.0), "every {every}, agent {}: z", want.0);
            let (mut got, mut want) = (*got, *want);
            (got.5, want.5) = (0.0, 0.0);
            assert_eq!(got, want, "every {every}: agent {}", want.0);
        }
    }
}

/// `restart` (the desktop's reset, seed and agent-count controls) leaves no
/// trace of the run before it: a world restarted mid-run then run N frames
/// equals a new app run N frames, state, anomaly totals and score alike.
#[test]
fn a_restarted_simulation_equals_a_new_one() {
    use genesis::sim::{AnomalyCount, DetectionScore, restart};
    let config = ModelConfig { width: 300.0, height: 300.0, window: 8, ..ModelConfig::default() };
    let wanted = scenario(config.clone(), 1500);
    let run = |app: &mut App| {
        for _ in 0..140 {
            app.update();
        }
        let mut out = Vec::new();
        write_dump(app.world_mut(), &mut out).unwrap();
        let world = app.world();
        (
            out,
            *world.resource::<AnomalyCount>(),
            world.resource::<DetectionScore>().clone(),
            world.resource::<SimClock>().frame,
        )
    };
    let fresh = run(&mut build_app(wanted.clone(), 2, 16));

    // Another seed and agent count first, far enough for flags and events.
    let other = scenario(ModelConfig { seed: 7, ..config.clone() }, 900);
    let mut app = build_app(other, 2, 16);
    for _ in 0..130 {
        app.update();
    }
    assert!(app.world().resource::<AnomalyCount>().total > 0, "the first run should leave state to clear");
    restart(app.world_mut(), wanted);
    let restarted = run(&mut app);
    assert_eq!(fresh.1, restarted.1, "anomaly counts");
    assert_eq!(fresh.2, restarted.2, "detection score");
    assert_eq!(fresh.3, restarted.3, "clock");
    assert!(fresh.0 == restarted.0, "state dumps differ after restart");
    assert_eq!(String::from_utf8(restarted.0).unwrap().lines().count(), 1501);
}
