"""gpubench predict and gpubench gpus through a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gpubench.predict.gpus import GPUS

SAMPLE = Path(__file__).resolve().parents[2] / "reports" / "cpu-2core-xeon" / "results.json"
TINY = {
    "bigram": {"batch_size": 4, "block_size": 8, "eval_iters": 2, "eval_interval": 10},
    "gpt": {"batch_size": 2, "block_size": 16, "n_layer": 1, "n_embd": 32, "n_head": 2,
            "eval_iters": 2, "eval_interval": 10},
}  # fmt: skip


def gpubench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gpubench", *args],
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_gpus_json_lists_the_table() -> None:
    result = gpubench("gpus", "--json")
    assert result.returncode == 0
    rows = json.loads(result.stdout)
    assert [row["key"] for row in rows] == [gpu.key for gpu in GPUS]
    assert all(row["source"] for row in rows)


def test_predict_without_profiles_says_so_in_one_line() -> None:
    result = gpubench("predict", str(SAMPLE.parent), "--gpu", "t4")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--profile-now" in lines[0] and "re-run" in lines[0]


def test_predict_unknown_gpu_is_a_usage_error() -> None:
    result = gpubench("predict", str(SAMPLE.parent), "--gpu", "a9000")
    assert result.returncode == 2
    assert "a800-80gb-pcie" in result.stderr


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    """The committed sample run with its cells' configs made tiny (seconds to profile)."""
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    for cell in data["cells"]:
        cell["config"].update(TINY[cell["key"]["model"]])
    data["settings"]["data"] = {"label": "synthetic", "path": None, "synthetic": True}
    (tmp_path / "results.json").write_text(json.dumps(data), encoding="utf-8")
    return tmp_path


def test_predict_profile_now_predicts_every_cell_on_every_gpu(tiny_run: Path) -> None:
    result = gpubench("predict", str(tiny_run), "--gpu", "a800-80gb-pcie,t4", "--profile-now",
                      "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["label"] == "predicted"
    cells = {(p["model"], p["gpu"]) for p in payload["predictions"]}
    assert cells == {(m, g) for m in ("bigram", "gpt") for g in ("a800-80gb-pcie", "t4")}
    for prediction in payload["predictions"]:
        assert prediction["label"] == "predicted"
        assert prediction["step"]["regime"] in ("overhead", "memory", "compute")
        for total in prediction["totals"]:
            assert total["gpu_low_s"] <= total["gpu_s"] <= total["gpu_high_s"]


def test_rendered_predictions_say_durations_as_the_report_does() -> None:
    from gpubench.commands.predict import render_predictions
    from gpubench.predict.gpus import find_gpu
    from gpubench.predict.opmodel import predict_cell
    from gpubench.report.format import format_duration
    from gpubench.results.costmodel import CostModel

    from .conftest import gpt_profile

    t4 = find_gpu("t4")
    cell = predict_cell(
        model="gpt", batch_size=64, variant="reference",
        cpu_costs=CostModel(2.2, 7.8, 7.8, 7.8, 720, 500), profile=gpt_profile(), gpu=t4,
        iters=[5000], eval_iters=200, cpu_startup_s=2.2,
    )  # fmt: skip
    text = render_predictions([cell], [t4])
    (total,) = cell.totals
    row = next(line for line in text.splitlines() if line.startswith("| gpt b64 reference | t4"))
    assert row.split(" | ")[3:6] == [
        f"~{format_duration(total.cpu_s)}", format_duration(total.gpu_s),
        f"{format_duration(total.gpu_low_s)}–{format_duration(total.gpu_high_s)}",
    ]  # fmt: skip
    assert f"- {cell.reason}." in text
