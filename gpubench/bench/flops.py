"""Model FLOPs per step, spec-sheet and measured peak FLOP/s, and model FLOPs utilisation.

The analytic count is the one PaLM uses for MFU (Chowdhery et al. 2022, "PaLM: Scaling
Language Modeling with Pathways", appendix B, arXiv:2204.02311) and nanoGPT's
``estimate_mfu`` implements: per token, 6·N for the weight matmuls (2 forward, 4 backward)
plus 12·L·H·Q·T for the attention score and value matmuls. Only matmul FLOPs count;
embedding lookups, softmax, LayerNorm, biases and the optimizer are left out.

No torch import at module level: the formulas are plain data, testable without starting
torch. The datasheet peaks live in gpubench/predict/datasheets.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from gpubench.predict.datasheets import normalise_dtype


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
