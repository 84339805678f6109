"""A cell at world size 1 and 2 on the CPU (gloo): the phases, the all-reduce share, the
ranks' metadata, and a scaling efficiency with its spread computed from the two results."""

from __future__ import annotations

from typing import Any

import pytest

from gpubench.bench.distributed import DistributedOutcome, LaunchSpec, launch_cell
from gpubench.results.scaling import point_from_result, weak_scaling
from tests.distributed.conftest import SMALL, make_job, survivors

PHASE_KEYS = {"device_init_s", "data_s", "build_s", "first_steps_s", "step", "eval_s",
              "eval_batches_measured", "eval_iters", "generate_tokens_per_s"}  # fmt: skip


@pytest.fixture(scope="module")
def cells() -> dict[int, DistributedOutcome]:
    """The issue's small GPT at world sizes 1 and 2, the cores split between the ranks."""
    outcomes = {}
    for world in (1, 2):
        job = make_job(SMALL, budget_s=3.0, threads=None)
        outcomes[world] = launch_cell(job, LaunchSpec(nproc_per_node=world), timeout_s=240)
    return outcomes


@pytest.mark.parametrize("world", [1, 2])
def test_cell_reports_the_single_device_phases_and_the_distributed_terms(
    cells: dict[int, DistributedOutcome], world: int
) -> None:
    outcome = cells[world]
    assert outcome.failure is None, outcome.failure
    result: dict[str, Any] = outcome.payload or {}
    assert set(result["phases"]) == PHASE_KEYS  # the same record as a single-device cell
    step = result["phases"]["step"]
    assert 0 < step["q1_s"] <= step["median_s"] <= step["q3_s"]
    shape = result["distributed"]
    assert shape["world_size"] == world and shape["backend"] == "gloo"
    assert shape["process_group_init_s"] > 0
    assert [r["rank"] for r in shape["ranks"]] == list(range(world))
    assert result["allreduce"]["method"] == "no_sync"
    assert result["allreduce"]["pairs"] >= 3
    assert result["allreduce"]["share_q1"] <= result["allreduce"]["share"]
    assert result["allreduce"]["share"] <= result["allreduce"]["share_q3"]
    assert outcome.startup_s > 0 and not survivors(outcome.pids)


def test_the_cores_are_split_between_ranks_and_recorded(
    cells: dict[int, DistributedOutcome],
) -> None:
    one = (cells[1].payload or {})["distributed"]["ranks"]
    two = (cells[2].payload or {})["distributed"]["ranks"]
    cores = one[0]["threads"]
    assert [r["threads"] for r in two] == [max(1, cores // 2)] * 2


def test_global_batch_grows_with_ranks_under_weak_scaling(
    cells: dict[int, DistributedOutcome],
) -> None:
    shapes = [(cells[w].payload or {})["distributed"] for w in (1, 2)]
    assert [s["batch_per_rank"] for s in shapes] == [8, 8]
    assert [s["global_batch_size"] for s in shapes] == [8, 16]
    tokens = [(cells[w].payload or {})["throughput"]["tokens_per_step"] for w in (1, 2)]
    assert tokens == [8 * 64, 16 * 64]


def test_scaling_efficiency_with_spread_from_the_two_cells(
    cells: dict[int, DistributedOutcome],
) -> None:
    points = [point_from_result(cells[w].payload or {}, block_size=64) for w in (1, 2)]
    (series,) = weak_scaling(points)
    base, two = series.rows
    assert base.efficiency == pytest.approx(1.0)
    assert two.efficiency_low <= two.efficiency <= two.efficiency_high
    assert two.allreduce_share is not None
