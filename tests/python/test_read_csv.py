"""``genesis_sim.read_csv`` against ``genesis parse --json``, Python's
``csv`` module, and pyarrow, polars and pandas reading its Arrow export."""

import csv
import gc
import io
import math

import numpy as np
import pyarrow as pa
import polars as pl
import pandas as pd
import pytest

import genesis_sim as gs
from conftest import DATA, SCENARIO

EDGE_CASES = sorted(DATA.glob("*.csv"))
TIMING = {"parse_seconds", "parse_runs", "mb_per_second", "rows_per_second"}


def python_csv(path):
    """The file as Python's csv module reads it: header and columns of
    strings (blank lines at the end dropped, as SPEC 7 says)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        records = list(csv.reader(f))
    while records and records[-1] == []:
        records.pop()
    header, rows = records[0], records[1:]
    return header, [[row[c] for row in rows] for c in range(len(header))]


def typed(strings):
    """A column typed as SPEC 7 and the README say: integer while every
    present value is one, float once one needs it, text otherwise."""
    present = [s for s in strings if s != ""]

    def number(kind, s):
        try:
            v = kind(s)
        except ValueError:
            return None
        return v if math.isfinite(v) else None

    if present and all(number(int, s) is not None for s in present):
        return "integer", [int(s) if s else None for s in strings]
    if present and all(number(float, s) is not None for s in present):
        return "float", [float(s) if s else None for s in strings]
    return "text", [s if s else None for s in strings]


def test_the_edge_case_files_exist():
    assert len(EDGE_CASES) >= 5


@pytest.mark.parametrize("path", EDGE_CASES, ids=lambda p: p.name)
def test_columns_match_pythons_csv_module(path):
    table = gs.read_csv(path)
    header, columns = python_csv(path)
    assert table.columns == header
    assert len(table) == table.rows == (len(columns[0]) if columns else 0)
    for name, strings in zip(header, columns):
        kind, want = typed(strings)
        assert dict(table.dtypes)[name] == kind, name
        got = table[name]
        missing = table.missing(name)
        assert missing.dtype == np.bool_
        assert missing.tolist() == [w is None for w in want], name
        if kind == "text":
            assert got == want, name
        else:
            assert got.dtype == (np.int64 if kind == "integer" else np.float64)
            for value, expected in zip(got.tolist(), want):
                if expected is None:
                    # Missing: 0 in an integer column, NaN in a float one.
                    assert value == 0 if kind == "integer" else math.isnan(value)
                else:
                    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("path", EDGE_CASES + [SCENARIO / "trace.csv"], ids=lambda p: p.name)
def test_stats_equal_the_command_lines(path, cli, tmp_path):
    want = cli.parse_json(path, tmp_path / "stats.json")
    got = gs.read_csv(path).stats
    assert set(got) == set(want)
    assert {k: v for k, v in got.items() if k not in TIMING} == {k: v for k, v in want.items() if k not in TIMING}
    assert got["parse_seconds"] > 0


def test_numeric_columns_are_not_copied():
    table = gs.read_csv(SCENARIO / "trace.csv")
    a, b = table["s0"], table["s0"]
    assert not a.flags.owndata and not a.flags.writeable
    assert np.shares_memory(a, b)
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    # The array keeps the parse alive on its own.
    values = a.copy()
    del table, b
    gc.collect()
    assert np.array_equal(a, values)
    with pytest.raises(ValueError):
        a[0] = 1.0


def test_arrow_export_shares_the_numpy_buffers():
    table = gs.read_csv(SCENARIO / "trace.csv")
    arrow = pa.table(table)
    for name in ("frame", "s3"):
        column = arrow.column(name).chunk(0)
        assert column.buffers()[1].address == table[name].__array_interface__["data"][0]


@pytest.mark.parametrize("path", EDGE_CASES + [SCENARIO / "events.csv"], ids=lambda p: p.name)
def test_pyarrow_polars_and_pandas_read_the_same_values(path):
    table = gs.read_csv(path)
    header, columns = python_csv(path)
    arrow = pa.table(table)
    frame = pl.DataFrame(table)
    pandas = pd.DataFrame.from_arrow(table)
    assert arrow.column_names == frame.columns == list(pandas.columns) == header
    assert arrow.num_rows == frame.height == len(pandas) == table.rows
    for name, strings in zip(header, columns):
        kind, want = typed(strings)
        want_type = {"integer": pa.int64(), "float": pa.float64(), "text": pa.large_string()}[kind]
        assert arrow.schema.field(name).type == want_type
        assert arrow.column(name).to_pylist() == want, name
        assert frame[name].to_list() == want, name
        got = [None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in pandas[name].tolist()]
        assert got == want, name
    # The other two forms of the interface.
    batch = pa.record_batch(table)
    assert batch.num_rows == table.rows and batch.schema == arrow.schema
    assert pa.schema(table) == arrow.schema


def test_threads_do_not_change_the_table():
    one = gs.read_csv(SCENARIO / "trace.csv", threads=1)
    two = gs.read_csv(SCENARIO / "trace.csv", threads=2)
    for name in one.columns:
        assert np.array_equal(one[name], two[name])
    with pytest.raises(ValueError, match="threads"):
        gs.read_csv(SCENARIO / "trace.csv", threads=-1)


def test_unknown_column_is_a_key_error():
    table = gs.read_csv(SCENARIO / "events.csv")
    assert "start" in table and "nope" not in table
    assert list(table) == table.columns
    with pytest.raises(KeyError, match="nope"):
        table["nope"]


# (content, line, column, strict), the place counted by hand: lines from 1,
# columns as the field's number within its record (for a record too short,
# the first field it lacks). `strict`: an error only with bad_rows="error"
# (by default such rows are padded, cut or left out, and counted).
MALFORMED = {
    "too_many_fields": ("a,b\n1,2\n3,4,5\n", 3, 3, True),
    "too_few_fields": ("a,b\n1,2\n3\n", 3, 2, True),
    "unterminated_quote": ('a,b\n"x, y",2\n3,"open\n4,5\n', 3, 2, False),
    "blank_line_inside": ("a,b\n1,2\n\n3,4\n", 3, 2, True),
    "duplicate_header": ("a,b,a\n1,2,3\n", 1, 3, True),
    "empty_header_name": ("a,,c\n1,2,3\n", 1, 2, True),
    "empty_file": ("", 1, 1, False),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_files_raise_csv_error_where_the_cli_says(case, cli, tmp_path):
    content, line, column, strict = MALFORMED[case]
    path = tmp_path / f"{case}.csv"
    path.write_text(content)
    with pytest.raises(gs.CsvError) as caught:
        gs.read_csv(path, bad_rows="error" if strict else "pad")
    error = caught.value
    assert isinstance(error, ValueError)
    assert (error.path, error.line, error.column) == (str(path), line, column)
    failed = cli.run("parse", path, *(["--bad-rows", "error"] if strict else []), check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip() == f"error: {error}"
    assert str(error).startswith(f"{path}:{line}:{column}: ")
    if strict:
        # By default the file is read, and the rows that did not fit counted.
        table = gs.read_csv(path)
        bad = table.stats["bad_rows"]
        if case == "empty_header_name":
            assert table.columns == ["a", "column_2", "c"]  # as pandas names it "Unnamed: 1"
        elif case == "duplicate_header":
            assert table.columns == list(pd.read_csv(path).columns) == ["a", "b", "a.1"]
        else:
            assert bad["padded"] + bad["truncated"] + bad["blank_lines"] == 1


def test_repeated_header_names_are_renamed_as_pandas_renames_them(tmp_path):
    path = tmp_path / "repeats.csv"
    path.write_text("a,a,a.1,a,b,b,a.2\n" + ",".join(str(i) for i in range(7)) + "\n")
    table = gs.read_csv(path)
    expected = list(pd.read_csv(path).columns)
    assert table.columns == expected
    assert [table[name][0] for name in expected] == list(range(7))


def test_stray_quotes_are_read_as_the_csv_module_reads_them(tmp_path):
    path = tmp_path / "stray.csv"
    text = 'a,b\n1,x"y\n2,"xy"z\n'
    path.write_text(text)
    table = gs.read_csv(path)
    assert table["b"] == [row[1] for row in csv.reader(io.StringIO(text))][1:] == ['x"y', "xyz"]


def test_a_missing_file_is_a_csv_error_without_a_place(tmp_path):
    with pytest.raises(gs.CsvError) as caught:
        gs.read_csv(tmp_path / "absent.csv")
    assert (caught.value.line, caught.value.column) == (None, None)
    assert "cannot open" in str(caught.value)
