"""The worker's timing logic on a fake session, a fake clock and a fake device sync: every clock
read that times work comes right after a sync, evaluation pairs are timed one by one, the step
is re-timed at the end of the cell, and the deadline (from process start) bounds it all."""

from __future__ import annotations

import contextlib

import pytest

from gpubench.bench import worker
from gpubench.bench.worker import Deadline, Timer, measure_session
from gpubench.results.data_source import DataSource
from gpubench.results.job import WorkerJob

STEP_S = 0.01
EVAL_BATCH_S = 0.004


class VirtualTime:
    """A clock that only moves when the fake session works; every call is logged."""

    def __init__(self):
        self.now = 0.0
        self.log: list[str] = []

    def clock(self) -> float:
        self.log.append("read")
        return self.now

    def sync(self) -> None:
        self.log.append("sync")


class Loss:
    def __init__(self, log):
        self.log = log

    def item(self) -> float:
        self.log.append("item")
        return 1.0


class FakeSession:
    batch_size, block_size, dtype = 4, 8, None

    def __init__(self, time: VirtualTime):
        self.time = time
        self.in_eval = False

    def step(self):
        assert not self.in_eval
        self.time.now += STEP_S
        self.time.log.append("step")

    @contextlib.contextmanager
    def evaluating(self):
        self.in_eval = True
        yield
        self.in_eval = False

    def eval_batch_loss(self, split):
        assert self.in_eval
        self.time.now += EVAL_BATCH_S
        self.time.log.append(f"eval-{split}")
        return Loss(self.time.log)


def job(**extra) -> WorkerJob:
    config = {"eval_iters": 50, "batch_size": 4, "block_size": 8}
    extra.setdefault("profile", False)
    return WorkerJob(mode="phases", model="m.py", config=config, device="cpu",
                     variant="reference", data=DataSource("synthetic", None, True),
                     **extra)  # fmt: skip


class Quiet:
    def emit(self, event, **fields):
        pass


@pytest.fixture
def run(monkeypatch):
    monkeypatch.setattr(worker, "throughput", lambda job, session, step_s: None)

    def measure(budget_s=3.0, **extra):
        time = VirtualTime()
        session = FakeSession(time)
        timer = Timer(time.sync, time.clock)
        deadline = Deadline(budget_s, clock=lambda: time.now)
        measured = measure_session(job(**extra), session, Quiet(), timer=timer, deadline=deadline)
        return measured, time

    return measure


def test_every_timing_clock_read_follows_a_device_sync(run):
    _, time = run()
    reads = [i for i, call in enumerate(time.log) if call == "read"]
    assert reads, "the timer was never read"
    assert all(time.log[i - 1] == "sync" for i in reads)


def test_a_removed_sync_is_caught(run, monkeypatch):
    """The check above bites: a timer that forgets to sync is seen."""
    monkeypatch.setattr(Timer, "now", lambda self: self.clock())
    _, time = run()
    reads = [i for i, call in enumerate(time.log) if call == "read"]
    assert not all(time.log[i - 1] == "sync" for i in reads)


def test_steady_blocks_have_one_sync_per_block_and_steps_only_inside(run):
    measured, time = run()
    step = measured["step"]
    assert step.median_s == pytest.approx(STEP_S)
    assert len(step.block_times_s) >= 3
    assert step.n_steps_measured == step.steps_per_block * len(step.block_times_s)


def test_evaluation_pairs_are_timed_one_by_one(run):
    measured, time = run()
    pairs = measured["eval_batch_times_s"]
    assert 1 <= len(pairs) <= 50
    assert pairs == pytest.approx([2 * EVAL_BATCH_S] * len(pairs))
    assert measured["eval_batches_measured"] == len(pairs)
    assert measured["eval_s"] == pytest.approx(2 * EVAL_BATCH_S * 50)  # scaled to eval_iters
    # each pair: sync, read, train batch (read), val batch (read), sync, read
    first = time.log.index("eval-train")
    assert time.log[first - 2 : first + 6] == [
        "sync", "read", "eval-train", "item", "eval-val", "item", "sync", "read",
    ]  # fmt: skip


def test_the_step_is_rechecked_at_the_end_of_the_cell(run):
    measured, time = run()
    recheck = measured["step_recheck_s"]
    assert 1 <= len(recheck) <= 3
    assert recheck == pytest.approx([STEP_S] * len(recheck))
    last_eval = max(i for i, call in enumerate(time.log) if call.startswith("eval"))
    assert "step" in time.log[last_eval:]  # re-timed after the evaluation


def test_a_short_budget_keeps_the_minimums_and_stays_near_the_deadline(run):
    measured, time = run(budget_s=0.5)
    assert len(measured["step"].block_times_s) == 3  # the minimum
    assert len(measured["eval_batch_times_s"]) >= 1
    assert len(measured["step_recheck_s"]) >= 1


def test_a_long_budget_is_spent_but_not_overrun(run):
    measured, time = run(budget_s=5.0)
    assert time.now <= 5.0
    assert len(measured["eval_batch_times_s"]) == 50  # all batches fit


def test_the_profile_reserve_shortens_the_timed_phases(run, monkeypatch):
    monkeypatch.setattr(worker, "profile_phase", lambda job, session, step_s, report: None)
    without, _ = run(budget_s=4.0)
    with_profile, _ = run(budget_s=4.0, profile=True)  # no machine params: the probe's share too
    assert with_profile["step"].n_steps_measured < without["step"].n_steps_measured


def test_a_bf16_cell_is_profiled_against_the_bf16_matmul_rate(monkeypatch):
    """The device probe's matmul rate is fp32; a bf16 cell's compute time needs bf16's."""
    import dataclasses
    from types import SimpleNamespace

    import torch

    from gpubench.bench import flops, worker
    from gpubench.results.profile import MachineParams

    fields = {
        f.name: 1.0 for f in dataclasses.fields(MachineParams) if f.default is dataclasses.MISSING
    }
    params = MachineParams(
        **{**fields, "name": "cpu", "source": "probe", "matmul_flops_per_s": 2e11}
    )
    asked = []
    monkeypatch.setattr(
        flops, "measure_peak_flops", lambda d, dt, seconds: asked.append(dt) or 6e11
    )
    bf16 = worker.matmul_at_session_dtype(params, "cpu", SimpleNamespace(dtype=torch.bfloat16))
    assert bf16.matmul_flops_per_s == 6e11 and asked == ["bfloat16"]
    assert worker.matmul_at_session_dtype(params, "cpu", SimpleNamespace(dtype=None)) is params
