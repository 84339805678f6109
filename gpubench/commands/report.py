"""``gpubench report`` and ``gpubench compare``: re-render runs from their results.json alone."""

from __future__ import annotations

import sys
from pathlib import Path

from gpubench.errors import UsageError
from gpubench.results.io import load_results
from gpubench.results.model import RunResults

FORMATS = ("table", "markdown", "csv", "json")


def load_run(run_dir: str) -> RunResults:
    """A run folder's results, or a one-line UsageError saying what the folder lacks."""
    try:
        return load_results(Path(run_dir))
    except ValueError as error:
        raise UsageError(str(error)) from None


def run_report_command(run_dir: str, fmt: str) -> None:
    """Print a run as terminal tables, report.md, cells.csv or JSON (to stdout)."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    results = load_run(run_dir)
    from gpubench.report import render

    if fmt == "table":
        from rich.console import Console

        render.render_terminal(results, Console(highlight=False), run_dir=run_dir)
    elif fmt == "markdown":
        plot = Path(run_dir) / "crossover.png"
        sys.stdout.write(
            render.render_markdown(
                results, plot_file=plot.name if plot.is_file() else None, run_dir=run_dir
            )
        )
    elif fmt == "csv":
        render.cells_frame(results).to_csv(sys.stdout, index=False)
    else:
        sys.stdout.write(render.render_json(results, run_dir=run_dir) + "\n")


def run_compare_command(run_dirs: list[str]) -> None:
    """Line up two or more runs cell by cell and print speedups and implied crossovers."""
    from rich.console import Console

    from gpubench.report.compare import compare_runs, render_comparison

    if len(run_dirs) < 2:
        raise UsageError("compare needs at least two run folders (RUN_DIR RUN_DIR [...])")
    comparison = compare_runs([load_run(run_dir) for run_dir in run_dirs])
    render_comparison(comparison, Console(highlight=False))
