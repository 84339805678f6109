"""The report's tables: time to train, where the time goes, measured runs, throughput.

Each function returns a ``document.Table`` of text cells; numbers come from the stored
estimates and cost terms, formatted once (``format``) for every printer.
"""

from __future__ import annotations

from typing import Any

from gpubench.report.document import Table
from gpubench.report.format import (
    NOT_MEASURED,
    format_count,
    format_duration,
    format_estimate,
    format_flops,
    format_ratio,
    prediction_range_text,
)
from gpubench.report.queries import (
    GroupKey,
    baseline_cell,
    cell_name,
    device_label,
    dominant_terms,
    failure_text,
    group_title,
    groups_of,
    requested_iters,
)
from gpubench.results.costmodel import CostModel
from gpubench.results.frame import checked_prediction, estimate_of
from gpubench.results.model import CellResult, Estimate, Phases, RunResults
from gpubench.results.ranges import first_steps_excess

PREDICTION_TARGET = 0.10  # docs/design.md: a measured run should be within ±10 % of its prediction
TIE_MARGIN = 0.02  # devices within 2 % of each other share the win


def iteration_table(results: RunResults, group: GroupKey, protocol: str) -> Table:
    """Rows: iteration counts; columns: each device's time, speedups against the CPU, winner."""
    cells = groups_of(results)[group]
    base = baseline_cell(results, group, protocol)
    if base is not None:  # the baseline first: speedups divide its time
        cells = [base, *(cell for cell in cells if cell is not base)]
    others = [cell for cell in cells if cell is not base]
    compared = others if base is not None else []
    speedup_headers = (
        ["speedup"]
        if len(compared) == 1
        else [f"speedup {device_label(cell, results)}" for cell in compared]
    )
    headers = (
        group_title(group),
        *(device_label(cell, results) for cell in cells),
        *(speedup_headers if compared else []),
        *(["winner"] if len(cells) > 1 else []),
    )
    rows = []
    for iters in requested_iters(results):
        estimates = [estimate_of(results, cell, iters, protocol) for cell in cells]
        row = [format_count(iters)]
        row += [
            format_estimate(e) if e is not None else failure_text(cell)
            for cell, e in zip(cells, estimates, strict=True)
        ]
        if base is not None:
            base_estimate = estimates[0]
            row += [
                _speedup_text(base_estimate, estimate_of(results, cell, iters, protocol))
                for cell in compared
            ]
        if len(cells) > 1:
            row.append(_winner(results, cells, estimates))
        rows.append(tuple(row))
    return Table(
        group_title(group),
        headers,
        tuple(rows),
        row_label="iterations",
        caption=range_caption(results, cells, protocol),
    )


def range_caption(results: RunResults, cells: list[CellResult], protocol: str) -> str:
    """Under a table: what the ranges are and which term makes them wide, in measured terms."""
    ranked = list(dominant_terms(results, cells, protocol))
    if not ranked:
        return ""
    sources = [
        f"{device_label(cell, results)}: {cell.cost.drift_source}"
        for cell in cells
        if cell.cost is not None and cell.cost.drift_source
    ]
    text = (
        "~ extrapolated; the range is a 90 % interval from the measured spread of the fixed "
        f"costs, the step, the evaluation and the drift. Widest term: {ranked[0]}"
    )
    if len(ranked) > 1:
        text += f" (then {', '.join(ranked[1:])})"
    text += "."
    if sources:
        text += " Drift measured from " + "; ".join(sources) + "."
    return text


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


def phase_table(results: RunResults, group: GroupKey, protocol: str) -> Table:
    """Phases per device: fixed costs, steady step, evaluation, and where the time goes."""
    cells = groups_of(results)[group]
    columns = [_phase_column(results, cell, cell.cost, protocol) for cell in cells]
    labels = [label for label, _ in _phase_rows(results, None, None, protocol)]
    return Table(
        title=f"{group_title(group)}: where the time goes",
        headers=(group_title(group), *(device_label(cell, results) for cell in cells)),
        rows=tuple(
            (label, *(column[index] for column in columns)) for index, label in enumerate(labels)
        ),
        row_label="phase",
    )


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
        ("first steps beyond steady", phases and model and _first_steps_text(phases, model)),
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


def _first_steps_text(phases: Phases, model: CostModel) -> str:
    """The first steps' excess over the model's steady step, as F counts it."""
    excess = first_steps_excess(phases, model.step_s)
    return f"{format_duration(excess)} ({len(phases.first_steps_s)} steps)"


def _step_text(phases: Phases) -> str:
    step = phases.step
    noisy = " (noisy)" if step.noisy else ""
    return f"{format_duration(step.median_s)} ± {format_duration(step.iqr_s)}{noisy}"


def _steps_measured_text(phases: Phases) -> str:
    step = phases.step
    return f"{format_count(step.n_steps_measured)} (+{step.warmup_steps})"


def _eval_text(phases: Phases) -> str:
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


def measured_runs_table(results: RunResults) -> Table:
    """Every real full run beside the cost model's prediction for it (and its final losses,
    when any run recorded them)."""
    runs = [(cell, run) for cell in results.cells for run in cell.runs]
    with_losses = any(run.val_loss is not None for _, run in runs)
    rows = []
    for cell, run in runs:
        predicted, error = checked_prediction(results, cell, run)
        error_text = NOT_MEASURED if error is None else f"{error * 100:+.1f} %"
        if error is not None and abs(error) > PREDICTION_TARGET:
            error_text += " (outside target)"
        checked = estimate_of(results, cell, run.iters, run.protocol)
        row = [
            cell_name(cell, results),
            format_count(run.iters),
            run.protocol,
            format_duration(run.seconds),
            format_duration(predicted),
            error_text,
            _inside_text(checked, run.seconds),
        ]
        if with_losses:
            row += [_loss_text(run.train_loss), _loss_text(run.val_loss)]
        rows.append(tuple(row))
    inside = [row[6].startswith("yes") for row in rows if row[6] != NOT_MEASURED]
    coverage = (
        f" {sum(inside)} of {len(inside)} measured runs fall inside the range predicted "
        "without them (a 90 % interval)."
        if inside
        else ""
    )
    return Table(
        title="Measured full runs vs predictions",
        headers=("cell", "iterations", "protocol", "measured", "predicted", "error", "in range")
        + (("train loss", "val loss") if with_losses else ()),
        rows=tuple(rows),
        terminal_columns=(0, 1, 3, 4, 5, 6) + ((8,) if with_losses else ()),
        caption=f"Target: predictions within ±{PREDICTION_TARGET * 100:.0f} % of the measured "
        "time; each run is predicted without itself, from the phases and the run's other "
        "workers; error = (predicted − measured) ÷ measured." + coverage,
    )


def _inside_text(checked: Estimate | None, seconds: float) -> str:
    """ "yes (3.05–3.66 s)": whether a run fell inside the range predicted without it."""
    if checked is None or checked.predicted_low_s is None or checked.predicted_high_s is None:
        return NOT_MEASURED
    inside = checked.predicted_low_s <= seconds <= checked.predicted_high_s
    return f"{'yes' if inside else 'no'} ({prediction_range_text(checked)})"


def _loss_text(loss: float | None) -> str:
    return NOT_MEASURED if loss is None else f"{loss:.4f}"


def throughput_table(results: RunResults) -> Table:
    """Tokens/s, FLOP/s and MFU per cell, against the measured and the spec-sheet peak."""
    with_generate = any(c.phases and c.phases.generate_tokens_per_s for c in results.cells)
    rows = []
    for cell in results.cells:
        speed = cell.throughput
        if speed is None:
            continue
        row = [
            cell_name(cell, results),
            format_count(speed.tokens_per_step),
            format_count(speed.tokens_per_s),
            format_flops(speed.flops_per_step),
            format_flops(speed.flops_per_s, per_second=True),
            NOT_MEASURED if speed.mfu is None else f"{speed.mfu * 100:.1f} %",
            _peak_text(speed.peak_flops_measured, speed.dtype),
            _peak_text(speed.peak_flops_spec, speed.peak_flops_spec_source),
            flops_method_text(speed.flops_method),
        ]
        if with_generate:
            rate = cell.phases.generate_tokens_per_s if cell.phases else None
            row.append(NOT_MEASURED if rate is None else format_count(rate))
        rows.append(tuple(row))
    return Table(
        title="Throughput",
        headers=(
            "cell", "tokens/step", "tokens/s", "FLOP/step", "FLOP/s", "MFU",
            "measured peak", "spec peak", "model FLOPs",
        ) + (("generate tokens/s",) if with_generate else ()),
        rows=tuple(rows),
        terminal_columns=(0, 2, 4, 5, 6) + ((9,) if with_generate else ()),
        caption=throughput_caption(
            [c.throughput.flops_method for c in results.cells if c.throughput is not None]
        ),
    )  # fmt: skip


# How each cell's model FLOPs were obtained (Throughput.flops_method, set by bench/flops.py):
# the caption explains only the methods the run used.
FLOPS_METHODS = (
    ("no matmuls", "no matmuls: MFU does not apply",
     "no matmuls: the model has no matrix products, so MFU does not apply"),
    ("not counted", "not counted", "not counted: FlopCounterMode could not follow an op"),
    ("formula", "formula (PaLM)", "formula: 6·N + 12·L·H·Q·T per token (PaLM, appendix B)"),
    ("counted", "counted (FlopCounterMode)",
     "counted: torch's FlopCounterMode over one forward and backward"),
)  # fmt: skip


def _flops_method(method: str | None) -> tuple[str, str] | None:
    lowered = (method or "").lower()
    for needle, short, long in FLOPS_METHODS:
        if needle in lowered:
            return short, long
    return None


def flops_method_text(method: str | None) -> str:
    """A cell's FLOPs source in a few words (``—`` where the run did not record it)."""
    found = _flops_method(method)
    return found[0] if found is not None else (method or NOT_MEASURED)


def throughput_caption(methods: list[str | None]) -> str:
    """MFU's definition, then each FLOPs method the cells used, said once."""
    used = []
    for method in methods:
        found = _flops_method(method)
        if found is not None and found[1] not in used:
            used.append(found[1])
    how = ("; model FLOPs per step — " + "; ".join(used)) if used else ""
    return (
        "MFU = achieved FLOP/s ÷ the peak measured on the device (a matmul probe at the run's "
        f"dtype){how}; spec peak: the datasheet's dense figure for a known GPU."
    )


def _peak_text(flops: float | None, note: str | None) -> str:
    if flops is None:
        return NOT_MEASURED
    return format_flops(flops, per_second=True) + (f" ({note})" if note else "")
