"""gpubench report / compare as the CLI calls them: from results.json alone, to stdout."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pandas
import pytest

from gpubench.commands.report import run_compare_command, run_report_command
from gpubench.errors import UsageError
from tests.report.fixtures.build import fixture_dir


@pytest.fixture
def copied_run(tmp_path: Path) -> Path:
    """A run folder holding only results.json, as when copied from another machine."""
    folder = tmp_path / "20260302T0812Z-a800c1"
    folder.mkdir()
    shutil.copy(fixture_dir("one_gpu") / "results.json", folder / "results.json")
    return folder


def test_report_markdown(copied_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_report_command(str(copied_run), "markdown")
    out = capsys.readouterr().out
    assert out.startswith("# gpubench run 2026-03-02T08:12Z · NVIDIA A800 80GB PCIe vs")
    assert "crossover.png" not in out  # only a folder with the plot links to it


def test_report_markdown_links_the_plot_when_present(
    copied_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (copied_run / "crossover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    run_report_command(str(copied_run), "markdown")
    assert "![Time to train vs iterations, per device](crossover.png)" in capsys.readouterr().out


def test_report_csv_and_json(copied_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_report_command(str(copied_run), "csv")
    frame = pandas.read_csv(io.StringIO(capsys.readouterr().out))
    assert len(frame) == 4 * 3 * 2
    run_report_command(str(copied_run), "json")
    assert json.loads(capsys.readouterr().out)["run_id"] == "20260302T0812Z-a800c1"


def test_report_table(copied_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_report_command(str(copied_run), "table")
    out = capsys.readouterr().out
    assert "wins only from ~35,000 iterations" in out
    assert "14.6 s" in out and "18.1 s" in out


def test_a_folder_that_is_not_a_run_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="is not a gpubench run folder") as error:
        run_report_command(str(tmp_path), "table")
    assert "\n" not in str(error.value)
    (tmp_path / "results.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="is not valid JSON"):
        run_report_command(str(tmp_path), "table")


def test_an_unknown_format_is_a_usage_error(copied_run: Path) -> None:
    with pytest.raises(UsageError, match="unknown format 'html'; use one of table, markdown"):
        run_report_command(str(copied_run), "html")


def test_compare_command(copied_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_compare_command([str(fixture_dir("cpu_only")), str(copied_run)])
    out = capsys.readouterr().out
    assert "gpubench compare · 2 runs" in out
    assert "beats A cpu from the first iteration" in out
    with pytest.raises(UsageError, match="at least two"):
        run_compare_command([str(copied_run)])
