"""cells.csv: one tidy row per cell × iteration count × protocol, loadable with pandas."""

from __future__ import annotations

from pathlib import Path

import pandas
import pytest

from gpubench.report.render import CSV_COLUMNS, write_csv
from gpubench.results.frame import estimate_of
from gpubench.results.model import RunResults
from tests.report.conftest import load_fixture


def test_one_row_per_cell_iteration_count_and_protocol(any_run: RunResults, tmp_path: Path) -> None:
    frame = pandas.read_csv(write_csv(any_run, tmp_path / "cells.csv"))
    assert list(frame.columns) == CSV_COLUMNS
    assert len(frame) == len(any_run.cells) * len(any_run.settings.iters) * 2
    keys = frame[["model", "device", "batch_size", "variant", "threads", "iters", "protocol"]]
    assert not keys.astype(str).duplicated().any()
    assert set(frame["protocol"]) == {"lecture", "train"}


def test_rows_carry_the_estimates_and_their_flags(tmp_path: Path) -> None:
    run = load_fixture("one_gpu")
    frame = pandas.read_csv(write_csv(run, tmp_path / "cells.csv"))
    for cell in run.cells:
        for estimate in run.estimates[cell.key.id]:
            row = frame[
                (frame["device"] == cell.key.device)
                & (frame["model"] == cell.key.model)
                & (frame["iters"] == estimate.iters)
                & (frame["protocol"] == estimate.protocol)
            ].iloc[0]
            assert row["seconds"] == pytest.approx(estimate.seconds)
            assert row["low_s"] == pytest.approx(estimate.low_s)
            assert row["high_s"] == pytest.approx(estimate.high_s)
            assert row["predicted_s"] == pytest.approx(estimate.predicted_s)
            assert bool(row["measured"]) is estimate.measured
            assert row["kind"] == ("measured" if estimate.measured else "extrapolated")
    measured = frame[(frame["kind"] == "measured") & (frame["iters"] == 3000)]
    assert sorted(measured["seconds"]) == [14.6, 18.1]


def test_unmeasured_cells_have_rows_with_their_status(tmp_path: Path) -> None:
    run = load_fixture("failed_cells")
    frame = pandas.read_csv(write_csv(run, tmp_path / "cells.csv"))
    gpt_512 = (frame["model"] == "gpt") & (frame["batch_size"] == 512)
    oom = frame[gpt_512 & (frame["device"] == "cuda:0")]
    assert len(oom) == 6
    assert set(oom["status"]) == {"failed"}
    assert set(oom["kind"]) == {"not measured"}
    assert oom["seconds"].isna().all()
    cpu = frame[
        (frame["device"] == "cpu") & (frame["model"] == "gpt") & (frame["batch_size"] == 64)
    ]
    assert set(cpu["threads"]) == {2}
    assert estimate_of(run, run.cells[4], 500, "lecture").seconds == pytest.approx(
        cpu[(cpu["iters"] == 500) & (cpu["protocol"] == "lecture")]["seconds"].iloc[0]
    )
