"""The probe on this machine and in broken Pythons: torch missing, raising, hanging."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpubench.doctor.checks import run_checks
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Severity
from gpubench.doctor.machine import collect_library_path, detect_wsl, find_torch_distributions
from gpubench.doctor.probe import collect_facts
from gpubench.doctor.protocol import parse_doctor_line
from gpubench.doctor.workers import Worker
from gpubench.runner import PACKAGE_ROOT, child_environment, run_worker


def test_this_machine(real_facts: Facts):
    assert real_facts.torch.status == "ok"
    assert real_facts.torch.version
    assert real_facts.platform.python_version == ".".join(map(str, sys.version_info[:3]))
    assert real_facts.cpu.logical_cores and real_facts.cpu.logical_cores >= 1
    assert real_facts.probe_errors == []
    assert "internal-error" not in {finding.code for finding in run_checks(real_facts)}
    installed = [dist for dist in real_facts.torch_distributions if dist.scope == "env"]
    assert installed and installed[0].version == real_facts.torch.version


def test_the_cpu_smoke_test_checks_results_and_the_index_guard(real_facts: Facts):
    (cpu,) = [result for result in real_facts.smoke if result.device == "cpu"]
    assert cpu.status == "ok", cpu
    assert [step.name for step in cpu.steps] == ["matmul", "backward", "embedding-guard"]
    assert all(step.ok for step in cpu.steps)
    assert "index out of range" in cpu.steps[2].detail
    assert cpu.first_result_seconds is not None and cpu.memory_total


def test_a_torch_that_raises_on_import(fake_torch, monkeypatch):
    path = fake_torch(
        "raise OSError('libcudnn.so.9: cannot open shared object file: No such file or directory')"
    )
    monkeypatch.setenv("PYTHONPATH", str(path))
    outcome = run_worker("gpubench.doctor.torch_probe", timeout=30, parse_line=parse_doctor_line)
    assert outcome.status == "ok"
    assert outcome.result is not None
    assert outcome.result["status"] == "import-failed"
    assert outcome.result["error_type"] == "OSError"
    assert "libcudnn.so.9" in outcome.result["error"]


def test_a_python_without_torch(tmp_path: Path):
    """A real environment without torch: a bare venv that only sees gpubench itself."""
    venv = tmp_path / "bare"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60
    )
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    outcome = run_worker(
        "gpubench.doctor.torch_probe", timeout=30, python=str(python), parse_line=parse_doctor_line
    )
    assert outcome.result == {
        "status": "missing",
        "stage": "import",
        "error": "No module named 'torch'",
    }


def test_a_hanging_torch_import_is_cut_by_the_timeout(fake_torch, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(fake_torch("import time\ntime.sleep(120)\n")))
    started = time.monotonic()
    facts = collect_facts(timeout=1.5, smoke=True)
    assert time.monotonic() - started < 20
    assert facts.torch.status == "timeout"
    assert facts.torch.stage == "import"
    assert "did not finish within 1.5 s" in (facts.torch.error or "")
    (finding,) = [item for item in run_checks(facts) if item.code == "torch-import-failed"]
    assert finding.severity == Severity.ERROR
    assert finding.title == "importing torch hung and was stopped"
    assert facts.smoke and facts.smoke[0].status == "timeout"


def test_a_hanging_cuda_init_keeps_the_build_facts(fake_torch, monkeypatch):
    body = """
        import time
        __version__ = "2.13.0+cu130"
        class version:
            cuda = "13.0"
            hip = None
            debug = False
        class _C:
            pass
        class backends:
            class cudnn:
                version = staticmethod(lambda: 91200)
                is_available = staticmethod(lambda: True)
        class cuda:
            get_arch_list = staticmethod(lambda: ["sm_75", "sm_80", "sm_90", "sm_120"])
            @staticmethod
            def is_available():
                time.sleep(120)
        get_num_threads = staticmethod(lambda: 2)
        get_num_interop_threads = staticmethod(lambda: 2)
    """
    monkeypatch.setenv("PYTHONPATH", str(fake_torch(body)))
    facts = collect_facts(timeout=2, smoke=False)
    assert facts.torch.status == "ok"
    assert facts.torch.version == "2.13.0+cu130" and facts.torch.cuda == "13.0"
    assert facts.torch.stage == "cuda"
    assert facts.torch.cuda_available is False
    assert "did not finish within 2 s" in (facts.torch.cuda_error or "")
    (finding,) = [item for item in run_checks(facts) if item.code == "cuda-init-failed"]
    assert finding.title.startswith("CUDA initialisation hung")


def last_stage_and_result(stdout: str) -> tuple[str | None, dict | None]:
    """What a worker's outcome keeps of its lines: the last stage and the last result."""
    stage = result = None
    for event in filter(None, map(parse_doctor_line, stdout.splitlines())):
        if event["event"] == "stage":
            stage = event["name"]
        else:
            result = event["result"]
    return stage, result


def test_worker_output_protocol():
    stdout = (
        'noise\nGPUBENCH-STAGE import\nGPUBENCH-RESULT {"status": "ok", "partial": true}\n'
        "GPUBENCH-STAGE cuda\nGPUBENCH-RESULT not json\n"
    )
    assert last_stage_and_result(stdout) == ("cuda", {"status": "ok", "partial": True})
    assert last_stage_and_result("") == (None, None)
    assert parse_doctor_line("noise") is None
    assert parse_doctor_line("GPUBENCH-RESULT [1, 2]") is None  # a result is an object


def test_a_worker_that_cannot_start():
    worker = Worker("gpubench.doctor.torch_probe", timeout=5, python="/nonexistent/python")
    outcome = worker.collect()
    assert outcome.status == "spawn-failed"
    assert "could not be started" in outcome.describe_failure(5)


def test_workers_find_gpubench_whatever_the_caller_did(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/somewhere/else")
    parts = child_environment()["PYTHONPATH"].split(os.pathsep)
    assert parts == ["/somewhere/else", PACKAGE_ROOT]


def test_torch_distributions_on_the_path(tmp_path: Path):
    env_site = tmp_path / "env" / "site-packages"
    user_site = tmp_path / "home" / ".local" / "site-packages"
    stale_site = tmp_path / "stale"
    for site_dir, version, installer in (
        (env_site, "2.5.1", "conda"),
        (user_site, "1.13.1+cu117", "pip"),
    ):
        (site_dir / "torch").mkdir(parents=True)
        (site_dir / "torch" / "__init__.py").write_text("")
        meta = site_dir / f"torch-{version}.dist-info"
        meta.mkdir()
        (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {version}\n")
        (meta / "INSTALLER").write_text(installer + "\n")
    (env_site / "torchvision-0.20.1.dist-info").mkdir()
    (stale_site / "torch-2.0.0.dist-info").mkdir(parents=True)
    found, companions = find_torch_distributions(
        [str(user_site), str(env_site), str(stale_site), str(tmp_path / "missing")],
        user_site=str(user_site),
    )
    assert [(d.version, d.installer, d.scope, d.package_present) for d in found] == [
        ("1.13.1+cu117", "pip", "user", True),
        ("2.5.1", "conda", "other", True),
        ("2.0.0", "", "other", False),
    ]
    assert companions == {"torchvision": "0.20.1"}


def test_library_path_entries_with_cuda_libraries(tmp_path: Path):
    toolkit = tmp_path / "cuda-12.1" / "lib64"
    toolkit.mkdir(parents=True)
    for name in ("libcudart.so.12", "libcublas.so.12.1.3.1", "libfoo.so", "libcudnn_ops.so.9"):
        (toolkit / name).write_text("")
    other = tmp_path / "other"
    other.mkdir()
    entries = collect_library_path({"LD_LIBRARY_PATH": f"{toolkit}:{other}::/does/not/exist"})
    assert [(entry.path, entry.cuda_libraries) for entry in entries] == [
        (str(toolkit), ["libcublas.so.12.1.3.1", "libcudart.so.12", "libcudnn_ops.so.9"]),
        (str(other), []),
        ("/does/not/exist", []),
    ]


@pytest.mark.parametrize(
    ("release", "wsl"),
    [
        ("5.15.153.1-microsoft-standard-WSL2", 2),
        ("4.4.0-19041-Microsoft", 1),
        ("6.8.0-45-generic", None),
    ],
)
def test_detect_wsl(release: str, wsl: int | None):
    assert detect_wsl(release) == wsl


def test_wsl_library_shadowing_is_read_in_one_pass(monkeypatch):
    """The platform is read first, so the NVIDIA system readers run once, told about WSL."""
    from gpubench.doctor import probe
    from gpubench.doctor.facts import NvidiaSystemFacts

    wsl_platform = probe.collect_platform(os.environ)
    wsl_platform.wsl = 2
    monkeypatch.setattr(probe, "collect_platform", lambda environ: wsl_platform)
    calls: list[int | None] = []

    def nvidia_system(wsl: int | None) -> NvidiaSystemFacts:
        calls.append(wsl)
        return NvidiaSystemFacts(wsl_shadowing_libraries=["/usr/lib/x86_64-linux-gnu/libcuda.so.1"])

    monkeypatch.setattr(probe, "collect_nvidia_system", nvidia_system)
    facts = collect_facts(timeout=30, smoke=False, quick=True)
    assert calls == [2]
    assert facts.platform.wsl == 2
    assert facts.nvidia.wsl_shadowing_libraries == ["/usr/lib/x86_64-linux-gnu/libcuda.so.1"]
