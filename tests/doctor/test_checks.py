"""Check behaviour beyond the recorded situations: crashes, edge cases, coverage of the spec."""

from __future__ import annotations

import copy

from gpubench.commands.doctor import exit_code
from gpubench.doctor.checks import ALL_CHECKS, run_checks
from gpubench.doctor.checks.environment import check_duplicate_torch, check_python_env
from gpubench.doctor.checks.runtime import check_cpu_threads, check_smoke
from gpubench.doctor.checks.torch_build import check_cudnn, check_rocm, format_cudnn
from gpubench.doctor.checks.visibility import check_cuda_visible_devices
from gpubench.doctor.facts import Facts, TorchDistribution
from gpubench.doctor.findings import Finding, Severity
from gpubench.doctor.render import DoctorReport
from gpubench.doctor.verdict import decide_verdict
from tests.doctor.situations import situation, situation_paths

# doctor.md's table of checks; smoke-<device> appears as smoke-cpu / smoke-cuda0.
SPEC_CODES = {
    "torch-missing",
    "torch-import-failed",
    "torch-cpu-build",
    "no-nvidia-driver",
    "driver-too-old",
    "driver-library-mismatch",
    "arch-unsupported",
    "cuda-visible-devices",
    "cuda-init-failed",
    "wsl",
    "container-no-gpu",
    "duplicate-torch",
    "conda-channel-mix",
    "conda-clobber",
    "cuda-toolkit",
    "ld-library-path",
    "cudnn",
    "smoke-cpu",
    "smoke-cuda0",
    "gpu-busy",
    "cpu-threads",
    "mps",
}


def facts_of(name: str) -> Facts:
    return copy.deepcopy(situation(name).facts)


def test_the_situations_exercise_every_check_in_the_spec():
    fired = {
        finding.code
        for path in situation_paths()
        for finding in run_checks(situation(path.stem).facts)
        # smoke-* and mps are status lines: their ok form is what a fixture records
        if finding.severity != Severity.OK or finding.code.startswith(("smoke-", "mps"))
    }
    assert SPEC_CODES - fired == set()


def test_a_check_that_raises_becomes_an_internal_error_and_the_rest_still_run():
    def check_that_breaks(facts: Facts) -> list[Finding]:
        raise KeyError("gpus")

    facts = facts_of("healthy_h100")
    findings = run_checks(facts, [check_that_breaks, *ALL_CHECKS])
    crash = findings[0]
    assert crash.code == "internal-error"
    assert crash.severity == Severity.WARN
    assert "check_that_breaks" in crash.title
    assert "KeyError: 'gpus'" in crash.detail
    assert {finding.code for finding in findings[1:]} >= {"python-env", "cuda", "smoke-cuda0"}
    report = DoctorReport(facts, findings, decide_verdict(facts, findings))
    assert report.verdict.kind == "cuda-ready"  # our own bug does not break the user's setup
    assert exit_code(report, require_cuda=False) == 0


def test_checks_tolerate_empty_facts():
    findings = run_checks(Facts())
    assert "internal-error" not in {finding.code for finding in findings}


def test_cuda_visible_devices_subset_and_uuids():
    facts = facts_of("healthy_h100")
    facts.env["CUDA_VISIBLE_DEVICES"] = "0"
    assert check_cuda_visible_devices(facts) == []  # the only GPU is visible
    facts.env["CUDA_VISIBLE_DEVICES"] = "1"
    (hidden,) = check_cuda_visible_devices(facts)
    assert hidden.severity == Severity.ERROR
    facts.env["CUDA_VISIBLE_DEVICES"] = "GPU-5d1c7e2a"
    assert check_cuda_visible_devices(facts) == []
    facts.env["CUDA_VISIBLE_DEVICES"] = ""
    assert check_cuda_visible_devices(facts)[0].severity == Severity.ERROR
    facts.nvml.gpus.append(copy.deepcopy(facts.nvml.gpus[0]))
    facts.env["CUDA_VISIBLE_DEVICES"] = "1"
    (subset,) = check_cuda_visible_devices(facts)
    assert subset.severity == Severity.INFO and "1 of 2 GPUs" in subset.title


def test_nvidia_visible_devices_none_in_a_container():
    facts = facts_of("container_without_gpu")
    facts.env["NVIDIA_VISIBLE_DEVICES"] = "void"
    (finding,) = check_cuda_visible_devices(facts)
    assert finding.severity == Severity.WARN and "mounts no GPU" in finding.title


def test_python_env_warns_when_the_active_conda_env_is_not_this_python():
    facts = facts_of("cpu_only_laptop")
    facts.environment.kind = "system"
    facts.environment.conda_prefix = "/home/alice/miniconda3/envs/gpt"
    (finding,) = check_python_env(facts)
    assert finding.severity == Severity.WARN
    assert finding.fix[0] == "/home/alice/miniconda3/envs/gpt/bin/python -m gpubench doctor"


def test_stale_torch_metadata():
    facts = facts_of("cpu_only_laptop")
    site = facts.torch_distributions[0].location
    facts.torch_distributions.append(
        TorchDistribution("torch", "2.1.0", site, "pip", "env", f"{site}/torch-2.1.0.dist-info")
    )
    (finding,) = check_duplicate_torch(facts)
    assert finding.severity == Severity.WARN
    assert finding.fix == (f"rm -rf '{site}/torch-2.1.0.dist-info'",)


def test_cpu_threads_mentions_omp_and_the_governor():
    facts = facts_of("healthy_h100")
    facts.env["OMP_NUM_THREADS"] = "52"
    facts.cpu.governor = "powersave"
    (finding,) = check_cpu_threads(facts)
    assert finding.severity == Severity.INFO
    assert "OMP_NUM_THREADS=52" in finding.detail and "powersave" in finding.detail
    assert "sudo cpupower frequency-set -g performance  # for benchmarking only" in finding.fix


def test_smoke_skipped_is_said_once():
    facts = facts_of("cpu_only_laptop")
    assert check_smoke(facts) == [Finding("smoke", Severity.INFO, "skipped (--no-smoke)")]


def test_cudnn_version_mismatch():
    facts = facts_of("healthy_h100")
    facts.torch.cudnn_version = 8902
    (finding,) = check_cudnn(facts)
    assert finding.severity == Severity.ERROR
    assert finding.title == "cuDNN 8.9.2 is loaded but torch was built with 9.10.2"
    assert format_cudnn(90100) == "9.1.0"


def test_rocm_builds_are_reported_as_such():
    facts = facts_of("cpu_only_laptop")
    facts.torch.version, facts.torch.hip = "2.9.1+rocm6.4", "6.4.43482"
    facts.torch.cuda_available, facts.torch.device_count = False, 0
    (finding,) = check_rocm(facts)
    assert finding.code == "rocm" and finding.severity == Severity.WARN
    assert "/dev/kfd is missing" in finding.detail
    all_codes = {item.code for item in run_checks(facts)}
    assert "torch-cpu-build" not in all_codes and "cudnn" not in all_codes


def test_cpu_build_of_a_release_newer_than_the_tables():
    facts = facts_of("cpu_only_laptop")
    facts.torch.version = "2.16.0.dev20270101+cpu"
    (finding,) = [item for item in run_checks(facts) if item.code == "torch-cpu-build"]
    assert finding.fix[0].startswith(
        "python -m pip install torch --index-url https://download.pytorch.org/whl/cu"
    )
