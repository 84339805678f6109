"""``gpubench gpus``: the GPUs ``gpubench predict`` knows, with their figures and sources."""

from __future__ import annotations

import json
import sys

from gpubench.predict.gpus import GPUS


def render_gpus(*, json_output: bool = False) -> None:
    if json_output:
        sys.stdout.write(json.dumps([gpu.to_dict() for gpu in GPUS], indent=2) + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="GPUs for gpubench predict (dense peaks, datasheet figures)")
    for column in ("--gpu", "name", "segment", "fp32", "tf32", "bf16", "fp16", "GB/s", "host link"):
        table.add_column(column)
    for gpu in GPUS:
        peaks = [
            f"{gpu.peak_flops[d] / 1e12:g}" if d in gpu.peak_flops else "-"
            for d in ("fp32", "tf32", "bf16", "fp16")
        ]
        table.add_row(gpu.key, gpu.name, gpu.segment, *peaks,
                      f"{gpu.bandwidth_bytes_per_s / 1e9:,.0f}", gpu.host_link)  # fmt: skip
    console = Console(highlight=False)
    console.print(table)
    console.print("TFLOP/s. Sources: gpubench gpus --json (field 'source').")
