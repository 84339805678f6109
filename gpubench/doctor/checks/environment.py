"""Checks on the Python environment around torch: copies of torch, conda, library paths, toolkit."""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict

from gpubench.doctor import advice, rules
from gpubench.doctor.checks.common import (
    CPU_INDEX_URL,
    is_cpu_build,
    is_cuda_build,
    nvidia_gpu_visible,
    torch_label,
)
from gpubench.doctor.conda_meta import classify_channel
from gpubench.doctor.facts import CondaFacts, CondaPackage, Facts, TorchDistribution
from gpubench.doctor.findings import Finding, Severity, ok
from gpubench.doctor.fit import is_active, same_path

MAX_PATHS_SHOWN = 20
SCOPE_LABELS = {
    "env": "this environment",
    "user": "user site",
    "pythonpath": "PYTHONPATH",
    "other": "another sys.path entry",
    "conda-meta": "conda",
}


def _importable_copies(facts: Facts) -> list[TorchDistribution]:
    """One entry per sys.path directory that holds a torch package, in sys.path order."""
    copies: dict[str, TorchDistribution] = {}
    for dist in facts.torch_distributions:
        if dist.scope != "conda-meta" and dist.package_present and dist.location not in copies:
            copies[dist.location] = dist
    return list(copies.values())


def shadowing_copy(facts: Facts) -> TorchDistribution | None:
    """The copy of torch that Python imports instead of the environment's own, if any."""
    copies = _importable_copies(facts)
    has_env_copy = any(dist.scope == "env" for dist in copies)
    if has_env_copy and copies[0].scope != "env":
        return copies[0]
    return None


def remove_copy_command(facts: Facts, dist: TorchDistribution) -> str:
    """How to take one copy of torch off the import path without touching the others."""
    if dist.scope == "pythonpath":
        rest = [
            part
            for part in facts.env.get("PYTHONPATH", "").split(os.pathsep)
            if part and os.path.normpath(part) != dist.location
        ]
        return f"export PYTHONPATH={os.pathsep.join(rest)}" if rest else "unset PYTHONPATH"
    if dist.installer in ("", "conda") and not dist.version:
        return f"# {dist.location}/torch is not pip-managed: remove it from sys.path"
    return f"python -m pip uninstall -y torch  # removes {dist.location}"


def _not_active(facts: Facts) -> Finding | None:
    """The interpreter diagnosed is not the one the shell's environment would run."""
    if is_active(facts):
        return None
    interpreter = facts.interpreter
    active = interpreter.active_prefix
    if interpreter.active_source == "CONDA_PREFIX" and facts.environment.kind == "conda":
        return None  # a conda env activated as such: the mismatch check below says more
    python = interpreter.executable or facts.platform.python_executable
    # PATH alone may point at a shim (pyenv) rather than an environment: say it, softly
    severity = (
        Severity.WARN
        if interpreter.other or interpreter.active_source != "PATH"
        else (Severity.INFO)
    )
    return Finding(
        "python-env",
        severity,
        f"the interpreter diagnosed is not the active environment ({interpreter.active_source})",
        detail=f"Diagnosed: {python} ({facts.environment.kind} {facts.environment.prefix}). "
        f"Active: {active} (from {interpreter.active_source}). A notebook kernel, an IDE or a "
        "plain `python` may run either; packages installed into one are invisible to the other. "
        "Every fix below names the diagnosed interpreter by its path.",
        fix=(
            "which -a python  # what a plain python runs (Windows: where.exe python)",
            f"gpubench doctor --python {python}",
        ),
        evidence={"diagnosed": facts.environment.prefix, "active": active},
    )


def check_python_env(facts: Facts) -> list[Finding]:
    """Which Python runs, and whether it is the environment the user thinks is active."""
    env = facts.environment
    copies = _importable_copies(facts)
    count = f"{len(copies)} torch distribution" + ("" if len(copies) == 1 else "s")
    where = f"{env.kind} {env.prefix}"
    elsewhere = _not_active(facts)
    if elsewhere is not None:
        return [elsewhere]
    conda_prefix = env.conda_prefix
    if conda_prefix and not same_path(conda_prefix, env.prefix):
        return [
            Finding(
                "python-env",
                Severity.INFO if env.kind == "venv" else Severity.WARN,
                f"conda env {conda_prefix} is active, but this Python is {where}",
                detail="Packages conda installs go to the active conda env, which this Python "
                "does not see. Run gpubench (and your scripts) with the env's own python.",
                fix=(f"{conda_prefix}/bin/python -m gpubench doctor", "which -a python"),
                evidence={"conda_prefix": conda_prefix, "prefix": env.prefix},
            )
        ]
    if env.kind == "system":
        return [
            Finding(
                "python-env",
                Severity.INFO,
                f"system Python {facts.platform.python_executable}, {count}",
                detail="Installing torch into the system Python mixes it with OS packages; a "
                "virtual environment keeps it separate.",
                fix=("python3 -m venv .venv && . .venv/bin/activate",),
            )
        ]
    return [ok("python-env", f"{where}, {count}", kind=env.kind)]


def check_jupyter_kernels(facts: Facts) -> list[Finding]:
    """Notebook kernels run their own interpreter, often not the one where torch was installed."""
    kernels = facts.jupyter_kernels
    if not kernels:
        return []
    diagnosed = os.path.normpath(facts.interpreter.executable or facts.platform.python_executable)
    lines = []
    others = []
    for kernel in kernels:
        same = os.path.normpath(kernel.python) == diagnosed
        mark = "  <- the interpreter diagnosed" if same else ""
        lines.append(f"{kernel.name} ({kernel.display_name}): {kernel.python}{mark}")
        if not same and os.path.isabs(kernel.python):
            others.append(kernel.python)
    return [
        Finding(
            "jupyter-kernels",
            Severity.INFO,
            f"{len(kernels)} Jupyter kernel(s); {len(others)} run another interpreter",
            detail="A notebook runs its kernel's interpreter, not the shell's: if "
            "torch.cuda.is_available() differs in a notebook, diagnose that kernel's python.\n"
            + "\n".join(lines),
            fix=tuple(f"gpubench doctor --python {python}" for python in others),
            evidence={"kernels": [kernel.name for kernel in kernels]},
        )
    ]


def _reinstall_line(facts: Facts) -> str:
    companions = advice.companions_of(facts)
    plan = advice.plan_for_machine(facts) if nvidia_gpu_visible(facts) else None
    if plan is not None:
        return plan.pip_install(companions)
    version = facts.torch.version or next(
        (dist.version for dist in facts.torch_distributions if dist.version), None
    )
    return (
        advice.cpu_plan(version).pip_install(companions)
        if version
        else (f"python -m pip install torch --index-url {CPU_INDEX_URL}")
    )


def _describe_copy(dist: TorchDistribution, imported: bool) -> str:
    installer = f", {dist.installer}" if dist.installer else ""
    version = dist.version or "unknown version (no metadata)"
    mark = "  <- imported" if imported else ""
    return f"torch {version} in {dist.location} ({SCOPE_LABELS[dist.scope]}{installer}){mark}"


def check_duplicate_torch(facts: Facts) -> list[Finding]:
    """Exactly one torch should be importable, installed by one tool."""
    findings = []
    copies = _importable_copies(facts)
    imported_file = facts.torch.file or ""
    if len(copies) > 1:
        lines = [
            _describe_copy(dist, imported_file.startswith(dist.location + os.sep))
            for dist in copies
        ]
        fix: list[str] = []
        env_copy = next((dist for dist in copies if dist.scope == "env"), None)
        for dist in copies:
            if dist is env_copy:
                continue  # the environment's own copy stays; the others are shadows
            fix.append(remove_copy_command(facts, dist))
        if env_copy is None:
            fix.append(_reinstall_line(facts))
        fix.append('python -c "import torch; print(torch.__version__, torch.__file__)"')
        findings.append(
            Finding(
                "duplicate-torch",
                Severity.ERROR,
                f"{len(copies)} copies of torch are importable",
                detail="Python imports the first one on sys.path; pip and conda see another, so "
                "upgrades and fixes land in the wrong place:\n" + "\n".join(lines),
                fix=tuple(fix),
                evidence={"copies": [dist.location for dist in copies]},
            )
        )
    findings += _conda_and_pip(facts)
    findings += _stale_metadata(facts, copies)
    return findings


def _conda_and_pip(facts: Facts) -> list[Finding]:
    records = [dist for dist in facts.torch_distributions if dist.scope == "conda-meta"]
    pip_installed = [
        dist
        for dist in facts.torch_distributions
        if dist.scope == "env" and dist.installer and dist.installer != "conda"
    ]
    if not records or not pip_installed:
        return []
    record, pip_copy = records[0], pip_installed[0]
    return [
        Finding(
            "duplicate-torch",
            Severity.ERROR,
            f"conda's pytorch {record.version} and {pip_copy.installer}'s torch {pip_copy.version} "
            "are both installed in this env",
            detail=f"conda-meta records pytorch {record.version} ({record.channel}) while the "
            f"files on disk are {pip_copy.installer}'s torch {pip_copy.version}: conda will "
            "'update' or remove files pip owns, and the CUDA libraries of the two disagree.",
            fix=(
                "python -m pip uninstall -y torch",
                "conda remove -y --force pytorch  # only pytorch, not what depends on it",
                _reinstall_line(facts),
            ),
            evidence={"conda": record.metadata_path, "pip": pip_copy.metadata_path},
        )
    ]


def _stale_metadata(facts: Facts, copies: list[TorchDistribution]) -> list[Finding]:
    by_location: dict[str, list[TorchDistribution]] = defaultdict(list)
    for dist in facts.torch_distributions:
        if dist.scope != "conda-meta" and dist.metadata_path:
            by_location[dist.location].append(dist)
    stale = []
    for dists in by_location.values():
        if not any(dist.package_present for dist in dists):
            stale += dists  # metadata without a torch package next to it
        elif len(dists) > 1:
            ordered = sorted(dists, key=lambda dist: rules.parse_version(dist.version))
            stale += ordered[:-1]  # older metadata left behind next to the live one
    if not stale:
        return []
    return [
        Finding(
            "duplicate-torch",
            Severity.WARN,
            f"{len(stale)} stale torch metadata director{'y' if len(stale) == 1 else 'ies'}",
            detail="pip reads these as installed torch versions although their files are gone "
            "or overwritten: " + ", ".join(dist.metadata_path for dist in stale),
            fix=tuple(f"rm -rf '{dist.metadata_path}'" for dist in stale),
            evidence={"stale": [dist.metadata_path for dist in stale]},
        )
    ]


# --- conda -----------------------------------------------------------------------------------


def _python_minor(facts: Facts, conda: CondaFacts) -> str:
    version = next((pkg.version for pkg in conda.packages if pkg.name == "python"), "")
    version = version or facts.platform.python_version
    return ".".join(version.split(".")[:2]) or "3.11"


def fresh_env_commands(facts: Facts, conda: CondaFacts) -> tuple[str, ...]:
    """A clean env: torch from pip wheels, or from conda-forge alone with strict priority."""
    name = f"{conda.env_name or 'torch'}-clean"
    python = _python_minor(facts, conda)
    return (
        "conda clean --all -y",
        f"conda create -n {name} python={python} -y",
        f"conda activate {name}",
        _reinstall_line(facts),
        "# or keep torch from conda, with one channel family and strict priority:",
        f"conda create -n {name} -c conda-forge --override-channels --strict-channel-priority "
        f"python={python} pytorch",
    )


def _package_label(package: CondaPackage | None, record_id: str) -> str:
    if package is None:
        return record_id
    return f"{package.name} {package.version} ({classify_channel(package.channel).label})"


def check_conda_clobber(facts: Facts) -> list[Finding]:
    """No file may be claimed by two conda packages: that is what ClobberError is about."""
    conda = facts.conda
    if conda is None:
        return []
    if not conda.shared_files:
        return [
            ok(
                "conda-clobber",
                f"no file is claimed by two of the {len(conda.packages)} conda packages",
            )
        ]
    packages = {package.record_id: package for package in conda.packages}
    groups: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for shared in conda.shared_files:
        groups[tuple(shared.owners)].append(shared.path)
    lines = []
    for owners, paths in groups.items():
        names = "  vs  ".join(_package_label(packages.get(owner), owner) for owner in owners)
        shown = ", ".join(paths[:MAX_PATHS_SHOWN])
        more = f" and {len(paths) - MAX_PATHS_SHOWN} more" if len(paths) > MAX_PATHS_SHOWN else ""
        lines.append(f"{names}: {len(paths)} path(s): {shown}{more}")
    total = max(conda.shared_file_count, len(conda.shared_files))
    return [
        Finding(
            "conda-clobber",
            Severity.ERROR,
            f"{len({owner for owners in groups for owner in owners})} conda packages own the "
            f"same files ({total} path{'s' if total > 1 else ''})",
            detail="\n".join(lines) + "\nTwo channels package one library under different names "
            "(e.g. jpeg and libjpeg-turbo); the next install or update that touches them fails "
            "with ClobberError, and the files on disk belong to whichever came last.",
            fix=fresh_env_commands(facts, conda),
            evidence={
                "groups": [
                    {"owners": list(owners), "paths": len(paths), "example": paths[0]}
                    for owners, paths in groups.items()
                ]
            },
        )
    ]


def check_conda_channel_mix(facts: Facts) -> list[Finding]:
    """One conda env should draw from one channel family (plus nothing else)."""
    conda = facts.conda
    if conda is None or not conda.packages:
        return []
    families: Counter[str] = Counter()
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    for package in conda.packages:
        channel = classify_channel(package.channel)
        if channel.family == "unknown":
            continue
        families[channel.family] += 1
        labels[channel.family][channel.label] += 1
    if len(families) <= 1:
        only = next(iter(families), "unknown")
        return [ok("conda-channel-mix", f"one channel family: {only} ({sum(families.values())})")]
    parts = [
        f"{labels[family].most_common(1)[0][0]} ({count})"
        for family, count in families.most_common()
    ]
    detail = (
        "Channels build the same libraries differently and under different names; an env that "
        "mixes them breaks on the next install (ClobberError, unsatisfiable solves, two copies of "
        "one library)."
    )
    if "pytorch" in families:
        detail += (
            f" The pytorch channel is no longer published to: {rules.LAST_PYTORCH_CHANNEL_RELEASE} "
            "was its last release, so pip wheels (or conda-forge's pytorch) are the way forward."
        )
    return [
        Finding(
            "conda-channel-mix",
            Severity.WARN,
            f"packages from {len(families)} channel families: {', '.join(parts)}",
            detail=detail,
            fix=(
                "conda config --env --set channel_priority strict",
                *fresh_env_commands(facts, conda),
            ),
            evidence={"families": dict(families)},
        )
    ]


# --- libraries and toolkit -------------------------------------------------------------------


# Libraries of the NVIDIA driver itself: torch does not ship them, so they shadow nothing
# (NVIDIA's container images put them in /usr/local/nvidia/lib64 on LD_LIBRARY_PATH).
DRIVER_LIBRARY = re.compile(r"^lib(cuda|nvidia-[\w-]+)\.so")
# Libraries whose soname major is the CUDA major (libcudart.so.12 belongs to CUDA 12.x).
CUDA_MAJOR_LIBRARY = re.compile(r"^lib(cudart|cublas|cublasLt|nvrtc|nvJitLink)\.so\.(\d+)$")
CUDNN_LIBRARY = re.compile(r"^libcudnn\w*\.so\.(\d+)$")


def _cudnn_major_of_torch(facts: Facts) -> int | None:
    compiled = facts.torch.cudnn_compile_version or facts.torch.cudnn_version
    if compiled:
        return compiled // 10000 if compiled >= 10000 else compiled // 1000
    return None


def shadowing_libraries(facts: Facts, libraries: list[str], directory: str = "") -> list[str]:
    """The libraries of one directory that can be loaded instead of torch's own.

    Driver libraries never can, except a forward-compatibility libcuda (cuda-compat installs
    it in ``.../compat``), which replaces the driver's own. CUDA libraries of another CUDA
    major (or a cuDNN of another major) cannot either, since their sonames differ. Without a
    CUDA torch every CUDA library counts (the import may still pick them up).
    """
    torch_major = int(facts.torch.cuda.split(".")[0]) if facts.torch.cuda else None
    cudnn_major = _cudnn_major_of_torch(facts)
    majors = {
        int(match.group(2))
        for match in map(CUDA_MAJOR_LIBRARY.match, libraries)
        if match is not None
    }
    other_cuda = torch_major is not None and bool(majors) and torch_major not in majors
    forward_compat = os.path.basename(os.path.normpath(directory)) == "compat"
    found = []
    for name in libraries:
        if DRIVER_LIBRARY.match(name):
            if forward_compat:
                found.append(name)
            continue
        cudnn = CUDNN_LIBRARY.match(name)
        if cudnn and cudnn_major is not None:
            if int(cudnn.group(1)) == cudnn_major:
                found.append(name)
            continue
        if other_cuda and not name.startswith("libnccl"):
            continue
        found.append(name)
    return found


def check_ld_library_path(facts: Facts) -> list[Finding]:
    """LD_LIBRARY_PATH wins over the libraries torch ships; CUDA entries there cause mismatches."""
    if not facts.library_path:
        return []
    offending = [
        entry
        for entry in facts.library_path
        if shadowing_libraries(facts, entry.cuda_libraries, entry.path)
    ]
    if not offending:
        return [ok("ld-library-path", "nothing on LD_LIBRARY_PATH shadows torch's CUDA libraries")]
    keep = [entry.path for entry in facts.library_path if entry not in offending]
    lines = [
        f"{entry.path}: {', '.join(shadowing_libraries(facts, entry.cuda_libraries, entry.path))}"
        for entry in offending
    ]
    return [
        Finding(
            "ld-library-path",
            Severity.INFO if is_cpu_build(facts) else Severity.WARN,
            f"LD_LIBRARY_PATH puts CUDA libraries ahead of torch's own ({offending[0].path})",
            detail="torch loads the CUDA, cuDNN and NCCL libraries it was built with (from its "
            "nvidia-* wheels or its conda env); LD_LIBRARY_PATH is searched first, so other "
            "versions get loaded instead: 'undefined symbol' errors, cuDNN version errors, "
            "silent slowdowns.\n" + "\n".join(lines),
            fix=(
                f"export LD_LIBRARY_PATH={os.pathsep.join(keep)}"
                if keep
                else "unset LD_LIBRARY_PATH",
                "grep -n LD_LIBRARY_PATH ~/.bashrc ~/.profile ~/.bash_profile  # remove it there",
            ),
            evidence={"entries": [entry.path for entry in offending]},
        )
    ]


def check_cuda_toolkit(facts: Facts) -> list[Finding]:
    """A CUDA toolkit is for compiling CUDA code; it is not what torch runs on."""
    toolkit = facts.toolkit
    if not toolkit.nvcc_path and not toolkit.cuda_home:
        return []
    version = toolkit.nvcc_version or "?"
    where = toolkit.nvcc_path or toolkit.cuda_home
    if is_cuda_build(facts):
        runtime = f"{torch_label(facts)} ships and uses its own CUDA {facts.torch.cuda} runtime"
    elif facts.torch.status == "ok":
        runtime = f"{torch_label(facts)} is a CPU build and uses no CUDA at all"
    else:
        runtime = "a torch wheel ships its own CUDA runtime"
    detail = (
        f"nvcc {version} ({where}) compiles CUDA code: custom CUDA extensions, or torch from "
        f"source. pip and conda torch builds bring their own CUDA runtime ({runtime}); whether "
        "torch can use a GPU is decided by the NVIDIA driver, not by this toolkit. Neither this "
        "version nor the 'CUDA Version' in nvidia-smi (the driver's maximum) is torch's runtime."
    )
    if is_cuda_build(facts) and toolkit.nvcc_version and facts.torch.cuda:
        toolkit_major = toolkit.nvcc_version.split(".")[0]
        torch_major = facts.torch.cuda.split(".")[0]
        if toolkit_major != torch_major:
            detail += (
                f" To build extensions for this torch you need a CUDA {torch_major}.x nvcc: "
                f"torch.utils.cpp_extension rejects a CUDA {toolkit_major} compiler."
            )
    severity = Severity.INFO
    driver = facts.nvml.driver_version
    too_new = []
    for root, found in sorted(toolkit.installed.items()):
        support = (
            rules.driver_support(
                driver,
                found,
                windows=advice.uses_windows_driver(facts),
                driver_cuda=facts.nvml.cuda_driver_version,
            )
            if driver and found
            else rules.UNKNOWN
        )
        if support == rules.UNSUPPORTED:
            too_new.append(f"{found} ({root})")
    if len(toolkit.installed) > 1:
        listed = ", ".join(f"{v or '?'} in {root}" for root, v in sorted(toolkit.installed.items()))
        detail += f"\nToolkits installed: {listed}."
    if too_new:
        severity = Severity.WARN
        detail += (
            f"\nDriver {driver} is too old for code compiled with CUDA {', '.join(too_new)}: "
            "extensions built with it fail to load ('CUDA driver version is insufficient'); "
            "torch's own wheels are not affected."
        )
    return [
        Finding(
            "cuda-toolkit",
            severity,
            f"CUDA toolkit {version} found: a compiler toolkit, not torch's CUDA runtime",
            detail=detail,
            evidence={
                "nvcc": toolkit.nvcc_path,
                "nvcc_version": toolkit.nvcc_version,
                "cuda_home": toolkit.cuda_home,
                "torch_cuda": facts.torch.cuda,
            },
        )
    ]
