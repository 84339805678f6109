"""The multi-GPU checks run inside the doctor: facts recorded in Facts, findings in run_checks."""

from __future__ import annotations

from gpubench.doctor.checks import run_checks
from gpubench.doctor.facts import Facts
from gpubench.doctor.probe import multi_gpu_facts_from
from gpubench.doctor.workers import WorkerOutcome

TWO_GPUS_WITHOUT_NCCL = {
    "gpu_count": 2,
    "gpu_names": ["NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3"],
    "cuda_build": True,
    "nccl_available": False,
    "pairs": [],
}


def codes(facts: Facts) -> set[str]:
    return {finding.code for finding in run_checks(facts)}


def test_recorded_multi_gpu_facts_reach_the_checks():
    facts = Facts.from_dict({"multi_gpu": TWO_GPUS_WITHOUT_NCCL})
    found = codes(facts)
    assert any("nccl" in code for code in found)
    assert "internal-error" not in found


def test_a_machine_without_multi_gpu_facts_gets_no_multi_gpu_findings():
    assert not any("nccl" in code for code in codes(Facts()))


def test_a_failed_probe_is_recorded_without_crashing_a_check():
    outcome = WorkerOutcome(
        status="timeout", result=None, stage="probe", returncode=None, stderr_tail="", seconds=20.0
    )
    recorded = multi_gpu_facts_from(outcome, 2, 20.0)
    assert recorded["gpu_count"] == 2 and "did not finish" in recorded["errors"][0]
    assert "internal-error" not in codes(Facts.from_dict({"multi_gpu": recorded}))
