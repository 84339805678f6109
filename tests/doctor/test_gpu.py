"""On a real NVIDIA GPU with a CUDA build of torch: the probe, the smoke test and the verdict."""

from __future__ import annotations

import pytest

from gpubench.doctor.checks import run_checks
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Severity
from gpubench.doctor.verdict import decide_verdict

pytestmark = pytest.mark.gpu


@pytest.fixture
def gpu_facts(real_facts: Facts) -> Facts:
    if not (real_facts.torch.cuda and real_facts.torch.cuda_available):
        pytest.skip("needs an NVIDIA GPU and a CUDA build of torch (none usable here)")
    return real_facts


def test_driver_and_torch_agree_on_the_gpus(gpu_facts: Facts):
    assert gpu_facts.nvml.status == "ok", gpu_facts.nvml.error
    assert gpu_facts.nvml.driver_version and gpu_facts.nvml.cuda_driver_version
    assert len(gpu_facts.nvml.gpus) >= gpu_facts.torch.device_count >= 1
    for device in gpu_facts.torch.devices:
        assert device.capability and device.total_memory > 0
    assert gpu_facts.torch.arch_list


def test_cuda_smoke_test_passes_including_the_device_side_assert(gpu_facts: Facts):
    results = {result.device: result for result in gpu_facts.smoke}
    cuda0 = results["cuda:0"]
    assert cuda0.status == "ok", cuda0
    guard = next(step for step in cuda0.steps if step.name == "embedding-guard")
    assert guard.ok and "device-side assert" in guard.detail
    assert cuda0.memory_total and cuda0.memory_free
    assert cuda0.first_result_seconds is not None


def test_verdict_is_cuda_ready_unless_an_error_says_otherwise(gpu_facts: Facts):
    findings = run_checks(gpu_facts)
    verdict = decide_verdict(gpu_facts, findings)
    assert verdict.cuda_usable and "cuda:0" in verdict.cuda_devices
    errors = [finding for finding in findings if finding.severity == Severity.ERROR]
    assert verdict.kind == ("broken" if errors else "cuda-ready"), verdict.line
