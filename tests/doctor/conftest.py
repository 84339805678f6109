"""Doctor test helpers: one real probe of this machine (shared), fake torch packages, fake conda
prefixes on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from gpubench.doctor.facts import Facts
from gpubench.doctor.probe import collect_facts

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGS = Path(__file__).parent / "fixtures" / "logs"

MAIN_MIRROR = "https://mirrors.example.edu.cn/anaconda/pkgs/main/linux-64"
PYTORCH = "https://conda.anaconda.org/pytorch/linux-64"
NVIDIA = "https://conda.anaconda.org/nvidia/linux-64"
JPEG_FILES = [
    "bin/cjpeg",
    "bin/djpeg",
    "bin/rdjpgcom",
    "include/jpeglib.h",
    "share/man/man1/cjpeg.1",
    "share/man/man1/rdjpgcom.1",
]


@pytest.fixture(scope="session")
def real_facts() -> Facts:
    """This machine, probed once for the whole session (with the CPU smoke test)."""
    return collect_facts(timeout=90, smoke=True)


def write_fake_torch(root: Path, body: str) -> Path:
    """A directory holding a ``torch`` package whose ``__init__`` runs ``body``."""
    package = root / "torch"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(body), encoding="utf-8")
    return root


@pytest.fixture
def fake_torch(tmp_path: Path) -> Callable[[str], Path]:
    def make(body: str) -> Path:
        return write_fake_torch(tmp_path / "fake-torch", body)

    return make


def write_conda_record(
    prefix: Path, name: str, version: str, build: str, channel: str, files: list[str]
) -> None:
    """A conda-meta record as conda writes it (the keys doctor reads, plus a few it ignores)."""
    meta = prefix / "conda-meta"
    meta.mkdir(parents=True, exist_ok=True)
    record = {
        "build": build,
        "build_number": 0,
        "channel": channel,
        "constrains": [],
        "depends": [],
        "files": files,
        "fn": f"{name}-{version}-{build}.conda",
        "license": "BSD-3-Clause",
        "md5": "0" * 32,
        "name": name,
        "paths_data": {
            "paths": [{"_path": path, "path_type": "hardlink"} for path in files],
            "paths_version": 1,
        },
        "requested_spec": name,
        "size": 1,
        "subdir": "linux-64",
        "url": f"{channel}/{name}-{version}-{build}.conda",
        "version": version,
    }
    (meta / f"{name}-{version}-{build}.json").write_text(json.dumps(record), encoding="utf-8")


def write_seed_conda_prefix(prefix: Path) -> Path:
    """The seed's env: a mirror's main plus pytorch and nvidia; jpeg and libjpeg-turbo clash."""
    write_conda_record(prefix, "python", "3.11.9", "h955ad1f_0", MAIN_MIRROR, ["bin/python3.11"])
    write_conda_record(prefix, "jpeg", "9e", "h5eee18b_1", MAIN_MIRROR, JPEG_FILES)
    write_conda_record(prefix, "libpng", "1.6.39", "h5eee18b_0", MAIN_MIRROR, ["lib/libpng.so"])
    write_conda_record(
        prefix, "libjpeg-turbo", "2.0.0", "h9bf148f_0", PYTORCH, [*JPEG_FILES, "bin/tjbench"]
    )
    write_conda_record(
        prefix,
        "pytorch",
        "2.5.1",
        "py3.11_cuda12.1_cudnn9.1.0_0",
        PYTORCH,
        ["lib/python3.11/site-packages/torch/__init__.py"],
    )
    write_conda_record(prefix, "cuda-runtime", "12.1.0", "0", NVIDIA, [])
    return prefix


def run_gpubench(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
    """``python -m gpubench ...`` in a real subprocess."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "gpubench", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO_ROOT,
    )
