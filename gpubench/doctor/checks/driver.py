"""Checks on the NVIDIA driver: is it there, is it whole, is it new enough, does CUDA start."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpubench.doctor import advice, rules
from gpubench.doctor.checks.common import (
    describe_gpus,
    gpu_device_nodes,
    is_cuda_build,
    nvidia_gpu_visible,
    reinstall_torch_commands,
    torch_label,
    windows_driver,
)
from gpubench.doctor.checks.visibility import check_cuda_visible_devices
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity, ok
from gpubench.doctor.rules import NVIDIA_DOWNLOADS


def driver_install_commands(facts: Facts, minimum: str | None = None) -> tuple[str, ...]:
    """How to install or upgrade the driver on this OS (at least ``minimum`` if given)."""
    at_least = f" >= {minimum}" if minimum else ""
    if facts.platform.wsl:
        return (f"# update the NVIDIA driver on Windows{at_least}; never install one inside WSL",)
    if facts.platform.system == "Windows":
        return (f"# install the NVIDIA driver{at_least} from {NVIDIA_DOWNLOADS}",)
    distro = facts.platform.distro.lower()
    if "ubuntu" in distro:
        return (
            "sudo ubuntu-drivers list  # the drivers available for this GPU",
            f"sudo ubuntu-drivers install  # the recommended one; need{at_least or ' a new one'}",
            "sudo reboot",
        )
    if "debian" in distro:
        return ("sudo apt-get install -y nvidia-driver  # from contrib/non-free", "sudo reboot")
    return (f"# install NVIDIA driver{at_least} for your distribution ({NVIDIA_DOWNLOADS})",)


def check_nvidia_driver(facts: Facts) -> list[Finding]:
    """The NVIDIA driver must be loaded wherever NVIDIA hardware is visible."""
    if facts.platform.system == "Darwin":
        return []
    nvml = facts.nvml
    if nvml.status == "ok":
        cuda = f", supports CUDA <= {nvml.cuda_driver_version}" if nvml.cuda_driver_version else ""
        if not nvml.gpus:
            return [Finding("nvidia-driver", Severity.INFO, f"{nvml.driver_version}{cuda}; no GPU")]
        gpus = ", ".join(dict.fromkeys(gpu.name for gpu in nvml.gpus))
        count = f"{len(nvml.gpus)} GPU" + ("s" if len(nvml.gpus) > 1 else "")
        return [ok("nvidia-driver", f"{nvml.driver_version}{cuda}; {count}: {gpus}")]
    if nvml.status == "version-mismatch":
        return []  # driver-library-mismatch says it
    if nvml.status == "module-missing":
        return [
            Finding(
                "nvidia-driver",
                Severity.WARN,
                "cannot ask the driver: nvidia-ml-py (pynvml) is not installed",
                fix=("python -m pip install nvidia-ml-py",),
            )
        ]
    if nvml.status == "timeout":
        return [
            Finding(
                "nvidia-driver",
                Severity.WARN,
                "the NVIDIA driver did not answer (NVML hung)",
                detail=f"{nvml.error}. A hung driver needs a reboot (nvidia-smi hangs too).",
                fix=("nvidia-smi", "sudo reboot"),
            )
        ]
    if facts.platform.container and not gpu_device_nodes(facts):
        # no devices were passed in: container-no-gpu says how; the driver lives on the host
        return [
            Finding(
                "nvidia-driver",
                Severity.INFO,
                f"no NVIDIA GPU visible in this {facts.platform.container} container",
                detail=f"No /dev/nvidia* devices; NVML: {nvml.error or nvml.status}.",
                evidence={"nvml": nvml.status},
            )
        ]
    if facts.platform.wsl and facts.nvidia.wsl_shadowing_libraries:
        return []  # wsl explains it: a Linux driver inside WSL hides the Windows one
    modules = facts.nvidia.kernel_modules
    hardware = bool(
        nvidia_gpu_visible(facts) or "nouveau" in modules or facts.nvidia.proc_driver_version
    )
    if facts.platform.wsl:
        hardware = hardware or "/dev/dxg" in facts.nvidia.device_nodes
    nvml_says = f"NVML: {nvml.error or nvml.status}"
    if not hardware:
        return [
            Finding(
                "nvidia-driver",
                Severity.INFO,
                "no NVIDIA GPU or driver found",
                detail=f"No /dev/nvidia* devices, no NVIDIA device on the PCI bus; {nvml_says}.",
                evidence={"nvml": nvml.status},
            )
        ]
    return [_no_driver_finding(facts, nvml_says)]


def _no_driver_finding(facts: Facts, nvml_says: str) -> Finding:
    modules = facts.nvidia.kernel_modules
    where = describe_gpus(facts)
    evidence = {
        "nvml": facts.nvml.status,
        "pci": facts.nvidia.pci_gpus,
        "modules": modules,
        "proc_driver_version": facts.nvidia.proc_driver_version,
    }
    needed = rules.required_driver(facts.torch.cuda) if facts.torch.cuda else None
    if "nouveau" in modules:
        return Finding(
            "no-nvidia-driver",
            Severity.ERROR,
            f"the open-source nouveau driver holds {where}; CUDA needs NVIDIA's driver",
            detail=f"nouveau is loaded and cannot run CUDA; {nvml_says}.",
            fix=(
                'printf "blacklist nouveau\\noptions nouveau modeset=0\\n" | '
                "sudo tee /etc/modprobe.d/blacklist-nouveau.conf",
                "sudo update-initramfs -u  # Fedora/RHEL: sudo dracut --force",
                *driver_install_commands(facts, needed),
            ),
            evidence=evidence,
        )
    if facts.nvidia.proc_driver_version and facts.nvml.status == "library-not-found":
        major = facts.nvidia.proc_driver_version.split(".")[0]
        return Finding(
            "no-nvidia-driver",
            Severity.ERROR,
            "the NVIDIA kernel module is loaded but its user-space libraries are missing",
            detail=f"/proc/driver/nvidia reports {facts.nvidia.proc_driver_version}, but "
            f"libnvidia-ml.so.1 cannot be loaded ({nvml_says}).",
            fix=(
                f"sudo apt-get install -y nvidia-utils-{major} libnvidia-compute-{major}  "
                "# Ubuntu/Debian names; the same version as the kernel module",
                "nvidia-smi",
            ),
            evidence=evidence,
        )
    if facts.nvml.status == "driver-not-loaded":
        return Finding(
            "no-nvidia-driver",
            Severity.ERROR,
            "the NVIDIA driver is installed but its kernel module is not loaded",
            detail=f"{nvml_says}. Common causes: a kernel update without a rebuilt module "
            "(DKMS), or Secure Boot rejecting the unsigned module.",
            fix=(
                "sudo modprobe nvidia",
                "dkms status  # is there a module for $(uname -r)?",
                "mokutil --sb-state  # Secure Boot enabled? enrol the MOK key or disable it",
                "sudo reboot",
            ),
            evidence=evidence,
        )
    return Finding(
        "no-nvidia-driver",
        Severity.ERROR,
        f"this machine has {where} but no working NVIDIA driver",
        detail=f"{nvml_says}. torch needs NVIDIA's driver (not the CUDA toolkit) to use the GPU.",
        fix=driver_install_commands(facts, needed),
        evidence=evidence,
    )


def _library_versions(facts: Facts) -> list[str]:
    versions = []
    for path in facts.nvidia.nvml_libraries:
        match = re.search(r"libnvidia-ml\.so\.(\d+\.\d+(?:\.\d+)?)$", path)
        if match:
            versions.append(match.group(1))
    return sorted(set(versions))


def check_driver_library_mismatch(facts: Facts) -> list[Finding]:
    """NVML refuses to work when the kernel module and the libraries differ in version."""
    if facts.nvml.status != "version-mismatch":
        return []
    kernel = facts.nvidia.proc_driver_version or "?"
    libraries = ", ".join(_library_versions(facts)) or "another version"
    return [
        Finding(
            "driver-library-mismatch",
            Severity.ERROR,
            "NVIDIA driver/library version mismatch",
            detail=f"The loaded kernel module is {kernel} but the user-space libraries are "
            f"{libraries}: the driver was updated and the machine not rebooted "
            f"({facts.nvml.error}).",
            fix=(
                "sudo reboot",
                "# or without a reboot, when no display or process uses the GPU:",
                "sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia",
                "sudo modprobe nvidia && sudo modprobe nvidia_uvm && nvidia-smi",
            ),
            evidence={"kernel_module": kernel, "libraries": _library_versions(facts)},
        )
    ]


def check_driver_supports_torch(facts: Facts) -> list[Finding]:
    """The driver must be new enough for the CUDA runtime torch ships with."""
    driver, cuda = facts.nvml.driver_version, facts.torch.cuda
    if not is_cuda_build(facts) or not driver or not cuda:
        return []
    windows = windows_driver(facts)
    driver_cuda = facts.nvml.cuda_driver_version
    support = rules.driver_support(driver, cuda, windows=windows, driver_cuda=driver_cuda)
    needed = rules.required_driver(cuda, windows=windows)
    compat = rules.minor_compat_driver(cuda, windows=windows) or needed
    evidence = {
        "driver": driver,
        "driver_cuda": facts.nvml.cuda_driver_version,
        "torch_cuda": cuda,
        "minimum_driver": needed,
        "minor_compat_driver": compat,
        "support": support,
    }
    native_cuda = facts.nvml.cuda_driver_version or rules.newest_cuda_of_driver(
        driver, windows=windows
    )
    if support == rules.NATIVE:
        reported = f", reports CUDA {driver_cuda}" if driver_cuda else ""
        return [
            ok(
                "driver-too-old",
                f"driver {driver}{reported} runs torch's CUDA {cuda} natively",
                minimum_driver=needed,
            )
        ]
    if support == rules.MINOR_COMPAT:
        return [
            Finding(
                "driver-too-old",
                Severity.INFO,
                f"driver {driver} runs torch's CUDA {cuda} through minor-version compatibility",
                detail=f"This driver supports CUDA <= {native_cuda} natively. CUDA "
                f"{cuda.split('.')[0]}.x builds also run on drivers >= {compat}, with a limited "
                f"feature set (NVIDIA's minor-version compatibility). If a feature is missing or a "
                f"kernel fails to JIT-compile, upgrade the driver to >= {needed}.",
                fix=driver_install_commands(facts, needed),
                evidence=evidence,
            )
        ]
    if support != rules.UNSUPPORTED:
        return []
    plan = advice.plan_for_machine(facts)
    family = f" (>= {compat} runs any {cuda.split('.')[0]}.x build)" if compat != needed else ""
    fix = [f"# either upgrade the driver to >= {needed}{family} and keep this torch:"]
    fix += driver_install_commands(facts, needed)
    detail = (
        f"{torch_label(facts)} ships the CUDA {cuda} runtime, which needs driver >= {needed} "
        f"(>= {compat} through minor-version compatibility); this driver supports CUDA <= "
        f"{native_cuda}, so torch.cuda.is_available() is False."
    )
    if plan is not None:
        fix.append(f"# or install the torch build for this driver ({plan.variant}):")
        fix += reinstall_torch_commands(facts, plan)
        detail += (
            "\n"
            + advice.describe_choice(
                plan,
                driver_version=driver,
                windows=windows,
                capabilities=advice.gpu_capabilities(facts),
                driver_cuda=driver_cuda,
            )
            + "."
        )
    return [
        Finding(
            "driver-too-old",
            Severity.ERROR,
            f"driver {driver} is too old for torch's CUDA {cuda}",
            detail=detail,
            fix=tuple(fix),
            evidence=evidence,
        )
    ]


@dataclass(frozen=True)
class InitFailureCause:
    """A recognisable CUDA initialisation failure: torch's warning text -> cause and fix."""

    pattern: re.Pattern[str]
    cause: str
    fix: tuple[str, ...]
    source: str


CUDA_INIT_CAUSES: tuple[InitFailureCause, ...] = (
    InitFailureCause(
        re.compile(r"Error 804|forward compatibility was attempted"),
        "a CUDA forward-compatibility library (cuda-compat) is loaded on a GPU that does not "
        "support it, or the driver was updated without a reboot",
        ("echo $LD_LIBRARY_PATH  # remove entries ending in /compat", "sudo reboot"),
        "cudaErrorCompatNotSupportedOnDevice (804)",
    ),
    InitFailureCause(
        re.compile(r"Error 999|unknown error"),
        "the nvidia_uvm kernel module is in a bad state, typically after suspend/resume",
        ("sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm", "# or: sudo reboot"),
        "cudaErrorUnknown (999)",
    ),
    InitFailureCause(
        re.compile(r"Error 802|system not yet initialized"),
        "an NVSwitch system (HGX/DGX) needs the NVIDIA Fabric Manager, of the driver's exact "
        "version, running before CUDA can start",
        (
            "sudo systemctl enable --now nvidia-fabricmanager",
            "systemctl status nvidia-fabricmanager",
        ),
        "cudaErrorSystemNotReady (802)",
    ),
    InitFailureCause(
        re.compile(r"Error 803|unsupported display driver / cuda driver combination"),
        "the CUDA driver library and the kernel module differ in version (driver updated without "
        "a reboot, or a stray libcuda on LD_LIBRARY_PATH)",
        ("sudo reboot", "ldconfig -p | grep libcuda.so  # more than one libcuda?"),
        "cudaErrorSystemDriverMismatch (803)",
    ),
    InitFailureCause(
        re.compile(r"Error 100|no CUDA-capable device is detected"),
        "no device is visible to this process (CUDA_VISIBLE_DEVICES, a cgroup or container "
        "device rule)",
        ("echo $CUDA_VISIBLE_DEVICES", "ls -l /dev/nvidia*", "nvidia-smi -L"),
        "cudaErrorNoDevice (100)",
    ),
)


def check_cuda_init(facts: Facts) -> list[Finding]:
    """With a CUDA build and a working driver, torch.cuda.is_available() must be True."""
    torch = facts.torch
    if not is_cuda_build(facts) or torch.cuda_available is None:
        return []
    if torch.cuda_available and torch.device_count:
        devices = ", ".join(
            f"cuda:{device.index} {device.name} (sm_{device.capability.replace('.', '')})"
            for device in torch.devices
        )
        return [ok("cuda", f"CUDA available: {devices}", device_count=torch.device_count)]
    hung = bool(torch.cuda_error and "did not finish" in torch.cuda_error)
    driver_ok = facts.nvml.status == "ok" and facts.nvml.gpus
    if not hung and not driver_ok:
        return []  # the driver checks explain it
    if facts.nvml.driver_version and torch.cuda:
        windows = windows_driver(facts)
        support = rules.driver_support(
            facts.nvml.driver_version,
            torch.cuda,
            windows=windows,
            driver_cuda=facts.nvml.cuda_driver_version,
        )
        if support == rules.UNSUPPORTED:
            return []  # driver-too-old explains it
    if any(item.severity == Severity.ERROR for item in check_cuda_visible_devices(facts)):
        return []  # cuda-visible-devices explains it
    text = "\n".join([*torch.cuda_warnings, torch.cuda_error or ""]).strip()
    cause, fix = _init_cause(facts, text)
    title = "CUDA initialisation hung" if hung else "torch cannot initialise CUDA"
    return [
        Finding(
            "cuda-init-failed",
            Severity.ERROR,
            f"{title} although the driver sees {describe_gpus(facts)}",
            detail=(f"torch says: {text}\n" if text else "torch gave no warning text.\n")
            + f"Likely cause: {cause}.",
            fix=fix,
            evidence={"warnings": torch.cuda_warnings, "error": torch.cuda_error},
        )
    ]


def _init_cause(facts: Facts, text: str) -> tuple[str, tuple[str, ...]]:
    for known in CUDA_INIT_CAUSES:
        if known.pattern.search(text):
            return known.cause, known.fix
    nodes = facts.nvidia.device_nodes
    linux = facts.platform.system == "Linux" and not facts.platform.wsl
    if linux and nodes and "/dev/nvidia-uvm" not in nodes:
        return (
            "/dev/nvidia-uvm is missing: the nvidia_uvm module is not loaded",
            ("sudo modprobe nvidia-uvm", "sudo nvidia-modprobe -u -c=0  # creates the device node"),
        )
    return (
        "not recognised; the full error usually names it",
        (
            'python -c "import torch; torch.cuda.init()"  # prints the full CUDA error',
            "nvidia-smi",
            "sudo reboot",
        ),
    )
