"""Run a doctor worker (``python -m gpubench.doctor.<worker>``) in its own process, with a timeout.

Importing torch, initialising CUDA and running kernels can hang or kill the process; doing it in
a child keeps the doctor alive and its own process free of CUDA. Workers start at once and are
collected later, so the slow ones (torch import) overlap with the rest of the probe. The process
handling is gpubench.runner's, shared with the bench; this module adds the doctor's line
protocol (gpubench.doctor.protocol).
"""

from __future__ import annotations

import json

from gpubench.doctor.protocol import RESULT_PREFIX, STAGE_PREFIX
from gpubench.runner import (
    PACKAGE_ROOT,
    Event,
    WorkerOutcome,
    WorkerProcess,
    child_environment,
)

__all__ = [
    "PACKAGE_ROOT", "Worker", "WorkerOutcome", "child_environment", "parse_doctor_line",
    "run_worker",
]  # fmt: skip


def parse_doctor_line(line: str) -> Event | None:
    """``GPUBENCH-STAGE name`` and ``GPUBENCH-RESULT {json}`` as runner events; other lines
    (libraries print their own) are ignored."""
    if line.startswith(STAGE_PREFIX):
        return {"event": "stage", "name": line[len(STAGE_PREFIX) :].strip()}
    if line.startswith(RESULT_PREFIX):
        try:
            parsed = json.loads(line[len(RESULT_PREFIX) :])
        except ValueError:
            return None
        return {"event": "result", "result": parsed} if isinstance(parsed, dict) else None
    return None


class Worker(WorkerProcess):
    """A started doctor worker; ``collect`` waits for it until its own deadline."""

    def __init__(
        self,
        module: str,
        args: tuple[str, ...] = (),
        *,
        timeout: float,
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(
            module, args, timeout=timeout, python=python, env=env, parse_line=parse_doctor_line
        )


def run_worker(module: str, *args: str, timeout: float, python: str | None = None) -> WorkerOutcome:
    """Start a worker and wait for it."""
    return Worker(module, args, timeout=timeout, python=python).collect()
