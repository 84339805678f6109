"""compare: runs from different machines lined up cell by cell, and its refusals."""

from __future__ import annotations

import pytest
from rich.console import Console

from gpubench.errors import UsageError
from gpubench.report.compare import compare_runs, comparison_rows, render_comparison
from gpubench.results.costmodel import cell_cost_model
from tests.report.conftest import load_fixture


def test_a_cpu_only_laptop_sees_what_the_other_machines_gpu_does() -> None:
    laptop, a800 = load_fixture("cpu_only"), load_fixture("one_gpu")
    comparison = compare_runs([laptop, a800])
    gpt = comparison.group("gpt", 64)
    assert [device.label for device in gpt.devices] == ["A cpu", "B cpu", "B cuda:0"]
    assert [row.iters for row in gpt.rows] == [500, 3000, 5000, 50000]
    laptop_model, a800_model = cell_cost_model(laptop.cells[1]), cell_cost_model(a800.cells[3])
    assert laptop_model is not None and a800_model is not None
    laptop_step, a800_step = laptop_model.per_step_s("lecture"), a800_model.per_step_s("lecture")
    implied = {(c.baseline.label, c.device.label): c for c in gpt.crossovers}
    gpu_vs_laptop = implied[("A cpu", "B cuda:0")]
    assert gpu_vs_laptop.kind == "from-first"
    assert gpu_vs_laptop.step_ratio == pytest.approx(laptop_step / a800_step)
    assert gpu_vs_laptop.sentence == (
        "B cuda:0 (NVIDIA A800 80GB PCIe) beats A cpu from the first iteration: 64× faster per step"
    )
    assert implied[("B cpu", "B cuda:0")].step_ratio == pytest.approx(9.8, abs=0.05)
    row = gpt.rows[-1]  # 50,000 iterations, all extrapolated
    assert row.estimates[0] is not None and row.estimates[2] is not None
    assert row.speedups[2] == pytest.approx(row.estimates[0].seconds / row.estimates[2].seconds)


def test_speedups_per_iteration_count_in_the_table() -> None:
    comparison = compare_runs([load_fixture("cpu_only"), load_fixture("one_gpu")])
    headers, rows = comparison_rows(comparison.group("bigram", 32))
    assert headers == ["iters", "A cpu", "B cpu", "B cuda:0"]
    # The 2-core laptop's CPU (A) trains the bigram faster than the A800 box, on either device.
    assert rows[1] == ["3,000", "~4.9 s", "14.6 s (0.33×)", "18.1 s (0.27×)"]
    assert rows[3] == ["50,000", "~49.2 s", "~3.5 min (0.24×)", "~3.5 min (0.24×)"]


def test_the_crossover_each_machine_implies() -> None:
    comparison = compare_runs([load_fixture("cpu_only"), load_fixture("two_gpus")])
    bigram = comparison.group("bigram", 32)
    kinds = {(c.baseline.label, c.device.label): c.kind for c in bigram.crossovers}
    assert kinds == {
        ("A cpu", "B cpu"): "until",  # cheaper up front, dearer per step
        ("A cpu", "B cuda:0"): "never",
        ("A cpu", "B cuda:1"): "never",
        ("B cpu", "B cuda:0"): "at",
        ("B cpu", "B cuda:1"): "never",
    }
    assert comparison.unmatched == [
        "gpt, batch 64 (A only)", "bigram, batch 512 (B only)", "gpt, batch 32 (B only)",
        "gpt, batch 512 (B only)",
    ]  # fmt: skip


def test_rendered_comparison_says_how_much_faster_and_from_when() -> None:
    console = Console(record=True, width=120, color_system=None)
    render_comparison(compare_runs([load_fixture("cpu_only"), load_fixture("one_gpu")]), console)
    text = console.export_text()
    assert "A = 20260301T1015Z-3f2a1c" in text and "B = 20260302T0812Z-a800c1" in text
    assert "B cuda:0 (NVIDIA A800 80GB PCIe) beats A cpu from the first iteration: 64×" in text
    assert "B cuda:0 (NVIDIA A800 80GB PCIe) beats B cpu from ~35,000 iterations" in text


def test_refuses_when_a_models_config_differs() -> None:
    other = load_fixture("one_gpu")
    for cell in other.cells:
        if cell.key.model == "gpt":
            cell.config["n_layer"] = 4
    with pytest.raises(
        UsageError, match=r"cannot compare gpt: its config differs .*n_layer 6 vs 4"
    ):
        compare_runs([load_fixture("cpu_only"), other])


def test_refuses_when_no_cell_is_shared() -> None:
    other = load_fixture("one_gpu")
    other.cells = [cell for cell in other.cells if cell.key.model == "gpt"]
    for cell in other.cells:
        cell.key = type(cell.key)("gpt", cell.key.device, 128, "reference", cell.key.threads)
        cell.config["batch_size"] = 128
    laptop = load_fixture("cpu_only")
    laptop.cells = [cell for cell in laptop.cells if cell.key.model == "gpt"]
    with pytest.raises(UsageError, match="the runs share no cell"):
        compare_runs([laptop, other])


def test_needs_two_runs() -> None:
    with pytest.raises(UsageError, match="at least two"):
        compare_runs([load_fixture("cpu_only")])


def test_speedups_are_against_the_first_measured_cpu() -> None:
    comparison = compare_runs([load_fixture("failed_cells"), load_fixture("two_gpus")])
    gpt = comparison.group("gpt", 512)
    assert [device.label for device in gpt.devices] == [
        "A cpu", "A cuda:0", "B cpu", "B cuda:0", "B cuda:1",
    ]  # fmt: skip
    assert gpt.baseline == 2  # A's CPU timed out at batch 512
    headers, rows = comparison_rows(gpt)
    assert rows[0] == [
        "500", "failed (timeout)", "failed (oom)", "~1.9 h", "~10.1 min (11×)", "failed (oom)",
    ]  # fmt: skip
    assert [c.kind for c in gpt.crossovers].count("unknown") == 6


def test_equal_per_step_costs_are_not_called_slower():
    from gpubench.report.compare import compare_runs
    from tests.report.conftest import load_fixture

    run = load_fixture("cpu_only")
    sentences = [c.sentence for g in compare_runs([run, run]).groups for c in g.crossovers]
    assert sentences
    assert all("cost the same per step" in sentence for sentence in sentences)


def test_a_device_cheaper_up_front_but_dearer_per_step_wins_until_n() -> None:
    comparison = compare_runs([load_fixture("cpu_only"), load_fixture("two_gpus")])
    bigram = comparison.group("bigram", 32)
    until = next(c for c in bigram.crossovers if (c.baseline.label, c.device.label) == (
        "A cpu", "B cpu"))  # fmt: skip
    assert until.kind == "until" and until.iters is not None
    assert until.fixed_gap_s is not None and until.fixed_gap_s < 0  # ahead in fixed costs
    assert until.step_ratio is not None and until.step_ratio < 1  # dearer per step
    assert until.sentence.startswith(
        f"B cpu (AMD Ryzen 9 7950X 16-Core Processor (16 threads)) wins until "
        f"{until.iters:,.0f} iterations against A cpu: it starts "
    )
    assert "ahead but is 1.4× slower per step" in until.sentence
    assert "no verdict" not in until.sentence
    console = Console(record=True, width=200, color_system=None)
    render_comparison(comparison, console)
    assert f"wins until {until.iters:,.0f} iterations against A cpu" in console.export_text()


def ddp_run(tmp_path, monkeypatch, name: str):
    """A run with a 1-thread CPU cell and its strong and weak cells on 2 ranks of 1 thread
    each (the fake launcher of the engine's tests): one key apart only by world size."""
    from gpubench.bench import distributed as distributed_module
    from tests.bench.test_engine_budget import FakeWorkers, make_engine
    from tests.bench.test_engine_ranks import FakeLauncher

    monkeypatch.setattr(distributed_module, "launch_cell", FakeLauncher())
    folder = tmp_path / name
    folder.mkdir()
    engine = make_engine(folder, monkeypatch, FakeWorkers(), models="bigram", threads="1",
                         nproc="1,2", iters="100,1000")  # fmt: skip
    return engine.run()


def test_ddp_cells_match_on_world_size_and_scaling_never_on_the_single_device(
    tmp_path, monkeypatch
) -> None:
    runs = [ddp_run(tmp_path, monkeypatch, "a"), ddp_run(tmp_path, monkeypatch, "b")]
    comparison = compare_runs(runs)
    single = comparison.group("bigram", 32)
    assert [device.label for device in single.devices] == ["A cpu", "B cpu"]
    for scaling in ("strong", "weak"):
        group = comparison.group("bigram", 32, world_size=2, scaling=scaling)
        assert [device.label for device in group.devices] == [
            f"A cpu ×2 ({scaling})", f"B cpu ×2 ({scaling})",
        ]  # fmt: skip
        assert f"×2 ({scaling})" in group.title
    for group in comparison.groups:  # each column shows its own cell's times
        for index, device in enumerate(group.devices):
            own = {
                (e.iters, e.protocol): e for e in device.run.results.estimates[device.cell.key.id]
            }
            for row in group.rows:
                shown, stored = row.estimates[index], own[(row.iters, group.protocol)]
                assert shown is not None, device.label
                assert (shown.seconds, shown.low_s, shown.high_s) == (
                    stored.seconds, stored.low_s, stored.high_s,
                ), device.label  # fmt: skip
        assert all(
            (c.baseline.cell.key.world_size, c.baseline.cell.key.scaling)
            == (c.device.cell.key.world_size, c.device.cell.key.scaling)
            for c in group.crossovers
        )  # a crossover pairs cells of one world size and scaling mode
    assert comparison.unmatched == []
    console = Console(record=True, width=160, color_system=None)
    render_comparison(comparison, console)
    assert "B cpu ×2 (weak)" in console.export_text()


def test_a_ddp_cell_only_one_run_has_is_named_with_its_world_size(tmp_path, monkeypatch) -> None:
    runs = [ddp_run(tmp_path, monkeypatch, "a"), ddp_run(tmp_path, monkeypatch, "b")]
    runs[1].cells = [cell for cell in runs[1].cells if cell.key.scaling != "weak"]
    comparison = compare_runs(runs)
    assert comparison.unmatched == ["bigram, batch 32 · ×2 (weak) (A only)"]


def test_compared_times_are_the_runs_stored_estimates_with_their_ranges() -> None:
    laptop, a800 = load_fixture("cpu_only"), load_fixture("one_gpu")
    gpt = compare_runs([laptop, a800]).group("gpt", 64)
    stored = {(e.iters, e.protocol): e for e in a800.estimates[a800.cells[3].key.id]}
    for row in gpt.rows:
        estimate = row.estimates[2]  # B cuda:0
        assert estimate is not None
        if (row.iters, "lecture") in stored:
            assert estimate == stored[(row.iters, "lecture")]
        else:  # a count only the laptop asked for: off the A800's cost terms, range and all
            assert not estimate.measured
            assert estimate.predicted_low_s == estimate.low_s
            assert estimate.predicted_high_s == estimate.high_s
            assert estimate.dominant is not None
    assert any(row.iters not in a800.settings.iters for row in gpt.rows)
