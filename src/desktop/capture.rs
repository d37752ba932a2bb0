//! `--exit-after N [--screenshot FILE]`: render N frames, save a screenshot
//! of the window with Bevy's screenshot API, and close, printing the render
//! and simulation rates of the run. Used by the desktop test under a
//! virtual display, by CI, and to make the README's picture.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured};

use crate::sim::{LoadedDatasets, SimClock};

/// Closes the app after `frames` rendered frames, saving a screenshot first
/// when asked.
pub struct CapturePlugin {
    pub frames: u64,
    pub screenshot: Option<PathBuf>,
}

impl Plugin for CapturePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(Capture {
            frames: self.frames,
            path: self.screenshot.clone(),
            rendered: 0,
            outcome: Arc::default(),
            requested_at: None,
            started: None,
        })
        .add_systems(Last, capture_and_exit);
    }
}

/// Frames rendered so far and the screenshot's outcome once saved.
#[derive(Resource)]
struct Capture {
    frames: u64,
    path: Option<PathBuf>,
    rendered: u64,
    /// Filled in by the observer when the image has been written (or not).
    outcome: Arc<Mutex<Option<Result<(), String>>>>,
    requested_at: Option<u64>,
    /// When the first frame was rendered, and the simulation frame then.
    started: Option<(Instant, u64)>,
}

impl Capture {
    /// Rates from the first rendered frame to now.
    fn report(&self, clock: &SimClock) -> String {
        let Some((started, first)) = self.started else { return String::new() };
        let seconds = started.elapsed().as_secs_f64().max(1e-9);
        let frames = self.rendered.saturating_sub(1);
        let simulated = clock.frame.saturating_sub(first);
        format!(
            "genesis: rendered {frames} frames in {seconds:.2} s ({:.1} FPS); simulated {simulated} frames ({:.1} Hz of wall time)",
            frames as f64 / seconds,
            simulated as f64 / seconds
        )
    }
}

/// Frames to wait for the renderer to hand the screenshot back.
const PATIENCE: u64 = 600;

fn capture_and_exit(
    mut commands: Commands,
    mut capture: ResMut<Capture>,
    clock: Res<SimClock>,
    datasets: Res<LoadedDatasets>,
    mut exit: MessageWriter<AppExit>,
) {
    capture.rendered += 1;
    if capture.started.is_none() {
        capture.started = Some((Instant::now(), clock.frame));
    }
    if capture.rendered < capture.frames {
        return;
    }
    if capture.requested_at.is_none() {
        // What the overlay's dataset panel lists, for tests and logs.
        let listed: Vec<String> =
            datasets.0.iter().map(|d| format!("{} ({} rows)", d.path.display(), d.rows)).collect();
        println!(
            "genesis: datasets in the overlay: {}",
            if listed.is_empty() { "none".into() } else { listed.join(", ") }
        );
    }
    let Some(path) = capture.path.clone() else {
        println!("{}", capture.report(&clock));
        exit.write(AppExit::Success);
        return;
    };
    match capture.requested_at {
        None => {
            capture.requested_at = Some(capture.rendered);
            let outcome = capture.outcome.clone();
            commands.spawn(Screenshot::primary_window()).observe(move |captured: On<ScreenshotCaptured>| {
                let saved = captured
                    .image
                    .clone()
                    .try_into_dynamic()
                    .map_err(|e| format!("cannot convert the screenshot: {e}"))
                    .and_then(|image| {
                        image.to_rgb8().save(&path).map_err(|e| format!("cannot write {}: {e}", path.display()))
                    });
                *outcome.lock().expect("not poisoned") = Some(saved);
            });
        }
        Some(requested) => match capture.outcome.lock().expect("not poisoned").take() {
            Some(Ok(())) => {
                println!("{}", capture.report(&clock));
                println!("genesis: screenshot saved to {}", capture.path.as_ref().expect("set").display());
                exit.write(AppExit::Success);
            }
            Some(Err(message)) => {
                error!("{message}");
                exit.write(AppExit::from_code(1));
            }
            None if capture.rendered - requested > PATIENCE => {
                error!("no screenshot after {PATIENCE} frames");
                exit.write(AppExit::from_code(1));
            }
            None => {}
        },
    }
}
