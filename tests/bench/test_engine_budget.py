"""The engine without real workers: fresh compile caches per worker, the device probe once per
device before the cells (guarded), the budget spent from the workers' real cost, the CPU load
per cell with its warning, the sweep's ETA, and SIGTERM's exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpubench.bench import engine as engine_module
from gpubench.bench.engine import Engine, SweepInterrupted, run_job
from gpubench.bench.peak import DeviceProbeResult
from gpubench.bench.plan import check_options, expand_plan
from gpubench.core.data import TextSource
from gpubench.interrupts import EXIT_SIGINT, EXIT_SIGTERM, Terminated
from gpubench.options import parse_sweep_options
from gpubench.results.costmodel import fit_cost_model
from gpubench.results.cpuload import CpuLoad
from gpubench.results.data_source import DataSource
from gpubench.results.job import WorkerJob, WorkerResult
from gpubench.results.model import RunResults, StepStats, Throughput
from gpubench.runner import WorkerOutcome

SYNTHETIC = TextSource(label="synthetic")


def sweep_plan(**options):
    options.setdefault("threads", "1")
    options.setdefault("devices", "cpu")
    parsed = parse_sweep_options(**options)
    models = check_options(parsed, SYNTHETIC)
    return expand_plan(parsed, SYNTHETIC, available_devices=["cpu"], models=models)


def phases_result(step_s=0.001, flops_per_s=None) -> dict:
    step = StepStats(step_s, step_s, step_s, 30, 10, 5, [step_s * 10] * 3)
    speed = Throughput(tokens_per_step=256, tokens_per_s=256 / step_s, flops_per_s=flops_per_s)
    return WorkerResult(
        device_name="CPU (1 threads)", n_params=4225, threads=1, device_init_s=0.01,
        data_s=0.01, build_s=0.1, first_steps_s=[0.002, step_s, step_s], step=step,
        eval_s=0.2, eval_batches_measured=20, eval_iters=20, throughput=speed,
        eval_batch_times_s=[0.01] * 20, step_recheck_s=[step_s],
    ).to_dict()  # fmt: skip


class FakeWorkers:
    """Stands in for run_job and run_probe: each worker 'costs' ``seconds`` of the budget."""

    def __init__(self, seconds=1.0, probe_fails=False, flops_per_s=None):
        self.seconds = seconds
        self.probe_fails = probe_fails
        self.flops_per_s = flops_per_s
        self.calls: list[tuple[str, object]] = []

    def run_job(self, job: WorkerJob, *, timeout_s, on_event=None, python=None):
        self.calls.append((job.mode, job))
        if job.mode == "phases":
            seconds = min(self.seconds, job.budget_s)
            result = phases_result(flops_per_s=self.flops_per_s)
        else:
            seconds = 0.5
            result = WorkerResult(
                device_name="cpu", n_params=1, threads=1, device_init_s=0.0, data_s=0.0,
                build_s=0.0, loop_s=0.1, train_loss=2.0,
            ).to_dict()  # fmt: skip
        return WorkerOutcome("ok", result=result, seconds=seconds, ready_s=0.3)

    def run_probe(self, job, *, timeout_s=0, python=None):
        self.calls.append(("probe", job))
        if self.probe_fails:
            note = f"device probe on {job.device} crashed; no measured peak"
            return DeviceProbeResult(peaks=dict.fromkeys(job.dtypes), notes=[note]), WorkerOutcome(
                "crashed", seconds=2.0
            )
        peaks = dict.fromkeys(job.dtypes, 1e11)
        result = DeviceProbeResult(peaks=peaks, machine={"name": "cpu"} if job.machine else None)
        return result, WorkerOutcome("ok", seconds=2.0)


def make_engine(tmp_path, monkeypatch, workers, sampler=None, **options):
    monkeypatch.setattr(engine_module, "run_job", workers.run_job)
    monkeypatch.setattr(engine_module, "run_probe", workers.run_probe)
    plan = sweep_plan(**options)
    results = RunResults(
        run_id="t", created_utc="now", command=["gpubench", "run", "--models", "bigram"],
        settings=plan.options, metadata={},
    )  # fmt: skip
    return Engine(plan, results, tmp_path, sampler=sampler or NoLoad())


class NoLoad:
    """A sampler whose machine is idle."""

    def __init__(self, others=0.0):
        self.others = others
        self.t = 0.0

    def clock(self):
        self.t += 1.0
        return self.t

    def sample(self):
        return None

    def load_between(self, start, end, *, threads):
        return CpuLoad(cores=2, threads=threads, others_before_cores=self.others,
                       others_during_cores=self.others, samples=4)  # fmt: skip

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return None


# --- defect 2: every worker compiles cold ---------------------------------------------------


def test_two_workers_never_share_a_compile_cache_and_each_is_removed(monkeypatch):
    seen: list[dict[str, str]] = []

    def fake_run_module(module, *args, env=None, **kwargs):
        seen.append(dict(env))
        for path in env.values():  # the worker would fill it
            Path(path).mkdir(parents=True)
            (Path(path) / "kernel.bin").write_bytes(b"x")
        return WorkerOutcome("ok", result={})

    monkeypatch.setattr(engine_module, "run_module", fake_run_module)
    job = WorkerJob(mode="phases", model="m.py", config={}, device="cpu", variant="compile",
                    data=DataSource("synthetic", None, True))  # fmt: skip
    run_job(job, timeout_s=5)
    run_job(job, timeout_s=5)
    first, second = seen
    for name in ("TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"):
        assert first[name] != second[name]
        assert not Path(first[name]).exists() and not Path(second[name]).exists()
    assert first["TORCHINDUCTOR_CACHE_DIR"] != first["TRITON_CACHE_DIR"]


# --- defect 8: the peak probe once per device, before the cells, guarded --------------------


def test_the_peak_is_probed_once_per_device_before_the_cells(tmp_path, monkeypatch):
    workers = FakeWorkers(flops_per_s=5e9)
    engine = make_engine(
        tmp_path, monkeypatch, workers, models="bigram", iters="100", batch_sizes="8,16",
        budget_s=20,
    )  # fmt: skip
    results = engine.run()
    kinds = [kind for kind, _ in workers.calls]
    assert kinds[0] == "probe" and kinds.count("probe") == 1  # two cells, one device
    phases_jobs = [job for kind, job in workers.calls if kind == "phases"]
    # no matmul probe inside a cell: the machine comes from the device probe
    assert all("measure_peak" not in job.to_dict() for job in phases_jobs)
    assert all(job.machine == {"name": "cpu"} for job in phases_jobs)
    for cell in results.cells:
        assert cell.status == "ok"
        assert cell.throughput.peak_flops_measured == 1e11
        assert cell.throughput.mfu == pytest.approx(5e9 / 1e11)
    assert results.metadata["device_probes"]["cpu/t1"]["peaks"] == {"fp32": 1e11}


def test_a_failed_peak_probe_is_a_note_never_a_failed_cell(tmp_path, monkeypatch):
    workers = FakeWorkers(probe_fails=True, flops_per_s=5e9)
    engine = make_engine(tmp_path, monkeypatch, workers, models="bigram", iters="100")
    results = engine.run()
    (cell,) = results.cells
    assert cell.status == "ok"
    assert cell.throughput.peak_flops_measured is None and cell.throughput.mfu is None
    assert any("device probe" in warning for warning in results.warnings)


# --- defect 7: the budget is honoured -------------------------------------------------------


def test_probe_and_phases_count_against_the_phase_share(tmp_path, monkeypatch):
    workers = FakeWorkers(seconds=100.0)  # each phases worker uses all it is given
    engine = make_engine(
        tmp_path, monkeypatch, workers, models="bigram", iters="100", batch_sizes="8,16",
        budget_s=30,
    )  # fmt: skip
    engine.run()
    budgets = [job.budget_s for kind, job in workers.calls if kind == "phases"]
    # 15 s of phases: the 2 s probe first, then what is left, shared by the two cells.
    assert budgets == pytest.approx([6.5, 6.5])
    assert engine.phases_spent_s == pytest.approx(15.0)


def test_budget_30_leaves_room_for_a_validating_full_run(tmp_path, monkeypatch):
    workers = FakeWorkers(seconds=100.0)
    engine = make_engine(tmp_path, monkeypatch, workers, models="bigram", iters="500,1e9",
                         budget_s=30)  # fmt: skip
    results = engine.run()
    assert [kind for kind, _ in workers.calls] == ["probe", "phases", "full"]
    assert [run.iters for run in results.cells[0].runs] == [500]


# --- defect 10: a busy machine ----------------------------------------------------------------


def test_a_contended_cell_is_marked_warned_at_once_and_named_first(tmp_path, monkeypatch):
    events = []
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), sampler=NoLoad(others=1.9),
                         models="bigram", iters="100")  # fmt: skip
    engine.on_event = events.append
    results = engine.run()
    (cell,) = results.cells
    assert cell.cpu_load is not None and cell.cpu_load.contended
    assert cell.cpu_load.threads == 1
    busy = [e for e in events if e["event"] == "busy"]
    assert len(busy) == 1  # once per cell, even with a full run after the phases
    assert "--threads" in busy[0]["message"] or "gpubench run" in busy[0]["message"]
    assert results.warnings[0].startswith("The CPU was busy")
    assert "`gpubench run" in results.warnings[1]
    again = engine.busy_lines()
    assert results.warnings[: len(again)] == again  # no duplicate on a second finish
    engine.finish(0.0)
    assert sum(w.startswith("The CPU was busy") for w in results.warnings) == 1


def test_an_idle_machine_marks_nothing(tmp_path, monkeypatch):
    events = []
    engine = make_engine(tmp_path, monkeypatch, FakeWorkers(), models="bigram", iters="100")
    engine.on_event = events.append
    results = engine.run()
    assert results.cells[0].cpu_load is not None and not results.cells[0].cpu_load.contended
    assert not [e for e in events if e["event"] == "busy"]
    assert not any(w.startswith("The CPU was busy") for w in results.warnings)


# --- the ETA: the whole sweep's predicted remaining time --------------------------------------


def test_eta_counts_the_phases_left_and_the_full_runs_and_never_hits_zero_early(
    tmp_path, monkeypatch
):
    now = [0.0]
    workers = FakeWorkers()
    monkeypatch.setattr(engine_module, "run_job", workers.run_job)
    monkeypatch.setattr(engine_module, "run_probe", workers.run_probe)
    plan = sweep_plan(models="bigram", iters="100", batch_sizes="8,16", budget_s=40)
    results = RunResults(run_id="t", created_utc="now", command=["gpubench"],
                         settings=plan.options, metadata={})  # fmt: skip
    engine = Engine(plan, results, tmp_path, sampler=NoLoad(), clock=lambda: now[0])
    etas = []

    def on_event(event):
        if event.get("event") == "cell" and event["mode"] == "phases":
            etas.append(event["eta_s"])
            now[0] += 1000.0  # this cell runs far past its share
            etas.append(engine.eta_s())

    engine.on_event = on_event
    engine.run()
    first_start, first_overrun, second_start, second_overrun = etas
    assert first_start > 20.0  # both cells' phases + the full runs' share of the budget
    assert first_overrun >= 20.0  # the next cell and the full runs are still ahead
    assert second_overrun >= 20.0  # the full runs still are
    assert engine.eta_s() == 0.0  # done


# --- defect 12: SIGTERM saves like Ctrl-C and says so ---------------------------------------


@pytest.mark.parametrize(
    ("stop", "code"), [(KeyboardInterrupt, EXIT_SIGINT), (Terminated, EXIT_SIGTERM)]
)
def test_a_stop_saves_and_carries_its_exit_code(tmp_path, monkeypatch, stop, code):
    workers = FakeWorkers()

    def stopping(job, **kwargs):
        raise stop()

    engine = make_engine(tmp_path, monkeypatch, workers, models="bigram", iters="100")
    monkeypatch.setattr(engine_module, "run_job", stopping)
    with pytest.raises(SweepInterrupted) as raised:
        engine.run()
    assert raised.value.exit_code == code
    assert str(tmp_path) in str(raised.value)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["status"] == "interrupted"


# --- the fast variant's probe: --retune reaches the phases job, full runs pin its choices ----


def test_retune_reaches_the_phases_job_and_full_runs_reuse_the_phases_choices(
    tmp_path, monkeypatch
):
    workers = FakeWorkers()
    choices = {"options": {"precision": "bf16"}, "from_cache": False, "probe_seconds": 3.0}

    def run_job(job, *, timeout_s, on_event=None, python=None):
        outcome = FakeWorkers.run_job(workers, job, timeout_s=timeout_s)
        if job.mode == "phases":
            outcome.result = {**outcome.result, "tune_s": 3.0, "fast_choices": choices}
        return outcome

    engine = make_engine(
        tmp_path, monkeypatch, workers, models="bigram", iters="100", variants="fast",
        retune=True, full=True,
    )  # fmt: skip
    monkeypatch.setattr(engine_module, "run_job", run_job)
    results = engine.run()
    jobs = {mode: job for mode, job in workers.calls if mode in ("phases", "full")}
    assert jobs["phases"].retune is True and jobs["phases"].fast_choices is None
    assert jobs["full"].fast_choices == choices  # no second probe, the same options
    (cell,) = results.cells
    assert cell.phases.tune_s == 3.0 and cell.fast_choices == choices
    (run,) = cell.runs
    launched_with = fit_cost_model(cell.phases, int(cell.config["eval_interval"]))  # phases only
    assert run.predicted_s == pytest.approx(launched_with.predict(100, "lecture") - 3.0)
