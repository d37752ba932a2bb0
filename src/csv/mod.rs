//! The CSV engine: a fast RFC 4180 parser built on `memchr`, typed columns
//! and dataset statistics. It knows nothing of Bevy or of the simulation.
//!
//! | module | what it is |
//! |---|---|
//! | [`dialect`] | the dialect (delimiter, quote, header, encoding...) detected from samples |
//! | [`split`] | the splitting core: records and fields over bytes |
//! | [`table`] | typed columns, inferred per column; parallel chunked parsing |
//! | [`plain`] | the fast lane: rows of plain numbers scanned and parsed in one pass |
//! | [`stats`] | files (memory-mapped) and dataset statistics |
//! | [`write`] | a table written back as RFC 4180 (`parse --out`) |
//! | [`error`] | errors naming file, line and column |

pub mod dialect;
pub mod error;
pub mod plain;
pub mod split;
pub mod stats;
pub mod table;
pub mod write;

pub use dialect::{Dialect, DialectOptions, Encoding};
pub use error::CsvError;
pub use stats::{ColumnStats, DatasetStats, LoadedCsv, read_file};
pub use table::{BadRows, Column, ColumnType, Damage, ParseOptions, Reject, Table, Values, parse};
