"""``gpubench doctor``: probe, check, decide, render; return the exit code for cli.py."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gpubench.doctor.checks import run_checks
from gpubench.doctor.explain import ExplainContext, explain_text
from gpubench.doctor.fit import fit_findings, style_for
from gpubench.doctor.probe import collect_facts
from gpubench.doctor.render import (
    DoctorReport,
    output_stream,
    render_human,
    render_json,
    render_markdown,
)
from gpubench.doctor.verdict import decide_verdict
from gpubench.errors import UsageError

OUTPUTS = ("human", "json", "markdown")
EXIT_OK = 0
EXIT_PROBLEMS = 1
BINARY_SNIFF_BYTES = 8192


def decode_log(data: bytes, source: str) -> str:
    """Text from a log's bytes; UTF-16 (PowerShell's ``>``) is accepted, other binary is not."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:BINARY_SNIFF_BYTES]:
        raise UsageError(
            f"--explain: {source} is binary data, not a text log; pass a text file or -"
        )
    return data.decode("utf-8", errors="replace").removeprefix("\ufeff")


def read_log(source: str) -> str:
    """The log to explain: a file, or standard input for ``-``."""
    if source == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        data = buffer.read() if buffer is not None else sys.stdin.read().encode("utf-8")
        return decode_log(data, "standard input")
    path = Path(source)
    if not path.exists():
        raise UsageError(f"--explain: {source}: no such file; pass a log file, or - for stdin")
    if path.is_dir():
        raise UsageError(f"--explain: {source} is a directory; pass a log file, or - for stdin")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"--explain: cannot read {source}: {error.strerror or error}") from None
    return decode_log(data, source)


def check_interpreter(python: str) -> str:
    """The absolute path of the interpreter to diagnose (not resolved: a venv's python is a
    symlink to the base interpreter, and resolving it would diagnose the wrong environment)."""
    path = Path(python).expanduser()
    if not path.exists():
        raise UsageError(f"--python: {python}: no such file; pass the path of a python executable")
    if path.is_dir() or not os.access(path, os.X_OK):
        raise UsageError(f"--python: {python} is not an executable; pass e.g. .venv/bin/python")
    return os.path.abspath(path)


def build_report(
    *,
    smoke: bool,
    timeout: float,
    log: str | None = None,
    log_source: str = "",
    python: str | None = None,
) -> DoctorReport:
    """Probe, check, fit the fixes to this environment, decide; explain the log if there is one.

    Without the smoke test the probe reads torch's build from its metadata where no GPU could
    use it anyway (most of the doctor's time is importing torch).
    """
    facts = collect_facts(timeout=timeout, smoke=smoke, python=python, quick=not smoke)
    findings = fit_findings(run_checks(facts), style_for(facts))
    report = DoctorReport(facts, findings, decide_verdict(facts, findings))
    if log is not None:
        report.explanations = explain_text(log, ExplainContext())
        report.explain_source = log_source
        report.explain_lines = len(log.splitlines())
    return report


def exit_code(report: DoctorReport, *, require_cuda: bool) -> int:
    if report.verdict.error_codes:
        return EXIT_PROBLEMS
    if require_cuda and not report.verdict.cuda_usable:
        return EXIT_PROBLEMS
    return EXIT_OK


def run_doctor_command(
    *,
    output: str,
    explain: str | None,
    require_cuda: bool,
    smoke: bool,
    timeout: float,
    python: str | None = None,
    full_report: bool = False,
) -> int:
    """Run the doctor and print its report to stdout; return 0 (no errors) or 1.

    With --explain the explanation comes first and alone, with a one-line summary of this
    machine; ``full_report`` adds the whole report after it, as does a log with no known error.
    """
    if output not in OUTPUTS:
        raise UsageError(f"unknown output {output!r}; expected one of {', '.join(OUTPUTS)}")
    python = check_interpreter(python) if python is not None else None
    log = read_log(explain) if explain is not None else None
    source = "standard input" if explain == "-" else (explain or "")
    report = build_report(smoke=smoke, timeout=timeout, log=log, log_source=source, python=python)
    # an unknown log gets the normal report (docs/doctor.md, "The log explainer")
    report.explain_only = bool(report.explanations) and not full_report
    if require_cuda and not report.verdict.cuda_usable:
        report.notes.append("--require-cuda: CUDA is not usable here, so the exit code is 1.")
    stream = output_stream(sys.stdout)
    if output == "json":
        stream.write(render_json(report) + "\n")
    elif output == "markdown":
        stream.write(render_markdown(report))
    else:
        from rich.console import Console

        render_human(report, Console(file=stream, highlight=False))
    stream.flush()
    if report.explain_only:
        return EXIT_OK  # the log was explained; this machine was not diagnosed in full
    return exit_code(report, require_cuda=require_cuda)
