"""Run a doctor worker (``python -m gpubench.doctor.<worker>``) in its own process, with a timeout.

Importing torch, initialising CUDA and running kernels can hang or kill the process; doing it in
a child keeps the doctor alive and its own process free of CUDA. Workers start at once and are
collected later, so the slow ones (torch import) overlap with the rest of the probe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpubench.doctor.protocol import parse_output

# The directory that holds the ``gpubench`` package, so a child finds it even when the parent
# got it from sys.path tweaks rather than an installation.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass
class WorkerOutcome:
    """What came back from one worker."""

    status: str  # ok | timeout | crashed | no-result | spawn-failed
    result: dict[str, Any] | None  # the last result line; marked "partial" if the worker stopped
    stage: str | None  # the last stage the worker announced
    returncode: int | None
    stderr_tail: str
    seconds: float

    def describe_failure(self, timeout: float) -> str:
        """One line a user can read, e.g. 'did not finish within 20 s (stopped at stage import)'."""
        where = f" (at stage '{self.stage}')" if self.stage else ""
        if self.status == "timeout":
            return f"did not finish within {timeout:g} s{where}; it was stopped"
        if self.status == "crashed":
            return f"crashed with {_describe_returncode(self.returncode)}{where}"
        if self.status == "spawn-failed":
            return f"could not be started: {self.stderr_tail}"
        last = self.stderr_tail.strip().splitlines()[-1:] or ["no output"]
        return f"exited with code {self.returncode} without a result{where}: {last[0]}"


def _describe_returncode(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def child_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parent's environment, plus the package root on PYTHONPATH (after the user's entries)."""
    env = dict(os.environ)
    parts = [part for part in env.get("PYTHONPATH", "").split(os.pathsep) if part]
    if PACKAGE_ROOT not in parts:
        parts.append(PACKAGE_ROOT)
    env["PYTHONPATH"] = os.pathsep.join(parts)
    env.setdefault("PYTHONIOENCODING", "utf-8")
    if extra:
        env.update(extra)
    return env


class Worker:
    """A started worker process; ``collect`` waits for it until its own deadline."""

    def __init__(
        self,
        module: str,
        args: tuple[str, ...] = (),
        *,
        timeout: float,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.module = module
        self.timeout = timeout
        self.started = time.monotonic()
        self.deadline = self.started + timeout
        self._spawn_error: str | None = None
        self._process: subprocess.Popen[str] | None = None
        command = [python or sys.executable, "-m", module, *args]
        try:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=child_environment(env),
                start_new_session=os.name == "posix",  # so a kill reaches its children too
            )
        except OSError as error:
            self._spawn_error = str(error)

    def collect(self) -> WorkerOutcome:
        """Wait for the worker until its deadline (then kill it), and parse its output."""
        if self._process is None:
            return WorkerOutcome("spawn-failed", None, None, None, self._spawn_error or "", 0.0)
        process = self._process
        timed_out = False
        try:
            remaining = max(self.deadline - time.monotonic(), 0.01)
            stdout, stderr = process.communicate(timeout=remaining)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._kill(process)
            stdout, stderr = process.communicate()
        seconds = time.monotonic() - self.started
        stage, result = parse_output(stdout or "")
        tail = "\n".join((stderr or "").strip().splitlines()[-8:])
        if timed_out:
            status = "timeout"
        elif result is not None and not result.get("partial"):
            status = "ok"
        elif process.returncode is not None and process.returncode < 0:
            status = "crashed"
        else:
            status = "no-result"
        return WorkerOutcome(status, result, stage, process.returncode, tail, seconds)

    @staticmethod
    def _kill(process: subprocess.Popen[str]) -> None:
        try:
            if os.name == "posix":
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        except (ProcessLookupError, PermissionError, OSError):
            process.kill()


def run_worker(module: str, *args: str, timeout: float, python: str | None = None) -> WorkerOutcome:
    """Start a worker and wait for it."""
    return Worker(module, args, timeout=timeout, python=python).collect()
