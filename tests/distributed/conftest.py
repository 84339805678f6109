"""Jobs and helpers shared by the distributed tests: tiny GPT configs, loopback only."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import psutil
import pytest

from gpubench.core.models import load_model, resolve_config

CORPUS = Path("/work/shared/data/tinyshakespeare/input.txt")
TINY = {"n_layer": "1", "n_embd": "32", "n_head": "2", "block_size": "16", "batch_size": "4",
        "eval_iters": "4", "eval_interval": "10"}  # fmt: skip
SMALL = {"n_layer": "2", "n_embd": "128", "n_head": "4", "block_size": "64", "batch_size": "8",
         "eval_iters": "10", "eval_interval": "100"}  # fmt: skip


def make_job(overrides: dict[str, str] = TINY, **extra: Any) -> dict[str, Any]:
    """A GPT worker job on the CPU with ``overrides`` (synthetic text without the corpus)."""
    spec = load_model("gpt")
    data = (
        {"label": "tinyshakespeare", "path": str(CORPUS), "synthetic": False}
        if CORPUS.exists()
        else {"label": "synthetic", "path": None, "synthetic": True}
    )
    job = {"mode": "phases", "model": str(spec.path), "config": resolve_config(spec, overrides),
           "device": "cpu", "variant": "reference", "data": data, "budget_s": 3.0,
           "scaling": "weak", "threads": 1}  # fmt: skip
    job.update(extra)
    return job


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def survivors(pids: list[int]) -> list[int]:
    """The pids still running (zombies count as gone: they hold no resources but a slot)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.fixture
def tiny_job() -> dict[str, Any]:
    return make_job()
