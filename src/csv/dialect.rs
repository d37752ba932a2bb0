//! Dialect detection: which delimiter, quote, escape, line end, header,
//! lines before the table and text encoding a CSV file was written with,
//! found from samples of it, as DuckDB's sniffer, Python's `csv.Sniffer`
//! and CleverCSV find them.
//!
//! Every choice can be forced ([`DialectOptions`]); the rest is detected
//! from the first 64 KiB (and, for the encoding, three more samples further
//! in):
//! - **line end**: `\n` if there is one (a `\r` before it is dropped), else
//!   `\r`;
//! - **delimiter, quote and escape** together: each candidate (`,` `;` tab
//!   `|` space; `"` `'` or none; doubled or `\`) that occurs in the sample
//!   splits its first records, and the one with the best CleverCSV score
//!   wins: a *pattern* score (rows of one width, the wider the better) times
//!   a *type* score (the share of cells that look like values: empty, a
//!   number, a decimal-comma number, or text with no other candidate
//!   delimiter in it). Ties go to the earlier candidate, so a file with no
//!   delimiter at all is one column of `,`-separated text;
//! - **lines before the table** (a title, notes): leading records much
//!   narrower than the table (one field, or at most half its width),
//!   followed by at least two rows of the table's width;
//! - **header**: as `csv.Sniffer` votes: a column whose values are numbers
//!   votes for a header when the first row's cell is not a number and
//!   against when it is; no votes (all text) means a header;
//! - **encoding**: UTF-8 (a byte-order mark noted), UTF-16 by its
//!   byte-order mark (converted before anything else is detected), else
//!   Windows-1252, converted to UTF-8. Samples can miss a stray byte: the parse itself
//!   falls back to Windows-1252 when it meets invalid UTF-8 and the
//!   encoding was not forced.

use serde_json::{Value, json};

use super::split::{Records, Syntax};
use super::table::{parse_float, parse_float_with};

/// How the file's text is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Utf8,
    /// UTF-8 after a byte-order mark (which is not data).
    Utf8Bom,
    /// Windows-1252 (what "ANSI" and most "Latin-1" files really are).
    Windows1252,
    /// ISO-8859-1 proper: every byte the code point of its value.
    Latin1,
    /// UTF-16, little-endian: what Excel's "Unicode text" writes (after a
    /// byte-order mark, by which it is detected).
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "utf-8",
            Encoding::Utf8Bom => "utf-8 (with BOM)",
            Encoding::Windows1252 => "windows-1252",
            Encoding::Latin1 => "latin-1",
            Encoding::Utf16Le => "utf-16le",
            Encoding::Utf16Be => "utf-16be",
        }
    }

    /// Whether the bytes are converted to UTF-8 before parsing.
    pub fn converts(self) -> bool {
        !matches!(self, Encoding::Utf8 | Encoding::Utf8Bom)
    }

    /// The UTF-16 encoding `data`'s byte-order mark names, if any.
    pub fn utf16_bom(data: &[u8]) -> Option<Encoding> {
        match data {
            [0xFF, 0xFE, ..] => Some(Encoding::Utf16Le),
            [0xFE, 0xFF, ..] => Some(Encoding::Utf16Be),
            _ => None,
        }
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(Encoding::Utf8),
            "utf-8-sig" | "utf-8-bom" => Ok(Encoding::Utf8Bom),
            "windows-1252" | "cp1252" | "ansi" => Ok(Encoding::Windows1252),
            "latin-1" | "latin1" | "iso-8859-1" => Ok(Encoding::Latin1),
            "utf-16le" | "utf-16" => Ok(Encoding::Utf16Le),
            "utf-16be" => Ok(Encoding::Utf16Be),
            _ => Err(format!("unknown encoding '{s}': expected utf-8, windows-1252, latin-1, utf-16le or utf-16be")),
        }
    }
}

/// How records end, as reported (the splitter reads LF and CRLF alike).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineEnd {
    Lf,
    CrLf,
    Cr,
}

impl std::str::FromStr for LineEnd {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "lf" => Ok(LineEnd::Lf),
            "crlf" => Ok(LineEnd::CrLf),
            "cr" => Ok(LineEnd::Cr),
            _ => Err(format!("unknown line end '{s}': expected lf, crlf or cr")),
        }
    }
}

impl LineEnd {
    pub fn name(self) -> &'static str {
        match self {
            LineEnd::Lf => "LF",
            LineEnd::CrLf => "CRLF",
            LineEnd::Cr => "CR",
        }
    }
}

/// What the user forced; `None` is detected.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DialectOptions {
    pub delimiter: Option<u8>,
    /// `Some(None)`: no quoting.
    pub quote: Option<Option<u8>>,
    /// `Some(None)`: quotes doubled; `Some(Some(b'\\'))`: backslash.
    pub escape: Option<Option<u8>>,
    pub header: Option<bool>,
    /// Lines before the header (or the first row).
    pub skip_lines: Option<usize>,
    pub encoding: Option<Encoding>,
    /// `LF` and `CRLF` read alike; `CR` alone is another dialect.
    pub line_end: Option<LineEnd>,
    /// The decimal mark of numbers: `.`, or `,` (`1,5`).
    pub decimal: Option<u8>,
}

impl DialectOptions {
    /// RFC 4180 exactly, UTF-8, a header, nothing detected.
    pub fn rfc4180() -> Self {
        Self {
            delimiter: Some(b','),
            quote: Some(Some(b'"')),
            escape: Some(None),
            header: Some(true),
            skip_lines: Some(0),
            encoding: Some(Encoding::Utf8),
            line_end: Some(LineEnd::Lf),
            decimal: Some(b'.'),
        }
    }

    /// The names of the choices that were forced.
    pub fn forced(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        for (set, name) in [
            (self.delimiter.is_some(), "delimiter"),
            (self.quote.is_some(), "quote"),
            (self.escape.is_some(), "escape"),
            (self.header.is_some(), "header"),
            (self.skip_lines.is_some(), "skip_lines"),
            (self.encoding.is_some(), "encoding"),
            (self.line_end.is_some(), "line_end"),
            (self.decimal.is_some(), "decimal"),
        ] {
            if set {
                out.push(name);
            }
        }
        out
    }

    /// Checks that the bytes can shape records unambiguously.
    pub fn validate(&self) -> Result<(), String> {
        let mut used: Vec<(u8, &str)> = Vec::new();
        if let Some(d) = self.delimiter {
            used.push((d, "delimiter"));
        }
        if let Some(Some(q)) = self.quote {
            used.push((q, "quote"));
        }
        if let Some(Some(e)) = self.escape {
            used.push((e, "escape"));
        }
        if let Some(d) = self.decimal {
            used.push((d, "decimal mark"));
        }
        for (b, name) in &used {
            if matches!(b, b'\n' | b'\r') || !b.is_ascii() {
                return Err(format!("the {name} must be one ASCII character other than a line end"));
            }
        }
        for (i, (a, first)) in used.iter().enumerate() {
            if let Some((_, second)) = used[i + 1..].iter().find(|(b, _)| b == a) {
                return Err(format!("the {first} and the {second} are the same character '{}'", *a as char));
            }
        }
        Ok(())
    }
}

fn one_ascii(s: &str, what: &str) -> Result<u8, String> {
    match s.as_bytes() {
        [b] if b.is_ascii() && !matches!(b, b'\n' | b'\r') => Ok(*b),
        _ => Err(format!("expected one ASCII character as the {what}, got '{s}'")),
    }
}

/// A delimiter as a user writes it: one character, or `tab`, `space`,
/// `comma`, `semicolon`, `pipe`.
pub fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" => Ok(b'\t'),
        "space" => Ok(b' '),
        "comma" => Ok(b','),
        "semicolon" => Ok(b';'),
        "pipe" => Ok(b'|'),
        _ => one_ascii(s, "delimiter"),
    }
}

/// A decimal mark: `.` (`point`) or `,` (`comma`).
pub fn parse_decimal(s: &str) -> Result<u8, String> {
    match s {
        "." | "point" => Ok(b'.'),
        "," | "comma" => Ok(b','),
        _ => Err(format!("expected . or , as the decimal mark, got '{s}'")),
    }
}

/// A quote: one character, or `none` (`None`).
pub fn parse_quote(s: &str) -> Result<Option<u8>, String> {
    match s {
        "none" => Ok(None),
        _ => one_ascii(s, "quote").map(Some),
    }
}

/// An escape: `double` (`None`: quotes doubled), `backslash`, or one
/// character.
pub fn parse_escape(s: &str) -> Result<Option<u8>, String> {
    match s {
        "double" => Ok(None),
        "backslash" => Ok(Some(b'\\')),
        _ => one_ascii(s, "escape").map(Some),
    }
}

/// A file's dialect, detected or forced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    pub syntax: Syntax,
    pub line_end: LineEnd,
    pub header: bool,
    /// Lines skipped before the header (or the first row).
    pub skip_lines: usize,
    pub encoding: Encoding,
    /// The numbers' decimal mark: `.`, or `,` where a file separated by
    /// something else writes its numbers `1,5`.
    pub decimal: u8,
    /// What was forced rather than detected.
    pub forced: DialectOptions,
}

impl Default for Dialect {
    fn default() -> Self {
        Self {
            syntax: Syntax::default(),
            line_end: LineEnd::Lf,
            header: true,
            skip_lines: 0,
            encoding: Encoding::Utf8,
            decimal: b'.',
            forced: DialectOptions::default(),
        }
    }
}

/// A byte as the report prints it.
pub fn byte_name(b: u8) -> String {
    match b {
        b'\t' => "tab".into(),
        b' ' => "space".into(),
        _ => (b as char).to_string(),
    }
}

impl Dialect {
    pub fn to_json(&self) -> Value {
        json!({
            "delimiter": (self.syntax.delimiter as char).to_string(),
            "quote": self.syntax.quote.map(|q| (q as char).to_string()),
            "escape": self.syntax.escape.map_or("double".to_string(), |e| (e as char).to_string()),
            "line_end": self.line_end.name(),
            "header": self.header,
            "skipped_lines": self.skip_lines,
            "encoding": self.encoding.name(),
            "decimal": (self.decimal as char).to_string(),
            "forced": self.forced.forced(),
        })
    }

    /// One line: `delimiter ';', quote '"' (doubled), CRLF, header, utf-8`.
    pub fn summary(&self) -> String {
        let s = &self.syntax;
        let quote = match (s.quote, s.escape) {
            (None, None) => "no quoting".to_string(),
            (None, Some(e)) => format!("no quoting, escaped by {}", e as char),
            (Some(q), None) => format!("quote {} (doubled inside)", q as char),
            (Some(q), Some(e)) => format!("quote {} (escaped by {})", q as char, e as char),
        };
        let mut line = format!(
            "delimiter '{}', {quote}, {} line ends, {}, {}",
            byte_name(s.delimiter),
            self.line_end.name(),
            if self.header { "header row" } else { "no header (columns named column_1, ...)" },
            self.encoding.name()
        );
        if self.decimal != b'.' {
            line.push_str(&format!(", decimal mark '{}'", self.decimal as char));
        }
        if self.skip_lines > 0 {
            line.push_str(&format!(", {} line(s) before the table skipped", self.skip_lines));
        }
        let forced = self.forced.forced();
        if !forced.is_empty() {
            line.push_str(&format!(" (forced: {})", forced.join(", ")));
        }
        line
    }
}

const SAMPLE: usize = 64 << 10;
const FURTHER: usize = 16 << 10;
/// Records each candidate reads from the sample.
const RECORDS: usize = 200;
const DELIMITERS: [u8; 5] = [b',', b';', b'\t', b'|', b' '];

/// `len` bytes at `at` of `data`, started after the first line end there
/// (so the sample does not begin inside a character... or a line).
fn sample_at(data: &[u8], at: usize, len: usize) -> &[u8] {
    let end = (at + len).min(data.len());
    let s = &data[at..end];
    match memchr::memchr(b'\n', s) {
        Some(p) if at > 0 => &s[p + 1..],
        _ => s,
    }
}

/// Whether `sample` is UTF-8, but for a character cut by the sample's end.
fn looks_utf8(sample: &[u8]) -> bool {
    match std::str::from_utf8(sample) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// The encoding of `data` (the BOM already taken off: `bom` says if
/// there was one), from its start and three samples further in.
fn detect_encoding(data: &[u8], bom: bool) -> Encoding {
    if bom {
        return Encoding::Utf8Bom;
    }
    let n = data.len();
    let mut samples = vec![&data[..n.min(SAMPLE)]];
    if n > SAMPLE {
        samples.extend([n / 4, n / 2, 3 * n / 4].map(|at| sample_at(data, at, FURTHER)));
    }
    if samples.iter().all(|s| looks_utf8(s)) { Encoding::Utf8 } else { Encoding::Windows1252 }
}

/// The fields of the first records of `sample` with `syntax` (as many as
/// read before an error, such as a quoted field the sample cuts).
fn records_of(sample: &[u8], syntax: Syntax, limit: usize) -> Vec<Vec<Vec<u8>>> {
    let mut records = Records::with_quotes_known(sample, 0, sample.len(), syntax, Some(false));
    let mut out = Vec::new();
    while out.len() < limit {
        let mut row = Vec::new();
        match records.read_record(|_, f| {
            row.push(f.to_vec());
            Ok(())
        }) {
            Ok(Some(_)) => out.push(row),
            _ => break,
        }
    }
    out
}

/// Whether a cell looks like a value of some type (CleverCSV's type score).
fn typed(cell: &[u8], delimiter: u8) -> bool {
    let t = cell.trim_ascii();
    if t.is_empty() || parse_float(t).is_some() {
        return true;
    }
    // A decimal comma: `-12,5`.
    if let Some(p) = t.iter().position(|&b| b == b',') {
        let (a, b) = (&t[..p], &t[p + 1..]);
        let a = a.strip_prefix(b"-").unwrap_or(a);
        if !a.is_empty() && !b.is_empty() && a.iter().chain(b).all(u8::is_ascii_digit) {
            return true;
        }
    }
    // Text, unless it holds another candidate delimiter (spaces aside:
    // text is full of them) or a quote.
    !t.iter().any(|&b| b != delimiter && matches!(b, b',' | b';' | b'\t' | b'|' | b'"' | b'\''))
}

/// CleverCSV's data consistency score of the first records of `sample`
/// split with `syntax`: pattern × type. Counted as the records are read,
/// with nothing allocated per field (up to 30 candidates are scored).
fn score(sample: &[u8], syntax: Syntax) -> f64 {
    let mut records = Records::with_quotes_known(sample, 0, sample.len(), syntax, Some(false));
    let mut widths: Vec<(usize, usize)> = Vec::new();
    let (mut cells, mut typed_cells) = (0usize, 0usize);
    for _ in 0..RECORDS {
        let mut typed_here = 0;
        let Ok(Some(width)) = records.read_record(|_, f| {
            typed_here += typed(f, syntax.delimiter) as usize;
            Ok(())
        }) else {
            break;
        };
        cells += width;
        typed_cells += typed_here;
        match widths.iter_mut().find(|(w, _)| *w == width) {
            Some((_, n)) => *n += 1,
            None => widths.push((width, 1)),
        }
    }
    if widths.is_empty() {
        return 0.0;
    }
    let pattern =
        widths.iter().map(|&(w, n)| n as f64 * (w as f64 - 1.0) / w as f64).sum::<f64>() / widths.len() as f64;
    pattern * (typed_cells as f64 / cells.max(1) as f64).max(1e-3)
}

/// The most common width among `rows`.
fn modal_width(rows: &[Vec<Vec<u8>>]) -> usize {
    let mut widths: Vec<(usize, usize)> = Vec::new();
    for row in rows {
        match widths.iter_mut().find(|(w, _)| *w == row.len()) {
            Some((_, n)) => *n += 1,
            None => widths.push((row.len(), 1)),
        }
    }
    // Most rows; among equals, the wider.
    widths.iter().max_by_key(|&&(w, n)| (n, w)).map_or(1, |&(w, _)| w)
}

/// How many leading records are a preamble (title, notes) before the table.
fn preamble(rows: &[Vec<Vec<u8>>]) -> usize {
    let w = modal_width(rows);
    if w < 2 {
        return 0;
    }
    let skip = rows.iter().take_while(|r| r.len() < w && (r.len() == 1 || 2 * r.len() <= w)).count();
    let table_rows = rows[skip..].iter().take(3).filter(|r| r.len() == w).count();
    if skip > 0 && skip < rows.len() && table_rows >= 2.min(rows.len() - skip) && rows[skip].len() == w {
        skip
    } else {
        0
    }
}

/// The decimal mark of `rows`' numbers: `,` where the fields are not
/// separated by commas, some fields are numbers written `-12,5`, and none
/// is written with a point (a spreadsheet saving `;`-separated files in a
/// locale whose decimal mark is the comma); else `.`. A field such as
/// `1,234` could also be a thousand written with a separator, so it
/// counts only beside one that cannot (`2,5`, `0,125`, `1234,5`): a file
/// of such fields alone keeps them as text, never as wrong numbers.
fn decimal_mark(rows: &[Vec<Vec<u8>>], delimiter: u8) -> u8 {
    if delimiter == b',' {
        return b'.';
    }
    let (mut comma, mut point) = (0, 0);
    for cell in rows.iter().flatten() {
        let t = cell.trim_ascii();
        let t = t.strip_prefix(b"-").or_else(|| t.strip_prefix(b"+")).unwrap_or(t);
        let (whole, fraction) = match t.iter().position(|&b| b == b',' || b == b'.') {
            Some(p) => (&t[..p], &t[p + 1..]),
            None => continue,
        };
        if whole.iter().chain(fraction).all(u8::is_ascii_digit) && !fraction.is_empty() {
            if t[whole.len()] == b',' {
                let grouped = fraction.len() == 3 && (1..=3).contains(&whole.len()) && whole[0] != b'0';
                comma += !grouped as usize;
            } else {
                point += 1;
            }
        }
    }
    if comma > 0 && point == 0 { b',' } else { b'.' }
}

/// Whether the first of `rows` is a header, by `csv.Sniffer`'s vote.
fn has_header(rows: &[Vec<Vec<u8>>], decimal: u8) -> bool {
    let parse_float = |c: &[u8]| parse_float_with(c, decimal);
    let Some((first, body)) = rows.split_first() else { return true };
    if body.is_empty() {
        // A lone row: a header if it is not all numbers.
        return !first.iter().all(|c| !c.trim_ascii().is_empty() && parse_float(c).is_some());
    }
    let mut votes = 0i64;
    for (j, cell) in first.iter().enumerate() {
        let values: Vec<&Vec<u8>> =
            body.iter().filter_map(|r| r.get(j)).filter(|c| !c.trim_ascii().is_empty()).collect();
        if values.is_empty() || !values.iter().all(|c| parse_float(c).is_some()) {
            continue;
        }
        if cell.trim_ascii().is_empty() {
            continue;
        }
        votes += if parse_float(cell).is_some() { -1 } else { 1 };
    }
    votes >= 0
}

/// The dialect of `data` (after any BOM, which `bom` reports), with what
/// `options` forces.
pub fn sniff(data: &[u8], bom: bool, options: &DialectOptions) -> Dialect {
    let encoding = options.encoding.unwrap_or_else(|| detect_encoding(data, bom));
    let head = &data[..data.len().min(SAMPLE)];
    // `\r` alone ends lines if it is more common than `\n` (which may
    // then be data in quoted fields), and the other way round.
    let lf = memchr::memchr_iter(b'\n', head).count();
    let crlf = memchr::memmem::find_iter(head, b"\r\n").count();
    let lone_cr = memchr::memchr_iter(b'\r', head).count() - crlf;
    let line_end = options.line_end.unwrap_or(if lone_cr > lf {
        LineEnd::Cr
    } else if crlf > 0 && crlf * 2 >= lf {
        LineEnd::CrLf
    } else {
        LineEnd::Lf
    });
    let newline = if line_end == LineEnd::Cr { b'\r' } else { b'\n' };
    // Whole lines only, where the sample stops short of the input's end.
    let sample =
        if head.len() < data.len() { memchr::memrchr(newline, head).map_or(head, |p| &head[..=p]) } else { head };
    let present = |b: u8| memchr::memchr(b, sample).is_some();
    let delimiters: Vec<u8> = match options.delimiter {
        Some(d) => vec![d],
        None => {
            let found: Vec<u8> = DELIMITERS.into_iter().filter(|&d| present(d) && Some(d) != options.decimal).collect();
            if found.is_empty() { vec![b','] } else { found }
        }
    };
    // A backslash before a quote, or before a delimiter or line end (as
    // MySQL writes a file without quoting), makes it a candidate escape.
    let backslash_before =
        |bytes: &[u8]| memchr::memchr_iter(b'\\', sample).any(|p| sample.get(p + 1).is_some_and(|b| bytes.contains(b)));
    let escaped_separator = options.escape.is_none() && backslash_before(b",;\t| \n\r");
    let quotes: Vec<Option<u8>> = match options.quote {
        Some(q) => vec![q],
        None => {
            let mut q = vec![Some(b'"')];
            if present(b'\'') {
                q.push(Some(b'\''));
            }
            if present(b'"') || escaped_separator {
                q.push(None);
            }
            q
        }
    };
    let escapes: Vec<Option<u8>> = match options.escape {
        Some(e) => vec![e],
        None if escaped_separator || backslash_before(b"\"'") => vec![None, Some(b'\\')],
        None => vec![None],
    };
    let mut best: Option<(f64, Syntax)> = None;
    for &delimiter in &delimiters {
        for &quote in &quotes {
            if quote == Some(delimiter) {
                continue;
            }
            for &escape in &escapes {
                if escape == Some(delimiter) {
                    continue;
                }
                let syntax = Syntax { delimiter, quote, escape, newline };
                let s = score(sample, syntax);
                if best.is_none_or(|(b, _)| s > b + 1e-9) {
                    best = Some((s, syntax));
                }
            }
        }
    }
    let syntax = best.map_or(Syntax { newline, ..Syntax::default() }, |(_, s)| s);
    let rows = records_of(sample, syntax, RECORDS);
    let skip_records = match options.skip_lines {
        Some(_) => 0,
        None => preamble(&rows),
    };
    // The preamble's records as lines (they hold no line ends of their own
    // but in quotes, which a preamble line does not have).
    let skip_lines = options.skip_lines.unwrap_or(skip_records);
    let after_forced_lines;
    let table_rows: &[Vec<Vec<u8>>] = if options.skip_lines.is_some() {
        // Read again from past the forced lines.
        let start = nth_line_start(sample, newline, skip_lines);
        after_forced_lines = records_of(&sample[start..], syntax, RECORDS);
        &after_forced_lines
    } else {
        &rows[skip_records.min(rows.len())..]
    };
    let decimal = options.decimal.unwrap_or_else(|| decimal_mark(table_rows, syntax.delimiter));
    let header = options.header.unwrap_or_else(|| has_header(table_rows, decimal));
    Dialect { syntax, line_end, header, skip_lines, encoding, decimal, forced: *options }
}

/// Where line `n` (0-based) of `data` starts (the end if it has fewer).
pub fn nth_line_start(data: &[u8], newline: u8, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    memchr::memchr_iter(newline, data).nth(n - 1).map_or(data.len(), |p| p + 1)
}

/// Windows-1252's characters for bytes 0x80–0x9F (the five it leaves
/// undefined map to the C1 controls of the same value, as web browsers
/// decode them).
const CP1252_HIGH: [char; 32] = [
    '\u{20AC}', '\u{0081}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}', '\u{02C6}',
    '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{008D}', '\u{017D}', '\u{008F}', '\u{0090}', '\u{2018}',
    '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}',
    '\u{203A}', '\u{0153}', '\u{009D}', '\u{017E}', '\u{0178}',
];

/// `bytes` in `encoding` (Windows-1252, Latin-1 or UTF-16, a byte-order
/// mark dropped) as UTF-8. ASCII runs are copied whole; an unpaired UTF-16
/// surrogate or a lone last byte becomes U+FFFD (never an invalid `str`).
pub fn to_utf8(bytes: &[u8], encoding: Encoding) -> Vec<u8> {
    if let Encoding::Utf16Le | Encoding::Utf16Be = encoding {
        let bytes = if Encoding::utf16_bom(bytes) == Some(encoding) { &bytes[2..] } else { bytes };
        let units = bytes.chunks(2).map(|p| match (p, encoding) {
            ([a, b], Encoding::Utf16Le) => u16::from_le_bytes([*a, *b]),
            ([a, b], _) => u16::from_be_bytes([*a, *b]),
            _ => 0xFFFD,
        });
        let text: String = char::decode_utf16(units).map(|c| c.unwrap_or('\u{FFFD}')).collect();
        return text.into_bytes();
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 8);
    let mut rest = bytes;
    while !rest.is_empty() {
        let ascii = rest.iter().position(|b| !b.is_ascii()).unwrap_or(rest.len());
        out.extend_from_slice(&rest[..ascii]);
        rest = &rest[ascii..];
        if let Some((&b, tail)) = rest.split_first() {
            let c = match (encoding, b) {
                (Encoding::Windows1252, 0x80..=0x9F) => CP1252_HIGH[(b - 0x80) as usize],
                _ => char::from(b),
            };
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = tail;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(text: &str) -> Dialect {
        sniff(text.as_bytes(), false, &DialectOptions::default())
    }

    #[test]
    fn delimiters_quotes_and_line_ends() {
        let d = sniffed("a;b;c\n1,5;2;x\n3,25;4;y\n");
        assert_eq!((d.syntax.delimiter, d.line_end, d.header), (b';', LineEnd::Lf, true));
        let d = sniffed("a\tb\r\n1\t2\r\n3\t4\r\n");
        assert_eq!((d.syntax.delimiter, d.line_end), (b'\t', LineEnd::CrLf));
        let d = sniffed("a|b\r1|2\r3|4\r");
        assert_eq!((d.syntax.delimiter, d.syntax.newline, d.line_end), (b'|', b'\r', LineEnd::Cr));
        let d = sniffed("x y z\n1 2 3\n4 5 6\n");
        assert_eq!((d.syntax.delimiter, d.header), (b' ', true));
        let d = sniffed("name,city\nBob,New York\nAl,\"Paris, TX\"\n");
        assert_eq!((d.syntax.delimiter, d.syntax.quote), (b',', Some(b'"')));
        let d = sniffed("name,note\n'Bob, Jr','hi'\n'Al','x, y'\n");
        assert_eq!((d.syntax.delimiter, d.syntax.quote), (b',', Some(b'\'')));
        let d = sniffed("a,b\n\"x \\\"q\\\", y\",1\n\"z\",2\n");
        assert_eq!(d.syntax.escape, Some(b'\\'));
    }

    /// MySQL's `SELECT ... INTO OUTFILE`: tabs, no quoting, a backslash
    /// before each tab, line end or backslash in the data.
    #[test]
    fn escapes_without_quoting() {
        let d = sniffed("id\tnote\n1\tsay \"hi\"\n2\ta\\\tb\n3\tline\\\nbreak\n4\tx\n");
        assert_eq!((d.syntax.delimiter, d.syntax.quote, d.syntax.escape), (b'\t', None, Some(b'\\')));
        assert!(d.summary().contains("no quoting, escaped by \\"), "{}", d.summary());
        // Backslashes that escape nothing (a path) change nothing.
        let d = sniffed("id,path\n1,C:\\dir\\a.txt\n2,C:\\b.txt\n");
        assert_eq!((d.syntax.quote, d.syntax.escape), (Some(b'"'), None));
        // Nor do those that would merge rows the header says are apart.
        let d = sniffed("id,path\n1,C:\\dir\\\n2,C:\\x\\\n3,D:\\\n");
        assert_eq!((d.syntax.quote, d.syntax.escape), (Some(b'"'), None));
        // Forced with no quoting, the escape is kept.
        let forced = DialectOptions { quote: Some(None), escape: Some(Some(b'\\')), ..DialectOptions::default() };
        let d = sniff(b"a,b\n1\\,5,2\n", false, &forced);
        assert_eq!((d.syntax.quote, d.syntax.escape), (None, Some(b'\\')));
    }

    /// `,` as the decimal mark where it cannot be the delimiter and the
    /// numbers are written so; never beside numbers with a point.
    #[test]
    fn decimal_marks() {
        assert_eq!(sniffed("a;b;c\n1,5;2;x\n3,25;4;y\n").decimal, b',');
        assert_eq!(sniffed("a\tb\n-0,5\t2\n").decimal, b',');
        assert_eq!(sniffed("a;b\n1,5;2.5\n").decimal, b'.');
        assert_eq!(sniffed("a;b\n1;2\n").decimal, b'.');
        assert_eq!(sniffed("a,b\n\"1,5\",2\n").decimal, b'.');
        assert_eq!(sniffed("name;x\nSmith, John;2\n").decimal, b'.');
        // A thousand with a separator, or a decimal comma? Only beside a
        // field that cannot be the former.
        assert_eq!(sniffed("a\tb\n1,234\t2\n12,500\t3\n").decimal, b'.');
        assert_eq!(sniffed("a;b\n1,234;2,5\n").decimal, b',');
        assert_eq!(sniffed("a;b\n0,125;1\n").decimal, b',');
        // Forced: `,` then cannot be the delimiter.
        let forced = DialectOptions { decimal: Some(b','), ..DialectOptions::default() };
        let d = sniff(b"a;b\n1,5;2\n", false, &forced);
        assert_eq!((d.syntax.delimiter, d.decimal), (b';', b','));
        // A header above numbers with decimal commas is still found.
        assert!(sniffed("x;y\n1,5;2,5\n3,5;4,5\n").header);
        assert!(!sniffed("1,5;2,5\n3,5;4,5\n").header);
    }

    #[test]
    fn headers_and_preambles() {
        assert!(!sniffed("1,2,3\n4,5,6\n").header);
        assert!(!sniffed("alice,3\nbob,5\n").header);
        assert!(sniffed("name,age\nbob,5\n").header);
        assert!(sniffed("a,b\nx,y\n").header);
        let d = sniffed("Sensor export\nsite: north, 2024\n\nt,x,y,z\n1,2,3,4\n5,6,7,8\n");
        assert_eq!((d.skip_lines, d.header), (3, true));
        // A header narrower than ragged rows is not a preamble.
        assert_eq!(sniffed("a,b,c\n1,2,3,\n4,5,6,\n").skip_lines, 0);
    }

    #[test]
    fn windows_1252_is_converted() {
        let bytes = b"caf\xe9,\x80 5,\x93q\x94\n";
        assert_eq!(detect_encoding(bytes, false), Encoding::Windows1252);
        assert_eq!(String::from_utf8(to_utf8(bytes, Encoding::Windows1252)).unwrap(), "café,€ 5,“q”\n");
        assert_eq!(String::from_utf8(to_utf8(b"\x80\xff", Encoding::Latin1)).unwrap(), "\u{80}ÿ");
        assert_eq!(detect_encoding("café".as_bytes(), false), Encoding::Utf8);
        let utf16: Vec<u8> = [0xFEFFu16]
            .iter()
            .chain(&"a\tb\n1\t€\n".encode_utf16().collect::<Vec<_>>())
            .flat_map(|u| u.to_le_bytes())
            .collect();
        assert_eq!(Encoding::utf16_bom(&utf16), Some(Encoding::Utf16Le));
        assert_eq!(String::from_utf8(to_utf8(&utf16, Encoding::Utf16Le)).unwrap(), "a\tb\n1\t€\n");
        assert_eq!(String::from_utf8(to_utf8(&[0x00, 0xD8, 0x41], Encoding::Utf16Le)).unwrap(), "\u{FFFD}\u{FFFD}");
    }
}
