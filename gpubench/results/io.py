"""``results.json`` on disk: atomic writes, loading, and the upgrade of older schemas.

A run written as ``gpubench.run/1`` lacks the fitted cost terms of its cells; they are
computed once here, at load, so that nothing downstream refits (docs/design.md).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from gpubench.results.costmodel import derive_results
from gpubench.results.model import SCHEMA, CellResult, RunResults

RESULTS_FILE = "results.json"


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to a temp file in the same folder, then rename: a kill never leaves half."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, sort_keys=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_results(results: RunResults, run_dir: Path) -> Path:
    """Write ``run_dir/results.json`` (always in the current schema)."""
    path = Path(run_dir) / RESULTS_FILE
    write_json_atomic(path, results.to_dict())
    return path


def upgrade(results: RunResults) -> RunResults:
    """Bring a record read from an older schema up to the current one, in place.

    /1 -> /2: fit each measured cell's cost terms and derive its estimates and crossovers
    again from the raw phases and runs (a /1 range was a fixed floor, its crossover a
    straight line; docs/design.md, "Cost model").
    """
    if results.schema == SCHEMA:
        return results
    for cell in results.cells:
        _label_v1_flops(cell)
    if any(cell.phases is not None for cell in results.cells):
        derive_results(results)
    results.schema = SCHEMA
    return results


# /1 counted every model's FLOPs with the GPT formula (6·N + attention); it holds only for
# models with the lecture GPT's shape (docs/design.md, "Phases of a cell").
GPT_SHAPE_KEYS = ("n_layer", "n_head", "n_embd", "block_size")


def _label_v1_flops(cell: CellResult) -> None:
    """Say how a /1 cell's FLOPs were obtained, and drop the ones that did not apply."""
    speed = cell.throughput
    if speed is None or speed.flops_method is not None:
        return
    if all(key in cell.config for key in GPT_SHAPE_KEYS):
        speed.flops_method = "formula (PaLM B)"
        return
    speed.flops_method = "not counted: gpubench.run/1 used the GPT formula, which does not apply"
    speed.flops_per_step = speed.flops_per_s = speed.mfu = None


def load_results(run_dir: Path | str) -> RunResults:
    """Read ``RUN_DIR/results.json`` (or a results.json path); ValueError when it is not a run."""
    run_dir = Path(run_dir)
    path = run_dir / RESULTS_FILE if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise ValueError(f"{run_dir} is not a gpubench run folder (no {RESULTS_FILE})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not follow {SCHEMA}: not a JSON object")
    try:
        return upgrade(RunResults.from_dict(data))
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{path} does not follow {SCHEMA}: missing or bad {error}") from None
