"""Run a doctor worker (``python -m gpubench.doctor.<worker>``) in its own process, with a timeout.

Importing torch, initialising CUDA and running kernels can hang or kill the process; doing it in
a child keeps the doctor alive and its own process free of CUDA. Workers start at once and are
collected later, so the slow ones (torch import) overlap with the rest of the probe. The process
handling is gpubench.runner's, shared with the bench; this module adds the doctor's line
protocol (gpubench.doctor.protocol).
"""

from __future__ import annotations

from gpubench.doctor.protocol import parse_doctor_line
from gpubench.runner import WorkerOutcome, WorkerProcess

__all__ = ["Worker", "WorkerOutcome"]


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
