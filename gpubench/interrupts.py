"""SIGTERM handled like Ctrl-C: a CI cancellation, ``timeout`` or a batch scheduler's
preemption stops ``run`` and ``train`` as cleanly as a keyboard does (docs/design.md,
"Worker protocol"). The commands catch ``KeyboardInterrupt``; ``Terminated`` is one, so
every cleanup written for Ctrl-C runs for SIGTERM too, and the exit code tells them apart.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

EXIT_SIGINT = 130  # 128 + SIGINT, the shell's convention
EXIT_SIGTERM = 143  # 128 + SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def exit_code(stop: BaseException | None) -> int:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return EXIT_SIGTERM if isinstance(stop, Terminated) else EXIT_SIGINT


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Terminated`` in the main thread (POSIX; elsewhere,
    and outside the main thread, nothing changes)."""
    sigterm = getattr(signal, "SIGTERM", None)
    try:
        previous = signal.signal(sigterm, _raise_terminated) if sigterm is not None else None
    except ValueError:  # not the main thread
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.signal(sigterm, previous)  # type: ignore[arg-type]
