"""What the engine sends a bench worker and what the worker sends back, as typed records.

The engine writes a ``WorkerJob`` as JSON on the worker's stdin; the worker answers with JSON
lines, the last one a ``result`` carrying a ``WorkerResult`` (or an ``error``). The protocol
is described in docs/design.md ("Worker protocol"). ``DataSource`` (data_source.py) names the
training text the same way in a job and in ``results.json``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from gpubench.results.data_source import DataSource
from gpubench.results.model import Phases, StepStats, Throughput, _build

__all__ = ["DataSource", "JobMode", "WorkerJob", "WorkerResult"]

JobMode = Literal["phases", "full"]


@dataclass(frozen=True)
class WorkerJob:
    """One cell's work for a fresh worker: measure its phases, or train it for real."""

    mode: JobMode
    model: str  # the model file's path (the worker loads it)
    config: dict[str, Any]
    device: str
    variant: str
    data: DataSource
    threads: int | None = None
    budget_s: float = 0.0  # phases: seconds the worker may spend measuring
    generate: int = 0  # phases: tokens to sample to time generate(); 0 skips that phase
    iters: int = 0  # full: training steps
    protocol: str = "lecture"  # full: lecture (with evaluations) or train
    retune: bool = False  # fast/compile: measure the fast variant's choices even on a cache hit
    fast_choices: dict[str, Any] | None = None  # full: train with the choices its phases made
    profile: bool = True  # phases: profile a few steady steps op by op (the regime, predict)
    machine: dict[str, Any] | None = None  # phases: MachineParams the device probe measured

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "data": self.data.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerJob:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        values["data"] = DataSource.from_dict(data.get("data"))
        return cls(**values)


@dataclass
class WorkerResult:
    """What a worker measured. ``step`` and ``throughput`` come from a phases job; ``loop_s``
    and the losses from a full run. Startup is timed by the parent, so it is not here."""

    device_name: str
    n_params: int
    threads: int
    device_init_s: float
    data_s: float
    build_s: float
    compile_s: float | None = None
    tune_s: float | None = None  # fast/compile: the probe that chose the fast options
    fast_choices: dict[str, Any] | None = None  # gpubench.core.tuning.FastChoices.to_dict()
    # phases job
    first_steps_s: list[float] = field(default_factory=list)
    step: StepStats | None = None
    eval_s: float = 0.0
    eval_batches_measured: int = 0
    eval_iters: int = 0
    generate_tokens_per_s: float | None = None
    throughput: Throughput | None = None
    profile: dict[str, Any] | None = None  # OpProfile.to_dict() (gpubench.results.profile)
    eval_batch_times_s: list[float] = field(default_factory=list)
    step_recheck_s: list[float] = field(default_factory=list)
    # full job
    loop_s: float | None = None
    train_loss: float | None = None
    val_loss: float | None = None

    @property
    def setup_s(self) -> float:
        """Device init, data, build, tuning and compile: everything between startup and the
        loop."""
        return (
            self.device_init_s + self.data_s + self.build_s
            + (self.tune_s or 0.0) + (self.compile_s or 0.0)
        )  # fmt: skip

    def phases(self, startup_s: float) -> Phases:
        """The cell's phases, with the startup time the parent measured."""
        if self.step is None:
            raise ValueError("a full-run result has no phases")
        return Phases(
            startup_s=startup_s, device_init_s=self.device_init_s, data_s=self.data_s,
            build_s=self.build_s, first_steps_s=list(self.first_steps_s), step=self.step,
            eval_s=self.eval_s, eval_batches_measured=self.eval_batches_measured,
            eval_iters=self.eval_iters, compile_s=self.compile_s, tune_s=self.tune_s,
            generate_tokens_per_s=self.generate_tokens_per_s,
            eval_batch_times_s=list(self.eval_batch_times_s),
            step_recheck_s=list(self.step_recheck_s),
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerResult:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        if values.get("step") is not None:
            values["step"] = _build(StepStats, values["step"])
        if values.get("throughput") is not None:
            values["throughput"] = _build(Throughput, values["throughput"])
        return cls(**values)
