"""FLOPs per step against torch's own counter, exact figures for the lecture configs, the
spec-sheet table and its name matcher, the measured peak and MFU."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from gpubench.bench.flops import flops_per_step, flops_per_token, measure_peak_flops, mfu
from gpubench.core.models import count_parameters, load_model, parse_overrides, resolve_config
from gpubench.predict.datasheets import SPEC_PEAK_FLOPS, normalise_dtype, spec_peak_flops
from tests.conftest import TINY_GPT_OVERRIDES

VOCAB = 65


def _linear_weights(model: torch.nn.Module) -> int:
    """Parameters that take part in a matmul: the weights of the Linear layers."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def _counted_flops(model: torch.nn.Module, config: dict, device: str) -> int:
    """FLOPs of one forward + backward as torch.utils.flop_counter counts them."""
    idx = torch.randint(VOCAB, (config["batch_size"], config["block_size"]), device=device)
    with FlopCounterMode(display=False) as counter:
        _, loss = model(idx, idx)
        loss.backward()
    return counter.get_total_flops()


# --- analytic FLOPs ---------------------------------------------------------------------------


def test_flops_per_token_is_6n_plus_12lhqt():
    assert flops_per_token(1000, 2, 3, 4, 5) == 6 * 1000 + 12 * 2 * 3 * 4 * 5


@pytest.mark.parametrize(
    ("name", "per_step"),
    [
        # 64·256 tokens × (6·10,788,929 + 12·6·6·64·256)
        ("gpt", 1_176_558_993_408),
        ("bigram", 6_489_600),  # 32·8 tokens × 6·4,225; no attention term
        ("bigram-pos", 6_882_816),  # 32·8 tokens × 6·4,481
    ],
)
def test_flops_per_step_of_the_lecture_configs(name, per_step):
    spec = load_model(name)
    n_params = count_parameters(spec.build(spec.defaults, VOCAB))
    assert flops_per_step(spec.defaults, n_params) == per_step


@pytest.mark.parametrize("variant", ["reference", "fast"])
def test_analytic_count_equals_torch_flop_counter_on_a_tiny_gpt(variant):
    # Exact when N counts the matmul weights: the formula is exactly the matmul FLOPs of a
    # forward and backward (biases, LayerNorm, softmax, dropout and lookups count nothing).
    spec = load_model("gpt")
    config = resolve_config(spec, parse_overrides(TINY_GPT_OVERRIDES))
    torch.manual_seed(0)
    model = spec.build(config, VOCAB, variant)  # training mode: dropout and all
    counted = _counted_flops(model, config, "cpu")
    assert flops_per_step(config, _linear_weights(model)) == counted


def test_with_all_parameters_the_lecture_gpt_is_overestimated_by_1_2_percent():
    # N = all parameters (what callers pass) adds the embedding tables, biases and LayerNorm,
    # which do no matmul: 1.24 % of the lecture GPT. Counted on the meta device (no memory).
    spec = load_model("gpt")
    with torch.device("meta"):
        model = spec.build(spec.defaults, VOCAB)
    counted = _counted_flops(model, spec.defaults, "meta")
    analytic = flops_per_step(spec.defaults, count_parameters(model))
    assert counted < analytic < counted * 1.015
    assert analytic / counted == pytest.approx(1.0124, abs=1e-4)


# --- spec-sheet peaks -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("device_name", "dtype", "tflops"),
    [
        ("NVIDIA H100 80GB HBM3", "bf16", 989.5),
        ("NVIDIA H100 80GB HBM3", "fp32", 67),
        ("NVIDIA H100 PCIe", "bfloat16", 756.5),
        ("NVIDIA H100 NVL", "tf32", 417.5),
        ("NVIDIA H200", "bf16", 989.5),
        ("NVIDIA H200 NVL", "fp16", 835.5),
        ("NVIDIA A100-SXM4-80GB", "tf32", 156),
        ("NVIDIA A100 80GB PCIe", "float32", 19.5),
        ("NVIDIA A800-SXM4-80GB", "bf16", 311.9),
        ("NVIDIA A10", "bf16", 125),
        ("NVIDIA L4", "bf16", 121),
        ("NVIDIA L40S", "bf16", 362.05),
        ("NVIDIA GeForce RTX 4090", "bf16", 165.2),
        ("NVIDIA GeForce RTX 3090", "tf32", 35.6),
        ("Tesla V100-SXM2-16GB", "fp16", 125),
        ("Tesla V100-PCIE-32GB", "fp32", 14),
        ("Tesla T4", "float16", 65),
    ],
)
def test_spec_peak_for_names_as_torch_reports_them(device_name, dtype, tflops):
    found = spec_peak_flops(device_name, dtype)
    assert found is not None
    value, source = found
    assert value == pytest.approx(tflops * 1e12)
    assert "https://" in source


@pytest.mark.parametrize(
    ("device_name", "dtype"),
    [
        ("NVIDIA A10G", "bf16"),  # a cloud variant with its own clocks: not A10, not A100
        ("NVIDIA GeForce RTX 4090 Laptop GPU", "bf16"),
        ("NVIDIA GeForce RTX 3090 Ti", "bf16"),
        ("Tesla V100S-PCIE-32GB", "fp32"),
        ("NVIDIA GH200 480GB", "bf16"),
        ("NVIDIA L40", "bf16"),
        ("Tesla V100-SXM2-16GB", "bf16"),  # Volta has no bf16 tensor cores
        ("Tesla T4", "tf32"),
        ("AMD Instinct MI300X", "bf16"),
    ],
)
def test_spec_peak_is_none_for_unknown_parts_and_missing_dtypes(device_name, dtype):
    assert spec_peak_flops(device_name, dtype) is None


def test_every_table_entry_has_a_source_and_sane_peaks():
    for name, entry in SPEC_PEAK_FLOPS.items():
        assert entry.source.count("https://") == 1, name
        assert "fp32" in entry.peaks, name
        assert all(0 < value < 2e15 for value in entry.peaks.values()), name
        assert all(value >= entry.peaks["fp32"] for value in entry.peaks.values()), name


def test_dtype_names_are_normalised():
    assert normalise_dtype(torch.bfloat16) == "bf16"
    assert normalise_dtype("float32") == "fp32"
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        normalise_dtype("int8")


# --- measured peak and MFU --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_measure_peak_flops_on_cpu_is_positive_and_finite(dtype):
    # No bound on the rate or on the seconds it took: both are timings (docs/design.md).
    peak = measure_peak_flops("cpu", dtype, seconds=0.2)
    assert math.isfinite(peak) and peak > 0


def test_mfu_is_a_fraction_of_the_peak():
    assert mfu(25e9, 100e9) == pytest.approx(0.25)
    with pytest.raises(ValueError, match="positive finite"):
        mfu(1.0, 0.0)


def test_importing_flops_does_not_import_torch():
    code = "import sys, gpubench.bench.flops; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- which count: PaLM's formula, or torch's counter (issue 11) --------------------------------


def _session(name: str, overrides: list[str]):
    from gpubench.core.data import TextSource, build_dataset
    from gpubench.core.training import TrainingSession
    from tests.conftest import make_tiny_text

    spec = load_model(name)
    config = resolve_config(spec, parse_overrides(overrides))
    dataset = build_dataset(TextSource(label="tiny", text=make_tiny_text()), min_length=17)
    return TrainingSession(spec, config, dataset, "cpu"), config


def test_the_gpt_is_counted_with_palms_formula():
    from gpubench.bench.flops import FORMULA, model_flops_per_step

    session, config = _session("gpt", TINY_GPT_OVERRIDES)
    flops, method = model_flops_per_step(session, config)
    assert method == FORMULA
    assert flops == flops_per_step(config, count_parameters(session.model))


def test_the_bigram_has_no_matmuls_so_mfu_does_not_apply():
    from gpubench.bench.flops import NO_MATMULS, model_flops_per_step

    session, config = _session("bigram", ["batch_size=4", "block_size=8"])
    flops, method = model_flops_per_step(session, config)
    assert flops is None and method == NO_MATMULS  # not 6·N of an embedding table


def test_a_model_without_n_layer_is_counted_attention_included():
    from gpubench.bench.flops import COUNTED, model_flops_per_step

    session, config = _session("gpt", TINY_GPT_OVERRIDES)
    shape_free = {k: v for k, v in config.items() if k != "n_layer"}
    flops, method = model_flops_per_step(session, shape_free)
    assert method == COUNTED
    # the counter sees the attention matmuls that 6·N alone would lose
    assert flops > 6 * _linear_weights(session.model) * config["batch_size"] * config["block_size"]
    weights = [p.detach().clone() for p in session.model.parameters()]
    model_flops_per_step(session, shape_free)
    assert all(torch.equal(a, b) for a, b in zip(weights, session.model.parameters(), strict=True))
