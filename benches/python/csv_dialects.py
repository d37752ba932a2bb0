"""The CSV files people have, timed against the clean trace in one run:
the same 500,000 rows with `;` separators, with 1% ragged rows (under
`--bad-rows pad`), and with a text column, clean and with stray quotes in
it (`5'11"`); then `genesis parse --out` writing the clean trace.

Each variant is parsed by `genesis parse --repeat 5` (best of five, as in
compare.sh), in rounds that alternate the variants, so a busy moment of a
shared machine falls on all of them alike; the figure is the median of the
rounds' bests. Prints a markdown section."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import subprocess
import tempfile


def variants(trace: str, out: str) -> dict[str, str]:
    with open(trace) as f:
        lines = f.read().splitlines()
    header, body = lines[0], lines[1:]
    rng = random.Random(1)
    files = {
        "clean": trace,
        "semicolons": "semi.csv",
        "1% ragged rows (pad)": "ragged.csv",
        "clean + text column": "text.csv",
        "text column with stray quotes": "stray.csv",
    }
    contents = {
        "semi.csv": [line.replace(",", ";") for line in lines],
        "ragged.csv": [header] + [line.rsplit(",", 1)[0] if rng.random() < 0.01 else line for line in body],
        "text.csv": [header + ",note"] + [f"{line},obs {i} north" for i, line in enumerate(body)],
        "stray.csv": [header + ",note"]
        + [f"{line},obs {i} 5'11\" north" if i % 10 == 0 else f"{line},obs {i} north" for i, line in enumerate(body)],
    }
    for name, rows in contents.items():
        with open(os.path.join(out, name), "w") as f:
            f.write("\n".join(rows) + "\n")
    return {k: v if k == "clean" else os.path.join(out, v) for k, v in files.items()}


def parse_best(genesis: str, path: str, tmp: str) -> tuple[float, dict]:
    report = os.path.join(tmp, "p.json")
    subprocess.run([genesis, "parse", path, "--repeat", "5", "--json", report], check=True, capture_output=True)
    with open(report) as f:
        j = json.load(f)
    return j["parse_seconds"], j


def write_best(genesis: str, path: str, tmp: str) -> float:
    out = os.path.join(tmp, "out.csv")
    best = 0.0
    for _ in range(5):
        run = subprocess.run([genesis, "parse", path, "--out", out], check=True, capture_output=True, text=True)
        mb = float(re.search(r"([0-9.]+) MB/s", run.stderr).group(1))
        best = max(best, mb)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--genesis", required=True)
    ap.add_argument("--trace", required=True)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        files = variants(args.trace, tmp)
        times: dict[str, list[float]] = {k: [] for k in files}
        reports: dict[str, dict] = {}
        for _ in range(args.rounds):
            for name, path in files.items():
                t, reports[name] = parse_best(args.genesis, path, tmp)
                times[name].append(t)
        write = write_best(args.genesis, args.trace, tmp)
    median = {k: statistics.median(v) for k, v in times.items()}
    print("## CSV: the files people have (same rows, other dialects and damage)")
    print()
    print(f"`benches/python/csv_dialects.py`: each variant parsed with its dialect detected, best of 5 per round, "
          f"median of {args.rounds} alternating rounds.")
    print()
    print("| file | dialect detected | bad rows | parse (median of bests) | vs its clean file |")
    print("|---|---|---|---|---|")
    base = {"clean + text column": "clean + text column", "text column with stray quotes": "clean + text column"}
    for name, t in median.items():
        d = reports[name]["dialect"]
        bad = reports[name]["bad_rows"]
        damage = f"{bad['padded']} padded, {bad['truncated']} cut" if bad["padded"] + bad["truncated"] else "none"
        ref = base.get(name, "clean")
        print(f"| {name} | `{d['delimiter']}`, quote `{d['quote']}`, {d['line_end']} | {damage} | "
              f"{t * 1e3:.1f} ms | {t / median[ref]:.2f}× {ref} |")
    print()
    print(f"`genesis parse --out` (the clean trace written back as RFC 4180, best of 5): **{write:,.0f} MB/s**.")


if __name__ == "__main__":
    main()
