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
from collections.abc import Callable
from typing import Any, TextIO

from gpubench.core.models import count_parameters
from gpubench.results.job import DataSource, WorkerJob, WorkerResult
from gpubench.results.model import StepStats, Throughput

Clock = time.perf_counter
WARMUP_STEPS = 5  # at least this many untimed-for-the-median steps where the budget allows
FIRST_STEPS = 3  # first steps timed one by one (lazy init, allocator, compile)
MIN_BLOCK_S = 0.1  # a timed block lasts at least this long where the budget allows
TARGET_BLOCKS = 10
MIN_BLOCKS = 3
RECHECK_BLOCKS = 3  # blocks re-timed at the end of the cell (at least 1): the run's drift
STEP_SHARE = 0.6  # of the time left after the first steps and the reserves
PROFILE_FIXED_S = 0.5  # the profiler's own start and stop, whatever the model
PROFILE_STEP_FACTOR = 6.0  # a profiled step costs about this many plain steps
MACHINE_PROBE_S = 3.0  # probe_machine, when the engine's device probe did not run it


class Reporter:
    """Writes protocol events to the real stdout."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def emit(self, event: str, **fields: Any) -> None:
        self.stream.write(json.dumps({"event": event, **fields}) + "\n")
        self.stream.flush()


class Timer:
    """Clock reads that time device work: every read waits for the device first.

    On CUDA the host runs ahead of the GPU, so a clock read without a sync times the queueing,
    not the work. Tests inject ``sync`` and ``clock`` and check the order of the calls.
    """

    def __init__(self, sync: Callable[[], None], clock: Callable[[], float] = Clock):
        self.sync = sync
        self.clock = clock

    def now(self) -> float:
        self.sync()
        return self.clock()

    def time(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        start = self.now()
        value = fn()
        return value, self.now() - start


class Deadline:
    """The worker's share of the budget, counted from the process's start (interpreter and
    ``import torch`` included), so startup and every phase spend the same seconds."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.end = clock() + seconds

    def left(self) -> float:
        return self.end - self.clock()


def process_age_s() -> float:
    """Seconds since this process started (0 where psutil cannot tell)."""
    try:
        import psutil

        return max(0.0, time.time() - psutil.Process().create_time())
    except Exception:
        return 0.0


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


def time_device_init(device: Any) -> float:
    """Seconds of the device's context creation and first transfer."""
    import torch

    from gpubench.core.training import synchronize

    start = Clock()
    torch.zeros(1, device=device).add_(1).cpu()
    synchronize(device)
    return Clock() - start


def load_dataset(data: DataSource, config: dict[str, Any]) -> Any:
    """The job's training text as a dataset long enough for one block of ``config``."""
    from gpubench.core.data import TextSource, build_dataset

    source = TextSource(label=data.label, text=data.read_text(), path=data.path)
    return build_dataset(source, min_length=int(config["block_size"]) + 1)


def dtype_name(session: Any) -> str:
    """The dtype the session computes in, without the ``torch.`` prefix (``float32``...)."""
    return str(session.dtype or "torch.float32").removeprefix("torch.")


def _setup(job: WorkerJob, report: Reporter) -> tuple[Any, dict[str, Any]]:
    """Device init, data, tune and build phases; returns the training session and their times
    (and, for the fast variant, its measured choices under ``fast_choices``)."""
    import torch

    from gpubench.core.models import load_model
    from gpubench.core.training import TrainingSession, model_variant

    if job.threads:
        torch.set_num_threads(job.threads)
    device = torch.device(job.device)
    times: dict[str, Any] = {}

    times["device_init_s"] = time_device_init(device)
    report.emit("phase", name="device_init", seconds=times["device_init_s"])

    start = Clock()
    dataset = load_dataset(job.data, job.config)
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
    """Measure every phase of one cell within the job's budget, counted from process start."""
    deadline = Deadline(job.budget_s - process_age_s())
    session, times = _setup(job, report)
    timer = Timer(session.sync)
    measured = measure_session(job, session, report, timer=timer, deadline=deadline)
    return worker_result(session, times, **measured)


def profile_reserve_s(job: WorkerJob, step_s: float) -> float:
    """Seconds to keep for the profile phase (0 without one)."""
    if not job.profile:
        return 0.0
    probe = 0.0 if job.machine else MACHINE_PROBE_S
    return PROFILE_FIXED_S + probe + PROFILE_STEP_FACTOR * step_s * _profile_steps(step_s)


def _profile_steps(step_s: float) -> int:
    return 1 if step_s > 0.5 else 3


def measure_session(
    job: WorkerJob, session: Any, report: Reporter, *, timer: Timer, deadline: Deadline
) -> dict[str, Any]:
    """First steps, steady blocks, evaluation pairs, generate, profile, the step re-check and
    the FLOP count, all within ``deadline`` (each keeps its minimum: three blocks, one
    evaluation pair, one re-check block). Every clock read that times work syncs first."""
    first_steps = []
    for index in range(FIRST_STEPS):
        _, seconds = timer.time(session.step)
        first_steps.append(seconds)
        report.emit("progress", phase="first_steps", done=index + 1, total=FIRST_STEPS)
        # A step that eats a large share of the budget: two first steps are enough.
        if index >= 1 and seconds * 6 > deadline.left():
            break
    report.emit("phase", name="first_steps", seconds=sum(first_steps))

    step_guess = min(first_steps)
    steps_per_block, _ = plan_blocks(step_guess, 0.0)
    # Kept for what comes after the steady blocks: profile, re-check, one evaluation pair.
    reserve = (
        profile_reserve_s(job, step_guess)
        + steps_per_block * step_guess
        + 2 * step_guess
        + (2.0 / 3.0) * step_guess
    )
    step_budget = max(0.0, (deadline.left() - reserve) * STEP_SHARE)
    warmup = 0
    while len(first_steps) + warmup < WARMUP_STEPS and (warmup + 1) * step_guess < step_budget / 4:
        session.step()
        warmup += 1
    steps_per_block, blocks = plan_blocks(step_guess, step_budget)
    steps_end = deadline.left() - step_budget
    block_times = time_blocks(session, timer, steps_per_block, blocks, report, deadline, steps_end)
    per_step = [t / steps_per_block for t in block_times]
    q1, median, q3 = quartiles(per_step)
    report.emit("phase", name="step", seconds=sum(block_times))

    eval_iters = int(job.config["eval_iters"])
    keep = profile_reserve_s(job, median) + steps_per_block * median
    pairs = time_eval_pairs(session, timer, eval_iters, deadline, keep)
    eval_s = statistics.fmean(pairs) * eval_iters
    report.emit("phase", name="eval", seconds=sum(pairs))

    generate_tokens_per_s = None
    if job.generate:  # optional: sampling speed, one token per forward pass
        _, seconds = timer.time(lambda: session.sample(job.generate))
        generate_tokens_per_s = job.generate / seconds
        report.emit("phase", name="generate", seconds=seconds)

    profile = profile_phase(job, session, median, report)
    recheck = recheck_step(session, timer, steps_per_block, deadline, report)
    step = StepStats(
        median_s=median, q1_s=q1, q3_s=q3,
        n_steps_measured=steps_per_block * len(block_times), steps_per_block=steps_per_block,
        warmup_steps=len(first_steps) + warmup, block_times_s=block_times,
    )  # fmt: skip
    return dict(
        first_steps_s=first_steps, step=step, eval_s=eval_s,
        eval_batches_measured=len(pairs), eval_iters=eval_iters,
        eval_batch_times_s=pairs, step_recheck_s=recheck,
        generate_tokens_per_s=generate_tokens_per_s, throughput=throughput(job, session, median),
        profile=profile,
    )  # fmt: skip


def time_blocks(
    session: Any, timer: Timer, steps_per_block: int, blocks: int, report: Reporter,
    deadline: Deadline, stop_at_left_s: float,
) -> list[float]:  # fmt: skip
    """Seconds of each block of ``steps_per_block`` steps, one sync per block; at least
    MIN_BLOCKS, then stop once only ``stop_at_left_s`` of the deadline is left."""
    block_times = []
    for index in range(blocks):
        start = timer.now()
        for _ in range(steps_per_block):
            session.step()
        block_times.append(timer.now() - start)
        report.emit("progress", phase="step", done=index + 1, total=blocks)
        if index + 1 >= MIN_BLOCKS and deadline.left() < stop_at_left_s:
            break
    return block_times


def time_eval_pairs(
    session: Any, timer: Timer, eval_iters: int, deadline: Deadline, keep_s: float
) -> list[float]:
    """Seconds of each evaluation batch pair (one train and one val batch, each loss read as
    estimate_loss reads it), one sync per pair: at least one pair, at most ``eval_iters``,
    stopping while ``keep_s`` of the deadline is still left for what follows."""
    pairs: list[float] = []
    with session.evaluating():
        for _ in range(eval_iters):
            start = timer.now()
            session.eval_batch_loss("train").item()
            session.eval_batch_loss("val").item()
            pairs.append(timer.now() - start)
            if deadline.left() - statistics.fmean(pairs) < keep_s:
                break
    return pairs


def recheck_step(
    session: Any, timer: Timer, steps_per_block: int, deadline: Deadline, report: Reporter
) -> list[float]:
    """Per-step seconds of 1-3 blocks re-timed at the very end of the cell, after evaluation
    and profile: the same step, later, is the run's own measure of drift."""
    per_step: list[float] = []
    for _ in range(RECHECK_BLOCKS):
        start = timer.now()
        for _ in range(steps_per_block):
            session.step()
        seconds = timer.now() - start
        per_step.append(seconds / steps_per_block)
        if deadline.left() < seconds:
            break
    report.emit("phase", name="step_recheck", seconds=sum(per_step) * steps_per_block)
    return per_step


def profile_phase(
    job: WorkerJob, session: Any, step_s: float, report: Reporter
) -> dict[str, Any] | None:
    """Profile a few steady steps op by op, after every timed phase: the cell's regime and
    the op list ``gpubench predict`` replays (docs/predict.md). The machine's parameters come
    from the engine's device probe (once per device); a failure costs the cell nothing but
    its profile."""
    if not job.profile:
        return None
    from gpubench.bench.profile import probe_machine, profile_session
    from gpubench.results.profile import MachineParams

    start = Clock()
    try:
        params = MachineParams(**job.machine) if job.machine else probe_machine(job.device)
        params = matmul_at_session_dtype(params, job.device, session)
        profile = profile_session(session, params=params, steps=_profile_steps(step_s))
    except Exception as error:  # the profiler is optional; the timings above stand
        print(f"profile skipped: {type(error).__name__}: {error}", file=sys.stderr)
        return None
    report.emit("phase", name="profile", seconds=Clock() - start)
    return profile.to_dict()


def matmul_at_session_dtype(params: Any, device: str, session: Any) -> Any:
    """The machine's parameters with the matmul rate of the dtype the session computes in:
    the device probe measures fp32, and a bf16 cell's matmuls run at another rate."""
    import dataclasses

    from gpubench.bench.flops import measure_peak_flops

    dtype = dtype_name(session)
    if dtype == "float32":
        return params
    rate = measure_peak_flops(device, dtype, seconds=0.3)
    return dataclasses.replace(
        params, matmul_flops_per_s=rate, source=f"{params.source}; matmul rate at {dtype}"
    )


def throughput(job: WorkerJob, session: Any, step_s: float) -> Throughput:
    """Tokens/s and model FLOP/s; the engine adds the MFU against the peak its device probe
    measured (once per device and dtype, never inside a cell)."""
    from gpubench.bench import flops

    tokens = session.batch_size * session.block_size
    dtype = dtype_name(session)
    per_step, method = flops.model_flops_per_step(session, job.config)
    spec = None
    if job.device.startswith("cuda"):
        import torch

        from gpubench.predict.datasheets import spec_peak_flops

        spec = spec_peak_flops(torch.cuda.get_device_name(session.device), dtype)
    return Throughput(
        tokens_per_step=tokens,
        tokens_per_s=tokens / step_s if step_s > 0 else 0.0,
        flops_per_step=per_step,
        flops_per_s=per_step / step_s if per_step and step_s > 0 else None,
        dtype=dtype,
        peak_flops_spec=spec[0] if spec else None,
        peak_flops_spec_source=spec[1] if spec else None,
        flops_method=method,
    )


def worker_result(session: Any, times: dict[str, Any], **measured: Any) -> WorkerResult:
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
    """A real training run of ``job.iters`` steps, timed end to end: protocol ``lecture``
    with its evaluations, ``train`` with none inside the timed loop (its loss is the mean of
    the last steps' losses, read after the timer stopped)."""
    from gpubench.core.training import train

    session, times = _setup(job, report)
    iters = job.iters
    stride = max(1, iters // 100)

    def on_step(i: int) -> None:
        if (i + 1) % stride == 0:
            report.emit("progress", phase="train", done=i + 1, total=iters)

    lecture = job.protocol == "lecture"
    interval = int(job.config["eval_interval"])
    result = train(session, iters, eval_interval=interval, evaluate=lecture, on_step=on_step)
    final = result.final
    return worker_result(
        session,
        times,
        loop_s=result.seconds,
        train_loss=final.train_loss if final else result.recent_train_loss,
        val_loss=final.val_loss if final else None,
    )


def error_kind(error: BaseException) -> str:
    """``oom`` for an out-of-memory error (CUDA or host), else ``error``."""
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
            kind=error_kind(error),
            message=f"{type(error).__name__}: {error}".strip(),
            traceback=traceback.format_exc(limit=8),
        )
        return 1
    report.emit("result", result=result.to_dict())
    return 0


if __name__ == "__main__":
    sys.exit(main())
