"""Strong and weak scaling, efficiency with its spread, and world-size crossovers (pure)."""

from __future__ import annotations

import pytest

from gpubench.results.costmodel import CostModel
from gpubench.results.scaling import (
    ScalingPoint,
    distributed_cost_model,
    point_from_result,
    series_crossovers,
    strong_scaling,
    weak_scaling,
    world_size_crossover,
)


def point(
    world: int, per_rank: int, step: float, spread: float = 0.0, **kw: object
) -> ScalingPoint:
    return ScalingPoint(world, per_rank, 64, step, step * (1 - spread), step * (1 + spread), **kw)  # type: ignore[arg-type]


def cost(fixed: float, step: float) -> CostModel:
    return CostModel(fixed, step, step, step, eval_s=0.0, eval_interval=100)


def test_strong_scaling_efficiency_is_speedup_over_ranks() -> None:
    points = [point(1, 16, 1.0), point(2, 8, 0.625), point(4, 4, 0.5)]  # global batch 16
    (series,) = strong_scaling(points)
    assert series.mode == "strong" and series.baseline_world_size == 1
    assert [r.speedup for r in series.rows] == pytest.approx([1.0, 1.6, 2.0])
    assert [r.efficiency for r in series.rows] == pytest.approx([1.0, 0.8, 0.5])
    assert weak_scaling(points) == []  # no two points share a batch per rank


def test_weak_scaling_efficiency_is_the_step_time_ratio() -> None:
    (series,) = weak_scaling([point(1, 8, 1.0), point(2, 8, 1.25)])
    assert series.rows[1].efficiency == pytest.approx(0.8)
    assert series.rows[1].tokens_per_s_per_device == pytest.approx(8 * 64 / 1.25)
    assert series.rows[1].global_batch == 16


def test_efficiency_spread_comes_from_both_cells_quartiles() -> None:
    (series,) = weak_scaling([point(1, 8, 1.0, 0.1), point(2, 8, 1.25, 0.2)])
    row = series.rows[1]
    assert row.efficiency_low == pytest.approx(0.9 / 1.5)  # fast baseline, slow N
    assert row.efficiency_high == pytest.approx(1.1 / 1.0)  # slow baseline, fast N
    assert row.efficiency_spread == pytest.approx(1.1 - 0.6)


def test_strong_crossover_in_iterations_with_the_process_group_cost() -> None:
    two_cost = distributed_cost_model(cost(3.0, 0.5), process_group_init_s=1.5, ddp_wrap_s=0.5)
    assert two_cost.fixed_s == 5.0
    base = point(1, 16, 1.0, cost=cost(1.0, 1.0))
    two = point(2, 8, 0.5, cost=two_cost)
    crossover = world_size_crossover(base, two, "strong", protocol="train")
    assert crossover is not None and crossover.kind == "at"
    # (5 - 1) / (1 - 0.5) = 8 is a tie: the 9th iteration is the first one cheaper
    assert crossover.iters == 9
    assert crossover.sentence == (
        "2 ranks beat 1 rank from 9 iterations: they start 4.00 s behind, then take 500 ms vs "
        "1.00 s per iteration (mean steps)"
    )


def test_weak_crossover_counts_iterations_of_the_baseline_batch() -> None:
    base = point(1, 8, 1.0, cost=cost(1.0, 1.0))
    two = point(2, 8, 1.2, cost=cost(3.0, 1.2))  # twice the samples per step
    crossover = world_size_crossover(base, two, "weak", protocol="train")
    assert crossover is not None
    assert crossover.iters == 6  # 2.0 / (1.0 - 0.6) = 5 is a tie
    assert crossover.sentence.startswith("2 ranks beat 1 rank from 6 iterations of batch 8: ")
    assert crossover.sentence.endswith(
        "then take 600 ms vs 1.00 s per iteration of batch 8 (the same samples trained, mean steps)"
    )
    assert (crossover.step_cost_s, crossover.base_step_cost_s) == pytest.approx((0.6, 1.0))


def test_never_when_more_ranks_are_slower_per_step() -> None:
    base = point(1, 16, 1.0, cost=cost(1.0, 1.0))
    two = point(2, 8, 1.25, cost=cost(2.0, 1.25))
    (crossover,) = series_crossovers([base, two], "strong", protocol="train")
    assert crossover.kind == "never"
    assert crossover.sentence == (
        "2 ranks never beat 1 rank: they take 1.25 s vs 1.00 s per iteration, 1.25× slower "
        "(mean steps)"
    )


def test_until_when_more_ranks_start_ahead_but_are_slower_per_step() -> None:
    base = point(1, 16, 1.0, cost=cost(5.0, 1.0))
    two = point(2, 8, 1.25, cost=cost(2.0, 1.25))  # 3 s ahead, 0.25 s dearer per step
    (crossover,) = series_crossovers([base, two], "strong", protocol="train")
    assert crossover.kind == "until"
    assert crossover.iters == 11  # a tie at 12: 2 + 12 × 1.25 = 5 + 12 × 1.0
    assert crossover.sentence == (
        "2 ranks beat 1 rank until 11 iterations: they start 3.00 s ahead but take 1.25 s vs "
        "1.00 s per iteration, 1.25× slower (mean steps)"
    )


def test_weak_crossover_evaluates_at_the_same_samples_on_both_sides() -> None:
    # twice the samples per step in twice the time, evaluations as dear on both: no gain per
    # sample, and none from evaluating half as often per sample either
    base = point(1, 8, 1.0, cost=CostModel(1.0, 1.0, 1.0, 1.0, eval_s=5.0, eval_interval=10))
    two = point(2, 8, 2.0, cost=CostModel(2.0, 2.0, 2.0, 2.0, eval_s=5.0, eval_interval=10))
    crossover = world_size_crossover(base, two, "weak", protocol="lecture")
    assert crossover is not None and crossover.kind == "never"
    assert crossover.step_cost_s == pytest.approx(crossover.base_step_cost_s) == 1.5
    assert crossover.sentence == (
        "2 ranks never beat 1 rank: they take 1.50 s vs 1.50 s per iteration of batch 8 (the "
        "same samples trained, mean steps, evaluations included at the same samples)"
    )


def test_point_from_a_worker_result() -> None:
    result = {
        "phases": {"step": {"median_s": 0.2, "q1_s": 0.19, "q3_s": 0.22}},
        "distributed": {"world_size": 2, "batch_per_rank": 8},
        "allreduce": {"share": 0.3},
    }
    p = point_from_result(result, block_size=64)
    assert (p.world_size, p.global_batch, p.allreduce_share) == (2, 16, 0.3)
    assert p.tokens_per_s() == pytest.approx(16 * 64 / 0.2)
