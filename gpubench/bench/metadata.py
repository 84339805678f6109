"""What a run records about the machine it ran on (docs/design.md, "Results schema")."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gpubench import __version__
from gpubench.core.training import FAST_VARIANT
from gpubench.doctor.machine import collect_cpu
from gpubench.doctor.verdict import Verdict


def git_commit() -> str | None:
    """The commit of the gpubench checkout in use, when it is one."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def collect_metadata(verdict: Verdict, argv: list[str]) -> dict[str, Any]:
    """Versions, hardware and settings that decide what the numbers mean."""
    import psutil
    import torch

    facts = verdict.to_dict()
    # The doctor read the CPU already; a broken verdict has no facts, so read them here then.
    cpu = facts["facts"].get("cpu") or asdict(collect_cpu())
    memory = psutil.virtual_memory()
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "gpubench": __version__,
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
        "cpu_model": cpu["model"],
        "cpu_cores_physical": cpu["physical_cores"],
        "cpu_cores_logical": cpu["logical_cores"],
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "memory_total_bytes": memory.total,
        "load_average_start": list(load) if load else None,
        "verdict": verdict.line,
        "verdict_kind": verdict.kind,
        "doctor": facts,  # the doctor's facts: cuDNN, driver, GPUs, memory, other processes
        "cuda_launch_blocking": os.environ.get("CUDA_LAUNCH_BLOCKING") == "1",
        "fast_variant": FAST_VARIANT,
        "command": " ".join(["gpubench", *argv]),
        "executable": sys.executable,
    }
