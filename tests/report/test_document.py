"""The report document: built once from stored results, printed by every printer alike."""

from __future__ import annotations

import ast
import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

import gpubench.report
from gpubench.report import sections
from gpubench.report.compare import compare_runs
from gpubench.report.document import Paragraph, Section, Show, Tone
from gpubench.report.render import build_report, render_json, render_markdown, render_terminal
from tests.report.conftest import load_fixture, parse_markdown_tables
from tests.report.fixtures.build import fixture_dir

REPORT_DIR = Path(gpubench.report.__file__).parent
REFITTING = {
    "fit_cost_model",
    "cell_cost_model",
    "crossover_for",
    "derive_results",
    "estimate_cell",
}


def imported_names(path: Path) -> set[str]:
    """Modules and names a file imports, at any depth (lazy imports included)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {alias.name for alias in node.names}
    return names


@pytest.mark.parametrize("path", sorted(REPORT_DIR.glob("*.py")), ids=lambda p: p.name)
def test_report_modules_import_no_bench_no_torch_and_never_refit(path: Path) -> None:
    names = imported_names(path)
    assert not {name for name in names if name.startswith(("gpubench.bench", "torch"))}
    assert not names & REFITTING


def test_rendering_a_run_loads_neither_torch_nor_the_bench_package() -> None:
    code = (
        "import sys\n"
        "from rich.console import Console\n"
        "from gpubench.results.io import load_results\n"
        "from gpubench.report.render import render_markdown, render_terminal, render_json\n"
        "from gpubench.report.compare import compare_runs\n"
        f"run = load_results({str(fixture_dir('one_gpu'))!r})\n"
        "render_markdown(run); render_json(run); render_terminal(run, Console(file=None))\n"
        "compare_runs([run, run])\n"
        f"run = load_results({str(fixture_dir('profiled'))!r})\n"  # regimes, op model
        "render_markdown(run); render_json(run); render_terminal(run, Console(file=None))\n"
        "bad = [m for m in sys.modules if m == 'torch' or m.startswith('gpubench.bench')]\n"
        "print(bad)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_report_reads_the_stored_cost_terms_instead_of_refitting() -> None:
    run = load_fixture("cpu_only")
    gpt = run.cells[1]
    assert gpt.cost is not None
    gpt.cost = dataclasses.replace(gpt.cost, fixed_s=99.0)  # phases unchanged
    markdown = render_markdown(run)
    phases = next(
        rows for headers, rows in parse_markdown_tables(markdown)
        if headers[0] == "gpt, batch 64" and rows[0][0].startswith("startup")
    )  # fmt: skip
    assert dict(row[:2] for row in phases)["**fixed costs F**"] == "1.6 min"
    assert "cpu takes 10.2 s per step after 1.6 min of fixed costs" in markdown


def test_compare_reads_counts_a_run_lacks_off_its_stored_terms() -> None:
    laptop, a800 = load_fixture("cpu_only"), load_fixture("one_gpu")
    laptop.cells[1].cost = dataclasses.replace(laptop.cells[1].cost, step_s=1.0)
    row = next(
        row for row in compare_runs([laptop, a800]).group("gpt", 64).rows if row.iters == 3000
    )
    assert 3000 not in laptop.settings.iters
    assert row.estimates[0].seconds == pytest.approx(laptop.cells[1].cost.predict(3000))
    assert row.estimates[0].measured is False


def test_markdown_only_sections_stay_off_the_terminal() -> None:
    run = load_fixture("one_gpu")
    document = build_report(run)
    keys = [section.key for section in document.sections]
    assert keys[:4] == ["summary", "time-to-train", "time-to-train-train", "phases"]
    assert keys[-2:] == ["environment", "command"]
    console = Console(record=True, width=200, color_system=None)
    render_terminal(run, console)
    text = console.export_text()
    assert "Environment" not in text and "Protocol `train`" not in text
    assert "Time to train" in text and "Environment" in render_markdown(run)


def test_json_carries_the_document(tmp_path: Path) -> None:
    run = load_fixture("failed_cells")
    data = json.loads(render_json(run, run_dir=tmp_path))
    report = data["report"]
    assert report["title"] == build_report(run).title
    failed = next(s for s in report["sections"] if s["key"] == "failed-cells")
    assert failed["blocks"][0]["kind"] == "bullets"
    assert any("oom" in item for item in failed["blocks"][0]["items"])
    tables = [b for s in report["sections"] for b in s["blocks"] if b["kind"] == "table"]
    assert tables[0]["headers"][0] == "bigram, batch 64"


def test_a_new_section_is_one_entry_in_the_list(monkeypatch: pytest.MonkeyPatch) -> None:
    def busy_machine(report: sections.ReportContext) -> list[Section]:
        text = f"{len(report.results.cells)} cells were measured on a busy machine"
        return [Section("busy", "Busy machine", (Paragraph(text, Tone.WARNING),))]

    monkeypatch.setattr(sections, "SECTIONS", (busy_machine, *sections.SECTIONS))
    run = load_fixture("cpu_only")
    markdown = render_markdown(run)
    assert markdown.splitlines()[2:5] == [
        "## Busy machine",
        "",
        "**2 cells were measured on a busy machine**",
    ]
    console = Console(record=True, width=200, color_system=None)
    render_terminal(run, console)
    assert "2 cells were measured on a busy machine" in console.export_text()
    assert json.loads(render_json(run))["report"]["sections"][0]["key"] == "busy"


def test_a_terminal_only_block_is_not_in_markdown() -> None:
    run = load_fixture("two_gpus")
    command = build_report(run).section("command")
    assert command is not None
    verdict = [b for b in command.blocks if isinstance(b, Paragraph)]
    assert verdict and verdict[0].show is Show.TERMINAL
    assert f"\n{verdict[0].text}\n" not in render_markdown(run)
