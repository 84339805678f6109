"""A worker that raises, dies, hangs or runs out of memory becomes a failed cell."""

import textwrap

import pytest

from gpubench.bench.engine import job_failure, job_result, run_job
from gpubench.results.data_source import DataSource
from gpubench.results.job import WorkerJob

TINY = {
    "batch_size": 2, "block_size": 4, "learning_rate": 1e-2, "max_iters": 10,
    "eval_interval": 5, "eval_iters": 2,
}  # fmt: skip

MODEL_TEMPLATE = """
import os, signal, time
import torch

CONFIG = {config!r}

class Broken(torch.nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.table = torch.nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
{body}

def build(config, vocab_size):
    return Broken(vocab_size)
"""


def model_file(tmp_path, body: str):
    path = tmp_path / "broken.py"
    path.write_text(MODEL_TEMPLATE.format(config=TINY, body=textwrap.indent(body, " " * 8)))
    return path


SYNTHETIC = DataSource("synthetic", None, True)


def job(path, mode="phases"):
    return WorkerJob(
        mode=mode, model=str(path), config=TINY, device="cpu", variant="reference",
        data=SYNTHETIC, threads=1, budget_s=5, iters=10,
    )  # fmt: skip


def run_failing(job, timeout_s=60):
    outcome = run_job(job, timeout_s=timeout_s)
    assert job_result(outcome) is None
    return outcome, job_failure(outcome, timeout_s)


def test_a_raising_model_is_an_error_with_its_message(tmp_path):
    path = model_file(tmp_path, 'raise RuntimeError("boom in forward")')
    outcome, failure = run_failing(job(path))
    assert failure.kind == "error"
    assert "boom in forward" in failure.message
    assert "forward" in failure.log_tail  # the traceback's last lines
    assert outcome.ready_s > 0


def test_out_of_memory_error_is_classified_as_oom(tmp_path):
    path = model_file(
        tmp_path, 'raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")'
    )
    _, failure = run_failing(job(path))
    assert failure.kind == "oom"
    assert "Tried to allocate" in failure.message


def test_a_worker_that_exits_abruptly_is_a_crash(tmp_path):
    path = model_file(tmp_path, "os._exit(3)")
    _, failure = run_failing(job(path))
    assert failure.kind == "crash"
    assert "code 3" in failure.message


def test_a_killed_worker_is_reported_as_probable_oom(tmp_path):
    path = model_file(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    _, failure = run_failing(job(path))
    assert failure.kind == "oom"
    assert "SIGKILL" in failure.message


@pytest.mark.slow
def test_a_hanging_worker_is_stopped_at_the_timeout(tmp_path):
    path = model_file(tmp_path, "time.sleep(600)")
    outcome, failure = run_failing(job(path), timeout_s=8)
    assert failure.kind == "timeout"
    assert outcome.status == "timeout"


@pytest.mark.slow
def test_compile_variant_times_compilation_as_its_own_phase(tmp_path):
    from gpubench.core.models import load_model

    config = {**load_model("gpt").defaults, "n_layer": 1, "n_embd": 16, "n_head": 2,
              "block_size": 8, "batch_size": 2, "eval_iters": 2}  # fmt: skip
    job = WorkerJob(
        mode="phases", model=str(load_model("gpt").path), config=config, device="cpu",
        variant="compile", data=SYNTHETIC, threads=1, budget_s=5,
    )  # fmt: skip
    outcome = run_job(job, timeout_s=300)
    assert job_failure(outcome, 300) is None, job_failure(outcome, 300)
    result = job_result(outcome)
    assert result.compile_s > 0
    assert result.compile_s > result.step.median_s  # compiling is not a step
    assert "compile" in [e.get("name") for e in outcome.events if e["event"] == "phase"]
