//! Differential tests: random RFC 4180 CSV (quotes, commas, newlines, CRLF,
//! empty fields, UTF-8) parsed by Genesis and by the `csv` crate, which must
//! agree field for field, sequentially and with tiny parallel chunks whose
//! boundaries fall inside quoted fields. The same for random dialects
//! (delimiter, quote, escape, line end) with stray quotes and ragged rows,
//! where the chunks' starts are guesses that must be caught when wrong.

use genesis::csv::dialect::LineEnd;
use genesis::csv::{ColumnType, ParseOptions, Values, parse};
use proptest::prelude::*;

/// A field: text from an alphabet rich in CSV's special bytes.
fn field() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just('Z'),
            Just(','),
            Just('"'),
            Just('\n'),
            Just('\r'),
            Just(' '),
            Just('é'),
            Just('7')
        ],
        0..6,
    )
    .prop_map(|c| c.into_iter().collect())
}

/// Encodes one field; plain fields may or may not be quoted.
fn encode(f: &str, force_quotes: bool) -> String {
    if force_quotes || f.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", f.replace('"', "\"\""))
    } else {
        f.to_string()
    }
}

#[derive(Debug, Clone)]
struct Case {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
    quote_all: bool,
    crlf: bool,
    final_newline: bool,
}

/// A field that is mostly a plain number (what the fast lane takes), else
/// one of the shapes it must leave to the general reader: signs, spaces,
/// exponents, long mantissas, `-0`, a lone point, empty or text.
fn number_field() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "-?[0-9]{1,4}(\\.[0-9]{0,4})?",
        1 => "-?[0-9]{14,19}",
        1 => "-?[0-9]{1,9}\\.[0-9]{6,9}",
        1 => "[-+ ]?[0-9]{0,2}\\.?[0-9]{0,2}(e-?[0-9])? ?",
        1 => "-0|-0\\.0|\\.|-|",
        1 => "[a-z]{1,3}",
    ]
}

/// A table whose columns are each printed with one format, as a sensor
/// log is (`-`?, a number of integer digits, a point and fraction digits
/// or none), with a field of another shape now and then: the fast lane
/// reads such columns through their learned shapes, and hands over where
/// a field breaks the shape.
fn shaped_case() -> impl Strategy<Value = Case> {
    (2usize..5).prop_flat_map(|width| {
        proptest::collection::vec((0usize..5, proptest::option::of(0usize..7), "-?"), width)
            .prop_flat_map(|formats| {
                let row: Vec<_> = formats
                    .iter()
                    .map(|(int, fraction, sign)| {
                        let format = match fraction {
                            Some(f) => format!("{sign}[0-9]{{{int}}}\\.[0-9]{{{f}}}"),
                            None => format!("{sign}[0-9]{{{int}}}"),
                        };
                        prop_oneof![
                            12 => proptest::string::string_regex(&format).expect("a valid pattern"),
                            1 => number_field(),
                        ]
                    })
                    .collect();
                (proptest::collection::vec(row, 0..40), any::<bool>())
            })
            .prop_map(move |(rows, final_newline)| Case {
                header: (0..width).map(|i| format!("c{i}")).collect(),
                rows,
                quote_all: false,
                crlf: false,
                final_newline,
            })
    })
}

fn case() -> impl Strategy<Value = Case> {
    case_of(field)
}

fn numeric_case() -> impl Strategy<Value = Case> {
    case_of(number_field)
}

fn case_of<S: Strategy<Value = String>>(field: fn() -> S) -> impl Strategy<Value = Case> {
    (2usize..5).prop_flat_map(move |width| {
        (
            proptest::collection::vec(proptest::collection::vec(field(), width), 0..25),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(move |(rows, quote_all, crlf, final_newline)| Case {
                header: (0..width).map(|i| format!("c{i}")).collect(),
                rows,
                quote_all,
                crlf,
                final_newline,
            })
    })
}

fn render(case: &Case) -> String {
    let eol = if case.crlf { "\r\n" } else { "\n" };
    let mut lines = vec![case.header.join(",")];
    for row in &case.rows {
        lines.push(row.iter().map(|f| encode(f, case.quote_all)).collect::<Vec<_>>().join(","));
    }
    let mut text = lines.join(eol);
    if case.final_newline {
        text.push_str(eol);
    }
    text
}

/// What the `csv` crate reads.
fn oracle(text: &str) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    reader.records().map(|r| r.unwrap().iter().map(str::to_string).collect()).collect()
}

/// Genesis's table back as strings (numbers printed back as parsed), RFC
/// 4180 forced.
fn ours(text: &str, chunk_size: usize) -> Vec<Vec<String>> {
    ours_with(text, ParseOptions { chunk_size, ..ParseOptions::rfc4180() })
}

/// The oracle's fields, normalised as Genesis types them: a field that is
/// a number in a numeric column reads back in Rust's number formatting.
fn normalise(rows: Vec<Vec<String>>, text: &str) -> Vec<Vec<String>> {
    normalise_as(rows, &parse(text.as_bytes(), ParseOptions::rfc4180()).unwrap())
}

/// [`normalise`] by the column types of `table`.
fn normalise_as(rows: Vec<Vec<String>>, table: &genesis::csv::Table) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|row| {
            row.into_iter()
                .zip(&table.columns)
                .map(|(f, c)| match c.column_type() {
                    ColumnType::Integer if !f.is_empty() => f.trim().parse::<i64>().unwrap().to_string(),
                    ColumnType::Float if !f.is_empty() => f.trim().parse::<f64>().unwrap().to_string(),
                    _ => f,
                })
                .collect()
        })
        .collect()
}

/// `case` parsed sequentially and in chunks of `chunk_size` bytes gives
/// what the oracle reads.
fn agrees_with_the_oracle(case: &Case, chunk_size: usize) -> Result<(), TestCaseError> {
    let text = render(case);
    let want = normalise(oracle(&text), &text);
    prop_assert_eq!(&ours(&text, 1 << 20), &want, "sequential, input {:?}", text);
    prop_assert_eq!(&ours(&text, chunk_size), &want, "chunks of {}, input {:?}", chunk_size, text);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_the_csv_crate(case in case(), chunk_size in 1usize..40) {
        agrees_with_the_oracle(&case, chunk_size)?;
    }

    /// Numeric tables, where rows of plain numbers take the fast lane and
    /// the rows around them do not: the values, the types and the rows
    /// where the lane hands over must all come out as the oracle says.
    #[test]
    fn numbers_of_every_shape_agree_with_the_csv_crate(case in numeric_case(), chunk_size in 1usize..40) {
        agrees_with_the_oracle(&case, chunk_size)?;
    }

    /// Columns printed with one format each: rows read through the
    /// columns' shapes, and whole where the processor can.
    #[test]
    fn columns_of_one_format_agree_with_the_csv_crate(case in shaped_case(), chunk_size in 1usize..80) {
        agrees_with_the_oracle(&case, chunk_size)?;
    }

    #[test]
    fn numeric_columns_round_trip(values in proptest::collection::vec((any::<i32>(), -1e6f64..1e6), 1..60), chunk_size in 1usize..50) {
        let mut text = String::from("i,f\n");
        for (i, f) in &values {
            text.push_str(&format!("{i},{f}\n"));
        }
        let table = parse(text.as_bytes(), ParseOptions { chunk_size, ..ParseOptions::rfc4180() }).unwrap();
        prop_assert_eq!(&table.columns[0].values, &Values::Integer(values.iter().map(|v| v.0 as i64).collect()));
        let floats: Vec<f64> = values.iter().map(|v| v.1).collect();
        match &table.columns[1].values {
            Values::Float(got) => prop_assert_eq!(got, &floats),
            // Every float happened to be integral: an integer column.
            Values::Integer(got) => prop_assert_eq!(got.iter().map(|&i| i as f64).collect::<Vec<_>>(), floats),
            other => prop_assert!(false, "text column {:?}", other),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// Any bytes (biased towards CSV's special ones): a table or an error,
    /// never a panic, and chunked parsing equals sequential parsing, errors
    /// included. (`fuzz/` runs the same property under libFuzzer.)
    #[test]
    fn arbitrary_bytes_never_panic_and_chunks_agree(
        bytes in proptest::collection::vec(prop_oneof![
            4 => Just(b','), 3 => Just(b'"'), 3 => Just(b'\n'), 1 => Just(b'\r'), 3 => Just(b'a'), 2 => Just(b'1'),
            1 => Just(b'.'), 1 => Just(0xffu8), 1 => Just(b';'), 1 => Just(b'\''), 1 => Just(b'\\'), 1 => any::<u8>()
        ], 0..80),
        chunk_size in 1usize..12,
    ) {
        let forced = genesis::csv::DialectOptions {
            delimiter: Some(b';'),
            quote: Some(Some(b'\'')),
            escape: Some(Some(b'\\')),
            line_end: Some(LineEnd::Cr),
            ..genesis::csv::DialectOptions::default()
        };
        let skip = ParseOptions { dialect: forced, bad_rows: genesis::csv::BadRows::Skip, keep_rejects: true, ..ParseOptions::default() };
        for options in [ParseOptions::rfc4180(), ParseOptions::default(), skip] {
            let whole = parse(&bytes, ParseOptions { chunk_size: usize::MAX / 4, keep_offsets: true, ..options });
            let chunked = parse(&bytes, ParseOptions { chunk_size, keep_offsets: true, ..options });
            prop_assert_eq!(whole, chunked);
        }
    }
}

/// A dialect, and how a table is written in it.
#[derive(Debug, Clone)]
struct DialectCase {
    delimiter: u8,
    quote: u8,
    /// Backslash escapes instead of doubled quotes.
    backslash: bool,
    /// `"\n"`, `"\r\n"` or `"\r"`.
    eol: &'static str,
    header: Vec<String>,
    /// Each field, and whether a stray quote goes inside it (when it is
    /// written unquoted).
    rows: Vec<Vec<(String, bool)>>,
    final_newline: bool,
}

fn dialect_field() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just('a'),
            Just(','),
            Just(';'),
            Just('\t'),
            Just('|'),
            Just('"'),
            Just('\''),
            Just('\\'),
            Just('\n'),
            Just('\r'),
            Just(' '),
            Just('é'),
            Just('7'),
            Just('7'),
        ],
        0..5,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn dialect_case() -> impl Strategy<Value = DialectCase> {
    (
        prop_oneof![Just(b','), Just(b';'), Just(b'\t'), Just(b'|')],
        prop_oneof![Just(b'"'), Just(b'\'')],
        any::<bool>(),
        prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
        2usize..5,
        any::<bool>(),
    )
        .prop_flat_map(|(delimiter, quote, backslash, eol, width, final_newline)| {
            // Rows of width - 1 to width + 1 fields: ragged now and then.
            let row = prop_oneof![
                8 => proptest::collection::vec((dialect_field(), proptest::bool::weighted(0.2)), width),
                1 => proptest::collection::vec((dialect_field(), any::<bool>()), (width - 1)..=(width + 1)),
            ];
            proptest::collection::vec(row, 0..20).prop_map(move |rows| DialectCase {
                delimiter,
                quote,
                backslash,
                eol,
                header: (0..width).map(|i| format!("c{i}")).collect(),
                rows,
                final_newline,
            })
        })
}

impl DialectCase {
    fn encode(&self, (f, stray): &(String, bool)) -> String {
        let (d, q) = (self.delimiter as char, self.quote as char);
        let needs = f.contains([d, q, '\n', '\r']) || (self.backslash && f.contains('\\'));
        if needs {
            let inner: String = f
                .chars()
                .flat_map(|c| match c {
                    c if c == q && self.backslash => vec!['\\', c],
                    '\\' if self.backslash => vec!['\\', '\\'],
                    c if c == q => vec![c, c],
                    c => vec![c],
                })
                .collect();
            format!("{q}{inner}{q}")
        } else if *stray && !f.is_empty() {
            // A quote inside an unquoted field: data, read leniently.
            let mut f = f.clone();
            let at = f.char_indices().nth(1).map_or(f.len(), |(i, _)| i);
            f.insert(at, q);
            f
        } else {
            f.clone()
        }
    }

    fn render(&self) -> String {
        let d = (self.delimiter as char).to_string();
        let mut lines = vec![self.header.join(&d)];
        for row in &self.rows {
            lines.push(row.iter().map(|f| self.encode(f)).collect::<Vec<_>>().join(&d));
        }
        let mut text = lines.join(self.eol);
        if self.final_newline {
            text.push_str(self.eol);
        }
        text
    }

    fn options(&self) -> ParseOptions {
        ParseOptions {
            dialect: genesis::csv::DialectOptions {
                delimiter: Some(self.delimiter),
                quote: Some(Some(self.quote)),
                escape: Some(self.backslash.then_some(b'\\')),
                line_end: Some(if self.eol == "\r" { LineEnd::Cr } else { LineEnd::Lf }),
                ..genesis::csv::DialectOptions::rfc4180()
            },
            bad_rows: genesis::csv::BadRows::Pad,
            ..ParseOptions::default()
        }
    }

    /// What the `csv` crate reads, padded and cut to the header's width.
    fn oracle(&self, text: &str) -> Vec<Vec<String>> {
        let terminator = match self.eol {
            "\r" => csv::Terminator::Any(b'\r'),
            _ => csv::Terminator::CRLF,
        };
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .delimiter(self.delimiter)
            .quote(self.quote)
            .double_quote(!self.backslash)
            .escape(self.backslash.then_some(b'\\'))
            .terminator(terminator)
            .from_reader(text.as_bytes());
        let width = self.header.len();
        reader
            .records()
            .map(|r| {
                let mut row: Vec<String> = r.unwrap().iter().map(str::to_string).collect();
                row.resize(width, String::new());
                row
            })
            .collect()
    }
}

/// Genesis's table back as strings, with `options`.
fn ours_with(text: &str, options: ParseOptions) -> Vec<Vec<String>> {
    let table = parse(text.as_bytes(), options).unwrap();
    (0..table.rows)
        .map(|r| {
            table
                .columns
                .iter()
                .map(|c| {
                    if c.is_missing(r) {
                        return String::new();
                    }
                    match &c.values {
                        Values::Text(t) => t.get(r).to_string(),
                        Values::Integer(v) => v[r].to_string(),
                        Values::Float(v) => v[r].to_string(),
                    }
                })
                .collect()
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, ..ProptestConfig::default() })]

    /// Random dialects, stray quotes and ragged rows (padded): the `csv`
    /// crate told the true dialect is the oracle, sequentially and in
    /// chunks down to one byte.
    #[test]
    fn dialects_agree_with_the_csv_crate(case in dialect_case(), chunk_size in 1usize..40) {
        let text = case.render();
        let options = case.options();
        let table = parse(text.as_bytes(), options).unwrap();
        let want = normalise_as(case.oracle(&text), &table);
        prop_assert_eq!(&ours_with(&text, ParseOptions { chunk_size: 1 << 20, ..options }), &want, "sequential, input {:?}", text);
        prop_assert_eq!(&ours_with(&text, ParseOptions { chunk_size, ..options }), &want, "chunks of {}, input {:?}", chunk_size, text);
    }
}
