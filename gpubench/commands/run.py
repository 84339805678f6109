"""``gpubench run``: the doctor's verdict, the plan, the sweep with progress, the reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from gpubench.bench.engine import Engine
from gpubench.bench.metadata import collect_metadata
from gpubench.bench.plan import SweepPlan, check_options, expand_plan, new_run_dir, text_source
from gpubench.core.data import resolve_source
from gpubench.doctor import fast_verdict
from gpubench.doctor.verdict import Verdict
from gpubench.errors import UsageError
from gpubench.results.io import load_results, save_results
from gpubench.results.model import RunResults
from gpubench.results.sweep_options import SweepOptions


def available_from(verdict: Verdict) -> list[str]:
    """Devices to sweep: the CPU plus the CUDA devices the doctor found usable (and MPS)."""
    import torch

    devices = ["cpu", *verdict.cuda_devices]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


class _EtaColumn(ProgressColumn):
    """Predicted time left of the whole sweep (phases left at their budget, predicted full
    runs), from the engine; a job past its share says by how much instead of "~0s"."""

    def __init__(self, sweep: SweepProgress):
        super().__init__()
        self.sweep = sweep

    def render(self, task: Task) -> Text:
        if self.sweep.eta is None:
            return Text("")
        left, over = self.sweep.eta()
        text = f"ETA ~{_duration(left)}"
        if over >= 1:
            text += f" (this job {_duration(over)} past its share)"
        return Text(text, style="progress.remaining")


class SweepProgress:
    """Rich progress for the sweep: which cell, which phase, how far, elapsed time."""

    def __init__(
        self,
        console: Console,
        total_jobs: int,
        eta: Callable[[], tuple[float, float]] | None = None,
    ):
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(bar_width=24),
            TextColumn("{task.completed}/{task.total} jobs"), TimeElapsedColumn(),
            _EtaColumn(self),
            console=console, transient=True,
        )  # fmt: skip
        self.task: TaskID = self.progress.add_task("starting", total=total_jobs)
        self.cell = ""
        self.eta = eta  # () -> (seconds left of the sweep, seconds the current job overran)

    def __enter__(self) -> SweepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        if kind == "cell":
            mode = event["mode"]
            what = {"phases": "phases", "probe": "device probe (matmul peak)"}.get(
                mode, f"{event.get('iters', 0):,} iterations"
            )
            self.cell = f"{event['cell']} · {what}"
            if mode == "full":
                total = self.progress.tasks[0].total or 0
                done = self.progress.tasks[0].completed
                self.progress.update(self.task, total=max(total, done + 1))
            self.progress.update(self.task, description=f"{self.cell} · starting")
        elif kind == "busy":  # one line, at once: the cell's times are inflated
            self.progress.console.print(Text(f"warning: {event['message']}", style="yellow"))
        elif kind == "phase":
            self.progress.update(self.task, description=f"{self.cell} · {event['name']} done")
        elif kind == "progress":
            self.progress.update(
                self.task,
                description=f"{self.cell} · {event['phase']} {event['done']}/{event['total']}",
            )
        elif kind in ("result", "error"):
            self.progress.advance(self.task)
            if kind == "error":
                self.progress.console.print(f"[red]✗[/] {self.cell}: {event.get('message', '')}")


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run_sweep_command(
    *, options: SweepOptions, data: str | None, out: str, name: str | None,
    resume: str | None, json_output: bool, argv: list[str], console: Console | None = None,
) -> int:  # fmt: skip
    """Plan, measure, save and render a sweep; returns the exit code (1: failed cells).

    ``options`` come parsed from the command line; with ``resume`` they are the run's stored
    settings instead. Everything but the devices is checked before the doctor's probe runs.
    """
    from gpubench.report.render import render_terminal, write_report_files
    from gpubench.report.sentences import summary_sentences

    console = console or Console(highlight=False)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    if resume:
        run_dir = Path(resume)
        try:
            results = load_results(run_dir)
        except ValueError as error:
            raise UsageError(f"--resume {resume}: {error}") from None
        source = text_source(results.settings.data)
        models = check_options(results.settings, source)
        verdict = fast_verdict()
        err.print(f"[bold]{verdict.line}[/]")
        plan = expand_plan(
            results.settings, source, available_devices=available_from(verdict), models=models
        )
        err.print(f"Resuming {run_dir}")
    else:
        source, warning = resolve_source(data, allow_synthetic_fallback=True)
        models = check_options(options, source)
        verdict = fast_verdict()
        err.print(f"[bold]{verdict.line}[/]")
        available = available_from(verdict)
        plan = expand_plan(options, source, available_devices=available, models=models)
        if warning:
            err.print(f"[bold yellow]warning:[/] {warning}")
        run_dir = new_run_dir(Path(out), name)
        results = new_results(run_dir, plan, verdict, argv, warning)
        save_results(results, run_dir)
    _describe_plan(err, plan, run_dir)

    engine = Engine(plan, results, run_dir)
    eta = lambda: (engine.eta_s(), engine.overrun_s())  # noqa: E731
    try:
        with SweepProgress(err, total_jobs=len(plan.cells), eta=eta) as progress:
            engine.on_event = progress.handle
            engine.run()
    finally:  # also after Ctrl-C or SIGTERM: render what was measured
        results.summary = summary_sentences(results, run_dir=run_dir)
        save_results(results, run_dir)
        written = write_report_files(results, run_dir)
    if json_output:
        print(json.dumps({"results": str(run_dir / "results.json"), "summary": results.summary,
                          "status": results.status}, indent=2))  # fmt: skip
    else:
        render_terminal(results, console, run_dir=run_dir)
        console.print(f"\nWrote {', '.join(str(p) for p in written)}")
    failed = [c for c in results.cells if c.status == "failed"]
    return 1 if failed else 0


def new_results(
    run_dir: Path, plan: SweepPlan, verdict: Verdict, argv: list[str], warning: str | None
) -> RunResults:
    """An empty results record with the settings, metadata and warnings of this run."""
    results = RunResults(
        run_id=run_dir.name,
        created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        command=["gpubench", *argv],
        settings=plan.options,
        metadata=collect_metadata(verdict, argv),
    )
    if warning:
        results.warnings.append(warning)
    elif plan.source.synthetic:
        results.warnings.append("synthetic tokens (--data synthetic): losses are not meaningful")
    if results.metadata["cuda_launch_blocking"]:
        results.warnings.append("CUDA_LAUNCH_BLOCKING=1: GPU timings are meaningless")
    return results


def _describe_plan(err: Console, plan: SweepPlan, run_dir: Path) -> None:
    options = plan.options
    models = ", ".join(spec.name for spec in plan.models)
    iters = ", ".join(f"{n:,}" for n in options.iters)
    mode = "every count measured (--full)" if options.full else f"budget {options.budget_s:.0f} s"
    cells = f"{len(plan.cells)} cell" + ("s" if len(plan.cells) != 1 else "")
    ranks = ""
    if max(options.world_sizes) > 1:
        worlds = ", ".join(map(str, options.world_sizes))
        nodes = f" on {options.nnodes} nodes" if options.nnodes > 1 else ""
        ranks = f" · world sizes {worlds}{nodes} (strong and weak scaling)"
    err.print(
        f"Sweep: {models} on {', '.join(plan.devices)} · iterations {iters}{ranks} · {cells} · "
        f"{mode} · data {plan.source.label} → {run_dir}"
    )
