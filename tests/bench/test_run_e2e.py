"""``gpubench run`` end to end on the CPU with tiny configs: files, flags, predictions,
bad input, Ctrl-C and --resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import gpubench as gpubench_api
from gpubench.cli import app
from gpubench.results.io import load_results

TINY_BIGRAM = ["--set", "eval_iters=20", "--set", "eval_interval=100"]


def gpubench(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gpubench", *args], capture_output=True, text=True, **kwargs
    )


@pytest.fixture
def text_file(tmp_path: Path) -> Path:
    path = tmp_path / "text.txt"
    path.write_text("the quick brown fox jumps over the lazy dog.\n" * 400)
    return path


@pytest.mark.slow
def test_run_writes_reports_with_measured_and_extrapolated_figures(tmp_path, text_file):
    result = gpubench(
        "run", "--models", "bigram", "--devices", "cpu", "--iters", "300,3000,1e6",
        "--threads", "1", "--budget", "40", "--data", str(text_file), *TINY_BIGRAM,
        "--out", str(tmp_path), "--name", "e2e",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "CPU only" in result.stderr  # the doctor's verdict comes first
    run_dir = tmp_path / "e2e"
    for name in ("results.json", "cells.csv", "report.md"):
        assert (run_dir / name).is_file(), name

    results = load_results(run_dir)
    assert results.status == "complete"
    (cell,) = results.cells
    assert (
        cell.status == "ok" and cell.n_params == 29 * 29
    )  # vocabulary of the text: 26 letters, space, ".", newline
    assert cell.phases.step.n_steps_measured >= 10
    estimates = {(e.iters, e.protocol): e for e in results.estimates[cell.key.id]}
    # Which counts fit the budget depends on this machine's speed: no check on that; only
    # that "measured" means a real full run, and that a million steps never fit 40 s.
    measured = {iters for (iters, protocol), e in estimates.items() if e.measured}
    assert measured == {run.iters for run in cell.runs}
    assert not estimates[(1_000_000, "lecture")].measured  # far too long: extrapolated
    far = estimates[(1_000_000, "lecture")]
    assert far.low_s < far.seconds < far.high_s
    # Every measured full run is shown beside its prediction. How close they are is a
    # timing figure for benchmarks/, never a pass/fail check on a shared machine.
    for run in cell.runs:
        assert run.predicted_s is not None and run.predicted_s > 0
        assert run.prediction_error is not None
    assert 0 < results.engine["measured_share"] <= 1.0

    frame = pd.read_csv(run_dir / "cells.csv")
    assert len(frame) == 3 * 2  # iteration counts × protocols for the one cell
    assert "~" in (run_dir / "report.md").read_text(encoding="utf-8")

    # A fresh run is schema /2: typed settings, the cost terms stored, the same tidy frame.
    stored = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
    assert stored["schema"] == "gpubench.run/2"
    blocks, per_block = cell.phases.step.block_times_s, cell.phases.step.steps_per_block
    assert stored["cells"][0]["cost"]["step_s"] == pytest.approx(
        sum(blocks) / len(blocks) / per_block
    )
    assert results.settings.iters == (300, 3000, 1_000_000)
    assert results.settings.threads == (1,) and results.settings.devices == ("cpu",)
    api_frame = gpubench_api.load_run(run_dir).frame()
    assert list(api_frame.columns) == list(frame.columns)
    assert api_frame["seconds"].tolist() == pytest.approx(frame["seconds"].tolist())


def test_json_output_names_the_results_file(tmp_path, text_file):
    result = gpubench(
        "run", "--models", "bigram", "--devices", "cpu", "--iters", "50", "--threads", "1",
        "--budget", "10", "--data", str(text_file), *TINY_BIGRAM, "--out", str(tmp_path),
        "--generate", "32", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert Path(payload["results"]).is_file() and payload["status"] == "complete"
    (cell,) = load_results(Path(payload["results"]).parent).cells
    assert cell.phases.generate_tokens_per_s > 0  # --generate times sampling as a phase


@pytest.mark.parametrize(
    "args",
    [
        ["--iters", "0"],
        ["--iters", "-5"],
        ["--iters", "abc"],
        ["--iters", "1,,2"],
        ["--iters", ""],
        ["--models", "nosuch"],
        ["--devices", "cuda"],
        ["--devices", "tpu"],
        ["--variant", "turbo"],
        ["--protocol", "fastest"],  # a click choice: one line through the real entry point
        ["--set", "colour=red"],
        ["--set", "n_embd=abc"],
        ["--data", "/no/such/file.txt"],
        ["--resume", "/tmp"],
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, tmp_path, run_cli):
    code, out, err = run_cli("run", "--out", str(tmp_path), *args)
    assert code == 2, err
    assert "Traceback" not in out + err
    errors = [line for line in (out + err).splitlines() if line.startswith("error:")]
    assert len(errors) == 1, out + err


def test_bad_data_files(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\x01\x02" * 100)
    short = tmp_path / "short.txt"
    short.write_text("abc")
    for path, message in ((empty, "empty"), (binary, "binary"), (short, "too few")):
        result = CliRunner().invoke(app, ["run", "--data", str(path), "--out", str(tmp_path)])
        assert result.exit_code == 2 and message in result.output, result.output


@pytest.mark.slow
@pytest.mark.parametrize(("stop", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stop_saves_what_was_measured_and_resume_finishes(tmp_path, text_file, stop, code):
    """Ctrl-C and SIGTERM (CI cancellation, timeout, a scheduler's preemption) alike."""
    args = [
        "run", "--models", "bigram", "--devices", "cpu", "--iters", "20,6000", "--full",
        "--threads", "1", "--data", str(text_file), "--set", "eval_iters=5",
        "--set", "eval_interval=1000", "--out", str(tmp_path), "--name", "cut",
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gpubench", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    results_path = tmp_path / "cut" / "results.json"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until the 20-step run is on disk
        if results_path.is_file():
            data = json.loads(results_path.read_text())
            if any(run["iters"] == 20 for cell in data["cells"] for run in cell["runs"]):
                break
        time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("the first full run never reached results.json")
    time.sleep(0.5)  # now inside the 6000-step run
    process.send_signal(stop)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert str(tmp_path / "cut") in stderr and "--resume" in stderr
    for name in ("report.md", "cells.csv"):
        assert (tmp_path / "cut" / name).is_file()
    interrupted = load_results(tmp_path / "cut")
    assert interrupted.status == "interrupted"
    assert [run.iters for run in interrupted.cells[0].runs] == [20]

    resumed = gpubench("run", "--resume", str(tmp_path / "cut"), env={**os.environ})
    assert resumed.returncode == 0, resumed.stderr
    finished = load_results(tmp_path / "cut")
    assert finished.status == "complete"
    assert sorted(run.iters for run in finished.cells[0].runs) == [20, 6000]


USER_MODEL = """
import torch

CONFIG = {"batch_size": 4, "block_size": 8, "learning_rate": 1e-2, "max_iters": 100,
          "eval_interval": 50, "eval_iters": 2}


class Table(torch.nn.Module):
    def __init__(self, vocab_size):
        super().__init__()
        self.block_size = 8
        self.table = torch.nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.table(idx)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        return logits, torch.nn.functional.cross_entropy(logits.view(B * T, C), targets.view(-1))


def build(config, vocab_size):
    return Table(vocab_size)
"""


def test_a_user_model_file_runs_and_is_recorded_by_path(tmp_path, text_file):
    model = tmp_path / "mine.py"
    model.write_text(USER_MODEL)
    result = gpubench(
        "run", "--models", str(model), "--devices", "cpu", "--iters", "20", "--threads", "1",
        "--budget", "10", "--data", str(text_file), "--out", str(tmp_path), "--name", "own",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    results = load_results(tmp_path / "own")
    assert results.settings.models == (str(model.resolve()),)
    assert results.cells[0].key.model == "mine" and results.cells[0].status == "ok"


def test_a_model_file_without_the_contract_is_refused(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("CONFIG = {}\n")
    result = CliRunner().invoke(app, ["run", "--models", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "must define build" in result.output or "CONFIG lacks" in result.output


def test_resume_refuses_new_sweep_options(tmp_path):
    result = CliRunner().invoke(app, ["run", "--resume", str(tmp_path), "--iters", "7"])
    assert result.exit_code == 2
    assert "drop --iters" in result.output


def test_out_must_be_a_folder(tmp_path):
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    result = CliRunner().invoke(
        app, ["run", "--out", str(not_a_folder), "--models", "bigram", "--data", "synthetic"]
    )
    assert result.exit_code == 2 and "expected a folder" in result.output
