"""All checks, in one explicit list, and the loop that runs them.

A check is a pure function ``Facts -> list[Finding]``. The list is ordered by cause: what must
be fixed first comes first, so the verdict's "first fix" is the first error found. A check that
raises becomes an ``internal-error`` finding and the others still run.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence

from gpubench.doctor.checks.driver import (
    check_cuda_init,
    check_driver_library_mismatch,
    check_driver_supports_torch,
    check_nvidia_driver,
)
from gpubench.doctor.checks.environment import (
    check_conda_channel_mix,
    check_conda_clobber,
    check_cuda_toolkit,
    check_duplicate_torch,
    check_jupyter_kernels,
    check_ld_library_path,
    check_python_env,
)
from gpubench.doctor.checks.multi_gpu import check_multi_gpu
from gpubench.doctor.checks.packages import check_nvidia_wheels, check_torch_companions
from gpubench.doctor.checks.runtime import check_cpu_threads, check_gpu_busy, check_smoke
from gpubench.doctor.checks.torch_build import (
    check_arch_supported,
    check_cudnn,
    check_mps,
    check_rocm,
    check_torch_cpu_build,
    check_torch_importable,
)
from gpubench.doctor.checks.visibility import (
    check_container_gpu,
    check_cuda_visible_devices,
    check_wsl,
)
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity

Check = Callable[[Facts], list[Finding]]

ALL_CHECKS: tuple[Check, ...] = (
    check_python_env,
    check_torch_importable,
    check_duplicate_torch,
    check_torch_companions,
    check_nvidia_wheels,
    check_jupyter_kernels,
    check_conda_clobber,
    check_conda_channel_mix,
    check_nvidia_driver,
    check_driver_library_mismatch,
    check_wsl,
    check_container_gpu,
    check_cuda_visible_devices,
    check_torch_cpu_build,
    check_driver_supports_torch,
    check_arch_supported,
    check_cuda_init,
    check_cudnn,
    check_ld_library_path,
    check_cuda_toolkit,
    check_rocm,
    check_mps,
    check_smoke,
    check_gpu_busy,
    check_multi_gpu,
    check_cpu_threads,
)


def run_checks(facts: Facts, checks: Sequence[Check] = ALL_CHECKS) -> list[Finding]:
    """Run every check; a crashing check is reported, never fatal."""
    findings: list[Finding] = []
    for check in checks:
        try:
            findings.extend(check(facts))
        except Exception as error:
            frame = traceback.extract_tb(error.__traceback__)[-1]
            findings.append(
                Finding(
                    "internal-error",
                    Severity.WARN,
                    f"the check {check.__name__} crashed; the other checks still ran",
                    detail=f"{type(error).__name__}: {error} "
                    f"({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}). This is a gpubench "
                    "bug, not a problem with your setup; please report it with --markdown output.",
                    evidence={"check": check.__name__, "error": f"{type(error).__name__}: {error}"},
                )
            )
    return findings


__all__ = ["ALL_CHECKS", "Check", "run_checks"]
