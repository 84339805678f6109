"""results.json: schema round trip, derived values, atomic writes, refusal of non-runs,
and the upgrade of schema /1 runs (the committed sample among them)."""

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from gpubench.results.costmodel import derive_results, fit_cost_model
from gpubench.results.io import load_results, save_results
from gpubench.results.model import (
    SCHEMA,
    CellKey,
    CellResult,
    Failure,
    MeasuredRun,
    Phases,
    RunResults,
    StepStats,
    Throughput,
)
from gpubench.results.sweep_options import SweepOptions

SAMPLE = Path(__file__).resolve().parents[2] / "reports" / "cpu-2core-xeon"


def sample_results() -> RunResults:
    config = {"batch_size": 32, "block_size": 8, "eval_interval": 300, "eval_iters": 200}
    step = StepStats(0.002, 0.0018, 0.0026, 500, 50, 5, [0.1, 0.1, 0.11])
    phases = Phases(1.5, 0.01, 0.3, 0.02, [0.01, 0.003, 0.002], step, 0.6, 200, 200)
    ok = CellResult(
        key=CellKey("bigram", "cpu", 32, "reference", 2), config=config, status="ok",
        device_name="CPU (2 threads)", n_params=4225, phases=phases,
        throughput=Throughput(256, 128000.0, 1.6e6, 8e8, "float32", 5e10, 0.016),
        runs=[MeasuredRun(500, "lecture", 4.3, 2.5, 2.6, 2.62, predicted_s=4.1)],
    )  # fmt: skip
    failed = CellResult(
        key=CellKey("gpt", "cpu", 64, "reference", 2), config=config, status="failed",
        failure=Failure("oom", "killed", "tail"),
    )  # fmt: skip
    results = RunResults("run-1", "2026-11-25T10:00:00+00:00", ["gpubench", "run"],
                         {"protocol": "lecture", "iters": [500, 5000]}, {"torch": "2.13.0"},
                         cells=[ok, failed])  # fmt: skip
    derive_results(results, [500, 5000])
    return results


def test_round_trip_preserves_everything(tmp_path):
    results = sample_results()
    save_results(results, tmp_path)
    loaded = load_results(tmp_path)
    assert loaded == results


def test_stored_json_has_schema_and_derived_values(tmp_path):
    save_results(sample_results(), tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["schema"] == SCHEMA
    cell = data["cells"][0]
    assert cell["id"] == "bigram/cpu/b32/reference/t2"
    assert cell["phases"]["step"]["spread"] == pytest.approx(0.0008 / 0.002)
    assert cell["phases"]["step"]["noisy"] is True
    assert cell["runs"][0]["prediction_error"] == pytest.approx((4.1 - 4.3) / 4.3)
    estimates = data["estimates"]["bigram/cpu/b32/reference/t2"]
    measured = [e for e in estimates if e["measured"]]
    assert [(e["iters"], e["protocol"]) for e in measured] == [(500, "lecture")]
    assert "gpt/cpu/b64/reference/t2" not in data["estimates"]  # failed: nothing to estimate


def test_no_temp_files_are_left_behind(tmp_path):
    save_results(sample_results(), tmp_path)
    save_results(sample_results(), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_a_folder_without_results_is_not_a_run(tmp_path):
    with pytest.raises(ValueError, match="not a gpubench run"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"schema": "other/1"}')
    with pytest.raises(ValueError, match="not a gpubench.run/2"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("{trunc")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_results(tmp_path)


def test_each_cell_stores_its_fitted_cost_terms(tmp_path):
    save_results(sample_results(), tmp_path)
    data = json.loads((tmp_path / "results.json").read_text())
    ok, failed = data["cells"]
    mean_step = (0.1 + 0.1 + 0.11) / 3 / 50  # a total is a sum: the mean of the blocks
    assert ok["cost"]["step_s"] == pytest.approx(mean_step)
    assert ok["cost"]["eval_interval"] == 300
    excess = (0.01 - mean_step) + (0.003 - mean_step)
    setup = 1.5 + 0.01 + 0.3 + 0.02
    # the setup is the mean of the phases' and the full run's (4.3 s - its 2.5 s loop)
    assert ok["cost"]["fixed_s"] == pytest.approx((setup + (4.3 - 2.5)) / 2 + excess)
    assert failed["cost"] is None
    loaded = load_results(tmp_path)
    assert loaded.cells[0].cost == sample_results().cells[0].cost  # stored and read back
    assert loaded.cells[0].cost.step_s == pytest.approx(mean_step)


def test_settings_are_typed_and_read_back_as_the_same_type(tmp_path):
    results = sample_results()
    assert isinstance(results.settings, SweepOptions)
    results.settings = replace(results.settings, threads=(2, 1), overrides={"n_layer": "2"})
    save_results(results, tmp_path)
    stored = json.loads((tmp_path / "results.json").read_text())["settings"]
    assert stored["threads"] == [2, 1]
    assert stored["data"] == {"label": "unknown", "path": None, "synthetic": False}
    loaded = load_results(tmp_path)
    assert loaded.settings == results.settings
    assert loaded.settings.iters == (500, 5000)


def test_the_committed_schema_1_sample_loads_with_cost_terms(tmp_path):
    raw = json.loads((SAMPLE / "results.json").read_text())
    assert raw["schema"] == "gpubench.run/1"
    assert all("cost" not in cell for cell in raw["cells"])
    results = load_results(SAMPLE)
    assert results.schema == SCHEMA
    assert results.settings.protocol == "lecture"
    assert results.settings.threads == (2,)
    for cell in results.cells:
        assert cell.cost.step_s == pytest.approx(fit_cost_model(cell.phases, 300).step_s)
    # the estimates are derived again from the raw data: the measured runs stay as measured
    first = raw["estimates"]["bigram/cpu/b32/reference/t2"][0]
    assert results.estimates["bigram/cpu/b32/reference/t2"][0].seconds == first["seconds"]
    # saved again, it is a /2 file that loads to the same record
    shutil.copy(SAMPLE / "results.json", tmp_path / "results.json")
    save_results(results, tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["schema"] == SCHEMA
    assert load_results(tmp_path) == results


def test_a_schema_1_run_stopped_before_its_estimates_gets_them_at_load(tmp_path):
    data = sample_results().to_dict()
    data["schema"] = "gpubench.run/1"
    data["estimates"], data["crossovers"] = {}, []
    for cell in data["cells"]:
        del cell["cost"]
    (tmp_path / "results.json").write_text(json.dumps(data))
    loaded = load_results(tmp_path)
    assert [e.iters for e in loaded.estimates["bigram/cpu/b32/reference/t2"]] == [
        500,
        5000,
        500,
        5000,
    ]


def test_v1_bigram_mfu_is_dropped_and_the_gpt_formula_is_named():
    """/1 counted the bigram's FLOPs with the GPT formula: its MFU meant nothing."""
    from gpubench.results.io import load_results

    run = load_results(SAMPLE)
    by_model = {cell.key.model: cell.throughput for cell in run.cells}
    assert by_model["bigram"].mfu is None and by_model["bigram"].flops_per_step is None
    assert "not counted" in by_model["bigram"].flops_method
    assert by_model["gpt"].flops_method == "formula (PaLM B)"
    assert by_model["gpt"].mfu is not None
