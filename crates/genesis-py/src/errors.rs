//! Errors as Python exceptions: a malformed CSV file is a [`CsvError`]
//! carrying the place (`path`, `line`, `column`) the Rust error names; an
//! invalid option a `ValueError` with the command line's message; and a
//! Rust panic, should one happen, a `RuntimeError` rather than a crashed
//! interpreter.

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;

create_exception!(
    genesis_sim,
    CsvError,
    PyValueError,
    "A CSV file that could not be read.\n\n\
     ``str(error)`` is the command line's message, ``file:line:column: what was\n\
     expected``. Attributes: ``path`` (the file, or None), ``line`` and ``column``\n\
     (1-based, or None for errors about the whole file, such as a missing file)."
);

/// The Python exception for a CSV error.
pub fn csv_error(py: Python<'_>, e: &genesis::csv::CsvError) -> PyErr {
    let err = CsvError::new_err(e.to_string());
    let value = err.value(py);
    let path = e.file.as_ref().map(|p| p.display().to_string());
    // Setting plain attributes on a fresh exception object cannot fail.
    let _ = value.setattr("path", path);
    let _ = value.setattr("line", e.line());
    let _ = value.setattr("column", e.column());
    err
}

/// A `ValueError` with `message`.
pub fn value_error(message: impl Into<String>) -> PyErr {
    PyValueError::new_err(message.into())
}

/// Runs `work`, turning a Rust panic into a `RuntimeError` (the panic's
/// message is printed on stderr by Rust's hook, as in the command line).
pub fn guarded<T>(work: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Err(PyRuntimeError::new_err(format!("genesis: internal error (please report it): {message}")))
    })
}
