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
//! | [`errors`] | `CsvError`; Rust errors and panics as Python exceptions |
//!
//! The pure-Python part of the package (`python/genesis_sim`) re-exports
//! these and carries the type stubs.

use pyo3::prelude::*;

mod errors;
mod simulation;
mod table;

#[pymodule]
fn _genesis(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("CsvError", m.py().get_type::<errors::CsvError>())?;
    m.add_class::<table::Table>()?;
    m.add_function(wrap_pyfunction!(table::read_csv, m)?)?;
    m.add_class::<simulation::Simulation>()?;
    m.add_function(wrap_pyfunction!(simulation::spec_weights, m)?)?;
    Ok(())
}
