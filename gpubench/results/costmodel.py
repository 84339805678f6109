"""The cost model T(n) = F + n*s + E(n)*e, extrapolation, and the CPU/GPU crossover.

F: fixed costs (startup, device init, data, build, and the first steps' excess over s),
s: steady step, e: one evaluation, E(n): evaluations the lecture loop does in n steps.
Protocol ``train`` drops evaluations. Pure functions of recorded phases; the model and its
assumptions are in docs/design.md ("Cost model").
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from gpubench.results.cost_terms import CostModel, evaluation_count
from gpubench.results.crossing import find_crossing
from gpubench.results.model import (
    BatchCrossover,
    CellResult,
    Crossover,
    Estimate,
    MeasuredRun,
    Phases,
    RunResults,
)
from gpubench.results.ranges import (
    RangeEvidence,
    drift_fields,
    eval_fields,
    first_steps_excess,
    mean_step,
    run_evidence,
    setup_fields,
    step_fields,
    worker_setup_cost,
)
from gpubench.results.sweep_options import PROTOCOLS

__all__ = [
    "PROTOCOLS", "CostModel", "baselines_for", "batch_crossover_for", "cell_cost_model",
    "crossover_for", "derive_results", "estimate_cell", "evaluation_count", "find_crossover",
    "fit_cost_model", "plan_full_runs",
]  # fmt: skip


def fit_cost_model(
    phases: Phases, eval_interval: int, evidence: RangeEvidence | None = None
) -> CostModel:
    """Turn measured phases into the cost model's terms and the spread of each.

    ``evidence``: what other workers of the run measured (full runs, startups): the setup
    every worker pays is their mean, and they spread the ranges; without it the model rests
    on this cell's own phases.
    """
    evidence = evidence or RangeEvidence()
    step_s = mean_step(phases)
    setup = setup_fields(phases, evidence)
    fixed = setup.pop("setup_s") + (phases.tune_s or 0.0) + first_steps_excess(phases, step_s)
    return CostModel(
        fixed_s=fixed,
        step_s=step_s,
        step_low_s=phases.step.q1_s,
        step_high_s=phases.step.q3_s,
        eval_s=phases.eval_s,
        eval_interval=eval_interval,
        **setup,
        **step_fields(phases),
        **eval_fields(phases, step_s),
        **drift_fields(phases, step_s, evidence),
    )


def cell_cost_model(cell: CellResult) -> CostModel | None:
    """The cell's stored terms; fitted from its phases only where none are stored yet."""
    if cell.cost is not None:
        return cell.cost
    if cell.phases is None:
        return None
    return fit_cost_model(cell.phases, int(cell.config["eval_interval"]))


def estimate_cell(
    cell: CellResult, iters: int, protocol: str, checked: CostModel | None = None
) -> Estimate | None:
    """Measured when a full run of ``iters`` exists, otherwise extrapolated with a range.

    ``checked``: for a measured count, the model fitted without that run (its prediction
    and range are what the run checks); the cell's own model where none is given.
    """
    model = cell_cost_model(cell)
    if model is None:
        return None
    run = cell.run_for(iters, protocol)
    if run is None:
        return extrapolated(model, iters, protocol)
    model = checked if checked is not None else model
    predicted = model.predict(iters, protocol)
    low, high = model.predict_range(iters, protocol)
    dominant = model.dominant_term(iters, protocol)
    return Estimate(
        iters, protocol, run.seconds, run.seconds, run.seconds, True, predicted,
        low, high, dominant,
    )  # fmt: skip


def extrapolated(model: CostModel, iters: int, protocol: str) -> Estimate:
    """``iters`` steps read off fitted cost terms: the prediction, its range, and the range
    term that reaches furthest."""
    predicted = model.predict(iters, protocol)
    low, high = model.predict_range(iters, protocol)
    dominant = model.dominant_term(iters, protocol)
    return Estimate(iters, protocol, predicted, low, high, False, predicted, low, high, dominant)


def find_crossover(
    baseline: CostModel, device: CostModel, protocol: str
) -> tuple[str, float | None, float, float]:
    """Where ``device`` becomes cheaper than ``baseline``, on the exact T(n) of both.

    Returns (kind, iterations, step_ratio, fixed_gap_s): kind ``from-first`` (cheaper from
    n = 1 on), ``at`` (cheaper from ``iterations`` on), ``until`` (cheaper up to
    ``iterations``, dearer after) or ``never``; step_ratio is the baseline's per-step cost
    over the device's (evaluations included), fixed_gap_s the device's constant cost minus
    the baseline's.
    """
    base_step, dev_step = baseline.per_step_s(protocol), device.per_step_s(protocol)
    gap = device.constant_s(protocol) - baseline.constant_s(protocol)
    ratio = base_step / dev_step if dev_step > 0 else math.inf
    crossing = find_crossing(baseline, device, protocol)
    iters = float(crossing.iters) if crossing.iters is not None else None
    return crossing.kind, iters, ratio, gap


def _regime_text(cell: CellResult, label: str) -> str:
    """The cell's measured regime from its op profile ("" without a usable profile), judged
    against the median step, as the report's regime lines (report/regimes.py) judge it."""
    if not cell.profile or cell.phases is None:
        return ""
    from gpubench.results.profile import OpProfile, classify_regime

    try:
        profile = OpProfile.from_dict(cell.profile)
        return classify_regime(profile, label=label, step_s=cell.phases.step.median_s).reason
    except (ValueError, KeyError, TypeError):
        return ""


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


def crossover_reason(
    kind: str,
    iters: float | None,
    base: CellResult,
    device: CellResult,
    base_label: str,
    protocol: str,
    models: tuple[CostModel, CostModel],
) -> str:
    """One sentence in measured figures: fixed costs, per-step costs, and where a profile was
    recorded, each cell's regime (overhead-, memory- or compute-bound). ``models``: the
    baseline's and the device's cost terms."""
    base_model, dev_model = models
    base_step, dev_step = base_model.per_step_s(protocol), dev_model.per_step_s(protocol)
    gap = dev_model.constant_s(protocol) - base_model.constant_s(protocol)
    steps = f"{_ms(dev_step)} on {device.key.device} vs {_ms(base_step)} on {base_label}"
    steps += " per step" + (" with evaluations" if protocol == "lecture" else "")
    fixed = f"{abs(gap):.2f} s {'behind' if gap > 0 else 'ahead'} in fixed costs"
    if kind == "from-first":
        text = f"cheaper on both terms: {steps}, {fixed}"
    elif kind == "at":
        text = f"starts {fixed} and gains {_ms(base_step - dev_step)} per step ({steps})"
    elif kind == "until":
        text = (
            f"starts {fixed} but loses {_ms(dev_step - base_step)} per step ({steps}), "
            f"so {base_label} catches up after {iters:,.0f} iterations"
        )
    else:
        slower = dev_step / base_step if base_step > 0 else math.inf
        text = f"per step it is {slower:.2g}× slower ({steps}) and {fixed}"
    tokens = int(device.config.get("batch_size", 0)) * int(device.config.get("block_size", 0))
    regimes = [r for c in (device, base) if (r := _regime_text(c, c.key.device))]
    if regimes:
        return f"{text}; " + "; ".join(regimes)
    return f"{text}, at {tokens:,} tokens per step" if tokens else text


def crossover_for(
    base_cell: CellResult, device_cell: CellResult, protocol: str, base_label: str = ""
) -> Crossover:
    """The crossover record of one accelerator cell against its baseline CPU cell."""
    key = device_cell.key
    base_label = base_label or base_cell.key.device
    base_model, dev_model = cell_cost_model(base_cell), cell_cost_model(device_cell)
    if base_model is None or dev_model is None:
        failed = base_cell if base_model is None else device_cell
        return Crossover(
            key.model, key.batch_size, key.variant, protocol, key.device, base_label,
            "unknown", None, None, None, f"{failed.key.device} was not measured ({failed.status})",
            base_cell.key.id,
        )  # fmt: skip
    kind, iters, ratio, gap = find_crossover(base_model, dev_model, protocol)
    reason = crossover_reason(
        kind, iters, base_cell, device_cell, base_label, protocol, (base_model, dev_model)
    )
    return Crossover(
        key.model, key.batch_size, key.variant, protocol, key.device, base_label,
        kind, iters, ratio, gap, reason, base_cell.key.id,
    )  # fmt: skip


def baselines_for(results: RunResults, protocol: str) -> dict[tuple[str, int, str], CellResult]:
    """Per group, the CPU cell with the lowest per-step cost for ``protocol`` (with
    ``--threads 1,2`` the faster thread count); a group without a measured CPU cell falls
    back to its first CPU cell, so its crossover says what is missing."""
    found: dict[tuple[str, int, str], CellResult] = {}
    for cell in results.cells:
        if cell.key.device != "cpu" or cell.key.distributed:
            continue
        best = found.get(cell.key.group)
        if best is None or _per_step(cell, protocol) < _per_step(best, protocol):
            found[cell.key.group] = cell
    return found


def _per_step(cell: CellResult, protocol: str) -> float:
    model = cell_cost_model(cell)
    return model.per_step_s(protocol) if model is not None else math.inf


def baseline_label(results: RunResults, cell: CellResult) -> str:
    """ "cpu", or "cpu (2 threads)" when the run measured several thread counts."""
    threads = {
        c.key.threads for c in results.cells if c.key.device == "cpu" and not c.key.distributed
    }
    if cell.key.threads and len(threads) > 1:
        plural = "thread" if cell.key.threads == 1 else "threads"
        return f"{cell.key.device} ({cell.key.threads} {plural})"
    return cell.key.device


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


def _loop_predictions(results: RunResults) -> dict[str, Callable[[int, str], float]]:
    """Per cell id: the loop its phases alone predict (T(n) less the setup and the fast
    variant's probe, which a full run does not repeat): what its full runs are checked
    against."""
    found: dict[str, Callable[[int, str], float]] = {}
    for cell in results.cells:
        if cell.phases is None:
            continue
        alone = fit_cost_model(cell.phases, int(cell.config["eval_interval"]))
        before_loop = worker_setup_cost(cell.phases) + (cell.phases.tune_s or 0.0)
        found[cell.key.id] = _loop_of(alone, before_loop)
    return found


def _loop_of(model: CostModel, before_loop_s: float) -> Callable[[int, str], float]:
    return lambda iters, protocol: model.predict(iters, protocol) - before_loop_s


def _fit_with_evidence(
    results: RunResults,
    cell: CellResult,
    loops: dict[str, Callable[[int, str], float]],
    exclude: MeasuredRun | None = None,
) -> CostModel:
    assert cell.phases is not None
    evidence = run_evidence(results, cell, loops, exclude=exclude)
    cost = fit_cost_model(cell.phases, int(cell.config["eval_interval"]), evidence)
    if cell.distributed:  # process-group init and the DDP wrap are fixed costs too
        from gpubench.results.scaling import distributed_cost_model

        cost = distributed_cost_model(
            cost,
            process_group_init_s=float(cell.distributed.get("process_group_init_s") or 0.0),
            ddp_wrap_s=float(cell.distributed.get("ddp_wrap_s") or 0.0),
        )
    return cost


def derive_results(results: RunResults, iters: Sequence[int] | None = None) -> None:
    """Fill each cell's cost terms, estimates per cell and protocol, and the crossovers of each
    accelerator against the group's fastest CPU cell for that protocol. A measured count's
    prediction and range come from a model fitted without that run, so the run checks them.
    ``iters``: the counts to estimate (default: the run's settings)."""
    iters = list(results.settings.iters if iters is None else iters)
    loops = _loop_predictions(results)
    for cell in results.cells:
        cell.cost = _fit_with_evidence(results, cell, loops) if cell.phases is not None else None
    results.estimates = {}
    for cell in results.cells:
        found = []
        for protocol in PROTOCOLS:
            for n in iters:
                run = cell.run_for(n, protocol)
                checked = (
                    _fit_with_evidence(results, cell, loops, exclude=run)
                    if run is not None and cell.phases is not None
                    else None
                )
                if (estimate := estimate_cell(cell, n, protocol, checked)) is not None:
                    found.append(estimate)
        if found:
            results.estimates[cell.key.id] = found
    results.crossovers, results.batch_crossovers = [], []
    for protocol in PROTOCOLS:
        baselines = baselines_for(results, protocol)
        pairs: dict[tuple[str, str, str], list[tuple[CellResult, CellResult]]] = {}
        for cell in results.cells:
            # several ranks are compared over world sizes (results/scaling.py), not here
            if cell.key.device == "cpu" or cell.key.distributed:
                continue
            if cell.key.group not in baselines:
                continue
            base = baselines[cell.key.group]
            label = baseline_label(results, base)
            results.crossovers.append(crossover_for(base, cell, protocol, label))
            pairs.setdefault((cell.key.model, cell.key.variant, cell.key.device), []).append(
                (base, cell)
            )
        if protocol != (results.settings.protocol or "lecture"):
            continue
        for group_pairs in pairs.values():
            if len(group_pairs) > 1:
                found_batch = batch_crossover_for(group_pairs, protocol)
                if found_batch is not None:
                    results.batch_crossovers.append(found_batch)
