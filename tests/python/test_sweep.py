"""``genesis_sim.sweep`` against ``genesis sweep`` (the same rows), on this
machine and on a Dask ``LocalCluster`` started here: resuming files either
door started, a worker killed mid-sweep, runs that fail, shards, bad
options and Ctrl-C."""

import csv
import itertools
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import genesis_sim as gs
from genesis_sim._sweep import PARAMETERS

distributed = pytest.importorskip("distributed")

# Two agent counts × two radii × three seeds, small and short.
SWEEP = dict(agents=[150, 300], radius=[6.0, 12.0], seeds=[1, 2, 3], width=300, height=300, raster=64, window=16)
CLI_SWEEP = ["--agents", "150,300", "--radius", "6,12", "--seeds", "1..3", "--width", "300", "--height", "300",
             "--raster", "64", "--window", "16"]
FRAMES = 120
TIMING = {"hz", "frame_ms_p50", "frame_ms_p99"}


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        yield client


def value(text):
    """A CSV field as the engine types it: int, float, or None if empty."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def file_rows(path):
    """The file's rows, timing columns left out, as a sorted list (order
    aside); asserts no run appears twice."""
    with open(path, newline="") as f:
        rows = [{k: value(v) for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]
    keys = [tuple(row[p] for p in PARAMETERS) for row in rows]
    assert len(keys) == len(set(keys)), "a run appears twice"
    return sorted(rows, key=lambda r: tuple(r[p] for p in PARAMETERS))


def table_rows(table, ordered=False):
    """A returned Table's rows, as file_rows reads a file."""
    columns = {}
    for name in table.columns:
        column = table[name]
        if isinstance(column, np.ndarray):
            missing = table.missing(name)
            column = [None if m else v for v, m in zip(column.tolist(), missing.tolist())]
        columns[name] = column
    rows = [{k: columns[k][i] for k in table.columns if k not in TIMING} for i in range(table.rows)]
    return rows if ordered else sorted(rows, key=lambda r: tuple(r[p] for p in PARAMETERS))


def cli_sweep(cli, out, *extra):
    return cli.run("sweep", *CLI_SWEEP, "--frames", FRAMES, "--quiet", "--out", out, *extra)


@pytest.fixture(scope="module")
def whole(cli, tmp_path_factory):
    """The whole sweep's rows, from the command line."""
    out = tmp_path_factory.mktemp("whole") / "whole.csv"
    cli_sweep(cli, out)
    return file_rows(out)


def test_a_local_sweep_equals_the_cli_in_the_combination_order(whole, tmp_path):
    out = tmp_path / "local.csv"
    table = gs.sweep(FRAMES, **SWEEP, out=out, jobs=2, progress=False)
    assert table.columns == list(PARAMETERS) + [
        "frames", "hz", "frame_ms_p50", "frame_ms_p99", "anomalies_total", "recall",
        "false_alarms_per_1000", "fused_mean", "fused_sd", "nbr_count_mean",
    ]
    assert table_rows(table) == whole
    assert file_rows(out) == whole
    # Rows in the combination order, seeds innermost, whatever order they finished in.
    ordered = [(r["agents"], r["radius"], r["seed"]) for r in table_rows(table, ordered=True)]
    assert ordered == list(itertools.product([150, 300], [6.0, 12.0], [1, 2, 3]))
    assert (table["frames"] == FRAMES).all() and (table["hz"] > 0).all()


@pytest.mark.parametrize("threads_per_run", [1, 2])
def test_a_dask_sweep_equals_the_cli(client, whole, tmp_path, threads_per_run):
    out = tmp_path / "dask.csv"
    table = gs.sweep(FRAMES, **SWEEP, client=client, out=out, threads_per_run=threads_per_run, progress=False)
    assert table_rows(table) == whole
    assert file_rows(out) == whole
    # Without out, the same rows (from a temporary file).
    again = gs.sweep(FRAMES, **SWEEP, client=client, progress=False, batch_size=5)
    assert table_rows(again) == whole
    # pandas and polars take it as they take read_csv's tables.
    import polars as pl

    assert pl.DataFrame(table).height == 12


def test_a_crashed_cli_sweep_is_finished_through_dask(cli, client, whole, tmp_path):
    out = tmp_path / "resumed.csv"
    cli_sweep(cli, out, "--max-runs", "5")
    # Killed in the middle of writing the sixth row.
    with open(out, "a") as f:
        f.write("300,300,300,64,8,12,16,16,4,0.05,0.0166")
    table = gs.sweep(FRAMES, **SWEEP, client=client, out=out, progress=False)
    assert file_rows(out) == whole
    assert table_rows(table) == whole
    # Run again: nothing left to do, nothing written twice.
    before = out.read_bytes()
    gs.sweep(FRAMES, **SWEEP, client=client, out=out, progress=False)
    assert out.read_bytes() == before


def test_a_dask_shard_is_finished_on_the_cli_and_shards_merge(cli, client, whole, tmp_path):
    # Shard 1 of 2 through Dask, then the command line finishes the same file.
    out = tmp_path / "shared.csv"
    half = gs.sweep(FRAMES, **SWEEP, client=client, out=out, shard=(1, 2), progress=False)
    assert half.rows == 6
    assert len(file_rows(out)) == 6
    cli_sweep(cli, out)
    assert file_rows(out) == whole
    # Shards from both doors merged on the command line.
    one, two, merged = tmp_path / "one.csv", tmp_path / "two.csv", tmp_path / "merged.csv"
    gs.sweep(FRAMES, **SWEEP, out=one, shard=(1, 2), progress=False)
    cli_sweep(cli, two, "--shard", "2/2")
    cli.run("sweep", "--quiet", "--out", merged, "--merge", one, two)
    assert file_rows(merged) == whole


def test_a_worker_killed_mid_sweep_loses_no_row_and_duplicates_none(tmp_path):
    options = dict(agents=1000, seeds=range(1, 41), width=300, height=300, raster=64, window=16)
    frames = 150
    out = tmp_path / "killed.csv"
    want = table_rows(gs.sweep(frames, **options, jobs=2, progress=False))
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster, distributed.Client(cluster) as client:
        pids = list(client.run(os.getpid).values())
        result = {}

        def run():
            try:
                result["table"] = gs.sweep(frames, **options, client=client, out=out, progress=False, batch_size=1)
            except BaseException as error:  # noqa: BLE001 - reported by the assertions below
                result["error"] = error

        sweeping = threading.Thread(target=run)
        sweeping.start()
        deadline = time.monotonic() + 60
        while (not out.exists() or out.read_text().count("\n") < 4) and time.monotonic() < deadline:
            time.sleep(0.002)
        rows_at_kill = out.read_text().count("\n") - 1
        os.kill(pids[0], signal.SIGKILL)
        sweeping.join(120)
    assert "error" not in result, result.get("error")
    assert 0 < rows_at_kill < 40, "the worker must die mid-sweep"
    assert file_rows(out) == want
    assert table_rows(result["table"]) == want


@pytest.mark.parametrize("on_dask", [False, True])
def test_a_failing_run_is_reported_with_its_parameters_and_the_others_go_on(client, tmp_path, on_dask):
    # Every run reads the weights file; it goes away once the sweep is under way.
    from safetensors.numpy import save_file

    weights = tmp_path / "w.safetensors"
    save_file(gs.spec_weights(), weights)
    out = tmp_path / "failing.csv"
    options = dict(agents=1000, seeds=range(1, 31), width=300, height=300, raster=64, window=16)
    extra = dict(client=client, batch_size=1) if on_dask else dict(jobs=2)
    result = {}

    def run():
        try:
            result["table"] = gs.sweep(150, **options, weights=weights, out=out, progress=False, **extra)
        except BaseException as error:  # noqa: BLE001 - checked below
            result["error"] = error

    sweeping = threading.Thread(target=run)
    sweeping.start()
    while (not out.exists() or out.read_text().count("\n") < 2) and sweeping.is_alive():
        time.sleep(0.001)
    weights.unlink()
    sweeping.join(120)
    error = result.get("error")
    assert isinstance(error, gs.SweepError), result
    done = file_rows(out)
    assert len(done) + len(error.failures) == 30
    assert 0 < len(error.failures) < 30
    assert table_rows(error.table) == done
    failed_seeds = {p["seed"] for p, _ in error.failures}
    assert failed_seeds.isdisjoint(r["seed"] for r in done)
    for parameters, message in error.failures:
        assert parameters["agents"] == 1000 and parameters["width"] == 300.0
        assert "w.safetensors" in message
    assert f"{len(error.failures)} of 30 runs failed" in str(error)
    assert f"seed={error.failures[0][0]['seed']}" in str(error)


def test_bad_options_are_refused_before_any_run(client, tmp_path):
    out = tmp_path / "never.csv"
    for options, needle in [
        (dict(channels=9), "--channels"),
        (dict(seeds=-1), "seed: expected a whole number ≥ 0, got -1"),
        (dict(agents=2.5), "agents: expected a whole number"),
        (dict(radius="5:1:0"), "step must be > 0"),
        (dict(radius=[]), "radius: no values given"),
        (dict(shard=(4, 3)), "K must be between 1 and 3"),
        (dict(jobs=2, client=client), "jobs="),
        (dict(threads_per_run=0), "threads_per_run"),
        (dict(warmup=200), "warmup (200) must be less than frames (100)"),
    ]:
        with pytest.raises(ValueError, match=None) as raised:
            gs.sweep(100, out=out, progress=False, **options)
        assert needle in str(raised.value), (options, str(raised.value))
    with pytest.raises(TypeError, match="radius"):
        gs.sweep(100, radius=object(), out=out)
    with pytest.raises(TypeError):
        gs.sweep(100, speed=[1, 2], out=out)
    assert not out.exists()


def test_string_ranges_and_lists_give_the_same_runs(tmp_path):
    a = gs.sweep(20, agents="50,60", seeds="1..2", noise="0.01:0.03:0.01", progress=False)
    b = gs.sweep(20, agents=(50, 60), seeds=range(1, 3), noise=np.array([0.01, 0.02, 0.03]), progress=False)
    assert table_rows(a, ordered=True) == table_rows(b, ordered=True)
    assert a.rows == 12


def test_ctrl_c_keeps_the_runs_done_and_the_same_call_resumes(tmp_path):
    out = tmp_path / "interrupted.csv"
    options = dict(agents=2000, seeds=range(1, 61), progress=False, jobs=2, out=out)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        gs.sweep(100, **options)
    timer.join()
    done = len(file_rows(out))
    assert 0 < done < 60
    assert gs.sweep(100, **options).rows == 60
    assert [r["seed"] for r in file_rows(out)] == list(range(1, 61))


def test_the_package_does_not_import_dask():
    code = (
        "import sys, genesis_sim as gs\n"
        "gs.sweep(5, agents=20, progress=False)\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_cli_shards_one_to_three_merged_equal_the_whole_sweep(cli, whole, tmp_path):
    shards = [tmp_path / f"shard-{k}.csv" for k in (1, 2, 3)]
    for k, path in enumerate(shards, 1):
        cli_sweep(cli, path, "--shard", f"{k}/3")
        assert len(file_rows(path)) == 4
    merged = tmp_path / "merged.csv"
    cli.run("sweep", "--quiet", "--out", merged, "--merge", *shards)
    assert file_rows(merged) == whole
    for bad in ["0/3", "4/3", "3", "1/0", "a/b"]:
        refused = cli.run(
            "sweep", *CLI_SWEEP, "--frames", FRAMES, "--quiet", "--out", tmp_path / "bad.csv", "--shard", bad,
            check=False,
        )
        assert refused.returncode == 2, (bad, refused.stderr)
        assert "--shard" in refused.stderr and "K/N" in refused.stderr, refused.stderr
        assert not (tmp_path / "bad.csv").exists()
