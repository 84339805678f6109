"""Scaling over world sizes: throughput per device, efficiency with its spread, crossovers.

Torch-free. Strong scaling keeps the global batch fixed (more ranks, less work each); weak
scaling keeps the batch per rank fixed (more ranks, more work per step). Both are read through
one formula: efficiency = (throughput per device at N) / (throughput per device at the
baseline), which is T_b / (T_N * N / b) for strong and T_b / T_N for weak scaling
(docs/distributed.md). Its spread comes from the step quartiles of both cells.

Crossovers read the cells' cost models instead (mean steps, evaluations included under the
lecture protocol), so their sentence names the per-iteration costs it compares: a reader can
tell them from the table's median-step speedup. Weak scaling compares the same samples trained,
evaluated at the same samples, so a wider global batch is never credited with evaluating
less often.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from gpubench.results.costmodel import CostModel, find_crossover

ScalingMode = Literal["strong", "weak"]


@dataclass(frozen=True)
class ScalingPoint:
    """One measured cell at one world size (the same model, variant and device kind)."""

    world_size: int
    batch_per_rank: int
    block_size: int
    step_s: float  # median synchronising step, seconds
    step_q1_s: float
    step_q3_s: float
    allreduce_share: float | None = None  # (sync - no_sync) / sync, measured
    cost: CostModel | None = None  # with the distributed fixed costs (distributed_cost_model)

    @property
    def global_batch(self) -> int:
        return self.batch_per_rank * self.world_size

    @property
    def tokens_per_step(self) -> int:
        return self.global_batch * self.block_size

    def tokens_per_s(self, step_s: float | None = None) -> float:
        seconds = self.step_s if step_s is None else step_s
        return self.tokens_per_step / seconds if seconds > 0 else 0.0

    def tokens_per_s_per_device(self, step_s: float | None = None) -> float:
        return self.tokens_per_s(step_s) / self.world_size


@dataclass(frozen=True)
class ScalingRow:
    """One world size against the baseline: measured throughput, derived efficiency."""

    world_size: int
    global_batch: int
    batch_per_rank: int
    tokens_per_s: float
    tokens_per_s_per_device: float
    speedup: float  # throughput / baseline throughput
    efficiency: float  # per-device throughput / baseline per-device throughput
    efficiency_low: float  # slow N (q3) against a fast baseline (q1)
    efficiency_high: float  # fast N (q1) against a slow baseline (q3)
    allreduce_share: float | None

    @property
    def efficiency_spread(self) -> float:
        return self.efficiency_high - self.efficiency_low


@dataclass(frozen=True)
class ScalingSeries:
    """Strong or weak scaling of one configuration over its world sizes."""

    mode: ScalingMode
    baseline_world_size: int
    rows: tuple[ScalingRow, ...]


@dataclass(frozen=True)
class WorldSizeCrossover:
    """From (or until) how many iterations ``world_size`` ranks beat the baseline's."""

    mode: ScalingMode
    world_size: int
    baseline_world_size: int
    protocol: str
    kind: str  # from-first | at | until | never
    iters: float | None  # at: first count from which N ranks stay cheaper; until: last cheaper
    step_ratio: float  # baseline per-step cost / per-step cost at world_size (>1: faster)
    fixed_gap_s: float
    sentence: str
    # per iteration (weak: of the baseline's global batch), mean step plus evaluation share
    base_step_cost_s: float = 0.0
    step_cost_s: float = 0.0


def efficiency(base: ScalingPoint, point: ScalingPoint, base_step_s: float, step_s: float) -> float:
    """Per-device throughput at ``point`` over the baseline's, for the given step times."""
    baseline = base.tokens_per_s_per_device(base_step_s)
    return point.tokens_per_s_per_device(step_s) / baseline if baseline > 0 else 0.0


def scaling_row(base: ScalingPoint, point: ScalingPoint) -> ScalingRow:
    central = efficiency(base, point, base.step_s, point.step_s)
    low = efficiency(base, point, base.step_q1_s, point.step_q3_s)
    high = efficiency(base, point, base.step_q3_s, point.step_q1_s)
    base_rate = base.tokens_per_s()
    return ScalingRow(
        world_size=point.world_size,
        global_batch=point.global_batch,
        batch_per_rank=point.batch_per_rank,
        tokens_per_s=point.tokens_per_s(),
        tokens_per_s_per_device=point.tokens_per_s_per_device(),
        speedup=point.tokens_per_s() / base_rate if base_rate > 0 else 0.0,
        efficiency=central,
        efficiency_low=min(low, central),
        efficiency_high=max(high, central),
        allreduce_share=point.allreduce_share,
    )


def scaling_series(points: Iterable[ScalingPoint], mode: ScalingMode) -> list[ScalingSeries]:
    """Group points into series of one mode: strong by global batch, weak by batch per rank.

    A series needs two world sizes or more; its baseline is the smallest world size.
    """
    groups: dict[int, dict[int, ScalingPoint]] = {}
    for point in points:
        size = point.global_batch if mode == "strong" else point.batch_per_rank
        groups.setdefault(size, {})[point.world_size] = point
    series = []
    for _, by_world in sorted(groups.items()):
        if len(by_world) < 2:
            continue
        ordered = [by_world[w] for w in sorted(by_world)]
        base = ordered[0]
        rows = tuple(scaling_row(base, point) for point in ordered)
        series.append(ScalingSeries(mode, base.world_size, rows))
    return series


def strong_scaling(points: Iterable[ScalingPoint]) -> list[ScalingSeries]:
    """Series with the global batch fixed (ranks share it)."""
    return scaling_series(points, "strong")


def weak_scaling(points: Iterable[ScalingPoint]) -> list[ScalingSeries]:
    """Series with the batch per rank fixed (the global batch grows with the ranks)."""
    return scaling_series(points, "weak")


def distributed_cost_model(
    cost: CostModel, *, process_group_init_s: float, ddp_wrap_s: float = 0.0
) -> CostModel:
    """A cell's cost model with the distributed fixed costs added to F."""
    return dataclasses.replace(cost, fixed_s=cost.fixed_s + process_group_init_s + ddp_wrap_s)


def per_baseline_sample(cost: CostModel, factor: float) -> CostModel:
    """The cost model in iterations of the baseline's global batch: a step that trains
    ``factor`` times the baseline's samples counts as ``factor`` baseline iterations.

    Evaluations stay at the same samples (every ``eval_interval`` baseline iterations, each
    costing the cell's own evaluation): the same training, only on more ranks. Keeping the
    interval in the cell's own steps would evaluate ``factor`` times less often and credit
    the ranks with the saving.
    """
    return dataclasses.replace(
        cost,
        step_s=cost.step_s / factor,
        step_low_s=cost.step_low_s / factor,
        step_high_s=cost.step_high_s / factor,
    )


def _duration(seconds: float) -> str:
    """ "53.3 ms", "2.10 s", "12.4 s": the per-iteration costs a crossover sentence shows."""
    if seconds < 1.0:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds:.2f} s" if seconds < 10 else f"{seconds:,.1f} s"


@dataclass(frozen=True)
class CrossoverWords:
    """What a world-size crossover counts and compares, in the words its sentence uses."""

    mode: ScalingMode
    protocol: str
    base_global_batch: int

    @property
    def unit(self) -> str:
        """ "iterations"; weak scaling: "iterations of batch 16" (the baseline's batch)."""
        if self.mode == "strong":
            return "iterations"
        return f"iterations of batch {self.base_global_batch}"

    @property
    def per(self) -> str:
        return "per " + self.unit.replace("iterations", "iteration", 1)

    @property
    def basis(self) -> str:
        """ "mean steps, evaluations included": not the median steps of the table beside it."""
        lecture = self.protocol == "lecture"
        basis = "mean steps" + (", evaluations included" if lecture else "")
        if self.mode == "weak":
            basis = f"the same samples trained, {basis}" + (
                " at the same samples" if lecture else ""
            )
        return basis


def world_size_crossover(
    base: ScalingPoint, point: ScalingPoint, mode: ScalingMode, protocol: str = "lecture"
) -> WorldSizeCrossover | None:
    """Whether "N ranks beat b from n iterations" (or "until n": ahead in fixed costs, slower
    per iteration), on both cells' cost models, with the per-iteration costs compared.

    Strong scaling compares iterations directly (same global batch). Weak scaling compares
    the same number of samples: iterations are counted in the baseline's global batch, and
    evaluations fall on the same samples (``per_baseline_sample``). None when a cell has no
    cost model.
    """
    if base.cost is None or point.cost is None:
        return None
    cost = point.cost
    if mode == "weak":
        cost = per_baseline_sample(cost, point.global_batch / base.global_batch)
    kind, iters, ratio, gap = find_crossover(base.cost, cost, protocol)
    base_step, step = base.cost.per_step_s(protocol), cost.per_step_s(protocol)
    words = CrossoverWords(mode, protocol, base.global_batch)
    ranks = f"{point.world_size} ranks"
    baseline = f"{base.world_size} rank{'s' if base.world_size > 1 else ''}"
    costs = f"take {_duration(step)} vs {_duration(base_step)} {words.per}"
    slower = f", {1 / ratio:.2f}× slower" if 0 < ratio < 1 else ""
    if kind == "from-first":
        sentence = f"{ranks} beat {baseline} from the first iteration: they {costs}"
    elif kind == "at" and iters is not None:
        sentence = (
            f"{ranks} beat {baseline} from {iters:,.0f} {words.unit}: they start {gap:.2f} s "
            f"behind, then {costs}"
        )
    elif kind == "until" and iters is not None:
        sentence = (
            f"{ranks} beat {baseline} until {iters:,.0f} {words.unit}: they start {-gap:.2f} s "
            f"ahead but {costs}{slower}"
        )
    else:
        sentence = f"{ranks} never beat {baseline}: they {costs}{slower}"
    sentence += f" ({words.basis})"
    return WorldSizeCrossover(
        mode, point.world_size, base.world_size, protocol, kind, iters, ratio, gap, sentence,
        base_step, step,
    )  # fmt: skip


def series_crossovers(
    points: Iterable[ScalingPoint], mode: ScalingMode, protocol: str = "lecture"
) -> list[WorldSizeCrossover]:
    """The crossover of every world size against the baseline of its series."""
    found = []
    listed = list(points)
    for series in scaling_series(listed, mode):
        key = (lambda p: p.global_batch) if mode == "strong" else (lambda p: p.batch_per_rank)
        size = series.rows[0].global_batch if mode == "strong" else series.rows[0].batch_per_rank
        members = {p.world_size: p for p in listed if key(p) == size}
        base = members[series.baseline_world_size]
        for row in series.rows[1:]:
            crossover = world_size_crossover(base, members[row.world_size], mode, protocol)
            if crossover is not None:
                found.append(crossover)
    return found


def point_from_result(
    result: dict[str, Any], block_size: int, cost: CostModel | None = None
) -> ScalingPoint:
    """A ScalingPoint from a distributed cell's result (``ddp_worker``'s ``result`` event)."""
    step = result["phases"]["step"]
    shape = result["distributed"]
    allreduce = result.get("allreduce") or {}
    return ScalingPoint(
        world_size=int(shape["world_size"]),
        batch_per_rank=int(shape["batch_per_rank"]),
        block_size=int(block_size),
        step_s=float(step["median_s"]),
        step_q1_s=float(step["q1_s"]),
        step_q3_s=float(step["q3_s"]),
        allreduce_share=allreduce.get("share"),
        cost=cost,
    )
