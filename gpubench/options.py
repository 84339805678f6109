"""Command-line values parsed once into typed ones: counts (``--iters 500,5k,1e4``), lists,
and the whole sweep's options (``parse_sweep_options``). Torch-free and device-free: what
needs the models or the machine is checked by the plan (docs/design.md, "Run flow").
"""

from __future__ import annotations

import re

from gpubench.core.devices import parse_devices
from gpubench.core.models import parse_overrides
from gpubench.errors import UsageError
from gpubench.results.data_source import DataSource
from gpubench.results.sweep_options import (
    DEFAULT_BUDGET_S,
    PROTOCOLS,
    VARIANTS,
    SweepOptions,
)
from gpubench.results.sweep_options import DEFAULT_ITERS as _ITERS
from gpubench.results.sweep_options import DEFAULT_MODELS as _MODELS

# The sweep's defaults as the command line spells them (shown by --help).
DEFAULT_MODELS = ",".join(_MODELS)
DEFAULT_ITERS = ",".join(map(str, _ITERS))
__all__ = ["DEFAULT_BUDGET_S", "DEFAULT_ITERS", "DEFAULT_MODELS", "parse_sweep_options"]

_COUNT = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$|^(\d+(?:\.\d+)?[eE]\+?\d+)$")
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_count(text: str, *, option: str) -> int:
    """A positive whole count: ``500``, ``5k``, ``1.5k``, ``2M`` or ``1e4``."""
    cleaned = text.strip().replace("_", "")
    match = _COUNT.match(cleaned)
    if match is None:
        raise UsageError(f"{option} {text!r}: not a count; use whole numbers like 500, 5k or 1e4")
    if match.group(3):
        value = float(match.group(3))
    else:
        value = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    if not value.is_integer() or value < 1:
        raise UsageError(f"{option} {text!r}: must be a whole number of at least 1")
    return int(value)


def split_list(text: str, *, option: str) -> list[str]:
    """Split a comma-separated option, refusing empty items (``1,,2``) and empty lists."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{option} {text!r}: expected a comma-separated list with no empty items")
    return items


def parse_count_list(text: str, *, option: str) -> list[int]:
    """``500,5k,50k`` -> [500, 5000, 50000], sorted, duplicates removed."""
    return sorted({parse_count(item, option=option) for item in split_list(text, option=option)})


def parse_sweep_options(
    *,
    models: str = DEFAULT_MODELS,
    devices: str = "auto",
    iters: str = DEFAULT_ITERS,
    batch_sizes: str | None = None,
    protocol: str = "lecture",
    variants: str = "reference",
    budget_s: float = DEFAULT_BUDGET_S,
    full: bool = False,
    threads: str | None = None,
    overrides: list[str] | None = None,
    generate: int = 0,
    retune: bool = False,
    data: DataSource | None = None,
    nproc: str = "1",
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    node_rank: int | None = None,
) -> SweepOptions:
    """The run's options from the command line's text, checked for what needs no model file
    and no device: counts, names, spelling. ``devices`` stays as asked (``auto`` included)."""
    if protocol not in PROTOCOLS:
        raise UsageError(f"unknown protocol {protocol!r}; use one of {', '.join(PROTOCOLS)}")
    variant_list = split_list(variants, option="--variant")
    for variant in variant_list:
        if variant not in VARIANTS:
            raise UsageError(f"unknown variant {variant!r}; use one of {', '.join(VARIANTS)}")
    if generate < 0:
        raise UsageError(f"--generate {generate}: must be 0 (skip) or a number of tokens")
    if not budget_s > 0:
        raise UsageError(f"--budget {budget_s}: must be a positive number of seconds")
    batch_list = parse_count_list(batch_sizes, option="--batch-sizes") if batch_sizes else None
    nproc_list = tuple(parse_count_list(nproc, option="--nproc"))
    check_launch(nproc_list, nnodes, rdzv_endpoint, node_rank)
    if max(nproc_list) * nnodes > 1 and "compile" in variant_list:
        raise UsageError(
            "--variant compile is not measured on several ranks yet; drop it or use --nproc 1"
        )
    return SweepOptions(
        models=tuple(split_list(models, option="--models")),
        devices=parse_devices(devices),
        iters=tuple(parse_count_list(iters, option="--iters")),
        batch_sizes=tuple(batch_list) if batch_list else None,
        protocol=protocol,
        variants=tuple(dict.fromkeys(variant_list)),
        budget_s=float(budget_s),
        full=full,
        threads=tuple(parse_count_list(threads, option="--threads")) if threads else (),
        overrides=parse_overrides(overrides),
        generate=generate,
        retune=retune,
        data=data or DataSource(label="unknown"),
        nproc=nproc_list,
        nnodes=nnodes,
        rdzv_endpoint=rdzv_endpoint,
        node_rank=node_rank,
    )


def check_launch(
    nproc: tuple[int, ...], nnodes: int, rdzv_endpoint: str | None, node_rank: int | None
) -> None:
    """The torchrun shape the options ask for, checked before anything runs (one line each):
    a rendezvous only makes sense across machines, and every shape must be a valid launch."""
    if nnodes < 1:
        raise UsageError(f"--nnodes {nnodes}: must be a whole number of at least 1")
    if rdzv_endpoint is not None and nnodes < 2:
        raise UsageError("--rdzv-endpoint is for several machines: add --nnodes N (N > 1)")
    if node_rank is not None and nnodes < 2:
        raise UsageError("--node-rank is for several machines: add --nnodes N (N > 1)")
    from gpubench.bench.distributed import LaunchSpec

    for count in nproc:  # LaunchSpec raises the one-line UsageError for a bad shape
        LaunchSpec(count, nnodes=nnodes, rdzv_endpoint=rdzv_endpoint, node_rank=node_rank)
