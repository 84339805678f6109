"""Sessions: the test suite against a CPU and a CUDA torch and against the oldest torch
gpubench supports, lint, typecheck, benchmarks.

Where torch comes from is configurable:
  GPUBENCH_TORCH_INDEX    an index URL, or "pip" for plain `pip install` with this
                          machine's own pip configuration (default: PyTorch's CPU index
                          for the CPU session, its cu126 index for the CUDA session: torch 2.13
                          publishes cu126 and cu130 builds, and cu126 runs on drivers >= 525)
  GPUBENCH_TORCH_VERSION  the torch version (default 2.13.0; for tests_torch_floor, the floor
                          that pyproject.toml declares)

Test and dev tools are PEP 735 dependency groups in pyproject.toml, not published extras.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nox
from nox.command import CommandFailed

if sys.version_info >= (3, 11):
    import tomllib
else:  # nox's own dependency on Python 3.10
    import tomli as tomllib

nox.options.sessions = ["tests(torch='cpu')", "lint"]
nox.options.default_venv_backend = "virtualenv"  # uv does not read pip's configuration

PYPROJECT = tomllib.loads(Path(__file__).with_name("pyproject.toml").read_text(encoding="utf-8"))
TORCH_VERSION = os.environ.get("GPUBENCH_TORCH_VERSION", "2.13.0")
PIP_WITH_GROUPS = (25, 1)  # the first pip with `pip install --group`
DEFAULT_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu126",
}


def install_torch(session: nox.Session, flavour: str, version: str = TORCH_VERSION) -> None:
    """Install the pinned torch from the configured source before the project."""
    index = os.environ.get("GPUBENCH_TORCH_INDEX", DEFAULT_INDEX[flavour])
    if index == "pip":
        session.install(f"torch=={version}")
    else:
        session.install(f"torch=={version}", "--index-url", index)


def group_requirements(name: str) -> list[str]:
    """A dependency group's requirements from pyproject.toml, included groups expanded."""
    requirements: list[str] = []
    for item in PYPROJECT["dependency-groups"][name]:
        if isinstance(item, dict):
            requirements += group_requirements(item["include-group"])
        else:
            requirements.append(item)
    return requirements


def pip_version(session: nox.Session) -> tuple[int, ...]:
    out = session.run("python", "-m", "pip", "--version", silent=True) or ""
    found = re.search(r"pip (\d+)\.(\d+)", str(out))
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


def install_groups(session: nox.Session, *groups: str) -> None:
    """Install dependency groups: pip's own --group where it has it, else their list."""
    if pip_version(session) >= PIP_WITH_GROUPS:
        session.install(*(arg for group in groups for arg in ("--group", group)))
    else:
        session.install(*(req for group in groups for req in group_requirements(group)))


def torch_floor() -> str:
    """The oldest torch pyproject.toml allows, as a pip version pattern (``2.4.*``)."""
    (spec,) = [dep for dep in PYPROJECT["project"]["dependencies"] if dep.startswith("torch")]
    found = re.search(r">=\s*([\d.]+)", spec)
    if found is None:
        raise ValueError(f"no torch floor in {spec!r}")
    return found.group(1) + ".*"


def run_tests(session: nox.Session, *marks: str) -> None:
    args = session.posargs or ["--cov=gpubench", "--cov-report=term:skip-covered"]
    if marks:
        args = ["-m", " and ".join(marks), *args]
    session.run("python", "-m", "pytest", *args)


def nvidia_gpu_visible() -> bool:
    if shutil.which("nvidia-smi") is None:
        return False
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


@nox.session
@nox.parametrize("torch", ["cpu", "cuda"])
def tests(session: nox.Session, torch: str) -> None:
    """Run the test suite against a CPU-only or a CUDA build of torch."""
    if torch == "cuda" and not nvidia_gpu_visible():
        session.skip("no NVIDIA GPU visible (nvidia-smi -L found none): CUDA tests skipped")
    install_torch(session, torch)
    install_groups(session, "test")
    session.install("-e", ".")
    run_tests(session, *(["not gpu"] if torch == "cpu" else []))


@nox.session
def tests_torch_floor(session: nox.Session) -> None:
    """Run the fast tests against the oldest torch gpubench supports (a CPU build)."""
    version = os.environ.get("GPUBENCH_TORCH_VERSION", torch_floor())
    try:
        install_torch(session, "cpu", version)
    except CommandFailed:
        session.skip(
            f"torch {version} cannot be installed here (no build for Python "
            f"{session.python or sys.version.split()[0]} or not on the configured index)"
        )
    install_groups(session, "test")
    session.install("-e", ".")
    run_tests(session, "not gpu", "not slow")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    install_groups(session, "lint")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the package."""
    install_torch(session, "cpu")
    install_groups(session, "typecheck")
    session.install("-e", ".")
    session.run("mypy", "gpubench")


@nox.session
def bench(session: nox.Session) -> None:
    """Performance benchmarks (ratios side by side) and a short real sweep with a report."""
    install_torch(session, "cuda" if nvidia_gpu_visible() else "cpu")
    session.install("-e", ".[plot]")
    session.run("python", "benchmarks/run_all.py", *session.posargs)
    session.run(
        "gpubench", "run", "--models", "bigram", "--iters", "500,5000", "--budget", "60",
        "--out", "reports/bench",
    )  # fmt: skip
