"""A busy machine: the lines that open the report, and the `!` on the cells it inflated.

When other processes used the cores a cell's threads needed (``CellResult.cpu_load``,
sampled while the cell ran), its times are inflated. The report says so before anything
else, with the exact command to rerun (``gpubench.results.cpuload.busy_machine_lines``), and
marks the cell's column in the time tables. Runs recorded before per-cell sampling keep the
old warning about the load average at the start (``notes.warning_lines``).
"""

from __future__ import annotations

from dataclasses import replace

from gpubench.report.document import Table
from gpubench.results.cpuload import CpuLoad, busy_machine_lines
from gpubench.results.model import CellResult, RunResults

MARK = "!"
LEGEND = (
    f"`{MARK}` = other processes used the cores this cell's threads needed while it ran: its "
    "times are inflated (see the first lines of the report)."
)


def cell_loads(results: RunResults) -> dict[str, CpuLoad]:
    """Every recorded per-cell CPU load, by cell id."""
    return {cell.key.id: cell.cpu_load for cell in results.cells if cell.cpu_load is not None}


def contended_ids(results: RunResults) -> set[str]:
    return {cell_id for cell_id, load in cell_loads(results).items() if load.contended}


def busy_lines(results: RunResults) -> list[str]:
    """The opening lines (empty when no cell was contended)."""
    return busy_machine_lines(cell_loads(results), list(results.command))


def mark_columns(table: Table, cells: list[CellResult], busy: set[str]) -> Table:
    """``table`` with `!` after each value of a contended cell's column.

    The group tables have one column per cell after the row label, in ``cells``' order
    (``tables.iteration_table`` and ``tables.phase_table``).
    """
    columns = {index + 1 for index, cell in enumerate(cells) if cell.key.id in busy}
    if not columns:
        return table
    headers = tuple(
        f"{header} {MARK}" if index in columns else header
        for index, header in enumerate(table.headers)
    )
    rows = tuple(
        tuple(
            f"{value} {MARK}" if index in columns and value else value
            for index, value in enumerate(row)
        )
        for row in table.rows
    )
    return replace(table, headers=headers, rows=rows)
