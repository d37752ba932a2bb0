#!/usr/bin/env bash
# Rust vs Python, measured in one run on this machine: the simulation at
# 1k, 10k and 100k agents (Genesis, NumPy + cKDTree, plain Python loops
# where it finishes in reasonable time) and the CSV engine on a 500,000-row
# trace against Python's csv module, pandas, polars, DuckDB and pyarrow,
# and the same trace in other dialects and with damage (csv_dialects.py);
# then the same from Python through the genesis_sim package
# (benches/python/hybrid.py), and sweeps through Dask against `genesis
# sweep` (benches/python/sweep_dask.py). Prints the tables and saves them with the
# machine description to benches/RESULTS.md. Installs the Python packages,
# genesis_sim built from this tree among them, into benches/python/.venv.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV=benches/python/.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check numpy scipy pandas pyarrow polars duckdb
fi
PY="$VENV/bin/python"
"$VENV/bin/pip" install -q --disable-pip-version-check '.[dask]'
cargo build --release --quiet
G="$ROOT/target/release/genesis"
TMP=$(mktemp -d)
OUT=benches/RESULTS.md

hz_of() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['hz'])" "$1"; }

{
  echo "# Rust vs Python: results"
  echo
  "$G" bench --agents 10 --frames 2 --quiet --json "$TMP/machine.json" >/dev/null
  BUILD=$("$PY" -c "import json,sys; m=json.load(open(sys.argv[1]))['machine']; print(f\"{m['isa']} build, {m['rust']}\")" "$TMP/machine.json")
  echo "Measured by \`benches/compare.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores ($(lscpu | sed -n 's/^Model name: *//p' | head -1); $BUILD), $(free -g | awk '/Mem:/ {print $2}') GiB memory, $("$PY" --version), NumPy $("$PY" -c 'import numpy; print(numpy.__version__)'). All figures come from this one run; speed-ups are ratios within it. The machine is shared: repeat runs vary by up to ±25%."
  echo
  echo "## Simulation (SPEC defaults, seed 42; Genesis on all cores)"
  echo
  echo "| agents | method | frames | time | Hz | speed-up vs pure Python |"
  echo "|---|---|---|---|---|---|"
} > "$TMP/results.md"

for N in 1000 10000 100000; do
  case $N in
    1000) RF=2000; NF=100; LF=10 ;;
    10000) RF=1000; NF=30; LF=2 ;;
    100000) RF=100; NF=5; LF=0 ;;
  esac
  "$G" bench --agents $N --frames $RF --quiet --json "$TMP/rust.json" > /dev/null
  RUST=$(hz_of "$TMP/rust.json")
  NUMPY=$("$PY" benches/python/genesis_numpy.py --agents $N --frames $NF --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['hz'])")
  if [ "$LF" -gt 0 ]; then
    LOOPS=$("$PY" benches/python/genesis_loops.py --agents $N --frames $LF --json | "$PY" -c "import json,sys; print(json.load(sys.stdin)['hz'])")
  else
    LOOPS=""
  fi
  "$PY" - "$N" "$RUST" "$RF" "$NUMPY" "$NF" "$LOOPS" "$LF" >> "$TMP/results.md" <<'PYEOF'
import sys
n, rust, rf, numpy, nf, loops, lf = sys.argv[1:]
base = float(loops) if loops else None
def row(method, frames, hz):
    hz = float(hz)
    up = f"{hz / base:,.0f}×" if base else "(pure Python too slow to run)"
    print(f"| {int(n):,} | {method} | {frames} | {float(frames) / hz:.2f} s | {hz:,.1f} | {up} |")
row("Genesis (Rust)", rf, rust)
row("NumPy + cKDTree", nf, numpy)
if loops:
    row("pure Python loops", lf, loops)
print(f"| {int(n):,} | **Genesis / NumPy** | | | **{float(rust) / float(numpy):,.0f}×** | |")
PYEOF
done

"$G" gen --out "$TMP/trace" --agents 1000 --events 1 --trace-rows 500000 > /dev/null
TRACE="$TMP/trace/trace.csv"
# Best of three in one process, like the Python peers (each in its own
# interpreter, imports done first); every method's first load is kept too.
"$G" parse "$TRACE" --repeat 3 --json "$TMP/parse.json" > /dev/null
"$PY" benches/python/csv_peers.py "$TRACE" > "$TMP/peers.jsonl"
"$PY" - "$TMP/parse.json" "$TMP/peers.jsonl" "$TRACE" >> "$TMP/results.md" <<'PYEOF'
import json, os, sys
rust = json.load(open(sys.argv[1]))
peers = [json.loads(l) for l in open(sys.argv[2])]
size = os.path.getsize(sys.argv[3])
base = next(p["seconds"] for p in peers if p["method"] == "python csv module")
print()
print(f"## CSV: {rust['rows']:,}-row sensor trace ({size / 1e6:.1f} MB) into typed columns")
print()
print("Each method loads the file three times in one process (Python: one interpreter, imports done first): "
      "the best of the three is the figure compared, as its allocator has memory to reuse by then; "
      "the first load (fresh memory, and for the Python peers anything they set up on first use) is shown beside it.")
print()
print("| method | first load | best of 3 | throughput (best) | speed-up vs pure Python |")
print("|---|---|---|---|---|")
rows = [("Genesis (Rust, all cores)", rust["parse_runs"][0], rust["parse_seconds"])]
rows += [(p["method"], p["first"], p["seconds"]) for p in peers if "seconds" in p]
for name, first, best in rows:
    print(f"| {name} | {first:.3f} s | {best:.3f} s | {size / best / 1e6:,.0f} MB/s | {base / best:,.1f}× |")
for p in peers:
    if "error" in p:
        print(f"| {p['method']} | not run: {p['error']} | | | |")
fast = [p for p in peers if "seconds" in p and p["method"] != "python csv module"]
if fast:
    best_peer = min(fast, key=lambda p: p["seconds"])
    first_peer = min(fast, key=lambda p: p["first"])
    print()
    print(f"Genesis against the fastest peer: **{best_peer['seconds'] / rust['parse_seconds']:.1f}×** "
          f"{best_peer['method']} (best of 3); {first_peer['first'] / rust['parse_runs'][0]:.1f}× "
          f"{first_peer['method']} on first loads.")
PYEOF

echo >> "$TMP/results.md"
"$PY" benches/python/csv_dialects.py --genesis "$G" --trace "$TRACE" >> "$TMP/results.md"

{ echo; echo "## The Python package (genesis_sim)"; echo; } >> "$TMP/results.md"
"$PY" benches/python/hybrid.py --genesis "$G" --trace "$TRACE" | sed 's/^## /### /' >> "$TMP/results.md"
echo >> "$TMP/results.md"
"$PY" benches/python/sweep_dask.py --genesis "$G" 2>/dev/null | sed 's/^## /### /' >> "$TMP/results.md"

cp "$TMP/results.md" "$OUT"
cat "$OUT"
