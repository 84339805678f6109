"""Result records of a sweep and their JSON form (schema ``gpubench.run/2``).

Records are plain dataclasses; ``to_dict``/``from_dict`` give the JSON shape that
``results.json`` stores, so a run copied from another machine renders the same. Reading and
writing files, and upgrading older schemas, is io.py's job (docs/design.md, "Results schema").

Schema history:
  gpubench.run/1  first version.
  gpubench.run/2  each cell stores its fitted cost terms under ``"cost"``; ``settings`` is
                  the typed SweepOptions (same keys as /1, now always complete).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from gpubench.results.cost_terms import CostModel
from gpubench.results.cpuload import CpuLoad
from gpubench.results.sweep_options import SweepOptions

if TYPE_CHECKING:
    import pandas

SCHEMA = "gpubench.run/2"
SCHEMAS = ("gpubench.run/1", SCHEMA)  # every schema this version reads
NOISY_SPREAD = 0.10  # IQR / median above this flags a cell as noisy (docs/design.md)


@dataclass(frozen=True)
class CellKey:
    """What one cell measures: a model at a batch size and variant on a device, on one rank
    or on ``world_size`` ranks under DDP (docs/distributed.md)."""

    model: str
    device: str  # a world size > 1 names the kind: "cpu" or "cuda" (rank r on cuda:LOCAL_RANK)
    batch_size: int  # scaling strong: the global batch; weak: the batch of each rank
    variant: str = "reference"
    threads: int | None = None  # CPU threads (per rank); None off the CPU
    world_size: int = 1  # ranks over all nodes; 1: the single-device worker
    scaling: str | None = None  # world size > 1: "strong" (global batch fixed) or "weak"

    @property
    def id(self) -> str:
        """``gpt/cpu/b16/reference/t2``; a world size > 1 adds ``/x2-weak`` (a single-device
        cell's id is as it always was, so older runs keep theirs)."""
        threads = f"/t{self.threads}" if self.threads else ""
        ranks = f"/x{self.world_size}-{self.scaling}" if self.distributed else ""
        return f"{self.model}/{self.device}/b{self.batch_size}/{self.variant}{threads}{ranks}"

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def group(self) -> tuple[str, int, str]:
        """Cells in one group differ only by device: they are compared with each other."""
        return (self.model, self.batch_size, self.variant)


@dataclass
class StepStats:
    """Steady-state step time from blocks of steps, each block timed with one sync."""

    median_s: float
    q1_s: float
    q3_s: float
    n_steps_measured: int
    steps_per_block: int
    warmup_steps: int
    block_times_s: list[float] = field(default_factory=list)  # seconds per block (raw)

    @property
    def iqr_s(self) -> float:
        return self.q3_s - self.q1_s

    @property
    def spread(self) -> float:
        """IQR relative to the median."""
        return self.iqr_s / self.median_s if self.median_s > 0 else 0.0

    @property
    def noisy(self) -> bool:
        return self.spread > NOISY_SPREAD


@dataclass
class Phases:
    """Seconds spent in each phase of one cell (docs/design.md, "Phases")."""

    startup_s: float  # interpreter start + import torch, measured by the parent
    device_init_s: float
    data_s: float
    build_s: float
    first_steps_s: list[float]  # the first steps, one by one
    step: StepStats
    eval_s: float  # one estimate_loss call (eval_iters batches per split), maybe scaled
    eval_batches_measured: int  # batches per split actually timed
    eval_iters: int
    compile_s: float | None = None
    generate_tokens_per_s: float | None = None
    tune_s: float | None = None  # the fast variant's probe (0 on a cache hit); part of F
    # seconds of each timed evaluation batch pair (one train + one val batch), where recorded
    eval_batch_times_s: list[float] = field(default_factory=list)
    # per-step seconds of blocks re-timed at the end of the cell: the run's own drift measure
    step_recheck_s: list[float] = field(default_factory=list)

    @property
    def eval_scaled(self) -> bool:
        return self.eval_batches_measured < self.eval_iters

    def quality_notes(self) -> list[str]:
        """What a reader must know about how these phases were measured."""
        notes = []
        if self.step.noisy:
            notes.append(f"noisy: step IQR is {self.step.spread:.0%} of the median (over 10 %)")
        if self.step.n_steps_measured < 10:
            notes.append(f"only {self.step.n_steps_measured} steady steps measured (slow steps)")
        if self.eval_scaled:
            notes.append(
                f"eval timed on {self.eval_batches_measured} of {self.eval_iters} "
                "batches per split and scaled"
            )
        return notes


@dataclass
class Throughput:
    tokens_per_step: int
    tokens_per_s: float
    flops_per_step: float | None = None
    flops_per_s: float | None = None
    dtype: str = "float32"
    peak_flops_measured: float | None = None  # matmul probe at ``dtype`` on this device
    mfu: float | None = None  # against the measured peak
    peak_flops_spec: float | None = None
    peak_flops_spec_source: str | None = None
    flops_method: str | None = None  # "formula (PaLM B)" | "counted (FlopCounterMode)" | ...


@dataclass
class MeasuredRun:
    """A real full training run of ``iters`` steps in a fresh worker."""

    iters: int
    protocol: str
    seconds: float  # startup + device_init + data + build + the training loop
    loop_s: float
    train_loss: float | None
    val_loss: float | None
    predicted_s: float | None = None

    @property
    def prediction_error(self) -> float | None:
        """(predicted - measured) / measured."""
        if self.predicted_s is None or self.seconds <= 0:
            return None
        return (self.predicted_s - self.seconds) / self.seconds


@dataclass
class Failure:
    kind: str  # crash | oom | timeout | error | interrupted
    message: str
    log_tail: str = ""


@dataclass
class CellResult:
    key: CellKey
    config: dict[str, Any]
    status: str = "pending"  # pending | ok | failed | interrupted
    device_name: str = ""
    n_params: int | None = None
    phases: Phases | None = None
    throughput: Throughput | None = None
    runs: list[MeasuredRun] = field(default_factory=list)
    failure: Failure | None = None
    notes: list[str] = field(default_factory=list)
    cost: CostModel | None = None  # fitted terms (costmodel.fit_cost_model); None unmeasured
    fast_choices: dict[str, Any] | None = None  # the fast variant's measured options
    cpu_load: CpuLoad | None = None  # other processes on the CPU while the cell ran
    profile: dict[str, Any] | None = None  # OpProfile.to_dict(): ops of a profiled step
    # world size > 1: the DDP shape, fixed costs (process_group_init_s, ddp_wrap_s), threads
    # per rank and every rank's node metadata ("ranks"), as rank 0 reported them
    distributed: dict[str, Any] | None = None
    allreduce: dict[str, Any] | None = None  # share of the step, quartiles, method (no_sync)

    def run_for(self, iters: int, protocol: str) -> MeasuredRun | None:
        for run in self.runs:
            if run.iters == iters and run.protocol == protocol:
                return run
        return None


@dataclass
class Estimate:
    """Time to train ``iters`` steps on one cell: measured, or extrapolated with a range."""

    iters: int
    protocol: str
    seconds: float
    low_s: float
    high_s: float
    measured: bool
    predicted_s: float  # the cost model's value (equals ``seconds`` when extrapolated)
    predicted_low_s: float | None = None  # the prediction's range (for a measured count:
    predicted_high_s: float | None = None  # fitted without that run, which checks it)
    dominant: str | None = None  # the range term that reaches furthest (cost_terms names)

    @property
    def prediction_error(self) -> float | None:
        """(predicted - measured) / measured for a measured count, the prediction made
        without that run; None for an extrapolation."""
        if not self.measured or self.seconds <= 0:
            return None
        return (self.predicted_s - self.seconds) / self.seconds


@dataclass
class Crossover:
    """Where an accelerator starts to beat the baseline (the CPU) for one group."""

    model: str
    batch_size: int
    variant: str
    protocol: str
    device: str
    baseline: str
    kind: str  # from-first | at | until | never | unknown
    iters: float | None  # at: first count it stays cheaper from; until: last count it wins
    step_ratio: float | None  # baseline per-step cost / device per-step cost (>1: device faster)
    fixed_gap_s: float | None  # device fixed cost - baseline fixed cost
    reason: str
    baseline_cell: str | None = None  # the baseline's cell id (the fastest CPU cell)


@dataclass
class BatchCrossover:
    """The smallest tested batch size from which the device's per-step cost is lower."""

    model: str
    variant: str
    device: str
    baseline: str
    batch_sizes: list[int]
    from_batch_size: int | None
    reason: str


@dataclass
class RunResults:
    run_id: str
    created_utc: str
    command: list[str]
    settings: SweepOptions
    metadata: dict[str, Any]
    cells: list[CellResult] = field(default_factory=list)
    estimates: dict[str, list[Estimate]] = field(default_factory=dict)  # by cell id
    crossovers: list[Crossover] = field(default_factory=list)
    batch_crossovers: list[BatchCrossover] = field(default_factory=list)
    summary: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    status: str = "running"  # running | complete | interrupted
    engine: dict[str, float] = field(default_factory=dict)  # wall_s, measured_s, measured_share
    schema: str = SCHEMA

    def __post_init__(self) -> None:
        if isinstance(self.settings, dict):  # settings as JSON holds them (or a test builds)
            self.settings = SweepOptions.from_dict(self.settings)

    def cell(self, key: CellKey) -> CellResult | None:
        for cell in self.cells:
            if cell.key == key:
                return cell
        return None

    def frame(self) -> pandas.DataFrame:
        """One tidy row per cell x iteration count x protocol (see frame.py for the columns)."""
        from gpubench.results.frame import run_frame

        return run_frame(self)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["settings"] = self.settings.to_dict()
        # Derived values are stored too, so readers need not recompute them.
        for cell, stored in zip(self.cells, data["cells"], strict=True):
            stored["id"] = cell.key.id
            if not cell.key.distributed:  # single-device cells are stored as before DDP
                for name in ("world_size", "scaling"):
                    stored["key"].pop(name)
                for name in ("distributed", "allreduce"):
                    stored.pop(name)
            if cell.phases is not None:
                stats = cell.phases.step
                stored["phases"]["step"].update(
                    iqr_s=stats.iqr_s, spread=stats.spread, noisy=stats.noisy
                )
                stored["phases"]["eval_scaled"] = cell.phases.eval_scaled
            for run, stored_run in zip(cell.runs, stored["runs"], strict=True):
                stored_run["prediction_error"] = run.prediction_error
        return {"schema": data.pop("schema"), **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        """Read a /1 or /2 record as it is; io.load_results fills what /1 lacks."""
        if data.get("schema") not in SCHEMAS:
            raise ValueError(f"not a {SCHEMA} results file (schema: {data.get('schema')!r})")
        return cls(
            run_id=data["run_id"],
            created_utc=data["created_utc"],
            command=list(data["command"]),
            settings=SweepOptions.from_dict(data["settings"]),
            metadata=dict(data["metadata"]),
            cells=[_cell_from_dict(c) for c in data["cells"]],
            estimates={
                k: [_build(Estimate, e) for e in v] for k, v in data.get("estimates", {}).items()
            },
            crossovers=[_build(Crossover, c) for c in data.get("crossovers", [])],
            batch_crossovers=[_build(BatchCrossover, c) for c in data.get("batch_crossovers", [])],
            summary=list(data.get("summary", [])),
            warnings=list(data.get("warnings", [])),
            status=data.get("status", "complete"),
            engine=dict(data.get("engine", {})),
            schema=data["schema"],
        )


def _build(kind: type, data: dict[str, Any]) -> Any:
    """Construct a dataclass from a dict, ignoring derived keys stored beside the fields."""
    names = {f.name for f in fields(kind)}
    return kind(**{k: v for k, v in data.items() if k in names})


def _cell_from_dict(data: dict[str, Any]) -> CellResult:
    phases = None
    if data.get("phases"):
        raw = dict(data["phases"])
        raw["step"] = _build(StepStats, raw["step"])
        phases = _build(Phases, raw)
    return CellResult(
        key=_build(CellKey, data["key"]),
        config=dict(data["config"]),
        status=data["status"],
        device_name=data.get("device_name", ""),
        n_params=data.get("n_params"),
        phases=phases,
        throughput=_build(Throughput, data["throughput"]) if data.get("throughput") else None,
        runs=[_build(MeasuredRun, r) for r in data.get("runs", [])],
        failure=_build(Failure, data["failure"]) if data.get("failure") else None,
        notes=list(data.get("notes", [])),
        cost=CostModel.from_dict(data["cost"]) if data.get("cost") else None,
        fast_choices=data.get("fast_choices"),
        cpu_load=_build(CpuLoad, data["cpu_load"]) if data.get("cpu_load") else None,
        profile=data.get("profile"),
        distributed=data.get("distributed"),
        allreduce=data.get("allreduce"),
    )
