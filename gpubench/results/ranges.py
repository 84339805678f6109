"""The measured spread of each cost term: what makes a range (docs/design.md, "Cost model").

Every term's spread comes from something the run measured: the step's block times, the
timed evaluation batches, the setups that later workers paid again, the step re-timed at the
end of the cell and the full runs' loops against what the phases predicted. These are few
(two to five per term), so each term is a Student-t prediction interval on their ratios'
logarithms: wide when the workers disagree, as few samples warrant. A term nothing measured
stays at zero and the report says which terms it had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpubench.results.model import CellResult, MeasuredRun, Phases, RunResults
from gpubench.results.uncertainty import mean, ratio_interval, semi_deviations, stdev

RECHECK_SOURCE = "the step re-timed at the end of the cell"
TREND_SOURCE = "the step's trend across its blocks"


@dataclass
class RangeEvidence:
    """What other workers of the run measured about a cell: each full run's setup over its
    cell's phases setup (any cell on the device), and each of this cell's full runs' loop
    over the loop its phases predict."""

    setup_ratios: list[float] = field(default_factory=list)
    setup_source: str = ""
    loop_ratios: list[float] = field(default_factory=list)
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


def worker_setup_cost(phases: Phases) -> float:
    """A full run's setup as the phases measured it: a fresh process, and the compile it
    repeats with fresh caches (the fast variant's probe it does not repeat)."""
    return fresh_process_cost(phases) + (phases.compile_s or 0.0)


def first_steps_excess(phases: Phases, step_s: float) -> float:
    """What the first steps cost over the steady step (warm-up, lazy init)."""
    return sum(max(0.0, t - step_s) for t in phases.first_steps_s)


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
    """How far the loop may run from the phases' step: the pace of every loop the run timed
    (the phases' blocks, the step re-timed at the end of the cell or else the blocks' trend,
    each of the cell's full runs) relative to the phases' step."""
    paces, sources = [1.0], []
    if phases.step_recheck_s and step_s > 0:
        paces.append(mean(phases.step_recheck_s) / step_s)
        sources.append(RECHECK_SOURCE)
    else:
        means = block_means(phases)
        half = len(means) // 2
        if half >= 2:
            paces.append(mean(means[half:]) / mean(means[:half]))
            sources.append(TREND_SOURCE)
    paces += evidence.loop_ratios
    if evidence.loop_source:
        sources.append(evidence.loop_source)
    low, high = ratio_interval(paces)
    return {"drift_low_rel": low, "drift_high_rel": high, "drift_source": " and ".join(sources)}


def setup_fields(phases: Phases, evidence: RangeEvidence) -> dict[str, Any]:
    """The setup every fresh worker pays, as the mean of all workers that paid it (the
    phases' and each full run's, relative to their cells' phases), and its spread about it."""
    if not evidence.setup_ratios:
        return {"setup_s": worker_setup_cost(phases), "fixed_low_rel": 0.0,
                "fixed_high_rel": 0.0, "fixed_source": ""}  # fmt: skip
    ratios = [1.0, *evidence.setup_ratios]
    scale = mean(ratios)
    low, high = ratio_interval(ratios, scale)
    return {
        "setup_s": worker_setup_cost(phases) * scale,
        "fixed_low_rel": low,
        "fixed_high_rel": high,
        "fixed_source": evidence.setup_source,
    }


def startup_evidence(results: RunResults, cell: CellResult) -> RangeEvidence:
    """Without full runs on the device: the startups of its cells' other workers, as setup
    ratios (a fresh process is the part of the setup every worker repeats)."""
    evidence = RangeEvidence()
    assert cell.phases is not None
    own, setup = cell.phases.startup_s, worker_setup_cost(cell.phases)
    others = [
        c.phases.startup_s
        for c in results.cells
        if c is not cell and c.key.device == cell.key.device and c.phases is not None
    ]
    if others and setup > 0:
        evidence.setup_ratios = [1 + (value - own) / setup for value in others]
        evidence.setup_source = f"the startups of {len(others) + 1} workers"
    return evidence


def run_evidence(
    results: RunResults,
    cell: CellResult,
    loop_predictions: dict[str, Any],
    exclude: MeasuredRun | None = None,
) -> RangeEvidence:
    """What the run's other workers say about ``cell``: the setup each full run on the same
    device paid again (else the startups of its cells), and this cell's full runs against
    the loop its phases predict. ``exclude``: a run to leave out (the one whose own
    prediction is being checked). ``loop_predictions``: cell id -> fn(iters, protocol)."""
    evidence = RangeEvidence()
    for other in results.cells:
        if other.key.device != cell.key.device or other.phases is None:
            continue
        setup = worker_setup_cost(other.phases)
        for run in other.runs:
            if run is not exclude and setup > 0 and run.loop_s > 0:
                evidence.setup_ratios.append((run.seconds - run.loop_s) / setup)
    if evidence.setup_ratios:
        count = len(evidence.setup_ratios)
        evidence.setup_source = f"{count} full run{'s' if count > 1 else ''}' setups"
    elif cell.phases is not None:
        evidence = startup_evidence(results, cell)
    loop_of = loop_predictions.get(cell.key.id)
    if loop_of is not None:
        for run in cell.runs:
            predicted = loop_of(run.iters, run.protocol)
            if run is not exclude and predicted > 0 and run.loop_s > 0:
                evidence.loop_ratios.append(run.loop_s / predicted)
    if evidence.loop_ratios:
        count = len(evidence.loop_ratios)
        evidence.loop_source = f"{count} full run{'s' if count > 1 else ''} against the phases"
    return evidence
