"""The op model's host and device terms (gpubench/results/profile.py) on recorded probes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gpubench.predict.gpus import find_gpu
from gpubench.predict.opmodel import gpu_params, predict_cpu_step, predict_gpu_step
from gpubench.results.profile import (
    MachineParams,
    OpProfile,
    OpRecord,
    host_seconds,
    op_bound,
    op_kind,
)

# This 2-core CPU's probes, one thread, rounded (benchmarks/README.md, "Op model").
PROBED = MachineParams(
    "cpu (1 threads)", 155e9, 15e9, 1.4e-6, rng_bytes_per_s=0.8e9,
    reduction_bytes_per_s=3e9, autograd_op_s=3.5e-6, autograd_fixed_s=150e-6,
    nograd_op_s=2.6e-6, nograd_fixed_s=20e-6, data_op_s=1.6e-6, optimizer_param_s=30e-6,
    optimizer_fixed_s=60e-6,
)  # fmt: skip


def step_ops() -> list[OpRecord]:
    return [
        OpRecord("add", "copy", "data", 100, bytes=1600),
        OpRecord("addmm", "matmul", "forward", 2, flops=2e6, bytes=2e4),
        OpRecord("_log_softmax", "elementwise", "forward", 1, bytes=3e6),
        OpRecord("_unsafe_view", "other", "forward", 4, bytes=4e6),
        OpRecord("mm", "matmul", "backward", 4, flops=4e6, bytes=4e4),
        OpRecord("sum", "elementwise", "backward", 1, bytes=3e6),
        OpRecord("lerp_", "optimizer", "optimizer", 5, bytes=5e3),
        OpRecord("mul_", "optimizer", "optimizer", 10, bytes=1e4),
    ]


def profile(parameters: int = 5) -> OpProfile:
    ops = step_ops()
    return OpProfile("cpu", 1, 0.0, ops=ops, eval_ops=ops[:4], parameters=parameters,
                     params=PROBED)  # fmt: skip


def test_each_phase_pays_its_own_probed_per_op_cost() -> None:
    host = host_seconds(step_ops(), PROBED, parameters=5)
    assert host["data"] == pytest.approx(100 * PROBED.data_op_s)
    assert host["forward"] == pytest.approx(7 * PROBED.autograd_op_s)
    assert host["backward"] == pytest.approx(5 * PROBED.autograd_op_s + PROBED.autograd_fixed_s)
    # the optimizer per parameter tensor plus its fixed cost, not per op
    assert host["optimizer"] == pytest.approx(5 * 30e-6 + 60e-6)


def test_evaluation_pays_no_grad_costs_and_no_backward_or_optimizer() -> None:
    host = host_seconds(step_ops()[:4], PROBED, training=False)
    assert host["forward"] == pytest.approx(7 * PROBED.nograd_op_s + PROBED.nograd_fixed_s)
    assert host["backward"] == host["optimizer"] == 0.0


def test_unprobed_machines_fall_back_to_the_one_op_dispatch() -> None:
    bare = MachineParams("cpu", 155e9, 15e9, 2e-6)
    host = host_seconds(step_ops(), bare, parameters=5)
    assert host["optimizer"] == pytest.approx(15 * 2e-6)
    assert sum(host.values()) == pytest.approx(sum(op.count for op in step_ops()) * 2e-6)


def test_op_kinds() -> None:
    kinds = {op.name: op_kind(op) for op in step_ops()}
    assert kinds["addmm"] == kinds["mm"] == "compute"
    assert kinds["_log_softmax"] == "reduction"
    assert kinds["sum"] == "memory"  # one pass over its input: a stream
    assert kinds["_unsafe_view"] == "view"  # not flagged as a view by torch, launches nothing
    assert op_kind(OpRecord("bernoulli_", "elementwise", "forward", 1, bytes=8)) == "rng"


def test_reductions_run_at_the_reduction_rate_and_views_cost_nothing() -> None:
    ops = {op.name: op for op in step_ops()}
    _, softmax = op_bound(ops["_log_softmax"], PROBED)
    _, summed = op_bound(ops["sum"], PROBED)
    assert softmax == pytest.approx(3e6 / PROBED.reduction_bytes_per_s)
    assert summed == pytest.approx(3e6 / PROBED.bandwidth_bytes_per_s)
    assert op_bound(ops["_unsafe_view"], PROBED) == ("overhead", 0.0)


def test_cpu_step_adds_host_and_device_terms() -> None:
    step = predict_cpu_step(profile(), PROBED)
    assert step.host_s == pytest.approx(
        sum(host_seconds(step_ops(), PROBED, parameters=5).values())
    )
    assert step.step_s == pytest.approx(step.host_s + step.device_s)
    more_params = predict_cpu_step(profile(parameters=50), PROBED)
    assert more_params.step_s - step.step_s == pytest.approx(45 * PROBED.optimizer_param_s)


def test_gpu_keeps_the_cpu_host_costs_but_not_its_reduction_or_rng_rates() -> None:
    gpu = find_gpu("a800-80gb-pcie")
    params = gpu_params(gpu, PROBED, "reference", "typical")
    assert params.autograd_op_s == PROBED.autograd_op_s
    assert params.optimizer_param_s == PROBED.optimizer_param_s
    assert params.reduction_bytes_per_s == params.rng_bytes_per_s == 0.0
    assert params.launch_s > 0 and params.asynchronous
    faster_host = replace(PROBED, autograd_op_s=1e-6, autograd_fixed_s=0.0)
    slow = predict_gpu_step(profile(), gpu, cpu=PROBED)
    fast = predict_gpu_step(profile(), gpu, cpu=faster_host)
    assert slow.regime == "overhead" and fast.host_s < slow.host_s


def test_profile_parameters_round_trip() -> None:
    data = profile(parameters=7).to_dict()
    assert OpProfile.from_dict(data).parameters == 7
    del data["parameters"]  # records written before the field existed
    assert OpProfile.from_dict(data).parameters == 0
