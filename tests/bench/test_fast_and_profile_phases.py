"""The fast variant's probe and the op profile as phases of a real cell: recorded in
results.json, the probe counted in F, a cached choice reused, and a full run that trains with
the choices its phases made, compared with the prediction less the one-time probe."""

import subprocess
import sys
from pathlib import Path

import pytest

from gpubench.results.cost_terms import CostModel
from gpubench.results.costmodel import fit_cost_model
from gpubench.results.io import load_results
from gpubench.results.ranges import run_evidence

TINY_GPT = [
    "--set", "n_layer=1", "--set", "n_embd=16", "--set", "n_head=2", "--set", "block_size=8",
    "--set", "eval_iters=4", "--set", "eval_interval=50", "--batch-sizes", "4",
]  # fmt: skip


def gpubench_run(tmp_path: Path, name: str, *extra: str) -> Path:
    text = tmp_path / "text.txt"
    text.write_text("the quick brown fox jumps over the lazy dog.\n" * 200)
    result = subprocess.run(
        [
            sys.executable, "-m", "gpubench", "run", "--models", "gpt", "--devices", "cpu",
            "--threads", "1", "--variant", "fast", "--iters", "10", "--budget", "15", "--full",
            "--data", str(text), *TINY_GPT, "--out", str(tmp_path), "--name", name, *extra,
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return tmp_path / name


@pytest.mark.slow
def test_fast_cell_records_its_choices_profile_and_probe_time(tmp_path):
    first = load_results(gpubench_run(tmp_path, "first"))
    (cell,) = first.cells
    assert cell.fast_choices is not None and cell.fast_choices["options"]
    assert cell.fast_choices["from_cache"] is False
    assert cell.phases.tune_s and cell.phases.tune_s > 0
    # The probe is part of the fixed costs, and the stored terms say so.
    without_probe = fit_cost_model(
        type(cell.phases)(**{**cell.phases.__dict__, "tune_s": None}),
        cell.config["eval_interval"],
        run_evidence(first, cell, {}),  # the full run's setup, as in the stored terms
    )
    assert cell.cost.fixed_s == pytest.approx(without_probe.fixed_s + cell.phases.tune_s)
    assert isinstance(cell.cost, CostModel)
    assert cell.profile is not None and cell.profile["ops"]
    (run,) = cell.runs  # --full: whether 10 steps fit 15 s is this machine's speed
    assert run.iters == 10
    launched_with = fit_cost_model(cell.phases, cell.config["eval_interval"])  # phases only
    expected = launched_with.predict(10, "lecture") - cell.phases.tune_s
    assert run.predicted_s == pytest.approx(expected)

    second = load_results(gpubench_run(tmp_path, "second"))
    (cached,) = second.cells
    assert cached.fast_choices["from_cache"] is True
    assert cached.fast_choices["options"] == cell.fast_choices["options"]
    assert not cached.phases.tune_s
