"""What the machine offers several GPUs: NCCL, peer-to-peer access and the links between them.

Run as a doctor worker, ``python -m gpubench.doctor.multi_gpu_probe``, when NVML sees two or more
GPUs (its result line is ``MultiGpuFacts`` as JSON). The
NVML part takes the pynvml module as an argument, so tests pass a fake one; the NCCL part asks
torch. Checks over these facts: ``gpubench.doctor.checks.multi_gpu``; docs/distributed.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gpubench.doctor.protocol import emit_result, emit_stage

# NVML topology levels -> how two GPUs are connected (nvml.h, nvmlGpuTopologyLevel_t).
TOPOLOGY_BY_LEVEL = {
    0: "same-board",  # NVML_TOPOLOGY_INTERNAL
    10: "pcie-single-switch",  # NVML_TOPOLOGY_SINGLE
    20: "pcie-multiple-switches",  # NVML_TOPOLOGY_MULTIPLE
    30: "pcie-host-bridge",  # NVML_TOPOLOGY_HOSTBRIDGE
    40: "same-cpu-socket",  # NVML_TOPOLOGY_NODE
    50: "across-cpu-sockets",  # NVML_TOPOLOGY_SYSTEM
}
# NVML peer-to-peer status codes (nvml.h, nvmlGpuP2PStatus_t).
P2P_STATUS_BY_CODE = {
    0: "ok",
    1: "chipset-not-supported",
    2: "gpu-not-supported",
    3: "topology-not-supported",
    4: "disabled-by-regkey",
    5: "not-supported",
    6: "unknown",
}
P2P_CAPS_INDEX_READ = 0  # NVML_P2P_CAPS_INDEX_READ
NVLINK_MAX_LINKS = 18  # links per GPU NVML is asked about (NVML_NVLINK_MAX_LINKS on Hopper)
NVML_FEATURE_ENABLED = 1
# NCCL environment variables the checks read (see NCCL_ENV_RULES in checks/multi_gpu.py).
NCCL_ENV_VARIABLES = ("NCCL_P2P_DISABLE", "NCCL_IB_DISABLE", "NCCL_SOCKET_IFNAME",
                      "NCCL_P2P_LEVEL", "NCCL_SHM_DISABLE", "NCCL_DEBUG")  # fmt: skip


@dataclass(frozen=True)
class GpuPair:
    """How two GPUs reach each other."""

    first: int
    second: int
    p2p_read: str  # a P2P_STATUS_BY_CODE value, or "unknown"
    topology: str  # "nvlink" or a TOPOLOGY_BY_LEVEL value, or "unknown"
    nvlinks: int = 0  # active NVLinks between the two (counted on the first GPU)


@dataclass(frozen=True)
class MultiGpuFacts:
    """Facts for the multi-GPU checks; recorded and replayed like the doctor's other facts."""

    gpu_count: int
    gpu_names: tuple[str, ...] = ()
    cuda_build: bool = False  # torch was built with CUDA
    nccl_available: bool | None = None  # None: torch could not be asked
    nccl_version: str | None = None
    pairs: tuple[GpuPair, ...] = ()
    nvlinks_active: tuple[int, ...] = ()  # per GPU
    nccl_env: dict[str, str] = field(default_factory=dict)
    network_interfaces: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # what could not be probed, one line each

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MultiGpuFacts:
        values = dict(data)
        values["pairs"] = tuple(GpuPair(**pair) for pair in values.get("pairs", ()))
        for name in ("gpu_names", "nvlinks_active", "network_interfaces", "errors"):
            values[name] = tuple(values.get(name, ()))
        return cls(**values)


def _nvlinks(pynvml: Any, handle: Any) -> tuple[int, dict[str, int]]:
    """Active NVLinks of one GPU, and how many lead to each remote PCI bus id."""
    active = 0
    remotes: dict[str, int] = {}
    for link in range(NVLINK_MAX_LINKS):
        try:
            if pynvml.nvmlDeviceGetNvLinkState(handle, link) != NVML_FEATURE_ENABLED:
                continue
        except Exception:  # a link index past the GPU's last link, or no NVLink at all
            break
        active += 1
        try:
            bus = pynvml.nvmlDeviceGetNvLinkRemotePciInfo(handle, link).busId
            bus = bus.decode() if isinstance(bus, bytes) else str(bus)
            remotes[bus.lower()] = remotes.get(bus.lower(), 0) + 1
        except Exception:
            pass
    return active, remotes


def _bus_id(pynvml: Any, handle: Any) -> str:
    try:
        bus = pynvml.nvmlDeviceGetPciInfo(handle).busId
    except Exception:
        return ""
    return (bus.decode() if isinstance(bus, bytes) else str(bus)).lower()


def probe_nvml(pynvml: Any) -> dict[str, Any]:
    """GPU count, names, NVLinks and every pair's P2P status and topology, from NVML."""
    pynvml.nvmlInit()
    try:
        count = int(pynvml.nvmlDeviceGetCount())
        handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        names = []
        for handle in handles:
            name = pynvml.nvmlDeviceGetName(handle)
            names.append(name.decode() if isinstance(name, bytes) else str(name))
        links = [_nvlinks(pynvml, handle) for handle in handles]
        buses = [_bus_id(pynvml, handle) for handle in handles]
        pairs = []
        for i in range(count):
            for j in range(i + 1, count):
                pairs.append(_pair(pynvml, handles, links, buses, i, j))
        return {"gpu_count": count, "gpu_names": tuple(names), "pairs": tuple(pairs),
                "nvlinks_active": tuple(active for active, _ in links)}  # fmt: skip
    finally:
        pynvml.nvmlShutdown()


def _pair(
    pynvml: Any,
    handles: list[Any],
    links: list[tuple[int, dict[str, int]]],
    buses: list[str],
    i: int,
    j: int,
) -> GpuPair:
    try:
        code = pynvml.nvmlDeviceGetP2PStatus(handles[i], handles[j], P2P_CAPS_INDEX_READ)
        p2p = P2P_STATUS_BY_CODE.get(int(code), "unknown")
    except Exception:
        p2p = "unknown"
    nvlinks = links[i][1].get(buses[j], 0) if buses[j] else 0
    if nvlinks:
        return GpuPair(i, j, p2p, "nvlink", nvlinks)
    try:
        level = int(pynvml.nvmlDeviceGetTopologyCommonAncestor(handles[i], handles[j]))
        topology = TOPOLOGY_BY_LEVEL.get(level, "unknown")
    except Exception:
        topology = "unknown"
    return GpuPair(i, j, p2p, topology, 0)


def probe_nccl() -> dict[str, Any]:
    """Whether this torch has NCCL, and its version."""
    try:
        import torch
        import torch.distributed as dist
    except Exception as error:  # torch missing or broken: the torch checks say why
        return {"errors": (f"torch: {type(error).__name__}: {error}",)}
    cuda_build = torch.version.cuda is not None
    available = bool(dist.is_available() and dist.is_nccl_available())
    version = None
    if available:
        try:
            version = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception:
            version = None
    return {"cuda_build": cuda_build, "nccl_available": available, "nccl_version": version}


def nccl_environment(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: environ[name] for name in NCCL_ENV_VARIABLES if name in environ}


def network_interfaces() -> tuple[str, ...]:
    try:
        import psutil

        return tuple(sorted(psutil.net_if_addrs()))
    except Exception:
        return ()


def collect(pynvml: Any = None, environ: Mapping[str, str] | None = None) -> MultiGpuFacts:
    """Probe everything; a part that fails is recorded in ``errors`` and the rest go on."""
    values: dict[str, Any] = {"gpu_count": 0}
    errors: list[str] = []
    try:
        if pynvml is None:
            import pynvml as real_pynvml

            pynvml = real_pynvml
        values.update(probe_nvml(pynvml))
    except Exception as error:
        errors.append(f"NVML: {type(error).__name__}: {error}")
    nccl = probe_nccl()
    errors.extend(nccl.pop("errors", ()))
    values.update(nccl)
    values["nccl_env"] = nccl_environment(os.environ if environ is None else environ)
    values["network_interfaces"] = network_interfaces()
    values["errors"] = tuple(errors)
    return MultiGpuFacts(**values)


def main() -> int:
    emit_stage("probe")
    emit_result(collect().to_dict())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
