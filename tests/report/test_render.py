"""report.md and the terminal tables: the answer first, numbers that parse back, honesty."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from rich.console import Console

from gpubench.report.format import range_text
from gpubench.report.queries import device_label, groups_of
from gpubench.report.render import (
    PLOT_SKIPPED,
    render_json,
    render_markdown,
    render_terminal,
    write_report_files,
)
from gpubench.report.sentences import summary_sentences
from gpubench.results.data_source import DataSource
from gpubench.results.frame import estimate_of
from gpubench.results.model import RunResults
from tests.report.conftest import load_fixture, parse_duration, parse_markdown_tables


def iteration_tables(run: RunResults, markdown: str) -> dict[str, tuple[list[str], list]]:
    """The headline protocol's tables: the first table under each group's title."""
    found: dict[str, tuple[list[str], list]] = {}
    for headers, rows in parse_markdown_tables(markdown):
        if headers[0] not in found and headers[-1] in ("winner", "cpu"):
            found[headers[0]] = (headers, rows)
    return found


def test_the_answer_is_in_the_first_three_lines() -> None:
    run = load_fixture("one_gpu")
    lines = render_markdown(run).splitlines()
    assert lines[0] == (
        "# gpubench run 2026-03-02T08:12Z · NVIDIA A800 80GB PCIe vs AMD EPYC 7763 64-Core "
        "Processor (16 threads)"
    )
    assert lines[2] == f"- {summary_sentences(run)[0]}"
    assert "wins only from ~35,000 iterations" in lines[2]


@pytest.mark.parametrize("name", ["one_gpu", "two_gpus", "cpu_only", "failed_cells"])
def test_time_tables_parse_back_to_the_estimates(name: str) -> None:
    run = load_fixture(name)
    tables = iteration_tables(run, render_markdown(run))
    for group, cells in groups_of(run).items():
        headers, rows = tables[(f"{group[0]}, batch {group[1]}")]
        assert [int(row[0].replace(",", "")) for row in rows] == list(run.settings.iters)
        for cell in cells:
            column = headers.index(device_label(cell, run))
            for row in rows:
                estimate = estimate_of(run, cell, int(row[0].replace(",", "")), "lecture")
                text = row[column]
                if estimate is None:
                    assert text.startswith(("failed", "interrupted", "not measured"))
                    continue
                value, tolerance = parse_duration(text)
                assert value == pytest.approx(estimate.seconds, abs=tolerance * 1.001)
                assert text.startswith("~") is not estimate.measured
                if not estimate.measured:
                    assert f"({range_text(estimate)})" in text


def test_speedup_and_winner_columns() -> None:
    run = load_fixture("one_gpu")
    tables = iteration_tables(run, render_markdown(run))
    headers, rows = tables["bigram, batch 32"]
    assert headers == ["bigram, batch 32", "cpu", "cuda:0", "speedup", "winner"]
    assert rows[1] == ["3,000", "14.6 s", "18.1 s", "0.81×", "cpu"]
    headers, rows = tables["gpt, batch 64"]
    assert rows[0][3:] == ["~9.1×", "cuda:0"]


def test_phase_breakdown_shows_fixed_step_eval_and_shares() -> None:
    run = load_fixture("cpu_only")
    markdown = render_markdown(run)
    table = next(
        rows for headers, rows in parse_markdown_tables(markdown)
        if headers[0] == "gpt, batch 64" and rows[0][0].startswith("startup")
    )  # fmt: skip
    values = {row[0]: row[1] for row in table}
    assert values["**fixed costs F**"] == "4.0 s"  # first steps' excess over the mean step
    assert values["startup (import torch)"] == "1.6 s"
    assert values["first steps beyond steady"] == "1.9 s (3 steps)"  # over the mean step, as F
    assert values["step s (median ± IQR)"] == "10.2 s ± 306 ms"
    assert values["steps timed (+ warm-up)"] == "6 (+1)"
    assert values["one evaluation e"] == "22.7 min (scaled from 2 of 200 batches)"
    assert values["share at 500 iters: F / steps / evals"] == "0 / 65 / 35 %"
    assert values["share at 50,000 iters: F / steps / evals"] == "0 / 79 / 21 %"


def test_measured_runs_sit_beside_their_predictions() -> None:
    markdown = render_markdown(load_fixture("one_gpu"))
    runs = next(rows for headers, rows in parse_markdown_tables(markdown) if headers[0] == "cell")
    assert ["bigram, batch 32 · cpu", "3,000", "lecture", "14.6 s", "14.6 s", "-0.1 %",
            "yes (13.6 s–15.3 s)", "2.4600", "2.4900"] in runs  # fmt: skip
    assert any(row[0] == "gpt, batch 64 · cuda:0" and row[5] == "-2.5 %" for row in runs)


def test_throughput_has_tokens_flops_and_mfu_against_both_peaks() -> None:
    markdown = render_markdown(load_fixture("one_gpu"))
    table = next(rows for headers, rows in parse_markdown_tables(markdown) if "MFU" in headers)
    gpt_gpu = next(row for row in table if row[0] == "gpt, batch 64 · cuda:0")
    assert gpt_gpu[1:] == [
        "16,384", "102,400", "1.18 TFLOP", "7.35 TFLOP/s", "40.2 %",
        "18.3 TFLOP/s (float32)", "19.5 TFLOP/s (NVIDIA A800 PCIe datasheet, FP32)",
        "—",  # recorded before the FLOPs method was: not claimed
    ]  # fmt: skip


def test_failed_cells_warnings_and_environment() -> None:
    markdown = render_markdown(load_fixture("failed_cells"))
    assert "- gpt/cuda:0/b512/reference: oom: CUDA out of memory. Tried to allocate 3.00 GiB." in (
        markdown
    )
    assert "- gpt/cpu/b512/reference/t2: timeout: no result within 1320 s" in markdown
    assert "gpt/cpu/b64/reference/t2: noisy — the step time's IQR is 16% of its median" in markdown
    assert "- Verdict: CUDA ready: Tesla T4, driver 550.54.15, torch 2.13.0+cu126" in markdown
    assert "- GPU: Tesla T4, driver 550.54.15, 15.0 GiB, 0 % busy at start" in markdown
    assert markdown.rstrip().endswith("```\ngpubench run --batch-sizes 64,512\n```")


def test_synthetic_data_and_launch_blocking_are_warned_about() -> None:
    run = load_fixture("cpu_only")
    run.settings = dataclasses.replace(run.settings, data=DataSource("synthetic", None, True))
    run.metadata["cuda_launch_blocking"] = True
    markdown = render_markdown(run)
    assert markdown.splitlines()[0].endswith("· synthetic data")
    assert "- synthetic tokens (synthetic): timings are valid, losses are not meaningful" in (
        markdown
    )
    assert "- CUDA_LAUNCH_BLOCKING=1 was set: GPU timings are meaningless" in markdown


def test_interrupted_run_says_what_is_missing_and_how_to_resume() -> None:
    markdown = render_markdown(load_fixture("interrupted"))
    assert markdown.splitlines()[0].endswith("· interrupted")
    assert "not reached: gpt, batch 64 on cuda:0" in markdown
    assert "`gpubench run --resume reports/20260305T1400Z-h100ic`" in markdown


def test_terminal_shows_the_same_numbers(any_run: RunResults) -> None:
    console = Console(record=True, width=200, color_system=None)
    render_terminal(any_run, console)
    text = console.export_text()
    for sentence in summary_sentences(any_run):
        assert sentence[:60] in text
    assert any_run.command[0] in text


def test_terminal_one_gpu_table_row() -> None:
    console = Console(record=True, width=200, color_system=None)
    render_terminal(load_fixture("one_gpu"), console)
    row = next(line for line in console.export_text().splitlines() if line.startswith("│ 3,000"))
    assert [cell.strip() for cell in row.split("│")[1:-1]] == [
        "3,000", "14.6 s", "18.1 s", "0.81×", "cpu",
    ]  # fmt: skip


def test_json_is_results_json_with_the_summary() -> None:
    run = load_fixture("two_gpus")
    data = json.loads(render_json(run))
    assert data["schema"] == "gpubench.run/2"
    assert data["summary"] == summary_sentences(run)
    assert RunResults.from_dict(data).estimates == run.estimates


def test_report_files_are_written(tmp_path: Path) -> None:
    written = write_report_files(load_fixture("one_gpu"), tmp_path)
    assert [path.name for path in written] == ["report.md", "cells.csv", "crossover.png"]
    assert "![Time to train vs iterations, per device](crossover.png)" in (
        (tmp_path / "report.md").read_text(encoding="utf-8")
    )


@pytest.mark.usefixtures("no_matplotlib")
def test_without_matplotlib_the_report_has_a_note_and_a_text_chart(tmp_path: Path) -> None:
    written = write_report_files(load_fixture("one_gpu"), tmp_path)
    assert [path.name for path in written] == ["report.md", "cells.csv"]
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert PLOT_SKIPPED in markdown
    assert "bigram, batch 32: time to train (log scale)" in markdown
    assert "cuda:0: faster from ~35,000 iterations" in markdown


def test_a_run_interrupted_before_its_first_cell_still_renders(tmp_path: Path) -> None:
    run = RunResults(
        run_id="20260306T0900Z-empty0", created_utc="2026-03-06T09:00:00+00:00",
        command=["gpubench", "run"], settings={"devices": ["cpu", "cuda:0"], "iters": [500]},
        metadata={}, status="interrupted",
    )  # fmt: skip
    assert summary_sentences(run) == [
        "Nothing was measured yet (the run was interrupted before its first cell), so there is "
        "no answer in this run."
    ]
    assert render_markdown(run).startswith(
        "# gpubench run 2026-03-06T09:00Z · nothing measured · interrupted"
    )
    render_terminal(run, Console(record=True, width=100))
    assert json.loads(render_json(run))["status"] == "interrupted"
    assert [path.name for path in write_report_files(run, tmp_path)] == [
        "report.md", "cells.csv", "crossover.png",
    ]  # fmt: skip


def test_a_busy_machine_at_the_start_is_a_warning() -> None:
    run = load_fixture("cpu_only")
    assert not any("busy" in line for line in render_markdown(run).splitlines())
    run.metadata["load_average_start"] = [2.88, 2.95, 2.03]
    assert (
        "- the machine was busy at the start (load average 2.88 on 2 logical cores): CPU "
        "timings may be slower and noisier than on an idle machine"
    ) in render_markdown(run)


def test_environment_reads_the_doctors_facts() -> None:
    markdown = render_markdown(load_fixture("two_gpus"))
    assert "- torch 2.13.0+cu126, CUDA 12.6, cuDNN 91002" in markdown
    assert "- GPU: NVIDIA GeForce RTX 3060, driver 570.133.07, 12.0 GiB, 4 % busy at start" in (
        markdown
    )


def test_math_settings_are_listed_when_recorded() -> None:
    run = load_fixture("one_gpu")
    assert "Math settings" not in render_markdown(run)
    run.metadata.update(tf32=False, autocast="off", compile=False)
    assert "- Math settings: TF32 False, autocast off, torch.compile False" in render_markdown(run)


def test_the_phase_rows_add_up_to_the_fixed_costs() -> None:
    run = load_fixture("failed_cells")
    for headers, rows in parse_markdown_tables(render_markdown(run)):
        if not rows or not rows[0][0].startswith("startup"):
            continue
        for column in range(1, len(headers)):
            values = {row[0]: row[column] for row in rows}
            if not values["**fixed costs F**"][:1].isdigit():
                continue  # a cell without numbers
            parts = [
                parse_duration(values[name])
                for name in ("startup (import torch)", "device init", "data (read, encode, move)",
                             "build (model, optimizer)", "first steps beyond steady")
            ]  # fmt: skip
            fixed, slack = parse_duration(values["**fixed costs F**"])
            slack += sum(half for _, half in parts)
            assert abs(sum(value for value, _ in parts) - fixed) <= slack, (headers, column)
