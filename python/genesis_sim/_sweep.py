"""``genesis_sim.sweep``: many runs over parameters and seeds, on this
machine or on a Dask cluster.

The runs, their rows and the output file are the command line's
(``genesis sweep``): the Rust library plans the runs (``_sweep_plan``),
runs one and writes its row (``_sweep_row``), and appends rows to the output
file each run once (``SweepWriter``). This module only hands the runs out:

- without a client, to ``genesis sweep``'s own machinery in this process
  (``_sweep_local``: ``jobs`` runs at a time on Rust threads);
- with a ``dask.distributed.Client``, as Dask tasks, each a small batch of
  runs named by their keys (the row's parameter columns, a short string),
  run by ``genesis_sim`` on the workers; rows come back to this process,
  which writes them to ``out`` as they arrive.

Dask is imported only when a client is given: the rest of the package
does not need it (``pip install 'genesis-sim[dask]'``).
"""

from __future__ import annotations

import os
import sys
import tempfile
from typing import Any

from ._genesis import (
    _SWEEP_INTEGER,
    _SWEEP_PARAMETERS,
    SweepWriter,
    Table,
    _sweep_local,
    _sweep_plan,
    _sweep_row,
    _sweep_table,
)

#: The swept parameters, in the output's column order (``seed`` last), as
#: the Rust library defines them.
PARAMETERS: tuple[str, ...] = tuple(_SWEEP_PARAMETERS)

_INTEGER = frozenset(_SWEEP_INTEGER)


class SweepError(RuntimeError):
    """Some runs of a sweep failed; the others were done and written.

    Attributes:
        failures: ``(parameters, message)`` per failed run, ``parameters``
            a dict of the run's options.
        table: the rows of the runs that were done, as ``sweep`` returns
            them.
    """

    def __init__(self, message: str, failures: list[tuple[dict[str, Any], str]], table: Table) -> None:
        super().__init__(message)
        self.failures = failures
        self.table = table


def parameters(key: str) -> dict[str, int | float]:
    """A run's parameters from its key (the parameter columns of its row)."""
    return {
        name: int(value) if name in _INTEGER else float(value)
        for name, value in zip(PARAMETERS, key.split(","), strict=True)
    }


def _run_batch(
    keys: list[str], frames: int, warmup: int, threads: int, weights: str | None
) -> list[tuple[str, str | None, str | None]]:
    """A Dask task: runs each run and returns ``(key, row, None)``, or
    ``(key, None, message)`` for a run that raised (the others go on)."""
    results: list[tuple[str, str | None, str | None]] = []
    for key in keys:
        try:
            results.append((key, _sweep_row(key, frames, warmup, threads=threads, weights=weights), None))
        except Exception as error:  # noqa: BLE001 - reported with the run's parameters
            results.append((key, None, f"{type(error).__name__}: {error}"))
    return results


def _batch_size(todo: int, client: Any) -> int:
    """Runs per task: about eight tasks per worker thread, so the runs
    still spread evenly over the workers while a task's overhead (a few
    milliseconds) stays small beside its runs."""
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    except Exception:  # noqa: BLE001 - an unusual client: fall back to one run per task
        return 1
    return max(1, todo // (8 * max(threads, 1)))


def _on_dask(
    client: Any,
    todo: list[str],
    writer: SweepWriter,
    frames: int,
    warmup: int,
    threads: int,
    weights: str | None,
    batch_size: int | None,
) -> list[tuple[str, str]]:
    from distributed import as_completed

    size = batch_size or _batch_size(len(todo), client)
    batches = [todo[i : i + size] for i in range(0, len(todo), size)]
    futures = client.map(
        _run_batch, batches, frames=frames, warmup=warmup, threads=threads, weights=weights, pure=False
    )
    batch_of = {future.key: batch for future, batch in zip(futures, batches, strict=True)}
    failures: list[tuple[str, str]] = []
    try:
        for future in as_completed(futures):
            try:
                results = future.result()
            except Exception as error:  # noqa: BLE001 - the task itself failed (KilledWorker, ...)
                message = f"{type(error).__name__}: {error}"
                results = [(key, None, message) for key in batch_of[future.key]]
            for key, row, message in results:
                if row is not None:
                    writer.write(row)
                else:
                    failures.append((key, message or "failed"))
            future.release()
    except BaseException:
        # Ctrl-C, or the client lost: what came back is written; stop the rest.
        client.cancel(futures)
        raise
    return failures


def sweep(
    frames: int,
    *,
    seeds: Any = 42,
    agents: Any = None,
    width: Any = None,
    height: Any = None,
    raster: Any = None,
    channels: Any = None,
    radius: Any = None,
    neighbours: Any = None,
    window: Any = None,
    z_threshold: Any = None,
    noise: Any = None,
    dt: Any = None,
    top_speed: Any = None,
    hidden: Any = None,
    warmup: int | None = None,
    weights: str | os.PathLike[str] | None = None,
    jobs: int | None = None,
    threads_per_run: int = 1,
    client: Any = None,
    out: str | os.PathLike[str] | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    batch_size: int | None = None,
) -> Table:
    """Runs every combination of the given values (seeds innermost), as
    ``genesis sweep`` does, and returns one row per run.

    The runs, the rows and the file are the command line's: the same
    arguments give the same combinations, the same columns and the same
    numbers (timing columns aside), and an ``out`` file is shared both
    ways: a sweep started with ``genesis sweep --out F`` can be finished
    here, and the other way round.

    Args:
        frames: frames per run (warm-up included).
        seeds, agents, width, height, raster, channels, radius, neighbours,
            window, z_threshold, noise, dt, top_speed, hidden: each a value,
            a list (any iterable) of values, or a string in the command
            line's syntax (``"1,5,9"``, ``"0.1:0.5:0.1"``, ``"1..8"``);
            left out, SPEC's default (and 10,000 agents, seed 42).
        warmup: leading frames left out of the timing columns (default: a
            tenth of ``frames``).
        weights: a safetensors file of MLP weights for every run (as
            ``genesis sweep --weights``); on a cluster, a path every worker
            can read.
        jobs: runs at a time on this machine (default: one per core);
            with ``client``, the cluster decides.
        threads_per_run: worker threads of each run. On a cluster, keep
            ``threads_per_worker × threads_per_run`` within each machine's
            cores.
        client: a ``dask.distributed.Client``: run on its cluster, each task
            a small batch of runs.
        out: the output CSV. An existing file is resumed: its runs are
            skipped and a row cut short by a crash is redone. Default: a
            temporary file, removed when the sweep returns.
        progress: show runs done and the ETA on stderr.
        shard: ``(k, n)``: only the k-th of n slices of the runs, as
            ``genesis sweep --shard k/n``.
        batch_size: runs per Dask task (default: about eight tasks per
            worker thread).

    Returns:
        a :class:`Table` of this sweep's rows in the combination order
        (columns: the parameters, then ``frames``, ``hz``,
        ``frame_ms_p50``, ``frame_ms_p99``, ``anomalies_total``, ``recall``,
        ``false_alarms_per_1000``, ``fused_mean``, ``fused_sd``,
        ``nbr_count_mean``); ``polars.DataFrame(t)`` or
        ``pyarrow.table(t)`` take it as it is.

    Raises:
        ValueError: an invalid option (the command line's message).
        MemoryError: ``jobs`` of the biggest runs at once need more memory
            than this machine has available (checked before any run).
        SweepError: some runs failed; the message lists them with their
            parameters, ``.table`` has the others' rows (also in ``out``).
        KeyboardInterrupt: Ctrl-C. The runs finished so far are in ``out``:
            the same call resumes.
    """
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 1:
        raise ValueError(f"frames must be a whole number ≥ 1, got {frames!r}")
    if not isinstance(threads_per_run, int) or threads_per_run < 1:
        raise ValueError(f"threads_per_run must be ≥ 1, got {threads_per_run!r}")
    if jobs is not None and (not isinstance(jobs, int) or jobs < 1):
        raise ValueError(f"jobs must be ≥ 1, got {jobs!r}")
    if client is not None and jobs is not None:
        raise ValueError("jobs= is for a sweep on this machine; on a Dask cluster, its workers' threads decide")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size!r}")
    given = dict(
        agents=agents,
        width=width,
        height=height,
        raster=raster,
        channels=channels,
        radius=radius,
        neighbours=neighbours,
        window=window,
        z_threshold=z_threshold,
        noise=noise,
        dt=dt,
        top_speed=top_speed,
        hidden=hidden,
        seed=seeds,
    )
    options = {name: value for name, value in given.items() if value is not None}
    if weights is not None:
        weights = os.path.abspath(os.fspath(weights))
    keys, warmup = _sweep_plan(options, frames, warmup, weights=weights, shard=shard)

    with tempfile.TemporaryDirectory(prefix="genesis-sweep-") as scratch:
        path = os.fspath(out) if out is not None else os.path.join(scratch, "sweep.csv")
        if client is None:
            _, failed = _sweep_local(
                keys,
                frames,
                warmup,
                out=path,
                jobs=jobs or 0,
                threads=threads_per_run,
                weights=weights,
                progress=progress,
            )
        else:
            writer = SweepWriter(path, progress=progress)
            todo = writer.todo(keys)
            if progress and len(writer) > 0:
                print(f"genesis sweep: {len(writer)} runs already in {path}, {len(todo)} to go", file=sys.stderr)
            failed = _on_dask(client, todo, writer, frames, warmup, threads_per_run, weights, batch_size)
            writer.finish()
        table = _sweep_table(path, keys)
    if failed:
        failures = [(parameters(key), message) for key, message in failed]
        listed = "\n".join(
            f"  {', '.join(f'{k}={v}' for k, v in p.items())}: {message}" for p, message in failures
        )
        where = f"in {path}" if out is not None else "in the returned table (.table)"
        raise SweepError(
            f"{len(failed)} of {len(keys)} runs failed (the other runs are {where}):\n{listed}", failures, table
        )
    return table


__all__ = ["PARAMETERS", "SweepError", "parameters", "sweep"]
