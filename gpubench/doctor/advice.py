"""Which torch wheel to install: the newest CUDA build the driver (and the GPU) can run.

Pure functions over the rules tables; every fix command that installs torch comes from here.
"""

from __future__ import annotations

from dataclasses import dataclass

from gpubench.doctor import rules
from gpubench.doctor.facts import Facts
from gpubench.doctor.machine import TORCH_COMPANIONS


@dataclass(frozen=True)
class InstallPlan:
    """One torch wheel variant to install, and why it was chosen."""

    release: str  # "2.13"
    pin: str | None  # "2.13.0", "2.7.*" or None for "the newest"
    variant: str  # "cu126", "cpu"
    cuda: str | None  # "12.6"; None for the CPU wheel
    support: str  # rules.NATIVE / MINOR_COMPAT / UNKNOWN for the driver in hand
    minimum_driver: str | None  # the GA driver of that CUDA release
    compat_driver: str | None  # the driver from which minor-version compatibility applies

    @property
    def index_url(self) -> str:
        return rules.wheel_index_url(self.variant)

    def pip_install(self, companions: tuple[str, ...] = ()) -> str:
        """The exact pip command; companions (torchvision, ...) are left unpinned for pip."""
        spec = f"torch=={self.pin}" if self.pin else "torch"
        packages = " ".join((spec, *companions))
        return f"python -m pip install {packages} --index-url {self.index_url}"

    def driver_note(self) -> str:
        """A short note on the driver this wheel needs."""
        if self.cuda is None:
            return "CPU-only wheel"
        if not self.minimum_driver:
            return f"CUDA {self.cuda} build"
        note = f"CUDA {self.cuda} build, needs driver >= {self.minimum_driver}"
        compat = rules.parse_version(self.compat_driver)
        if compat and compat[0] < rules.parse_version(self.minimum_driver)[0]:
            note += f" (>= {self.compat_driver} with minor-version compatibility)"
        return note


def release_pin(release: rules.TorchRelease) -> str | None:
    """``2.7.*`` for an older release; None (no pin: pip's newest) for the newest one."""
    return None if release is rules.TORCH_RELEASES[0] else f"{release.release}.*"


def build_plan(
    release: rules.TorchRelease,
    pin: str | None,
    cuda: str,
    support: str = rules.UNKNOWN,
    windows: bool = False,
) -> InstallPlan:
    """The plan for ``release`` built for ``cuda``, with the drivers that build needs."""
    return InstallPlan(
        release=release.release,
        pin=pin,
        variant=rules.cuda_variant(cuda),
        cuda=cuda,
        support=support,
        minimum_driver=rules.required_driver(cuda, windows=windows),
        compat_driver=rules.minor_compat_driver(cuda, windows=windows),
    )


def _arch_ok(release: str, cuda: str, capabilities: tuple[str, ...]) -> bool:
    if not capabilities:
        return True
    arch = rules.official_arch_list(release, cuda)
    if arch is None:  # no checked arch list for this build: do not rule it out
        return True
    return all(rules.capability_supported(cap, arch.arches) for cap in capabilities)


def choose_cuda_build(
    release: rules.TorchRelease,
    *,
    driver_version: str | None,
    capabilities: tuple[str, ...] = (),
    windows: bool = False,
    pin: str | None = None,
    driver_cuda: str | None = None,
) -> InstallPlan | None:
    """The best CUDA build of one release: natively supported first, stable before experimental,
    newest first; None when the driver (or the GPU's capability) rules out every build."""
    candidates = [(cuda, True) for cuda in release.stable_cuda] + [
        (cuda, False) for cuda in release.experimental_cuda
    ]
    ranked: list[tuple[int, int, tuple[int, ...], str, str]] = []
    for cuda, stable in candidates:
        if not _arch_ok(release.release, cuda, capabilities):
            continue
        support = (
            rules.driver_support(driver_version, cuda, windows=windows, driver_cuda=driver_cuda)
            if driver_version
            else rules.UNKNOWN
        )
        if support == rules.UNSUPPORTED:
            continue
        support_rank = {rules.NATIVE: 2, rules.UNKNOWN: 1, rules.MINOR_COMPAT: 0}[support]
        ranked.append((support_rank, int(stable), rules.parse_version(cuda), cuda, support))
    if not ranked:
        return None
    _, _, _, cuda, support = max(ranked)
    return build_plan(release, pin, cuda, support, windows)


def plan_cuda_install(
    *,
    torch_version: str | None,
    driver_version: str | None,
    python_version: str,
    capabilities: tuple[str, ...] = (),
    windows: bool = False,
    driver_cuda: str | None = None,
) -> InstallPlan | None:
    """The CUDA wheel to install: the same torch release if any of its builds fits this driver
    and GPU, else the newest release (for this Python) that has one."""
    wanted = rules.find_release(rules.release_of(torch_version)) if torch_version else None
    if wanted is not None and torch_version:
        pin = rules.public_version(torch_version)
        plan = choose_cuda_build(
            wanted,
            driver_version=driver_version,
            capabilities=capabilities,
            windows=windows,
            pin=pin,
            driver_cuda=driver_cuda,
        )
        if plan is not None:
            return plan
    for row in rules.TORCH_RELEASES:
        if not rules.supports_python(row, python_version):
            continue
        plan = choose_cuda_build(
            row,
            driver_version=driver_version,
            capabilities=capabilities,
            windows=windows,
            pin=release_pin(row) if wanted is None else f"{row.release}.*",
            driver_cuda=driver_cuda,
        )
        if plan is not None:
            return plan
    return None


def cpu_plan(torch_version: str | None) -> InstallPlan:
    release = rules.release_of(torch_version) if torch_version else ""
    pin = rules.public_version(torch_version) if torch_version else None
    return InstallPlan(release, pin, "cpu", None, rules.UNKNOWN, None, None)


def uses_windows_driver(facts: Facts) -> bool:
    """WSL runs on the Windows driver, so its version follows the Windows column."""
    return facts.platform.system == "Windows" or facts.platform.wsl is not None


def gpu_capabilities(facts: Facts) -> tuple[str, ...]:
    caps = [gpu.capability for gpu in facts.nvml.gpus if gpu.capability]
    if not caps:
        caps = [device.capability for device in facts.torch.devices if device.capability]
    return tuple(dict.fromkeys(caps))


def plan_for_machine(facts: Facts, *, torch_version: str | None = None) -> InstallPlan | None:
    """The CUDA wheel that fits this machine's driver and GPUs (None if no build fits)."""
    version = torch_version if torch_version is not None else facts.torch.version
    return plan_cuda_install(
        torch_version=version,
        driver_version=facts.nvml.driver_version,
        python_version=facts.platform.python_version,
        capabilities=gpu_capabilities(facts),
        windows=uses_windows_driver(facts),
        driver_cuda=facts.nvml.cuda_driver_version,
    )


def keep_release_plan(facts: Facts, plan: InstallPlan) -> InstallPlan | None:
    """When ``plan`` downgrades torch, the build of the installed release that a newer driver
    would run (the alternative: upgrade the driver and keep this torch)."""
    version = facts.torch.version
    if not version or plan.release == rules.release_of(version):
        return None
    row = rules.find_release(rules.release_of(version))
    if row is None:
        return None
    return choose_cuda_build(
        row,
        driver_version=None,
        capabilities=gpu_capabilities(facts),
        windows=uses_windows_driver(facts),
        pin=rules.public_version(version),
    )


def companions_of(facts: Facts) -> tuple[str, ...]:
    """Installed torch companions that must be reinstalled from the same index."""
    return tuple(name for name in TORCH_COMPANIONS if name in facts.torch_companions)


def describe_choice(
    plan: InstallPlan,
    *,
    driver_version: str | None,
    windows: bool,
    capabilities: tuple[str, ...] = (),
    driver_cuda: str | None = None,
) -> str:
    """Why this build: e.g. 'cu126 is the newest CUDA build of torch 2.13 that driver 570.133.07
    runs natively (cu130 needs >= 580.65.06)'. A newer build ruled out by the GPU says so
    ('cu130 has no kernels for sm_61'), not a driver it does not need."""
    row = rules.find_release(plan.release)
    subject = f"torch {plan.release}" if plan.release else "torch"
    if driver_version is None:
        return f"{plan.variant} is the newest stable CUDA build of {subject}"
    how = {rules.NATIVE: "natively", rules.MINOR_COMPAT: "through minor-version compatibility"}
    text = (
        f"{plan.variant} is the newest CUDA build of {subject} that driver {driver_version} "
        f"runs {how.get(plan.support, '')}".rstrip()
    )
    newer = []
    if row is not None:
        for cuda in row.published_cuda:
            if rules.parse_version(cuda) <= rules.parse_version(plan.cuda or "0"):
                continue
            variant = rules.cuda_variant(cuda)
            missing = [cap for cap in capabilities if not _arch_ok(plan.release, cuda, (cap,))]
            if missing:
                arches = ", ".join(rules.format_capability(cap) for cap in missing)
                newer.append(f"{variant} has no kernels for {arches}")
                continue
            needed = rules.required_driver(cuda, windows=windows)
            support = rules.driver_support(
                driver_version, cuda, windows=windows, driver_cuda=driver_cuda
            )
            if needed and support == rules.UNSUPPORTED:
                newer.append(f"{variant} needs driver >= {needed}")
    return text + (f" ({'; '.join(newer)})" if newer else "")


def release_variants(release: str, *, windows: bool = False) -> list[tuple[str, str]]:
    """(variant, driver note) for each stable CUDA build of a release, newest first."""
    row = rules.find_release(release)
    if row is None:
        return []
    variants = []
    for cuda in sorted(row.stable_cuda, key=rules.parse_version, reverse=True):
        plan = InstallPlan(
            release,
            None,
            rules.cuda_variant(cuda),
            cuda,
            rules.UNKNOWN,
            rules.required_driver(cuda, windows=windows),
            rules.minor_compat_driver(cuda, windows=windows),
        )
        variants.append((plan.variant, plan.driver_note()))
    return variants
