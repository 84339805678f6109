"""The explainer against a catalogue of real error messages (tests/doctor/fixtures/logs/catalogue).

Every message is explained with a fix taken from the log itself (its GPU, CUDA version, packages),
and logs without an error stay unexplained. The hit rate over this catalogue is the figure the
doctor's notes quote.
"""

from __future__ import annotations

import json

import pytest

from gpubench.doctor.explain import explain_text
from tests.doctor.conftest import LOGS

CATALOGUE = LOGS / "catalogue"
EXPECT = json.loads((CATALOGUE / "expect.json").read_text(encoding="utf-8"))
ERRORS = sorted(name for name, item in EXPECT.items() if item["code"])
NEGATIVES = sorted(name for name, item in EXPECT.items() if not item["code"])


@pytest.mark.parametrize("name", ERRORS)
def test_each_message_is_explained_with_a_fix_from_the_log(name: str):
    text = (CATALOGUE / name).read_text(encoding="utf-8")
    explanations = explain_text(text)
    codes = [item.code for item in explanations]
    expected = EXPECT[name]["code"]
    assert expected in codes, f"{name}: {codes}"
    item = next(item for item in explanations if item.code == expected)
    assert item.line in text
    assert "?" not in item.cause.split()
    fix = "\n".join(item.fix)
    for clue in EXPECT[name]["from_log"]:
        assert clue in fix or clue in item.cause, f"{name}: {clue!r} not in {fix!r}"


@pytest.mark.parametrize("name", NEGATIVES)
def test_logs_without_an_error_stay_unexplained(name: str):
    assert explain_text((CATALOGUE / name).read_text(encoding="utf-8")) == []


def test_no_fix_installs_for_this_machine_or_the_cpu():
    for name in ERRORS:
        for item in explain_text((CATALOGUE / name).read_text(encoding="utf-8")):
            assert "whl/cpu" not in "\n".join(item.fix), name


def test_wsl_logs_never_get_native_linux_driver_advice():
    text = (CATALOGUE / "21_wsl_nvidia_smi_failed.txt").read_text(encoding="utf-8")
    (item,) = explain_text(text)
    fix = "\n".join(item.fix)
    assert "modprobe" not in fix and "dkms" not in fix and "ubuntu-drivers" not in fix


def test_the_same_error_twice_is_explained_once():
    text = (CATALOGUE / "15_illegal_memory_access.txt").read_text(encoding="utf-8") * 2
    (item,) = explain_text(text)
    assert item.occurrences == 2


def test_an_identical_fix_is_referred_to_not_repeated():
    text = "RuntimeError: CUDA error: out of memory\ntorch.OutOfMemoryError: CUDA out of memory.\n"
    items = explain_text(text)
    assert len(items) == 1
    text = (
        "RuntimeError: CUDA error: CUBLAS_STATUS_NOT_INITIALIZED\n"
        "RuntimeError: CUDA error: CUBLAS_STATUS_ALLOC_FAILED\n"
    )
    assert len(explain_text(text)) == 1


def test_hit_rate_over_the_catalogue_is_complete():
    explained = [name for name in ERRORS if explain_text((CATALOGUE / name).read_text())]
    assert len(explained) == len(ERRORS)
