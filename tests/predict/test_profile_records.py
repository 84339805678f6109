"""OpProfile records and the regime classification (gpubench/results/profile.py)."""

from __future__ import annotations

import json

import pytest

from gpubench.results.profile import (
    CATEGORIES,
    OpProfile,
    classify_regime,
    profile_from_cell,
)


def test_profile_round_trips_through_json(gpt: OpProfile) -> None:
    data = json.loads(json.dumps(gpt.to_dict()))
    back = OpProfile.from_dict(data)
    assert back.ops_per_step == gpt.ops_per_step
    assert back.flops_per_step == pytest.approx(gpt.flops_per_step, rel=1e-3)
    assert back.params == gpt.params
    assert data["derived"]["ops_per_step"] == gpt.ops_per_step


def test_from_dict_refuses_other_schemas(gpt: OpProfile) -> None:
    data = gpt.to_dict()
    data["schema"] = "something/9"
    with pytest.raises(ValueError, match="gpubench.profile/1"):
        OpProfile.from_dict(data)


def test_category_shares_cover_every_category_and_sum_to_one(bigram: OpProfile) -> None:
    shares = bigram.category_shares()
    assert set(shares) == set(CATEGORIES)
    assert sum(shares.values()) == pytest.approx(1.0)
    assert shares["copy"] > shares["matmul"] == 0.0


def test_bigram_is_overhead_bound_with_figures_in_the_reason(bigram: OpProfile) -> None:
    regime = classify_regime(bigram, label="bigram, batch 32", step_s=0.84e-3)
    assert regime.kind == "overhead"
    assert regime.ops_per_step == bigram.ops_per_step
    assert regime.reason.startswith(f"bigram, batch 32: {bigram.ops_per_step:,} ops per step at")
    assert "of the 840 µs step: overhead-bound" in regime.reason


def test_lecture_gpt_is_compute_bound(gpt: OpProfile) -> None:
    regime = classify_regime(gpt, label="gpt, batch 64")
    assert regime.kind == "compute"
    assert regime.compute_s > regime.memory_s > 0
    assert "GFLOP per step" in regime.reason and regime.reason.endswith("compute-bound")


def test_classify_needs_machine_parameters(gpt: OpProfile) -> None:
    gpt.params = None
    with pytest.raises(ValueError, match="machine parameters"):
        classify_regime(gpt, label="gpt")


def test_cell_without_profile_key_has_none() -> None:
    assert profile_from_cell({"id": "bigram/cpu/b32/reference"}) is None
