"""torch's build facts from its installed metadata, for when importing it is not worth the time.

The local version tag names the build (``2.8.0+cu128``, ``+cpu``, ``+rocm6.4``); the default
Linux wheels on PyPI carry no tag, but pin the nvidia-* wheels of their CUDA
(``nvidia-cuda-runtime-cu12==12.8.90``, or ``nvidia-cuda-runtime==13.0.96`` for CUDA 13).
"""

from __future__ import annotations

import re
from typing import Any

from gpubench.doctor.facts import TorchFacts

LOCAL_CUDA = re.compile(r"\+cu(\d+)(\d)$")
LOCAL_ROCM = re.compile(r"\+rocm(\d+\.\d+)")
RUNTIME_WHEEL = re.compile(r"^nvidia-cuda-runtime(?:-cu\d+)?$")


def cuda_from_requirements(requirements: dict[str, str]) -> str | None:
    """``{"nvidia-cuda-runtime-cu12": "==12.8.90"}`` -> ``"12.8"``."""
    for name, spec in requirements.items():
        if RUNTIME_WHEEL.match(name):
            match = re.search(r"(\d+)\.(\d+)", spec)
            if match:
                return f"{match.group(1)}.{match.group(2)}"
    return None


def torch_facts_from_metadata(torch: dict[str, Any] | None) -> TorchFacts:
    """TorchFacts from python_probe's description of torch (None: not installed)."""
    if torch is None:
        return TorchFacts(
            status="missing",
            stage="import",
            error="No module named 'torch' (no torch distribution in this environment)",
            source="metadata",
        )
    version = str(torch.get("version") or "")
    cuda = hip = None
    tagged = LOCAL_CUDA.search(version)
    rocm = LOCAL_ROCM.search(version)
    if tagged:
        cuda = f"{tagged.group(1)}.{tagged.group(2)}"
    elif rocm:
        hip = rocm.group(1)
    elif not version.endswith("+cpu"):
        cuda = cuda_from_requirements(torch.get("requirements") or {})
    return TorchFacts(
        status="ok", stage="metadata", version=version, cuda=cuda, hip=hip, source="metadata"
    )
