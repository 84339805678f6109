"""The Scaling section: DDP cells against one rank, strong and weak scaling apart.

Built from ``gpubench.results.scaling`` on the stored cells, never refitted: per model, variant
and device kind, one table per scaling mode with throughput per device, speedup, scaling
efficiency and its spread, the all-reduce share, and the world-size crossover sentence
("2 ranks beat 1 from n iterations"). Efficiency and shares are measured (median step times
of the phases); crossovers come from the cells' cost models, extrapolated, and their sentence
names the per-iteration costs it compares (docs/distributed.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpubench.report.document import Block, Paragraph, Section, Show, Table, Tone
from gpubench.report.format import format_count, format_duration
from gpubench.results.model import CellResult, RunResults
from gpubench.results.scaling import (
    ScalingMode,
    ScalingPoint,
    ScalingRow,
    ScalingSeries,
    scaling_series,
    series_crossovers,
)

MODE_WORDS = {
    "strong": "Strong scaling (global batch fixed, split between the ranks)",
    "weak": "Weak scaling (batch per rank fixed, the global batch grows with the ranks)",
}
INTRO = (
    "Each world size > 1 trains under DistributedDataParallel (torchrun; gloo on CPU, NCCL on "
    "CUDA). Efficiency = throughput per device ÷ the smallest world size's, measured from the "
    "median steps, with the range the step quartiles allow; all-reduce share = (synchronising "
    "− `no_sync` step) ÷ synchronising step, measured. Crossovers are extrapolated from the "
    "cells' cost models, process-group init and DDP wrap in F: mean steps, evaluations included "
    "under the lecture protocol, so their per-iteration costs can differ from the median-step "
    "speedup; weak scaling compares the same samples trained, evaluated at the same samples."
)


@dataclass(frozen=True)
class ScalingGroup:
    """Cells that differ only by world size and scaling mode."""

    model: str
    variant: str
    device: str  # the kind: cpu, cuda, mps
    node_threads: int | None  # CPU threads of a node (threads per rank × ranks per node)

    @property
    def title(self) -> str:
        variant = "" if self.variant == "reference" else f", {self.variant}"
        threads = f" ({self.node_threads} threads per node)" if self.node_threads else ""
        return f"{self.model}{variant} · {self.device}{threads}"


def group_of(cell: CellResult, nnodes: int) -> ScalingGroup:
    key = cell.key
    kind = key.device.partition(":")[0]
    ranks_here = max(1, key.world_size // max(1, nnodes)) if key.distributed else 1
    threads = key.threads * ranks_here if key.threads else None
    return ScalingGroup(key.model, key.variant, kind, threads)


def point_of(cell: CellResult) -> ScalingPoint | None:
    """A measured cell as a scaling point (world size 1 from its single-device phases)."""
    if cell.status != "ok" or cell.phases is None:
        return None
    step = cell.phases.step
    shape = cell.distributed or {}
    world = cell.key.world_size
    batch_per_rank = int(shape.get("batch_per_rank") or cell.key.batch_size)
    return ScalingPoint(
        world_size=world,
        batch_per_rank=batch_per_rank,
        block_size=int(cell.config.get("block_size", 1)),
        step_s=step.median_s,
        step_q1_s=step.q1_s,
        step_q3_s=step.q3_s,
        allreduce_share=(cell.allreduce or {}).get("share") if cell.key.distributed else None,
        cost=cell.cost,
    )


def _share_text(cell: CellResult | None) -> str:
    found = (cell.allreduce if cell is not None else None) or {}
    if found.get("share") is None:
        return "—"
    low, high = found.get("share_q1"), found.get("share_q3")
    spread = f" ({low * 100:.1f}–{high * 100:.1f})" if low is not None and high is not None else ""
    return f"{found['share'] * 100:.1f} %{spread}"


def _fixed_text(cell: CellResult | None) -> str:
    shape = (cell.distributed if cell is not None else None) or {}
    init = shape.get("process_group_init_s")
    wrap = shape.get("ddp_wrap_s")
    if init is None:
        return "—"
    return f"{format_duration(float(init))} + {format_duration(float(wrap or 0.0))}"


def _row(row: ScalingRow, cell: CellResult | None) -> tuple[str, ...]:
    return (
        str(row.world_size),
        f"{row.batch_per_rank} × {row.world_size} = {row.global_batch}",
        format_count(row.tokens_per_s),
        format_count(row.tokens_per_s_per_device),
        f"{row.speedup:.2f}×",
        f"{row.efficiency:.2f} ({row.efficiency_low:.2f}–{row.efficiency_high:.2f})",
        _share_text(cell),
        _fixed_text(cell),
    )


def series_table(
    group: ScalingGroup,
    series: ScalingSeries,
    cells: dict[int, CellResult],
    sentences: list[str],
) -> Table:
    rows = tuple(_row(row, cells.get(row.world_size)) for row in series.rows)
    caption = " ".join(f"{sentence}." for sentence in sentences)
    return Table(
        title=f"{group.title} — {MODE_WORDS[series.mode]}",
        headers=(
            "ranks",
            "batch per rank × ranks",
            "tokens/s",
            "tokens/s per device",
            "speedup",
            "efficiency (spread)",
            "all-reduce share (q1–q3)",
            "process group + DDP wrap",
        ),  # fmt: skip
        rows=rows,
        terminal_columns=(0, 3, 4, 5, 6),
        caption=caption,
    )


def scaling_sections(results: RunResults, protocol: str) -> list[Section]:
    """The Scaling section, or nothing for a run without cells of world size > 1."""
    if not any(cell.key.distributed for cell in results.cells):
        return []
    nnodes = results.settings.nnodes
    groups: dict[ScalingGroup, list[CellResult]] = {}
    for cell in results.cells:
        groups.setdefault(group_of(cell, nnodes), []).append(cell)
    blocks: list[Block] = [Paragraph(INTRO, Tone.QUIET, Show.MARKDOWN)]
    for group, cells in groups.items():
        if not any(cell.key.distributed for cell in cells):
            continue
        for mode in ("strong", "weak"):
            blocks += mode_blocks(group, cells, mode, protocol)
    unmeasured = [
        cell.key.id for cell in results.cells if cell.key.distributed and cell.status != "ok"
    ]
    if unmeasured:
        blocks.append(
            Paragraph(
                f"Not in the tables (failed or reported by another node): {', '.join(unmeasured)}.",
                Tone.WARNING,
            )
        )
    return [Section("scaling", "Scaling over ranks", tuple(blocks))]


def mode_blocks(
    group: ScalingGroup, cells: list[CellResult], mode: ScalingMode, protocol: str
) -> list[Block]:
    """The tables of one scaling mode for one group (one per batch size it measured)."""
    measured = [
        (point, cell)
        for cell in cells
        if not cell.key.distributed or cell.key.scaling == mode
        if (point := point_of(cell)) is not None
    ]
    blocks: list[Block] = []
    for series in scaling_series([point for point, _ in measured], mode):
        first = series.rows[0]
        size = first.global_batch if mode == "strong" else first.batch_per_rank
        members = [
            (point, cell)
            for point, cell in measured
            if (point.global_batch if mode == "strong" else point.batch_per_rank) == size
        ]
        found = series_crossovers([point for point, _ in members], mode, protocol)
        sentences = [f"Crossover (cost models, extrapolated): {c.sentence}" for c in found]
        if not found:
            sentences = ["No crossover: a cell of this series has no cost model"]
        cells_by_world = {point.world_size: cell for point, cell in members}
        table = series_table(group, series, cells_by_world, sentences)
        blocks += [Paragraph(table.title, Tone.STRONG, Show.MARKDOWN), table]
    return blocks
