"""crossover.png is a real PNG of the promised size; the text chart stands in without it."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import pytest

from gpubench.report.plot import (
    _note_other_crossovers,
    figure_size_px,
    matplotlib_available,
    plotted_groups,
    text_chart,
    write_crossover_png,
)
from gpubench.report.queries import group_title, groups_of
from gpubench.results.model import RunResults
from tests.report.conftest import load_fixture

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which a valid PNG has first."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("name", ["one_gpu", "cpu_only", "interrupted"])
def test_png_is_valid_and_of_the_expected_size(name: str, tmp_path: Path) -> None:
    run = load_fixture(name)
    path = tmp_path / "crossover.png"
    assert write_crossover_png(run, path) is True
    assert png_size(path) == figure_size_px(len(plotted_groups(run)))


def test_one_panel_per_model_at_1200_by_500() -> None:
    assert [group[0] for group in plotted_groups(load_fixture("two_gpus"))] == ["bigram", "gpt"]
    assert figure_size_px(2) == (1200, 500)
    assert figure_size_px(3) == (1800, 500)


def test_a_panel_prefers_the_batch_size_where_both_devices_were_measured() -> None:
    assert plotted_groups(load_fixture("failed_cells")) == [
        ("bigram", 512, "reference"),
        ("gpt", 64, "reference"),
    ]


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_nothing_is_written(tmp_path: Path) -> None:
    assert matplotlib_available() is False
    assert write_crossover_png(load_fixture("one_gpu"), tmp_path / "crossover.png") is False
    assert not (tmp_path / "crossover.png").exists()


def test_text_chart_has_a_block_per_measured_group(any_run: RunResults) -> None:
    chart = text_chart(any_run)
    for group, cells in groups_of(any_run).items():
        measured = any(cell.key.id in any_run.estimates for cell in cells)
        assert (f"{group_title(group)}: time to train (log scale)" in chart) is measured


def test_text_chart_for_one_gpu() -> None:
    lines = text_chart(load_fixture("one_gpu")).splitlines()
    assert lines[0] == "bigram, batch 32: time to train (log scale)"
    three_thousand = [line for line in lines[:8] if "14.6 s" in line or "18.1 s" in line]
    cpu_bar, gpu_bar = (line.count("█") for line in three_thousand)
    assert cpu_bar < gpu_bar  # 14.6 s (cpu) is shorter than 18.1 s (cuda:0)
    assert "  cuda:0: faster from ~35,000 iterations" in lines
    assert "  cuda:0: faster from the first iteration" in lines


def until_run() -> RunResults:
    """The one-GPU run with its GPT crossover turned into "cheaper up front, dearer per step"."""
    run = load_fixture("one_gpu")
    run.crossovers = [
        dataclasses.replace(c, kind="until", iters=1234.0, step_ratio=0.5)
        if c.model == "gpt" and c.protocol == "lecture"
        else c
        for c in run.crossovers
    ]
    return run


def test_an_until_crossover_is_named_in_the_text_chart() -> None:
    assert "  cuda:0: faster until 1,234 iterations" in text_chart(until_run()).splitlines()


def test_an_until_crossover_is_named_on_the_plot() -> None:
    from matplotlib.figure import Figure

    ax = Figure().subplots()
    _note_other_crossovers(ax, until_run(), ("gpt", 64, "reference"), "lecture")
    notes = "\n".join(text.get_text() for text in ax.texts)
    assert "cuda:0 faster until 1,234 iterations (then 2.0× slower per step)" in notes
