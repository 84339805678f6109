"""Benchmark 4: how the reference GPT step scales with CPU threads.

One session; arm "all cores" runs with ``torch.set_num_threads(physical cores)``, arm
"1 thread" with one, switched before each block. The ratio 1 thread / all cores is the
speed-up threads buy; divided by the core count it is the parallel efficiency.
"""

from __future__ import annotations

import psutil
import torch
from context import BenchContext
from harness import Comparison, interleave, steps_per_block, time_block


def run(ctx: BenchContext) -> Comparison:
    cores = psutil.cpu_count(logical=False) or 1
    session = ctx.session("reference")
    steps = steps_per_block(session.step, session.sync)

    def with_threads(count: int) -> float:
        torch.set_num_threads(count)
        try:
            return time_block(session.step, steps, session.sync)
        finally:
            torch.set_num_threads(ctx.threads)

    times = interleave(
        {
            f"{cores} threads (all cores)": lambda: with_threads(cores),
            "1 thread": lambda: with_threads(1),
        },
        ctx.repeats,
    )
    comparison = Comparison(
        title="[4] CPU thread scaling of the reference GPT step",
        setup=ctx.label.split(",")[0] + f", {cores} physical cores",
        baseline=f"{cores} threads (all cores)",
        arms=times,
        steps_per_block=steps,
        ratio_label=f"1 thread / {cores} threads (speed-up)",
    )
    comparison.notes.append(
        f"parallel efficiency {comparison.headline / cores:.0%} of {cores} cores"
    )
    return comparison
