"""Small readings of the facts shared by several checks."""

from __future__ import annotations

import re

from gpubench.doctor import advice
from gpubench.doctor.facts import Facts

GIB = 1024**3
CPU_INDEX_URL = "https://download.pytorch.org/whl/cpu"


def human_bytes(value: int | None) -> str:
    if value is None:
        return "?"
    if value >= GIB:
        return f"{value / GIB:.1f} GiB"
    return f"{value / 1024**2:.0f} MiB"


def torch_ok(facts: Facts) -> bool:
    return facts.torch.status == "ok"


def is_cuda_build(facts: Facts) -> bool:
    return torch_ok(facts) and bool(facts.torch.cuda)


def is_cpu_build(facts: Facts) -> bool:
    return torch_ok(facts) and not facts.torch.cuda and not facts.torch.hip


def gpu_device_nodes(facts: Facts) -> list[str]:
    """``/dev/nvidia0``, ``/dev/nvidia1``... (not nvidiactl or nvidia-uvm)."""
    return [node for node in facts.nvidia.device_nodes if re.fullmatch(r"/dev/nvidia\d+", node)]


def nvidia_gpu_visible(facts: Facts) -> bool:
    """Any trace of an NVIDIA GPU in this machine: NVML, device nodes or the PCI bus."""
    return bool(facts.nvml.gpus or gpu_device_nodes(facts) or facts.nvidia.pci_gpus)


def nvidia_gpu_names(facts: Facts) -> list[str]:
    if facts.nvml.gpus:
        return [gpu.name for gpu in facts.nvml.gpus]
    if facts.torch.devices:
        return [device.name for device in facts.torch.devices]
    return []


def describe_gpus(facts: Facts) -> str:
    """'the NVIDIA GeForce RTX 4090' / '2 GPUs (NVIDIA H100 80GB HBM3, ...)' / 'an NVIDIA GPU'."""
    names = nvidia_gpu_names(facts)
    if len(names) == 1:
        return f"the {names[0]}"
    if names:
        unique = ", ".join(dict.fromkeys(names))
        return f"{len(names)} GPUs ({unique})"
    if facts.nvidia.pci_gpus:
        count = len(facts.nvidia.pci_gpus)
        return "an NVIDIA GPU" if count == 1 else f"{count} NVIDIA GPUs"
    return "an NVIDIA GPU"


def torch_label(facts: Facts) -> str:
    return f"torch {facts.torch.version}" if facts.torch.version else "torch"


def windows_driver(facts: Facts) -> bool:
    return advice.uses_windows_driver(facts)


def reinstall_torch_commands(facts: Facts, plan: advice.InstallPlan) -> tuple[str, ...]:
    """Uninstall whatever torch is there, then install the planned wheel (with companions)."""
    companions = advice.companions_of(facts)
    uninstall = " ".join(("torch", *companions))
    return (
        f"python -m pip uninstall -y {uninstall}",
        plan.pip_install(companions),
        'python -c "import torch; print(torch.__version__, torch.cuda.is_available())"',
    )


def cpu_install_command(facts: Facts) -> str:
    plan = advice.cpu_plan(facts.torch.version)
    return plan.pip_install(advice.companions_of(facts))
