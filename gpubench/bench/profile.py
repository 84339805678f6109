"""Profile a training session's steady steps op by op, and probe this machine's op-model
parameters (matmul rate, memory bandwidth, per-op dispatch overhead).

Entry points (the worker's profile phase and ``gpubench predict --profile-now`` call them;
both run outside every timed phase; docs/predict.md describes what is measured):

  probe_machine(device) -> MachineParams            about 1 s
  profile_session(session, params=...) -> OpProfile  one recorded step, ``steps`` timed steps
                                                     and one evaluation batch

Two passes, because a Python dispatch mode slows every op it sees: a recording pass
(op names, counts, FLOPs from torch's flop counter formulas, bytes from tensor sizes, the
phase each op was issued in) and a timing pass under ``torch.profiler`` (self time per op).
"""

from __future__ import annotations

import contextlib
import math
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gpubench.results.profile import (
    INDEXED_ARGS,
    NO_KERNEL_OPS,
    MachineParams,
    OpProfile,
    OpRecord,
)

Clock = time.perf_counter
FRAMEWORK_OP = "(framework)"  # profiler self time of wrappers no recorded op accounts for

MATMUL_OPS = {"mm", "addmm", "matmul", "linear", "addmv", "mv", "dot"}
ATTENTION_OPS = {
    "bmm", "baddbmm", "_softmax", "_softmax_backward_data", "masked_fill",
    "_scaled_dot_product_attention_math", "_scaled_dot_product_flash_attention_for_cpu",
    "_scaled_dot_product_flash_attention_for_cpu_backward",
    "_scaled_dot_product_efficient_attention",
    "_scaled_dot_product_flash_attention",
}  # fmt: skip
COPY_OPS = {"copy_", "_to_copy", "clone", "stack", "cat", "index_select", "_local_scalar_dense"}


def categorize(name: str, phase: str, is_view: bool) -> str:
    """An op's category for the step's breakdown (docs/predict.md, "categories").

    In the lecture models batched matmuls (bmm) and softmax occur only in attention, and
    linear layers reach aten as mm/addmm, so names tell attention and matmul apart.
    """
    if phase == "optimizer":
        return "optimizer"
    if phase == "data" or name in COPY_OPS:
        return "copy"
    if is_view:
        return "other"
    if name in ATTENTION_OPS:
        return "attention"
    if name in MATMUL_OPS:
        return "matmul"
    return "elementwise"


def _tensor_bytes(values: Any) -> int:
    import torch

    total = 0
    stack = [values]
    while stack:
        value = stack.pop()
        if isinstance(value, torch.Tensor):
            total += value.numel() * value.element_size()
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
    return total


def _recorder_class() -> type:
    """The dispatch mode class, built on first use so that importing this module is cheap."""
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils.flop_counter import flop_registry

    class OpRecorder(TorchDispatchMode):
        """Records every aten op that runs: name, phase, FLOPs and bytes."""

        def __init__(self) -> None:
            super().__init__()
            self.phase = "forward"
            self.records: dict[tuple[str, str], OpRecord] = {}

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            packet = func._overloadpacket
            name = packet.__name__
            flops = 0.0
            if packet in flop_registry:
                flops = float(flop_registry[packet](*args, **kwargs, out_val=out))
            is_view = bool(func.is_view)
            kernels = not is_view and name not in NO_KERNEL_OPS
            streamed = args
            if name in INDEXED_ARGS and len(args) > INDEXED_ARGS[name]:
                skip = INDEXED_ARGS[name]
                streamed = args[:skip] + args[skip + 1 :]
            moved = _tensor_bytes((streamed, kwargs, out)) if kernels else 0
            key = (name, self.phase)
            record = self.records.get(key)
            if record is None:
                category = categorize(name, self.phase, is_view)
                record = OpRecord(name, category, self.phase, 0, kernels=kernels)
                self.records[key] = record
            record.count += 1
            record.flops += flops
            record.bytes += moved
            return out

    return OpRecorder


@contextlib.contextmanager
def _phase(recorder: Any, name: str) -> Iterator[None]:
    """Mark ops issued inside as one phase, for the recorder and for the profiler's timeline."""
    import torch

    if recorder is not None:
        recorder.phase = name
    with torch.profiler.record_function(f"gpubench::{name}"):
        yield


def _training_step(session: Any, recorder: Any = None) -> None:
    """``TrainingSession.step`` with its phases marked; the same calls in the same order."""
    from gpubench.core.data import get_batch

    with _phase(recorder, "data"):
        xb, yb = get_batch(session.dataset.train, session.batch_size, session.block_size,
                           session.device)  # fmt: skip
    with _phase(recorder, "forward"), session.autocast():
        _, loss = session.model(xb, yb)
    with _phase(recorder, "backward"):
        session.optimizer.zero_grad(set_to_none=True)
        loss.backward()
    with _phase(recorder, "optimizer"):
        session.optimizer.step()


def _evaluation_batch(session: Any, recorder: Any = None) -> None:
    """One batch of ``TrainingSession.estimate_loss``: batch, forward without grad, ``item``."""
    import torch

    from gpubench.core.data import get_batch

    session.model.eval()
    try:
        with torch.no_grad():
            with _phase(recorder, "data"):
                xb, yb = get_batch(session.dataset.val, session.batch_size, session.block_size,
                                   session.device)  # fmt: skip
            with _phase(recorder, "forward"), session.autocast():
                _, loss = session.model(xb, yb)
                loss.item()
    finally:
        session.model.train()


def _record_ops(session: Any, work: Any) -> list[OpRecord]:
    recorder = _recorder_class()()
    with recorder:
        work(session, recorder)
    return list(recorder.records.values())


def _time_ops(session: Any, work: Any, repeats: int) -> tuple[dict[tuple[str, str], float], float]:
    """Profiler self time per (op name, phase), in µs per run, and the median wall time."""
    import torch

    walls = []
    # One warm-up run under the profiler: its first ops pay the profiler's own start-up.
    schedule = torch.profiler.schedule(wait=0, warmup=1, active=repeats, repeat=1)
    with torch.profiler.profile(
        activities=[torch.profiler.ProfilerActivity.CPU], schedule=schedule
    ) as prof:
        for index in range(repeats + 1):
            session.sync()
            start = Clock()
            work(session)
            session.sync()
            if index > 0:
                walls.append(Clock() - start)
            prof.step()
    events = list(prof.events())
    ranges = [
        (event.time_range.start, event.time_range.end, event.name.removeprefix("gpubench::"))
        for event in events
        if event.name.startswith("gpubench::")
    ]
    times: dict[tuple[str, str], float] = {}
    for event in events:
        if not event.name.startswith("aten::"):
            continue
        start = event.time_range.start
        phase = next((name for lo, hi, name in ranges if lo <= start <= hi), "forward")
        key = (event.name.removeprefix("aten::"), phase)
        times[key] = times.get(key, 0.0) + event.self_cpu_time_total / repeats
    return times, statistics.median(walls)


def _framework_category(phase: str) -> str:
    return {"optimizer": "optimizer", "data": "copy"}.get(phase, "other")


def _attach_times(records: list[OpRecord], times: dict[tuple[str, str], float]) -> list[OpRecord]:
    """Give each record its profiled self time; time no record accounts for (composite
    wrappers such as aten::linear) becomes one ``(framework)`` record per phase."""
    by_key = {(r.name, r.phase): r for r in records}
    leftover: dict[str, float] = {}
    for key, micros in times.items():
        record = by_key.get(key)
        if record is not None:
            record.host_us += micros
        else:
            leftover[key[1]] = leftover.get(key[1], 0.0) + micros
    extra = [
        OpRecord(
            FRAMEWORK_OP, _framework_category(phase), phase, 0, host_us=micros, kernels=False
        )  # fmt: skip
        for phase, micros in leftover.items()
    ]
    return records + extra


def batch_bytes(session: Any) -> int:
    """Bytes of one (x, y) batch: what the lecture copies to the device every step."""
    return 2 * session.batch_size * session.block_size * session.dataset.train.element_size()


def profile_session(
    session: Any, *, params: MachineParams | None = None, steps: int = 3, timed: bool = True
) -> OpProfile:
    """Profile ``steps`` training steps and one evaluation batch of a warmed-up session.

    Advances the session by ``steps + 1`` optimizer steps: call it after the timed phases
    (or on a session of its own). For the lecture GPT on a small CPU (seconds a step) pass
    ``steps=1``. ``timed=False`` skips the profiler pass: op counts, FLOPs and bytes only
    (all the op model needs), no host times and no step wall time.
    """
    steps = max(1, int(steps))
    records = _record_ops(session, _training_step)
    eval_records = _record_ops(session, _evaluation_batch)
    times: dict[tuple[str, str], float] = {}
    eval_times: dict[tuple[str, str], float] = {}
    wall = eval_wall = 0.0
    if timed:
        times, wall = _time_ops(session, _training_step, steps)
        eval_times, eval_wall = _time_ops(session, _evaluation_batch, 1)
    return OpProfile(
        device=str(session.device),
        steps_profiled=steps,
        step_wall_s=wall,
        ops=_attach_times(records, times),
        eval_ops=_attach_times(eval_records, eval_times),
        eval_batch_wall_s=eval_wall,
        batch_bytes=batch_bytes(session),
        parameters=sum(1 for p in session.model.parameters() if p.requires_grad),
        params=params,
        notes=[
            f"{steps} step(s) timed under torch.profiler, one recorded; one eval batch"
            if timed
            else "one step and one eval batch recorded (op counts, FLOPs, bytes); not timed"
        ],
    )


# --- probes of this machine ---------------------------------------------------------------


def _best_rate(work: Any, units_per_call: float, seconds: float, sync: Any) -> float:
    """Highest units/s over batches of calls, batches doubling until one is long enough."""
    best, batch = 0.0, 1
    work()
    sync()
    deadline = Clock() + seconds
    while True:
        start = Clock()
        for _ in range(batch):
            work()
        sync()
        elapsed = Clock() - start
        best = max(best, batch * units_per_call / elapsed)
        if Clock() >= deadline:
            return best
        if elapsed < seconds / 10:
            batch *= 2


def measure_bandwidth(device: str = "cpu", *, megabytes: int = 64, seconds: float = 0.4) -> float:
    """Copy probe: bytes read + written per second copying a buffer larger than the caches."""
    import torch

    from gpubench.core.training import synchronize

    target = torch.device(device)
    source = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device=target).fill_(1.0)
    sink = torch.empty_like(source)
    moved = 2.0 * source.numel() * source.element_size()
    return _best_rate(lambda: sink.copy_(source), moved, seconds, lambda: synchronize(target))


def measure_rng(device: str = "cpu", *, megabytes: int = 16, seconds: float = 0.3) -> float:
    """Random-number probe: bytes per second of ``bernoulli_`` (what dropout masks cost)."""
    import torch

    from gpubench.core.training import synchronize

    target = torch.device(device)
    buffer = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device=target)
    moved = 2.0 * buffer.numel() * buffer.element_size()  # as the op recorder counts it
    return _best_rate(lambda: buffer.bernoulli_(0.8), moved, seconds, lambda: synchronize(target))


def measure_dispatch(device: str = "cpu", *, calls: int = 2000, repeats: int = 5) -> float:
    """Tiny-op probe: seconds per out-of-place add of two one-element tensors (median).

    On a CPU this is the framework's per-op cost (Python binding, dispatcher, allocator);
    on a GPU the same loop measures host time per op including the kernel launch.
    """
    import torch

    from gpubench.core.training import synchronize

    target = torch.device(device)
    a = torch.ones(1, device=target)
    b = torch.ones(1, device=target)
    samples = []
    for _ in range(repeats):
        synchronize(target)
        start = Clock()
        for _ in range(calls):
            torch.add(a, b)
        synchronize(target)
        samples.append((Clock() - start) / calls)
    return statistics.median(samples)


def _seconds_per_call(work: Any, *, calls: int, repeats: int, sync: Any) -> float:
    """Median seconds of one ``work()`` over ``repeats`` batches of ``calls`` calls."""
    work()
    samples = []
    for _ in range(repeats):
        sync()
        start = Clock()
        for _ in range(calls):
            work()
        sync()
        samples.append((Clock() - start) / calls)
    return statistics.median(samples)


def _count_ops(work: Any) -> int:
    """Aten ops one ``work()`` issues, counted by the same recorder as a profile."""
    recorder = _recorder_class()()
    with recorder:
        work()
    return sum(record.count for record in recorder.records.values())


def _tiny_network(device: Any, blocks: int) -> Any:
    """``blocks`` lecture-style blocks at negligible size (width 8): embedding, layer norm,
    attention-like softmax with a causal mask, linear layers, ReLU, dropout, residuals and
    a cross-entropy loss, so its per-op host cost has the lecture models' mix of module
    calls, composite ops and autograd nodes (docs/predict.md, "host terms")."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm = nn.LayerNorm(8)
            self.query = nn.Linear(8, 8, bias=False)
            self.key = nn.Linear(8, 8, bias=False)
            self.up = nn.Linear(8, 16)
            self.down = nn.Linear(16, 8)
            self.drop = nn.Dropout(0.2)
            self.register_buffer("mask", torch.tril(torch.ones(4, 4)))

        def forward(self, x: Any) -> Any:
            h = self.norm(x)
            weights = self.query(h) @ self.key(h).transpose(-2, -1) * 8**-0.5
            weights = weights.masked_fill(self.mask == 0, float("-inf"))
            x = x + self.drop(F.softmax(weights, dim=-1)) @ h
            return x + self.drop(self.down(F.relu(self.up(self.norm(x)))))

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(16, 8)
            self.blocks = nn.Sequential(*[Block() for _ in range(blocks)])
            self.head = nn.Linear(8, 16)

        def forward(self, idx: Any, targets: Any) -> Any:
            logits = self.head(self.blocks(self.embed(idx)))
            return F.cross_entropy(logits.view(-1, 16), targets.view(-1))

    return Tiny().to(device)


def _slope_and_intercept(small: tuple[float, int], large: tuple[float, int]) -> tuple[float, float]:
    """(seconds per unit, fixed seconds) from (seconds, units) at two sizes; never negative.

    Where load made the small size look slower than the large one (a slope <= 0), the large
    size's average cost per unit stands in, with no fixed part: an upper estimate, never 0."""
    slope = (large[0] - small[0]) / max(1, large[1] - small[1])
    if slope <= 0:
        return large[0] / max(1, large[1]), 0.0
    return slope, max(0.0, small[0] - small[1] * slope)


def measure_autograd(device: str = "cpu", *, calls: int = 20, repeats: int = 5) -> dict[str, float]:
    """Host seconds per aten op, and fixed seconds per call, of a training forward +
    backward and of a no-grad forward, on tiny networks of 1 and 4 blocks: the framework's
    per-op cost with autograd's graph, engine and gradient accumulation, which a one-op
    probe misses, and the per-call cost (module call, engine start) it does not scale with."""
    import torch

    from gpubench.core.training import synchronize

    target = torch.device(device)
    idx = torch.zeros((2, 4), dtype=torch.long, device=target)
    sync = lambda: synchronize(target)  # noqa: E731
    works: dict[tuple[str, int], Any] = {}
    for blocks in (1, 4):
        net = _tiny_network(target, blocks)

        def train(net: Any = net) -> None:
            net.zero_grad(set_to_none=True)
            net(idx, idx).backward()

        def evaluate(net: Any = net) -> None:
            with torch.no_grad():
                net(idx, idx)

        works["train", blocks], works["eval", blocks] = train, evaluate
    # The sizes are timed in turn, repeat by repeat, and each keeps its fastest batch: load
    # that comes and goes then hits both sizes alike instead of bending the slope.
    best = {key: math.inf for key in works}
    for work in works.values():
        work()
    for _ in range(repeats):
        for key, work in works.items():
            best[key] = min(best[key], _seconds_per_call(work, calls=calls, repeats=1, sync=sync))
    points = {key: (best[key], _count_ops(work)) for key, work in works.items()}
    autograd_op, autograd_fixed = _slope_and_intercept(points["train", 1], points["train", 4])
    nograd_op, nograd_fixed = _slope_and_intercept(points["eval", 1], points["eval", 4])
    return {"autograd_op_s": autograd_op, "autograd_fixed_s": autograd_fixed,
            "nograd_op_s": nograd_op, "nograd_fixed_s": nograd_fixed}  # fmt: skip


def measure_data_ops(device: str = "cpu", *, calls: int = 40, repeats: int = 5) -> float:
    """Host seconds per aten op of the lecture's batch idiom (``torch.stack`` of Python
    slices at random tensor offsets, ``.to(device)``) on 16 windows of 8 tokens: its
    Python-level indexing costs more per op than a bare ``torch.add``."""
    import torch

    from gpubench.core.data import get_batch
    from gpubench.core.training import synchronize

    target = torch.device(device)
    data = torch.zeros(4096, dtype=torch.long)
    work = lambda: get_batch(data, 16, 8, target)  # noqa: E731
    per_call = _seconds_per_call(work, calls=calls, repeats=repeats,
                                 sync=lambda: synchronize(target))  # fmt: skip
    return per_call / _count_ops(work)


def measure_optimizer(
    device: str = "cpu", *, calls: int = 40, repeats: int = 5
) -> tuple[float, float]:
    """(host seconds per parameter tensor, fixed seconds per step) of ``zero_grad`` +
    ``AdamW.step()`` with the lecture's defaults, from 1 and 16 one-element parameters (so
    the per-parameter loop and the step's own bookkeeping are all it measures)."""
    import torch

    from gpubench.core.training import synchronize

    target = torch.device(device)
    points = []
    for tensors in (1, 16):
        params = [torch.zeros(1, device=target, requires_grad=True) for _ in range(tensors)]
        grads = [torch.ones(1, device=target) for _ in range(tensors)]
        optimizer = torch.optim.AdamW(params, lr=1e-3)

        def step(params: Any = params, grads: Any = grads, optimizer: Any = optimizer) -> None:
            optimizer.zero_grad(set_to_none=True)
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad
            optimizer.step()

        seconds = _seconds_per_call(step, calls=calls, repeats=repeats,
                                    sync=lambda: synchronize(target))  # fmt: skip
        points.append((seconds, tensors))
    return _slope_and_intercept(*points)


def measure_reduction(device: str = "cpu", *, megabytes: int = 32, seconds: float = 0.3) -> float:
    """Reduction probe: bytes in + out per second of ``log_softmax`` and ``layer_norm``
    over rows of 256 in a buffer larger than the caches (as the op recorder counts bytes)."""
    import torch
    from torch.nn import functional as F

    from gpubench.core.training import synchronize

    target = torch.device(device)
    rows = megabytes * 2**20 // 4 // 256
    x = torch.randn(rows, 256, device=target)
    moved = 2 * 2.0 * x.numel() * x.element_size()  # two ops, each reads and writes x

    def work() -> None:
        torch.log_softmax(x, dim=-1)
        F.layer_norm(x, (256,))

    return _best_rate(work, moved, seconds, lambda: synchronize(target))


def probe_machine(device: str = "cpu", *, seconds: float = 0.4) -> MachineParams:
    """This device's op-model parameters, measured (about 2 s at the default ``seconds``)."""
    import torch

    from gpubench.bench.flops import measure_peak_flops

    matmul = measure_peak_flops(device, "fp32", seconds=seconds)
    bandwidth = measure_bandwidth(device, seconds=seconds)
    dispatch = measure_dispatch(device)
    autograd = measure_autograd(device)
    optimizer_param, optimizer_fixed = measure_optimizer(device)
    name = device
    if device == "cpu":
        name = f"cpu ({torch.get_num_threads()} threads)"
    return MachineParams(
        name=name,
        matmul_flops_per_s=matmul,
        bandwidth_bytes_per_s=bandwidth,
        dispatch_s=dispatch,
        asynchronous=torch.device(device).type == "cuda",
        source="measured: fp32 matmul probe, 64 MiB copy probe, one-element add probe, "
        "bernoulli_ probe, log_softmax/layer_norm probe, tiny-network autograd probe, "
        "batch-idiom probe, AdamW per-parameter probe",
        rng_bytes_per_s=measure_rng(device, seconds=seconds / 2),
        reduction_bytes_per_s=measure_reduction(device, seconds=seconds / 2),
        data_op_s=measure_data_ops(device),
        optimizer_param_s=optimizer_param,
        optimizer_fixed_s=optimizer_fixed,
        **autograd,
    )


def profile_config(
    model: str,
    config: dict[str, Any],
    *,
    variant: str = "reference",
    device: str = "cpu",
    data_path: str | None = None,
    params: MachineParams | None = None,
    warmup_steps: int = 2,
    steps: int = 3,
    timed: bool = True,
) -> OpProfile:
    """Build a cell's session from its config, warm it up and profile it (for ``predict``).

    ``data_path`` None: synthetic tokens of the corpus's shape (op counts and sizes depend
    on the vocabulary size and the config, not on which characters are trained on).
    """
    import torch

    from gpubench.core.data import TextSource, build_dataset, read_text_file
    from gpubench.core.models import load_model
    from gpubench.core.training import TrainingSession, model_variant

    text = read_text_file(Path(data_path)) if data_path else None
    source = TextSource(label=data_path or "synthetic", text=text, path=data_path)
    dataset = build_dataset(source, min_length=int(config["block_size"]) + 1)
    session = TrainingSession(
        load_model(model), config, dataset, torch.device(device), variant=model_variant(variant)
    )
    for _ in range(warmup_steps):
        session.step()
    session.sync()
    profile = profile_session(session, params=params, steps=steps, timed=timed)
    profile.notes.append(f"profiled by gpubench predict on {device}, {warmup_steps} warm-up steps")
    return profile
