"""Samples how much CPU other processes use while the sweep runs (psutil).

A background thread reads the machine's busy CPU time and this process tree's own CPU time
every ``interval_s``; the difference is what other processes used. The engine asks for a
cell's figures with ``load_between(start, end)`` (docs/design.md, "A busy machine").
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from gpubench.results.cpuload import CpuLoad

BEFORE_WINDOW_S = 2.0  # "before a cell": the samples of the last seconds before it started


class CpuSource(Protocol):
    """What the sampler reads; psutil in production, a fake in tests."""

    def busy_seconds(self) -> float:
        """CPU seconds the whole machine spent busy so far (all cores, steal included)."""

    def own_seconds(self) -> float:
        """CPU seconds this process and its children spent so far (dead children kept)."""


class PsutilSource:
    """Machine-wide busy time and this process tree's time, from psutil."""

    def __init__(self) -> None:
        import psutil

        self._psutil = psutil
        self._me = psutil.Process(os.getpid())
        self._children: dict[int, Any] = {}  # pid -> Process, kept so their times are cached
        self._last: dict[int, float] = {}  # pid -> last CPU seconds seen
        self._dead_s = 0.0  # seconds of children that have exited since

    def busy_seconds(self) -> float:
        per_cpu = self._psutil.cpu_times(percpu=True)
        mine = allowed_cpus()  # in a cpuset container, only the CPUs this process may use
        return sum(_busy(times) for index, times in enumerate(per_cpu) if index in mine)

    def own_seconds(self) -> float:
        psutil = self._psutil
        seen: dict[int, float] = {}
        try:
            processes = [self._me, *self._me.children(recursive=True)]
        except psutil.Error:
            processes = [self._me]
        for process in processes:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            seen[process.pid] = times.user + times.system
        for pid, seconds in self._last.items():
            if pid not in seen:  # exited since the last read: keep what it had used
                self._dead_s += seconds
        self._last = seen
        return self._dead_s + sum(seen.values())


@dataclass
class Sample:
    at: float  # monotonic seconds at the end of the interval
    others_cores: float  # cores other processes used during the interval


class CpuLoadSampler:
    """A daemon thread that keeps a trace of other processes' CPU use; a context manager."""

    def __init__(
        self,
        *,
        source: CpuSource | None = None,
        interval_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        cores: int | None = None,
    ):
        self.source = source if source is not None else PsutilSource()
        self.interval_s = interval_s
        self.clock = clock
        self.cores = cores or usable_cores()
        self.trace: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._previous = (self.clock(), self.source.busy_seconds(), self.source.own_seconds())

    def sample(self) -> Sample:
        """Read the source once and append the interval since the last read."""
        with self._lock:  # the engine forces a sample at a cell's end while the thread runs
            now, busy, own = self.clock(), self.source.busy_seconds(), self.source.own_seconds()
            then, busy_before, own_before = self._previous
            self._previous = (now, busy, own)
            wall = max(now - then, 1e-9)
            others = max(0.0, (busy - busy_before) - (own - own_before)) / wall
            sample = Sample(at=now, others_cores=min(others, float(self.cores)))
            self.trace.append(sample)
        return sample

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample()

    def __enter__(self) -> CpuLoadSampler:
        self._thread = threading.Thread(target=self._loop, name="cpu-load", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2 * self.interval_s)

    def load_between(self, start: float, end: float, *, threads: int) -> CpuLoad:
        """Other processes' use before ``start`` and between ``start`` and ``end``."""
        with self._lock:
            trace = list(self.trace)
        before = [s.others_cores for s in trace if start - BEFORE_WINDOW_S < s.at <= start]
        during = [s.others_cores for s in trace if start < s.at <= end]
        return CpuLoad(
            cores=self.cores,
            threads=threads,
            others_before_cores=_mean(before),
            others_during_cores=_mean(during),
            samples=len(during),
        )


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _busy(times: Any) -> float:
    """Busy seconds of one CPU: everything but idle and I/O wait (steal counts as busy)."""
    idle = getattr(times, "idle", 0.0) + getattr(times, "iowait", 0.0)
    # guest time is already inside user time on Linux; do not count it twice
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    return sum(times) - guest - idle


def allowed_cpus() -> set[int]:
    """Indices of the logical CPUs this process may run on (its affinity where the OS has one)."""
    sched_getaffinity = getattr(os, "sched_getaffinity", None)
    if sched_getaffinity is not None:
        return set(sched_getaffinity(0))
    return set(range(os.cpu_count() or 1))


def usable_cores() -> int:
    """How many logical CPUs this process may run on."""
    return len(allowed_cpus())
