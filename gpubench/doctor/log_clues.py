"""What a pasted log says about the machine it came from, so fixes come from the log itself.

A log explained on another machine (or on this one, about a different environment) must not be
answered with this machine's install plan. The clues here are read from the whole log: the GPU
architecture (``sm_86``), the CUDA version of the packages it names (``cu121``, ``cuda12.1``,
``nvidia-cublas-cu12``, ``libcudart.so.12``), the torch and Python versions, the driver's CUDA
version, and where it ran (WSL, Windows, conda, uv). advice.py's tables turn them into a command.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpubench.doctor import advice, rules

SM = re.compile(r"\bsm_(\d{2,3})\b", re.I)
GPU_CAPABILITY = re.compile(r"with CUDA capability sm_(\d{2,3})", re.I)
BUILD_ARCHES = re.compile(r"supports CUDA capabilities|arch_list|arch list", re.I)
# cu121 (wheel tags, index URLs), cuda12.1 / cuda_12.1 (conda builds), pytorch-cuda=12.1,
# "CUDA 12.1" / "CUDA Version: 12.1" / "CUDA runtime 12.1" in prose and nvidia-smi.
CUDA_TAG = re.compile(r"(?<![\w.])cu(1[1-3])(\d)\b", re.I)
CUDA_WORD = re.compile(
    r"(?:cuda[ _-]?(?:version:?\s*|runtime\s*)?|pytorch-cuda\s*=\s*)(1[1-3])\.(\d)\b", re.I
)
CUDA_MAJOR_PACKAGE = re.compile(r"\bnvidia-[a-z-]+-cu(1[1-3])\b|\blib\w+\.so\.(1[1-3])\b", re.I)
TORCH_VERSION = re.compile(r"\btorch(?:==|-|\s+)(\d+\.\d+\.\d+)(?:\+(\w+))?", re.I)
PYTHON_VERSION = re.compile(r"\bpython(3\.\d{1,2})\b", re.I)
DRIVER_CUDA_INT = re.compile(r"found version (\d{4,5})", re.I)
WSL_MARKERS = re.compile(r"/usr/lib/wsl/|microsoft-standard-WSL|\bWSL ?2?\b|/mnt/c/", re.I)
WINDOWS_MARKERS = re.compile(r"\b[A-Z]:\\|WinError|\.dll\b|PS [A-Z]:\\", re.I)
UV_MARKERS = re.compile(r"\buv pip\b|\buv (?:add|sync|run)\b|\.venv.*\buv\b", re.I)
CONDA_MARKERS = re.compile(r"/(?:mini|ana)conda3?/|\bconda (?:install|create)|/envs/\w", re.I)


@dataclass(frozen=True)
class LogClues:
    """Facts a log reveals about where it came from; every field may be unknown."""

    capabilities: tuple[str, ...] = ()  # "8.6" from sm_86
    cuda: str | None = None  # "12.1": the CUDA of the torch build or packages the log names
    cuda_major: str | None = None  # "12" when only a major is named (nvidia-*-cu12, .so.12)
    torch_version: str | None = None  # "2.1.0"
    torch_variant: str | None = None  # "cu121", "cpu" from a +local tag
    python: str | None = None  # "3.10"
    driver_cuda: str | None = None  # "11.4" from "found version 11040"
    wsl: bool = False
    windows: bool = False
    installer: str = "pip"  # pip | uv | conda

    @property
    def gpu(self) -> str:
        return ", ".join(rules.format_capability(cap) for cap in self.capabilities)


def read_clues(text: str) -> LogClues:
    """Every clue in ``text`` (the first of each kind that appears)."""
    named = GPU_CAPABILITY.findall(text) or [
        digits
        for line in text.splitlines()
        if not BUILD_ARCHES.search(line)  # "supports CUDA capabilities sm_50 ...": the build's
        for digits in SM.findall(line)
    ]
    capabilities = tuple(dict.fromkeys(f"{digits[:-1]}.{digits[-1]}" for digits in named))
    cuda = None
    word = CUDA_WORD.search(text)
    tag = CUDA_TAG.search(text)
    if word:
        cuda = f"{word.group(1)}.{word.group(2)}"
    elif tag:
        cuda = f"{tag.group(1)}.{tag.group(2)}"
    major_match = CUDA_MAJOR_PACKAGE.search(text)
    major = (major_match.group(1) or major_match.group(2)) if major_match else None
    torch = TORCH_VERSION.search(text)
    python = PYTHON_VERSION.search(text)
    driver = DRIVER_CUDA_INT.search(text)
    installer = (
        "uv" if UV_MARKERS.search(text) else "conda" if CONDA_MARKERS.search(text) else "pip"
    )
    return LogClues(
        capabilities=capabilities,
        cuda=cuda,
        cuda_major=cuda.split(".")[0] if cuda else major,
        torch_version=torch.group(1) if torch else None,
        torch_variant=(torch.group(2) or None) if torch else None,
        python=python.group(1) if python else None,
        driver_cuda=rules.decode_cuda_driver_version(int(driver.group(1))) if driver else None,
        wsl=bool(WSL_MARKERS.search(text)),
        windows=bool(WINDOWS_MARKERS.search(text)) and not WSL_MARKERS.search(text),
        installer=installer,
    )


def _newest_build(
    *, python: str | None, capabilities: tuple[str, ...]
) -> advice.InstallPlan | None:
    """The newest release (for this Python) with a stable CUDA build whose arch list covers the
    GPU; of its builds the one with the oldest CUDA, so that the most drivers run it."""
    for row in rules.TORCH_RELEASES:
        if python and not rules.supports_python(row, python):
            continue
        for cuda in sorted(row.stable_cuda, key=rules.parse_version):
            arch = rules.official_arch_list(row.release, cuda)
            if arch is None or not all(
                rules.capability_supported(cap, arch.arches) for cap in capabilities
            ):
                continue
            return advice.build_plan(row, advice.release_pin(row), cuda)
    return None


def _newest_of_major(major: str, python: str | None) -> advice.InstallPlan | None:
    """The newest stable build of a CUDA major (what the log's nvidia-*-cuNN packages ask for)."""
    for row in rules.TORCH_RELEASES:
        if python and not rules.supports_python(row, python):
            continue
        same = [cuda for cuda in row.stable_cuda if cuda.split(".")[0] == major]
        if same:
            cuda = max(same, key=rules.parse_version)
            return advice.build_plan(row, advice.release_pin(row), cuda)
    return None


def _build_for_driver_cuda(driver_cuda: str, python: str | None) -> advice.InstallPlan | None:
    """The newest build a driver of this CUDA version runs: natively, or by minor-version
    compatibility within its CUDA major (docs/doctor.md, "Version rules and how fixes are
    chosen")."""
    driver = rules.parse_version(driver_cuda)
    for row in rules.TORCH_RELEASES:
        if python and not rules.supports_python(row, python):
            continue
        usable = [
            cuda
            for cuda in row.published_cuda
            if rules.parse_version(cuda) <= driver or rules.parse_version(cuda)[0] == driver[0]
        ]
        if usable:
            cuda = max(usable, key=rules.parse_version)
            return advice.build_plan(row, advice.release_pin(row), cuda)
    return None


def install_from_clues(clues: LogClues) -> str:
    """The torch install command the log points to, or an honest comment when it names nothing.

    Order: the GPU named in the log decides first (a build without its kernels is useless), then
    the driver's CUDA, then the CUDA version of the packages the log names.
    """
    plan: advice.InstallPlan | None = None
    if clues.capabilities:
        plan = _newest_build(python=clues.python, capabilities=clues.capabilities)
    elif clues.driver_cuda:
        plan = _build_for_driver_cuda(clues.driver_cuda, clues.python)
    elif clues.cuda:
        variant = rules.cuda_variant(clues.cuda)
        pin = f"torch=={clues.torch_version}" if clues.torch_version else "torch"
        return f"python -m pip install {pin} --index-url {rules.wheel_index_url(variant)}"
    if plan is not None:
        if clues.capabilities:
            return plan.pip_install() + f"  # has kernels for {clues.gpu}; {plan.driver_note()}"
        return plan.pip_install() + f"  # runs on a driver for CUDA {clues.driver_cuda}"
    if clues.cuda_major:
        plan = _newest_of_major(clues.cuda_major, clues.python)
        if plan is not None:
            return plan.pip_install() + f"  # the CUDA {clues.cuda_major}.x the log names"
    return "# reinstall the torch build for your driver: gpubench doctor prints the exact command"


def with_companion(install: str, companion: str) -> str:
    """The same install with a companion from the same index (torch and torchvision must match)."""
    command, hash_, comment = install.partition("  #")
    if not command.startswith("python -m pip install torch"):
        return f"python -m pip install {companion}  # from the same index and release as torch"
    head, _, tail = command.partition(" --index-url ")
    line = f"{head} {companion}" + (f" --index-url {tail}" if tail else "")
    return line + (hash_ + comment if hash_ else "")
