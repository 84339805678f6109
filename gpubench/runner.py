"""Run ``python -m <module>`` in its own process: the one worker runner of gpubench.

The doctor's probes and the bench's workers both use it. A worker may hang (a CUDA driver
that never answers), crash (a segfault in an extension) or be killed (out of memory); the
runner turns each of these into a ``WorkerOutcome`` instead of taking the parent down.

What it does (docs/design.md, "Worker protocol"):
  - start: the current interpreter (or ``python``), the package importable via PYTHONPATH,
    an optional payload on stdin, in its own session/process group so a Ctrl-C in the
    terminal reaches the parent only;
  - line protocol: every stdout line goes through ``parse_line`` (JSON objects by default)
    and becomes an event ``{"event": kind, ...}``; the runner remembers ``ready`` (its time),
    ``stage`` (``name``), ``result`` (the payload under ``result``) and ``error``;
  - timeout: a deadline from the start; past it the process tree is killed;
  - process-tree kill with psutil (Linux, macOS and Windows alike);
  - stderr goes to a temporary file; its last lines come back as ``stderr_tail``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

Event = dict[str, Any]
EventHandler = Callable[[Event], None]
LineParser = Callable[[str], "Event | None"]

# The directory that holds the ``gpubench`` package, so a child finds it even when the parent
# got it from sys.path tweaks rather than an installation.
PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])
STDERR_TAIL_LINES = 12
KILL_WAIT_S = 5.0


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


def parse_json_line(line: str) -> Event | None:
    """The default line protocol: one JSON object per line; anything else is ignored."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) else None


def kill_tree(pid: int) -> None:
    """Kill a process and everything it started, on any platform; gone already is fine."""
    import psutil

    try:
        parent = psutil.Process(pid)
        family = [parent, *parent.children(recursive=True)]
    except psutil.Error:
        return
    for process in family:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(family, timeout=KILL_WAIT_S)


def describe_returncode(code: int | None) -> str:
    """'exit code 3', or 'signal 9 (SIGKILL)' for a process a signal ended (POSIX)."""
    if code is not None and code < 0:
        try:
            return f"signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def killed_by_sigkill(code: int | None) -> bool:
    """True where the OS killed the worker outright (most often the out-of-memory killer)."""
    sigkill = getattr(signal, "SIGKILL", None)  # absent on Windows
    return sigkill is not None and code == -int(sigkill)


@dataclass
class WorkerOutcome:
    """What came back from one worker.

    ``status``: ok (a final result), error (the worker reported an ``error`` event), timeout,
    crashed (ended by a signal), no-result (exited without a result), spawn-failed.
    """

    status: str
    result: dict[str, Any] | None = None  # the last result's payload (a "partial" one: not ok)
    error: Event | None = None  # the worker's own error report, if it sent one
    stage: str | None = None  # the last stage the worker announced
    returncode: int | None = None
    stderr_tail: str = ""
    seconds: float = 0.0  # start to end, as the parent saw it
    ready_s: float | None = None  # start to the worker's ``ready`` event (interpreter + imports)
    events: list[Event] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe_failure(self, timeout: float) -> str:
        """One line a user can read, e.g. 'did not finish within 20 s (at stage 'import')'."""
        where = f" (at stage '{self.stage}')" if self.stage else ""
        if self.status == "timeout":
            return f"did not finish within {timeout:g} s{where}; it was stopped"
        if self.status == "crashed":
            return f"crashed with {describe_returncode(self.returncode)}{where}"
        if self.status == "spawn-failed":
            return f"could not be started: {self.stderr_tail}"
        if self.status == "error" and self.error is not None:
            return str(self.error.get("message") or "reported an error") + where
        last = self.stderr_tail.strip().splitlines()[-1:] or ["no output"]
        return f"exited with code {self.returncode} without a result{where}: {last[0]}"


class WorkerProcess:
    """A started worker; ``wait`` follows its events until it ends or its deadline passes.

    Start several and wait for each later: their output is drained as it comes, so slow ones
    (a torch import) overlap with the rest.
    """

    def __init__(
        self,
        module: str,
        args: tuple[str, ...] = (),
        *,
        timeout: float,
        stdin: str | None = None,
        python: str | None = None,
        env: dict[str, str] | None = None,
        parse_line: LineParser = parse_json_line,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.module = module
        self.timeout = timeout
        self.parse_line = parse_line
        self.clock = clock
        self.started = clock()
        self.deadline = self.started + timeout
        self._lines: queue.Queue[str | None] = queue.Queue()
        # Closed in wait() (or at once when the start fails); a file, not a pipe, so a chatty
        # worker never blocks on a full stderr buffer.
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._spawn_error: str | None = None
        self._process: subprocess.Popen[str] | None = None
        isolate: dict[str, Any] = (
            {"start_new_session": True}
            if os.name == "posix"
            else {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        )
        try:
            self._process = subprocess.Popen(
                [python or sys.executable, "-m", module, *args],
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=self._stderr,
                text=True,
                encoding="utf-8",
                errors="replace",
                env=child_environment(env),
                **isolate,
            )
        except OSError as error:
            self._spawn_error = str(error)
            self._stderr.close()
            return
        threading.Thread(target=self._read_stdout, daemon=True).start()
        if stdin is not None:
            self._write_stdin(stdin)

    def _write_stdin(self, payload: str) -> None:
        assert self._process is not None and self._process.stdin is not None
        with contextlib.suppress(BrokenPipeError, OSError):  # a worker that died at once
            self._process.stdin.write(payload)
        with contextlib.suppress(BrokenPipeError, OSError):
            self._process.stdin.close()

    def _read_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def kill(self) -> None:
        """Stop the worker and anything it started."""
        if self._process is not None and self._process.poll() is None:
            kill_tree(self._process.pid)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=KILL_WAIT_S)

    def wait(self, on_event: EventHandler | None = None) -> WorkerOutcome:
        """Follow the worker's events (``on_event`` sees each, in this thread) until it ends;
        kill it at its deadline. Any exception here (Ctrl-C) kills the worker, then propagates."""
        if self._process is None:
            return WorkerOutcome("spawn-failed", stderr_tail=self._spawn_error or "")
        outcome = WorkerOutcome("no-result")
        timed_out = False
        try:
            while True:
                try:
                    line = self._lines.get(timeout=max(0.01, self.deadline - self.clock()))
                except queue.Empty:
                    timed_out = True
                    self.kill()
                    break
                if line is None:
                    break
                event = self.parse_line(line)
                if event is not None:
                    self._record(outcome, event)
                    if on_event is not None:
                        on_event(event)
            returncode = self._finish(timed_out)
        except BaseException:
            self.kill()
            self._stderr.close()
            raise
        outcome.returncode = returncode
        outcome.seconds = self.clock() - self.started
        outcome.stderr_tail = self._stderr_tail()
        outcome.status = self._status(outcome, timed_out)
        return outcome

    def collect(self) -> WorkerOutcome:
        """Wait without following events (the doctor reads the outcome only)."""
        return self.wait()

    def _record(self, outcome: WorkerOutcome, event: Event) -> None:
        outcome.events.append(event)
        kind = event.get("event")
        if kind == "ready" and outcome.ready_s is None:
            outcome.ready_s = self.clock() - self.started
        elif kind == "stage":
            outcome.stage = str(event.get("name"))
        elif kind == "result":
            payload = event.get("result")
            outcome.result = payload if isinstance(payload, dict) else {}
        elif kind == "error":
            outcome.error = event

    def _finish(self, timed_out: bool) -> int | None:
        """The exit code; a worker that closed stdout but lingers past its deadline is killed."""
        assert self._process is not None
        if not timed_out:
            try:
                self._process.wait(timeout=max(0.01, self.deadline - self.clock()))
            except subprocess.TimeoutExpired:
                self.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=KILL_WAIT_S)
        return self._process.returncode

    def _stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode("utf-8", errors="replace")
        except (OSError, ValueError):
            return ""
        finally:
            self._stderr.close()
        return "\n".join(text.strip().splitlines()[-lines:])

    @staticmethod
    def _status(outcome: WorkerOutcome, timed_out: bool) -> str:
        if timed_out:
            return "timeout"
        if outcome.result is not None and not outcome.result.get("partial"):
            return "ok"
        if outcome.error is not None:
            return "error"
        if outcome.returncode is not None and outcome.returncode < 0:
            return "crashed"
        return "no-result"


def run_worker(
    module: str,
    *args: str,
    timeout: float,
    stdin: str | None = None,
    python: str | None = None,
    on_event: EventHandler | None = None,
    parse_line: LineParser = parse_json_line,
    env: dict[str, str] | None = None,
) -> WorkerOutcome:
    """Start a worker and wait for it; ``env`` adds to the parent's environment."""
    worker = WorkerProcess(
        module, args, timeout=timeout, stdin=stdin, python=python, env=env, parse_line=parse_line
    )
    return worker.wait(on_event)
