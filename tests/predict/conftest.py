"""Recorded op profiles (shapes of real ones, figures rounded) for the pure predict tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpubench.results.profile import MachineParams, OpProfile, OpRecord

# This 2-core CPU's probes, one thread, rounded (benchmarks/README.md, "Op model").
CPU = MachineParams("cpu (1 threads)", 80e9, 8e9, 3.5e-6, rng_bytes_per_s=0.4e9)


def bigram_profile() -> OpProfile:
    """Lecture bigram, batch 32: ~360 tiny ops, 330 of them building the batch."""
    ops = [
        OpRecord("add", "copy", "data", 128, bytes=2048, host_us=150),
        OpRecord("_local_scalar_dense", "copy", "data", 128, kernels=False, host_us=13),
        OpRecord("slice", "copy", "data", 64, kernels=False, host_us=100),
        OpRecord("stack", "copy", "data", 2, bytes=8192, host_us=16),
        OpRecord("embedding", "elementwise", "forward", 1, bytes=85508, host_us=21),
        OpRecord("_log_softmax", "elementwise", "forward", 1, bytes=133120, host_us=30),
        OpRecord("nll_loss_forward", "elementwise", "forward", 1, bytes=68616, host_us=31),
        OpRecord("embedding_dense_backward", "elementwise", "backward", 1, bytes=85508),
        OpRecord("_log_softmax_backward_data", "elementwise", "backward", 1, bytes=199680),
        OpRecord("add_", "optimizer", "optimizer", 12, bytes=12 * 33800, host_us=60),
    ]
    eval_ops = [op for op in ops if op.phase in ("data", "forward")]
    return OpProfile("cpu", 3, 0.9e-3, ops=ops, eval_ops=eval_ops, batch_bytes=512, params=CPU)


def gpt_profile() -> OpProfile:
    """Lecture GPT, batch 64: ~2,000 ops, ~1.9 TFLOP per step in matmuls."""
    ops = [
        OpRecord("add", "copy", "data", 256, bytes=4096),
        OpRecord("mm", "matmul", "forward", 60, flops=0.6e12, bytes=60 * 40e6),
        OpRecord("mm", "matmul", "backward", 120, flops=1.2e12, bytes=120 * 40e6),
        OpRecord("bmm", "attention", "forward", 72, flops=0.05e12, bytes=72 * 20e6),
        OpRecord("bernoulli_", "elementwise", "forward", 40, bytes=40 * 16e6),
        OpRecord("add", "elementwise", "forward", 600, bytes=600 * 25e6),
        OpRecord("view", "other", "forward", 500, kernels=False),
        OpRecord("mul_", "optimizer", "optimizer", 400, bytes=400 * 1e6),
    ]
    eval_ops = [op for op in ops if op.phase in ("data", "forward")]
    return OpProfile("cpu", 1, 7.8, ops=ops, eval_ops=eval_ops, batch_bytes=262144, params=CPU)


@pytest.fixture
def bigram() -> OpProfile:
    return bigram_profile()


@pytest.fixture
def gpt() -> OpProfile:
    return gpt_profile()


LOADED_PROBES = Path(__file__).parent / "fixtures" / "loaded_probes_gpt.json"


def loaded_probes_record() -> dict[str, Any]:
    """A real profile whose machine probes ran under extra load, and the step measured
    before it (fixtures/loaded_probes_gpt.json says how it was recorded)."""
    record: dict[str, Any] = json.loads(LOADED_PROBES.read_text(encoding="utf-8"))
    return record
