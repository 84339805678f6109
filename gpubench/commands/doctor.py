"""``gpubench doctor``: probe, check, decide, render; return the exit code for cli.py."""

from __future__ import annotations

import sys
from pathlib import Path

from gpubench.doctor import advice
from gpubench.doctor.checks import run_checks
from gpubench.doctor.checks.common import CPU_INDEX_URL, nvidia_gpu_visible
from gpubench.doctor.explain import ExplainContext, explain_text
from gpubench.doctor.facts import Facts
from gpubench.doctor.probe import collect_facts
from gpubench.doctor.render import DoctorReport, render_human, render_json, render_markdown
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


def explain_context(facts: Facts) -> ExplainContext:
    """Fixes in explanations use this machine's Python and the torch wheel that fits it."""
    python = ".".join(facts.platform.python_version.split(".")[:2]) or "3.11"
    plan = advice.plan_for_machine(facts, torch_version=None) if nvidia_gpu_visible(facts) else None
    if plan is not None:
        install = plan.pip_install()
    elif nvidia_gpu_visible(facts):
        install = "python -m pip install torch  # pick the index for your driver: gpubench doctor"
    else:
        install = f"python -m pip install torch --index-url {CPU_INDEX_URL}  # no NVIDIA GPU here"
    return ExplainContext(python=python, torch_install=install)


def build_report(
    *, smoke: bool, timeout: float, log: str | None = None, log_source: str = ""
) -> DoctorReport:
    facts = collect_facts(timeout=timeout, smoke=smoke)
    findings = run_checks(facts)
    report = DoctorReport(facts, findings, decide_verdict(facts, findings))
    if log is not None:
        report.explanations = explain_text(log, explain_context(facts))
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
    *, output: str, explain: str | None, require_cuda: bool, smoke: bool, timeout: float
) -> int:
    """Run the doctor and print its report to stdout; return 0 (no errors) or 1."""
    if output not in OUTPUTS:
        raise UsageError(f"unknown output {output!r}; expected one of {', '.join(OUTPUTS)}")
    log = read_log(explain) if explain is not None else None
    source = "standard input" if explain == "-" else (explain or "")
    report = build_report(smoke=smoke, timeout=timeout, log=log, log_source=source)
    if require_cuda and not report.verdict.cuda_usable:
        report.notes.append("--require-cuda: CUDA is not usable here, so the exit code is 1.")
    if output == "json":
        sys.stdout.write(render_json(report) + "\n")
    elif output == "markdown":
        sys.stdout.write(render_markdown(report))
    else:
        from rich.console import Console

        render_human(report, Console(highlight=False))
    return exit_code(report, require_cuda=require_cuda)
