//! Every agent as a small triangle pointing along its heading, coloured by
//! its state: anomalies in a strong magenta, drawn larger; the others along
//! a gradient of their threat output `y0`, from pale blue to amber. With
//! the SPEC's fixed weights `y0` spans only a few hundredths (0.455–0.499
//! over 10,000 agents after 200 frames), so the gradient runs from this
//! frame's lowest to its highest `y0` ([`ThreatScale`], shown in the
//! overlay's legend), not from 0 to 1.
//!
//! All agents are one mesh (three vertices each) and so one draw call. The
//! mesh is created once and its vertex arrays are overwritten in place each
//! frame: no entity per agent, nothing spawned or despawned, and no
//! allocation unless the agent count grows. The renderer uploads the
//! changed arrays (28 bytes per vertex) once per rendered frame.

use bevy::asset::RenderAssetUsages;
use bevy::camera::visibility::NoFrustumCulling;
use bevy::mesh::{PrimitiveTopology, VertexAttributeValues};
use bevy::prelude::*;

use crate::sim::{Agent, Anomaly, Heading, MlpOutput, Position};

pub(super) fn plugin(app: &mut App) {
    app.insert_resource(Palette::new())
        .init_resource::<ThreatScale>()
        .add_systems(Startup, spawn_swarm)
        .add_systems(Update, draw_swarm.after(crate::sim::advance_simulation));
}

/// Strong colour of a flagged agent (sRGB).
pub const ANOMALY_SRGB: [f32; 3] = [1.0, 0.12, 0.62];
/// Threat gradient ends (sRGB): `y0 = 0` and `y0 = 1`.
pub const CALM_SRGB: [f32; 3] = [0.62, 0.85, 1.0];
pub const THREAT_SRGB: [f32; 3] = [1.0, 0.66, 0.12];

/// The agents' colours, converted to the mesh's linear space once.
#[derive(Resource)]
pub struct Palette {
    threat: [[f32; 4]; Self::STEPS],
    anomaly: [f32; 4],
}

impl Palette {
    const STEPS: usize = 64;

    fn new() -> Self {
        let linear = |c: [f32; 3]| LinearRgba::from(Color::srgb(c[0], c[1], c[2])).to_f32_array();
        Self {
            threat: std::array::from_fn(|i| {
                let t = i as f32 / (Self::STEPS - 1) as f32;
                linear(std::array::from_fn(|k| CALM_SRGB[k] + (THREAT_SRGB[k] - CALM_SRGB[k]) * t))
            }),
            anomaly: linear(ANOMALY_SRGB),
        }
    }

    /// Linear RGBA of an agent with threat output `threat` (in `[0, 1]`).
    pub fn colour(&self, threat: f32, flagged: bool) -> [f32; 4] {
        if flagged {
            self.anomaly
        } else {
            let i = (threat.clamp(0.0, 1.0) * (Self::STEPS - 1) as f32).round() as usize;
            self.threat[i]
        }
    }
}

/// The range of threat outputs `y0` the colour gradient spans this frame.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct ThreatScale {
    pub low: f32,
    pub high: f32,
}

impl ThreatScale {
    /// The lowest and highest of `threats` (`0..1` when there are none).
    pub fn of(threats: impl Iterator<Item = f32>) -> Self {
        let (low, high) = threats.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), t| (lo.min(t), hi.max(t)));
        if low <= high { Self { low, high } } else { Self { low: 0.0, high: 1.0 } }
    }

    /// Where `threat` falls in the range, `0..=1`.
    pub fn position(&self, threat: f32) -> f32 {
        let span = self.high - self.low;
        if span > 0.0 { ((threat - self.low) / span).clamp(0.0, 1.0) } else { 0.5 }
    }
}

/// The three corners of an agent's triangle: the tip `size` ahead along
/// the heading, the two back corners behind it on either side.
pub fn triangle(p: Vec2, heading: f32, size: f32) -> [[f32; 3]; 3] {
    let corner = |angle: f32, length: f32| {
        let (s, c) = angle.sin_cos();
        [p.x + c * length, p.y + s * length, 0.0]
    };
    [corner(heading, size), corner(heading + 2.5, 0.7 * size), corner(heading - 2.5, 0.7 * size)]
}

#[derive(Resource)]
struct SwarmMesh(Handle<Mesh>);

fn spawn_swarm(mut commands: Commands, mut meshes: ResMut<Assets<Mesh>>, mut materials: ResMut<Assets<ColorMaterial>>) {
    let mesh = Mesh::new(PrimitiveTopology::TriangleList, RenderAssetUsages::default())
        .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, vec![[0.0f32; 3]; 3])
        .with_inserted_attribute(Mesh::ATTRIBUTE_COLOR, vec![[0.0f32; 4]; 3]);
    let handle = meshes.add(mesh);
    commands.insert_resource(SwarmMesh(handle.clone()));
    commands.spawn((
        Mesh2d(handle),
        MeshMaterial2d(materials.add(ColorMaterial::from_color(Color::WHITE))),
        Transform::from_xyz(0.0, 0.0, 1.0),
        // The vertices move every frame; the mesh's bounds from its first
        // frame would cull it wrongly.
        NoFrustumCulling,
    ));
}

/// Writes every agent's triangle and colour into the mesh.
fn draw_swarm(
    agents: Query<(&Position, &Heading, &MlpOutput, &Anomaly), With<Agent>>,
    camera: Single<&Projection, With<Camera2d>>,
    swarm: Res<SwarmMesh>,
    palette: Res<Palette>,
    mut scale: ResMut<ThreatScale>,
    mut meshes: ResMut<Assets<Mesh>>,
) {
    *scale = ThreatScale::of(agents.iter().map(|(_, _, y, _)| y.threat()));
    let Some(mut mesh) = meshes.get_mut(&swarm.0) else { return };
    let n = agents.iter().len();
    // Four pixels long at any zoom, and never less than one world unit.
    let pixels = if let Projection::Orthographic(o) = *camera { o.scale } else { 1.0 };
    let size = (4.0 * pixels).max(1.0);
    if let Some(VertexAttributeValues::Float32x3(positions)) = mesh.attribute_mut(Mesh::ATTRIBUTE_POSITION) {
        positions.resize(3 * n, [0.0; 3]);
        for ((p, h, _, a), out) in agents.iter().zip(positions.chunks_exact_mut(3)) {
            let size = if a.flagged { 2.0 * size } else { size };
            out.copy_from_slice(&triangle(p.0, h.0, size));
        }
    }
    if let Some(VertexAttributeValues::Float32x4(colours)) = mesh.attribute_mut(Mesh::ATTRIBUTE_COLOR) {
        colours.resize(3 * n, [0.0; 4]);
        for ((_, _, y, a), out) in agents.iter().zip(colours.chunks_exact_mut(3)) {
            out.fill(palette.colour(scale.position(y.threat()), a.flagged));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_follow_state() {
        let palette = Palette::new();
        let srgb = |c: [f32; 4]| Color::LinearRgba(LinearRgba::from_f32_array(c)).to_srgba().to_f32_array_no_alpha();
        let close = |a: [f32; 3], b: [f32; 3]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4);
        assert!(close(srgb(palette.colour(0.0, false)), CALM_SRGB));
        assert!(close(srgb(palette.colour(1.0, false)), THREAT_SRGB));
        assert!(close(srgb(palette.colour(0.3, true)), ANOMALY_SRGB));
        // Half-way threat: half-way between the ends in sRGB (to the nearest
        // of the 64 steps, 31.5/63 → step 32).
        let mid = srgb(palette.colour(0.5, false));
        let t = 32.0 / 63.0;
        assert!(close(mid, std::array::from_fn(|k| CALM_SRGB[k] + (THREAT_SRGB[k] - CALM_SRGB[k]) * t)), "{mid:?}");
        assert_eq!(palette.colour(-2.0, false), palette.colour(0.0, false));
    }

    #[test]
    fn the_threat_gradient_spans_the_frames_range() {
        let scale = ThreatScale::of([0.47, 0.455, 0.499, 0.48].into_iter());
        assert_eq!(scale, ThreatScale { low: 0.455, high: 0.499 });
        assert_eq!(scale.position(0.455), 0.0);
        assert_eq!(scale.position(0.499), 1.0);
        assert!((scale.position(0.477) - 0.5).abs() < 1e-5);
        assert_eq!(scale.position(0.9), 1.0);
        assert_eq!(ThreatScale::of([0.3, 0.3].into_iter()).position(0.3), 0.5);
        assert_eq!(ThreatScale::of(std::iter::empty()), ThreatScale { low: 0.0, high: 1.0 });
    }

    #[test]
    fn the_triangle_points_along_the_heading() {
        let [tip, left, right] = triangle(Vec2::new(10.0, 20.0), std::f32::consts::FRAC_PI_2, 4.0);
        assert!((tip[0] - 10.0).abs() < 1e-5 && (tip[1] - 24.0).abs() < 1e-5, "{tip:?}");
        // Both back corners lie behind the agent, mirrored about its axis.
        assert!(left[1] < 20.0 && right[1] < 20.0);
        assert!((left[0] - 10.0 + (right[0] - 10.0)).abs() < 1e-5 && (left[1] - right[1]).abs() < 1e-5);
    }
}
