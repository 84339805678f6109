"""How numbers read in every output: durations, counts, ratios, ranges, FLOPs, bytes, times.

One place, so that the sentences, the tables, the plot and ``compare`` say the same number the
same way. Pure functions of plain values; no results, no torch.
"""

from __future__ import annotations

import math
from datetime import datetime

from gpubench.results.model import Estimate

NOT_MEASURED = "—"


def format_duration(seconds: float | None) -> str:
    """Seconds as a person says them: "850 ms", "21.0 s", "3.2 min", "1.9 h", "5.8 days"."""
    if seconds is None or math.isnan(seconds):
        return NOT_MEASURED
    if seconds < 0:
        return "-" + format_duration(-seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 1e-4:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        ms = seconds * 1e3
        text = f"{ms:.2f}" if ms < 10 else f"{ms:.1f}" if ms < 100 else f"{ms:.0f}"
        return f"{text} ms" if float(text) < 1000 else "1.0 s"
    for unit, size, limit in (("s", 1, 60), ("min", 60, 60), ("h", 3600, 48)):
        value = seconds / size
        decimals = 0 if unit == "h" and value >= 10 else 1
        if round(value, decimals) < limit:
            return f"{value:.{decimals}f} {unit}"
    return f"{seconds / 86400:.1f} days"


def format_count(count: float) -> str:
    """Counts with thousands separators: "5,000"."""
    return f"{round(count):,}"


def round_significant(value: float, digits: int = 2) -> float:
    """8,473 -> 8,500: a crossover is an estimate, so it is never shown to the last step."""
    if value <= 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(value)))


def format_ratio(ratio: float | None) -> str:
    """A speedup or slowdown factor: "450×", "44×", "9.8×", "0.81×"."""
    if ratio is None or not math.isfinite(ratio):
        return NOT_MEASURED
    if ratio >= 99.5:
        return f"{ratio:,.0f}×"
    if ratio >= 9.95:
        return f"{ratio:.0f}×"
    if ratio >= 1.095:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×"  # near 1, one decimal would read "1.0× slower"


def format_estimate(estimate: Estimate | None, *, with_range: bool = True) -> str:
    """A time to train: plain when measured, "~1.9 h (±3 %)" when extrapolated."""
    if estimate is None:
        return NOT_MEASURED
    text = format_duration(estimate.seconds)
    if estimate.measured:
        return text
    if not with_range:
        return f"~{text}"
    return f"~{text} ({range_text(estimate)})"


def range_text(estimate: Estimate) -> str:
    """ "±5 %" when the range is symmetric, "−5/+21 %" when it is not (a busy machine's slow
    blocks and a drift measured one way make it lean); "<±1 %" below one percent."""
    return relative_range_text(estimate.seconds, estimate.low_s, estimate.high_s)


def relative_range_text(center: float, low: float, high: float) -> str:
    if center <= 0:
        return "±0 %"
    below = (center - low) / center * 100
    above = (high - center) / center * 100
    if below < 0.5 and above < 0.5:
        return "<±1 %"
    below_text, above_text = _percent(below), _percent(above)
    return f"±{above_text} %" if below_text == above_text else f"−{below_text}/+{above_text} %"


def _percent(value: float) -> str:
    return f"{value:.1f}" if value < 9.95 else f"{value:.0f}"


def prediction_range_text(estimate: Estimate) -> str:
    """ "3.05–3.66 s": the range the model predicted for a count ("" where none was stored)."""
    if estimate.predicted_low_s is None or estimate.predicted_high_s is None:
        return ""
    return (
        f"{format_duration(estimate.predicted_low_s)}–{format_duration(estimate.predicted_high_s)}"
    )


def crossover_phrase(kind: str, iters: float | None, verb: str = "wins") -> str:
    """The verb phrase of a crossover: "wins from the first iteration", "wins from ~8,500
    iterations", "wins until 1,234 iterations" (cheaper up front, dearer per step), "never
    wins"; "" for a kind without a verdict. The chart says "faster" where prose says "wins"."""
    if kind == "from-first":
        return f"{verb} from the first iteration"
    if kind == "at" and iters is not None:
        return f"{verb} from ~{format_count(round_significant(iters))} iterations"
    if kind == "until" and iters is not None:
        return f"{verb} until {format_count(iters)} iterations"
    if kind == "never":
        return f"never {verb}"
    return ""


def format_flops(flops: float | None, per_second: bool = False) -> str:
    """FLOP counts in engineering units: "1.1 TFLOP", "7.4 TFLOP/s"."""
    if flops is None:
        return NOT_MEASURED
    unit = "FLOP/s" if per_second else "FLOP"
    for prefix, size in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if flops >= size:
            return f"{flops / size:.3g} {prefix}{unit}"
    return f"{flops:.3g} {unit}"


def format_bytes(count: float | None) -> str:
    if count is None:
        return NOT_MEASURED
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def format_timestamp(created_utc: str) -> str:
    """ISO timestamp to minutes, "2026-11-25T10:02Z"; anything unparsable as it is."""
    try:
        moment = datetime.fromisoformat(created_utc.replace("Z", "+00:00"))
    except ValueError:
        return created_utc
    return moment.strftime("%Y-%m-%dT%H:%MZ")
