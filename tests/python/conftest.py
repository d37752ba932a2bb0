"""Shared fixtures of the Python test suite.

The suite checks the package against the ``genesis`` command line (the
same engine through its other door), Python's ``csv`` module, NumPy and
established readers (pyarrow, polars, pandas). ``GENESIS_BIN`` names the
command-line binary; ``scripts/test.sh`` builds it and sets it. Without it
the tests look for ``target/debug/genesis`` (what ``cargo test`` builds).
"""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SCENARIO = ROOT / "assets" / "scenario"


def _binary() -> Path:
    named = os.environ.get("GENESIS_BIN")
    if named:
        return Path(named)
    for candidate in (ROOT / "target" / "debug" / "genesis", ROOT / "target" / "release" / "genesis"):
        if candidate.exists():
            return candidate
    pytest.exit("no genesis binary: build it (cargo build) or set GENESIS_BIN", returncode=2)


class Cli:
    """The ``genesis`` command line, run as a subprocess."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, *args, check=True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(self.binary), *map(str, args)], capture_output=True, text=True, timeout=120
        )
        if check and result.returncode != 0:
            raise AssertionError(f"genesis {' '.join(map(str, args))} failed:\n{result.stderr}")
        return result

    def dump(self, path: Path, *args) -> bytes:
        """``genesis bench ... --dump path``, returning the dump's bytes."""
        self.run("bench", "--quiet", "--dump", path, *args)
        return path.read_bytes()

    def parse_json(self, csv_path: Path, out: Path) -> dict:
        self.run("parse", csv_path, "--json", out)
        return json.loads(out.read_text())


@pytest.fixture(scope="session")
def cli() -> Cli:
    return Cli(_binary())
