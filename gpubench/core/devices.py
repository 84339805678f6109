"""Which devices exist, and validation of ``--devices`` / ``--device`` values."""

from __future__ import annotations

import re
from collections.abc import Sequence

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


def parse_devices(text: str) -> tuple[str, ...]:
    """Check the spelling of ``--devices`` (``auto`` or a comma list) without probing anything.

    ``cuda`` means ``cuda:0``; duplicates are dropped. Whether the devices exist here is
    ``resolve_devices``'s question, asked once the doctor has looked.
    """
    names = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not name for name in names):
        raise UsageError(f"--devices {text!r}: expected auto or a list such as cpu,cuda:0")
    if names == ["auto"]:
        return ("auto",)
    parsed: list[str] = []
    for name in names:
        if not _DEVICE.match(name):
            raise UsageError(f"unknown device {name!r}; use auto, cpu, cuda, cuda:N or mps")
        name = "cuda:0" if name == "cuda" else name
        if name not in parsed:
            parsed.append(name)
    return tuple(parsed)


def resolve_devices(
    requested: str | Sequence[str], available: list[str] | None = None
) -> list[str]:
    """Turn ``auto`` or device names into this machine's devices, refusing ones it lacks."""
    names = parse_devices(requested) if isinstance(requested, str) else tuple(requested)
    available = available if available is not None else available_devices()
    if names == ("auto",):
        return list(available)
    for name in names:
        if name in available:
            continue
        if name.startswith("cuda"):
            raise UsageError(
                f"device {name!r} is not usable here (no CUDA GPU visible to torch); {DOCTOR_HINT}"
            )
        raise UsageError(f"device {name!r} is not available here; have: {', '.join(available)}")
    return list(names)
