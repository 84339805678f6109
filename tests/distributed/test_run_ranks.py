"""`gpubench run --nproc 1,2` end to end through torchrun: SIGTERM mid DDP cell leaves no
process of the sweep behind (psutil) and `--resume` finishes the run with world sizes 1 and 2
and the Scaling section; two `gpubench run` launchers on localhost act as two nodes, and the
one hosting rank 0 writes each cell with both nodes' metadata."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from tests.distributed.conftest import free_port, survivors

# The smallest sweep with DDP cells: the tiny GPT on synthetic tokens (no corpus to read and
# encode in each of the sweep's processes), 2 evaluation batches, one batch size, budgets at
# the engine's floor (each cell's phases get its minimum anyway). What is left is mostly
# process startups and the CPU's device probe.
TINY_SETS = ["--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2",
             "--set", "block_size=16", "--set", "eval_iters=2", "--set", "eval_interval=5",
             "--batch-sizes", "4"]  # fmt: skip


def gpubench(*args: str) -> list[str]:
    return [sys.executable, "-m", "gpubench", "run", "--models", "gpt", "--devices", "cpu",
            *TINY_SETS, "--data", "synthetic", "--iters", "10", "--protocol", "train",
            *args]  # fmt: skip


def descendants(pid: int) -> set[int]:
    try:
        return {child.pid for child in psutil.Process(pid).children(recursive=True)}
    except psutil.Error:
        return set()


def is_rank(pid: int) -> bool:
    try:
        return "gpubench.bench.ddp_worker" in " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        return False


def test_sigterm_mid_ddp_cell_leaves_no_process_and_resume_finishes(tmp_path: Path) -> None:
    sweep = subprocess.Popen(
        gpubench("--nproc", "1,2", "--threads", "2", "--budget", "4", "--out", str(tmp_path),
                 "--name", "r"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    seen: set[int] = set()
    deadline = time.monotonic() + 150
    while time.monotonic() < deadline and sweep.poll() is None:
        seen |= descendants(sweep.pid)
        if sum(is_rank(pid) for pid in seen) >= 2:
            break
        time.sleep(0.2)
    ranks = [pid for pid in seen if is_rank(pid)]
    assert len(ranks) >= 2, "the sweep never reached a DDP cell"
    time.sleep(1.0)
    seen |= descendants(sweep.pid)
    sweep.send_signal(signal.SIGTERM)
    _, err = sweep.communicate(timeout=60)
    assert sweep.returncode == 143, err
    assert not survivors(sorted(seen)), "a process of the sweep outlived SIGTERM"
    run_dir = tmp_path / "r"
    assert json.loads((run_dir / "results.json").read_text())["status"] == "interrupted"

    resumed = subprocess.run(
        [sys.executable, "-m", "gpubench", "run", "--resume", str(run_dir)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    stored = json.loads((run_dir / "results.json").read_text())
    assert stored["status"] == "complete"
    keys = [cell["key"] for cell in stored["cells"]]
    worlds = sorted((key.get("world_size", 1), key.get("scaling") or "") for key in keys)
    assert worlds == [(1, ""), (2, "strong"), (2, "weak")]
    assert all(c["status"] == "ok" for c in stored["cells"])
    ddp = [c for c in stored["cells"] if c["key"].get("world_size", 1) == 2]
    assert all(c["allreduce"]["method"] == "no_sync" for c in ddp)
    assert all(c["distributed"]["threads_per_rank"] == 1 for c in ddp)
    report = (run_dir / "report.md").read_text()
    assert "## Scaling over ranks" in report and "efficiency (spread)" in report
    csv_header = (run_dir / "cells.csv").read_text().splitlines()[0]
    assert "world_size" in csv_header and "scaling" in csv_header


def test_two_gpubench_launchers_on_localhost_are_two_nodes(tmp_path: Path) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    same = ["--nproc", "1", "--nnodes", "2", "--rdzv-endpoint", endpoint, "--budget", "2",
            "--out", str(tmp_path), "--json"]  # fmt: skip
    commands = [
        gpubench(*same, "--node-rank", str(rank), "--name", f"node{rank}") for rank in (0, 1)
    ]
    nodes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    outputs = [node.communicate(timeout=300) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], outputs
    runs = [json.loads((tmp_path / f"node{r}" / "results.json").read_text()) for r in (0, 1)]
    by_id: dict[str, list[dict]] = {}
    for run in runs:
        for cell in run["cells"]:
            by_id.setdefault(cell["id"], []).append(cell)
    assert len(by_id) == 2  # strong and weak at world size 2, on both nodes
    for cells in by_id.values():
        statuses = sorted(cell["status"] for cell in cells)
        assert statuses == ["elsewhere", "ok"]  # rank 0's node wrote it, the other did not
        reported = next(cell for cell in cells if cell["status"] == "ok")
        assert reported["distributed"]["nnodes"] == 2
        assert sorted(r["node_rank"] for r in reported["distributed"]["ranks"]) == [0, 1]
