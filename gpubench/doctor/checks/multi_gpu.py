"""Checks for machines with two GPUs or more: NCCL, peer-to-peer access, links, NCCL variables.

Pure functions of ``MultiGpuFacts`` (gpubench.doctor.multi_gpu_probe). ``check_multi_gpu`` is
the doctor's entry: it reads ``facts.multi_gpu`` and stays silent with fewer than two GPUs.
Why each matters for a DDP cell: docs/distributed.md ("Doctor").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gpubench.doctor.findings import Finding, Severity, ok
from gpubench.doctor.multi_gpu_probe import MultiGpuFacts

NCCL_ENV_SOURCE = "NCCL documentation, Environment Variables"
SLOW_TOPOLOGIES = ("pcie-host-bridge", "same-cpu-socket", "across-cpu-sockets")
TOPOLOGY_WORDS = {
    "nvlink": "NVLink",
    "same-board": "on one board",
    "pcie-single-switch": "PCIe, one switch",
    "pcie-multiple-switches": "PCIe, several switches",
    "pcie-host-bridge": "PCIe through a host bridge",
    "same-cpu-socket": "PCIe through the CPU",
    "across-cpu-sockets": "PCIe across CPU sockets (SMP interconnect)",
    "unknown": "unknown link",
}


@dataclass(frozen=True)
class NcclEnvRule:
    """An NCCL variable that, when set to ``value``, changes how NCCL moves data."""

    variable: str
    value: str | None  # None: any value
    severity: Severity
    effect: str
    source: str = NCCL_ENV_SOURCE


NCCL_ENV_RULES = (
    NcclEnvRule("NCCL_P2P_DISABLE", "1", Severity.WARN,
                "peer-to-peer transport off: GPU-to-GPU traffic goes through host memory, "
                "all-reduce between GPUs of this machine is slower"),
    NcclEnvRule("NCCL_SHM_DISABLE", "1", Severity.WARN,
                "shared-memory transport off: traffic between GPUs without P2P goes over "
                "the network stack"),
    NcclEnvRule("NCCL_IB_DISABLE", "1", Severity.INFO,
                "InfiniBand/RoCE off: between machines NCCL falls back to TCP sockets"),
    NcclEnvRule("NCCL_P2P_LEVEL", None, Severity.INFO,
                "restricts which links may use peer-to-peer transport"),
)  # fmt: skip


def _truthy(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def check_nccl(facts: MultiGpuFacts) -> list[Finding]:
    """DDP on several GPUs runs over NCCL; a CUDA torch without it cannot."""
    evidence = {"nccl_available": facts.nccl_available, "nccl_version": facts.nccl_version}
    if facts.nccl_available is None or not facts.cuda_build:
        return []  # no torch, or a CPU build: the torch checks already say so
    if not facts.nccl_available:
        return [Finding(
            "nccl-missing", Severity.ERROR,
            f"{facts.gpu_count} GPUs, but this torch has no NCCL: DDP across them cannot run",
            detail="torch builds for Linux from the PyTorch index ship NCCL; Windows and some "
            "source builds do not (gloo works, much slower).",
            fix=("python -c 'import torch.distributed as d; print(d.is_nccl_available())'",),
            evidence=evidence,
        )]  # fmt: skip
    return [ok("nccl", f"NCCL {facts.nccl_version or '(version unknown)'} available", **evidence)]


def check_peer_access(facts: MultiGpuFacts) -> list[Finding]:
    """Pairs without peer-to-peer access exchange gradients through host memory."""
    blocked = [pair for pair in facts.pairs if pair.p2p_read not in ("ok", "unknown")]
    if not facts.pairs:
        return []
    if not blocked:
        return [ok("gpu-p2p", f"peer-to-peer access between all {facts.gpu_count} GPUs")]
    listed = ", ".join(f"GPU {p.first}↔{p.second} ({p.p2p_read})" for p in blocked)
    return [Finding(
        "gpu-p2p", Severity.WARN,
        f"no peer-to-peer access between {len(blocked)} GPU pair(s): all-reduce goes through "
        "host memory",
        detail=listed + ". Common causes: IOMMU or PCIe ACS enabled in firmware, GPUs behind "
        "different CPU sockets, a virtual machine without P2P passthrough.",
        fix=("nvidia-smi topo -m  # the link matrix", "nvidia-smi topo -p2p r  # P2P read status"),
        evidence={"pairs": [[p.first, p.second, p.p2p_read] for p in blocked]},
    )]  # fmt: skip


def check_topology(facts: MultiGpuFacts) -> list[Finding]:
    """The links between GPUs bound the all-reduce share of a step; say what they are."""
    if not facts.pairs:
        return []
    words = "; ".join(
        f"GPU {p.first}↔{p.second}: {TOPOLOGY_WORDS.get(p.topology, p.topology)}"
        + (f" ({p.nvlinks} links)" if p.nvlinks else "")
        for p in facts.pairs
    )
    slow = [p for p in facts.pairs if p.topology in SLOW_TOPOLOGIES]
    evidence = {"pairs": [[p.first, p.second, p.topology, p.nvlinks] for p in facts.pairs]}
    if slow:
        return [Finding(
            "gpu-topology", Severity.INFO,
            f"{len(slow)} GPU pair(s) connected through the CPU: expect a larger all-reduce "
            "share than over NVLink or a PCIe switch",
            detail=words, fix=("nvidia-smi topo -m",), evidence=evidence,
        )]  # fmt: skip
    return [ok("gpu-topology", words, **evidence)]


def interfaces_selected(pattern: str, interfaces: tuple[str, ...]) -> list[str]:
    """The interfaces NCCL_SOCKET_IFNAME selects: comma-separated prefixes, ``^`` excludes,
    ``=`` asks for an exact name (NCCL's syntax, docs/distributed.md)."""
    exclude = pattern.startswith("^")
    body = pattern[1:] if exclude else pattern
    exact = body.startswith("=")
    names = [n for n in (body[1:] if exact else body).split(",") if n]

    def matches(interface: str) -> bool:
        return any(interface == n if exact else interface.startswith(n) for n in names)

    return [i for i in interfaces if matches(i) != exclude]


def check_nccl_environment(facts: MultiGpuFacts) -> list[Finding]:
    """NCCL variables that commonly slow or break multi-GPU training."""
    findings = []
    env = facts.nccl_env
    for rule in NCCL_ENV_RULES:
        value = env.get(rule.variable)
        if value is None or (rule.value is not None and _truthy(value) != _truthy(rule.value)):
            continue
        findings.append(Finding(
            f"nccl-env-{rule.variable.lower().replace('_', '-')}", rule.severity,
            f"{rule.variable}={value}: {rule.effect}",
            detail=f"Unset it unless it works around a known problem here (source: {rule.source}).",
            fix=(f"unset {rule.variable}",),
            evidence={"variable": rule.variable, "value": value},
        ))  # fmt: skip
    pattern = env.get("NCCL_SOCKET_IFNAME")
    if pattern and facts.network_interfaces:
        selected = interfaces_selected(pattern, facts.network_interfaces)
        if not selected:
            findings.append(Finding(
                "nccl-env-socket-ifname", Severity.ERROR,
                f"NCCL_SOCKET_IFNAME={pattern} matches no network interface of this machine: "
                "NCCL cannot set up its sockets",
                detail=f"interfaces here: {', '.join(facts.network_interfaces)}",
                fix=("unset NCCL_SOCKET_IFNAME",
                     f"export NCCL_SOCKET_IFNAME={facts.network_interfaces[0]}  # or another"),
                evidence={"value": pattern, "interfaces": list(facts.network_interfaces)},
            ))  # fmt: skip
    if not findings:
        findings.append(ok("nccl-env", "no NCCL variable that changes its transports is set"))
    return findings


MULTI_GPU_CHECKS = (check_nccl, check_peer_access, check_topology, check_nccl_environment)


def multi_gpu_findings(facts: MultiGpuFacts) -> list[Finding]:
    """Every multi-GPU check, only when two GPUs or more are visible."""
    if facts.gpu_count < 2:
        return []
    findings: list[Finding] = []
    for check in MULTI_GPU_CHECKS:
        findings.extend(check(facts))
    return findings


def check_multi_gpu(facts: Any) -> list[Finding]:
    """The doctor's entry: reads ``facts.multi_gpu`` (a MultiGpuFacts or its dict form)."""
    recorded = getattr(facts, "multi_gpu", None)
    if recorded is None:
        return []
    if isinstance(recorded, Mapping):
        recorded = MultiGpuFacts.from_dict(recorded)
    return multi_gpu_findings(recorded)
