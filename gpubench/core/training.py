"""The lecture's training loop, split so the benchmark can time its parts.

``TrainingSession`` owns model, optimizer and data on one device and does one thing per
call (a step, an evaluation, a sample); ``train`` is the lecture loop built from them.
The timed path (``step``) does no host sync and no bookkeeping.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

from gpubench.core.data import Dataset, get_batch
from gpubench.core.models import ModelSpec

if TYPE_CHECKING:
    from gpubench.core.tuning import FastChoices

SEED = 1337


FAST_VARIANT = (  # what the fast variant changes; the machine-dependent parts are measured
    "fused QKV projection and scaled_dot_product_attention; precision (bf16 autocast or fp32/"
    "TF32), attention path with dropout, dropout mask, batch slices, AdamW kernel and SDPA backend "
    "chosen by timing them on the machine (docs/fast-variant.md); the compile variant adds "
    "torch.compile"
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


# The options a FastChoices holds beside the model file's own (FAST_OPTIONS in models/gpt.py).
PRECISIONS = {"fp32": None, "tf32": None, "bf16": torch.bfloat16}  # name -> autocast dtype
SESSION_OPTIONS = ("precision", "adamw", "sdpa_backend")


def default_fast_options(device: torch.device) -> dict[str, Any]:
    """What the fast variant uses before anything was measured: fp32 on CPU (bf16 is a gain
    on some CPUs and a loss on others, so only a measurement turns it on), bf16 on GPUs with
    bf16 tensor cores (fp16 would need a GradScaler the lecture loop does not have), fused
    AdamW, and the model's CPU remedies on CPU (docs/fast-variant.md)."""
    if device.type == "cuda":
        bf16 = torch.cuda.get_device_capability(device) >= (8, 0)
        return {"precision": "bf16" if bf16 else "tf32", "adamw": "fused",
                "sdpa_backend": "auto", "attention": "sdpa", "dropout_mask": "torch",
                "batch_slices": False}  # fmt: skip
    if device.type == "cpu":
        return {"precision": "fp32", "adamw": "fused", "attention": "explicit",
                "dropout_mask": "packed", "batch_slices": True}  # fmt: skip
    return {"precision": "fp32", "adamw": "foreach"}


def model_fast_options(spec: ModelSpec) -> dict[str, tuple[Any, ...]]:
    """The options a model file's fast variant declares (``FAST_OPTIONS``; none: empty)."""
    return dict(getattr(spec.module, "FAST_OPTIONS", {}))


def autocast_dtype(variant: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype a variant trains with before any measurement (None: plain fp32)."""
    if variant != "fast":
        return None
    return PRECISIONS[default_fast_options(device)["precision"]]


def optimizer_options(options: dict[str, Any]) -> dict[str, Any]:
    """AdamW keyword arguments for the fast variant's ``adamw`` choice (the lecture: none)."""
    return {"fused": True} if options.get("adamw") == "fused" else {}


def sdpa_backend_context(name: str) -> contextlib.AbstractContextManager[Any]:
    """Restrict scaled_dot_product_attention to one backend (``auto``: PyTorch picks)."""
    if name == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    backend = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
               "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}[name]  # fmt: skip
    return sdpa_kernel(backend)


@dataclass
class EvalPoint:
    step: int
    train_loss: float
    val_loss: float


@dataclass
class TrainResult:
    """What one lecture-style training run produced (so far, when it was stopped)."""

    iters: int
    seconds: float  # wall time of the whole loop, evaluations included
    evals: list[EvalPoint] = field(default_factory=list)
    steps_done: int = 0
    # mean training loss of the last steps (read after the timer stopped); None before a step
    recent_train_loss: float | None = None
    interrupted: bool = False

    @property
    def final(self) -> EvalPoint | None:
        return self.evals[-1] if self.evals else None


class TrainingStopped(Exception):
    """The loop was stopped (Ctrl-C or SIGTERM) and ``result`` holds what it had done."""

    def __init__(self, result: TrainResult, cause: BaseException):
        super().__init__(f"training stopped after {result.steps_done} steps")
        self.result = result
        self.cause = cause


class TrainingSession:
    """Model, optimizer and data of one training run on one device.

    The fast variant takes its machine-dependent options from ``fast_choices`` (measured by
    ``gpubench.core.tuning.tune_fast_variant``), or from ``default_fast_options`` without.
    Training and evaluation both run under them.
    """

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
        fast_choices: FastChoices | None = None,
    ):
        self.device = torch.device(device)
        self.config = config
        self.dataset = dataset
        self.variant = variant
        self.batch_size = int(config["batch_size"])
        self.block_size = int(config["block_size"])
        self.fast_options: dict[str, Any] = {}
        if variant == "fast":
            self.fast_options = dict(
                fast_choices.options if fast_choices else default_fast_options(self.device)
            )
        torch.manual_seed(seed)
        self.model = spec.build(config, dataset.vocab_size, variant).to(self.device)
        declared = model_fast_options(spec)
        model_options = {k: v for k, v in self.fast_options.items() if k in declared}
        if model_options:
            self.model.set_fast_options(**model_options)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=config["learning_rate"],
            **optimizer_options(self.fast_options),
        )
        self.dtype = PRECISIONS[self.fast_options.get("precision", "fp32")]
        self.sdpa_backend = str(self.fast_options.get("sdpa_backend", "auto"))
        if variant == "fast" and self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        self.compile_model = compile_model  # opt-in; compile() does it, as its own phase

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The fast variant's precision and SDPA backend, for training, evaluation, the FLOP
        count and the profile alike; on the step's path, so the common cases build no stack."""
        if self.sdpa_backend == "auto":
            if self.dtype is None:
                return contextlib.nullcontext()
            return torch.autocast(device_type=self.device.type, dtype=self.dtype)
        stack = contextlib.ExitStack()
        if self.dtype is not None:
            stack.enter_context(torch.autocast(device_type=self.device.type, dtype=self.dtype))
        stack.enter_context(sdpa_backend_context(self.sdpa_backend))
        return stack

    def step(self, batch: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """One training step; returns the loss tensor without reading it (no host sync).

        ``batch`` replaces the random draw (the tuning probe feeds every candidate the same).
        """
        if batch is None:
            batch = get_batch(self.dataset.train, self.batch_size, self.block_size, self.device)
        xb, yb = batch
        with self.autocast():
            _, loss = self.model(xb, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss

    def estimate_loss(
        self,
        eval_iters: int | None = None,
        on_batch: Callable[[int, int], None] | None = None,
    ) -> dict[str, float]:
        """Mean loss over ``eval_iters`` batches of each split, as the lecture's estimate_loss.

        ``on_batch(done, total)`` is called after each batch (``total`` = 2 x eval_iters): the
        ``train`` command's evaluation progress bar. Each batch reads its loss (a host sync)
        anyway, so the callback costs the timing nothing. No gradients: ``evaluating()``.
        """
        eval_iters = int(eval_iters or self.config["eval_iters"])
        out = {}
        done = 0
        with self.evaluating():
            for split in ("train", "val"):
                losses = torch.zeros(eval_iters)
                for k in range(eval_iters):
                    losses[k] = self.eval_batch_loss(split).item()
                    done += 1
                    if on_batch is not None:
                        on_batch(done, 2 * eval_iters)
                out[split] = losses.mean().item()
        return out

    @contextlib.contextmanager
    def evaluating(self) -> Iterator[None]:
        """Eval mode without gradients for the block, training mode afterwards."""
        self.model.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self.model.train()

    def eval_batch_loss(self, split: str) -> torch.Tensor:
        """The loss of one evaluation batch of ``split`` (inside ``evaluating()``); not read,
        so the caller decides where the host waits."""
        data = self.dataset.train if split == "train" else self.dataset.val
        xb, yb = get_batch(data, self.batch_size, self.block_size, self.device)
        with self.autocast():
            _, loss = self.model(xb, yb)
        return loss

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
        with self.evaluating():
            self.eval_batch_loss("val")
        self.sync()


def evaluation_steps(iters: int, eval_interval: int) -> list[int]:
    """The steps at which the lecture loop evaluates: 0, every eval_interval, and the last."""
    return [i for i in range(iters) if i % eval_interval == 0 or i == iters - 1]


RECENT_LOSSES = 10  # training losses averaged for a run without evaluations


def train(
    session: TrainingSession,
    iters: int,
    *,
    eval_interval: int | None = None,
    evaluate: bool = True,
    on_eval: Callable[[EvalPoint], None] | None = None,
    on_eval_batch: Callable[[int, int], None] | None = None,
    on_step: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> TrainResult:
    """The lecture loop: evaluate at step 0, every ``eval_interval`` and at the last step.

    ``evaluate=False`` is protocol ``train``: no evaluation at all inside the timed loop (the
    cost model's E = 0); the losses of the last steps are kept as tensors and read once the
    timer has stopped. A KeyboardInterrupt (Ctrl-C, or SIGTERM turned into one by
    gpubench.interrupts) becomes ``TrainingStopped`` carrying the partial result.
    """
    eval_interval = int(eval_interval or session.config["eval_interval"])
    result = TrainResult(iters=iters, seconds=0.0)
    recent: deque[torch.Tensor] = deque(maxlen=RECENT_LOSSES)
    session.sync()
    start = clock()
    try:
        for i in range(iters):
            if evaluate and (i % eval_interval == 0 or i == iters - 1):
                losses = session.estimate_loss(on_batch=on_eval_batch)
                point = EvalPoint(step=i, train_loss=losses["train"], val_loss=losses["val"])
                result.evals.append(point)
                if on_eval is not None:
                    on_eval(point)
            loss = session.step()
            recent.append(loss.detach())
            result.steps_done = i + 1
            if on_step is not None:
                on_step(i)
        session.sync()
        result.seconds = clock() - start
    except KeyboardInterrupt as stop:
        result.seconds = clock() - start
        result.interrupted = True
        result.recent_train_loss = _mean_loss(recent)
        raise TrainingStopped(result, stop) from None
    result.recent_train_loss = _mean_loss(recent)
    return result


def _mean_loss(losses: Collection[torch.Tensor]) -> float | None:
    """The mean of the kept loss tensors, read now (a host sync, after the timer)."""
    if not losses:
        return None
    return float(torch.stack([loss.float() for loss in losses]).mean().item())
