"""Which devices exist, and validation of ``--devices`` / ``--device`` values."""

from __future__ import annotations

import re

from gpubench.errors import UsageError

_DEVICE = re.compile(r"^(cpu|mps|cuda(?::\d+)?)$")
DOCTOR_HINT = "run `gpubench doctor` to see why"


def available_devices() -> list[str]:
    """``cpu`` plus every visible CUDA device, plus ``mps`` on Apple silicon."""
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def resolve_devices(text: str, available: list[str] | None = None) -> list[str]:
    """Turn ``auto`` or a comma list into device names, refusing ones this machine lacks."""
    names = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise UsageError(f"--devices {text!r}: expected auto or a list such as cpu,cuda:0")
    available = available if available is not None else available_devices()
    if names == ["auto"]:
        return available
    resolved: list[str] = []
    for name in names:
        if not _DEVICE.match(name):
            raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
        if name == "cuda":
            name = "cuda:0"
        if name not in available:
            if name.startswith("cuda"):
                raise UsageError(
                    f"device {name!r} is not usable here (no CUDA GPU visible to torch); "
                    f"{DOCTOR_HINT}"
                )
            raise UsageError(f"device {name!r} is not available here; have: {', '.join(available)}")
        if name not in resolved:
            resolved.append(name)
    return resolved
