"""The sweep plan: typed options expanded into cells against the devices the doctor found.

Options are parsed once (gpubench.options); ``check_options`` does what needs the model files
and the text but no device, before the doctor runs; ``expand_plan`` then resolves devices
and thread counts and lists the cells. The flow is described in docs/design.md ("Run flow").
"""

from __future__ import annotations

import hashlib
import itertools
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gpubench.core.data import TextSource, check_split_length, read_text_file
from gpubench.core.devices import resolve_devices
from gpubench.core.models import REFERENCE_MODELS, ModelSpec, load_model
from gpubench.core.models import resolve_config as resolve_model_config
from gpubench.core.training import model_variant
from gpubench.errors import UsageError
from gpubench.results.data_source import DataSource
from gpubench.results.model import CellKey
from gpubench.results.sweep_options import SweepOptions


@dataclass(frozen=True)
class SweepPlan:
    """Everything a sweep will do. ``options`` are the resolved ones stored as settings."""

    options: SweepOptions  # devices and threads resolved for this machine
    models: tuple[ModelSpec, ...]
    source: TextSource
    configs: dict[CellKey, dict[str, Any]] = field(default_factory=dict)

    @property
    def cells(self) -> list[CellKey]:
        return list(self.configs)

    @property
    def devices(self) -> tuple[str, ...]:
        return self.options.devices

    def model_file(self, name: str) -> str:
        """The path a worker loads for model ``name``."""
        return str(next(spec.path for spec in self.models if spec.name == name))


def data_source(source: TextSource) -> DataSource:
    """The record of a text source as a job and results.json name it."""
    return DataSource(label=source.label, path=source.path, synthetic=source.synthetic)


def text_source(data: DataSource) -> TextSource:
    """The text a stored data source names, read again (``--resume``)."""
    if data.synthetic or data.path is None:
        return TextSource(label=data.label)
    path = Path(data.path)
    return TextSource(label=data.label, text=read_text_file(path), path=str(path))


def default_threads() -> int:
    """All physical cores (docs/design.md); logical ones where psutil cannot tell."""
    import os

    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def config_for(spec: ModelSpec, overrides: dict[str, str]) -> dict[str, Any]:
    """Apply the overrides that this model knows; the others belong to other models."""
    defaults = spec.defaults
    return resolve_model_config(spec, {k: v for k, v in overrides.items() if k in defaults})


def check_options(options: SweepOptions, source: TextSource) -> tuple[ModelSpec, ...]:
    """What the options ask of the model files and the text, checked without any device:
    the models load, every --set key is known to one of them and typed right, each model has
    the variants asked for, and the text is long enough for each block size."""
    specs = tuple(load_model(name) for name in options.models)
    unknown = [k for k in options.overrides if not any(k in spec.defaults for spec in specs)]
    if unknown:
        known = sorted({k for spec in specs for k in spec.defaults})
        raise UsageError(f"--set {unknown[0]}: unknown key; known: {', '.join(known)}")
    for spec in specs:
        base = config_for(spec, options.overrides)
        for variant in options.variants:
            if model_variant(variant) not in spec.variants:
                raise UsageError(f"model {spec.name!r} has no variant {variant!r}")
        if source.text is not None:
            check_split_length(len(source.text), base["block_size"] + 1, source.label)
    return specs


def expand_plan(
    options: SweepOptions,
    source: TextSource,
    *,
    available_devices: list[str],
    models: tuple[ModelSpec, ...] | None = None,
) -> SweepPlan:
    """Models x batch sizes x variants x devices x threads, against this machine's devices.

    ``models``: the specs ``check_options`` returned (checked again when not given).
    """
    specs = models if models is not None else check_options(options, source)
    devices = resolve_devices(options.devices, available_devices)
    check_ranks(options, devices, available_devices)
    threads = options.threads or (default_threads(),)
    configs: dict[CellKey, dict[str, Any]] = {}
    for spec in specs:
        base = config_for(spec, options.overrides)
        batch_sizes = options.batch_sizes or (base["batch_size"],)
        if not options.batch_sizes:  # --batch-sizes were checked by check_ranks
            check_strong_split(options, *model_batch(spec, base["batch_size"], options))
        for batch, variant, device in itertools.product(batch_sizes, options.variants, devices):
            config = {**base, "batch_size": batch}
            for key in cell_keys(spec.name, device, batch, variant, threads, options):
                configs.setdefault(key, config)
    stored_models = tuple(
        spec.name if spec.name in REFERENCE_MODELS else str(spec.path) for spec in specs
    )
    resolved = replace(
        options,
        models=stored_models,
        devices=tuple(devices),
        threads=tuple(threads),
        data=data_source(source),
    )
    return SweepPlan(options=resolved, models=specs, source=source, configs=configs)


def device_kind(device: str) -> str:
    """What a DDP cell runs on: ``cuda:1`` -> ``cuda`` (rank r takes cuda:LOCAL_RANK)."""
    return device.partition(":")[0]


def cell_keys(
    model: str,
    device: str,
    batch: int,
    variant: str,
    threads: tuple[int, ...],
    options: SweepOptions,
) -> list[CellKey]:
    """The cells of one model, batch, variant and device over the world sizes: the
    single-device cell at world size 1, then a strong and a weak DDP cell for each world
    size above 1 (once per device kind; CPU threads split between a node's ranks)."""
    keys = []
    for world in options.world_sizes:
        if world == 1:
            for count in threads if device == "cpu" else (None,):
                keys.append(CellKey(model, device, batch, variant, count))
            continue
        per_node = world // options.nnodes
        on_cpu = device == "cpu"
        per_rank = sorted({max(1, t // per_node) for t in threads}) if on_cpu else [None]
        for count in per_rank:
            for scaling in ("strong", "weak"):
                keys.append(
                    CellKey(model, device_kind(device), batch, variant, count, world, scaling)
                )
    return keys


def check_ranks(options: SweepOptions, devices: list[str], available: list[str]) -> None:
    """One-line usage errors before anything runs: enough visible GPUs for the ranks of a
    node, and a global batch that strong scaling can split evenly."""
    gpus = [d for d in available if d.startswith("cuda")]
    most = max(options.nproc)
    if most > 1 and any(d.startswith("cuda") for d in devices) and most > len(gpus):
        raise UsageError(
            f"--nproc {most}: needs {most} visible GPUs on this node, found {len(gpus)}; "
            "see gpubench doctor"
        )
    for batch in options.batch_sizes or ():
        check_strong_split(options, batch, f"--batch-sizes {batch}", "use")


def model_batch(spec: ModelSpec, batch: int, options: SweepOptions) -> tuple[int, str, str]:
    """A model's batch size where --batch-sizes does not give it, named as the user set it,
    and what to do about it."""
    if "batch_size" in options.overrides:
        return batch, f"--set batch_size={batch}", "use"
    return batch, f"model {spec.name!r} has batch size {batch}", "pass --batch-sizes with"


def check_strong_split(options: SweepOptions, batch: int, named: str, fix: str) -> None:
    """A one-line usage error where strong scaling cannot split ``batch`` evenly between the
    ranks of a world size (otherwise every rank would fail only once it runs)."""
    for world in options.world_sizes:
        if world > 1 and batch % world:
            raise UsageError(
                f"{named}: strong scaling splits it between {world} ranks; "
                f"{fix} multiples of {world}"
            )


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
