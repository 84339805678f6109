"""The fast variant's measured choices: the faster candidate wins, a drifting loss is
rejected, a failing candidate is skipped, and the cache is hit, missed and bypassed."""

from __future__ import annotations

import json

import pytest
import torch

from gpubench.core.data import TextSource, build_dataset
from gpubench.core.models import load_model, parse_overrides, resolve_config
from gpubench.core.training import TrainingSession
from gpubench.core.tuning import (
    CANDIDATES,
    LOSS_TOLERANCE,
    FastChoices,
    candidates_for,
    choose_options,
    shape_key,
    tune_fast_variant,
)
from tests.conftest import TINY_GPT_OVERRIDES, make_tiny_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")
LOSSES = [4.20, 4.18, 4.15, 4.12]


def fake_trials(seconds: dict[tuple[str, object], float], losses: dict | None = None):
    """A timing source: each option value adds its seconds (0 unless given); records calls."""
    calls: list[dict] = []

    def run_trial(options):
        calls.append(options)
        total = 1.0 + sum(seconds.get(item, 0.0) for item in options.items())
        for item, value in (losses or {}).items():
            if item in options.items():
                return total, value
        return total, list(LOSSES)

    run_trial.calls = calls
    return run_trial


def test_the_faster_candidate_is_chosen():
    candidates = {"precision": ("fp32", "bf16"), "adamw": ("fused", "foreach")}
    run = fake_trials({("precision", "bf16"): -0.4, ("adamw", "foreach"): +0.2})
    options, trials = choose_options(candidates, run)
    assert options == {"precision": "bf16", "adamw": "fused"}
    assert [t.option for t in trials] == ["baseline", "precision", "adamw"]
    # adamw was probed on top of the bf16 already chosen
    assert run.calls[2] == {"precision": "bf16", "adamw": "foreach"}
    assert trials[1].compared_with == pytest.approx(1.0)
    assert trials[2].compared_with == pytest.approx(0.6)


def test_a_slower_or_barely_faster_candidate_keeps_the_first_value():
    candidates = {"precision": ("fp32", "bf16"), "attention": ("explicit", "sdpa")}
    run = fake_trials({("precision", "bf16"): +0.5, ("attention", "sdpa"): -0.01})  # 1 %: noise
    options, trials = choose_options(candidates, run)
    assert options == {"precision": "fp32", "attention": "explicit"}
    assert all(t.accepted for t in trials)


def test_a_faster_candidate_whose_loss_drifts_beyond_the_tolerance_is_rejected():
    candidates = {"precision": ("fp32", "bf16")}
    drifted = [loss * (1 + 2 * LOSS_TOLERANCE) for loss in LOSSES]
    run = fake_trials({("precision", "bf16"): -0.5}, losses={("precision", "bf16"): drifted})
    options, trials = choose_options(candidates, run)
    assert options == {"precision": "fp32"}
    assert trials[1].accepted is False and "loss off by 4.0%" in trials[1].reason
    within = [loss * (1 + LOSS_TOLERANCE / 2) for loss in LOSSES]
    run = fake_trials({("precision", "bf16"): -0.5}, losses={("precision", "bf16"): within})
    assert choose_options(candidates, run)[0] == {"precision": "bf16"}


def test_a_nan_loss_is_rejected():
    run = fake_trials({("precision", "bf16"): -0.5}, losses={("precision", "bf16"): [float("nan")]})
    options, trials = choose_options({"precision": ("fp32", "bf16")}, run)
    assert options == {"precision": "fp32"} and not trials[1].accepted


def test_a_candidate_that_raises_is_skipped_with_its_error():
    def run_trial(options):
        if options["sdpa_backend"] == "flash":
            raise RuntimeError("No available kernel. Aborting execution.\nmore detail")
        return 1.0, list(LOSSES)

    options, trials = choose_options({"sdpa_backend": ("auto", "flash")}, run_trial)
    assert options == {"sdpa_backend": "auto"}
    assert trials[1].seconds_per_step is None
    assert trials[1].reason == "No available kernel. Aborting execution."


def test_describe_says_what_was_chosen_and_why_with_the_timings():
    candidates = {"precision": ("fp32", "bf16"), "batch_slices": (True, False)}
    run = fake_trials({("precision", "bf16"): -0.08, ("batch_slices", False): +0.02})
    options, trials = choose_options(candidates, run)
    lines = FastChoices(options, trials, probe_seconds=2.5, measured_seconds=2.5).describe()
    assert lines[0].startswith("fast variant options measured in 2.5 s")
    assert lines[1] == "bf16 autocast: on — bf16 step 0.92 s vs fp32 1 s"
    assert lines[2] == "batch in slices: on — on step 0.92 s vs off 0.94 s"


def test_choices_round_trip_through_a_dict():
    options, trials = choose_options({"precision": ("fp32", "bf16")}, fake_trials({}))
    choices = FastChoices(options, trials, probe_seconds=1.5, measured_seconds=1.5)
    data = json.loads(json.dumps(choices.to_dict()))
    assert set(data) >= {"options", "from_cache", "probe_seconds", "trials", "loss_tolerance"}
    again = FastChoices.from_dict(data, from_cache=True)
    assert again.options == options and again.trials == trials
    assert again.from_cache and again.probe_seconds == 0.0 and again.measured_seconds == 1.5


# --- candidates and the real probe -----------------------------------------------------------


def _cell(**extra: str):
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES) | extra)
    dataset = build_dataset(TextSource(label="tiny", text=make_tiny_text()), min_length=17)
    return spec, config, dataset


def test_cpu_candidates_cover_precision_attention_dropout_slices_and_adamw():
    assert candidates_for(load_model("gpt"), CPU) == CANDIDATES["cpu"]
    # a model without FAST_OPTIONS gets the session's options only
    assert set(candidates_for(load_model("bigram"), CPU)) == {"precision", "adamw"}


def test_cuda_candidates_include_bf16_against_tf32_and_the_sdpa_backends():
    assert CANDIDATES["cuda"]["precision"] == ("tf32", "bf16")
    assert {"flash", "efficient"} <= set(CANDIDATES["cuda"]["sdpa_backend"])


def test_real_probe_times_every_candidate_and_leaves_the_random_state_alone(tmp_path):
    spec, config, dataset = _cell()
    torch.manual_seed(99)
    expected = torch.rand(3)
    torch.manual_seed(99)
    choices = tune_fast_variant(spec, config, dataset, CPU, cache_dir=tmp_path)
    assert torch.equal(torch.rand(3), expected)
    assert set(choices.options) == set(CANDIDATES["cpu"])
    assert len(choices.trials) == 1 + sum(len(v) - 1 for v in CANDIDATES["cpu"].values())
    assert all(t.seconds_per_step and t.seconds_per_step > 0 for t in choices.trials)
    assert all(len(t.losses) >= 2 for t in choices.trials)
    # every candidate started from the same weights on the same batch: the first step's
    # loss agrees (dropout masks and precision differ, so not bit for bit)
    first = [t.losses[0] for t in choices.trials]
    assert max(first) - min(first) < 0.05
    assert not choices.from_cache and choices.probe_seconds > 0
    session = TrainingSession(spec, config, dataset, CPU, variant="fast", fast_choices=choices)
    assert session.fast_options == choices.options
    assert len(choices.describe()) == 1 + len(choices.options)


# --- the cache --------------------------------------------------------------------------------


def _tune(tmp_path, run, *, retune=False, **extra):
    spec, config, dataset = _cell(**extra)
    return tune_fast_variant(
        spec, config, dataset, CPU, cache_dir=tmp_path, retune=retune, run_trial=run
    )


def test_cache_miss_probes_and_a_hit_skips_the_probe(tmp_path):
    run = fake_trials({("precision", "bf16"): -0.5})
    first = _tune(tmp_path, run)
    assert not first.from_cache and first.options["precision"] == "bf16"
    probes = len(run.calls)
    assert probes == 1 + sum(len(v) - 1 for v in CANDIDATES["cpu"].values())
    second = _tune(tmp_path, run)
    assert len(run.calls) == probes  # nothing ran
    assert second.from_cache and second.probe_seconds == 0.0
    assert second.options == first.options and second.trials == first.trials
    assert second.describe()[0].startswith("fast variant options from the cache")


def test_retune_probes_again_and_replaces_the_entry(tmp_path):
    _tune(tmp_path, fake_trials({("precision", "bf16"): -0.5}))
    run = fake_trials({("precision", "bf16"): +0.5})
    again = _tune(tmp_path, run, retune=True)
    assert run.calls and not again.from_cache and again.options["precision"] == "fp32"
    assert _tune(tmp_path, fake_trials({})).options["precision"] == "fp32"  # cached anew


def test_other_shapes_miss_the_cache(tmp_path):
    _tune(tmp_path, fake_trials({}))
    run = fake_trials({})
    assert not _tune(tmp_path, run, block_size="8").from_cache
    assert run.calls
    spec, config, dataset = _cell()
    assert shape_key(spec, config, 65, CPU) != shape_key(spec, config | {"n_embd": 64}, 65, CPU)
    # the schedule does not change a step: same key
    assert shape_key(spec, config, 65, CPU) == shape_key(spec, config | {"max_iters": 9}, 65, CPU)


def test_another_torch_version_or_cpu_misses_the_cache(tmp_path, monkeypatch):
    from gpubench.core import tuning

    _tune(tmp_path, fake_trials({}))
    monkeypatch.setattr(torch, "__version__", "9.9.9")
    assert not _tune(tmp_path, fake_trials({})).from_cache
    monkeypatch.setattr(
        tuning, "cpu_identity", lambda: {"cpu_model": "other", "cpu_flags_sha256": "0"}
    )
    assert not _tune(tmp_path, fake_trials({})).from_cache
    assert len(list(tmp_path.glob("*.json"))) == 3  # one file per machine identity


def test_an_unreadable_cache_file_is_a_miss_and_is_rewritten(tmp_path):
    _tune(tmp_path, fake_trials({}))
    (path,) = tmp_path.glob("*.json")
    path.write_text("{not json", encoding="utf-8")
    assert not _tune(tmp_path, fake_trials({})).from_cache
    assert _tune(tmp_path, fake_trials({})).from_cache
