"""Sessions: the test suite against a CPU and a CUDA torch, lint, typecheck, benchmarks.

Where torch comes from is configurable:
  GPUBENCH_TORCH_INDEX    an index URL, or "pip" for plain `pip install` with this
                          machine's own pip configuration (default: PyTorch's CPU index
                          for the CPU session, its cu126 index for the CUDA session: torch 2.13
                          publishes cu126 and cu130 builds, and cu126 runs on drivers >= 525)
  GPUBENCH_TORCH_VERSION  the torch version (default 2.13.0)
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nox

nox.options.sessions = ["tests(torch='cpu')", "lint"]
nox.options.default_venv_backend = "virtualenv"  # uv does not read pip's configuration

TORCH_VERSION = os.environ.get("GPUBENCH_TORCH_VERSION", "2.13.0")
DEFAULT_INDEX = {
    "cpu": "https://download.pytorch.org/whl/cpu",
    "cuda": "https://download.pytorch.org/whl/cu126",
}


def install_torch(session: nox.Session, flavour: str) -> None:
    """Install the pinned torch from the configured source before the project."""
    index = os.environ.get("GPUBENCH_TORCH_INDEX", DEFAULT_INDEX[flavour])
    if index == "pip":
        session.install(f"torch=={TORCH_VERSION}")
    else:
        session.install(f"torch=={TORCH_VERSION}", "--index-url", index)


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
    session.install("-e", ".[test]")
    args = session.posargs or ["--cov=gpubench", "--cov-report=term:skip-covered"]
    if torch == "cpu":
        args = ["-m", "not gpu", *args]
    session.run("python", "-m", "pytest", *args)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy on the package."""
    install_torch(session, "cpu")
    session.install("-e", ".", "mypy")
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
