"""The GPU table (gpubench/predict/gpus.py): coverage, sources, lookups."""

from __future__ import annotations

import pytest

from gpubench.errors import UsageError
from gpubench.predict.gpus import GPUS, GpuSpec, find_gpu, parse_gpu_list


def test_table_has_at_least_twelve_gpus_of_every_segment() -> None:
    assert len(GPUS) >= 12
    assert {gpu.segment for gpu in GPUS} == {"datacenter", "workstation", "consumer"}
    for key in ("a800-80gb-pcie", "t4", "h100-sxm5", "h200", "a100-sxm4-40gb", "l4"):
        assert find_gpu(key).key == key


@pytest.mark.parametrize("gpu", GPUS, ids=lambda gpu: gpu.key)
def test_every_entry_is_sourced_and_ordered(gpu: GpuSpec) -> None:
    assert gpu.source and gpu.host_link
    assert gpu.peak_flops["fp32"] > 1e12
    assert gpu.bandwidth_bytes_per_s > 1e11
    assert gpu.host_link_bytes_per_s > 1e10
    for fast in ("tf32", "bf16", "fp16"):
        if fast in gpu.peak_flops:  # a tensor-core rate is never below plain fp32
            assert gpu.peak_flops[fast] >= gpu.peak_flops["fp32"]


def test_turing_and_volta_have_no_bf16_and_fall_back_to_fp32() -> None:
    t4 = find_gpu("T4")
    assert "bf16" not in t4.peak_flops
    assert t4.peak("bf16") == t4.peak_flops["fp32"]


def test_unknown_gpu_lists_the_known_keys() -> None:
    with pytest.raises(UsageError, match="a800-80gb-pcie"):
        parse_gpu_list("a800,t4")
    assert len(parse_gpu_list("all")) == len(GPUS)


def test_every_table_row_has_its_source_and_a_link_of_its_pcie_generation() -> None:
    from gpubench.predict.gpus import SOURCES, TABLE

    assert set(TABLE) == set(SOURCES) == {gpu.key for gpu in GPUS}
    for gpu in GPUS:
        assert f"PCIe {gpu.pcie_gen}.0 x16" in gpu.host_link


def test_parts_on_one_die_share_their_datasheet_figures() -> None:
    h100, h200 = find_gpu("h100-sxm5"), find_gpu("h200")
    assert h100.peak_flops == h200.peak_flops == {
        "fp32": 67e12, "tf32": 494.5e12, "bf16": 989.5e12, "fp16": 989.5e12,
    }  # fmt: skip
    assert h200.bandwidth_bytes_per_s == 4800e9 and h200.host_link.startswith("SXM5 (")
    a800 = find_gpu("a800-80gb-pcie")
    assert a800.peak_flops == find_gpu("a100-sxm4-40gb").peak_flops
    assert (a800.bandwidth_bytes_per_s, a800.host_link) == (1935e9, "PCIe 4.0 x16")
