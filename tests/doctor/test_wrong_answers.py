"""Wrong answers found in real situations (issue 13) that need more than a situation fixture."""

from __future__ import annotations

from gpubench.doctor.checks.visibility import check_cuda_visible_devices
from gpubench.doctor.redact import allowed_environment, redact_environment
from tests.doctor.situations import situation

GPU_UUID = "GPU-8f2c1a4e-3b5d-4c7e-9a1f-2d4b6c8e0a13"


def test_gpu_uuids_reach_the_checks_unredacted():
    env = allowed_environment({"CUDA_VISIBLE_DEVICES": GPU_UUID})
    assert env["CUDA_VISIBLE_DEVICES"] == GPU_UUID


def test_a_visible_gpu_uuid_collected_from_the_environment_hides_nothing():
    facts = situation("cuda_visible_devices_gpu_uuid").facts
    uuid = facts.nvml.gpus[0].uuid
    facts.env = allowed_environment({"CUDA_VISIBLE_DEVICES": uuid, "PATH": "/usr/bin"})
    assert check_cuda_visible_devices(facts) == []


def test_tokens_are_still_redacted_when_shown():
    token = "hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"
    shown = redact_environment({"TORCH_HOME": f"/cache/{token}", "CUDA_VISIBLE_DEVICES": GPU_UUID})
    assert token not in shown["TORCH_HOME"]
    assert shown["CUDA_VISIBLE_DEVICES"] == GPU_UUID
