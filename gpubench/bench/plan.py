"""The sweep plan: which cells to measure, validated up front from the run options."""

from __future__ import annotations

import hashlib
import itertools
import socket
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gpubench.core.data import TextSource, check_split_length
from gpubench.core.devices import resolve_devices
from gpubench.core.models import REFERENCE_MODELS, ModelSpec, load_model, parse_overrides
from gpubench.core.models import resolve_config as resolve_model_config
from gpubench.core.training import VARIANTS, model_variant
from gpubench.errors import UsageError
from gpubench.options import (
    DEFAULT_BUDGET_S,
    DEFAULT_ITERS,
    DEFAULT_MODELS,
    parse_count_list,
    split_list,
)
from gpubench.results.costmodel import PROTOCOLS
from gpubench.results.model import CellKey


@dataclass
class SweepPlan:
    """Everything a sweep will do; built once, stored in results.json as ``settings``."""

    models: list[ModelSpec]
    devices: list[str]
    iters: list[int]
    batch_sizes: list[int] | None  # None: each model's lecture batch size
    protocol: str
    variants: list[str]
    budget_s: float
    full: bool
    threads: list[int]
    overrides: dict[str, str]
    source: TextSource
    generate: int = 0  # tokens to sample per cell to time generate(); 0 skips that phase
    configs: dict[CellKey, dict[str, Any]] = field(default_factory=dict)

    @property
    def cells(self) -> list[CellKey]:
        return list(self.configs)

    def settings(self) -> dict[str, Any]:
        return {
            "models": [
                spec.name if spec.name in REFERENCE_MODELS else str(spec.path)
                for spec in self.models
            ],
            "devices": self.devices,
            "iters": self.iters,
            "batch_sizes": self.batch_sizes,
            "protocol": self.protocol,
            "variants": self.variants,
            "budget_s": self.budget_s,
            "full": self.full,
            "threads": self.threads,
            "overrides": self.overrides,
            "generate": self.generate,
            "data": {
                "label": self.source.label,
                "path": self.source.path,
                "synthetic": self.source.synthetic,
            },
        }


def default_threads() -> int:
    """All physical cores (run.md); logical ones where psutil cannot tell."""
    import os

    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def config_for(spec: ModelSpec, overrides: dict[str, str]) -> dict[str, Any]:
    """Apply the overrides that this model knows; the others belong to other models."""
    defaults = spec.defaults
    return resolve_model_config(spec, {k: v for k, v in overrides.items() if k in defaults})


def build_plan(
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
    source: TextSource,
    available_devices: list[str] | None = None,
) -> SweepPlan:
    """Validate every option and expand models × batch sizes × variants × devices × threads."""
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
    iter_list = parse_count_list(iters, option="--iters")
    batch_list = parse_count_list(batch_sizes, option="--batch-sizes") if batch_sizes else None
    thread_list = parse_count_list(threads, option="--threads") if threads else [default_threads()]
    specs = [load_model(name) for name in split_list(models, option="--models")]
    settings = parse_overrides(overrides)
    unknown = [k for k in settings if not any(k in spec.defaults for spec in specs)]
    if unknown:
        known = sorted({k for spec in specs for k in spec.defaults})
        raise UsageError(f"--set {unknown[0]}: unknown key; known: {', '.join(known)}")
    device_list = resolve_devices(devices, available_devices)

    configs: dict[CellKey, dict[str, Any]] = {}
    for spec in specs:
        base = config_for(spec, settings)
        for variant in variant_list:
            if model_variant(variant) not in spec.variants:
                raise UsageError(f"model {spec.name!r} has no variant {variant!r}")
        if source.text is not None:
            check_split_length(len(source.text), base["block_size"] + 1, source.label)
        for batch, variant, device in itertools.product(
            batch_list or [base["batch_size"]], variant_list, device_list
        ):
            config = {**base, "batch_size": batch}
            for thread_count in thread_list if device == "cpu" else [None]:
                key = CellKey(spec.name, device, batch, variant, thread_count)
                configs[key] = config
    return SweepPlan(
        models=specs, devices=device_list, iters=iter_list, batch_sizes=batch_list,
        protocol=protocol, variants=variant_list, budget_s=budget_s, full=full,
        threads=thread_list, overrides=settings, source=source, configs=configs,
        generate=generate,
    )  # fmt: skip


def new_run_dir(out: Path, name: str | None = None) -> Path:
    """Create ``out/<UTC timestamp>-<short host hash>`` (or ``out/NAME``), never reusing one."""
    if name is not None and (not name.strip() or "/" in name or name.startswith(".")):
        raise UsageError(f"--name {name!r}: use a plain folder name")
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    host = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]
    base = name or f"{stamp}-{host}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"--out {out}: is a file; expected a folder for run folders") from None
    except OSError as error:
        raise UsageError(f"--out {out}: cannot create it ({error.strerror})") from None
    for attempt in itertools.count(1):
        candidate = out / (base if attempt == 1 else f"{base}-{attempt}")
        try:
            candidate.mkdir()  # atomic: two runs at once never share a folder
        except FileExistsError:
            if name is not None:
                raise UsageError(f"--name {name!r}: {candidate} already exists") from None
            continue
        return candidate
    raise AssertionError("unreachable")
