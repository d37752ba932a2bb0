//! Edge-case files read through the file path (memory map, parallel
//! driver): quotes and embedded newlines, CRLF, BOM and UTF-8 with no final
//! newline, a header only, empty fields. Expected values written by hand.

use std::path::PathBuf;

use genesis::csv::{ColumnType, DatasetStats, ParseOptions, Values, read_file};

fn file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(name)
}

fn text(values: &Values) -> Vec<&str> {
    match values {
        Values::Text(t) => t.iter().collect(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn quotes_and_embedded_newlines() {
    for chunk_size in [1, 7, 1 << 20] {
        let t = read_file(&file("quotes_and_newlines.csv"), ParseOptions { chunk_size, ..ParseOptions::default() })
            .unwrap()
            .table;
        assert_eq!(t.rows, 3);
        assert_eq!(text(&t.columns[1].values), ["Smith, Jane", "said \"hi\"", "two\nlines"]);
        assert_eq!(t.columns[2].column_type(), ColumnType::Float);
        assert_eq!(t.columns[2].missing, [2]);
    }
}

#[test]
fn crlf_and_missing_values() {
    let t = read_file(&file("crlf_missing.csv"), ParseOptions::default()).unwrap().table;
    assert_eq!(t.columns[0].values, Values::Integer(vec![1, 2, 3]));
    let Values::Float(x) = &t.columns[1].values else { panic!() };
    assert_eq!((x[0], x[2]), (2.5, 4.0));
    assert_eq!(t.columns[1].missing, [1]);
}

#[test]
fn bom_utf8_and_no_final_newline() {
    let loaded = read_file(&file("bom_utf8_no_final_newline.csv"), ParseOptions::default()).unwrap();
    assert_eq!(loaded.table.columns[0].name, "id");
    assert_eq!(text(&loaded.table.columns[1].values), ["Zürich", "東京", "São Paulo"]);
    let stats = DatasetStats::of(&loaded);
    assert_eq!(
        (stats.rows, stats.bytes),
        (3, std::fs::metadata(file("bom_utf8_no_final_newline.csv")).unwrap().len() as usize)
    );
}

#[test]
fn header_only_and_empty_fields() {
    let t = read_file(&file("header_only.csv"), ParseOptions::default()).unwrap().table;
    assert_eq!((t.rows, t.columns.len()), (0, 3));
    let t = read_file(&file("empty_fields.csv"), ParseOptions::default()).unwrap().table;
    assert_eq!(t.rows, 2);
    assert_eq!(t.columns[0].values, Values::Integer(vec![0, 1]));
    assert_eq!(t.columns[0].missing, [0]);
    assert_eq!((t.columns[1].column_type(), t.columns[1].missing.clone()), (ColumnType::Text, vec![0, 1]));
    assert_eq!(text(&t.columns[2].values), ["", "x"]);
}

#[test]
fn a_missing_or_empty_file_is_an_error_naming_it() {
    let e = read_file(&file("no_such_file.csv"), ParseOptions::default()).unwrap_err().to_string();
    assert!(e.contains("no_such_file.csv") && e.contains("cannot open"), "{e}");
    let empty = std::env::temp_dir().join(format!("genesis-empty-{}.csv", std::process::id()));
    std::fs::write(&empty, b"").unwrap();
    let e = read_file(&empty, ParseOptions::default()).unwrap_err();
    assert_eq!((e.line(), e.column()), (Some(1), Some(1)));
    assert!(e.to_string().contains("empty file"), "{e}");
}
