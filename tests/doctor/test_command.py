"""`gpubench doctor` end to end: typer's CliRunner and real subprocesses."""

from __future__ import annotations

import copy
import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gpubench.commands.doctor as command
from gpubench.cli import app
from gpubench.doctor import Verdict, fast_verdict
from gpubench.doctor.facts import Facts
from gpubench.doctor.schema import DOCTOR_JSON_SCHEMA
from tests.doctor.conftest import LOGS, REPO_ROOT, run_gpubench, write_seed_conda_prefix
from tests.doctor.schema_check import schema_errors
from tests.doctor.situations import situation

runner = CliRunner()


@pytest.fixture
def use_facts(monkeypatch):
    """Make the command use given facts instead of probing (the probe has its own tests)."""

    def use(facts: Facts) -> None:
        monkeypatch.setattr(command, "collect_facts", lambda **_: copy.deepcopy(facts))

    return use


def flat(text: str) -> str:
    """Output with rich's line wrapping undone (tests assert on words, not on layout)."""
    return re.sub(r"\s+", " ", text)


def is_cpu_only_box(facts: Facts) -> bool:
    return facts.torch.status == "ok" and not facts.torch.cuda and not facts.nvml.gpus


def test_human_report_on_this_machine(real_facts, use_facts):
    use_facts(real_facts)
    result = runner.invoke(app, ["doctor"])
    assert result.exit_code in (0, 1), result.output
    assert result.output.startswith("gpubench doctor · ")
    assert "Verdict: " in result.output
    assert "smoke-cpu" in result.output
    if is_cpu_only_box(real_facts):
        assert result.exit_code == 0
        assert "Verdict: CPU only — torch" in result.output
        assert "is a CPU build and no NVIDIA GPU was found" in result.output
        assert "--index-url https://download.pytorch.org/whl/cu" in result.output  # what to install


def test_toolkit_is_never_presented_as_torchs_runtime(real_facts, use_facts):
    if not real_facts.toolkit.nvcc_path:
        pytest.skip("no CUDA toolkit (nvcc) on this machine")
    use_facts(real_facts)
    output = flat(runner.invoke(app, ["doctor"]).output)
    version = real_facts.toolkit.nvcc_version
    assert f"CUDA toolkit {version} found: a compiler toolkit, not torch's CUDA runtime" in output
    assert "bring their own CUDA runtime" in output
    assert "decided by the NVIDIA driver" in output
    torch_line = next(line for line in output.split(" ✓ ") if line.startswith("torch "))
    if real_facts.torch.cuda != version:
        assert f"CUDA {version}" not in torch_line
        assert f"uses its own CUDA {version}" not in output
    if is_cpu_only_box(real_facts):
        assert "is a CPU build and uses no CUDA at all" in output


def test_json_report_validates(real_facts, use_facts):
    use_facts(real_facts)
    result = runner.invoke(app, ["doctor", "--json"])
    data = json.loads(result.stdout)
    assert schema_errors(data, DOCTOR_JSON_SCHEMA) == []
    assert data["explanations"] is None
    assert data["verdict"]["kind"] in ("cuda-ready", "cpu-only", "broken")


def test_require_cuda(use_facts):
    use_facts(situation("cpu_only_laptop").facts)
    result = runner.invoke(app, ["doctor", "--require-cuda"])
    assert result.exit_code == 1
    assert "--require-cuda: CUDA is not usable here" in result.output
    use_facts(situation("healthy_h100").facts)
    assert runner.invoke(app, ["doctor", "--require-cuda"]).exit_code == 0


def test_errors_exit_one_and_warnings_zero(use_facts):
    use_facts(situation("gpu_with_cpu_torch").facts)
    assert runner.invoke(app, ["doctor"]).exit_code == 1
    use_facts(situation("gpu_busy_shared_box").facts)
    assert runner.invoke(app, ["doctor"]).exit_code == 0


def test_explain_a_log_file_first_and_short(use_facts):
    use_facts(situation("healthy_h100").facts)
    log = LOGS / "seed_generate_src_index.txt"
    result = runner.invoke(app, ["doctor", "--explain", str(log)])
    assert result.exit_code == 0
    output = result.output
    assert output.index("device-assert-index") < output.index("This machine: CUDA ready")
    assert "Assertion `srcIndex < srcSelectDimSize` failed." in output
    assert "idx_cond = idx[:, -block_size:]" in output
    assert "smoke-cpu" not in output and "Verdict:" not in output  # no local report
    assert len(output.splitlines()) < 25


def test_explain_with_report_adds_the_local_report_after_it(use_facts):
    use_facts(situation("healthy_h100").facts)
    log = LOGS / "seed_generate_src_index.txt"
    result = runner.invoke(app, ["doctor", "--explain", str(log), "--report"])
    output = result.output
    assert output.index("device-assert-index") < output.index("Verdict:")
    assert "smoke-cpu" in output


def test_explain_from_stdin_and_in_json(use_facts):
    use_facts(situation("conda_jpeg_clobber").facts)
    log = (LOGS / "conda_clobber_jpeg.txt").read_text()
    result = runner.invoke(app, ["doctor", "--explain", "-", "--json"], input=log)
    data = json.loads(result.stdout)
    (item,) = data["explanations"]
    assert item["code"] == "conda-clobber"
    assert "jpeg 9e" in item["cause"] and "libjpeg-turbo 2.0.0" in item["cause"]


def test_explain_a_utf16_log(tmp_path, use_facts):
    use_facts(situation("cpu_only_laptop").facts)
    path = tmp_path / "powershell.log"
    path.write_text("AssertionError: Torch not compiled with CUDA enabled\n", encoding="utf-16")
    result = runner.invoke(app, ["doctor", "--explain", str(path)])
    assert "not-compiled-with-cuda" in result.output


def test_explain_a_log_with_no_known_pattern(use_facts):
    use_facts(situation("cpu_only_laptop").facts)
    result = runner.invoke(app, ["doctor", "--explain", str(LOGS / "unrelated.txt")])
    assert "no known pattern in 4 lines" in flat(result.output)
    assert "Verdict: CPU only" in result.output


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing.log", "no such file"),
        (lambda tmp: tmp, "is a directory"),
        (lambda tmp: _binary(tmp / "core.bin"), "is binary data, not a text log"),
    ],
    ids=["missing", "directory", "binary"],
)
def test_explain_bad_input_is_a_usage_error(tmp_path, use_facts, make, message):
    use_facts(situation("cpu_only_laptop").facts)
    path = make(tmp_path)
    result = runner.invoke(app, ["doctor", "--explain", str(path)])
    assert result.exit_code == 2
    text = result.output  # stdout and stderr together
    assert message in text and "Traceback" not in text
    assert len([line for line in text.splitlines() if line.strip()]) == 1


def _binary(path: Path) -> Path:
    path.write_bytes(b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)))
    return path


def test_json_and_markdown_together_is_a_usage_error():
    assert runner.invoke(app, ["doctor", "--json", "--markdown"]).exit_code == 2


def test_fast_verdict(monkeypatch, real_facts):
    import gpubench.doctor.probe as probe

    monkeypatch.setattr(probe, "collect_facts", lambda **_: copy.deepcopy(real_facts))
    verdict = fast_verdict()
    assert isinstance(verdict, Verdict)
    assert verdict.kind in ("cuda-ready", "cpu-only", "broken")
    data = verdict.to_dict()
    assert data["facts"]["torch"]["version"] == real_facts.torch.version
    assert data["facts"]["cpu"]["logical_cores"] == real_facts.cpu.logical_cores
    if is_cpu_only_box(real_facts):
        assert verdict.kind == "cpu-only" and not verdict.cuda_usable
        assert verdict.line.startswith(f"CPU only: torch {real_facts.torch.version} is a CPU build")
        assert verdict.cuda_devices == []


def test_fast_verdict_never_raises(monkeypatch):
    import gpubench.doctor.probe as probe

    def explode(**_):
        raise RuntimeError("no /proc here")

    monkeypatch.setattr(probe, "collect_facts", explode)
    verdict = fast_verdict()
    assert verdict.kind == "broken" and not verdict.cuda_usable
    assert "no /proc here" in verdict.line


def test_fast_verdict_on_a_gpu_box():
    facts = situation("healthy_h100").facts
    from gpubench.doctor.checks import run_checks
    from gpubench.doctor.verdict import decide_verdict

    verdict = decide_verdict(facts, run_checks(facts))
    assert verdict.cuda_usable and verdict.cuda_devices == ["cuda:0"]
    assert verdict.to_dict()["facts"]["gpus"][0]["name"] == "NVIDIA H100 80GB HBM3"


# --- real subprocesses --------------------------------------------------------------------


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from gpubench.cli import app\n"
        "result = CliRunner().invoke(app, ['doctor', '--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert '--explain' in result.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT, timeout=60)


def test_doctor_subprocess_no_smoke_never_imports_torch_itself():
    """The real CLI in a real process; afterwards torch must not be in the doctor's own modules."""
    code = (
        "import runpy, sys\n"
        "sys.argv = ['gpubench', 'doctor', '--no-smoke']\n"
        "try:\n"
        "    runpy.run_module('gpubench', run_name='__main__')\n"
        "except SystemExit as stop:\n"
        "    status = stop.code\n"
        "leaked = sorted(name for name in sys.modules if name == 'torch' or name.startswith(\n"
        "    ('gpubench.bench', 'gpubench.report')))\n"
        "print('LEAKED', leaked, file=sys.stderr)\n"
        "sys.exit(status)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.returncode in (0, 1), result.stderr
    assert "LEAKED []" in result.stderr
    assert result.stdout.startswith("gpubench doctor · ")
    assert "skipped (--no-smoke)" in result.stdout
    assert "Verdict: " in result.stdout
    assert "Traceback" not in result.stderr


def test_the_doctor_package_imports_nothing_above_it():
    import ast

    doctor = REPO_ROOT / "gpubench" / "doctor"
    for path in doctor.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert not name.startswith(("gpubench.bench", "gpubench.report", "gpubench.cli")), (
                    path,
                    name,
                )
                if name == "torch" or name.startswith("torch."):  # only the worker processes
                    workers = ("torch_probe.py", "smoke.py", "multi_gpu_probe.py")
                    assert path.name in workers, path


def test_must_show_conda_clobber_and_channel_mix(tmp_path):
    prefix = write_seed_conda_prefix(tmp_path / "miniconda3" / "envs" / "gpt")
    result = run_gpubench("doctor", "--no-smoke", env={"CONDA_PREFIX": str(prefix)})
    output = flat(result.stdout)
    assert result.returncode == 1, output + result.stderr
    assert "✗ conda-clobber" in output
    pair = "jpeg 9e (defaults via mirrors.example.edu.cn) vs libjpeg-turbo 2.0.0 (pytorch)"
    assert pair in output
    assert "share/man/man1/rdjpgcom.1" in output
    assert "conda clean --all -y" in output and "conda activate gpt-clean" in output
    assert "! conda-channel-mix" in output
    assert "Verdict: BROKEN" in output


def test_markdown_from_a_real_run_is_safe_to_paste(tmp_path):
    user = "gpubenchtester"
    home = tmp_path / "home" / user
    prefix = write_seed_conda_prefix(home / "miniconda3" / "envs" / "gpt")
    token = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
    host = socket.gethostname()
    env = {
        "HOME": str(home),
        "USER": user,
        "LOGNAME": user,
        "CONDA_PREFIX": str(prefix),
        "TORCH_HUB_TOKEN": token,
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "CUDA_CACHE_PATH": f"/scratch/{host}/{user}/cuda-cache",
    }
    result = run_gpubench("doctor", "--markdown", "--no-smoke", env=env)
    text = result.stdout
    assert result.returncode == 1  # the clobbered prefix is an error
    assert text.startswith("### gpubench doctor")
    assert str(home) not in text and str(tmp_path) not in text
    assert "~/miniconda3/envs/gpt" in text
    assert user not in text
    assert not re.search(rf"(?<![\w.-]){re.escape(host)}(?![\w-])", text)
    assert "/scratch/[host]/[user]/cuda-cache" in text
    assert token not in text and "TORCH_HUB_TOKEN" in text
    assert "AWS_SECRET_ACCESS_KEY" not in text and "EXAMPLEKEY" not in text


def test_a_torch_that_raises_on_import_through_the_cli(fake_torch):
    path = fake_torch(
        "raise ImportError('/venv/lib/python3.11/site-packages/torch/lib/../../nvidia/cusparse/"
        "lib/libcusparse.so.12: undefined symbol: __nvJitLinkAddData_12_1, version "
        "libnvJitLink.so.12')"
    )
    result = run_gpubench("doctor", "--json", "--no-smoke", env={"PYTHONPATH": str(path)})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr  # the doctor's own process never imported torch
    data = json.loads(result.stdout)
    (finding,) = [item for item in data["findings"] if item["code"] == "torch-import-failed"]
    assert finding["severity"] == "error"
    assert "undefined symbol" in finding["detail"]
    assert "Likely cause:" in finding["detail"] and "libnvJitLink" in finding["detail"]
    assert data["verdict"]["kind"] == "broken"
