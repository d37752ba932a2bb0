//! How well the agents notice events: the awareness score the benchmark
//! reports next to its speed.
//!
//! - **Recall**: for each event, the agents within half its radius of its
//!   centre in its first active frame; the share of them flagged as
//!   anomalous in that frame or the next.
//! - **False alarms** per 1,000 agent-frames: flags raised with no active
//!   event (of any channel) within its radius of the agent.
//!
//! It runs in [`Stage::Anomaly`] right after the detector, when positions
//! are still those the agents sensed from. Frames with no flag, no event
//! starting and nobody being watched skip the scan over agents.

use bevy::prelude::*;

use super::{
    SimClock, Stage,
    agents::{Agent, AgentId, Position},
    anomaly::{Anomaly, AnomalyCount, detect_anomalies},
    environment::{ActiveEvents, Event},
    parallel::TABLES,
};

pub(super) fn plugin(app: &mut App) {
    app.init_resource::<DetectionScore>()
        .add_systems(super::SimStart, |mut score: ResMut<DetectionScore>| *score = DetectionScore::default())
        .add_systems(super::SimFrame, score_detection.in_set(Stage::Anomaly).after(detect_anomalies));
}

/// Running totals of the awareness score.
#[derive(Resource, Clone, Debug, Default, PartialEq)]
pub struct DetectionScore {
    /// Agents near a starting event (one per agent and event).
    pub witnesses: u64,
    /// Of those, flagged in the event's first frame or the next.
    pub noticed: u64,
    /// Flags with no active event within its radius.
    pub false_alarms: u64,
    /// Agents × frames scored.
    pub agent_frames: u64,
    /// Ids of witnesses not yet flagged, to check next frame (sorted).
    /// Ids, not slots or entities: agents may be reordered between frames.
    watching: Vec<u32>,
    watching_next: Vec<u32>,
}

impl DetectionScore {
    /// Scores agent `id` at `p`, flagged this frame: a false alarm with no
    /// active event within reach, and noticed for every event it has been
    /// watched for since that event started last frame.
    fn flagged(&mut self, events: &[Event], id: u32, p: Vec2) {
        if !events.iter().any(|e| e.distance_sq(p.x, p.y) <= e.radius * e.radius) {
            self.false_alarms += 1;
        }
        let (lo, hi) = equal_range(&self.watching, id);
        self.noticed += (hi - lo) as u64;
    }

    /// `noticed / witnesses`, `None` before any event has started.
    pub fn recall(&self) -> Option<f64> {
        (self.witnesses > 0).then(|| self.noticed as f64 / self.witnesses as f64)
    }

    /// False alarms per 1,000 agent-frames.
    pub fn false_alarms_per_1000(&self) -> f64 {
        if self.agent_frames == 0 { 0.0 } else { self.false_alarms as f64 * 1000.0 / self.agent_frames as f64 }
    }
}

/// Updates the [`DetectionScore`] with this frame's flags.
pub fn score_detection(
    agents: Query<(&AgentId, &Position, &Anomaly), With<Agent>>,
    events: Res<ActiveEvents>,
    count: Res<AnomalyCount>,
    clock: Res<SimClock>,
    mut score: ResMut<DetectionScore>,
) {
    let score = &mut *score;
    let events = &events.0;
    let starting = events.iter().any(|e| e.start == clock.frame);
    score.agent_frames += agents.iter().len() as u64;
    if count.this_frame == 0 && !starting && score.watching.is_empty() {
        return;
    }
    if !starting {
        // Only the flagged agents count: find them in the verdict column
        // alone (a few a frame among thousands; scanning every agent's
        // events cost 12 µs a frame at 10k agents, while the other worker
        // waited).
        for (ids, positions, anomalies) in agents.contiguous_iter().expect(TABLES) {
            for (j, anomaly) in anomalies.iter().enumerate() {
                if anomaly.flagged {
                    score.flagged(events, ids[j].0, positions[j].0);
                }
            }
        }
    } else {
        for (id, p, anomaly) in &agents {
            if anomaly.flagged {
                score.flagged(events, id.0, p.0);
            }
            let (x, y) = (p.0.x, p.0.y);
            for e in events.iter().filter(|e| e.start == clock.frame) {
                let half = 0.5 * e.radius;
                if e.distance_sq(x, y) <= half * half {
                    score.witnesses += 1;
                    if anomaly.flagged {
                        score.noticed += 1;
                    } else {
                        score.watching_next.push(id.0);
                    }
                }
            }
        }
    }
    score.watching_next.sort_unstable();
    std::mem::swap(&mut score.watching, &mut score.watching_next);
    score.watching_next.clear();
}

/// The range of `value` in the sorted `list`.
fn equal_range(list: &[u32], value: u32) -> (usize, usize) {
    (list.partition_point(|&v| v < value), list.partition_point(|&v| v <= value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::SimClock;

    /// Four agents around one event, scored by hand over three frames.
    #[test]
    fn recall_and_false_alarms_by_hand() {
        let mut world = World::new();
        let event = Event { start: 120, end: 180, x: 0.0, y: 0.0, radius: 10.0, channel: 0, magnitude: 2.0 };
        world.insert_resource(ActiveEvents(vec![event]));
        world.insert_resource(SimClock { frame: 120 });
        world.init_resource::<DetectionScore>();
        // A: witness (within r/2 = 5), flagged at once. B: witness, flagged
        // one frame late. C: witness, flagged two frames late (missed).
        // D: inside the radius but not a witness. E: far away.
        let at = |x: f32, y: f32| Position(Vec2::new(x, y));
        let agents: Vec<Entity> = [at(1.0, 0.0), at(0.0, 3.0), at(-4.0, 0.0), at(8.0, 0.0), at(50.0, 50.0)]
            .into_iter()
            .enumerate()
            .map(|(id, p)| world.spawn((Agent, AgentId(id as u32), p, Anomaly::default())).id())
            .collect();
        let flags_by_frame =
            [[true, false, false, true, true], [false, true, false, false, true], [false, false, true, false, false]];
        let mut system = IntoSystem::into_system(score_detection);
        system.initialize(&mut world);
        for (k, flags) in flags_by_frame.iter().enumerate() {
            world.resource_mut::<SimClock>().frame = 120 + k as u64;
            for (&e, &flagged) in agents.iter().zip(flags) {
                world.get_mut::<Anomaly>(e).unwrap().flagged = flagged;
            }
            world.insert_resource(AnomalyCount { this_frame: flags.iter().filter(|&&f| f).count() as u64, total: 0 });
            system.run((), &mut world).unwrap();
        }
        let score = world.resource::<DetectionScore>();
        assert_eq!((score.witnesses, score.noticed), (3, 2));
        assert_eq!(score.recall(), Some(2.0 / 3.0));
        // E's two flags are false alarms; D's flag is inside the radius.
        assert_eq!(score.false_alarms, 2);
        assert_eq!(score.agent_frames, 15);
        assert!((score.false_alarms_per_1000() - 2000.0 / 15.0).abs() < 1e-9);
    }
}
