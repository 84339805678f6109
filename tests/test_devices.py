"""``--devices`` / ``--device`` validation against an injected list of available devices."""

from __future__ import annotations

import pytest

from gpubench.core.devices import available_devices, resolve_devices
from gpubench.errors import UsageError

CPU_ONLY = ["cpu"]
TWO_GPUS = ["cpu", "cuda:0", "cuda:1"]


@pytest.mark.parametrize(
    ("text", "available", "expected"),
    [
        ("auto", CPU_ONLY, ["cpu"]),
        ("auto", TWO_GPUS, ["cpu", "cuda:0", "cuda:1"]),
        (" auto ", ["cpu", "mps"], ["cpu", "mps"]),
        ("cpu", TWO_GPUS, ["cpu"]),
        ("cuda", TWO_GPUS, ["cuda:0"]),
        ("cuda:1,cpu", TWO_GPUS, ["cuda:1", "cpu"]),  # order kept
        ("cpu, cuda:0", TWO_GPUS, ["cpu", "cuda:0"]),
        ("cpu,cpu", CPU_ONLY, ["cpu"]),  # duplicates dropped
        ("cuda,cuda:0,cpu,cuda:0", TWO_GPUS, ["cuda:0", "cpu"]),  # cuda is cuda:0
        ("mps", ["cpu", "mps"], ["mps"]),
    ],
)
def test_resolve_devices(text, available, expected):
    assert resolve_devices(text, available) == expected


def test_auto_leaves_the_given_list_alone():
    available = ["cpu", "cuda:0"]
    resolve_devices("auto", available)
    assert available == ["cpu", "cuda:0"]


@pytest.mark.parametrize("text", ["cuda", "cuda:0", "cpu,cuda"])
def test_cuda_without_a_gpu_points_to_the_doctor(text):
    with pytest.raises(UsageError) as caught:
        resolve_devices(text, CPU_ONLY)
    assert str(caught.value) == (
        "device 'cuda:0' is not usable here (no CUDA GPU visible to torch); "
        "run `gpubench doctor` to see why"
    )


def test_missing_gpu_index_points_to_the_doctor():
    with pytest.raises(UsageError, match=r"device 'cuda:2' is not usable here.*gpubench doctor"):
        resolve_devices("cuda:2", TWO_GPUS)


def test_mps_where_there_is_none_lists_what_there_is():
    with pytest.raises(
        UsageError, match=r"^device 'mps' is not available here; have: cpu, cuda:0$"
    ):
        resolve_devices("mps", ["cpu", "cuda:0"])


@pytest.mark.parametrize("name", ["gpu", "CPU", "cuda:x", "cuda0", "tpu", "cuda:-1", "auto,cpu"])
def test_unknown_device_names(name):
    with pytest.raises(UsageError, match=r"unknown device .*; use auto, cpu, cuda, cuda:N or mps"):
        resolve_devices(name, TWO_GPUS)


@pytest.mark.parametrize("text", ["", " ", "cpu,", ",cpu", "cpu,,cuda"])
def test_empty_items_are_refused(text):
    with pytest.raises(UsageError, match=r"expected auto or a list such as cpu,cuda:0"):
        resolve_devices(text, TWO_GPUS)


def test_available_devices_on_this_machine():
    import torch

    devices = available_devices()
    assert devices[0] == "cpu"
    assert len(devices) == len(set(devices))
    expected_cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert sum(d.startswith("cuda:") for d in devices) == expected_cuda
    assert resolve_devices("auto") == devices
