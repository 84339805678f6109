"""Cost model, extrapolation, crossover and budget allocation with recorded numbers."""

import pytest

from gpubench.core.training import evaluation_steps
from gpubench.results.costmodel import (
    CostModel,
    evaluation_count,
    find_crossover,
    fit_cost_model,
    plan_full_runs,
)
from gpubench.results.model import Phases, StepStats


@pytest.mark.parametrize(
    ("iters", "interval"),
    [(1, 300), (2, 300), (300, 300), (301, 300), (3000, 300), (5000, 500), (500, 500), (7, 3)],
)
def test_evaluation_count_matches_the_lecture_loop(iters, interval):
    assert evaluation_count(iters, interval) == len(evaluation_steps(iters, interval))


def test_evaluation_count_for_the_lecture_configs():
    assert evaluation_count(3000, 300) == 11  # bigram: steps 0, 300, ..., 2700, 2999
    assert evaluation_count(5000, 500) == 11  # gpt
    assert evaluation_count(0, 300) == 0


def phases(step=0.002, first=(0.01, 0.004, 0.002), q=(0.0019, 0.0021), eval_s=0.5):
    return Phases(
        startup_s=1.0,
        device_init_s=0.1,
        data_s=0.3,
        build_s=0.05,
        first_steps_s=list(first),
        step=StepStats(step, q[0], q[1], 100, 10, 5, [step * 10] * 10),
        eval_s=eval_s,
        eval_batches_measured=200,
        eval_iters=200,
    )


def test_fixed_cost_includes_first_steps_excess():
    model = fit_cost_model(phases(), eval_interval=300)
    excess = (0.01 - 0.002) + (0.004 - 0.002) + 0.0
    assert model.fixed_s == pytest.approx(1.0 + 0.1 + 0.3 + 0.05 + excess)
    assert model.step_s == pytest.approx(0.002) and model.eval_s == 0.5


def test_predict_lecture_and_train_protocols():
    model = CostModel(2.0, 0.002, 0.0019, 0.0021, 0.5, 300)
    assert model.predict(3000, "lecture") == pytest.approx(2.0 + 6.0 + 11 * 0.5)
    assert model.predict(3000, "train") == pytest.approx(8.0)


def test_without_blocks_the_range_is_the_quartiles_and_no_floor():
    model = CostModel(0.0, 1.0, 0.5, 1.5, 0.0, 10**9)
    assert model.predict_range(10, "train") == (5.0, 15.0)
    tight = CostModel(0.0, 1.0, 1.0, 1.0, 0.0, 10**9)
    assert tight.predict_range(10, "train") == (10.0, 10.0)  # nothing measured: no made-up 5 %


# The seed's report: the bigram trained its 3000 lecture steps in 14.6 s on the CPU and in
# 18.1 s on an A800. Costs below reproduce both totals: the GPU pays ~3.9 s more up front
# (CUDA context, first kernels) and its evaluations (one .item() sync per batch) are cheap
# but not free; per step it gains a little.
CPU = CostModel(fixed_s=1.6, step_s=0.0020, step_low_s=0.0019, step_high_s=0.0021,
                eval_s=0.6364, eval_interval=300)  # fmt: skip
A800 = CostModel(fixed_s=5.57, step_s=0.0019, step_low_s=0.0018, step_high_s=0.0020,
                 eval_s=0.6209, eval_interval=300)  # fmt: skip


def test_seed_case_totals():
    assert CPU.predict(3000) == pytest.approx(14.6, abs=0.05)
    assert A800.predict(3000) == pytest.approx(18.1, abs=0.05)


def test_seed_case_crossover_is_far_beyond_3000_iterations():
    kind, iters, ratio, gap = find_crossover(CPU, A800, "lecture")
    assert kind == "at"
    per_step_gain = CPU.per_step_s("lecture") - A800.per_step_s("lecture")
    assert gap == pytest.approx((5.57 + 0.6209) - (1.6 + 0.6364))
    assert iters == pytest.approx(gap / per_step_gain, rel=0.05)  # near the straight line
    assert iters > 3000
    # Exact: the GPU is cheaper from n on, and was not at n - 1.
    n = int(iters)
    assert all(A800.predict(m) < CPU.predict(m) for m in range(n, n + 2000))
    assert A800.predict(n - 1) >= CPU.predict(n - 1)
    assert ratio > 1


def test_from_the_first_iteration_when_cheaper_on_both_terms():
    gpu = CostModel(1.0, 0.0001, 0.0001, 0.0001, 0.01, 300)
    kind, iters, ratio, _ = find_crossover(CPU, gpu, "lecture")
    assert (kind, iters) == ("from-first", None)
    assert ratio > 10


def test_never_when_the_per_step_cost_is_not_lower():
    slow = CostModel(5.0, 0.003, 0.003, 0.003, 0.9, 300)
    kind, iters, ratio, gap = find_crossover(CPU, slow, "lecture")
    assert kind == "never" and iters is None and ratio < 1 and gap > 0


def test_train_protocol_ignores_evaluations():
    evals_only = CostModel(2.0, 0.002, 0.002, 0.002, 100.0, 10)
    kind, iters, _, gap = find_crossover(evals_only, CostModel(3.0, 0.001, 0.001, 0.001, 0, 10),
                                         "train")  # fmt: skip
    # T_dev(n) - T_cpu(n) = 1 - 0.001 n: a tie at 1,000, cheaper from 1,001
    assert kind == "at" and iters == 1001 and gap == pytest.approx(1.0)


def test_allocator_gives_every_cell_its_shortest_count_first():
    costs = {
        "bigram/cpu": CostModel(1.0, 0.001, 0.001, 0.001, 0.1, 300),
        "gpt/cpu": CostModel(5.0, 10.0, 10.0, 10.0, 5.0, 500),
    }
    chosen = plan_full_runs(costs, [500, 5000, 50000], budget_s=100.0, protocol="lecture")
    # gpt at 500 steps needs ~5000 s: never; bigram fits at 500 and 5000, not at 50000
    # (1 + 50 + 167 * 0.1 = 67.7 s after 2.2 + 7.2 s were spent: 90.6 s left, so it fits).
    assert ("gpt/cpu", 500) not in chosen
    assert chosen[:2] == [("bigram/cpu", 500), ("bigram/cpu", 5000)]
    spent = sum(costs[c].predict(n, "lecture") for c, n in chosen)
    assert spent <= 100.0


def test_allocator_skips_longer_counts_after_a_shorter_one_did_not_fit():
    costs = {"a": CostModel(50.0, 0.0, 0.0, 0.0, 0.0, 10)}
    assert plan_full_runs(costs, [10, 20], budget_s=40.0, protocol="train") == []
