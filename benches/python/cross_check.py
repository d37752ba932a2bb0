#!/usr/bin/env python3
"""Cross-check: the Rust `genesis bench --dump` and the NumPy reference of
the same run (seed, agents, frames) must agree: positions within 1e-3,
fused and MLP outputs within 1e-4, anomaly flags and neighbour counts on at
least 99.9% of agents.

    python benches/python/cross_check.py --agents 10000 --frames 300
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def read(path):
    with open(path, newline="") as f:
        return {int(r["id"]): r for r in csv.DictReader(f)}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=10000)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--genesis", default=os.path.join(ROOT, "target", "release", "genesis"))
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="genesis-cross-")
    rust, numpy = os.path.join(tmp, "rust.csv"), os.path.join(tmp, "numpy.csv")
    common = ["--agents", str(a.agents), "--frames", str(a.frames), "--seed", str(a.seed)]
    subprocess.run([a.genesis, "bench", "--quiet", "--dump", rust] + common, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, os.path.join(HERE, "genesis_numpy.py"), "--dump", numpy] + common, check=True,
                   stdout=subprocess.DEVNULL)
    r, n = read(rust), read(numpy)
    assert r.keys() == n.keys(), "different agents"
    worst = {}
    within = {"x": 1e-3, "y": 1e-3, "fused": 1e-4, "y0": 1e-4, "y1": 1e-4, "y2": 1e-4, "y3": 1e-4}
    failures = []
    for col, tol in within.items():
        diffs = [abs(float(r[i][col]) - float(n[i][col])) for i in r]
        worst[col] = max(diffs)
        bad = sum(d > tol for d in diffs)
        if bad:
            failures.append(f"{col}: {bad} agents differ by more than {tol} (worst {worst[col]:.3g})")
    for col in ("anomaly", "nbr_count"):
        same = sum(r[i][col] == n[i][col] for i in r) / len(r)
        worst[col + "_agreement"] = same
        if same < 0.999:
            failures.append(f"{col}: agree on {same:.4%} of agents, expected at least 99.9%")
    print(f"cross-check, {a.agents} agents, {a.frames} frames, seed {a.seed}:")
    for k, v in worst.items():
        print(f"  {k:<18} {'agreement' if 'agreement' in k else 'max |diff|'} {v:.6g}")
    if failures:
        print("FAILED:\n  " + "\n  ".join(failures))
        return 1
    print("agree within tolerance")
    return 0


if __name__ == "__main__":
    sys.exit(main())
