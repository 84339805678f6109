"""Faults fail the cell, never the launcher, and leave no process behind (checked with psutil):
a rank killed with SIGKILL, a rank that raises, a timeout, a rendezvous nobody joins, and
SIGTERM sent to the launcher itself."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from typing import Any

from gpubench.bench.distributed import LaunchSpec, launch_cell
from tests.distributed.conftest import free_port, make_job, survivors


def test_a_rank_killed_mid_cell_fails_the_cell_with_that_ranks_error() -> None:
    killed: list[int] = []

    def kill_rank_one(event: dict[str, Any]) -> None:
        if event.get("event") == "ranks":
            killed.append(next(r["pid"] for r in event["ranks"] if r["rank"] == 1))
        if event.get("event") == "progress" and event.get("phase") == "step" and len(killed) == 1:
            os.kill(killed[0], signal.SIGKILL)
            killed.append(-1)

    job = make_job(budget_s=60.0)
    outcome = launch_cell(job, LaunchSpec(nproc_per_node=2), timeout_s=120, on_event=kill_rank_one)
    assert len(killed) == 2  # the kill happened mid-cell, during the timed steps
    assert outcome.payload is None and outcome.failure is not None
    assert outcome.failure.kind == "oom"  # what a SIGKILL most often means
    assert outcome.failure.message.startswith("rank 1 ")
    assert "SIGKILL" in outcome.failure.message
    assert killed[0] in outcome.pids and not survivors(outcome.pids)


def test_a_rank_that_raises_is_named_not_the_rank_that_lost_it() -> None:
    outcome = launch_cell(make_job(fail_rank=1), LaunchSpec(nproc_per_node=2), timeout_s=120)
    assert outcome.failure is not None and outcome.failure.kind == "error"
    assert outcome.failure.message.startswith("rank 1")
    assert outcome.failure.message.endswith("RuntimeError: injected failure on rank 1")
    assert "injected failure" in outcome.failure.log_tail  # the rank's own traceback
    assert not survivors(outcome.pids)


def test_a_cell_past_its_timeout_is_stopped_with_every_rank() -> None:
    endless = make_job(mode="full", iters=10**9, protocol="train")
    outcome = launch_cell(endless, LaunchSpec(nproc_per_node=2), timeout_s=15)
    assert outcome.failure is not None and outcome.failure.kind == "timeout", outcome.failure
    assert len(outcome.pids) >= 3  # torchrun and two ranks were seen, and all are gone
    assert not survivors(outcome.pids)


def test_a_rendezvous_nobody_joins_is_a_one_line_error() -> None:
    spec = LaunchSpec(nproc_per_node=1, nnodes=2, rdzv_endpoint=f"127.0.0.1:{free_port()}",
                      rdzv_timeout_s=3, local_addr="127.0.0.1")  # fmt: skip
    outcome = launch_cell(make_job(), spec, timeout_s=120)
    assert outcome.failure is not None and outcome.failure.kind == "rendezvous"
    assert "\n" not in outcome.failure.message
    assert "not all 2 nodes joined" in outcome.failure.message
    assert "RendezvousTimeoutError" in outcome.failure.log_tail
    assert not survivors(outcome.pids)


LAUNCHER = """
import json, sys, psutil
from gpubench.bench.distributed import LaunchSpec, launch_cell
def report(event):
    if event.get("event") == "ranks":
        pids = [p.pid for p in psutil.Process().children(recursive=True)]
        pids += [r["pid"] for r in event["ranks"]]
        print(json.dumps(pids), flush=True)
launch_cell(json.loads(sys.argv[1]), LaunchSpec(nproc_per_node=2), timeout_s=300,
            on_event=report)
"""


def test_sigterm_to_the_launcher_leaves_no_rank_behind() -> None:
    job = make_job(mode="full", iters=10**9, protocol="train")
    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, json.dumps(job)], stdout=subprocess.PIPE, text=True
    )
    assert launcher.stdout is not None
    pids = json.loads(launcher.stdout.readline())  # the cell is running: its ranks are known
    time.sleep(1.0)
    launcher.send_signal(signal.SIGTERM)
    launcher.wait(timeout=60)
    assert launcher.returncode != 0
    assert len(set(pids)) >= 3 and not survivors(pids)
