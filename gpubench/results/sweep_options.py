"""What a sweep was asked to do, as one typed record: parsed once from the command line,
stored in ``results.json`` as ``settings``, and read back as the same type by ``--resume``.

Before the plan is expanded, ``devices`` may be ``("auto",)`` and ``threads`` empty (all
physical cores); the stored settings hold the resolved lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from gpubench.results.data_source import DataSource

PROTOCOLS = ("lecture", "train")  # lecture: evaluations in the loop (the headline); train: none
VARIANTS = ("reference", "fast", "compile")  # compile: the fast variant under torch.compile

# The sweep's defaults; torch-free so that the CLI can show them in --help.
DEFAULT_MODELS = ("bigram", "gpt")
DEFAULT_ITERS = (500, 5000, 50000)
DEFAULT_BUDGET_S = 300.0


@dataclass(frozen=True)
class SweepOptions:
    """Models x batch sizes x variants x devices x threads x world sizes, and how long to
    measure them."""

    models: tuple[str, ...] = DEFAULT_MODELS  # reference model names or model file paths
    devices: tuple[str, ...] = ("auto",)
    iters: tuple[int, ...] = DEFAULT_ITERS
    batch_sizes: tuple[int, ...] | None = None  # None: each model's lecture batch size
    protocol: str = "lecture"
    variants: tuple[str, ...] = ("reference",)
    budget_s: float = DEFAULT_BUDGET_S
    full: bool = False  # run every iteration count for real, whatever the budget
    threads: tuple[int, ...] = ()  # CPU thread counts; empty: all physical cores
    overrides: dict[str, str] = field(default_factory=dict)  # --set KEY=VALUE
    generate: int = 0  # tokens sampled per cell to time generate(); 0 skips that phase
    retune: bool = False  # measure the fast variant's choices even where they are cached
    data: DataSource = field(default_factory=lambda: DataSource(label="unknown"))
    # ranks per node (1: the single-device worker; more: DDP cells through torchrun)
    nproc: tuple[int, ...] = (1,)
    nnodes: int = 1  # machines running the same cells (torchrun's c10d rendezvous)
    rdzv_endpoint: str | None = None  # HOST:PORT of the rendezvous, with nnodes > 1
    node_rank: int | None = None  # this machine's rank among the nodes (None: join order)

    @property
    def world_sizes(self) -> tuple[int, ...]:
        """Ranks over all nodes for each --nproc entry (docs/distributed.md)."""
        return tuple(sorted({n * self.nnodes for n in self.nproc}))

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape: lists for tuples, the data source as a dict; the launch keys only
        where the sweep has ranks (single-device settings are stored as before)."""
        stored = {
            "models": list(self.models),
            "devices": list(self.devices),
            "iters": list(self.iters),
            "batch_sizes": list(self.batch_sizes) if self.batch_sizes is not None else None,
            "protocol": self.protocol,
            "variants": list(self.variants),
            "budget_s": self.budget_s,
            "full": self.full,
            "threads": list(self.threads),
            "overrides": dict(self.overrides),
            "generate": self.generate,
            "retune": self.retune,
            "data": self.data.to_dict(),
        }
        if self.nproc != (1,) or self.nnodes > 1:
            stored.update(
                nproc=list(self.nproc), nnodes=self.nnodes,
                rdzv_endpoint=self.rdzv_endpoint, node_rank=self.node_rank,
            )  # fmt: skip
        return stored

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SweepOptions:
        """Read stored settings (schema /1 and /2 share this shape); missing keys get defaults."""
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        for name in ("models", "devices", "variants"):
            if name in values:
                values[name] = tuple(str(item) for item in values[name])
        for name in ("iters", "threads", "nproc"):
            if name in values:
                values[name] = tuple(int(item) for item in values[name] or ())
        if values.get("batch_sizes") is not None:
            values["batch_sizes"] = tuple(int(item) for item in values["batch_sizes"])
        if "overrides" in values:
            values["overrides"] = {str(k): str(v) for k, v in (values["overrides"] or {}).items()}
        if "budget_s" in values:
            values["budget_s"] = float(values["budget_s"])
        if "generate" in values:
            values["generate"] = int(values["generate"] or 0)
        if not values.get("nproc"):
            values.pop("nproc", None)
        if "nnodes" in values:
            values["nnodes"] = int(values["nnodes"] or 1)
        if values.get("node_rank") is not None:
            values["node_rank"] = int(values["node_rank"])
        for name in ("full", "retune"):
            if name in values:
                values[name] = bool(values[name])
        values["data"] = DataSource.from_dict(data.get("data"))
        return cls(**values)
