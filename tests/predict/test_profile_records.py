"""OpProfile records and the regime classification (gpubench/results/profile.py)."""

from __future__ import annotations

import json
import re

import pytest

from gpubench.results.profile import (
    CATEGORIES,
    CLOSE_RATIO,
    OpProfile,
    classify_regime,
    profile_from_cell,
    regime_terms,
    short_duration,
)

from .conftest import loaded_probes_record


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
    # the measured step of this point in the op model's self-check (benchmarks/README.md)
    regime = classify_regime(bigram, label="bigram, batch 32", step_s=1.45e-3)
    assert regime.kind == "overhead"
    assert regime.ops_per_step == bigram.ops_per_step
    assert regime.reason.startswith(f"bigram, batch 32: {bigram.ops_per_step:,} ops per step at")
    assert "of the 1.45 ms step: overhead-bound" in regime.reason
    assert regime.share is not None and 0 < regime.share <= 1
    assert f"= 1.19 ms ({regime.share * 100:.0f} %) of the 1.45 ms step" in regime.reason
    assert not regime.probes_inflated and "close behind" not in regime.reason


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


def test_probes_inflated_by_load_never_exceed_the_step_they_are_part_of() -> None:
    # Recorded: the machine probes ran under extra load, the step was measured before it;
    # the overhead they imply (41.1 ms) is larger than the whole measured step (13 ms).
    record = loaded_probes_record()
    profile = OpProfile.from_dict(record["profile"])
    step = record["step_median_s"]
    assert profile.params is not None
    overhead, memory, compute = regime_terms(profile.ops, profile.params,
                                             parameters=profile.parameters)  # fmt: skip
    assert overhead > step  # what made "41.1 ms of host time ... of the 13 ms step"
    regime = classify_regime(profile, label="gpt, batch 4", step_s=step)
    assert regime.kind == "overhead"  # the order of the three probed terms, not the cap
    assert regime.probes_inflated and regime.share == 1.0
    reason = regime.reason
    assert f"{short_duration(overhead)} of the {short_duration(step)} step" not in reason
    assert f"more than the whole {short_duration(step)} step it is part of" in reason
    assert "other work loaded the machine while it was probed" in reason
    # the profiled step's own wall time and its ops' own host time, taken with the probes
    assert profile.host_s <= profile.step_wall_s
    assert (
        f"the step profiled with the probes lasted {short_duration(profile.step_wall_s)}, "
        f"its ops {short_duration(profile.host_s)} of host time" in reason
    )
    assert "counted as 100 % of the step" in reason
    assert all(int(share) <= 100 for share in re.findall(r"(\d+) %", reason))


def test_against_its_own_profiled_step_the_loaded_profile_is_coherent() -> None:
    profile = OpProfile.from_dict(loaded_probes_record()["profile"])
    regime = classify_regime(profile, label="gpt, batch 4")
    assert regime.step_s == profile.step_wall_s
    assert not regime.probes_inflated and regime.share is not None and regime.share < 1
    assert "(the step profiled" not in regime.reason  # the step is that one already


def test_a_close_runner_up_is_named_and_a_far_one_is_not(bigram: OpProfile) -> None:
    params = bigram.params
    assert params is not None
    overhead, memory, _ = regime_terms(bigram.ops, params, parameters=bigram.parameters)
    assert memory < CLOSE_RATIO * overhead
    assert "close behind" not in classify_regime(bigram, label="b").reason
    # a bandwidth at which the memory term is 80 % of the overhead term
    factor = memory / (0.8 * overhead)
    slower = params.__class__(**{**params.__dict__,
                                 "bandwidth_bytes_per_s": params.bandwidth_bytes_per_s * factor,
                                 "reduction_bytes_per_s": 0.0})  # fmt: skip
    regime = classify_regime(bigram, label="b", step_s=1.0, params=slower)
    assert regime.kind == "overhead"
    assert regime.memory_s == pytest.approx(0.8 * overhead)
    assert regime.reason.count("-bound") == 1
    assert regime.reason.endswith(f"overhead-bound; memory ({short_duration(regime.memory_s)}) "
                                  "is close behind")  # fmt: skip
