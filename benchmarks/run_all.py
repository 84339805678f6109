"""Run gpubench's performance benchmarks and print each one's ratio, measured side by side.

    python benchmarks/run_all.py                 # quick config (~2 minutes on 2 cores)
    python benchmarks/run_all.py --full          # the lecture config (~10 s a step on 2 cores)
    python benchmarks/run_all.py --only 3 --repeats 9 --json out.json

The benchmarks report; they assert nothing (the unit tests do not time anything).
See benchmarks/README.md for what each one measures.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import psutil

BENCHMARKS = {
    1: "bench_harness_overhead",
    2: "bench_lecture_script",
    3: "bench_variants",
    4: "bench_threads",
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument(
        "--quick", action="store_true", help="lecture width, n_layer=2, batch 16 (default)"
    )
    size.add_argument("--full", action="store_true", help="the full lecture GPT config")
    parser.add_argument(
        "--repeats", type=int, help="interleaved rounds per benchmark (default 7, --full 3)"
    )
    parser.add_argument(
        "--only", default="1,2,3,4", help="comma-separated benchmark numbers (default all)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=psutil.cpu_count(logical=False) or 1,
        help="torch threads for benchmarks 1-3 (default: all physical cores)",
    )
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    try:
        args.only = sorted({int(part) for part in args.only.split(",")})
    except ValueError:
        parser.error(f"--only {args.only!r}: expected numbers from {sorted(BENCHMARKS)}")
    if not set(args.only) <= set(BENCHMARKS):
        parser.error(f"--only: benchmarks are numbered {sorted(BENCHMARKS)}")
    if args.repeats is None:
        args.repeats = 3 if args.full else 7
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import importlib

    from context import make_context
    from harness import format_comparison, machine_summary, release_memory

    ctx = make_context(full=args.full, repeats=args.repeats, threads=args.threads)
    command = shlex.join([Path(sys.executable).name, *sys.argv])
    machine = machine_summary()
    print(f"command: {command}")
    print("machine: " + ", ".join(f"{key}={value}" for key, value in machine.items()))
    print()
    results = []
    for number in args.only:
        started = time.perf_counter()
        outcome = importlib.import_module(BENCHMARKS[number]).run(ctx)
        for comparison in outcome if isinstance(outcome, list) else [outcome]:
            print(format_comparison(comparison))
            results.append(comparison.as_dict())
        print(f"  ({time.perf_counter() - started:.0f} s)\n", flush=True)
        release_memory()
    if args.json:
        payload = {"command": command, "machine": machine, "results": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
