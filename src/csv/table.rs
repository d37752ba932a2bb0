//! Typed tables: a whole CSV input parsed into one typed column per header
//! field, sequentially or in parallel chunks.
//!
//! **Types** are inferred per column: integer (`i64`) while every present
//! value is one, float (`f64`) once a value needs it (integers seen so far
//! are converted), text (UTF-8) once a value is neither. Empty fields are
//! missing values, in any type. Numbers may have surrounding spaces; `nan`,
//! `inf` and numbers too large for `f64` are text, so a numeric column only
//! ever holds finite values.
//!
//! **Parallel parsing** cuts the input into chunks at record starts found
//! from quote parity: the number of `"` before a position tells whether it
//! is inside a quoted field (every well-formed quoted field holds an even
//! number of quotes, `""` escapes included). Quotes are counted per chunk in
//! parallel, a prefix sum gives each cut its parity, and each cut moves to
//! the first line end outside quotes. The chunks are then parsed in
//! parallel and joined; a column whose chunks disagree on the type takes
//! the wider one (the narrower chunks are converted, or re-read as text).
//! The first error in the input wins, so results and errors equal a
//! sequential parse's, whatever the chunk size. Without quoting but with
//! an escape, a line end after an escape is data: cuts are then guessed
//! at plain line ends and checked in the same way. Input with no quotes
//! (nor such escapes) at all skips the join for numbers: its rows are
//! counted up front and each chunk writes into its own range of
//! whole-column buffers ([`Layout`]).
//!
//! Within a quote-free chunk whose columns are all numeric so far, rows go
//! through the fast lane of [`super::plain`] (each field found and parsed
//! in one pass); a row it declines is read by the general path below, one
//! row, and the lane takes over again after it.

use std::mem::MaybeUninit;

use rayon::prelude::*;

use super::dialect::{Dialect, DialectOptions, Encoding, nth_line_start, sniff, to_utf8};
use super::error::CsvError;
use super::plain::{Lane, POW10};
use super::split::{FieldInfo, Records, Syntax, is_blank};

/// Inferred type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ColumnType {
    Integer,
    Float,
    Text,
}

impl ColumnType {
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Text => "text",
        }
    }
}

/// Text values stored end to end in one string, with offsets (no
/// allocation per value). The layout is Arrow's: value `i` is
/// `text[offsets[i]..offsets[i + 1]]`, `offsets[0] == 0`, so the Python
/// package hands both buffers to Arrow as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextValues {
    text: String,
    /// `len + 1` offsets into `text`, from 0.
    offsets: Vec<usize>,
}

impl Default for TextValues {
    fn default() -> Self {
        Self { text: String::new(), offsets: vec![0] }
    }
}

impl TextValues {
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> &str {
        &self.text[self.offsets[i]..self.offsets[i + 1]]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// The values end to end, and the `len + 1` offsets that cut them.
    pub fn parts(&self) -> (&str, &[usize]) {
        (&self.text, &self.offsets)
    }

    fn push(&mut self, value: &str) {
        self.text.push_str(value);
        self.offsets.push(self.text.len());
    }

    /// Takes back the last value pushed.
    fn pop(&mut self) {
        if self.offsets.len() > 1 {
            self.offsets.pop();
            self.text.truncate(self.offsets[self.offsets.len() - 1]);
        }
    }

    fn append(&mut self, other: TextValues) {
        let shift = self.text.len();
        self.text.push_str(&other.text);
        self.offsets.extend(other.offsets[1..].iter().map(|e| e + shift));
    }
}

/// A column's values; missing values hold `0`, `NaN` or `""`.
#[derive(Clone, Debug)]
pub enum Values {
    Integer(Vec<i64>),
    Float(Vec<f64>),
    Text(TextValues),
}

/// Floats compare by bits, so two tables with the same missing values
/// (stored as NaN) are equal.
impl PartialEq for Values {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Values::Integer(a), Values::Integer(b)) => a == b,
            (Values::Float(a), Values::Float(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
            }
            (Values::Text(a), Values::Text(b)) => a == b,
            _ => false,
        }
    }
}

impl Values {
    pub fn column_type(&self) -> ColumnType {
        match self {
            Values::Integer(_) => ColumnType::Integer,
            Values::Float(_) => ColumnType::Float,
            Values::Text(_) => ColumnType::Text,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Values::Integer(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Value `i` as a float, for numeric columns.
    pub fn as_f64(&self, i: usize) -> Option<f64> {
        match self {
            Values::Integer(v) => Some(v[i] as f64),
            Values::Float(v) => Some(v[i]),
            Values::Text(_) => None,
        }
    }
}

/// One typed column.
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    pub name: String,
    pub values: Values,
    /// Rows (0-based, sorted) whose field was empty.
    pub missing: Vec<usize>,
    /// Byte offset of each row's field, kept only when asked for (the
    /// scenario loaders use it to point errors at the right line).
    offsets: Option<Vec<usize>>,
}

impl Column {
    pub fn column_type(&self) -> ColumnType {
        self.values.column_type()
    }

    pub fn is_missing(&self, row: usize) -> bool {
        self.missing.binary_search(&row).is_ok()
    }

    /// Byte offset of `row`'s field in the input (when kept).
    pub fn offset(&self, row: usize) -> Option<usize> {
        self.offsets.as_ref().map(|o| o[row])
    }
}

/// A parsed CSV input.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: usize,
    /// How the input was read.
    pub dialect: Dialect,
    /// Rows that did not fit the header, and what became of them.
    pub damage: Damage,
}

/// What to do with a row whose field count differs from the header's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BadRows {
    /// Stop with an error naming the line and column.
    Error,
    /// Leave the row out.
    Skip,
    /// Fill missing fields with missing values; drop extra fields.
    #[default]
    Pad,
}

impl BadRows {
    pub fn name(self) -> &'static str {
        match self {
            BadRows::Error => "error",
            BadRows::Skip => "skip",
            BadRows::Pad => "pad",
        }
    }
}

impl std::str::FromStr for BadRows {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "error" => Ok(BadRows::Error),
            "skip" => Ok(BadRows::Skip),
            "pad" => Ok(BadRows::Pad),
            _ => Err(format!("unknown bad-rows policy '{s}': expected error, skip or pad")),
        }
    }
}

/// Why a row was not read as it stood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RejectKind {
    /// `found` fields, fewer than the header's.
    TooFew { found: usize },
    /// `found` fields, more than the header's.
    TooMany { found: usize },
}

/// One row that did not fit, where it was and what became of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reject {
    /// Byte offset of the record's start.
    pub start: usize,
    /// The record as it stood (its line end excluded).
    pub raw: String,
    /// 1-based line of its start.
    pub line: u64,
    /// 1-based field where it stops fitting.
    pub column: usize,
    pub kind: RejectKind,
    /// Whether it was left out (`skip`) rather than padded or cut.
    pub skipped: bool,
}

impl Reject {
    pub fn reason(&self, width: usize) -> String {
        let what = if self.skipped { "row skipped" } else { "row kept" };
        match self.kind {
            RejectKind::TooFew { found } => {
                format!("too few fields: {found} of {width}; {what}{}", if self.skipped { "" } else { ", padded" })
            }
            RejectKind::TooMany { found } => format!(
                "too many fields: {found} of {width}; {what}{}",
                if self.skipped { "" } else { ", extra fields dropped" }
            ),
        }
    }
}

/// Counts of the rows that did not fit the header (and blank lines).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Damage {
    pub policy: BadRows,
    /// Short rows filled with missing values.
    pub padded: usize,
    /// Long rows whose extra fields were dropped.
    pub truncated: usize,
    /// Rows left out.
    pub skipped: usize,
    /// Blank lines inside the table, left out.
    pub blank_lines: usize,
    /// Every such row, in input order (when asked for).
    pub rejects: Vec<Reject>,
}

impl Damage {
    fn add(&mut self, other: Damage) {
        self.padded += other.padded;
        self.truncated += other.truncated;
        self.skipped += other.skipped;
        self.blank_lines += other.blank_lines;
        self.rejects.extend(other.rejects);
    }
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// How to parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Target chunk size in bytes for parallel parsing; inputs smaller than
    /// two chunks are parsed on the calling thread.
    pub chunk_size: usize,
    /// Keep each field's byte offset (for errors found after parsing).
    pub keep_offsets: bool,
    /// What is forced; the rest of the dialect is detected.
    pub dialect: DialectOptions,
    /// Rows whose field count differs from the header's.
    pub bad_rows: BadRows,
    /// Keep each such row's place ([`Damage::rejects`]), not just counts.
    pub keep_rejects: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            chunk_size: 4 << 20,
            keep_offsets: false,
            dialect: DialectOptions::default(),
            bad_rows: BadRows::default(),
            keep_rejects: false,
        }
    }
}

impl ParseOptions {
    /// Strict RFC 4180: nothing detected, a ragged row is an error.
    pub fn rfc4180() -> Self {
        Self { dialect: DialectOptions::rfc4180(), bad_rows: BadRows::Error, ..Self::default() }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses a whole CSV input into a typed table: its dialect detected (or
/// forced by `options`), then the header row (if any), then the rows.
pub fn parse(data: &[u8], options: ParseOptions) -> Result<Table, CsvError> {
    options.dialect.validate().map_err(CsvError::whole)?;
    let utf16 = match options.dialect.encoding {
        Some(e @ (Encoding::Utf16Le | Encoding::Utf16Be)) => Some(e),
        Some(_) => None,
        None => Encoding::utf16_bom(data),
    };
    if let Some(encoding) = utf16 {
        // Every byte of UTF-16 text is two: convert first, then detect.
        let text = to_utf8(data, encoding);
        let mut dialect = sniff(&text, false, &DialectOptions { encoding: Some(Encoding::Utf8), ..options.dialect });
        dialect.encoding = encoding;
        dialect.forced.encoding = options.dialect.encoding;
        return parse_dialect(&text, 0, dialect, &options);
    }
    let bom = data.starts_with(BOM);
    let start = if bom { BOM.len() } else { 0 };
    let mut dialect = sniff(&data[start..], bom, &options.dialect);
    if dialect.encoding.converts() {
        let text = to_utf8(&data[start..], dialect.encoding);
        return parse_dialect(&text, 0, dialect, &options);
    }
    match parse_dialect(data, start, dialect, &options) {
        // Invalid UTF-8 the samples missed: the file is Windows-1252.
        Err(e) if e.invalid_utf8 && options.dialect.encoding.is_none() => {
            dialect.encoding = Encoding::Windows1252;
            let text = to_utf8(&data[start..], dialect.encoding);
            parse_dialect(&text, 0, dialect, &options)
        }
        result => result,
    }
}

/// Repeated header names made unique as pandas (3.x, its C parser)
/// makes them: the second `a` becomes `a.1`, the third `a.2`, skipping
/// any name the header holds already (`a, a, a.1` → `a, a.2, a.1`).
fn rename_repeats(names: &mut [String]) {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for i in 0..names.len() {
        let old = names[i].clone();
        let mut name = old.clone();
        let mut count = counts.get(&name).copied().unwrap_or(0);
        if count > 0 {
            while count > 0 {
                counts.insert(old.clone(), count + 1);
                name = format!("{old}.{count}");
                count = if names.contains(&name) { count + 1 } else { counts.get(&name).copied().unwrap_or(0) };
            }
            names[i] = name.clone();
        }
        counts.insert(name, count + 1);
    }
}

/// The names of a header-less table's columns.
fn generated_names(width: usize) -> Vec<String> {
    (1..=width).map(|i| format!("column_{i}")).collect()
}

/// Parses `data[start..]` (UTF-8) as `dialect` says.
fn parse_dialect(data: &[u8], start: usize, dialect: Dialect, options: &ParseOptions) -> Result<Table, CsvError> {
    let syntax = dialect.syntax;
    let start = start + nth_line_start(&data[start..], syntax.newline, dialect.skip_lines);
    if is_blank(&data[start..], syntax.newline) {
        let what = if dialect.header { "a header row naming the columns" } else { "a first row" };
        return Err(CsvError::at(data, start, 1, format!("empty input: expected {what}")));
    }
    // The general reader, which finds separators and quotes as it goes:
    // `Records::new` would first search the whole input for a quote (to
    // pick its quote-free loop), a millisecond on this one thread for a
    // 32 MB file, to read one line.
    let mut header = Records::with_quotes_known(data, start, data.len(), syntax, Some(false));
    let mut names: Vec<String> = Vec::new();
    let lenient = options.bad_rows != BadRows::Error;
    header.read_record(|info, field| {
        let name = std::str::from_utf8(field)
            .map_err(|_| CsvError::at(data, info.offset, info.index + 1, "invalid UTF-8 in the header").utf8_error())?;
        names.push(name.to_string());
        Ok(())
    })?;
    let body = if dialect.header {
        if lenient {
            for (i, name) in names.iter_mut().enumerate() {
                // pandas writes its index column with an empty name.
                if name.is_empty() {
                    *name = format!("column_{}", i + 1);
                }
            }
            rename_repeats(&mut names);
        }
        for (i, name) in names.iter().enumerate() {
            let at = || {
                let mut r = Records::with_quotes_known(data, start, data.len(), syntax, Some(false));
                let mut offset = start;
                let _ = r.read_record(|info, _| {
                    if info.index == i {
                        offset = info.offset;
                    }
                    Ok(())
                });
                offset
            };
            if name.is_empty() {
                return Err(CsvError::at(data, at(), i + 1, "empty column name in the header"));
            }
            if names[..i].contains(name) {
                return Err(CsvError::at(data, at(), i + 1, format!("duplicate column name '{name}'")));
            }
        }
        header.position()
    } else {
        names = generated_names(names.len());
        start
    };
    let Chunking { cuts, quote_free, line_ends } = chunk_starts(data, body, options.chunk_size, syntax);
    // Chunks of a body with quotes may still be free of them: they look.
    let quote_free = quote_free.filter(|&free| free);
    let layout = match line_ends {
        Some(line_ends) if quote_free.is_some() => Layout::of(line_ends, names.len()),
        _ => None,
    };
    let mut buffers: Vec<Vec<Slot>> =
        layout.as_ref().map(|l| (0..names.len()).map(|_| Layout::buffer(l.capacity)).collect()).unwrap_or_default();
    let regions: Vec<Option<Vec<&mut [Slot]>>> = match &layout {
        Some(l) => l.regions(&mut buffers).into_iter().map(Some).collect(),
        None => (1..cuts.len()).map(|_| None).collect(),
    };
    let reading = Reading {
        data,
        names: &names,
        syntax,
        decimal: dialect.decimal,
        keep_offsets: options.keep_offsets,
        policy: options.bad_rows,
        keep_rejects: options.keep_rejects,
    };
    // Every chunk's result, each from a guessed record start.
    let mut results: Vec<Result<Chunk, CsvError>> = cuts
        .par_windows(2)
        .zip(regions)
        .map(|(w, r)| parse_chunk(&reading, w[0], w[1], quote_free, r).map(Chunk::detach))
        .collect();
    // Speculative parsing checked (Ge et al., SIGMOD 2019): a chunk's
    // guessed start must be where the chunk before it really ended; where
    // not (a stray quote fooled the guess), the chunk is read again from
    // there. Going in input order, the first error of a chunk read from a
    // true start is the first error of the input.
    let mut starts = cuts.clone();
    let mut chunks: Vec<Chunk> = Vec::with_capacity(results.len());
    for k in 0..results.len() {
        if k > 0 {
            let end = chunks[k - 1].end;
            if end != starts[k] {
                starts[k] = end;
                results[k] = parse_chunk(&reading, end, cuts[k + 1].max(end), None, None).map(Chunk::detach);
            }
        }
        let result = std::mem::replace(&mut results[k], Err(CsvError::whole("")));
        chunks.push(result?);
    }
    let rows = chunks.iter().map(|c| c.rows).sum();
    let mut damage = Damage { policy: options.bad_rows, ..Damage::default() };
    for chunk in &mut chunks {
        damage.add(std::mem::take(&mut chunk.damage));
    }
    number_lines(data, syntax.newline, &mut damage.rejects);
    let placed = layout.map(|l| (buffers, l));
    let columns = join_chunks(&reading, &starts, chunks, placed)?;
    Ok(Table { columns, rows, dialect, damage })
}

/// Fills in the rejects' line numbers, counting line ends once for all.
fn number_lines(data: &[u8], newline: u8, rejects: &mut [Reject]) {
    let (mut line, mut at) = (1u64, 0usize);
    for r in rejects {
        line += memchr::memchr_iter(newline, &data[at..r.start]).count() as u64;
        at = r.start;
        r.line = line;
    }
}

/// What every chunk reads with.
struct Reading<'a> {
    data: &'a [u8],
    names: &'a [String],
    syntax: Syntax,
    /// The numbers' decimal mark ([`parse_float_with`]).
    decimal: u8,
    keep_offsets: bool,
    policy: BadRows,
    keep_rejects: bool,
}

/// A place in a whole-column buffer ([`Layout`]). Each is written by the
/// one chunk whose range holds it before anything reads it, so the buffers
/// need not be zeroed first: zeroing 8 bytes a row on the calling thread
/// (what `calloc` does for memory the allocator had handed out before, as
/// in a process that parses more than one file) took longer than
/// parsing them. Fresh pages still come zeroed from the kernel, in the
/// page faults of the chunks that first write them, on their own threads.
type Slot = MaybeUninit<u64>;

/// The values a chunk wrote at the start of its range: the first `len`
/// places of [`Slots::Range`], or a placed chunk's part of the buffer.
fn written(slots: &[Slot]) -> &[u64] {
    // SAFETY: callers pass only places already written (see `Slot`);
    // `MaybeUninit<u64>` has the layout of `u64`.
    unsafe { &*(slots as *const [Slot] as *const [u64]) }
}

fn written_mut(slots: &mut [Slot]) -> &mut [u64] {
    // SAFETY: as for `written`.
    unsafe { &mut *(slots as *mut [Slot] as *mut [u64]) }
}

/// Where each chunk's rows go in whole-column buffers, when that is known
/// before parsing: with no quotes in the input every line end closes one
/// record, so a chunk (but the last, which may lack a final line end or
/// end in blank lines) holds exactly as many rows as line ends. Chunks
/// then write their numbers straight into their range of each column,
/// instead of into vectors of their own that are joined (copied, and the
/// memory faulted in and freed again) afterwards.
struct Layout {
    /// Rows counted for each chunk (the last: one more, an upper bound).
    counts: Vec<usize>,
    /// First row of each chunk.
    bases: Vec<usize>,
    capacity: usize,
}

impl Layout {
    /// The layout of a body known to hold no `"`, cut into chunks with
    /// these many line ends ([`Chunking::line_ends`]).
    fn of(mut counts: Vec<usize>, width: usize) -> Option<Self> {
        if counts.len() < 2 || width == 0 {
            return None;
        }
        *counts.last_mut().expect("two chunks or more") += 1;
        let bases = counts.iter().scan(0, |base, &n| Some(std::mem::replace(base, *base + n))).collect();
        Some(Self { capacity: counts.iter().sum(), counts, bases })
    }

    /// A column's buffer of `capacity` places, not yet written ([`Slot`]).
    fn buffer(capacity: usize) -> Vec<Slot> {
        let mut buffer = Vec::with_capacity(capacity);
        // SAFETY: `MaybeUninit` places need no initialisation.
        unsafe { buffer.set_len(capacity) };
        if cfg!(debug_assertions) {
            // Tests see a place read before it was written as this
            // pattern (a NaN with a payload no parse produces), not as
            // whatever the memory held.
            buffer.fill(Slot::new(0x7FF4_DEAD_BEEF_0BAD));
        }
        buffer
    }

    /// Each chunk's range of every column buffer: `regions[chunk][column]`.
    fn regions<'a>(&self, buffers: &'a mut [Vec<Slot>]) -> Vec<Vec<&'a mut [Slot]>> {
        let mut regions: Vec<Vec<&'a mut [Slot]>> = self.counts.iter().map(|_| Vec::new()).collect();
        for buffer in buffers {
            let mut rest = buffer.as_mut_slice();
            for (chunk, &n) in regions.iter_mut().zip(&self.counts) {
                let (head, tail) = std::mem::take(&mut rest).split_at_mut(n);
                chunk.push(head);
                rest = tail;
            }
        }
        regions
    }
}

/// How [`chunk_starts`] cuts a body into chunks.
pub struct Chunking {
    /// Record starts: first the body's, last `data.len()`.
    pub cuts: Vec<usize>,
    /// Whether the body holds no quote at all (nor, without quoting, any
    /// escape: [`Syntax::marker`]), where they were counted (bodies of two
    /// chunks or more): the chunks then need not look again.
    pub quote_free: Option<bool>,
    /// The `\n` in each chunk, counted in the same pass as the quotes
    /// (where they were counted).
    pub line_ends: Option<Vec<usize>>,
}

/// How far [`chunk_starts`] walks from a nominal cut, inside what quote
/// parity says is a quoted field, before it guesses the next line end.
const WALK: usize = 64 << 10;

/// Guessed record starts that cut `data[body..]` into chunks of about
/// `chunk_size` bytes, found from the parity of the quotes before each
/// nominal cut: the quotes and line ends of each nominal piece are counted
/// in one parallel pass over the body. Parity is exact for well-formed
/// quoting; a stray quote (read leniently as data) flips it, so these are
/// guesses, which [`parse`] checks.
pub fn chunk_starts(data: &[u8], body: usize, chunk_size: usize, syntax: Syntax) -> Chunking {
    let len = data.len();
    let size = chunk_size.max(1);
    if len - body < 2 * size {
        return Chunking { cuts: vec![body, len], quote_free: None, line_ends: None };
    }
    let (quote, newline) = (syntax.quote, syntax.newline);
    let nominal: Vec<usize> = (body..len).step_by(size).chain([len]).collect();
    // Markers: quotes, or, without quoting, escapes (whose line ends may
    // be data: the guess is checked like any other).
    let counts: Vec<(usize, usize)> =
        nominal.par_windows(2).map(|w| quotes_and_line_ends(&data[w[0]..w[1]], syntax.marker(), newline)).collect();
    // Cuts, and the line ends before each one: those of the pieces before
    // its nominal cut, and those it walked over from there.
    let mut cuts = vec![body];
    let mut line_ends_before = vec![0];
    let (mut quotes, mut line_ends) = (0usize, 0usize);
    for (i, &cut) in nominal.iter().enumerate().skip(1) {
        quotes += counts[i - 1].0;
        line_ends += counts[i - 1].1;
        if cut >= len {
            break;
        }
        // Walk from the cut to the first line end outside quotes (or,
        // after a long walk inside them, to the first line end at all).
        let mut inside = quote.is_some() && quotes % 2 == 1;
        let mut walked = 0;
        let mut at = None;
        let walk = &data[cut..len.min(cut + WALK)];
        for p in memchr::memchr2_iter(quote.unwrap_or(newline), newline, walk) {
            if walk[p] != newline {
                inside = !inside;
                continue;
            }
            walked += 1;
            if !inside {
                at = Some(cut + p + 1);
                break;
            }
        }
        if at.is_none()
            && let Some(p) = memchr::memchr(newline, &data[cut..])
        {
            walked = 1;
            at = Some(cut + p + 1);
        }
        match at {
            Some(a) if a < len && a > *cuts.last().unwrap() => {
                cuts.push(a);
                line_ends_before.push(line_ends + walked);
            }
            _ => {}
        }
    }
    cuts.push(len);
    line_ends_before.push(line_ends);
    Chunking {
        cuts,
        quote_free: Some(counts.iter().all(|&(q, _)| q == 0)),
        line_ends: Some(line_ends_before.windows(2).map(|w| w[1] - w[0]).collect()),
    }
}

/// The quotes and the line ends in `bytes`, counted a cache-sized slice at
/// a time, so that the second count reads what the first brought in.
fn quotes_and_line_ends(bytes: &[u8], quote: Option<u8>, newline: u8) -> (usize, usize) {
    bytes.chunks(32 << 10).fold((0, 0), |(quotes, line_ends), slice| {
        let q = quote.map_or(0, |q| memchr::memchr_iter(q, slice).count());
        (quotes + q, line_ends + memchr::memchr_iter(newline, slice).count())
    })
}

/// Values of one column while a chunk is read. Numbers are kept as their
/// bits (`i64` or `f64`, 8 bytes either way), so a column that turns from
/// integers to floats is converted where it lies.
enum Builder<'a> {
    /// Only missing values so far.
    Unknown,
    Integer(Slots<'a>),
    Float(Slots<'a>),
    Text(TextValues),
    /// Became text after numbers: re-read as text once the chunk is done.
    TextLater,
}

/// Where a chunk keeps a numeric column's values.
enum Slots<'a> {
    /// A vector of its own, joined to the others afterwards.
    Own(Vec<u64>),
    /// Its range of the whole column's buffer ([`Layout`]), the first
    /// `len` places written.
    Range { out: &'a mut [Slot], len: usize },
    /// After parsing: `len` values already in place in the buffer.
    Placed(usize),
}

impl<'a> Slots<'a> {
    /// Storage whose first `before` values are `fill`: the chunk's range
    /// of the column if it has one, else a vector.
    fn start(region: Option<&'a mut [Slot]>, capacity: usize, before: usize, fill: u64) -> Self {
        match region {
            Some(out) if out.len() > before => {
                out[..before].fill(Slot::new(fill));
                Slots::Range { out, len: before }
            }
            _ => {
                let mut v = Vec::with_capacity(capacity.max(before + 1));
                v.resize(before, fill);
                Slots::Own(v)
            }
        }
    }

    #[inline(always)]
    fn push(&mut self, bits: u64) {
        if let Slots::Range { out, len } = self {
            if *len < out.len() {
                out[*len] = Slot::new(bits);
                *len += 1;
                return;
            }
            // More rows than counted (cannot happen for well-formed
            // quote-free input, but never lose data): carry on in a vector.
            let own = written(&out[..*len]).to_vec();
            *self = Slots::Own(own);
        }
        if let Slots::Own(v) = self {
            v.push(bits);
        }
    }

    fn pop(&mut self) {
        match self {
            Slots::Own(v) => {
                v.pop();
            }
            Slots::Range { len, .. } => *len = len.saturating_sub(1),
            Slots::Placed(_) => unreachable!("placed values are final"),
        }
    }

    /// The values filled so far.
    fn values_mut(&mut self) -> &mut [u64] {
        match self {
            Slots::Own(v) => v,
            Slots::Range { out, len } => written_mut(&mut out[..*len]),
            Slots::Placed(_) => unreachable!("placed values are final"),
        }
    }

    /// Ends the borrow of the column buffer: a range becomes `Placed`.
    fn detach(self) -> Slots<'static> {
        match self {
            Slots::Own(v) => Slots::Own(v),
            Slots::Range { len, .. } | Slots::Placed(len) => Slots::Placed(len),
        }
    }
}

struct ColumnChunk<'a> {
    builder: Builder<'a>,
    missing: Vec<usize>,
    offsets: Vec<usize>,
    /// Capacity to give the values once their type is known.
    expected_rows: usize,
    /// This chunk's range of the column's buffer, until numbers need it.
    region: Option<&'a mut [Slot]>,
    /// The numbers' decimal mark.
    decimal: u8,
}

struct Chunk<'a> {
    columns: Vec<ColumnChunk<'a>>,
    rows: usize,
    /// Where its last record ended: the next chunk's true start.
    end: usize,
    damage: Damage,
}

impl Chunk<'_> {
    /// The same chunk, no longer borrowing the column buffers.
    fn detach(self) -> Chunk<'static> {
        let columns = self
            .columns
            .into_iter()
            .map(|c| ColumnChunk {
                builder: match c.builder {
                    Builder::Unknown => Builder::Unknown,
                    Builder::Integer(v) => Builder::Integer(v.detach()),
                    Builder::Float(v) => Builder::Float(v.detach()),
                    Builder::Text(v) => Builder::Text(v),
                    Builder::TextLater => Builder::TextLater,
                },
                missing: c.missing,
                offsets: c.offsets,
                expected_rows: c.expected_rows,
                region: None,
                decimal: c.decimal,
            })
            .collect();
        Chunk { columns, rows: self.rows, end: self.end, damage: self.damage }
    }
}

/// A number's sign and the bytes after it.
#[inline]
fn split_sign(f: &[u8]) -> (bool, &[u8]) {
    match f.first() {
        Some(b'-') => (true, &f[1..]),
        Some(b'+') => (false, &f[1..]),
        _ => (false, f),
    }
}

/// An integer, allowing surrounding spaces and a sign.
#[inline]
pub fn parse_integer(field: &[u8]) -> Option<i64> {
    let (negative, digits) = split_sign(field.trim_ascii());
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v.checked_mul(10)?.checked_sub(d as i64)?; // accumulate negatively: i64::MIN fits
    }
    match (negative, v) {
        // "-0" is a float (-0.0): as an integer it would lose its sign when
        // the column turns float, and the result would depend on chunking.
        (true, 0) => None,
        (true, _) => Some(v),
        (false, _) => v.checked_neg(),
    }
}

/// A finite float, allowing surrounding spaces (no `nan`, no `inf`).
///
/// Plain decimals (`-12.345`, up to 15 significant digits, as sensor data
/// is written) take a fast path: the digits as an integer `m` and the
/// fraction length `k`, then `m / 10^k`. Both are exact in `f64` and IEEE
/// division rounds correctly, so the result is the correctly rounded value,
/// bit for bit what `str::parse` gives (Clinger's fast path). Anything else
/// (exponents, long mantissas) goes to `str::parse`.
#[inline]
pub fn parse_float(field: &[u8]) -> Option<f64> {
    let f = field.trim_ascii();
    let (negative, body) = split_sign(f);
    let mut mantissa: u64 = 0;
    let mut digits = 0usize;
    let mut fraction: Option<usize> = None;
    let mut plain = !body.is_empty();
    for &b in body {
        match b {
            b'0'..=b'9' => {
                mantissa = mantissa.wrapping_mul(10).wrapping_add((b - b'0') as u64);
                digits += 1;
                if let Some(k) = &mut fraction {
                    *k += 1;
                }
            }
            b'.' if fraction.is_none() => fraction = Some(0),
            _ => {
                plain = false;
                break;
            }
        }
    }
    if plain && digits > 0 && digits <= 15 {
        let v = mantissa as f64 / POW10[fraction.unwrap_or(0)];
        return Some(if negative { -v } else { v });
    }
    if f.is_empty() || !f.iter().all(|b| matches!(b, b'0'..=b'9' | b'+' | b'-' | b'.' | b'e' | b'E')) {
        return None;
    }
    // All ASCII, so valid UTF-8.
    let v: f64 = std::str::from_utf8(f).ok()?.parse().ok()?;
    v.is_finite().then_some(v)
}

/// [`parse_float`] with `decimal` as the decimal mark: with `,`, `-12,5`
/// is -12.5, and a field with a point is no number.
#[inline]
pub fn parse_float_with(field: &[u8], decimal: u8) -> Option<f64> {
    if decimal == b'.' {
        return parse_float(field);
    }
    // Surrounding spaces are no part of the number (nor of its length).
    let field = field.trim_ascii();
    if field.contains(&b'.') {
        return None;
    }
    let point = |b: u8| if b == decimal { b'.' } else { b };
    let mut buffer = [0u8; 64];
    if field.len() <= buffer.len() {
        for (to, &b) in buffer.iter_mut().zip(field) {
            *to = point(b);
        }
        parse_float(&buffer[..field.len()])
    } else {
        // Longer than a float needs, but a number all the same (leading
        // zeros, 70 digits): rare enough for the heap.
        parse_float(&field.iter().map(|&b| point(b)).collect::<Vec<u8>>())
    }
}

fn text_of<'f>(data: &[u8], info: FieldInfo, field: &'f [u8]) -> Result<&'f str, CsvError> {
    std::str::from_utf8(field).map_err(|e| {
        CsvError::at(
            data,
            info.offset + e.valid_up_to() + info.quoted as usize,
            info.index + 1,
            "invalid UTF-8 in a text field",
        )
        .utf8_error()
    })
}

const NAN_BITS: u64 = 0x7FF8_0000_0000_0000; // f64::NAN.to_bits()

impl<'a> ColumnChunk<'a> {
    fn new(expected_rows: usize, region: Option<&'a mut [Slot]>, decimal: u8) -> Self {
        Self { builder: Builder::Unknown, missing: Vec::new(), offsets: Vec::new(), expected_rows, region, decimal }
    }

    /// Takes back the last field pushed, which was empty (missing).
    fn undo_missing(&mut self) {
        self.missing.pop();
        self.offsets.pop();
        match &mut self.builder {
            Builder::Unknown | Builder::TextLater => {}
            Builder::Integer(v) | Builder::Float(v) => v.pop(),
            Builder::Text(v) => v.pop(),
        }
    }

    /// The unfilled rest of the column's range of the whole-column buffer,
    /// where numbers can be written straight ([`Self::filled`] then
    /// counts them), if it has one.
    fn free_range(&mut self) -> Option<&mut [Slot]> {
        match &mut self.builder {
            Builder::Integer(Slots::Range { out, len }) | Builder::Float(Slots::Range { out, len }) => {
                Some(&mut out[*len..])
            }
            _ => None,
        }
    }

    /// Counts `n` numbers written at the start of [`Self::free_range`].
    fn filled(&mut self, n: usize) {
        if let Builder::Integer(Slots::Range { len, .. }) | Builder::Float(Slots::Range { len, .. }) = &mut self.builder
        {
            *len += n;
        }
    }

    /// Adds a present number of the column's type (from the fast lane).
    #[inline(always)]
    fn push_number(&mut self, bits: u64) {
        match &mut self.builder {
            Builder::Integer(v) | Builder::Float(v) => v.push(bits),
            _ => unreachable!("the fast lane runs on numeric columns only"),
        }
    }

    /// Adds row `row`'s field.
    #[inline(always)]
    fn push(&mut self, data: &[u8], row: usize, info: FieldInfo, field: &[u8]) -> Result<(), CsvError> {
        let decimal = self.decimal;
        if field.is_empty() {
            self.missing.push(row);
            match &mut self.builder {
                Builder::Unknown | Builder::TextLater => {}
                Builder::Integer(v) => v.push(0),
                Builder::Float(v) => v.push(NAN_BITS),
                Builder::Text(v) => v.push(""),
            }
            return Ok(());
        }
        match &mut self.builder {
            Builder::Integer(v) => {
                if let Some(i) = parse_integer(field) {
                    v.push(i as u64);
                } else if let Some(f) = parse_float_with(field, decimal) {
                    // Turn the integers so far into floats where they lie.
                    let Builder::Integer(mut v) = std::mem::replace(&mut self.builder, Builder::Unknown) else {
                        unreachable!("matched above")
                    };
                    let values = v.values_mut();
                    for b in values.iter_mut() {
                        *b = (*b as i64 as f64).to_bits();
                    }
                    for &m in &self.missing {
                        values[m] = NAN_BITS;
                    }
                    v.push(f.to_bits());
                    self.builder = Builder::Float(v);
                } else {
                    text_of(data, info, field)?;
                    self.builder = Builder::TextLater;
                }
            }
            Builder::Float(v) => {
                if let Some(f) = parse_float_with(field, decimal) {
                    v.push(f.to_bits());
                } else {
                    text_of(data, info, field)?;
                    self.builder = Builder::TextLater;
                }
            }
            Builder::Text(v) => v.push(text_of(data, info, field)?),
            Builder::TextLater => {
                text_of(data, info, field)?;
            }
            Builder::Unknown => {
                // Every earlier row was missing: fill their placeholders.
                let before = row;
                self.builder = if let Some(i) = parse_integer(field) {
                    let mut v = Slots::start(self.region.take(), self.expected_rows, before, 0);
                    v.push(i as u64);
                    Builder::Integer(v)
                } else if let Some(f) = parse_float_with(field, decimal) {
                    let mut v = Slots::start(self.region.take(), self.expected_rows, before, NAN_BITS);
                    v.push(f.to_bits());
                    Builder::Float(v)
                } else {
                    let mut v = TextValues::default();
                    for _ in 0..before {
                        v.push("");
                    }
                    v.push(text_of(data, info, field)?);
                    Builder::Text(v)
                };
            }
        }
        Ok(())
    }
}

/// Whether every column is numeric so far (so a row of plain numbers can
/// take the fast lane), with `floats[i]` telling column `i`'s type.
fn numeric_kinds(columns: &[ColumnChunk], floats: &mut [bool]) -> bool {
    for (column, float) in columns.iter().zip(floats.iter_mut()) {
        *float = match column.builder {
            Builder::Integer(_) => false,
            Builder::Float(_) => true,
            _ => return false,
        };
    }
    true
}

/// What became of a record, by the bad-rows policy.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    Keep,
    /// A blank line inside the table (with more than one column): left out.
    Blank,
    /// Too few fields: missing values after them.
    Pad,
    /// Too many: the extra ones dropped.
    Cut,
    Skip,
}

/// The fate of a record of `fields` fields (`blank`: one empty, unquoted
/// field) in a table `width` wide, or the error it is under `Error`.
fn fate(fields: usize, blank: bool, width: usize, policy: BadRows) -> Fate {
    if fields == width {
        Fate::Keep
    } else if fields == 1 && blank && width > 1 && policy != BadRows::Error {
        Fate::Blank
    } else {
        match (policy, fields < width) {
            (BadRows::Skip, _) => Fate::Skip,
            (BadRows::Pad, true) => Fate::Pad,
            (BadRows::Pad, false) => Fate::Cut,
            // The caller reports the error.
            (BadRows::Error, _) => Fate::Skip,
        }
    }
}

/// Parses the records that start in `data[start..end]`: `start` is a
/// guessed record start, and the last record may run past `end` (where the
/// next chunk's guess then is wrong, which [`parse`] finds).
fn parse_chunk<'a>(
    reading: &Reading,
    start: usize,
    end: usize,
    quote_free: Option<bool>,
    regions: Option<Vec<&'a mut [Slot]>>,
) -> Result<Chunk<'a>, CsvError> {
    let &Reading { data, names, syntax, decimal, keep_offsets, policy, keep_rejects } = reading;
    let width = names.len();
    // Rows expected, from the line ends in the chunk's first 64 KiB, so
    // the columns grow once instead of doubling (and copying) their way up.
    let sample = &data[start..end.min(start + (64 << 10))];
    let sample_rows = memchr::memchr_iter(syntax.newline, sample).count().max(1);
    let expected = (sample_rows as f64 * (end - start) as f64 / sample.len().max(1) as f64 * 1.05) as usize + 16;
    let mut regions = regions.map(Vec::into_iter);
    let mut columns: Vec<ColumnChunk> =
        (0..width).map(|_| ColumnChunk::new(expected, regions.as_mut().and_then(Iterator::next), decimal)).collect();
    // A quote-free chunk ends exactly at `end` (a line end); one with
    // quotes reads its last record to wherever it ends.
    let free = quote_free.unwrap_or_else(|| syntax.quote_free(&data[start..end]));
    let mut records = Records::with_quotes_known(data, start, if free { end } else { data.len() }, syntax, Some(free));
    let mut rows = 0;
    let mut damage = Damage::default();
    // Under `skip`, a record's fields wait here until it is known whole.
    let mut held: Vec<(FieldInfo, usize, usize)> = Vec::new();
    let mut held_bytes: Vec<u8> = Vec::new();
    // The fast lane (a row's values committed only when it is whole).
    let mut lane = Lane::with_ends(width, syntax.delimiter, syntax.newline);
    while records.position() < end {
        // (The lane reads decimal points only.)
        if decimal == b'.' && !keep_offsets && records.is_quote_free() && numeric_kinds(&columns, lane.start()) {
            let d = &data[..end];
            let mut pos = records.position();
            // Where every column has its range of the whole-column buffer,
            // the rows go straight into it, up to the shortest's room.
            let mut placed = 0;
            let free: Option<Vec<&mut [Slot]>> = columns.iter_mut().map(ColumnChunk::free_range).collect();
            if let Some(mut free) = free {
                let room = free.iter().map(|f| f.len()).min().unwrap_or(0);
                while pos < end && placed < room {
                    let Some(next) = lane.row(d, pos) else { break };
                    for (column, &bits) in free.iter_mut().zip(lane.bits()) {
                        column[placed] = Slot::new(bits);
                    }
                    placed += 1;
                    pos = next;
                }
                columns.iter_mut().for_each(|c| c.filled(placed));
                rows += placed;
            }
            while pos < end {
                let Some(next) = lane.row(d, pos) else { break };
                for (column, &bits) in columns.iter_mut().zip(lane.bits()) {
                    column.push_number(bits);
                }
                rows += 1;
                pos = next;
            }
            records.resume_at(pos);
            if pos >= end {
                break;
            }
        }
        let record_start = records.position();
        let mut blank = false;
        let hold = policy == BadRows::Skip;
        held.clear();
        held_bytes.clear();
        let fields = records.read_record(|info, field| {
            if info.index == 0 && field.is_empty() && !info.quoted {
                blank = true; // maybe a blank line: decided below
            }
            if info.index >= width {
                if policy == BadRows::Error {
                    return Err(CsvError::at(
                        data,
                        info.offset,
                        info.index + 1,
                        format!("too many fields: expected {width}, as in the header"),
                    ));
                }
                return Ok(()); // dropped (or the row skipped)
            }
            if hold {
                held.push((info, held_bytes.len(), held_bytes.len() + field.len()));
                held_bytes.extend_from_slice(field);
                return Ok(());
            }
            let column = &mut columns[info.index];
            if keep_offsets {
                column.offsets.push(info.offset);
            }
            column.push(data, rows, info, field).map_err(|e| e.in_column(&names[info.index]))
        })?;
        let Some(fields) = fields else { break };
        let fate = fate(fields, blank, width, policy);
        if fields == 1 && blank && width > 1 && records.only_blank_lines_left() {
            // Blank lines at the very end of the input are ignored: take
            // back the one empty field the line gave column 0.
            if !hold {
                columns[0].undo_missing();
            }
            break;
        }
        if policy == BadRows::Error && fields < width {
            let at = record_start;
            let line_end = memchr::memchr(syntax.newline, &data[at..]).map_or(data.len(), |p| at + p);
            return Err(CsvError::at(
                data,
                line_end,
                fields + 1,
                format!("too few fields: expected {width}, as in the header, found {fields}"),
            ));
        }
        // A set-aside row, whole. Fields it drops were never read as text:
        // it still has to be valid in the file's encoding, or its reject
        // line would lose bytes (and a file whose only non-UTF-8 bytes lie
        // in bad rows would never be re-read as Windows-1252).
        let raw = match fate {
            Fate::Keep | Fate::Blank => "",
            Fate::Pad | Fate::Cut | Fate::Skip => {
                let raw = &data[record_start..record_end(data, record_start, records.position(), syntax.newline)];
                std::str::from_utf8(raw)
                    .map_err(|e| invalid_in_set_aside(reading, record_start, record_start + e.valid_up_to()))?
            }
        };
        match fate {
            Fate::Keep | Fate::Pad | Fate::Cut => {
                for &(info, a, b) in &held {
                    let column = &mut columns[info.index];
                    if keep_offsets {
                        column.offsets.push(info.offset);
                    }
                    column.push(data, rows, info, &held_bytes[a..b]).map_err(|e| e.in_column(&names[info.index]))?;
                }
                if fate == Fate::Pad {
                    let line_end = records.position();
                    for column in &mut columns[fields..] {
                        if keep_offsets {
                            column.offsets.push(line_end);
                        }
                        let info = FieldInfo { index: 0, offset: line_end, quoted: false };
                        column.push(data, rows, info, b"")?;
                    }
                }
                rows += 1;
            }
            Fate::Blank => {
                if !hold {
                    columns[0].undo_missing();
                }
            }
            Fate::Skip => {}
        }
        let kind = match fate {
            Fate::Keep => continue,
            Fate::Blank => {
                damage.blank_lines += 1;
                continue;
            }
            Fate::Pad => {
                damage.padded += 1;
                RejectKind::TooFew { found: fields }
            }
            Fate::Cut => {
                damage.truncated += 1;
                RejectKind::TooMany { found: fields }
            }
            Fate::Skip => {
                damage.skipped += 1;
                if fields < width {
                    RejectKind::TooFew { found: fields }
                } else {
                    RejectKind::TooMany { found: fields }
                }
            }
        };
        if keep_rejects {
            damage.rejects.push(Reject {
                start: record_start,
                raw: raw.to_string(),
                line: 0,
                column: fields.min(width) + 1,
                kind,
                skipped: fate == Fate::Skip,
            });
        }
    }
    // Columns that turned to text after numbers: read them again as text.
    for (index, column) in columns.iter_mut().enumerate() {
        if matches!(column.builder, Builder::TextLater) {
            column.builder = Builder::Text(reread_text(reading, start, index, rows)?);
        }
    }
    Ok(Chunk { columns, rows, end: records.position().max(start), damage })
}

/// The error for the invalid UTF-8 at `at` in the set-aside record that
/// starts at `start`, naming the field that holds it.
fn invalid_in_set_aside(reading: &Reading, start: usize, at: usize) -> CsvError {
    let mut index = 0;
    // The record was read once already, so it reads again without error.
    let _ = Records::new(reading.data, start, reading.data.len(), reading.syntax).read_record(|info, _| {
        if info.offset <= at {
            index = info.index;
        }
        Ok(())
    });
    let error = CsvError::at(reading.data, at, index + 1, "invalid UTF-8 in a row set aside by the bad-rows policy");
    match reading.names.get(index) {
        Some(name) => error.in_column(name),
        None => error,
    }
    .utf8_error()
}

/// Where the record `data[start..next]` ends, less its line end.
fn record_end(data: &[u8], start: usize, next: usize, newline: u8) -> usize {
    let mut end = next;
    if end > start && data[end - 1] == newline {
        end -= 1;
        if newline == b'\n' && end > start && data[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

/// Column `index` of the first `rows` rows kept from the records at
/// `start` on (as the first pass kept them: not blank lines or skipped
/// rows; padded fields empty), as text.
fn reread_text(reading: &Reading, start: usize, index: usize, rows: usize) -> Result<TextValues, CsvError> {
    let &Reading { data, syntax, policy, names, .. } = reading;
    let mut records = Records::new(data, start, data.len(), syntax);
    let mut values = TextValues::default();
    while values.len() < rows {
        let mut text = Ok(false);
        let mut blank = false;
        let fields = records.read_record(|info, field| {
            if info.index == 0 && field.is_empty() && !info.quoted {
                blank = true;
            }
            if info.index == index {
                text = text_of(data, info, field).map(|t| values.push(t)).map(|_| true);
            }
            Ok(())
        })?;
        let Some(fields) = fields else { break };
        let pushed = text?;
        match fate(fields, blank, names.len(), policy) {
            Fate::Keep | Fate::Pad | Fate::Cut if !pushed => values.push(""),
            Fate::Blank | Fate::Skip if pushed => {
                values.pop();
            }
            _ => {}
        }
    }
    Ok(values)
}

/// Joins the chunks' columns, widening types where chunks disagree.
/// `placed` holds the column buffers and their [`Layout`] when chunks
/// wrote their numbers in place.
fn join_chunks(
    reading: &Reading,
    starts: &[usize],
    mut chunks: Vec<Chunk<'static>>,
    placed: Option<(Vec<Vec<Slot>>, Layout)>,
) -> Result<Vec<Column>, CsvError> {
    let (names, keep_offsets) = (reading.names, reading.keep_offsets);
    let width = names.len();
    let final_types: Vec<Option<ColumnType>> = (0..width)
        .map(|c| {
            chunks
                .iter()
                .filter_map(|chunk| match chunk.columns[c].builder {
                    Builder::Unknown => None,
                    Builder::Integer(_) => Some(ColumnType::Integer),
                    Builder::Float(_) => Some(ColumnType::Float),
                    Builder::Text(_) | Builder::TextLater => Some(ColumnType::Text),
                })
                .max()
        })
        .collect();
    let total_rows: usize = chunks.iter().map(|c| c.rows).sum();
    let (mut buffers, layout) = match placed {
        Some((buffers, layout)) => (buffers.into_iter().map(Some).collect(), Some(layout)),
        None => (Vec::new(), None),
    };
    let mut columns = Vec::with_capacity(width);
    for (c, name) in names.iter().enumerate() {
        let mut missing = Vec::new();
        let mut offsets = keep_offsets.then(Vec::new);
        let mut row_base = 0;
        for chunk in &mut chunks {
            let part = &mut chunk.columns[c];
            missing.extend(part.missing.iter().map(|&r| r + row_base));
            if let Some(offsets) = &mut offsets {
                offsets.append(&mut part.offsets);
            }
            row_base += chunk.rows;
        }
        let buffer = buffers.get_mut(c).and_then(Option::take);
        let values = match final_types[c].unwrap_or(ColumnType::Text) {
            ColumnType::Text => Values::Text(join_text(reading, starts, &mut chunks, c)?),
            numeric => {
                let mut all = join_numbers(&mut chunks, c, total_rows, buffer, layout.as_ref());
                // Chunks still holding integers in a float column, or
                // nothing but missing values in one: widen or fill their
                // rows (in an integer column those rows are already 0).
                let mut base = 0;
                for chunk in &chunks {
                    let part = &chunk.columns[c];
                    let rows = &mut all[base..base + chunk.rows];
                    match (&part.builder, numeric) {
                        (Builder::Integer(_), ColumnType::Float) => {
                            rows.iter_mut().for_each(|b| *b = (*b as i64 as f64).to_bits());
                            part.missing.iter().for_each(|&m| rows[m] = NAN_BITS);
                        }
                        (Builder::Unknown, ColumnType::Float) => rows.fill(NAN_BITS),
                        _ => {}
                    }
                    base += chunk.rows;
                }
                // Same size and alignment: these collect in place.
                match numeric {
                    ColumnType::Integer => Values::Integer(all.into_iter().map(|b| b as i64).collect()),
                    _ => Values::Float(all.into_iter().map(f64::from_bits).collect()),
                }
            }
        };
        columns.push(Column { name: name.clone(), values, missing, offsets });
    }
    Ok(columns)
}

/// Column `c`'s numbers (as bits) of all chunks, end to end. When every
/// chunk wrote in place and held as many rows as counted, that is the
/// column buffer itself, cut to length; otherwise the parts are copied
/// into one vector (the first chunk's own vector moved in, not copied).
/// Rows of missing-only chunks are 0, for the caller to fill.
fn join_numbers(
    chunks: &mut [Chunk<'static>],
    c: usize,
    total_rows: usize,
    buffer: Option<Vec<Slot>>,
    layout: Option<&Layout>,
) -> Vec<u64> {
    let last = chunks.len() - 1;
    let in_place = layout.is_some_and(|layout| {
        chunks.iter().enumerate().all(|(k, chunk)| {
            (k == last || chunk.rows == layout.counts[k])
                && match &chunk.columns[c].builder {
                    Builder::Integer(Slots::Placed(n)) | Builder::Float(Slots::Placed(n)) => *n == chunk.rows,
                    Builder::Unknown => true,
                    _ => false,
                }
        })
    });
    match (buffer, layout) {
        (Some(mut buffer), Some(layout)) if in_place => {
            // The one range no chunk wrote: a chunk with nothing but
            // missing values there.
            for (chunk, &base) in chunks.iter().zip(&layout.bases) {
                if matches!(chunk.columns[c].builder, Builder::Unknown) {
                    buffer[base..base + chunk.rows].fill(Slot::new(0));
                }
            }
            buffer.truncate(total_rows);
            let mut buffer = std::mem::ManuallyDrop::new(buffer);
            // SAFETY: every place below `total_rows` is written now (the
            // chunks' ranges end to end); same layout as `u64`, and the
            // allocation moves over whole.
            unsafe { Vec::from_raw_parts(buffer.as_mut_ptr().cast::<u64>(), buffer.len(), buffer.capacity()) }
        }
        (buffer, _) => {
            let mut all: Vec<u64> = Vec::new();
            for (k, chunk) in chunks.iter_mut().enumerate() {
                let start = all.len();
                match &mut chunk.columns[c].builder {
                    Builder::Integer(Slots::Own(v)) | Builder::Float(Slots::Own(v)) if k == 0 => {
                        all = std::mem::take(v);
                        all.reserve_exact(total_rows - all.len());
                    }
                    Builder::Integer(Slots::Own(v)) | Builder::Float(Slots::Own(v)) => all.extend_from_slice(v),
                    Builder::Integer(Slots::Placed(n)) | Builder::Float(Slots::Placed(n)) => {
                        let base = layout.expect("placed values have a layout").bases[k];
                        let buffer = buffer.as_ref().expect("placed values have a buffer");
                        all.extend_from_slice(written(&buffer[base..base + *n]));
                    }
                    _ => {}
                }
                all.resize(start + chunk.rows, 0);
            }
            all
        }
    }
}

/// Column `c` of all chunks as text (a chunk that read it as numbers
/// reads it again as text).
fn join_text(
    reading: &Reading,
    starts: &[usize],
    chunks: &mut [Chunk<'static>],
    c: usize,
) -> Result<TextValues, CsvError> {
    let mut all = TextValues::default();
    for (k, chunk) in chunks.iter_mut().enumerate() {
        let rows = chunk.rows;
        match std::mem::replace(&mut chunk.columns[c].builder, Builder::TextLater) {
            Builder::Text(v) => all.append(v),
            Builder::Unknown => {
                for _ in 0..rows {
                    all.push("");
                }
            }
            Builder::Integer(_) | Builder::Float(_) | Builder::TextLater => {
                all.append(reread_text(reading, starts[k], c, rows)?);
            }
        }
    }
    Ok(all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: impl AsRef<[u8]>, chunk_size: usize) -> Result<Table, CsvError> {
        parse(text.as_ref(), ParseOptions { chunk_size, keep_offsets: false, ..ParseOptions::rfc4180() })
    }

    #[test]
    fn numbers_parse_exactly() {
        assert_eq!(parse_integer(b"0"), Some(0));
        assert_eq!(parse_integer(b" -42 "), Some(-42));
        assert_eq!(parse_integer(b"+7"), Some(7));
        assert_eq!(parse_integer(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_integer(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_integer(b"9223372036854775808"), None);
        assert_eq!(parse_integer(b"1.0"), None);
        assert_eq!(parse_integer(b"-"), None);
        assert_eq!(parse_integer(b"-0"), None); // found by the fuzzer: a float, -0.0
        assert_eq!(parse_integer(b"+0"), Some(0));
        assert_eq!(parse_float(b"1.5e3"), Some(1500.0));
        assert_eq!(parse_float(b" -0.25"), Some(-0.25));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b"inf"), None);
        assert_eq!(parse_float(b"1e400"), None);
        assert_eq!(parse_float(b"1.2.3"), None);
        assert_eq!(parse_float(b"."), None);
        assert_eq!(parse_float(b"-"), None);
        assert_eq!(parse_float(b"5."), Some(5.0));
        assert_eq!(parse_float(b".5"), Some(0.5));
        assert_eq!(parse_float(b"-0"), Some(-0.0));
    }

    /// The fast path against the standard library on many decimals.
    #[test]
    fn fast_float_path_is_bit_exact() {
        let mut state = 99u64;
        for _ in 0..200_000 {
            state = crate::rng::splitmix64(state);
            let digits = 1 + (state % 15) as usize;
            let point = (state >> 8) as usize % (digits + 1);
            let mut text = String::new();
            if state >> 63 == 1 {
                text.push('-');
            }
            let mut s2 = crate::rng::splitmix64(state);
            for i in 0..digits {
                if i == point && i > 0 {
                    text.push('.');
                }
                text.push((b'0' + (s2 % 10) as u8) as char);
                s2 /= 10;
                if s2 == 0 {
                    s2 = crate::rng::splitmix64(state ^ i as u64);
                }
            }
            let want: f64 = text.parse().unwrap();
            assert_eq!(parse_float(text.as_bytes()).map(f64::to_bits), Some(want.to_bits()), "{text}");
        }
    }

    #[test]
    fn types_are_inferred_and_widened() {
        let t = table("i,f,t,m,e\n1,2,x,,\n3,4.5,7,5,\n,6,\"y\",6.5,\n", 1 << 20).unwrap();
        assert_eq!(t.rows, 3);
        let types: Vec<ColumnType> = t.columns.iter().map(Column::column_type).collect();
        use ColumnType::*;
        assert_eq!(types, [Integer, Float, Text, Float, Text]);
        assert_eq!(t.columns[0].values, Values::Integer(vec![1, 3, 0]));
        assert_eq!(t.columns[0].missing, vec![2]);
        assert_eq!(t.columns[1].values, Values::Float(vec![2.0, 4.5, 6.0]));
        let Values::Text(text) = &t.columns[2].values else { panic!() };
        assert_eq!(text.iter().collect::<Vec<_>>(), ["x", "7", "y"]);
        let Values::Float(m) = &t.columns[3].values else { panic!() };
        assert!(m[0].is_nan() && m[1] == 5.0 && m[2] == 6.5);
        assert_eq!(t.columns[4].missing, vec![0, 1, 2]);
    }

    #[test]
    fn text_after_numbers_is_reread_whole() {
        // Column b is numbers for two rows, then text: all three are kept.
        let t = table("a,b\n1,10\n2,\"2,5\"\n3,x\n", 1 << 20).unwrap();
        let Values::Text(b) = &t.columns[1].values else { panic!("{:?}", t.columns[1]) };
        assert_eq!(b.iter().collect::<Vec<_>>(), ["10", "2,5", "x"]);
    }

    #[test]
    fn tiny_chunks_give_the_sequential_result() {
        let text = "id,name,v\n1,\"a,\n\"\"b\"\"\",1.5\n2,plain,2\n3,\"multi\nline\nfield\",\n4,\"\",-3\n5,z,7\r\n6,\"q\",\"8\"\r\n";
        let whole = table(text, 1 << 20).unwrap();
        for chunk_size in 1..text.len() {
            assert_eq!(table(text, chunk_size).unwrap(), whole, "chunk size {chunk_size}");
        }
    }

    /// Escapes without quoting (MySQL's dumps): a line end after an escape
    /// is data, so the chunk starts guessed at line ends can be wrong and
    /// are checked; the numbers around stay numbers at every chunk size.
    #[test]
    fn escaped_line_ends_without_quoting_give_the_sequential_result() {
        let text = "id\tnote\tv\n1\ta\\\tb\t1.5\n2\tline\\\nbreak\t2\n3\t\\\\\t\n4\tx\\\r\\\n\t-3\r\n5\tend\t7\n";
        let options = |chunk_size| ParseOptions {
            chunk_size,
            dialect: DialectOptions {
                delimiter: Some(b'\t'),
                quote: Some(None),
                escape: Some(Some(b'\\')),
                ..DialectOptions::rfc4180()
            },
            bad_rows: BadRows::Error,
            ..ParseOptions::default()
        };
        let whole = parse(text.as_bytes(), options(1 << 20)).unwrap();
        let Values::Text(notes) = &whole.column("note").unwrap().values else { panic!("text") };
        assert_eq!(notes.iter().collect::<Vec<_>>(), ["a\tb", "line\nbreak", "\\", "x\r\n", "end"]);
        let Values::Float(v) = &whole.column("v").unwrap().values else { panic!("float") };
        assert_eq!(v[..2], [1.5, 2.0]);
        assert_eq!((v[3], v[4]), (-3.0, 7.0));
        assert_eq!(whole.column("v").unwrap().missing, [2]);
        for chunk_size in 1..text.len() {
            assert_eq!(parse(text.as_bytes(), options(chunk_size)).unwrap(), whole, "chunk size {chunk_size}");
        }
        // A long one, cut into chunks counted in parallel (escaped line
        // ends in some of them only).
        let mut long = String::from("n\tt\n");
        for i in 0..2000 {
            let t = if i % 97 == 0 { "two\\\nlines" } else { "plain" };
            long.push_str(&format!("{i}\t{t}\n"));
        }
        let whole = parse(long.as_bytes(), options(1 << 20)).unwrap();
        assert_eq!(whole.rows, 2000);
        for chunk_size in [64, 1000, 4096] {
            assert_eq!(parse(long.as_bytes(), options(chunk_size)).unwrap(), whole, "chunk size {chunk_size}");
        }
    }

    /// Quote-free input: chunks count their rows up front and write numbers
    /// straight into the column buffers ([`Layout`]). Every chunking must
    /// still give the sequential result: a column turning float after
    /// integers, one missing at first, one turning text late, one missing
    /// throughout, CRLF and LF ends, no final line end or blank lines at
    /// the end, and a one-column file where every blank line is a missing
    /// row.
    #[test]
    fn quote_free_chunks_written_in_place_give_the_sequential_result() {
        let mut text = String::from("a,b,c,d\n");
        for i in 0..40 {
            let a = if i == 23 { "2.5".to_string() } else { i.to_string() };
            let b = if i < 9 { String::new() } else { format!("-{i}") };
            let c = if i == 31 { "late text".to_string() } else { format!("{i}.25") };
            let end = if i % 3 == 0 { "\r\n" } else { "\n" };
            text += &format!("{a},{b},{c},{end}");
        }
        for tail in ["", "\n\n\r\n", "41,1,1.5,"] {
            let text = format!("{text}{tail}");
            let whole = table(&text, 1 << 20).unwrap();
            assert_eq!(whole.rows, 40 + (tail.starts_with('4') as usize));
            assert_eq!(whole.column("a").unwrap().column_type(), ColumnType::Float);
            assert_eq!(whole.column("b").unwrap().missing, (0..9).collect::<Vec<_>>());
            assert_eq!(whole.column("c").unwrap().column_type(), ColumnType::Text);
            for chunk_size in 1..text.len() {
                assert_eq!(table(&text, chunk_size).unwrap(), whole, "chunk size {chunk_size}, tail {tail:?}");
            }
        }
        let one = "x\n1\n\n2\n\n3\n\n\n";
        let whole = table(one, 1 << 20).unwrap();
        // One column: every blank line is a missing value, at the end too.
        assert_eq!((whole.rows, &whole.columns[0].missing), (7, &vec![1, 3, 5, 6]));
        for chunk_size in 1..one.len() {
            assert_eq!(table(one, chunk_size).unwrap(), whole, "chunk size {chunk_size}");
        }
    }

    /// The one pass over the body places every cut at a record start and
    /// counts each chunk's own line ends (quoted ones included), whatever
    /// the chunk size: checked against counting between the cuts.
    #[test]
    fn chunk_cuts_fall_on_record_starts_with_their_line_ends_counted() {
        let mut quoted = String::from("a,b\n");
        let mut plain = quoted.clone();
        for i in 0..300 {
            quoted += ["\"x\ny\",1\n", "2,\"\"\"q\"\n", "3,4\r\n", "\"\n\n\",\"\"\r\n"][i % 4];
            plain += ["5,6\n", "78,9\r\n", ",\n"][i % 3];
        }
        for (text, free) in [(quoted, false), (plain, true)] {
            let counted = |from: usize, to: usize| text.as_bytes()[from..to].iter().filter(|&&b| b == b'\n').count();
            let mut cut_somewhere = false;
            for chunk_size in 1..text.len() / 2 {
                let Chunking { cuts, quote_free, line_ends } =
                    chunk_starts(text.as_bytes(), 4, chunk_size, Syntax::default());
                let (Some(quote_free), Some(line_ends)) = (quote_free, line_ends) else { continue };
                assert_eq!(quote_free, free);
                assert_eq!((cuts[0], *cuts.last().unwrap()), (4, text.len()));
                let per_chunk: Vec<usize> = cuts.windows(2).map(|w| counted(w[0], w[1])).collect();
                assert_eq!(line_ends, per_chunk, "chunk size {chunk_size}");
                for &cut in &cuts[1..cuts.len() - 1] {
                    let quotes = text.as_bytes()[..cut].iter().filter(|&&b| b == b'"').count();
                    assert_eq!((text.as_bytes()[cut - 1], quotes % 2), (b'\n', 0), "cut {cut}, size {chunk_size}");
                    cut_somewhere = true;
                }
            }
            assert!(cut_somewhere);
        }
    }

    #[test]
    fn chunks_disagreeing_on_type_are_widened() {
        // Early rows integers, later rows floats, then text in column c.
        let mut text = String::from("a,b,c\n");
        for i in 0..200 {
            let b = if i < 100 { format!("{i}") } else { format!("{i}.5") };
            let c = if i == 150 { "word".to_string() } else { i.to_string() };
            text.push_str(&format!("{i},{b},{c}\n"));
        }
        let whole = table(&text, 1 << 20).unwrap();
        assert_eq!(whole.columns[1].column_type(), ColumnType::Float);
        assert_eq!(whole.columns[2].column_type(), ColumnType::Text);
        for chunk_size in [7, 64, 300, 1000] {
            assert_eq!(table(&text, chunk_size).unwrap(), whole, "chunk size {chunk_size}");
        }
    }

    /// Decimal commas, detected or forced, read as the numbers they write;
    /// text columns keep their text as it was; forced off, they are text.
    #[test]
    fn decimal_commas_are_numbers() {
        // Found by the fuzzer: fields over 64 bytes (trailing tabs, many
        // digits) were text with a decimal comma, so an integer-looking
        // one read as an integer in a chunk of its own but as text after
        // floats: chunked and sequential parses disagreed.
        let digits = format!("0,{}1", "0".repeat(70));
        assert_eq!(parse_float_with(digits.as_bytes(), b','), parse_float(digits.replace(',', ".").as_bytes()));
        let padded = format!("3{}", "\t".repeat(82));
        assert_eq!(parse_float_with(padded.as_bytes(), b','), Some(3.0));
        let text = format!("x\n,293\n{padded}\n-1,5{}\n", " ".repeat(70));
        let options = |chunk_size| ParseOptions {
            chunk_size,
            dialect: DialectOptions { delimiter: Some(b';'), decimal: Some(b','), ..DialectOptions::rfc4180() },
            ..ParseOptions::rfc4180()
        };
        let whole = parse(text.as_bytes(), options(1 << 20)).unwrap();
        assert_eq!(whole.columns[0].values, Values::Float(vec![0.293, 3.0, -1.5]));
        for chunk_size in 1..text.len() {
            assert_eq!(parse(text.as_bytes(), options(chunk_size)).unwrap(), whole, "chunk size {chunk_size}");
        }

        let text = b"x;y;name\n1,5;-2,25;Smith, J\n3;4,125;a,b\n";
        let columns = |options: ParseOptions| parse(text, options).unwrap().columns;
        for chunk_size in [1, 7, 1 << 20] {
            let c = columns(ParseOptions { chunk_size, ..ParseOptions::default() });
            assert_eq!(c[0].values, Values::Float(vec![1.5, 3.0]));
            assert_eq!(c[1].values, Values::Float(vec![-2.25, 4.125]));
            let Values::Text(names) = &c[2].values else { panic!("{:?}", c[2].values) };
            assert_eq!(names.iter().collect::<Vec<_>>(), ["Smith, J", "a,b"]);
        }
        let point = ParseOptions {
            dialect: DialectOptions { decimal: Some(b'.'), ..DialectOptions::default() },
            ..ParseOptions::default()
        };
        assert_eq!(columns(point)[0].column_type(), ColumnType::Text);
        assert_eq!(parse_float_with(b" -0,5 ", b','), Some(-0.5));
        assert_eq!(parse_float_with(b"1.5", b','), None);
        assert_eq!(parse_float_with(b"1,5e3", b','), Some(1500.0));
    }

    /// Worked out by hand from pandas' C parser's renaming loop (and
    /// checked against pandas itself in `tests/python/test_read_csv.py`).
    #[test]
    fn repeated_header_names_are_renamed_as_pandas_does() {
        let renamed = |names: &[&str]| {
            let mut names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            rename_repeats(&mut names);
            names
        };
        assert_eq!(renamed(&["a", "a", "a"]), ["a", "a.1", "a.2"]);
        assert_eq!(renamed(&["a", "a", "a.1"]), ["a", "a.2", "a.1"]);
        assert_eq!(renamed(&["a", "a", "a.1", "a", "b", "b", "a.2"]), ["a", "a.3", "a.1", "a.4", "b", "b.1", "a.2"]);
        assert_eq!(renamed(&["x", "y"]), ["x", "y"]);
        let t = parse(b"a,b,a\n1,2,3\n", ParseOptions::default()).unwrap();
        assert_eq!(t.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["a", "b", "a.1"]);
    }

    #[test]
    fn malformed_input_errors_name_line_and_column() {
        let check = |text: &[u8], line: u64, column: usize, needle: &str| {
            for chunk_size in (1..text.len()).chain([1 << 20]) {
                let e = table(text, chunk_size).unwrap_err();
                assert_eq!((e.line(), e.column()), (Some(line), Some(column)), "{text:?}: {e}");
                assert!(e.to_string().contains(needle), "{text:?}: {e}");
            }
        };
        check(b"a,b\n1,2\n3,4,5\n", 3, 3, "too many fields");
        check(b"a,b\n1,2\n3\n4,5\n", 3, 2, "too few fields");
        check(b"a,b\n1,2\n\n4,5\n", 3, 2, "too few fields");
        // Found by the fuzzer: a lone '\r' is data, so this is no blank tail.
        check(b"a,b\n1,2\n\n\r\r\n", 3, 2, "too few fields");
        check(b"a,b\n1,\"x\n2,3\n", 2, 2, "unterminated");
        check(b"a,b\n1,2\n3,\xff\xfe\n", 3, 2, "invalid UTF-8");
        check(b"a,a\n1,2\n", 1, 2, "duplicate column name");
        assert!(table("", 8).unwrap_err().to_string().contains("empty input"));
        assert!(table("\n\n", 8).unwrap_err().to_string().contains("empty input"));
    }

    /// Found by the fuzzer: a row set aside by `skip` (or a field dropped by
    /// `pad`) was never checked as text, so invalid UTF-8 in it failed the
    /// parse only where that column was later re-read as text: sequential
    /// and chunked parses disagreed.
    #[test]
    fn invalid_utf8_in_set_aside_rows_is_caught_at_every_chunk_size() {
        // Column `id` turns to text at `h2`, after the bad row.
        let text = b"id,h\n2,x\n\xc4\xd3<city\nh2,y\n1,2,\xff\n";
        for (policy, line, column, name) in [(BadRows::Skip, 3, 1, "id"), (BadRows::Pad, 3, 1, "id")] {
            for chunk_size in (1..text.len()).chain([1 << 20]) {
                let options = ParseOptions { chunk_size, bad_rows: policy, ..ParseOptions::rfc4180() };
                let e = parse(text, options).unwrap_err();
                assert_eq!((e.line(), e.column()), (Some(line), Some(column)), "{policy:?} {chunk_size}: {e}");
                assert!(e.invalid_utf8 && e.to_string().contains(name), "{e}");
            }
        }
        // A dropped extra field alone (under `pad`): line 5, field 3.
        let text = b"id,h\n2,x\nh2,y\n3,z\n1,2,\xff\n";
        let options = ParseOptions { chunk_size: 4, bad_rows: BadRows::Pad, ..ParseOptions::rfc4180() };
        let e = parse(text, options).unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(5), Some(3)), "{e}");
        // With the encoding detected, such a file is Windows-1252, and the
        // rejects keep every byte, converted.
        for chunk_size in [1, 5, 1 << 20] {
            let options = ParseOptions {
                chunk_size,
                bad_rows: BadRows::Skip,
                keep_rejects: true,
                dialect: DialectOptions { header: Some(true), ..DialectOptions::default() },
                ..ParseOptions::default()
            };
            let table = parse(b"id,h\n2,x\n\xe9t\xe9\nh2,y\n", options).unwrap();
            assert_eq!(table.dialect.encoding, Encoding::Windows1252);
            let raw: Vec<&str> = table.damage.rejects.iter().map(|r| r.raw.as_str()).collect();
            assert_eq!(raw, ["\u{e9}t\u{e9}"], "chunk size {chunk_size}");
            assert_eq!(table.rows, 2);
        }
    }

    /// Found by the fuzzer: a trailing blank line after a text row left a
    /// placeholder behind in column 0 (and took an offset from column 1).
    #[test]
    fn trailing_blank_lines_leave_every_column_row_aligned() {
        let cases = [
            ("x,y\na,b\n\n", 1),
            ("x,y\n1,2\n\r\n\n", 1),
            ("x,y\n1.5,2\n\n", 1),
            ("x,y\n,\n\n", 1),
            ("x,y\n1,2\n\r", 1),
            // Column x turns text after a number: re-read, blank tail left out.
            ("x,y\n1,2\nb,3\n\r", 2),
        ];
        for (text, rows) in cases {
            for chunk_size in (1..text.len()).chain([1 << 20]) {
                let options = ParseOptions { chunk_size, keep_offsets: true, ..ParseOptions::rfc4180() };
                let t = parse(text.as_bytes(), options).unwrap();
                assert_eq!(t.rows, rows, "{text:?}");
                for c in &t.columns {
                    assert_eq!(c.values.len(), rows, "{text:?} column {}", c.name);
                    assert!((0..rows).all(|r| c.offset(r).is_some()), "{text:?} column {}", c.name);
                    assert!(c.missing.iter().all(|&m| m < rows), "{text:?} column {}", c.name);
                }
                assert_eq!(
                    t,
                    parse(
                        text.as_bytes(),
                        ParseOptions { chunk_size: 1 << 20, keep_offsets: true, ..ParseOptions::rfc4180() }
                    )
                    .unwrap()
                );
            }
        }
    }

    #[test]
    fn bom_header_only_final_newline_and_trailing_blank_lines() {
        let t = table("\u{feff}x,y\n", 8).unwrap();
        assert_eq!((t.rows, t.columns[0].name.as_str()), (0, "x"));
        let t = table("x,y\n1,2", 8).unwrap();
        assert_eq!(t.rows, 1);
        let t = table("x,y\r\n1,2\r\n\r\n\n", 8).unwrap();
        assert_eq!(t.rows, 1);
        assert_eq!(t.columns[1].values, Values::Integer(vec![2]));
    }

    /// The header is read by the general reader whatever the body holds:
    /// quoted names with a separator, an escaped quote and a line end in
    /// them, over a body with no quote at all, in one chunk and in
    /// several (which take the quote-free loop either way).
    #[test]
    fn quoted_header_names_over_a_quote_free_body() {
        let mut text = String::from("plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
        let rows = 300;
        for r in 0..rows {
            text.push_str(&format!("{},{r},{}.5,-{}\n", r % 7, r * 2, r + 1));
        }
        for chunk_size in [64, 1 << 20] {
            let t = table(&text, chunk_size).unwrap();
            let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names, ["plain", "a,b", "say \"hi\"", "two\nlines"], "chunks of {chunk_size}");
            assert_eq!(t.rows, rows);
            let ints = |f: fn(i64) -> i64| Values::Integer((0..rows as i64).map(f).collect());
            assert_eq!(t.columns[0].values, ints(|r| r % 7));
            assert_eq!(t.columns[1].values, ints(|r| r));
            assert_eq!(t.columns[2].values, Values::Float((0..rows).map(|r| (r * 2) as f64 + 0.5).collect()));
            assert_eq!(t.columns[3].values, ints(|r| -r - 1));
        }
    }
}
