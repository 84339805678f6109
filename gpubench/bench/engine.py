"""The engine: runs each cell in a fresh worker process and spends the budget.

First the phases of every cell are measured; then real full runs of the iteration
counts that fit the budget (or all of them with ``full``). results.json is rewritten
atomically after every worker, so a kill or Ctrl-C never loses what was measured.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gpubench.bench.plan import SweepPlan
from gpubench.errors import GpubenchError
from gpubench.results.costmodel import CostModel, cell_cost_model, derive_results, plan_full_runs
from gpubench.results.io import save_results
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

PHASES_SHARE = 0.5  # at most this share of the budget goes to measuring phases
MIN_PHASE_BUDGET_S = 2.0
LOG_TAIL_LINES = 12


class SweepInterrupted(GpubenchError):
    """Ctrl-C during a sweep; what was measured is saved in ``run_dir``."""

    def __init__(self, run_dir: Path):
        super().__init__(
            f"interrupted; what was measured is saved in {run_dir}; "
            f"continue with: gpubench run --resume {run_dir}"
        )
        self.run_dir = run_dir


@dataclass
class WorkerOutcome:
    """What one worker process produced: its result payload or a failure."""

    startup_s: float
    wall_s: float
    payload: dict[str, Any] | None = None
    failure: Failure | None = None
    events: list[dict[str, Any]] = field(default_factory=list)


EventHandler = Callable[[dict[str, Any]], None]


def worker_command() -> list[str]:
    return [sys.executable, "-m", "gpubench.bench.worker"]


def _tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def _kill(process: subprocess.Popen[str]) -> None:
    """Stop the worker and anything it started (it leads its own process group)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def run_worker(
    job: dict[str, Any],
    *,
    timeout_s: float,
    on_event: EventHandler | None = None,
    command: list[str] | None = None,
) -> WorkerOutcome:
    """Run one job in a fresh process; a crash, OOM or hang becomes a ``Failure``."""
    with tempfile.NamedTemporaryFile("w+", prefix="gpubench-worker-", suffix=".log") as log:
        start = time.perf_counter()
        process = subprocess.Popen(
            command or worker_command(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,  # Ctrl-C reaches the engine only; it stops the worker
        )
        outcome = WorkerOutcome(startup_s=0.0, wall_s=0.0)
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(process.stdout, lines), daemon=True)
        reader.start()
        try:
            assert process.stdin is not None
            process.stdin.write(json.dumps(job))
            process.stdin.close()
        except BrokenPipeError:
            pass
        deadline = start + timeout_s
        try:
            while True:
                try:
                    line = lines.get(timeout=max(0.01, deadline - time.perf_counter()))
                except queue.Empty:
                    _kill(process)
                    outcome.failure = Failure(
                        "timeout", f"no result within {timeout_s:.0f} s; the worker was stopped",
                        _tail(Path(log.name)),
                    )  # fmt: skip
                    break
                if line is None:
                    break
                event = _parse_event(line)
                if event is None:
                    continue
                outcome.events.append(event)
                kind = event.get("event")
                if kind == "ready":
                    outcome.startup_s = time.perf_counter() - start
                elif kind == "result":
                    outcome.payload = event
                elif kind == "error":
                    outcome.failure = Failure(
                        event.get("kind", "error"),
                        event.get("message", "worker error"),
                        event.get("traceback", "") or _tail(Path(log.name)),
                    )
                if on_event is not None:
                    on_event(event)
        except BaseException:
            _kill(process)
            raise
        returncode = process.wait()
        outcome.wall_s = time.perf_counter() - start
        if outcome.payload is None and outcome.failure is None:
            outcome.failure = _exit_failure(returncode, _tail(Path(log.name)))
    return outcome


def _parse_event(line: str) -> dict[str, Any] | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None


def _exit_failure(returncode: int, log_tail: str) -> Failure:
    if returncode == -signal.SIGKILL:
        return Failure(
            "oom", "the worker was killed (SIGKILL), most often by the out-of-memory killer",
            log_tail,
        )  # fmt: skip
    if returncode < 0:
        name = signal.Signals(-returncode).name
        return Failure("crash", f"the worker died from signal {name}", log_tail)
    return Failure("crash", f"the worker exited with code {returncode} before reporting", log_tail)


class Engine:
    """Runs a planned sweep, keeping ``results`` and ``run_dir/results.json`` current."""

    def __init__(
        self,
        plan: SweepPlan,
        results: RunResults,
        run_dir: Path,
        *,
        on_event: EventHandler | None = None,
        command: list[str] | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.plan = plan
        self.results = results
        self.run_dir = run_dir
        self.on_event = on_event or (lambda event: None)
        self.command = command
        self.clock = clock
        self.measured_s = float(results.engine.get("measured_s", 0.0))  # resumed runs add up
        self.wall_before_s = float(results.engine.get("wall_s", 0.0))

    # -- jobs -------------------------------------------------------------------------
    def _job(self, key: CellKey, mode: str, **extra: Any) -> dict[str, Any]:
        source = self.plan.source
        spec = next(s for s in self.plan.models if s.name == key.model)
        return {
            "mode": mode,
            "model": str(spec.path),
            "config": self.plan.configs[key],
            "device": key.device,
            "variant": key.variant,
            "threads": key.threads,
            "data": {"label": source.label, "path": source.path, "synthetic": source.synthetic},
            **extra,
        }

    def _run(self, key: CellKey, job: dict[str, Any], timeout_s: float) -> WorkerOutcome:
        def forward(event: dict[str, Any]) -> None:
            self.on_event({**event, "cell": key.id, "mode": job["mode"]})

        outcome = run_worker(job, timeout_s=timeout_s, on_event=forward, command=self.command)
        self.measured_s += outcome.wall_s
        return outcome

    # -- the sweep --------------------------------------------------------------------
    def phase_budget(self) -> float:
        pending = max(1, sum(self._cell(k).status != "ok" for k in self.plan.cells))
        return max(MIN_PHASE_BUDGET_S, self.plan.budget_s * PHASES_SHARE / pending)

    def _cell(self, key: CellKey) -> CellResult:
        cell = self.results.cell(key)
        if cell is None:
            cell = CellResult(key=key, config=self.plan.configs[key])
            self.results.cells.append(cell)
        return cell

    def measure_cell(self, key: CellKey, budget_s: float) -> CellResult:
        cell = self._cell(key)
        job = self._job(key, "phases", budget_s=budget_s, generate=self.plan.generate)
        outcome = self._run(key, job, timeout_s=4 * budget_s + 120)
        if outcome.failure is not None:
            cell.status, cell.failure = "failed", outcome.failure
            return cell
        payload = outcome.payload or {}
        raw = dict(payload["phases"])
        raw["step"] = StepStats(**raw["step"])
        cell.phases = Phases(startup_s=outcome.startup_s, **raw)
        cell.throughput = Throughput(**payload["throughput"])
        cell.device_name = payload["device_name"]
        cell.n_params = payload["n_params"]
        cell.status, cell.failure = "ok", None
        cell.notes = cell.phases.quality_notes()
        return cell

    def full_run(self, key: CellKey, iters: int, predicted: CostModel) -> None:
        cell = self._cell(key)
        protocol = self.plan.protocol
        expected = predicted.predict(iters, protocol)
        job = self._job(key, "full", iters=iters, protocol=protocol)
        outcome = self._run(key, job, timeout_s=3 * expected + 120)
        if outcome.failure is not None:
            cell.notes.append(
                f"full run of {iters:,} iterations failed ({outcome.failure.kind}): "
                f"{outcome.failure.message}"
            )
            return
        p = outcome.payload or {}
        setup = p["device_init_s"] + p["data_s"] + p["build_s"] + p.get("compile_s", 0.0)
        seconds = outcome.startup_s + setup + p["loop_s"]
        cell.runs.append(
            MeasuredRun(
                iters=iters, protocol=protocol, seconds=seconds, loop_s=p["loop_s"],
                train_loss=p["train_loss"], val_loss=p["val_loss"], predicted_s=expected,
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
            expected = [model.predict(iters, self.plan.protocol) for _, iters, model in full_runs]
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
        protocol = self.plan.protocol
        todo_iters = self.plan.iters
        if self.plan.full:
            chosen = [(cell_id, n) for cell_id in ok for n in todo_iters]
        else:
            left = self.plan.budget_s - self.measured_s
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
        derive_results(self.results, self.plan.iters)
        wall = self.wall_before_s + self.clock() - started
        overshoot = (
            f"measuring took {self.measured_s:.0f} s, more than --budget "
            f"{self.plan.budget_s:.0f} s: each cell needs a minimum of warm-up, timed steps "
            "and one evaluation"
        )
        if self.measured_s > 1.2 * self.plan.budget_s and overshoot not in self.results.warnings:
            self.results.warnings.append(overshoot)
        self.results.engine = {
            "wall_s": wall,
            "measured_s": self.measured_s,
            "measured_share": self.measured_s / wall if wall > 0 else 0.0,
        }
        self.save()

    def save(self) -> Path:
        return save_results(self.results, self.run_dir)
