#!/usr/bin/env python3
"""The Python package (genesis_sim) measured from Python, in one run:

1. CSV: ``genesis_sim.read_csv`` against Python's csv module, pandas (C and
   pyarrow engines), polars, pyarrow and DuckDB on a 500,000-row trace,
   each the best of 3 loads in this one process (csv_peers.py's methods).
2. Simulation: ``Simulation.step`` against the NumPy reference
   (genesis_numpy.py) at 1k, 10k and 100k agents; ``step(1000)`` at 10k
   against ``genesis bench`` (alternating, same run); the cost one
   ``step(1)`` call adds over its frame at 1,000 agents; reading every state
   array at 1M agents; ``step(sensors=...)`` against the sensing stage it
   replaces at 10k agents.

Prints markdown tables (with the machine) to stdout.

    python benches/python/hybrid.py --genesis target/release/genesis [--trace trace.csv]
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import genesis_sim as gs

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import csv_peers  # noqa: E402


def best_of(load, path, repeats=3):
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        load(path)
        runs.append(time.perf_counter() - start)
    return runs


def processor():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        return next(l.split(":", 1)[1].strip() for l in out.splitlines() if l.startswith("Model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown processor"


def csv_table(genesis, trace):
    size = os.path.getsize(trace)
    rows = [("genesis_sim.read_csv (Rust, all cores)", best_of(lambda p: gs.read_csv(p).rows, trace))]
    peers = [("python csv module", csv_peers.pure_python)]
    import pandas as pd
    import polars as pl
    import pyarrow.csv as pc
    peers += [("pandas (C engine)", lambda p: len(pd.read_csv(p, engine="c"))),
              ("pandas (pyarrow engine)", lambda p: len(pd.read_csv(p, engine="pyarrow"))),
              ("polars", lambda p: pl.read_csv(p).height),
              ("pyarrow", lambda p: pc.read_csv(p).num_rows)]
    try:
        import duckdb

        def duck(p):
            t = duckdb.sql(f"SELECT * FROM read_csv_auto('{p}')").arrow()
            return t.num_rows if hasattr(t, "num_rows") else t.read_all().num_rows

        peers.append(("DuckDB", duck))
    except ImportError:
        pass
    for name, load in peers:
        rows.append((name, best_of(load, trace)))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "parse.json"
        subprocess.run([genesis, "parse", trace, "--repeat", "3", "--json", out], capture_output=True, check=True)
        parse = json.loads(out.read_text())
    rows.insert(1, ("genesis parse (the CLI, same engine)", parse["parse_runs"]))
    print(f"## CSV from Python: {parse['rows']:,}-row trace ({size / 1e6:.1f} MB) into typed columns\n")
    print("Best of 3 loads in this one process (the CLI: in its own process); first load beside it.\n")
    print("| method | first load | best of 3 | throughput (best) |")
    print("|---|---|---|---|")
    for name, runs in rows:
        print(f"| {name} | {runs[0]:.4f} s | {min(runs):.4f} s | {size / min(runs) / 1e6:,.0f} MB/s |")
    ours = min(rows[0][1])
    peer_rows = [r for r in rows[2:] if r[0] != "python csv module"]
    fastest = min(peer_rows, key=lambda r: min(r[1]))
    first_fastest = min(peer_rows, key=lambda r: r[1][0])
    print(f"\n`read_csv` against the fastest peer: **{min(fastest[1]) / ours:.1f}×** {fastest[0]} (best of 3); "
          f"{first_fastest[1][0] / rows[0][1][0]:.1f}× {first_fastest[0]} on first loads; "
          f"{min(rows[1][1]) / ours:.2f}× the CLI's own parse.\n")


def numpy_hz(agents, frames):
    # Imported here, after the CSV table: SciPy brings OpenBLAS, whose
    # threads spin for a while after start-up and slowed every first load
    # timed after the import (read_csv's from 0.013-0.017 to 0.04-0.1 s).
    import genesis_numpy

    model = genesis_numpy.Model(agents, 42)
    start = time.perf_counter()
    for _ in range(frames):
        model.step()
    return frames / (time.perf_counter() - start)


def step_hz(agents, frames, warmup):
    sim = gs.Simulation(agents)
    sim.step(warmup)
    start = time.perf_counter()
    sim.step(frames)
    return frames / (time.perf_counter() - start)


def cli_hz(genesis, agents, frames, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "r.json"
        subprocess.run([genesis, "bench", "--quiet", "--agents", str(agents), "--frames", str(frames + warmup),
                        "--warmup", str(warmup), "--json", out], check=True, capture_output=True)
        return json.loads(out.read_text())["hz"]


def simulation_table(genesis):
    print("## Simulation from Python (SPEC defaults, seed 42, all cores)\n")
    print("| agents | method | frames | Hz | Simulation.step / NumPy |")
    print("|---|---|---|---|---|")
    for agents, frames, numpy_frames in [(1_000, 2000, 100), (10_000, 1000, 30), (100_000, 100, 5)]:
        ours = step_hz(agents, frames, frames // 10)
        theirs = numpy_hz(agents, numpy_frames)
        print(f"| {agents:,} | genesis_sim `Simulation.step` | {frames} | {ours:,.1f} | **{ours / theirs:,.0f}×** |")
        print(f"| {agents:,} | NumPy + cKDTree | {numpy_frames} | {theirs:,.1f} | |")

    # step(1000) at 10k against the CLI, alternating, 100 frames of warm-up each.
    cli, py = [], []
    for _ in range(3):
        cli.append(cli_hz(genesis, 10_000, 1000, 100))
        py.append(step_hz(10_000, 1000, 100))
    ratio = statistics.median(py) / statistics.median(cli)
    print(f"\n`step(1000)` at 10,000 agents against `genesis bench --frames 1100 --warmup 100`, three alternating "
          f"rounds: Python {', '.join(f'{v:,.0f}' for v in py)} Hz; CLI {', '.join(f'{v:,.0f}' for v in cli)} Hz; "
          f"medians' ratio **{ratio:.3f}** ({(ratio - 1) * 100:+.1f}%).\n")

    # One step(1) call at 1,000 agents: the call's wall time over its frame's.
    sim = gs.Simulation(1_000)
    sim.step(200)
    sim.reset()
    calls = []
    for _ in range(3000):
        t0 = time.perf_counter_ns()
        sim.step(1)
        calls.append(time.perf_counter_ns() - t0)
    frame_us = sim.report()["frame_ms"]["p50"] * 1000
    call_us = statistics.median(calls) / 1000
    print(f"One `step(1)` call at 1,000 agents (3,000 calls): median {call_us:.1f} µs per call, median frame "
          f"{frame_us:.1f} µs: **{call_us - frame_us:.1f} µs** added by the call.\n")

    # Every state array at 1M agents.
    sim = gs.Simulation(1_000_000)
    sim.step(3)
    names = ["ids", "positions", "headings", "sensors", "fused", "z", "anomaly", "nbr_count", "outputs"]
    rounds = []
    for _ in range(5):
        t0 = time.perf_counter()
        arrays = [getattr(sim, n) for n in names]
        rounds.append(time.perf_counter() - t0)
    each = {}
    for n in names:
        t0 = time.perf_counter()
        getattr(sim, n)
        each[n] = (time.perf_counter() - t0) * 1000
    total_mb = sum(a.nbytes for a in arrays) / 1e6
    print(f"Reading all nine state arrays at 1,000,000 agents ({total_mb:.0f} MB, one copy each out of the ECS "
          f"tables): best {min(rounds) * 1000:.1f} ms, median {statistics.median(rounds) * 1000:.1f} ms of 5; "
          + ", ".join(f"{n} {ms:.1f}" for n, ms in each.items()) + " ms.\n")
    del sim, arrays

    # step(sensors=...) at 10k against the sensing stage it replaces: what
    # a call costs over its frame (taking the array in) plus the stage
    # itself, against the stage computing the readings.
    readings = np.random.default_rng(1).uniform(0, 1, size=(10_000, 8)).astype(np.float32)
    sensing = lambda report: next(s for s in report["systems"] if s["name"] == "sensing")["p50_us"]

    def per_call(step, frames=500):
        sim = gs.Simulation(10_000)
        sim.step(100)
        sim.reset()
        calls = []
        for _ in range(frames):
            t0 = time.perf_counter_ns()
            step(sim)
            calls.append(time.perf_counter_ns() - t0)
        report = sim.report()
        return statistics.median(calls) / 1000 - report["frame_ms"]["p50"] * 1000, sensing(report)

    plain_over, computed = per_call(lambda sim: sim.step(1))
    live_over, given = per_call(lambda sim: sim.step(sensors=readings))
    taking = live_over - plain_over
    print(f"`step(sensors=...)` at 10,000 agents (500 frames each): the sensing stage takes {computed:.1f} µs (p50) "
          f"computing the readings; with given readings it takes {given:.1f} µs, and the call {taking:.1f} µs more "
          f"over its frame than a plain `step(1)` (checking and copying the array): **{given + taking:.1f} µs** "
          f"against {computed:.1f} µs.\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--genesis", required=True, help="the genesis binary (release build)")
    p.add_argument("--trace", help="the CSV to read (default: `genesis gen` 500,000 rows)")
    a = p.parse_args()
    print(f"Measured by `benches/python/hybrid.py` on {time.strftime('%Y-%m-%d')}: {os.cpu_count()} cores "
          f"({processor()}), Python {platform.python_version()}, NumPy {np.__version__}, genesis_sim "
          f"{gs.__version__}. Figures are from this one run.\n")
    with tempfile.TemporaryDirectory() as tmp:
        trace = a.trace
        if not trace:
            subprocess.run([a.genesis, "gen", "--out", tmp, "--agents", "1000", "--events", "1", "--trace-rows",
                            "500000"], check=True, capture_output=True)
            trace = str(Path(tmp) / "trace.csv")
        # The file written out and in the page cache before any method is
        # timed, so that no first load pays for the write-back.
        os.sync()
        Path(trace).read_bytes()
        csv_table(a.genesis, trace)
    simulation_table(a.genesis)


if __name__ == "__main__":
    main()
