"""Readers of the machine: /proc, /sys, /dev, sys.path, conda-meta, psutil, the toolkit.

Each reader is cheap and safe to run in the doctor's own process (nothing here imports torch or
talks to the driver); probe.py calls them, guarded, while the worker processes run.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from gpubench.doctor.conda_meta import classify_channel
from gpubench.doctor.facts import (
    CondaFacts,
    CpuFacts,
    CudaToolkitFacts,
    JupyterKernel,
    LibraryPathEntry,
    NvidiaSystemFacts,
    NvmlGpu,
    PlatformFacts,
    TorchDistribution,
)

# Where distributions put the NVIDIA user-space libraries (Debian/Ubuntu, RHEL, generic, WSL).
LIBRARY_DIRS = (
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/lib/x86_64-linux-gnu",
    "/usr/local/nvidia/lib64",
    "/usr/lib/wsl/lib",
)
WSL_LIBRARY_DIR = "/usr/lib/wsl/lib"
KERNEL_MODULES_OF_INTEREST = ("nvidia", "nvidia_uvm", "nvidia_drm", "nvidia_modeset", "nouveau")
CUDA_LIBRARY_PATTERN = re.compile(
    r"^lib(cudart|cublas|cublasLt|cudnn\w*|nccl|cusparse|cufft|curand|cusolver|nvJitLink|nvrtc|"
    r"cuda|nvidia-ml)\.so(\.\d+)*$"
)
TORCH_COMPANIONS = ("torchvision", "torchaudio")


def _read_text(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


# --- platform and environment ----------------------------------------------------------------


def detect_wsl(release: str) -> int | None:
    lowered = release.lower()
    if "microsoft" not in lowered:
        return None
    return 2 if ("wsl2" in lowered or "microsoft-standard" in lowered) else 1


def detect_container(environ: Mapping[str, str]) -> str | None:
    if Path("/.dockerenv").exists():
        return "docker"
    if Path("/run/.containerenv").exists():
        return "podman"
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    cgroup = _read_text("/proc/1/cgroup") or ""
    for marker, name in (
        ("kubepods", "kubernetes"),
        ("docker", "docker"),
        ("libpod", "podman"),
        ("containerd", "containerd"),
        ("lxc", "lxc"),
    ):
        if marker in cgroup:
            return name
    value = environ.get("container")
    return value or None


def collect_platform(environ: Mapping[str, str]) -> PlatformFacts:
    release = platform.release()
    distro = ""
    os_release = _read_text("/etc/os-release") or ""
    match = re.search(r'^PRETTY_NAME="?([^"\n]*)"?', os_release, re.M)
    if match:
        distro = match.group(1)
    elif platform.system() == "Darwin":
        distro = f"macOS {platform.mac_ver()[0]}"
    elif platform.system() == "Windows":
        distro = f"Windows {platform.version()}"
    return PlatformFacts(
        system=platform.system(),
        release=release,
        machine=platform.machine(),
        distro=distro,
        python_version=platform.python_version(),
        python_executable=sys.executable,
        wsl=detect_wsl(release) if platform.system() == "Linux" else None,
        container=detect_container(environ) if platform.system() == "Linux" else None,
    )


# --- torch distributions ---------------------------------------------------------------------


def _metadata_version(metadata_dir: Path) -> str:
    for name in ("METADATA", "PKG-INFO"):
        text = _read_text(metadata_dir / name)
        if text:
            match = re.search(r"^Version:\s*(\S+)", text, re.M)
            if match:
                return match.group(1)
    stem = metadata_dir.name.rsplit(".", 1)[0]  # torch-2.13.0+cpu.dist-info -> torch-2.13.0+cpu
    return stem.split("-", 1)[1] if "-" in stem else ""


def _scope(entry: Path, user_site: str | None, pythonpath: list[str], prefix: str) -> str:
    resolved = str(entry)
    if user_site and resolved == str(Path(user_site).resolve()):
        return "user"
    if resolved in pythonpath:
        return "pythonpath"
    if resolved.startswith(str(Path(prefix).resolve())):
        return "env"
    return "other"


def find_torch_distributions(
    search_path: Iterable[str],
    *,
    user_site: str | None,
    pythonpath: Iterable[str] = (),
    prefix: str | None = None,
) -> tuple[list[TorchDistribution], dict[str, str]]:
    """Every torch on ``search_path`` (metadata and/or package), and torch's companions.

    ``prefix`` is the environment's (another interpreter's with ``--python``; default ours)."""
    prefix = prefix or sys.prefix
    resolved_pythonpath = [str(Path(entry).resolve()) for entry in pythonpath if entry]
    found: list[TorchDistribution] = []
    companions: dict[str, str] = {}
    seen: set[str] = set()
    for raw in search_path:
        entry = Path(raw or ".").resolve()
        if str(entry) in seen or not entry.is_dir():
            continue
        seen.add(str(entry))
        scope = _scope(entry, user_site, resolved_pythonpath, prefix)
        package_present = (entry / "torch" / "__init__.py").is_file()
        metadata = sorted(entry.glob("torch-*.dist-info")) + sorted(entry.glob("torch-*.egg-info"))
        for metadata_dir in metadata:
            installer = (_read_text(metadata_dir / "INSTALLER") or "").strip()
            found.append(
                TorchDistribution(
                    name="torch",
                    version=_metadata_version(metadata_dir),
                    location=str(entry),
                    installer=installer,
                    scope=scope,
                    metadata_path=str(metadata_dir),
                    package_present=package_present,
                )
            )
        if package_present and not metadata:
            found.append(TorchDistribution(location=str(entry), scope=scope, installer=""))
        for companion in TORCH_COMPANIONS:
            if companion in companions:
                continue
            for metadata_dir in sorted(entry.glob(f"{companion}-*.dist-info")):
                companions[companion] = _metadata_version(metadata_dir)
    return found, companions


def conda_torch_records(conda: CondaFacts) -> list[TorchDistribution]:
    return [
        TorchDistribution(
            name="pytorch",
            version=package.version,
            location=conda.prefix,
            installer="conda",
            scope="conda-meta",
            metadata_path=str(Path(conda.prefix) / "conda-meta" / f"{package.record_id}.json"),
            channel=classify_channel(package.channel).label,
        )
        for package in conda.packages
        if package.name == "pytorch"
    ]


# --- NVIDIA traces outside NVML --------------------------------------------------------------


def _loaded_modules() -> list[str]:
    text = _read_text("/proc/modules")
    if text is not None:
        names = {line.split(" ", 1)[0] for line in text.splitlines() if line}
    else:
        names = {name for name in KERNEL_MODULES_OF_INTEREST if Path("/sys/module", name).is_dir()}
    return [name for name in KERNEL_MODULES_OF_INTEREST if name in names]


def _pci_nvidia_gpus() -> list[str]:
    found = []
    for device in sorted(Path("/sys/bus/pci/devices").glob("*")):
        vendor = (_read_text(device / "vendor") or "").strip()
        device_class = (_read_text(device / "class") or "").strip()
        if vendor == "0x10de" and device_class.startswith("0x03"):  # display controllers
            device_id = (_read_text(device / "device") or "").strip().removeprefix("0x")
            found.append(f"{device.name} 10de:{device_id}")
    return found


def _proc_driver_version() -> str | None:
    text = _read_text("/proc/driver/nvidia/version")
    if not text:
        return None
    match = re.search(r"Kernel Module.*?\s(\d+\.\d+(?:\.\d+)?)\s", text)
    return match.group(1) if match else text.splitlines()[0].strip()


def collect_nvidia_system(wsl: int | None) -> NvidiaSystemFacts:
    nodes = sorted(str(path) for path in Path("/dev").glob("nvidia*"))
    nodes += [node for node in ("/dev/dxg", "/dev/kfd") if Path(node).exists()]
    nvml_libraries: list[str] = []
    shadowing: list[str] = []
    for directory in LIBRARY_DIRS:
        base = Path(directory)
        if not base.is_dir():
            continue
        nvml_libraries += sorted(str(path) for path in base.glob("libnvidia-ml.so*"))
        if wsl and directory != WSL_LIBRARY_DIR:
            for pattern in ("libcuda.so*", "libnvidia-ml.so*"):
                shadowing += sorted(str(path) for path in base.glob(pattern))
    return NvidiaSystemFacts(
        device_nodes=nodes,
        pci_gpus=_pci_nvidia_gpus(),
        kernel_modules=_loaded_modules(),
        proc_driver_version=_proc_driver_version(),
        nvml_libraries=nvml_libraries,
        wsl_shadowing_libraries=shadowing,
    )


# --- CPU, toolkit, library path --------------------------------------------------------------


def _cgroup_cpu_limit() -> float | None:
    text = _read_text("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max ..."
    if text:
        quota, _, period = text.strip().partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_text = _read_text("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")  # cgroup v1
    period_text = _read_text("/sys/fs/cgroup/cpu/cpu.cfs_period_us")
    if quota_text and period_text and int(quota_text) > 0:
        return int(quota_text) / int(period_text)
    return None


def _cpu_model() -> str:
    text = _read_text("/proc/cpuinfo") or ""
    match = re.search(r"^(model name|Hardware|Processor)\s*:\s*(.+)$", text, re.M)
    if match:
        return match.group(2).strip()
    return platform.processor() or platform.machine()


def collect_cpu() -> CpuFacts:
    import psutil

    facts = CpuFacts(
        model=_cpu_model(),
        physical_cores=psutil.cpu_count(logical=False),
        logical_cores=psutil.cpu_count(logical=True),
    )
    affinity = getattr(psutil.Process(), "cpu_affinity", None)
    if affinity is not None:
        with contextlib.suppress(OSError, psutil.Error):
            facts.usable_cores = len(affinity())
    try:
        frequency = psutil.cpu_freq()
    except (OSError, NotImplementedError, FileNotFoundError):
        frequency = None
    if frequency is not None:
        facts.frequency_mhz = round(frequency.current, 1) or None
        facts.max_frequency_mhz = round(frequency.max, 1) or None
    governor = _read_text("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    facts.governor = governor.strip() if governor else None
    facts.cgroup_cpu_limit = _cgroup_cpu_limit()
    return facts


def find_nvcc(environ: Mapping[str, str]) -> str | None:
    cuda_home = environ.get("CUDA_HOME") or environ.get("CUDA_PATH")
    candidates = [shutil.which("nvcc", path=environ.get("PATH"))]
    if cuda_home:
        candidates.append(str(Path(cuda_home) / "bin" / "nvcc"))
    candidates.append("/usr/local/cuda/bin/nvcc")
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def start_nvcc_version(nvcc: str | None) -> subprocess.Popen[str] | None:
    if nvcc is None:
        return None
    try:
        return subprocess.Popen(
            [nvcc, "--version"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:
        return None


def finish_toolkit(
    nvcc: str | None,
    process: subprocess.Popen[str] | None,
    environ: Mapping[str, str],
    timeout: float,
) -> CudaToolkitFacts:
    version = None
    if process is not None:
        try:
            output, _ = process.communicate(timeout=timeout)
            match = re.search(r"release (\d+\.\d+)", output or "")
            version = match.group(1) if match else None
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    resolved = str(Path(nvcc).resolve()) if nvcc else None
    return CudaToolkitFacts(
        nvcc_path=resolved,
        nvcc_version=version,
        cuda_home=environ.get("CUDA_HOME") or environ.get("CUDA_PATH") or None,
    )


def collect_library_path(environ: Mapping[str, str]) -> list[LibraryPathEntry]:
    entries = []
    for raw in (environ.get("LD_LIBRARY_PATH") or "").split(os.pathsep):
        if not raw:
            continue
        directory = Path(raw)
        libraries: list[str] = []
        if directory.is_dir():
            try:
                libraries = sorted(
                    item.name
                    for item in directory.iterdir()
                    if CUDA_LIBRARY_PATTERN.match(item.name)
                )
            except OSError:
                libraries = []
        entries.append(LibraryPathEntry(path=raw, cuda_libraries=libraries[:12]))
    return entries


# --- the active environment and Jupyter kernels ----------------------------------------------


def active_environment(environ: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The environment a shell command would use: VIRTUAL_ENV, CONDA_PREFIX, else PATH's python."""
    for name in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        if environ.get(name):
            return environ[name], name
    for command in ("python", "python3"):
        found = shutil.which(command, path=environ.get("PATH"))
        if found:
            return str(Path(found).parent.parent), "PATH"
    return None, None


def jupyter_installed(environ: Mapping[str, str], prefixes: Iterable[str]) -> bool:
    if shutil.which("jupyter", path=environ.get("PATH")):
        return True
    return any(
        (Path(prefix) / folder / name).exists()
        for prefix in prefixes
        for folder, name in (("bin", "jupyter"), ("Scripts", "jupyter.exe"))
    )


def kernel_directories(environ: Mapping[str, str], prefixes: Iterable[str]) -> list[Path]:
    """Where Jupyter looks for kernel specs (jupyter_core's path order, data directories)."""
    home = Path.home()
    data = [Path(entry) for entry in environ.get("JUPYTER_PATH", "").split(os.pathsep) if entry]
    if environ.get("JUPYTER_DATA_DIR"):
        data.append(Path(environ["JUPYTER_DATA_DIR"]))
    data += [home / ".local/share/jupyter", home / "Library/Jupyter"]
    if environ.get("APPDATA"):
        data.append(Path(environ["APPDATA"]) / "jupyter")
    data += [Path(prefix) / "share/jupyter" for prefix in prefixes]
    data += [Path("/usr/local/share/jupyter"), Path("/usr/share/jupyter")]
    return list(dict.fromkeys(directory / "kernels" for directory in data))


def find_jupyter_kernels(
    environ: Mapping[str, str], prefixes: Iterable[str]
) -> list[JupyterKernel]:
    """Every kernel spec and the interpreter it starts (argv[0] of kernel.json)."""
    import json

    prefixes = list(prefixes)
    if not jupyter_installed(environ, prefixes):
        return []
    kernels: dict[str, JupyterKernel] = {}
    for directory in kernel_directories(environ, prefixes):
        if not directory.is_dir():
            continue
        for spec in sorted(directory.glob("*/kernel.json")):
            name = spec.parent.name
            if name in kernels:
                continue  # the first directory wins, as in Jupyter
            try:
                data = json.loads(spec.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            argv = data.get("argv") or [""]
            kernels[name] = JupyterKernel(
                name=name,
                display_name=str(data.get("display_name", name)),
                python=str(argv[0]),
                spec_dir=str(spec.parent),
            )
    return list(kernels.values())


# --- CUDA toolkits and nvidia-smi ------------------------------------------------------------

TOOLKIT_GLOBS = ("/usr/local/cuda", "/usr/local/cuda-*", "/opt/cuda", "/opt/nvidia/cuda*")


def toolkit_version(root: Path) -> str | None:
    """A toolkit's version from version.json (11.1+), version.txt (older) or its folder name."""
    import json

    try:
        data = json.loads((root / "version.json").read_text(encoding="utf-8"))
        version = str(data.get("cuda", {}).get("version", ""))
        if version:
            return ".".join(version.split(".")[:2])
    except (OSError, ValueError, AttributeError):
        pass
    text = _read_text(root / "version.txt") or ""
    match = re.search(r"CUDA Version (\d+\.\d+)", text) or re.search(
        r"cuda-(\d+\.\d+)$", str(root.resolve())
    )
    return match.group(1) if match else None


def find_toolkits(
    environ: Mapping[str, str], nvcc: str | None, nvcc_version: str | None
) -> dict[str, str | None]:
    """Every CUDA toolkit installed: the usual folders, CUDA_HOME/CUDA_PATH, and nvcc's own."""
    roots: list[Path] = []
    for pattern in TOOLKIT_GLOBS:
        roots += sorted(Path("/").glob(pattern.lstrip("/")))
    for name in ("CUDA_HOME", "CUDA_PATH"):
        if environ.get(name):
            roots.append(Path(environ[name]))
    found: dict[str, str | None] = {}
    for root in roots:
        if not (root / "bin").is_dir():
            continue
        resolved = str(root.resolve())
        if resolved not in found:
            found[resolved] = toolkit_version(root)
    if nvcc and nvcc_version not in found.values():
        found[str(Path(nvcc).resolve().parent.parent)] = nvcc_version
    return found


SMI_FIELDS = (
    "index,name,uuid,pci.bus_id,driver_version,memory.total,memory.used,memory.free,"
    "utilization.gpu,compute_cap"
)


def nvidia_smi_gpus(timeout: float) -> tuple[str | None, list[NvmlGpu]] | None:
    """The driver version and GPUs from ``nvidia-smi --query-gpu`` (CSV), when NVML failed;
    None when nvidia-smi is missing, fails or does not answer within ``timeout``."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return None
    try:
        output = subprocess.run(
            [smi, f"--query-gpu={SMI_FIELDS}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_nvidia_smi_csv(output)


def parse_nvidia_smi_csv(output: str) -> tuple[str | None, list[NvmlGpu]]:
    mib = 1024**2
    driver = None
    gpus = []
    for line in output.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) < 10 or not parts[0].isdigit():
            continue
        driver = driver or parts[4]

        def number(text: str) -> int:
            return int(float(text)) if re.fullmatch(r"[\d.]+", text) else 0

        gpus.append(
            NvmlGpu(
                index=int(parts[0]),
                name=parts[1],
                uuid=parts[2],
                pci_bus_id=parts[3],
                memory_total=number(parts[5]) * mib,
                memory_used=number(parts[6]) * mib,
                memory_free=number(parts[7]) * mib,
                utilization_gpu=number(parts[8]) if parts[8].isdigit() else None,
                capability=parts[9] if re.fullmatch(r"\d+\.\d+", parts[9]) else "",
            )
        )
    return driver, gpus
