"""The recorded fixtures are what the builder makes, and tell the stories they claim to."""

from __future__ import annotations

import json

import pytest

from gpubench.results.costmodel import cell_cost_model
from gpubench.results.model import CellKey
from tests.report.conftest import load_fixture
from tests.report.fixtures.build import BUILDERS, NAMES, fixture_dir


@pytest.mark.parametrize("name", NAMES)
def test_committed_results_match_the_builder(name: str) -> None:
    committed = json.loads((fixture_dir(name) / "results.json").read_text(encoding="utf-8"))
    built = json.loads(json.dumps(BUILDERS[name]().to_dict()))
    assert committed == built, "rewrite with: python -m tests.report.fixtures.build"


def test_one_gpu_reproduces_the_lecture_bigram_at_3000_iterations() -> None:
    run = load_fixture("one_gpu")
    cpu = run.cell(CellKey("bigram", "cpu", 32, "reference", 16))
    gpu = run.cell(CellKey("bigram", "cuda:0", 32))
    assert cpu is not None and gpu is not None
    assert cpu.run_for(3000, "lecture").seconds == 14.6
    assert gpu.run_for(3000, "lecture").seconds == 18.1
    cpu_model, gpu_model = cell_cost_model(cpu), cell_cost_model(gpu)
    assert cpu_model.predict(3000) == pytest.approx(14.6, abs=0.1)
    assert cpu_model.step_s > gpu_model.step_s  # the GPU's step is slightly cheaper
    assert gpu_model.fixed_s - cpu_model.fixed_s == pytest.approx(3.8, abs=0.1)


def test_cpu_only_run_has_the_2_core_step_times() -> None:
    run = load_fixture("cpu_only")
    steps = {cell.key.model: cell.phases.step.median_s for cell in run.cells}
    assert steps == {"bigram": 0.00061, "gpt": 10.2}
    assert {cell.key.threads for cell in run.cells} == {2}


def test_interrupted_run_keeps_what_was_measured() -> None:
    run = load_fixture("interrupted")
    assert run.status == "interrupted"
    assert [cell.status for cell in run.cells] == ["ok", "ok", "interrupted"]
