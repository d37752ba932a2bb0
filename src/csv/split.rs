//! The splitting core: records and fields of delimited text, over bytes.
//!
//! It knows nothing of files, threads or types. A [`Records`] reader walks
//! one slice of the input with a single `memchr3` iterator over the only
//! bytes that matter (the delimiter, the line end and the quote, or
//! without quoting the escape), so text between them is skipped at SIMD
//! speed, and hands each field to a callback as a byte slice: borrowed
//! from the input, or, for a field with escapes, from a scratch buffer
//! reused for the whole input.
//!
//! The bytes come from a [`Syntax`] (RFC 4180's by default: `,` `"` and
//! `\n`). Its rules are those of the `csv` crate and of Python's `csv`
//! module, which read what spreadsheets and databases write:
//! - fields end at the delimiter, records at the line end (`\n`, where a
//!   `\r` before it is dropped, or a lone `\r`); the last record may lack
//!   its line end;
//! - a field is quoted only if its first byte is the quote; inside, a
//!   doubled quote (or, with an escape byte, the escape and the next byte)
//!   is data, and delimiters and line ends are data;
//! - lenient where RFC 4180 is silent: a quote inside an unquoted field is
//!   part of the field (`37°36'37.8"N`), and text after a closing quote up
//!   to the next delimiter is appended to the field (`"a"b` is `ab`);
//! - without quoting, an escape byte makes the next one data, a delimiter
//!   or line end included (`a\,b` is `a,b`), as MySQL's `SELECT ... INTO
//!   OUTFILE` writes and Python reads with `quoting=QUOTE_NONE`. With
//!   quoting, escapes work inside quotes only (the `csv` crate's and
//!   DuckDB's rule), so a Windows path in an unquoted field keeps its
//!   backslashes.
//!
//! Being lenient means a record start can no longer be told from quote
//! parity alone: the parallel parser guesses and checks (see
//! [`super::table`]). An unterminated quoted field stays an error: it
//! swallows the rest of the input and is nearly always a cut-off file.

use memchr::Memchr3;

use super::error::CsvError;

/// The bytes that shape records, as the splitter needs them (the detected
/// or forced [`super::dialect::Dialect`] boils down to this).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Syntax {
    /// Between fields.
    pub delimiter: u8,
    /// Around a field that holds delimiters, line ends or quotes; `None`:
    /// no quoting, every byte but the delimiter and line end is data.
    pub quote: Option<u8>,
    /// Inside quotes, makes the next byte data (`\"`); `None`: a quote is
    /// written twice (`""`), as RFC 4180 has it. Without quoting, it works
    /// in every field (`a\,b`).
    pub escape: Option<u8>,
    /// `b'\n'` (a `\r` before it is dropped, so CRLF too) or `b'\r'`.
    pub newline: u8,
}

impl Default for Syntax {
    fn default() -> Self {
        Self { delimiter: b',', quote: Some(b'"'), escape: None, newline: b'\n' }
    }
}

impl Syntax {
    /// The byte that makes a field more than the text between delimiters:
    /// the quote, or, in a dialect without quoting, the escape.
    pub fn marker(&self) -> Option<u8> {
        self.quote.or(self.escape)
    }

    /// The marker, or the delimiter where there is none (a byte the
    /// `memchr3` search already looks for, so it costs nothing).
    fn marker_or_delimiter(&self) -> u8 {
        self.marker().unwrap_or(self.delimiter)
    }

    /// Whether `bytes` holds no [marker](Self::marker) at all: no quote
    /// (nor, without quoting, escape), so every line end ends a record.
    pub fn quote_free(&self, bytes: &[u8]) -> bool {
        self.marker().is_none_or(|m| memchr::memchr(m, bytes).is_none())
    }
}

/// Whether `bytes` is only line ends (`\n` or `\r\n`, and a final lone
/// `\r`, which the splitter also drops; with `\r` line ends, only `\r`):
/// blank lines, as the splitter reads them. A `\r` elsewhere is data.
pub fn is_blank(bytes: &[u8], newline: u8) -> bool {
    if newline == b'\r' {
        return bytes.iter().all(|&b| b == b'\r');
    }
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => i += 1,
            b'\r' if i + 1 == bytes.len() => i += 1,
            b'\r' if bytes[i + 1] == b'\n' => i += 2,
            _ => return false,
        }
    }
    true
}

/// A field as the splitter saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldInfo {
    /// 0-based field number in the record.
    pub index: usize,
    /// Byte offset of the field's first byte (its quote, if quoted).
    pub offset: usize,
    /// Whether the field was quoted.
    pub quoted: bool,
}

/// Reads records from `data[start..end]`; `end` must be a record boundary
/// (or the end of the input).
pub struct Records<'a> {
    data: &'a [u8],
    base: usize,
    specials: Memchr3<'a>,
    pos: usize,
    end: usize,
    scratch: Vec<u8>,
    syntax: Syntax,
    /// The slice holds no quote at all (typical of numeric data): fields
    /// are then found with a plain byte loop, cheaper than a SIMD search
    /// per short field, and the `memchr3` iterator is not used.
    quote_free: bool,
}

impl<'a> Records<'a> {
    pub fn new(data: &'a [u8], start: usize, end: usize, syntax: Syntax) -> Self {
        Self::with_quotes_known(data, start, end, syntax, None)
    }

    /// As [`Self::new`], told whether the slice is free of quotes where the
    /// caller already knows (`None`: look).
    pub fn with_quotes_known(
        data: &'a [u8],
        start: usize,
        end: usize,
        syntax: Syntax,
        quote_free: Option<bool>,
    ) -> Self {
        Self {
            data,
            base: start,
            specials: memchr::memchr3_iter(
                syntax.delimiter,
                syntax.newline,
                syntax.marker_or_delimiter(),
                &data[start..end],
            ),
            pos: start,
            end,
            scratch: Vec::new(),
            syntax,
            quote_free: quote_free.unwrap_or_else(|| syntax.quote_free(&data[start..end])),
        }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the slice holds no quote at all.
    pub fn is_quote_free(&self) -> bool {
        self.quote_free
    }

    /// Goes on from `pos`, a record start at or after [`Self::position`]
    /// that the caller found by reading the records before it (only in a
    /// quote-free slice, where no `memchr3` iterator state is kept).
    pub fn resume_at(&mut self, pos: usize) {
        assert!(self.quote_free && pos >= self.pos && pos <= self.end, "resume only forward in a quote-free slice");
        self.pos = pos;
    }

    /// Whether only blank lines remain in the whole input (not just this
    /// reader's slice: a parallel chunk must decide as a sequential read).
    pub fn only_blank_lines_left(&self) -> bool {
        is_blank(&self.data[self.pos..], self.syntax.newline)
    }

    #[inline]
    fn next_special(&mut self) -> Option<usize> {
        self.specials.next().map(|p| p + self.base)
    }

    /// The next delimiter or line end, passing over quotes (data in an
    /// unquoted field).
    #[inline]
    fn next_separator(&mut self) -> Option<usize> {
        let quote = self.syntax.quote?;
        loop {
            match self.next_special() {
                Some(p) if self.data[p] == quote => continue,
                found => return found,
            }
        }
    }

    /// Where an unquoted field starting at `start` ends: `(field end, next
    /// field or record start, whether the record ends)`.
    #[inline(always)]
    fn unquoted_end(&mut self, start: usize) -> (usize, usize, bool) {
        let (delimiter, newline) = (self.syntax.delimiter, self.syntax.newline);
        let found = if self.quote_free {
            let rest = &self.data[start..self.end];
            rest.iter().position(|&b| b == delimiter || b == newline).map(|p| start + p)
        } else if self.syntax.quote.is_some() {
            self.next_separator()
        } else {
            self.next_special()
        };
        match found {
            None => (self.end, self.end, true),
            Some(p) if self.data[p] == delimiter => (p, p + 1, false),
            Some(p) => (p, p + 1, true),
        }
    }

    /// An unquoted field starting at `start` in a dialect without quoting
    /// but with the escape `escape`: each escape is dropped and makes the
    /// next byte data, a delimiter or line end included (a lone escape at
    /// the very end of the input stays). Returns the field's end where it
    /// holds no escape (the field is `data[start..end]`), else `None` with
    /// the field in the scratch buffer; then the next field or record start
    /// and whether the record ends.
    fn escaped_unquoted(&mut self, start: usize, escape: u8) -> (Option<usize>, usize, bool) {
        let (data, delimiter, newline) = (self.data, self.syntax.delimiter, self.syntax.newline);
        let mut segment = start;
        let mut escaped = false;
        let (end, next, is_last) = loop {
            match self.next_special() {
                Some(p) if data[p] == escape => {
                    if !escaped {
                        self.scratch.clear();
                        escaped = true;
                    }
                    self.scratch.extend_from_slice(&data[segment..p]);
                    let Some(&b) = data.get(p + 1).filter(|_| p + 1 < self.end) else {
                        self.scratch.push(escape);
                        return (None, self.end, true);
                    };
                    self.scratch.push(b);
                    if b == delimiter || b == newline || b == escape {
                        self.next_special(); // the escaped byte
                    }
                    segment = p + 2;
                }
                None => break (self.end, self.end, true),
                Some(p) if data[p] == delimiter => break (p, p + 1, false),
                Some(p) => break (p, p + 1, true),
            }
        };
        // Only the last unescaped stretch can end in the `\r` of a CRLF.
        let end = self.trim_cr(segment, end, is_last);
        if !escaped {
            return (Some(end), next, is_last);
        }
        self.scratch.extend_from_slice(&data[segment..end]);
        (None, next, is_last)
    }

    /// The field `data[start..end]`, less the `\r` of a CRLF line end when
    /// it ends the record.
    #[inline(always)]
    fn trim_cr(&self, start: usize, end: usize, is_last: bool) -> usize {
        if is_last && self.syntax.newline == b'\n' && end > start && self.data[end - 1] == b'\r' {
            end - 1
        } else {
            end
        }
    }

    /// Reads one record, calling `on_field` for each field in order;
    /// returns the number of fields, or `None` at the end.
    pub fn read_record(
        &mut self,
        mut on_field: impl FnMut(FieldInfo, &[u8]) -> Result<(), CsvError>,
    ) -> Result<Option<usize>, CsvError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        let data = self.data;
        let Syntax { delimiter, newline, escape, .. } = self.syntax;
        let mut index = 0;
        loop {
            let start = self.pos;
            let ended;
            if start < self.end && Some(data[start]) == self.syntax.quote && !self.quote_free {
                let quote = data[start];
                self.next_special(); // the opening quote
                let mut segment = start + 1;
                let mut in_scratch = false;
                self.scratch.clear();
                let close = loop {
                    match self.next_special() {
                        None => {
                            return Err(CsvError::at(
                                data,
                                start,
                                index + 1,
                                format!(
                                    "unterminated quoted field: expected a closing '{}' before the end of the input",
                                    quote as char
                                ),
                            ));
                        }
                        Some(p) if data[p] == quote => {
                            if let Some(e) = escape {
                                // Escaped by an odd run of escape bytes.
                                let run = data[start + 1..p].iter().rev().take_while(|&&b| b == e).count();
                                if run % 2 == 1 {
                                    continue;
                                }
                                break p;
                            }
                            if p + 1 < self.end && data[p + 1] == quote {
                                self.next_special(); // the second quote of `""`
                                self.scratch.extend_from_slice(&data[segment..=p]);
                                segment = p + 2;
                                in_scratch = true;
                            } else {
                                break p;
                            }
                        }
                        Some(_) => {} // a delimiter or line end inside the quotes
                    }
                };
                if let Some(e) = escape
                    && memchr::memchr(e, &data[start + 1..close]).is_some()
                {
                    let mut bytes = data[start + 1..close].iter();
                    while let Some(&b) = bytes.next() {
                        if b == e {
                            self.scratch.extend(bytes.next());
                        } else {
                            self.scratch.push(b);
                        }
                    }
                    segment = close;
                    in_scratch = true;
                }
                let after = close + 1;
                // What follows the closing quote: the field's end, or (read
                // leniently) more of the field, unquoted.
                let (field_end, next, is_last) = if after >= self.end {
                    (after, self.end, true)
                } else if data[after] == delimiter {
                    self.next_special();
                    (after, after + 1, false)
                } else if data[after] == newline {
                    self.next_special();
                    (after, after + 1, true)
                } else if newline == b'\n' && data[after] == b'\r' && data.get(after + 1) == Some(&b'\n') {
                    self.next_special();
                    (after, after + 2, true)
                } else {
                    let (end, next, is_last) = match self.next_separator() {
                        None => (self.end, self.end, true),
                        Some(p) if data[p] == delimiter => (p, p + 1, false),
                        Some(p) => (p, p + 1, true),
                    };
                    (self.trim_cr(after, end, is_last), next, is_last)
                };
                self.pos = next;
                ended = is_last;
                let info = FieldInfo { index, offset: start, quoted: true };
                if in_scratch || field_end > after {
                    self.scratch.extend_from_slice(&data[segment..close]);
                    self.scratch.extend_from_slice(&data[after..field_end]);
                    on_field(info, &self.scratch)?;
                } else {
                    on_field(info, &data[start + 1..close])?;
                }
            } else if let (None, Some(e), false) = (self.syntax.quote, escape, self.quote_free) {
                let (field_end, next, is_last) = self.escaped_unquoted(start, e);
                self.pos = next;
                ended = is_last;
                let info = FieldInfo { index, offset: start, quoted: false };
                match field_end {
                    Some(end) => on_field(info, &data[start..end])?,
                    None => on_field(info, &self.scratch)?,
                }
            } else {
                let (field_end, next, is_last) = self.unquoted_end(start);
                let field_end = self.trim_cr(start, field_end, is_last);
                self.pos = next;
                ended = is_last;
                on_field(FieldInfo { index, offset: start, quoted: false }, &data[start..field_end])?;
            }
            index += 1;
            if ended {
                return Ok(Some(index));
            }
            if self.pos >= self.end {
                // A record ending in a delimiter at the end of the input:
                // one more, empty, field.
                on_field(FieldInfo { index, offset: self.pos, quoted: false }, b"")?;
                return Ok(Some(index + 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Result<Vec<Vec<String>>, CsvError> {
        split_with(text, Syntax::default())
    }

    fn split_with(text: &str, syntax: Syntax) -> Result<Vec<Vec<String>>, CsvError> {
        let data = text.as_bytes();
        let mut records = Records::new(data, 0, data.len(), syntax);
        let mut out = Vec::new();
        loop {
            let mut record = Vec::new();
            match records.read_record(|_, f| {
                record.push(String::from_utf8(f.to_vec()).unwrap());
                Ok(())
            })? {
                Some(n) => {
                    assert_eq!(n, record.len());
                    out.push(record);
                }
                None => return Ok(out),
            }
        }
    }

    fn rows(rows: &[&[&str]]) -> Vec<Vec<String>> {
        rows.iter().map(|r| r.iter().map(|s| s.to_string()).collect()).collect()
    }

    #[test]
    fn plain_quoted_and_escaped_fields() {
        assert_eq!(split("a,b\n1,2\n").unwrap(), rows(&[&["a", "b"], &["1", "2"]]));
        assert_eq!(split("a,b\r\n1,2\r\n").unwrap(), rows(&[&["a", "b"], &["1", "2"]]));
        assert_eq!(split("a,b\n1,2").unwrap(), rows(&[&["a", "b"], &["1", "2"]]));
        assert_eq!(
            split("\"x, y\",\"say \"\"hi\"\"\"\n\"two\nlines\",\"\"\n").unwrap(),
            rows(&[&["x, y", "say \"hi\""], &["two\nlines", ""]])
        );
        assert_eq!(split("a,,c\n,\n").unwrap(), rows(&[&["a", "", "c"], &["", ""]]));
        assert_eq!(split("a,b\n1,").unwrap(), rows(&[&["a", "b"], &["1", ""]]));
        assert_eq!(split("\"a\"\r\n\"b\"").unwrap(), rows(&[&["a"], &["b"]]));
        assert_eq!(split("é,ü\n").unwrap(), rows(&[&["é", "ü"]]));
    }

    /// Read as Python's `csv` module (strict=False) and the `csv` crate
    /// read them (values worked out by hand from their state machines).
    #[test]
    fn stray_quotes_are_data() {
        assert_eq!(split("a,b\n1,\"x\"y\n").unwrap(), rows(&[&["a", "b"], &["1", "xy"]]));
        assert_eq!(split("a,b\n3,x\"y\n").unwrap(), rows(&[&["a", "b"], &["3", "x\"y"]]));
        assert_eq!(split("p\n37°36'37.8\"N\n").unwrap(), rows(&[&["p"], &["37°36'37.8\"N"]]));
        assert_eq!(split("\"a\"b\"c\",d\n").unwrap(), rows(&[&["ab\"c\"", "d"]]));
        assert_eq!(split("\"a\" ,b\r\n").unwrap(), rows(&[&["a ", "b"]]));
        assert_eq!(split("\"a\"x\r\n").unwrap(), rows(&[&["ax"]]));
    }

    #[test]
    fn an_unterminated_quote_is_an_error_with_its_position() {
        let e = split("a,b\n1,\"open\n2,3\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(2), Some(2)));
        assert!(e.message.contains("unterminated"), "{e}");
    }

    /// Without quoting, an escape makes the next byte data wherever it is:
    /// values as Python's `csv` module reads them with `escapechar="\\"`
    /// and `quoting=QUOTE_NONE` (each checked there), but for a lone escape
    /// at the very end, which Python turns into a line end and we keep.
    #[test]
    fn escapes_without_quoting_as_mysql_writes_them() {
        let mysql = Syntax { quote: None, escape: Some(b'\\'), ..Syntax::default() };
        let cases: [(&str, &[&[&str]]); 9] = [
            ("a\\,b,c\n", &[&["a,b", "c"]]),
            ("a\\\nb,c\n", &[&["a\nb", "c"]]),
            ("\\\\,x\n", &[&["\\", "x"]]),
            ("a\\\r\nb\r\n", &[&["a\r"], &["b"]]),
            ("a,b\r\n1\\\\,2\r\n", &[&["a", "b"], &["1\\", "2"]]),
            ("\\,,x\n", &[&[",", "x"]]),
            ("p\\q,\\\\\n", &[&["pq", "\\"]]),
            ("ab\\", &[&["ab\\"]]),
            ("plain,\n,\\\n\n", &[&["plain", ""], &["", "\n"]]),
        ];
        for (text, expected) in cases {
            assert_eq!(split_with(text, mysql).unwrap(), rows(expected), "{text:?}");
        }
        let tab = Syntax { delimiter: b'\t', ..mysql };
        assert_eq!(split_with("x\\\ty\tz\n", tab).unwrap(), rows(&[&["x\ty", "z"]]));
        // With quoting, escapes work inside quotes only.
        let quoted = Syntax { escape: Some(b'\\'), ..Syntax::default() };
        assert_eq!(split_with("C:\\dir\\,\"\\\"\"\n", quoted).unwrap(), rows(&[&["C:\\dir\\", "\""]]));
    }

    #[test]
    fn other_dialects() {
        let semi = Syntax { delimiter: b';', ..Syntax::default() };
        assert_eq!(split_with("a;b\n\"1;5\";2,5\n", semi).unwrap(), rows(&[&["a", "b"], &["1;5", "2,5"]]));
        let single = Syntax { quote: Some(b'\''), ..Syntax::default() };
        assert_eq!(split_with("'a,b','it''s',\"q\"\n", single).unwrap(), rows(&[&["a,b", "it's", "\"q\""]]));
        let backslash = Syntax { escape: Some(b'\\'), ..Syntax::default() };
        assert_eq!(
            split_with("\"say \\\"hi\\\", \\\\\",x\\y\n", backslash).unwrap(),
            rows(&[&["say \"hi\", \\", "x\\y"]])
        );
        let none = Syntax { quote: None, ..Syntax::default() };
        assert_eq!(split_with("\"a,b\"\n", none).unwrap(), rows(&[&["\"a", "b\""]]));
        let mysql = Syntax { quote: None, escape: Some(b'\\'), ..Syntax::default() };
        assert_eq!(split_with("a\\\"b,c\n", mysql).unwrap(), rows(&[&["a\"b", "c"]]));
        let cr = Syntax { newline: b'\r', delimiter: b'\t', ..Syntax::default() };
        assert_eq!(split_with("a\tb\r1\t\"x\ry\"\r", cr).unwrap(), rows(&[&["a", "b"], &["1", "x\ry"]]));
    }
}
