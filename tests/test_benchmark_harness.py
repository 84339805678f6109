"""The benchmark harness alternates which arm runs first (ABBA), so neither arm owns a slot."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

HARNESS = Path(__file__).resolve().parents[1] / "benchmarks" / "harness.py"


def load_harness():
    spec = importlib.util.spec_from_file_location("bench_harness", HARNESS)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_interleave_alternates_the_first_arm_each_round():
    harness = load_harness()
    calls: list[str] = []

    def arm(name: str):
        def run() -> float:
            calls.append(name)
            return 1.0

        return run

    times = harness.interleave({"a": arm("a"), "b": arm("b")}, repeats=4, warmup=0)
    assert calls == ["a", "b", "b", "a", "a", "b", "b", "a"]
    assert times == {"a": [1.0] * 4, "b": [1.0] * 4}


def test_paired_ratios_stay_paired_by_round_whatever_the_order():
    harness = load_harness()
    values = iter([1.0, 2.0, 4.0, 2.0])  # round 0: a=1, b=2; round 1 (reversed): b=4, a=2
    times = harness.interleave(
        {"a": lambda: next(values), "b": lambda: next(values)}, repeats=2, warmup=0
    )
    assert times == {"a": [1.0, 2.0], "b": [2.0, 4.0]}
