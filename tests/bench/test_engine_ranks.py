"""The engine's cells of world size > 1 without real ranks: strong and weak DDP cells beside
the single-device one, rank 0's result stored on the cell (shape, every rank's metadata,
all-reduce share, fixed costs in F), a node that did not host rank 0, and a rendezvous
that fails stopping the sweep (the launcher itself is tested in tests/distributed)."""

from __future__ import annotations

import json

import pytest

from gpubench.bench import distributed as distributed_module
from gpubench.bench.distributed import DistributedOutcome
from gpubench.bench.engine import RendezvousFailed
from gpubench.results.costmodel import fit_cost_model
from gpubench.results.io import load_results
from gpubench.results.model import Failure
from gpubench.results.ranges import run_evidence
from tests.bench.test_engine_budget import FakeWorkers, make_engine

STEP = {
    "median_s": 0.002, "q1_s": 0.0019, "q3_s": 0.0022, "n_steps_measured": 30,
    "steps_per_block": 10, "warmup_steps": 5, "block_times_s": [0.02, 0.021, 0.019],
}  # fmt: skip


def rank0_result(job: dict) -> dict:
    """What ddp_worker's rank 0 reports for a phases job (docs/distributed.md)."""
    world = 2
    per_rank = job["config"]["batch_size"] // (world if job["scaling"] == "strong" else 1)
    ranks = [{"rank": r, "local_rank": r, "node_rank": 0, "host": "h", "pid": 1000 + r,
              "threads": job["threads"]} for r in range(world)]  # fmt: skip
    return {
        "event": "result", "device_name": "CPU (1 threads per rank)", "n_params": 4225,
        "threads": job["threads"],
        "phases": {"device_init_s": 0.01, "data_s": 0.01, "build_s": 0.1,
                   "first_steps_s": [0.004, 0.002, 0.002], "step": STEP, "eval_s": 0.2,
                   "eval_batches_measured": 20, "eval_iters": 20,
                   "generate_tokens_per_s": None},
        "allreduce": {"method": "no_sync", "share": 0.12, "share_q1": 0.08, "share_q3": 0.2,
                      "pairs": 3, "sync_step_s": 0.002, "no_sync_step_s": 0.00176},
        "throughput": {"tokens_per_step": per_rank * world * 8, "tokens_per_s": 1e5,
                       "tokens_per_s_per_device": 5e4, "flops_per_step": None,
                       "flops_per_s": None, "dtype": "float32",
                       "flops_method": "counted (FlopCounterMode)"},
        "distributed": {"world_size": world, "nnodes": 1, "backend": "gloo",
                        "scaling": job["scaling"], "batch_per_rank": per_rank,
                        "global_batch_size": per_rank * world, "threads_per_rank": 1,
                        "process_group_init_s": 0.5, "ddp_wrap_s": 0.25, "ranks": ranks},
    }  # fmt: skip


class FakeLauncher:
    """Stands in for launch_cell: every launch reports, or none does, or the rendezvous fails."""

    def __init__(self, how: str = "report"):
        self.how = how
        self.launches: list[tuple[dict, object]] = []

    def __call__(self, job, spec, *, timeout_s, on_event=None, python=None):
        self.launches.append((job, spec))
        if self.how == "rendezvous":
            failure = Failure("rendezvous", "rendezvous: not all 2 nodes joined at h:1 within 3 s")
            return DistributedOutcome(failure=failure, wall_s=3.0)
        if self.how == "elsewhere":
            return DistributedOutcome(wall_s=1.0)
        return DistributedOutcome(payload=rank0_result(job), startup_s=2.0, wall_s=4.0)


@pytest.fixture
def launcher(monkeypatch) -> FakeLauncher:
    fake = FakeLauncher()
    monkeypatch.setattr(distributed_module, "launch_cell", fake)
    return fake


def test_nproc_adds_strong_and_weak_cells_stored_with_rank_zeros_result(
    tmp_path, monkeypatch, launcher
) -> None:
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), models="bigram", threads="2",
                         nproc="1,2", iters="100")  # fmt: skip
    ids = [key.id for key in engine.plan.cells]
    assert ids == ["bigram/cpu/b32/reference/t2", "bigram/cpu/b32/reference/t1/x2-strong",
                   "bigram/cpu/b32/reference/t1/x2-weak"]  # fmt: skip
    engine.run()
    jobs = [job for job, _ in launcher.launches]
    assert {job["scaling"] for job in jobs} == {"strong", "weak"}
    assert all(job["threads"] == 1 and spec.nproc_per_node == 2 for job, spec in launcher.launches)
    saved = load_results(tmp_path)
    weak = next(c for c in saved.cells if c.key.scaling == "weak")
    assert weak.status == "ok" and weak.key.world_size == 2
    assert weak.allreduce is not None and weak.allreduce["share"] == 0.12
    assert weak.distributed is not None and len(weak.distributed["ranks"]) == 2
    assert weak.phases is not None and weak.phases.startup_s == 2.0
    evidence = run_evidence(saved, weak, {})  # the same workers' setups as the stored terms
    plain = fit_cost_model(weak.phases, int(weak.config["eval_interval"]), evidence)
    assert weak.cost is not None
    assert weak.cost.fixed_s == pytest.approx(plain.fixed_s + 0.5 + 0.25)  # init + wrap in F
    assert saved.cells[0].key.world_size == 1 and saved.cells[0].distributed is None
    stored = json.loads((tmp_path / "results.json").read_text())
    assert "world_size" not in stored["cells"][0]["key"]  # single-device cells as before
    assert stored["settings"]["nproc"] == [1, 2]
    frame = saved.frame()
    assert sorted(frame["world_size"].unique()) == [1, 2]
    assert set(frame["scaling"].dropna()) == {"strong", "weak"}
    assert not any(c.device != "cpu" for c in saved.crossovers)  # no CPU-vs-CPU crossovers


def test_a_node_without_rank_zero_records_the_cell_as_reported_elsewhere(
    tmp_path, monkeypatch, launcher
) -> None:
    launcher.how = "elsewhere"
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), models="bigram", nproc="1",
                         nnodes=2, rdzv_endpoint="127.0.0.1:29400", node_rank=1, iters="100",
                         full=True)  # fmt: skip
    assert [key.world_size for key in engine.plan.cells] == [2, 2]  # no single-device cell
    engine.run()
    assert [c.status for c in engine.results.cells] == ["elsewhere", "elsewhere"]
    assert all(c.failure is None for c in engine.results.cells)
    assert all(spec.node_rank == 1 and spec.nnodes == 2 for _, spec in launcher.launches)
    assert len({spec.rdzv_id for _, spec in launcher.launches}) == 2  # one rendezvous per cell
    assert all(job["mode"] == "phases" for job, _ in launcher.launches)  # nodes agree: no full


def test_a_rendezvous_that_fails_stops_the_sweep_and_saves(tmp_path, monkeypatch, launcher) -> None:
    launcher.how = "rendezvous"
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), models="bigram", nproc="1",
                         nnodes=2, rdzv_endpoint="127.0.0.1:29400", iters="100")  # fmt: skip
    with pytest.raises(RendezvousFailed) as stopped:
        engine.run()
    assert "\n" not in str(stopped.value) and "not all 2 nodes joined" in str(stopped.value)
    assert len(launcher.launches) == 1  # the next cell would only wait again
    saved = load_results(tmp_path)
    assert saved.status == "interrupted"
    assert [c.status for c in saved.cells][:1] == ["failed"]
    assert saved.cells[0].failure is not None and saved.cells[0].failure.kind == "rendezvous"
