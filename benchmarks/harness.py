"""Side-by-side timing: arms measured in one process, interleaved A, B, B, A, ... (ABBA), so
that a slow patch of the machine (these VMs vary by 2x from minute to minute) hits every arm alike.

Each arm times blocks of training steps with one device sync per block, the way gpubench's
worker times its steady state. A comparison reports each arm's median and IQR per step and,
per round, the ratio of an arm to the baseline; the median of those paired ratios is the
headline, with their spread.
"""

from __future__ import annotations

import gc
import math
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Clock = time.perf_counter
TARGET_BLOCK_S = 1.0  # a block long enough that clock and sync costs vanish in it


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(q1, median, q3); a single value is all three."""
    if len(values) < 2:
        return values[0], values[0], values[0]
    q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, median, q3


def time_block(step: Callable[[], Any], steps: int, sync: Callable[[], None]) -> float:
    """Seconds per step over ``steps`` steps: sync, read the clock, step, sync, read it again."""
    sync()
    start = Clock()
    for _ in range(steps):
        step()
    sync()
    return (Clock() - start) / steps


def steps_per_block(step: Callable[[], Any], sync: Callable[[], None]) -> int:
    """How many steps make a block of at least TARGET_BLOCK_S (timed on one warm-up step)."""
    seconds = time_block(step, 1, sync)
    return max(1, math.ceil(TARGET_BLOCK_S / max(seconds, 1e-9)))


@dataclass
class Comparison:
    """Per-step seconds of each arm, one value per round, and how to read their ratio."""

    title: str
    setup: str
    baseline: str
    arms: dict[str, list[float]]
    steps_per_block: int
    ratio_label: str  # e.g. "worker / plain"
    invert: bool = False  # True: report baseline / arm (a speed-up), else arm / baseline
    target: tuple[str, float] | None = None  # ("<=", 1.02) or (">=", 1.3)
    notes: list[str] = field(default_factory=list)

    def ratios(self, arm: str) -> list[float]:
        """Paired ratios, one per round."""
        pairs = zip(self.arms[arm], self.arms[self.baseline], strict=True)
        return [(base / value) if self.invert else (value / base) for value, base in pairs]

    @property
    def compared_arm(self) -> str:
        return next(name for name in self.arms if name != self.baseline)

    @property
    def headline(self) -> float:
        return statistics.median(self.ratios(self.compared_arm))

    @property
    def target_met(self) -> bool | None:
        if self.target is None:
            return None
        op, value = self.target
        return self.headline <= value if op == "<=" else self.headline >= value

    def as_dict(self) -> dict[str, Any]:
        ratios = self.ratios(self.compared_arm)
        q1, median, q3 = quartiles(ratios)
        return {
            "title": self.title,
            "setup": self.setup,
            "ratio": self.ratio_label,
            "median": median,
            "q1": q1,
            "q3": q3,
            "min": min(ratios),
            "max": max(ratios),
            "target": f"{self.target[0]} {self.target[1]}" if self.target else None,
            "target_met": self.target_met,
            "steps_per_block": self.steps_per_block,
            "rounds": len(ratios),
            "seconds_per_step": self.arms,
            "notes": self.notes,
        }


def round_order(names: list[str], round_index: int) -> list[str]:
    """ABBA: even rounds run the arms in order, odd rounds in reverse, so that neither arm
    always runs first (warm caches, turbo budget and a drifting machine favour one slot)."""
    return names if round_index % 2 == 0 else names[::-1]


def interleave(
    arms: dict[str, Callable[[], float]], repeats: int, *, warmup: int = 1
) -> dict[str, list[float]]:
    """Run every arm once per round, ``repeats`` rounds after ``warmup`` rounds, in ABBA order."""
    names = list(arms)
    for index in range(warmup):
        for name in round_order(names, index):
            arms[name]()
    times: dict[str, list[float]] = {name: [] for name in arms}
    for index in range(repeats):
        for name in round_order(names, index):
            times[name].append(arms[name]())
    return times


def format_comparison(comparison: Comparison) -> str:
    """The lines a benchmark prints: setup, each arm, the paired ratio and the target."""
    lines = [f"{comparison.title}", f"  setup: {comparison.setup}"]
    for name, values in comparison.arms.items():
        q1, median, q3 = quartiles(values)
        lines.append(
            f"  {name:<28} median {median * 1e3:9.1f} ms/step   IQR {q1 * 1e3:.1f}-{q3 * 1e3:.1f}"
        )
    summary = comparison.as_dict()
    verdict = ""
    if comparison.target is not None:
        verdict = f"   target {summary['target']}: {'met' if summary['target_met'] else 'NOT met'}"
    lines.append(
        f"  ratio {comparison.ratio_label}: median {summary['median']:.3f}"
        f"  (IQR {summary['q1']:.3f}-{summary['q3']:.3f}, range {summary['min']:.3f}-"
        f"{summary['max']:.3f}; {summary['rounds']} rounds of {comparison.steps_per_block}"
        f" step(s) per arm){verdict}"
    )
    lines.extend(f"  note: {note}" for note in comparison.notes)
    return "\n".join(lines)


def release_memory() -> None:
    """Drop the previous benchmark's models before the next one builds its own."""
    gc.collect()


def machine_summary() -> dict[str, Any]:
    """What a reader needs to compare figures across machines."""
    import psutil
    import torch

    cpu_model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            lines = [line for line in handle if line.startswith("model name")]
        names = [line.split(":", 1)[1].strip() for line in lines]
        cpu_model = names[0] if names else cpu_model
    except OSError:
        pass
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    avx512_bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)()
    summary = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu": cpu_model,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "avx512_bf16": avx512_bf16,
        "amx": amx,
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cpus": psutil.cpu_count(logical=True),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }
    return summary
