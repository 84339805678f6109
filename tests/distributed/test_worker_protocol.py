"""The rank worker's full run, in-process and without torchrun: protocol ``train`` never
evaluates inside the timed loop, protocol ``lecture`` evaluates where the lecture loop does
(docs/distributed.md, "What rank 0 reports")."""

from __future__ import annotations

from typing import Any

import pytest

from gpubench.bench import ddp_worker
from gpubench.core.training import TrainingSession
from gpubench.results.cost_terms import evaluation_count
from tests.distributed.conftest import make_job

ITERS = 12


class OneRankCell(ddp_worker.DistributedCell):
    """A cell of world size 1 without a process group: the worker's own session build, DDP's
    wrap left out, collectives that return this rank's value."""

    def setup(self) -> None:
        import torch

        self.backend, self.device, self.threads = "gloo", torch.device("cpu"), 1
        torch.set_num_threads(self.threads)  # as a rank does; restored by the test
        self.times.update(process_group_init_s=0.0, device_init_s=0.0)
        self._build_session()

    def all_gather(self, value: Any) -> list[Any]:
        return [value]

    def barrier(self) -> None:
        pass


def full_run(protocol: str, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, Any], int]:
    """run_full on one in-process rank; the result and how often it estimated the loss."""
    import torch
    import torch.nn.parallel

    threads = torch.get_num_threads()
    monkeypatch.setattr(torch.nn.parallel, "DistributedDataParallel", lambda model, **_: model)
    calls = []
    estimate_loss = TrainingSession.estimate_loss

    def counted(session: TrainingSession, *args: Any, **kwargs: Any) -> dict[str, float]:
        calls.append(session)
        return estimate_loss(session, *args, **kwargs)

    monkeypatch.setattr(TrainingSession, "estimate_loss", counted)
    job = make_job(mode="full", iters=ITERS, protocol=protocol)
    reporter = ddp_worker.RankReporter(_Discard(), rank=0)
    try:
        result = ddp_worker.run_full(OneRankCell(job, ddp_worker.RankContext({}), reporter))
    finally:
        torch.set_num_threads(threads)
    return result, len(calls)


class _Discard:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def test_protocol_train_never_evaluates_in_the_timed_loop(monkeypatch) -> None:
    result, evaluations = full_run("train", monkeypatch)
    assert evaluations == 0
    assert result["val_loss"] is None and result["train_loss"] is not None  # read after the loop
    assert result["loop_s"] > 0 and result["distributed"]["world_size"] == 1


def test_protocol_lecture_evaluates_where_the_lecture_loop_does(monkeypatch) -> None:
    result, evaluations = full_run("lecture", monkeypatch)
    interval = int(make_job()["config"]["eval_interval"])
    assert evaluations == evaluation_count(ITERS, interval) == 3  # steps 0, 10 and 11
    assert result["val_loss"] is not None
