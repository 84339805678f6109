"""The cost model T(n) = F + n*s + E(n)*e, extrapolation, and the CPU/GPU crossover.

F: fixed costs (startup, device init, data, build, and the first steps' excess over s),
s: steady step, e: one evaluation, E(n): evaluations the lecture loop does in n steps.
Protocol ``train`` drops evaluations. Pure functions of recorded phases; the model and its
assumptions are in docs/design.md ("Cost model").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gpubench.results.cost_terms import MIN_RELATIVE_RANGE, CostModel, evaluation_count
from gpubench.results.model import (
    BatchCrossover,
    CellResult,
    Crossover,
    Estimate,
    Phases,
    RunResults,
)
from gpubench.results.sweep_options import PROTOCOLS

__all__ = [
    "MIN_RELATIVE_RANGE", "PROTOCOLS", "CostModel", "batch_crossover_for", "cell_cost_model",
    "crossover_for", "derive_results", "estimate_cell", "evaluation_count", "find_crossover",
    "fit_cost_model", "plan_full_runs",
]  # fmt: skip


def fit_cost_model(phases: Phases, eval_interval: int) -> CostModel:
    """Turn measured phases into the cost model's terms."""
    step = phases.step
    first_excess = sum(max(0.0, t - step.median_s) for t in phases.first_steps_s)
    fixed = (
        phases.startup_s
        + phases.device_init_s
        + phases.data_s
        + phases.build_s
        + (phases.compile_s or 0.0)
        + (phases.tune_s or 0.0)
        + first_excess
    )
    return CostModel(
        fixed_s=fixed,
        step_s=step.median_s,
        step_low_s=step.q1_s,
        step_high_s=step.q3_s,
        eval_s=phases.eval_s,
        eval_interval=eval_interval,
    )


def cell_cost_model(cell: CellResult) -> CostModel | None:
    """The cell's stored terms; fitted from its phases only where none are stored yet."""
    if cell.cost is not None:
        return cell.cost
    if cell.phases is None:
        return None
    return fit_cost_model(cell.phases, int(cell.config["eval_interval"]))


def estimate_cell(cell: CellResult, iters: int, protocol: str) -> Estimate | None:
    """Measured when a full run of ``iters`` exists, otherwise extrapolated with a range."""
    model = cell_cost_model(cell)
    if model is None:
        return None
    predicted = model.predict(iters, protocol)
    run = cell.run_for(iters, protocol)
    if run is not None:
        return Estimate(iters, protocol, run.seconds, run.seconds, run.seconds, True, predicted)
    low, high = model.predict_range(iters, protocol)
    return Estimate(iters, protocol, predicted, low, high, False, predicted)


def find_crossover(
    baseline: CostModel, device: CostModel, protocol: str
) -> tuple[str, float | None, float, float]:
    """Where ``device`` becomes cheaper than ``baseline``.

    Returns (kind, iterations, step_ratio, fixed_gap_s): kind is ``from-first`` when the
    device is cheaper on both terms, ``at`` with n* = (A_dev - A_base) / (c_base - c_dev)
    (A: constant cost, c: per-step cost), or ``never`` when its per-step cost is not lower.
    """
    base_step, dev_step = baseline.per_step_s(protocol), device.per_step_s(protocol)
    gap = device.constant_s(protocol) - baseline.constant_s(protocol)
    ratio = base_step / dev_step if dev_step > 0 else math.inf
    if dev_step >= base_step:
        if gap < 0 and dev_step == base_step:
            return "from-first", None, ratio, gap
        return "never", None, ratio, gap
    if gap <= 0:
        return "from-first", None, ratio, gap
    return "at", gap / (base_step - dev_step), ratio, gap


LAUNCH_BOUND_TOKENS = 16_384  # below this many tokens per step, kernel launches dominate


def describe_never(ratio: float, tokens_per_step: int) -> str:
    """Why the device never catches up: its per-step cost is not lower."""
    if ratio <= 0:
        return "its per-step cost is not lower"
    slower = f"per step it is {1 / ratio:.1f}× slower"
    if tokens_per_step < LAUNCH_BOUND_TOKENS:
        return f"{slower}: launch-bound at {tokens_per_step:,} tokens per step"
    return f"{slower} at {tokens_per_step:,} tokens per step"


def crossover_for(base_cell: CellResult, device_cell: CellResult, protocol: str) -> Crossover:
    """The crossover record of one accelerator cell against its CPU cell."""
    key = device_cell.key
    base_model, dev_model = cell_cost_model(base_cell), cell_cost_model(device_cell)
    if base_model is None or dev_model is None:
        failed = base_cell if base_model is None else device_cell
        return Crossover(
            key.model, key.batch_size, key.variant, protocol, key.device, base_cell.key.device,
            "unknown", None, None, None, f"{failed.key.device} was not measured ({failed.status})",
        )  # fmt: skip
    kind, iters, ratio, gap = find_crossover(base_model, dev_model, protocol)
    tokens = int(device_cell.config["batch_size"]) * int(device_cell.config["block_size"])
    if kind == "from-first":
        reason = f"cheaper per step ({ratio:.1f}×) and in fixed costs ({-gap:+.2f} s)"
    elif kind == "at":
        reason = (
            f"starts {gap:.2f} s behind (fixed costs) and gains "
            f"{(base_model.per_step_s(protocol) - dev_model.per_step_s(protocol)) * 1e3:.3g} ms "
            "per step"
        )
    else:
        reason = describe_never(ratio, tokens)
    return Crossover(
        key.model, key.batch_size, key.variant, protocol, key.device, base_cell.key.device,
        kind, iters, ratio, gap, reason,
    )  # fmt: skip


def batch_crossover_for(
    pairs: list[tuple[CellResult, CellResult]], protocol: str
) -> BatchCrossover | None:
    """Smallest tested batch size from which the device's per-step cost beats the baseline's.

    ``pairs`` are (baseline cell, device cell) for one model, variant and device, at
    several batch sizes.
    """
    measured = []
    for base, dev in pairs:
        base_model, dev_model = cell_cost_model(base), cell_cost_model(dev)
        if base_model and dev_model:
            cheaper = dev_model.per_step_s(protocol) < base_model.per_step_s(protocol)
            measured.append((dev.key.batch_size, cheaper))
    if not pairs:
        return None
    key, base_key = pairs[0][1].key, pairs[0][0].key
    measured.sort()
    sizes = [size for size, _ in measured]
    start = None
    # The smallest size from which every larger tested size is also cheaper.
    for index, (size, _) in enumerate(measured):
        if all(cheaper for _, cheaper in measured[index:]):
            start = size
            break
    if not measured:
        reason = "no batch size was measured on both devices"
    elif start is None:
        reason = f"not cheaper per step at any tested batch size ({', '.join(map(str, sizes))})"
    else:
        reason = f"cheaper per step from batch {start} (tested: {', '.join(map(str, sizes))})"
    return BatchCrossover(key.model, key.variant, key.device, base_key.device, sizes, start, reason)


def plan_full_runs(
    costs: dict[str, CostModel], iters: Sequence[int], budget_s: float, protocol: str
) -> list[tuple[str, int]]:
    """Choose which (cell id, iteration count) to run for real within ``budget_s``.

    Every cell first gets its shortest count if it fits (so each device has a measured run
    to check its prediction), then longer counts, cheapest first, while the budget lasts.
    """
    chosen: list[tuple[str, int]] = []
    left = budget_s
    ordered = sorted(iters)
    for rank in range(len(ordered)):
        candidates = sorted(
            ((costs[cell].predict(ordered[rank], protocol), cell) for cell in costs),
        )
        for cost, cell in candidates:
            if rank > 0 and (cell, ordered[rank - 1]) not in chosen:
                continue  # longer counts only after the shorter one fitted
            if cost <= left:
                chosen.append((cell, ordered[rank]))
                left -= cost
    return chosen


def derive_results(results: RunResults, iters: Sequence[int] | None = None) -> None:
    """Fill each cell's cost terms, estimates per cell and protocol, and the crossovers of each
    accelerator against the CPU (the first CPU cell of a group, i.e. the first thread count, is
    the baseline). ``iters``: the counts to estimate (default: the run's settings)."""
    iters = list(results.settings.iters if iters is None else iters)
    for cell in results.cells:
        cell.cost = (
            fit_cost_model(cell.phases, int(cell.config["eval_interval"]))
            if cell.phases is not None
            else None
        )
    results.estimates = {}
    for cell in results.cells:
        found = [
            e for protocol in PROTOCOLS for n in iters if (e := estimate_cell(cell, n, protocol))
        ]
        if found:
            results.estimates[cell.key.id] = found
    baselines: dict[tuple[str, int, str], CellResult] = {}
    for cell in results.cells:
        if cell.key.device == "cpu":
            baselines.setdefault(cell.key.group, cell)
    results.crossovers, results.batch_crossovers = [], []
    pairs: dict[tuple[str, str, str], list[tuple[CellResult, CellResult]]] = {}
    for cell in results.cells:
        if cell.key.device == "cpu" or cell.key.group not in baselines:
            continue
        base = baselines[cell.key.group]
        results.crossovers += [crossover_for(base, cell, protocol) for protocol in PROTOCOLS]
        pairs.setdefault((cell.key.model, cell.key.variant, cell.key.device), []).append(
            (base, cell)
        )
    for group_pairs in pairs.values():
        if len(group_pairs) > 1:
            found_batch = batch_crossover_for(group_pairs, results.settings.protocol)
            if found_batch is not None:
                results.batch_crossovers.append(found_batch)
