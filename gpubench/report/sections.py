"""What the report says, in order: one builder per section, listed once in ``SECTIONS``.

``build_document`` runs each builder on the run and collects the sections it returns; the
printers lay the document out (``markdown``, ``terminal``, ``export``). Nothing here prints,
measures or refits: builders read the stored results through ``queries`` and format numbers
through ``format``.

Adding a section is one edit: write a builder that returns the section (or nothing when the
run has nothing to say) and put it in ``SECTIONS`` where it should appear. For example, a
warning at the top when the machine was busy::

    def busy_machine_section(report: ReportContext) -> list[Section]:
        load = report.results.metadata.get("load_average_start") or []
        if not load or load[0] < 1.0:
            return []
        return [Section("busy", "Busy machine", (Paragraph(f"load {load[0]:.2f}", Tone.WARNING),))]

    SECTIONS = (busy_machine_section, summary_section, ...)

Blocks only one printer should show carry ``show=Show.MARKDOWN`` or ``Show.TERMINAL``; a whole
section can be limited the same way (``Section.show``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from gpubench.report.busy import LEGEND as BUSY_LEGEND
from gpubench.report.busy import busy_lines, contended_ids, mark_columns
from gpubench.report.document import (
    Block,
    Bullets,
    Code,
    Document,
    Image,
    Paragraph,
    Section,
    Show,
    Table,
    Tone,
)
from gpubench.report.format import format_timestamp
from gpubench.report.notes import (
    command_line,
    environment_lines,
    failure_lines,
    note_lines,
    warning_lines,
)
from gpubench.report.plot import text_chart
from gpubench.report.predicted import assumption_lines, check_rows, gpu_checks
from gpubench.report.queries import (
    cell_name,
    device_label,
    group_title,
    groups_of,
    hardware_name,
    headline_protocol,
    is_cpu,
    report_protocols,
    run_folder,
    unreached_devices,
    unreached_models,
    verdict_line,
)
from gpubench.report.regimes import has_profiles, regime_lines
from gpubench.report.scaling import scaling_sections
from gpubench.report.sentences import overrides_sentences, summary_sentences
from gpubench.report.tables import (
    iteration_table,
    measured_runs_table,
    phase_table,
    throughput_table,
)
from gpubench.results.model import RunResults

LEGEND = (
    "`~` = extrapolated from measured phases (see “Where the time goes”), with the range the "
    "step-time spread allows; plain = measured end to end."
)
PROTOCOL_WORDS = {
    "lecture": "the lecture's loop, evaluations included",
    "train": "training steps only, no evaluations",
}
PLOT_ALT = "Time to train vs iterations, per device"
# The GPUs the CPU-only report's pointer to ``gpubench predict`` names: the seed's A800, the
# T4 of free notebooks, a current datacenter part (all in gpubench.predict.gpus).
PREDICT_GPUS = "a800-80gb-pcie,t4,h100-sxm5"
REGIME_INTRO = (
    "From each cell's op profile (a few steps profiled after the timed phases, on the device "
    "that ran them): the larger of host overhead (ops × host time per op), memory (bytes ÷ "
    "measured bandwidth) and compute (FLOPs ÷ measured matmul rate) names the regime "
    "(docs/predict.md)."
)
PREDICTED_CAPTION = (
    "measured: this run's figures (`~` extrapolated from its measured phases); predicted: the "
    "op model (docs/predict.md) from the op profile of the CPU cell of the same model, batch "
    "size and variant, before looking at the GPU — what `gpubench predict` says. Band: "
    "optimistic to pessimistic assumptions, widened by the model's self-check error."
)


@dataclass(frozen=True)
class ReportContext:
    """A run and where its report goes: what every section builder is given."""

    results: RunResults
    run_dir: Path | str | None = None  # the run's folder, as the user named it
    plot_file: str | None = None  # crossover.png beside the report: link it
    text_chart: bool = False  # no plot: show the text chart in its place
    plot_note: str | None = None  # why there is no plot (said above the text chart)

    @property
    def protocol(self) -> str:
        return headline_protocol(self.results)


SectionBuilder = Callable[[ReportContext], Iterable[Section]]


# -- the sections ---------------------------------------------------------------------------


def busy_machine_section(report: ReportContext) -> list[Section]:
    """Before anything else: other processes inflated these cells, and the command to rerun."""
    lines = busy_lines(report.results)
    if not lines:
        return []
    blocks = tuple(Paragraph(line, Tone.WARNING) for line in lines)
    return [Section("busy-machine", "", blocks, tone=Tone.WARNING)]


def summary_section(report: ReportContext) -> list[Section]:
    """The answer first: one sentence per model, the legend, the devices, the plot."""
    results = report.results
    protocol = report.protocol
    sentences = summary_sentences(results, run_dir=report.run_dir)
    pointer = predict_pointer(report)
    if pointer:  # after the sentence that says no GPU was measured, and why
        at = min(len(sentences), len(overrides_sentences(results)) + 1)
        sentences = [*sentences[:at], pointer, *sentences[at:]]
    blocks: list[Block] = [
        Bullets(tuple(sentences)),
        Paragraph(
            f"{LEGEND} Protocol `{protocol}`: {PROTOCOL_WORDS.get(protocol, protocol)}.",
            Tone.QUIET,
        ),
    ]
    if results.cells:
        blocks.append(Paragraph(devices_line(results)))
    if results.status == "interrupted":
        blocks.append(Paragraph(interrupted_line(report), Tone.STRONG))
    if report.plot_file:
        blocks.append(Image(report.plot_file, PLOT_ALT))
    elif report.text_chart:
        if report.plot_note:
            blocks.append(Paragraph(report.plot_note))
        blocks.append(Code(text_chart(results)))
    return [Section("summary", "", tuple(blocks))]


def predict_pointer(report: ReportContext) -> str:
    """A CPU-only run: the command that asks the op model what a GPU would do."""
    results = report.results
    if not any(c.phases is not None for c in results.cells) or any(
        not is_cpu(c.key.device) for c in results.cells
    ):
        return ""
    command = f"gpubench predict {run_folder(results, report.run_dir)} --gpu {PREDICT_GPUS}"
    if not has_profiles(results):
        return (
            "To see what a GPU would do without one, ask the op model (predicted, not "
            f"measured): `{command} --profile-now` (this run has no op profiles; "
            "`--profile-now` profiles its cells on this CPU first)."
        )
    return (
        "To see what a GPU would do without one, ask the op model (predicted, not measured) "
        f"from this run's op profiles: `{command}`."
    )


def _group_tables(
    report: ReportContext, make: Callable[..., Table], protocol: str
) -> tuple[Table, ...]:
    """One table per group, the columns of cells a busy machine inflated marked `!`."""
    results = report.results
    busy = contended_ids(results)
    return tuple(
        mark_columns(make(results, group, protocol), cells, busy)
        for group, cells in groups_of(results).items()
    )


def _busy_legend(report: ReportContext) -> tuple[Block, ...]:
    return (Paragraph(BUSY_LEGEND, Tone.WARNING),) if contended_ids(report.results) else ()


def time_to_train_sections(report: ReportContext) -> list[Section]:
    """A table per group for the headline protocol; the other protocols under it (report.md)."""
    results = report.results
    protocols = report_protocols(results)
    sections = [
        Section(
            "time-to-train",
            "Time to train",
            (*_group_tables(report, iteration_table, protocols[0]), *_busy_legend(report)),
        )
    ]
    sections += [
        Section(
            f"time-to-train-{other}",
            f"Protocol `{other}`: {PROTOCOL_WORDS.get(other, other)}",
            _group_tables(report, iteration_table, other),
            level=3,
            show=Show.MARKDOWN,
        )
        for other in protocols[1:]
    ]
    return sections


def phases_section(report: ReportContext) -> list[Section]:
    """Where the time goes: the phases and cost terms of every device, per group."""
    formula = Paragraph(
        "T(n) = F + n·s + E(n)·e: fixed costs F, steady step s, evaluations E(n) of e each "
        f"(protocol `{report.protocol}`).",
        show=Show.MARKDOWN,
    )
    tables = _group_tables(report, phase_table, report.protocol)
    return [Section("phases", "Where the time goes", (formula, *tables))]


def regime_section(report: ReportContext) -> list[Section]:
    """Why, measured: each cell's regime from its op profile (nothing for runs without one)."""
    lines = regime_lines(report.results)
    if not lines:
        return []
    blocks: tuple[Block, ...] = (
        Paragraph(REGIME_INTRO, Tone.QUIET, Show.MARKDOWN),
        Bullets(tuple(lines)),
    )
    return [Section("regimes", "Why: each cell's regime, measured", blocks)]


def predicted_section(report: ReportContext) -> list[Section]:
    """Every GPU cell beside what the op model predicted for it from the CPU's op profile."""
    results = report.results
    checks = gpu_checks(results)
    if not checks:
        return []
    rows = tuple(
        row
        for check in checks
        for row in check_rows(results, check, cell_name(check.cell, results))
    )
    blocks: list[Block] = []
    if rows:
        blocks.append(
            Table(
                "Op model vs measurement",
                (
                    "cell",
                    "term",
                    "measured",
                    "predicted by the model",
                    "predicted band",
                    "predicted ÷ measured",
                ),
                rows,
                caption=PREDICTED_CAPTION,
                terminal_columns=(0, 1, 2, 3, 5),
            )
        )
    predicted = [check.prediction for check in checks if check.prediction is not None]
    lines = [f"Predicted by the op model: {p.reason}." for p in predicted]
    lines += [
        f"{cell_name(check.cell, results)}: not predicted — {check.why_not}."
        for check in checks
        if check.prediction is None
    ]
    blocks.append(Bullets(tuple(lines)))
    assumptions = assumption_lines(predicted)
    if assumptions:
        blocks.append(Paragraph("The model's assumptions:", Tone.QUIET, Show.MARKDOWN))
        blocks.append(Bullets(tuple(assumptions), Show.MARKDOWN))
    return [Section("predicted", "GPU cells: measured vs predicted by the op model", tuple(blocks))]


def measured_runs_section(report: ReportContext) -> list[Section]:
    table = measured_runs_table(report.results)
    block = table if table.rows else Paragraph("No full run fitted the budget.")
    return [Section("measured-runs", "Measured full runs vs predictions", (block,))]


def scaling_section(report: ReportContext) -> list[Section]:
    """DDP cells over world sizes: strong and weak scaling (report/scaling.py)."""
    return scaling_sections(report.results, report.protocol)


def throughput_section(report: ReportContext) -> list[Section]:
    table = throughput_table(report.results)
    return [Section("throughput", "Throughput", (table,))] if table.rows else []


def failures_section(report: ReportContext) -> list[Section]:
    return _list_section("failed-cells", "Failed cells", failure_lines(report.results), Tone.ERROR)


def warnings_section(report: ReportContext) -> list[Section]:
    return _list_section("warnings", "Warnings", warning_lines(report.results), Tone.WARNING)


def notes_section(report: ReportContext) -> list[Section]:
    return _list_section("notes", "Notes", note_lines(report.results), show=Show.MARKDOWN)


def environment_section(report: ReportContext) -> list[Section]:
    lines = environment_lines(report.results)
    return _list_section("environment", "Environment", lines, show=Show.MARKDOWN)


def command_section(report: ReportContext) -> list[Section]:
    """The exact command; the terminal shows the doctor's verdict above it instead of a title."""
    verdict = verdict_line(report.results)
    blocks: list[Block] = [Paragraph(verdict, Tone.QUIET, Show.TERMINAL)] if verdict else []
    blocks.append(Code(command_line(report.results), Tone.QUIET))
    return [Section("command", "Command", tuple(blocks), heading_show=Show.MARKDOWN)]


SECTIONS: tuple[SectionBuilder, ...] = (
    busy_machine_section,
    summary_section,
    time_to_train_sections,
    phases_section,
    scaling_section,
    regime_section,
    predicted_section,
    measured_runs_section,
    throughput_section,
    failures_section,
    warnings_section,
    notes_section,
    environment_section,
    command_section,
)


def build_document(report: ReportContext) -> Document:
    """The whole report, once, as data."""
    sections = tuple(section for build in SECTIONS for section in build(report))
    return Document(title_line(report.results), sections)


def _list_section(
    key: str, heading: str, lines: list[str], tone: Tone = Tone.PLAIN, show: Show = Show.EVERYWHERE
) -> list[Section]:
    if not lines:
        return []
    return [Section(key, heading, (Bullets(tuple(lines)),), tone=tone, show=show)]


# -- lines of the summary -------------------------------------------------------------------


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
    if results.settings.data.synthetic:
        title += " · synthetic data"
    if results.settings.overrides:
        title += " · models changed with --set"
    if results.status == "interrupted":
        title += " · interrupted"
    return title


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def devices_line(results: RunResults) -> str:
    """ "cpu = AMD EPYC 7763 (16 threads) · cuda:0 = NVIDIA A800 80GB PCIe"."""
    names: dict[str, str] = {}
    for cell in results.cells:
        names.setdefault(device_label(cell, results), hardware_name(cell, results))
    return "Devices: " + " · ".join(f"{label} = {name}" for label, name in names.items())


def interrupted_line(report: ReportContext) -> str:
    """What an interrupted run lacks, and the command that resumes it."""
    results = report.results
    done = sum(1 for cell in results.cells if cell.status == "ok")
    missing = [
        f"{group_title(group)} on {device}"
        for group in groups_of(results)
        for device in unreached_devices(results, group)
    ] + unreached_models(results)
    return (
        f"This run was interrupted (Ctrl-C) after {done} measured cell{'s' if done != 1 else ''}; "
        + (f"not reached: {', '.join(missing)}; " if missing else "")
        + f"resume with `gpubench run --resume {run_folder(results, report.run_dir)}`."
    )
