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


def _architecture(config: dict[str, Any]) -> str:
    if "n_layer" in config:
        return f"{config['n_layer']}L {config['n_head']}H {config['n_embd']}d"
    if "n_embd" in config:
        return f"{config['n_embd']}d + pos"
    return "lookup"


def render_models(
    rows: list[dict[str, Any]], *, json_output: bool, console: Console | None = None
) -> None:
    """The models as a table (or JSON): exact parameter counts and lecture defaults."""
    console = console or Console()
    if json_output:
        console.print_json(json.dumps({"schema": "gpubench.models/1", "models": rows}))
        return
    table = Table(
        title=f"Reference models (vocabulary {rows[0]['vocab_size']})", title_justify="left"
    )
    for name, justify in (("model", "left"), ("parameters", "right"), ("batch", "right"),
                          ("block", "right"), ("lr", "right"), ("iters", "right"),
                          ("shape", "left")):  # fmt: skip
        table.add_column(name, justify=justify, no_wrap=name in ("model", "parameters"))  # type: ignore[arg-type]
    for row in rows:
        d = row["defaults"]
        table.add_row(
            row["name"], f"{row['parameters']:,}", str(d["batch_size"]), str(d["block_size"]),
            f"{d['learning_rate']:g}", str(d["max_iters"]), _architecture(d),
        )  # fmt: skip
    console.print(table)
    folder = rows[0]["path"].rsplit("/", 1)[0]
    variants = "; ".join(f"{row['name']}: {', '.join(row['variants'])}" for row in rows)
    console.print(f"Variants: {variants}")
    console.print(f"Model files: {folder} · override settings with --set KEY=VALUE")
