"""GPUs the predictor knows: peak dense FLOP/s per dtype, memory bandwidth, host link.

Data, each entry with its source (a vendor datasheet or whitepaper) and where its
figures were checked (benchmarks/README.md, "Op model"). Tensor-core figures
are dense (datasheets quoting "with sparsity" are halved, as their footnotes say) and with
FP32 accumulation, which is what PyTorch's matmuls use. A dtype a GPU has no fast path for
is absent (T4 and V100: no TF32, no bf16). ``gpubench gpus`` prints this table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from gpubench.errors import UsageError

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


def _flops(fp32: float, tf32: float | None = None, bf16: float | None = None,
           fp16: float | None = None) -> dict[str, float]:  # fmt: skip
    peaks = {"fp32": fp32 * TERA}
    for key, value in (("tf32", tf32), ("bf16", bf16), ("fp16", fp16)):
        if value is not None:
            peaks[key] = value * TERA
    return peaks


H100_SOURCE = (
    "NVIDIA H100 Tensor Core GPU datasheet, SXM column: FP32 67, TF32 989 / BF16 1,979 TFLOPS "
    "'with sparsity' (halved), 3,350 GB/s; confirmed against the datasheet table reproduced at "
    "archive-lib.hpctech.co.jp/gpuproduct/nvidia-h100.html and the dense figures (494.7, "
    "989.4) at glennklockwood.com/garden/processors/h100"
)
GPUS: tuple[GpuSpec, ...] = (
    GpuSpec("h100-sxm5", "NVIDIA H100 SXM5 80GB", "datacenter", _flops(67, 494.5, 989.5, 989.5),
            3350 * GIGA, 80, "SXM5 (PCIe 5.0 x16 to the host)", 5, H100_SOURCE),
    GpuSpec("h100-pcie", "NVIDIA H100 PCIe 80GB", "datacenter", _flops(51, 378, 756.5, 756.5),
            2000 * GIGA, 80, "PCIe 5.0 x16", 5,
            "NVIDIA H100 Tensor Core GPU datasheet, PCIe column: FP32 51, TF32 756 / BF16 "
            "1,513 TFLOPS with sparsity (halved), 2,000 GB/s; confirmed at archive-lib.hpctech"
            ".co.jp/gpuproduct/nvidia-h100.html"),
    GpuSpec("h200", "NVIDIA H200 SXM 141GB", "datacenter", _flops(67, 494.5, 989.5, 989.5),
            4800 * GIGA, 141, "SXM5 (PCIe 5.0 x16 to the host)", 5,
            "NVIDIA H200 Tensor Core GPU datasheet, SXM column: the H100 SXM's GH100 compute "
            "(BF16 1,979 TFLOPS with sparsity, halved), 141 GB HBM3e at 4.8 TB/s; confirmed at "
            "aiwiki.ai/wiki/nvidia_h200 and lzwjava.github.io/nvidia-h200-gpu-specs-en"),
    GpuSpec("a100-sxm4-40gb", "NVIDIA A100 SXM4 40GB", "datacenter", _flops(19.5, 156, 312, 312),
            1555 * GIGA, 40, "SXM4 (PCIe 4.0 x16 to the host)", 4,
            "NVIDIA A100 Tensor Core GPU datasheet, 40GB SXM column (FP32 19.5, TF32 156, "
            "BF16 312 dense, 1,555 GB/s); confirmed at glennklockwood.com/garden/processors/A100"),
    GpuSpec("a100-sxm4-80gb", "NVIDIA A100 SXM4 80GB", "datacenter", _flops(19.5, 156, 312, 312),
            2039 * GIGA, 80, "SXM4 (PCIe 4.0 x16 to the host)", 4,
            "NVIDIA A100 Tensor Core GPU datasheet, 80GB SXM column (same compute, 2,039 GB/s); "
            "confirmed at glennklockwood.com/garden/processors/A100"),
    GpuSpec("a800-80gb-pcie", "NVIDIA A800 80GB PCIe", "datacenter", _flops(19.5, 156, 312, 312),
            1935 * GIGA, 80, "PCIe 4.0 x16", 4,
            "NVIDIA A800 80GB PCIe datasheet: the A100 80GB PCIe's GA100 figures (FP32 19.5, "
            "TF32 156, BF16 312 TFLOPS dense, 1,935 GB/s), only NVLink cut to 400 GB/s; "
            "compute confirmed at hmc-tech.com/gpu/nvidia-a800-vs-nvidia-t40 (19.49, 155.94, "
            "311.87), 'identical to the A100 but for NVLink' at tweakers.net/nieuws/203182; "
            "the 1,935 GB/s is the A100 80GB PCIe datasheet's figure, not re-confirmed"),
    GpuSpec("l4", "NVIDIA L4 24GB", "datacenter", _flops(30.3, 60, 121, 121),
            300 * GIGA, 24, "PCIe 4.0 x16", 4,
            "NVIDIA L4 Tensor Core GPU datasheet: FP32 30.3, TF32 120 / FP16-BF16 242 TFLOPS "
            "with sparsity (halved), 300 GB/s; confirmed at store.sourcecode.com (TF32 120 with "
            "sparsity, 300 GB/s) and grokipedia.com/page/NVIDIA_L4_vs_L40S (242, 300 GB/s)"),
    GpuSpec("t4", "NVIDIA T4 16GB", "datacenter", _flops(8.1, fp16=65),
            320 * GIGA, 16, "PCIe 3.0 x16", 3,
            "NVIDIA T4 Tensor Core GPU datasheet (FP32 8.1, mixed-precision FP16 65 TFLOPS, "
            "320 GB/s, PCIe 3.0); confirmed at pcpartcomparison.com/gpu/tesla-t4-vs-l4"),
    GpuSpec("v100-sxm2", "NVIDIA V100 SXM2 32GB", "datacenter", _flops(15.7, fp16=125),
            900 * GIGA, 32, "SXM2 (PCIe 3.0 x16 to the host)", 3,
            "NVIDIA Tesla V100 GPU Accelerator datasheet (SXM2: FP32 15.7, tensor 125 TFLOPS, "
            "900 GB/s); the same three figures in huggingface.co/RajBhope/gpu-runtime-predictor "
            "gpu_catalog.json (a third-party table)"),
    GpuSpec("rtx-a6000", "NVIDIA RTX A6000 48GB", "workstation", _flops(38.7, 77.4, 154.8, 154.8),
            768 * GIGA, 48, "PCIe 4.0 x16", 4,
            "NVIDIA Ampere GA102 GPU Architecture whitepaper, RTX A6000 column (dense; FP32 "
            "38.7 confirmed in huggingface.co/datasets/ohdoking/gpu_spec; tensor figures not "
            "re-confirmed: the A40 datasheet's GA102 rates, 74.8/149.7 at a lower clock, agree)"),
    GpuSpec("rtx-6000-ada", "NVIDIA RTX 6000 Ada 48GB", "workstation",
            _flops(91.1, 182.1, 364.2, 364.2), 960 * GIGA, 48, "PCIe 4.0 x16", 4,
            "NVIDIA Ada GPU Architecture whitepaper, RTX 6000 Ada column (dense; FP32 91.1 "
            "confirmed in huggingface.co/datasets/ohdoking/gpu_spec; tensor figures not "
            "re-confirmed)"),
    GpuSpec("rtx-4090", "NVIDIA GeForce RTX 4090 24GB", "consumer",
            _flops(82.6, 82.6, 165.2, 165.2), 1008 * GIGA, 24, "PCIe 4.0 x16", 4,
            "NVIDIA Ada GPU Architecture whitepaper, GeForce RTX 4090 column (FP32 accumulate; "
            "FP32 82.58 in huggingface.co/datasets/ohdoking/gpu_spec, dense BF16 165 and "
            "1,008 GB/s in gist.github.com/mikasenghaas/d63ded03f1f0417b1677627119bacc0d)"),
    GpuSpec("rtx-3090", "NVIDIA GeForce RTX 3090 24GB", "consumer", _flops(35.6, 35.6, 71, 71),
            936 * GIGA, 24, "PCIe 4.0 x16", 4,
            "NVIDIA Ampere GA102 GPU Architecture whitepaper, appendix A, GeForce RTX 3090 "
            "(FP32 35.58 in huggingface.co/datasets/ohdoking/gpu_spec; FP16 71 TFLOPS and "
            "936 GB/s in a third-party table, huggingface.co/datasets/Fdddhhhill)"),
    GpuSpec("rtx-3060", "NVIDIA GeForce RTX 3060 12GB", "consumer", _flops(12.7, 12.7, 25.4, 25.4),
            360 * GIGA, 12, "PCIe 4.0 x16", 4,
            "NVIDIA GeForce RTX 3060 specifications (28 SMs, 1.78 GHz boost, 360 GB/s) with "
            "the GA10x per-SM tensor rates of the GA102 whitepaper (FP32 accumulate); FP16 25 "
            "TFLOPS and 360 GB/s in a third-party table, huggingface.co/datasets/Fdddhhhill"),
)  # fmt: skip


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
