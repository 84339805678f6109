"""One rank of a distributed cell: DistributedDataParallel training, timed by phase.

Started by torchrun (see ``gpubench.bench.distributed``) as
``python -m gpubench.bench.ddp_worker --job JOB.json``; every rank runs this file. The job is
the single-device worker's job (model, config, device, variant, data, budget_s or iters) plus
``scaling``: ``strong`` (``config['batch_size']`` is the global batch, split between ranks) or
``weak`` (it is the batch of each rank).

Rank 0 writes the protocol on stdout, one JSON object per line, as the single-device worker
does (``ready``, ``ranks``, ``phase``, ``progress``, then ``result`` or ``error``). Any other
rank writes only an ``error`` line, when it fails, tagged with its rank and a wall-clock time,
so that the launcher can tell the rank that failed first from the ranks that lost their peer.
Lines stay short (under the pipe's atomic write size) so ranks sharing one pipe never
interleave. Design and the measured terms: docs/distributed.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from gpubench.bench.cpuload import usable_cores
from gpubench.bench.worker import (
    FIRST_STEPS,
    WARMUP_STEPS,
    Clock,
    Timer,
    dtype_name,
    error_kind,
    load_dataset,
    plan_blocks,
    quartiles,
    time_device_init,
)
from gpubench.results.data_source import DataSource

# The first steps (FIRST_STEPS) also let DDP build its buckets; the constants that shape the
# timing are the single-device worker's.
TARGET_BLOCK_PAIRS = 8
MIN_BLOCK_PAIRS = 3
MAX_TRACEBACK_CHARS = 2000  # keeps an error line under PIPE_BUF (4 KiB) with the message
DEFAULT_COLLECTIVE_TIMEOUT_S = 300.0


class RankReporter:
    """Writes protocol events to the real stdout; ranks other than 0 write errors only."""

    def __init__(self, stream: TextIO, rank: int):
        self.stream = stream
        self.rank = rank

    def emit(self, event: str, **fields: Any) -> None:
        if self.rank != 0 and event != "error":
            return
        line = json.dumps({"event": event, "rank": self.rank, **fields}) + "\n"
        self.stream.write(line)
        self.stream.flush()


def threads_per_rank(job: dict[str, Any], local_world_size: int) -> int:
    """CPU threads of one rank: the job's ``threads`` (per rank), else the visible cores split
    evenly between this node's ranks, at least one each."""
    if job.get("threads"):
        return int(job["threads"])
    return max(1, usable_cores() // max(1, local_world_size))


def batch_per_rank(config: dict[str, Any], scaling: str, world_size: int) -> int:
    """Strong scaling splits the global batch between ranks; weak scaling keeps it per rank."""
    batch = int(config["batch_size"])
    if scaling == "weak":
        return batch
    if scaling != "strong":
        raise ValueError(f"scaling must be 'strong' or 'weak', not {scaling!r}")
    if batch % world_size:
        raise ValueError(
            f"strong scaling splits the global batch {batch} between {world_size} ranks; "
            f"choose a batch size divisible by {world_size}"
        )
    return batch // world_size


class RankContext:
    """Who this rank is, read from the variables torchrun sets."""

    def __init__(self, environ: dict[str, str] | os._Environ[str] = os.environ):
        self.rank = int(environ.get("RANK", "0"))
        self.local_rank = int(environ.get("LOCAL_RANK", "0"))
        self.world_size = int(environ.get("WORLD_SIZE", "1"))
        self.local_world_size = int(environ.get("LOCAL_WORLD_SIZE", "1"))
        self.node_rank = int(environ.get("GROUP_RANK", "0"))
        self.host = socket.gethostname()

    def describe(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "local_rank": self.local_rank,
            "node_rank": self.node_rank,
            "host": self.host,
            "pid": os.getpid(),
        }


class DistributedCell:
    """Process group, DDP-wrapped training session and the collectives the timing needs."""

    def __init__(self, job: dict[str, Any], context: RankContext, report: RankReporter):
        self.job = job
        self.context = context
        self.report = report
        self.times: dict[str, float] = {}
        self.extra: dict[str, Any] = {}

    # -- setup --------------------------------------------------------------------------
    def setup(self) -> None:
        import torch
        import torch.distributed as dist

        job, ctx = self.job, self.context
        on_cuda = str(job["device"]).startswith("cuda")
        self.backend = "nccl" if on_cuda else "gloo"
        if on_cuda:
            self.device = torch.device("cuda", ctx.local_rank)
            torch.cuda.set_device(self.device)
            self.threads = torch.get_num_threads()
        else:
            self.device = torch.device("cpu")
            self.threads = threads_per_rank(job, ctx.local_world_size)
            torch.set_num_threads(self.threads)

        timeout = timedelta(
            seconds=float(job.get("collective_timeout_s", 0) or 0) or DEFAULT_COLLECTIVE_TIMEOUT_S
        )
        start = Clock()
        if on_cuda:
            dist.init_process_group(self.backend, timeout=timeout, device_id=self.device)
        else:
            dist.init_process_group(self.backend, timeout=timeout)
        dist.barrier()  # every rank has joined: the fixed cost a user pays
        self.times["process_group_init_s"] = Clock() - start
        self.report.emit(
            "phase", name="process_group_init", seconds=self.times["process_group_init_s"]
        )
        self.report.emit("ranks", ranks=self.all_gather(ctx.describe()))

        self.times["device_init_s"] = time_device_init(self.device)
        self.report.emit("phase", name="device_init", seconds=self.times["device_init_s"])

        self._build_session()

    def _build_session(self) -> None:
        import torch
        from torch.nn.parallel import DistributedDataParallel

        from gpubench.core.models import load_model
        from gpubench.core.training import TrainingSession, model_variant

        job, ctx = self.job, self.context
        start = Clock()
        dataset = load_dataset(DataSource.from_dict(job["data"]), job["config"])
        self.times["data_s"] = Clock() - start
        self.report.emit("phase", name="data", seconds=self.times["data_s"])

        self.scaling = str(job.get("scaling", "weak"))
        self.batch_per_rank = batch_per_rank(job["config"], self.scaling, ctx.world_size)
        config = {**job["config"], "batch_size": self.batch_per_rank}
        start = Clock()
        spec = load_model(job["model"])
        if job.get("variant") == "compile":
            raise ValueError("the compile variant is not measured in distributed cells yet")
        self.session = TrainingSession(
            spec, config, dataset, self.device, variant=model_variant(job["variant"])
        )
        torch.manual_seed(1337 + ctx.rank)  # each rank draws its own batches
        self.timer = Timer(self.session.sync)
        self.session.sync()
        self.times["build_s"] = Clock() - start
        self.report.emit("phase", name="build", seconds=self.times["build_s"])

        start = Clock()
        device_ids = [self.device.index] if self.device.type == "cuda" else None
        self.local_model = self.session.model
        self.ddp = DistributedDataParallel(self.local_model, device_ids=device_ids)
        self.session.model = self.ddp  # step/estimate_loss now run through DDP
        self.session.sync()
        self.times["ddp_wrap_s"] = Clock() - start  # parameter broadcast from rank 0
        self.report.emit("phase", name="ddp_wrap", seconds=self.times["ddp_wrap_s"])

    # -- collectives --------------------------------------------------------------------
    def all_gather(self, value: Any) -> list[Any]:
        import torch.distributed as dist

        gathered: list[Any] = [None] * self.context.world_size
        dist.all_gather_object(gathered, value)
        return gathered

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()

    def resync_parameters(self) -> None:
        """Steps under ``no_sync`` let the replicas drift; rank 0's copy becomes everyone's."""
        import torch.distributed as dist

        for parameter in self.local_model.parameters():
            dist.broadcast(parameter.data, src=0)
        self.session.sync()

    def close(self) -> None:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()

    # -- timing -------------------------------------------------------------------------
    def local_step(self) -> None:
        """A step without the gradient all-reduce: DDP's ``no_sync`` skips it."""
        with self.ddp.no_sync():
            self.session.step()

    def time_block(self, step: Callable[[], Any], steps: int) -> float:
        """Seconds for ``steps`` steps on the slowest rank, all ranks starting together."""
        self.barrier()
        _, seconds = self.timer.time(lambda: [step() for _ in range(steps)])
        return float(max(self.all_gather(seconds)))


def measure_phases(cell: DistributedCell) -> dict[str, Any]:
    """The single-device phases plus process-group init and the all-reduce share."""
    job, report = cell.job, cell.report
    started = Clock()
    budget = float(job["budget_s"])
    cell.setup()
    session = cell.session

    first_steps = []
    for index in range(FIRST_STEPS):
        _, seconds = cell.timer.time(session.step)
        seconds = float(max(cell.all_gather(seconds)))
        first_steps.append(seconds)
        report.emit("progress", phase="first_steps", done=index + 1, total=FIRST_STEPS)
        if index >= 1 and seconds * 6 > budget:
            break
    report.emit("phase", name="first_steps", seconds=sum(first_steps))

    step_guess = min(first_steps)
    spent = float(max(cell.all_gather(Clock() - started)))
    step_budget = max(0.0, (budget - spent) * 0.6)
    # Every rank must take the same decisions: they come from gathered (identical) values.
    warmup = 0
    while len(first_steps) + warmup < WARMUP_STEPS and (warmup + 1) * step_guess < step_budget / 8:
        session.step()
        warmup += 1
    steps_per_block, _ = plan_blocks(step_guess, 0.0)
    pair_s = 2 * steps_per_block * step_guess
    pairs = max(MIN_BLOCK_PAIRS, min(TARGET_BLOCK_PAIRS, int(step_budget // max(pair_s, 1e-9))))
    sync_blocks: list[float] = []
    local_blocks: list[float] = []
    for index in range(pairs):  # alternate the two kinds so drift hits both alike
        sync_blocks.append(cell.time_block(session.step, steps_per_block))
        local_blocks.append(cell.time_block(cell.local_step, steps_per_block))
        report.emit("progress", phase="step", done=index + 1, total=pairs)
        over = Clock() - started > budget * 0.8
        if index + 1 >= MIN_BLOCK_PAIRS and bool(max(cell.all_gather(over))):
            break
    cell.resync_parameters()
    per_step = [t / steps_per_block for t in sync_blocks]
    q1, median, q3 = quartiles(per_step)
    report.emit("phase", name="step", seconds=sum(sync_blocks) + sum(local_blocks))

    eval_iters = int(job["config"]["eval_iters"])
    remaining = max(0.0, budget - (Clock() - started))
    affordable = int(remaining * 0.8 / max(2 * median / 3, 1e-9))
    eval_batches = int(min(cell.all_gather(max(1, min(eval_iters, affordable)))))
    _, eval_seconds = cell.timer.time(lambda: session.estimate_loss(eval_batches))
    eval_measured = float(max(cell.all_gather(eval_seconds)))
    report.emit("phase", name="eval", seconds=eval_measured)

    phases = {
        "device_init_s": cell.times["device_init_s"],
        "data_s": cell.times["data_s"],
        "build_s": cell.times["build_s"],
        "first_steps_s": first_steps,
        "step": {
            "median_s": median,
            "q1_s": q1,
            "q3_s": q3,
            "n_steps_measured": steps_per_block * len(sync_blocks),
            "steps_per_block": steps_per_block,
            "warmup_steps": len(first_steps) + warmup,
            "block_times_s": sync_blocks,
        },
        "eval_s": eval_measured * eval_iters / eval_batches,
        "eval_batches_measured": eval_batches,
        "eval_iters": eval_iters,
        "generate_tokens_per_s": None,
    }
    return {
        "phases": phases,
        "allreduce": allreduce_share(sync_blocks, local_blocks, steps_per_block),
        "throughput": throughput(cell, median),
        **describe(cell),
    }


def allreduce_share(
    sync_blocks: list[float], local_blocks: list[float], steps_per_block: int
) -> dict[str, Any]:
    """Share of a synchronising step that gradient synchronisation costs, from paired blocks:
    (sync - no_sync) / sync for each pair, with its quartiles (docs/distributed.md)."""
    shares = [(s - n) / s for s, n in zip(sync_blocks, local_blocks, strict=True) if s > 0]
    q1, median, q3 = quartiles(shares)
    local = [t / steps_per_block for t in local_blocks]
    return {
        "method": "no_sync",
        "share": median,
        "share_q1": q1,
        "share_q3": q3,
        "pairs": len(shares),
        "sync_step_s": statistics.median(t / steps_per_block for t in sync_blocks),
        "no_sync_step_s": statistics.median(local),
        "no_sync_block_times_s": local_blocks,
    }


def throughput(cell: DistributedCell, step_s: float) -> dict[str, Any]:
    """Tokens per step and per second over all ranks (the global batch), and per device."""
    from gpubench.bench import flops

    world = cell.context.world_size
    tokens = cell.batch_per_rank * cell.session.block_size * world
    config = {**cell.job["config"], "batch_size": cell.batch_per_rank}
    # counted on the local model: through DDP a counted backward would all-reduce
    cell.session.model = cell.local_model
    try:
        per_rank, method = flops.model_flops_per_step(cell.session, config)
    finally:
        cell.session.model = cell.ddp
    per_step = per_rank * world if per_rank else None
    dtype = dtype_name(cell.session)
    tokens_per_s = tokens / step_s if step_s > 0 else 0.0
    return {
        "tokens_per_step": tokens,
        "tokens_per_s": tokens_per_s,
        "tokens_per_s_per_device": tokens_per_s / world,
        "flops_per_step": per_step,
        "flops_per_s": per_step / step_s if per_step and step_s > 0 else None,
        "dtype": dtype,
        "flops_method": method,
    }


def describe(cell: DistributedCell) -> dict[str, Any]:
    """The cell's distributed shape and every rank's node metadata, gathered on all ranks."""
    import platform

    import torch

    from gpubench.core.models import count_parameters

    ctx = cell.context
    if cell.device.type == "cuda":
        device_name = torch.cuda.get_device_name(cell.device)
    else:
        device_name = f"CPU ({cell.threads} threads per rank)"
    rank_info = {
        **ctx.describe(),
        "device": str(cell.device),
        "device_name": device_name,
        "threads": cell.threads,
        "process_group_init_s": cell.times["process_group_init_s"],
        "ddp_wrap_s": cell.times["ddp_wrap_s"],
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
    }
    ranks = cell.all_gather(rank_info)
    nccl_version = None
    if cell.backend == "nccl":
        nccl_version = ".".join(map(str, torch.cuda.nccl.version()))
    return {
        "device_name": device_name,
        "n_params": count_parameters(cell.local_model),
        "threads": cell.threads,
        "distributed": {
            "world_size": ctx.world_size,
            "nnodes": len({r["node_rank"] for r in ranks}),
            "backend": cell.backend,
            "nccl_version": nccl_version,
            "scaling": cell.scaling,
            "batch_per_rank": cell.batch_per_rank,
            "global_batch_size": cell.batch_per_rank * ctx.world_size,
            "threads_per_rank": cell.threads,
            # the slowest rank's setup is what everyone waits for
            "process_group_init_s": max(r["process_group_init_s"] for r in ranks),
            "ddp_wrap_s": max(r["ddp_wrap_s"] for r in ranks),
            "ranks": ranks,
        },
    }


def run_full(cell: DistributedCell) -> dict[str, Any]:
    """A real run of ``iters`` synchronising steps (protocol lecture: with its evaluations;
    train: none in the timed loop); losses are rank 0's."""
    from gpubench.core.training import train

    job, report = cell.job, cell.report
    cell.setup()
    iters = int(job["iters"])
    lecture = job.get("protocol", "lecture") == "lecture"
    interval = int(job["config"]["eval_interval"])
    stride = max(1, iters // 100)

    def on_step(i: int) -> None:
        if (i + 1) % stride == 0:
            report.emit("progress", phase="train", done=i + 1, total=iters)

    cell.barrier()
    # protocol train: no evaluation inside the timed loop (as the single-device worker)
    result = train(cell.session, iters, eval_interval=interval, evaluate=lecture, on_step=on_step)
    loop_s = float(max(cell.all_gather(result.seconds)))
    final = result.final
    return {
        **{k: cell.times[k] for k in ("device_init_s", "data_s", "build_s")},
        "loop_s": loop_s,
        "train_loss": final.train_loss if final else result.recent_train_loss,
        "val_loss": final.val_loss if final else None,
        **describe(cell),
    }


def inject_fault(job: dict[str, Any], context: RankContext) -> None:
    """Test hook: ``fail_rank`` raises on that rank before setup, so fault handling can be
    tested with a Python error as well as with a signal sent from outside."""
    if job.get("fail_rank") == context.rank:
        raise RuntimeError(f"injected failure on rank {context.rank}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="One rank of a gpubench distributed cell.")
    parser.add_argument("--job", required=True, help="the cell's job, a JSON file")
    args = parser.parse_args(argv)
    context = RankContext()
    report = RankReporter(sys.stdout, context.rank)
    sys.stdout = sys.stderr  # stray prints from model files must not corrupt the protocol
    with open(args.job, encoding="utf-8") as handle:
        job = json.load(handle)
    import torch  # noqa: F401  (the import is part of startup, measured by the launcher)

    report.emit("ready")
    cell = DistributedCell(job, context, report)
    try:
        inject_fault(job, context)
        payload = measure_phases(cell) if job["mode"] == "phases" else run_full(cell)
    except Exception as error:
        report.emit(
            "error",
            kind=error_kind(error),
            message=f"{type(error).__name__}: {error}".strip()[:1000],
            traceback=traceback.format_exc(limit=8)[-MAX_TRACEBACK_CHARS:],
            host=context.host,
            local_rank=context.local_rank,
            time=time.time(),
        )
        return 1
    report.emit("result", **payload)
    cell.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
