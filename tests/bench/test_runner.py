"""The one worker runner (gpubench.runner), shared by the doctor's probes and the bench workers:
line protocol, stdin payload, stderr tail, outcomes, and a process-tree kill at the deadline
that needs neither os.killpg nor signal.SIGKILL (neither exists on Windows)."""

from __future__ import annotations

import json
import os
import signal
import textwrap
from pathlib import Path

import psutil
import pytest

from gpubench.bench.engine import job_failure
from gpubench.doctor.workers import Worker
from gpubench.runner import WorkerOutcome, WorkerProcess, kill_tree, run_worker


@pytest.fixture
def worker_module(tmp_path, monkeypatch):
    """Write ``fake_worker.py`` with the given body and make it importable by the child."""
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))

    def write(body: str, name: str = "fake_worker") -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(body), encoding="utf-8")
        return name

    return write


def test_json_lines_become_events_and_the_result_its_payload(worker_module):
    module = worker_module(
        """
        import json, sys
        job = json.loads(sys.stdin.read())
        print("a library's own chatter", flush=True)
        print(json.dumps({"event": "ready"}), flush=True)
        print(json.dumps({"event": "stage", "name": "work"}), flush=True)
        print("to stderr", file=sys.stderr)
        print(json.dumps({"event": "result", "result": {"doubled": job["n"] * 2}}), flush=True)
        """
    )
    seen = []
    outcome = run_worker(module, timeout=60, stdin=json.dumps({"n": 21}), on_event=seen.append)
    assert outcome.status == "ok" and outcome.ok
    assert outcome.result == {"doubled": 42}
    assert [event["event"] for event in seen] == ["ready", "stage", "result"]
    assert outcome.stage == "work"
    assert outcome.ready_s is not None and outcome.ready_s <= outcome.seconds
    assert outcome.stderr_tail == "to stderr"
    assert outcome.returncode == 0


def test_an_error_event_is_an_error_outcome_with_its_message(worker_module):
    module = worker_module(
        """
        import json
        print(json.dumps({"event": "error", "kind": "oom", "message": "out of memory"}))
        raise SystemExit(1)
        """
    )
    outcome = run_worker(module, timeout=60)
    assert outcome.status == "error"
    assert outcome.describe_failure(60) == "out of memory"
    failure = job_failure(outcome, 60)
    assert (failure.kind, failure.message) == ("oom", "out of memory")


def test_an_exit_without_a_result_keeps_the_stderr_tail(worker_module):
    module = worker_module("import sys\nprint('last words', file=sys.stderr)\nsys.exit(4)\n")
    outcome = run_worker(module, timeout=60)
    assert outcome.status == "no-result"
    assert outcome.returncode == 4
    assert "exited with code 4 without a result" in outcome.describe_failure(60)
    assert "last words" in outcome.describe_failure(60)


def test_doctor_lines_use_the_same_runner(worker_module):
    module = worker_module(
        """
        import json
        print("GPUBENCH-STAGE import", flush=True)
        print("GPUBENCH-RESULT " + json.dumps({"status": "ok", "partial": True}), flush=True)
        print("GPUBENCH-STAGE cuda-init", flush=True)
        raise SystemExit(0)
        """
    )
    outcome = Worker(module, timeout=60).collect()
    assert isinstance(outcome, WorkerOutcome)
    assert outcome.stage == "cuda-init"
    assert outcome.result == {"status": "ok", "partial": True}
    assert outcome.status == "no-result"  # a partial result is not a finished probe


def test_the_whole_process_tree_is_killed_at_the_deadline_without_killpg(
    worker_module, tmp_path, monkeypatch
):
    # Windows has no os.killpg: the runner must not need it (psutil kills the tree).
    monkeypatch.delattr(os, "killpg", raising=False)
    pid_file = tmp_path / "child.pid"
    module = worker_module(
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print('{{"event": "stage", "name": "hanging"}}', flush=True)
        time.sleep(600)
        """
    )
    outcome = run_worker(module, timeout=5)
    assert outcome.status == "timeout"
    assert outcome.stage == "hanging"
    assert "did not finish within 5 s (at stage 'hanging')" in outcome.describe_failure(5)
    assert job_failure(outcome, 5).kind == "timeout"
    child = int(pid_file.read_text())
    assert not _alive(child)


def test_an_exit_code_is_classified_where_signal_has_no_sigkill(monkeypatch):
    monkeypatch.delattr(signal, "SIGKILL", raising=False)  # as on Windows
    failure = job_failure(WorkerOutcome("crashed", returncode=-9), 60)
    assert failure.kind == "crash"
    assert "signal 9" in failure.message
    failure = job_failure(WorkerOutcome("no-result", returncode=3221225477), 60)
    assert failure.kind == "crash" and "exit code 3221225477" in failure.message


def test_kill_tree_of_a_process_that_is_gone_is_harmless():
    process = WorkerProcess("json.tool", timeout=30, stdin="{}")
    outcome = process.wait()
    assert outcome.status == "no-result"
    kill_tree(process._process.pid)  # already reaped: nothing to do, nothing raised


def test_a_worker_that_cannot_start_is_an_outcome_not_an_exception():
    outcome = run_worker("json.tool", timeout=5, python=str(Path("/nonexistent/python")))
    assert outcome.status == "spawn-failed"
    assert job_failure(outcome, 5).kind == "crash"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
