"""The sentences at the top of a report, one situation each, and the number formats."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gpubench.report.format import format_count, format_duration, format_ratio, round_significant
from gpubench.report.queries import device_label
from gpubench.report.sentences import summary_sentences
from tests.report.conftest import load_fixture
from tests.report.fixtures.build import cpu_only, derive, make_cell, make_phases


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.00004, "40 µs"),
        (0.00061, "0.61 ms"),
        (0.0123, "12.3 ms"),
        (0.85, "850 ms"),
        (0.9996, "1.0 s"),
        (21.0, "21.0 s"),
        (59.97, "1.0 min"),
        (192.0, "3.2 min"),
        (6840.0, "1.9 h"),
        (68400.0, "19 h"),
        (500_000.0, "5.8 days"),
        (None, "—"),
    ],
)
def test_durations_read_like_a_person_says_them(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text


def test_counts_ratios_and_rounding() -> None:
    assert format_count(5000) == "5,000"
    assert format_ratio(450.2) == "450×"
    assert format_ratio(9.83) == "9.8×"
    assert format_ratio(1.04) == "1.04×"
    assert format_ratio(0.714) == "0.71×"
    assert round_significant(34_912) == 35_000
    assert round_significant(8_473) == 8_500


def test_gpu_wins_from_the_first_iteration() -> None:
    gpt = summary_sentences(load_fixture("one_gpu"))[1]
    assert gpt.startswith("gpt (batch 64): the GPU (cuda:0) wins from the first iteration")
    assert "about 9.8× faster per step (measured)" in gpt
    assert "500 iterations: cuda:0 2.2 min vs cpu ~20.1 min (extrapolated)" in gpt


def test_gpu_wins_only_from_n_star_with_why() -> None:
    bigram = summary_sentences(load_fixture("one_gpu"))[0]
    assert bigram.startswith("bigram (batch 32): the GPU (cuda:0) wins only from ~35,000 iter")
    assert "it starts 3.8 s behind (fixed costs) and gains 0.11 ms per step" in bigram
    assert "at 3,000 iterations it is still 3.5 s slower (cpu 14.6 s vs cuda:0 18.1 s" in bigram


def test_gpu_never_wins_with_the_reason() -> None:
    bigram = summary_sentences(load_fixture("interrupted"))[0]
    assert "the GPU (cuda:0) never wins against cpu" in bigram
    assert "per step it is 2.2× slower" in bigram and "at 256 tokens per step" in bigram


def test_two_gpus_are_named_each_in_the_models_sentence() -> None:
    sentences = summary_sentences(load_fixture("two_gpus"))
    bigram = sentences[0]
    assert "cuda:0 wins only from ~7,400 iterations" in bigram
    assert "cuda:1 never wins against cpu — per step it is 1.4× slower" in bigram
    assert (
        "bigram, batch size: the GPU (cuda:1) is cheaper per step than cpu from batch 512 up "
        "(tested: 32, 512)." in sentences
    )


def test_cpu_only_says_no_gpu_and_why_and_points_to_compare() -> None:
    sentences = summary_sentences(load_fixture("cpu_only"))
    assert sentences[0].startswith(
        "No GPU was measured on this machine — CPU only: torch is a CPU build"
    )
    assert sentences[1].startswith("bigram (batch 32): cpu takes 0.61 ms per step")
    assert "gpt (batch 64): cpu takes 10.2 s per step" in sentences[2]
    assert "500 iterations ~2.2 h" in sentences[2]
    assert "gpubench compare reports/20260301T1015Z-3f2a1c" in sentences[-1]


def test_failed_and_interrupted_cells_give_no_verdict_but_say_why() -> None:
    failed = summary_sentences(load_fixture("failed_cells"))
    assert failed[0] == (
        "bigram (batch 64): no verdict for cuda:0 — cuda:0 failed (crash: the worker died "
        "from signal SIGSEGV)."
    )
    assert failed[3] == "gpt (batch 512): no numbers — cpu failed (timeout), cuda:0 failed (oom)."
    interrupted = summary_sentences(load_fixture("interrupted"))
    assert interrupted[1] == "gpt (batch 64): no numbers — cpu interrupted, cuda:0 not reached."


def test_a_second_cpu_configuration_is_named_by_its_threads_never_a_gpu() -> None:
    run = cpu_only()
    phases = make_phases(startup=1.6, device_init=0.004, data=0.28, build=0.01,
                         first_steps=[0.02], step=0.00072, eval_s=0.12)  # fmt: skip
    run.cells.insert(1, make_cell("bigram", "cpu", 32, phases, threads=1, peak=1.2e11))
    run.settings = dataclasses.replace(run.settings, threads=(2, 1))
    run = derive(dataclasses.replace(run, crossovers=[], batch_crossovers=[]))
    labels = [device_label(cell, run) for cell in run.cells]
    assert labels == ["cpu (2 threads)", "cpu (1 thread)", "cpu (2 threads)"]
    sentences = summary_sentences(run)
    assert "cpu (1 thread) takes 0.72 ms per step" in sentences[1]
    assert all("GPU" not in sentence for sentence in sentences[1:-1])


@pytest.mark.parametrize(
    ("run_dir", "hint"),
    [
        (None, "reports/20260301T1015Z-3f2a1c"),  # where `gpubench run` puts it by default
        ("/tmp/runs/20260301T1015Z-3f2a1c/", "/tmp/runs/20260301T1015Z-3f2a1c"),
        (Path("sweeps/old-run"), "sweeps/old-run"),
    ],
)
def test_the_compare_hint_names_this_runs_folder(run_dir: Path | str | None, hint: str) -> None:
    run = load_fixture("cpu_only")
    run.command = ["gpubench", "run", "--out", "elsewhere"]  # the saved command is not re-read
    assert f"`gpubench compare {hint} GPU_RUN_DIR`" in summary_sentences(run, run_dir=run_dir)[-1]


def test_runs_with_overrides_say_first_that_these_are_not_the_lecture_models():
    results = load_fixture("cpu_only")
    assert not any("--set" in sentence for sentence in summary_sentences(results))
    results.settings = dataclasses.replace(results.settings, overrides={"n_layer": "2"})
    first = summary_sentences(results)[0]
    assert first.startswith("Settings changed with --set (n_layer=2)")
    assert first.endswith("(bigram 4,225 parameters, gpt 10,788,929 parameters).")
