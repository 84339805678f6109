"""Model FLOPs per step, spec-sheet and measured peak FLOP/s, and model FLOPs utilisation.

The analytic count is the one PaLM uses for MFU (Chowdhery et al. 2022, "PaLM: Scaling
Language Modeling with Pathways", appendix B, arXiv:2204.02311) and nanoGPT's
``estimate_mfu`` implements: per token, 6·N for the weight matmuls (2 forward, 4 backward)
plus 12·L·H·Q·T for the attention score and value matmuls. Only matmul FLOPs count;
embedding lookups, softmax, LayerNorm, biases and the optimizer are left out.

No torch import at module level: the table and the formulas are plain data, testable and
importable by the report without starting torch.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TERA = 1e12

# Names a cell's dtype may carry, mapped to the table's keys.
DTYPE_ALIASES = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32", "torch.float32": "fp32",
    "tf32": "tf32",
    "bf16": "bf16", "bfloat16": "bf16", "torch.bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "half": "fp16", "torch.float16": "fp16",
}  # fmt: skip


def flops_per_token(
    n_params: int, n_layer: int, n_head: int, head_size: int, block_size: int
) -> float:
    """Training FLOPs per token, 6·N + 12·L·H·Q·T (PaLM appendix B; nanoGPT estimate_mfu).

    6·N: each weight takes part in one multiply-add forward (2 FLOPs) and two backward
    (gradient of the input and of the weight, 4 FLOPs). 12·L·H·Q·T: q·kᵀ and att·v over the
    full T×T window, the same three-pass factor; the causal half is not subtracted.
    """
    return 6.0 * n_params + 12.0 * n_layer * n_head * head_size * block_size


def flops_per_step(config: Mapping[str, Any], n_params: int) -> float:
    """Model FLOPs of one training step (forward + backward) for a model config.

    ``n_params`` is the parameter count the caller reports (all parameters, as the spec's
    6·N). Embedding tables (lookups), biases and LayerNorm weights take part in no matmul,
    so this overestimates by their share: 1.2 % for the lecture GPT (passing only the Linear
    weights makes it exact); for the bigram, whose one table is all it has, 6·N is only the
    conventional figure. Configs without ``n_layer`` (the bigrams) have no attention term.
    """
    tokens = int(config["batch_size"]) * int(config["block_size"])
    if "n_layer" not in config:
        return tokens * flops_per_token(n_params, 0, 0, 0, 0)
    n_head = int(config["n_head"])
    per_token = flops_per_token(
        n_params,
        int(config["n_layer"]),
        n_head,
        int(config["n_embd"]) // n_head,
        int(config["block_size"]),
    )
    return tokens * per_token


FORMULA = "formula (PaLM B)"
COUNTED = "counted (FlopCounterMode)"
NO_MATMULS = "counted (FlopCounterMode): no matmuls, MFU does not apply"
NOT_COUNTED = "not counted (FlopCounterMode failed)"
GPT_KEYS = ("n_layer", "n_head", "n_embd", "block_size")


def model_flops_per_step(session: Any, config: Mapping[str, Any]) -> tuple[float | None, str]:
    """Model FLOPs of one training step and how they were obtained.

    A config with the lecture GPT's shape keys gets PaLM's formula (the MFU convention);
    anything else (the bigrams, a user's model) is counted op by op with torch's
    FlopCounterMode on one forward and backward, which sees every matmul, attention included.
    A model without a single matmul has no model FLOPs in that sense: (None, NO_MATMULS).
    """
    if all(key in config for key in GPT_KEYS):
        from gpubench.core.models import count_parameters

        return flops_per_step(config, count_parameters(session.model)), FORMULA
    try:
        counted = count_step_flops(session)
    except Exception:  # an op the counter cannot follow: no figure, said so
        return None, NOT_COUNTED
    return (counted, COUNTED) if counted > 0 else (None, NO_MATMULS)


def count_step_flops(session: Any) -> float:
    """FLOPs torch's FlopCounterMode sees in one forward and backward of ``session``'s model
    (the weights are left as they were: no optimizer step)."""
    from torch.utils.flop_counter import FlopCounterMode

    from gpubench.core.data import get_batch

    data = session.dataset.train
    xb, yb = get_batch(data, session.batch_size, session.block_size, session.device)
    counter = FlopCounterMode(display=False)
    with counter, session.autocast():
        _, loss = session.model(xb, yb)
        loss.backward()
    session.optimizer.zero_grad(set_to_none=True)
    return float(counter.get_total_flops())


def mfu(achieved: float, peak: float) -> float:
    """Model FLOPs utilisation: achieved model FLOP/s as a fraction of a peak FLOP/s."""
    if not peak > 0 or not math.isfinite(peak):
        raise ValueError(f"peak FLOP/s must be a positive finite number, got {peak!r}")
    return achieved / peak


def normalise_dtype(dtype: Any) -> str:
    """The table's key for a dtype given as text or as a torch dtype ('bfloat16' -> 'bf16')."""
    key = DTYPE_ALIASES.get(str(dtype).strip().lower())
    if key is None:
        raise ValueError(f"unknown dtype {dtype!r}; expected one of fp32, tf32, bf16, fp16")
    return key


@dataclass(frozen=True)
class SpecPeak:
    """Dense (no 2:4 sparsity) peak FLOP/s of one GPU model, per dtype, with its source.

    Tensor-core figures are those with FP32 accumulation, which is what PyTorch's matmuls
    use. A dtype the GPU has no fast path for is absent (V100 and T4: no TF32, no bf16).
    """

    pattern: str  # regex on the normalised device name (see spec_peak_flops)
    peaks: dict[str, float] = field(hash=False)
    source: str = ""


# Spec-sheet numbers. Data-center datasheets quote tensor-core rates "with sparsity";
# their own footnote says dense is half, and half is what is stored here.
SPEC_PEAK_FLOPS: dict[str, SpecPeak] = {
    "H100 SXM": SpecPeak(
        r"\bh100\b.*(sxm|hbm3)",
        {"fp32": 67 * TERA, "tf32": 494.5 * TERA, "bf16": 989.5 * TERA, "fp16": 989.5 * TERA},
        "NVIDIA H100 Tensor Core GPU datasheet, H100 SXM column (TF32 989, BF16/FP16 1,979 "
        "TFLOPS with sparsity), https://www.nvidia.com/en-us/data-center/h100/",
    ),
    "H100 NVL": SpecPeak(
        r"\bh100\b.*\bnvl\b",
        {"fp32": 60 * TERA, "tf32": 417.5 * TERA, "bf16": 835.5 * TERA, "fp16": 835.5 * TERA},
        "NVIDIA H100 Tensor Core GPU datasheet, H100 NVL column (TF32 835, BF16/FP16 1,671 "
        "TFLOPS with sparsity), https://www.nvidia.com/en-us/data-center/h100/",
    ),
    "H100 PCIe": SpecPeak(
        r"\bh100\b.*pcie",
        {"fp32": 51 * TERA, "tf32": 378 * TERA, "bf16": 756.5 * TERA, "fp16": 756.5 * TERA},
        "NVIDIA H100 Tensor Core GPU datasheet, H100 PCIe column (TF32 756, BF16/FP16 1,513 "
        "TFLOPS with sparsity), https://www.nvidia.com/en-us/data-center/h100/",
    ),
    "H200 NVL": SpecPeak(
        r"\bh200\b.*\bnvl\b",
        {"fp32": 60 * TERA, "tf32": 417.5 * TERA, "bf16": 835.5 * TERA, "fp16": 835.5 * TERA},
        "NVIDIA H200 Tensor Core GPU specifications, H200 NVL column (TF32 835, BF16/FP16 "
        "1,671 TFLOPS with sparsity), https://www.nvidia.com/en-us/data-center/h200/",
    ),
    "H200 SXM": SpecPeak(
        r"\bh200\b",
        {"fp32": 67 * TERA, "tf32": 494.5 * TERA, "bf16": 989.5 * TERA, "fp16": 989.5 * TERA},
        "NVIDIA H200 Tensor Core GPU specifications, H200 SXM column (TF32 989, BF16/FP16 "
        "1,979 TFLOPS with sparsity), https://www.nvidia.com/en-us/data-center/h200/",
    ),
    "A100": SpecPeak(
        r"\ba100\b",
        {"fp32": 19.5 * TERA, "tf32": 156 * TERA, "bf16": 312 * TERA, "fp16": 312 * TERA},
        "NVIDIA A100 Tensor Core GPU datasheet (40GB and 80GB, PCIe and SXM alike), "
        "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/"
        "nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf",
    ),
    "A800": SpecPeak(
        r"\ba800\b",
        {"fp32": 19.5 * TERA, "tf32": 156 * TERA, "bf16": 311.9 * TERA, "fp16": 311.9 * TERA},
        "NVIDIA A800 40GB Active datasheet (FP32 19.5, tensor 623.8 TFLOPS with sparsity; the "
        "A100's GA100, so TF32 is half the BF16 rate as in the A100 datasheet), "
        "https://www.nvidia.com/content/dam/en-zz/Solutions/design-visualization/a800/"
        "proviz-a800-40gb-datasheet-nvidia-2819988-r5-web.pdf",
    ),
    "A10": SpecPeak(
        r"\ba10\b",
        {"fp32": 31.2 * TERA, "tf32": 62.5 * TERA, "bf16": 125 * TERA, "fp16": 125 * TERA},
        "NVIDIA A10 Tensor Core GPU datasheet (TF32 62.5, BF16/FP16 125 TFLOPS dense), "
        "https://www.nvidia.com/en-us/data-center/products/a10-gpu/",
    ),
    "L40S": SpecPeak(
        r"\bl40s\b",
        {"fp32": 91.6 * TERA, "tf32": 183 * TERA, "bf16": 362.05 * TERA, "fp16": 362.05 * TERA},
        "NVIDIA L40S datasheet (TF32 183 | 366*, BF16/FP16 362.05 | 733* TFLOPS, * with "
        "sparsity), https://www.nvidia.com/en-us/data-center/l40s/",
    ),
    "L4": SpecPeak(
        r"\bl4\b",
        {"fp32": 30.3 * TERA, "tf32": 60 * TERA, "bf16": 121 * TERA, "fp16": 121 * TERA},
        "NVIDIA L4 Tensor Core GPU datasheet (TF32 120, BF16/FP16 242 TFLOPS with sparsity), "
        "https://www.nvidia.com/en-us/data-center/l4/",
    ),
    "RTX 4090": SpecPeak(
        r"\brtx 4090$",
        {"fp32": 82.6 * TERA, "tf32": 82.6 * TERA, "bf16": 165.2 * TERA, "fp16": 165.2 * TERA},
        "NVIDIA Ada GPU Architecture whitepaper, GeForce RTX 4090 table (peak BF16/FP16 tensor "
        "TFLOPS with FP32 accumulate 165.2, TF32 82.6), https://images.nvidia.com/aem-dam/"
        "Solutions/geforce/ada/nvidia-ada-gpu-architecture.pdf",
    ),
    "RTX 3090": SpecPeak(
        r"\brtx 3090$",
        {"fp32": 35.6 * TERA, "tf32": 35.6 * TERA, "bf16": 71 * TERA, "fp16": 71 * TERA},
        "NVIDIA Ampere GA102 GPU Architecture whitepaper, appendix A, GeForce RTX 3090 (peak "
        "BF16/FP16 tensor TFLOPS with FP32 accumulate 71, TF32 35.6), https://www.nvidia.com/"
        "content/PDF/nvidia-ampere-ga-102-gpu-architecture-whitepaper-v2.pdf",
    ),
    "V100 SXM2": SpecPeak(
        r"\bv100\b.*sxm2",
        {"fp32": 15.7 * TERA, "fp16": 125 * TERA},
        "NVIDIA Tesla V100 GPU Accelerator datasheet, V100 SXM2 (single precision 15.7, "
        "tensor/deep learning 125 TFLOPS), https://images.nvidia.com/content/technologies/"
        "volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf",
    ),
    "V100 PCIe": SpecPeak(
        r"\bv100\b.*pcie",
        {"fp32": 14 * TERA, "fp16": 112 * TERA},
        "NVIDIA Tesla V100 GPU Accelerator datasheet, V100 PCIe (single precision 14, "
        "tensor/deep learning 112 TFLOPS), https://images.nvidia.com/content/technologies/"
        "volta/pdf/volta-v100-datasheet-update-us-1165301-r5.pdf",
    ),
    "T4": SpecPeak(
        r"\bt4\b",
        {"fp32": 8.1 * TERA, "fp16": 65 * TERA},
        "NVIDIA T4 Tensor Core GPU datasheet (single precision 8.1, mixed precision FP16/FP32 "
        "65 TFLOPS), https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/"
        "tesla-t4/t4-tensor-core-datasheet-951643.pdf",
    ),
}


def normalise_gpu_name(gpu_name: str) -> str:
    """Lower-case name without vendor and brand words: 'NVIDIA GeForce RTX 4090' -> 'rtx 4090'."""
    name = re.sub(r"[-_]", " ", gpu_name.lower())
    name = re.sub(r"\b(nvidia|geforce|tesla)\b", " ", name)
    return " ".join(name.split())


def spec_peak_flops(gpu_name: str, dtype: str) -> tuple[float, str] | None:
    """The spec-sheet dense peak FLOP/s and its source for a device name as torch reports it.

    ``NVIDIA H100 80GB HBM3`` is the SXM part, ``NVIDIA H100 PCIe`` the PCIe card. None when
    the GPU is not in the table or the table has no figure for that dtype.
    """
    name = normalise_gpu_name(gpu_name)
    key = normalise_dtype(dtype)
    for entry in SPEC_PEAK_FLOPS.values():
        if re.search(entry.pattern, name):
            value = entry.peaks.get(key)
            return None if value is None else (value, entry.source)
    return None


def _probe_size(device: Any) -> int:
    """Square matmul side: large enough to reach peak, small enough for any device's memory."""
    import torch

    if device.type == "cuda":
        total = torch.cuda.get_device_properties(device).total_memory
        return 8192 if total >= 8 * 2**30 else 4096
    if device.type == "mps":
        return 4096
    return 1024


def measure_peak_flops(device: str, dtype: str, *, seconds: float = 1.0) -> float:
    """Best matmul FLOP/s on ``device`` at ``dtype``, over about ``seconds`` of timed batches.

    The MFU denominator the spec asks for: what this device really reaches at the run's
    dtype (a spec sheet's peak is a ceiling few devices touch). ``tf32`` means fp32 matmuls
    with TF32 allowed (CUDA only; elsewhere it is plain fp32).
    """
    import torch

    key = normalise_dtype(dtype)
    target = torch.device(device)
    torch_dtype = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16,
                   "fp16": torch.float16}[key]  # fmt: skip
    n = _probe_size(target)
    a = torch.randn(n, n, device=target, dtype=torch_dtype)
    b = torch.randn(n, n, device=target, dtype=torch_dtype)
    previous_tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = key == "tf32"
    try:
        return _best_matmul_rate(a, b, seconds)
    finally:
        torch.backends.cuda.matmul.allow_tf32 = previous_tf32


def _best_matmul_rate(a: Any, b: Any, seconds: float) -> float:
    """Time batches of matmuls (one sync per batch) and keep the fastest batch's rate."""
    from gpubench.core.training import synchronize

    device = a.device
    flops_per_matmul = 2.0 * a.shape[0] * a.shape[1] * b.shape[1]
    batch = 1
    best = 0.0
    deadline = time.perf_counter() + seconds
    (a @ b).sum()  # warm-up: kernel selection, allocator
    synchronize(device)
    while True:
        start = time.perf_counter()
        for _ in range(batch):
            c = a @ b
        synchronize(device)
        elapsed = time.perf_counter() - start
        del c
        best = max(best, batch * flops_per_matmul / elapsed)
        if time.perf_counter() >= deadline:
            return best
        if elapsed < seconds / 10:  # grow batches until one sync per batch is negligible
            batch *= 2
