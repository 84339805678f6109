"""The sentences at the top of a report: where the GPU starts to beat the CPU, one per model.

Each sentence reads the stored estimates and crossovers (``queries``) and says every number's
kind: measured, or extrapolated (``~``). Without a GPU cell they say why, and point to
``gpubench compare``.
"""

from __future__ import annotations

from pathlib import Path

from gpubench.report.format import (
    crossover_phrase,
    format_count,
    format_duration,
    format_estimate,
    format_ratio,
    round_significant,
)
from gpubench.report.queries import (
    GroupKey,
    baseline_cell,
    cell_for_device,
    crossovers_of,
    device_label,
    failure_text,
    groups_of,
    hardware_name,
    headline_protocol,
    is_cpu,
    is_gpu,
    requested_iters,
    run_folder,
    unreached_devices,
    verdict_line,
)
from gpubench.results.frame import estimate_of
from gpubench.results.model import BatchCrossover, CellResult, Crossover, RunResults


def summary_sentences(results: RunResults, *, run_dir: Path | str | None = None) -> list[str]:
    """One sentence per model (and batch size, variant), then the batch-size crossovers.

    Without any GPU cell the first sentence says so, and why; the last points to ``compare``
    with this run's folder (``run_dir``, where the run was read from or written to).
    """
    groups = groups_of(results)
    if not results.cells:
        interrupted = results.status == "interrupted"
        why = " (the run was interrupted before its first cell)" if interrupted else ""
        return [f"Nothing was measured yet{why}, so there is no answer in this run."]
    sentences = overrides_sentences(results)
    has_gpu = any(not is_cpu(cell.key.device) for cell in results.cells)
    if not has_gpu:
        return sentences + _cpu_only_sentences(results, groups, run_folder(results, run_dir))
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
    if not results.settings.overrides:
        return []
    changed = ", ".join(f"{key}={value}" for key, value in results.settings.overrides.items())
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
    base = baseline_cell(results, group, protocol)
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
    """One accelerator's verdict against the CPU: from the first iteration, from n*, until n
    (cheaper up front, dearer per step), never."""
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
    if crossover.kind == "until" and crossover.iters is not None:
        example = _example(results, base, device_cell, protocol, first=False)
        return (
            f"{who} {crossover_phrase(crossover.kind, crossover.iters)} against "
            f"{crossover.baseline or device_label(base, results)} — {crossover.reason}"
            + (f"; {example}" if example else "")
        )
    if crossover.kind == "never":
        example = _example(results, base, device_cell, protocol, first=False)
        against = crossover.baseline or device_label(base, results)
        return f"{who} never wins against {against} — {crossover.reason}" + (
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
    ours = estimate_of(results, device_cell, iters, protocol)
    theirs = estimate_of(results, base, iters, protocol)
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
    ours = estimate_of(results, device_cell, iters, protocol)
    theirs = estimate_of(results, base, iters, protocol)
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
        model = cell.cost
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
        estimates = [e for n in ends if (e := estimate_of(results, cell, n, protocol))]
        if estimates:
            text += ": " + ", ".join(
                f"{format_count(e.iters)} iterations {format_estimate(e, with_range=False)}"
                for e in estimates
            )
            if not all(e.measured for e in estimates):
                text += " (~ extrapolated)"
        parts.append(text)
    return "; ".join(parts) + "."


def _cpu_only_sentences(
    results: RunResults, groups: dict[GroupKey, list[CellResult]], folder: str
) -> list[str]:
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
        f"`gpubench compare {folder} GPU_RUN_DIR`."
    )
    return sentences


def _why_no_gpu(results: RunResults) -> str:
    """Why a run has no GPU cell: the doctor's verdict, or the devices the run asked for."""
    verdict = verdict_line(results)
    asked = list(results.settings.devices)
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
