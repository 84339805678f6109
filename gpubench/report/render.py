"""The report's entry points: build the document once, print it where it is wanted.

``render_terminal`` (the tables at the end of a run), ``render_markdown`` (report.md),
``render_json`` and ``cells_frame`` (``gpubench report --format``), and ``write_report_files``
(report.md, cells.csv, crossover.png in a run's folder). What the report says is in
``sections``; how it looks is in ``markdown`` and ``terminal``. Rendering never measures,
never refits and never imports torch: a results.json copied from another machine renders
the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gpubench.report.document import Document
from gpubench.report.export import CSV_COLUMNS, cells_frame, print_json, write_csv
from gpubench.report.markdown import print_markdown
from gpubench.report.plot import matplotlib_available, write_crossover_png
from gpubench.report.sections import ReportContext, build_document
from gpubench.report.terminal import print_terminal
from gpubench.results.model import RunResults

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "CSV_COLUMNS", "PLOT_SKIPPED", "build_report", "cells_frame", "render_json",
    "render_markdown", "render_terminal", "write_csv", "write_report_files",
]  # fmt: skip

PLOT_SKIPPED = (
    "The plot (crossover.png) was skipped: matplotlib is not installed "
    "(`pip install 'gpubench[plot]'`). A text chart stands in for it:"
)


def build_report(
    results: RunResults,
    *,
    run_dir: Path | str | None = None,
    plot_file: str | None = None,
    plot_note: str | None = None,
    text_chart: bool = False,
) -> Document:
    """The report as data (see ``sections`` for what it holds and how to add a section)."""
    context = ReportContext(
        results, run_dir, plot_file, text_chart or plot_note is not None, plot_note
    )
    return build_document(context)


def render_markdown(
    results: RunResults,
    *,
    plot_file: str | None = None,
    plot_note: str | None = None,
    run_dir: Path | str | None = None,
) -> str:
    """report.md, top-down: the answer, the tables, why, and what it was measured on.

    ``plot_file`` embeds the crossover plot; ``plot_note`` says why it is missing and puts the
    text chart in its place; ``run_dir`` is the run's folder, named in the commands it suggests.
    """
    document = build_report(results, run_dir=run_dir, plot_file=plot_file, plot_note=plot_note)
    return print_markdown(document)


def render_terminal(
    results: RunResults, console: Console, *, run_dir: Path | str | None = None
) -> None:
    """The tables at the end of a run (and of ``gpubench report``); a text chart stands in
    for crossover.png where matplotlib is missing."""
    document = build_report(results, run_dir=run_dir, text_chart=not matplotlib_available())
    print_terminal(document, console)


def render_json(results: RunResults, *, run_dir: Path | str | None = None) -> str:
    """results.json's content, the summary sentences filled in, and the report document."""
    return print_json(results, build_report(results, run_dir=run_dir))


def write_report_files(results: RunResults, run_dir: Path) -> list[Path]:
    """report.md, cells.csv and crossover.png (or a note and a text chart without matplotlib)."""
    run_dir = Path(run_dir)
    plot_path = run_dir / "crossover.png"
    plotted = write_crossover_png(results, plot_path)
    markdown = render_markdown(
        results,
        plot_file=plot_path.name if plotted else None,
        plot_note=None if plotted else PLOT_SKIPPED,
        run_dir=run_dir,
    )
    report = run_dir / "report.md"
    report.write_text(markdown, encoding="utf-8")
    written = [report, write_csv(results, run_dir / "cells.csv")]
    return written + ([plot_path] if plotted else [])
