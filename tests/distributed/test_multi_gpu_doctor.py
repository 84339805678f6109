"""The multi-GPU doctor checks over recorded facts, and the probe against a fake NVML."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from gpubench.doctor.checks.multi_gpu import (
    check_multi_gpu,
    interfaces_selected,
    multi_gpu_findings,
)
from gpubench.doctor.findings import Severity
from gpubench.doctor.multi_gpu_probe import GpuPair, MultiGpuFacts, collect, probe_nvml


class FakeNvml:
    """Two GPUs joined by ``nvlinks`` NVLinks (none: PCIe through the CPU), P2P ``p2p``."""

    def __init__(self, count: int = 2, nvlinks: int = 0, p2p: int = 0):
        self.count, self.nvlinks, self.p2p = count, nvlinks, p2p
        self.buses = [f"00000000:{17 + i:02x}:00.0".encode() for i in range(count)]

    def nvmlInit(self) -> None: ...
    def nvmlShutdown(self) -> None: ...
    def nvmlDeviceGetCount(self) -> int:
        return self.count

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetPciInfo(self, handle: int) -> Any:
        return SimpleNamespace(busId=self.buses[handle])

    def nvmlDeviceGetNvLinkState(self, handle: int, link: int) -> int:
        if link >= self.nvlinks:
            raise RuntimeError("NVML_ERROR_NOT_SUPPORTED")
        return 1

    def nvmlDeviceGetNvLinkRemotePciInfo(self, handle: int, link: int) -> Any:
        return SimpleNamespace(busId=self.buses[1 - handle])

    def nvmlDeviceGetP2PStatus(self, first: int, second: int, index: int) -> int:
        return self.p2p

    def nvmlDeviceGetTopologyCommonAncestor(self, first: int, second: int) -> int:
        return 40  # NVML_TOPOLOGY_NODE


def facts(**kw: Any) -> MultiGpuFacts:
    base: dict[str, Any] = {
        "gpu_count": 2,
        "cuda_build": True,
        "nccl_available": True,
        "nccl_version": "2.27.3",
        "network_interfaces": ("eth0", "lo"),
    }
    base.update(kw)
    return MultiGpuFacts(**base)


def codes(found: list[Any]) -> dict[str, Severity]:
    return {f.code: f.severity for f in found}


def test_nvlink_pair_from_nvml() -> None:
    probed = probe_nvml(FakeNvml(nvlinks=4))
    (pair,) = probed["pairs"]
    assert (pair.topology, pair.nvlinks, pair.p2p_read) == ("nvlink", 4, "ok")
    assert probed["nvlinks_active"] == (4, 4) and probed["gpu_names"][0].startswith("NVIDIA")


def test_pcie_pair_without_p2p_from_nvml() -> None:
    (pair,) = probe_nvml(FakeNvml(p2p=4))["pairs"]
    assert (pair.topology, pair.p2p_read) == ("same-cpu-socket", "disabled-by-regkey")


def test_collect_records_the_nccl_variables_and_round_trips() -> None:
    environ = {"NCCL_P2P_DISABLE": "1", "HOME": "/root"}
    recorded = collect(FakeNvml(), environ)
    assert recorded.nccl_env == {"NCCL_P2P_DISABLE": "1"}
    again = MultiGpuFacts.from_dict(json.loads(json.dumps(recorded.to_dict())))
    assert again == recorded


def test_silent_below_two_gpus() -> None:
    assert multi_gpu_findings(facts(gpu_count=1)) == []
    assert check_multi_gpu(SimpleNamespace()) == []  # facts recorded before this check


def test_healthy_nvlink_machine_is_all_ok() -> None:
    pair = GpuPair(0, 1, "ok", "nvlink", 18)
    found = codes(multi_gpu_findings(facts(pairs=(pair,))))
    assert found == {"nccl": Severity.OK, "gpu-p2p": Severity.OK,
                     "gpu-topology": Severity.OK, "nccl-env": Severity.OK}  # fmt: skip


def test_cuda_torch_without_nccl_is_an_error() -> None:
    found = codes(multi_gpu_findings(facts(nccl_available=False, nccl_version=None)))
    assert found["nccl-missing"] == Severity.ERROR


def test_no_p2p_across_sockets_warns_and_explains() -> None:
    pair = GpuPair(0, 1, "topology-not-supported", "across-cpu-sockets")
    found = codes(multi_gpu_findings(facts(pairs=(pair,))))
    assert found["gpu-p2p"] == Severity.WARN and found["gpu-topology"] == Severity.INFO


@pytest.mark.parametrize(
    ("env", "code", "severity"),
    [
        ({"NCCL_P2P_DISABLE": "1"}, "nccl-env-nccl-p2p-disable", Severity.WARN),
        ({"NCCL_IB_DISABLE": "1"}, "nccl-env-nccl-ib-disable", Severity.INFO),
        ({"NCCL_SOCKET_IFNAME": "ib9"}, "nccl-env-socket-ifname", Severity.ERROR),
        ({"NCCL_SOCKET_IFNAME": "eth", "NCCL_P2P_DISABLE": "0"}, "nccl-env", Severity.OK),
    ],
)
def test_nccl_variables(env: dict[str, str], code: str, severity: Severity) -> None:
    found = codes(check_multi_gpu(SimpleNamespace(multi_gpu=facts(nccl_env=env).to_dict())))
    assert found[code] == severity


def test_socket_ifname_syntax() -> None:
    interfaces = ("eth0", "eth1", "lo")
    assert interfaces_selected("eth", interfaces) == ["eth0", "eth1"]
    assert interfaces_selected("^lo,eth1", interfaces) == ["eth0"]
    assert interfaces_selected("=eth", interfaces) == []
