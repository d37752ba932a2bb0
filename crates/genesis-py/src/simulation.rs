//! `Simulation`: the engine in-process, stepped from Python.
//!
//! A `Simulation` holds a [`Run`], the same run `genesis bench` steps, in
//! a mutex: frames run with the GIL released, so other Python threads go
//! on meanwhile, and on the run's own worker pool. Every few tens of
//! milliseconds of a long `step` the GIL is taken back for a moment to let
//! Python handle signals, so Ctrl-C stops a run between two frames (the
//! frames done stay done).
//!
//! The state arrays are read in id order ([`genesis::state`]) into fresh
//! buffers that NumPy then owns as they are: one copy out of the ECS
//! tables, which keep agents in space order and change every frame.

use std::ops::ControlFlow;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use genesis::run::{Run, RunSettings};
use genesis::scenario::ScenarioFiles;
use genesis::sim::{LiveReadings, Mlp, ModelConfig, Population, Scenario};
use genesis::weights::{TENSORS, Tensor};
use numpy::ndarray::Array2;
use numpy::{PyArray1, PyArray2, PyArrayDyn, PyArrayMethods, PyUntypedArray, PyUntypedArrayMethods, ToPyArray};
use pyo3::exceptions::{PyMemoryError, PyOSError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping};

use crate::errors::{csv_error, guarded, value_error};

/// How long frames run between two looks at Python's signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// Frames of timing kept for the report's percentiles.
const TIMING_FRAMES: usize = 10_000;

/// The Genesis awareness model (SPEC.md), in this process.
///
/// Every model option of ``genesis bench`` is a keyword argument of the
/// same name (``-`` as ``_``) and default. The simulation starts at frame
/// 0 with its agents spawned; :meth:`step` runs frames.
///
/// Args:
///     agents: generated agents, ids ``0 .. agents-1`` (default 10,000);
///         not with ``agents_csv``.
///     seed: seed of positions, noise and events.
///     width, height, raster, channels, radius, neighbours, window,
///         z_threshold, noise, dt, top_speed, hidden: the model (SPEC 5).
///     agents_csv, events_csv, trace_csv: scenario files, as
///         ``--agents-csv`` and so on.
///     weights: trained MLP weights: a path to a safetensors file, or a
///         mapping of float32 arrays ``w1`` (channels × hidden), ``b1``
///         (hidden), ``w2`` (hidden × 4) and ``b2`` (4). Default: SPEC's.
///     threads: worker threads; ``None`` or 0 uses one per core. Results
///         do not depend on it.
///     reorder_every: frames between putting agents back in space order
///         (cache locality; 0: never). Results do not depend on it.
///
/// Raises:
///     ValueError: an invalid option (the command line's message), or
///         weights that do not fit the model.
///     CsvError: a malformed scenario file.
///     MemoryError: the run needs more memory than the machine has
///         available (the message gives the estimate), checked before
///         anything big is allocated.
#[pyclass(frozen, module = "genesis_sim")]
pub struct Simulation {
    run: Mutex<Run>,
    channels: usize,
}

impl Simulation {
    /// The run, waiting for another thread's `step` with the GIL released
    /// (that `step` takes the GIL back between frames, so waiting with it
    /// held would deadlock).
    fn lock(&self, py: Python<'_>) -> MutexGuard<'_, Run> {
        loop {
            match self.run.try_lock() {
                Ok(run) => return run,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => py.detach(|| drop(self.run.lock())),
            }
        }
    }

    /// A state array, read with the GIL released.
    fn read<T: Send>(&self, py: Python<'_>, read: impl FnOnce(&mut Run) -> T + Send) -> T {
        let mut run = self.lock(py);
        let run = &mut *run;
        py.detach(|| read(run))
    }

    fn agents(&self, py: Python<'_>) -> usize {
        self.lock(py).agents()
    }
}

#[pymethods]
impl Simulation {
    #[new]
    #[pyo3(signature = (
        agents=None, seed=42, *, width=1000.0, height=1000.0, raster=256, channels=8, radius=10.0,
        neighbours=16, window=64, z_threshold=4.0, noise=0.05, dt=1.0 / 60.0, top_speed=30.0, hidden=16,
        agents_csv=None, events_csv=None, trace_csv=None, weights=None, threads=None, reorder_every=32
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        agents: Option<i64>,
        seed: i64,
        width: f64,
        height: f64,
        raster: i64,
        channels: i64,
        radius: f64,
        neighbours: i64,
        window: i64,
        z_threshold: f64,
        noise: f64,
        dt: f64,
        top_speed: f64,
        hidden: i64,
        agents_csv: Option<PathBuf>,
        events_csv: Option<PathBuf>,
        trace_csv: Option<PathBuf>,
        weights: Option<Bound<'_, PyAny>>,
        threads: Option<i64>,
        reorder_every: i64,
    ) -> PyResult<Self> {
        let config = ModelConfig {
            seed: whole("--seed", seed)? as u64,
            width: width as f32,
            height: height as f32,
            raster: whole("--raster", raster)?,
            channels: whole("--channels", channels)?,
            radius: radius as f32,
            neighbours: whole("--neighbours", neighbours)?,
            window: whole("--window", window)?,
            z_threshold: z_threshold as f32,
            noise: noise as f32,
            dt: dt as f32,
            top_speed: top_speed as f32,
            hidden: whole("--hidden", hidden)?,
        };
        config.validate().map_err(value_error)?;
        let population = match (agents, &agents_csv) {
            (Some(_), Some(_)) => return Err(value_error("give agents or agents_csv, not both")),
            (None, _) => Population::Generated(10_000),
            (Some(n), None) if (1..=u32::MAX as i64).contains(&n) => Population::Generated(n as u32),
            (Some(n), None) => {
                return Err(value_error(format!("--agents must be between 1 and {}, got {n}", u32::MAX)));
            }
        };
        let settings = RunSettings {
            threads: threads.map_or(Ok(0), |n| whole("--threads", n))?,
            reorder_every: whole("--reorder-every", reorder_every)? as u64,
            ..RunSettings::new(0, TIMING_FRAMES)
        };
        let mut scenario = Scenario { config, population, ..Scenario::default() };
        if let Some(weights) = weights {
            scenario.weights = Some(mlp_of(&weights, &scenario.config)?);
        }
        let files = ScenarioFiles { agents: agents_csv, events: events_csv, trace: trace_csv };
        guarded(|| {
            py.detach(|| files.load_into(&mut scenario)).map_err(|e| csv_error(py, &e))?;
            let channels = scenario.config.channels;
            let needs = genesis::machine::run_needs(&scenario.config, scenario.population.len() as u64);
            genesis::machine::check_memory(&needs).map_err(PyMemoryError::new_err)?;
            let run = py.detach(|| Run::new(scenario, settings));
            Ok(Self { run: Mutex::new(run), channels })
        })
    }

    /// Runs ``frames`` frames of the same pipeline as ``genesis bench``,
    /// with the GIL released. Ctrl-C (KeyboardInterrupt) stops it between
    /// two frames; the frames done stay done.
    ///
    /// Args:
    ///     frames: frames to run (≥ 0).
    ///     sensors: live readings for one frame (``frames`` must then be
    ///         1): a float32 array of shape (agents, channels), rows in id
    ///         order (as :attr:`ids`), used in place of sensing for every
    ///         agent, exactly as a trace CSV row would be (SPEC 7).
    ///
    /// Raises:
    ///     ValueError: a wrong shape, dtype or a non-finite reading; the
    ///         simulation is then left as it was.
    #[pyo3(signature = (frames=1, *, sensors=None))]
    fn step(&self, py: Python<'_>, frames: i64, sensors: Option<Bound<'_, PyAny>>) -> PyResult<()> {
        if frames < 0 {
            return Err(value_error(format!("frames must be ≥ 0, got {frames}")));
        }
        let mut run = self.lock(py);
        let run = &mut *run;
        if let Some(sensors) = sensors {
            if frames != 1 {
                return Err(value_error(format!(
                    "sensors= holds the readings of one frame: call step(sensors=...) once per frame, not with frames={frames}"
                )));
            }
            let readings = readings(&sensors, run.frame(), run.agents(), self.channels)?;
            return guarded(|| {
                py.detach(|| run.step_with_readings(readings));
                Ok(())
            });
        }
        let mut left = frames as u64;
        while left > 0 {
            let deadline = Instant::now() + SIGNAL_CHECK;
            let done = guarded(|| {
                Ok(py.detach(|| {
                    run.step(left, |_| {
                        if Instant::now() < deadline { ControlFlow::Continue(()) } else { ControlFlow::Break(()) }
                    })
                }))
            })?;
            left -= done;
            py.check_signals()?;
        }
        Ok(())
    }

    /// Back to frame 0 of the same scenario, as a new simulation would
    /// start.
    fn reset(&self, py: Python<'_>) -> PyResult<()> {
        guarded(|| {
            self.read(py, Run::reset);
            Ok(())
        })
    }

    /// Frames simulated so far.
    #[getter]
    fn frame(&self, py: Python<'_>) -> u64 {
        self.lock(py).frame()
    }

    /// Number of agents (also ``len(sim)``).
    #[getter(agents)]
    fn agent_count(&self, py: Python<'_>) -> usize {
        self.agents(py)
    }

    fn __len__(&self, py: Python<'_>) -> usize {
        self.agents(py)
    }

    /// The model's parameters (SPEC 5), as the JSON report's ``config``
    /// plus ``seed``.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let config = self.lock(py).scenario().config.clone();
        let mut json = genesis::bench::config_json(&config);
        json["seed"] = config.seed.into();
        py.import("json")?.call_method1("loads", (json.to_string(),))
    }

    /// The MLP's weights in use: float32 arrays ``w1``, ``b1``, ``w2``, ``b2``
    /// (copies).
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mlp = self.lock(py).world().resource::<Mlp>().clone();
        weights_dict(py, &mlp)
    }

    /// Agent ids, ascending: the row order of every state array (uint32).
    #[getter]
    fn ids<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        PyArray1::from_vec(py, self.read(py, |run| genesis::state::ids(run.world())))
    }

    /// Positions ``x, y`` (agents × 2, float32), in id order.
    #[getter]
    fn positions<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let values = self.read(py, |run| genesis::state::positions(run.world_mut()));
        matrix(py, values, 2)
    }

    /// Headings in radians, in ``[-π, π)`` (float32), in id order.
    #[getter]
    fn headings<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_vec(py, self.read(py, |run| genesis::state::headings(run.world_mut())))
    }

    /// This frame's sensor readings (agents × channels, float32), in id
    /// order.
    #[getter]
    fn sensors<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let values = self.read(py, |run| genesis::state::sensors(run.world_mut()));
        matrix(py, values, self.channels)
    }

    /// Fused readings (float32), in id order.
    #[getter]
    fn fused<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_vec(py, self.read(py, |run| genesis::state::fused(run.world_mut())))
    }

    /// Anomaly z-scores (float32; 0 until an agent's window is full), in id
    /// order.
    #[getter]
    fn z<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f32>> {
        PyArray1::from_vec(py, self.read(py, |run| genesis::state::z(run.world_mut())))
    }

    /// Whether each agent flagged an anomaly this frame (bool), in id
    /// order.
    #[getter]
    fn anomaly<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<bool>> {
        PyArray1::from_vec(py, self.read(py, |run| genesis::state::anomaly(run.world_mut())))
    }

    /// Neighbours kept per agent (uint32), in id order.
    #[getter]
    fn nbr_count<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<u32>> {
        PyArray1::from_vec(py, self.read(py, |run| genesis::state::nbr_count(run.world_mut())))
    }

    /// MLP outputs ``y0..y3`` (agents × 4, float32: threat, interest, two
    /// steering values), in id order.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f32>>> {
        let values = self.read(py, |run| genesis::state::outputs(run.world_mut()));
        matrix(py, values, 4)
    }

    /// The benchmark report of the frames stepped since the start (or the
    /// last :meth:`reset`), with the fields of ``genesis bench --json``:
    /// ``hz`` (frames per second of time spent in :meth:`step`),
    /// ``frame_ms`` and each stage's ``p50_us``/``p99_us`` over the last
    /// 10,000 frames, ``anomalies_total``, ``detection``, ``config``, …
    fn report<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = self.read(py, |run| genesis::bench::report_json(&run.report()).to_string());
        py.import("json")?.call_method1("loads", (text,))
    }

    /// Writes the state dump of SPEC 6 (``genesis bench --dump``): a CSV
    /// row per agent in id order.
    fn dump(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let written = self.read(py, |run| -> Result<(), String> {
            let file = std::fs::File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
            let mut w = std::io::BufWriter::new(file);
            genesis::state::write_dump(run.world_mut(), &mut w)
                .and_then(|()| std::io::Write::flush(&mut w))
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        });
        written.map_err(PyOSError::new_err)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        let run = self.lock(py);
        format!(
            "<genesis_sim.Simulation: {} agents, seed {}, frame {}>",
            run.agents(),
            run.scenario().config.seed,
            run.frame()
        )
    }
}

/// SPEC 4.4's default MLP weights for ``channels`` inputs and ``hidden``
/// units, as a dict of float32 arrays ``w1``, ``b1``, ``w2``, ``b2``: the
/// shape ``Simulation(weights=...)`` takes and a starting point to train.
#[pyfunction]
#[pyo3(signature = (channels=8, hidden=16))]
pub fn spec_weights(py: Python<'_>, channels: i64, hidden: i64) -> PyResult<Bound<'_, PyDict>> {
    let config = ModelConfig {
        channels: whole("--channels", channels)?,
        hidden: whole("--hidden", hidden)?,
        ..ModelConfig::default()
    };
    config.validate().map_err(value_error)?;
    weights_dict(py, &Mlp::default_for(&config))
}

/// A whole-number option as `usize`, refused below 0 with the option named.
fn whole(option: &str, value: i64) -> PyResult<usize> {
    usize::try_from(value).map_err(|_| value_error(format!("{option} must be a whole number ≥ 0, got {value}")))
}

/// `values` (row-major, `width` per row) as a NumPy matrix owning them.
fn matrix(py: Python<'_>, values: Vec<f32>, width: usize) -> PyResult<Bound<'_, PyArray2<f32>>> {
    let rows = values.len() / width.max(1);
    let array = Array2::from_shape_vec((rows, width), values).map_err(|e| value_error(e.to_string()))?;
    Ok(PyArray2::from_owned_array(py, array))
}

fn weights_dict<'py>(py: Python<'py>, mlp: &Mlp) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("w1", mlp.w1.to_pyarray(py))?;
    dict.set_item("b1", mlp.b1.to_pyarray(py))?;
    dict.set_item("w2", mlp.w2.to_pyarray(py))?;
    dict.set_item("b2", mlp.b2.to_pyarray(py))?;
    Ok(dict)
}

/// `weights=`: a safetensors path, or a mapping of float32 arrays.
fn mlp_of(weights: &Bound<'_, PyAny>, config: &ModelConfig) -> PyResult<Mlp> {
    if let Ok(path) = weights.extract::<PathBuf>() {
        return genesis::weights::load(&path, config).map_err(value_error);
    }
    let Ok(mapping) = weights.cast::<PyMapping>() else {
        return Err(value_error(format!(
            "weights: expected a path to a safetensors file or a dict of float32 arrays {}, got {}",
            TENSORS.join(", "),
            type_name(weights)
        )));
    };
    genesis::weights::from_tensors(config, |name| {
        if !mapping.contains(name).unwrap_or(false) {
            return Ok(None);
        }
        let item = mapping.get_item(name).map_err(|e| e.to_string())?;
        let Ok(array) = item.cast::<PyArrayDyn<f32>>() else {
            return Err(format!(
                "tensor '{name}' is {}, expected a float32 array (use .astype(numpy.float32))",
                describe(&item)
            ));
        };
        let array = array.readonly();
        let view = array.as_array();
        Ok(Some(Tensor { shape: view.shape().to_vec(), values: view.iter().copied().collect() }))
    })
    .map_err(|e| value_error(format!("weights: {e}")))
}

/// `sensors=`: checked and copied (with the GIL held, so no other Python
/// thread changes the array meanwhile).
fn readings(sensors: &Bound<'_, PyAny>, frame: u64, agents: usize, channels: usize) -> PyResult<LiveReadings> {
    let Ok(array) = sensors.cast::<PyArray2<f32>>() else {
        return Err(value_error(format!(
            "sensors: expected a float32 array of shape ({agents}, {channels}), got {}",
            describe(sensors)
        )));
    };
    let array = array.readonly();
    let shape = (array.shape()[0], array.shape()[1]);
    let result = match array.as_slice() {
        Ok(values) => LiveReadings::from_rows(frame, values, shape, agents, channels),
        Err(_) => LiveReadings::from_rows(
            frame,
            &array.as_array().iter().copied().collect::<Vec<f32>>(),
            shape,
            agents,
            channels,
        ),
    };
    result.map_err(value_error)
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value.get_type().name().map_or_else(|_| "an object".into(), |n| n.to_string())
}

/// An array's dtype and shape, or another object's type, for messages.
fn describe(value: &Bound<'_, PyAny>) -> String {
    match value.cast::<PyUntypedArray>() {
        Ok(array) => {
            let dtype = array.dtype().str().map_or_else(|_| "?".into(), |s| s.to_string());
            let dims: Vec<String> = array.shape().iter().map(usize::to_string).collect();
            let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
            format!("an array of dtype {dtype} and shape {shape}")
        }
        Err(_) => type_name(value),
    }
}
