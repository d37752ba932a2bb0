#!/usr/bin/env bash
# Every test of Genesis, from a fresh checkout: the Rust tests (`cargo
# test`), then the Python package built from this tree into a virtual
# environment (target/pyenv) and its pytest suite, which checks it against
# the `genesis` binary the Rust tests built.
#
#   bash scripts/test.sh              # everything
#   bash scripts/test.sh -k weights   # extra arguments go to pytest
#
# Needs Rust (cargo) and CPython 3.11 or later with venv and pip; PYTHON
# names another interpreter. Python packages come from the package index.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Rust tests (cargo test)"
cargo test --locked
# The binary the Python tests compare against: the one `cargo test` just
# built for its own command-line tests (a `cargo build` would build every
# dependency again, in the dev profile).
export GENESIS_BIN="$PWD/target/debug/genesis"
test -x "$GENESIS_BIN"

echo "== Python package (pip install '.[test]' into target/pyenv)"
PYTHON="${PYTHON:-python3}"
if [ ! -x target/pyenv/bin/python ]; then
  "$PYTHON" -m venv target/pyenv
fi
target/pyenv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
target/pyenv/bin/python -m pip install -q --disable-pip-version-check '.[test]'

echo "== Python tests (pytest tests/python)"
# pytest exits with 5 when it collects no test: that fails here too.
target/pyenv/bin/python -m pytest -q tests/python "$@"
