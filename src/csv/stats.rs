//! Dataset statistics of any CSV: size, parse speed, and per column its
//! type, missing count, min, max and mean. The same numbers feed the
//! `genesis parse` report and (later) the desktop overlay.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{Value, json};

use super::dialect::Dialect;
use super::error::CsvError;
use super::table::{BadRows, Column, ColumnType, ParseOptions, Table, Values, parse};

/// A CSV file parsed into typed columns, with how long it took.
#[derive(Clone, Debug)]
pub struct LoadedCsv {
    pub path: PathBuf,
    pub table: Table,
    pub bytes: usize,
    /// From opening the file to typed columns in memory.
    pub parse_seconds: f64,
}

/// Memory-maps and parses `path` (errors name the file); `-` reads
/// standard input (see [`spool_stdin`]).
pub fn read_file(path: &Path, options: ParseOptions) -> Result<LoadedCsv, CsvError> {
    let started = Instant::now();
    let (file, name) = if path == Path::new("-") {
        let name = Path::new("<stdin>");
        let file = spool_stdin().map_err(|e| {
            CsvError::whole(format!(
                "cannot copy standard input to a temporary file in {} (set TMPDIR to another place): {e}",
                std::env::temp_dir().display()
            ))
            .in_file(name)
        })?;
        (file, name)
    } else {
        let file = std::fs::File::open(path).map_err(|e| CsvError::whole(format!("cannot open: {e}")).in_file(path))?;
        (file, path)
    };
    let len = file.metadata().map_err(|e| CsvError::whole(format!("cannot read: {e}")).in_file(name))?.len();
    let table = if len == 0 {
        Err(CsvError::at(&[], 0, 1, "empty file: expected a header row naming the columns"))
    } else {
        // SAFETY: the map is read-only and dropped before this function
        // returns; a file truncated by another process meanwhile is the
        // one case mmap cannot guard against (as for every mmap reader).
        let map = unsafe { memmap2::MmapOptions::new().map(&file) }
            .map_err(|e| CsvError::whole(format!("cannot map: {e}")).in_file(name))?;
        populate(&map);
        parse(&map, options)
    };
    let table = table.map_err(|e| e.in_file(name))?;
    Ok(LoadedCsv {
        path: name.to_path_buf(),
        table,
        bytes: len as usize,
        parse_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Standard input copied, a megabyte at a time, into a temporary file
/// that is unlinked at once (so it goes when closed, even after a crash):
/// a pipe of any size is read in bounded memory, then mapped and parsed in
/// parallel like any file, with the same result.
fn spool_stdin() -> std::io::Result<std::fs::File> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("genesis-stdin-{}-{n}.csv", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
    let _ = std::fs::remove_file(&path);
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &file);
    std::io::copy(&mut std::io::stdin().lock(), &mut out)?;
    out.flush()?;
    drop(out);
    Ok(file)
}

/// Maps the file's pages in ahead of the parse, a piece per worker: one
/// `MAP_POPULATE` did the same on the calling thread alone, 1.7–2.8 ms
/// before any parsing could start. Only a hint: a kernel without
/// `MADV_POPULATE_READ` (before Linux 5.14) faults the pages in as the
/// parse reads them (as on other systems).
#[cfg(target_os = "linux")]
fn populate(map: &memmap2::Mmap) {
    const PIECE: usize = 4 << 20; // a multiple of the page size
    let len = map.len();
    (0..len.div_ceil(PIECE)).into_par_iter().for_each(|i| {
        let _ = map.advise_range(memmap2::Advice::PopulateRead, i * PIECE, PIECE.min(len - i * PIECE));
    });
}

#[cfg(not(target_os = "linux"))]
fn populate(_: &memmap2::Mmap) {}

/// An extreme value of a column, in the column's type.
#[derive(Clone, Debug, PartialEq)]
pub enum Extreme {
    Integer(i64),
    Float(f64),
    Text(String),
}

impl Extreme {
    fn json(&self) -> Value {
        match self {
            Extreme::Integer(v) => json!(v),
            Extreme::Float(v) => json!(v),
            Extreme::Text(v) => json!(v),
        }
    }
}

impl std::fmt::Display for Extreme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Extreme::Integer(v) => write!(f, "{v}"),
            Extreme::Float(v) => write!(f, "{v}"),
            Extreme::Text(v) => write!(f, "{v:?}"),
        }
    }
}

/// Statistics of one column, over its present (non-missing) values.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnStats {
    pub name: String,
    pub column_type: ColumnType,
    pub missing: usize,
    pub min: Option<Extreme>,
    pub max: Option<Extreme>,
    /// Mean of a numeric column.
    pub mean: Option<f64>,
}

impl ColumnStats {
    pub fn of(column: &Column) -> Self {
        let mut missing = column.missing.iter().peekable();
        let present = |i: &usize| {
            // Rows come in order, so walk the sorted missing list alongside.
            if missing.peek() == Some(&i) {
                missing.next();
                false
            } else {
                true
            }
        };
        let n = column.values.len();
        let (min, max, mean) = match &column.values {
            Values::Integer(v) => {
                let mut it = (0..n).filter(present).map(|i| v[i]);
                match it.next() {
                    None => (None, None, None),
                    Some(first) => {
                        let (mut lo, mut hi, mut sum, mut count) = (first, first, first as i128, 1u64);
                        for x in it {
                            lo = lo.min(x);
                            hi = hi.max(x);
                            sum += x as i128;
                            count += 1;
                        }
                        (Some(Extreme::Integer(lo)), Some(Extreme::Integer(hi)), Some(sum as f64 / count as f64))
                    }
                }
            }
            Values::Float(v) => {
                let mut it = (0..n).filter(present).map(|i| v[i]);
                match it.next() {
                    None => (None, None, None),
                    Some(first) => {
                        let (mut lo, mut hi, mut sum, mut count) = (first, first, first, 1u64);
                        for x in it {
                            lo = lo.min(x);
                            hi = hi.max(x);
                            sum += x;
                            count += 1;
                        }
                        (Some(Extreme::Float(lo)), Some(Extreme::Float(hi)), Some(sum / count as f64))
                    }
                }
            }
            Values::Text(t) => {
                let mut it = (0..n).filter(present).map(|i| t.get(i));
                match it.next() {
                    None => (None, None, None),
                    Some(first) => {
                        let (lo, hi) = it.fold((first, first), |(lo, hi), s| (lo.min(s), hi.max(s)));
                        (Some(Extreme::Text(lo.to_string())), Some(Extreme::Text(hi.to_string())), None)
                    }
                }
            }
        };
        Self {
            name: column.name.clone(),
            column_type: column.column_type(),
            missing: column.missing.len(),
            min,
            max,
            mean,
        }
    }
}

/// Statistics of a whole dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct DatasetStats {
    pub path: PathBuf,
    pub rows: usize,
    pub bytes: usize,
    /// Every parse's time, first (cold: fresh memory, file pages mapped in)
    /// to last: one, unless [`Self::with_times`] gave more.
    pub parse_runs: Vec<f64>,
    pub columns: Vec<ColumnStats>,
    /// How the file was read.
    pub dialect: Dialect,
    /// The bad-rows policy and what it did: padded, cut, skipped rows and
    /// blank lines left out.
    pub policy: BadRows,
    pub padded: usize,
    pub truncated: usize,
    pub skipped: usize,
    pub blank_lines: usize,
}

impl DatasetStats {
    pub fn of(loaded: &LoadedCsv) -> Self {
        Self {
            path: loaded.path.clone(),
            rows: loaded.table.rows,
            bytes: loaded.bytes,
            parse_runs: vec![loaded.parse_seconds],
            // Columns in parallel; each column's sums keep their order, so
            // the figures do not depend on the thread count.
            columns: loaded.table.columns.par_iter().map(ColumnStats::of).collect(),
            dialect: loaded.table.dialect,
            policy: loaded.table.damage.policy,
            padded: loaded.table.damage.padded,
            truncated: loaded.table.damage.truncated,
            skipped: loaded.table.damage.skipped,
            blank_lines: loaded.table.damage.blank_lines,
        }
    }

    /// Rows that did not fit the header (blank lines aside).
    pub fn bad_rows(&self) -> usize {
        self.padded + self.truncated + self.skipped
    }

    /// What the bad-rows policy did, in words (`None`: nothing to say).
    pub fn damage_line(&self) -> Option<String> {
        if self.bad_rows() == 0 && self.blank_lines == 0 {
            return None;
        }
        let mut parts = Vec::new();
        if self.padded > 0 {
            parts.push(format!("{} short row(s) padded with missing values", self.padded));
        }
        if self.truncated > 0 {
            parts.push(format!("{} long row(s) cut to the header's width (extra fields dropped)", self.truncated));
        }
        if self.skipped > 0 {
            parts.push(format!("{} row(s) with the wrong number of fields skipped", self.skipped));
        }
        if self.blank_lines > 0 {
            parts.push(format!("{} blank line(s) left out", self.blank_lines));
        }
        Some(parts.join(", "))
    }

    /// The same statistics for a file parsed `times.len()` times, with
    /// these times (in order).
    pub fn with_times(self, times: &[f64]) -> Self {
        Self { parse_runs: times.to_vec(), ..self }
    }

    /// The fastest parse: the one every figure is of.
    pub fn parse_seconds(&self) -> f64 {
        self.parse_runs.iter().copied().fold(f64::INFINITY, f64::min)
    }

    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.parse_seconds().max(1e-9)
    }

    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.parse_seconds().max(1e-9)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "file": self.path.display().to_string(),
            "rows": self.rows,
            "columns": self.columns.iter().map(|c| json!({
                "name": c.name,
                "type": c.column_type.name(),
                "missing": c.missing,
                "min": c.min.as_ref().map(Extreme::json),
                "max": c.max.as_ref().map(Extreme::json),
                "mean": c.mean,
            })).collect::<Vec<_>>(),
            "bytes": self.bytes,
            "parse_seconds": self.parse_seconds(),
            "parse_runs": self.parse_runs,
            "mb_per_second": self.megabytes_per_second(),
            "rows_per_second": self.rows_per_second(),
            "dialect": self.dialect.to_json(),
            "bad_rows": {
                "policy": self.policy.name(),
                "padded": self.padded,
                "truncated": self.truncated,
                "skipped": self.skipped,
                "blank_lines": self.blank_lines,
            },
        })
    }

    /// The human-readable report.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} rows, {} columns, {} bytes\n  parsed in {:.4} s: {:.1} MB/s, {:.0} rows/s\n",
            self.path.display(),
            self.rows,
            self.columns.len(),
            self.bytes,
            self.parse_seconds(),
            self.megabytes_per_second(),
            self.rows_per_second()
        );
        s.push_str(&format!("  dialect: {}\n", self.dialect.summary()));
        if let Some(line) = self.damage_line() {
            s.push_str(&format!("  bad rows ({}): {line}\n", self.policy.name()));
        }
        if let [first, _, ..] = self.parse_runs[..] {
            s.push_str(&format!(
                "  (the fastest of {} parses in this process; the first took {:.4} s)\n",
                self.parse_runs.len(),
                first
            ));
        }
        s.push_str(&format!(
            "  {:<16} {:<8} {:>9} {:>14} {:>14} {:>14}\n",
            "column", "type", "missing", "min", "max", "mean"
        ));
        let show = |e: &Option<Extreme>| e.as_ref().map_or("-".to_string(), |e| e.to_string());
        for c in &self.columns {
            s.push_str(&format!(
                "  {:<16} {:<8} {:>9} {:>14} {:>14} {:>14}\n",
                c.name,
                c.column_type.name(),
                c.missing,
                show(&c.min),
                show(&c.max),
                c.mean.map_or("-".to_string(), |m| format!("{m:.6}"))
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_by_hand() {
        let text = b"n,x,name\n3,1.5,bob\n-1,,al\n,2.5,\n10,-4,cy\n";
        let table = parse(text, ParseOptions::default()).unwrap();
        let stats: Vec<ColumnStats> = table.columns.iter().map(ColumnStats::of).collect();
        assert_eq!(stats[0].missing, 1);
        assert_eq!(
            (stats[0].min.clone(), stats[0].max.clone()),
            (Some(Extreme::Integer(-1)), Some(Extreme::Integer(10)))
        );
        assert_eq!(stats[0].mean, Some(4.0));
        assert_eq!(stats[1].column_type, ColumnType::Float);
        assert_eq!(
            (stats[1].min.clone(), stats[1].max.clone()),
            (Some(Extreme::Float(-4.0)), Some(Extreme::Float(2.5)))
        );
        assert_eq!(stats[1].mean, Some(0.0));
        assert_eq!(stats[2].missing, 1);
        assert_eq!(stats[2].min, Some(Extreme::Text("al".into())));
        assert_eq!(stats[2].max, Some(Extreme::Text("cy".into())));
        assert_eq!(stats[2].mean, None);
    }
}
