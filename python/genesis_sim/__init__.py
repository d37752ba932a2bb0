"""Genesis from Python: the Rust engine in-process.

Genesis is a real-time environmental-awareness simulation: agents in a 2-D
world sense eight environment channels, fuse them with their neighbours'
view, run a small neural network, flag anomalies with a rolling z-score and
move, every frame (SPEC.md). This package drives the same engine as the
``genesis`` command line, in this process: the Rust code does the work,
Python orchestrates and analyses, and data crosses without copies where it
can.

- :func:`read_csv` parses a CSV file with Genesis's parser into a
  :class:`Table` whose columns are NumPy arrays over the parsed values and
  which pyarrow, polars and pandas take as an Arrow table.
- :class:`Simulation` runs the model: ``step`` frames (the GIL released),
  read the agents' state as NumPy arrays, feed live sensor readings, run
  trained weights, ``dump`` and ``report`` as ``genesis bench`` does.
- :func:`spec_weights` gives SPEC's default MLP weights as arrays.
- :func:`sweep` runs many runs over parameters and seeds, as ``genesis
  sweep`` does, on this machine or on a Dask cluster (``client=``).

Example::

    import genesis_sim as gs

    sim = gs.Simulation(agents=10_000, seed=42)
    sim.step(1000)
    print(sim.report()["hz"], sim.anomaly.sum())

    trace = gs.read_csv("assets/scenario/trace.csv")
    print(trace.columns, trace["s0"].mean())
"""

from ._genesis import CsvError, Simulation, Table, __version__, read_csv, spec_weights
from ._sweep import SweepError, sweep

__all__ = ["CsvError", "Simulation", "SweepError", "Table", "__version__", "read_csv", "spec_weights", "sweep"]
