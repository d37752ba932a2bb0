//! The CSV engine: a fast RFC 4180 parser built on `memchr`, typed columns
//! and dataset statistics. It knows nothing of Bevy or of the simulation.
//!
//! | module | what it is |
//! |---|---|
//! | [`split`] | the splitting core: records and fields over bytes |
//! | [`table`] | typed columns, inferred per column; parallel chunked parsing |
//! | [`error`] | errors naming file, line and column |

pub mod error;
pub mod split;
pub mod table;

pub use error::CsvError;
pub use table::{Column, ColumnType, ParseOptions, Table, Values, parse};
