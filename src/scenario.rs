//! Scenario files (SPEC section 7): agents, events and recorded sensor
//! traces, read with the CSV engine and checked against the model.
//!
//! Columns are found by header name, in any order; unknown columns are
//! ignored. Every value is checked (numbers finite, ids unique, positions
//! inside the world, channels in range, `end ≥ start`, trace rows naming
//! known agents, …) and the first problem is reported with the file, line
//! and column, and what was expected. Nothing is skipped silently.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::csv::table::{parse_float, parse_integer};
use crate::csv::{BadRows, Column, CsvError, DatasetStats, LoadedCsv, ParseOptions, Values, read_file};
use crate::sim::{AgentSpec, Event, EventSchedule, ModelConfig, Population, Scenario, sensing::SensorTrace};

/// The scenario files of one simulation, any of them optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScenarioFiles {
    /// Agents (`id,x,y[,heading]`), replacing the generated population.
    pub agents: Option<PathBuf>,
    /// Events, replacing the default schedule.
    pub events: Option<PathBuf>,
    /// Recorded readings, replayed in place of sensing.
    pub trace: Option<PathBuf>,
}

impl ScenarioFiles {
    /// Loads the files into `scenario` (checked against its model), adding
    /// their dataset statistics. On an error `scenario` is left unchanged.
    pub fn load_into(&self, scenario: &mut Scenario) -> Result<(), CsvError> {
        let config = &scenario.config;
        let mut population = scenario.population.clone();
        let mut events = scenario.events.clone();
        let mut trace = scenario.trace.clone();
        let mut datasets = scenario.datasets.clone();
        if let Some(path) = &self.agents {
            let (agents, stats) = load_agents(path, config)?;
            population = Population::Listed(agents);
            datasets.push(stats);
        }
        if let Some(path) = &self.events {
            let (listed, stats) = load_events(path, config)?;
            events = EventSchedule::Listed(listed);
            datasets.push(stats);
        }
        if let Some(path) = &self.trace {
            let ids: HashSet<u32> = match &population {
                Population::Generated(n) => (0..*n).collect(),
                Population::Listed(agents) => agents.iter().map(|a| a.id).collect(),
            };
            let (loaded, stats) = load_trace(path, config, &ids)?;
            trace = Some(loaded);
            datasets.push(stats);
        }
        *scenario = Scenario { population, events, trace, datasets, ..scenario.clone() };
        Ok(())
    }
}

/// SPEC's default world as scenario files, built into the binary: the
/// 10,000 agents of SPEC 1's spawn with the default seed and world, and
/// SPEC 3's default events starting in the first 1,000,000 frames (written
/// by `genesis gen --spec-default --frames 1000000 --out assets/default`).
pub const DEFAULT_AGENTS_CSV: &[u8] = include_bytes!("../assets/default/agents.csv");
pub const DEFAULT_EVENTS_CSV: &[u8] = include_bytes!("../assets/default/events.csv");
/// The agents in [`DEFAULT_AGENTS_CSV`].
pub const DEFAULT_AGENTS: u32 = 10_000;
/// The frames [`DEFAULT_EVENTS_CSV`] covers.
pub const DEFAULT_EVENT_FRAMES: u64 = 1_000_000;

/// Loads the built-in default scenario files into `scenario`, through the
/// CSV engine and the same checks as any scenario file, when `scenario` is
/// SPEC's default world (the default seed, world size and channels, 10,000
/// generated agents, the default events, no trace; other model options may
/// differ); says whether it did. The run then computes
/// what the generated world computes (for the files' first 1,000,000
/// frames), and the files' statistics are the scenario's datasets: what the
/// desktop app's default run shows.
pub fn embedded_default(scenario: &mut Scenario) -> Result<bool, CsvError> {
    // The files hold positions and events, which only the seed, the world
    // and the channels decide; every other option may differ.
    let (c, d) = (&scenario.config, ModelConfig::default());
    let is_default = (c.seed, c.width, c.height, c.channels) == (d.seed, d.width, d.height, d.channels)
        && matches!(scenario.population, Population::Generated(DEFAULT_AGENTS))
        && matches!(scenario.events, EventSchedule::Default)
        && scenario.trace.is_none();
    if !is_default {
        return Ok(false);
    }
    let parse = |name: &str, bytes: &[u8]| -> Result<LoadedCsv, CsvError> {
        let started = std::time::Instant::now();
        let path = PathBuf::from(format!("{name} (built in)"));
        let table = crate::csv::parse(
            bytes,
            ParseOptions { keep_offsets: true, bad_rows: BadRows::Error, ..ParseOptions::default() },
        )
        .map_err(|e| e.in_file(&path))?;
        Ok(LoadedCsv { path, table, bytes: bytes.len(), parse_seconds: started.elapsed().as_secs_f64() })
    };
    let (agents, agent_stats) = agents_from(parse("agents.csv", DEFAULT_AGENTS_CSV)?, &scenario.config)?;
    let (events, event_stats) = events_from(parse("events.csv", DEFAULT_EVENTS_CSV)?, &scenario.config)?;
    scenario.population = Population::Listed(agents);
    scenario.events = EventSchedule::Listed(events);
    scenario.datasets.extend([agent_stats, event_stats]);
    Ok(true)
}

/// Whether `stats` describe one of the built-in default files.
pub fn is_built_in(stats: &DatasetStats) -> bool {
    stats.path.to_str().is_some_and(|p| p.ends_with(" (built in)"))
}

/// Undoes [`embedded_default`]: the agents and events go back to being
/// drawn from the seed (for a restart with another seed or agent count).
pub fn without_built_in(scenario: &mut Scenario) {
    if scenario.datasets.iter().any(is_built_in) {
        scenario.population = Population::Generated(scenario.population.len() as u32);
        scenario.events = EventSchedule::Default;
        scenario.datasets.retain(|d| !is_built_in(d));
    }
}

/// Reads `path` keeping field offsets, so later checks can name the line.
fn load(path: &Path) -> Result<LoadedCsv, CsvError> {
    read_file(path, ParseOptions { keep_offsets: true, bad_rows: BadRows::Error, ..ParseOptions::default() })
}

/// A checked column of a scenario file.
struct Field<'a> {
    file: &'a LoadedCsv,
    index: usize,
    column: &'a Column,
}

impl<'a> Field<'a> {
    /// The column `name`, or an error listing what the file must have.
    fn required(file: &'a LoadedCsv, name: &str, expected: &str) -> Result<Self, CsvError> {
        Self::optional(file, name).ok_or_else(|| {
            let found: Vec<&str> = file.table.columns.iter().map(|c| c.name.as_str()).collect();
            let mut e = CsvError::whole(format!(
                "missing required column '{name}': expected columns {expected}, found {}",
                found.join(",")
            ));
            e.position = Some(crate::csv::error::Position { byte: 0, line: 1, column: found.len() + 1 });
            e.in_file(&file.path)
        })
    }

    fn optional(file: &'a LoadedCsv, name: &str) -> Option<Self> {
        let index = file.table.columns.iter().position(|c| c.name == name)?;
        Some(Self { file, index, column: &file.table.columns[index] })
    }

    /// An error about row `row` of this column.
    fn error(&self, row: usize, message: impl Into<String>) -> CsvError {
        let offset = self.column.offset(row).unwrap_or(0);
        // Errors are rare: read the file again just to count lines.
        let data = std::fs::read(&self.file.path).unwrap_or_default();
        CsvError::at(&data, offset, self.index + 1, message).in_file(&self.file.path).in_column(&self.column.name)
    }

    fn text(&self, row: usize) -> String {
        match &self.column.values {
            Values::Text(t) => t.get(row).to_string(),
            Values::Integer(v) => v[row].to_string(),
            Values::Float(v) => v[row].to_string(),
        }
    }

    /// Every value as a finite number (none missing).
    fn numbers(&self) -> Result<Vec<f64>, CsvError> {
        if let Some(&row) = self.column.missing.first() {
            return Err(self.error(row, "expected a number, found an empty field"));
        }
        match &self.column.values {
            Values::Integer(v) => Ok(v.iter().map(|&i| i as f64).collect()),
            Values::Float(v) => Ok(v.clone()),
            Values::Text(t) => t
                .iter()
                .enumerate()
                .map(|(row, s)| {
                    parse_float(s.as_bytes())
                        .ok_or_else(|| self.error(row, format!("expected a finite number, found '{s}'")))
                })
                .collect(),
        }
    }

    /// Every value as a whole number (none missing).
    fn whole_numbers(&self) -> Result<Vec<i64>, CsvError> {
        if let Some(&row) = self.column.missing.first() {
            return Err(self.error(row, "expected a whole number, found an empty field"));
        }
        match &self.column.values {
            Values::Integer(v) => Ok(v.clone()),
            _ => (0..self.column.values.len())
                .map(|row| {
                    let s = self.text(row);
                    parse_integer(s.as_bytes())
                        .ok_or_else(|| self.error(row, format!("expected a whole number, found '{s}'")))
                })
                .collect(),
        }
    }

    /// Whole numbers within `lo..=hi`.
    fn whole_in(&self, lo: i64, hi: i64, what: &str) -> Result<Vec<i64>, CsvError> {
        let values = self.whole_numbers()?;
        match values.iter().position(|v| !(lo..=hi).contains(v)) {
            Some(row) => Err(self.error(row, format!("expected {what} ({lo} to {hi}), found {}", values[row]))),
            None => Ok(values),
        }
    }

    /// Finite numbers within `lo..=hi`.
    fn within(&self, lo: f64, hi: f64, what: &str) -> Result<Vec<f64>, CsvError> {
        let values = self.numbers()?;
        match values.iter().position(|v| !(lo..=hi).contains(v)) {
            Some(row) => Err(self.error(row, format!("expected {what} ({lo} to {hi}), found {}", values[row]))),
            None => Ok(values),
        }
    }
}

/// Agents from an agents file: `id,x,y` and optional `heading`.
pub fn load_agents(path: &Path, config: &ModelConfig) -> Result<(Vec<AgentSpec>, DatasetStats), CsvError> {
    agents_from(load(path)?, config)
}

/// [`load_agents`] of a file already parsed.
fn agents_from(file: LoadedCsv, config: &ModelConfig) -> Result<(Vec<AgentSpec>, DatasetStats), CsvError> {
    if file.table.rows == 0 {
        return Err(CsvError::whole("no agents: expected at least one row after the header").in_file(&file.path));
    }
    let expected = "id,x,y (heading optional)";
    let id = Field::required(&file, "id", expected)?;
    let ids = id.whole_in(0, u32::MAX as i64, "an agent id")?;
    let xs = Field::required(&file, "x", expected)?.within(0.0, config.width as f64, "a position inside the world")?;
    let ys = Field::required(&file, "y", expected)?.within(0.0, config.height as f64, "a position inside the world")?;
    let headings = match Field::optional(&file, "heading") {
        None => vec![None; ids.len()],
        // An empty heading takes the default heading, like a file without the column.
        Some(h) => (0..ids.len())
            .map(|row| {
                if h.column.is_missing(row) {
                    return Ok(None);
                }
                let text = h.text(row);
                parse_float(text.as_bytes())
                    .map(|v| Some(v as f32))
                    .ok_or_else(|| h.error(row, format!("expected a heading in radians, found '{text}'")))
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    let mut seen = HashSet::with_capacity(ids.len());
    for (row, &i) in ids.iter().enumerate() {
        if !seen.insert(i) {
            return Err(id.error(row, format!("duplicate agent id {i}: expected each id once")));
        }
    }
    let agents = (0..ids.len())
        .map(|r| AgentSpec { id: ids[r] as u32, x: xs[r] as f32, y: ys[r] as f32, heading: headings[r] })
        .collect();
    Ok((agents, DatasetStats::of(&file)))
}

/// Events from an events file (replacing the default schedule).
pub fn load_events(path: &Path, config: &ModelConfig) -> Result<(Vec<Event>, DatasetStats), CsvError> {
    events_from(load(path)?, config)
}

/// [`load_events`] of a file already parsed.
fn events_from(file: LoadedCsv, config: &ModelConfig) -> Result<(Vec<Event>, DatasetStats), CsvError> {
    let expected = "start,end,x,y,radius,channel,magnitude";
    let col = |name| Field::required(&file, name, expected);
    let starts = col("start")?.whole_in(0, i64::MAX, "a frame number")?;
    let end = col("end")?;
    let ends = end.whole_in(0, i64::MAX, "a frame number")?;
    if let Some(row) = (0..ends.len()).find(|&r| ends[r] < starts[r]) {
        return Err(end.error(row, format!("expected end ≥ start ({}), found {}", starts[row], ends[row])));
    }
    let xs = col("x")?.within(0.0, config.width as f64, "a position inside the world")?;
    let ys = col("y")?.within(0.0, config.height as f64, "a position inside the world")?;
    let radius = col("radius")?;
    let radii = radius.numbers()?;
    if let Some(row) = radii.iter().position(|&r| r <= 0.0) {
        return Err(radius.error(row, format!("expected a radius > 0, found {}", radii[row])));
    }
    let channels = col("channel")?.whole_in(0, config.channels as i64 - 1, "a channel")?;
    let magnitudes = col("magnitude")?.numbers()?;
    let events = (0..starts.len())
        .map(|r| Event {
            start: starts[r] as u64,
            end: ends[r] as u64,
            x: xs[r] as f32,
            y: ys[r] as f32,
            radius: radii[r] as f32,
            channel: channels[r] as usize,
            magnitude: magnitudes[r] as f32,
        })
        .collect();
    Ok((events, DatasetStats::of(&file)))
}

/// A recorded sensor trace; `agent_ids` are the ids the simulation has.
pub fn load_trace(
    path: &Path,
    config: &ModelConfig,
    agent_ids: &HashSet<u32>,
) -> Result<(SensorTrace, DatasetStats), CsvError> {
    let file = load(path)?;
    let names: Vec<String> = (0..config.channels).map(|c| format!("s{c}")).collect();
    let expected = format!("frame,agent,{}", names.join(","));
    let frames = Field::required(&file, "frame", &expected)?.whole_in(0, i64::MAX, "a frame number")?;
    let agent = Field::required(&file, "agent", &expected)?;
    let agents = agent.whole_in(0, u32::MAX as i64, "an agent id")?;
    if let Some(row) = agents.iter().position(|a| !agent_ids.contains(&(*a as u32))) {
        return Err(
            agent.error(row, format!("unknown agent id {}: expected an id of the simulated agents", agents[row]))
        );
    }
    let mut readings = vec![[0.0f32; 8]; frames.len()];
    for (c, name) in names.iter().enumerate() {
        let values = Field::required(&file, name, &expected)?.numbers()?;
        for (r, v) in values.into_iter().enumerate() {
            readings[r][c] = v as f32;
        }
    }
    let rows: Vec<(u64, u32, [f32; 8])> =
        (0..frames.len()).map(|r| (frames[r] as u64, agents[r] as u32, readings[r])).collect();
    let trace = SensorTrace::new(rows).map_err(|row| {
        agent.error(row, format!("duplicate trace row for frame {} and agent {}", frames[row], agents[row]))
    })?;
    Ok((trace, DatasetStats::of(&file)))
}
