"""The op-level model (gpubench/predict/opmodel.py) on recorded profiles."""

from __future__ import annotations

import pytest

from gpubench.predict.gpus import find_gpu
from gpubench.predict.opmodel import (
    PREDICTED,
    matmul_dtype,
    predict_cell,
    predict_cpu_step,
    predict_gpu_step,
)
from gpubench.results.costmodel import CostModel
from gpubench.results.profile import OpProfile

from .conftest import CPU


def cpu_costs(step_s: float, eval_s: float, interval: int) -> CostModel:
    return CostModel(2.2, step_s, step_s, step_s, eval_s, interval)


def test_cpu_step_is_dispatch_plus_execution(bigram: OpProfile) -> None:
    step = predict_cpu_step(bigram, CPU)
    assert step.copy_s == 0.0
    assert step.host_s == pytest.approx(bigram.ops_per_step * CPU.dispatch_s)
    assert step.step_s == pytest.approx(step.host_s + step.device_s)
    assert step.regime == "overhead" and step.label == PREDICTED


def test_rng_ops_run_at_the_probed_rng_rate(gpt: OpProfile) -> None:
    faster = CPU.__class__(**{**CPU.__dict__, "rng_bytes_per_s": 0.0})
    assert predict_cpu_step(gpt, CPU).step_s > predict_cpu_step(gpt, faster).step_s


def test_bigram_on_a800_is_overhead_bound_and_not_faster(bigram: OpProfile) -> None:
    a800 = find_gpu("a800-80gb-pcie")
    step = predict_gpu_step(bigram, a800)
    assert step.regime == "overhead"
    assert step.host_s > step.device_s
    assert step.step_s >= predict_cpu_step(bigram, CPU).step_s * 0.5  # no large win
    assert step.copy_s > 0


def test_gpt_on_a800_is_device_bound_and_far_faster(gpt: OpProfile) -> None:
    a800 = find_gpu("a800-80gb-pcie")
    step = predict_gpu_step(gpt, a800)
    assert step.regime in ("compute", "memory")
    assert step.step_s * 20 < predict_cpu_step(gpt, CPU).step_s


def test_scenarios_are_ordered(gpt: OpProfile) -> None:
    t4 = find_gpu("t4")
    steps = [predict_gpu_step(gpt, t4, scenario=s).step_s
             for s in ("optimistic", "typical", "pessimistic")]  # fmt: skip
    assert steps == sorted(steps)


def test_fast_variant_uses_bf16_where_the_gpu_has_it() -> None:
    assert matmul_dtype("fast", find_gpu("a100-sxm4-40gb")) == "bf16"
    assert matmul_dtype("fast", find_gpu("t4")) == "fp32"
    assert matmul_dtype("reference", find_gpu("h100-sxm5")) == "fp32"


def test_seed_observation_bigram_loses_and_gpt_wins_from_first(
    bigram: OpProfile, gpt: OpProfile
) -> None:
    a800 = find_gpu("a800-80gb-pcie")
    bigram_cell = predict_cell(
        model="bigram", batch_size=32, variant="reference",
        cpu_costs=cpu_costs(0.84e-3, 0.22, 300), profile=bigram, gpu=a800,
        iters=[3000], eval_iters=200, cpu_startup_s=2.2,
    )  # fmt: skip
    total = bigram_cell.totals[0]
    assert total.gpu_s > total.cpu_s  # loses at 3,000 iterations
    assert total.gpu_low_s <= total.gpu_s <= total.gpu_high_s
    assert bigram_cell.crossover in ("never", "at") and bigram_cell.label == PREDICTED
    gpt_cell = predict_cell(
        model="gpt", batch_size=64, variant="reference",
        cpu_costs=cpu_costs(7.8, 720, 500), profile=gpt, gpu=a800,
        iters=[1, 5000], eval_iters=200, cpu_startup_s=2.2,
    )  # fmt: skip
    assert gpt_cell.crossover == "from-first"
    assert all(t.gpu_s < t.cpu_s for t in gpt_cell.totals)
    assert any("context_s" in line for line in gpt_cell.assumptions)


def test_a_gpu_ahead_in_fixed_costs_but_dearer_per_step_wins_until_n(bigram: OpProfile) -> None:
    # The CPU cell paid 6 s before its first step (e.g. a slow first step): the predicted
    # A800 starts ahead (startup + context) but its bigram step is dearer than the CPU's.
    a800 = find_gpu("a800-80gb-pcie")
    cell = predict_cell(
        model="bigram", batch_size=32, variant="reference",
        cpu_costs=CostModel(6.0, 0.84e-3, 0.84e-3, 0.84e-3, 0.22, 300), profile=bigram,
        gpu=a800, iters=[100, 100_000], eval_iters=200, protocol="train", cpu_startup_s=2.2,
    )  # fmt: skip
    assert cell.fixed_s < 6.0 and cell.step.step_s > 0.84e-3
    assert cell.crossover == "until" and cell.crossover_iters is not None
    first, last = cell.totals
    assert first.gpu_s < first.cpu_s and last.gpu_s > last.cpu_s
    assert f"wins until {cell.crossover_iters:,.0f} iterations" in cell.reason
    assert "never" not in cell.reason
