"""gpubench predict's CPU figures rest on the cost terms the run stored, as the report's do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gpubench.commands import predict
from gpubench.commands.report import load_run
from gpubench.predict.gpus import find_gpu
from gpubench.results.costmodel import fit_cost_model

SAMPLE = Path(__file__).resolve().parents[1] / "reports" / "cpu-2core-xeon"


def test_predict_uses_each_cells_stored_cost_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    results = load_run(str(SAMPLE))
    cells = predict.cpu_cells(results)
    refitted = [fit_cost_model(c.phases, int(c.config["eval_interval"])) for c in cells]
    assert all(c.cost is not None for c in cells)
    assert [c.cost for c in cells] != refitted  # the sample tells the two apart
    seen: list[Any] = []
    monkeypatch.setattr(predict, "predict_cell", lambda **kw: seen.append(kw["cpu_costs"]))
    profiles: dict[str, Any] = {cell.key.id: object() for cell in cells}
    predict.predict_run(results, profiles, [find_gpu("t4")])
    assert seen == [cell.cost for cell in cells]
