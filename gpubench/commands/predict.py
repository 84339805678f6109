"""``gpubench predict RUN_DIR --gpu ...``: what each named GPU would do with a CPU run's cells.

Reads results.json; each CPU cell needs an op profile (the cell record's ``"profile"``
key). Runs without one are told so in one line; ``--profile-now`` profiles the cells on
this CPU instead (a few steps each, from the config in results.json). Every figure printed
is predicted by the op model (docs/predict.md), never mixed with measured ones.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from gpubench.errors import UsageError
from gpubench.predict.gpus import GpuSpec, parse_gpu_list
from gpubench.predict.opmodel import CellPrediction, list_assumptions, predict_cell
from gpubench.report.format import format_duration
from gpubench.results.costmodel import cell_cost_model
from gpubench.results.model import CellResult, RunResults
from gpubench.results.profile import OpProfile

NO_PROFILE = (
    "{run} has no op profiles (its cells were measured before profiling existed); re-run "
    "gpubench run, or add --profile-now to profile the cells on this CPU now"
)


def cpu_cells(results: RunResults) -> list[CellResult]:
    return [c for c in results.cells if c.key.device == "cpu" and c.phases is not None]


def stored_profile(cell: CellResult) -> OpProfile | None:
    """The op profile the run stored with the cell, or None when it has none."""
    return OpProfile.from_dict(cell.profile) if cell.profile else None


def profile_cell_now(cell: CellResult, data_path: str | None) -> OpProfile:
    """Profile one cell on this CPU from its config (imports torch; seconds per cell)."""
    import torch

    from gpubench.bench.profile import probe_machine, profile_config

    if cell.key.threads:
        torch.set_num_threads(int(cell.key.threads))
    params = probe_machine("cpu", seconds=0.3)
    slow = (cell.phases.step.median_s if cell.phases else 0.0) > 1.0
    return profile_config(
        cell.key.model, cell.config, variant=cell.key.variant, data_path=data_path,
        params=params, warmup_steps=1 if slow else 2, steps=1, timed=not slow,
    )  # fmt: skip


def predict_run(
    results: RunResults, profiles: dict[str, OpProfile], gpus: list[GpuSpec]
) -> list[CellPrediction]:
    """Predictions for every profiled CPU cell on every GPU, in table order."""
    protocol = results.settings.protocol
    iters = sorted(set(results.settings.iters))
    predictions = []
    for cell in cpu_cells(results):
        profile = profiles.get(cell.key.id)
        if profile is None or cell.phases is None:
            continue
        costs = cell_cost_model(cell)  # the stored terms the report uses: the CPU figures agree
        if costs is None:
            continue
        count = [1, *iters, int(cell.config.get("max_iters", 0))]
        startup = cell.phases.startup_s + cell.phases.data_s + cell.phases.build_s
        for gpu in gpus:
            predictions.append(
                predict_cell(
                    model=cell.key.model,
                    batch_size=cell.key.batch_size,
                    variant=cell.key.variant,
                    cpu_costs=costs,
                    profile=profile,
                    gpu=gpu,
                    iters=sorted({n for n in count if n > 0}),
                    eval_iters=int(cell.config["eval_iters"]),
                    protocol=protocol,
                    cpu_startup_s=startup,
                )  # fmt: skip
            )
    return predictions


def render_predictions(predictions: list[CellPrediction], gpus: list[GpuSpec]) -> str:
    """Plain text: one reason per cell and GPU, a totals table, then the assumptions."""
    lines = ["Predicted by gpubench's op model from this CPU run (docs/predict.md); "
             "CPU figures are the run's own (measured or ~ extrapolated).", ""]  # fmt: skip
    for p in predictions:
        lines.append(f"- {p.reason}.")
    lines.append("")
    lines.append("| cell | GPU | iterations | CPU | GPU (predicted) | band | winner |")
    lines.append("| --- | --- | --- | --- | --- | --- | --- |")
    for p in predictions:
        for t in p.totals:
            winner = "GPU" if t.gpu_s < t.cpu_s else "CPU"
            lines.append(
                f"| {p.model} b{p.batch_size} {p.variant} | {p.gpu} | {t.iters:,} | "
                f"~{format_duration(t.cpu_s)} | {format_duration(t.gpu_s)} | "
                f"{format_duration(t.gpu_low_s)}–{format_duration(t.gpu_high_s)} | "
                f"{winner} (predicted) |"
            )
    lines.append("")
    lines.append("Assumptions:")
    variants = sorted({p.variant for p in predictions}) or ["reference"]
    for gpu in gpus:
        for line in list_assumptions(gpu, variants[0])[:2]:
            lines.append(f"- {gpu.key}: {line}")
    for line in list_assumptions(gpus[0], variants[0])[2:]:
        lines.append(f"- {line}")
    return "\n".join(lines) + "\n"


def run_predict_command(
    run_dir: str,
    gpu_list: str,
    *,
    profile_now: bool = False,
    data: str | None = None,
    json_output: bool = False,
) -> int:
    """Print the predictions; exit code 0, or 1 when no cell could be predicted."""
    gpus = parse_gpu_list(gpu_list)
    from gpubench.commands.report import load_run

    results = load_run(run_dir)
    cells = cpu_cells(results)
    if not cells:
        raise UsageError(f"{run_dir} has no measured CPU cell to predict from")
    profiles: dict[str, OpProfile] = {}
    for cell in cells:
        found = stored_profile(cell)
        if found is not None:
            profiles[cell.key.id] = found
    if not profiles and not profile_now:
        sys.stderr.write(NO_PROFILE.format(run=run_dir) + "\n")
        return 1
    if profile_now:
        data_path = data or results.settings.data.path or None
        if data_path and not Path(data_path).is_file():
            data_path = None  # synthetic tokens of the corpus's shape: same ops and sizes
        for cell in cells:
            if cell.key.id not in profiles:
                sys.stderr.write(f"profiling {cell.key.id} on this CPU...\n")
                profiles[cell.key.id] = profile_cell_now(cell, data_path)
    predictions = predict_run(results, profiles, gpus)
    if json_output:
        payload = {"label": "predicted", "predictions": [p.to_dict() for p in predictions]}
        sys.stdout.write(json.dumps(payload, indent=2) + "\n")
    else:
        sys.stdout.write(render_predictions(predictions, gpus))
    return 0
