"""Worker: describe a Python environment from its installed metadata, without importing torch.

Run as ``python -m gpubench.doctor.python_probe`` by any interpreter (``doctor --python PATH``),
or called in-process for the doctor's own. It reads only ``importlib.metadata`` and ``sys``: the
torch version, its build tag (``+cu128``), the CUDA variant its nvidia-* requirements pin, the
installed nvidia-* wheels, and how the environment was made (venv, conda, uv); torch's
companions are found on the sys.path it reports (machine.find_torch_distributions). Kept
to the standard library and Python 3.8 syntax, since the target interpreter may be older than
the doctor's.
"""

from __future__ import annotations

import os
import re
import site
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

NVIDIA_PREFIX = "nvidia-"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*([^;]*)(?:;(.*))?$")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def environment_kind() -> str:
    if (Path(sys.prefix) / "conda-meta").is_dir():
        return "conda"
    if sys.prefix != getattr(sys, "base_prefix", sys.prefix):
        return "venv"
    return "system"


def environment_installer() -> str:
    """uv writes ``uv = <version>`` into the pyvenv.cfg of the environments it creates."""
    config = Path(sys.prefix) / "pyvenv.cfg"
    try:
        text = config.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    if re.search(r"^\s*uv\s*=", text, re.M):
        return "uv"
    if environment_kind() == "conda":
        return "conda"
    return "pip"


def torch_requirements(dist: Any) -> dict[str, str]:
    """torch's nvidia-* requirements for this platform, e.g. nvidia-cublas-cu12 -> ==12.8.4.1."""
    found: dict[str, str] = {}
    for line in dist.requires or []:
        match = REQUIREMENT.match(line)
        if not match:
            continue
        name, spec, marker = match.group(1), match.group(2).strip(), match.group(3) or ""
        if not _normalise(name).startswith(NVIDIA_PREFIX):
            continue
        if "extra ==" in marker:
            continue
        if "platform_system" in marker and "Linux" in marker and sys.platform != "linux":
            continue
        found[_normalise(name)] = spec.strip("() ")
    return found


def installed_distributions() -> list[Any]:
    """(metadata directory, normalised name, version) of every distribution on sys.path, from
    the directory names alone (``name-version.dist-info``): parsing every METADATA file would
    cost a quarter of a second in a large environment."""
    found = []
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for item in names:
            if not item.endswith((".dist-info", ".egg-info")):
                continue
            stem = item.rsplit(".", 1)[0]
            name, _, version = stem.partition("-")
            if version:
                found.append((Path(entry or ".") / item, _normalise(name), version.split("-")[0]))
    return found


def describe() -> dict[str, Any]:
    """The facts of this interpreter, as plain data (see facts.py: InterpreterFacts)."""
    torch: dict[str, Any] | None = None
    nvidia: dict[str, str] = {}
    seen = set()
    for path, name, version in installed_distributions():
        if name in seen:
            continue  # the first on sys.path is the one imported
        seen.add(name)
        if name == "torch":
            dist = metadata.PathDistribution(path)
            torch = {
                "version": dist.version or version,
                "requirements": torch_requirements(dist),
            }
        elif name.startswith(NVIDIA_PREFIX):
            nvidia[name] = version
    user_site = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    return {
        "python_version": ".".join(str(part) for part in sys.version_info[:3]),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": getattr(sys, "base_prefix", sys.prefix),
        "kind": environment_kind(),
        "installer": environment_installer(),
        "user_site": user_site,
        "user_site_enabled": bool(site.ENABLE_USER_SITE),
        "sys_path": [entry for entry in sys.path if entry],
        "torch": torch,
        "nvidia_wheels": nvidia,
        "pythonpath": os.environ.get("PYTHONPATH", ""),
    }


def main() -> None:
    from gpubench.doctor.protocol import emit_result

    emit_result({"status": "ok", **describe()})


if __name__ == "__main__":
    main()
