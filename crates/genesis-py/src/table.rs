//! `read_csv` and `Table`: the CSV engine's typed columns in Python, with
//! no copy of the parsed values.
//!
//! A [`Table`] owns the parse ([`LoadedCsv`]) behind an `Arc`. NumPy arrays
//! of its numeric columns borrow the column's buffer and keep the `Table`
//! alive as their base; Arrow arrays (the PyCapsule interface, read by
//! pyarrow, polars and pandas) wrap the same buffers and keep the `Arc`
//! alive, so they outlive the `Table` object if need be. What is built on
//! export: the validity bitmaps (one bit per row, for columns with
//! missing values) and, for `missing(name)`, a boolean array.

use std::ffi::CStr;
use std::path::PathBuf;
use std::ptr::NonNull;
use std::sync::{Arc, OnceLock};

use arrow_array::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use arrow_array::ffi_stream::FFI_ArrowArrayStream;
use arrow_array::{
    Array, ArrayRef, Float64Array, Int64Array, LargeStringArray, RecordBatch, RecordBatchIterator, StructArray,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use genesis::csv::{Column, DatasetStats, LoadedCsv, ParseOptions, Values};
use numpy::PyArray1;
use numpy::ndarray::ArrayView1;
use pyo3::exceptions::{PyKeyError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyList, PyTuple};

use crate::errors::{csv_error, guarded};

/// Parses a CSV file with Genesis's engine into typed columns, on all
/// cores, as ``genesis parse`` does: the dialect (delimiter, quote, escape,
/// line end, header, lines before the table, encoding) is detected unless
/// forced, and rows with the wrong number of fields are padded (or skipped,
/// or an error) and counted in ``stats["bad_rows"]``.
///
/// Each column is typed as ``genesis parse`` types it: integer (int64) while
/// every present value is a whole number, float (float64) once one needs
/// it, text otherwise. The file is memory-mapped and parsed with the
/// Python lock (GIL) released.
///
/// Args:
///     path: the file (``str`` or ``os.PathLike``).
///     threads: parsing threads; ``None`` or 0 uses one per core.
///     delimiter: one character, or ``"tab"``, ``"space"``; ``None`` detects.
///     quote: one character, or ``"none"``; ``None`` detects.
///     escape: ``"double"`` (``""``), ``"backslash"`` or one character;
///         with ``quote="none"`` it works in every field (``a\,b``).
///     header: whether the first row names the columns (else
///         ``column_1``, ``column_2``, ...); ``None`` detects.
///     skip_rows: lines before the header to skip; ``None`` detects.
///     encoding: ``"utf-8"``, ``"windows-1252"`` or ``"latin-1"``.
///     line_end: ``"lf"`` (also CRLF) or ``"cr"``.
///     decimal: the numbers' decimal mark, ``"."`` or ``","`` (``1,5``);
///         ``None`` detects (``","`` where the delimiter is not a comma and
///         the numbers are written so).
///     bad_rows: ``"pad"`` (default), ``"skip"`` or ``"error"``.
///     rejects: a path to write the rows that did not fit, as CSV (line,
///         column, reason, raw line).
///
/// Returns:
///     a :class:`Table`.
///
/// Raises:
///     CsvError: the file is malformed or cannot be read; ``line`` and
///         ``column`` say where.
#[pyfunction]
#[pyo3(signature = (
    path, *, threads=None, delimiter=None, quote=None, escape=None, header=None, skip_rows=None,
    encoding=None, line_end=None, decimal=None, bad_rows="pad", rejects=None
))]
#[allow(clippy::too_many_arguments)]
pub fn read_csv(
    py: Python<'_>,
    path: PathBuf,
    threads: Option<i64>,
    delimiter: Option<&str>,
    quote: Option<&str>,
    escape: Option<&str>,
    header: Option<bool>,
    skip_rows: Option<usize>,
    encoding: Option<&str>,
    line_end: Option<&str>,
    decimal: Option<&str>,
    bad_rows: &str,
    rejects: Option<PathBuf>,
) -> PyResult<Table> {
    let threads = match threads {
        None => 0,
        Some(n) if n >= 0 => n as usize,
        Some(n) => return Err(PyValueError::new_err(format!("threads must be ≥ 0 (0: one per core), got {n}"))),
    };
    let option = |name: &str, e: String| PyValueError::new_err(format!("{name}: {e}"));
    use genesis::csv::dialect::{parse_decimal, parse_delimiter, parse_escape, parse_quote};
    let dialect = genesis::csv::DialectOptions {
        delimiter: delimiter.map(parse_delimiter).transpose().map_err(|e| option("delimiter", e))?,
        quote: quote.map(parse_quote).transpose().map_err(|e| option("quote", e))?,
        escape: escape.map(parse_escape).transpose().map_err(|e| option("escape", e))?,
        header,
        skip_lines: skip_rows,
        encoding: encoding.map(str::parse).transpose().map_err(|e| option("encoding", e))?,
        line_end: line_end.map(str::parse).transpose().map_err(|e| option("line_end", e))?,
        decimal: decimal.map(parse_decimal).transpose().map_err(|e| option("decimal", e))?,
    };
    dialect.validate().map_err(PyValueError::new_err)?;
    let options = ParseOptions {
        dialect,
        bad_rows: bad_rows.parse().map_err(|e| option("bad_rows", e))?,
        keep_rejects: rejects.is_some(),
        ..ParseOptions::default()
    };
    let table = guarded(|| {
        let parsed = py.detach(|| {
            let read = || genesis::csv::read_file(&path, options);
            if threads == 0 {
                Ok(read())
            } else {
                rayon::ThreadPoolBuilder::new().num_threads(threads).build().map(|pool| pool.install(read))
            }
        });
        let loaded = parsed.map_err(|e| PyValueError::new_err(format!("cannot start {threads} threads: {e}")))?;
        let loaded = loaded.map_err(|e| csv_error(py, &e))?;
        Ok(Table { loaded: Arc::new(loaded), stats: OnceLock::new() })
    })?;
    if let Some(out) = rejects {
        let table = &table.loaded.table;
        std::fs::File::create(&out)
            .and_then(|mut f| genesis::csv::write::write_rejects(&table.damage.rejects, table.columns.len(), &mut f))
            .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", out.display())))?;
    }
    Ok(table)
}

/// A parsed CSV file: typed columns, read without copying.
///
/// ``table[name]`` is a column: for integer and float columns a read-only
/// NumPy array (int64, float64) over the parsed values themselves, not a
/// copy (two reads share memory; the array keeps the table alive). A
/// missing value (an empty field) is NaN in a float column and 0 in an
/// integer column: ``table.missing(name)`` says which rows were missing. A
/// text column comes back as a list of ``str``, ``None`` where missing.
///
/// The table is also an Arrow table (the Arrow PyCapsule interface:
/// ``__arrow_c_stream__``, ``__arrow_c_array__``, ``__arrow_c_schema__``),
/// so ``pyarrow.table(t)``, ``polars.DataFrame(t)`` and
/// ``pandas.DataFrame.from_arrow(t)`` take it; numeric and text columns go
/// across without a copy (int64, float64, large_string), missing values as
/// nulls.
#[pyclass(frozen, module = "genesis_sim")]
pub struct Table {
    loaded: Arc<LoadedCsv>,
    /// `genesis parse --json`'s statistics, computed on first use.
    stats: OnceLock<String>,
}

impl Table {
    /// A table over a parse done elsewhere (a sweep's rows).
    pub(crate) fn new(loaded: LoadedCsv) -> Self {
        Table { loaded: Arc::new(loaded), stats: OnceLock::new() }
    }

    fn column(&self, name: &str) -> PyResult<&Column> {
        self.loaded.table.column(name).ok_or_else(|| {
            let names: Vec<&str> = self.loaded.table.columns.iter().map(|c| c.name.as_str()).collect();
            PyKeyError::new_err(format!("no column {name:?}: the columns are {}", names.join(", ")))
        })
    }
}

#[pymethods]
impl Table {
    /// The column names, in file order.
    #[getter]
    fn columns(&self) -> Vec<String> {
        self.loaded.table.columns.iter().map(|c| c.name.clone()).collect()
    }

    /// Each column's inferred type: ``"integer"``, ``"float"`` or ``"text"``.
    #[getter]
    fn dtypes(&self) -> Vec<(String, &'static str)> {
        self.loaded.table.columns.iter().map(|c| (c.name.clone(), c.column_type().name())).collect()
    }

    /// Rows (records after the header).
    #[getter]
    fn rows(&self) -> usize {
        self.loaded.table.rows
    }

    /// How the file was read: ``delimiter``, ``quote``, ``escape``,
    /// ``line_end``, ``header``, ``skipped_lines``, ``encoding`` and which
    /// of them were ``forced``.
    #[getter]
    fn dialect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        py.import("json")?.call_method1("loads", (self.loaded.table.dialect.to_json().to_string(),))
    }

    /// Writes the table as ``genesis parse --out`` does: RFC 4180, comma,
    /// quotes only where needed, LF, UTF-8, a header row.
    fn to_csv(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.detach(|| {
            std::fs::File::create(&path).and_then(|f| {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
                genesis::csv::write::write_table(&self.loaded.table, &mut out)?;
                std::io::Write::flush(&mut out)
            })
        })
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(format!("cannot write {}: {e}", path.display())))
    }

    /// The file this table was read from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.loaded.path.clone()
    }

    /// Seconds from opening the file to typed columns in memory.
    #[getter]
    fn parse_seconds(&self) -> f64 {
        self.loaded.parse_seconds
    }

    /// The dataset statistics of ``genesis parse FILE --json``: ``rows``,
    /// ``bytes``, ``parse_seconds``, ``mb_per_second``, ``rows_per_second``
    /// and per column ``name``, ``type``, ``missing``, ``min``, ``max``,
    /// ``mean``; ``machine`` (processor, cores, isa, rust) says where the
    /// time was measured. Computed on first use.
    #[getter]
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = self.stats.get_or_init(|| {
            py.detach(|| {
                let mut json = DatasetStats::of(&self.loaded).to_json();
                json["machine"] = genesis::machine::Machine::this().to_json();
                json.to_string()
            })
        });
        py.import("json")?.call_method1("loads", (text,))
    }

    fn __len__(&self) -> usize {
        self.loaded.table.rows
    }

    fn __contains__(&self, name: &str) -> bool {
        self.loaded.table.column(name).is_some()
    }

    fn __iter__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        PyList::new(py, self.columns())?.into_any().try_iter().map(Bound::into_any)
    }

    /// The column ``name``: a read-only NumPy array over the parsed values
    /// (integer, float) or a list of ``str`` (text; ``None`` where missing).
    fn __getitem__<'py>(slf: &Bound<'py, Self>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let column = slf.get().column(name)?;
        let container = slf.clone().into_any();
        // SAFETY (both arms): the view is of a column of the `Table`'s
        // `Arc<LoadedCsv>`, which is never mutated, and the array keeps the
        // `Table` (so the `Arc`) alive as its base object.
        let array = match &column.values {
            Values::Integer(v) => {
                unsafe { PyArray1::borrow_from_array(&ArrayView1::from(&v[..]), container) }.into_any()
            }
            Values::Float(v) => unsafe { PyArray1::borrow_from_array(&ArrayView1::from(&v[..]), container) }.into_any(),
            Values::Text(t) => {
                let mut missing = column.missing.iter().peekable();
                let values =
                    (0..t.len()).map(|row| if missing.next_if_eq(&&row).is_some() { None } else { Some(t.get(row)) });
                return Ok(PyList::new(py, values)?.into_any());
            }
        };
        read_only(&array)?;
        Ok(array)
    }

    /// Which rows of column ``name`` were missing (empty fields), as a
    /// boolean array.
    fn missing<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyArray1<bool>>> {
        let column = self.column(name)?;
        Ok(PyArray1::from_vec(py, missing_mask(column, self.loaded.table.rows)))
    }

    fn __repr__(&self) -> String {
        let t = &self.loaded.table;
        let columns: Vec<String> =
            t.columns.iter().map(|c| format!("{}: {}", c.name, c.column_type().name())).collect();
        format!(
            "<genesis_sim.Table {}: {} rows × {} columns ({})>",
            self.loaded.path.display(),
            t.rows,
            t.columns.len(),
            columns.join(", ")
        )
    }

    /// The Arrow schema, as an ``arrow_schema`` PyCapsule.
    fn __arrow_c_schema__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let schema = FFI_ArrowSchema::try_from(schema(&self.loaded).as_ref()).map_err(arrow_error)?;
        PyCapsule::new_with_value(py, schema, ARROW_SCHEMA)
    }

    /// The table as one Arrow record batch: a pair of ``arrow_schema`` and
    /// ``arrow_array`` PyCapsules (a struct array of the columns).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let _ = requested_schema; // The columns' own types are the only ones offered.
        let data = StructArray::from(batch(&self.loaded)?).into_data();
        let schema = FFI_ArrowSchema::try_from(data.data_type()).map_err(arrow_error)?;
        let schema = PyCapsule::new_with_value(py, schema, ARROW_SCHEMA)?;
        let array = PyCapsule::new_with_value(py, FFI_ArrowArray::new(&data), ARROW_ARRAY)?;
        PyTuple::new(py, [schema, array])
    }

    /// The table as an Arrow stream of one record batch, as an
    /// ``arrow_array_stream`` PyCapsule.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let _ = requested_schema;
        let batch = batch(&self.loaded)?;
        let reader = RecordBatchIterator::new([Ok(batch)], schema(&self.loaded));
        PyCapsule::new_with_value(py, FFI_ArrowArrayStream::new(Box::new(reader)), ARROW_STREAM)
    }
}

const ARROW_SCHEMA: &CStr = c"arrow_schema";
const ARROW_ARRAY: &CStr = c"arrow_array";
const ARROW_STREAM: &CStr = c"arrow_array_stream";

/// Clears NumPy's writeable flag: the buffer is the parse's, shared by
/// every read of the column and by Arrow exports.
fn read_only(array: &Bound<'_, PyAny>) -> PyResult<()> {
    array.getattr("flags")?.setattr("writeable", false)
}

fn missing_mask(column: &Column, rows: usize) -> Vec<bool> {
    let mut mask = vec![false; rows];
    for &row in &column.missing {
        mask[row] = true;
    }
    mask
}

fn arrow_error(e: ArrowError) -> PyErr {
    PyValueError::new_err(format!("Arrow export failed: {e}"))
}

fn data_type(column: &Column) -> DataType {
    match column.values {
        Values::Integer(_) => DataType::Int64,
        Values::Float(_) => DataType::Float64,
        Values::Text(_) => DataType::LargeUtf8,
    }
}

fn schema(loaded: &LoadedCsv) -> SchemaRef {
    let fields: Vec<Field> =
        loaded.table.columns.iter().map(|c| Field::new(&c.name, data_type(c), !c.missing.is_empty())).collect();
    Arc::new(Schema::new(fields))
}

/// An Arrow buffer over `values`, which live inside `owner`: no copy; the
/// buffer holds the `Arc` until Arrow releases it.
fn shared<T>(owner: &Arc<LoadedCsv>, values: &[T]) -> Buffer {
    let ptr = NonNull::new(values.as_ptr() as *mut u8).expect("slices are non-null");
    // SAFETY: `values` is `size_of_val(values)` bytes inside `owner`, which
    // is immutable and kept alive by the buffer's `Arc`.
    unsafe { Buffer::from_custom_allocation(ptr, size_of_val(values), owner.clone()) }
}

fn arrow_column(owner: &Arc<LoadedCsv>, column: &Column) -> ArrayRef {
    let rows = owner.table.rows;
    let nulls = (!column.missing.is_empty())
        .then(|| NullBuffer::from(missing_mask(column, rows).into_iter().map(|m| !m).collect::<Vec<bool>>()));
    match &column.values {
        Values::Integer(v) => Arc::new(Int64Array::new(ScalarBuffer::from(shared(owner, v)), nulls)),
        Values::Float(v) => Arc::new(Float64Array::new(ScalarBuffer::from(shared(owner, v)), nulls)),
        Values::Text(t) => {
            const _: () = assert!(size_of::<usize>() == size_of::<i64>(), "text offsets are exported as i64");
            let (text, offsets) = t.parts();
            let offsets = ScalarBuffer::<i64>::from(shared(owner, offsets));
            // SAFETY: the offsets start at 0, never decrease and end at
            // `text.len()` (each is where a value ended), and every value
            // is a whole `str`, so each slice is valid UTF-8.
            unsafe {
                let offsets = OffsetBuffer::new_unchecked(offsets);
                Arc::new(LargeStringArray::new_unchecked(offsets, shared(owner, text.as_bytes()), nulls))
            }
        }
    }
}

fn batch(loaded: &Arc<LoadedCsv>) -> PyResult<RecordBatch> {
    let columns: Vec<ArrayRef> = loaded.table.columns.iter().map(|c| arrow_column(loaded, c)).collect();
    let options = arrow_array::RecordBatchOptions::new().with_row_count(Some(loaded.table.rows));
    RecordBatch::try_new_with_options(schema(loaded), columns, &options).map_err(arrow_error)
}
