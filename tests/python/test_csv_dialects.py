"""CSV files as spreadsheets, databases and instruments write them: every
dialect and every kind of damage, alone and combined, read by Genesis with
the dialect *detected*, against Python's ``csv`` module told the true
dialect (the oracle). Also ``genesis parse --out`` round trips and standard
input."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import subprocess
from dataclasses import dataclass, field

import pytest

import genesis_sim as gs


@dataclass
class Case:
    name: str
    data: bytes
    delimiter: str = ","
    quote: str | None = '"'
    escape: str = "double"
    line_end: str = "LF"
    header: bool = True
    skip: int = 0
    encoding: str = "utf-8"
    # What the pad policy does, checked against the counts.
    padded: int = 0
    truncated: int = 0
    extra: dict = field(default_factory=dict)

    def oracle(self) -> tuple[list[str], list[list[str]]]:
        """Names and rows as Python's csv module reads the true dialect,
        padded and cut to the header's width, blank lines left out."""
        codec = {"utf-8": "utf-8-sig", "windows-1252": "cp1252", "utf-16le": "utf-16"}[self.encoding]
        text = self.data.decode(codec)
        lines = io.StringIO(text, newline="")
        for _ in range(self.skip):
            lines.readline()
        kw = {"delimiter": self.delimiter}
        if self.quote is None:
            kw["quoting"] = csv.QUOTE_NONE
        else:
            kw["quotechar"] = self.quote
        if self.escape == "backslash":
            kw.update(escapechar="\\", doublequote=False)
        rows = [r for r in csv.reader(lines, **kw)]
        if self.header:
            names, rows = rows[0], rows[1:]
        else:
            names = [f"column_{i + 1}" for i in range(len(rows[0]))]
        width = len(names)
        rows = [r for r in rows if not (width > 1 and r in ([], [""]))]
        return names, [(r + [""] * width)[:width] for r in rows]


def cases() -> list[Case]:
    return [
        Case("semicolon_bom_crlf", "\ufeffid;name;value\r\n1;Zoë;1.5\r\n2;\"a; b\";2.25\r\n3;c;\r\n".encode(),
             delimiter=";", line_end="CRLF"),
        Case("tab", b"t\tx\ty\n0\t1.5\tq\n1\t-2\tr s\n2\t3\t\n", delimiter="\t"),
        Case("pipe_quoted", b"a|b|c\n\"x|y\"|2|\"line\nbreak\"\n\"p\"\"q\"|3|z\n", delimiter="|"),
        Case("single_quotes", b"name,note\n'Bob, Jr','it''s'\n'Al','x, y'\nCy,plain\n", quote="'"),
        Case("backslash_escape", b"id,text\n1,\"say \\\"hi\\\", ok\"\n2,\"back \\\\ slash\"\n3,plain\n",
             escape="backslash"),
        # MySQL's SELECT ... INTO OUTFILE: tabs, no quoting, a backslash
        # before each tab, line end or backslash in the data.
        Case("mysql_outfile", b"id\tname\tnote\n1\tBob\tsay \"hi\"\n2\tAl\ta\\\tb\n"
                              b"3\tCy\tline\\\nbreak\n4\tDi\tback\\\\slash\n",
             delimiter="\t", quote=None, escape="backslash"),
        Case("cr_line_ends", b"a,b\r1,2\r3,\"x\ry\"\r5,6\r", line_end="CR"),
        Case("no_header", b"1,2.5,3\n4,5.5,6\n7,8.5,9\n", header=False),
        Case("title_lines", b"Weather station export\nsite: north, 2024\n\nt,temp,rh,wind\n1,20.5,40,3\n2,21.0,41,4\n3,21.5,,5\n",
             skip=3),
        Case("windows_1252", "city,temp\nMünchen,5.5\nZürich,4\n“Quoted” café,3\n".encode("cp1252"),
             encoding="windows-1252"),
        # Excel's "Unicode text": UTF-16 with a byte-order mark, tabs, CRLF.
        Case("utf16_excel", "\ufeffOrt\tWert\tNotiz\r\nKöln\t1.5\t\"a\tb\"\r\nZürich\t2\tok\r\n".encode("utf-16-le"),
             delimiter="\t", line_end="CRLF", encoding="utf-16le"),
        Case("stray_quotes", b"place,lat,lon\nobs 1,37\xc2\xb036'37.8\"N,122\xc2\xb022'3.2\"W\nobs 2,5'11\",x\"y\n"),
        Case("ragged", b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n", padded=1, truncated=1),
        Case("everything", ("Export from Tabellenkalkulation\r\n\r\nNr;Ort;Wert;Notiz\r\n"
                            "1;Köln;1.5;37°36'37.8\"N\r\n2;\"Bonn; Mitte\";2;x\r\n3;Jülich\r\n"
                            "4;Aachen;4;y;z\r\n5;Düren;5.5;ok\r\n").encode("cp1252"),
             delimiter=";", line_end="CRLF", skip=2, encoding="windows-1252", padded=1, truncated=1),
    ]


def ours(table: gs.Table) -> list[list[str]]:
    """The table's values as strings (numbers as the oracle's text is
    compared below), missing values empty."""
    cols = []
    for name in table.columns:
        col = table[name]
        missing = table.missing(name)
        cols.append([None if missing[i] else col[i] for i in range(len(table))])
    return [list(r) for r in zip(*cols)] if cols else []


def same(ours_value, theirs: str) -> bool:
    if ours_value is None:
        return theirs == ""
    if isinstance(ours_value, str):
        return ours_value == theirs
    return math.isclose(float(ours_value), float(theirs.strip()), rel_tol=0, abs_tol=0)


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_detected_and_read_as_the_csv_module_reads_the_true_dialect(tmp_path, case: Case):
    path = tmp_path / f"{case.name}.csv"
    path.write_bytes(case.data)
    table = gs.read_csv(path)
    d = table.dialect
    assert (d["delimiter"], d["quote"], d["escape"]) == (case.delimiter, case.quote,
                                                         "\\" if case.escape == "backslash" else "double")
    assert (d["line_end"], d["header"], d["skipped_lines"]) == (case.line_end, case.header, case.skip)
    assert d["encoding"] == (case.encoding if case.encoding != "utf-8" or not case.data.startswith(b"\xef\xbb\xbf")
                             else "utf-8 (with BOM)")
    assert d["forced"] == []
    names, rows = case.oracle()
    assert table.columns == names
    got = ours(table)
    assert len(got) == len(rows)
    for r, (a, b) in enumerate(zip(got, rows)):
        assert all(same(x, y) for x, y in zip(a, b)), f"row {r}: {a} != {b}"
    bad = table.stats["bad_rows"]
    assert (bad["policy"], bad["padded"], bad["truncated"], bad["skipped"]) == ("pad", case.padded, case.truncated, 0)


def test_bad_row_policies_and_the_rejects_file(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n")
    skipped = gs.read_csv(path, bad_rows="skip", rejects=tmp_path / "rejects.csv")
    assert list(skipped["a"]) == [1, 10]
    with open(tmp_path / "rejects.csv", newline="") as f:
        rejects = list(csv.DictReader(f))
    assert [(r["line"], r["column"], r["raw"]) for r in rejects] == [("3", "3", "4,5"), ("4", "4", "6,7,8,9")]
    assert "skipped" in rejects[0]["reason"]
    with pytest.raises(gs.CsvError) as e:
        gs.read_csv(path, bad_rows="error")
    assert (e.value.line, e.value.column) == (3, 3)
    with pytest.raises(ValueError, match="bad_rows"):
        gs.read_csv(path, bad_rows="maybe")
    with pytest.raises(ValueError, match="delimiter"):
        gs.read_csv(path, delimiter="ab")


def test_forced_choices_override_detection(tmp_path):
    path = tmp_path / "forced.csv"
    path.write_bytes(b"1;2\n3;4\n")
    t = gs.read_csv(path, delimiter=",", header=True)
    assert t.columns == ["1;2"] and t.dialect["forced"] == ["delimiter", "header"]
    t = gs.read_csv(path, delimiter="semicolon", header=False)
    assert t.columns == ["column_1", "column_2"] and list(t["column_2"]) == [2, 4]


def test_decimal_commas_are_read_as_pandas_reads_them(tmp_path):
    """A `;` file saved where the decimal mark is a comma: detected, and
    read as pandas reads it told `decimal=","` (its text column as it is)."""
    import numpy as np
    import pandas as pd

    path = tmp_path / "komma.csv"
    path.write_bytes("Nr;Wert;Anteil;Ort\r\n1;2,5;-0,125;Köln, Nord\r\n2;3;1,5e3;Bonn\r\n3;;7,75;\r\n"
                     .encode("cp1252"))
    table = gs.read_csv(path)
    assert (table.dialect["delimiter"], table.dialect["decimal"], table.dialect["forced"]) == (";", ",", [])
    theirs = pd.read_csv(path, sep=";", decimal=",", encoding="cp1252")
    assert table.columns == list(theirs.columns)
    for name in ["Nr", "Wert", "Anteil"]:
        assert np.array_equal(np.asarray(table[name], dtype=float), theirs[name].to_numpy(dtype=float), equal_nan=True)
    assert [None if m else v for v, m in zip(table["Ort"], table.missing("Ort"))] == \
        [None if isinstance(v, float) else v for v in theirs["Ort"]]
    # Forced to a point, the comma numbers are text, as pandas reads them then.
    point = gs.read_csv(path, decimal=".")
    assert point.dialect["forced"] == ["decimal"]
    assert list(point["Wert"]) == ["2,5", "3", None]
    with pytest.raises(ValueError, match="decimal"):
        gs.read_csv(path, decimal=";")
    # The command line reads it the same way and says so.
    report = subprocess.run([genesis_bin(), "parse", str(path)], capture_output=True, text=True, check=True).stdout
    assert "decimal mark ','" in report


def genesis_bin() -> str:
    return os.environ.get("GENESIS_BIN", "genesis")


@pytest.mark.parametrize("case", cases(), ids=lambda c: c.name)
def test_out_round_trips_and_stdin_equals_the_file(tmp_path, case: Case):
    path = tmp_path / f"{case.name}.csv"
    path.write_bytes(case.data)
    out = tmp_path / "out.csv"
    run = subprocess.run([genesis_bin(), "parse", str(path), "--out", str(out), "--json", str(tmp_path / "a.json")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    first, again = gs.read_csv(path), gs.read_csv(out)
    assert again.dialect["delimiter"] == "," and again.columns == first.columns
    assert again.dtypes == first.dtypes
    assert ours(again) == ours(first)
    # What the csv module reads from --out: the same strings.
    with open(out, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    assert all(same(x, y) for a, b in zip(ours(first), rows) for x, y in zip(a, b))
    piped = subprocess.run([genesis_bin(), "parse", "-", "--json", str(tmp_path / "b.json")], input=case.data,
                           capture_output=True)
    assert piped.returncode == 0, piped.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    for key in ("rows", "columns", "dialect", "bad_rows", "bytes"):
        assert a[key] == b[key], key
