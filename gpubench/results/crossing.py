"""Where two cells' exact totals T(n) cross: an integer search, evaluations included.

E(n) is a step function, so the straight line through the per-step costs can miss the
crossing by far in an evaluation-heavy loop (docs/design.md, "Cost model"). Outside a window
around the straight line's crossing the evaluations cannot change the sign of the gap, so
only that window is scanned, step by step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from gpubench.results.cost_terms import CostModel

MAX_SCAN = 20_000_000  # iterations scanned at most; beyond, the straight line is used
CHUNK = 1_000_000


@dataclass(frozen=True)
class Crossing:
    """kind: from-first | at | until | never; ``iters``: the first count from which the
    device stays cheaper (at), or the last count at which it is still cheaper (until)."""

    kind: str
    iters: int | None


def _gaps(baseline: CostModel, device: CostModel, start: int, stop: int, protocol: str) -> Any:
    """The gap for n in [start, stop), vectorised (numpy imported here: it is heavy)."""
    import numpy

    n = numpy.arange(start, stop, dtype=numpy.int64)

    def total(model: CostModel) -> Any:
        value = model.fixed_s + n * model.step_s
        if protocol == "lecture":
            k = model.eval_interval
            evals = -((-n) // k) + ((n - 1) % k != 0)
            value = value + evals * model.eval_s
        return value

    return total(device) - total(baseline)


def find_crossing(baseline: CostModel, device: CostModel, protocol: str) -> Crossing:
    """Scan the exact totals of both cells from n = 1 to where the sign of the gap is fixed."""
    slope = device.per_step_s(protocol) - baseline.per_step_s(protocol)
    intercept = device.constant_s(protocol) - baseline.constant_s(protocol)
    # |gap - straight line| <= e_dev + e_base: E(n) is within one evaluation of n/k + 1
    wobble = (device.eval_s + baseline.eval_s) * (protocol == "lecture") * 2 + 1e-12
    if slope != 0:
        horizon = math.ceil((abs(intercept) + wobble) / abs(slope)) + 2
    else:
        horizon = 4 * max(device.eval_interval, baseline.eval_interval) + 2
    if horizon > MAX_SCAN:
        return _straight_line(slope, intercept)
    first = last = last_not = None  # first and last cheaper n, the last n not cheaper
    for start in range(1, horizon + 1, CHUNK):
        stop = min(horizon + 1, start + CHUNK)
        gaps = _gaps(baseline, device, start, stop, protocol)
        wins = (gaps < 0).nonzero()[0]
        losses = (gaps >= 0).nonzero()[0]
        if len(wins):
            first = first if first is not None else start + int(wins[0])
            last = start + int(wins[-1])
        if len(losses):
            last_not = start + int(losses[-1])
    wins_forever = slope < 0 or (slope == 0 and last == horizon)
    if wins_forever:
        if last_not is None:
            return Crossing("from-first", None)
        return Crossing("at", last_not + 1)
    if first is None:
        return Crossing("never", None)
    return Crossing("until", last)


def _straight_line(slope: float, intercept: float) -> Crossing:
    """Far beyond any scan: the evaluations' steps no longer matter against the distance."""
    if slope < 0:
        if intercept < 0:
            return Crossing("from-first", None)
        return Crossing("at", math.floor(intercept / -slope) + 1)
    if intercept < 0:
        return Crossing("until", math.ceil(-intercept / slope) - 1)
    return Crossing("never", None)
