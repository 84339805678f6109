"""Every recorded situation produces the findings, fixes and verdict it must (no GPU needed)."""

from __future__ import annotations

import pytest

from gpubench.commands.doctor import exit_code
from gpubench.doctor.checks import run_checks
from gpubench.doctor.findings import Finding, Severity
from gpubench.doctor.render import DoctorReport
from gpubench.doctor.verdict import decide_verdict
from tests.doctor.situations import Situation, load_situation, situation_paths

SITUATIONS = [load_situation(path) for path in situation_paths()]


def _command(line: str) -> str:
    """A fix line without its trailing comment."""
    return line.split("  #", 1)[0].strip()


def _by_code(findings: list[Finding]) -> dict[str, list[Finding]]:
    grouped: dict[str, list[Finding]] = {}
    for finding in findings:
        grouped.setdefault(finding.code, []).append(finding)
    return grouped


def test_the_library_holds_at_least_fifteen_situations():
    assert len(SITUATIONS) >= 15
    for item in SITUATIONS:
        assert item.description and item.source, item.name


@pytest.mark.parametrize("item", SITUATIONS, ids=lambda item: item.name)
def test_situation(item: Situation):
    findings = run_checks(item.facts)
    grouped = _by_code(findings)
    expect = item.expect
    assert "internal-error" not in grouped, grouped.get("internal-error")
    for code, severity in expect.get("findings", {}).items():
        severities = [finding.severity.value for finding in grouped.get(code, [])]
        assert severity in severities, f"{code}: expected {severity}, got {severities}"
    for code in expect.get("absent", []):
        assert code not in grouped, f"{code} should not fire: {grouped[code][0].title}"
    for code, commands in expect.get("fix_contains", {}).items():
        lines = [line for finding in grouped[code] for line in finding.fix]
        for command in commands:
            assert command in lines or command in [_command(line) for line in lines], (
                f"{code}: {command!r} not among {lines}"
            )
    for code, texts in expect.get("detail_contains", {}).items():
        detail = "\n".join(finding.detail for finding in grouped[code])
        for text in texts:
            assert text in detail, f"{code}: {text!r} not in {detail!r}"
    for code, texts in expect.get("title_contains", {}).items():
        title = "\n".join(finding.title for finding in grouped[code])
        for text in texts:
            assert text in title, f"{code}: {text!r} not in {title!r}"
    for code, texts in expect.get("fix_excludes", {}).items():
        lines = "\n".join(line for finding in grouped[code] for line in finding.fix)
        for text in texts:
            assert text not in lines, f"{code}: {text!r} in the fix {lines!r}"
    for code, texts in expect.get("detail_excludes", {}).items():
        detail = "\n".join(finding.detail for finding in grouped[code])
        for text in texts:
            assert text not in detail, f"{code}: {text!r} in {detail!r}"
    everything = "\n".join(
        part for finding in findings for part in (finding.title, finding.detail, *finding.fix)
    )
    for text in expect.get("not_contains", []):
        assert text not in everything, f"{text!r} appears in the findings"
    if expect.get("max_severity") == "ok":
        assert all(finding.severity == Severity.OK for finding in findings), [
            (finding.code, finding.severity) for finding in findings if finding.severity.rank
        ]

    verdict = decide_verdict(item.facts, findings)
    assert verdict.kind == expect["verdict"], verdict.line
    report = DoctorReport(item.facts, findings, verdict)
    assert exit_code(report, require_cuda=False) == expect["exit_code"]
    if "first_fix" in expect:
        assert verdict.error_codes[0] == expect["first_fix"]
        assert f"First fix: {expect['first_fix']}" in verdict.line
    if "verdict_line" in expect:
        assert verdict.line == expect["verdict_line"]
    for text in expect.get("verdict_contains", []):
        assert text in verdict.line


@pytest.mark.parametrize("item", SITUATIONS, ids=lambda item: item.name)
def test_every_finding_that_is_not_ok_says_why(item: Situation):
    for finding in run_checks(item.facts):
        assert finding.title
        assert finding.code == finding.code.lower() and " " not in finding.code
        if finding.severity in (Severity.WARN, Severity.ERROR):
            assert finding.detail, f"{finding.code} has no detail"


@pytest.mark.parametrize("item", SITUATIONS, ids=lambda item: item.name)
def test_require_cuda_fails_wherever_cuda_is_not_usable(item: Situation):
    findings = run_checks(item.facts)
    report = DoctorReport(item.facts, findings, decide_verdict(item.facts, findings))
    expected = 0 if report.verdict.kind == "cuda-ready" else 1
    assert exit_code(report, require_cuda=True) == expected


def test_facts_survive_a_json_round_trip():
    for item in SITUATIONS:
        again = type(item.facts).from_dict(item.facts.to_dict())
        assert again == item.facts
