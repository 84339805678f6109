"""The report's lists: failed cells, warnings, the engine's notes, the environment, the command.

One line per fact, as data; the printers decide whether it is a bullet or a dim line.
"""

from __future__ import annotations

import shlex
from typing import Any

from gpubench.core.tuning import FastChoices
from gpubench.report.format import format_bytes, format_count, format_duration
from gpubench.report.queries import (
    device_label,
    doctor_fact,
    failure_text,
    gpu_facts,
    headline_protocol,
    is_cpu,
    verdict_line,
)
from gpubench.report.tables import PREDICTION_TARGET
from gpubench.results.frame import checked_prediction
from gpubench.results.model import CellResult, RunResults

MATH_SWITCHES = (("tf32", "TF32"), ("autocast", "autocast"), ("compile", "torch.compile"))
BUSY_LOAD_SHARE = 0.5  # a 1-minute load average above this share of the cores: a busy machine


def devices_without_measured_runs(results: RunResults) -> list[str]:
    """Devices whose every number is extrapolated: no full run fitted the budget."""
    measured = {device_label(cell, results) for cell in results.cells if cell.runs}
    ok = {device_label(cell, results) for cell in results.cells if cell.phases is not None}
    return sorted(ok - measured)


def failure_lines(results: RunResults) -> list[str]:
    """One line per cell that has no numbers, with the reason."""
    lines = []
    for cell in results.cells:
        if cell.status == "ok":
            continue
        reason = (
            f"{cell.failure.kind}: {cell.failure.message}" if cell.failure else failure_text(cell)
        )
        lines.append(f"{cell.key.id}: {reason}")
    return lines


def warning_lines(results: RunResults) -> list[str]:
    """The run's own warnings, then what the numbers themselves show (noisy cells, misses)."""
    lines = list(results.warnings)
    said = " ".join(lines).lower()
    data = results.settings.data
    if data.synthetic and "synthetic" not in said:
        lines.append(
            f"synthetic tokens ({data.label}): timings are valid, losses are not meaningful"
        )
    if results.metadata.get("cuda_launch_blocking") and "cuda_launch_blocking" not in said:
        lines.append("CUDA_LAUNCH_BLOCKING=1 was set: GPU timings are meaningless")
    for cell in results.cells:
        if cell.phases is not None and cell.phases.step.noisy:
            lines.append(
                f"{cell.key.id}: noisy — the step time's IQR is "
                f"{cell.phases.step.spread:.0%} of its median (over 10 %); rerun on an idle machine"
            )
        for run in cell.runs:
            error = checked_prediction(results, cell, run)[1]
            if error is not None and abs(error) > PREDICTION_TARGET:
                lines.append(
                    f"{cell.key.id}: the {format_count(run.iters)}-iteration run took "
                    f"{format_duration(run.seconds)}, its prediction is {error * 100:+.0f} % off"
                )
    if not any(cell.cpu_load is not None for cell in results.cells):
        lines += _load_warning(results.metadata)  # per-cell loads, where recorded, open the report
    lines += [
        f"{device}: no full run fitted the budget, so all its times are extrapolated"
        for device in devices_without_measured_runs(results)
    ]
    return lines


def _load_warning(metadata: dict[str, Any]) -> list[str]:
    """Other processes competing for the CPU at the start make CPU timings slow and noisy."""
    load = metadata.get("load_average_start") or []
    cores = metadata.get("cpu_cores_logical")
    if not load or not cores or load[0] < BUSY_LOAD_SHARE * cores:
        return []
    return [
        f"the machine was busy at the start (load average {load[0]:.2f} on {cores} logical "
        "cores): CPU timings may be slower and noisier than on an idle machine"
    ]


def note_lines(results: RunResults) -> list[str]:
    """The engine's notes on each cell (slow steps, scaled evaluation, failed full runs), then
    the fast variant's measured choices."""
    lines = [
        f"{cell.key.id}: {note}"
        for cell in results.cells
        for note in cell.notes
        if not note.startswith("noisy")  # already a warning, with its advice
    ]
    return lines + [line for cell in results.cells for line in fast_choice_lines(cell)]


def fast_choice_lines(cell: CellResult) -> list[str]:
    """What the fast variant chose on this machine and why, with the timings
    (``FastChoices.describe``, docs/fast-variant.md); the probe's cost is part of F."""
    if not cell.fast_choices:
        return []
    record = cell.fast_choices
    try:
        choices = FastChoices.from_dict(record, from_cache=bool(record.get("from_cache")))
    except (KeyError, TypeError, ValueError) as error:
        return [f"{cell.key.id}: the fast variant's stored choices cannot be read ({error})"]
    first, *options = choices.describe()
    probe = cell.phases.tune_s if cell.phases is not None else None
    if choices.from_cache:
        first += "; no probe in this run"
    elif probe:
        first += (
            f"; the probe took {format_duration(probe)} of this cell, counted in its fixed costs F"
        )
    return [f"{cell.key.id}: {line}" for line in (first, *options)]


def environment_lines(results: RunResults) -> list[str]:
    """The doctor's verdict and the facts that decide what the numbers mean."""
    meta = results.metadata
    lines = []
    if verdict_line(results):
        lines.append(f"Verdict: {verdict_line(results)}")
    version = meta.get("gpubench")
    if version:
        commit = f" (commit {meta['git_commit']})" if meta.get("git_commit") else ""
        lines.append(f"gpubench {version}{commit}")
    cuda = meta.get("torch_cuda") or meta.get("cuda")
    cudnn = meta.get("cudnn") or doctor_fact(meta, "torch", "cudnn_version")
    torch_text = f"torch {meta['torch']}" if meta.get("torch") else ""
    if torch_text:
        torch_text += f", CUDA {cuda}" if cuda else ", no CUDA"
        torch_text += f", cuDNN {cudnn}" if cudnn else ""
    lines += [
        text
        for text in (
            f"Python {meta['python']}" if meta.get("python") else "",
            torch_text,
            f"Platform: {meta['platform']}" if meta.get("platform") else "",
            _cpu_line(results),
            f"Memory: {format_bytes(meta['memory_total_bytes'])}"
            if meta.get("memory_total_bytes")
            else "",
            _load_line(meta.get("load_average_start") or meta.get("load_average")),
        )
        if text
    ]
    lines += [_gpu_line(gpu, meta) for gpu in gpu_facts(meta)]
    lines += _settings_lines(results)
    switches = [f"{name} {meta[key]}" for key, name in MATH_SWITCHES if meta.get(key) is not None]
    if switches:
        lines.append("Math settings: " + ", ".join(switches))
    if meta.get("fast_variant") and "fast" in results.settings.variants:
        lines.append(f"Variant fast: {meta['fast_variant']}")
    engine = results.engine
    if engine.get("wall_s"):
        lines.append(
            f"The sweep took {format_duration(engine['wall_s'])}, "
            f"{format_duration(engine.get('measured_s'))} of it in workers"
        )
    return lines


def _cpu_line(results: RunResults) -> str:
    meta = results.metadata
    model = meta.get("cpu_model")
    if not model:
        return ""
    cores = meta.get("cpu_cores_physical")
    logical = meta.get("cpu_cores_logical")
    counts = ", ".join(
        text
        for text in (
            f"{cores} core{'s' if cores != 1 else ''}" if cores else "",
            f"{logical} logical" if logical else "",
            f"capability {meta['cpu_capability']}" if meta.get("cpu_capability") else "",
        )
        if text
    )
    threads = sorted(
        {c.key.threads for c in results.cells if is_cpu(c.key.device) and c.key.threads}
    )
    used = f"; torch threads: {', '.join(map(str, threads))}" if threads else ""
    return f"CPU: {model}" + (f" ({counts})" if counts else "") + used


def _load_line(load: Any) -> str:
    if not load:
        return ""
    return "Load average at start: " + ", ".join(f"{value:.2f}" for value in load)


def _gpu_line(gpu: dict[str, Any], meta: dict[str, Any]) -> str:
    driver = gpu.get("driver") or doctor_fact(meta, "nvml", "driver_version")
    memory = gpu.get("memory_total")
    busy = gpu.get("utilisation", gpu.get("utilization_gpu"))
    parts = [
        str(gpu.get("name") or "GPU"),
        f"driver {driver}" if driver else "",
        format_bytes(memory) if isinstance(memory, (int, float)) and memory > 2**20 else "",
        f"{busy} % busy at start" if busy is not None else "",
    ]
    return "GPU: " + ", ".join(part for part in parts if part)


def _settings_lines(results: RunResults) -> list[str]:
    settings = results.settings
    budget = settings.budget_s
    mode = (
        "--full (every count measured)"
        if settings.full
        else (f"budget {format_duration(budget)}" if budget else "")
    )
    changed = settings.overrides
    parts = [
        f"iterations {', '.join(format_count(n) for n in settings.iters)}",
        f"protocol {headline_protocol(results)}",
        f"variants {', '.join(settings.variants)}" if settings.variants else "",
        mode,
        f"data {settings.data.label}" + (" (synthetic)" if settings.data.synthetic else ""),
        "overrides " + ", ".join(f"{k}={v}" for k, v in changed.items()) if changed else "",
    ]
    return ["Settings: " + " · ".join(part for part in parts if part)]


def command_line(results: RunResults) -> str:
    if results.command:
        return shlex.join(results.command)
    return str(results.metadata.get("command") or "")
