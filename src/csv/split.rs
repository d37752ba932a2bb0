//! The splitting core: records and fields of RFC 4180 CSV, over bytes.
//!
//! It knows nothing of files, threads or types. A [`Records`] reader walks
//! one slice of the input with a single `memchr3` iterator over the only
//! bytes that matter (`,` `\n` `"`), so text between them is skipped at
//! SIMD speed, and hands each field to a callback as a byte slice: borrowed
//! from the input, or, for a quoted field with `""` escapes, from a scratch
//! buffer reused for the whole input.
//!
//! Dialect (SPEC section 7), and where it is stricter than RFC 4180 allows
//! readers to be:
//! - fields end at `,`, records at `\n` or `\r\n` (a `\r` before `\n` is
//!   dropped), the last record may lack its line end;
//! - a field is quoted only if its first byte is `"`; inside, `""` is a
//!   quote and `,` or line ends are data;
//! - after a closing quote only `,`, a line end or the end of input may
//!   follow, and a `"` inside an unquoted field is an error. Being strict
//!   here is what lets the parallel parser find record starts from quote
//!   parity alone (see [`super::table`]).

use memchr::Memchr3;

use super::error::CsvError;

/// Whether `bytes` is only line ends (`\n` or `\r\n`, and a final lone
/// `\r`, which the splitter also drops): blank lines, as the splitter reads
/// them. A `\r` elsewhere is data.
pub fn is_blank(bytes: &[u8]) -> bool {
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
    /// The slice holds no `"` at all (typical of numeric data): fields are
    /// then found with a plain byte loop, cheaper than a SIMD search per
    /// short field, and the `memchr3` iterator is not used.
    quote_free: bool,
}

impl<'a> Records<'a> {
    pub fn new(data: &'a [u8], start: usize, end: usize) -> Self {
        Self::with_quotes_known(data, start, end, None)
    }

    /// As [`Self::new`], told whether the slice is free of `"` where the
    /// caller already knows (`None`: look).
    pub fn with_quotes_known(data: &'a [u8], start: usize, end: usize, quote_free: Option<bool>) -> Self {
        Self {
            data,
            base: start,
            specials: memchr::memchr3_iter(b',', b'\n', b'"', &data[start..end]),
            pos: start,
            end,
            scratch: Vec::new(),
            quote_free: quote_free.unwrap_or_else(|| memchr::memchr(b'"', &data[start..end]).is_none()),
        }
    }

    /// Byte offset of the next record.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether the slice holds no `"` at all.
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
        is_blank(&self.data[self.pos..])
    }

    #[inline]
    fn next_special(&mut self) -> Option<usize> {
        self.specials.next().map(|p| p + self.base)
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
        let mut index = 0;
        loop {
            let start = self.pos;
            let ended;
            if start < self.end && data[start] == b'"' {
                self.next_special(); // the opening quote
                let mut segment = start + 1;
                let mut escaped = false;
                self.scratch.clear();
                let close = loop {
                    match self.next_special() {
                        None => {
                            return Err(CsvError::at(
                                data,
                                start,
                                index + 1,
                                "unterminated quoted field: expected a closing '\"' before the end of the input",
                            ));
                        }
                        Some(p) if data[p] == b'"' => {
                            if p + 1 < self.end && data[p + 1] == b'"' {
                                self.next_special(); // the second quote of `""`
                                self.scratch.extend_from_slice(&data[segment..=p]);
                                segment = p + 2;
                                escaped = true;
                            } else {
                                break p;
                            }
                        }
                        Some(_) => {} // a comma or line end inside the quotes
                    }
                };
                let after = close + 1;
                if after >= self.end {
                    self.pos = self.end;
                    ended = true;
                } else {
                    match data[after] {
                        b',' => {
                            self.next_special();
                            self.pos = after + 1;
                            ended = false;
                        }
                        b'\n' => {
                            self.next_special();
                            self.pos = after + 1;
                            ended = true;
                        }
                        b'\r' if after + 1 < self.end && data[after + 1] == b'\n' => {
                            self.next_special();
                            self.pos = after + 2;
                            ended = true;
                        }
                        _ => {
                            return Err(CsvError::at(
                                data,
                                after,
                                index + 1,
                                "expected ',' or the end of the line after a closing quote",
                            ));
                        }
                    }
                }
                let info = FieldInfo { index, offset: start, quoted: true };
                if escaped {
                    self.scratch.extend_from_slice(&data[segment..close]);
                    on_field(info, &self.scratch)?;
                } else {
                    on_field(info, &data[start + 1..close])?;
                }
            } else {
                let found = if self.quote_free {
                    let rest = &data[start..self.end];
                    rest.iter().position(|&b| b == b',' || b == b'\n').map(|p| start + p)
                } else {
                    self.next_special()
                };
                let (field_end, next, is_last) = match found {
                    None => (self.end, self.end, true),
                    Some(p) => match data[p] {
                        b',' => (p, p + 1, false),
                        b'\n' => (p, p + 1, true),
                        _ => {
                            return Err(CsvError::at(
                                data,
                                p,
                                index + 1,
                                "a '\"' inside an unquoted field: quote the whole field and double the quote (\"\")",
                            ));
                        }
                    },
                };
                let mut field = &data[start..field_end];
                if is_last && field.last() == Some(&b'\r') {
                    field = &field[..field.len() - 1];
                }
                self.pos = next;
                ended = is_last;
                on_field(FieldInfo { index, offset: start, quoted: false }, field)?;
            }
            index += 1;
            if ended {
                return Ok(Some(index));
            }
            if self.pos >= self.end {
                // A record ending in ',' at the end of the input: one more,
                // empty, field.
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
        let data = text.as_bytes();
        let mut records = Records::new(data, 0, data.len());
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

    #[test]
    fn malformed_quotes_are_errors_with_positions() {
        let e = split("a,b\n1,\"open\n2,3\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(2), Some(2)));
        assert!(e.message.contains("unterminated"), "{e}");
        let e = split("a,b\n1,\"x\"y\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(2), Some(2)));
        assert!(e.message.contains("after a closing quote"), "{e}");
        let e = split("a,b\n1,2\n3,x\"y\n").unwrap_err();
        assert_eq!((e.line(), e.column()), (Some(3), Some(2)));
        assert!(e.message.contains("unquoted field"), "{e}");
    }
}
