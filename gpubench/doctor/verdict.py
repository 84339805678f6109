"""The one-line verdict: CUDA ready, CPU only (and why), or broken (and the first thing to fix)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity

CUDA_READY = "cuda-ready"
CPU_ONLY = "cpu-only"
BROKEN = "broken"
HEADLINES = {CUDA_READY: "CUDA ready", CPU_ONLY: "CPU only", BROKEN: "BROKEN"}


@dataclass
class Verdict:
    """What ``gpubench run`` needs before a sweep, and what the doctor prints last."""

    kind: str  # cuda-ready | cpu-only | broken
    reason: str
    cuda_usable: bool = False
    cuda_devices: list[str] = field(default_factory=list)
    error_codes: list[str] = field(default_factory=list)
    warning_codes: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return HEADLINES[self.kind]

    @property
    def line(self) -> str:
        """One line, e.g. 'CUDA ready: NVIDIA H100 80GB HBM3, driver 570.124.06, torch 2.8.0'."""
        return f"{self.headline}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        """The verdict plus a facts summary, for run metadata and ``--json``."""
        return {
            "kind": self.kind,
            "line": self.line,
            "cuda_usable": self.cuda_usable,
            "cuda_devices": list(self.cuda_devices),
            "errors": list(self.error_codes),
            "warnings": list(self.warning_codes),
            "facts": self.summary,
        }


def usable_cuda_devices(facts: Facts) -> list[str]:
    """CUDA devices torch can use, minus any whose smoke test failed."""
    torch = facts.torch
    if torch.status != "ok" or not torch.cuda_available:
        return []
    failed = {result.device for result in facts.smoke if result.status != "ok"}
    devices = [f"cuda:{device.index}" for device in torch.devices] or [
        f"cuda:{index}" for index in range(torch.device_count)
    ]
    return [device for device in devices if device not in failed]


def _cpu_only_reason(facts: Facts, findings: list[Finding]) -> str:
    torch = facts.torch
    label = f"torch {torch.version}" if torch.version else "torch"
    if facts.platform.system == "Darwin":
        mps = "; Apple MPS is available" if torch.mps_available else ""
        return f"{label} on macOS has no CUDA{mps}"
    gpu_seen = bool(facts.nvml.gpus or facts.nvidia.pci_gpus)
    if torch.status == "ok" and not torch.cuda and not torch.hip:
        if gpu_seen:
            return f"{label} is a CPU build"
        return f"{label} is a CPU build and no NVIDIA GPU was found"
    if torch.cuda and not gpu_seen:
        where = f" in this {facts.platform.container} container" if facts.platform.container else ""
        return f"{label} is a CUDA {torch.cuda} build but no NVIDIA GPU is visible{where}"
    warnings = [item for item in findings if item.severity == Severity.WARN]
    if warnings:
        return f"CUDA is not usable ({warnings[0].code}: {warnings[0].title})"
    return "CUDA is not usable"


def _cuda_ready_reason(facts: Facts, devices: list[str]) -> str:
    names = [device.name for device in facts.torch.devices if f"cuda:{device.index}" in devices]
    unique = list(dict.fromkeys(names))
    gpus = ", ".join(
        f"{names.count(name)}x {name}" if names.count(name) > 1 else name for name in unique
    )
    driver = f", driver {facts.nvml.driver_version}" if facts.nvml.driver_version else ""
    if facts.torch.hip:
        return f"{gpus or len(devices)} (ROCm {facts.torch.hip}), torch {facts.torch.version}"
    return f"{gpus or len(devices)}{driver}, torch {facts.torch.version}"


def decide_verdict(facts: Facts, findings: list[Finding]) -> Verdict:
    errors = [item for item in findings if item.severity == Severity.ERROR]
    warnings = [item.code for item in findings if item.severity == Severity.WARN]
    devices = usable_cuda_devices(facts)
    common: dict[str, Any] = {
        "cuda_usable": bool(devices),
        "cuda_devices": devices,
        "error_codes": [item.code for item in errors],
        "warning_codes": warnings,
        "summary": facts_summary(facts),
    }
    if errors:
        count = f"{len(errors)} error" + ("s" if len(errors) > 1 else "")
        reason = f"{count}. First fix: {errors[0].code} ({errors[0].title})"
        if devices:
            reason += f"; CUDA itself works on {', '.join(devices)}"
        return Verdict(BROKEN, reason, **common)
    if devices:
        return Verdict(CUDA_READY, _cuda_ready_reason(facts, devices), **common)
    return Verdict(CPU_ONLY, _cpu_only_reason(facts, findings), **common)


def broken_verdict(reason: str) -> Verdict:
    """The verdict when the doctor itself could not run."""
    return Verdict(BROKEN, reason, error_codes=["internal-error"])


def facts_summary(facts: Facts) -> dict[str, Any]:
    """A compact view of the facts for run metadata (what a benchmark report needs to cite)."""
    torch = facts.torch
    return {
        "os": f"{facts.platform.system} {facts.platform.release} {facts.platform.machine}".strip(),
        "distro": facts.platform.distro,
        "python": facts.platform.python_version,
        "environment": facts.environment.kind,
        "container": facts.platform.container,
        "wsl": facts.platform.wsl,
        "torch": {
            "version": torch.version,
            "status": torch.status,
            "cuda": torch.cuda,
            "hip": torch.hip,
            "cudnn": torch.cudnn_version,
            "cuda_available": torch.cuda_available,
            "num_threads": torch.num_threads,
            "devices": [
                {
                    "index": device.index,
                    "name": device.name,
                    "capability": device.capability,
                    "total_memory": device.total_memory,
                }
                for device in torch.devices
            ],
        },
        "driver": {
            "version": facts.nvml.driver_version,
            "cuda": facts.nvml.cuda_driver_version,
            "nvml_status": facts.nvml.status,
        },
        "gpus": [
            {
                "index": gpu.index,
                "name": gpu.name,
                "capability": gpu.capability,
                "memory_total": gpu.memory_total,
                "memory_used": gpu.memory_used,
                "utilization_gpu": gpu.utilization_gpu,
                "processes": [
                    {"pid": proc.pid, "name": proc.name, "used_memory": proc.used_memory}
                    for proc in gpu.processes
                ],
            }
            for gpu in facts.nvml.gpus
        ],
        "cpu": {
            "model": facts.cpu.model,
            "physical_cores": facts.cpu.physical_cores,
            "logical_cores": facts.cpu.logical_cores,
            "usable_cores": facts.cpu.usable_cores,
            "cgroup_cpu_limit": facts.cpu.cgroup_cpu_limit,
            "frequency_mhz": facts.cpu.frequency_mhz,
            "governor": facts.cpu.governor,
        },
    }
