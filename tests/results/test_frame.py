"""The Python API: load_run / load_runs and the tidy frame (one row per cell x iteration
count x protocol), on the committed schema /1 sample and on schema /2 fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

import gpubench
from gpubench.errors import RunNotFound, UsageError
from gpubench.results.frame import FRAME_COLUMNS

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "reports" / "cpu-2core-xeon"  # schema /1, committed
FAILED = ROOT / "tests" / "report" / "fixtures" / "failed_cells"  # schema /2
TWO_GPUS = ROOT / "tests" / "report" / "fixtures" / "two_gpus"
REQUIRED = ["model", "device", "device_name", "batch_size", "variant", "threads", "iters",
            "protocol", "seconds", "low_s", "high_s", "measured", "predicted_s"]  # fmt: skip


def test_the_committed_schema_1_sample_gives_a_tidy_frame():
    run = gpubench.load_run(SAMPLE)
    frame = run.frame()
    assert set(REQUIRED) <= set(frame.columns)
    assert list(frame.columns) == FRAME_COLUMNS
    assert len(frame) == len(run.cells) * len(run.settings.iters) * 2
    assert not frame[["model", "device", "batch_size", "iters", "protocol"]].duplicated().any()
    bigram = frame[(frame.model == "bigram") & (frame.protocol == "lecture")]
    assert bigram["measured"].all()  # the sample ran bigram's counts for real
    assert bigram["device_name"].iloc[0] == "Intel(R) Xeon(R) Processor (2 threads)"
    gpt = frame[(frame.model == "gpt") & (frame.iters == 50_000) & (frame.protocol == "lecture")]
    assert gpt["kind"].tolist() == ["extrapolated"]
    assert (gpt["low_s"] < gpt["seconds"]).all() and (gpt["seconds"] < gpt["high_s"]).all()
    # the cost terms are the ones stored on the cell (fitted once, at load, for /1)
    cell = run.cells[0]
    assert bigram["step_s"].iloc[0] == cell.cost.step_s


def test_cells_without_an_estimate_have_rows_with_na_times():
    frame = gpubench.load_run(FAILED).frame()
    failed = frame[frame.status == "failed"]
    assert len(failed) > 0
    assert failed["seconds"].isna().all()
    assert failed["measured"].isna().all()
    assert set(failed["kind"]) == {"not measured"}


def test_load_runs_stacks_runs_with_a_run_column():
    both = gpubench.load_runs([SAMPLE, TWO_GPUS])
    assert list(both.columns) == ["run", *FRAME_COLUMNS]
    assert list(dict.fromkeys(both["run"])) == [
        gpubench.load_run(SAMPLE).run_id,
        gpubench.load_run(TWO_GPUS).run_id,
    ]
    assert len(both) == len(gpubench.load_run(SAMPLE).frame()) + len(
        gpubench.load_run(TWO_GPUS).frame()
    )


def test_two_runs_with_one_id_are_told_apart_by_their_folder(tmp_path):
    import shutil

    shutil.copytree(SAMPLE, tmp_path / "copy")
    both = gpubench.load_runs([SAMPLE, tmp_path / "copy"])
    assert set(both["run"]) == {str(SAMPLE), str(tmp_path / "copy")}


def test_a_folder_that_is_not_a_run_is_a_specific_error(tmp_path):
    with pytest.raises(RunNotFound, match="not a gpubench run folder"):
        gpubench.load_run(tmp_path)
    with pytest.raises(UsageError):  # the CLI maps it to exit code 2
        gpubench.load_run(tmp_path / "missing")
