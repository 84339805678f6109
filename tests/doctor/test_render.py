"""The three outputs: human text, JSON against its schema, and paste-safe markdown."""

from __future__ import annotations

import io
import json
import re

from rich.console import Console

from gpubench.doctor.checks import run_checks
from gpubench.doctor.explain import explain_text
from gpubench.doctor.redact import IdentityScrubber, allowed_environment, redact_tokens
from gpubench.doctor.render import (
    DoctorReport,
    render_human,
    render_json,
    render_markdown,
)
from gpubench.doctor.schema import DOCTOR_JSON_SCHEMA
from gpubench.doctor.verdict import decide_verdict
from tests.doctor.conftest import LOGS
from tests.doctor.schema_check import schema_errors
from tests.doctor.situations import situation, situation_paths

HF_TOKEN = "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789"


def report_for(name: str) -> DoctorReport:
    facts = situation(name).facts
    findings = run_checks(facts)
    return DoctorReport(facts, findings, decide_verdict(facts, findings))


def human_text(report: DoctorReport) -> str:
    buffer = io.StringIO()
    render_human(report, Console(file=buffer, width=100, color_system=None))
    return buffer.getvalue()


def test_human_output_has_header_check_lines_details_and_verdict():
    text = human_text(report_for("gpu_with_cpu_torch"))
    lines = text.splitlines()
    assert lines[0].startswith("gpubench doctor · Linux 6.8 x86_64 · Python 3.11.9 (venv ")
    assert re.search(r"^\s*✓ python-env\s+venv", text, re.M)
    assert re.search(r"^\s*✗ torch-cpu-build\s+torch 2.13.0\+cpu cannot use", text, re.M)
    assert re.search(r"^\s*i cudnn\s+not applicable \(CPU build\)", text, re.M)
    # the fix is printed whole, one command per line, ready to paste
    assert (
        "    python -m pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126"
        in lines
    )
    assert lines[-1].startswith("Verdict: BROKEN — 1 error. First fix: torch-cpu-build")


def test_human_output_with_explanations_comes_first():
    report = report_for("healthy_h100")
    report.explanations = explain_text((LOGS / "seed_generate_src_index.txt").read_text())
    report.explain_source = "log.txt"
    text = human_text(report)
    assert text.index("Log explained (log.txt): 1 known pattern") < text.index("gpubench doctor ·")
    assert "idx_cond = idx[:, -block_size:]" in text
    assert "line 8, 3 times:" in text


def test_human_output_for_a_log_with_no_known_pattern():
    report = report_for("cpu_only_laptop")
    report.explanations, report.explain_source, report.explain_lines = [], "build.log", 4
    assert "no known pattern in 4 lines" in human_text(report)


def test_json_of_every_situation_validates_against_the_schema():
    for path in situation_paths():
        data = json.loads(render_json(report_for(path.stem)))
        assert schema_errors(data, DOCTOR_JSON_SCHEMA) == [], path.stem
        assert data["schema"] == "gpubench.doctor/1"
        assert set(data) >= {"facts", "findings", "verdict"}


def test_the_schema_checker_catches_problems():
    data = json.loads(render_json(report_for("healthy_h100")))
    data["schema"] = "gpubench.doctor/2"
    data["findings"][0]["severity"] = "fatal"
    del data["verdict"]["kind"]
    errors = schema_errors(data, DOCTOR_JSON_SCHEMA)
    assert len(errors) == 3


def test_markdown_hides_home_user_host_and_tokens():
    report = report_for("conda_jpeg_clobber")
    report.facts.env["TORCH_HUB_TOKEN"] = HF_TOKEN
    report.facts.env["CUDA_CACHE_PATH"] = "/scratch/seed/gpu-box-17/cache"
    scrubber = IdentityScrubber(home="/home/seed", user="seed", hosts=("gpu-box-17",))
    text = render_markdown(report, scrubber)
    assert "/home/seed" not in text
    assert "~/miniconda3/envs/gpt" in text
    assert not re.search(r"(?<![\w.-])seed(?![\w-])", text)
    assert "gpu-box-17" not in text and "/scratch/[user]/[host]/cache" in text
    assert HF_TOKEN not in text and "[redacted]" in text
    assert "**Verdict: BROKEN**" in text
    assert "| ✗ | `conda-clobber` |" in text
    assert "```sh\nconda clean --all -y" in text


def test_allowed_environment_keeps_only_the_allow_list_and_redacts_secrets():
    environ = {
        "CUDA_VISIBLE_DEVICES": "0,1",
        "TORCH_HUB_TOKEN": HF_TOKEN,
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "NVIDIA_API_KEY": "short",
        "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "HOME": "/home/u",
        "PATH": "/home/u/.venv/bin:/usr/local/cuda/bin:/usr/bin:/bin",
        "OMP_NUM_THREADS": "8",
        "CONDA_PREFIX": "/home/u/miniconda3/envs/gpt",
    }
    assert allowed_environment(environ) == {
        "CONDA_PREFIX": "/home/u/miniconda3/envs/gpt",
        "CUDA_VISIBLE_DEVICES": "0,1",
        "NVIDIA_API_KEY": "[redacted]",
        "OMP_NUM_THREADS": "8",
        "PATH": "/home/u/.venv/bin:/usr/local/cuda/bin",
        "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True",
        "TORCH_HUB_TOKEN": "[redacted]",
    }


def test_token_redaction_leaves_paths_and_versions_alone():
    text = "pytorch-2.5.1-py3.11_cuda12.1_cudnn9.1.0_0 /home/u/.cache/abcdefabcdef0123456789abcdef"
    assert redact_tokens(text) == text
    assert redact_tokens(f"token={HF_TOKEN}") == "token=[redacted]"
    assert redact_tokens("key ghp_0123456789abcdefghijABCDEFGHIJ0123") == "key [redacted]"
