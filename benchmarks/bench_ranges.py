"""Benchmark: do the measured full runs fall inside the ranges the cost model predicts?

Runs small real sweeps with ``--full`` (the bigram and a tiny GPT, protocols ``train`` and
``lecture``), each in its own run folder, then reads every measured full run beside the
range its cell's model predicted WITHOUT that run (``Estimate.predicted_low_s/high_s``, see
docs/design.md, "Cost model"). Prints the coverage (share of runs inside; target >= 90 %),
each run's prediction error, the dominant range term, and the load average before and after.

    python benchmarks/bench_ranges.py [--repeats 2] [--out /tmp/bench-ranges] [--data FILE]
    python benchmarks/bench_ranges.py --rederive RUN_DIR [RUN_DIR ...]

``--rederive`` runs nothing: it checks the full runs of run folders already on disk (any
``gpubench run``) with this version's model, so a change to the ranges can be compared on
the same recorded runs. ``--data`` is passed to ``gpubench run``; without it, run picks the
text as always (GPUBENCH_DATA, the cached corpus, else synthetic tokens).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINY_GPT = [
    "--set", "n_layer=1", "--set", "n_embd=32", "--set", "n_head=2", "--set", "block_size=16",
]  # fmt: skip
SWEEPS = {
    "bigram train": ["--models", "bigram", "--iters", "200,2000", "--protocol", "train"],
    "bigram lecture": ["--models", "bigram", "--iters", "200,2000", "--protocol", "lecture"],
    "tiny gpt train": ["--models", "gpt", "--iters", "50,400", "--protocol", "train", *TINY_GPT],
    "tiny gpt lecture": [
        "--models", "gpt", "--iters", "50,400", "--protocol", "lecture", *TINY_GPT,
        "--set", "eval_interval=100", "--set", "eval_iters=20",
    ],
}  # fmt: skip


def run_sweep(name: str, args: list[str], out: Path, index: int, data: str | None) -> Path:
    folder = f"{name.replace(' ', '-')}-{index}"
    command = [
        sys.executable, "-m", "gpubench", "run", *args, "--devices", "cpu", "--full",
        "--threads", "1", *(["--data", data] if data else []), "--out", str(out),
        "--name", folder,
    ]  # fmt: skip
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return out / folder


def measured_rows(run_dir: Path, sweep: str) -> list[dict[str, object]]:
    from gpubench.results.costmodel import derive_results
    from gpubench.results.io import load_results

    results = load_results(run_dir)
    derive_results(results)  # with this version's model, from the stored raw data
    rows = []
    for cell in results.cells:
        for run in cell.runs:
            estimate = next(
                e
                for e in results.estimates[cell.key.id]
                if e.iters == run.iters and e.protocol == run.protocol
            )
            low, high = estimate.predicted_low_s, estimate.predicted_high_s
            rows.append(
                {
                    "sweep": sweep,
                    "cell": cell.key.id,
                    "iters": run.iters,
                    "measured_s": run.seconds,
                    "predicted_s": estimate.predicted_s,
                    "error": (estimate.predicted_s - run.seconds) / run.seconds,
                    "low_s": low,
                    "high_s": high,
                    "inside": low is not None and high is not None and low <= run.seconds <= high,
                    "dominant": estimate.dominant,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--rederive", type=Path, nargs="+", metavar="RUN_DIR")
    parser.add_argument("--data", help="text file or 'synthetic' (default: as gpubench run)")
    options = parser.parse_args()
    out = options.out or Path(tempfile.mkdtemp(prefix="bench-ranges-"))
    load_before = os.getloadavg()
    started = time.monotonic()
    rows = []
    if options.rederive:
        for run_dir in options.rederive:
            rows += measured_rows(run_dir, run_dir.name)
    else:
        for index in range(options.repeats):
            for name, args in SWEEPS.items():
                rows += measured_rows(run_sweep(name, args, out, index, options.data), name)
    load_after = os.getloadavg()
    rows = [row for row in rows if float(row["measured_s"]) > 0]  # type: ignore[arg-type]
    inside = sum(bool(row["inside"]) for row in rows)
    errors = [abs(float(row["error"])) for row in rows]  # type: ignore[arg-type]
    print("| sweep | cell | iters | measured | predicted | error | range | inside | widest term |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for row in rows:
        print(
            f"| {row['sweep']} | {row['cell']} | {row['iters']:,} | {row['measured_s']:.3f} s "
            f"| {row['predicted_s']:.3f} s | {float(row['error']) * 100:+.1f} % "  # type: ignore[arg-type]
            f"| {row['low_s']:.3f}–{row['high_s']:.3f} s | {'yes' if row['inside'] else 'no'} "
            f"| {row['dominant']} |"
        )
    print()
    median = sorted(errors)[len(errors) // 2]
    widths = sorted(
        (float(row["high_s"]) - float(row["low_s"])) / 2 / float(row["predicted_s"])  # type: ignore[arg-type]
        for row in rows
    )
    print(
        f"coverage: {inside} of {len(rows)} measured runs inside their predicted ranges "
        f"({inside / len(rows):.0%}); |error| median {median * 100:.1f} %, "
        f"max {max(errors) * 100:.1f} %; within 10 %: {sum(e <= 0.1 for e in errors)}; range "
        f"half-width median {widths[len(widths) // 2]:.0%}, max {widths[-1]:.0%}; "
        f"load average before {load_before[0]:.2f}, after "
        f"{load_after[0]:.2f} ({os.cpu_count()} logical CPUs); {time.monotonic() - started:.0f} s"
    )
    (out / "bench_ranges.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
