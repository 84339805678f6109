"""The sentences at the top of a report, and the words and number formats every renderer shares.

The summary answers "where does the GPU start to beat the CPU?" in one sentence per model.
The helpers below it (device labels, groups, number formats) live here so that the sentence,
the tables, the plot and ``compare`` all say the same thing in the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from gpubench.results.costmodel import PROTOCOLS, cell_cost_model, crossover_for
from gpubench.results.model import BatchCrossover, CellResult, Crossover, Estimate, RunResults

GroupKey = tuple[str, int, str]  # (model, batch size, variant), as CellKey.group
NOT_MEASURED = "—"

# -- numbers ------------------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """Seconds as a person says them: "850 ms", "21.0 s", "3.2 min", "1.9 h", "5.8 days"."""
    if seconds is None or math.isnan(seconds):
        return NOT_MEASURED
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 1e-4:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        ms = seconds * 1e3
        text = f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"
        return f"{text} ms" if float(text) < 1000 else "1.0 s"
    for unit, size, limit in (("s", 1, 60), ("min", 60, 60), ("h", 3600, 48)):
        value = seconds / size
        decimals = 0 if unit == "h" and value >= 10 else 1
        if round(value, decimals) < limit:
            return f"{value:.{decimals}f} {unit}"
    return f"{seconds / 86400:.1f} days"


def format_count(count: float) -> str:
    """Counts with thousands separators: "5,000"."""
    return f"{round(count):,}"


def round_significant(value: float, digits: int = 2) -> float:
    """8,473 -> 8,500: a crossover is an estimate, so it is never shown to the last step."""
    if value <= 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(value)))


def format_ratio(ratio: float | None) -> str:
    """A speedup or slowdown factor: "450×", "44×", "9.8×", "0.81×"."""
    if ratio is None or not math.isfinite(ratio):
        return NOT_MEASURED
    if ratio >= 99.5:
        return f"{ratio:,.0f}×"
    if ratio >= 9.95:
        return f"{ratio:.0f}×"
    if ratio >= 1.095:
        return f"{ratio:.1f}×"
    if ratio >= 0.995:
        return f"{ratio:.2f}×"  # near 1, one decimal would read "1.0× slower"
    return f"{ratio:.2f}×"


def format_estimate(estimate: Estimate | None, *, with_range: bool = True) -> str:
    """A time to train: plain when measured, "~1.9 h (±3 %)" when extrapolated."""
    if estimate is None:
        return NOT_MEASURED
    text = format_duration(estimate.seconds)
    if estimate.measured:
        return text
    if not with_range:
        return f"~{text}"
    return f"~{text} ({range_text(estimate)})"


def range_text(estimate: Estimate) -> str:
    """ "±5 %" when the range is symmetric, "−5/+21 %" when it is not (quartiles rarely are)."""
    if estimate.seconds <= 0:
        return "±0 %"
    below = max(1, round((estimate.seconds - estimate.low_s) / estimate.seconds * 100))
    above = max(1, round((estimate.high_s - estimate.seconds) / estimate.seconds * 100))
    return f"±{above} %" if below == above else f"−{below}/+{above} %"


def format_flops(flops: float | None, per_second: bool = False) -> str:
    """FLOP counts in engineering units: "1.1 TFLOP", "7.4 TFLOP/s"."""
    if flops is None:
        return NOT_MEASURED
    unit = "FLOP/s" if per_second else "FLOP"
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if flops >= size:
            return f"{flops / size:.3g} {prefix}{unit}"
    return f"{flops:.3g} {unit}"


def format_bytes(count: float | None) -> str:
    if count is None:
        return NOT_MEASURED
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def format_timestamp(created_utc: str) -> str:
    """ISO timestamp to minutes, "2026-11-25T10:02Z"; anything unparsable as it is."""
    try:
        moment = datetime.fromisoformat(created_utc.replace("Z", "+00:00"))
    except ValueError:
        return created_utc
    return moment.strftime("%Y-%m-%dT%H:%MZ")


# -- what a run holds -----------------------------------------------------------------------


def is_cpu(device: str) -> bool:
    return device == "cpu" or device.startswith("cpu:")


def is_gpu(device: str) -> bool:
    """CUDA devices and Apple's MPS are GPUs; nothing else is called one."""
    return device.startswith("cuda") or device == "mps"


def headline_protocol(results: RunResults) -> str:
    """The protocol the report leads with (``lecture`` unless the run asked otherwise)."""
    return str(results.settings.get("protocol") or "lecture")


def report_protocols(results: RunResults) -> list[str]:
    """Protocols with estimates, the headline first."""
    present = {e.protocol for estimates in results.estimates.values() for e in estimates}
    headline = headline_protocol(results)
    return (
        [headline]
        + [p for p in PROTOCOLS if p in present and p != headline]
        + sorted(present - set(PROTOCOLS) - {headline})
    )


def requested_iters(results: RunResults) -> list[int]:
    """The iteration counts the run was asked for, plus any it holds estimates for."""
    counts = {int(n) for n in results.settings.get("iters", [])}
    counts |= {e.iters for estimates in results.estimates.values() for e in estimates}
    return sorted(counts)


def cpu_configurations(results: RunResults) -> int:
    """How many CPU thread counts the run measured (more than one: labels name the threads)."""
    return len({cell.key.threads for cell in results.cells if is_cpu(cell.key.device)})


def device_label(cell: CellResult, results: RunResults) -> str:
    """ "cpu", "cuda:0"; a CPU measured at several thread counts is "cpu (4 threads)"."""
    key = cell.key
    if is_cpu(key.device) and key.threads and cpu_configurations(results) > 1:
        plural = "thread" if key.threads == 1 else "threads"
        return f"{key.device} ({key.threads} {plural})"
    return key.device


def hardware_name(cell: CellResult, results: RunResults) -> str:
    """What the device is: the GPU's name, or the CPU model with its thread count."""
    if is_cpu(cell.key.device):
        model = str(results.metadata.get("cpu_model") or "CPU")
        return f"{model} ({cell.key.threads} threads)" if cell.key.threads else model
    if cell.device_name:
        return cell.device_name
    # A failed cell never reported its device's name; the run's GPU facts know it.
    device = cell.key.device
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        named = [gpu for gpu in gpu_facts(results.metadata) if gpu.get("index", index) == index]
        if named and named[0].get("name"):
            return str(named[0]["name"])
    return device


def dig(data: Any, *path: str) -> Any:
    """``data[a][b]...`` or None where a level is missing."""
    for name in path:
        if not isinstance(data, dict):
            return None
        data = data.get(name)
    return data


def doctor_fact(metadata: dict[str, Any], *path: str) -> Any:
    """A fact the doctor recorded at the start of the run (``metadata["doctor"]`` holds its
    verdict with the facts under "facts", or the facts themselves)."""
    found = dig(metadata, "doctor", "facts", *path)
    return found if found is not None else dig(metadata, "doctor", *path)


def gpu_facts(metadata: dict[str, Any]) -> list[dict[str, Any]]:
    """GPUs as recorded at start: metadata["gpus"], or the doctor's NVML facts."""
    found = metadata.get("gpus")
    if not isinstance(found, list):
        found = doctor_fact(metadata, "nvml", "gpus")
    return [gpu for gpu in found if isinstance(gpu, dict)] if isinstance(found, list) else []


def run_dir_hint(results: RunResults) -> str:
    """Where this run's folder most likely is: ``--resume DIR``, or ``--out``/run id."""
    command = list(results.command)
    for index, word in enumerate(command):
        if word == "--resume" and index + 1 < len(command):
            return command[index + 1]
        if word.startswith("--resume="):
            return word.partition("=")[2]
    out = "reports"
    for index, word in enumerate(command):
        if word == "--out" and index + 1 < len(command):
            out = command[index + 1]
        elif word.startswith("--out="):
            out = word.partition("=")[2]
    return f"{out.rstrip('/')}/{results.run_id}"


def groups_of(results: RunResults) -> dict[GroupKey, list[CellResult]]:
    """Cells that differ only by device, in run order, CPU cells first within each group."""
    groups: dict[GroupKey, list[CellResult]] = {}
    for cell in results.cells:
        groups.setdefault(cell.key.group, []).append(cell)
    for cells in groups.values():
        cells.sort(key=lambda cell: not is_cpu(cell.key.device))
    return groups


def group_title(group: GroupKey) -> str:
    """ "gpt, batch 64"; the variant is named only when it is not the lecture's own."""
    model, batch, variant = group
    return f"{model}, batch {batch}" + ("" if variant == "reference" else f", {variant}")


def baseline_cell(cells: list[CellResult]) -> CellResult | None:
    """The group's first CPU cell: the engine's baseline for speedups and crossovers."""
    return next((cell for cell in cells if is_cpu(cell.key.device)), None)


def estimate_for(
    results: RunResults, cell: CellResult, iters: int, protocol: str
) -> Estimate | None:
    for estimate in results.estimates.get(cell.key.id, []):
        if estimate.iters == iters and estimate.protocol == protocol:
            return estimate
    return None


def crossovers_of(results: RunResults, group: GroupKey, protocol: str) -> list[Crossover]:
    """The run's crossovers for a group; derived from the recorded phases when absent
    (a run interrupted before the engine computed them)."""
    found = [
        c
        for c in results.crossovers
        if (c.model, c.batch_size, c.variant) == group and c.protocol == protocol
    ]
    if found or results.crossovers:
        return found
    cells = groups_of(results).get(group, [])
    base = baseline_cell(cells)
    if base is None:
        return []
    return [crossover_for(base, cell, protocol) for cell in cells if not is_cpu(cell.key.device)]


def cell_for_device(cells: Iterable[CellResult], device: str) -> CellResult | None:
    return next((cell for cell in cells if cell.key.device == device), None)


def failure_text(cell: CellResult) -> str:
    """Why a cell has no numbers: "failed (oom)", "interrupted", "not measured"."""
    if cell.status == "failed" and cell.failure is not None:
        return f"failed ({cell.failure.kind})"
    if cell.status == "interrupted":
        return "interrupted"
    return "not measured"


def unreached_devices(results: RunResults, group: GroupKey) -> list[str]:
    """Devices the run asked for that a group has no cell for (a sweep stopped before them)."""
    present = {cell.key.device for cell in results.cells if cell.key.group == group}
    return [str(d) for d in results.settings.get("devices", []) if str(d) not in present]


def unreached_models(results: RunResults) -> list[str]:
    """Models the run asked for that have no cell at all."""
    present = {cell.key.model for cell in results.cells}
    return [str(m) for m in results.settings.get("models", []) if str(m) not in present]


def verdict_line(results: RunResults) -> str:
    return str(results.metadata.get("verdict") or "").strip()


# -- the sentences --------------------------------------------------------------------------


def summary_sentences(results: RunResults) -> list[str]:
    """One sentence per model (and batch size, variant), then the batch-size crossovers.

    Without any GPU cell the first sentence says so, and why; the last points to ``compare``.
    """
    groups = groups_of(results)
    if not results.cells:
        interrupted = results.status == "interrupted"
        why = " (the run was interrupted before its first cell)" if interrupted else ""
        return [f"Nothing was measured yet{why}, so there is no answer in this run."]
    sentences = overrides_sentences(results)
    has_gpu = any(not is_cpu(cell.key.device) for cell in results.cells)
    if not has_gpu:
        return sentences + _cpu_only_sentences(results, groups)
    protocol = headline_protocol(results)
    sentences += [_group_sentence(results, g, cells, protocol) for g, cells in groups.items()]
    sentences += [
        _batch_sentence(b)
        for b in results.batch_crossovers
        if len(b.batch_sizes) > 1 and b.from_batch_size is not None
    ]
    return sentences


def overrides_sentences(results: RunResults) -> list[str]:
    """A warning first when ``--set`` changed the models: these are not the lecture's numbers."""
    overrides = results.settings.get("overrides") or {}
    if not overrides:
        return []
    changed = ", ".join(f"{key}={value}" for key, value in overrides.items())
    sizes = {cell.key.model: cell.n_params for cell in results.cells if cell.n_params is not None}
    counts = ", ".join(f"{model} {count:,} parameters" for model, count in sizes.items())
    return [
        f"Settings changed with --set ({changed}): these are not the lecture models' figures"
        + (f" ({counts})." if counts else ".")
    ]


def _group_prefix(group: GroupKey) -> str:
    """ "gpt (batch 64)", "gpt (batch 64, fast)"."""
    model, batch, variant = group
    return f"{model} (batch {batch}{'' if variant == 'reference' else ', ' + variant})"


def _device_word(device: str) -> str:
    return "the GPU" if is_gpu(device) else device


def _group_sentence(
    results: RunResults, group: GroupKey, cells: list[CellResult], protocol: str
) -> str:
    base = baseline_cell(cells)
    prefix = _group_prefix(group)
    if base is None:
        return f"{prefix}: no CPU cell was measured, so there is no crossover; " + _figures(
            results, cells, protocol
        )
    if all(cell.phases is None for cell in cells):
        missing = [f"{device_label(c, results)} {failure_text(c)}" for c in cells]
        missing += [f"{device} not reached" for device in unreached_devices(results, group)]
        return f"{prefix}: no numbers — {', '.join(missing)}."
    crossovers = crossovers_of(results, group, protocol)
    if not crossovers:
        return f"{prefix}: " + _figures(results, cells, protocol)
    several = len(crossovers) > 1
    clauses = [
        _crossover_clause(results, cells, base, crossover, protocol, name_device=several)
        for crossover in crossovers
    ]
    return f"{prefix}: " + "; ".join(clauses) + "."


def _crossover_clause(
    results: RunResults,
    cells: list[CellResult],
    base: CellResult,
    crossover: Crossover,
    protocol: str,
    *,
    name_device: bool,
) -> str:
    """One accelerator's verdict against the CPU: from the first iteration, from n*, never."""
    device = crossover.device
    device_cell = cell_for_device(cells, device)
    who = device if name_device or not is_gpu(device) else f"{_device_word(device)} ({device})"
    if crossover.kind == "from-first":
        example = _example(results, base, device_cell, protocol, first=True)
        return (
            f"{who} wins from the first iteration — about {format_ratio(crossover.step_ratio)} "
            "faster per step (measured)" + (f"; {example}" if example else "")
        )
    if crossover.kind == "at" and crossover.iters is not None:
        return _from_n_star_clause(results, base, device_cell, crossover, protocol, who)
    if crossover.kind == "never":
        example = _example(results, base, device_cell, protocol, first=False)
        return f"{who} never wins against {device_label(base, results)} — {crossover.reason}" + (
            f"; {example}" if example else ""
        )
    missing = [c for c in cells if c.phases is None]
    why = ", ".join(f"{device_label(c, results)} {_failure_reason(c)}" for c in missing)
    return f"no verdict for {device} — {why or crossover.reason}"


def _from_n_star_clause(
    results: RunResults,
    base: CellResult,
    device_cell: CellResult | None,
    crossover: Crossover,
    protocol: str,
    who: str,
) -> str:
    """ "wins only from ~8,500 iterations: it starts 3.4 s behind and gains 0.4 ms per step";
    then how far behind it still is at the longest tested count below n*."""
    assert crossover.iters is not None
    gap = crossover.fixed_gap_s or 0.0
    gain = gap / crossover.iters if crossover.iters > 0 else 0.0
    text = (
        f"{who} wins only from ~{format_count(round_significant(crossover.iters))} "
        f"iterations: it starts {format_duration(gap)} behind (fixed costs) and gains "
        f"{format_duration(gain)} per step"
    )
    tested = requested_iters(results)
    if tested and crossover.iters > max(tested):
        text += f", beyond the tested range (up to {format_count(max(tested))})"
    behind = [n for n in tested if n < crossover.iters]
    if behind and device_cell is not None:
        still = _still_behind(results, base, device_cell, max(behind), protocol)
        text += f"; {still}" if still else ""
    return text


def _failure_reason(cell: CellResult) -> str:
    """ "failed (crash: the worker died from signal SIGSEGV)"."""
    if cell.failure is not None:
        return f"failed ({cell.failure.kind}: {cell.failure.message.rstrip('.')})"
    return failure_text(cell)


def _example(
    results: RunResults,
    base: CellResult,
    device_cell: CellResult | None,
    protocol: str,
    *,
    first: bool,
) -> str:
    """ "500 iterations: cuda:0 21.0 s vs cpu ~1.9 h (extrapolated)"."""
    tested = requested_iters(results)
    if not tested or device_cell is None:
        return ""
    iters = tested[0] if first else tested[-1]
    ours = estimate_for(results, device_cell, iters, protocol)
    theirs = estimate_for(results, base, iters, protocol)
    if ours is None or theirs is None:
        return ""
    flag = "measured" if ours.measured and theirs.measured else "extrapolated"
    return (
        f"{format_count(iters)} iterations: {device_label(device_cell, results)} "
        f"{format_estimate(ours, with_range=False)} vs {device_label(base, results)} "
        f"{format_estimate(theirs, with_range=False)} ({flag})"
    )


def _still_behind(
    results: RunResults, base: CellResult, device_cell: CellResult, iters: int, protocol: str
) -> str:
    ours = estimate_for(results, device_cell, iters, protocol)
    theirs = estimate_for(results, base, iters, protocol)
    if ours is None or theirs is None:
        return ""
    difference = ours.seconds - theirs.seconds
    word = "slower" if difference > 0 else "faster"
    flag = "measured" if ours.measured and theirs.measured else "extrapolated"
    return (
        f"at {format_count(iters)} iterations it is still {format_duration(abs(difference))} "
        f"{word} ({device_label(base, results)} {format_estimate(theirs, with_range=False)} vs "
        f"{device_label(device_cell, results)} {format_estimate(ours, with_range=False)}, {flag})"
    )


def _figures(results: RunResults, cells: list[CellResult], protocol: str) -> str:
    """Per device: step time, fixed costs and the time for the smallest and largest count."""
    parts = []
    for cell in cells:
        model = cell_cost_model(cell)
        label = device_label(cell, results)
        if model is None:
            parts.append(f"{label} {failure_text(cell)}")
            continue
        text = (
            f"{label} takes {format_duration(model.step_s)} per step after "
            f"{format_duration(model.fixed_s)} of fixed costs"
        )
        tested = requested_iters(results)
        ends = sorted({tested[0], tested[-1]}) if tested else []
        estimates = [e for n in ends if (e := estimate_for(results, cell, n, protocol))]
        if estimates:
            text += ": " + ", ".join(
                f"{format_count(e.iters)} iterations {format_estimate(e, with_range=False)}"
                for e in estimates
            )
            if not all(e.measured for e in estimates):
                text += " (~ extrapolated)"
        parts.append(text)
    return "; ".join(parts) + "."


def _cpu_only_sentences(results: RunResults, groups: dict[GroupKey, list[CellResult]]) -> list[str]:
    protocol = headline_protocol(results)
    cpus = sorted({hardware_name(c, results) for c in results.cells if is_cpu(c.key.device)})
    sentences = [
        f"No GPU was measured {_why_no_gpu(results)}. There is no crossover here; the "
        f"figures below are this machine's CPU: {', '.join(cpus) or 'CPU'}."
    ]
    for group, cells in groups.items():
        prefix = _group_prefix(group)
        sentences.append(f"{prefix}: " + _figures(results, cells, protocol))
    sentences.append(
        "To see where a GPU would win, compare with a run from a GPU machine: "
        f"`gpubench compare {run_dir_hint(results)} GPU_RUN_DIR`."
    )
    return sentences


def _why_no_gpu(results: RunResults) -> str:
    """Why a run has no GPU cell: the doctor's verdict, or the devices the run asked for."""
    verdict = verdict_line(results)
    asked = [str(d) for d in results.settings.get("devices", [])]
    asked_gpus = [device for device in asked if is_gpu(device)]
    if asked_gpus and results.status == "interrupted":
        return f"in this run: it was interrupted before reaching {', '.join(asked_gpus)}"
    if verdict.lower().startswith("cuda ready") and asked and not asked_gpus:
        return f"in this run: it asked only for {', '.join(asked)} (the doctor: {verdict})"
    return f"on this machine — {verdict}" if verdict else "on this machine"


def _batch_sentence(batch: BatchCrossover) -> str:
    """ "bigram, batch size: the GPU (cuda:1) is cheaper per step than cpu from batch 512 up"."""
    tested = ", ".join(map(str, batch.batch_sizes))
    where = (
        "at every tested batch size"
        if batch.from_batch_size == min(batch.batch_sizes)
        else f"from batch {batch.from_batch_size} up"
    )
    return (
        f"{batch.model}, batch size: {_device_word(batch.device)} ({batch.device}) is cheaper "
        f"per step than {batch.baseline} {where} (tested: {tested})."
    )
