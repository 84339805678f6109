"""The op-level model: a profiled step's ops -> a step time on another device. Pure.

Per op (docs/predict.md): device time = max(launch floor, FLOPs ÷ achievable FLOP/s,
bytes ÷ achievable bandwidth); host time = dispatch overhead (measured on the CPU that
profiled) + launch cost. On a GPU the host queues work, so a step costs about the larger
of the two sums, plus the lecture's per-step batch copy, which waits for the device
(``.to(device)`` of pageable memory synchronises). On a CPU each op runs on the calling
thread, so host and device times add. Everything this module returns is **predicted**.

Entry points:
  predict_cpu_step(profile, params)              the CPU self-check (benchmarks/)
  predict_gpu_step(profile, gpu, variant=...)    one steady step on a table GPU
  predict_cell(cpu_cell_record, profile, gpu)    totals, crossover, band, assumptions
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gpubench.predict.gpus import GpuSpec
from gpubench.results.costmodel import CostModel, find_crossover
from gpubench.results.profile import (
    MachineParams,
    OpProfile,
    OpRecord,
    host_seconds,
    op_bound,
    short_duration,
)

PREDICTED = "predicted"
# Worst relative error of the CPU self-check, rounded up (benchmarks/README.md, "Op model":
# 12 points on a loaded 2-core VM, 10 within ±25 %, median 10 %, worst -37 %): widens every
# predicted band on top of the spread of the GPU assumptions below.
VALIDATION_ERROR = 0.4


@dataclass(frozen=True)
class Assumption:
    """One parameter the model assumes for GPUs: optimistic, typical and pessimistic values."""

    name: str
    optimistic: float
    typical: float
    pessimistic: float
    unit: str
    source: str


# Typical figures of CUDA on Linux; none is on a datasheet, so each is a range.
GPU_ASSUMPTIONS = {
    "matmul_efficiency": Assumption(
        "matmul_efficiency",
        0.8,
        0.6,
        0.4,
        "of peak",
        "achieved/peak of cuBLAS GEMMs at these small sizes (K=64-1536); the lecture "
        "models' matmuls are far below the sizes that reach 80-90 %",
    ),
    "bandwidth_efficiency": Assumption(
        "bandwidth_efficiency",
        0.9,
        0.75,
        0.5,
        "of peak",
        "achieved/peak DRAM bandwidth of elementwise kernels (STREAM-like copy: 80-90 %)",
    ),
    "launch_s": Assumption(
        "launch_s",
        3e-6,
        5e-6,
        8e-6,
        "s per kernel (host)",
        "cudaLaunchKernel plus PyTorch's CUDA-side bookkeeping (stream, caching allocator)",
    ),
    "launch_floor_s": Assumption(
        "launch_floor_s",
        2e-6,
        3e-6,
        5e-6,
        "s per kernel (device)",
        "shortest kernel plus the gap between back-to-back kernels",
    ),
    "copy_latency_s": Assumption(
        "copy_latency_s",
        10e-6,
        20e-6,
        40e-6,
        "s per synchronising copy",
        "a pageable host-to-device copy of a few kilobytes, staged and synchronised",
    ),
    "item_latency_s": Assumption(
        "item_latency_s",
        8e-6,
        15e-6,
        30e-6,
        "s per loss.item()",
        "a device-to-host copy of one scalar after a stream sync",
    ),
    "context_s": Assumption(
        "context_s",
        0.5,
        1.5,
        4.0,
        "s once per process",
        "CUDA context creation, module loading and the first cuBLAS/cuDNN kernels; no vendor "
        "figure exists (CUDA Programming Guide, 'Lazy Loading', on why it varies): measure "
        "it with gpubench run on the GPU",
    ),
}
SCENARIOS = ("optimistic", "typical", "pessimistic")


def assumption_values(scenario: str) -> dict[str, float]:
    return {name: getattr(a, scenario) for name, a in GPU_ASSUMPTIONS.items()}


def matmul_dtype(variant: str, gpu: GpuSpec) -> str:
    """The dtype the variant's matmuls run at on ``gpu`` (as gpubench.core.training decides):
    reference fp32 (PyTorch leaves TF32 off for matmuls); fast bf16 autocast where the GPU
    has bf16, else TF32 where it has TF32, else fp32."""
    if variant in ("fast", "compile"):
        for dtype in ("bf16", "tf32"):
            if dtype in gpu.peak_flops:
                return dtype
    return "fp32"


def gpu_params(gpu: GpuSpec, cpu: MachineParams, variant: str, scenario: str) -> MachineParams:
    """The op model's parameters for a GPU: datasheet peaks × assumed efficiencies; the
    host costs (dispatch, autograd, batch building, optimizer per parameter) as measured
    on this CPU, plus a kernel launch cost. A GPU's reductions and random numbers run at
    its bandwidth (the CPU's reduction and RNG rates do not carry over)."""
    values = assumption_values(scenario)
    dtype = matmul_dtype(variant, gpu)
    return replace(
        cpu,
        name=gpu.key,
        matmul_flops_per_s=gpu.peak(dtype) * values["matmul_efficiency"],
        bandwidth_bytes_per_s=gpu.bandwidth_bytes_per_s * values["bandwidth_efficiency"],
        launch_s=values["launch_s"],
        launch_floor_s=values["launch_floor_s"],
        asynchronous=True,
        rng_bytes_per_s=0.0,
        reduction_bytes_per_s=0.0,
        source=f"{PREDICTED}: {gpu.source}; {scenario} assumptions; host costs measured on CPU",
    )


@dataclass
class StepPrediction:
    """One steady step (or evaluation batch) on one device, predicted by the op model."""

    device: str
    host_s: float  # dispatch (+ launch) of every op, and the data ops run on the host
    device_s: float  # sum of per-op device times (0 on a CPU: it is in host_s)
    copy_s: float  # per-step synchronising batch copy (and item() for an eval batch)
    step_s: float
    regime: str  # overhead | memory | compute
    ops: int
    label: str = PREDICTED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _device_terms(ops: list[OpRecord], params: MachineParams) -> tuple[float, float, float]:
    """(device seconds, memory-bound seconds, compute-bound seconds) of the kernel ops."""
    total = memory = compute = 0.0
    for op in ops:
        kind, seconds = op_bound(op, params)
        total += op.count * seconds
        if kind == "memory":
            memory += op.count * seconds
        elif kind == "compute":
            compute += op.count * seconds
    return total, memory, compute


def _regime(host_s: float, memory_s: float, compute_s: float) -> str:
    return max(zip((host_s, memory_s, compute_s), ("overhead", "memory", "compute"), strict=True))[
        1
    ]


def predict_cpu_step(
    profile: OpProfile, params: MachineParams, *, evaluation: bool = False
) -> StepPrediction:
    """The op model on a CPU: every op's host cost (by phase: batch building, autograd
    forward and backward, the optimizer per parameter) plus its own execution, one after
    another."""
    ops = profile.eval_ops if evaluation else profile.ops
    host = host_seconds(ops, params, parameters=profile.parameters, training=not evaluation)
    dispatch = sum(host.values())
    device, memory, compute = _device_terms(ops, params)
    step = dispatch + device
    return StepPrediction(
        params.name,
        dispatch,
        device,
        0.0,
        step,
        _regime(dispatch, memory, compute),
        sum(op.count for op in ops),
    )


def predict_gpu_step(
    profile: OpProfile,
    gpu: GpuSpec,
    *,
    variant: str = "reference",
    scenario: str = "typical",
    cpu: MachineParams | None = None,
    evaluation: bool = False,
) -> StepPrediction:
    """One step on ``gpu`` from a CPU op profile: max(host sum, device sum) + batch copy.

    The batch is built on the host (the data ops keep their CPU cost) and copied with
    ``.to(device)``, which waits for the device; an evaluation batch adds ``loss.item()``.
    """
    cpu = cpu or profile.params
    if cpu is None:
        raise ValueError("the profile carries no CPU parameters; pass cpu=probe_machine()")
    params = gpu_params(gpu, cpu, variant, scenario)
    values = assumption_values(scenario)
    ops = profile.eval_ops if evaluation else profile.ops
    data_ops = [op for op in ops if op.phase == "data"]
    device_ops = [op for op in ops if op.phase != "data"]
    data_host = predict_cpu_step(
        OpProfile("cpu", 1, 0.0, ops=data_ops), cpu, evaluation=evaluation
    ).step_s
    phases = host_seconds(
        device_ops, params, parameters=profile.parameters, training=not evaluation
    )
    host = sum(phases.values())
    device, memory, compute = _device_terms(device_ops, params)
    copy = values["copy_latency_s"] + profile.batch_bytes / gpu.host_link_bytes_per_s
    if evaluation:
        copy += values["item_latency_s"]
    step = max(host + data_host, device) + copy
    regime = _regime(host + data_host, memory, compute)
    return StepPrediction(
        gpu.key, host + data_host, device, copy, step, regime, sum(op.count for op in ops)
    )


@dataclass
class TotalPrediction:
    iters: int
    cpu_s: float  # the CPU cell's cost model (measured phases; extrapolated past its runs)
    gpu_s: float
    gpu_low_s: float
    gpu_high_s: float
    label: str = PREDICTED


@dataclass
class CellPrediction:
    """A CPU cell's predicted twin on one GPU: step, evaluation, fixed costs, totals."""

    model: str
    batch_size: int
    variant: str
    gpu: str
    gpu_name: str
    cpu_step_s: float  # measured
    step: StepPrediction
    step_low_s: float
    step_high_s: float
    eval_s: float
    fixed_s: float
    fixed_low_s: float
    fixed_high_s: float
    totals: list[TotalPrediction] = field(default_factory=list)
    crossover: str = ""
    crossover_iters: float | None = None
    reason: str = ""
    assumptions: list[str] = field(default_factory=list)
    label: str = PREDICTED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_step(step: StepPrediction, cpu_step_s: float, label: str) -> str:
    """One sentence: the predicted step on the GPU against the measured CPU step, and why."""
    ratio = cpu_step_s / step.step_s if step.step_s > 0 else float("inf")
    faster = f"{ratio:.2g}× faster" if ratio >= 1 else f"{1 / ratio:.2g}× slower"
    if step.regime == "overhead":
        why = (
            f"{step.ops:,} ops per step cost {short_duration(step.host_s)} of host time against "
            f"{short_duration(step.device_s)} of device time: overhead-bound"
        )
    else:
        why = (
            f"{short_duration(step.device_s)} of device time against {short_duration(step.host_s)} "
            f"of host time: {step.regime}-bound"
        )
    return (
        f"{label} on {step.device}: predicted step {short_duration(step.step_s)} vs "
        f"{short_duration(cpu_step_s)} measured on the CPU ({faster}); {why}"
    )


def crossover_clause(kind: str, iters: float | None, fixed_gap_s: float, protocol: str) -> str:
    """The predicted GPU against the measured CPU, in words, for each kind of
    ``find_crossover``: from-first, at (from n on), until (ahead in fixed costs but dearer
    per step: it wins up to n), never."""
    step = "each step (evaluations included)" if protocol == "lecture" else "each step"
    if kind == "from-first":
        return "wins from the first iteration"
    if kind == "at" and iters is not None:
        return (
            f"starts {fixed_gap_s:.2f} s behind (fixed costs) and wins from ~{iters:,.0f} "
            "iterations"
        )
    if kind == "until" and iters is not None:
        return (
            f"starts {-fixed_gap_s:.2f} s ahead (fixed costs) but {step} is dearer: wins "
            f"until {iters:,.0f} iterations, then the CPU catches up"
        )
    return f"never wins: {step} is not cheaper"


def _flat_costs(fixed_s: float, step_s: float, eval_s: float, cpu_costs: CostModel) -> CostModel:
    """T(n) = F + n·s + E(n)·e with one step time, evaluating as often as the CPU cell did."""
    return CostModel(fixed_s, step_s, step_s, step_s, eval_s, cpu_costs.eval_interval)


def predict_cell(
    *,
    model: str,
    batch_size: int,
    variant: str,
    cpu_costs: CostModel,
    profile: OpProfile,
    gpu: GpuSpec,
    iters: list[int],
    eval_iters: int,
    protocol: str = "lecture",
    cpu_startup_s: float = 0.0,
) -> CellPrediction:
    """Predict one CPU cell on ``gpu``: step (typical, and a band from the optimistic and
    pessimistic assumptions widened by VALIDATION_ERROR), evaluation, fixed costs, totals
    T(n) = F + n·s + E(n)·e, and the crossover against the CPU's measured cost model.

    ``cpu_startup_s``: the CPU cell's startup + data + build, which a GPU run pays as well.
    """
    steps = {s: predict_gpu_step(profile, gpu, variant=variant, scenario=s) for s in SCENARIOS}
    evals = {
        s: 2
        * eval_iters
        * predict_gpu_step(profile, gpu, variant=variant, scenario=s, evaluation=True).step_s
        for s in SCENARIOS
    }
    fixed = {s: cpu_startup_s + assumption_values(s)["context_s"] for s in SCENARIOS}
    low_step = steps["optimistic"].step_s * (1 - VALIDATION_ERROR)
    high_step = steps["pessimistic"].step_s * (1 + VALIDATION_ERROR)
    gpu_costs = CostModel(
        fixed["typical"],
        steps["typical"].step_s,
        low_step,
        high_step,
        evals["typical"],
        cpu_costs.eval_interval,
    )
    # the band's ends: every term at its optimistic (pessimistic) value, widened as the step
    low_costs = _flat_costs(
        fixed["optimistic"], low_step, evals["optimistic"] * (1 - VALIDATION_ERROR), cpu_costs
    )
    high_costs = _flat_costs(
        fixed["pessimistic"], high_step, evals["pessimistic"] * (1 + VALIDATION_ERROR), cpu_costs
    )
    totals = [
        TotalPrediction(
            n,
            cpu_costs.predict(n, protocol),
            gpu_costs.predict(n, protocol),
            low_costs.predict(n, protocol),
            high_costs.predict(n, protocol),
        )
        for n in iters
    ]
    kind, cross, _, gap = find_crossover(cpu_costs, gpu_costs, protocol)
    label = f"{model}, batch {batch_size}"
    reason = describe_step(steps["typical"], cpu_costs.step_s, label)
    reason += "; " + crossover_clause(kind, cross, gap, protocol)
    return CellPrediction(
        model=model,
        batch_size=batch_size,
        variant=variant,
        gpu=gpu.key,
        gpu_name=gpu.name,
        cpu_step_s=cpu_costs.step_s,
        step=steps["typical"],
        step_low_s=low_step,
        step_high_s=high_step,
        eval_s=evals["typical"],
        fixed_s=fixed["typical"],
        fixed_low_s=fixed["optimistic"],
        fixed_high_s=fixed["pessimistic"],
        totals=totals,
        crossover=kind,
        crossover_iters=cross,
        reason=reason,
        assumptions=list_assumptions(gpu, variant),
    )


def list_assumptions(gpu: GpuSpec, variant: str) -> list[str]:
    """The model's assumptions, in words, for the report and the terminal."""
    dtype = matmul_dtype(variant, gpu)
    lines = [
        f"matmuls at {dtype}: {gpu.peak(dtype) / 1e12:.4g} TFLOP/s peak ({gpu.source})",
        f"memory bandwidth {gpu.bandwidth_bytes_per_s / 1e9:,.0f} GB/s peak; host link "
        f"{gpu.host_link}",
        "the GPU runs the op list profiled on this CPU (same ops, counts, FLOPs and bytes; "
        "CUDA's foreach AdamW and fused attention kernels would launch fewer kernels)",
        "host time per op = dispatch overhead measured on this CPU + a kernel launch cost",
    ]
    for a in GPU_ASSUMPTIONS.values():
        lines.append(
            f"{a.name}: {a.typical:g} {a.unit} (range {a.optimistic:g}-"
            f"{a.pessimistic:g}): {a.source}"
        )
    lines.append(
        f"band: optimistic and pessimistic assumptions, widened by ±{VALIDATION_ERROR:.0%} "
        "(the CPU self-check's worst error)"
    )
    return lines
