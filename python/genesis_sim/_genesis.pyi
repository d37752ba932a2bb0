"""Type stubs of the compiled module (``crates/genesis-py``)."""

import os
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__version__: str

_Path = str | os.PathLike[str]

class CsvError(ValueError):
    """A CSV file that could not be read; ``str(error)`` is the command
    line's ``file:line:column: message``."""

    path: str | None
    line: int | None
    column: int | None

def read_csv(
    path: _Path,
    *,
    threads: int | None = None,
    delimiter: str | None = None,
    quote: str | None = None,
    escape: str | None = None,
    header: bool | None = None,
    skip_rows: int | None = None,
    encoding: str | None = None,
    line_end: str | None = None,
    decimal: str | None = None,
    bad_rows: str = "pad",
    rejects: _Path | None = None,
) -> Table:
    """Parses a CSV file into typed columns, on all cores (see ``Table``);
    the dialect is detected unless forced."""

class Table:
    """A parsed CSV file. Numeric columns are read-only NumPy arrays over
    the parsed values (missing: NaN in float columns, 0 in integer ones;
    see ``missing``); text columns are lists of ``str`` (``None`` where
    missing). Also an Arrow table through the PyCapsule interface."""

    @property
    def columns(self) -> list[str]: ...
    @property
    def dtypes(self) -> list[tuple[str, str]]: ...
    @property
    def rows(self) -> int: ...
    @property
    def path(self) -> str: ...
    @property
    def dialect(self) -> dict[str, Any]: ...
    def to_csv(self, path: _Path) -> None: ...
    @property
    def parse_seconds(self) -> float: ...
    @property
    def stats(self) -> dict[str, Any]: ...
    def __len__(self) -> int: ...
    def __contains__(self, name: str) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def __getitem__(self, name: str) -> npt.NDArray[np.int64] | npt.NDArray[np.float64] | list[str | None]: ...
    def missing(self, name: str) -> npt.NDArray[np.bool_]: ...
    def __arrow_c_schema__(self) -> object: ...
    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]: ...
    def __arrow_c_stream__(self, requested_schema: object | None = None) -> object: ...

class Simulation:
    """The Genesis awareness model in this process (see ``help()``)."""

    def __init__(
        self,
        agents: int | None = None,
        seed: int = 42,
        *,
        width: float = 1000.0,
        height: float = 1000.0,
        raster: int = 256,
        channels: int = 8,
        radius: float = 10.0,
        neighbours: int = 16,
        window: int = 64,
        z_threshold: float = 4.0,
        noise: float = 0.05,
        dt: float = 1 / 60,
        top_speed: float = 30.0,
        hidden: int = 16,
        agents_csv: _Path | None = None,
        events_csv: _Path | None = None,
        trace_csv: _Path | None = None,
        weights: _Path | Mapping[str, npt.NDArray[np.float32]] | None = None,
        threads: int | None = None,
        reorder_every: int = 32,
    ) -> None: ...
    def step(self, frames: int = 1, *, sensors: npt.NDArray[np.float32] | None = None) -> None: ...
    def reset(self) -> None: ...
    def report(self) -> dict[str, Any]: ...
    def dump(self, path: _Path) -> None: ...
    def __len__(self) -> int: ...
    @property
    def frame(self) -> int: ...
    @property
    def agents(self) -> int: ...
    @property
    def config(self) -> dict[str, int | float]: ...
    @property
    def weights(self) -> dict[str, npt.NDArray[np.float32]]: ...
    @property
    def ids(self) -> npt.NDArray[np.uint32]: ...
    @property
    def positions(self) -> npt.NDArray[np.float32]: ...
    @property
    def headings(self) -> npt.NDArray[np.float32]: ...
    @property
    def sensors(self) -> npt.NDArray[np.float32]: ...
    @property
    def fused(self) -> npt.NDArray[np.float32]: ...
    @property
    def z(self) -> npt.NDArray[np.float32]: ...
    @property
    def anomaly(self) -> npt.NDArray[np.bool_]: ...
    @property
    def nbr_count(self) -> npt.NDArray[np.uint32]: ...
    @property
    def outputs(self) -> npt.NDArray[np.float32]: ...

def spec_weights(channels: int = 8, hidden: int = 16) -> dict[str, npt.NDArray[np.float32]]:
    """SPEC 4.4's default MLP weights as float32 arrays."""

# The Rust half of ``genesis_sim.sweep`` (see ``_sweep.py``).

_SWEEP_PARAMETERS: list[str]
_SWEEP_INTEGER: list[str]

def _sweep_plan(
    options: Mapping[str, Any],
    frames: int,
    warmup: int | None = None,
    *,
    weights: _Path | None = None,
    shard: tuple[int, int] | None = None,
) -> tuple[list[str], int]:
    """The runs' keys in the combination order, and the warm-up."""

def _sweep_row(
    key: str, frames: int, warmup: int, *, threads: int = 1, weights: _Path | None = None
) -> str:
    """Runs the run named by ``key``; returns its output row."""

def _sweep_local(
    keys: list[str],
    frames: int,
    warmup: int,
    *,
    out: _Path,
    jobs: int = 0,
    threads: int = 1,
    weights: _Path | None = None,
    progress: bool = True,
) -> tuple[int, list[tuple[str, str]]]:
    """The runs not yet in ``out``, on this machine: (done, failures)."""

def _sweep_table(out: _Path, keys: list[str]) -> Table:
    """The rows of ``keys`` in ``out``, in that order."""

class SweepWriter:
    """A sweep's output file: rows appended each run once, with progress."""

    def __init__(self, out: _Path, *, progress: bool = True) -> None: ...
    def todo(self, keys: list[str]) -> list[str]: ...
    def __len__(self) -> int: ...
    def write(self, row: str) -> bool: ...
    def finish(self) -> None: ...
