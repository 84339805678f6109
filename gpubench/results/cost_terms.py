"""The fitted cost terms of one cell and the time they predict: T(n) = F + n*s + E(n)*e.

A record of its own so that a cell can carry its terms (``CellResult.cost``) without the
run model importing the fitting code. The model and its assumptions: docs/design.md.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

from gpubench.results.uncertainty import t_quantile

# Names of the range terms, as the report says them (docs/design.md, "Cost model").
FIXED_TERM = "fixed costs"
STEP_TERM = "step spread"
EVAL_SCALING_TERM = "evaluation scaling"
EVAL_SPREAD_TERM = "evaluation spread"
DRIFT_TERM = "drift"


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
    """Fitted costs of one cell, in seconds, and the measured spread of each.

    The first six fields are the terms of T(n); the rest say how far each may be off
    (defaults: not measured, so terms built by hand or stored by older versions still load).
    """

    fixed_s: float  # F: startup, device init, data, build, compile, first steps' excess
    step_s: float  # s: mean steady step (a total is a sum: the mean, not the median)
    step_low_s: float  # first quartile of the steady step (per-step block means)
    step_high_s: float  # third quartile of the steady step
    eval_s: float  # e: one evaluation (eval_iters batches on train and on val)
    eval_interval: int
    # F: relative reach of the next worker's fixed costs below/above F (90 % interval)
    fixed_low_rel: float = 0.0
    fixed_high_rel: float = 0.0
    fixed_source: str = ""
    # s: per-step block means, their count and spread under/over the mean (semi-deviations)
    step_blocks: int = 0
    steps_per_block: int = 1
    step_sd_low_s: float = 0.0
    step_sd_high_s: float = 0.0
    # e: batch pairs per evaluation, how many were timed, and the spread of one pair
    eval_pairs: int = 0
    eval_pairs_timed: int = 0
    eval_pair_sd_s: float = 0.0
    eval_dof: int = 0  # degrees of freedom of eval_pair_sd_s
    # drift: relative reach of the loop (steps and evaluations) below/above the model
    drift_low_rel: float = 0.0
    drift_high_rel: float = 0.0
    drift_source: str = ""

    def evaluations(self, iters: int, protocol: str) -> int:
        return evaluation_count(iters, self.eval_interval) if protocol == "lecture" else 0

    def predict(self, iters: int, protocol: str = "lecture") -> float:
        return self.fixed_s + iters * self.step_s + self.evaluations(iters, protocol) * self.eval_s

    def range_terms(self, iters: int, protocol: str = "lecture") -> dict[str, tuple[float, float]]:
        """Each term's reach (below, above) the predicted total of ``iters`` steps, in
        seconds; independent terms, combined in quadrature by ``predict_range``."""
        evals = self.evaluations(iters, protocol)
        fixed = (self.fixed_s * self.fixed_low_rel, self.fixed_s * self.fixed_high_rel)
        terms = {FIXED_TERM: fixed}
        terms[STEP_TERM] = self._step_term(iters)
        if evals and self.eval_pairs and self.eval_pair_sd_s > 0 and self.eval_dof > 0:
            # the untimed pairs' sum is known only through the timed ones' mean (shared by
            # every evaluation); each evaluation also varies on its own
            untimed = self.eval_pairs - self.eval_pairs_timed
            variance = (evals * untimed) ** 2 / max(1, self.eval_pairs_timed)
            variance += evals * self.eval_pairs
            half = t_quantile(self.eval_dof) * self.eval_pair_sd_s * math.sqrt(variance)
            name = EVAL_SCALING_TERM if untimed > 0 else EVAL_SPREAD_TERM
            terms[name] = (half, half)
        loop = iters * self.step_s + evals * self.eval_s
        terms[DRIFT_TERM] = (loop * self.drift_low_rel, loop * self.drift_high_rel)
        return terms

    def _step_term(self, iters: int) -> tuple[float, float]:
        """The mean of ``iters`` new steps against the measured mean: the mean's own error
        (1/B) and the new steps' spread (steps_per_block/iters), from the block means."""
        if iters <= 0:
            return 0.0, 0.0
        if self.step_blocks < 2:  # no blocks recorded: the quartiles are all there is
            return (
                iters * max(0.0, self.step_s - self.step_low_s),
                iters * max(0.0, self.step_high_s - self.step_s),
            )
        scale = iters * t_quantile(self.step_blocks - 1)
        scale *= math.sqrt(1 / self.step_blocks + self.steps_per_block / iters)
        return scale * self.step_sd_low_s, scale * self.step_sd_high_s

    def predict_range(self, iters: int, protocol: str = "lecture") -> tuple[float, float]:
        """Low/high of the total: every measured term, combined in quadrature on each side."""
        terms = self.range_terms(iters, protocol).values()
        below = math.sqrt(sum(low**2 for low, _ in terms))
        above = math.sqrt(sum(high**2 for _, high in terms))
        center = self.predict(iters, protocol)
        return max(0.0, center - below), center + above

    def dominant_term(self, iters: int, protocol: str = "lecture") -> str | None:
        """The term that reaches furthest (None when no term was measured)."""
        reach = {name: max(pair) for name, pair in self.range_terms(iters, protocol).items()}
        name = max(reach, key=lambda key: reach[key])
        return name if reach[name] > 0 else None

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
