"""Why a step costs what it does: each cell's regime from its op profile, in measured figures.

A cell's profile (``CellResult.profile``, an ``OpProfile`` record taken after the timed
phases on the device that ran them) says how many ops a step runs, what each costs on the
host, and how its time splits between matmuls, attention, elementwise ops, the optimizer and
copies. ``classify_regime`` (docs/predict.md, "The regime of a cell") turns that into
overhead-, memory- or compute-bound with the figures behind it; this module only words it.
Cells measured before profiling existed say "not profiled", never a guess; DDP cells are not
profiled by design (their step is read over world sizes in the Scaling section,
docs/distributed.md) and say so.
"""

from __future__ import annotations

from gpubench.report.queries import device_label
from gpubench.results.model import CellResult, RunResults
from gpubench.results.profile import OpProfile, classify_regime

# How the step's shares are named, in the order they are listed (OpProfile categories).
SHARE_NAMES = (
    ("matmul", "matmul"),
    ("attention", "attention"),
    ("elementwise", "elementwise"),
    ("optimizer", "optimizer"),
    ("copy", "copies"),
    ("other", "other (views, framework)"),
)
NOT_PROFILED = "not profiled (measured before op profiles were recorded)"
NOT_PROFILED_DDP = "not profiled (DDP cells are not, by design: see Scaling over ranks)"


def has_profiles(results: RunResults) -> bool:
    return any(cell.profile for cell in results.cells)


def cell_label(cell: CellResult, results: RunResults) -> str:
    """ "bigram, batch 32" — plus the variant and device where the run has several."""
    key = cell.key
    parts = [key.model, f"batch {key.batch_size}"]
    if len(set(results.settings.variants or [])) > 1 or key.variant != "reference":
        parts.append(key.variant)
    several = len({c.key.device for c in results.cells}) > 1 or not key.device.startswith("cpu")
    if several or key.distributed:  # "cpu ×2 (weak)" beside the single-device "gpt, batch 64"
        parts.append(device_label(cell, results))
    return ", ".join(parts)


def shares_text(profile: OpProfile) -> str:
    """ "matmul 41 %, attention 12 %, ..." of the profiled op time; empty categories left out."""
    shares = profile.category_shares()
    listed = [
        f"{name} {shares[key] * 100:.0f} %"
        for key, name in SHARE_NAMES
        if shares.get(key, 0.0) >= 0.005
    ]
    return ", ".join(listed)


def regime_line(cell: CellResult, results: RunResults) -> str:
    """One cell's regime and its figures, or why there is none."""
    label = cell_label(cell, results)
    if not cell.profile:
        return f"{label}: {NOT_PROFILED_DDP if cell.key.distributed else NOT_PROFILED}"
    try:
        profile = OpProfile.from_dict(cell.profile)
    except (ValueError, KeyError, TypeError) as error:
        return f"{label}: the stored op profile cannot be read ({error})"
    step = cell.phases.step.median_s if cell.phases is not None else None
    try:
        regime = classify_regime(profile, label=label, step_s=step)
    except ValueError:
        return (
            f"{label}: {profile.ops_per_step:,} ops per step profiled, but without the machine "
            "probes the regime needs: not classified"
        )
    line = regime.reason
    shares = shares_text(profile)
    if shares:
        line += f". Profiled op time: {shares}"
    line += "."
    return line


def regime_lines(results: RunResults) -> list[str]:
    """A line per measured cell when any cell of the run has a profile; none otherwise."""
    if not has_profiles(results):
        return []
    return [regime_line(cell, results) for cell in results.cells if cell.phases is not None]
