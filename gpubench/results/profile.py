"""Op profiles of a cell and the regime they imply (overhead-, memory- or compute-bound).

Torch-free records: ``gpubench.bench.profile`` fills them on the machine, the report and
``gpubench predict`` read them from ``results.json`` (a cell's ``"profile"`` key). The
model behind ``classify_regime`` is described in docs/predict.md.

Entry points for integration:
  OpProfile.to_dict / OpProfile.from_dict   the JSON stored under a cell's "profile" key
  classify_regime(profile, label=...)       the regime and its one-sentence reason
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

PROFILE_SCHEMA = "gpubench.profile/1"
CATEGORIES = ("matmul", "attention", "elementwise", "optimizer", "copy", "other")
# Where an op was issued: the batch (data), the model's forward and backward, the optimizer.
PHASES = ("data", "forward", "backward", "optimizer")
REGIMES = ("overhead", "memory", "compute")
RNG_OPS = {"bernoulli_", "bernoulli", "uniform_", "normal_", "random_", "rand", "randn"}
# Ops that launch no kernel although torch does not flag them as views (metadata only).
NO_KERNEL_OPS = {
    "empty", "empty_like", "empty_strided", "detach", "lift_fresh", "alias",
    "_local_scalar_dense", "set_", "resize_", "_unsafe_view", "_reshape_alias",
}  # fmt: skip
# Ops that read their input more than once or reduce along a row (normalisations, softmax,
# losses, scatter-adds): not a stream of bytes at the copy bandwidth. They run at the rate
# of the reduction probe (docs/predict.md, "op kinds").
REDUCTION_OPS = {
    "_softmax", "_log_softmax", "_softmax_backward_data", "_log_softmax_backward_data",
    "native_layer_norm", "native_layer_norm_backward", "nll_loss_forward", "nll_loss_backward",
    "nll_loss2d_forward", "nll_loss2d_backward", "embedding_dense_backward",
    "native_batch_norm", "native_batch_norm_backward", "index_add_", "scatter_add_",
}  # fmt: skip
# Gather/scatter ops that touch only the indexed rows of one argument (its position here):
# the recorder leaves that argument's bytes out (docs/predict.md, "bytes").
INDEXED_ARGS = {"nll_loss_forward": 0, "nll_loss_backward": 1, "embedding": 0}


@dataclass
class OpRecord:
    """One aten op name in one phase, summed over a profiled step (or evaluation batch).

    ``count`` calls; ``flops`` from torch's flop counter (matmuls, attention); ``bytes`` the
    sizes of input and output tensors; ``host_us`` the profiler's self CPU time (on a CPU
    this is the op's whole execution); ``device_us`` self device time (0 off a GPU).
    ``kernels``: False for views and metadata ops that launch nothing on a GPU.
    """

    name: str
    category: str
    phase: str
    count: int
    flops: float = 0.0
    bytes: float = 0.0
    host_us: float = 0.0
    device_us: float = 0.0
    kernels: bool = True


@dataclass
class MachineParams:
    """The op model's parameters for one device, with where each came from.

    ``matmul_flops_per_s``: achievable dense matmul rate; ``bandwidth_bytes_per_s``:
    achievable memory bandwidth (copy probe); ``dispatch_s``: host time to dispatch one
    tiny op (the framework's per-op overhead); ``launch_s``: extra host cost per kernel
    launch (0 on a CPU); ``launch_floor_s``: shortest device time of a kernel.
    ``asynchronous``: True where the host queues work for the device (CUDA), so host and
    device times overlap; False on a CPU, where each op runs on the calling thread.
    """

    name: str
    matmul_flops_per_s: float
    bandwidth_bytes_per_s: float
    dispatch_s: float
    launch_s: float = 0.0
    launch_floor_s: float = 0.0
    asynchronous: bool = False
    source: str = "measured"
    # Random-number ops (dropout masks) are bound by generation, not by bytes, on a CPU:
    # bytes of their output per second from a bernoulli_ probe (0: use the bandwidth).
    rng_bytes_per_s: float = 0.0
    # Reduction ops (REDUCTION_OPS): bytes in + out per second of log_softmax and
    # layer_norm on a buffer larger than the caches (0: use the bandwidth).
    reduction_bytes_per_s: float = 0.0
    # Host seconds per aten op of a training forward + backward, autograd included (graph
    # recording, the engine, AccumulateGrad, module calls), from a tiny-network probe;
    # per aten op of a no-grad forward (evaluation); per aten op of the lecture's
    # Python-level batch building. 0: use dispatch_s.
    autograd_op_s: float = 0.0
    nograd_op_s: float = 0.0
    data_op_s: float = 0.0
    # Host seconds per parameter tensor of one AdamW step (the lecture's defaults), from a
    # probe on one-element parameters. 0: optimizer ops cost dispatch_s each.
    optimizer_param_s: float = 0.0
    # Fixed host seconds per step the per-op costs do not scale with (the same probes at
    # two sizes: the intercept): the model call plus ``loss.backward()``'s engine start,
    # a no-grad model call, ``zero_grad`` plus ``optimizer.step()``'s own bookkeeping.
    autograd_fixed_s: float = 0.0
    nograd_fixed_s: float = 0.0
    optimizer_fixed_s: float = 0.0

    def host_op_s(self, phase: str, *, training: bool = True) -> float:
        """Host seconds per aten op issued in ``phase`` (docs/predict.md, "host terms")."""
        if phase == "data":
            return self.data_op_s or self.dispatch_s
        if phase in ("forward", "backward"):
            probed = self.autograd_op_s if training else self.nograd_op_s
            return probed or self.dispatch_s
        return self.dispatch_s


@dataclass
class OpProfile:
    """What a few profiled steady steps (and one evaluation batch) of a cell consist of."""

    device: str
    steps_profiled: int
    step_wall_s: float  # wall time of one profiled step (median), profiler on
    ops: list[OpRecord] = field(default_factory=list)  # per step
    eval_ops: list[OpRecord] = field(default_factory=list)  # per evaluation batch
    eval_batch_wall_s: float = 0.0
    batch_bytes: int = 0  # bytes of (x, y) copied to the device each step
    parameters: int = 0  # parameter tensors the optimizer steps over (0: unknown)
    params: MachineParams | None = None  # probes of the machine that ran the profile
    notes: list[str] = field(default_factory=list)
    schema: str = PROFILE_SCHEMA

    @property
    def ops_per_step(self) -> int:
        return sum(op.count for op in self.ops)

    @property
    def host_s(self) -> float:
        return sum(op.host_us for op in self.ops) * 1e-6

    @property
    def host_us_per_op(self) -> float:
        count = self.ops_per_step
        return self.host_s * 1e6 / count if count else 0.0

    @property
    def flops_per_step(self) -> float:
        return sum(op.flops for op in self.ops)

    @property
    def bytes_per_step(self) -> float:
        return sum(op.bytes for op in self.ops)

    def category_shares(self) -> dict[str, float]:
        """Share of the profiled op time per category (sums to 1 when anything ran)."""
        return shares_by_category(self.ops)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ops"] = [_compact(op) for op in self.ops]
        data["eval_ops"] = [_compact(op) for op in self.eval_ops]
        data["derived"] = {
            "ops_per_step": self.ops_per_step,
            "host_us_per_op": self.host_us_per_op,
            "flops_per_step": self.flops_per_step,
            "bytes_per_step": self.bytes_per_step,
            "category_shares": self.category_shares(),
        }
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OpProfile:
        if data.get("schema") != PROFILE_SCHEMA:
            raise ValueError(f"not a {PROFILE_SCHEMA} record (schema: {data.get('schema')!r})")
        params = data.get("params")
        return cls(
            device=data["device"],
            steps_profiled=int(data["steps_profiled"]),
            step_wall_s=float(data["step_wall_s"]),
            ops=[OpRecord(**op) for op in data.get("ops", [])],
            eval_ops=[OpRecord(**op) for op in data.get("eval_ops", [])],
            eval_batch_wall_s=float(data.get("eval_batch_wall_s", 0.0)),
            batch_bytes=int(data.get("batch_bytes", 0)),
            parameters=int(data.get("parameters", 0)),
            params=MachineParams(**params) if params else None,
            notes=list(data.get("notes", [])),
        )


def _compact(op: OpRecord) -> dict[str, Any]:
    """An op as JSON, rounded so a GPT profile stays a few tens of kilobytes."""
    data = asdict(op)
    for key in ("flops", "bytes"):
        data[key] = float(f"{data[key]:.4g}")
    for key in ("host_us", "device_us"):
        data[key] = round(data[key], 2)
    return data


def shares_by_category(ops: list[OpRecord]) -> dict[str, float]:
    totals = {category: 0.0 for category in CATEGORIES}
    for op in ops:
        totals[op.category if op.category in totals else "other"] += op.host_us + op.device_us
    whole = sum(totals.values())
    return {k: (v / whole if whole else 0.0) for k, v in totals.items()}


@dataclass
class Regime:
    """Which resource bounds a step, the three competing times, and the sentence that says so.

    ``overhead_s``: ops × per-op host cost; ``memory_s``: bytes ÷ bandwidth over the ops
    bound by memory; ``compute_s``: FLOPs ÷ matmul rate over the ops bound by compute (all
    three from the machine probes). ``share``: the leading term over ``step_s``, capped at 1
    (None without a step); ``probes_inflated``: the leading term exceeded the whole step.
    """

    kind: str  # overhead | memory | compute
    step_s: float
    overhead_s: float
    memory_s: float
    compute_s: float
    ops_per_step: int
    per_op_s: float
    flops_per_step: float
    bytes_per_step: float
    reason: str
    share: float | None = None
    probes_inflated: bool = False


def op_kind(op: OpRecord) -> str:
    """What bounds one op's device time (docs/predict.md, "op kinds"): ``view`` (no kernel),
    ``compute`` (it has FLOPs: matmuls, attention), ``rng`` (random numbers), ``reduction``
    (REDUCTION_OPS) or ``memory`` (a stream of bytes: elementwise ops, copies)."""
    if not op.kernels or op.name in NO_KERNEL_OPS:
        return "view"
    if op.flops > 0:
        return "compute"
    if op.name in RNG_OPS:
        return "rng"
    if op.name in REDUCTION_OPS:
        return "reduction"
    return "memory"


def op_bound(op: OpRecord, params: MachineParams) -> tuple[str, float]:
    """Which term bounds one op per call, and its device time per call (docs/predict.md).

    A view launches nothing: only its host cost counts. Otherwise the op takes the longest
    of the launch floor, its FLOPs at the matmul rate and its bytes at its kind's rate
    (copy bandwidth; the random-number or reduction probe's rate where measured).
    """
    kind = op_kind(op)
    if kind == "view" or op.count == 0:
        return "overhead", 0.0
    per_call_flops = op.flops / op.count
    per_call_bytes = op.bytes / op.count
    compute = per_call_flops / params.matmul_flops_per_s
    rate = params.bandwidth_bytes_per_s
    if kind == "rng" and params.rng_bytes_per_s > 0:
        rate = min(rate, params.rng_bytes_per_s)
    elif kind == "reduction" and params.reduction_bytes_per_s > 0:
        rate = min(rate, params.reduction_bytes_per_s)
    memory = per_call_bytes / rate
    floor = params.launch_floor_s
    longest = max(floor, compute, memory)
    if longest == compute and compute > 0:
        return "compute", compute
    if longest == memory and memory > 0:
        return "memory", memory
    return "overhead", floor


def host_seconds(
    ops: list[OpRecord], params: MachineParams, *, parameters: int = 0, training: bool = True
) -> dict[str, float]:
    """Host seconds per phase of one step (or evaluation batch): each op at its phase's
    probed per-op cost (MachineParams.host_op_s) plus the launch cost of each kernel; the
    optimizer at the probed cost per parameter tensor when both are known."""
    out = {phase: 0.0 for phase in PHASES}
    for op in ops:
        launch = params.launch_s if op.kernels and op.name not in NO_KERNEL_OPS else 0.0
        per_op = params.host_op_s(op.phase, training=training)
        if op.phase == "optimizer" and params.optimizer_param_s > 0 and parameters > 0:
            per_op = 0.0  # counted per parameter below
        out[op.phase] = out.get(op.phase, 0.0) + op.count * (per_op + launch)
    if any(op.phase == "optimizer" for op in ops):
        if training and params.optimizer_param_s > 0 and parameters > 0:
            out["optimizer"] += parameters * params.optimizer_param_s
        out["optimizer"] += params.optimizer_fixed_s
    if any(op.phase == "backward" for op in ops):
        out["backward"] += params.autograd_fixed_s
    elif not training and any(op.phase == "forward" for op in ops):
        out["forward"] += params.nograd_fixed_s
    return out


def regime_terms(
    ops: list[OpRecord], params: MachineParams, *, parameters: int = 0
) -> tuple[float, float, float]:
    """(overhead, memory, compute) seconds per step: host cost of every op, then the device
    time of the ops bound by memory (streams, reductions, random numbers) and by compute."""
    overhead = sum(host_seconds(ops, params, parameters=parameters).values())
    memory = compute = 0.0
    for op in ops:
        kind, seconds = op_bound(op, params)
        if kind == "memory":
            memory += op.count * seconds
        elif kind == "compute":
            compute += op.count * seconds
    return overhead, memory, compute


def short_duration(seconds: float) -> str:
    """Three significant figures in the unit that fits: "7.8 s", "36.1 ms", "916 µs"."""
    seconds = float(f"{seconds:.3g}")  # 0.99999 s is "1 s", not "1e+03 ms"
    if seconds >= 1:
        return f"{seconds:.3g} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


# A runner-up term at least this fraction of the leading one is named beside it: the op
# model's CPU self-check is held to ±25 % (docs/predict.md, "The regime of a cell"), and two
# terms 25 % off in opposite directions differ by 1.25 / 0.75 ≈ 1 / 0.6.
CLOSE_RATIO = 0.6


def classify_regime(
    profile: OpProfile,
    *,
    label: str,
    step_s: float | None = None,
    params: MachineParams | None = None,
) -> Regime:
    """The regime of a profiled cell, and its reason in figures that agree with each other.

    The rule (docs/predict.md, "The regime of a cell"): overhead, memory and compute times
    all come from one set of machine probes, so the largest of the three names the regime,
    with no minimum share of the step: a load that slows the machine while it is probed
    slows all three alike and leaves their order. A runner-up of at least CLOSE_RATIO of
    the leader is named too (within the model's error, the order could be either way).

    The leading term is then set against ``step_s``, the measured steady step (the profiled
    step's wall time when None), as a share capped at 100 %. A term larger than the whole
    step it is part of cannot be right: the probes ran while other work loaded the machine
    (they keep their own wall-clock time). The reason says so, and gives the profiled
    step's own wall time and its ops' own host time beside it, which were taken in the same
    phase as the probes and so agree with each other. ``params``: the machine's op-model
    parameters (the profile's own probes when None). Pure: no clock, no torch.
    """
    params = params or profile.params
    if params is None:
        raise ValueError("classify_regime needs machine parameters (the profile has none)")
    step = step_s if step_s is not None else profile.step_wall_s
    terms = dict(
        zip(REGIMES, regime_terms(profile.ops, params, parameters=profile.parameters), strict=True)
    )
    kind = max(REGIMES, key=lambda name: terms[name])
    lead = terms[kind]
    ops = profile.ops_per_step
    per_op = terms["overhead"] / ops if ops else 0.0
    flops, moved = profile.flops_per_step, profile.bytes_per_step
    if kind == "overhead":
        detail = f"{ops:,} ops per step at {per_op * 1e6:.3g} µs of host time each"
    elif kind == "memory":
        detail = (
            f"{moved / 1e9:.3g} GB moved per step at {params.bandwidth_bytes_per_s / 1e9:.3g} GB/s"
        )
    else:
        detail = (
            f"{flops / 1e9:.3g} GFLOP per step at {params.matmul_flops_per_s / 1e9:.3g} GFLOP/s"
        )
    share = min(lead / step, 1.0) if step > 0 else None
    inflated = step > 0 and lead > step
    if step <= 0:
        detail += f" = {short_duration(lead)} per step"
    elif not inflated:
        percent = f"{lead / step * 100:.0f} %"
        detail += f" = {short_duration(lead)} ({percent}) of the {short_duration(step)} step"
    else:
        detail += (
            f" = {short_duration(lead)} by the machine probes, more than the whole "
            f"{short_duration(step)} step it is part of: other work loaded the machine while "
            f"it was probed{_same_phase(profile, step_s)}; counted as 100 % of the step"
        )
    reason = f"{label}: {detail}: {kind}-bound{_runner_up(terms, kind)}"
    return Regime(
        kind, step, terms["overhead"], terms["memory"], terms["compute"], ops, per_op, flops,
        moved, reason, share, inflated,
    )  # fmt: skip


def _runner_up(terms: dict[str, float], kind: str) -> str:
    """ "; memory (3.02 ms) is close behind" when the second term is within CLOSE_RATIO."""
    second = max((name for name in REGIMES if name != kind), key=lambda name: terms[name])
    if terms[kind] > 0 and terms[second] >= CLOSE_RATIO * terms[kind]:
        return f"; {second} ({short_duration(terms[second])}) is close behind"
    return ""


def _same_phase(profile: OpProfile, step_s: float | None) -> str:
    """The profiled step's own figures, taken with the probes (when timed and not already
    the step the term was set against)."""
    if step_s is None or profile.step_wall_s <= 0 or profile.host_s <= 0:
        return ""
    return (
        f" (the step profiled with the probes lasted {short_duration(profile.step_wall_s)}, "
        f"its ops {short_duration(profile.host_s)} of host time)"
    )


def profile_from_cell(cell_record: dict[str, Any]) -> OpProfile | None:
    """A cell's profile from its results.json record, or None when the run has none."""
    data = cell_record.get("profile")
    return OpProfile.from_dict(data) if data else None
