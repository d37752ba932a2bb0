//! Writing a table back as RFC 4180 CSV (`genesis parse --out`): comma,
//! `"` only where a field needs it (a comma, a quote, a line end), quotes
//! doubled, LF line ends, UTF-8, a header row. What was read from any
//! dialect comes out in the one every tool reads.
//!
//! Numbers are written as the shortest text that reads back to the same
//! value (`ryu`, `itoa`), floats always with a point or an exponent, so a
//! float column stays float when read again; missing values are empty
//! fields. Rows are formatted in blocks on all cores and written in order.

use std::io::Write;

use rayon::prelude::*;

use super::table::{Reject, Table, Values};

/// Rows formatted per task.
const BLOCK: usize = 16 << 10;

/// Appends `field` to `out`, quoted if it needs to be.
fn push_text(out: &mut Vec<u8>, field: &str) {
    let bytes = field.as_bytes();
    if memchr::memchr3(b',', b'"', b'\n', bytes).is_none() && memchr::memchr(b'\r', bytes).is_none() {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'"');
    for part in field.split('"').enumerate() {
        if part.0 > 0 {
            out.extend_from_slice(b"\"\"");
        }
        out.extend_from_slice(part.1.as_bytes());
    }
    out.push(b'"');
}

/// Rows `rows` of `table`, formatted.
fn block(table: &Table, rows: std::ops::Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * table.columns.len() * 12);
    let (mut ints, mut floats) = (itoa::Buffer::new(), ryu::Buffer::new());
    // Each column's next missing row, walked alongside.
    let mut missing: Vec<usize> =
        table.columns.iter().map(|c| c.missing.partition_point(|&m| m < rows.start)).collect();
    for r in rows {
        for (i, (column, next)) in table.columns.iter().zip(&mut missing).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            if column.missing.get(*next) == Some(&r) {
                *next += 1;
                continue;
            }
            match &column.values {
                Values::Integer(v) => out.extend_from_slice(ints.format(v[r]).as_bytes()),
                Values::Float(v) => out.extend_from_slice(floats.format_finite(v[r]).as_bytes()),
                Values::Text(t) => push_text(&mut out, t.get(r)),
            }
        }
        out.push(b'\n');
    }
    out
}

/// Writes `table` as RFC 4180 CSV.
pub fn write_table(table: &Table, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    let mut header = Vec::new();
    for (i, c) in table.columns.iter().enumerate() {
        if i > 0 {
            header.push(b',');
        }
        push_text(&mut header, &c.name);
    }
    header.push(b'\n');
    out.write_all(&header)?;
    // A few blocks per thread at a time: bounded memory, all cores busy.
    let batch = BLOCK * 4 * rayon::current_num_threads();
    let mut start = 0;
    while start < table.rows {
        let end = (start + batch).min(table.rows);
        let blocks: Vec<Vec<u8>> = (start..end)
            .step_by(BLOCK)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|b| block(table, b..(b + BLOCK).min(end)))
            .collect();
        for b in blocks {
            out.write_all(&b)?;
        }
        start = end;
    }
    Ok(())
}

/// Writes the rows that did not fit the header: `line,column,reason,raw`.
pub fn write_rejects(rejects: &[Reject], width: usize, out: &mut (impl Write + ?Sized)) -> std::io::Result<()> {
    let mut text = b"line,column,reason,raw\n".to_vec();
    for r in rejects {
        text.extend_from_slice(format!("{},{},", r.line, r.column).as_bytes());
        push_text(&mut text, &r.reason(width));
        text.push(b',');
        push_text(&mut text, &r.raw);
        text.push(b'\n');
    }
    out.write_all(&text)
}

#[cfg(test)]
mod tests {
    use super::super::table::{ParseOptions, parse};
    use super::*;

    #[test]
    fn fields_are_quoted_only_where_needed() {
        let mut out = Vec::new();
        push_text(&mut out, "plain");
        out.push(b'|');
        push_text(&mut out, "a,b");
        out.push(b'|');
        push_text(&mut out, "say \"hi\"\r\n");
        assert_eq!(String::from_utf8(out).unwrap(), "plain|\"a,b\"|\"say \"\"hi\"\"\r\n\"");
    }

    #[test]
    fn a_table_reads_back_equal() {
        let text = "n;x;name\n3;1.0;bob\n-1;;\"a;b, \"\"c\"\"\"\n;2.5e-7;\n";
        let table = parse(text.as_bytes(), ParseOptions::default()).unwrap();
        let mut out = Vec::new();
        write_table(&table, &mut out).unwrap();
        assert_eq!(String::from_utf8(out.clone()).unwrap(), "n,x,name\n3,1.0,bob\n-1,,\"a;b, \"\"c\"\"\"\n,2.5e-7,\n");
        let again = parse(&out, ParseOptions::default()).unwrap();
        assert_eq!(again.columns, table.columns);
    }
}
