"""Checks on what can hide a working GPU from torch: CUDA_VISIBLE_DEVICES, WSL, containers."""

from __future__ import annotations

from gpubench.doctor.checks.common import gpu_device_nodes, is_cuda_build
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity, ok


def _visible_entries(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _names_a_device(entry: str, facts: Facts) -> bool:
    """Whether one CUDA_VISIBLE_DEVICES entry names a device: an index, a (prefix of a) GPU
    UUID, or a MIG instance (``MIG-<uuid>``, or the older ``MIG-GPU-<uuid>/gi/ci``)."""
    gpus = facts.nvml.gpus
    if entry.isdigit():
        return int(entry) < len(gpus)
    if entry.startswith("MIG-"):
        known = [uuid for gpu in gpus for uuid in gpu.mig_uuids]
        parent = entry.removeprefix("MIG-").split("/", 1)[0]
        if parent.startswith("GPU-"):  # the older form names its parent GPU
            return any(gpu.uuid == parent for gpu in gpus)
        # MIG instances not recorded (older facts, or NVML could not list them): cannot tell
        return not known or any(uuid.startswith(entry) for uuid in known)
    if entry.startswith("GPU-"):
        return any(gpu.uuid.startswith(entry) for gpu in gpus if gpu.uuid)
    return False


def check_cuda_visible_devices(facts: Facts) -> list[Finding]:
    """CUDA_VISIBLE_DEVICES (and NVIDIA_VISIBLE_DEVICES in containers) must not hide the GPUs."""
    findings = []
    gpu_count = len(facts.nvml.gpus)
    value = facts.env.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        entries = _visible_entries(value)
        visible = 0
        for entry in entries:  # CUDA stops at the first entry it cannot use
            if _names_a_device(entry, facts):
                visible += 1
            else:
                break
        evidence = {"CUDA_VISIBLE_DEVICES": value, "gpus": gpu_count, "visible": visible}
        if gpu_count and visible == 0:
            findings.append(
                Finding(
                    "cuda-visible-devices",
                    Severity.ERROR,
                    f"CUDA_VISIBLE_DEVICES={value!r} hides every GPU from CUDA",
                    detail=f"The driver sees {gpu_count} GPU(s), but CUDA_VISIBLE_DEVICES lists "
                    "none of them (empty, -1, or indices/UUIDs that do not exist), so torch sees "
                    "no device. Indices start at 0; CUDA stops at the first invalid entry.",
                    fix=(
                        "unset CUDA_VISIBLE_DEVICES",
                        "# or pick GPUs that exist: export CUDA_VISIBLE_DEVICES=0",
                        "grep -n CUDA_VISIBLE_DEVICES ~/.bashrc ~/.profile  # where is it set?",
                    ),
                    evidence=evidence,
                )
            )
        elif gpu_count and visible < gpu_count:
            findings.append(
                Finding(
                    "cuda-visible-devices",
                    Severity.INFO,
                    f"CUDA_VISIBLE_DEVICES={value!r} shows {visible} of {gpu_count} GPUs",
                    detail="torch numbers the visible GPUs from cuda:0.",
                    evidence=evidence,
                )
            )
    nvidia_visible = facts.env.get("NVIDIA_VISIBLE_DEVICES")
    hides_all = nvidia_visible is not None and nvidia_visible.strip().lower() in (
        "",
        "none",
        "void",
    )
    if facts.platform.container and hides_all:
        findings.append(
            Finding(
                "cuda-visible-devices",
                Severity.WARN,
                f"NVIDIA_VISIBLE_DEVICES={nvidia_visible!r}: the container runtime mounts no GPU",
                fix=("docker run --gpus all ...  # or NVIDIA_VISIBLE_DEVICES=all",),
                evidence={"NVIDIA_VISIBLE_DEVICES": nvidia_visible},
            )
        )
    return findings


def check_wsl(facts: Facts) -> list[Finding]:
    """Under WSL2 the GPU comes from the Windows driver; a Linux driver inside WSL breaks it."""
    wsl = facts.platform.wsl
    if wsl is None:
        return []
    if wsl == 1:
        return [
            Finding(
                "wsl",
                Severity.WARN,
                "WSL 1 has no GPU support",
                fix=(
                    "wsl --set-version <distro> 2  # in Windows PowerShell (wsl -l -v lists them)",
                ),
            )
        ]
    shadowing = facts.nvidia.wsl_shadowing_libraries
    if shadowing:
        return [
            Finding(
                "wsl",
                Severity.ERROR,
                "a Linux NVIDIA driver is installed inside WSL and shadows the Windows driver",
                detail="Under WSL2, libcuda and libnvidia-ml must come from /usr/lib/wsl/lib (they "
                "are the Windows driver's). Copies elsewhere break CUDA: " + ", ".join(shadowing),
                fix=(
                    "sudo apt-get remove --purge -y cuda-drivers 'nvidia-driver-*' "
                    "'libnvidia-compute-*' 'nvidia-utils-*'",
                    "sudo apt-get autoremove -y",
                    "# install CUDA tools only from the WSL-Ubuntu repository (cuda-toolkit-*, "
                    "never cuda or cuda-drivers)",
                    "wsl --shutdown  # in Windows PowerShell, then reopen the distro",
                    "ldconfig -p | grep libcuda  # must point to /usr/lib/wsl/lib only",
                ),
                evidence={"libraries": shadowing},
            )
        ]
    if "/dev/dxg" not in facts.nvidia.device_nodes:
        return [
            Finding(
                "wsl",
                Severity.WARN,
                "WSL2 without GPU paravirtualisation (/dev/dxg is missing)",
                fix=(
                    "wsl --update  # in Windows PowerShell",
                    "# install or update the NVIDIA driver on Windows, then: wsl --shutdown",
                ),
            )
        ]
    return [
        Finding(
            "wsl",
            Severity.INFO,
            "WSL2: the GPU is reached through the Windows NVIDIA driver",
            detail="GPU libraries come from /usr/lib/wsl/lib. Keep the driver up to date on "
            "Windows and never install a Linux NVIDIA driver inside WSL.",
        )
    ]


def check_container_gpu(facts: Facts) -> list[Finding]:
    """A container only sees GPUs that its runtime passed in."""
    container = facts.platform.container
    if not container:
        return []
    nodes = gpu_device_nodes(facts)
    if nodes:
        return [ok("container-no-gpu", f"{container} container with {', '.join(nodes)}")]
    host_gpu = bool(facts.nvidia.pci_gpus)
    severity = (
        Severity.ERROR if host_gpu else Severity.WARN if is_cuda_build(facts) else Severity.INFO
    )
    seen = "the host has an NVIDIA GPU (seen on the PCI bus)" if host_gpu else "if the host has one"
    fix: tuple[str, ...] = (
        "docker run --gpus all ...  # podman: --device nvidia.com/gpu=all",
        "# on the host, once: install the NVIDIA Container Toolkit, then",
        "sudo nvidia-ctk runtime configure --runtime=docker && sudo systemctl restart docker",
        "docker run --rm --gpus all ubuntu nvidia-smi  # must list the GPU",
    )
    if container == "kubernetes":
        fix = ("# request the GPU in the pod spec: resources: limits: nvidia.com/gpu: 1",)
    return [
        Finding(
            "container-no-gpu",
            severity,
            f"inside a {container} container without GPU devices (no /dev/nvidia*)",
            detail=f"A container sees a GPU only when its runtime passes it in; {seen}, start "
            "the container with GPU access.",
            fix=fix,
            evidence={"container": container, "pci_gpus": facts.nvidia.pci_gpus},
        )
    ]
