"""Render a run's results: terminal tables, report.md, cells.csv and JSON.

Each table is built once as plain data (``TableData``) and written by two sinks, rich and
markdown, so that the terminal and report.md can never disagree. Rendering never measures and
never imports torch: a ``results.json`` copied from another machine renders the same.
"""

from __future__ import annotations

import json
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpubench.report.plot import matplotlib_available, text_chart, write_crossover_png
from gpubench.report.summary import (
    NOT_MEASURED,
    GroupKey,
    baseline_cell,
    device_label,
    doctor_fact,
    estimate_for,
    failure_text,
    format_bytes,
    format_count,
    format_duration,
    format_estimate,
    format_flops,
    format_ratio,
    format_timestamp,
    gpu_facts,
    group_title,
    groups_of,
    hardware_name,
    headline_protocol,
    is_cpu,
    report_protocols,
    requested_iters,
    run_dir_hint,
    summary_sentences,
    unreached_devices,
    unreached_models,
    verdict_line,
)
from gpubench.results.costmodel import CostModel, cell_cost_model
from gpubench.results.model import CellResult, Estimate, RunResults

if TYPE_CHECKING:
    import pandas
    from rich.console import Console

PREDICTION_TARGET = 0.10  # run.md: a measured run should be within ±10 % of its prediction
TIE_MARGIN = 0.02  # devices within 2 % of each other share the win
MATH_SWITCHES = (("tf32", "TF32"), ("autocast", "autocast"), ("compile", "torch.compile"))
BUSY_LOAD_SHARE = 0.5  # a 1-minute load average above this share of the cores: a busy machine
LEGEND = (
    "`~` = extrapolated from measured phases (see “Where the time goes”), with the range the "
    "step-time spread allows; plain = measured end to end."
)
PROTOCOL_WORDS = {
    "lecture": "the lecture's loop, evaluations included",
    "train": "training steps only, no evaluations",
}


@dataclass
class TableData:
    """One table as text cells: the same data for rich and for markdown."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    caption: str = ""
    row_label: str = ""  # the first column's header under a rich title ("iterations")
    terminal_columns: list[int] | None = None  # the columns a terminal shows (None: all)


# -- tables ---------------------------------------------------------------------------------


def iteration_table(results: RunResults, group: GroupKey, protocol: str) -> TableData:
    """Rows: iteration counts; columns: each device's time, speedups against the CPU, winner."""
    cells = groups_of(results)[group]
    base = baseline_cell(cells)
    others = [cell for cell in cells if cell is not base]
    compared = others if base is not None else []
    speedup_headers = (
        ["speedup"]
        if len(compared) == 1
        else [f"speedup {device_label(cell, results)}" for cell in compared]
    )
    table = TableData(
        title=group_title(group),
        row_label="iterations",
        headers=[
            group_title(group),
            *(device_label(cell, results) for cell in cells),
            *(speedup_headers if compared else []),
            *(["winner"] if len(cells) > 1 else []),
        ],
    )
    for iters in requested_iters(results):
        estimates = [estimate_for(results, cell, iters, protocol) for cell in cells]
        row = [format_count(iters)]
        row += [
            format_estimate(e) if e is not None else failure_text(cell)
            for cell, e in zip(cells, estimates, strict=True)
        ]
        if base is not None:
            base_estimate = estimates[0]
            row += [
                _speedup_text(base_estimate, estimate_for(results, cell, iters, protocol))
                for cell in compared
            ]
        if len(cells) > 1:
            row.append(_winner(results, cells, estimates))
        table.rows.append(row)
    return table


def _speedup_text(base: Estimate | None, other: Estimate | None) -> str:
    if base is None or other is None or other.seconds <= 0:
        return NOT_MEASURED
    approximate = "" if base.measured and other.measured else "~"
    return approximate + format_ratio(base.seconds / other.seconds)


def _winner(results: RunResults, cells: list[CellResult], estimates: list[Estimate | None]) -> str:
    timed = sorted(
        (e.seconds, device_label(cell, results))
        for cell, e in zip(cells, estimates, strict=True)
        if e is not None
    )
    if len(timed) < 2:
        return NOT_MEASURED
    (best, name), (second, other) = timed[0], timed[1]
    if second <= best * (1 + TIE_MARGIN):
        return f"tie ({name}, {other})"
    return name


def phase_table(results: RunResults, group: GroupKey, protocol: str) -> TableData:
    """Phases per device: fixed costs, steady step, evaluation, and where the time goes."""
    cells = groups_of(results)[group]
    table = TableData(
        title=f"{group_title(group)}: where the time goes",
        row_label="phase",
        headers=[group_title(group), *(device_label(cell, results) for cell in cells)],
    )
    models = [cell_cost_model(cell) for cell in cells]
    columns = [
        _phase_column(results, cell, model, protocol)
        for cell, model in zip(cells, models, strict=True)
    ]
    labels = [label for label, _ in _phase_rows(results, None, None, protocol)]
    for index, label in enumerate(labels):
        table.rows.append([label, *(column[index] for column in columns)])
    return table


def _phase_rows(
    results: RunResults, cell: CellResult | None, model: CostModel | None, protocol: str
) -> list[tuple[str, str]]:
    """(label, value) pairs of one device's column; labels alone when ``cell`` is None."""
    phases = cell.phases if cell is not None else None
    tested = requested_iters(results)
    ends = sorted({tested[0], tested[-1]}) if tested else []
    rows: list[tuple[str, Any]] = [
        ("startup (import torch)", phases and format_duration(phases.startup_s)),
        ("device init", phases and format_duration(phases.device_init_s)),
        ("data (read, encode, move)", phases and format_duration(phases.data_s)),
        ("build (model, optimizer)", phases and format_duration(phases.build_s)),
        ("first steps beyond steady", phases and _first_steps_text(phases)),
    ]
    if any(c.phases and c.phases.compile_s for c in results.cells):
        rows.append(("compile", phases and format_duration(phases.compile_s)))
    rows += [
        ("**fixed costs F**", model and format_duration(model.fixed_s)),
        ("step s (median ± IQR)", phases and _step_text(phases)),
        ("steps timed (+ warm-up)", phases and _steps_measured_text(phases)),
        ("one evaluation e", phases and _eval_text(phases)),
    ]
    rows += [
        (
            f"share at {format_count(n)} iters: F / steps / evals",
            model and _shares_text(model, n, protocol),
        )
        for n in ends
    ]
    fallback = failure_text(cell) if cell is not None else ""
    return [(label, value if value else fallback) for label, value in rows]


def _phase_column(
    results: RunResults, cell: CellResult, model: CostModel | None, protocol: str
) -> list[str]:
    return [value for _, value in _phase_rows(results, cell, model, protocol)]


def _first_steps_text(phases: Any) -> str:
    excess = sum(max(0.0, t - phases.step.median_s) for t in phases.first_steps_s)
    return f"{format_duration(excess)} ({len(phases.first_steps_s)} steps)"


def _step_text(phases: Any) -> str:
    step = phases.step
    noisy = " (noisy)" if step.noisy else ""
    return f"{format_duration(step.median_s)} ± {format_duration(step.iqr_s)}{noisy}"


def _steps_measured_text(phases: Any) -> str:
    step = phases.step
    return f"{format_count(step.n_steps_measured)} (+{step.warmup_steps})"


def _eval_text(phases: Any) -> str:
    text = format_duration(phases.eval_s)
    if phases.eval_scaled:
        text += f" (scaled from {phases.eval_batches_measured} of {phases.eval_iters} batches)"
    return text


def _shares_text(model: CostModel, iters: int, protocol: str) -> str:
    """ "2 / 80 / 18 %": what share of T(n) is fixed costs, steps and evaluations."""
    total = model.predict(iters, protocol)
    if total <= 0:
        return NOT_MEASURED
    fixed = model.fixed_s / total
    steps = iters * model.step_s / total
    evals = model.evaluations(iters, protocol) * model.eval_s / total
    return " / ".join(f"{share * 100:.0f}" for share in (fixed, steps, evals)) + " %"


def measured_runs_table(results: RunResults) -> TableData:
    """Every real full run beside the cost model's prediction for it (and its final losses,
    when any run recorded them)."""
    runs = [(cell, run) for cell in results.cells for run in cell.runs]
    with_losses = any(run.val_loss is not None for _, run in runs)
    table = TableData(
        title="Measured full runs vs predictions",
        headers=["cell", "iterations", "protocol", "measured", "predicted", "error"]
        + (["train loss", "val loss"] if with_losses else []),
        terminal_columns=[0, 1, 3, 4, 5] + ([7] if with_losses else []),
        caption=f"Target: predictions within ±{PREDICTION_TARGET * 100:.0f} % of the measured "
        "time; error = (predicted − measured) ÷ measured.",
    )
    for cell, run in runs:
        error = run.prediction_error
        error_text = NOT_MEASURED if error is None else f"{error * 100:+.1f} %"
        if error is not None and abs(error) > PREDICTION_TARGET:
            error_text += " (outside target)"
        row = [
            _cell_name(cell, results),
            format_count(run.iters),
            run.protocol,
            format_duration(run.seconds),
            format_duration(run.predicted_s),
            error_text,
        ]
        if with_losses:
            row += [_loss_text(run.train_loss), _loss_text(run.val_loss)]
        table.rows.append(row)
    return table


def _loss_text(loss: float | None) -> str:
    return NOT_MEASURED if loss is None else f"{loss:.4f}"


def _cell_name(cell: CellResult, results: RunResults) -> str:
    return f"{group_title(cell.key.group)} · {device_label(cell, results)}"


def devices_without_measured_runs(results: RunResults) -> list[str]:
    """Devices whose every number is extrapolated: no full run fitted the budget."""
    measured = {device_label(cell, results) for cell in results.cells if cell.runs}
    ok = {device_label(cell, results) for cell in results.cells if cell.phases is not None}
    return sorted(ok - measured)


def throughput_table(results: RunResults) -> TableData:
    """Tokens/s, FLOP/s and MFU per cell, against the measured and the spec-sheet peak."""
    with_generate = any(c.phases and c.phases.generate_tokens_per_s for c in results.cells)
    table = TableData(
        title="Throughput",
        headers=[
            "cell", "tokens/step", "tokens/s", "FLOP/step", "FLOP/s", "MFU",
            "measured peak", "spec peak",
        ] + (["generate tokens/s"] if with_generate else []),
        terminal_columns=[0, 2, 4, 5, 6] + ([8] if with_generate else []),
        caption="MFU = achieved FLOP/s ÷ the peak measured on the device (a matmul probe at "
        "the run's dtype); FLOPs per step: 6·N + 12·L·H·Q·T per token (PaLM, appendix B); "
        "spec peak: the datasheet's dense figure for a known GPU.",
    )  # fmt: skip
    for cell in results.cells:
        speed = cell.throughput
        if speed is None:
            continue
        row = [
            _cell_name(cell, results),
            format_count(speed.tokens_per_step),
            format_count(speed.tokens_per_s),
            format_flops(speed.flops_per_step),
            format_flops(speed.flops_per_s, per_second=True),
            NOT_MEASURED if speed.mfu is None else f"{speed.mfu * 100:.1f} %",
            _peak_text(speed.peak_flops_measured, speed.dtype),
            _peak_text(speed.peak_flops_spec, speed.peak_flops_spec_source),
        ]
        if with_generate:
            rate = cell.phases.generate_tokens_per_s if cell.phases else None
            row.append(NOT_MEASURED if rate is None else format_count(rate))
        table.rows.append(row)
    return table


def _peak_text(flops: float | None, note: str | None) -> str:
    if flops is None:
        return NOT_MEASURED
    return format_flops(flops, per_second=True) + (f" ({note})" if note else "")


# -- lists ----------------------------------------------------------------------------------


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
    data = results.settings.get("data") or {}
    if data.get("synthetic") and "synthetic" not in said:
        lines.append(
            f"synthetic tokens ({data.get('label', 'synthetic')}): timings are valid, "
            "losses are not meaningful"
        )
    if results.metadata.get("cuda_launch_blocking") and "cuda_launch_blocking" not in said:
        lines.append("CUDA_LAUNCH_BLOCKING=1 was set: GPU timings are meaningless")
    for cell in results.cells:
        if cell.phases is not None and cell.phases.step.noisy:
            lines.append(
                f"{cell.key.id}: noisy — the step time's IQR is "
                f"{cell.phases.step.spread:.0%} of its median (over 10 %); rerun on an idle machine"
            )
        lines += [
            f"{cell.key.id}: the {format_count(run.iters)}-iteration run took "
            f"{format_duration(run.seconds)}, its prediction is {run.prediction_error * 100:+.0f} %"
            " off"
            for run in cell.runs
            if run.prediction_error is not None and abs(run.prediction_error) > PREDICTION_TARGET
        ]
    lines += _load_warning(results.metadata)
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
    """The engine's notes on each cell (slow steps, scaled evaluation, failed full runs)."""
    return [
        f"{cell.key.id}: {note}"
        for cell in results.cells
        for note in cell.notes
        if not note.startswith("noisy")  # already a warning, with its advice
    ]


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
    if meta.get("fast_variant") and "fast" in results.settings.get("variants", []):
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
    if not settings:
        return []
    data = settings.get("data") or {}
    budget = settings.get("budget_s")
    mode = (
        "--full (every count measured)"
        if settings.get("full")
        else (f"budget {format_duration(budget)}" if budget else "")
    )
    overrides = settings.get("overrides") or {}
    parts = [
        f"iterations {', '.join(format_count(n) for n in settings.get('iters', []))}",
        f"protocol {headline_protocol(results)}",
        f"variants {', '.join(settings.get('variants', []))}" if settings.get("variants") else "",
        mode,
        f"data {data.get('label')}" + (" (synthetic)" if data.get("synthetic") else "")
        if data
        else "",
        "overrides " + ", ".join(f"{k}={v}" for k, v in overrides.items()) if overrides else "",
    ]
    return ["Settings: " + " · ".join(part for part in parts if part)]


def command_line(results: RunResults) -> str:
    if results.command:
        return shlex.join(results.command)
    return str(results.metadata.get("command") or "")


def title_line(results: RunResults) -> str:
    """ "gpubench run 2026-11-25T10:02Z · NVIDIA A800 80GB vs AMD EPYC 7763 (16 threads)"."""
    cpus = _unique(hardware_name(c, results) for c in results.cells if is_cpu(c.key.device))
    others = _unique(hardware_name(c, results) for c in results.cells if not is_cpu(c.key.device))
    if others and cpus:
        devices = f"{' and '.join(others)} vs {' and '.join(cpus)}"
    elif others:
        devices = " and ".join(others)
    elif cpus:
        devices = f"{' and '.join(cpus)}, CPU only"
    else:
        devices = "nothing measured"
    title = f"gpubench run {format_timestamp(results.created_utc)} · {devices}"
    if (results.settings.get("data") or {}).get("synthetic"):
        title += " · synthetic data"
    if results.settings.get("overrides"):
        title += " · models changed with --set"
    if results.status == "interrupted":
        title += " · interrupted"
    return title


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


def devices_line(results: RunResults) -> str:
    """ "cpu = AMD EPYC 7763 (16 threads) · cuda:0 = NVIDIA A800 80GB PCIe"."""
    names: dict[str, str] = {}
    for cell in results.cells:
        names.setdefault(device_label(cell, results), hardware_name(cell, results))
    return "Devices: " + " · ".join(f"{label} = {name}" for label, name in names.items())


def interrupted_line(results: RunResults) -> str:
    if results.status != "interrupted":
        return ""
    done = sum(1 for cell in results.cells if cell.status == "ok")
    missing = [
        f"{group_title(group)} on {device}"
        for group in groups_of(results)
        for device in unreached_devices(results, group)
    ] + unreached_models(results)
    return (
        f"This run was interrupted (Ctrl-C) after {done} measured cell{'s' if done != 1 else ''}; "
        + (f"not reached: {', '.join(missing)}; " if missing else "")
        + f"resume with `gpubench run --resume {run_dir_hint(results)}`."
    )


# -- markdown -------------------------------------------------------------------------------


def markdown_table(table: TableData) -> str:
    def line(values: list[str]) -> str:
        return "| " + " | ".join(value.replace("|", "\\|") for value in values) + " |"

    lines = [line(table.headers), line(["---"] * len(table.headers))]
    lines += [line(row) for row in table.rows]
    if table.caption:
        lines += ["", table.caption]
    return "\n".join(lines)


def render_markdown(
    results: RunResults, *, plot_file: str | None = None, plot_note: str | None = None
) -> str:
    """report.md, top-down: the answer, the tables, why, and what it was measured on.

    ``plot_file`` embeds the crossover plot; ``plot_note`` says why it is missing and puts the
    text chart in its place.
    """
    protocol = headline_protocol(results)
    groups = groups_of(results)
    parts = [f"# {title_line(results)}", ""]
    parts += [f"- {sentence}" for sentence in summary_sentences(results)]
    parts += ["", LEGEND + f" Protocol `{protocol}`: {PROTOCOL_WORDS.get(protocol, protocol)}."]
    if results.cells:
        parts += ["", devices_line(results)]
    if interrupted_line(results):
        parts += ["", f"**{interrupted_line(results)}**"]
    if plot_file:
        parts += ["", f"![Time to train vs iterations, per device]({plot_file})"]
    elif plot_note:
        parts += ["", plot_note, "", "```", text_chart(results), "```"]
    parts += ["", "## Time to train"]
    for group in groups:
        parts += ["", markdown_table(iteration_table(results, group, protocol))]
    for other in report_protocols(results)[1:]:
        parts += ["", f"### Protocol `{other}`: {PROTOCOL_WORDS.get(other, other)}"]
        for group in groups:
            parts += ["", markdown_table(iteration_table(results, group, other))]
    parts += ["", "## Where the time goes"]
    parts += [
        "",
        "T(n) = F + n·s + E(n)·e: fixed costs F, steady step s, evaluations E(n) of e each "
        f"(protocol `{protocol}`).",
    ]
    for group in groups:
        parts += ["", markdown_table(phase_table(results, group, protocol))]
    runs = measured_runs_table(results)
    parts += ["", "## Measured full runs vs predictions", ""]
    parts += [markdown_table(runs) if runs.rows else "No full run fitted the budget."]
    speed = throughput_table(results)
    if speed.rows:
        parts += ["", "## Throughput", "", markdown_table(speed)]
    parts += _markdown_list("Failed cells", failure_lines(results))
    parts += _markdown_list("Warnings", warning_lines(results))
    parts += _markdown_list("Notes", note_lines(results))
    parts += _markdown_list("Environment", environment_lines(results))
    parts += ["", "## Command", "", "```", command_line(results), "```", ""]
    return "\n".join(parts)


def _markdown_list(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    return ["", f"## {title}", ""] + [f"- {line}" for line in lines]


# -- terminal -------------------------------------------------------------------------------


def rich_table(table: TableData) -> Any:
    """A rich table that wraps to fit a narrow terminal, its row labels kept readable."""
    from rich.table import Table

    rich = Table(
        title=table.title,
        title_justify="left",
        caption=table.caption or None,
        caption_justify="left",
    )
    shown = table.terminal_columns or list(range(len(table.headers)))
    for index in shown:
        header = table.headers[index]
        if index == 0:
            rich.add_column(table.row_label or header, justify="left", min_width=12)
        else:
            rich.add_column(header.replace("speedup ", "speedup\n"), justify="right")
    for row in table.rows:
        values = [row[index] for index in shown]
        rich.add_row(values[0].replace("**", ""), *(_terminal_value(v) for v in values[1:]))
    return rich


def _terminal_value(value: str) -> str:
    """ "~1.1 min (±5 %)" on two lines, so that it fits a narrow terminal."""
    return value.replace(" (", "\n(")


def render_terminal(results: RunResults, console: Console) -> None:
    """The tables at the end of a run (and of ``gpubench report``)."""
    from rich.markup import escape

    protocol = headline_protocol(results)
    groups = groups_of(results)
    console.print(f"[bold]{escape(title_line(results))}[/]")
    for sentence in summary_sentences(results):
        console.print(f"• {escape(sentence)}")
    console.print(escape(LEGEND.replace("`", "")), style="dim")
    if interrupted_line(results):
        console.print(f"[bold yellow]{escape(interrupted_line(results))}[/]")
    for group in groups:
        console.print()
        console.print(rich_table(iteration_table(results, group, protocol)))
    if not matplotlib_available():
        console.print()
        console.print(escape(text_chart(results)), highlight=False)
    for group in groups:
        console.print()
        console.print(rich_table(phase_table(results, group, protocol)))
    for table in (measured_runs_table(results), throughput_table(results)):
        if table.rows:
            console.print()
            console.print(rich_table(table))
    for title, lines, style in (
        ("Failed cells", failure_lines(results), "red"),
        ("Warnings", warning_lines(results), "yellow"),
    ):
        if lines:
            console.print(f"\n[bold {style}]{title}[/]")
            for line in lines:
                console.print(f"  {escape(line)}")
    if verdict_line(results):
        console.print(f"\n{escape(verdict_line(results))}", style="dim")
    console.print(escape(command_line(results)), style="dim")


# -- csv and json ---------------------------------------------------------------------------

CSV_COLUMNS = [
    "run_id", "model", "batch_size", "variant", "device", "device_name", "threads", "status",
    "iters", "protocol", "measured", "kind", "seconds", "low_s", "high_s", "predicted_s",
    "prediction_error", "fixed_s", "step_s", "eval_s", "data", "synthetic",
]  # fmt: skip


def cells_frame(results: RunResults) -> pandas.DataFrame:
    """One tidy row per cell × iteration count × protocol; unmeasured cells have NaN times."""
    import pandas

    rows = [
        _csv_row(results, cell, iters, protocol)
        for cell in results.cells
        for protocol in report_protocols(results)
        for iters in requested_iters(results)
    ]
    frame = pandas.DataFrame(rows, columns=CSV_COLUMNS)
    frame["threads"] = frame["threads"].astype("Int64")
    frame["measured"] = frame["measured"].astype("boolean")
    return frame


def _csv_row(results: RunResults, cell: CellResult, iters: int, protocol: str) -> dict[str, Any]:
    estimate = estimate_for(results, cell, iters, protocol)
    model = cell_cost_model(cell)
    run = cell.run_for(iters, protocol)
    nan = math.nan
    return {
        "run_id": results.run_id,
        "model": cell.key.model,
        "batch_size": cell.key.batch_size,
        "variant": cell.key.variant,
        "device": cell.key.device,
        "device_name": hardware_name(cell, results),
        "threads": cell.key.threads,
        "status": cell.status,
        "iters": iters,
        "protocol": protocol,
        "measured": None if estimate is None else estimate.measured,
        "kind": "not measured"
        if estimate is None
        else ("measured" if estimate.measured else "extrapolated"),
        "seconds": estimate.seconds if estimate else nan,
        "low_s": estimate.low_s if estimate else nan,
        "high_s": estimate.high_s if estimate else nan,
        "predicted_s": estimate.predicted_s if estimate else nan,
        "prediction_error": run.prediction_error
        if run and run.prediction_error is not None
        else nan,
        "fixed_s": model.fixed_s if model else nan,
        "step_s": model.step_s if model else nan,
        "eval_s": model.eval_s if model else nan,
        "data": results.settings.get("data", {}).get("label"),
        "synthetic": bool(results.settings.get("data", {}).get("synthetic")),
    }


def write_csv(results: RunResults, path: Path) -> Path:
    cells_frame(results).to_csv(path, index=False)
    return path


def render_json(results: RunResults) -> str:
    """results.json's content, with the summary sentences filled in from the data."""
    data = results.to_dict()
    data["summary"] = summary_sentences(results)
    return json.dumps(data, indent=2)


# -- files ----------------------------------------------------------------------------------

PLOT_SKIPPED = (
    "The plot (crossover.png) was skipped: matplotlib is not installed "
    "(`pip install 'gpubench[plot]'`). A text chart stands in for it:"
)


def write_report_files(results: RunResults, run_dir: Path) -> list[Path]:
    """report.md, cells.csv and crossover.png (or a note and a text chart without matplotlib)."""
    run_dir = Path(run_dir)
    written = []
    plot_path = run_dir / "crossover.png"
    plotted = write_crossover_png(results, plot_path)
    if plotted:
        written.append(plot_path)
    markdown = render_markdown(
        results,
        plot_file=plot_path.name if plotted else None,
        plot_note=None if plotted else PLOT_SKIPPED,
    )
    report = run_dir / "report.md"
    report.write_text(markdown, encoding="utf-8")
    written.insert(0, report)
    written.insert(1, write_csv(results, run_dir / "cells.csv"))
    return written
