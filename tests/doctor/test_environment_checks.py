"""The environment around torch (issue 13): other interpreters, Jupyter kernels, companions,
nvidia-* wheels, fixes fitted to the installer and the shell, metadata-only torch facts."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import pytest

from gpubench.doctor.checks import run_checks
from gpubench.doctor.checks.packages import check_nvidia_wheels, check_torch_companions
from gpubench.doctor.facts import Facts, JupyterKernel, TorchFacts
from gpubench.doctor.fit import CommandStyle, fit_command, fit_findings, style_for
from gpubench.doctor.machine import parse_nvidia_smi_csv
from gpubench.doctor.torch_metadata import torch_facts_from_metadata
from tests.doctor.conftest import run_gpubench
from tests.doctor.situations import situation


def healthy() -> Facts:
    return copy.deepcopy(situation("healthy_h100").facts)


def codes(facts: Facts) -> dict[str, list]:
    found: dict[str, list] = {}
    for finding in run_checks(facts):
        found.setdefault(finding.code, []).append(finding)
    return found


def test_companions_from_another_release_or_variant_are_errors():
    facts = healthy()  # torch 2.8.0+cu128
    facts.torch_companions = {"torchvision": "0.23.0+cu128", "torchaudio": "2.8.0+cu128"}
    assert check_torch_companions(facts)[0].severity.value == "ok"
    facts.torch_companions = {"torchvision": "0.20.1+cu121", "torchaudio": "2.8.0+cu126"}
    (finding,) = check_torch_companions(facts)
    assert finding.severity.value == "error"
    assert "wants 0.23.x" in finding.detail and "cu126 build" in finding.detail
    assert finding.fix[-1] == (
        "python -m pip install torch==2.8.0 torchaudio torchvision "
        "--index-url https://download.pytorch.org/whl/cu128"
    )


def test_nvidia_wheels_are_compared_with_torchs_pins():
    facts = healthy()
    facts.interpreter.torch_version = "2.8.0"
    facts.interpreter.torch_requirements = {
        "nvidia-cublas-cu12": "==12.8.4.1",
        "nvidia-nvjitlink-cu12": "==12.8.93",
    }
    facts.interpreter.nvidia_wheels = {"nvidia-cublas-cu12": "12.8.4.1"}
    assert check_nvidia_wheels(facts)[0].severity.value == "error"
    facts.interpreter.nvidia_wheels["nvidia-nvjitlink-cu12"] = "12.1.105"
    (finding,) = check_nvidia_wheels(facts)
    assert "nvidia-nvjitlink-cu12: 12.1.105, torch 2.8.0 requires ==12.8.93" in finding.detail
    assert finding.fix == ('python -m pip install "nvidia-nvjitlink-cu12==12.8.93"',)
    facts.interpreter.nvidia_wheels["nvidia-nvjitlink-cu12"] = "12.8.93"
    assert check_nvidia_wheels(facts)[0].severity.value == "ok"


def test_an_interpreter_that_is_not_the_active_environment_is_named():
    facts = healthy()
    facts.interpreter.executable = "/home/ubuntu/proj/.venv/bin/python"
    facts.interpreter.active_prefix = "/home/ubuntu/other-venv"
    facts.interpreter.active_source = "VIRTUAL_ENV"
    (finding,) = codes(facts)["python-env"]
    assert finding.severity.value == "warn"
    assert "not the active environment (VIRTUAL_ENV)" in finding.title
    facts.interpreter.active_source = "PATH"  # may be a shim (pyenv): said, softly
    assert codes(facts)["python-env"][0].severity.value == "info"
    style = style_for(facts)
    assert style.python == "/home/ubuntu/proj/.venv/bin/python"


def test_the_active_environment_spelt_in_another_case_on_windows_is_the_same(monkeypatch):
    """Windows paths compare without case: the check and the command style agree on it."""
    import ntpath
    import os

    monkeypatch.setattr(os.path, "normcase", ntpath.normcase)  # Windows' rule, on any machine
    facts = healthy()
    facts.environment.prefix = r"C:\Users\Me\proj\.venv"
    facts.interpreter.executable = r"C:\Users\Me\proj\.venv\Scripts\python.exe"
    facts.interpreter.active_prefix = r"c:\users\me\proj\.venv"
    facts.interpreter.active_source = "VIRTUAL_ENV"
    assert [f.severity.value for f in codes(facts)["python-env"]] == ["ok"]
    assert style_for(facts).python == "python"


def test_jupyter_kernels_list_their_interpreters():
    facts = healthy()
    facts.interpreter.executable = "/home/ubuntu/proj/.venv/bin/python"
    facts.jupyter_kernels = [
        JupyterKernel("python3", "Python 3 (ipykernel)", "/usr/bin/python3", "/usr/share/k"),
        JupyterKernel("proj", "proj", "/home/ubuntu/proj/.venv/bin/python", "/home/k/proj"),
    ]
    (finding,) = codes(facts)["jupyter-kernels"]
    assert "1 run another interpreter" in finding.title
    assert finding.fix == ("gpubench doctor --python /usr/bin/python3",)


def test_fixes_fit_uv_and_powershell():
    uv = CommandStyle(python="/p/.venv/bin/python", installer="uv")
    line = "python -m pip install torch==2.8.0 --index-url https://download.pytorch.org/whl/cu128"
    assert fit_command(line, uv) == (
        "uv pip install --python /p/.venv/bin/python torch==2.8.0 --torch-backend=cu128"
    )
    assert fit_command("python -m pip uninstall -y torch", uv) == (
        "uv pip uninstall --python /p/.venv/bin/python torch"
    )
    pip = CommandStyle(python="/p/.venv/bin/python")
    assert fit_command("python -m pip install torch  # why", pip) == (
        "/p/.venv/bin/python -m pip install torch  # why"
    )
    powershell = CommandStyle(powershell=True)
    assert fit_command("unset CUDA_VISIBLE_DEVICES", powershell) == (
        "Remove-Item Env:CUDA_VISIBLE_DEVICES"
    )
    assert fit_command("export CUDA_VISIBLE_DEVICES=0", powershell) == (
        '$env:CUDA_VISIBLE_DEVICES = "0"'
    )
    assert fit_command("CUDA_LAUNCH_BLOCKING=1 python train.py", powershell) == (
        '$env:CUDA_LAUNCH_BLOCKING = "1"; python train.py'
    )


def test_windows_findings_use_powershell():
    facts = copy.deepcopy(situation("cuda_visible_devices_minus_one").facts)
    facts.platform.system = "Windows"
    findings = fit_findings(run_checks(facts), style_for(facts))
    fixes = [line for finding in findings for line in finding.fix]
    assert "Remove-Item Env:CUDA_VISIBLE_DEVICES" in fixes
    assert not any(line.startswith(("export ", "unset ", "grep ")) for line in fixes)


@pytest.mark.parametrize(
    ("version", "requirements", "cuda", "hip"),
    [
        ("2.8.0+cu128", {}, "12.8", None),
        ("2.13.0+cpu", {}, None, None),
        ("2.9.1+rocm6.4", {}, None, "6.4"),
        ("2.8.0", {"nvidia-cuda-runtime-cu12": "==12.8.90"}, "12.8", None),
        ("2.9.0", {"nvidia-cuda-runtime": "==13.0.96"}, "13.0", None),
        ("2.8.0", {}, None, None),
    ],
)
def test_torch_build_from_metadata(version, requirements, cuda, hip):
    facts = torch_facts_from_metadata({"version": version, "requirements": requirements})
    assert (facts.status, facts.cuda, facts.hip, facts.source) == ("ok", cuda, hip, "metadata")
    assert torch_facts_from_metadata(None).status == "missing"


def test_nvidia_smi_csv_fallback_is_parsed():
    line = (
        "0, NVIDIA GeForce RTX 4090, GPU-1234, 00000000:01:00.0, 570.133.07, 24564, 512, 24052, "
        "3, 8.9"
    )
    driver, (gpu,) = parse_nvidia_smi_csv(line + "\ngarbage\n")
    assert driver == "570.133.07"
    assert (gpu.name, gpu.capability, gpu.memory_total) == (
        "NVIDIA GeForce RTX 4090",
        "8.9",
        24564 * 1024**2,
    )


def test_metadata_only_torch_is_reported_as_such():
    facts = healthy()
    facts.torch = TorchFacts(status="ok", version="2.13.0+cpu", source="metadata")
    found = codes(facts)
    assert "read from its metadata" in found["torch"][0].title
    assert "cudnn" not in found


@pytest.fixture(scope="module")
def venv_without_torch(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("venv") / "notorch"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    return root / "bin" / "python"


def test_doctor_python_on_a_venv_without_torch(venv_without_torch: Path):
    result = run_gpubench("doctor", "--python", str(venv_without_torch), "--no-smoke")
    assert result.returncode == 1, result.stderr
    assert "torch-missing" in result.stdout
    assert f"venv {venv_without_torch.parent.parent}" in result.stdout
    assert f"{venv_without_torch} -m pip install torch" in result.stdout


def test_doctor_python_rejects_a_missing_interpreter(tmp_path: Path):
    result = run_gpubench("doctor", "--python", str(tmp_path / "nope"), "--no-smoke")
    assert result.returncode == 2 and "no such file" in result.stderr


@pytest.mark.parametrize("mode", [[], ["--markdown"]], ids=["human", "markdown"])
def test_ascii_output_never_crashes(mode: list[str]):
    result = run_gpubench("doctor", "--no-smoke", *mode, env={"PYTHONIOENCODING": "ascii"})
    assert result.returncode in (0, 1), result.stderr
    assert "Traceback" not in result.stderr
    assert "Verdict" in result.stdout
