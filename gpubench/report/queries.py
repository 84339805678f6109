"""Questions the report asks of a run: which cells go together, what was asked, what holds.

Plain reads of ``RunResults``: nothing here fits a cost model or derives a crossover (the
results package stored them; docs/design.md). The run's settings are read as their typed
record (``results.settings``, a ``SweepOptions``), never from the saved command line.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gpubench.results import frame
from gpubench.results.costmodel import baselines_for
from gpubench.results.model import CellResult, Crossover, RunResults

GroupKey = tuple[str, int, str]  # (model, batch size, variant), as CellKey.group
DEFAULT_RUNS_FOLDER = "reports"  # where `gpubench run` puts runs without --out

# -- what the run asked for -----------------------------------------------------------------

# The frame's answers (gpubench/results/frame.py), under the names the report uses.
headline_protocol = frame.headline_protocol
requested_iters = frame.iteration_counts
report_protocols = frame.protocols_of


def run_folder(results: RunResults, run_dir: Path | str | None) -> str:
    """The run's folder as a user types it: the one it was read from, else the default."""
    if run_dir is not None:
        return str(run_dir).rstrip("/")
    return f"{DEFAULT_RUNS_FOLDER}/{results.run_id}"


# -- devices and cells ----------------------------------------------------------------------

is_cpu = frame.is_cpu


def is_gpu(device: str) -> bool:
    """CUDA devices and Apple's MPS are GPUs; nothing else is called one."""
    return device.startswith("cuda") or device == "mps"


def cpu_configurations(results: RunResults) -> int:
    """How many CPU thread counts the run measured (more than one: labels name the threads)."""
    cpus = [c for c in results.cells if is_cpu(c.key.device) and not c.key.distributed]
    return len({cell.key.threads for cell in cpus})


def device_label(cell: CellResult, results: RunResults) -> str:
    """ "cpu", "cuda:0"; a CPU measured at several thread counts is "cpu (4 threads)"."""
    key = cell.key
    if key.distributed:  # several ranks: "cpu ×2 (weak)" (report/scaling.py)
        return f"{key.device} ×{key.world_size} ({key.scaling})"
    if is_cpu(key.device) and key.threads and cpu_configurations(results) > 1:
        plural = "thread" if key.threads == 1 else "threads"
        return f"{key.device} ({key.threads} {plural})"
    return key.device


def hardware_name(cell: CellResult, results: RunResults) -> str:
    """What the device is: the GPU's name, or the CPU model with its thread count."""
    return frame.hardware_name(results, cell)


def cell_name(cell: CellResult, results: RunResults) -> str:
    """ "gpt, batch 64 · cuda:0": a cell in one line of a table."""
    return f"{group_title(cell.key.group)} · {device_label(cell, results)}"


def groups_of(results: RunResults) -> dict[GroupKey, list[CellResult]]:
    """Cells that differ only by device, in run order, CPU cells first within each group
    (single-device cells: several ranks have the Scaling section)."""
    groups: dict[GroupKey, list[CellResult]] = {}
    for cell in results.cells:
        if cell.key.distributed:  # compared over world sizes in the Scaling section
            continue
        groups.setdefault(cell.key.group, []).append(cell)
    for cells in groups.values():
        cells.sort(key=lambda cell: not is_cpu(cell.key.device))
    return groups


def group_title(group: GroupKey) -> str:
    """ "gpt, batch 64"; the variant is named only when it is not the lecture's own."""
    model, batch, variant = group
    return f"{model}, batch {batch}" + ("" if variant == "reference" else f", {variant}")


def baseline_cell(results: RunResults, group: GroupKey, protocol: str) -> CellResult | None:
    """The group's CPU cell its crossovers for ``protocol`` were measured against: the one
    the results stored with them, else the results' own rule (``baselines_for``: the CPU
    cell with the lowest per-step cost, the first CPU cell when none was measured)."""
    stored = {crossover.baseline_cell for crossover in crossovers_of(results, group, protocol)}
    chosen = next((cell for cell in results.cells if cell.key.id in stored), None)
    return chosen if chosen is not None else baselines_for(results, protocol).get(group)


def dominant_terms(
    results: RunResults, cells: Iterable[CellResult], protocol: str
) -> dict[str, int]:
    """How many of the cells' extrapolated estimates each range term dominates (widest
    first)."""
    counts: dict[str, int] = {}
    for cell in cells:
        for estimate in results.estimates.get(cell.key.id, []):
            if estimate.protocol == protocol and not estimate.measured and estimate.dominant:
                counts[estimate.dominant] = counts.get(estimate.dominant, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: -item[1]))


def cell_for_device(cells: Iterable[CellResult], device: str) -> CellResult | None:
    return next((cell for cell in cells if cell.key.device == device), None)


def crossovers_of(results: RunResults, group: GroupKey, protocol: str) -> list[Crossover]:
    """The run's crossovers for a group and protocol, as the results recorded them."""
    return [
        c
        for c in results.crossovers
        if (c.model, c.batch_size, c.variant) == group and c.protocol == protocol
    ]


def failure_text(cell: CellResult) -> str:
    """Why a cell has no numbers: "failed (oom)", "interrupted", "not measured"."""
    if cell.status == "failed" and cell.failure is not None:
        return f"failed ({cell.failure.kind})"
    if cell.status == "interrupted":
        return "interrupted"
    return "not measured"


def unreached_devices(results: RunResults, group: GroupKey) -> list[str]:
    """Devices the run asked for that a group has no cell for (a sweep stopped before them)."""
    present = {cell.key.device for cell in results.cells if cell.key.group == group}
    return [device for device in results.settings.devices if device not in present]


def unreached_models(results: RunResults) -> list[str]:
    """Models the run asked for that have no cell at all."""
    present = {cell.key.model for cell in results.cells}
    return [model for model in results.settings.models if model not in present]


# -- what the machine was -------------------------------------------------------------------


def verdict_line(results: RunResults) -> str:
    """The doctor's one-line verdict at the start of the run ("" when none was recorded)."""
    return str(results.metadata.get("verdict") or "").strip()


doctor_fact = frame.doctor_fact
gpu_facts = frame.recorded_gpus
