"""Other processes on the CPU while a cell ran: the record, the verdict and the advice.

A CPU cell's threads need cores of their own; when other processes use them, every CPU
figure is inflated and the report must say so before anything else (docs/design.md,
"Phases of a cell"). The sampler that fills these records lives in ``gpubench.bench.cpuload``.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

# Other processes may use this much of the cores the cell's threads need before the cell is
# marked: below it, a desktop's background noise would flag every run.
SPARE_CORE_TOLERANCE = 0.25


@dataclass(frozen=True)
class CpuLoad:
    """CPU used by other processes before and while one cell ran, in cores (1.0 = one core)."""

    cores: int  # logical CPUs this process may run on
    threads: int  # threads the cell's work needs (torch threads on the CPU, 1 for a GPU's host)
    others_before_cores: float  # mean over the seconds just before the cell started
    others_during_cores: float  # mean over the cell
    samples: int  # how many intervals the "during" figure averages

    @property
    def free_cores(self) -> float:
        """Cores left to the cell while it ran."""
        return max(0.0, self.cores - self.others_during_cores)

    @property
    def contended(self) -> bool:
        """True when other processes used cores that the cell's threads needed."""
        spare = self.cores - self.threads
        return self.others_during_cores > spare + SPARE_CORE_TOLERANCE

    @property
    def suggested_threads(self) -> int:
        """The thread count that fits in the cores other processes left free (at least 1)."""
        return max(1, math.floor(self.free_cores + SPARE_CORE_TOLERANCE))

    def describe(self) -> str:
        """One clause with the figures: 'other processes used 1.9 of 2 cores (cell: 2 threads)'."""
        return (
            f"other processes used {self.others_during_cores:.1f} of {self.cores} cores "
            f"while it ran ({self.threads} thread{'s' if self.threads != 1 else ''} needed)"
        )


def rerun_command(command: list[str], threads: int) -> str:
    """The run's own command line with ``--threads`` set to ``threads``."""
    args = list(command)
    for index, arg in enumerate(args):
        if arg == "--threads" and index + 1 < len(args):
            args[index + 1] = str(threads)
            break
        if arg.startswith("--threads="):
            args[index] = f"--threads={threads}"
            break
    else:
        args += ["--threads", str(threads)]
    return shlex.join(args)


def busy_machine_lines(loads: dict[str, CpuLoad], command: list[str]) -> list[str]:
    """The lines that open the terminal output and report.md when cells were contended.

    ``loads`` maps cell ids to their CpuLoad; the advice names the exact command to rerun.
    """
    contended = {cell: load for cell, load in loads.items() if load.contended}
    if not contended:
        return []
    worst_cell, worst = max(contended.items(), key=lambda item: item[1].others_during_cores)
    names = ", ".join(sorted(contended))
    lines = [
        f"The CPU was busy: {worst.describe()} in {worst_cell}; the times of {names} are "
        "inflated and marked (!)."
    ]
    fewer = min(load.suggested_threads for load in contended.values())
    if fewer < worst.threads:
        lines.append(
            "Rerun when the machine is idle, or with the cores that are free: "
            f"`{rerun_command(command, fewer)}`"
        )
    else:
        lines.append(
            "Rerun when the machine is idle (stop the other CPU-bound processes first): "
            f"`{shlex.join(command)}`"
        )
    return lines
