#!/usr/bin/env python3
"""Loads a CSV file into typed columns with Python's peers of the Genesis
CSV engine and prints one JSON line per method: the best of three read
times (imports and interpreter start excluded), as `genesis parse` reports
parse_seconds.

    python csv_peers.py trace.csv
"""

import csv
import os
import json
import sys
import time


def pure_python(path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        columns = [[] for _ in header]
        for row in reader:
            for col, value in zip(columns, row):
                col.append(value)
    typed = []
    for col in columns:
        try:
            typed.append([int(v) for v in col])
        except ValueError:
            try:
                typed.append([float(v) for v in col])
            except ValueError:
                typed.append(col)
    return len(typed[0]) if typed else 0


REPEATS = int(os.environ.get("REPEATS", "3"))


def timed(name, load, path):
    """Best of REPEATS runs (the least disturbed by a shared machine, and
    the one whose allocator has memory to reuse), and the first run's time
    (fresh memory)."""
    try:
        runs = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            rows = load(path)
            runs.append(time.perf_counter() - start)
        print(json.dumps({"method": name, "seconds": min(runs), "first": runs[0], "runs": runs, "rows": rows}))
    except Exception as e:  # a peer that is not installed is left out
        print(json.dumps({"method": name, "error": str(e)[:200]}))


def main():
    path = sys.argv[1]
    timed("python csv module", pure_python, path)

    # Imports happen before the clock starts; a peer not installed is
    # reported as not run.
    peers = []
    try:
        import pandas as pd

        peers.append(("pandas (C engine)", lambda p: len(pd.read_csv(p, engine="c"))))
        peers.append(("pandas (pyarrow engine)", lambda p: len(pd.read_csv(p, engine="pyarrow"))))
    except ImportError as e:
        print(json.dumps({"method": "pandas", "error": str(e)}))
    try:
        import polars as pl

        peers.append(("polars", lambda p: pl.read_csv(p).height))
    except ImportError as e:
        print(json.dumps({"method": "polars", "error": str(e)}))
    try:
        import duckdb

        def duck(p):
            table = duckdb.sql(f"SELECT * FROM read_csv_auto('{p}')").arrow()
            # Newer DuckDB returns a stream of record batches.
            return table.num_rows if hasattr(table, "num_rows") else table.read_all().num_rows

        peers.append(("DuckDB", duck))
    except ImportError as e:
        print(json.dumps({"method": "DuckDB", "error": str(e)}))
    try:
        import pyarrow.csv as pc

        peers.append(("pyarrow", lambda p: pc.read_csv(p).num_rows))
    except ImportError as e:
        print(json.dumps({"method": "pyarrow", "error": str(e)}))
    for name, load in peers:
        timed(name, load, path)


if __name__ == "__main__":
    main()
