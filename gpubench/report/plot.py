"""crossover.png: modelled time to train vs iterations per device, and a text chart fallback.

matplotlib is optional (``gpubench[plot]``) and imported only here, lazily, with the Agg
canvas: no display, no pyplot global state. Without it the terminal and report.md get
``text_chart`` instead.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

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
    crossovers_of,
    device_label,
    failure_text,
    group_title,
    groups_of,
    hardware_name,
    headline_protocol,
    is_gpu,
    requested_iters,
)
from gpubench.results.costmodel import CostModel
from gpubench.results.frame import estimate_of
from gpubench.results.model import CellResult, Crossover, RunResults

PANEL_WIDTH_PX = 600
MIN_WIDTH_PX = 1200
HEIGHT_PX = 500
DPI = 100
CURVE_POINTS = 300
TEXT_BAR_WIDTH = 36
# Axis ticks a person reads at a glance (seconds, label).
DURATION_TICKS = [
    (1e-3, "1 ms"), (1e-2, "10 ms"), (0.1, "100 ms"), (1, "1 s"), (3, "3 s"), (10, "10 s"),
    (30, "30 s"), (60, "1 min"), (180, "3 min"), (600, "10 min"), (1800, "30 min"),
    (3600, "1 h"), (3 * 3600, "3 h"), (10 * 3600, "10 h"), (86400, "1 day"),
    (3 * 86400, "3 days"), (10 * 86400, "10 days"), (30 * 86400, "30 days"),
    (100 * 86400, "100 days"),
]  # fmt: skip


def matplotlib_available() -> bool:
    """Whether crossover.png can be drawn (matplotlib is an optional extra)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def figure_size_px(panels: int) -> tuple[int, int]:
    """Width × height of crossover.png: 1200×500 for one or two models, wider for more."""
    return max(MIN_WIDTH_PX, PANEL_WIDTH_PX * max(1, panels)), HEIGHT_PX


def plotted_groups(results: RunResults) -> list[GroupKey]:
    """One panel per model: its first batch size and variant with the most measured devices
    (a group whose GPU cell failed has no crossover to show)."""
    chosen: dict[str, tuple[int, GroupKey]] = {}
    for group, cells in groups_of(results).items():
        measured = sum(cell.phases is not None for cell in cells)
        if measured and measured > chosen.get(group[0], (0, group))[0]:
            chosen[group[0]] = (measured, group)
    return [group for _, group in chosen.values()]


def write_crossover_png(results: RunResults, path: Path) -> bool:
    """Draw crossover.png; False when matplotlib is not installed (nothing is written)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    groups = plotted_groups(results)
    width, height = figure_size_px(len(groups))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, max(1, len(groups)), squeeze=False)[0]
    protocol = headline_protocol(results)
    colours = _device_colours(results)
    for ax, group in zip(axes, groups, strict=False):
        _draw_panel(ax, results, group, protocol, colours)
    if not groups:
        axes[0].text(0.5, 0.5, "nothing was measured", ha="center", va="center")
        axes[0].set_axis_off()
    figure.suptitle(
        f"Time to train vs iterations (protocol {protocol}) — solid: measured range, "
        "dashed: extrapolated, ● measured run, ○ extrapolated with its range",
        fontsize=10,
    )
    figure.savefig(path, dpi=DPI, format="png")
    return True


def _device_colours(results: RunResults) -> dict[str, str]:
    """The same colour for a device in every panel; the CPU grey-blue, GPUs in strong hues."""
    palette = ["#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]
    colours: dict[str, str] = {}
    for cell in results.cells:
        label = device_label(cell, results)
        if label not in colours:
            cpu_like = label.startswith("cpu")
            colours[label] = "#4c72b0" if cpu_like and not colours else palette[len(colours) % 6]
    return colours


def _draw_panel(
    ax: Any, results: RunResults, group: GroupKey, protocol: str, colours: dict[str, str]
) -> None:
    from matplotlib.ticker import (
        FixedFormatter,
        FixedLocator,
        FuncFormatter,
        LogLocator,
        NullLocator,
    )

    cells = [cell for cell in groups_of(results)[group] if cell.phases is not None]
    crossovers = [c for c in crossovers_of(results, group, protocol) if c.kind == "at"]
    tested = requested_iters(results) or [1000]
    x_min = max(1.0, min(tested) / 50)  # the first few steps only show the first evaluation
    x_max = max(tested) * 2.0
    x_max = max([x_max] + [min(c.iters or 0, 100 * max(tested)) * 2 for c in crossovers])
    for cell in cells:
        if cell.cost is not None:
            _draw_cell(ax, results, cell, cell.cost, protocol, colours, (x_min, x_max))
    for crossover in crossovers:
        _mark_crossover(ax, crossover, colours, (x_min, x_max))
    _note_other_crossovers(ax, results, group, protocol)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(x_min, x_max)
    ax.set_xlabel("training iterations")
    ax.set_ylabel("time to train")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: format_count(value)))
    low, high = ax.get_ylim()
    ticks = [(seconds, label) for seconds, label in DURATION_TICKS if low <= seconds <= high]
    if len(ticks) >= 3:
        ax.yaxis.set_major_locator(FixedLocator([seconds for seconds, _ in ticks]))
        ax.yaxis.set_major_formatter(FixedFormatter([label for _, label in ticks]))
    else:  # a narrow range: 1-2-5 ticks, so that a time can still be read off
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_narrow_duration))
    ax.yaxis.set_minor_locator(NullLocator())
    ax.grid(True, which="major", alpha=0.3)
    ax.set_title(group_title(group))
    ax.legend(loc="best", fontsize=8)


def _narrow_duration(seconds: float, _position: Any = None) -> str:
    """Tick labels for a narrow time range: three significant digits, so no two repeat."""
    return f"{seconds:.3g} s" if seconds < 60 else format_duration(seconds)


def _draw_cell(
    ax: Any,
    results: RunResults,
    cell: CellResult,
    model: CostModel,
    protocol: str,
    colours: dict[str, str],
    x_range: tuple[float, float],
) -> None:
    """The modelled curve (solid up to the longest measured run, dashed beyond) and points."""
    label = device_label(cell, results)
    colour = colours[label]
    x_min, x_max = x_range
    ratio = (x_max / x_min) ** (1 / (CURVE_POINTS - 1))
    iters = sorted({max(1, round(x_min * ratio**k)) for k in range(CURVE_POINTS)})
    measured_up_to = max((run.iters for run in cell.runs if run.protocol == protocol), default=0)
    solid = [n for n in iters if n <= measured_up_to]
    dashed = [n for n in iters if n >= (solid[-1] if solid else 1)]
    name = f"{label} — {hardware_name(cell, results)}"
    if solid:
        ax.plot(solid, [model.predict(n, protocol) for n in solid], color=colour, label=name)
    ax.plot(
        dashed,
        [model.predict(n, protocol) for n in dashed],
        color=colour,
        linestyle="--",
        label=None if solid else name,
    )
    for n in requested_iters(results):
        estimate = estimate_of(results, cell, n, protocol)
        if estimate is None:
            continue
        if estimate.measured:
            ax.plot([n], [estimate.seconds], "o", color=colour, markersize=6)
        else:
            low, high = estimate.seconds - estimate.low_s, estimate.high_s - estimate.seconds
            ax.errorbar(
                [n], [estimate.seconds], yerr=[[low], [high]], fmt="o", color=colour,
                markerfacecolor="white", markersize=6, capsize=3,
            )  # fmt: skip


def _mark_crossover(
    ax: Any, crossover: Crossover, colours: dict[str, str], x_range: tuple[float, float]
) -> None:
    """A dotted line at n*, labelled on the side with more room."""
    assert crossover.iters is not None
    colour = colours.get(crossover.device, "black")
    ax.axvline(crossover.iters, color=colour, linestyle=":", linewidth=1.5)
    right_half = math.log(crossover.iters) > sum(map(math.log, x_range)) / 2
    ax.annotate(
        f"{crossover.device} faster\nfrom ~{format_count(round_significant(crossover.iters))}",
        xy=(crossover.iters, 0.97),
        xycoords=("data", "axes fraction"),
        xytext=(-4 if right_half else 4, 0),
        textcoords="offset points",
        ha="right" if right_half else "left",
        va="top",
        fontsize=9,
        color=colour,
        fontweight="bold",
    )


def _note_other_crossovers(ax: Any, results: RunResults, group: GroupKey, protocol: str) -> None:
    """Crossovers without a line on the axis ("from the first iteration", "until n",
    "never")."""
    lines = []
    for crossover in crossovers_of(results, group, protocol):
        if crossover.kind == "at":
            continue  # marked on the axis (_mark_crossover)
        ratio = crossover.step_ratio
        phrase = _crossover_words(crossover, with_reason=False)
        if crossover.kind == "from-first":
            lines.append(f"{crossover.device} {phrase} ({format_ratio(ratio)} per step)")
        elif crossover.kind in ("until", "never") and phrase and ratio:
            then = "then " if crossover.kind == "until" else ""
            slower = f"{then}{format_ratio(1 / ratio)} slower per step"
            lines.append(f"{crossover.device} {phrase} ({slower})")
        elif crossover.kind == "unknown":
            unmeasured = [c for c in groups_of(results)[group] if c.phases is None]
            why = ", ".join(f"{c.key.device} {failure_text(c)}" for c in unmeasured)
            lines.append(f"{crossover.device}: no verdict ({why or crossover.reason})")
    if not any(is_gpu(cell.key.device) for cell in groups_of(results)[group]):
        lines.append("no GPU measured: compare with a GPU run")
    if lines:
        ax.text(
            0.02, 0.97, "\n".join(lines), transform=ax.transAxes, va="top", fontsize=9,
            fontweight="bold", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
        )  # fmt: skip


def text_chart(results: RunResults) -> str:
    """Bars on a log scale per model and iteration count, for terminals without matplotlib."""
    protocol = headline_protocol(results)
    blocks = []
    for group, cells in groups_of(results).items():
        rows = [
            (n, device_label(cell, results), estimate)
            for n in requested_iters(results)
            for cell in cells
            if (estimate := estimate_of(results, cell, n, protocol)) is not None
        ]
        if not rows:
            continue
        times = [estimate.seconds for _, _, estimate in rows if estimate.seconds > 0]
        low, high = math.log10(min(times)), math.log10(max(times))
        width = max(len(label) for _, label, _ in rows)
        lines = [f"{group_title(group)}: time to train (log scale)"]
        previous = None
        for n, label, estimate in rows:
            count = format_count(n) if n != previous else ""
            previous = n
            share = (math.log10(estimate.seconds) - low) / (high - low) if high > low else 1.0
            bar = "█" * max(1, round(1 + share * (TEXT_BAR_WIDTH - 1)))
            lines.append(f"{count:>8}  {label:<{width}}  {bar} {format_estimate(estimate)}")
        lines += [
            f"  {c.device}: {_crossover_words(c)}" for c in crossovers_of(results, group, protocol)
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "(nothing measured to chart)"


def _crossover_words(crossover: Crossover, *, with_reason: bool = True) -> str:
    """ "faster from ~8,500 iterations", "faster until 1,234 iterations", "never faster
    (reason)", "no verdict (reason)": format.crossover_phrase in the chart's words."""
    phrase = crossover_phrase(crossover.kind, crossover.iters, verb="faster")
    if not phrase:
        return f"no verdict ({crossover.reason})"
    if crossover.kind == "never" and with_reason:
        return f"{phrase} ({crossover.reason})"
    return phrase
