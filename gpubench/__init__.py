"""gpubench: diagnose a PyTorch/CUDA setup and measure where the GPU beats the CPU.

The Python API reads runs back for analysis (a notebook, a script)::

    import gpubench
    run = gpubench.load_run("reports/cpu-2core-xeon")
    run.frame()                      # one row per cell x iteration count x protocol
    gpubench.load_runs(["reports/a", "reports/b"])   # stacked, with a ``run`` column

Nothing heavy is imported until a function is called, so ``gpubench --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

__version__ = "0.1.0"

if TYPE_CHECKING:
    import pandas

    from gpubench.results.model import RunResults

__all__ = ["__version__", "load_run", "load_runs"]


def load_run(path: str | Path) -> RunResults:
    """A run folder (or its results.json) as a ``RunResults``; schema /1 runs are upgraded.

    Raises ``gpubench.errors.RunNotFound`` when the path holds no readable run.
    """
    from gpubench.errors import RunNotFound
    from gpubench.results.io import load_results

    try:
        return load_results(Path(path))
    except ValueError as error:
        raise RunNotFound(str(error)) from None


def load_runs(paths: Iterable[str | Path]) -> pandas.DataFrame:
    """Several runs' frames in one DataFrame, with a ``run`` column (the run id, or the
    folder where two runs share an id)."""
    from gpubench.results.frame import run_labels, runs_frame

    folders = [Path(path) for path in paths]
    runs = [load_run(folder) for folder in folders]
    return runs_frame(zip(run_labels(folders, runs), runs, strict=True))
