//! `genesis_sim._genesis`: Genesis as a Python extension module.
//!
//! The Rust engine does the work, Python orchestrates and analyses. This
//! crate is the edge between them and nothing more: it converts Python
//! arguments into the library's own option structs, calls the same
//! functions the `genesis` command line calls (a parse is
//! [`genesis::csv::read_file`], a simulation is a [`genesis::run::Run`],
//! a dump is [`genesis::state::write_dump`]), and hands the results to
//! Python without copying them where it can: parsed columns become NumPy
//! arrays and Arrow buffers over the parser's own memory.
//!
//! | module | Python |
//! |---|---|
//! | [`table`] | `read_csv`, `Table` (NumPy columns, the Arrow PyCapsule interface) |
//! | [`simulation`] | `Simulation`, `spec_weights` |
//! | [`sweep`] | the Rust half of `sweep` (the Python half: `python/genesis_sim/_sweep.py`) |
//! | [`errors`] | `CsvError`; Rust errors and panics as Python exceptions |
//!
//! The pure-Python part of the package (`python/genesis_sim`) re-exports
//! these and carries the type stubs.

use pyo3::prelude::*;

/// The Rust side's allocator, mimalloc (Python's own objects keep
/// Python's): freed buffers stay mapped for a second for the next parse or
/// state read to reuse, where glibc's malloc gives every block over 128
/// KiB back to the kernel and the next one is faulted in page by page.
/// Measured, 500,000-row trace, best of 8 `read_csv` in one process:
/// 26.3 ms with glibc's defaults, 9.5 ms with glibc tuned as the `genesis`
/// binary tunes it (which a library must not do to its host process),
/// 9.9–10.9 ms with mimalloc; all nine state arrays at 1M agents 59–65 ms
/// with glibc's defaults, 24–32 ms with mimalloc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod errors;
mod simulation;
mod sweep;
mod table;

#[pymodule]
fn _genesis(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CsvError", m.py().get_type::<errors::CsvError>())?;
    m.add_class::<table::Table>()?;
    m.add_function(wrap_pyfunction!(table::read_csv, m)?)?;
    m.add_class::<simulation::Simulation>()?;
    m.add_function(wrap_pyfunction!(simulation::spec_weights, m)?)?;
    m.add_class::<sweep::SweepWriter>()?;
    m.add("_SWEEP_PARAMETERS", genesis::sweep::PARAMETERS.to_vec())?;
    let integer: Vec<&str> = genesis::sweep::PARAMETERS.into_iter().filter(|p| genesis::sweep::is_integer(p)).collect();
    m.add("_SWEEP_INTEGER", integer)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_plan, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_row, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_local, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep_table, m)?)?;
    Ok(())
}
