"""The lecture's training loop, split so the benchmark can time its parts.

``TrainingSession`` owns model, optimizer and data on one device and does one thing per
call (a step, an evaluation, a sample); ``train`` is the lecture loop built from them.
The timed path (``step``) does no host sync and no bookkeeping.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from gpubench.core.data import Dataset, get_batch
from gpubench.core.models import ModelSpec

SEED = 1337
VARIANTS = ("reference", "fast", "compile")  # compile: the fast variant under torch.compile


FAST_VARIANT = (  # what the fast variant changes, as the functions below decide it
    "fused QKV projection and fused AdamW; on CUDA scaled_dot_product_attention, TF32 and bf16 "
    "autocast (Ampere and newer); on CPU a leaner attention with the same dropout, bf16 autocast "
    "only with AMX; the compile variant adds torch.compile"
)


def model_variant(variant: str) -> str:
    """The model file's variant behind a run variant (``compile`` compiles ``fast``)."""
    return "fast" if variant == "compile" else variant


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` so a clock read after it is honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def cpu_has_native_bf16() -> bool:
    """True where the CPU has AMX tiles, the case where bf16 autocast pays off on CPU.

    ``get_cpu_capability()`` never says more than "AVX512", so the flags come from
    ``torch.cpu``. AVX512-BF16 alone does not count: on a 2-core AVX512-BF16 Xeon without
    AMX (torch 2.13) bf16 matmuls ran at 0.8x of fp32 and the fast GPT step at 0.5-0.75x.
    """
    amx_supported = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(amx_supported is not None and amx_supported())


def autocast_dtype(variant: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype a variant trains with on a device (None: plain fp32).

    bf16 only: fp16 would need a GradScaler that the lecture loop does not have, so GPUs
    before Ampere (no bf16 tensor cores) train the fast variant in fp32.
    """
    if variant != "fast":
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.get_device_capability(device) >= (8, 0) else None
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def optimizer_options(variant: str, device: torch.device) -> dict[str, Any]:
    """AdamW options: the lecture's defaults, or the fused kernel for the fast variant."""
    if variant == "fast" and device.type in ("cuda", "cpu"):
        return {"fused": True}
    return {}


@dataclass
class EvalPoint:
    step: int
    train_loss: float
    val_loss: float


@dataclass
class TrainResult:
    """What one lecture-style training run produced."""

    iters: int
    seconds: float  # wall time of the whole loop, evaluations included
    evals: list[EvalPoint] = field(default_factory=list)

    @property
    def final(self) -> EvalPoint | None:
        return self.evals[-1] if self.evals else None


class TrainingSession:
    """Model, optimizer and data of one training run on one device."""

    def __init__(
        self,
        spec: ModelSpec,
        config: dict[str, Any],
        dataset: Dataset,
        device: str | torch.device,
        *,
        variant: str = "reference",
        seed: int = SEED,
        compile_model: bool = False,
    ):
        self.device = torch.device(device)
        self.config = config
        self.dataset = dataset
        self.variant = variant
        self.batch_size = int(config["batch_size"])
        self.block_size = int(config["block_size"])
        torch.manual_seed(seed)
        self.model = spec.build(config, dataset.vocab_size, variant).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config["learning_rate"],
            **optimizer_options(variant, self.device),
        )
        self.dtype = autocast_dtype(variant, self.device)
        if variant == "fast" and self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.compile_model = compile_model  # opt-in; compile() does it, as its own phase

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def step(self) -> torch.Tensor:
        """One training step; returns the loss tensor without reading it (no host sync)."""
        xb, yb = get_batch(self.dataset.train, self.batch_size, self.block_size, self.device)
        with self._autocast():
            _, loss = self.model(xb, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    @torch.no_grad()
    def estimate_loss(self, eval_iters: int | None = None) -> dict[str, float]:
        """Mean loss over ``eval_iters`` batches of each split, as the lecture's estimate_loss."""
        eval_iters = int(eval_iters or self.config["eval_iters"])
        out = {}
        self.model.eval()
        for split, data in (("train", self.dataset.train), ("val", self.dataset.val)):
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                xb, yb = get_batch(data, self.batch_size, self.block_size, self.device)
                with self._autocast():
                    _, loss = self.model(xb, yb)
                losses[k] = loss.item()
            out[split] = losses.mean().item()
        self.model.train()
        return out

    def sample(self, max_new_tokens: int) -> str:
        """Generate text from a single zero token, as the lecture does after training."""
        self.model.eval()
        context = torch.zeros((1, 1), dtype=torch.long, device=self.device)
        ids = self.model.generate(context, max_new_tokens=max_new_tokens)[0].tolist()
        self.model.train()
        return self.dataset.decode(ids)

    def sync(self) -> None:
        synchronize(self.device)

    def compile(self) -> None:
        """Compile the model now, so that its cost is a phase of its own and not in ``step``.

        torch.compile is lazy: this wraps the model, then runs one training step and one
        evaluation batch (each mode is its own graph) and syncs. Call it only with
        ``compile_model=True``; it advances the run by that one step. ``generate`` stays
        eager (it is a method of the wrapped module).
        """
        if not self.compile_model:
            raise RuntimeError("TrainingSession.compile() needs compile_model=True")
        self.model = torch.compile(self.model)
        self.step()
        self.model.eval()
        with torch.no_grad(), self._autocast():
            xb, yb = get_batch(self.dataset.val, self.batch_size, self.block_size, self.device)
            self.model(xb, yb)
        self.model.train()
        self.sync()


def evaluation_steps(iters: int, eval_interval: int) -> list[int]:
    """The steps at which the lecture loop evaluates: 0, every eval_interval, and the last."""
    return [i for i in range(iters) if i % eval_interval == 0 or i == iters - 1]


def train(
    session: TrainingSession,
    iters: int,
    *,
    eval_interval: int | None = None,
    on_eval: Callable[[EvalPoint], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainResult:
    """The lecture loop: evaluate at step 0, every ``eval_interval`` and at the last step."""
    eval_interval = int(eval_interval or session.config["eval_interval"])
    result = TrainResult(iters=iters, seconds=0.0)
    session.sync()
    start = clock()
    for i in range(iters):
        if i % eval_interval == 0 or i == iters - 1:
            losses = session.estimate_loss()
            point = EvalPoint(step=i, train_loss=losses["train"], val_loss=losses["val"])
            result.evals.append(point)
            if on_eval is not None:
                on_eval(point)
        session.step()
        if on_step is not None:
            on_step(i)
    session.sync()
    result.seconds = clock() - start
    return result
