"""``genesis_sim.Simulation`` against ``genesis bench`` (byte-identical
dumps, the same report), NumPy (live readings, trained weights) and itself
(threads, reset, bad input leaving the state as it was)."""

import csv
import io
import json
import os
import signal
import threading
import time

import numpy as np
import pytest
from safetensors.numpy import save_file

import genesis_sim as gs
from conftest import SCENARIO

SMALL = dict(agents=300, seed=7)


def python_dump(sim, path):
    sim.dump(path)
    return path.read_bytes()


def dump_columns(data: bytes):
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    return {name: [row[name] for row in rows] for name in rows[0]}


@pytest.mark.parametrize("threads", [1, 2])
def test_generated_agents_dump_equals_the_cli(cli, tmp_path, threads):
    sim = gs.Simulation(300, seed=7, radius=25.0, threads=threads)
    sim.step(40)
    got = python_dump(sim, tmp_path / "py.csv")
    want = cli.dump(tmp_path / "cli.csv", "--agents", 300, "--seed", 7, "--radius", 25, "--frames", 40, "--threads", threads)
    assert got == want
    assert sim.frame == 40


@pytest.mark.parametrize("threads", [1, 2])
def test_scenario_files_dump_equals_the_cli(cli, tmp_path, threads):
    files = dict(agents_csv=SCENARIO / "agents.csv", events_csv=SCENARIO / "events.csv", trace_csv=SCENARIO / "trace.csv")
    sim = gs.Simulation(**files, threads=threads)
    sim.step(130)
    got = python_dump(sim, tmp_path / "py.csv")
    args = [a for name, path in files.items() for a in (f"--{name.replace('_', '-')}", path)]
    want = cli.dump(tmp_path / "cli.csv", *args, "--frames", 130, "--threads", threads)
    assert got == want


def test_default_options_are_the_cli_defaults(cli, tmp_path):
    sim = gs.Simulation(1000)
    sim.step(3)
    assert python_dump(sim, tmp_path / "py.csv") == cli.dump(tmp_path / "cli.csv", "--agents", 1000, "--frames", 3)
    assert sim.config == {
        "seed": 42, "width": 1000.0, "height": 1000.0, "radius": 10.0, "raster": 256, "channels": 8,
        "neighbours": 16, "window": 64, "z_threshold": 4.0, "noise": pytest.approx(0.05), "dt": pytest.approx(1 / 60),
        "top_speed": 30.0, "hidden": 16,
    }


def test_every_model_option_reaches_the_engine(cli, tmp_path):
    options = dict(width=600.0, height=400.0, raster=64, channels=5, radius=15.0, neighbours=6, window=12,
                   z_threshold=2.5, noise=0.1, dt=0.02, top_speed=45.0, hidden=9)
    sim = gs.Simulation(200, seed=3, **options)
    sim.step(30)
    args = [a for name, value in options.items() for a in (f"--{name.replace('_', '-')}", value)]
    assert python_dump(sim, tmp_path / "py.csv") == cli.dump(tmp_path / "c.csv", "--agents", 200, "--seed", 3, "--frames", 30, *args)


def test_state_arrays_equal_the_dump_columns(tmp_path):
    sim = gs.Simulation(agents_csv=SCENARIO / "agents.csv", channels=8)
    sim.step(75)
    columns = dump_columns(python_dump(sim, tmp_path / "d.csv"))
    n = len(sim)
    f32 = lambda name: np.array(columns[name], dtype=np.float32)
    assert sim.ids.dtype == np.uint32 and sim.ids.tolist() == [int(v) for v in columns["id"]]
    assert sim.ids.tolist() == sorted(sim.ids.tolist())
    assert sim.positions.shape == (n, 2)
    assert np.array_equal(sim.positions, np.stack([f32("x"), f32("y")], axis=1))
    assert np.array_equal(sim.headings, f32("heading"))
    assert np.array_equal(sim.fused, f32("fused"))
    assert np.array_equal(sim.z, f32("z"))
    assert sim.anomaly.dtype == np.bool_
    assert np.array_equal(sim.anomaly, np.array(columns["anomaly"]) == "1")
    assert np.array_equal(sim.nbr_count, np.array(columns["nbr_count"], dtype=np.uint32))
    assert np.array_equal(sim.outputs, np.stack([f32(f"y{k}") for k in range(4)], axis=1))
    assert sim.sensors.shape == (n, 8) and sim.sensors.dtype == np.float32
    # Fusion (SPEC 4.3) from the arrays alone, for agents with no neighbours.
    alone = sim.nbr_count == 0
    assert alone.any()
    assert np.allclose(sim.sensors[alone].mean(axis=1), sim.fused[alone], atol=1e-6)


def test_report_has_the_bench_json_fields(cli, tmp_path):
    sim = gs.Simulation(**SMALL)
    sim.step(50)
    report = sim.report()
    cli.run("bench", "--quiet", "--agents", 300, "--seed", 7, "--frames", 50, "--warmup", 0, "--json", tmp_path / "r.json")
    want = json.loads((tmp_path / "r.json").read_text())
    assert set(report) == set(want)
    for same in ("agents", "frames", "warmup", "seed", "anomalies_total", "detection", "final", "config", "isa", "weights"):
        assert report[same] == want[same], same
    assert [s["name"] for s in report["systems"]] == ["spatial", "sensing", "fusion", "inference", "anomaly", "movement"]
    assert report["hz"] > 0 and report["frame_ms"]["p50"] > 0
    assert report["frame_ms"]["p50"] <= report["frame_ms"]["p99"] <= report["frame_ms"]["max"]


def test_reset_gives_a_new_simulations_state(tmp_path):
    sim = gs.Simulation(**SMALL)
    sim.step(20)
    first = python_dump(sim, tmp_path / "a.csv")
    sim.step(33)
    sim.reset()
    assert sim.frame == 0
    sim.step(20)
    assert python_dump(sim, tmp_path / "b.csv") == first
    assert sim.report()["frames"] == 20


def test_invalid_options_raise_value_error_with_the_cli_message(cli, tmp_path):
    for option, value in [("radius", 0.0), ("channels", 9), ("neighbours", 65), ("top_speed", -1.0), ("window", 0)]:
        with pytest.raises(ValueError) as caught:
            gs.Simulation(100, **{option: value})
        cli_option = "--" + option.replace("_", "-")
        failed = cli.run("sweep", "--out", tmp_path / "s.csv", "--frames", 1, cli_option, value, check=False)
        assert failed.returncode == 2
        assert failed.stderr.strip() == f"error: {caught.value}"
    for kwargs, needle in [(dict(agents=0), "--agents"), (dict(agents=-4), "--agents"), (dict(seed=-1), "--seed"),
                           (dict(raster=-2), "--raster"), (dict(threads=-1), "--threads"),
                           (dict(noise=float("nan")), "--noise"), (dict(dt=float("inf")), "--dt"),
                           (dict(agents=5, agents_csv=SCENARIO / "agents.csv"), "agents_csv")]:
        with pytest.raises(ValueError, match=needle):
            gs.Simulation(**kwargs)
    sim = gs.Simulation(10)
    with pytest.raises(ValueError, match="frames"):
        sim.step(-1)


def test_a_malformed_scenario_file_raises_csv_error_as_the_cli_reports_it(cli, tmp_path):
    path = tmp_path / "agents.csv"
    path.write_text("id,x,y\n0,1,1\n1,2,2\n1,3,3\n")
    with pytest.raises(gs.CsvError) as caught:
        gs.Simulation(agents_csv=path)
    assert (caught.value.line, caught.value.column) == (4, 1)
    failed = cli.run("bench", "--agents-csv", path, "--frames", 1, check=False)
    assert failed.returncode == 1 and failed.stderr.strip() == f"error: {caught.value}"


# Live readings -----------------------------------------------------------

def write_trace(path, frame, ids, readings):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["frame", "agent"] + [f"s{c}" for c in range(readings.shape[1])])
        for agent, row in zip(ids, readings):
            # repr of the float32 widened to float64 reads back to the same float32.
            w.writerow([frame, int(agent)] + [repr(float(v)) for v in row])


@pytest.mark.parametrize("channels", [8, 3])
def test_live_readings_equal_a_trace_csv_with_the_same_readings(tmp_path, channels):
    rng = np.random.default_rng(5)
    live = gs.Simulation(400, seed=11, channels=channels)
    live.step(12)
    readings = rng.uniform(-1.0, 3.0, size=(400, channels)).astype(np.float32)
    live.step(sensors=readings)
    assert np.array_equal(live.sensors, readings)
    live.step(20)
    trace = tmp_path / "trace.csv"
    write_trace(trace, 12, live.ids, readings)
    traced = gs.Simulation(400, seed=11, channels=channels, trace_csv=trace)
    traced.step(33)
    assert python_dump(live, tmp_path / "a.csv") == python_dump(traced, tmp_path / "b.csv")
    plain = gs.Simulation(400, seed=11, channels=channels)
    plain.step(33)
    assert python_dump(plain, tmp_path / "c.csv") != python_dump(live, tmp_path / "a.csv")


def test_live_readings_follow_id_order_with_listed_agents(tmp_path):
    agents = tmp_path / "agents.csv"
    ids = [907, 12, 40_000, 3, 512]
    agents.write_text("id,x,y\n" + "".join(f"{i},{100 + 150 * k},{200 + 100 * k}\n" for k, i in enumerate(ids)))
    sim = gs.Simulation(agents_csv=agents)
    readings = np.arange(5 * 8, dtype=np.float32).reshape(5, 8) / 10
    sim.step(sensors=readings)
    assert sim.ids.tolist() == sorted(ids)
    assert np.array_equal(sim.sensors, readings)
    trace = tmp_path / "trace.csv"
    write_trace(trace, 0, sim.ids, readings)
    traced = gs.Simulation(agents_csv=agents, trace_csv=trace)
    traced.step(1)
    assert python_dump(sim, tmp_path / "a.csv") == python_dump(traced, tmp_path / "b.csv")


def test_bad_readings_raise_and_change_nothing(tmp_path):
    sim = gs.Simulation(**SMALL)
    sim.step(5)
    before = python_dump(sim, tmp_path / "before.csv")
    good = np.full((300, 8), 0.5, dtype=np.float32)
    nan = good.copy()
    nan[17, 3] = np.nan
    bad = {
        "shape": np.zeros((300, 7), dtype=np.float32),
        "rows": np.zeros((299, 8), dtype=np.float32),
        "1-d": np.zeros(300 * 8, dtype=np.float32),
        "dtype": np.zeros((300, 8), dtype=np.float64),
        "nan": nan,
        "inf": np.where(good > 0, np.inf, good).astype(np.float32),
        "list": [[0.5] * 8] * 300,
    }
    for case, readings in bad.items():
        with pytest.raises(ValueError, match="sensors") as caught:
            sim.step(sensors=readings)
        assert sim.frame == 5, case
        assert python_dump(sim, tmp_path / "after.csv") == before, case
    assert "row 17 column 3" in str(pytest.raises(ValueError, sim.step, sensors=nan).value)
    with pytest.raises(ValueError, match="one frame"):
        sim.step(2, sensors=good)
    # And the simulation goes on as if nothing had been tried.
    sim.step(4)
    fresh = gs.Simulation(**SMALL)
    fresh.step(9)
    assert python_dump(sim, tmp_path / "a.csv") == python_dump(fresh, tmp_path / "b.csv")


def test_readings_may_be_a_non_contiguous_view(tmp_path):
    wide = np.random.default_rng(1).uniform(size=(300, 16)).astype(np.float32)
    view = wide[:, ::2]
    assert not view.flags.c_contiguous
    a = gs.Simulation(**SMALL)
    a.step(sensors=view)
    b = gs.Simulation(**SMALL)
    b.step(sensors=np.ascontiguousarray(view))
    assert python_dump(a, tmp_path / "a.csv") == python_dump(b, tmp_path / "b.csv")


# Trained weights ----------------------------------------------------------

def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@pytest.mark.parametrize("hidden", [3, 16])
def test_given_weights_give_the_outputs_computed_by_hand(hidden):
    rng = np.random.default_rng(hidden)
    channels = 8 if hidden == 16 else 2
    weights = {
        "w1": rng.normal(size=(channels, hidden)).astype(np.float32),
        "b1": rng.normal(size=hidden).astype(np.float32),
        "w2": rng.normal(size=(hidden, 4)).astype(np.float32),
        "b2": rng.normal(size=4).astype(np.float32),
    }
    sim = gs.Simulation(500, channels=channels, hidden=hidden, weights=weights)
    sim.step(3)
    s = sim.sensors.astype(np.float64)
    w = {k: v.astype(np.float64) for k, v in weights.items()}
    want = sigmoid(sigmoid(s @ w["w1"] + w["b1"]) @ w["w2"] + w["b2"])
    assert np.abs(sim.outputs - want).max() < 2e-6
    assert all(np.array_equal(sim.weights[k], v) for k, v in weights.items())


def test_spec_weights_are_the_published_values():
    w = gs.spec_weights()
    assert {k: v.shape for k, v in w.items()} == {"w1": (8, 16), "b1": (16,), "w2": (16, 4), "b2": (4,)}
    assert all(v.dtype == np.float32 for v in w.values())
    assert np.allclose(w["w1"][0, :3], [0.15503699, -0.47287261, 0.30966634], atol=1e-6)
    assert abs(w["w2"][15, 3] - 0.35757908) < 1e-6
    assert not w["b1"].any() and not w["b2"].any()


def test_spec_weights_saved_to_safetensors_give_the_default_run(cli, tmp_path):
    path = tmp_path / "spec.safetensors"
    save_file(gs.spec_weights(), str(path))
    sim = gs.Simulation(**SMALL, weights=path)
    sim.step(25)
    default = cli.dump(tmp_path / "cli.csv", "--agents", 300, "--seed", 7, "--frames", 25)
    assert python_dump(sim, tmp_path / "py.csv") == default
    assert cli.dump(tmp_path / "cli_w.csv", "--agents", 300, "--seed", 7, "--frames", 25, "--weights", path) == default


def test_cli_weights_and_python_weights_agree(cli, tmp_path):
    rng = np.random.default_rng(9)
    weights = {k: (v + rng.normal(scale=0.5, size=v.shape)).astype(np.float32) for k, v in gs.spec_weights().items()}
    path = tmp_path / "trained.safetensors"
    save_file(weights, str(path))
    from_dict = gs.Simulation(**SMALL, weights=weights)
    from_file = gs.Simulation(**SMALL, weights=str(path))
    for sim in (from_dict, from_file):
        sim.step(25)
    got = python_dump(from_dict, tmp_path / "a.csv")
    assert got == python_dump(from_file, tmp_path / "b.csv")
    assert got == cli.dump(tmp_path / "cli.csv", "--agents", 300, "--seed", 7, "--frames", 25, "--weights", path)
    assert got != cli.dump(tmp_path / "plain.csv", "--agents", 300, "--seed", 7, "--frames", 25)


def test_wrong_weights_are_clear_errors(cli, tmp_path):
    spec = gs.spec_weights()
    cases = {
        "missing tensor 'b2'": {k: v for k, v in spec.items() if k != "b2"},
        "'w1' has shape [16, 8], expected [8, 16]": {**spec, "w1": spec["w1"].T.copy()},
        "'w2' is an array of dtype float64 and shape (16, 4), expected a float32 array": {**spec, "w2": spec["w2"].astype(np.float64)},
        "'b1' holds NaN": {**spec, "b1": np.full(16, np.nan, dtype=np.float32)},
        "expected a path to a safetensors file or a dict": 42,
    }
    for needle, weights in cases.items():
        with pytest.raises(ValueError, match="weights") as caught:
            gs.Simulation(10, weights=weights)
        assert needle in str(caught.value), str(caught.value)
    bad = {**spec, "w1": spec["w1"][:5].copy()}
    path = tmp_path / "bad.safetensors"
    save_file(bad, str(path))
    with pytest.raises(ValueError, match=r"'w1' has shape \[5, 16\]"):
        gs.Simulation(10, weights=path)
    failed = cli.run("bench", "--agents", 10, "--frames", 1, "--weights", path, check=False)
    assert failed.returncode == 1 and "'w1' has shape [5, 16]" in failed.stderr
    assert "panicked" not in failed.stderr
    with pytest.raises(ValueError, match="cannot read weights"):
        gs.Simulation(10, weights=tmp_path / "absent.safetensors")


# Threads and signals -----------------------------------------------------

def test_other_python_threads_run_while_step_runs():
    sim = gs.Simulation(1000)
    sim.step(1)
    counted = 0
    stop = threading.Event()

    def count():
        nonlocal counted
        while not stop.is_set():
            counted += 1

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.05)
    before = counted
    started = time.perf_counter()
    sim.step(2000)
    elapsed = time.perf_counter() - started
    during = counted - before
    stop.set()
    counter.join()
    assert sim.frame == 2001
    # With the GIL held for the whole step the thread could not count at
    # all; it counts millions of times a second when it runs.
    assert during > 10_000 * elapsed, (during, elapsed)


def test_ctrl_c_stops_a_step_between_frames():
    sim = gs.Simulation(2000)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        sim.step(10**9)
    timer.join()
    done = sim.frame
    assert 0 < done < 10**9
    sim.step(2)
    assert sim.frame == done + 2


def test_state_can_be_read_from_another_thread_between_steps():
    sim = gs.Simulation(**SMALL)
    results = []

    def reader():
        for _ in range(20):
            results.append(sim.positions.shape)

    t = threading.Thread(target=reader)
    t.start()
    sim.step(200)
    t.join()
    assert results == [(300, 2)] * 20 and sim.frame == 200


def test_more_agents_than_memory_is_a_memory_error_not_a_crash(monkeypatch):
    monkeypatch.setenv("GENESIS_MEMORY_LIMIT", "1000000000")
    with pytest.raises(MemoryError, match=r"--agents 4000000000 .* 953.7 MiB available"):
        gs.Simulation(4_000_000_000)
    with pytest.raises(MemoryError, match="--raster 8192"):
        gs.Simulation(10, raster=8192)
    with pytest.raises(MemoryError, match="--jobs 2 runs at once"):
        gs.sweep(10, agents=1_000_000, seeds=[1, 2], jobs=2, progress=False)
    assert len(gs.Simulation(1000)) == 1000
