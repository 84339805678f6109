"""Version rules as data: CUDA -> minimum driver, torch release -> CUDA wheels and arch lists.

Every entry names its source (release notes, wheel indexes, build scripts); rows whose source
could not be checked are left out on purpose (docs/doctor.md, "Version rules and how fixes
are chosen").
Functions below only read these tables, so a new CUDA or torch release is a one-line change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

NVIDIA_DRIVER_TABLE = (
    "NVIDIA CUDA 13.2 Update 2 release notes, Table 3 'CUDA Toolkit and Corresponding Driver "
    "Versions', https://docs.nvidia.com/cuda/archive/13.2.2/cuda-toolkit-release-notes/"
    "index.html#cuda-driver"
)
NVIDIA_MINOR_VERSION_COMPAT = (
    "https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html "
    "(and Table 2 of the release notes above)"
)
PYTORCH_RELEASE_MATRIX = (
    "https://github.com/pytorch/pytorch/blob/main/RELEASE.md#release-compatibility-matrix"
)
PYTORCH_PREVIOUS_VERSIONS = "https://pytorch.org/get-started/previous-versions"
# Where the driver fixes send people (Linux and Windows drivers alike)
NVIDIA_DOWNLOADS = "https://www.nvidia.com/Download/index.aspx"
PYTORCH_ARCH_MATRIX = (
    "RELEASE.md 'PyTorch CUDA Support Matrix' as changed by "
    "https://github.com/pytorch/pytorch/pull/175253"
)
PYTORCH_BUILD_CUDA_2_8 = (
    "https://github.com/pytorch/pytorch/blob/00c7a380b8369d08e02dd400aa76dc6c0738b589/"
    ".ci/manywheel/build_cuda.sh"
)
PYTORCH_BUILDER_2_0 = (
    "https://github.com/pytorch/builder/blob/009ed170cd2b5f504c174ee3dda6a3c6a356a6ee/"
    "manywheel/build_cuda.sh"
)
PYTORCH_WHEEL_INDEX = "https://download.pytorch.org/whl"


@dataclass(frozen=True)
class DriverRequirement:
    """The oldest driver that runs a CUDA minor release natively (its GA version)."""

    cuda: str
    linux: str
    windows: str | None
    source: str = NVIDIA_DRIVER_TABLE


# GA column of the table ("All values are >="). From 13.1 the Windows driver is not bundled (N/A).
CUDA_MINIMUM_DRIVERS: tuple[DriverRequirement, ...] = (
    DriverRequirement("13.2", "595.45.04", None),
    DriverRequirement("13.1", "590.44.01", None),
    DriverRequirement("13.0", "580.65.06", None),
    DriverRequirement("12.9", "575.51.03", "576.02"),
    DriverRequirement("12.8", "570.26", "570.65"),
    DriverRequirement("12.6", "560.28.03", "560.76"),
    DriverRequirement("12.5", "555.42.02", "555.85"),
    DriverRequirement("12.4", "550.54.14", "551.61"),
    DriverRequirement("12.3", "545.23.06", "545.84"),
    DriverRequirement("12.2", "535.54.03", "536.25"),
    DriverRequirement("12.1", "530.30.02", "531.14"),
    DriverRequirement("12.0", "525.60.13", "527.41"),
    DriverRequirement("11.8", "520.61.05", "520.06"),
    DriverRequirement("11.7", "515.43.04", "516.01"),
    DriverRequirement("11.6", "510.39.01", "511.23"),
    DriverRequirement("11.5", "495.29.05", "496.04"),
    DriverRequirement("11.4", "470.42.01", "471.11"),
    DriverRequirement("11.3", "465.19.01", "465.89"),
    DriverRequirement("11.2", "460.27.03", "460.82"),
    DriverRequirement("11.1", "455.23", "456.38"),
    DriverRequirement("11.0", "450.51.05", "451.48"),
)


@dataclass(frozen=True)
class MinorVersionCompatibility:
    """A CUDA major family whose builds run on any driver >= ``linux`` (with limited features)."""

    major: int
    linux: str
    windows: str
    source: str = NVIDIA_MINOR_VERSION_COMPAT


MINOR_VERSION_COMPATIBILITY: tuple[MinorVersionCompatibility, ...] = (
    MinorVersionCompatibility(13, "580", "580"),
    MinorVersionCompatibility(12, "525", "525"),
    # 11.0 shipped with an older driver; compatibility across 11.x needs 450.80.02 / 452.39.
    MinorVersionCompatibility(11, "450.80.02", "452.39"),
)


@dataclass(frozen=True)
class TorchRelease:
    """The CUDA wheel variants published for one torch release, and the Pythons it supports."""

    release: str
    python_min: str
    python_max: str
    stable_cuda: tuple[str, ...]
    experimental_cuda: tuple[str, ...] = ()
    source: str = PYTORCH_RELEASE_MATRIX

    @property
    def published_cuda(self) -> tuple[str, ...]:
        return self.stable_cuda + self.experimental_cuda


# Newest first. Wheel variants = stable + experimental columns of the release matrix.
TORCH_RELEASES: tuple[TorchRelease, ...] = (
    TorchRelease("2.14", "3.10", "3.15", ("12.6", "13.0", "13.2")),
    TorchRelease("2.13", "3.10", "3.15", ("12.6", "13.0"), ("13.2",)),
    TorchRelease("2.12", "3.10", "3.14", ("12.6", "13.0"), ("13.2",)),
    TorchRelease("2.11", "3.10", "3.14", ("12.6", "12.8", "13.0")),
    TorchRelease("2.10", "3.10", "3.14", ("12.6", "12.8"), ("13.0",)),
    # cross-checked on the previous-versions page: cu126, cu128, cu130
    TorchRelease("2.9", "3.10", "3.14", ("12.6", "12.8"), ("13.0",), PYTORCH_PREVIOUS_VERSIONS),
    TorchRelease("2.8", "3.9", "3.13", ("12.6", "12.8"), ("12.9",)),
    TorchRelease("2.7", "3.9", "3.13", ("11.8", "12.6"), ("12.8",)),
    # cross-checked on the previous-versions page: cu118, cu124, cu126
    TorchRelease("2.6", "3.9", "3.13", ("11.8", "12.4"), ("12.6",), PYTORCH_PREVIOUS_VERSIONS),
    TorchRelease("2.5", "3.9", "3.12", ("11.8", "12.1", "12.4")),
    TorchRelease("2.4", "3.8", "3.12", ("11.8", "12.1"), ("12.4",)),
    TorchRelease("2.3", "3.8", "3.11", ("11.8",), ("12.1",)),
    TorchRelease("2.2", "3.8", "3.11", ("11.8",), ("12.1",)),
    TorchRelease("2.1", "3.8", "3.11", ("11.8",), ("12.1",)),
    TorchRelease("2.0", "3.8", "3.11", ("11.7",), ("11.8",), PYTORCH_PREVIOUS_VERSIONS),
)

# The last torch release published to the `pytorch` conda channel.
LAST_PYTORCH_CHANNEL_RELEASE = "2.5"


@dataclass(frozen=True)
class ArchList:
    """TORCH_CUDA_ARCH_LIST of the official Linux x86_64 wheels of some releases for one CUDA."""

    releases: tuple[str, ...]
    cuda: str
    arches: tuple[str, ...]  # "8.6" = SASS for sm_86; "12.0+PTX" adds PTX for compute_120
    source: str


_MAXWELL_TO_HOPPER = ("5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0")
_VOLTA_TO_BLACKWELL = ("7.0", "7.5", "8.0", "8.6", "9.0", "10.0", "12.0")
_TURING_TO_BLACKWELL_PTX = ("7.5", "8.0", "8.6", "9.0", "10.0", "12.0+PTX")

ARCH_LISTS: tuple[ArchList, ...] = (
    ArchList(
        ("2.0",), "11.7", ("3.7", "5.0", "6.0", "7.0", "7.5", "8.0", "8.6"), PYTORCH_BUILDER_2_0
    ),
    ArchList(
        ("2.0",),
        "11.8",
        ("3.7", "5.0", "6.0", "7.0", "7.5", "8.0", "8.6", "9.0"),
        PYTORCH_BUILDER_2_0,
    ),
    ArchList(("2.8",), "12.6", _MAXWELL_TO_HOPPER, PYTORCH_BUILD_CUDA_2_8),
    ArchList(("2.8",), "12.8", _VOLTA_TO_BLACKWELL, PYTORCH_BUILD_CUDA_2_8),
    ArchList(("2.8",), "12.9", _VOLTA_TO_BLACKWELL[:-1] + ("12.0+PTX",), PYTORCH_BUILD_CUDA_2_8),
    ArchList(("2.9", "2.10"), "12.6", _MAXWELL_TO_HOPPER, PYTORCH_ARCH_MATRIX),
    ArchList(("2.9", "2.10"), "12.8", _VOLTA_TO_BLACKWELL, PYTORCH_ARCH_MATRIX),
    ArchList(("2.9", "2.10"), "13.0", _TURING_TO_BLACKWELL_PTX, PYTORCH_ARCH_MATRIX),
    ArchList(("2.11",), "12.6", _MAXWELL_TO_HOPPER, PYTORCH_ARCH_MATRIX),
    ArchList(("2.11",), "12.8", _TURING_TO_BLACKWELL_PTX[:-1] + ("12.0",), PYTORCH_ARCH_MATRIX),
    ArchList(("2.11",), "13.0", _TURING_TO_BLACKWELL_PTX, PYTORCH_ARCH_MATRIX),
    ArchList(("2.12", "2.13", "2.14"), "12.6", _MAXWELL_TO_HOPPER, PYTORCH_ARCH_MATRIX),
    ArchList(("2.12", "2.13", "2.14"), "13.0", _TURING_TO_BLACKWELL_PTX, PYTORCH_ARCH_MATRIX),
    ArchList(("2.12", "2.13", "2.14"), "13.2", _TURING_TO_BLACKWELL_PTX, PYTORCH_ARCH_MATRIX),
)


# --- version helpers -------------------------------------------------------------------------


def parse_version(text: str | None) -> tuple[int, ...]:
    """``"570.133.07"`` -> ``(570, 133, 7)``; leading numeric parts only, ``()`` if none."""
    if not text:
        return ()
    numbers: list[int] = []
    for part in text.strip().split("."):
        match = re.match(r"\d+", part)
        if not match:
            break
        numbers.append(int(match.group()))
        if match.end() != len(part):
            break
    return tuple(numbers)


def public_version(torch_version: str) -> str:
    """``"2.13.0+cu128"`` -> ``"2.13.0"``."""
    return torch_version.split("+", 1)[0]


def release_of(torch_version: str) -> str:
    """``"2.13.0+cpu"`` -> ``"2.13"``."""
    parts = parse_version(public_version(torch_version))
    return ".".join(str(part) for part in parts[:2])


def cuda_variant(cuda: str) -> str:
    """``"12.8"`` -> ``"cu128"``, the wheel index name."""
    major, minor = (parse_version(cuda) + (0, 0))[:2]
    return f"cu{major}{minor}"


def wheel_index_url(variant: str) -> str:
    return f"{PYTORCH_WHEEL_INDEX}/{variant}"


def find_release(release: str) -> TorchRelease | None:
    return next((row for row in TORCH_RELEASES if row.release == release), None)


def supports_python(row: TorchRelease, python_version: str) -> bool:
    version = parse_version(python_version)[:2]
    if not version:
        return True
    return parse_version(row.python_min) <= version <= parse_version(row.python_max)


def minimum_driver(cuda: str, *, windows: bool = False) -> str | None:
    """The GA driver of a CUDA minor release, or None when the table has no row for it."""
    key = parse_version(cuda)[:2]
    for row in CUDA_MINIMUM_DRIVERS:
        if parse_version(row.cuda)[:2] == key:
            return row.windows if windows else row.linux
    return None


def minor_compat_driver(cuda: str, *, windows: bool = False) -> str | None:
    """The driver from which a CUDA major family runs through minor-version compatibility."""
    major = (parse_version(cuda) + (0,))[0]
    for row in MINOR_VERSION_COMPATIBILITY:
        if row.major == major:
            return row.windows if windows else row.linux
    return None


NATIVE = "native"
MINOR_COMPAT = "minor-compat"
UNSUPPORTED = "unsupported"
UNKNOWN = "unknown"


def required_driver(cuda: str, *, windows: bool = False) -> str | None:
    """The driver to ask for: the GA driver of ``cuda``, else its family's compatibility floor.

    NVIDIA lists no Windows driver for CUDA 13.x (the toolkit stopped bundling one), so there
    the floor of minor-version compatibility (>= 580) is the only published number.
    """
    return minimum_driver(cuda, windows=windows) or minor_compat_driver(cuda, windows=windows)


def driver_support(
    driver_version: str, cuda: str, *, windows: bool = False, driver_cuda: str | None = None
) -> str:
    """How a driver runs code built for ``cuda``: native, minor-compat, unsupported or unknown.

    ``driver_cuda`` is the CUDA version the driver itself reports (NVML); when it is at least
    ``cuda`` the driver runs it natively, whatever the tables say (they have gaps, e.g. Windows
    drivers for CUDA 13.x).
    """
    driver = parse_version(driver_version)
    if not driver:
        return UNKNOWN
    if driver_cuda and parse_version(driver_cuda)[:2] >= parse_version(cuda)[:2]:
        return NATIVE
    native = minimum_driver(cuda, windows=windows)
    if native and driver >= parse_version(native):
        return NATIVE
    compat = minor_compat_driver(cuda, windows=windows)
    if compat and driver >= parse_version(compat):
        return MINOR_COMPAT
    if native or compat:
        return UNSUPPORTED
    return UNKNOWN


def newest_cuda_of_driver(driver_version: str, *, windows: bool = False) -> str | None:
    """The newest CUDA minor release a driver runs natively, from the table."""
    driver = parse_version(driver_version)
    for row in CUDA_MINIMUM_DRIVERS:
        needed = row.windows if windows else row.linux
        if needed and driver >= parse_version(needed):
            return row.cuda
    return None


def decode_cuda_driver_version(value: int) -> str:
    """NVML's integer form (12080) -> ``"12.8"`` (major = v // 1000, minor = v % 1000 // 10)."""
    return f"{value // 1000}.{value % 1000 // 10}"


# --- compute capability ----------------------------------------------------------------------


@dataclass(frozen=True)
class ArchTarget:
    """One entry of an arch list: machine code (SASS) for a capability, or PTX for it."""

    major: int
    minor: int
    ptx: bool = False
    exact: bool = False  # arch-specific targets such as sm_90a run on that capability only


def parse_arch_entry(entry: str) -> list[ArchTarget]:
    """Parse ``sm_86``, ``compute_90``, ``sm_90a``, ``8.6`` or ``12.0+PTX`` into targets."""
    entry = entry.strip()
    torch_form = re.fullmatch(r"(sm|compute)_(\d+)([a-z]?)", entry)
    if torch_form:
        digits = torch_form.group(2)
        major, minor = int(digits[:-1]), int(digits[-1])
        is_ptx = torch_form.group(1) == "compute"
        return [ArchTarget(major, minor, ptx=is_ptx, exact=torch_form.group(3) == "a")]
    table_form = re.fullmatch(r"(\d+)\.(\d+)(\+PTX)?", entry)
    if table_form:
        major, minor = int(table_form.group(1)), int(table_form.group(2))
        targets = [ArchTarget(major, minor)]
        if table_form.group(3):
            targets.append(ArchTarget(major, minor, ptx=True))
        return targets
    return []


def capability_supported(capability: str, arch_list: Iterable[str]) -> bool:
    """Whether a GPU of ``capability`` ("8.9") can run a build with ``arch_list``.

    SASS for X.y runs on X.z with z >= y (same major); PTX for X.y is JIT-compiled on any newer
    capability.
    """
    device = (parse_version(capability) + (0, 0))[:2]
    for entry in arch_list:
        for target in parse_arch_entry(entry):
            built = (target.major, target.minor)
            if target.ptx and device >= built:
                return True
            if target.exact and device == built:
                return True
            same_major = target.major == device[0] and device[1] >= target.minor
            if not target.ptx and not target.exact and same_major:
                return True
    return False


def official_arch_list(release: str, cuda: str) -> ArchList | None:
    """The arch list of an official Linux x86_64 wheel, where a checked source gives it."""
    key = parse_version(cuda)[:2]
    for row in ARCH_LISTS:
        if release in row.releases and parse_version(row.cuda)[:2] == key:
            return row
    return None


def format_capability(capability: str) -> str:
    """``"12.0"`` -> ``"sm_120"``."""
    major, minor = (parse_version(capability) + (0, 0))[:2]
    return f"sm_{major}{minor}"
