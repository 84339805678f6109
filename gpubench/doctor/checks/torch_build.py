"""Checks on torch itself: is it there, does it import, what was it built for."""

from __future__ import annotations

from gpubench.doctor import advice, rules
from gpubench.doctor.checks.common import (
    CPU_INDEX_URL,
    cpu_install_command,
    describe_gpus,
    is_cpu_build,
    is_cuda_build,
    nvidia_gpu_visible,
    reinstall_torch_commands,
    torch_label,
    torch_ok,
    windows_driver,
)
from gpubench.doctor.checks.environment import (
    remove_copy_command,
    shadowing_copy,
    shadowing_libraries,
)
from gpubench.doctor.explain import explain_text
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding, Severity, ok


def _install_commands_for_machine(facts: Facts) -> tuple[str, ...]:
    """How to get a working torch here: a CUDA wheel if there is an NVIDIA GPU, else the CPU one."""
    companions = advice.companions_of(facts)
    if nvidia_gpu_visible(facts):
        plan = advice.plan_for_machine(facts, torch_version=None)
        if plan is not None:
            return (plan.pip_install(companions),)
    return (
        f"python -m pip install {' '.join(('torch', *companions))} --index-url {CPU_INDEX_URL}",
    )


def _describe_choice(facts: Facts, plan: advice.InstallPlan) -> str:
    return advice.describe_choice(
        plan,
        driver_version=facts.nvml.driver_version,
        windows=windows_driver(facts),
        capabilities=advice.gpu_capabilities(facts),
        driver_cuda=facts.nvml.cuda_driver_version,
    )


def _keep_release_alternative(facts: Facts, plan: advice.InstallPlan) -> tuple[str, ...]:
    """Where the plan downgrades torch, the other way out: a newer driver and this release."""
    keep = advice.keep_release_plan(facts, plan)
    if keep is None or keep.minimum_driver is None:
        return ()
    return (
        f"# or keep torch {keep.pin}: upgrade the driver to >= {keep.minimum_driver}, then",
        keep.pip_install(advice.companions_of(facts)),
    )


def check_torch_importable(facts: Facts) -> list[Finding]:
    """torch must be installed and import cleanly (the probe imports it in a separate process)."""
    torch = facts.torch
    if torch_ok(facts):
        seconds = f", imports in {torch.import_seconds:.1f} s" if torch.import_seconds else ""
        build = (
            f"CUDA {torch.cuda} build"
            if torch.cuda
            else f"ROCm {torch.hip} build"
            if torch.hip
            else "CPU build"
        )
        title = f"{torch_label(facts)} ({build}){seconds}"
        if torch.source == "metadata":
            title = f"{torch_label(facts)} ({build}, read from its metadata; not imported)"
        return [ok("torch", title, version=torch.version, file=torch.file)]
    if torch.status == "missing":
        return [
            Finding(
                "torch-missing",
                Severity.ERROR,
                "torch is not installed in this Python environment",
                detail=f"`import torch` fails with: {torch.error}\nPython: "
                f"{facts.platform.python_executable} ({facts.environment.kind}).",
                fix=_install_commands_for_machine(facts),
                evidence={"error": torch.error},
            )
        ]
    if torch.status == "not-probed":
        return []
    error = torch.error or "unknown error"
    known = explain_text(error)
    cause = f"\nLikely cause: {known[0].cause}" if known else ""
    shadow = shadowing_copy(facts)
    if shadow is not None:
        return [
            Finding(
                "torch-import-failed",
                Severity.ERROR,
                f"importing torch fails: the copy in {shadow.location} shadows this "
                "environment's torch",
                detail=f"{error}{cause}\nPython imports the torch in {shadow.location} "
                f"({shadow.scope}) before the environment's own copy; remove the shadow and the "
                "environment's torch is imported again.",
                fix=(
                    remove_copy_command(facts, shadow),
                    'python -c "import torch; print(torch.__version__, torch.__file__)"',
                ),
                evidence={"status": torch.status, "shadow": shadow.location, "error": error},
            )
        ]
    cuda_dirs = [
        entry.path
        for entry in facts.library_path
        if shadowing_libraries(facts, entry.cuda_libraries, entry.path)
    ]
    fix: list[str] = []
    if cuda_dirs:
        cause += (
            f"\nLD_LIBRARY_PATH puts CUDA libraries ahead of torch's own: {', '.join(cuda_dirs)}."
        )
        fix.append("unset LD_LIBRARY_PATH  # or remove the CUDA entries, see ld-library-path")
    plan = advice.plan_for_machine(facts) if nvidia_gpu_visible(facts) else None
    if plan is not None:
        fix += reinstall_torch_commands(facts, plan)
    else:
        fix += ["python -m pip uninstall -y torch", cpu_install_command(facts)]
    hung = torch.status == "timeout"
    title = (
        "importing torch hung and was stopped"
        if hung
        else "importing torch crashed"
        if torch.status == "crashed"
        else "importing torch fails"
    )
    return [
        Finding(
            "torch-import-failed",
            Severity.ERROR,
            title,
            detail=f"{error}{cause}",
            fix=tuple(fix),
            evidence={"status": torch.status, "stage": torch.stage, "error": error},
        )
    ]


def check_torch_cpu_build(facts: Facts) -> list[Finding]:
    """A CPU-only wheel cannot use an NVIDIA GPU, however good the driver is."""
    if not is_cpu_build(facts) or facts.platform.system == "Darwin":
        return []
    label = torch_label(facts)
    evidence = {"version": facts.torch.version, "torch.version.cuda": facts.torch.cuda}
    fix: tuple[str, ...]
    if not nvidia_gpu_visible(facts):
        variants = advice.release_variants(rules.release_of(facts.torch.version or ""))
        spec = f"torch=={rules.public_version(facts.torch.version or '')}"
        if not variants:  # a release newer than the tables: the newest known builds, unpinned
            variants = advice.release_variants(rules.TORCH_RELEASES[0].release)
            spec = "torch"
        fix = tuple(
            f"python -m pip install {spec} --index-url {rules.wheel_index_url(variant)}  # {note}"
            for variant, note in variants
        )
        return [
            Finding(
                "torch-cpu-build",
                Severity.INFO,
                f"{label} is a CPU build, and no NVIDIA GPU was found",
                detail="That is right for this machine. On a machine with an NVIDIA GPU, install a "
                "CUDA wheel instead: it brings its own CUDA runtime, so only the NVIDIA driver "
                "is needed (no CUDA toolkit). Pick the newest build your driver supports:",
                fix=fix,
                evidence=evidence,
            )
        ]
    plan = advice.plan_for_machine(facts)
    gpus = describe_gpus(facts)
    detail = (
        f"torch was installed from a CPU-only wheel (torch.version.cuda is None"
        f"{', version suffix +cpu' if (facts.torch.version or '').endswith('+cpu') else ''}), so "
        f"torch.cuda.is_available() is False although this machine has {gpus}."
    )
    if plan is None:
        fix = (
            "# no torch build in gpubench's tables runs on this driver: upgrade the driver first",
        )
    else:
        detail += "\n" + _describe_choice(facts, plan)
        if facts.nvml.driver_version is None:
            detail += " (the driver version is unknown: fix the driver first)"
        fix = reinstall_torch_commands(facts, plan) + _keep_release_alternative(facts, plan)
    return [
        Finding(
            "torch-cpu-build",
            Severity.ERROR,
            f"{label} cannot use {gpus} in this machine",
            detail=detail,
            fix=fix,
            evidence={**evidence, "gpus": describe_gpus(facts)},
        )
    ]


def check_arch_supported(facts: Facts) -> list[Finding]:
    """Every GPU's compute capability must be in torch's arch list (SASS or PTX)."""
    if not is_cuda_build(facts) or not facts.torch.arch_list:
        return []
    gpus = [(gpu.name, gpu.capability) for gpu in facts.nvml.gpus if gpu.capability]
    if not gpus:
        gpus = [(device.name, device.capability) for device in facts.torch.devices]
    if not gpus:
        return []
    arch_list = facts.torch.arch_list
    unsupported = [
        (name, cap) for name, cap in gpus if not rules.capability_supported(cap, arch_list)
    ]
    if not unsupported:
        arches = ", ".join(sorted({rules.format_capability(cap) for _, cap in gpus}))
        return [ok("arch-unsupported", f"{arches} is in torch's arch list", arch_list=arch_list)]
    names = ", ".join(f"{name} ({rules.format_capability(cap)})" for name, cap in unsupported)
    plan = advice.plan_for_machine(facts)
    fix: tuple[str, ...]
    if plan is not None:
        choice = _describe_choice(facts, plan)
        fix = reinstall_torch_commands(facts, plan) + _keep_release_alternative(facts, plan)
    else:
        any_driver = advice.plan_cuda_install(
            torch_version=facts.torch.version,
            driver_version=None,
            python_version=facts.platform.python_version,
            capabilities=advice.gpu_capabilities(facts),
        )
        choice = "no build in gpubench's tables fits both this GPU and this driver"
        fix = ("# upgrade the NVIDIA driver first, then:",)
        if any_driver is not None:
            fix += reinstall_torch_commands(facts, any_driver)[1:2]
    warnings = [text for text in facts.torch.cuda_warnings if "capability" in text]
    return [
        Finding(
            "arch-unsupported",
            Severity.ERROR,
            f"{torch_label(facts)} has no kernels for the {names}",
            detail=f"torch's arch list is {' '.join(arch_list)}; kernels for this GPU are missing, "
            "so CUDA calls fail with 'no kernel image is available for execution on the "
            f"device'.\n{choice}." + (f"\ntorch says: {warnings[0]}" if warnings else ""),
            fix=fix,
            evidence={"arch_list": arch_list, "unsupported": unsupported},
        )
    ]


def format_cudnn(version: int | None) -> str:
    """cuDNN's integer version: 90800 -> 9.8.0 (9.x and later), 8902 -> 8.9.2 (8.x)."""
    if version is None:
        return "none"
    if version >= 10000:
        return f"{version // 10000}.{version % 10000 // 100}.{version % 100}"
    return f"{version // 1000}.{version % 1000 // 100}.{version % 100}"


def _cudnn_major(version: int) -> int:
    return version // 10000 if version >= 10000 else version // 1000


def check_cudnn(facts: Facts) -> list[Finding]:
    """cuDNN must load, at the version torch was built against."""
    torch = facts.torch
    if not torch_ok(facts) or torch.hip or torch.source == "metadata":
        return []
    if not torch.cuda:
        return [Finding("cudnn", Severity.INFO, "not applicable (CPU build)")]
    runtime, compiled = torch.cudnn_version, torch.cudnn_compile_version
    reinstall: tuple[str, ...] = ("python -m pip uninstall -y torch", "python -m pip cache purge")
    plan = advice.plan_for_machine(facts)
    if plan is not None:
        reinstall = reinstall_torch_commands(facts, plan)
    if not torch.cudnn_available or runtime is None:
        return [
            Finding(
                "cudnn",
                Severity.WARN,
                "cuDNN is not available to torch",
                detail="torch.backends.cudnn.is_available() is False: convolutions and RNNs run "
                "without cuDNN or fail. pip wheels depend on nvidia-cudnn-cu* and conda builds on "
                "cudnn; installing with --no-deps or a stray libcudnn on LD_LIBRARY_PATH breaks "
                "it.",
                fix=reinstall,
                evidence={"cudnn_version": runtime, "cudnn_available": torch.cudnn_available},
            )
        ]
    if compiled and _cudnn_major(compiled) != _cudnn_major(runtime):
        return [
            Finding(
                "cudnn",
                Severity.ERROR,
                f"cuDNN {format_cudnn(runtime)} is loaded but torch was built with "
                f"{format_cudnn(compiled)}",
                detail="A different cuDNN major version than the one torch was built against is "
                "being loaded, usually from LD_LIBRARY_PATH or a system-wide install.",
                fix=("unset LD_LIBRARY_PATH", *reinstall),
                evidence={"runtime": runtime, "compiled": compiled},
            )
        ]
    built = f" (torch built with {format_cudnn(compiled)})" if compiled else ""
    return [ok("cudnn", f"cuDNN {format_cudnn(runtime)}{built}", runtime=runtime)]


def check_rocm(facts: Facts) -> list[Finding]:
    """ROCm builds use AMD GPUs through torch.cuda; say so, and whether one is usable."""
    if not torch_ok(facts) or not facts.torch.hip:
        return []
    label = f"{torch_label(facts)} is a ROCm build (HIP {facts.torch.hip})"
    if facts.torch.cuda_available:
        return [
            Finding(
                "rocm",
                Severity.INFO,
                f"{label}: torch.cuda drives {facts.torch.device_count} AMD GPU(s)",
                detail="The NVIDIA checks do not apply to this build.",
            )
        ]
    has_kfd = "/dev/kfd" in facts.nvidia.device_nodes
    return [
        Finding(
            "rocm",
            Severity.WARN,
            f"{label} but no AMD GPU is usable",
            detail="ROCm needs /dev/kfd and /dev/dri/render* and a user in the render and video "
            "groups."
            + ("" if has_kfd else " /dev/kfd is missing: the amdgpu driver is not loaded."),
            fix=('sudo usermod -aG render,video "$USER"  # then log out and in', "rocminfo"),
            evidence={"hip": facts.torch.hip, "kfd": has_kfd},
        )
    ]


def check_mps(facts: Facts) -> list[Finding]:
    """On Apple silicon the GPU is reached through MPS, not CUDA."""
    if not torch_ok(facts) or not facts.torch.mps_built:
        return []
    if facts.torch.mps_available:
        return [ok("mps", "Apple MPS is built and available (device 'mps')")]
    return [
        Finding(
            "mps",
            Severity.WARN,
            "torch has MPS support but MPS is not available",
            detail="MPS needs Apple silicon (or an AMD GPU on Intel Macs) and macOS 12.3 or "
            "newer; an x86_64 Python running under Rosetta cannot use it.",
            fix=('python -c "import platform; print(platform.machine())"  # must print arm64',),
            evidence={"machine": facts.platform.machine},
        )
    ]
