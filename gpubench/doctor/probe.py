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
from typing import Any, TypeVar

from gpubench import __version__
from gpubench.doctor.conda_meta import read_conda_meta
from gpubench.doctor.facts import (
    CpuFacts,
    CudaToolkitFacts,
    EnvironmentFacts,
    Facts,
    InterpreterFacts,
    NvidiaSystemFacts,
    NvmlFacts,
    PlatformFacts,
    SmokeResult,
    TorchDistribution,
    TorchFacts,
    build_dataclass,
)
from gpubench.doctor.machine import (
    active_environment,
    collect_cpu,
    collect_library_path,
    collect_nvidia_system,
    collect_platform,
    conda_torch_records,
    find_jupyter_kernels,
    find_nvcc,
    find_toolkits,
    find_torch_distributions,
    finish_toolkit,
    nvidia_smi_gpus,
    start_nvcc_version,
)
from gpubench.doctor.python_probe import describe as describe_python
from gpubench.doctor.redact import allowed_environment
from gpubench.doctor.smoke import start_smoke
from gpubench.doctor.torch_metadata import torch_facts_from_metadata
from gpubench.doctor.workers import Worker, WorkerOutcome
from gpubench.errors import GpubenchError

T = TypeVar("T")


class ProbeError(GpubenchError):
    """The interpreter to diagnose (``doctor --python``) could not be probed."""


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


def multi_gpu_facts_from(outcome: WorkerOutcome, gpu_count: int, timeout: float) -> dict[str, Any]:
    """The multi-GPU probe's facts, or a record of why it gave none."""
    if outcome.status == "ok" and outcome.result is not None:
        return outcome.result
    return {
        "gpu_count": gpu_count,
        "errors": ["the multi-GPU probe " + outcome.describe_failure(timeout)],
    }


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


def describe_interpreter(python: str | None, timeout: float) -> dict[str, Any]:
    """python_probe's description of the interpreter to diagnose (ours: in this process)."""
    if python is None:
        return describe_python()
    outcome = Worker("gpubench.doctor.python_probe", timeout=timeout, python=python).collect()
    if outcome.status != "ok" or outcome.result is None:
        raise ProbeError(f"{python}: the interpreter probe {outcome.describe_failure(timeout)}")
    return outcome.result


def gpu_traces(nvidia: NvidiaSystemFacts) -> bool:
    """Any sign of a GPU torch could use: NVIDIA on PCI, /dev/nvidia*, WSL's /dev/dxg, ROCm."""
    return bool(nvidia.pci_gpus or nvidia.device_nodes)


def environment_from(description: dict[str, Any], environ: Mapping[str, str]) -> EnvironmentFacts:
    return EnvironmentFacts(
        kind=description["kind"],
        prefix=description["prefix"],
        base_prefix=description["base_prefix"],
        conda_prefix=environ.get("CONDA_PREFIX") or None,
        user_site=description.get("user_site"),
        user_site_enabled=bool(description.get("user_site_enabled")),
    )


def interpreter_from(
    description: dict[str, Any], python: str | None, environ: Mapping[str, str]
) -> InterpreterFacts:
    torch = description.get("torch") or {}
    active, source = active_environment(environ)
    return InterpreterFacts(
        executable=description["executable"] if python is None else python,
        other=python is not None,
        installer=description.get("installer", "pip"),
        torch_version=torch.get("version"),
        torch_requirements=dict(torch.get("requirements") or {}),
        nvidia_wheels=dict(description.get("nvidia_wheels") or {}),
        active_prefix=active,
        active_source=source,
    )


def collect_facts(
    *,
    timeout: float = 20.0,
    smoke: bool = True,
    environ: Mapping[str, str] | None = None,
    python: str | None = None,
    quick: bool = False,
) -> Facts:
    """Probe this machine. ``timeout`` bounds each worker; this function never raises, except
    ProbeError when ``python`` (another interpreter to diagnose) cannot describe itself.

    ``quick`` (doctor --no-smoke) reads torch's build from its metadata instead of importing it
    when no GPU is there for torch to use: the import is most of the doctor's time.
    """
    env = dict(os.environ if environ is None else environ)
    started = time.monotonic()
    errors: list[str] = []
    platform = guarded(errors, "platform", lambda: collect_platform(env), PlatformFacts())
    # WSL decides which library folders shadow the driver's, so the platform comes first
    nvidia = guarded(
        errors, "nvidia", lambda: collect_nvidia_system(platform.wsl), NvidiaSystemFacts()
    )
    description = describe_interpreter(python, timeout)
    copies = len([entry for entry in description["sys_path"] if (Path(entry) / "torch").is_dir()])
    import_torch = not (quick and not gpu_traces(nvidia) and copies <= 1)
    torch_worker = (
        Worker("gpubench.doctor.torch_probe", timeout=timeout, python=python)
        if import_torch
        else None
    )
    nvml_worker = Worker("gpubench.doctor.nvml_probe", timeout=timeout)
    cpu_smoke = start_smoke("cpu", timeout=timeout) if smoke and python is None else None
    nvcc = guarded(errors, "nvcc", lambda: find_nvcc(env), None)
    nvcc_process = start_nvcc_version(nvcc)

    facts = Facts(
        gpubench_version=__version__,
        collected_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        smoke_requested=smoke,
    )
    facts.platform = platform
    facts.platform.python_version = description["python_version"]
    facts.platform.python_executable = description["executable"] if python is None else python
    facts.environment = environment_from(description, env)
    facts.interpreter = interpreter_from(description, python, env)
    facts.env = guarded(errors, "environment variables", lambda: allowed_environment(env), {})
    conda_prefix = env.get("CONDA_PREFIX")
    if facts.environment.kind == "conda" and python is not None:
        conda_prefix = facts.environment.prefix
    if conda_prefix:
        facts.conda = guarded(
            errors, "conda-meta", lambda: read_conda_meta(Path(conda_prefix)), None
        )
    no_distributions: tuple[list[TorchDistribution], dict[str, str]] = ([], {})
    facts.torch_distributions, facts.torch_companions = guarded(
        errors,
        "torch distributions",
        lambda: find_torch_distributions(
            description["sys_path"],
            user_site=facts.environment.user_site if facts.environment.user_site_enabled else None,
            pythonpath=description.get("pythonpath", "").split(os.pathsep),
            prefix=facts.environment.prefix,
        ),
        no_distributions,
    )
    if facts.conda is not None and _same_path(facts.conda.prefix, facts.environment.prefix):
        facts.torch_distributions += conda_torch_records(facts.conda)
    facts.nvidia = nvidia
    facts.cpu = guarded(errors, "cpu", collect_cpu, CpuFacts())
    facts.library_path = guarded(errors, "LD_LIBRARY_PATH", lambda: collect_library_path(env), [])
    facts.toolkit = guarded(
        errors,
        "CUDA toolkit",
        lambda: finish_toolkit(nvcc, nvcc_process, env, min(timeout, 10.0)),
        CudaToolkitFacts(),
    )
    facts.toolkit.installed = guarded(
        errors,
        "CUDA toolkits",
        lambda: find_toolkits(env, facts.toolkit.nvcc_path, facts.toolkit.nvcc_version),
        {},
    )
    facts.jupyter_kernels = guarded(
        errors,
        "Jupyter kernels",
        lambda: find_jupyter_kernels(env, [sys.prefix, facts.environment.prefix]),
        [],
    )

    if torch_worker is not None:
        facts.torch = torch_facts_from(torch_worker.collect(), timeout)
    else:
        facts.torch = torch_facts_from_metadata(description.get("torch"))
    facts.nvml = nvml_facts_from(nvml_worker.collect(), timeout)
    if facts.nvml.status not in ("ok", "version-mismatch", "driver-not-loaded"):
        fallback = guarded(errors, "nvidia-smi", lambda: nvidia_smi_gpus(min(timeout, 10.0)), None)
        if fallback is not None and fallback[1]:
            facts.nvml.driver_version, facts.nvml.gpus = fallback
            facts.nvml.status, facts.nvml.source = "ok", "nvidia-smi"
    if len(facts.nvml.gpus) >= 2 and python is None:  # NCCL, peer access, links between GPUs
        worker = Worker("gpubench.doctor.multi_gpu_probe", timeout=timeout)
        facts.multi_gpu = multi_gpu_facts_from(worker.collect(), len(facts.nvml.gpus), timeout)
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
