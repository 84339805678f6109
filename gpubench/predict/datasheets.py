"""Datasheet dense peak FLOP/s of NVIDIA GPUs per dtype, each with its source, and the
lookup from a device name as torch reports it.

Plain data with no torch import: the bench (spec MFU), the predictor's GPU table and the
report share this one table.
"""

from __future__ import annotations

import re
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
