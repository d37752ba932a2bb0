//! The egui overlay: how fast and how well the awareness pipeline runs,
//! the controls, the loaded datasets and the selected agent, in one panel
//! down the window's left side.
//!
//! The figures come from the simulation's own resources: stage latencies
//! from [`StageTimings`] (the same rings and nearest-rank percentiles as
//! `genesis bench`), anomalies from [`AnomalyCount`], the awareness score
//! from [`DetectionScore`]. [`OverlayHistory`] adds what only a live view
//! needs: rates and the last few hundred frames for the plots. Its rings and
//! the percentiles' sort space are sized once; recording a frame allocates
//! nothing. (egui itself lays its text out anew each frame, as immediate-
//! mode interfaces do.)

use std::fmt::Write as _;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use egui_plot::{Corner, HLine, Legend, Line, LineStyle, Plot, PlotPoints};

use super::annotations::SelectedNeighbours;
use super::controls::{CurrentScenario, MAX_STEPS, Requests, Restart, SHORTCUTS, ScenarioMessage};
use super::swarm::{ANOMALY_SRGB, CALM_SRGB, THREAT_SRGB, ThreatScale};
use super::{Selection, ViewSettings};
use crate::csv::stats::Extreme;
use crate::csv::{ColumnStats, DatasetStats};
use crate::scenario::ScenarioFiles;
use crate::sim::timing::SampleRing;
use crate::sim::{
    Agent, AgentId, Anomaly, AnomalyCount, DetectionScore, Fused, Heading, LoadedDatasets, MlpOutput, ModelConfig,
    Neighbourhood, Position, Sensors, SimClock, SimControl, Stage, StageTimings, advance_simulation,
};

/// Width of the overlay panel in logical pixels (the camera keeps the
/// world right of it).
pub const PANEL_WIDTH: f32 = 360.0;

/// Render frames kept for the plots.
const PLOT_FRAMES: usize = 300;

/// Height of a plot, axes included, in logical pixels.
const PLOT_HEIGHT: f32 = 150.0;

/// How much of the window's left the panel covers, in logical pixels, as
/// last drawn (0 when collapsed): Home fits the world right of it.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct PanelWidth(pub f32);

impl Default for PanelWidth {
    fn default() -> Self {
        Self(PANEL_WIDTH)
    }
}

pub(super) fn plugin(app: &mut App) {
    app.insert_resource(OverlayHistory::new(PLOT_FRAMES))
        .init_resource::<Form>()
        .init_resource::<PanelWidth>()
        .add_systems(Update, record_history.after(advance_simulation))
        .add_systems(EguiPrimaryContextPass, draw_overlay);
}

/// Events per second, measured over half-second windows.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateMeter {
    count: u64,
    seconds: f64,
    /// The last complete window's rate (0 until one is complete).
    pub rate: f64,
}

impl RateMeter {
    const WINDOW: f64 = 0.5;

    /// Adds `count` events over `seconds`.
    pub fn add(&mut self, count: u64, seconds: f64) {
        self.count += count;
        self.seconds += seconds;
        if self.seconds >= Self::WINDOW {
            self.rate = self.count as f64 / self.seconds;
            self.count = 0;
            self.seconds = 0.0;
        }
    }
}

/// What the overlay remembers between rendered frames.
#[derive(Resource)]
pub struct OverlayHistory {
    /// Per simulated frame shown: the whole frame and each stage, in ns.
    pub frame_ns: SampleRing,
    pub stage_ns: [SampleRing; Stage::ALL.len()],
    /// Anomalies in the last simulated frame of each rendered frame.
    pub anomalies: SampleRing,
    /// Simulation frames and rendered frames per wall-clock second.
    pub sim_rate: RateMeter,
    pub render_rate: RateMeter,
    last_frame: u64,
    /// Sort space for percentiles, sized for the timing rings.
    scratch: Vec<u64>,
}

impl OverlayHistory {
    pub fn new(frames: usize) -> Self {
        Self {
            frame_ns: SampleRing::new(frames),
            stage_ns: std::array::from_fn(|_| SampleRing::new(frames)),
            anomalies: SampleRing::new(frames),
            sim_rate: RateMeter::default(),
            render_rate: RateMeter::default(),
            last_frame: 0,
            scratch: Vec::with_capacity(1024),
        }
    }
}

/// `(p50, p99)` of a ring of nanosecond samples, in microseconds
/// (nearest rank, as `genesis bench` reports them).
pub fn latency_us(ring: &SampleRing, scratch: &mut Vec<u64>) -> Option<(f64, f64)> {
    let p50 = ring.percentile_with(50.0, scratch)?;
    let p99 = ring.percentile_with(99.0, scratch)?;
    Some((p50 as f64 / 1e3, p99 as f64 / 1e3))
}

fn record_history(
    mut history: ResMut<OverlayHistory>,
    time: Res<Time<Real>>,
    clock: Res<SimClock>,
    timings: Res<StageTimings>,
    anomalies: Res<AnomalyCount>,
) {
    let dt = time.delta_secs_f64();
    history.render_rate.add(1, dt);
    // A restart moves the clock back: count nothing for that frame.
    let advanced = clock.frame.saturating_sub(history.last_frame);
    history.last_frame = clock.frame;
    history.sim_rate.add(advanced, dt);
    if advanced == 0 {
        return;
    }
    if let Some(ns) = timings.frame.last() {
        history.frame_ns.push(ns);
    }
    for stage in Stage::ALL {
        if let Some(ns) = timings.stage(stage).last() {
            history.stage_ns[stage as usize].push(ns);
        }
    }
    history.anomalies.push(anomalies.this_frame);
}

/// `1234567` → `"1,234,567"`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count in decimal units: `"512 B"`, `"31.9 kB"`, `"32.4 MB"`, `"1.20 GB"`.
pub fn format_bytes(bytes: usize) -> String {
    let b = bytes as f64;
    match bytes {
        0..1_000 => format!("{bytes} B"),
        1_000..1_000_000 => format!("{:.1} kB", b / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} MB", b / 1e6),
        _ => format!("{:.2} GB", b / 1e9),
    }
}

/// A dataset in one line: file name, size, and how fast it was parsed.
pub fn dataset_summary(stats: &DatasetStats) -> String {
    let name = stats.path.file_name().map_or_else(|| stats.path.display().to_string(), |n| n.display().to_string());
    format!(
        "{name}: {} rows × {} columns, {}, parsed in {:.1} ms ({:.0} MB/s, {} rows/s)",
        group_digits(stats.rows as u64),
        stats.columns.len(),
        format_bytes(stats.bytes),
        stats.parse_seconds() * 1e3,
        stats.megabytes_per_second(),
        group_digits(stats.rows_per_second().round() as u64),
    )
}

/// One column's statistics as table cells: name, type, missing, min, max,
/// mean (`"—"` where there is none).
pub fn column_cells(column: &ColumnStats) -> [String; 6] {
    let extreme = |e: &Option<Extreme>| e.as_ref().map_or_else(|| "—".to_string(), |e| e.to_string());
    [
        column.name.clone(),
        column.column_type.name().to_string(),
        group_digits(column.missing as u64),
        extreme(&column.min),
        extreme(&column.max),
        column.mean.map_or_else(|| "—".to_string(), |m| format!("{m:.4}")),
    ]
}

/// The controls' text fields, kept between frames.
#[derive(Resource)]
struct Form {
    seed: u64,
    agents: u32,
    agents_csv: String,
    events_csv: String,
    trace_csv: String,
}

impl Default for Form {
    fn default() -> Self {
        Self {
            seed: 42,
            agents: 10_000,
            agents_csv: String::new(),
            events_csv: String::new(),
            trace_csv: String::new(),
        }
    }
}

impl Form {
    fn fill_from(&mut self, current: &CurrentScenario) {
        let text = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
        self.seed = current.scenario.config.seed;
        self.agents = current.scenario.population.len() as u32;
        self.agents_csv = text(&current.files.agents);
        self.events_csv = text(&current.files.events);
        self.trace_csv = text(&current.files.trace);
    }

    fn files(&self) -> ScenarioFiles {
        let path = |s: &str| (!s.trim().is_empty()).then(|| s.trim().into());
        ScenarioFiles { agents: path(&self.agents_csv), events: path(&self.events_csv), trace: path(&self.trace_csv) }
    }
}

const STAGE_COLOURS: [egui::Color32; 6] = [
    egui::Color32::from_rgb(240, 120, 80),
    egui::Color32::from_rgb(90, 180, 250),
    egui::Color32::from_rgb(140, 220, 120),
    egui::Color32::from_rgb(230, 200, 80),
    egui::Color32::from_rgb(220, 110, 220),
    egui::Color32::from_rgb(160, 160, 170),
];
const ANOMALY_COLOUR: egui::Color32 = egui::Color32::from_rgb(255, 40, 160);

/// A time plot of `series` (name, samples, colour) over the last
/// [`PLOT_FRAMES`] rendered frames: x is rendered frames before the latest
/// (0), y the value times `scale` in `unit`, a legend naming each series
/// (click an entry to hide it), and `marks` drawn as horizontal reference
/// lines (p50 dashed, p99 dotted). Values are read off by hovering.
fn plot(
    ui: &mut egui::Ui,
    id: &str,
    series: &[(&str, &SampleRing, egui::Color32)],
    scale: f64,
    unit: &str,
    marks: &[(String, f64, egui::Color32, LineStyle)],
) {
    let height = PLOT_HEIGHT + 14.0 * (series.len() + marks.len()).saturating_sub(2) as f32;
    Plot::new(id)
        .height(height)
        .legend(
            Legend::default()
                .position(Corner::LeftTop)
                .background_alpha(0.6)
                .follow_insertion_order(true)
                .text_style(egui::TextStyle::Small),
        )
        .x_axis_label("rendered frames ago")
        .y_axis_label(unit)
        .include_x(-(PLOT_FRAMES as f64 - 1.0))
        .include_x(0.0)
        .include_y(0.0)
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .y_axis_min_width(36.0)
        .show(ui, |plot| {
            for (name, ring, colour) in series {
                let n = ring.len() as f64;
                let points: PlotPoints =
                    ring.iter().enumerate().map(|(i, v)| [i as f64 - (n - 1.0), v as f64 * scale]).collect();
                plot.line(Line::new(*name, points).color(*colour).width(1.2));
            }
            for (name, y, colour, style) in marks {
                plot.hline(HLine::new(name.clone(), *y).color(*colour).style(*style).width(1.0));
            }
        });
}

/// The simulation's state as the overlay reads it.
#[derive(SystemParam)]
struct SimView<'w> {
    clock: Res<'w, SimClock>,
    timings: Res<'w, StageTimings>,
    anomalies: Res<'w, AnomalyCount>,
    score: Res<'w, DetectionScore>,
    config: Res<'w, ModelConfig>,
    datasets: Res<'w, LoadedDatasets>,
    neighbours: Res<'w, SelectedNeighbours>,
    threat: Res<'w, ThreatScale>,
    current: Res<'w, CurrentScenario>,
    message: Res<'w, ScenarioMessage>,
}

/// What the overlay's controls change.
#[derive(SystemParam)]
struct UserInput<'w> {
    control: ResMut<'w, SimControl>,
    view: ResMut<'w, ViewSettings>,
    requests: ResMut<'w, Requests>,
    form: ResMut<'w, Form>,
    selection: Res<'w, Selection>,
}

/// Everything shown about the selected agent.
type Inspected = (
    &'static AgentId,
    &'static Position,
    &'static Heading,
    &'static Sensors,
    &'static Fused,
    &'static Anomaly,
    &'static MlpOutput,
    &'static Neighbourhood,
);

fn draw_overlay(
    mut contexts: EguiContexts,
    window: Single<&Window, With<bevy::window::PrimaryWindow>>,
    mut history: ResMut<OverlayHistory>,
    sim: SimView,
    mut input: UserInput,
    agents: Query<Inspected, With<Agent>>,
    mut panel: ResMut<PanelWidth>,
) -> Result {
    // True on the system's first run too, so the form starts filled in.
    if sim.current.is_changed() {
        input.form.fill_from(&sim.current);
    }
    let ctx = contexts.ctx_mut()?;
    // Anchored top left, full height; drag its right edge to widen it (the
    // plots and tables follow), or collapse it from its title bar.
    let height = window.height() - 40.0;
    let shown = egui::Window::new("Genesis")
        .anchor(egui::Align2::LEFT_TOP, [0.0, 0.0])
        .default_width(PANEL_WIDTH - 14.0)
        .min_width(260.0)
        .max_width((window.width() * 0.8).max(260.0))
        .min_height(height)
        .max_height(height)
        .collapsible(true)
        .resizable([true, false])
        .scroll([false, true])
        .show(ctx, |ui| {
            ui.spacing_mut().item_spacing.y = 3.0;
            rates(ui, &sim, &input.control, &mut history);
            egui::CollapsingHeader::new("Latency (last 600 frames)")
                .default_open(true)
                .show(ui, |ui| latency(ui, &sim, &mut history));
            egui::CollapsingHeader::new("Awareness").default_open(true).show(ui, |ui| awareness(ui, &sim, &history));
            egui::CollapsingHeader::new("Controls").default_open(true).show(ui, |ui| controls(ui, &sim, &mut input));
            egui::CollapsingHeader::new("Scenario files")
                .default_open(false)
                .show(ui, |ui| files(ui, &sim, &mut input));
            egui::CollapsingHeader::new(format!("Datasets ({})", sim.datasets.0.len()))
                .default_open(true)
                .show(ui, |ui| datasets(ui, &sim.datasets));
            if let Some(id) = input.selection.0 {
                egui::CollapsingHeader::new(format!("Agent {id}"))
                    .default_open(true)
                    .show(ui, |ui| inspector(ui, &sim, &agents, id));
            }
            egui::CollapsingHeader::new("Help").open(input.view.show_help.then_some(true)).show(ui, help);
        });
    // Collapsed, the panel is a title bar: the world may use the width.
    let width = shown.filter(|s| s.inner.is_some()).map_or(0.0, |s| s.response.rect.right());
    panel.set_if_neq(PanelWidth(width));
    Ok(())
}

/// Simulation and render rates, frame, steps, pipeline capacity.
fn rates(ui: &mut egui::Ui, sim: &SimView, control: &SimControl, history: &mut OverlayHistory) {
    let mut text = String::new();
    // Numbers in fixed-width fields, so the lines do not jitter as they change.
    let _ = write!(
        text,
        "simulation {:>7.0} Hz  render {:>5.1} FPS\nframe {:>11}  {:>4} step{}/render{}",
        history.sim_rate.rate,
        history.render_rate.rate,
        group_digits(sim.clock.frame),
        control.steps_per_update,
        if control.steps_per_update == 1 { "" } else { "s" },
        if control.paused { "  PAUSED" } else { "" },
    );
    if let Some((p50, _)) = latency_us(&sim.timings.frame, &mut history.scratch) {
        let _ = write!(text, "\ncapacity   {:>7.0} Hz  (1 / p50 frame)", 1e6 / p50.max(1e-3));
    }
    ui.label(egui::RichText::new(text).monospace().strong());
    ui.label(egui::RichText::new(crate::machine::Machine::this().line()).small());
}

/// Each stage's p50/p99 as a table, and the last frames as a plot.
fn latency(ui: &mut egui::Ui, sim: &SimView, history: &mut OverlayHistory) {
    egui::Grid::new("latency").striped(true).num_columns(3).show(ui, |ui| {
        ui.label("stage");
        ui.label("p50 µs");
        ui.label("p99 µs");
        ui.end_row();
        let rows = Stage::ALL.map(|s| (s.name(), sim.timings.stage(s), STAGE_COLOURS[s as usize]));
        for (name, ring, colour) in rows.into_iter().chain([("frame", &sim.timings.frame, egui::Color32::WHITE)]) {
            ui.colored_label(colour, name);
            match latency_us(ring, &mut history.scratch) {
                Some((p50, p99)) => {
                    ui.monospace(format!("{p50:9.1}"));
                    ui.monospace(format!("{p99:9.1}"));
                }
                None => {
                    ui.label("—");
                    ui.label("—");
                }
            }
            ui.end_row();
        }
    });
    let mut series: Vec<(&str, &SampleRing, egui::Color32)> =
        Stage::ALL.iter().map(|&s| (s.name(), &history.stage_ns[s as usize], STAGE_COLOURS[s as usize])).collect();
    series.push(("frame", &history.frame_ns, egui::Color32::WHITE));
    let marks = match latency_us(&sim.timings.frame, &mut history.scratch) {
        Some((p50, p99)) => vec![
            (format!("frame p50 {p50:.0} µs"), p50, egui::Color32::LIGHT_GRAY, LineStyle::dashed_loose()),
            (format!("frame p99 {p99:.0} µs"), p99, egui::Color32::LIGHT_RED, LineStyle::dotted_dense()),
        ],
        None => Vec::new(),
    };
    plot(ui, "latency-plot", &series, 1e-3, "µs per simulated frame", &marks);
}

/// Anomaly counts, the detection score, anomalies over time, the legend.
fn awareness(ui: &mut egui::Ui, sim: &SimView, history: &OverlayHistory) {
    let recall = sim.score.recall().map_or_else(|| "—".to_string(), |r| format!("{:.1}%", 100.0 * r));
    ui.monospace(format!(
        "agents                  {:>11}\nanomalies, this frame   {:>11}\nanomalies, in all       {:>11}\nrecall {recall:>7} of {:>9} witnesses\nfalse alarms /1k agent-frames {:>6.3}",
        group_digits(sim.current.scenario.population.len() as u64),
        group_digits(sim.anomalies.this_frame),
        group_digits(sim.anomalies.total),
        group_digits(sim.score.witnesses),
        sim.score.false_alarms_per_1000()
    ));
    plot(ui, "anomaly-plot", &[("anomalies", &history.anomalies, ANOMALY_COLOUR)], 1.0, "agents flagged", &[]);
    let colour = |c: [f32; 3]| {
        let [r, g, b] = c.map(|v| (v * 255.0).round() as u8);
        egui::Color32::from_rgb(r, g, b)
    };
    ui.horizontal(|ui| {
        ui.colored_label(colour(CALM_SRGB), format!("threat y0 {:.3}", sim.threat.low));
        ui.colored_label(colour(THREAT_SRGB), format!("to {:.3}", sim.threat.high));
        ui.colored_label(colour(ANOMALY_SRGB), "· anomaly");
    });
}

/// Pause, step, reset, steps per frame, seed, agents, what is shown.
fn controls(ui: &mut egui::Ui, sim: &SimView, input: &mut UserInput) {
    let UserInput { control, view, requests, form, .. } = input;
    ui.horizontal(|ui| {
        if ui.button(if control.paused { "▶ resume" } else { "⏸ pause" }).clicked() {
            control.paused = !control.paused;
        }
        if ui.add_enabled(control.paused, egui::Button::new("step")).clicked() {
            requests.step += 1;
        }
        if ui.button("reset").clicked() {
            requests.restart = Some(Restart::Reset);
        }
    });
    ui.horizontal(|ui| {
        ui.label("steps per rendered frame");
        ui.add(egui::DragValue::new(&mut control.steps_per_update).range(1..=MAX_STEPS));
    });
    ui.horizontal(|ui| {
        ui.label("seed");
        ui.add(egui::DragValue::new(&mut form.seed));
        if ui.button("restart with seed").clicked() {
            requests.restart = Some(Restart::Seed(form.seed));
        }
    });
    ui.horizontal(|ui| {
        ui.label("agents");
        ui.add(egui::DragValue::new(&mut form.agents).range(1..=5_000_000).speed(100));
        if ui.button("respawn").clicked() {
            requests.restart = Some(Restart::Agents(form.agents));
        }
    });
    ui.horizontal_wrapped(|ui| {
        ui.label("field channel");
        for c in 0..sim.config.channels {
            ui.selectable_value(&mut view.channel, c, c.to_string());
        }
    });
    ui.horizontal(|ui| {
        ui.checkbox(&mut view.show_field, "field");
        ui.checkbox(&mut view.show_events, "events");
        ui.checkbox(&mut view.show_graph, "neighbour graph");
    });
}

/// Scenario file paths, loading, and the outcome (errors in red).
fn files(ui: &mut egui::Ui, sim: &SimView, input: &mut UserInput) {
    let form = &mut *input.form;
    egui::Grid::new("files").num_columns(2).show(ui, |ui| {
        for (label, field) in
            [("agents", &mut form.agents_csv), ("events", &mut form.events_csv), ("trace", &mut form.trace_csv)]
        {
            ui.label(label);
            ui.add(egui::TextEdit::singleline(field).hint_text("path to .csv").desired_width(230.0));
            ui.end_row();
        }
    });
    if ui.button("load and restart").clicked() {
        input.requests.restart = Some(Restart::Load(form.files()));
    }
    match &sim.message.0 {
        Some(Ok(text)) => {
            ui.colored_label(egui::Color32::from_rgb(140, 220, 120), text);
        }
        Some(Err(error)) => {
            ui.colored_label(egui::Color32::from_rgb(255, 110, 110), error);
        }
        None => {}
    }
}

/// Statistics of every loaded CSV file.
fn datasets(ui: &mut egui::Ui, datasets: &LoadedDatasets) {
    if datasets.0.is_empty() {
        ui.label("none loaded: agents and events are generated from the seed");
    }
    for (k, stats) in datasets.0.iter().enumerate() {
        ui.label(dataset_summary(stats));
        ui.small(format!("dialect: {}", stats.dialect.summary()));
        if let Some(line) = stats.damage_line() {
            ui.small(format!("bad rows ({}): {line}", stats.policy.name()));
        }
        // Wide tables scroll sideways instead of widening the panel.
        egui::ScrollArea::horizontal().id_salt(("columns", k)).show(ui, |ui| {
            egui::Grid::new(("columns", k)).striped(true).num_columns(6).show(ui, |ui| {
                for head in ["column", "type", "missing", "min", "max", "mean"] {
                    ui.strong(head);
                }
                ui.end_row();
                for column in &stats.columns {
                    for cell in column_cells(column) {
                        ui.monospace(cell);
                    }
                    ui.end_row();
                }
            });
        });
    }
}

/// The selected agent's state and its neighbours (nearest first).
fn inspector(ui: &mut egui::Ui, sim: &SimView, agents: &Query<Inspected, With<Agent>>, id: u32) {
    let Some((_, p, h, s, f, a, y, n)) = agents.iter().find(|row| row.0.0 == id) else {
        ui.label("not in the simulation");
        return;
    };
    let sensors: Vec<String> = s.0[..sim.config.channels].iter().map(|v| format!("{v:.3}")).collect();
    ui.monospace(format!(
        "position ({:.2}, {:.2})  heading {:.3}\nsensors  {}\nfused {:.5}   z {:.3}{}\n\
         MLP  threat {:.4}  interest {:.4}\n     turn {:.4}  throttle {:.4}\n\
         neighbours {}  nearest {:.3}  mean {}",
        p.0.x,
        p.0.y,
        h.0,
        sensors.join(" "),
        f.0,
        a.z,
        if a.flagged { "  ANOMALY" } else { "" },
        y.threat(),
        y.interest(),
        y.turn(),
        y.throttle(),
        n.count,
        n.nearest,
        n.mean().map_or_else(|| "—".to_string(), |m| format!("{m:.5}")),
    ));
    let list: Vec<String> = sim.neighbours.list.iter().map(|(other, d, _)| format!("{other} ({d:.2})")).collect();
    ui.label(format!("neighbours at the last frame's start, id (distance): {}", list.join(", ")));
}

fn help(ui: &mut egui::Ui) {
    ui.label("Drag to pan, wheel to zoom, click an agent to inspect it.");
    egui::Grid::new("keys").num_columns(2).show(ui, |ui| {
        for (key, what) in SHORTCUTS {
            ui.monospace(key);
            ui.label(what);
            ui.end_row();
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::csv::ColumnType;

    /// A ring of 600 holding 1..=700 ns × 1000 keeps 101..=700; nearest rank
    /// p50 is the 300th smallest (400), p99 the 594th (694), in µs.
    #[test]
    fn percentiles_cover_only_what_the_ring_holds() {
        let mut ring = SampleRing::new(600);
        // Pushed in a scrambled order, so the ring's order is not sorted.
        for k in 0..700u64 {
            ring.push(((k * 263) % 700 + 1) * 1000);
        }
        let mut scratch = Vec::new();
        let held: Vec<u64> = (100..700u64).map(|k| ((k * 263) % 700 + 1) * 1000).collect();
        let mut sorted = held.clone();
        sorted.sort_unstable();
        let (p50, p99) = latency_us(&ring, &mut scratch).unwrap();
        assert_eq!(p50, sorted[299] as f64 / 1e3);
        assert_eq!(p99, sorted[593] as f64 / 1e3);
        assert!(latency_us(&SampleRing::new(4), &mut scratch).is_none());

        let mut ring = SampleRing::new(600);
        for v in 1..=700u64 {
            ring.push(v * 1000);
        }
        assert_eq!(latency_us(&ring, &mut scratch), Some((400.0, 694.0)));
    }

    #[test]
    fn rates_are_counts_over_complete_windows() {
        let mut meter = RateMeter::default();
        meter.add(10, 0.2);
        assert_eq!(meter.rate, 0.0);
        meter.add(20, 0.3);
        assert_eq!(meter.rate, 60.0);
        meter.add(1, 0.6);
        assert!((meter.rate - 1.0 / 0.6).abs() < 1e-12);
    }

    #[test]
    fn numbers_and_bytes_read_as_people_write_them() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(1_234_567), "1,234,567");
        assert_eq!(format_bytes(999), "999 B");
        assert_eq!(format_bytes(31_900), "31.9 kB");
        assert_eq!(format_bytes(32_400_000), "32.4 MB");
        assert_eq!(format_bytes(1_204_000_000), "1.20 GB");
    }

    #[test]
    fn dataset_statistics_are_formatted_per_file_and_column() {
        let stats = DatasetStats {
            path: "/data/trace.csv".into(),
            rows: 500_000,
            bytes: 32_000_000,
            parse_runs: vec![0.064],
            columns: vec![
                ColumnStats {
                    name: "frame".into(),
                    column_type: ColumnType::Integer,
                    missing: 0,
                    min: Some(Extreme::Integer(0)),
                    max: Some(Extreme::Integer(499)),
                    mean: Some(249.5),
                },
                ColumnStats {
                    name: "label".into(),
                    column_type: ColumnType::Text,
                    missing: 1200,
                    min: Some(Extreme::Text("a".into())),
                    max: Some(Extreme::Text("zz".into())),
                    mean: None,
                },
            ],
            dialect: Default::default(),
            policy: Default::default(),
            padded: 0,
            truncated: 0,
            skipped: 0,
            blank_lines: 0,
        };
        // 32 MB in 64 ms = 500 MB/s; 500,000 rows / 0.064 s = 7,812,500 rows/s.
        assert_eq!(
            dataset_summary(&stats),
            "trace.csv: 500,000 rows × 2 columns, 32.0 MB, parsed in 64.0 ms (500 MB/s, 7,812,500 rows/s)"
        );
        assert_eq!(
            column_cells(&stats.columns[0]),
            ["frame", "integer", "0", "0", "499", "249.5000"].map(String::from)
        );
        assert_eq!(
            column_cells(&stats.columns[1]),
            ["label", "text", "1,200", "\"a\"", "\"zz\"", "—"].map(String::from)
        );
    }
}
