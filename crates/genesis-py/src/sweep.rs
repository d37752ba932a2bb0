//! The Rust half of `genesis_sim.sweep`: the pieces of
//! [`genesis::sweep`] that Python's sweep function (in
//! `python/genesis_sim/_sweep.py`) puts together, on this machine or on a
//! Dask cluster.
//!
//! A run travels as its key, the parameter columns of its row
//! ([`genesis::sweep::Run::key`]): a short string any worker turns back
//! into the run, so nothing unpicklable crosses the cluster.
//!
//! | function | what |
//! |---|---|
//! | [`sweep_plan`] | the runs' keys, from keyword options, checked as `genesis sweep` checks them |
//! | [`sweep_row`] | one run, on a worker: its CSV row ([`genesis::sweep::run_row`]) |
//! | [`SweepWriter`] | the output file and progress line on the client ([`genesis::sweep::Output`]) |
//! | [`sweep_local`] | the whole sweep on this machine, the command line's machinery ([`genesis::sweep::run`]) |
//! | [`sweep_table`] | the sweep's rows of an output file, as a `Table` |

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use genesis::csv::{LoadedCsv, ParseOptions};
use genesis::sweep::{self, Output, PARAMETERS, Progress, RowSettings, Run, Shard, SweepOptions, Value};
use pyo3::exceptions::{PyMemoryError, PyOSError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use crate::errors::{csv_error, guarded, value_error};
use crate::table::Table;

/// How long the sweep runs between two looks at Python's signals.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// One value of a sweep option from Python: an int, or a float (a float
/// for a whole-number option must be whole).
fn scalar(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Value> {
    let integer = sweep::is_integer(name);
    let bad = |what: String| value_error(format!("{name}: {what}"));
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(format!("{name}: expected a number, got a bool")));
    }
    if let Ok(v) = value.extract::<i64>() {
        return match (integer, u64::try_from(v)) {
            (true, Ok(v)) => Ok(Value::Int(v)),
            (true, Err(_)) => Err(bad(format!("expected a whole number ≥ 0, got {v}"))),
            (false, _) => Ok(Value::Float(v as f32)),
        };
    }
    let Ok(v) = value.extract::<f64>() else {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected a number, a list of numbers or a string such as \"1,2,5\" or \"0:1:0.25\", got {}",
            value.get_type().name()?
        )));
    };
    if !v.is_finite() {
        return Err(bad(format!("expected a finite number, got {v}")));
    }
    if integer {
        if v < 0.0 || v.fract() != 0.0 {
            return Err(bad(format!("expected a whole number ≥ 0, got {v}")));
        }
        return Ok(Value::Int(v as u64));
    }
    Ok(Value::Float(v as f32))
}

/// A sweep option's values from Python: a number, an iterable of numbers,
/// or a string in the command line's syntax (`"1,2"`, `"0:1:0.25"`,
/// `"1..8"`).
fn axis(name: &str, value: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    if let Ok(text) = value.cast::<PyString>() {
        let text = text.to_str()?;
        return sweep::parse_values(name, text, sweep::is_integer(name))
            .map_err(|e| value_error(e.trim_start_matches("--").to_string()));
    }
    if scalar(name, value).is_ok() || value.try_iter().is_err() {
        return Ok(vec![scalar(name, value)?]);
    }
    let values = value.try_iter()?.map(|item| scalar(name, &item?)).collect::<PyResult<Vec<_>>>()?;
    if values.is_empty() {
        return Err(value_error(format!("{name}: no values given")));
    }
    Ok(values)
}

/// The keys of a sweep's runs, in the combination order of `genesis
/// sweep` (seeds innermost), each run checked as the command line checks
/// it, and the warm-up (defaulted as the command line defaults it). `options` maps a parameter name (`"seed"` for the seeds) to its
/// values; parameters left out take SPEC's defaults.
#[pyfunction]
#[pyo3(name = "_sweep_plan", signature = (options, frames, warmup=None, *, weights=None, shard=None))]
pub fn sweep_plan(
    py: Python<'_>,
    options: &Bound<'_, PyDict>,
    frames: u64,
    warmup: Option<u64>,
    weights: Option<PathBuf>,
    shard: Option<(i64, i64)>,
) -> PyResult<(Vec<String>, u64)> {
    let (_, warmup) = genesis::bench::frames_and_warmup(frames, warmup)
        .map_err(|e| value_error(e.replace("--frames", "frames").replace("--warmup", "warmup")))?;
    let mut axes: [Vec<Value>; PARAMETERS.len()] = Default::default();
    for (name, values) in options.iter() {
        let name: String = name.extract()?;
        let Some(i) = PARAMETERS.iter().position(|p| *p == name) else {
            return Err(PyTypeError::new_err(format!("sweep() got an unexpected option {name:?}")));
        };
        axes[i] = axis(&name, &values)?;
    }
    for (axis, name) in axes.iter_mut().zip(PARAMETERS) {
        if axis.is_empty() {
            axis.push(sweep::default_value(name).expect("every parameter has a default"));
        }
    }
    let shard = match shard {
        None => None,
        Some((k, n)) => Some(format!("{k}/{n}").parse::<Shard>().map_err(|e| value_error(format!("shard {e}")))?),
    };
    guarded(|| {
        let runs = py.detach(|| sweep::plan(&axes, weights.as_deref())).map_err(value_error)?;
        let runs = match shard {
            Some(shard) => shard.select(&runs),
            None => runs,
        };
        Ok((runs.iter().map(Run::key).collect(), warmup))
    })
}

/// Runs the run named by `key` (frames, warm-up, threads and weights as
/// given) with the GIL released, and returns its output row: what a Dask
/// task runs on a worker.
#[pyfunction]
#[pyo3(name = "_sweep_row", signature = (key, frames, warmup, *, threads=1, weights=None))]
pub fn sweep_row(
    py: Python<'_>,
    key: &str,
    frames: u64,
    warmup: u64,
    threads: usize,
    weights: Option<PathBuf>,
) -> PyResult<String> {
    let run = Run::from_key(key).map_err(value_error)?;
    let settings = RowSettings { frames, warmup, threads, weights };
    guarded(|| py.detach(|| sweep::run_row(&run, &settings)).map_err(value_error))
}

/// A sweep's output file on the client: rows are appended as runs come
/// back, each run once (a retried task's second row is dropped), with the
/// command line's progress line on stderr.
#[pyclass(frozen, module = "genesis_sim")]
pub struct SweepWriter {
    inner: Mutex<(Output, Progress)>,
}

#[pymethods]
impl SweepWriter {
    /// Opens (or resumes) `out`; `progress` shows the progress line.
    #[new]
    #[pyo3(signature = (out, *, progress=true))]
    fn new(out: PathBuf, progress: bool) -> PyResult<Self> {
        let output = Output::open(&out).map_err(PyOSError::new_err)?;
        Ok(SweepWriter { inner: Mutex::new((output, Progress::new(0, progress))) })
    }

    /// The keys of `keys` not in the file yet; sets the progress line's
    /// total to their count.
    fn todo(&self, keys: Vec<String>) -> Vec<String> {
        let (output, progress) = &mut *self.inner.lock().unwrap();
        let todo: Vec<String> = keys.into_iter().filter(|k| !output.has(k)).collect();
        *progress = Progress::new(todo.len(), progress.shows());
        todo
    }

    /// Runs already in the file.
    fn __len__(&self) -> usize {
        self.inner.lock().unwrap().0.len()
    }

    /// Appends a run's row unless its run is in the file already; says
    /// whether it was written.
    fn write(&self, row: &str) -> PyResult<bool> {
        let (output, progress) = &mut *self.inner.lock().unwrap();
        let written = output.append(row).map_err(PyOSError::new_err)?;
        if written {
            progress.tick();
        }
        Ok(written)
    }

    /// Prints the closing line (runs, time, rate).
    fn finish(&self) {
        self.inner.lock().unwrap().1.finish();
    }
}

/// Runs the runs named by `keys` that `out` does not hold yet on this
/// machine, `jobs` at a time, as `genesis sweep` does. Returns how many
/// were done and the failed ones as `(key, message)`. Ctrl-C starts no
/// further run, lets the runs under way finish and be written, and raises
/// KeyboardInterrupt.
#[pyfunction]
#[pyo3(name = "_sweep_local", signature = (keys, frames, warmup, *, out, jobs=0, threads=1, weights=None, progress=true))]
#[allow(clippy::too_many_arguments)]
pub fn sweep_local(
    py: Python<'_>,
    keys: Vec<String>,
    frames: u64,
    warmup: u64,
    out: PathBuf,
    jobs: usize,
    threads: usize,
    weights: Option<PathBuf>,
    progress: bool,
) -> PyResult<(usize, Vec<(String, String)>)> {
    let runs = keys.iter().map(|k| Run::from_key(k)).collect::<Result<Vec<_>, _>>().map_err(value_error)?;
    let jobs = sweep::jobs_or_cores(jobs);
    sweep::check_memory(&runs, jobs).map_err(PyMemoryError::new_err)?;
    let cancel = Arc::new(AtomicBool::new(false));
    let options = SweepOptions {
        runs,
        settings: RowSettings { frames, warmup, threads, weights },
        jobs,
        out,
        json: None,
        max_runs: None,
        progress,
        cancel: Some(cancel.clone()),
    };
    let (sender, receiver) = mpsc::channel();
    let worker = std::thread::spawn(move || {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sweep::run(&options)));
        let _ = sender.send(outcome.unwrap_or_else(|panic| Err(sweep::panic_message(&*panic))));
    });
    // The receiver moves into each wait and back (it is not `Sync`).
    let mut receiver = receiver;
    let outcome = loop {
        let (received, back) = py.detach(move || (receiver.recv_timeout(SIGNAL_CHECK), receiver));
        receiver = back;
        match received {
            Ok(outcome) => break outcome,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    cancel.store(true, Ordering::Relaxed);
                    py.detach(move || {
                        let _ = receiver.recv();
                        let _ = worker.join();
                    });
                    return Err(interrupt);
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break Err("the sweep's thread ended with no result".into()),
        }
    };
    let _ = worker.join();
    let outcome = outcome.map_err(PyOSError::new_err)?;
    Ok((outcome.done, outcome.failures.into_iter().map(|f| (f.run.key(), f.error)).collect()))
}

/// The rows of the runs named by `keys` found in the sweep file `out`, in
/// the order of `keys`, parsed into a `Table` by the CSV engine (as
/// `read_csv(out)` would read them).
#[pyfunction]
#[pyo3(name = "_sweep_table")]
pub fn sweep_table(py: Python<'_>, out: PathBuf, keys: Vec<String>) -> PyResult<Table> {
    guarded(|| {
        let started = Instant::now();
        let text = py.detach(|| sweep::rows(&out, &keys)).map_err(PyOSError::new_err)?;
        let table = py
            .detach(|| genesis::csv::parse(text.as_bytes(), ParseOptions::default()))
            .map_err(|e| csv_error(py, &e.in_file(&out)))?;
        Ok(Table::new(LoadedCsv {
            path: out,
            table,
            bytes: text.len(),
            parse_seconds: started.elapsed().as_secs_f64(),
        }))
    })
}
