"""Collect the facts: the only part of the doctor that looks at the machine.

Cheap, safe facts (files under /proc, /sys and /dev, metadata on sys.path, conda-meta, psutil)
are read in this process by machine.py; anything that imports torch, talks to the driver or runs
kernels happens in worker processes with a deadline (see workers.py), started first so they
overlap with the rest. Every reader is guarded: a failure becomes a line in ``probe_errors``,
never an exception.
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from gpubench import __version__
from gpubench.doctor.conda_meta import read_conda_meta
from gpubench.doctor.facts import (
    CpuFacts,
    CudaToolkitFacts,
    EnvironmentFacts,
    Facts,
    NvidiaSystemFacts,
    NvmlFacts,
    PlatformFacts,
    SmokeResult,
    TorchDistribution,
    TorchFacts,
    build_dataclass,
)
from gpubench.doctor.machine import (
    collect_cpu,
    collect_environment,
    collect_library_path,
    collect_nvidia_system,
    collect_platform,
    conda_torch_records,
    find_nvcc,
    find_torch_distributions,
    finish_toolkit,
    start_nvcc_version,
)
from gpubench.doctor.redact import allowed_environment
from gpubench.doctor.smoke import start_smoke
from gpubench.doctor.workers import Worker, WorkerOutcome

T = TypeVar("T")


def guarded(errors: list[str], what: str, collect: Callable[[], T], default: T) -> T:
    """Run one collector; on failure record why and carry on with ``default``."""
    try:
        return collect()
    except Exception as error:
        errors.append(f"{what}: {type(error).__name__}: {error}")
        return default


# --- worker results -> facts -----------------------------------------------------------------


def torch_facts_from(outcome: WorkerOutcome, timeout: float) -> TorchFacts:
    if outcome.result is not None:
        facts = build_dataclass(TorchFacts, outcome.result)
        if outcome.status != "ok":  # torch imported, then CUDA initialisation hung or crashed
            facts.stage = outcome.stage or facts.stage
            facts.cuda_available = False
            facts.cuda_error = "CUDA initialisation " + outcome.describe_failure(timeout)
        return facts
    status = {"timeout": "timeout", "crashed": "crashed"}.get(outcome.status, "import-failed")
    error = "the torch probe " + outcome.describe_failure(timeout)
    if outcome.stderr_tail and outcome.status != "timeout":
        error += "\n" + outcome.stderr_tail
    return TorchFacts(status=status, stage=outcome.stage, error=error)


def nvml_facts_from(outcome: WorkerOutcome, timeout: float) -> NvmlFacts:
    if outcome.status == "ok" and outcome.result is not None:
        return build_dataclass(NvmlFacts, outcome.result)
    status = {"timeout": "timeout", "crashed": "crashed"}.get(outcome.status, "error")
    return NvmlFacts(status=status, error="the NVML probe " + outcome.describe_failure(timeout))


def smoke_result_from(device: str, outcome: WorkerOutcome, timeout: float) -> SmokeResult:
    if outcome.status == "ok" and outcome.result is not None:
        result = build_dataclass(SmokeResult, outcome.result)
        result.seconds = result.seconds if result.seconds is not None else outcome.seconds
        return result
    status = {"timeout": "timeout", "crashed": "crashed"}.get(outcome.status, "failed")
    error = "the smoke test " + outcome.describe_failure(timeout)
    return SmokeResult(device=device, status=status, error=error, seconds=outcome.seconds)


def smoke_devices(torch: TorchFacts) -> list[str]:
    """The accelerator devices to smoke-test after the torch probe (the CPU starts earlier)."""
    devices = []
    if torch.cuda_available:
        devices += [f"cuda:{device.index}" for device in torch.devices]
    if torch.mps_available:
        devices.append("mps")
    return devices


# --- the whole probe -------------------------------------------------------------------------


def collect_facts(
    *, timeout: float = 20.0, smoke: bool = True, environ: Mapping[str, str] | None = None
) -> Facts:
    """Probe this machine. ``timeout`` bounds each worker; this function never raises."""
    env = dict(os.environ if environ is None else environ)
    started = time.monotonic()
    errors: list[str] = []
    torch_worker = Worker("gpubench.doctor.torch_probe", timeout=timeout)
    nvml_worker = Worker("gpubench.doctor.nvml_probe", timeout=timeout)
    cpu_smoke = start_smoke("cpu", timeout=timeout) if smoke else None
    nvcc = guarded(errors, "nvcc", lambda: find_nvcc(env), None)
    nvcc_process = start_nvcc_version(nvcc)

    facts = Facts(
        gpubench_version=__version__,
        collected_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        smoke_requested=smoke,
    )
    facts.platform = guarded(errors, "platform", lambda: collect_platform(env), PlatformFacts())
    facts.environment = guarded(
        errors, "environment", lambda: collect_environment(env), EnvironmentFacts()
    )
    facts.env = guarded(errors, "environment variables", lambda: allowed_environment(env), {})
    conda_prefix = env.get("CONDA_PREFIX")
    if conda_prefix:
        facts.conda = guarded(
            errors, "conda-meta", lambda: read_conda_meta(Path(conda_prefix)), None
        )
    no_distributions: tuple[list[TorchDistribution], dict[str, str]] = ([], {})
    facts.torch_distributions, facts.torch_companions = guarded(
        errors,
        "torch distributions",
        lambda: find_torch_distributions(
            sys.path,
            user_site=facts.environment.user_site if facts.environment.user_site_enabled else None,
            pythonpath=env.get("PYTHONPATH", "").split(os.pathsep),
        ),
        no_distributions,
    )
    if facts.conda is not None and _same_path(facts.conda.prefix, sys.prefix):
        facts.torch_distributions += conda_torch_records(facts.conda)
    facts.nvidia = guarded(
        errors, "nvidia", lambda: collect_nvidia_system(facts.platform.wsl), NvidiaSystemFacts()
    )
    facts.cpu = guarded(errors, "cpu", collect_cpu, CpuFacts())
    facts.library_path = guarded(errors, "LD_LIBRARY_PATH", lambda: collect_library_path(env), [])
    facts.toolkit = guarded(
        errors,
        "CUDA toolkit",
        lambda: finish_toolkit(nvcc, nvcc_process, env, min(timeout, 10.0)),
        CudaToolkitFacts(),
    )

    facts.torch = torch_facts_from(torch_worker.collect(), timeout)
    facts.nvml = nvml_facts_from(nvml_worker.collect(), timeout)
    if cpu_smoke is not None:
        facts.smoke.append(smoke_result_from("cpu", cpu_smoke.collect(), timeout))
        accelerators = [
            (device, start_smoke(device, timeout=timeout)) for device in smoke_devices(facts.torch)
        ]
        facts.smoke += [
            smoke_result_from(device, worker.collect(), timeout) for device, worker in accelerators
        ]
    facts.probe_errors = errors
    facts.probe_seconds = round(time.monotonic() - started, 3)
    return facts


def _same_path(left: str, right: str) -> bool:
    try:
        return Path(left).resolve() == Path(right).resolve()
    except OSError:
        return left == right
