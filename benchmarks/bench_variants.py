"""Benchmark 3: the fast variant's GPT step against the reference's, on CPU and on a GPU.

Each arm is a ``TrainingSession`` of its variant, timed in blocks, interleaved ABBA; the
headline is reference / fast (a speed-up), fast running the options its probe measured on
this machine (gpubench/core/tuning.py; the probe's choices and timings are printed). On CPU
a third arm, ``fast, old rule``, runs the options the removed rule picked (bf16 autocast
only where AMX tiles exist), so the measured choice can be compared with it. Beside them:
tokens/s, model FLOP/s (6·N + 12·L·H·Q·T per token, N = all parameters) and MFU against a
matmul peak measured on the device at the arm's dtype. Target on CPU: >= 1.5. On a GPU the
lecture config is used whatever the flag: it is cheap.

    python benchmarks/bench_variants.py --set n_layer=2 --set n_embd=192 --set n_head=3 \
        --set block_size=128 --batch-size 32 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
from context import BenchContext
from harness import Comparison, interleave, quartiles, release_memory, steps_per_block, time_block

from gpubench.bench.flops import flops_per_step, measure_peak_flops, mfu
from gpubench.core.models import count_parameters
from gpubench.core.training import TrainingSession, default_fast_options
from gpubench.core.tuning import FastChoices, default_cache_dir, tune_fast_variant
from gpubench.predict.datasheets import spec_peak_flops

TARGET_CPU = 1.5  # fast / reference on CPU, issue 15 (docs/fast-variant.md)


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


def old_rule_options(device: torch.device) -> dict[str, Any]:
    """The options the removed ``cpu_has_native_bf16`` rule gave: bf16 only with AMX tiles."""
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)()
    return default_fast_options(device) | {"precision": "bf16" if amx else "fp32"}


def compare(ctx: BenchContext, device: str, *, retune: bool = False) -> Comparison:
    start = time.perf_counter()
    choices = tune_fast_variant(
        ctx.spec, dict(ctx.config), ctx.dataset, device, cache_dir=default_cache_dir(),
        retune=retune,
    )  # fmt: skip
    probe_note = f"probe and cache lookup took {time.perf_counter() - start:.1f} s"

    def session(variant: str, options: dict[str, Any] | None = None) -> TrainingSession:
        fast_choices = FastChoices(options) if options is not None else None
        return TrainingSession(ctx.spec, dict(ctx.config), ctx.dataset, device,
                               variant=variant, fast_choices=fast_choices)  # fmt: skip

    sessions = {"reference": session("reference"), "fast": session("fast", choices.options)}
    if device == "cpu":
        sessions["fast, old rule"] = session("fast", old_rule_options(torch.device(device)))

    def timed(variant: str) -> float:
        # A fast session turns TF32 on process-wide; the reference arm must run without it.
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = variant == "fast"
            torch.backends.cudnn.allow_tf32 = variant == "fast"
        return time_block(sessions[variant].step, steps, sessions[variant].sync)

    steps = steps_per_block(sessions["reference"].step, sessions["reference"].sync)
    times = interleave({name: (lambda name=name: timed(name)) for name in sessions}, ctx.repeats)
    notes = [f"fast options: {choices.options}", probe_note, *choices.describe()]
    if "fast, old rule" in times:
        old_rule = times["fast, old rule"]
        paired = [old / new for new, old in zip(times["fast"], old_rule, strict=True)]
        notes.append(
            f"measured choice vs the old rule (old / measured, per round): median "
            f"{statistics.median(paired):.3f}, range {min(paired):.3f}-{max(paired):.3f}; "
            f"old rule: {old_rule_options(torch.device(device))}"
        )
    notes += [throughput_note(ctx, name, sessions[name], times[name]) for name in sessions]
    return Comparison(
        title=f"[3] fast vs reference GPT step on {device}",
        setup=ctx.label if device == "cpu" else ctx.label.split(",")[0] + f", {device}",
        baseline="reference",
        arms=times,
        steps_per_block=steps,
        ratio_label="reference / fast (speed-up)",
        invert=True,
        target=(">=", TARGET_CPU) if device == "cpu" else None,
        notes=notes,
    )


def run(ctx: BenchContext, *, retune: bool = False) -> list[Comparison]:
    results = [compare(ctx, "cpu", retune=retune)]
    if torch.cuda.is_available():
        release_memory()
        gpu_ctx = ctx if ctx.full else _lecture_config(ctx)
        results.append(compare(gpu_ctx, "cuda", retune=retune))
    return results


def _lecture_config(ctx: BenchContext) -> BenchContext:
    from context import make_context

    return make_context(full=True, repeats=ctx.repeats, threads=ctx.threads)


def main(argv: list[str] | None = None) -> None:
    """Benchmark 3 alone, at any GPT config (``--set`` as gpubench's)."""
    import psutil
    from context import make_context
    from harness import format_comparison, machine_summary

    from gpubench.core.models import parse_overrides, resolve_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--full", action="store_true", help="start from the lecture config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=psutil.cpu_count(logical=False) or 1)
    parser.add_argument("--retune", action="store_true", help="probe even on a cache hit")
    args = parser.parse_args(argv)
    ctx = make_context(full=True, repeats=args.repeats, threads=args.threads)
    overrides = parse_overrides(args.set)
    if args.batch_size:
        overrides["batch_size"] = str(args.batch_size)
    ctx.config = resolve_config(ctx.spec, overrides)
    ctx.full = args.full and not overrides
    print(machine_summary())
    for comparison in run(ctx, retune=args.retune):
        print(format_comparison(comparison))


if __name__ == "__main__":
    main()
