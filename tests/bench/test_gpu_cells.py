"""On a real NVIDIA GPU: cells measured on cuda:0, a CPU-vs-GPU sweep with its crossover,
and generate() past block_size on the device (the lecture's device-side assert)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gpubench.bench.engine import job_failure, job_result, run_job
from gpubench.core.models import REFERENCE_MODELS, load_model
from gpubench.results.data_source import DataSource
from gpubench.results.io import load_results
from gpubench.results.job import WorkerJob

pytestmark = pytest.mark.gpu

TINY_GPT = ["n_layer=1", "n_embd=32", "n_head=2", "block_size=16", "batch_size=8",
            "eval_iters=4"]  # fmt: skip


@pytest.fixture(scope="module")
def cuda_device() -> str:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs an NVIDIA GPU and a CUDA build of torch (none usable here)")
    return "cuda:0"


@pytest.mark.parametrize("variant", ["reference", "fast"])
def test_a_gpt_cell_is_measured_on_the_gpu(cuda_device, variant):
    config = {**load_model("gpt").defaults}
    config.update({k: int(v) for k, v in (item.split("=") for item in TINY_GPT)})
    job = WorkerJob(
        mode="phases", model=str(load_model("gpt").path), config=config, device=cuda_device,
        variant=variant, data=DataSource("synthetic", None, True), budget_s=10,
    )  # fmt: skip
    outcome = run_job(job, timeout_s=300)
    assert job_failure(outcome, 300) is None, job_failure(outcome, 300)
    result = job_result(outcome)
    assert "cpu" not in result.device_name.lower()
    assert result.device_init_s > 0  # CUDA context creation is its own phase
    assert result.step.median_s > 0
    speed = result.throughput
    assert speed.peak_flops_measured > 1e11  # any CUDA GPU beats 100 GFLOP/s on matmul
    assert 0 < speed.mfu < 1


def test_a_cpu_and_gpu_sweep_reports_a_crossover(cuda_device, tmp_path):
    args = ["run", "--models", "bigram,gpt", "--devices", f"cpu,{cuda_device}",
            "--iters", "100,1000", "--budget", "60", "--data", "synthetic",
            "--out", str(tmp_path), "--name", "gpu"]  # fmt: skip
    for item in TINY_GPT:
        args += ["--set", item]
    result = subprocess.run(
        [sys.executable, "-m", "gpubench", *args], capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr
    assert "CUDA ready" in result.stderr
    results = load_results(tmp_path / "gpu")
    devices = {crossover.device for crossover in results.crossovers}
    assert devices == {cuda_device}
    assert all(c.kind in ("from-first", "at", "never") for c in results.crossovers)
    assert any(cuda_device in sentence for sentence in results.summary)
    assert (tmp_path / "gpu" / "crossover.png").is_file()


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_generate_past_block_size_on_the_gpu(cuda_device, name):
    import torch

    spec = load_model(name)
    config = {
        **spec.defaults,
        **({"n_layer": 1, "n_embd": 32, "n_head": 2} if name == "gpt" else {}),
    }
    model = spec.build(config, 65).to(cuda_device)
    out = model.generate(torch.zeros((1, 1), dtype=torch.long, device=cuda_device),
                         max_new_tokens=3 * config["block_size"])  # fmt: skip
    torch.cuda.synchronize()
    assert out.shape == (1, 1 + 3 * config["block_size"])
