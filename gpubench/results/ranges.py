"""The measured spread of each cost term: what makes a range (docs/design.md, "Cost model").

Every term's spread comes from something the run measured: the step's block times, the
timed evaluation batches, the fixed costs that later workers paid again, the step re-timed at
the end of the cell and the full runs against their predictions. A term nothing measured
stays at zero and the report says which terms it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpubench.results.model import CellResult, MeasuredRun, Phases, RunResults
from gpubench.results.uncertainty import mean, relative_interval, semi_deviations, stdev

RECHECK_SOURCE = "the step re-timed at the end of the cell"
TREND_SOURCE = "the step's trend across its blocks"


@dataclass
class RangeEvidence:
    """What other workers of the run measured about a cell's fixed costs and its loop."""

    fixed_deviations: list[float] = field(default_factory=list)  # relative, vs the phases
    fixed_source: str = ""
    loop_deviations: list[float] = field(default_factory=list)  # full runs vs the model
    loop_source: str = ""


def block_means(phases: Phases) -> list[float]:
    """Seconds per step of each timed block (the raw block times over steps per block)."""
    per_block = max(1, phases.step.steps_per_block)
    return [block / per_block for block in phases.step.block_times_s]


def mean_step(phases: Phases) -> float:
    """The steady step's mean from the raw blocks (the median where no blocks are stored)."""
    means = block_means(phases)
    return mean(means) if means else phases.step.median_s


def fresh_process_cost(phases: Phases) -> float:
    """What every new worker pays before its loop: startup, device init, data, build."""
    return phases.startup_s + phases.device_init_s + phases.data_s + phases.build_s


def step_fields(phases: Phases) -> dict[str, Any]:
    means = block_means(phases)
    low, high = semi_deviations(means)
    return {
        "step_blocks": len(means),
        "steps_per_block": max(1, phases.step.steps_per_block),
        "step_sd_low_s": low,
        "step_sd_high_s": high,
    }


def eval_fields(phases: Phases, step_s: float) -> dict[str, Any]:
    """The spread of one evaluation batch pair: from the timed pairs where two or more were
    recorded, else borrowed from the step's spread relative to its mean (one batch pair
    costs a fraction of a step; its noise is the machine's)."""
    pairs = phases.eval_batch_times_s
    timed = min(phases.eval_batches_measured, phases.eval_iters)
    if len(pairs) >= 2:
        return {
            "eval_pairs": phases.eval_iters,
            "eval_pairs_timed": timed,
            "eval_pair_sd_s": stdev(pairs),
            "eval_dof": len(pairs) - 1,
        }
    means = block_means(phases)
    if len(means) < 2 or step_s <= 0 or phases.eval_iters <= 0:
        return {"eval_pairs": phases.eval_iters, "eval_pairs_timed": timed}
    per_step_sd = stdev(means) * max(1, phases.step.steps_per_block) ** 0.5
    pair_s = phases.eval_s / phases.eval_iters
    return {
        "eval_pairs": phases.eval_iters,
        "eval_pairs_timed": timed,
        "eval_pair_sd_s": pair_s * per_step_sd / step_s,
        "eval_dof": len(means) - 1,
    }


def drift_fields(phases: Phases, step_s: float, evidence: RangeEvidence) -> dict[str, Any]:
    """How far the loop may run from the model: the step re-timed at the end of the cell
    (else the trend from the first to the second half of the blocks) and the full runs."""
    deviations, sources = [], []
    if phases.step_recheck_s and step_s > 0:
        deviations.append(mean(phases.step_recheck_s) / step_s - 1)
        sources.append(RECHECK_SOURCE)
    else:
        means = block_means(phases)
        half = len(means) // 2
        if half >= 2:
            deviations.append(mean(means[half:]) / mean(means[:half]) - 1)
            sources.append(TREND_SOURCE)
    deviations += evidence.loop_deviations
    if evidence.loop_source:
        sources.append(evidence.loop_source)
    low, high = relative_interval(deviations)
    return {"drift_low_rel": low, "drift_high_rel": high, "drift_source": " and ".join(sources)}


def fixed_fields(evidence: RangeEvidence) -> dict[str, Any]:
    low, high = relative_interval(evidence.fixed_deviations)
    return {"fixed_low_rel": low, "fixed_high_rel": high, "fixed_source": evidence.fixed_source}


def run_evidence(
    results: RunResults,
    cell: CellResult,
    predict_loop: dict[str, Any],
    exclude: MeasuredRun | None = None,
) -> RangeEvidence:
    """What the run's other workers say about ``cell``: the fixed costs each full run on the
    same device paid again (else the startups of its cells), and this cell's full runs
    against the loop its model predicts. ``exclude``: a run to leave out (the one whose
    own prediction is being checked). ``predict_loop``: cell id -> fn(iters, protocol)."""
    evidence = RangeEvidence()
    same_device = [c for c in results.cells if c.key.device == cell.key.device and c.phases]
    for other in same_device:
        assert other.phases is not None
        fresh = fresh_process_cost(other.phases)
        for run in other.runs:
            if run is not exclude and fresh > 0 and run.loop_s > 0:
                evidence.fixed_deviations.append((run.seconds - run.loop_s) / fresh - 1)
    if evidence.fixed_deviations:
        evidence.fixed_source = f"{len(evidence.fixed_deviations)} full runs' fixed costs"
    else:
        startups = [c.phases.startup_s for c in same_device if c.phases]
        if len(startups) >= 2 and mean(startups) > 0:
            center = mean(startups)
            evidence.fixed_deviations = [value / center - 1 for value in startups]
            evidence.fixed_source = f"the startups of {len(startups)} workers"
    loop_of = predict_loop.get(cell.key.id)
    if loop_of is not None:
        for run in cell.runs:
            predicted = loop_of(run.iters, run.protocol)
            if run is not exclude and predicted > 0 and run.loop_s > 0:
                evidence.loop_deviations.append(run.loop_s / predicted - 1)
    if evidence.loop_deviations:
        count = len(evidence.loop_deviations)
        evidence.loop_source = f"{count} full run{'s' if count > 1 else ''} against the model"
    return evidence
