"""The profiler phase (gpubench/bench/profile.py) on a tiny GPT: structure, not timings."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from gpubench.bench.profile import categorize, profile_config  # noqa: E402
from gpubench.results.profile import CATEGORIES, MachineParams, OpProfile  # noqa: E402

TINY = {"batch_size": 4, "block_size": 16, "learning_rate": 1e-3, "max_iters": 10,
        "eval_interval": 5, "eval_iters": 2, "n_embd": 32, "n_head": 2, "n_layer": 1,
        "dropout": 0.2}  # fmt: skip
PARAMS = MachineParams("cpu", 50e9, 5e9, 3e-6)


@pytest.fixture(scope="module")
def profile() -> OpProfile:
    return profile_config("gpt", TINY, params=PARAMS, warmup_steps=1, steps=1)


def test_every_phase_is_recorded_with_known_categories(profile: OpProfile) -> None:
    phases = {op.phase for op in profile.ops}
    assert phases == {"data", "forward", "backward", "optimizer"}
    assert {op.category for op in profile.ops} <= set(CATEGORIES)
    assert all(op.category == "optimizer" for op in profile.ops if op.phase == "optimizer")


def test_flops_match_the_flop_counter(profile: OpProfile) -> None:
    from torch.utils.flop_counter import FlopCounterMode

    from gpubench.core.models import load_model

    # The recorder uses the flop counter's formulas: a forward pass of the same model
    # counts the same matmul FLOPs as the recorded forward phase.
    model = load_model("gpt").build(TINY, 65)
    idx = torch.zeros((4, 16), dtype=torch.long)
    with FlopCounterMode(display=False) as counter:
        model(idx, idx)
    forward = sum(op.flops for op in profile.ops if op.phase == "forward")
    assert forward == pytest.approx(counter.get_total_flops())
    assert profile.flops_per_step > forward  # backward counts too


def test_eval_batch_has_no_backward_and_profile_is_json(profile: OpProfile) -> None:
    assert {op.phase for op in profile.eval_ops} <= {"data", "forward"}
    assert profile.batch_bytes == 2 * 4 * 16 * 8
    assert profile.step_wall_s > 0 and profile.host_s > 0
    assert OpProfile.from_dict(json.loads(json.dumps(profile.to_dict()))).ops_per_step == (
        profile.ops_per_step
    )


def test_categories_by_name_and_phase() -> None:
    assert categorize("mm", "backward", False) == "matmul"
    assert categorize("bmm", "forward", False) == "attention"
    assert categorize("add", "optimizer", False) == "optimizer"
    assert categorize("stack", "data", False) == "copy"
    assert categorize("view", "forward", True) == "other"


def test_profile_counts_parameters_and_leaves_indexed_inputs_out(profile: OpProfile) -> None:
    assert profile.parameters > 0
    forward = {op.name: op for op in profile.ops if op.phase == "forward"}
    logits_bytes = 4 * 16 * 65 * 4  # batch × block × vocab × fp32
    # nll_loss reads one log-probability per target, not the whole logits tensor
    assert forward["nll_loss_forward"].bytes < logits_bytes


def test_two_size_probes_split_per_unit_and_fixed_costs() -> None:
    from gpubench.bench.profile import _slope_and_intercept

    assert _slope_and_intercept((0.3, 10), (1.2, 100)) == pytest.approx((0.01, 0.2))
    # Load made the small size slower than the large one: the large size's average per unit
    # stands in, so a host-cost term never comes out as zero.
    assert _slope_and_intercept((0.3, 10), (0.2, 100)) == pytest.approx((0.002, 0.0))


def test_probe_machine_fills_every_host_term() -> None:
    from gpubench.bench.profile import probe_machine

    params = probe_machine("cpu", seconds=0.05)
    for name in ("autograd_op_s", "nograd_op_s", "data_op_s", "optimizer_param_s",
                 "reduction_bytes_per_s", "rng_bytes_per_s"):  # fmt: skip
        assert getattr(params, name) > 0, name
