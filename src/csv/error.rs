//! Errors of the CSV engine: where (file, line, column) and what was
//! expected, so a user can open the file at the right place.

use std::fmt;
use std::path::{Path, PathBuf};

/// Where in a CSV input something went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// Byte offset from the start of the input.
    pub byte: usize,
    /// 1-based line (counting every `\n`, also those inside quoted fields).
    pub line: u64,
    /// 1-based field number within the record.
    pub column: usize,
}

/// A CSV input that could not be read, with the place and the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CsvError {
    /// The file, when the input was one.
    pub file: Option<PathBuf>,
    /// `None` for errors about the whole input (I/O, empty file).
    pub position: Option<Position>,
    /// Name of the column, where known.
    pub column_name: Option<String>,
    /// What was wrong and what was expected.
    pub message: String,
    /// The input is not UTF-8 there (a parse that detected the encoding
    /// then reads it as Windows-1252).
    pub invalid_utf8: bool,
}

impl CsvError {
    pub(crate) fn at(data: &[u8], byte: usize, column: usize, message: impl Into<String>) -> Self {
        let before = &data[..byte.min(data.len())];
        let mut line_ends = memchr::memchr_iter(b'\n', before).count();
        if line_ends == 0 && memchr::memchr(b'\n', data).is_none() {
            // Old Mac line ends: `\r` alone.
            line_ends = memchr::memchr_iter(b'\r', before).count();
        }
        Self {
            file: None,
            position: Some(Position { byte, line: 1 + line_ends as u64, column }),
            column_name: None,
            message: message.into(),
            invalid_utf8: false,
        }
    }

    pub(crate) fn whole(message: impl Into<String>) -> Self {
        Self { file: None, position: None, column_name: None, message: message.into(), invalid_utf8: false }
    }

    /// The same error, marked as invalid UTF-8.
    pub(crate) fn utf8_error(mut self) -> Self {
        self.invalid_utf8 = true;
        self
    }

    /// The same error, naming `file`.
    pub fn in_file(mut self, file: &Path) -> Self {
        self.file = Some(file.to_path_buf());
        self
    }

    /// The same error, naming the column.
    pub fn in_column(mut self, name: &str) -> Self {
        self.column_name = Some(name.to_string());
        self
    }

    pub fn line(&self) -> Option<u64> {
        self.position.as_ref().map(|p| p.line)
    }

    pub fn column(&self) -> Option<usize> {
        self.position.as_ref().map(|p| p.column)
    }
}

impl fmt::Display for CsvError {
    /// `file:line:column: message`, like a compiler, then the column name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file.as_ref().map_or_else(|| "<input>".to_string(), |p| p.display().to_string());
        match &self.position {
            Some(p) => write!(f, "{file}:{}:{}: ", p.line, p.column)?,
            None => write!(f, "{file}: ")?,
        }
        if let Some(name) = &self.column_name {
            write!(f, "column '{name}': ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for CsvError {}
