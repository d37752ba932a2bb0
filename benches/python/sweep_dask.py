#!/usr/bin/env python3
"""Sweeps through Dask against ``genesis sweep``, in one sitting.

1. The issue's workload: 100 runs × 1,000 agents × 1,000 frames, through
   ``genesis sweep --jobs 2`` (the CLI), ``genesis_sim.sweep(jobs=2)`` (the
   same machinery from Python) and ``genesis_sim.sweep(client=...)`` on a
   ``LocalCluster`` of 2 worker processes × 1 thread, alternating, each
   timed ``--repeats`` times with a fresh output file. The cluster is
   started once, before (its start-up is timed apart): a cluster is
   started for a session of sweeps, not for one.
2. What the cluster adds per run: 200 runs of 10 agents × 1 frame (all
   overhead), CLI against Dask with one run per task and with the default
   batches; (Dask − CLI) / runs.

Prints markdown tables (with the machine) to stdout.

    python benches/python/sweep_dask.py --genesis target/release/genesis
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import genesis_sim as gs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hybrid import processor  # noqa: E402


def timed(work):
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def cli(genesis, out, agents, frames, runs):
    subprocess.run(
        [genesis, "sweep", "--agents", str(agents), "--frames", str(frames), "--seeds", f"1..{runs}",
         "--jobs", "2", "--quiet", "--out", out],
        check=True, stdout=subprocess.DEVNULL,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--genesis", default="target/release/genesis")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--runs", type=int, default=100)
    args = parser.parse_args()
    from distributed import Client, LocalCluster

    scratch = tempfile.mkdtemp(prefix="genesis-sweep-bench-")
    counter = iter(range(10**6))

    def fresh():
        return os.path.join(scratch, f"s{next(counter)}.csv")

    start = time.perf_counter()
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(cluster)
    started = time.perf_counter() - start
    first = timed(lambda: gs.sweep(10, agents=10, seeds=[1, 2], client=client, progress=False, batch_size=1))

    runs, agents, frames = args.runs, 1000, 1000
    times = {"genesis sweep --jobs 2 (CLI)": [], "genesis_sim.sweep(jobs=2)": [], "genesis_sim.sweep(client=LocalCluster 2×1)": []}
    names = list(times)
    for _ in range(args.repeats):
        times[names[0]].append(timed(lambda: cli(args.genesis, fresh(), agents, frames, runs)))
        times[names[1]].append(timed(lambda: gs.sweep(frames, agents=agents, seeds=range(1, runs + 1), jobs=2, out=fresh(), progress=False)))
        times[names[2]].append(timed(lambda: gs.sweep(frames, agents=agents, seeds=range(1, runs + 1), client=client, out=fresh(), progress=False)))

    print(f"## Sweeps through Dask ({processor()}, {os.cpu_count()} logical CPUs, "
          f"Python {platform.python_version()})\n")
    print(f"LocalCluster(n_workers=2, threads_per_worker=1, processes=True): started in {started:.2f} s; "
          f"its first sweep (2 tiny runs, workers importing genesis_sim) {first:.2f} s.\n")
    print(f"{runs} runs × {agents:,} agents × {frames:,} frames, {args.repeats} alternating repeats:\n")
    print("| door | best s | median s | runs/s (best) | vs CLI (median) |")
    print("|---|---:|---:|---:|---:|")
    base = statistics.median(times[names[0]])
    for name in names:
        t = times[name]
        print(f"| {name} | {min(t):.2f} | {statistics.median(t):.2f} | {runs / min(t):.1f} | "
              f"{statistics.median(t) / base:.3f} |")

    tiny = 200
    over = {"CLI": [], "Dask, 1 run per task": [], "Dask, default batches": []}
    for _ in range(args.repeats):
        over["CLI"].append(timed(lambda: cli(args.genesis, fresh(), 10, 1, tiny)))
        over["Dask, 1 run per task"].append(timed(lambda: gs.sweep(1, agents=10, seeds=range(1, tiny + 1), client=client, out=fresh(), progress=False, batch_size=1)))
        over["Dask, default batches"].append(timed(lambda: gs.sweep(1, agents=10, seeds=range(1, tiny + 1), client=client, out=fresh(), progress=False)))
    print(f"\nWhat a run costs beyond its frames: {tiny} runs of 10 agents × 1 frame, best of {args.repeats}:\n")
    print("| door | best s | per run ms | added per run vs CLI ms |")
    print("|---|---:|---:|---:|")
    cli_best = min(over["CLI"])
    for name, t in over.items():
        print(f"| {name} | {min(t):.3f} | {min(t) / tiny * 1000:.2f} | {(min(t) - cli_best) / tiny * 1000:.2f} |")
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
