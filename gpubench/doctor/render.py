"""Render a doctor report three ways: rich text for people, JSON for tools, markdown for issues.

Rendering only formats what it is given; it never probes or decides anything.

JSON schema history (``schema`` key):
    gpubench.doctor/1: {schema, gpubench_version, facts, findings, verdict, explanations}.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from gpubench.doctor.checks.common import human_bytes
from gpubench.doctor.checks.torch_build import format_cudnn
from gpubench.doctor.explain import Explanation
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity
from gpubench.doctor.redact import IdentityScrubber, redact_environment
from gpubench.doctor.verdict import Verdict

JSON_SCHEMA = "gpubench.doctor/1"
SYMBOLS = {Severity.OK: "✓", Severity.INFO: "i", Severity.WARN: "!", Severity.ERROR: "✗"}
STYLES = {
    Severity.OK: "green",
    Severity.INFO: "blue",
    Severity.WARN: "yellow",
    Severity.ERROR: "red",
}
VERDICT_STYLES = {"cuda-ready": "bold green", "cpu-only": "bold yellow", "broken": "bold red"}


@dataclass
class DoctorReport:
    """Everything one doctor run produced."""

    facts: Facts
    findings: list[Finding]
    verdict: Verdict
    explanations: list[Explanation] | None = None  # None: --explain was not used
    explain_source: str = ""
    explain_lines: int = 0
    explain_only: bool = False  # --explain without --report: the explanation and one line
    notes: list[str] = field(default_factory=list)


# Characters the reports use, and what they become where the output cannot encode them
# (PYTHONIOENCODING=ascii, a Windows console or file in a legacy code page).
ASCII_FALLBACK = str.maketrans(
    {
        "✓": "+",
        "✗": "x",
        "·": "-",
        "—": "-",
        "–": "-",
        "²": "^2",
        "≥": ">=",
        "≤": "<=",
        "…": "...",
        "→": "->",
        "‘": "'",
        "’": "'",
        "“": '"',
        "”": '"',
    }
)


class AsciiStream:
    """A text stream that writes what its encoding cannot hold as ASCII look-alikes (then '?')."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.encoding = getattr(stream, "encoding", None) or "ascii"

    def write(self, text: str) -> int:
        safe = text.translate(ASCII_FALLBACK).encode(self.encoding, errors="replace")
        self._stream.write(safe.decode(self.encoding))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return bool(getattr(self._stream, "isatty", lambda: False)())

    def fileno(self) -> int:
        return int(self._stream.fileno())


def output_stream(stream: Any) -> Any:
    """``stream`` itself when it can encode the reports' symbols, else an AsciiStream over it."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗·—²≥".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return AsciiStream(stream)
    return stream


def _home_to_tilde(text: str) -> str:
    try:
        home = str(Path.home())
    except (RuntimeError, KeyError):
        return text
    return text.replace(home, "~") if len(home) > 1 else text


def header_line(facts: Facts) -> str:
    platform = facts.platform
    system = " ".join(
        part
        for part in (platform.system, ".".join(platform.release.split(".")[:2]), platform.machine)
        if part
    )
    env = facts.environment
    where = f"{env.kind} {env.prefix}" if env.prefix else env.kind
    extras = []
    if platform.wsl:
        extras.append(f"WSL{platform.wsl}")
    if platform.container:
        extras.append(f"{platform.container} container")
    extra = f" · {', '.join(extras)}" if extras else ""
    return f"gpubench doctor · {system} · Python {platform.python_version} ({where}){extra}"


def needs_details(finding: Finding) -> bool:
    return finding.severity != Severity.OK and bool(finding.detail or finding.fix)


# --- human -----------------------------------------------------------------------------------


def render_explanations_human(console: Console, report: DoctorReport) -> None:
    explanations = report.explanations or []
    source = report.explain_source
    if not explanations:
        console.print(
            Text(
                f"Log explained ({source}): no known pattern in {report.explain_lines} "
                f"line{'s' if report.explain_lines != 1 else ''}. "
                "For help, paste `gpubench doctor --markdown` together with the log.",
                style="bold",
            )
        )
        console.print()
        return
    count = f"{len(explanations)} known pattern" + ("s" if len(explanations) > 1 else "")
    console.print(Text(f"Log explained ({source}): {count}", style="bold"))
    console.print()
    for item in explanations:
        times = f", {item.occurrences} times" if item.occurrences > 1 else ""
        console.print(Text.assemble(("✗ ", "red"), (item.code, "bold"), f"  {item.title}"))
        console.print(
            Text(f"  line {item.line_number}{times}: {item.line}", style="dim"), soft_wrap=True
        )
        console.print(Padding(Text(f"Cause: {item.cause}"), (0, 0, 0, 2)))
        if item.same_fix_as:
            console.print(Text(f"  Fix: the same as for {item.same_fix_as} above."))
        else:
            print_fix(console, item.fix)
        console.print()


def print_fix(
    console: Console, steps: tuple[str, ...], transform: Callable[[str], str] = str
) -> None:
    """Commands are printed unwrapped, so they copy and paste as one line each."""
    if not steps:
        return
    console.print(Text("  Fix:"))
    for step in steps:
        console.print(Text(f"    {transform(step)}", style="cyan"), soft_wrap=True)


def summary_line(report: DoctorReport) -> str:
    """This machine in one line, after an explanation (the full report is behind --report)."""
    return f"This machine: {report.verdict.line}. Full report: gpubench doctor, or add --report."


def render_human(report: DoctorReport, console: Console) -> None:
    if report.explanations is not None:
        render_explanations_human(console, report)
    if report.explain_only:
        console.print(Text(_home_to_tilde(summary_line(report)), style="dim"), soft_wrap=True)
        return
    console.print(Text(_home_to_tilde(header_line(report.facts)), style="bold"), soft_wrap=True)
    console.print()
    table = Table.grid(padding=(0, 1))
    table.add_column(width=2, justify="right")
    table.add_column(no_wrap=True)
    table.add_column()
    for finding in report.findings:
        table.add_row(
            Text(SYMBOLS[finding.severity], style=STYLES[finding.severity]),
            Text(finding.code, style="bold"),
            Text(_home_to_tilde(finding.title)),
        )
    console.print(table)
    for finding in report.findings:
        if not needs_details(finding):
            continue
        console.print()
        heading = Table.grid(padding=(0, 2))  # a long title wraps under itself, not at column 0
        heading.add_column(no_wrap=True)
        heading.add_column()
        heading.add_row(
            Text(f"{SYMBOLS[finding.severity]} {finding.code}", style=STYLES[finding.severity]),
            Text(_home_to_tilde(finding.title)),
        )
        console.print(heading)
        for line in finding.detail.splitlines():
            console.print(Padding(Text(_home_to_tilde(line)), (0, 0, 0, 2)))
        print_fix(console, finding.fix, transform=_home_to_tilde)
    for note in report.notes:
        console.print(Text(note, style="dim"))
    console.print()
    verdict = report.verdict
    console.print(
        Text.assemble(
            ("Verdict: ", "bold"),
            (verdict.headline, VERDICT_STYLES[verdict.kind]),
            f" — {_home_to_tilde(verdict.reason)}",
        ),
        soft_wrap=True,
    )


# --- JSON ------------------------------------------------------------------------------------


def report_to_json_data(report: DoctorReport) -> dict[str, Any]:
    facts = report.facts.to_dict()
    return {
        "schema": JSON_SCHEMA,
        "gpubench_version": report.facts.gpubench_version,
        "facts": {**facts, "env": redact_environment(report.facts.env)},
        "findings": [finding.to_dict() for finding in report.findings],
        "verdict": report.verdict.to_dict(),
        "explanations": (
            None
            if report.explanations is None
            else [item.to_dict() for item in report.explanations]
        ),
    }


def render_json(report: DoctorReport) -> str:
    return json.dumps(report_to_json_data(report), indent=2, default=str)


# --- markdown --------------------------------------------------------------------------------


def _text(text: str) -> str:
    """Plain markdown text: a lone * (as in /dev/nvidia*) must not start emphasis."""
    return text.replace("*", "\\*")


def _cell(text: str) -> str:
    return _text(text).replace("|", "\\|").replace("\n", " ")


def _system_lines(facts: Facts) -> list[str]:
    torch = facts.torch
    platform = facts.platform
    lines = [
        f"- **System:** {platform.system} {platform.release} {platform.machine}"
        f"{', ' + platform.distro if platform.distro else ''}; Python {platform.python_version} "
        f"({facts.environment.kind} `{facts.environment.prefix}`)"
        + (f"; WSL{platform.wsl}" if platform.wsl else "")
        + (f"; {platform.container} container" if platform.container else ""),
    ]
    if torch.status == "ok":
        arch = " ".join(torch.arch_list) or "none"
        lines.append(
            f"- **torch:** {torch.version} (CUDA {torch.cuda or 'none'}, cuDNN "
            f"{format_cudnn(torch.cudnn_version)}"
            + (f", HIP {torch.hip}" if torch.hip else "")
            + f", arch {arch}; cuda.is_available() = {torch.cuda_available})"
        )
    else:
        lines.append(
            f"- **torch:** {torch.status}"
            + (f" ({torch.error.splitlines()[-1]})" if torch.error else "")
        )
    nvml = facts.nvml
    if nvml.status == "ok":
        lines.append(f"- **Driver:** {nvml.driver_version} (CUDA <= {nvml.cuda_driver_version})")
        for gpu in nvml.gpus:
            lines.append(
                f"  - GPU {gpu.index}: {gpu.name} (sm_{gpu.capability.replace('.', '')}), "
                f"{human_bytes(gpu.memory_used)} / {human_bytes(gpu.memory_total)} used, "
                f"{gpu.utilization_gpu if gpu.utilization_gpu is not None else '?'}% busy, "
                f"{len(gpu.processes)} process(es)"
            )
    else:
        lines.append(f"- **Driver:** none usable (NVML: {nvml.status})")
    cpu = facts.cpu
    lines.append(
        f"- **CPU:** {cpu.model}, {cpu.physical_cores} physical / {cpu.logical_cores} logical "
        f"cores, torch threads {torch.num_threads if torch.num_threads else '?'}"
        + (f", governor {cpu.governor}" if cpu.governor else "")
    )
    if facts.toolkit.nvcc_path or facts.toolkit.cuda_home:
        lines.append(
            f"- **CUDA toolkit:** nvcc {facts.toolkit.nvcc_version or '?'} "
            f"(`{facts.toolkit.nvcc_path or facts.toolkit.cuda_home}`)"
        )
    if facts.conda is not None:
        lines.append(
            f"- **conda env:** `{facts.conda.prefix}`, {len(facts.conda.packages)} packages"
        )
    return lines


def _explanations_markdown(report: DoctorReport) -> list[str]:
    explanations = report.explanations or []
    out = ["", f"#### Log explained ({len(explanations)} known patterns)"]
    for item in explanations:
        out += [
            "",
            f"**`{item.code}`** — {_text(item.title)} (line {item.line_number})",
            "",
            f"> `{item.line.replace('`', chr(39))}`",
            "",
            f"Cause: {_text(item.cause)}",
            "",
        ]
        if item.same_fix_as:
            out.append(f"Fix: the same as for `{item.same_fix_as}` above.")
        else:
            out += ["```sh", *item.fix, "```"]
    return out


def render_markdown(report: DoctorReport, scrubber: IdentityScrubber | None = None) -> str:
    """A block safe to paste in a public issue (home as ~, no user or host names)."""
    facts, verdict = report.facts, report.verdict
    if report.explain_only:
        out = ["### gpubench doctor --explain", *_explanations_markdown(report), ""]
        out.append(_text(summary_line(report)))
        return (scrubber or IdentityScrubber()).scrub("\n".join(out) + "\n")
    out = [
        "### gpubench doctor",
        "",
        f"**Verdict: {verdict.headline}** — {_text(verdict.reason)}",
        "",
        *_system_lines(facts),
        "",
        "| | check | result |",
        "| --- | --- | --- |",
    ]
    for finding in report.findings:
        out.append(f"| {SYMBOLS[finding.severity]} | `{finding.code}` | {_cell(finding.title)} |")
    detailed = [finding for finding in report.findings if needs_details(finding)]
    if detailed:
        out += ["", "#### Details"]
    for finding in detailed:
        out += ["", f"**{SYMBOLS[finding.severity]} `{finding.code}`** — {_text(finding.title)}"]
        out.append("")
        if finding.detail:
            out += [_text(line) + "  " for line in finding.detail.splitlines()]
        if finding.fix:
            out += ["", "```sh", *finding.fix, "```"]
    if report.explanations is not None:
        out += _explanations_markdown(report)
    if facts.env:
        out += ["", "<details><summary>Environment (allow-listed variables)</summary>", ""]
        out += ["| variable | value |", "| --- | --- |"]
        shown = redact_environment(facts.env)
        out += [f"| `{name}` | `{_cell(value)}` |" for name, value in sorted(shown.items())]
        out += ["", "</details>"]
    out += [
        "",
        f"<sub>gpubench {facts.gpubench_version} · home shown as ~, user and host names removed, "
        "allow-listed environment only</sub>",
    ]
    text = "\n".join(out) + "\n"
    return (scrubber or IdentityScrubber()).scrub(text)
