"""The sweep plan: options parsed once, checked without devices, expanded against the devices
found, stored as typed settings and expanded again the same way on --resume."""

import pytest

from gpubench.bench.plan import check_options, expand_plan, new_run_dir
from gpubench.core.data import TextSource
from gpubench.errors import UsageError
from gpubench.options import parse_sweep_options
from gpubench.results.data_source import DataSource
from gpubench.results.model import CellKey
from gpubench.results.sweep_options import SweepOptions

SYNTHETIC = TextSource(label="synthetic")


def plan(*, source=SYNTHETIC, available_devices=("cpu",), **options):
    options.setdefault("threads", "2")
    parsed = parse_sweep_options(**options)
    models = check_options(parsed, source)
    return expand_plan(parsed, source, available_devices=list(available_devices), models=models)


def test_defaults_are_bigram_and_gpt_at_their_lecture_batch_sizes():
    sweep = plan()
    assert sweep.options.iters == (500, 5000, 50000)
    assert sweep.options.protocol == "lecture" and sweep.options.budget_s == 300.0
    assert sweep.cells == [
        CellKey("bigram", "cpu", 32, "reference", 2),
        CellKey("gpt", "cpu", 64, "reference", 2),
    ]


def test_expansion_over_batch_sizes_variants_devices_and_threads():
    sweep = plan(
        models="bigram", batch_sizes="16,32", variants="reference,fast",
        devices="auto", threads="1,2", available_devices=["cpu", "cuda:0"],
    )  # fmt: skip
    assert len(sweep.cells) == 2 * 2 * (2 + 1)  # batch × variant × (cpu threads + gpu)
    gpu_cells = [k for k in sweep.cells if k.device == "cuda:0"]
    assert all(k.threads is None for k in gpu_cells)
    assert sweep.configs[CellKey("bigram", "cpu", 16, "fast", 1)]["batch_size"] == 16


def test_overrides_apply_to_the_models_that_know_the_key():
    sweep = plan(overrides=["n_layer=1", "block_size=16"])
    gpt = sweep.configs[CellKey("gpt", "cpu", 64, "reference", 2)]
    bigram = sweep.configs[CellKey("bigram", "cpu", 32, "reference", 2)]
    assert gpt["n_layer"] == 1 and gpt["block_size"] == 16
    assert "n_layer" not in bigram and bigram["block_size"] == 16


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"iters": "0"}, "at least 1"),
        ({"iters": "-5"}, "not a count"),
        ({"iters": "abc"}, "not a count"),
        ({"iters": "1,,2"}, "no empty items"),
        ({"iters": ""}, "no empty items"),
        ({"models": "transformer"}, "unknown model"),
        ({"devices": "tpu"}, "unknown device"),
        ({"devices": "cuda"}, "gpubench doctor"),
        ({"variants": "turbo"}, "unknown variant"),
        ({"protocol": "fastest"}, "unknown protocol"),
        ({"overrides": ["colour=red"]}, "unknown key"),
        ({"overrides": ["n_embd=abc"]}, "expected a whole number"),
        ({"overrides": ["n_embd"]}, "KEY=VALUE"),
        ({"batch_sizes": "0"}, "at least 1"),
        ({"threads": "two"}, "not a count"),
        ({"budget_s": 0}, "positive"),
        ({"generate": -1}, "number of tokens"),
        ({"source": TextSource(label="t.txt", text="abc" * 10)}, "too few"),
    ],
)
def test_bad_options_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        plan(**options)


def test_options_are_checked_without_probing_any_device(monkeypatch):
    def no_probe():
        raise AssertionError("a device was probed before the doctor ran")

    monkeypatch.setattr("gpubench.core.devices.available_devices", no_probe)
    options = parse_sweep_options(devices="cuda:3,cpu", variants="reference,fast", threads="1")
    assert options.devices == ("cuda:3", "cpu")  # as asked; availability is the plan's question
    check_options(options, SYNTHETIC)
    with pytest.raises(UsageError, match="gpubench doctor"):
        expand_plan(options, SYNTHETIC, available_devices=["cpu"])


def test_the_stored_settings_are_resolved_and_plan_the_same_cells_again():
    sweep = plan(devices="auto", threads=None, available_devices=("cpu", "cuda:0"))
    stored = sweep.options
    assert stored.devices == ("cpu", "cuda:0")
    assert len(stored.threads) == 1 and stored.threads[0] >= 1  # all physical cores, recorded
    assert stored.data == DataSource("synthetic", None, True)
    again = SweepOptions.from_dict(stored.to_dict())  # as --resume reads results.json
    assert again == stored
    resumed = expand_plan(again, SYNTHETIC, available_devices=["cpu", "cuda:0"])
    assert resumed.cells == sweep.cells
    assert resumed.options == stored


def test_a_resumed_run_refuses_a_device_this_machine_lacks():
    stored = plan(devices="auto", available_devices=("cpu", "cuda:0")).options
    with pytest.raises(UsageError, match="cuda:0"):
        expand_plan(stored, SYNTHETIC, available_devices=["cpu"])


def test_run_dirs_are_never_shared(tmp_path):
    first, second = new_run_dir(tmp_path), new_run_dir(tmp_path)
    assert first != second and first.is_dir() and second.is_dir()
    named = new_run_dir(tmp_path, "mine")
    assert named.name == "mine"
    with pytest.raises(UsageError, match="already exists"):
        new_run_dir(tmp_path, "mine")
    with pytest.raises(UsageError, match="plain folder name"):
        new_run_dir(tmp_path, "../escape")
