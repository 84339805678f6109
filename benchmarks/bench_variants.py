"""Benchmark 3: the fast variant's GPT step against the reference's, on CPU and on a GPU.

Each arm is a ``TrainingSession`` of its variant, timed in blocks; the ratio is reference /
fast (a speed-up). Beside it: tokens/s, model FLOP/s (6·N + 12·L·H·Q·T per token, N = all
parameters) and MFU against a matmul peak measured on the device at the variant's dtype.
Target on CPU: >= 1.3. On a GPU the lecture config is used whatever the flag: it is cheap.
"""

from __future__ import annotations

from typing import Any

import torch
from context import BenchContext
from harness import Comparison, interleave, quartiles, release_memory, steps_per_block, time_block

from gpubench.bench.flops import flops_per_step, measure_peak_flops, mfu, spec_peak_flops
from gpubench.core.models import count_parameters


def throughput_note(ctx: BenchContext, name: str, session: Any, seconds: list[float]) -> str:
    """tokens/s, FLOP/s and MFU of one arm at its median step time."""
    step = quartiles(seconds)[1]
    tokens = session.batch_size * session.block_size
    achieved = flops_per_step(ctx.config, count_parameters(session.model)) / step
    dtype = str(session.dtype or torch.float32).removeprefix("torch.")
    peak = measure_peak_flops(str(session.device), dtype, seconds=2.0)
    note = (
        f"{name}: {tokens / step:,.0f} tokens/s, {achieved / 1e9:,.1f} GFLOP/s, dtype {dtype}, "
        f"MFU {mfu(achieved, peak):.1%} of a measured {peak / 1e9:,.1f} GFLOP/s matmul peak"
    )
    if session.device.type == "cuda":
        spec = spec_peak_flops(torch.cuda.get_device_name(session.device), dtype)
        if spec is not None:
            note += f" ({mfu(achieved, spec[0]):.1%} of the {spec[0] / 1e12:,.0f} TFLOP/s spec)"
    return note


def compare(ctx: BenchContext, device: str) -> Comparison:
    sessions = {variant: ctx.session(variant, device) for variant in ("reference", "fast")}

    def timed(variant: str) -> float:
        # A fast session turns TF32 on process-wide; the reference arm must run without it.
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = variant == "fast"
            torch.backends.cudnn.allow_tf32 = variant == "fast"
        session = sessions[variant]
        return time_block(session.step, steps, session.sync)

    steps = steps_per_block(sessions["reference"].step, sessions["reference"].sync)
    times = interleave({name: (lambda name=name: timed(name)) for name in sessions}, ctx.repeats)
    notes = [throughput_note(ctx, name, sessions[name], times[name]) for name in sessions]
    return Comparison(
        title=f"[3] fast vs reference GPT step on {device}",
        setup=ctx.label if device == "cpu" else ctx.label.split(",")[0] + f", {device}",
        baseline="reference",
        arms=times,
        steps_per_block=steps,
        ratio_label="reference / fast (speed-up)",
        invert=True,
        target=(">=", 1.3) if device == "cpu" else None,
        notes=notes,
    )


def run(ctx: BenchContext) -> list[Comparison]:
    results = [compare(ctx, "cpu")]
    if torch.cuda.is_available():
        release_memory()
        gpu_ctx = ctx if ctx.full else _lecture_config(ctx)
        results.append(compare(gpu_ctx, "cuda"))
    return results


def _lecture_config(ctx: BenchContext) -> BenchContext:
    from context import make_context

    return make_context(full=True, repeats=ctx.repeats, threads=ctx.threads)
