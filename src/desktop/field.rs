//! The environment field of one channel as a heat-map behind the agents.
//!
//! The background raster `B_c` (SPEC 3) is static, so the image is made
//! once per channel choice (or restart), not per frame: one texel per
//! raster cell, stretched over the world. Texel centres fall on the cell
//! centres `((gx + ½)·W/G, (gy + ½)·H/G)` of SPEC 3's bilinear sampling, so
//! the GPU's linear filtering draws the same field the agents sense.

use bevy::asset::RenderAssetUsages;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};

use super::ViewSettings;
use crate::sim::{Background, ModelConfig};

pub(super) fn plugin(app: &mut App) {
    app.add_systems(Startup, spawn_field).add_systems(Update, update_field);
}

/// The heat-map sprite and what it was last drawn from.
#[derive(Component)]
pub struct FieldSprite {
    channel: usize,
}

/// Colour of a field value `t` in `[0, 1]`: dark blue through teal to a
/// muted green-yellow. Kept dark so the agents stand out on top.
pub fn heat_colour(t: f32) -> [u8; 4] {
    const STOPS: [[f32; 3]; 4] = [[0.03, 0.03, 0.12], [0.05, 0.18, 0.32], [0.08, 0.38, 0.38], [0.45, 0.55, 0.18]];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f32;
    let i = (t as usize).min(STOPS.len() - 2);
    let f = t - i as f32;
    let c = |k: usize| STOPS[i][k] + (STOPS[i + 1][k] - STOPS[i][k]) * f;
    [(c(0) * 255.0).round() as u8, (c(1) * 255.0).round() as u8, (c(2) * 255.0).round() as u8, 255]
}

/// RGBA8 rows of `channel`, top row first (the raster's last row `gy = G-1`
/// is the world's top), values scaled from the channel's own min..max.
pub fn field_pixels(background: &Background, channel: usize, out: &mut Vec<u8>) {
    let g = background.side();
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for gy in 0..g {
        for gx in 0..g {
            let v = background.cell(channel, gx, gy);
            lo = lo.min(v);
            hi = hi.max(v);
        }
    }
    let span = if hi > lo { hi - lo } else { 1.0 };
    out.clear();
    out.reserve(g * g * 4);
    for row in 0..g {
        let gy = g - 1 - row;
        for gx in 0..g {
            out.extend_from_slice(&heat_colour((background.cell(channel, gx, gy) - lo) / span));
        }
    }
}

fn field_image(background: &Background, channel: usize) -> Image {
    let side = background.side() as u32;
    let mut pixels = Vec::new();
    field_pixels(background, channel, &mut pixels);
    Image::new(
        Extent3d { width: side, height: side, depth_or_array_layers: 1 },
        TextureDimension::D2,
        pixels,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::default(),
    )
}

fn spawn_field(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    background: Res<Background>,
    config: Res<ModelConfig>,
    view: Res<ViewSettings>,
) {
    let image = images.add(field_image(&background, view.channel));
    let size = Vec2::new(config.width, config.height);
    commands.spawn((
        Sprite { image, custom_size: Some(size), ..default() },
        Transform::from_translation((size / 2.0).extend(-10.0)),
        FieldSprite { channel: view.channel },
    ));
}

/// Redraws the image when the channel or the raster (a restart) changed,
/// and shows or hides it.
fn update_field(
    mut field: Single<(&mut FieldSprite, &Sprite, &mut Visibility, &mut Transform)>,
    mut images: ResMut<Assets<Image>>,
    background: Res<Background>,
    config: Res<ModelConfig>,
    view: Res<ViewSettings>,
) {
    let (sprite_state, sprite, visibility, transform) = &mut *field;
    let shown = if view.show_field { Visibility::Inherited } else { Visibility::Hidden };
    visibility.set_if_neq(shown);
    let channel = view.channel.min(config.channels - 1);
    if sprite_state.channel == channel && !background.is_changed() {
        return;
    }
    sprite_state.channel = channel;
    if let Some(mut image) = images.get_mut(&sprite.image) {
        *image = field_image(&background, channel);
    }
    transform.translation = (Vec2::new(config.width, config.height) / 2.0).extend(-10.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_colour_ramp_runs_from_dark_to_light_and_clamps() {
        assert_eq!(heat_colour(0.0), [8, 8, 31, 255]);
        assert_eq!(heat_colour(1.0), [115, 140, 46, 255]);
        assert_eq!(heat_colour(-3.0), heat_colour(0.0));
        assert_eq!(heat_colour(7.0), heat_colour(1.0));
        // Brightness (sum of channels) never falls along the ramp.
        let sum = |c: [u8; 4]| c[0] as u32 + c[1] as u32 + c[2] as u32;
        for i in 0..100 {
            assert!(sum(heat_colour(i as f32 / 100.0)) <= sum(heat_colour((i + 1) as f32 / 100.0)));
        }
    }

    /// The image's top-left texel is raster cell (0, G-1), its bottom-left
    /// cell (0, 0); the channel's minimum is the ramp's start and its
    /// maximum the ramp's end.
    #[test]
    fn pixels_follow_the_raster_with_the_world_top_first() {
        let config = ModelConfig { raster: 16, ..ModelConfig::default() };
        let background = Background::new(&config);
        let g = 16;
        let mut pixels = Vec::new();
        field_pixels(&background, 3, &mut pixels);
        assert_eq!(pixels.len(), g * g * 4);
        let cells: Vec<f32> =
            (0..g).flat_map(|gy| (0..g).map(move |gx| (gx, gy))).map(|(gx, gy)| background.cell(3, gx, gy)).collect();
        let lo = cells.iter().copied().fold(f32::INFINITY, f32::min);
        let hi = cells.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (gx, gy) in [(0, g - 1), (0, 0), (5, 9), (g - 1, 2)] {
            let row = g - 1 - gy;
            let at = (row * g + gx) * 4;
            let want = heat_colour((background.cell(3, gx, gy) - lo) / (hi - lo));
            assert_eq!(&pixels[at..at + 4], &want, "cell ({gx}, {gy})");
        }
        let texels: Vec<&[u8]> = pixels.chunks(4).collect();
        assert!(texels.contains(&&heat_colour(0.0)[..]) && texels.contains(&&heat_colour(1.0)[..]));
    }
}
