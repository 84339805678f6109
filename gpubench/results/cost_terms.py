"""The fitted cost terms of one cell and the time they predict: T(n) = F + n*s + E(n)*e.

A record of its own so that a cell can carry its terms (``CellResult.cost``) without the
run model importing the fitting code. The model and its assumptions: docs/design.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

# Run-to-run drift seen between a phases worker and a full-run worker on the same machine
# is a few percent even when the step IQR is tiny; the range never claims less than this.
MIN_RELATIVE_RANGE = 0.05


def evaluation_count(iters: int, eval_interval: int) -> int:
    """E(n): how often the lecture loop evaluates in ``iters`` steps (step 0, every
    ``eval_interval``, and the last step)."""
    if iters <= 0:
        return 0
    regular = math.ceil(iters / eval_interval)  # steps 0, k, 2k, ... below iters
    last_is_extra = (iters - 1) % eval_interval != 0
    return regular + (1 if last_is_extra else 0)


@dataclass(frozen=True)
class CostModel:
    """Fitted costs of one cell, in seconds."""

    fixed_s: float  # F: startup, device init, data, build, compile, first steps' excess
    step_s: float  # s: median steady step
    step_low_s: float  # first quartile of the steady step
    step_high_s: float  # third quartile of the steady step
    eval_s: float  # e: one evaluation (eval_iters batches on train and on val)
    eval_interval: int

    def evaluations(self, iters: int, protocol: str) -> int:
        return evaluation_count(iters, self.eval_interval) if protocol == "lecture" else 0

    def predict(self, iters: int, protocol: str = "lecture") -> float:
        return self.fixed_s + iters * self.step_s + self.evaluations(iters, protocol) * self.eval_s

    def predict_range(self, iters: int, protocol: str = "lecture") -> tuple[float, float]:
        """Low/high from the step time's quartiles, never narrower than MIN_RELATIVE_RANGE."""
        evals = self.evaluations(iters, protocol) * self.eval_s
        low = self.fixed_s + iters * self.step_low_s + evals
        high = self.fixed_s + iters * self.step_high_s + evals
        center = self.predict(iters, protocol)
        return (
            min(low, center * (1 - MIN_RELATIVE_RANGE)),
            max(high, center * (1 + MIN_RELATIVE_RANGE)),
        )

    def per_step_s(self, protocol: str) -> float:
        """Asymptotic cost of one more step, the evaluation share included."""
        if protocol == "lecture":
            return self.step_s + self.eval_s / self.eval_interval
        return self.step_s

    def constant_s(self, protocol: str) -> float:
        """Asymptotic intercept: fixed costs plus, for the lecture loop, the final evaluation."""
        return self.fixed_s + (self.eval_s if protocol == "lecture" else 0.0)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CostModel:
        """Read the stored terms; keys added by later versions are ignored."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})
