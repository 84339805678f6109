"""The torchrun command a LaunchSpec builds, and the one-line errors of a bad spec."""

from __future__ import annotations

from pathlib import Path

import pytest

from gpubench.bench.distributed import (
    DistributedOutcome,
    LaunchSpec,
    failure_from,
    torchrun_command,
)
from gpubench.errors import UsageError


def test_one_host_is_standalone() -> None:
    args = LaunchSpec(nproc_per_node=2).torchrun_args()
    assert "--standalone" in args and "--nproc-per-node=2" in args and "--max-restarts=0" in args
    assert not any(a.startswith("--rdzv") for a in args)


def test_several_nodes_use_a_c10d_rendezvous() -> None:
    spec = LaunchSpec(nproc_per_node=4, nnodes=2, rdzv_endpoint="127.0.0.1:29400", node_rank=1,
                      rdzv_timeout_s=30)  # fmt: skip
    args = spec.torchrun_args()
    assert spec.world_size == 8
    assert {
        "--nnodes=2",
        "--rdzv-backend=c10d",
        "--rdzv-endpoint=127.0.0.1:29400",  # fmt: skip
        "--node-rank=1",
        "--rdzv-conf=join_timeout=30,read_timeout=30",
    } <= set(args)
    assert "--standalone" not in args
    command = torchrun_command(spec, Path("job.json"), python="python")
    assert command[:3] == ["python", "-m", "torch.distributed.run"]
    assert command[-4:] == ["-m", "gpubench.bench.ddp_worker", "--job", "job.json"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"nproc_per_node": 0}, "--nproc must be 1 or more"),
        ({"nproc_per_node": 1, "nnodes": 2}, "needs --rdzv-endpoint"),
        ({"nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": "host"}, "HOST:PORT"),
        ({"nproc_per_node": 1, "nnodes": 2, "rdzv_endpoint": "h:1", "node_rank": 2}, "0..1"),
    ],
)
def test_bad_specs_are_usage_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        LaunchSpec(**kwargs)  # type: ignore[arg-type]


SUMMARY = """
Failures:
[1]:
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 12000)  (SIGTERM)
Root Cause (first observed failure):
[0]:
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 12001)  (SIGKILL)
"""


def test_the_killed_rank_is_the_cause_not_the_ranks_torn_down() -> None:
    outcome = DistributedOutcome(ranks=[{"rank": 1, "local_rank": 1, "host": "node-b"}])
    failure = failure_from(outcome, "tail", SUMMARY, LaunchSpec(nproc_per_node=2))
    assert failure.kind == "oom"
    assert failure.message.startswith("rank 1 (local rank 1 on node-b) was killed (SIGKILL)")


def test_a_lost_peer_is_not_the_cause() -> None:
    outcome = DistributedOutcome(
        ranks=[{"rank": 0}, {"rank": 1}],
        rank_errors=[
            {"rank": 0, "kind": "error", "time": 1.0,
             "message": "RuntimeError: [gloo] Connection closed by peer"},
            {"rank": 1, "kind": "oom", "time": 2.0, "message": "OutOfMemoryError: out of memory"},
        ],
    )  # fmt: skip
    failure = failure_from(outcome, "tail", "", LaunchSpec(nproc_per_node=2))
    assert failure.kind == "oom" and failure.message.startswith("rank 1")
