"""The lecture's bigram with token + position embeddings (n_embd=32) and an lm_head.

This is the variant whose generate() crashed on the GPU with
``Assertion `srcIndex < srcSelectDimSize` failed`` when the context grew past block_size:
generate() here crops the context to the last block_size tokens.
Model-file contract as in bigram.py; imports only torch.

Variant ``fast`` builds the same module: two lookups and one 32x65 matmul leave nothing to
fuse. It exists so that a sweep over variants runs every model; what differs in the fast
variant is the training loop's fused AdamW.
"""

import torch
import torch.nn as nn
from torch.nn import functional as F

VARIANTS = ("reference", "fast")

CONFIG = {
    "batch_size": 32,
    "block_size": 8,
    "learning_rate": 1e-3,
    "max_iters": 5000,
    "eval_interval": 500,
    "eval_iters": 200,
    "n_embd": 32,
}


class BigramPositionModel(nn.Module):
    def __init__(self, vocab_size: int, block_size: int, n_embd: int):
        super().__init__()
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T, C)
        pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))  # (T, C)
        logits = self.lm_head(tok_emb + pos_emb)  # (B, T, vocab)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            # Without this crop the position table is indexed past its rows.
            logits, _ = self(idx[:, -self.block_size :])
            probs = F.softmax(logits[:, -1, :], dim=-1)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


def build(config: dict, vocab_size: int, variant: str = "reference") -> nn.Module:
    """Both variants build the same module (see VARIANTS)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return BigramPositionModel(vocab_size, config["block_size"], config["n_embd"])
