"""The worker: measures one cell in a fresh process and reports JSON lines on stdout.

Started by the engine (through gpubench.runner) as ``python -m gpubench.bench.worker`` with a
``WorkerJob`` (JSON) on stdin. Events, one JSON object per line: ``ready`` (torch imported),
``phase`` (a phase ended), ``progress`` (during long phases), then ``result`` (a
``WorkerResult`` under ``"result"``) or ``error``. Everything else the worker prints goes to
stderr, so stdout stays parseable. The protocol: docs/design.md, "Worker protocol".
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
import traceback
from typing import Any, TextIO

from gpubench.core.models import count_parameters
from gpubench.results.job import WorkerJob, WorkerResult
from gpubench.results.model import StepStats, Throughput

Clock = time.perf_counter
WARMUP_STEPS = 5  # at least this many untimed-for-the-median steps where the budget allows
FIRST_STEPS = 3  # first steps timed one by one (lazy init, allocator, compile)
MIN_BLOCK_S = 0.1  # a timed block lasts at least this long where the budget allows
TARGET_BLOCKS = 10
MIN_BLOCKS = 3


class Reporter:
    """Writes protocol events to the real stdout."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3); with fewer than 2 values all three are the value itself."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def plan_blocks(step_estimate_s: float, budget_s: float) -> tuple[int, int]:
    """(steps per block, number of blocks) for steady-state timing within ``budget_s``."""
    steps_per_block = max(1, math.ceil(MIN_BLOCK_S / max(step_estimate_s, 1e-9)))
    block_s = steps_per_block * step_estimate_s
    blocks = int(budget_s // block_s) if block_s > 0 else TARGET_BLOCKS
    return steps_per_block, max(MIN_BLOCKS, min(TARGET_BLOCKS, blocks))


def _timed(session: Any, fn: Any) -> tuple[Any, float]:
    session.sync()
    start = Clock()
    value = fn()
    session.sync()
    return value, Clock() - start


def _setup(job: WorkerJob, report: Reporter) -> tuple[Any, dict[str, Any]]:
    """Device init, data, tune and build phases; returns the training session and their times
    (and, for the fast variant, its measured choices under ``fast_choices``)."""
    import torch

    from gpubench.core.data import TextSource, build_dataset
    from gpubench.core.models import load_model
    from gpubench.core.training import TrainingSession, model_variant, synchronize

    if job.threads:
        torch.set_num_threads(job.threads)
    device = torch.device(job.device)
    times: dict[str, Any] = {}

    start = Clock()
    torch.zeros(1, device=device).add_(1).cpu()  # context creation + first transfer
    synchronize(device)
    times["device_init_s"] = Clock() - start
    report.emit("phase", name="device_init", seconds=times["device_init_s"])

    start = Clock()
    source = TextSource(label=job.data.label, text=job.data.read_text(), path=job.data.path)
    dataset = build_dataset(source, min_length=int(job.config["block_size"]) + 1)
    times["data_s"] = Clock() - start
    report.emit("phase", name="data", seconds=times["data_s"])

    spec = load_model(job.model)
    choices = None
    if model_variant(job.variant) == "fast":  # its own phase, counted in F (docs/fast-variant.md)
        from gpubench.core.tuning import FastChoices, tune_fast_variant

        start = Clock()
        if job.fast_choices is not None:  # a full run repeats what its phases measured
            choices = FastChoices.from_dict(job.fast_choices, from_cache=True)
        else:
            choices = tune_fast_variant(spec, job.config, dataset, device, retune=job.retune)
        times["tune_s"] = choices.probe_seconds
        times["fast_choices"] = choices.to_dict()
        report.emit("phase", name="tune", seconds=Clock() - start)

    start = Clock()
    compiled = job.variant == "compile"
    session = TrainingSession(
        spec, job.config, dataset, device,
        variant=model_variant(job.variant), compile_model=compiled, fast_choices=choices,
    )  # fmt: skip
    session.sync()
    times["build_s"] = Clock() - start
    report.emit("phase", name="build", seconds=times["build_s"])
    if compiled:  # its own phase, never hidden inside the step time
        start = Clock()
        session.compile()
        times["compile_s"] = Clock() - start
        report.emit("phase", name="compile", seconds=times["compile_s"])
    return session, times


def measure_phases(job: WorkerJob, report: Reporter) -> WorkerResult:
    """Measure every phase of one cell within the job's time budget (seconds)."""
    started = Clock()
    budget = job.budget_s
    session, times = _setup(job, report)

    first_steps = []
    for index in range(FIRST_STEPS):
        _, seconds = _timed(session, session.step)
        first_steps.append(seconds)
        report.emit("progress", phase="first_steps", done=index + 1, total=FIRST_STEPS)
        # A step that eats a large share of the budget: two first steps are enough.
        if index >= 1 and seconds * 6 > budget:
            break
    report.emit("phase", name="first_steps", seconds=sum(first_steps))

    step_guess = min(first_steps)
    spent = Clock() - started
    # Budget split: the steady step matters most, the evaluation next.
    step_budget = max(0.0, (budget - spent) * 0.6)
    warmup = 0
    while len(first_steps) + warmup < WARMUP_STEPS and (warmup + 1) * step_guess < step_budget / 4:
        session.step()
        warmup += 1
    steps_per_block, blocks = plan_blocks(step_guess, step_budget)
    block_times = []
    for index in range(blocks):
        session.sync()
        start = Clock()
        for _ in range(steps_per_block):
            session.step()
        session.sync()
        block_times.append(Clock() - start)
        report.emit("progress", phase="step", done=index + 1, total=blocks)
        if index + 1 >= MIN_BLOCKS and Clock() - started > budget * 0.8:
            break
    per_step = [t / steps_per_block for t in block_times]
    q1, median, q3 = quartiles(per_step)
    report.emit("phase", name="step", seconds=sum(block_times))

    eval_iters = int(job.config["eval_iters"])
    remaining = max(0.0, budget - (Clock() - started))
    forward_guess = median / 3  # a forward pass is about a third of a training step
    affordable = int(remaining * 0.8 / max(2 * forward_guess, 1e-9))
    eval_batches = max(1, min(eval_iters, affordable))
    _, eval_measured = _timed(session, lambda: session.estimate_loss(eval_batches))
    eval_s = eval_measured * eval_iters / eval_batches
    report.emit("phase", name="eval", seconds=eval_measured)

    generate_tokens_per_s = None
    if job.generate:  # optional: sampling speed, one token per forward pass
        _, seconds = _timed(session, lambda: session.sample(job.generate))
        generate_tokens_per_s = job.generate / seconds
        report.emit("phase", name="generate", seconds=seconds)

    profile = profile_phase(job, session, median, report)
    step = StepStats(
        median_s=median, q1_s=q1, q3_s=q3,
        n_steps_measured=steps_per_block * len(block_times), steps_per_block=steps_per_block,
        warmup_steps=len(first_steps) + warmup, block_times_s=block_times,
    )  # fmt: skip
    return worker_result(
        session, times, first_steps_s=first_steps, step=step, eval_s=eval_s,
        eval_batches_measured=eval_batches, eval_iters=eval_iters,
        generate_tokens_per_s=generate_tokens_per_s, throughput=throughput(job, session, median),
        profile=profile,
    )  # fmt: skip


def profile_phase(
    job: WorkerJob, session: Any, step_s: float, report: Reporter
) -> dict[str, Any] | None:
    """Profile a few steady steps op by op, after every timed phase: the cell's regime and
    the op list ``gpubench predict`` replays (docs/predict.md). A failure costs the cell
    nothing but its profile."""
    if not job.profile:
        return None
    from gpubench.bench.profile import probe_machine, profile_session

    start = Clock()
    try:
        params = probe_machine(job.device)
        profile = profile_session(session, params=params, steps=1 if step_s > 0.5 else 3)
    except Exception as error:  # the profiler is optional; the timings above stand
        print(f"profile skipped: {type(error).__name__}: {error}", file=sys.stderr)
        return None
    report.emit("phase", name="profile", seconds=Clock() - start)
    return profile.to_dict()


def throughput(job: WorkerJob, session: Any, step_s: float) -> Throughput:
    """Tokens/s, FLOP/s and MFU against a matmul peak measured on this device."""
    from gpubench.bench import flops

    tokens = session.batch_size * session.block_size
    n_params = count_parameters(session.model)
    dtype = str(session.dtype or "torch.float32").removeprefix("torch.")
    per_step = flops.flops_per_step(job.config, n_params)
    achieved = per_step / step_s if step_s > 0 else None
    peak = None
    if job.measure_peak:
        peak = flops.measure_peak_flops(job.device, dtype, seconds=job.peak_s)
    spec = None
    if job.device.startswith("cuda"):
        import torch

        spec = flops.spec_peak_flops(torch.cuda.get_device_name(session.device), dtype)
    return Throughput(
        tokens_per_step=tokens,
        tokens_per_s=tokens / step_s if step_s > 0 else 0.0,
        flops_per_step=per_step,
        flops_per_s=achieved,
        dtype=dtype,
        peak_flops_measured=peak,
        mfu=flops.mfu(achieved, peak) if achieved and peak else None,
        peak_flops_spec=spec[0] if spec else None,
        peak_flops_spec_source=spec[1] if spec else None,
    )


def worker_result(session: Any, times: dict[str, float], **measured: Any) -> WorkerResult:
    """The result record: what the session ran on, the setup phases, and ``measured``."""
    import torch

    device = session.device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        name = f"CPU ({torch.get_num_threads()} threads)"
    else:
        name = device.type
    return WorkerResult(
        device_name=name,
        n_params=count_parameters(session.model),
        threads=torch.get_num_threads(),
        device_init_s=times["device_init_s"],
        data_s=times["data_s"],
        build_s=times["build_s"],
        compile_s=times.get("compile_s"),
        tune_s=times.get("tune_s"),
        fast_choices=times.get("fast_choices"),
        **measured,
    )


def run_full(job: WorkerJob, report: Reporter) -> WorkerResult:
    """A real lecture-style training run of ``job.iters`` steps, timed end to end."""
    from gpubench.core.training import train

    session, times = _setup(job, report)
    iters = job.iters
    interval = int(job.config["eval_interval"]) if job.protocol == "lecture" else iters + 1
    stride = max(1, iters // 100)

    def on_step(i: int) -> None:
        if (i + 1) % stride == 0:
            report.emit("progress", phase="train", done=i + 1, total=iters)

    result = train(session, iters, eval_interval=interval, on_step=on_step)
    final = result.final
    return worker_result(
        session,
        times,
        loop_s=result.seconds,
        train_loss=final.train_loss if final else None,
        val_loss=final.val_loss if final else None,
    )


def _error_kind(error: BaseException) -> str:
    import torch

    oom = getattr(torch, "OutOfMemoryError", None)
    if (oom is not None and isinstance(error, oom)) or "out of memory" in str(error).lower():
        return "oom"
    return "error"


def main() -> int:
    report = Reporter(sys.stdout)
    sys.stdout = sys.stderr  # stray prints from model files must not corrupt the protocol
    job = WorkerJob.from_dict(json.loads(sys.stdin.read()))
    import torch  # noqa: F401  (the import is part of startup, measured by the parent)

    report.emit("ready")
    try:
        result = measure_phases(job, report) if job.mode == "phases" else run_full(job, report)
    except Exception as error:
        report.emit(
            "error",
            kind=_error_kind(error),
            message=f"{type(error).__name__}: {error}".strip(),
            traceback=traceback.format_exc(limit=8),
        )
        return 1
    report.emit("result", result=result.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
