"""The lecture's bigram model: one vocab x vocab embedding table gives the next-token logits.

Model-file contract: CONFIG, build(config, vocab_size) -> module with
forward(idx, targets=None) -> (logits, loss) and generate(idx, max_new_tokens) -> idx.
This file imports only torch.

Variant ``fast`` builds the same module: the forward pass is one table lookup, with nothing
to fuse. It exists so that a sweep over variants runs every model; what differs in the
fast variant is the training loop's fused AdamW.
"""

import torch
import torch.nn as nn
from torch.nn import functional as F

VARIANTS = ("reference", "fast")

CONFIG = {
    "batch_size": 32,
    "block_size": 8,
    "learning_rate": 1e-2,
    "max_iters": 3000,
    "eval_interval": 300,
    "eval_iters": 200,
}


class BigramLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, block_size: int):
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

    def forward(self, idx, targets=None):
        logits = self.token_embedding_table(idx)  # (B, T, vocab)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.block_size :])  # only the last token matters here
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B, vocab)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


def build(config: dict, vocab_size: int, variant: str = "reference") -> nn.Module:
    """Both variants build the same module (see VARIANTS)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return BigramLanguageModel(vocab_size, config["block_size"])
