"""Small-sample statistics for the ranges of the cost model (docs/design.md, "Cost model").

A range is a 90 % interval: where the next measurement of the same quantity is expected to
fall, given the samples a run takes. Block and batch spreads use Student's t for their
count; the ratios seen between workers (setups, loop paces) use Student's t on their
logarithms.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

# Student's t, 0.95 quantile (two-sided 90 %), by degrees of freedom; standard table values
# (e.g. NIST/SEMATECH e-Handbook of Statistical Methods, table 1.3.6.7.2).
T_QUANTILE_95 = (
    (1, 6.314), (2, 2.920), (3, 2.353), (4, 2.132), (5, 2.015), (6, 1.943), (7, 1.895),
    (8, 1.860), (9, 1.833), (10, 1.812), (12, 1.782), (15, 1.753), (20, 1.725), (30, 1.697),
    (60, 1.671), (120, 1.658),
)  # fmt: skip
T_QUANTILE_INFINITE = 1.645


def t_quantile(dof: int) -> float:
    """The t quantile for ``dof`` degrees of freedom (the next smaller tabulated one: wider)."""
    if dof < 1:
        raise ValueError("a prediction interval needs at least two samples")
    if dof >= 1000:
        return T_QUANTILE_INFINITE
    return [value for table_dof, value in T_QUANTILE_95 if table_dof <= dof][-1]


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values)


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    center = mean(values)
    return math.sqrt(sum((v - center) ** 2 for v in values) / (len(values) - 1))


def semi_deviations(values: Sequence[float]) -> tuple[float, float]:
    """(below, above): the spread of the values under and over their mean, each scaled to
    a standard deviation; equal for symmetric data, apart when slow outliers skew it."""
    if len(values) < 2:
        return 0.0, 0.0
    center = mean(values)
    below = sum((v - center) ** 2 for v in values if v < center)
    above = sum((v - center) ** 2 for v in values if v > center)
    scale = 2.0 / (len(values) - 1)
    return math.sqrt(below * scale), math.sqrt(above * scale)


def ratio_interval(ratios: Sequence[float], center: float = 1.0) -> tuple[float, float]:
    """(down, up) relative reach, about ``center``, of where the next ratio like these falls.

    A Student-t prediction interval on the ratios' logarithms (paces and setups scale: the
    interval never reaches zero, and with two or three ratios t is large, as few samples
    warrant): log-mean ± t(n - 1) · s · sqrt(1 + 1/n). Fewer than two ratios: (0, 0).
    """
    if len(ratios) < 2 or min(ratios) <= 0:
        return 0.0, 0.0
    logs = [math.log(ratio) for ratio in ratios]
    center_log = mean(logs)
    half = t_quantile(len(logs) - 1) * stdev(logs) * math.sqrt(1 + 1 / len(logs))
    low = math.exp(center_log - half) / center
    high = math.exp(center_log + half) / center
    return max(0.0, 1 - low), max(0.0, high - 1)
