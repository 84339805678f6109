"""``gpubench compare``: line up runs from different machines cell by cell.

Cells match on their whole key but the device: model, batch size, variant, world size and
scaling mode (a DDP cell lines up with the DDP cells of the other runs, never with a
single-device cell; docs/distributed.md), per protocol; thread counts and devices are the
columns. Times are the runs' stored estimates (measured where that run measured the count,
else extrapolated, with their ranges); counts one run was not asked for are read off its
stored cost terms. So a CPU-only laptop
run can see what another machine's GPU would do for it: the speedup per iteration count, and
the crossover the pair implies (``find_crossover`` on the two cells' stored cost terms).
Runs whose models differ (config or parameter count) are refused, never merged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gpubench.errors import UsageError
from gpubench.report.format import (
    crossover_phrase,
    format_count,
    format_duration,
    format_estimate,
    format_ratio,
    format_timestamp,
    round_significant,
)
from gpubench.report.queries import (
    device_label,
    failure_text,
    group_title,
    hardware_name,
    headline_protocol,
    is_cpu,
    report_protocols,
    requested_iters,
    verdict_line,
)
from gpubench.results.costmodel import CostModel, extrapolated, find_crossover
from gpubench.results.frame import estimate_of
from gpubench.results.model import CellResult, Estimate, RunResults

if TYPE_CHECKING:
    from rich.console import Console

GroupKey = tuple[str, int, str, int, str | None]
# (model, batch size, variant, world size, scaling): cells that differ only by device
CompareKey = tuple[str, int, str, int, str | None, str]  # a GroupKey and the protocol
# Keys of a cell's config that do not change what one step costs: a different max_iters
# in two runs does not make them incomparable (the sweep's own iteration counts are used).
CONFIG_KEYS_IGNORED = frozenset({"max_iters", "batch_size"})


SAME_STEP_COST = 1.03  # per-step costs closer than this are the same within run-to-run noise


@dataclass(frozen=True)
class ComparedRun:
    letter: str  # "A", "B", ...: short names for columns
    results: RunResults

    @property
    def description(self) -> str:
        devices = dict.fromkeys(hardware_name(cell, self.results) for cell in self.results.cells)
        return (
            f"{self.letter} = {self.results.run_id} ({format_timestamp(self.results.created_utc)})"
            f": {', '.join(devices)}"
        )


@dataclass(frozen=True)
class ComparedDevice:
    """One device of one run, as a column of a compared group."""

    run: ComparedRun
    cell: CellResult

    @property
    def label(self) -> str:
        """ "A cpu", "B cuda:0", "A cpu ×2 (weak)"; thread counts named when a run measured
        several."""
        key = self.cell.key
        if key.distributed:
            return f"{self.run.letter} {device_label(self.cell, self.run.results)}"
        same = [
            c
            for c in self.run.results.cells
            if group_key(c) == group_key(self.cell) and c.key.device == key.device
        ]
        threads = f" ({key.threads} threads)" if len(same) > 1 and key.threads else ""
        return f"{self.run.letter} {key.device}{threads}"

    @property
    def cost_model(self) -> CostModel | None:
        return self.cell.cost

    @property
    def is_cpu(self) -> bool:
        return is_cpu(self.cell.key.device)


@dataclass
class ImpliedCrossover:
    """Where ``device`` starts to beat ``baseline`` (a CPU), possibly across machines."""

    baseline: ComparedDevice
    device: ComparedDevice
    kind: str  # from-first | at | until | never | unknown
    iters: float | None  # at: first count from which it stays cheaper; until: last cheaper
    step_ratio: float | None  # baseline per-step cost / device per-step cost
    fixed_gap_s: float | None

    @property
    def sentence(self) -> str:
        who = f"{self.device.label} ({hardware_name(self.device.cell, self.device.run.results)})"
        against = f"{self.baseline.label}"
        if self.kind == "from-first":
            return (
                f"{who} beats {against} from the first iteration: "
                f"{format_ratio(self.step_ratio)} faster per step"
            )
        if self.kind == "at" and self.iters is not None:
            gain = (self.fixed_gap_s or 0.0) / self.iters if self.iters else 0.0
            return (
                f"{who} beats {against} from ~{format_count(round_significant(self.iters))} "
                f"iterations: it starts {format_duration(self.fixed_gap_s)} behind and gains "
                f"{format_duration(gain)} per step ({format_ratio(self.step_ratio)} per step)"
            )
        if self.kind == "until" and self.iters is not None and self.step_ratio:
            return (
                f"{who} {crossover_phrase(self.kind, self.iters)} against {against}: it starts "
                f"{format_duration(-(self.fixed_gap_s or 0.0))} ahead but is "
                f"{format_ratio(1 / self.step_ratio)} slower per step"
            )
        if self.kind == "never" and self.step_ratio and self.step_ratio > 1 / SAME_STEP_COST:
            return f"{who} and {against} cost the same per step (within {SAME_STEP_COST - 1:.0%})"
        if self.kind == "never" and self.step_ratio:
            return (
                f"{who} never beats {against}: per step it is "
                f"{format_ratio(1 / self.step_ratio)} slower"
            )
        return f"{who} vs {against}: no verdict, one of them was not measured"


@dataclass
class ComparedRow:
    iters: int
    estimates: list[Estimate | None]  # one per device column
    speedups: list[float | None]  # the baseline column's time / this column's time


@dataclass
class ComparedGroup:
    model: str
    batch_size: int
    variant: str
    protocol: str
    devices: list[ComparedDevice]
    world_size: int = 1
    scaling: str | None = None  # world size > 1: "strong" or "weak"
    baseline: int = 0  # the column speedups are against: the first measured CPU
    rows: list[ComparedRow] = field(default_factory=list)
    crossovers: list[ImpliedCrossover] = field(default_factory=list)

    @property
    def title(self) -> str:
        return _group_text((self.model, self.batch_size, self.variant, self.world_size,
                            self.scaling))  # fmt: skip


@dataclass
class Comparison:
    runs: list[ComparedRun]
    groups: list[ComparedGroup]
    protocol: str  # the headline protocol (the first run's)
    unmatched: list[str] = field(default_factory=list)  # "gpt b64 (A only)"

    def group(
        self,
        model: str,
        batch_size: int,
        variant: str = "reference",
        *,
        world_size: int = 1,
        scaling: str | None = None,
    ) -> ComparedGroup:
        wanted = (model, batch_size, variant, world_size, scaling, self.protocol)
        for group in self.groups:
            found = (group.model, group.batch_size, group.variant, group.world_size,
                     group.scaling, group.protocol)  # fmt: skip
            if found == wanted:
                return group
        raise KeyError(wanted[:-1])


def group_key(cell: CellResult) -> GroupKey:
    """The key cells are matched on across runs: everything but the device and threads."""
    key = cell.key
    return (key.model, key.batch_size, key.variant, key.world_size, key.scaling)


def _group_text(group: GroupKey) -> str:
    """ "gpt, batch 64"; a DDP group adds its ranks: "gpt, batch 64 · ×2 (weak)"."""
    model, batch, variant, world_size, scaling = group
    title = group_title((model, batch, variant))
    return title if world_size == 1 else f"{title} · ×{world_size} ({scaling})"


def compare_runs(runs: list[RunResults]) -> Comparison:
    """Line up the cells that the runs share; UsageError when configs differ or none match."""
    if len(runs) < 2:
        raise UsageError("compare needs at least two run folders")
    compared = [ComparedRun(chr(ord("A") + index), run) for index, run in enumerate(runs)]
    _check_model_configs(compared)
    keys = _common_keys(compared)
    iters = sorted({n for run in runs for n in requested_iters(run)})
    groups = [_build_group(compared, key, iters) for key in keys]
    return Comparison(compared, groups, headline_protocol(runs[0]), _unmatched(compared, keys))


def _unmatched(runs: list[ComparedRun], common: list[CompareKey]) -> list[str]:
    """Cells only some runs have, named with the runs that have them."""
    held: dict[GroupKey, list[str]] = {}
    shared = {key[:-1] for key in common}
    for run in runs:
        for key in _keys_of(run.results):
            group = key[:-1]
            if group not in shared:
                letters = held.setdefault(group, [])
                if run.letter not in letters:
                    letters.append(run.letter)
    return [f"{_group_text(group)} ({', '.join(letters)} only)" for group, letters in held.items()]


def _keys_of(run: RunResults) -> list[CompareKey]:
    return list(
        dict.fromkeys(
            (*group_key(cell), protocol) for cell in run.cells for protocol in report_protocols(run)
        )
    )


def _common_keys(runs: list[ComparedRun]) -> list[CompareKey]:
    first, *rest = (_keys_of(run.results) for run in runs)
    common = [key for key in first if all(key in other for other in rest)]
    if not common:
        held = "; ".join(
            f"{run.letter} has "
            + ", ".join(
                sorted({_group_text(key[:-1]) for key in _keys_of(run.results)}) or ["no cells"]
            )
            for run in runs
        )
        raise UsageError(
            f"cannot compare: the runs share no cell (same model, batch size, variant, world "
            f"size and protocol); {held}"
        )
    return common


def _model_config(cell: CellResult) -> dict[str, Any]:
    return {k: v for k, v in cell.config.items() if k not in CONFIG_KEYS_IGNORED}


def _check_model_configs(runs: list[ComparedRun]) -> None:
    """Refuse to line up a model whose config (or parameter count) differs between runs."""
    seen: dict[str, tuple[ComparedRun, CellResult]] = {}
    for run in runs:
        for cell in run.results.cells:
            model = cell.key.model
            if model not in seen:
                seen[model] = (run, cell)
                continue
            first_run, first = seen[model]
            differences = _differences(_model_config(first), _model_config(cell))
            if first.n_params and cell.n_params and first.n_params != cell.n_params:
                differences.append(f"parameters {first.n_params:,} vs {cell.n_params:,}")
            if differences:
                raise UsageError(
                    f"cannot compare {model}: its config differs between {first_run.letter} "
                    f"({first_run.results.run_id}) and {run.letter} ({run.results.run_id}): "
                    f"{', '.join(differences)}; compare runs made with the same model settings"
                )


def _differences(left: dict[str, Any], right: dict[str, Any]) -> list[str]:
    return [
        f"{key} {left.get(key)!r} vs {right.get(key)!r}"
        for key in sorted(set(left) | set(right))
        if left.get(key) != right.get(key)
    ]


def _estimate(device: ComparedDevice, iters: int, protocol: str) -> Estimate | None:
    """The run's stored figure for this count; a count it was not asked for, off its cost
    terms (with their range)."""
    stored = estimate_of(device.run.results, device.cell, iters, protocol)
    if stored is not None or device.cost_model is None:
        return stored
    return extrapolated(device.cost_model, iters, protocol)


def _build_group(runs: list[ComparedRun], key: CompareKey, iters: list[int]) -> ComparedGroup:
    model, batch, variant, world_size, scaling, protocol = key
    devices = [
        ComparedDevice(run, cell)
        for run in runs
        for cell in sorted(
            (c for c in run.results.cells if group_key(c) == key[:-1]),
            key=lambda c: not is_cpu(c.key.device),
        )
    ]
    group = ComparedGroup(model, batch, variant, protocol, devices, world_size, scaling,
                          _baseline_column(devices))  # fmt: skip
    for n in iters:
        estimates = [_estimate(device, n, protocol) for device in devices]
        base = estimates[group.baseline]
        speedups = [
            base.seconds / e.seconds if base is not None and e is not None and e.seconds else None
            for e in estimates
        ]
        group.rows.append(ComparedRow(n, estimates, speedups))
    group.crossovers = _implied_crossovers(devices, protocol)
    return group


def _baseline_column(devices: list[ComparedDevice]) -> int:
    """The first measured CPU column (else the first measured one): what speedups divide."""
    measured = [index for index, device in enumerate(devices) if device.cost_model is not None]
    cpus = [index for index in measured if devices[index].is_cpu]
    return (cpus or measured or [0])[0]


def _implied_crossovers(devices: list[ComparedDevice], protocol: str) -> list[ImpliedCrossover]:
    """Each run's CPU against every device of the other runs and its own accelerators.

    CPU-against-CPU pairs are listed once (the later run's CPU against the earlier one's).
    """
    found = []
    for baseline in (d for d in devices if d.is_cpu):
        for device in devices:
            if device is baseline:
                continue
            same_run = device.run is baseline.run
            if same_run and device.is_cpu:
                continue
            if device.is_cpu and device.run.letter < baseline.run.letter:
                continue
            found.append(_implied(baseline, device, protocol))
    return found


def _implied(baseline: ComparedDevice, device: ComparedDevice, protocol: str) -> ImpliedCrossover:
    base_model, device_model = baseline.cost_model, device.cost_model
    if base_model is None or device_model is None:
        return ImpliedCrossover(baseline, device, "unknown", None, None, None)
    kind, iters, ratio, gap = find_crossover(base_model, device_model, protocol)
    return ImpliedCrossover(baseline, device, kind, iters, ratio, gap)


# -- rendering --------------------------------------------------------------------------------


def comparison_rows(group: ComparedGroup) -> tuple[list[str], list[list[str]]]:
    """Headers and text rows of one group: each column's time and its speedup over the
    baseline column, "~52.1 s (0.94×)", kept narrow enough for an 80-column terminal."""
    headers = ["iters", *(device.label for device in group.devices)]
    rows = []
    for row in group.rows:
        cells = [
            _time_text(
                device,
                estimate,
                speedup if index != group.baseline else None,
                row.estimates[group.baseline],
            )
            for index, (device, estimate, speedup) in enumerate(
                zip(group.devices, row.estimates, row.speedups, strict=True)
            )
        ]
        rows.append([format_count(row.iters), *cells])
    return headers, rows


def _time_text(
    device: ComparedDevice, estimate: Estimate | None, speedup: float | None, base: Estimate | None
) -> str:
    if estimate is None:
        return failure_text(device.cell)
    text = format_estimate(estimate, with_range=False)
    if speedup is None or base is None:
        return text
    return f"{text} ({format_ratio(speedup)})"  # the time's own ~ marks an extrapolation


def render_comparison(comparison: Comparison, console: Console) -> None:
    """Per group a table of times and speedups, then the crossover each pair implies."""
    from rich.markup import escape
    from rich.table import Table

    console.print(f"[bold]gpubench compare · {len(comparison.runs)} runs[/]")
    for run in comparison.runs:
        verdict = verdict_line(run.results)
        console.print(escape(run.description) + (f" · {escape(verdict)}" if verdict else ""))
    console.print(
        "~ = extrapolated from that run's measured phases; (×) = speedup over the table's "
        f"baseline column; protocol {comparison.protocol}.",
        style="dim",
    )
    for group in comparison.groups:
        if group.protocol != comparison.protocol:
            continue
        headers, rows = comparison_rows(group)
        baseline = group.devices[group.baseline].label
        table = Table(
            title=f"{group.title} · (×) vs {baseline}", title_justify="left", title_style="bold"
        )
        for index, header in enumerate(headers):
            if index == 0:
                table.add_column(header, justify="left", no_wrap=True, min_width=6)
            else:
                table.add_column(header, justify="right")
        for row in rows:
            table.add_row(*row)
        console.print()
        console.print(table)
        for crossover in group.crossovers:
            if crossover.kind != "unknown":
                console.print(f"  • {escape(crossover.sentence)}")
        unmeasured = [d for d in group.devices if d.cost_model is None]
        if unmeasured:
            names = ", ".join(f"{d.label} {failure_text(d.cell)}" for d in unmeasured)
            console.print(f"  • no verdict with {escape(names)}")
    if comparison.unmatched:
        console.print(f"\nNot in every run: {escape('; '.join(comparison.unmatched))}", style="dim")
