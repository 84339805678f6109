"""Checks on the packages around torch: torchvision/torchaudio and the nvidia-* CUDA wheels."""

from __future__ import annotations

import re

from gpubench.doctor import rules
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity, ok

# torchvision's minor = torch's minor + 15 and torchaudio's version = torch's, for torch 2.x
# (e.g. torch 2.9.1, torchvision 0.24.1, torchaudio 2.9.1 on the previous-versions page,
# https://pytorch.org/get-started/previous-versions).
COMPANION_RELEASE = {
    "torchvision": lambda major, minor: (0, minor + 15) if major == 2 else None,
    "torchaudio": lambda major, minor: (major, minor) if major == 2 else None,
}


def _local_tag(version: str) -> str | None:
    return version.split("+", 1)[1] if "+" in version else None


def check_torch_companions(facts: Facts) -> list[Finding]:
    """torchvision and torchaudio must come from torch's release line and CUDA variant."""
    torch_version = facts.torch.version or facts.interpreter.torch_version
    if not torch_version or not facts.torch_companions:
        return []
    torch_release = rules.parse_version(rules.public_version(torch_version))[:2]
    if len(torch_release) < 2:
        return []
    torch_tag = _local_tag(torch_version)
    problems = []
    for name, version in sorted(facts.torch_companions.items()):
        expected = COMPANION_RELEASE[name](*torch_release) if name in COMPANION_RELEASE else None
        release = rules.parse_version(rules.public_version(version))[:2]
        if expected is not None and release and release != expected:
            wanted = ".".join(map(str, expected))
            problems.append(f"{name} {version} belongs to another torch release (wants {wanted}.x)")
        tag = _local_tag(version)
        if torch_tag and tag and tag != torch_tag:
            problems.append(
                f"{name} {version} is a {tag} build, torch {torch_version} a {torch_tag}"
            )
    if not problems:
        names = ", ".join(f"{name} {version}" for name, version in facts.torch_companions.items())
        return [ok("torch-companions", f"{names} match torch {torch_version}")]
    index = f" --index-url {rules.wheel_index_url(torch_tag)}" if torch_tag else ""
    pin = rules.public_version(torch_version)
    names = " ".join(sorted(facts.torch_companions))
    return [
        Finding(
            "torch-companions",
            Severity.ERROR,
            "torchvision/torchaudio do not match torch",
            detail="\n".join(problems) + "\nTheir compiled operators load only into the torch "
            "they were built for: 'operator torchvision::nms does not exist', undefined symbols, "
            "or pip replacing torch with another variant.",
            fix=(
                f"python -m pip uninstall -y {names}",
                f"python -m pip install torch=={pin} {names}{index}",
            ),
            evidence={"torch": torch_version, "companions": dict(facts.torch_companions)},
        )
    ]


def _pinned(spec: str) -> str | None:
    match = re.fullmatch(r"==\s*([\w.]+)", spec.strip())
    return match.group(1) if match else None


def check_nvidia_wheels(facts: Facts) -> list[Finding]:
    """The nvidia-* wheels a CUDA torch pins must be installed at exactly those versions."""
    required = facts.interpreter.torch_requirements
    if not required:
        return []
    installed = facts.interpreter.nvidia_wheels
    wrong = []
    for name, spec in sorted(required.items()):
        pinned = _pinned(spec)
        have = installed.get(name)
        if have is None:
            wrong.append((name, spec, "missing"))
        elif pinned and have != pinned:
            wrong.append((name, spec, have))
    torch = facts.interpreter.torch_version or "torch"
    if not wrong:
        return [ok("nvidia-wheels", f"{len(required)} nvidia-* wheels at the versions torch pins")]
    lines = [f"{name}: {have}, torch {torch} requires {spec}" for name, spec, have in wrong]
    return [
        Finding(
            "nvidia-wheels",
            Severity.ERROR,
            f"{len(wrong)} nvidia-* wheel(s) differ from what torch {torch} requires",
            detail="\n".join(lines) + "\ntorch loads the CUDA libraries of these wheels; another "
            "version is behind 'undefined symbol' errors (libcusparse/nvJitLink), cuBLAS or "
            "cuDNN failing to initialise, or missing libraries.",
            fix=(f"python -m pip install {' '.join(repr_requirement(n, s) for n, s, _ in wrong)}",),
            evidence={"wrong": [list(item) for item in wrong]},
        )
    ]


def repr_requirement(name: str, spec: str) -> str:
    return f'"{name}{spec}"' if spec else name
