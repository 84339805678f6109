"""The engine: runs each cell in a fresh worker process and spends the budget.

First the phases of every cell are measured; then real full runs of the iteration
counts that fit the budget (or all of them with ``full``). results.json is rewritten
atomically after every worker, so a kill or Ctrl-C never loses what was measured.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gpubench.bench.plan import SweepPlan
from gpubench.errors import GpubenchError
from gpubench.results.costmodel import (
    CostModel,
    cell_cost_model,
    derive_results,
    fit_cost_model,
    plan_full_runs,
)
from gpubench.results.io import save_results
from gpubench.results.job import JobMode, WorkerJob, WorkerResult
from gpubench.results.model import CellKey, CellResult, Failure, MeasuredRun, RunResults
from gpubench.runner import EventHandler, WorkerOutcome, describe_returncode, killed_by_sigkill
from gpubench.runner import run_worker as run_module

PHASES_SHARE = 0.5  # at most this share of the budget goes to measuring phases
MIN_PHASE_BUDGET_S = 2.0
WORKER_MODULE = "gpubench.bench.worker"


class SweepInterrupted(GpubenchError):
    """Ctrl-C during a sweep; what was measured is saved in ``run_dir``."""

    def __init__(self, run_dir: Path):
        super().__init__(
            f"interrupted; what was measured is saved in {run_dir}; "
            f"continue with: gpubench run --resume {run_dir}"
        )
        self.run_dir = run_dir


def run_job(
    job: WorkerJob,
    *,
    timeout_s: float,
    on_event: EventHandler | None = None,
    python: str | None = None,
) -> WorkerOutcome:
    """Run one job in a fresh worker process (gpubench.runner); never raises for a bad cell."""
    return run_module(
        WORKER_MODULE, timeout=timeout_s, stdin=json.dumps(job.to_dict()), python=python,
        on_event=on_event,
    )  # fmt: skip


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
    ):
        self.plan = plan
        self.results = results
        self.run_dir = run_dir
        self.on_event = on_event or (lambda event: None)
        self.python = python  # the workers' interpreter (default: this one)
        self.clock = clock
        self.measured_s = float(results.engine.get("measured_s", 0.0))  # resumed runs add up
        self.wall_before_s = float(results.engine.get("wall_s", 0.0))

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

        outcome = run_job(job, timeout_s=timeout_s, on_event=forward, python=self.python)
        self.measured_s += outcome.seconds
        return outcome

    # -- the sweep --------------------------------------------------------------------
    def phase_budget(self) -> float:
        pending = max(1, sum(self._cell(k).status != "ok" for k in self.plan.cells))
        return max(MIN_PHASE_BUDGET_S, self.plan.options.budget_s * PHASES_SHARE / pending)

    def _cell(self, key: CellKey) -> CellResult:
        cell = self.results.cell(key)
        if cell is None:
            cell = CellResult(key=key, config=self.plan.configs[key])
            self.results.cells.append(cell)
        return cell

    def measure_cell(self, key: CellKey, budget_s: float) -> CellResult:
        cell = self._cell(key)
        options = self.plan.options
        job = self._job(
            key, "phases", budget_s=budget_s, generate=options.generate, retune=options.retune
        )
        timeout_s = 4 * budget_s + 120
        outcome = self._run(key, job, timeout_s)
        result = job_result(outcome)
        if result is None or result.step is None:
            cell.status, cell.failure = "failed", job_failure(outcome, timeout_s)
            return cell
        cell.phases = result.phases(startup_s=outcome.ready_s or 0.0)
        cell.cost = fit_cost_model(cell.phases, int(cell.config["eval_interval"]))
        cell.throughput = result.throughput
        cell.device_name = result.device_name
        cell.n_params = result.n_params
        cell.fast_choices, cell.profile = result.fast_choices, result.profile
        cell.status, cell.failure = "ok", None
        cell.notes = cell.phases.quality_notes()
        return cell

    def full_run(self, key: CellKey, iters: int, predicted: CostModel) -> None:
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
        """Measure phases of every cell, then full runs; save after every worker."""
        started = self.clock()
        try:
            budget = self.phase_budget()
            pending = [key for key in self.plan.cells if self._cell(key).status != "ok"]
            for index, key in enumerate(pending):  # measured cells of a resumed run are skipped
                left = (len(pending) - index) * budget  # a rough guide: cells may overrun
                self.on_event({"event": "cell", "cell": key.id, "mode": "phases", "eta_s": left})
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
                event = {"event": "cell", "cell": key.id, "mode": "full", "iters": iters}
                self.on_event({**event, "eta_s": sum(expected[index:])})
                self.full_run(key, iters, model)
                self.save()
            self.results.status = "complete"
        except KeyboardInterrupt:
            for cell in self.results.cells:
                if cell.status == "pending":
                    cell.status = "interrupted"
            self.results.status = "interrupted"
            self.finish(started)
            raise SweepInterrupted(self.run_dir) from None
        self.finish(started)
        return self.results

    def full_run_plan(self) -> list[tuple[CellKey, int]]:
        ok = {
            key.id: (key, model)
            for key in self.plan.cells
            if (model := cell_cost_model(self._cell(key))) is not None
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
        self.results.engine = {
            "wall_s": wall,
            "measured_s": self.measured_s,
            "measured_share": self.measured_s / wall if wall > 0 else 0.0,
        }
        self.save()

    def save(self) -> Path:
        return save_results(self.results, self.run_dir)
