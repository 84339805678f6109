"""The op model beside the measurement: every real GPU cell checks ``gpubench predict``.

For each GPU cell of a run, the CPU cell of the same model, batch size and variant carries an
op profile; the op model (``gpubench.predict``, docs/predict.md) turns that profile into the
GPU's step, evaluation, fixed costs and totals — exactly what ``gpubench predict RUN_DIR
--gpu ...`` would have said before the GPU was measured. The report prints both, each
labelled: measured (or ``~`` extrapolated from measured phases) and predicted by the model.
The GPU is found in the model's table by the name the driver reports; a name the table
does not hold, or holds ambiguously, is said so and not predicted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gpubench.predict.gpus import GPUS, GpuSpec, find_gpu
from gpubench.predict.opmodel import CellPrediction, list_assumptions, predict_cell
from gpubench.report.format import NOT_MEASURED, format_count, format_duration, format_estimate
from gpubench.report.queries import (
    headline_protocol,
    is_cpu,
    is_gpu,
    requested_iters,
)
from gpubench.results.frame import estimate_of
from gpubench.results.model import CellResult, RunResults
from gpubench.results.profile import OpProfile

# Words of a GPU's name that say nothing about which GPU it is.
NOISE_WORDS = {"nvidia", "geforce", "tesla", "generation", "tensor", "core", "gpu"}
MEMORY = re.compile(r"^(\d+)gb$")


def _words(name: str) -> list[str]:
    return [word for word in re.findall(r"[a-z0-9]+", name.lower()) if word not in NOISE_WORDS]


def _form(words: list[str]) -> str | None:
    """ "pcie", "sxm" or None (the name does not say)."""
    if "pcie" in words:
        return "pcie"
    if any(word.startswith("sxm") or word.startswith("hbm") for word in words):
        return "sxm"
    return None


def _chip_words(words: list[str]) -> set[str]:
    """The words that name the chip: not its memory (size or kind), not its form factor."""
    return {
        word
        for word in words
        if not MEMORY.match(word) and word != "pcie" and not word.startswith(("sxm", "hbm"))
    }


def gpu_spec_for(name: str) -> GpuSpec | None:
    """The model's table entry for a GPU as the driver names it ("NVIDIA A800 80GB PCIe",
    "NVIDIA H100 80GB HBM3", "Tesla T4"), or None when no entry, or more than one, fits:
    the chip's words must be the same, then the form factor and memory size where the
    name gives them."""
    words = _words(name)
    chip = _chip_words(words)
    if not chip:
        return None
    candidates = [gpu for gpu in GPUS if _chip_words(_words(gpu.name)) == chip]
    form = _form(words)
    if form is not None:
        candidates = [gpu for gpu in candidates if _spec_form(gpu) == form]
    memory = [int(found.group(1)) for word in words if (found := MEMORY.match(word))]
    if memory:
        candidates = [gpu for gpu in candidates if gpu.memory_gb == memory[0]]
    return candidates[0] if len(candidates) == 1 else None


def _spec_form(gpu: GpuSpec) -> str:
    return "sxm" if "SXM" in gpu.host_link or "sxm" in gpu.key else "pcie"


def cpu_twin(results: RunResults, cell: CellResult) -> CellResult | None:
    """The CPU cell of the same model, batch size and variant that has an op profile
    (the fastest, where the run measured several thread counts)."""
    twins = [
        other
        for other in results.cells
        if is_cpu(other.key.device)
        and other.profile
        and other.cost is not None
        and other.phases is not None
        and (other.key.model, other.key.batch_size, other.key.variant)
        == (cell.key.model, cell.key.batch_size, cell.key.variant)
    ]
    return min(twins, key=lambda twin: twin.cost.step_s, default=None)  # type: ignore[union-attr]


@dataclass(frozen=True)
class GpuCheck:
    """One GPU cell: what was measured, what the model predicted for it, or why nothing was."""

    cell: CellResult
    prediction: CellPrediction | None
    why_not: str = ""


def gpu_checks(results: RunResults) -> list[GpuCheck]:
    """A check per measured GPU cell, when the run has any op profile; none otherwise."""
    if not any(cell.profile for cell in results.cells):
        return []
    checks = []
    for cell in results.cells:
        if not is_gpu(cell.key.device) or cell.phases is None or cell.cost is None:
            continue
        checks.append(_check(results, cell))
    return checks


def _check(results: RunResults, cell: CellResult) -> GpuCheck:
    gpu = gpu_spec_for(cell.device_name)
    if gpu is None:
        return GpuCheck(
            cell, None, f"{cell.device_name or 'this GPU'} is not in the op model's GPU table "
            "(`gpubench gpus`)"
        )  # fmt: skip
    twin = cpu_twin(results, cell)
    if twin is None or twin.cost is None or twin.phases is None or twin.profile is None:
        return GpuCheck(
            cell, None, "no CPU cell of the same model, batch size and variant has an op profile"
        )
    try:
        profile = OpProfile.from_dict(twin.profile)
    except (KeyError, TypeError, ValueError) as error:
        return GpuCheck(cell, None, f"the CPU cell's op profile cannot be read ({error})")
    if profile.params is None:
        return GpuCheck(cell, None, "the CPU cell's op profile has no machine probes")
    phases = twin.phases
    iters = sorted({*requested_iters(results), *(run.iters for run in cell.runs)})
    prediction = predict_cell(
        model=cell.key.model,
        batch_size=cell.key.batch_size,
        variant=cell.key.variant,
        cpu_costs=twin.cost,
        profile=profile,
        gpu=gpu,
        iters=[n for n in iters if n > 0],
        eval_iters=int(cell.config.get("eval_iters", phases.eval_iters or 200)),
        protocol=headline_protocol(results),
        cpu_startup_s=phases.startup_s + phases.data_s + phases.build_s,
    )
    return GpuCheck(cell, prediction)


def _band(low: float, high: float) -> str:
    return f"{format_duration(low)} – {format_duration(high)}"


def _ratio(predicted: float, measured: float) -> str:
    return f"{predicted / measured:.2f}×" if measured > 0 else NOT_MEASURED


def check_rows(results: RunResults, check: GpuCheck, name: str) -> list[tuple[str, ...]]:
    """Rows: cell, term, measured, predicted, predicted band, predicted ÷ measured."""
    prediction, cost = check.prediction, check.cell.cost
    if prediction is None or cost is None:
        return []
    rows: list[tuple[str, ...]] = [
        (name, "step s", format_duration(cost.step_s), format_duration(prediction.step.step_s),
         _band(prediction.step_low_s, prediction.step_high_s),
         _ratio(prediction.step.step_s, cost.step_s)),
        (name, "one evaluation e", format_duration(cost.eval_s),
         format_duration(prediction.eval_s), NOT_MEASURED,
         _ratio(prediction.eval_s, cost.eval_s)),
        (name, "fixed costs F", format_duration(cost.fixed_s),
         format_duration(prediction.fixed_s),
         _band(prediction.fixed_low_s, prediction.fixed_high_s),
         _ratio(prediction.fixed_s, cost.fixed_s)),
    ]  # fmt: skip
    protocol = headline_protocol(results)
    for total in prediction.totals:
        estimate = estimate_of(results, check.cell, total.iters, protocol)
        if estimate is None:
            continue
        rows.append((
            name, f"{format_count(total.iters)} iterations", format_estimate(estimate),
            format_duration(total.gpu_s), _band(total.gpu_low_s, total.gpu_high_s),
            ("" if estimate.measured else "~") + _ratio(total.gpu_s, estimate.seconds),
        ))  # fmt: skip
    return rows


def assumption_lines(predictions: list[CellPrediction]) -> list[str]:
    """Each GPU's datasheet figures once, then the assumptions every prediction shares."""
    lines: list[str] = []
    for key in dict.fromkeys(p.gpu for p in predictions):
        first = next(p for p in predictions if p.gpu == key)
        lines += [f"{key}: {line}" for line in list_assumptions(find_gpu(key), first.variant)[:2]]
    if predictions:
        first = predictions[0]
        lines += list_assumptions(find_gpu(first.gpu), first.variant)[2:]
    return lines
