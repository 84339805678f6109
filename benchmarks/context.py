"""What every benchmark shares: the GPT config (quick or the full lecture one), synthetic
tokens of the corpus's shape, and a way to build gpubench training sessions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from gpubench.core.data import Dataset, TextSource, build_dataset
from gpubench.core.models import ModelSpec, load_model
from gpubench.core.training import TrainingSession

# The lecture GPT's width and context, shallower and on a smaller batch: ~0.6 s a step on a
# 2-core CPU instead of ~10 s, with the same per-layer shapes as the lecture.
QUICK_OVERRIDES = {"n_layer": 2, "batch_size": 16}


@dataclass
class BenchContext:
    """The model, config, data and repetition count one run of the benchmarks uses."""

    spec: ModelSpec
    config: dict[str, Any]
    dataset: Dataset
    repeats: int
    threads: int
    full: bool

    @property
    def label(self) -> str:
        c = self.config
        size = "lecture config" if self.full else "quick config"
        return (
            f"gpt {size}: n_layer={c['n_layer']} n_head={c['n_head']} n_embd={c['n_embd']} "
            f"block_size={c['block_size']} batch_size={c['batch_size']} dropout={c['dropout']}"
            f", {self.threads} CPU thread(s), synthetic tokens (vocab {self.dataset.vocab_size})"
        )

    def session(self, variant: str, device: str = "cpu") -> TrainingSession:
        return TrainingSession(self.spec, dict(self.config), self.dataset, device, variant=variant)


def make_context(*, full: bool, repeats: int, threads: int) -> BenchContext:
    """Build the shared context; sets torch's thread count for every benchmark."""
    torch.set_num_threads(threads)
    spec = load_model("gpt")
    config = spec.defaults
    if not full:
        config.update(QUICK_OVERRIDES)
    # Timing does not depend on which characters are trained on; synthetic tokens keep the
    # benchmarks offline and the same everywhere.
    dataset = build_dataset(TextSource(label="synthetic"))
    return BenchContext(spec, config, dataset, repeats, threads, full)
