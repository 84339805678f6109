"""Launch one distributed cell through torchrun and bring back rank 0's result.

A cell with world size > 1 runs ``python -m torch.distributed.run`` (torchrun) with
``gpubench.bench.ddp_worker`` as the program of every rank: ``--standalone`` on one host, or a
c10d rendezvous at ``HOST:PORT`` for several machines (each machine runs the same launch with
its own ``--node-rank``). The launcher reads the JSON lines rank 0 writes, enforces a timeout,
and whatever happens (a result, a crashed or killed rank, a timeout, Ctrl-C, SIGTERM) leaves no
process of the cell behind: it kills the whole process tree with psutil, because torchrun
starts each rank in a session of its own. Design: docs/distributed.md.

Entry points: ``LaunchSpec`` (the torchrun shape of a cell), ``launch_cell`` (run one cell,
get a ``DistributedOutcome``).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from gpubench.errors import UsageError
from gpubench.interrupts import sigterm_as_interrupt
from gpubench.results.model import Failure

EventHandler = Callable[[dict[str, Any]], None]
LOG_TAIL_LINES = 20
TEARDOWN_GRACE_S = 3.0  # SIGTERM first, SIGKILL after this
POLL_S = 0.25  # how often the launcher refreshes its list of the cell's processes
# Messages of ranks that only lost a peer: the rank that failed first is someone else.
PEER_LOSS_PATTERNS = (
    "connection closed by peer",
    "connection reset by peer",
    "broken pipe",
    "nccl communicator was aborted",
    "process group watchdog",
    "timed out",
    "read error",
    "gloo",
)
# torchrun's summary of a failed worker (torch/distributed/elastic/multiprocessing/errors).
TORCHRUN_FAILURE = re.compile(
    r"rank\s*:\s*(?P<rank>\d+)\s*\(local_rank:\s*(?P<local>\d+)\)\s*"
    r"exitcode\s*:\s*(?P<code>-?\d+)",
)
RENDEZVOUS_ERRORS = ("RendezvousTimeoutError", "RendezvousConnectionError", "RendezvousClosedError")


@dataclass(frozen=True)
class LaunchSpec:
    """How torchrun starts one cell: ranks per node, and the rendezvous for several nodes.

    One host: ``LaunchSpec(nproc_per_node=2)``. Several hosts: the same spec on each, with
    ``nnodes``, ``rdzv_endpoint`` (``HOST:PORT`` of one of them) and its own ``node_rank``.
    With the c10d rendezvous the ranks are numbered in the order nodes join, so global rank 0
    (the one that reports) may live on any node; ``DistributedOutcome.reported`` says which.
    """

    nproc_per_node: int
    nnodes: int = 1
    rdzv_endpoint: str | None = None
    node_rank: int | None = None
    rdzv_id: str = "gpubench"
    rdzv_timeout_s: float = 60.0  # joining nodes wait this long for the others
    local_addr: str | None = None  # the address other nodes reach this one at

    def __post_init__(self) -> None:
        if self.nproc_per_node < 1:
            raise UsageError(f"--nproc must be 1 or more, not {self.nproc_per_node}")
        if self.nnodes < 1:
            raise UsageError(f"--nnodes must be 1 or more, not {self.nnodes}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise UsageError(
                "--nnodes above 1 needs --rdzv-endpoint HOST:PORT (one node's address)"
            )
        if self.rdzv_endpoint and not re.fullmatch(
            r"[^\s:]+:\d+|\[[0-9a-fA-F:]+\]:\d+", self.rdzv_endpoint
        ):
            raise UsageError(f"--rdzv-endpoint must be HOST:PORT, not {self.rdzv_endpoint!r}")
        if self.node_rank is not None and not 0 <= self.node_rank < self.nnodes:
            raise UsageError(f"--node-rank must be in 0..{self.nnodes - 1}, not {self.node_rank}")

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes

    @property
    def multi_node(self) -> bool:
        return self.nnodes > 1

    def torchrun_args(self) -> list[str]:
        """torchrun's options for this spec (before the program to run)."""
        timeout = max(1, round(self.rdzv_timeout_s))
        args = [
            f"--nproc-per-node={self.nproc_per_node}",
            "--max-restarts=0",
            "--monitor-interval=0.1",
        ]
        if self.multi_node:
            args += [
                f"--nnodes={self.nnodes}",
                "--rdzv-backend=c10d",
                f"--rdzv-endpoint={self.rdzv_endpoint}",
                f"--rdzv-id={self.rdzv_id}",
                f"--rdzv-conf=join_timeout={timeout},read_timeout={timeout}",
            ]
            if self.node_rank is not None:
                args.append(f"--node-rank={self.node_rank}")
        else:
            args.append("--standalone")
        if self.local_addr:
            args.append(f"--local-addr={self.local_addr}")
        return args


def torchrun_command(spec: LaunchSpec, job_path: Path, python: str = sys.executable) -> list[str]:
    """The full command line: torchrun, its options, then the rank program and its job."""
    return [
        python,
        "-m",
        "torch.distributed.run",
        *spec.torchrun_args(),
        "-m",
        "gpubench.bench.ddp_worker",
        "--job",
        str(job_path),
    ]


@dataclass
class DistributedOutcome:
    """What one launch produced on this node.

    ``payload`` is rank 0's result when rank 0 ran here (``reported``); a node that did not
    host rank 0 finishes with neither payload nor failure. ``rank_errors`` holds the error
    event of every rank that reported one; ``failure`` names the rank that failed first.
    """

    startup_s: float = 0.0  # launcher start to rank 0's ``ready``: torchrun + import torch
    wall_s: float = 0.0
    payload: dict[str, Any] | None = None
    failure: Failure | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    ranks: list[dict[str, Any]] = field(default_factory=list)
    rank_errors: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    command: list[str] = field(default_factory=list)
    pids: list[int] = field(default_factory=list)  # every process of the cell seen here

    @property
    def reported(self) -> bool:
        return self.payload is not None


# -- process tree ---------------------------------------------------------------------------
class ProcessTree:
    """Every process the launch started, remembered while torchrun still knows its children."""

    def __init__(self, root_pid: int):
        self.known: dict[int, psutil.Process] = {}
        self.root_pid = root_pid
        self.refresh()

    def add(self, pid: int) -> None:
        if pid in self.known:
            return
        with contextlib.suppress(psutil.Error):
            self.known[pid] = psutil.Process(pid)

    def refresh(self) -> None:
        try:
            root = psutil.Process(self.root_pid)
            found = [root, *root.children(recursive=True)]
        except psutil.Error:
            return
        for process in found:
            self.known.setdefault(process.pid, process)
        for process in list(self.known.values()):  # ranks' own children, reparented or not
            with contextlib.suppress(psutil.Error):
                for child in process.children(recursive=True):
                    self.known.setdefault(child.pid, child)

    def alive(self) -> list[psutil.Process]:
        living = []
        for process in self.known.values():
            with contextlib.suppress(psutil.Error):
                if process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
                    living.append(process)
        return living

    def kill(self, grace_s: float = TEARDOWN_GRACE_S) -> None:
        """SIGTERM every process of the cell, then SIGKILL those still there after ``grace_s``."""
        self.refresh()
        living = self.alive()
        for process in living:
            with contextlib.suppress(psutil.Error):
                process.terminate()
        _, remaining = psutil.wait_procs(living, timeout=grace_s)
        for process in remaining:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(remaining, timeout=grace_s)


# -- launching ------------------------------------------------------------------------------
def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def _parse_event(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def rank_environment(job: dict[str, Any], spec: LaunchSpec) -> dict[str, str]:
    """The ranks' environment: OMP_NUM_THREADS set as the rank will set its threads, which
    also keeps torchrun from printing its default-of-one banner."""
    env = dict(os.environ)
    if not str(job.get("device", "cpu")).startswith("cuda"):
        from gpubench.bench.ddp_worker import threads_per_rank

        env["OMP_NUM_THREADS"] = str(threads_per_rank(job, spec.nproc_per_node))
    env["PYTHONUNBUFFERED"] = "1"
    return env


def launch_cell(
    job: dict[str, Any],
    spec: LaunchSpec,
    *,
    timeout_s: float,
    on_event: EventHandler | None = None,
    python: str = sys.executable,
) -> DistributedOutcome:
    """Run one cell on ``spec.nproc_per_node`` ranks here (and more on other nodes).

    ``job`` is a worker job (``gpubench.bench.ddp_worker``). Returns rank 0's result, or a
    ``Failure``: the first failing rank's error (``crash``/``oom``/``error``), ``timeout``,
    or ``rendezvous`` (one line). Ctrl-C and SIGTERM tear the cell down and propagate
    (``KeyboardInterrupt`` / ``gpubench.interrupts.Terminated``). No process of the cell
    outlives the call.
    """
    with tempfile.TemporaryDirectory(prefix="gpubench-ddp-") as folder:
        job_path = Path(folder) / "job.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        log_path = Path(folder) / "torchrun.log"
        outcome = DistributedOutcome(command=torchrun_command(spec, job_path, python))
        # SIGTERM raises Terminated here, so the tree is torn down before it propagates
        with sigterm_as_interrupt(), open(log_path, "w", encoding="utf-8") as log:
            _run(outcome, job, spec, log, log_path, timeout_s, on_event or (lambda event: None))
    return outcome


def _run(
    outcome: DistributedOutcome,
    job: dict[str, Any],
    spec: LaunchSpec,
    log: IO[str],
    log_path: Path,
    timeout_s: float,
    on_event: EventHandler,
) -> None:
    start = time.perf_counter()
    process = subprocess.Popen(
        outcome.command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=rank_environment(job, spec),
        start_new_session=True,  # Ctrl-C reaches the launcher only; it tears the cell down
    )
    tree = ProcessTree(process.pid)
    lines: queue.Queue[str | None] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True).start()
    deadline = start + timeout_s
    try:
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                tree.kill()
                outcome.failure = Failure(
                    "timeout",
                    f"no result within {timeout_s:.0f} s; every rank was stopped",
                    _tail(log_path),
                )
                break
            try:
                line = lines.get(timeout=min(POLL_S, left))
            except queue.Empty:
                tree.refresh()
                continue
            if line is None:
                break
            event = _parse_event(line)
            if event is None:
                continue
            _record(outcome, event, tree, start)
            on_event(event)
        outcome.returncode = process.wait(timeout=max(1.0, TEARDOWN_GRACE_S))
    except BaseException:
        tree.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=TEARDOWN_GRACE_S)
        raise
    finally:
        tree.kill()  # leftovers of a finished launch too: no rank outlives its cell
        outcome.pids = sorted(tree.known)
        outcome.wall_s = time.perf_counter() - start
    failed = outcome.returncode != 0 or outcome.rank_errors
    if outcome.payload is None and outcome.failure is None and failed:
        log.flush()
        outcome.failure = failure_from(outcome, _tail(log_path), _read(log_path), spec)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def _record(
    outcome: DistributedOutcome, event: dict[str, Any], tree: ProcessTree, start: float
) -> None:
    outcome.events.append(event)
    kind = event.get("event")
    if kind == "ready" and event.get("rank", 0) == 0:
        outcome.startup_s = time.perf_counter() - start
    elif kind == "ranks":
        outcome.ranks = list(event.get("ranks", []))
        for rank in outcome.ranks:  # ranks on this host: remembered even if reparented
            if rank.get("host") == socket.gethostname():
                tree.add(int(rank["pid"]))
    elif kind == "result":
        outcome.payload = event
    elif kind == "error":
        outcome.rank_errors.append(event)
    tree.refresh()


# -- what failed ----------------------------------------------------------------------------
def torchrun_failures(log_text: str) -> dict[int, int]:
    """Global rank -> exit code for every failed rank in torchrun's summary."""
    return {int(m["rank"]): int(m["code"]) for m in TORCHRUN_FAILURE.finditer(log_text)}


def is_peer_loss(message: str) -> bool:
    """An error that only says a peer went away (the cause is on another rank)."""
    lowered = message.lower()
    return any(pattern in lowered for pattern in PEER_LOSS_PATTERNS)


def rendezvous_failure(log_text: str, spec: LaunchSpec) -> Failure | None:
    """A rendezvous that timed out or could not connect, as a one-line failure."""
    found = next((name for name in RENDEZVOUS_ERRORS if name in log_text), None)
    if found is None:
        return None
    where = spec.rdzv_endpoint or "localhost"
    if found == "RendezvousConnectionError":
        message = (
            f"rendezvous: cannot reach the rendezvous store at {where} "
            f"within {spec.rdzv_timeout_s:.0f} s; check the address and that node 0 runs"
        )
    else:
        message = (
            f"rendezvous: not all {spec.nnodes} nodes joined at {where} within "
            f"{spec.rdzv_timeout_s:.0f} s; start the same command on every node"
        )
    return Failure(
        "rendezvous", message, "\n".join(log_text.strip().splitlines()[-LOG_TAIL_LINES:])
    )


def _signal_name(code: int) -> str:
    with contextlib.suppress(ValueError):
        return signal.Signals(-code).name
    return f"signal {-code}"


def failure_from(
    outcome: DistributedOutcome, log_tail: str, log_text: str, spec: LaunchSpec
) -> Failure:
    """The cell's failure: the rank that failed first, not the ranks that lost it.

    Order of evidence: a rank killed by a signal other than the teardown's SIGTERM; a rank's
    own error that is not a lost peer (earliest first); any rank's error; torchrun's summary.
    """
    rendezvous = rendezvous_failure(log_text, spec)
    if rendezvous is not None and not outcome.ranks:
        return rendezvous
    exits = torchrun_failures(log_text)
    errors = sorted(outcome.rank_errors, key=lambda e: float(e.get("time", 0.0)))
    by_rank = {int(e.get("rank", -1)): e for e in errors}
    hosts = {int(r["rank"]): r for r in outcome.ranks}
    for rank, code in sorted(exits.items()):
        if code < 0 and -code != signal.SIGTERM and rank not in by_rank:
            where = _where(rank, hosts)
            name = _signal_name(code)
            if -code == signal.SIGKILL:
                return Failure(
                    "oom",
                    f"rank {rank}{where} was killed ({name}), most often by "
                    "the out-of-memory killer; the other ranks were stopped",
                    log_tail,
                )
            return Failure(
                "crash",
                f"rank {rank}{where} died from {name}; the other ranks were stopped",
                log_tail,
            )
    causes = [e for e in errors if not is_peer_loss(str(e.get("message", "")))] or errors
    if causes:
        first = causes[0]
        rank = int(first.get("rank", -1))
        return Failure(
            str(first.get("kind", "error")),
            f"rank {rank}{_where(rank, hosts)}: {first.get('message', 'error')}",
            str(first.get("traceback", "")) or log_tail,
        )
    if exits:
        rank, code = min(exits.items())
        return Failure(
            "crash",
            f"rank {rank}{_where(rank, hosts)} exited with code {code} before reporting",
            log_tail,
        )
    if rendezvous is not None:
        return rendezvous
    return Failure(
        "crash", f"torchrun exited with code {outcome.returncode} before rank 0 reported", log_tail
    )


def _where(rank: int, hosts: dict[int, dict[str, Any]]) -> str:
    info = hosts.get(rank)
    if not info:
        return ""
    return f" (local rank {info.get('local_rank')} on {info.get('host')})"
