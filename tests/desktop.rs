//! The desktop app, run for real under a virtual X display (Xvfb, Mesa's
//! software Vulkan): it must render the field, the agents and the overlay
//! and save a screenshot through Bevy's screenshot API.
//!
//! Needs `xvfb-run` and Mesa's Vulkan driver (`.ci/run` installs them).
//! Without them the test says so and passes, unless
//! `GENESIS_REQUIRE_DISPLAY_TEST` is set, as it is in CI.
#![cfg(feature = "desktop")]

use std::path::{Path, PathBuf};
use std::process::Command;

const WIDTH: u32 = 1000;
const HEIGHT: u32 = 640;
/// The overlay panel's width in pixels (`desktop::overlay::PANEL_WIDTH`).
const PANEL: u32 = 360;

fn xvfb_run() -> Option<PathBuf> {
    std::env::var_os("PATH")?.to_str()?.split(':').map(|dir| Path::new(dir).join("xvfb-run")).find(|p| p.is_file())
}

struct Picture {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Picture {
    fn read(path: &Path) -> Picture {
        let file = std::io::BufReader::new(std::fs::File::open(path).expect("screenshot written"));
        let mut reader = png::Decoder::new(file).read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("sized")];
        let info = reader.next_frame(&mut buf).expect("one frame");
        assert_eq!(info.color_type, png::ColorType::Rgb, "saved as RGB8");
        buf.truncate(info.line_size * info.height as usize);
        Picture { width: info.width, height: info.height, rgb: buf }
    }

    /// Pixels of the rectangle `x0..x1 × y0..y1`.
    fn region(&self, x0: u32, x1: u32, y0: u32, y1: u32) -> Vec<[u8; 3]> {
        let mut out = Vec::new();
        for y in y0..y1 {
            for x in x0..x1 {
                let at = ((y * self.width + x) * 3) as usize;
                out.push([self.rgb[at], self.rgb[at + 1], self.rgb[at + 2]]);
            }
        }
        out
    }
}

fn distinct(pixels: &[[u8; 3]]) -> usize {
    let mut v = pixels.to_vec();
    v.sort_unstable();
    v.dedup();
    v.len()
}

fn is_grey(p: &[u8; 3]) -> bool {
    let (lo, hi) = (p.iter().min().unwrap(), p.iter().max().unwrap());
    hi - lo <= 8
}

#[test]
fn the_window_shows_the_field_the_agents_and_the_overlay() {
    let Some(xvfb) = xvfb_run() else {
        assert!(std::env::var_os("GENESIS_REQUIRE_DISPLAY_TEST").is_none(), "xvfb-run is not installed");
        eprintln!("SKIPPED: xvfb-run is not installed (see .ci/run)");
        return;
    };
    let dir = std::env::temp_dir().join(format!("genesis-desktop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = dir.join("shot.png");
    let output = Command::new(xvfb)
        .args(["-a", "-s", &format!("-screen 0 {}x{}x24", WIDTH + 200, HEIGHT + 200)])
        .arg(env!("CARGO_BIN_EXE_genesis"))
        // 10 rendered frames of 16 steps: frame 160, inside the first default
        // event (frames 120..180, channel 0, the channel shown). The world in
        // a screenshot lags the overlay by a frame (seen here), so the event
        // must already have been active the frame before.
        // The default world (10,000 agents), which runs from the built-in
        // scenario files: the dataset panel must list them.
        .args(["--window-size", &format!("{WIDTH}x{HEIGHT}")])
        // A low z threshold flags many agents, to see them drawn in magenta.
        .args(["--steps-per-frame", "16", "--exit-after", "10", "--z-threshold", "1.5", "--screenshot"])
        .arg(&shot)
        .env("XDG_RUNTIME_DIR", &dir)
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .expect("xvfb-run starts");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "desktop app failed ({}):\n{log}", output.status);
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed
            .contains("datasets in the overlay: agents.csv (built in) (10000 rows), events.csv (built in) (3333 rows)"),
        "{printed}"
    );
    let picture = Picture::read(&shot);
    assert_eq!((picture.width, picture.height), (WIDTH, HEIGHT));

    // The world, right of the panel: the field's colour ramp and the agents.
    let world = picture.region(PANEL + 20, WIDTH - 20, 20, HEIGHT - 20);
    let colours = distinct(&world);
    assert!(colours > 300, "the world shows only {colours} colours: blank or flat");
    // The field is dark blue to teal: blue above red on most of the world.
    let bluish = world.iter().filter(|p| p[2] > p[0]).count();
    assert!(bluish * 2 > world.len(), "no field: {bluish} of {} pixels bluish", world.len());
    // Agents are bright (pale blue to amber, magenta when flagged) on it.
    let bright = world.iter().filter(|p| p.iter().map(|&c| c as u32).sum::<u32>() > 420).count();
    assert!(bright > 800, "only {bright} bright (agent) pixels");

    // The active event's circle (pale yellow) and flagged agents (magenta).
    let circle = world.iter().filter(|p| p[0] > 225 && p[1] > 215 && (100..190).contains(&p[2])).count();
    assert!(circle > 100, "no event circle ({circle} pixels)");
    let flagged = world.iter().filter(|p| p[0] > 225 && p[1] < 80 && p[2] > 120).count();
    assert!(flagged > 50, "no flagged agents drawn ({flagged} pixels)");

    // The overlay: grey egui panel with light text, unlike the world.
    let overlay = picture.region(10, PANEL - 30, 40, HEIGHT / 2);
    let grey = overlay.iter().filter(|p| is_grey(p)).count();
    assert!(grey * 10 > overlay.len() * 8, "overlay region not the panel: {grey} of {} grey", overlay.len());
    let world_grey = world.iter().filter(|p| is_grey(p)).count();
    assert!(world_grey * 10 < world.len() * 3, "world region looks like the panel: {world_grey} grey");
    let text = overlay.iter().filter(|p| p[0] > 140).count();
    assert!(text > 300, "no text in the overlay ({text} light pixels)");
    std::fs::remove_dir_all(&dir).unwrap();
}
