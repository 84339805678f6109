"""The tidy pandas view of a run: one row per cell x iteration count x protocol.

``RunResults.frame()`` and ``gpubench.load_runs`` build on it, ``cells.csv`` is written from
it, and ``gpubench compare`` lines runs up with it. pandas is imported only when a frame is
asked for, so the rest of gpubench never pays for it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpubench.results.model import CellResult, Estimate, MeasuredRun, RunResults
from gpubench.results.sweep_options import PROTOCOLS

if TYPE_CHECKING:
    import pandas

FRAME_COLUMNS = [
    "run_id", "model", "batch_size", "variant", "device", "device_name", "threads", "status",
    "iters", "protocol", "measured", "kind", "seconds", "low_s", "high_s", "predicted_s",
    "prediction_error", "fixed_s", "step_s", "eval_s", "data", "synthetic",
    "world_size", "scaling", "allreduce_share",
]  # fmt: skip


def headline_protocol(results: RunResults) -> str:
    """The protocol a run leads with (``lecture`` unless it asked otherwise)."""
    return results.settings.protocol or PROTOCOLS[0]


def protocols_of(results: RunResults) -> list[str]:
    """Protocols with estimates, the run's own (the headline) first."""
    present = {e.protocol for estimates in results.estimates.values() for e in estimates}
    headline = headline_protocol(results)
    others = [p for p in PROTOCOLS if p in present and p != headline]
    return [headline, *others, *sorted(present - set(PROTOCOLS) - {headline})]


def iteration_counts(results: RunResults) -> list[int]:
    """The iteration counts the run was asked for, plus any it holds estimates for."""
    counts = {int(n) for n in results.settings.iters}
    counts |= {e.iters for estimates in results.estimates.values() for e in estimates}
    return sorted(counts)


def estimate_of(
    results: RunResults, cell: CellResult, iters: int, protocol: str
) -> Estimate | None:
    for estimate in results.estimates.get(cell.key.id, []):
        if estimate.iters == iters and estimate.protocol == protocol:
            return estimate
    return None


def checked_prediction(
    results: RunResults, cell: CellResult, run: MeasuredRun
) -> tuple[float | None, float | None]:
    """(predicted seconds, error) a full run is judged by: the model's prediction made
    without that run (every other worker's evidence, none of its own), else the one stored
    when it was launched."""
    estimate = estimate_of(results, cell, run.iters, run.protocol)
    if estimate is not None and estimate.prediction_error is not None:
        return estimate.predicted_s, estimate.prediction_error
    return run.predicted_s, run.prediction_error


def is_cpu(device: str) -> bool:
    return device == "cpu" or device.startswith("cpu:")


def hardware_name(results: RunResults, cell: CellResult) -> str:
    """What the device is: the GPU's name, or the CPU model with its thread count."""
    device = cell.key.device
    if is_cpu(device):
        model = str(results.metadata.get("cpu_model") or "CPU")
        per = " per rank" if cell.key.distributed else ""
        return f"{model} ({cell.key.threads} threads{per})" if cell.key.threads else model
    if cell.device_name:
        return cell.device_name
    # A failed cell never reported its device's name; the doctor's GPU facts know it.
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        for gpu in recorded_gpus(results.metadata):
            if gpu.get("index", index) == index and gpu.get("name"):
                return str(gpu["name"])
    return device


def recorded_gpus(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """GPUs as recorded at start: metadata["gpus"], or the doctor's NVML facts."""
    found: Any = metadata.get("gpus")
    if not isinstance(found, list):
        found = doctor_fact(metadata, "nvml", "gpus")
    return [gpu for gpu in found if isinstance(gpu, dict)] if isinstance(found, list) else []


def doctor_fact(metadata: dict[str, Any], *path: str) -> Any:
    """A fact the doctor recorded at the start of the run (``metadata["doctor"]`` holds its
    verdict with the facts under "facts", or the facts themselves)."""
    found = dig(metadata, "doctor", "facts", *path)
    return found if found is not None else dig(metadata, "doctor", *path)


def dig(data: Any, *path: str) -> Any:
    """``data[a][b]...`` or None where a level is missing."""
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def _row(results: RunResults, cell: CellResult, iters: int, protocol: str) -> dict[str, Any]:
    estimate = estimate_of(results, cell, iters, protocol)
    run = cell.run_for(iters, protocol)
    cost = cell.cost
    nan = math.nan
    if estimate is None:
        kind = "not measured"
    else:
        kind = "measured" if estimate.measured else "extrapolated"
    error = checked_prediction(results, cell, run)[1] if run is not None else None
    return {
        "run_id": results.run_id,
        "model": cell.key.model,
        "batch_size": cell.key.batch_size,
        "variant": cell.key.variant,
        "device": cell.key.device,
        "device_name": hardware_name(results, cell),
        "threads": cell.key.threads,
        "status": cell.status,
        "iters": iters,
        "protocol": protocol,
        "measured": None if estimate is None else estimate.measured,
        "kind": kind,
        "seconds": estimate.seconds if estimate else nan,
        "low_s": estimate.low_s if estimate else nan,
        "high_s": estimate.high_s if estimate else nan,
        "predicted_s": estimate.predicted_s if estimate else nan,
        "prediction_error": error if error is not None else nan,
        "fixed_s": cost.fixed_s if cost else nan,
        "step_s": cost.step_s if cost else nan,
        "eval_s": cost.eval_s if cost else nan,
        "data": results.settings.data.label,
        "synthetic": results.settings.data.synthetic,
        "world_size": cell.key.world_size,
        "scaling": cell.key.scaling,  # None at world size 1
        "allreduce_share": (cell.allreduce or {}).get("share", nan),
    }


def run_frame(results: RunResults) -> pandas.DataFrame:
    """One row per cell x iteration count x protocol; cells not measured have NaN times.
    ``world_size`` and ``scaling`` (strong/weak, None at world size 1) tell DDP cells apart;
    ``allreduce_share`` is their measured gradient-synchronisation share of a step.

    ``measured`` is True for a real full run, False for an extrapolation, and missing (NA)
    where the cell has no estimate; ``kind`` says the same in words.
    """
    import pandas

    rows = [
        _row(results, cell, iters, protocol)
        for cell in results.cells
        for protocol in protocols_of(results)
        for iters in iteration_counts(results)
    ]
    frame = pandas.DataFrame(rows, columns=FRAME_COLUMNS)
    frame["threads"] = frame["threads"].astype("Int64")
    frame["world_size"] = frame["world_size"].astype("Int64")
    frame["measured"] = frame["measured"].astype("boolean")
    return frame


def runs_frame(runs: Iterable[tuple[str, RunResults]]) -> pandas.DataFrame:
    """Several runs' frames stacked, with a ``run`` column naming each (first column)."""
    import pandas

    frames = []
    for label, results in runs:
        frame = results.frame()
        frame.insert(0, "run", label)
        frames.append(frame)
    if not frames:
        return pandas.DataFrame(columns=["run", *FRAME_COLUMNS])
    return pandas.concat(frames, ignore_index=True)


def run_labels(paths: list[Path], results: list[RunResults]) -> list[str]:
    """A label per run: its id, or its folder path where two runs share an id."""
    ids = [r.run_id for r in results]
    return [
        run_id if ids.count(run_id) == 1 else str(path)
        for path, run_id in zip(paths, ids, strict=True)
    ]
