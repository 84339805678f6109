"""Report fixtures: committed results.json files (built by fixtures/build.py) and helpers that
read rendered text back into numbers."""

from __future__ import annotations

import re
import sys

import pytest

from gpubench.results.io import load_results
from gpubench.results.model import RunResults
from tests.report.fixtures.build import NAMES, fixture_dir

UNITS_S = {"µs": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "days": 86400.0}
DURATION = re.compile(r"(-?[\d,]+(?:\.(\d+))?) (µs|ms|s|min|h|days)\b")


def load_fixture(name: str) -> RunResults:
    return load_results(fixture_dir(name))


@pytest.fixture(params=NAMES)
def any_run(request: pytest.FixtureRequest) -> RunResults:
    """Each recorded run in turn: CPU only, one GPU, two GPUs, failed cells, interrupted."""
    return load_fixture(request.param)


@pytest.fixture
def no_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every ``import matplotlib...`` fail, as on an install without the plot extra."""
    loaded = [name for name in sys.modules if name.split(".")[0] == "matplotlib"]
    for name in {"matplotlib", *loaded}:
        monkeypatch.setitem(sys.modules, name, None)


def parse_duration(text: str) -> tuple[float, float]:
    """ "~1.9 h (±5 %)" -> (6840.0, 180.0): the value and half its last printed digit."""
    match = DURATION.search(text)
    if match is None:
        raise ValueError(f"no duration in {text!r}")
    number, decimals, unit = match.groups()
    size = UNITS_S[unit]
    digits = len(decimals) if decimals else 0
    return float(number.replace(",", "")) * size, 0.5 * 10**-digits * size


def parse_markdown_tables(markdown: str) -> list[tuple[list[str], list[list[str]]]]:
    """Every pipe table in a markdown text as (headers, rows) of stripped cell texts."""
    tables: list[tuple[list[str], list[list[str]]]] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("| ") and index + 1 < len(lines) and "---" in lines[index + 1]:
            headers = _cells(lines[index])
            rows = []
            index += 2
            while index < len(lines) and lines[index].startswith("| "):
                rows.append(_cells(lines[index]))
                index += 1
            tables.append((headers, rows))
        else:
            index += 1
    return tables


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
