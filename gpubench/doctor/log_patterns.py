"""Known error messages as data: how to spot each one, its cause, and its fix.

A trigger regex is searched line by line; optional ``context`` regexes are searched in the lines
that follow (conda spreads one error over several lines); enrichers turn captured text into
readable fields. Cause and fix are templates over those fields plus the machine's context
(``{python}``, ``{env_name}``, ``{torch_install}``, ``{cuda_major}``, ``{gpu}``), all read from
the log itself by log_clues.py. Triggers match regardless of letter case. Message texts were
checked against the emitting code or the public reports named in ``source``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gpubench.doctor.conda_meta import classify_channel
from gpubench.doctor.rules import NVIDIA_DOWNLOADS

Enricher = Callable[[dict[str, str], str], dict[str, str]]


@dataclass(frozen=True)
class LogPattern:
    """One known error: how to spot it, what causes it, and how to fix it."""

    code: str
    trigger: re.Pattern[str]
    title: str
    cause: str
    fix: tuple[str, ...]
    context: tuple[re.Pattern[str], ...] = ()
    enrich: Enricher | None = None
    group_by: str | None = None  # a field that tells two occurrences apart (else one per code)
    supersedes: tuple[str, ...] = ()  # generic patterns this specific one makes redundant
    source: str = ""
    # the fix for a log from WSL or Windows, where the driver is the Windows one (never modprobe)
    wsl_fix: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Logs change letter case between versions ('Driver/library version mismatch'): every
        # regex of a pattern ignores it.
        object.__setattr__(self, "trigger", _insensitive(self.trigger))
        object.__setattr__(self, "context", tuple(_insensitive(extra) for extra in self.context))


def _insensitive(pattern: re.Pattern[str]) -> re.Pattern[str]:
    return re.compile(pattern.pattern, pattern.flags | re.IGNORECASE)


# --- enrichers: derive readable fields from what the regexes captured ------------------------


def _conda_dist(text: str) -> str:
    """``pytorch/linux-64::libjpeg-turbo-2.0.0-h9bf148f_0`` -> ``libjpeg-turbo 2.0.0 (pytorch)``."""
    text = text.strip().strip("'\"")
    channel, _, dist = text.rpartition("::")
    parts = dist.rsplit("-", 2)
    name_version = f"{parts[0]} {parts[1]}" if len(parts) == 3 else dist
    if channel:
        return f"{name_version} ({classify_channel(channel).label})"
    return name_version


def _enrich_shared_path(fields: dict[str, str], _: str) -> dict[str, str]:
    dists = [_conda_dist(item) for item in fields.get("packages", "").split(",") if item.strip()]
    owners = " and ".join(dists) if dists else "two packages"
    return {"owners": owners}


def _enrich_known_clobber(fields: dict[str, str], following: str) -> dict[str, str]:
    new = _conda_dist(fields.get("new", ""))
    if fields.get("old"):
        old = _conda_dist(fields["old"])
    elif "doesn't recognize" in following or "does not recognize" in following:
        old = "a file conda does not know (installed by pip or by hand)"
    else:
        old = "an installed package"
    return {"owners": f"{new} and {old}"}


def _enrich_missing_packages(_: dict[str, str], following: str) -> dict[str, str]:
    missing: list[str] = []
    for line in following.splitlines():
        item = re.match(r"\s*-\s+(\S+)", line)
        if item:
            missing.append(item.group(1))
        elif missing and not line.strip():
            break
    names = ", ".join(missing) or "the requested packages"
    if any(name.startswith(("pytorch-cuda", "cudatoolkit", "pytorch")) for name in missing):
        why = (
            "The pytorch conda channel stopped at torch 2.5 (its last builds) and pytorch-cuda "
            "only exists as 11.6, 11.7, 11.8, 12.1 and 12.4, so newer combinations cannot be "
            "found there; cudatoolkit is the pre-2.0 name."
        )
    else:
        why = "No channel in the search list has a build of these for this platform and Python."
    return {"missing": names, "why": why}


def _enrich_driver_found(fields: dict[str, str], _: str) -> dict[str, str]:
    found = fields.get("found", "")
    if found.isdigit():
        value = int(found)
        return {"driver_cuda": f"{value // 1000}.{value % 1000 // 10}"}
    return {"driver_cuda": "?"}


def _enrich_symbol(fields: dict[str, str], _: str) -> dict[str, str]:
    symbol, library = fields.get("symbol", ""), fields.get("library", "")
    if "nvJitLink" in symbol or "cusparse" in library.lower():
        why = (
            f"{library} needs a newer libnvJitLink than the one loaded: an older CUDA (e.g. a "
            "toolkit on LD_LIBRARY_PATH, or a stale nvidia-nvjitlink pip package) is found before "
            "the one torch was built with."
        )
    else:
        why = (
            f"{library} was built against a different version of a library it links to; another "
            "copy is loaded first (LD_LIBRARY_PATH, a second torch, or mixed pip/conda CUDA libs)."
        )
    return {"why": why}


def _enrich_devices(fields: dict[str, str], _: str) -> dict[str, str]:
    if fields.get("first") and fields.get("second"):
        return {"devices": f"{fields['first']} and {fields['second']}"}
    return {"devices": "two devices"}


def _enrich_cudnn_versions(fields: dict[str, str], _: str) -> dict[str, str]:
    def dotted(text: str) -> str:
        return ".".join(re.findall(r"\d+", text)) or "?"

    compiled = dotted(fields.get("compiled", ""))
    return {
        "compiled_version": compiled,
        "runtime_version": dotted(fields.get("runtime", "")),
        "compiled_major": compiled.split(".")[0],
    }


def _enrich_cuda_library(fields: dict[str, str], _: str) -> dict[str, str]:
    version = fields.get("soname", "")
    major = version.split(".")[0] if version else "?"
    return {"library_cuda": major}


NCCL_CAUSES = {
    "unhandled cuda error": "a CUDA call inside NCCL failed (often out of memory, or a GPU in a "
    "bad state); NCCL_DEBUG=INFO shows the CUDA error underneath",
    "system error": "a system call failed: in containers usually too little shared memory "
    "(/dev/shm), or a network interface NCCL cannot use",
    "internal error": "NCCL hit an internal error: often mismatched NCCL versions between ranks "
    "or a peer-to-peer path the hardware does not support",
    "remote process exited": "another rank crashed or was killed first; its own log has the "
    "real error",
    "invalid usage": "the ranks called collectives differently (shapes, order, or devices)",
    "timeout": "a collective timed out: a rank stopped early, hangs, or waits on a different "
    "collective",
}


def _enrich_nccl(fields: dict[str, str], following: str) -> dict[str, str]:
    text = (fields.get("kind", "") + " " + following).lower()
    for key, why in NCCL_CAUSES.items():
        if key in text or key.replace(" ", "") in text.replace(" ", ""):
            return {"nccl_cause": why}
    return {"nccl_cause": "a collective operation failed; NCCL_DEBUG=INFO names the reason"}


def _enrich_dll(fields: dict[str, str], _: str) -> dict[str, str]:
    dll = fields.get("dll", "")
    return {
        "dll_name": dll.replace("\\\\", "\\").rsplit("\\", 1)[-1] if dll else "a DLL torch needs"
    }


# --- the table -------------------------------------------------------------------------------

_FRESH_ENV_FIX = (
    "conda clean --all -y",
    "conda create -n {env_name} python={python} -y",
    "conda activate {env_name}",
    "{torch_install}",
    "# or, to keep torch from conda: one channel family with strict priority, e.g.",
    "conda create -n {env_name} -c conda-forge --override-channels --strict-channel-priority "
    "python={python} pytorch",
)
_REINSTALL_FOR_DRIVER = (
    "gpubench doctor  # shows your driver and the newest torch build it supports",
    "python -m pip uninstall -y torch",
    "{torch_install}",
)
_WINDOWS_DRIVER_FIX = (
    "# the driver is the Windows one (under WSL too): update it on Windows, from "
    + NVIDIA_DOWNLOADS,
    "wsl --shutdown  # in PowerShell, under WSL: then reopen the distro",
    "ls -l /usr/lib/wsl/lib/libcuda*  # under WSL: the driver's libraries must come from here",
    "# never install a Linux NVIDIA driver (nvidia-driver-*, cuda-drivers) inside WSL",
)
_DEVICE_ASSERT_DEBUG = (
    "# to see the real Python line: rerun on the CPU, or make CUDA calls synchronous:",
    "CUDA_LAUNCH_BLOCKING=1 python train.py",
    "# a device-side assert leaves the CUDA context unusable: restart the process (or kernel)",
)

LOG_PATTERNS: tuple[LogPattern, ...] = (
    LogPattern(
        code="conda-clobber",
        trigger=re.compile(
            r"Clobber(?:Error|Warning): This transaction has incompatible packages due to a "
            r"shared path"
        ),
        context=(
            re.compile(r"packages:\s*(?P<packages>[^\n]+)"),
            re.compile(r"path:\s*'?(?P<path>[^'\n]+)'?"),
        ),
        enrich=_enrich_shared_path,
        group_by="owners",
        title="conda ClobberError: two packages install the same file",
        cause="{owners} both contain {path}. They come from different channels, which package "
        "the same library under different names; conda refuses to let one overwrite the other. "
        "Mixing a defaults mirror's main with -c pytorch -c nvidia is the usual way in.",
        fix=_FRESH_ENV_FIX,
        source="conda/exceptions.py SharedLinkPathClobberError",
    ),
    LogPattern(
        code="conda-clobber",
        trigger=re.compile(
            r"Clobber(?:Error|Warning): The package '(?P<new>[^']+)' cannot be installed"
        ),
        context=(
            re.compile(r"path collision for\s+'(?P<path>[^']+)'"),
            re.compile(r"coming from\s+the package '(?P<old>[^']+)'"),
        ),
        enrich=_enrich_known_clobber,
        group_by="owners",
        title="conda ClobberError: a package would overwrite a file that is already there",
        cause="{owners} both claim {path}; conda will not overwrite a file another package "
        "owns. Packages from different channel families (or pip on top of conda) collide this way.",
        fix=_FRESH_ENV_FIX,
        source="conda/exceptions.py KnownPackageClobberError, UnknownPackageClobberError",
    ),
    LogPattern(
        code="conda-safety-error",
        trigger=re.compile(
            r"SafetyError: The package for (?P<package>\S+) located at (?P<location>\S+)"
        ),
        title="conda SafetyError: a cached package is corrupted",
        cause="The download of {package} in conda's package cache ({location}) is incomplete or "
        "was modified (a size or checksum does not match), often after an interrupted download "
        "or two conda processes sharing one cache.",
        fix=("conda clean --all -y", "# then rerun the same conda command"),
        source="conda SafetyError message",
    ),
    LogPattern(
        code="conda-verification-error",
        trigger=re.compile(
            r"CondaVerificationError: The package for (?P<package>\S+) located at (?P<location>\S+)"
        ),
        title="conda CondaVerificationError: files of a cached package are missing",
        cause="The extracted package {package} in {location} lacks files its manifest lists "
        "(a damaged cache, or conflicting files removed by another tool).",
        fix=("conda clean --all -y", "# then rerun the same conda command"),
        source="conda CondaVerificationError message",
    ),
    LogPattern(
        code="conda-packages-not-found",
        trigger=re.compile(r"PackagesNotFoundError: The following packages are not available"),
        enrich=_enrich_missing_packages,
        title="conda PackagesNotFoundError",
        cause="conda cannot find {missing} in the configured channels. {why}",
        fix=(
            "conda activate {env_name}  # or any env with the Python you want",
            "{torch_install}",
        ),
        source="https://github.com/pytorch/builder/pull/1385 (log); "
        "https://github.com/pytorch/pytorch/issues/138506 (pytorch channel ends at 2.5)",
    ),
    LogPattern(
        code="conda-unsatisfiable",
        trigger=re.compile(r"UnsatisfiableError"),
        title="conda UnsatisfiableError: the requested packages cannot be installed together",
        cause="The solver found no set of builds that satisfies every constraint, typically "
        "because packages pinned from one channel (pytorch, nvidia, a mirror's main) depend on "
        "versions another channel does not have, or the Python version is too new for them.",
        fix=_FRESH_ENV_FIX,
        source="conda/exceptions.py UnsatisfiableError",
    ),
    LogPattern(
        code="device-assert-index",
        trigger=re.compile(r"Assertion `srcIndex < srcSelectDimSize` failed"),
        supersedes=("device-assert",),
        title="device-side assert: an embedding was indexed past its end",
        cause="An index into an embedding table (index_select) on the GPU was out of range. In "
        "the nano-GPT lecture this is generate(): it feeds the whole growing sequence idx to the "
        "model, whose position table nn.Embedding(block_size, n_embd) has only block_size rows, "
        "so once idx grows past block_size the position index reaches block_size. (A token id >= "
        "vocab_size does the same to the token table.) The GPU reports it asynchronously, so the "
        "traceback may point at a later line.",
        fix=(
            "# in generate(), crop the context to the last block_size tokens before the forward:",
            "idx_cond = idx[:, -block_size:]",
            "logits, loss = self(idx_cond)",
            *_DEVICE_ASSERT_DEBUG,
        ),
        source="ATen/native/cuda/Indexing.cu indexSelect kernels",
    ),
    LogPattern(
        code="index-out-of-range",
        trigger=re.compile(r"IndexError: index out of range in self"),
        title="IndexError: an embedding was indexed past its end",
        cause="An index passed to nn.Embedding is >= its num_embeddings (the CPU's form of the "
        "GPU's srcIndex assert). In the nano-GPT lecture: generate() passing more than "
        "block_size tokens to the position embedding, or token ids >= vocab_size.",
        fix=(
            "# in generate(), crop the context to the last block_size tokens before the forward:",
            "idx_cond = idx[:, -block_size:]",
            "logits, loss = self(idx_cond)",
        ),
        source="torch.nn.functional.embedding on CPU",
    ),
    LogPattern(
        code="device-assert-targets",
        trigger=re.compile(r"Assertion `t >= 0 && t < n_classes` failed"),
        supersedes=("device-assert",),
        title="device-side assert: a cross-entropy target is out of range",
        cause="A target passed to cross_entropy / nll_loss is negative or >= the number of "
        "classes (logits.shape[-1]), e.g. vocab_size set smaller than the data's alphabet.",
        fix=(
            "# check on the CPU: targets.min() >= 0 and targets.max() < logits.shape[-1]",
            *_DEVICE_ASSERT_DEBUG,
        ),
        source="ATen/native/cuda/Loss.cu nll_loss kernels",
    ),
    LogPattern(
        code="device-assert",
        trigger=re.compile(r"device-side assert triggered"),
        title="a CUDA kernel hit a device-side assert",
        cause="A kernel checked its input and failed (usually an index out of range). CUDA "
        "reports it at a later call, so the Python line in the traceback is often wrong.",
        fix=_DEVICE_ASSERT_DEBUG,
        source="torch CUDA error text",
    ),
    LogPattern(
        code="driver-insufficient",
        trigger=re.compile(r"CUDA driver version is insufficient for CUDA runtime version"),
        title="the NVIDIA driver is older than torch's CUDA runtime",
        cause="torch ships its own CUDA runtime; the installed driver is too old for it (outside "
        "minor-version compatibility).",
        fix=(
            *_REINSTALL_FOR_DRIVER,
            "# or upgrade the NVIDIA driver (Ubuntu: sudo ubuntu-drivers install, then reboot)",
        ),
        wsl_fix=_WINDOWS_DRIVER_FIX,
        source="cudaErrorInsufficientDriver",
    ),
    LogPattern(
        code="driver-too-old",
        trigger=re.compile(
            r"The NVIDIA driver on your system is too old \(found version (?P<found>\d+)\)"
        ),
        wsl_fix=_WINDOWS_DRIVER_FIX,
        enrich=_enrich_driver_found,
        supersedes=("driver-insufficient",),
        title="the NVIDIA driver is too old for this torch build",
        cause="The driver supports CUDA {driver_cuda} but torch was built for a newer CUDA.",
        fix=(
            *_REINSTALL_FOR_DRIVER,
            "# or upgrade the NVIDIA driver (Ubuntu: sudo ubuntu-drivers install, then reboot)",
        ),
        source="torch/cuda/__init__.py _check_driver",
    ),
    LogPattern(
        code="capability-unsupported",
        trigger=re.compile(
            r"with CUDA capability (?P<sm>sm_\d+) is not compatible with the current PyTorch"
        ),
        supersedes=("no-kernel-image",),
        title="this torch build has no kernels for the GPU's architecture",
        cause="torch was not compiled for {sm}: a new GPU (e.g. sm_120, RTX 50xx) needs a cu128 "
        "or newer build; an old one (e.g. sm_61, GTX 10xx) needs a cu126 or older build.",
        fix=(
            'python -c "import torch; print(torch.cuda.get_arch_list())"',
            *_REINSTALL_FOR_DRIVER,
        ),
        source="torch/cuda/__init__.py _check_capability",
    ),
    LogPattern(
        code="no-kernel-image",
        trigger=re.compile(r"no kernel image is available for execution on the device"),
        title="this torch build has no kernels for the GPU's architecture",
        cause="The GPU's compute capability is not in torch.cuda.get_arch_list() (and no PTX "
        "covers it): too new (Blackwell sm_120 on a cu126 build) or too old (Pascal sm_61 on a "
        "cu128 build) for the installed wheel.",
        fix=(
            'python -c "import torch; print(torch.cuda.get_arch_list(), '
            'torch.cuda.get_device_capability())"',
            *_REINSTALL_FOR_DRIVER,
        ),
        source="cudaErrorNoKernelImageForDevice",
    ),
    LogPattern(
        code="not-compiled-with-cuda",
        trigger=re.compile(r"Torch not compiled with CUDA enabled"),
        title="torch is a CPU-only build",
        cause="The installed wheel has no CUDA (the default pip wheel on Windows and macOS, or a "
        "+cpu wheel), so .cuda() and device='cuda' fail.",
        fix=("python -m pip uninstall -y torch", "{torch_install}"),
        source="torch/cuda/__init__.py _lazy_init",
    ),
    LogPattern(
        code="cuda-out-of-memory",
        trigger=re.compile(
            r"CUDA out of memory|OutOfMemoryError|CUDA error: out of memory|"
            r"CUDA_ERROR_OUT_OF_MEMORY"
        ),
        context=(re.compile(r"Tried to allocate (?P<amount>[\d.]+ [KMGT]?i?B)"),),
        title="CUDA out of memory",
        enrich=lambda fields, _: {
            "allocation": f" (tried to allocate {fields['amount']})" if "amount" in fields else ""
        },
        cause="The GPU ran out of memory{allocation}: the batch, block_size or "
        "model is too large for it, another process holds GPU memory, or tensors kept with their "
        "graph (losses appended without .item()) pile up.",
        fix=(
            "nvidia-smi  # other processes on the GPU?",
            "# lower batch_size or block_size; evaluate under @torch.no_grad(); use loss.item()",
            "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True python train.py  # fragmentation",
        ),
        source="torch OutOfMemoryError text",
    ),
    LogPattern(
        code="undefined-symbol",
        trigger=re.compile(
            r"(?P<library>lib[\w+-]+\.so[\d.]*): undefined symbol: (?P<symbol>[\w@.]+)"
        ),
        enrich=_enrich_symbol,
        title="a CUDA library loaded the wrong version of another",
        cause="{why}",
        fix=(
            "echo $LD_LIBRARY_PATH  # CUDA directories here shadow torch's own libraries",
            "unset LD_LIBRARY_PATH",
            "python -m pip uninstall -y torch",
            "{torch_install}",
        ),
        source="pytorch/pytorch issues on libcusparse / nvJitLink undefined symbols",
    ),
    LogPattern(
        code="cudnn-missing",
        trigger=re.compile(
            r"(?=.*(?:cannot open shared object file|Could not load library))"
            r".*?(?P<library>libcudnn\w*\.so(?:\.\d+)*)"
        ),
        title="cuDNN cannot be loaded",
        cause="{library} is not found: pip wheels get cuDNN from the nvidia-cudnn-cu* package "
        "(lost with --no-deps or a partial uninstall); a system cuDNN of another major version on "
        "LD_LIBRARY_PATH does not help.",
        fix=(
            "python -m pip uninstall -y torch",
            "{torch_install}  # without --no-deps, so nvidia-cudnn comes along",
        ),
        source="dlopen error text",
    ),
    LogPattern(
        code="libcuda-missing",
        trigger=re.compile(r"libcuda\.so(?:\.\d+)*: cannot open shared object file"),
        title="libcuda.so (the NVIDIA driver's library) is missing",
        cause="libcuda.so comes with the NVIDIA driver, not with torch or the CUDA toolkit: the "
        "driver is not installed, or (in a container) was not mounted with --gpus.",
        fix=(
            "nvidia-smi  # does the driver work outside Python?",
            "sudo ubuntu-drivers install  # Ubuntu; then reboot",
            "# containers: docker run --gpus all ... (NVIDIA Container Toolkit)",
        ),
        wsl_fix=_WINDOWS_DRIVER_FIX,
        source="dlopen error text",
    ),
    LogPattern(
        code="nvidia-smi-failed",
        trigger=re.compile(
            r"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver"
        ),
        wsl_fix=_WINDOWS_DRIVER_FIX,
        title="the NVIDIA kernel module is not running",
        cause="The driver's user-space tools are installed but the kernel module is not loaded: "
        "a kernel update without a rebuilt module (DKMS), Secure Boot rejecting the unsigned "
        "module, or nouveau holding the GPU.",
        fix=(
            "sudo modprobe nvidia",
            "dkms status  # is the module built for the running kernel (uname -r)?",
            "mokutil --sb-state  # Secure Boot on? enrol the key or use signed drivers",
            "sudo ubuntu-drivers install && sudo reboot  # Ubuntu: reinstall the driver",
        ),
        source="nvidia-smi message",
    ),
    LogPattern(
        code="no-nvidia-driver",
        trigger=re.compile(r"Found no NVIDIA driver on your system"),
        title="torch found no NVIDIA driver",
        cause="torch is a CUDA build but no NVIDIA driver is loaded: no NVIDIA GPU, no driver "
        "installed, or a container started without --gpus.",
        fix=(
            "nvidia-smi",
            "sudo ubuntu-drivers install && sudo reboot  # Ubuntu",
            "# containers: docker run --gpus all ... (NVIDIA Container Toolkit)",
        ),
        wsl_fix=_WINDOWS_DRIVER_FIX,
        source="torch/csrc/cuda error text",
    ),
    LogPattern(
        code="driver-library-mismatch",
        trigger=re.compile(r"Driver/library version mismatch"),
        title="NVIDIA driver/library version mismatch",
        cause="The driver's libraries were updated but the old kernel module is still loaded.",
        fix=(
            "sudo reboot",
            "# or, with no display using the GPU:",
            "sudo rmmod nvidia_uvm nvidia_drm nvidia_modeset nvidia",
            "sudo modprobe nvidia && sudo modprobe nvidia_uvm",
        ),
        wsl_fix=_WINDOWS_DRIVER_FIX,
        source="NVML_ERROR_LIB_RM_VERSION_MISMATCH",
    ),
    LogPattern(
        code="cuda-forward-compat",
        trigger=re.compile(r"Error 804: forward compatibility was attempted on non supported HW"),
        title="CUDA error 804: forward compatibility on a GPU that does not support it",
        cause="A CUDA forward-compatibility library (cuda-compat, e.g. /usr/local/cuda/compat in "
        "a container image) is loaded on a GPU without forward-compatibility support, or the "
        "driver was updated without a reboot.",
        fix=(
            "echo $LD_LIBRARY_PATH  # remove .../compat entries",
            "sudo reboot  # if the driver was just updated",
        ),
        source="https://github.com/PKU-YuanGroup/Video-LLaVA/issues/22 and similar reports",
    ),
    LogPattern(
        code="cuda-unknown-error",
        trigger=re.compile(r"Error 999|CUDA error: unknown error|CUDA unknown error"),
        title="CUDA 'unknown error' during initialisation",
        cause="Often the nvidia_uvm module is in a bad state (typically after suspend/resume).",
        fix=("sudo rmmod nvidia_uvm && sudo modprobe nvidia_uvm", "# or: sudo reboot"),
        source="cudaErrorUnknown",
        wsl_fix=_WINDOWS_DRIVER_FIX,
    ),
    LogPattern(
        code="no-cuda-gpus",
        trigger=re.compile(r"No CUDA GPUs are available"),
        title="torch sees no CUDA GPU",
        cause="The driver works but no device is visible to this process: CUDA_VISIBLE_DEVICES "
        "is empty or -1, or a container/scheduler gave the job no GPU.",
        fix=("echo $CUDA_VISIBLE_DEVICES", "unset CUDA_VISIBLE_DEVICES", "nvidia-smi -L"),
        source="torch/cuda/__init__.py _lazy_init",
    ),
    LogPattern(
        code="tensors-on-different-devices",
        trigger=re.compile(
            r"Expected all tensors to be on the same device"
            r"(?:, but found at least two devices, (?P<first>[\w:]+) and (?P<second>[\w:]+))?"
        ),
        enrich=_enrich_devices,
        title="tensors on different devices",
        cause="One operation got tensors on {devices}. In the nano-GPT lecture: the model was not "
        "moved (model = model.to(device)), a batch was made on the CPU, or generate() starts "
        "from torch.zeros((1, 1), dtype=torch.long) without device=device.",
        fix=(
            "model = model.to(device)",
            "x, y = x.to(device), y.to(device)",
            "context = torch.zeros((1, 1), dtype=torch.long, device=device)",
        ),
        source="torch error text",
    ),
    LogPattern(
        code="no-matching-distribution",
        trigger=re.compile(r"No matching distribution found for (?P<requirement>torch\S*)"),
        title="pip finds no torch wheel for this request",
        cause="No wheel of {requirement} matches this Python version, platform and index: a "
        "Python newer than the release supports, 32-bit Python, or a version missing from that "
        "CUDA index.",
        fix=("python --version", "{torch_install}"),
        source="pip error text",
    ),
    LogPattern(
        code="numpy-abi",
        trigger=re.compile(r"compiled using NumPy 1\.x cannot be run in"),
        title="a module built for NumPy 1.x meets NumPy 2",
        cause="An older torch (or another extension) was compiled against NumPy 1.x.",
        fix=(
            'python -m pip install "numpy<2"',
            "# or upgrade torch to a release built for NumPy 2",
        ),
        source="NumPy 2 ABI message",
    ),
    LogPattern(
        code="cuda-library-missing",
        trigger=re.compile(
            r"(?P<library>lib(?:cudart|cublas|cublasLt|cufft|curand|cusolver|cusparse|nvrtc|"
            r"nvJitLink)\.so\.(?P<soname>\d+)(?:\.\d+)*): cannot open shared object file"
        ),
        enrich=_enrich_cuda_library,
        title="a CUDA runtime library cannot be loaded",
        cause="{library} belongs to CUDA {library_cuda}.x. pip torch gets it from an nvidia-* "
        "wheel (lost with --no-deps or a partial uninstall); other software expects a CUDA "
        "{library_cuda} toolkit on the library path. The CUDA toolkit version does not decide "
        "what torch runs on.",
        fix=(
            "python -m pip uninstall -y torch",
            "{torch_install}",
            "# not torch? install CUDA {library_cuda}.x libraries for that program, e.g. "
            "python -m pip install nvidia-cuda-runtime-cu{library_cuda}",
        ),
        source="dlopen error text; CUDA sonames (libcudart.so.12 = CUDA 12.x)",
    ),
    LogPattern(
        code="nccl-error",
        trigger=re.compile(
            r"NCCL error|ncclInternalError|ncclSystemError|ncclUnhandledCudaError|"
            r"ncclInvalidUsage|ncclRemoteError|NCCL (?:WARN|communicator was aborted)|"
            r"DistBackendError"
        ),
        context=(
            re.compile(
                r"(?P<kind>unhandled cuda error|unhandled system error|internal "
                r"error|remote process exited|invalid usage|timeout)"
            ),
        ),
        enrich=_enrich_nccl,
        title="NCCL (multi-GPU communication) failed",
        cause="NCCL reports that {nccl_cause}.",
        fix=(
            "NCCL_DEBUG=INFO torchrun ...  # rerun: the log names the failing call and transport",
            'python -c "import torch; print(torch.cuda.nccl.version())"  # the same on every node',
            "docker run --shm-size=1g ...  # containers: NCCL needs shared memory",
            "NCCL_P2P_DISABLE=1 torchrun ...  # if peer-to-peer between these GPUs is broken",
        ),
        source="torch/csrc/distributed/c10d/NCCLUtils error text; NCCL ncclResult_t names",
    ),
    LogPattern(
        code="cudnn-version-mismatch",
        trigger=re.compile(
            r"cuDNN version incompatibility: PyTorch was compiled\s+against (?P<compiled>\([\d, ]+"
            r"\)|[\d.]+) but found runtime version (?P<runtime>\([\d, ]+\)|[\d.]+)"
        ),
        enrich=_enrich_cudnn_versions,
        title="torch loaded a cuDNN other than the one it was built with",
        cause="torch was built with cuDNN {compiled_version} but cuDNN {runtime_version} was "
        "loaded, usually from a directory on LD_LIBRARY_PATH or a system-wide install ahead of "
        "the nvidia-cudnn wheel torch depends on.",
        fix=(
            "echo $LD_LIBRARY_PATH  # remove the directory that holds libcudnn {runtime_version}",
            'python -m pip install "nvidia-cudnn-cu{cuda_major}=={compiled_version}.*"  '
            "# the cuDNN torch was built with",
        ),
        source="torch/backends/cudnn/__init__.py version check",
    ),
    LogPattern(
        code="cublas-not-initialized",
        trigger=re.compile(r"CUBLAS_STATUS_NOT_INITIALIZED|CUBLAS_STATUS_ALLOC_FAILED"),
        title="cuBLAS could not start",
        cause="cuBLAS failed to create its handle: most often the GPU is out of memory at that "
        "moment (another process, or a cached allocation), otherwise a libcublas that does not "
        "match torch's (an nvidia-cublas-cu{cuda_major} wheel of another version, or a CUDA "
        "toolkit on LD_LIBRARY_PATH).",
        fix=(
            "nvidia-smi  # memory held by other processes?",
            "python -m pip check  # nvidia-cublas-cu{cuda_major} at the version torch requires?",
            "{torch_install}",
        ),
        source="cuBLAS status codes (cublasStatus_t)",
    ),
    LogPattern(
        code="cudnn-not-initialized",
        trigger=re.compile(r"CUDNN_STATUS_NOT_INITIALIZED|CUDNN_STATUS_ALLOC_FAILED"),
        title="cuDNN could not start",
        cause="cuDNN failed to initialise: usually no GPU memory left for its workspace, or a "
        "libcudnn that does not match torch's build (LD_LIBRARY_PATH, a system cuDNN).",
        fix=(
            "nvidia-smi  # memory held by other processes?",
            'python -c "import torch; print(torch.backends.cudnn.version())"',
            "echo $LD_LIBRARY_PATH  # a libcudnn directory here overrides torch's own",
        ),
        source="cuDNN status codes (cudnnStatus_t)",
    ),
    LogPattern(
        code="illegal-memory-access",
        trigger=re.compile(r"an illegal memory access was encountered|CUDA_ERROR_ILLEGAL_ADDRESS"),
        title="a CUDA kernel read or wrote outside its memory",
        cause="A kernel accessed memory it does not own: an out-of-range index that was not "
        "checked, a custom extension bug, or (rarely) a hardware fault. Like a device-side "
        "assert it is reported later, and the CUDA context is unusable afterwards.",
        fix=(
            "CUDA_LAUNCH_BLOCKING=1 python train.py  # report it at the call that caused it",
            "compute-sanitizer python train.py  # names the kernel and the address (CUDA toolkit)",
            "# restart the process: the CUDA context cannot recover",
        ),
        source="cudaErrorIllegalAddress (700)",
    ),
    LogPattern(
        code="device-busy",
        trigger=re.compile(r"busy or unavailable|cudaErrorDevicesUnavailable"),
        title="the GPU is busy or unavailable",
        cause="The GPU is in an exclusive compute mode and another process already holds it, or "
        "a previous process is stuck on it.",
        fix=(
            "nvidia-smi --query-gpu=index,compute_mode --format=csv",
            "nvidia-smi --query-compute-apps=pid,process_name --format=csv  # who holds it",
            "sudo nvidia-smi -c DEFAULT  # shared compute mode, if you administer the machine",
        ),
        wsl_fix=(
            "nvidia-smi --query-compute-apps=pid,process_name --format=csv  # who holds it",
            "wsl --shutdown  # in PowerShell: stops a stuck WSL process holding the GPU",
        ),
        source="cudaErrorDevicesUnavailable (46)",
    ),
    LogPattern(
        code="windows-dll-load",
        trigger=re.compile(
            r"\[WinError 126\]|\[WinError 127\]|DLL load failed|"
            r"Error loading \"(?P<dll>[^\"]+\.dll)\""
        ),
        context=(re.compile(r"Error loading \"(?P<dll>[^\"]+\.dll)\""),),
        enrich=_enrich_dll,
        title="Windows could not load a DLL torch needs",
        cause="Windows failed to load {dll_name} or one of its dependencies: the Microsoft "
        "Visual C++ Redistributable is missing or old, or the torch install is incomplete.",
        fix=(
            "# install the latest Microsoft Visual C++ Redistributable (x64); reopen the shell",
            "python -m pip uninstall -y torch",
            "{torch_install}",
        ),
        source="Windows LoadLibrary errors (126: module not found, 127: procedure not found)",
    ),
    LogPattern(
        code="torchvision-mismatch",
        trigger=re.compile(r"operator torchvision::\w+ does not exist"),
        title="torchvision was built for another torch",
        cause="torchvision's compiled operators do not load into this torch: the two come from "
        "different releases or different CUDA variants (one pip index for torch, another for "
        "torchvision).",
        fix=(
            'python -c "import torch; print(torch.__version__)"',
            "python -m pip uninstall -y torchvision",
            "{torch_install_vision}",
        ),
        source="torchvision/extension.py; release pairs on the previous-versions page",
    ),
)
