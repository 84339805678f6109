"""Two launchers on this machine act as two nodes (c10d rendezvous on 127.0.0.1): one cell
of world size 2, reported once, with both nodes' metadata."""

from __future__ import annotations

import threading

from gpubench.bench.distributed import DistributedOutcome, LaunchSpec, launch_cell
from tests.distributed.conftest import free_port, make_job, survivors


def test_two_launchers_on_localhost_run_one_two_node_cell() -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    job = make_job(mode="full", iters=20, protocol="train")
    outcomes: dict[int, DistributedOutcome] = {}

    def node(rank: int) -> None:
        spec = LaunchSpec(nproc_per_node=1, nnodes=2, rdzv_endpoint=endpoint, node_rank=rank,
                          rdzv_timeout_s=60, local_addr="127.0.0.1")  # fmt: skip
        outcomes[rank] = launch_cell(job, spec, timeout_s=180)

    threads = [threading.Thread(target=node, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert all(o.failure is None for o in outcomes.values()), outcomes
    reporters = [o for o in outcomes.values() if o.reported]
    assert len(reporters) == 1  # global rank 0 lives on one node and reports for all
    shape = (reporters[0].payload or {})["distributed"]
    assert shape["world_size"] == 2 and shape["nnodes"] == 2
    assert sorted(r["node_rank"] for r in shape["ranks"]) == [0, 1]
    assert (reporters[0].payload or {})["loop_s"] > 0
    assert not survivors([pid for o in outcomes.values() for pid in o.pids])
