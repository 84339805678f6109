"""The engine: runs each cell in a fresh worker process and spends the budget.

First each device is probed once (matmul peak, machine parameters) in a worker of its own;
then the phases of every cell are measured; then real full runs of the iteration counts that
fit the budget (or all of them with ``full``). Everything a worker costs, its startup
included, counts against the budget. results.json is rewritten atomically after every
worker, so a kill, Ctrl-C or SIGTERM never loses what was measured. A sampler watches the
CPU meanwhile: a cell that other processes slowed down is marked and a warning names the
command to rerun (docs/design.md, "Run flow").
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpubench.bench.peak import DeviceProbeJob, DeviceProbeResult
from gpubench.bench.plan import SweepPlan
from gpubench.errors import GpubenchError
from gpubench.interrupts import EXIT_SIGINT, exit_code
from gpubench.results.costmodel import (
    CostModel,
    cell_cost_model,
    derive_results,
    fit_cost_model,
    plan_full_runs,
)
from gpubench.results.cpuload import CpuLoad, busy_machine_lines
from gpubench.results.io import save_results
from gpubench.results.job import JobMode, WorkerJob, WorkerResult
from gpubench.results.model import (
    CellKey,
    CellResult,
    Failure,
    MeasuredRun,
    Phases,
    RunResults,
    StepStats,
    Throughput,
)
from gpubench.results.sweep_options import SweepOptions
from gpubench.runner import EventHandler, WorkerOutcome, describe_returncode, killed_by_sigkill
from gpubench.runner import run_worker as run_module

if TYPE_CHECKING:
    from gpubench.bench.distributed import DistributedOutcome, LaunchSpec

PHASES_SHARE = 0.5  # at most this share of the budget goes to measuring phases
MIN_PHASE_BUDGET_S = 2.0
WORKER_MODULE = "gpubench.bench.worker"
PROBE_MODULE = "gpubench.bench.peak"
PROBE_TIMEOUT_S = 180.0
BUSY_PREFIXES = ("The CPU was busy", "Rerun when the machine is idle")
DONE = ("ok", "elsewhere")  # cells a resumed sweep does not run again
REPORTED_ELSEWHERE = (
    "measured on several machines: global rank 0 ran on another node, whose run folder "
    "holds this cell's results"
)
THROUGHPUT_FIELDS = {f.name for f in dataclasses.fields(Throughput)}


class RendezvousFailed(GpubenchError):
    """The nodes of a several-machine sweep did not meet: every next cell would wait again,
    so the sweep stops (what was measured is saved)."""

    def __init__(self, message: str, run_dir: Path):
        super().__init__(f"{message} (sweep stopped; measured cells saved in {run_dir})")
        self.run_dir = run_dir


class SweepInterrupted(GpubenchError):
    """Ctrl-C or SIGTERM during a sweep; what was measured is saved in ``run_dir``."""

    def __init__(self, run_dir: Path, code: int = EXIT_SIGINT):
        how = "terminated (SIGTERM)" if code != EXIT_SIGINT else "interrupted"
        super().__init__(
            f"{how}; what was measured is saved in {run_dir}; "
            f"continue with: gpubench run --resume {run_dir}"
        )
        self.run_dir = run_dir
        self.exit_code = code


@contextlib.contextmanager
def fresh_compile_caches() -> Iterator[dict[str, str]]:
    """An empty Inductor and Triton cache for one worker, removed afterwards.

    Every worker compiles cold, as a user's fresh process does on a new machine: a phases
    worker that filled a shared cache made the later full run compile almost for free, so
    the compile variant was predicted cold and measured warm.
    """
    root = tempfile.mkdtemp(prefix="gpubench-compile-cache-")
    try:
        yield {
            "TORCHINDUCTOR_CACHE_DIR": str(Path(root) / "inductor"),
            "TRITON_CACHE_DIR": str(Path(root) / "triton"),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run_job(
    job: WorkerJob,
    *,
    timeout_s: float,
    on_event: EventHandler | None = None,
    python: str | None = None,
) -> WorkerOutcome:
    """Run one job in a fresh worker process (gpubench.runner) with compile caches of its
    own; never raises for a bad cell."""
    with fresh_compile_caches() as env:
        return run_module(
            WORKER_MODULE, timeout=timeout_s, stdin=json.dumps(job.to_dict()), python=python,
            on_event=on_event, env=env,
        )  # fmt: skip


def run_probe(
    job: DeviceProbeJob, *, timeout_s: float = PROBE_TIMEOUT_S, python: str | None = None
) -> tuple[DeviceProbeResult, WorkerOutcome]:
    """The device probe in a worker of its own; a failed probe is notes, never an error."""
    outcome = run_module(
        PROBE_MODULE, timeout=timeout_s, stdin=json.dumps(job.to_dict()), python=python
    )
    if outcome.ok and outcome.result is not None:
        return DeviceProbeResult.from_dict(outcome.result), outcome
    why = outcome.describe_failure(timeout_s)
    note = f"device probe on {job.device} {why}; no measured peak, no MFU for its cells"
    return DeviceProbeResult(peaks=dict.fromkeys(job.dtypes), notes=[note]), outcome


def probe_key(device: str, threads: int | None) -> str:
    return f"{device}/t{threads}" if threads else device


def cell_threads(key: CellKey) -> int:
    """Threads a cell's work needs: torch's threads on the CPU, one host thread otherwise."""
    if key.device == "cpu":
        from gpubench.bench.cpuload import usable_cores

        return key.threads or usable_cores()
    return 1


def launch_spec(options: SweepOptions, key: CellKey, run: str) -> LaunchSpec:
    """The torchrun shape of a DDP cell; the rendezvous id names the cell and the launch,
    so every node joins the same one (and a late node never joins the previous cell's)."""
    from gpubench.bench.distributed import LaunchSpec

    digest = hashlib.sha256(f"{key.id}/{run}".encode()).hexdigest()[:12]
    host = (options.rdzv_endpoint or "").rpartition(":")[0]
    # nodes meeting on a loopback address are one machine: reach each other there too
    local = host if host in ("127.0.0.1", "localhost", "[::1]") else None
    return LaunchSpec(
        nproc_per_node=key.world_size // options.nnodes, nnodes=options.nnodes,
        rdzv_endpoint=options.rdzv_endpoint, node_rank=options.node_rank,
        rdzv_id=f"gpubench-{digest}", local_addr=local,
    )  # fmt: skip


def ddp_job(job: WorkerJob, key: CellKey) -> dict[str, Any]:
    """The rank program's job: the worker job plus the scaling mode (docs/distributed.md)."""
    return {**job.to_dict(), "scaling": key.scaling}


def with_distributed_costs(cost: CostModel, shape: dict[str, Any] | None) -> CostModel:
    """A DDP cell's terms with process-group init and the DDP wrap in F."""
    from gpubench.results.scaling import distributed_cost_model

    if not shape:
        return cost
    return distributed_cost_model(
        cost, process_group_init_s=float(shape.get("process_group_init_s") or 0.0),
        ddp_wrap_s=float(shape.get("ddp_wrap_s") or 0.0),
    )  # fmt: skip


def default_sampler() -> Any:
    """psutil's view of the machine, or None where it cannot be read."""
    try:
        from gpubench.bench.cpuload import CpuLoadSampler

        return CpuLoadSampler()
    except Exception:
        return None


def job_result(outcome: WorkerOutcome) -> WorkerResult | None:
    """The typed result of a worker that finished."""
    return WorkerResult.from_dict(outcome.result) if outcome.ok and outcome.result else None


def job_failure(outcome: WorkerOutcome, timeout_s: float) -> Failure | None:
    """A failed worker as the failure record of its cell: error, oom, crash or timeout."""
    if outcome.ok:
        return None
    tail = outcome.stderr_tail
    if outcome.status == "timeout":
        message = f"no result within {timeout_s:.0f} s; the worker was stopped"
        return Failure("timeout", message, tail)
    if outcome.status == "error" and outcome.error is not None:
        error = outcome.error
        traceback = str(error.get("traceback") or "") or tail
        return Failure(str(error.get("kind", "error")), str(error.get("message", "")), traceback)
    if killed_by_sigkill(outcome.returncode):
        message = "the worker was killed (SIGKILL), most often by the out-of-memory killer"
        return Failure("oom", message, tail)
    if outcome.status == "crashed":
        message = f"the worker died from {describe_returncode(outcome.returncode)}"
        return Failure("crash", message, tail)
    if outcome.status == "spawn-failed":
        return Failure("crash", f"the worker could not be started: {tail}", "")
    message = f"the worker exited with {describe_returncode(outcome.returncode)} before reporting"
    return Failure("crash", message, tail)


class Engine:
    """Runs a planned sweep, keeping ``results`` and ``run_dir/results.json`` current."""

    def __init__(
        self,
        plan: SweepPlan,
        results: RunResults,
        run_dir: Path,
        *,
        on_event: EventHandler | None = None,
        python: str | None = None,
        clock: Callable[[], float] = time.perf_counter,
        sampler: Any = None,
    ):
        self.plan = plan
        self.results = results
        self.run_dir = run_dir
        self.on_event = on_event or (lambda event: None)
        self.python = python  # the workers' interpreter (default: this one)
        self.clock = clock
        self.measured_s = float(results.engine.get("measured_s", 0.0))  # resumed runs add up
        self.wall_before_s = float(results.engine.get("wall_s", 0.0))
        self.phases_spent_s = 0.0  # device probes and phases workers of this session
        self.sampler = sampler  # a CpuLoadSampler (default_sampler() in run)
        self.probes: dict[str, DeviceProbeResult] = {}
        self.warned: set[str] = set()  # cells whose busy-machine warning was printed
        self._current: tuple[float, float] | None = None  # (start, expected s) of the job
        self._queue_s = 0.0  # predicted seconds of the jobs after the current one

    # -- jobs -------------------------------------------------------------------------
    def _job(self, key: CellKey, mode: JobMode, **extra: Any) -> WorkerJob:
        return WorkerJob(
            mode=mode, model=self.plan.model_file(key.model), config=self.plan.configs[key],
            device=key.device, variant=key.variant, threads=key.threads,
            data=self.plan.options.data, **extra,
        )  # fmt: skip

    def _run(self, key: CellKey, job: WorkerJob, timeout_s: float) -> WorkerOutcome:
        def forward(event: dict[str, Any]) -> None:
            self.on_event({**event, "cell": key.id, "mode": job.mode})

        start = self._now()
        outcome = run_job(job, timeout_s=timeout_s, on_event=forward, python=self.python)
        self.measured_s += outcome.seconds
        self._record_load(key, start)
        return outcome

    # -- the CPU meanwhile --------------------------------------------------------------
    def _now(self) -> float:
        return self.sampler.clock() if self.sampler is not None else 0.0

    def _record_load(self, key: CellKey, start: float) -> None:
        """The CPU load while a worker of ``key`` ran; the worse of its workers is kept, and a
        contended cell is announced at once with the command to rerun."""
        if self.sampler is None:
            return
        self.sampler.sample()  # close the interval at the worker's end
        load = self.sampler.load_between(start, self._now(), threads=cell_threads(key))
        cell = self._cell(key)
        if cell.cpu_load is None or load.others_during_cores > cell.cpu_load.others_during_cores:
            cell.cpu_load = load
        if load.contended and key.id not in self.warned:
            self.warned.add(key.id)
            lines = busy_machine_lines({key.id: load}, self.results.command)
            self.on_event({"event": "busy", "cell": key.id, "message": " ".join(lines)})

    def busy_lines(self) -> list[str]:
        """The busy-machine lines for the whole run (empty when no cell was contended)."""
        loads: dict[str, CpuLoad] = {
            c.key.id: c.cpu_load for c in self.results.cells if c.cpu_load is not None
        }
        return busy_machine_lines(loads, self.results.command)

    # -- the device probe ---------------------------------------------------------------
    def probe_devices(self) -> None:
        """Matmul peak and machine parameters once per device and thread count, before the
        cells, each in a worker of its own (a failure leaves notes and no peak)."""
        stored = self.results.metadata.setdefault("device_probes", {})
        wanted: dict[str, tuple[str, int | None, set[str]]] = {}
        for key in self.plan.cells:
            if self._cell(key).status in DONE or key.distributed:
                continue
            dtypes = {"fp32"}
            if key.device.startswith("cuda") and key.variant in ("fast", "compile"):
                dtypes.add("bf16")
            name = probe_key(key.device, key.threads)
            wanted.setdefault(name, (key.device, key.threads, set()))[2].update(dtypes)
        for name, (device, threads, dtypes) in wanted.items():
            self._probe(name, device, threads, sorted(dtypes), machine=True)
            stored[name] = {
                "peaks": self.probes[name].peaks, "notes": self.probes[name].notes,
            }  # fmt: skip
            for note in self.probes[name].notes:
                if note not in self.results.warnings:
                    self.results.warnings.append(note)

    def _probe(
        self, name: str, device: str, threads: int | None, dtypes: list[str], *, machine: bool
    ) -> None:
        job = DeviceProbeJob(device=device, threads=threads, dtypes=tuple(dtypes), machine=machine)
        self.on_event({"event": "cell", "cell": name, "mode": "probe", "eta_s": self.eta_s()})
        probe, outcome = run_probe(job, python=self.python)
        self.measured_s += outcome.seconds
        self.phases_spent_s += outcome.seconds
        known = self.probes.setdefault(name, DeviceProbeResult())
        known.peaks.update(probe.peaks)
        known.notes.extend(probe.notes)
        if probe.machine is not None:
            known.machine = probe.machine

    def peak_for(self, key: CellKey, dtype: str) -> float | None:
        """The measured matmul peak of the cell's device at ``dtype`` (probed now, in its own
        worker, if the cell trained at a dtype nobody probed yet)."""
        from gpubench.predict.datasheets import normalise_dtype

        name = probe_key(key.device, key.threads)
        try:
            wanted = normalise_dtype(dtype)
        except ValueError:
            return None
        if wanted not in self.probes.get(name, DeviceProbeResult()).peaks:
            self._probe(name, key.device, key.threads, [wanted], machine=False)
        return self.probes[name].peaks.get(wanted)

    # -- the sweep --------------------------------------------------------------------
    def phase_budget(self) -> float:
        """Seconds for the next phases worker, its startup included: the phases' share of
        the budget less what probes and phases spent so far, over the cells still to do."""
        options = self.plan.options
        if options.nnodes > 1:  # every node must hand its ranks the same budget
            return max(MIN_PHASE_BUDGET_S, options.budget_s * PHASES_SHARE / len(self.plan.cells))
        pending = max(1, sum(self._cell(k).status not in DONE for k in self.plan.cells))
        share = options.budget_s * PHASES_SHARE - self.phases_spent_s
        return max(MIN_PHASE_BUDGET_S, share / pending)

    def _cell(self, key: CellKey) -> CellResult:
        cell = self.results.cell(key)
        if cell is None:
            cell = CellResult(key=key, config=self.plan.configs[key])
            self.results.cells.append(cell)
        return cell

    def measure_cell(self, key: CellKey, budget_s: float) -> CellResult:
        if key.distributed:
            return self.measure_distributed(key, budget_s)
        cell = self._cell(key)
        options = self.plan.options
        probe = self.probes.get(probe_key(key.device, key.threads))
        job = self._job(
            key, "phases", budget_s=budget_s, generate=options.generate, retune=options.retune,
            machine=probe.machine if probe is not None else None,
        )  # fmt: skip
        timeout_s = 4 * budget_s + 120
        outcome = self._run(key, job, timeout_s)
        self.phases_spent_s += outcome.seconds
        result = job_result(outcome)
        if result is None or result.step is None:
            cell.status, cell.failure = "failed", job_failure(outcome, timeout_s)
            return cell
        cell.phases = result.phases(startup_s=outcome.ready_s or 0.0)
        cell.cost = fit_cost_model(cell.phases, int(cell.config["eval_interval"]))
        cell.throughput = result.throughput
        if cell.throughput is not None:
            self._add_mfu(key, cell.throughput)
        cell.device_name = result.device_name
        cell.n_params = result.n_params
        cell.fast_choices, cell.profile = result.fast_choices, result.profile
        cell.status, cell.failure = "ok", None
        cell.notes = cell.phases.quality_notes()
        return cell

    def _add_mfu(self, key: CellKey, speed: Any) -> None:
        from gpubench.bench.flops import mfu

        peak = self.peak_for(key, speed.dtype)
        speed.peak_flops_measured = peak
        speed.mfu = mfu(speed.flops_per_s, peak) if speed.flops_per_s and peak else None

    # -- cells of world size > 1 (torchrun; docs/distributed.md) --------------------------
    def _launch(
        self, key: CellKey, job: WorkerJob, timeout_s: float, run: str
    ) -> DistributedOutcome:
        """One DDP launch of ``key``; a rendezvous that failed stops the sweep."""
        from gpubench.bench.distributed import launch_cell

        def forward(event: dict[str, Any]) -> None:
            self.on_event({**event, "cell": key.id, "mode": job.mode})

        spec = launch_spec(self.plan.options, key, run)
        start = self._now()
        outcome = launch_cell(
            ddp_job(job, key), spec, timeout_s=timeout_s, on_event=forward,
            python=self.python or sys.executable,
        )  # fmt: skip
        self.measured_s += outcome.wall_s
        self._record_load(key, start)
        if outcome.failure is not None and outcome.failure.kind == "rendezvous":
            cell = self._cell(key)
            if cell.status != "ok":
                cell.status, cell.failure = "failed", outcome.failure
            self.save()
            raise RendezvousFailed(outcome.failure.message, self.run_dir)
        return outcome

    def measure_distributed(self, key: CellKey, budget_s: float) -> CellResult:
        cell = self._cell(key)
        job = self._job(key, "phases", budget_s=budget_s)
        timeout_s = 4 * budget_s + 120
        outcome = self._launch(key, job, timeout_s, "phases")
        self.phases_spent_s += outcome.wall_s
        payload = outcome.payload
        if payload is None:
            if outcome.failure is None:  # rank 0 lived on another node: it reports there
                cell.status, cell.failure = "elsewhere", None
                cell.notes = [REPORTED_ELSEWHERE]
            else:
                cell.status, cell.failure = "failed", outcome.failure
            return cell
        raw = dict(payload["phases"])
        raw["step"] = StepStats(**raw["step"])
        cell.phases = Phases(startup_s=outcome.startup_s, **raw)
        cell.distributed = payload["distributed"]
        cell.allreduce = payload.get("allreduce")
        cell.cost = with_distributed_costs(
            fit_cost_model(cell.phases, int(cell.config["eval_interval"])), cell.distributed
        )
        speed = {k: v for k, v in payload["throughput"].items() if k in THROUGHPUT_FIELDS}
        cell.throughput = Throughput(**speed)
        cell.device_name, cell.n_params = payload["device_name"], payload["n_params"]
        cell.status, cell.failure = "ok", None
        cell.notes = cell.phases.quality_notes()
        return cell

    def full_run_distributed(self, key: CellKey, iters: int, expected: float) -> None:
        cell = self._cell(key)
        protocol = self.plan.options.protocol
        job = self._job(key, "full", iters=iters, protocol=protocol)
        timeout_s = 3 * expected + 120
        outcome = self._launch(key, job, timeout_s, f"full-{iters}")
        payload = outcome.payload
        if payload is None or payload.get("loop_s") is None:
            failure = outcome.failure or Failure("error", "no training loop time")
            cell.notes.append(
                f"full run of {iters:,} iterations failed ({failure.kind}): {failure.message}"
            )
            return
        shape = payload.get("distributed") or {}
        setup_s = sum(float(payload[k]) for k in ("device_init_s", "data_s", "build_s"))
        setup_s += float(shape.get("process_group_init_s", 0.0))
        setup_s += float(shape.get("ddp_wrap_s", 0.0))
        loop_s = float(payload["loop_s"])
        cell.runs.append(
            MeasuredRun(
                iters=iters, protocol=protocol, seconds=outcome.startup_s + setup_s + loop_s,
                loop_s=loop_s, train_loss=payload.get("train_loss"),
                val_loss=payload.get("val_loss"), predicted_s=expected,
            )
        )  # fmt: skip

    def full_run(self, key: CellKey, iters: int, predicted: CostModel) -> None:
        if key.distributed:
            expected = predicted.predict(iters, self.plan.options.protocol)
            self.full_run_distributed(key, iters, expected)
            return
        cell = self._cell(key)
        protocol = self.plan.options.protocol
        expected = predicted.predict(iters, protocol)
        # A full run trains with the fast options its phases chose, without probing again:
        # it is compared with the prediction less the probe (once per machine, in F).
        probe_s = (cell.phases.tune_s or 0.0) if cell.phases is not None else 0.0
        expected -= probe_s
        job = self._job(key, "full", iters=iters, protocol=protocol, fast_choices=cell.fast_choices)
        timeout_s = 3 * expected + 120
        outcome = self._run(key, job, timeout_s)
        result = job_result(outcome)
        if result is None or result.loop_s is None:
            failure = job_failure(outcome, timeout_s) or Failure("error", "no training loop time")
            cell.notes.append(
                f"full run of {iters:,} iterations failed ({failure.kind}): {failure.message}"
            )
            return
        startup_s = outcome.ready_s or 0.0
        cell.runs.append(
            MeasuredRun(
                iters=iters, protocol=protocol, seconds=startup_s + result.setup_s + result.loop_s,
                loop_s=result.loop_s, train_loss=result.train_loss, val_loss=result.val_loss,
                predicted_s=expected,
            )
        )  # fmt: skip

    def run(self) -> RunResults:
        """Probe devices, measure phases of every cell, then full runs; save after every
        worker. Ctrl-C and SIGTERM (gpubench.interrupts) save and raise SweepInterrupted."""
        started = self.clock()
        if self.sampler is None:
            self.sampler = default_sampler()
        with self.sampler if self.sampler is not None else contextlib.nullcontext():
            try:
                self._sweep()
                self.results.status = "complete"
            except KeyboardInterrupt as stop:
                self._stopped(started)
                raise SweepInterrupted(self.run_dir, exit_code(stop)) from None
            except RendezvousFailed:
                self._stopped(started)
                raise
        self.finish(started)
        return self.results

    def _stopped(self, started: float) -> None:
        for cell in self.results.cells:
            if cell.status == "pending":
                cell.status = "interrupted"
        self.results.status = "interrupted"
        self.finish(started)

    def _sweep(self) -> None:
        pending = [key for key in self.plan.cells if self._cell(key).status not in DONE]
        self._queue_s = self._phases_left_s(len(pending)) + self._full_runs_guess_s()
        if pending:
            self.probe_devices()
        for index, key in enumerate(pending):  # measured cells of a resumed run are skipped
            budget = self.phase_budget()
            self._queue_s = budget * (len(pending) - index - 1) + self._full_runs_guess_s()
            self._current = (self.clock(), budget)
            self.on_event(
                {"event": "cell", "cell": key.id, "mode": "phases", "eta_s": self.eta_s()}
            )
            self.measure_cell(key, budget)
            self.save()
        full_runs = [
            (key, iters, model)
            for key, iters in self.full_run_plan()
            if (model := cell_cost_model(self._cell(key))) is not None
        ]
        protocol = self.plan.options.protocol
        expected = [model.predict(iters, protocol) for _, iters, model in full_runs]
        for index, (key, iters, model) in enumerate(full_runs):
            self._queue_s = sum(expected[index + 1 :])
            self._current = (self.clock(), expected[index])
            full = {"event": "cell", "cell": key.id, "mode": "full", "iters": iters}
            self.on_event({**full, "eta_s": self.eta_s()})
            self.full_run(key, iters, model)
            self.save()
        self._current, self._queue_s = None, 0.0

    def _phases_left_s(self, pending: int) -> float:
        return max(self.plan.options.budget_s * PHASES_SHARE, MIN_PHASE_BUDGET_S * pending)

    def _full_runs_guess_s(self) -> float:
        """Predicted seconds of the full runs still to come, before their cells are measured:
        what is left of the budget, or with --full the mean measured cell's runs for each."""
        options = self.plan.options
        if not options.full:
            return max(0.0, options.budget_s * (1 - PHASES_SHARE))
        totals = []
        for key in self.plan.cells:
            model = cell_cost_model(self._cell(key))
            if model is not None:
                totals.append(sum(model.predict(n, options.protocol) for n in options.iters))
        per_cell = statistics.fmean(totals) if totals else 0.0
        return per_cell * len(self.plan.cells)

    def eta_s(self) -> float:
        """Predicted seconds left of the whole sweep: the current job's share not yet used
        (zero once it runs past it, never the rest), then every job after it."""
        current = 0.0
        if self._current is not None:
            start, expected = self._current
            current = max(0.0, expected - (self.clock() - start))
        return current + self._queue_s

    def overrun_s(self) -> float:
        """Seconds the current job has run past its share or prediction (0 within it)."""
        if self._current is None:
            return 0.0
        start, expected = self._current
        return max(0.0, self.clock() - start - expected)

    def full_run_plan(self) -> list[tuple[CellKey, int]]:
        several_nodes = self.plan.options.nnodes > 1  # nodes could not agree on the plan
        ok = {
            key.id: (key, model)
            for key in self.plan.cells
            if not (several_nodes and key.distributed)
            and (model := cell_cost_model(self._cell(key))) is not None
        }
        protocol = self.plan.options.protocol
        todo_iters = self.plan.options.iters
        if self.plan.options.full:
            chosen = [(cell_id, n) for cell_id in ok for n in todo_iters]
        else:
            left = self.plan.options.budget_s - self.measured_s
            costs = {cell_id: model for cell_id, (_, model) in ok.items()}
            chosen = plan_full_runs(costs, todo_iters, max(0.0, left), protocol)
        plan = []
        for cell_id, iters in chosen:
            key = ok[cell_id][0]
            if self._cell(key).run_for(iters, protocol) is None:
                plan.append((key, iters))
        return plan

    def finish(self, started: float) -> None:
        """Derive estimates and crossovers from what was measured, and save."""
        derive_results(self.results, self.plan.options.iters)
        wall = self.wall_before_s + self.clock() - started
        budget_s = self.plan.options.budget_s
        overshoot = (
            f"measuring took {self.measured_s:.0f} s, more than --budget {budget_s:.0f} s: each "
            "cell needs a minimum of warm-up, timed steps and one evaluation"
        )
        if self.measured_s > 1.2 * budget_s and overshoot not in self.results.warnings:
            self.results.warnings.append(overshoot)
        kept = [w for w in self.results.warnings if not w.startswith(BUSY_PREFIXES)]
        self.results.warnings = self.busy_lines() + kept  # what a reader must know first
        self.results.engine = {
            "wall_s": wall,
            "measured_s": self.measured_s,
            "measured_share": self.measured_s / wall if wall > 0 else 0.0,
        }
        self.save()

    def save(self) -> Path:
        return save_results(self.results, self.run_dir)
