"""GPUs the predictor knows: peak dense FLOP/s per dtype, memory bandwidth, host link.

Data, each entry with its source (a vendor datasheet or whitepaper) and where its
figures were checked (benchmarks/README.md, "Op model"). Tensor-core figures
are dense (datasheets quoting "with sparsity" are halved, as their footnotes say) and with
FP32 accumulation, which is what PyTorch's matmuls use. A dtype a GPU has no fast path for
is absent (T4 and V100: no TF32, no bf16). ``gpubench gpus`` prints this table.

Peaks of GPUs the spec-sheet table of ``gpubench run`` knows (predict/datasheets.py,
SPEC_PEAK_FLOPS, torch-free at import) are taken from there, so each figure has one home;
only GPUs that table lacks carry their own peaks here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gpubench.errors import UsageError
from gpubench.predict.datasheets import SPEC_PEAK_FLOPS

TERA = 1e12
GIGA = 1e9

# Host links: usable bandwidth of one direction (GB/s), the PCI-SIG rates per x16 link.
PCIE_GBPS = {3: 15.75, 4: 31.5, 5: 63.0}


@dataclass(frozen=True)
class GpuSpec:
    key: str  # what --gpu takes
    name: str
    segment: str  # datacenter | workstation | consumer
    peak_flops: dict[str, float]  # dense, per dtype (fp32 = non-tensor FP32)
    bandwidth_bytes_per_s: float
    memory_gb: int
    host_link: str  # e.g. "PCIe 4.0 x16"
    pcie_gen: int  # the link to the host CPU (SXM parts too reach the CPU over PCIe)
    source: str

    @property
    def host_link_bytes_per_s(self) -> float:
        return PCIE_GBPS[self.pcie_gen] * GIGA

    def peak(self, dtype: str) -> float:
        """Peak for ``dtype``, falling back to fp32 where the GPU has no fast path for it."""
        return self.peak_flops.get(dtype, self.peak_flops["fp32"])

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "host_link_bytes_per_s": self.host_link_bytes_per_s}


def host_link_text(form: str, pcie_gen: int) -> str:
    """ "PCIe 4.0 x16", or "SXM4 (PCIe 4.0 x16 to the host)" for a socketed part."""
    pcie = f"PCIe {pcie_gen}.0 x16"
    return pcie if form == "PCIe" else f"{form} ({pcie} to the host)"


# Peaks: a key of SPEC_PEAK_FLOPS (predict/datasheets.py, FLOP/s with their datasheet), or for a GPU
# that table lacks, dense TFLOP/s per dtype (fp32 = non-tensor FP32; tensor rates with FP32
# accumulate). The A800 80GB PCIe carries the A100's GA100 figures (its source below).
Peaks = str | dict[str, float]

# key: name, segment, peaks, memory GB/s, memory GB, form factor, PCIe gen
TABLE: dict[str, tuple[str, str, Peaks, float, int, str, int]] = {
    "h100-sxm5": ("NVIDIA H100 SXM5 80GB", "datacenter", "H100 SXM", 3350, 80, "SXM5", 5),
    "h100-pcie": ("NVIDIA H100 PCIe 80GB", "datacenter", "H100 PCIe", 2000, 80, "PCIe", 5),
    "h200": ("NVIDIA H200 SXM 141GB", "datacenter", "H200 SXM", 4800, 141, "SXM5", 5),
    "a100-sxm4-40gb": ("NVIDIA A100 SXM4 40GB", "datacenter", "A100", 1555, 40, "SXM4", 4),
    "a100-sxm4-80gb": ("NVIDIA A100 SXM4 80GB", "datacenter", "A100", 2039, 80, "SXM4", 4),
    "a800-80gb-pcie": ("NVIDIA A800 80GB PCIe", "datacenter", "A100", 1935, 80, "PCIe", 4),
    "l4": ("NVIDIA L4 24GB", "datacenter", "L4", 300, 24, "PCIe", 4),
    "t4": ("NVIDIA T4 16GB", "datacenter", "T4", 320, 16, "PCIe", 3),
    "v100-sxm2": ("NVIDIA V100 SXM2 32GB", "datacenter", "V100 SXM2", 900, 32, "SXM2", 3),
    "rtx-a6000": ("NVIDIA RTX A6000 48GB", "workstation",
                  {"fp32": 38.7, "tf32": 77.4, "bf16": 154.8, "fp16": 154.8}, 768, 48, "PCIe", 4),
    "rtx-6000-ada": ("NVIDIA RTX 6000 Ada 48GB", "workstation",
                     {"fp32": 91.1, "tf32": 182.1, "bf16": 364.2, "fp16": 364.2}, 960, 48,
                     "PCIe", 4),
    "rtx-4090": ("NVIDIA GeForce RTX 4090 24GB", "consumer", "RTX 4090", 1008, 24, "PCIe", 4),
    "rtx-3090": ("NVIDIA GeForce RTX 3090 24GB", "consumer", "RTX 3090", 936, 24, "PCIe", 4),
    "rtx-3060": ("NVIDIA GeForce RTX 3060 12GB", "consumer",
                 {"fp32": 12.7, "tf32": 12.7, "bf16": 25.4, "fp16": 25.4}, 360, 12, "PCIe", 4),
}  # fmt: skip

A100_SOURCE = "NVIDIA A100 Tensor Core GPU datasheet"
GA102_SOURCE = "NVIDIA Ampere GA102 GPU Architecture whitepaper"
ADA_SOURCE = "NVIDIA Ada GPU Architecture whitepaper"
GPU_SPEC_DATASET = "huggingface.co/datasets/ohdoking/gpu_spec"
# Where each entry's figures come from, and where they were checked.
SOURCES = {
    "h100-sxm5": (
        "NVIDIA H100 Tensor Core GPU datasheet, SXM column: FP32 67, TF32 989 / BF16 1,979 "
        "TFLOPS 'with sparsity' (halved), 3,350 GB/s; confirmed against the datasheet table "
        "reproduced at archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html and the dense "
        "figures (494.7, 989.4) at glennklockwood.com/garden/processors/h100"
    ),
    "h100-pcie": (
        "NVIDIA H100 Tensor Core GPU datasheet, PCIe column: FP32 51, TF32 756 / BF16 "
        "1,513 TFLOPS with sparsity (halved), 2,000 GB/s; confirmed at archive-lib.hpctech"
        ".co.jp/gpuproduct/nvidia-h100.html"
    ),
    "h200": (
        "NVIDIA H200 Tensor Core GPU datasheet, SXM column: the H100 SXM's GH100 compute "
        "(BF16 1,979 TFLOPS with sparsity, halved), 141 GB HBM3e at 4.8 TB/s; confirmed at "
        "aiwiki.ai/wiki/nvidia_h200 and lzwjava.github.io/nvidia-h200-gpu-specs-en"
    ),
    "a100-sxm4-40gb": (
        f"{A100_SOURCE}, 40GB SXM column (FP32 19.5, TF32 156, BF16 312 dense, 1,555 GB/s); "
        "confirmed at glennklockwood.com/garden/processors/A100"
    ),
    "a100-sxm4-80gb": (
        f"{A100_SOURCE}, 80GB SXM column (same compute, 2,039 GB/s); confirmed at "
        "glennklockwood.com/garden/processors/A100"
    ),
    "a800-80gb-pcie": (
        "NVIDIA A800 80GB PCIe datasheet: the A100 80GB PCIe's GA100 figures (FP32 19.5, "
        "TF32 156, BF16 312 TFLOPS dense, 1,935 GB/s), only NVLink cut to 400 GB/s; "
        "compute confirmed at hmc-tech.com/gpu/nvidia-a800-vs-nvidia-t40 (19.49, 155.94, "
        "311.87), 'identical to the A100 but for NVLink' at tweakers.net/nieuws/203182; "
        "the 1,935 GB/s is the A100 80GB PCIe datasheet's figure, not re-confirmed"
    ),
    "l4": (
        "NVIDIA L4 Tensor Core GPU datasheet: FP32 30.3, TF32 120 / FP16-BF16 242 TFLOPS "
        "with sparsity (halved), 300 GB/s; confirmed at store.sourcecode.com (TF32 120 with "
        "sparsity, 300 GB/s) and grokipedia.com/page/NVIDIA_L4_vs_L40S (242, 300 GB/s)"
    ),
    "t4": (
        "NVIDIA T4 Tensor Core GPU datasheet (FP32 8.1, mixed-precision FP16 65 TFLOPS, "
        "320 GB/s, PCIe 3.0); confirmed at pcpartcomparison.com/gpu/tesla-t4-vs-l4"
    ),
    "v100-sxm2": (
        "NVIDIA Tesla V100 GPU Accelerator datasheet (SXM2: FP32 15.7, tensor 125 TFLOPS, "
        "900 GB/s); the same three figures in huggingface.co/RajBhope/gpu-runtime-predictor "
        "gpu_catalog.json (a third-party table)"
    ),
    "rtx-a6000": (
        f"{GA102_SOURCE}, RTX A6000 column (dense; FP32 38.7 confirmed in {GPU_SPEC_DATASET}; "
        "tensor figures not re-confirmed: the A40 datasheet's GA102 rates, 74.8/149.7 at a "
        "lower clock, agree)"
    ),
    "rtx-6000-ada": (
        f"{ADA_SOURCE}, RTX 6000 Ada column (dense; FP32 91.1 confirmed in "
        f"{GPU_SPEC_DATASET}; tensor figures not re-confirmed)"
    ),
    "rtx-4090": (
        f"{ADA_SOURCE}, GeForce RTX 4090 column (FP32 accumulate; FP32 82.58 in "
        f"{GPU_SPEC_DATASET}, dense BF16 165 and 1,008 GB/s in "
        "gist.github.com/mikasenghaas/d63ded03f1f0417b1677627119bacc0d)"
    ),
    "rtx-3090": (
        f"{GA102_SOURCE}, appendix A, GeForce RTX 3090 (FP32 35.58 in {GPU_SPEC_DATASET}; "
        "FP16 71 TFLOPS and 936 GB/s in a third-party table, huggingface.co/datasets/Fdddhhhill)"
    ),
    "rtx-3060": (
        "NVIDIA GeForce RTX 3060 specifications (28 SMs, 1.78 GHz boost, 360 GB/s) with "
        "the GA10x per-SM tensor rates of the GA102 whitepaper (FP32 accumulate); FP16 25 "
        "TFLOPS and 360 GB/s in a third-party table, "
        "huggingface.co/datasets/Fdddhhhill"
    ),
}


def _peak_flops(peaks: Peaks) -> dict[str, float]:
    """FLOP/s per dtype: SPEC_PEAK_FLOPS's entry for a key, else this table's TFLOP/s."""
    if isinstance(peaks, str):
        return dict(SPEC_PEAK_FLOPS[peaks].peaks)
    return {dtype: value * TERA for dtype, value in peaks.items()}


def _spec(key: str) -> GpuSpec:
    name, segment, peaks, gb_per_s, memory_gb, form, pcie_gen = TABLE[key]
    return GpuSpec(
        key, name, segment, _peak_flops(peaks),
        gb_per_s * GIGA, memory_gb, host_link_text(form, pcie_gen), pcie_gen, SOURCES[key],
    )  # fmt: skip


GPUS: tuple[GpuSpec, ...] = tuple(_spec(key) for key in TABLE)


def find_gpu(key: str) -> GpuSpec:
    """The table entry for a ``--gpu`` key (case-insensitive), or a UsageError listing keys."""
    wanted = key.strip().lower()
    for gpu in GPUS:
        if gpu.key == wanted:
            return gpu
    known = ", ".join(gpu.key for gpu in GPUS)
    raise UsageError(f"unknown GPU {key!r}; known: {known} (see gpubench gpus)")


def parse_gpu_list(text: str) -> list[GpuSpec]:
    """``a800-80gb-pcie,t4`` -> table entries; 'all' names every GPU."""
    if text.strip().lower() == "all":
        return list(GPUS)
    keys = [part for part in text.split(",") if part.strip()]
    if not keys:
        raise UsageError("--gpu needs at least one GPU name, e.g. --gpu a800-80gb-pcie,t4")
    return [find_gpu(key) for key in keys]
