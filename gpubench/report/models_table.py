"""``gpubench models``: each reference model with its exact parameter count and defaults."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from gpubench.core.data import CORPUS_VOCAB
from gpubench.core.models import REFERENCE_MODELS, count_parameters, load_model


def describe_models(vocab_size: int = CORPUS_VOCAB) -> list[dict[str, Any]]:
    """Load and build each reference model once to count its parameters exactly."""
    rows = []
    for name in REFERENCE_MODELS:
        spec = load_model(name)
        module = spec.build(spec.defaults, vocab_size)
        rows.append(
            {
                "name": name,
                "parameters": count_parameters(module),
                "vocab_size": vocab_size,
                "variants": list(spec.variants),
                "path": str(spec.path),
                "defaults": spec.defaults,
            }
        )
    return rows


def render_models(
    rows: list[dict[str, Any]], *, json_output: bool, console: Console | None = None
) -> None:  # noqa: E501
    console = console or Console()
    if json_output:
        console.print_json(json.dumps({"schema": "gpubench.models/1", "models": rows}))
        return
    table = Table(
        title=f"Reference models (vocabulary {rows[0]['vocab_size']})", title_justify="left"
    )
    table.add_column("model", style="bold")
    table.add_column("parameters", justify="right")
    table.add_column("batch", justify="right")
    table.add_column("block", justify="right")
    table.add_column("lr", justify="right")
    table.add_column("max_iters", justify="right")
    table.add_column("architecture")
    for row in rows:
        d = row["defaults"]
        shape = {k: v for k, v in d.items() if k in ("n_layer", "n_head", "n_embd", "dropout")}
        table.add_row(
            row["name"],
            f"{row['parameters']:,}",
            str(d["batch_size"]),
            str(d["block_size"]),
            f"{d['learning_rate']:g}",
            str(d["max_iters"]),
            ", ".join(f"{k}={v}" for k, v in shape.items()) or "embedding table",
        )
    console.print(table)
    console.print(
        f"Model files: {rows[0]['path'].rsplit('/', 1)[0]}  ·  variants: "
        f"{', '.join(rows[0]['variants'])}  ·  override with --set KEY=VALUE"
    )
