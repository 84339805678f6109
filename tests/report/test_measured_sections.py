"""What the engine now measures, in the report: regimes, the op model beside GPU cells, the
pointer to `gpubench predict`, a busy machine, and the fast variant's measured choices."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from rich.console import Console

from gpubench.predict.gpus import find_gpu
from gpubench.report.busy import MARK
from gpubench.report.document import Bullets
from gpubench.report.notes import fast_choice_lines, warning_lines
from gpubench.report.predicted import gpu_checks, gpu_spec_for
from gpubench.report.regimes import NOT_PROFILED, NOT_PROFILED_DDP, regime_lines
from gpubench.report.render import build_report, render_json, render_markdown, render_terminal
from gpubench.report.sections import PREDICT_GPUS
from gpubench.results.cpuload import CpuLoad
from gpubench.results.profile import OpProfile, classify_regime
from tests.predict.conftest import loaded_probes_record
from tests.report.conftest import load_fixture, parse_markdown_tables

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "reports" / "cpu-2core-xeon"


def terminal_text(run: object, width: int = 200) -> str:
    console = Console(record=True, width=width, color_system=None)
    render_terminal(run, console)  # type: ignore[arg-type]
    return console.export_text()


# -- 1. the regime of every cell, measured ---------------------------------------------------


def test_each_profiled_cell_has_its_regime_with_the_figures_of_its_profile() -> None:
    run = load_fixture("profiled")
    lines = regime_lines(run)
    assert len(lines) == len([c for c in run.cells if c.phases is not None]) == 5
    for cell, line in zip(run.cells, lines, strict=True):
        assert cell.profile is not None and cell.phases is not None
        profile = OpProfile.from_dict(cell.profile)
        regime = classify_regime(profile, label="x", step_s=cell.phases.step.median_s)
        assert f"{profile.ops_per_step:,} ops per step" in line
        assert line.count("-bound") == 1 and f"{regime.kind}-bound" in line
        assert "Profiled op time: " in line and line.endswith(".")
    assert lines[0].startswith("bigram, batch 32, fast, cpu: 352 ops per step at ")
    assert "of the 916 µs step: overhead-bound" in lines[0]  # the measured median step
    gpt = next(line for line in lines if line.startswith("gpt, batch 64, reference, cpu"))
    assert "matmul" in gpt and "attention" in gpt and "optimizer" in gpt and "copies" in gpt


def test_a_regime_line_never_makes_a_part_larger_than_the_step() -> None:
    # A profile recorded while other work loaded the machine during its probes, beside the
    # step measured before: the probes' overhead (41.1 ms) exceeds that step (13 ms).
    record = loaded_probes_record()
    run = load_fixture("profiled")
    cell = run.cells[2]
    assert cell.phases is not None
    cell.profile = record["profile"]
    cell.phases.step.median_s = record["step_median_s"]
    line = regime_lines(run)[2]
    assert line.startswith("gpt, batch 64, reference, cpu: 565 ops per step at ")
    assert "41.1 ms by the machine probes, more than the whole 13 ms step it is part of" in line
    assert "41.1 ms of the 13 ms step" not in line
    assert "other work loaded the machine while it was probed" in line
    assert "the step profiled with the probes lasted 744 ms" in line
    for text in regime_lines(run):
        assert all(int(share) <= 100 for share in re.findall(r"(\d+) %", text)), text


def test_the_regimes_are_one_section_in_every_output() -> None:
    run = load_fixture("profiled")
    document = build_report(run)
    section = document.section("regimes")
    assert section is not None
    keys = [s.key for s in document.sections]
    assert keys.index("phases") < keys.index("regimes") < keys.index("measured-runs")
    first = regime_lines(run)[0]
    assert f"- {first}" in render_markdown(run)
    assert "352 ops per step at" in terminal_text(run, width=400)
    data = json.loads(render_json(run))
    regimes = next(s for s in data["report"]["sections"] if s["key"] == "regimes")
    assert first in regimes["blocks"][-1]["items"]


def test_runs_without_profiles_say_nothing_of_regimes(any_run: object) -> None:
    run = any_run
    if any(cell.profile for cell in run.cells):  # type: ignore[attr-defined]
        pytest.skip("this fixture has profiles")
    assert regime_lines(run) == []  # type: ignore[arg-type]
    assert build_report(run).section("regimes") is None  # type: ignore[arg-type]


def test_a_cell_without_a_profile_beside_profiled_ones_says_not_profiled() -> None:
    run = load_fixture("profiled")
    run.cells[2].profile = None
    line = regime_lines(run)[2]
    assert line == f"gpt, batch 64, reference, cpu: {NOT_PROFILED}"
    assert "bound" not in line


def test_a_ddp_cell_is_not_profiled_by_design_not_for_its_age() -> None:
    run = load_fixture("profiled")
    single = run.cells[2]
    ddp = dataclasses.replace(
        single, key=dataclasses.replace(single.key, world_size=2, scaling="weak"), profile=None
    )
    run.cells.append(ddp)
    line = regime_lines(run)[-1]
    assert line == f"gpt, batch 64, reference, cpu ×2 (weak): {NOT_PROFILED_DDP}"
    assert "measured before" not in line and "by design" in line
    assert regime_lines(run)[2].startswith("gpt, batch 64, reference, cpu: ")  # unchanged


# -- 2. a CPU-only run points to `gpubench predict` -----------------------------------------


def test_a_cpu_only_report_points_to_predict_in_its_first_lines(tmp_path: Path) -> None:
    run = load_fixture("cpu_only")
    lines = render_markdown(run, run_dir=tmp_path).splitlines()
    pointer = f"`gpubench predict {tmp_path} --gpu {PREDICT_GPUS} --profile-now`"
    assert any(pointer in line for line in lines[:6])
    assert any(f"gpubench compare {tmp_path} GPU_RUN_DIR" in line for line in lines)
    for key in PREDICT_GPUS.split(","):
        assert find_gpu(key).key == key


def test_a_cpu_only_run_with_profiles_points_to_predict_without_profile_now() -> None:
    run = load_fixture("profiled")
    run.cells = [cell for cell in run.cells if cell.key.device == "cpu"]
    markdown = render_markdown(run, run_dir="reports/tiny")
    assert f"`gpubench predict reports/tiny --gpu {PREDICT_GPUS}`." in markdown
    assert "--profile-now" not in markdown


def test_runs_with_a_gpu_cell_have_no_predict_pointer() -> None:
    for name in ("one_gpu", "profiled"):
        assert "gpubench predict tests" not in render_markdown(load_fixture(name))
        assert "`gpubench predict " not in str(build_report(load_fixture(name)).sections[0])


def test_the_committed_sample_changes_only_by_the_predict_pointer() -> None:
    from gpubench.report.sections import ReportContext, predict_pointer
    from gpubench.results.io import load_results

    run = load_results(SAMPLE)
    rendered = render_markdown(run, plot_file="crossover.png", run_dir="reports/cpu-2core-xeon")
    pointer = predict_pointer(ReportContext(run, "reports/cpu-2core-xeon"))
    assert pointer.endswith("profiles its cells on this CPU first).")
    lines = rendered.splitlines()
    assert lines[3] == f"- {pointer}"
    assert build_report(run).section("regimes") is None
    assert build_report(run).section("predicted") is None
    assert build_report(run).section("busy-machine") is None


# -- 3. the op model beside every GPU cell --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("NVIDIA A800 80GB PCIe", "a800-80gb-pcie"),
        ("NVIDIA H100 80GB HBM3", "h100-sxm5"),
        ("NVIDIA H100 PCIe", "h100-pcie"),
        ("Tesla T4", "t4"),
        ("NVIDIA GeForce RTX 4090", "rtx-4090"),
        ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"),
        ("NVIDIA A100-SXM4-40GB", "a100-sxm4-40gb"),
        ("Tesla V100-SXM2-32GB", "v100-sxm2"),
        ("NVIDIA A100 80GB PCIe", None),  # not in the table: no stand-in
        ("NVIDIA H200 NVL", None),
        ("Tesla V100-PCIE-16GB", None),
        ("NVIDIA A10G", None),
        ("", None),
    ],
)
def test_gpu_names_map_to_the_table_only_when_one_entry_fits(name: str, key: str | None) -> None:
    spec = gpu_spec_for(name)
    assert (spec.key if spec else None) == key


def test_every_gpu_cell_shows_the_prediction_beside_the_measurement() -> None:
    run = load_fixture("profiled")
    checks = gpu_checks(run)
    gpu_cells = [c for c in run.cells if c.key.device == "cuda:0"]
    assert [check.cell for check in checks] == gpu_cells
    assert all(check.prediction is not None for check in checks)
    markdown = render_markdown(run)
    table = next(
        (headers, rows) for headers, rows in parse_markdown_tables(markdown)
        if headers[:2] == ["cell", "term"]
    )  # fmt: skip
    headers, rows = table
    assert headers[2] == "measured" and headers[3] == "predicted by the model"
    by_term = {(row[0], row[1]): row for row in rows}
    for check in checks:
        name = f"{check.cell.key.model}, batch {check.cell.key.batch_size}"
        step = next(
            row
            for (cell, term), row in by_term.items()
            if term == "step s" and cell.startswith(name)
        )
        assert check.cell.cost is not None and check.prediction is not None
        measured_ms = check.cell.cost.step_s * 1e3
        predicted_ms = check.prediction.step.step_s * 1e3
        assert step[2].endswith("ms") and float(step[2].split()[0]) == pytest.approx(
            measured_ms, rel=0.01
        )
        assert float(step[3].split()[0]) == pytest.approx(predicted_ms, rel=0.01)
        assert step[5] == f"{predicted_ms / measured_ms:.2f}×"
    # Every predicted figure is labelled: the column, the caption and each sentence.
    section = build_report(run).section("predicted")
    assert section is not None
    bullets = next(b for b in section.blocks if isinstance(b, Bullets))
    assert all(item.startswith("Predicted by the op model: ") for item in bullets.items)
    assert "a800-80gb-pcie" in bullets.items[0]
    assert "The model's assumptions:" in markdown


def test_the_prediction_uses_the_cpu_twins_profile_not_the_gpu_measurement() -> None:
    run = load_fixture("profiled")
    before = [check.prediction.step.step_s for check in gpu_checks(run)]  # type: ignore[union-attr]
    for cell in run.cells:
        if cell.key.device == "cuda:0" and cell.cost is not None:
            cell.cost = type(cell.cost)(**{**cell.cost.__dict__, "step_s": 1.0})
    after = [check.prediction.step.step_s for check in gpu_checks(run)]  # type: ignore[union-attr]
    assert before == after


def test_a_gpu_outside_the_table_is_said_so_not_predicted() -> None:
    run = load_fixture("profiled")
    for cell in run.cells:
        if cell.key.device == "cuda:0":
            cell.device_name = "NVIDIA A10G"
    markdown = render_markdown(run)
    assert "not predicted — NVIDIA A10G is not in the op model's GPU table" in markdown
    assert not any(h[:2] == ["cell", "term"] for h, _ in parse_markdown_tables(markdown))


def test_gpu_runs_without_profiles_have_no_prediction_section() -> None:
    for name in ("one_gpu", "two_gpus", "failed_cells", "interrupted"):
        assert build_report(load_fixture(name)).section("predicted") is None


# -- 4. a busy machine -------------------------------------------------------------------------


def test_a_busy_machine_opens_the_report_and_the_terminal_with_the_rerun_command() -> None:
    run = load_fixture("busy_cpu")
    markdown = render_markdown(run).splitlines()
    assert markdown[2].startswith("**The CPU was busy: other processes used 1.6 of 2 cores")
    assert "bigram/cpu/b32/reference/t2" in markdown[2]
    assert markdown[4] == (
        "**Rerun when the machine is idle, or with the cores that are free: "
        "`gpubench run --threads 1`**"
    )
    text = terminal_text(run).splitlines()
    assert text[1].startswith("The CPU was busy: other processes used 1.6 of 2 cores")
    assert "gpubench run --threads 1" in text[2]
    assert build_report(run).sections[0].key == "busy-machine"


def test_the_busy_cells_are_marked_in_the_time_tables_with_a_legend() -> None:
    run = load_fixture("busy_cpu")
    markdown = render_markdown(run)
    tables = parse_markdown_tables(markdown)
    bigram = [rows for headers, rows in tables if headers == ["bigram, batch 32", f"cpu {MARK}"]]
    gpt = [rows for headers, rows in tables if headers == ["gpt, batch 64", "cpu"]]
    assert len(bigram) == 3  # lecture, train, where the time goes
    assert all(row[1].endswith(f" {MARK}") for rows in bigram for row in rows)
    assert gpt and not any(MARK in row[1] for rows in gpt for row in rows)
    assert f"`{MARK}` = other processes used the cores" in markdown


def test_the_load_average_warning_stays_only_without_per_cell_loads() -> None:
    busy = load_fixture("busy_cpu")
    assert not any("busy at the start" in line for line in warning_lines(busy))
    for cell in busy.cells:
        cell.cpu_load = None
    assert any("busy at the start (load average 3.40" in line for line in warning_lines(busy))
    assert build_report(busy).section("busy-machine") is None


def test_an_idle_machine_with_loads_recorded_says_nothing() -> None:
    run = load_fixture("cpu_only")
    for cell in run.cells:
        cell.cpu_load = CpuLoad(2, 2, 0.05, 0.1, 20)
    markdown = render_markdown(run)
    assert "The CPU was busy" not in markdown and f"cpu {MARK}" not in markdown


# -- 5. the fast variant's measured choices --------------------------------------------------


def test_the_notes_say_what_the_fast_variant_chose_with_its_timings() -> None:
    run = load_fixture("profiled")
    gpt_fast = next(c for c in run.cells if c.key.id == "gpt/cpu/b64/fast/t2")
    lines = fast_choice_lines(gpt_fast)
    assert lines[0].startswith("gpt/cpu/b64/fast/t2: fast variant options measured in 2.1 s")
    assert "the probe took 2.1 s of this cell, counted in its fixed costs F" in lines[0]
    assert (
        "gpt/cpu/b64/fast/t2: bf16 autocast: off (fp32) — fp32 step 0.00454 s vs bf16 0.00574 s"
        in lines
    )
    assert gpt_fast.fast_choices is not None
    assert len(lines) == 1 + len(gpt_fast.fast_choices["options"])
    notes = build_report(run).section("notes")
    assert notes is not None and set(lines) <= set(notes.blocks[0].items)  # type: ignore[union-attr]


def test_choices_from_the_cache_say_so_and_cost_no_probe() -> None:
    run = load_fixture("profiled")
    bigram = next(c for c in run.cells if c.key.id == "bigram/cpu/b32/fast/t2")
    first = fast_choice_lines(bigram)[0]
    assert "from the cache (measured earlier in 2.1 s)" in first
    assert first.endswith("; no probe in this run")
    reference = next(c for c in run.cells if c.key.variant == "reference")
    assert fast_choice_lines(reference) == []


def test_a_crossover_reason_and_the_regime_lines_judge_a_cell_against_the_same_step() -> None:
    run = load_fixture("profiled")
    cpu = next(line for line in regime_lines(run) if line.startswith("bigram, batch 32, fast, cpu"))
    reasons = [c.reason for c in run.crossovers if c.model == "bigram"]
    assert reasons and "of the 916 µs step" in cpu  # the median step, not the mean (1.18 ms)
    assert all("cpu: 352 ops per step" in reason and "of the 916 µs step" in reason
               for reason in reasons)  # fmt: skip
