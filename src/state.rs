//! The agents' state in id order: SPEC 6's state dump, and the arrays the
//! Python package hands out (one implementation, so the two agree).
//!
//! The ECS tables hold agents in space order (put back every few frames
//! for cache locality, [`crate::sim::spatial::order`]), so reading them in
//! id order is one pass per component that writes each agent's values to
//! its row ([`IdOrder::row`]): O(n), no sort. Each reader returns a fresh
//! `Vec` of the values, row-major (`agents × width`), which the Python
//! package hands to NumPy as it is.

use std::io::{self, Write};

use bevy::prelude::*;

use crate::sim::{AgentId, Anomaly, Fused, Heading, IdOrder, MlpOutput, ModelConfig, Neighbourhood, Position, Sensors};

/// Every agent's `width` values of component `C` (written by `write`), in
/// id order: row `k` of the result is the agent with the `k`-th smallest
/// id.
pub fn gather<C: Component, T: Copy>(world: &mut World, width: usize, fill: T, write: impl Fn(&C, &mut [T])) -> Vec<T> {
    let mut query = world.query::<(&AgentId, &C)>();
    let order = world.resource::<IdOrder>();
    let mut out = vec![fill; order.len() * width];
    for (id, component) in query.iter(world) {
        let row = order.row(id.0);
        write(component, &mut out[row * width..(row + 1) * width]);
    }
    out
}

/// The agents' ids, ascending.
pub fn ids(world: &World) -> Vec<u32> {
    world.resource::<IdOrder>().ids()
}

/// `x, y` per agent (`agents × 2`).
pub fn positions(world: &mut World) -> Vec<f32> {
    gather(world, 2, 0.0, |p: &Position, out| out.copy_from_slice(&[p.0.x, p.0.y]))
}

/// Heading `θ` per agent, radians in `[-π, π)`.
pub fn headings(world: &mut World) -> Vec<f32> {
    gather(world, 1, 0.0, |h: &Heading, out| out[0] = h.0)
}

/// This frame's readings per agent (`agents × S`).
pub fn sensors(world: &mut World) -> Vec<f32> {
    let channels = world.resource::<ModelConfig>().channels;
    gather(world, channels, 0.0, |s: &Sensors, out| out.copy_from_slice(&s.0[..out.len()]))
}

/// `fused` per agent.
pub fn fused(world: &mut World) -> Vec<f32> {
    gather(world, 1, 0.0, |f: &Fused, out| out[0] = f.0)
}

/// The anomaly z-score per agent.
pub fn z(world: &mut World) -> Vec<f32> {
    gather(world, 1, 0.0, |a: &Anomaly, out| out[0] = a.z)
}

/// Whether each agent is flagged this frame.
pub fn anomaly(world: &mut World) -> Vec<bool> {
    gather(world, 1, false, |a: &Anomaly, out| out[0] = a.flagged)
}

/// Neighbours kept per agent.
pub fn nbr_count(world: &mut World) -> Vec<u32> {
    gather(world, 1, 0, |n: &Neighbourhood, out| out[0] = n.count)
}

/// The MLP's four outputs per agent (`agents × 4`: threat, interest, two
/// steering values).
pub fn outputs(world: &mut World) -> Vec<f32> {
    gather(world, 4, 0.0, |y: &MlpOutput, out| out.copy_from_slice(&y.0))
}

/// Writes the SPEC 6 state dump: a header, then one row per agent in id
/// order.
pub fn write_dump(world: &mut World, w: &mut impl Write) -> io::Result<()> {
    let (ids, positions, headings, fused, z) = (ids(world), positions(world), headings(world), fused(world), z(world));
    let (anomaly, nbr_count, outputs) = (anomaly(world), nbr_count(world), outputs(world));
    writeln!(w, "id,x,y,heading,fused,z,anomaly,nbr_count,y0,y1,y2,y3")?;
    for (k, id) in ids.iter().enumerate() {
        let [y0, y1, y2, y3] = [0, 1, 2, 3].map(|o| outputs[4 * k + o]);
        writeln!(
            w,
            "{},{},{},{},{},{},{},{},{},{},{},{}",
            id,
            positions[2 * k],
            positions[2 * k + 1],
            headings[k],
            fused[k],
            z[k],
            anomaly[k] as u8,
            nbr_count[k],
            y0,
            y1,
            y2,
            y3
        )?;
    }
    Ok(())
}
