"""The facts record: everything the probe observed, as plain data.

Checks read only this record, so every rule can be tested by building facts by hand (or
loading a recorded situation from JSON) on a machine without a GPU.

History of the serialised form (``Facts.schema``):
    1: first version.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

FACTS_SCHEMA = 1

T = TypeVar("T")


@dataclass
class PlatformFacts:
    """Operating system, interpreter and the kind of machine we run on."""

    system: str = ""  # platform.system(): Linux, Windows, Darwin
    release: str = ""  # kernel release, e.g. 6.8.0-45-generic
    machine: str = ""  # x86_64, aarch64, arm64
    distro: str = ""  # PRETTY_NAME from /etc/os-release
    python_version: str = ""
    python_executable: str = ""
    wsl: int | None = None  # 1 or 2 under WSL, else None
    container: str | None = None  # docker, podman, kubernetes, lxc, ... or None


@dataclass
class EnvironmentFacts:
    """Which Python environment the doctor (and so the user's torch) lives in."""

    kind: str = "system"  # venv | conda | system
    prefix: str = ""  # sys.prefix
    base_prefix: str = ""
    conda_prefix: str | None = None  # CONDA_PREFIX, the active conda env
    user_site: str | None = None
    user_site_enabled: bool = False


@dataclass
class TorchDistribution:
    """One installed copy of torch found on the import path (or recorded by conda)."""

    name: str = "torch"  # torch (pip metadata) or pytorch (a conda-meta record)
    version: str = ""
    location: str = ""  # the site directory (or the conda prefix for a conda record)
    installer: str = ""  # pip, conda, uv, ... from INSTALLER; "" if unknown
    scope: str = "env"  # env | user | pythonpath | other | conda-meta
    metadata_path: str = ""  # the .dist-info / .egg-info directory or conda-meta file
    package_present: bool = True  # False: metadata left behind without the torch/ package
    channel: str | None = None  # conda records only


@dataclass
class TorchDevice:
    """A CUDA (or HIP) device as torch sees it."""

    index: int = 0
    name: str = ""
    capability: str = ""  # "9.0"
    total_memory: int = 0  # bytes
    multi_processor_count: int = 0


@dataclass
class TorchFacts:
    """What importing torch in a separate process told us."""

    status: str = "not-probed"  # ok | missing | import-failed | timeout | crashed | not-probed
    stage: str | None = None  # the last stage reached: import | build | cuda | devices | done
    error: str | None = None  # the exception text (last traceback lines) or the reason
    error_type: str | None = None
    version: str | None = None
    file: str | None = None  # torch.__file__
    cuda: str | None = None  # torch.version.cuda: the CUDA runtime this build ships with
    hip: str | None = None
    debug: bool = False
    cudnn_version: int | None = None  # torch.backends.cudnn.version() (runtime)
    cudnn_compile_version: int | None = None  # the version torch was built against
    cudnn_available: bool | None = None
    arch_list: list[str] = field(default_factory=list)  # torch.cuda.get_arch_list()
    cuda_available: bool | None = None
    cuda_warnings: list[str] = field(default_factory=list)  # torch's own warnings from CUDA init
    cuda_error: str | None = None  # an exception raised by the CUDA calls
    device_count: int = 0
    devices: list[TorchDevice] = field(default_factory=list)
    mps_built: bool = False
    mps_available: bool = False
    num_threads: int | None = None
    num_interop_threads: int | None = None
    import_seconds: float | None = None
    probe_seconds: float | None = None
    # import: the worker imported torch; metadata: read from its installed metadata only
    # (doctor --no-smoke where no GPU could use it), so nothing past the build is known
    source: str = "import"


@dataclass
class InterpreterFacts:
    """The Python being diagnosed, from its installed metadata (python_probe.py)."""

    executable: str = ""  # as given (a venv's python is a symlink: never resolved)
    other: bool = False  # chosen with --python rather than the doctor's own
    installer: str = "pip"  # pip | uv | conda: what made the environment
    torch_version: str | None = None  # from torch's metadata
    torch_requirements: dict[str, str] = field(default_factory=dict)  # nvidia-* -> "==12.8.4.1"
    nvidia_wheels: dict[str, str] = field(default_factory=dict)  # installed nvidia-* -> version
    active_prefix: str | None = None  # the environment the shell has active
    active_source: str | None = None  # VIRTUAL_ENV | CONDA_PREFIX | PATH


@dataclass
class JupyterKernel:
    """A Jupyter kernel spec and the interpreter it starts."""

    name: str = ""
    display_name: str = ""
    python: str = ""  # argv[0] of kernel.json
    spec_dir: str = ""


@dataclass
class GpuProcess:
    """A process holding a GPU context, from NVML."""

    pid: int = 0
    name: str = ""
    used_memory: int | None = None  # bytes; None when NVML cannot tell (containers, Windows)
    kind: str = "compute"  # compute | graphics


@dataclass
class NvmlGpu:
    """One GPU as the driver (NVML) sees it, independent of torch."""

    index: int = 0
    name: str = ""
    uuid: str = ""
    pci_bus_id: str = ""
    capability: str = ""  # "8.9"
    memory_total: int = 0  # bytes
    memory_used: int = 0
    memory_free: int = 0
    utilization_gpu: int | None = None  # percent
    utilization_memory: int | None = None
    processes: list[GpuProcess] = field(default_factory=list)
    mig_uuids: list[str] = field(default_factory=list)  # MIG-... of its MIG instances, if any


@dataclass
class NvmlFacts:
    """The NVIDIA driver as seen through NVML (``pynvml``), probed in a separate process."""

    # ok | library-not-found | driver-not-loaded | version-mismatch | no-permission | error |
    # timeout | module-missing | crashed | not-probed
    status: str = "not-probed"
    source: str = "nvml"  # nvml | nvidia-smi (the CSV fallback when NVML failed)
    error_code: int | None = None  # the NVML return code when init failed
    error: str | None = None
    driver_version: str | None = None  # "570.133.07"
    cuda_driver_version: str | None = None  # "12.8": the newest CUDA this driver supports
    gpus: list[NvmlGpu] = field(default_factory=list)


@dataclass
class NvidiaSystemFacts:
    """Traces of NVIDIA hardware and driver outside NVML: device nodes, PCI, kernel modules."""

    device_nodes: list[str] = field(default_factory=list)  # /dev/nvidia0, /dev/nvidia-uvm, /dev/dxg
    pci_gpus: list[str] = field(default_factory=list)  # "0000:01:00.0 10de:2684"
    kernel_modules: list[str] = field(default_factory=list)  # nvidia, nvidia_uvm, nouveau, ...
    proc_driver_version: str | None = None  # the kernel module version (/proc/driver/nvidia)
    nvml_libraries: list[str] = field(default_factory=list)  # libnvidia-ml.so.* files found
    wsl_shadowing_libraries: list[str] = field(default_factory=list)  # libcuda outside wsl/lib


@dataclass
class CpuFacts:
    """CPU facts that decide how fast (and how noisy) CPU runs are."""

    model: str = ""
    physical_cores: int | None = None
    logical_cores: int | None = None
    usable_cores: int | None = None  # CPUs in this process's affinity mask
    cgroup_cpu_limit: float | None = None  # CPUs allowed by a container quota, if any
    frequency_mhz: float | None = None
    max_frequency_mhz: float | None = None
    governor: str | None = None


@dataclass
class CudaToolkitFacts:
    """A CUDA compiler toolkit found on the machine (it is not what pip torch runs on)."""

    nvcc_path: str | None = None
    nvcc_version: str | None = None  # "13.0"
    cuda_home: str | None = None  # CUDA_HOME or CUDA_PATH
    # every toolkit found: /usr/local/cuda-*, CUDA_HOME, nvcc on PATH -> "12.4" (None: unknown)
    installed: dict[str, str | None] = field(default_factory=dict)


@dataclass
class LibraryPathEntry:
    """One LD_LIBRARY_PATH entry and the CUDA-family libraries it holds."""

    path: str = ""
    cuda_libraries: list[str] = field(default_factory=list)


@dataclass
class CondaPackage:
    """One conda-meta record of the active conda env."""

    name: str = ""
    version: str = ""
    build: str = ""
    channel: str = ""  # as recorded: a URL or a channel name

    @property
    def record_id(self) -> str:
        """``name-version-build``, the conda-meta file name without ``.json``."""
        return f"{self.name}-{self.version}-{self.build}"


@dataclass
class SharedFile:
    """A file path claimed by more than one installed conda package."""

    path: str = ""
    owners: list[str] = field(default_factory=list)  # record ids (name-version-build)


@dataclass
class CondaFacts:
    """The active conda env (``CONDA_PREFIX``) as its conda-meta records describe it."""

    prefix: str = ""
    env_name: str = ""
    packages: list[CondaPackage] = field(default_factory=list)
    shared_files: list[SharedFile] = field(default_factory=list)  # the first ones, by path
    shared_file_count: int = 0  # all of them
    unreadable_records: list[str] = field(default_factory=list)


@dataclass
class SmokeStep:
    """One step of a device smoke test."""

    name: str = ""  # matmul | embedding-guard | backward
    ok: bool = False
    detail: str = ""
    seconds: float | None = None


@dataclass
class SmokeResult:
    """A smoke test on one device, run in its own process."""

    device: str = "cpu"
    status: str = "ok"  # ok | failed | timeout | crashed | skipped
    error: str | None = None
    steps: list[SmokeStep] = field(default_factory=list)
    first_result_seconds: float | None = None  # from the first tensor to the first result
    memory_free: int | None = None  # bytes
    memory_total: int | None = None
    seconds: float | None = None


@dataclass
class Facts:
    """Everything the doctor knows about this machine; the only input of the checks."""

    schema: int = FACTS_SCHEMA
    gpubench_version: str = ""
    collected_at: str = ""  # UTC ISO-8601
    platform: PlatformFacts = field(default_factory=PlatformFacts)
    environment: EnvironmentFacts = field(default_factory=EnvironmentFacts)
    torch_distributions: list[TorchDistribution] = field(default_factory=list)
    torch_companions: dict[str, str] = field(default_factory=dict)  # torchvision -> version
    torch: TorchFacts = field(default_factory=TorchFacts)
    interpreter: InterpreterFacts = field(default_factory=InterpreterFacts)
    jupyter_kernels: list[JupyterKernel] = field(default_factory=list)
    nvml: NvmlFacts = field(default_factory=NvmlFacts)
    nvidia: NvidiaSystemFacts = field(default_factory=NvidiaSystemFacts)
    cpu: CpuFacts = field(default_factory=CpuFacts)
    toolkit: CudaToolkitFacts = field(default_factory=CudaToolkitFacts)
    library_path: list[LibraryPathEntry] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # allow-listed variables, tokens redacted
    conda: CondaFacts | None = None
    multi_gpu: dict[str, Any] | None = None  # MultiGpuFacts as data, with two or more GPUs
    smoke_requested: bool = False
    smoke: list[SmokeResult] = field(default_factory=list)
    probe_errors: list[str] = field(default_factory=list)  # probe steps that failed, and why
    probe_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Facts:
        """Rebuild facts from ``to_dict`` output or a fixture (missing keys take defaults)."""
        return build_dataclass(cls, data)


def build_dataclass(cls: type[T], data: Any) -> T:
    """Build dataclass ``cls`` from nested plain data, ignoring unknown keys."""
    if not isinstance(data, dict):
        raise TypeError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        if item.name in data:
            values[item.name] = _convert(hints[item.name], data[item.name])
    return cls(**values)


def _convert(annotation: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _convert(options[0], value) if len(options) == 1 else value
    if origin is list:
        (item_type,) = typing.get_args(annotation)
        return [_convert(item_type, item) for item in value]
    if origin is dict:
        return dict(value)
    if dataclasses.is_dataclass(annotation) and isinstance(annotation, type):
        return build_dataclass(annotation, value)
    return value
