"""The lecture's GPT: pre-LayerNorm transformer decoder, character level.

As in the lecture's final script: separate key/query/value projections per head without
bias, scores scaled by head_size ** -0.5, causal mask, dropout on the attention weights,
on the projections and in the 4x ReLU feed-forward, final LayerNorm, lm_head; weights
initialised normal(0, 0.02), biases zero. With vocab 65 it has 10,788,929 parameters.
Model-file contract as in bigram.py; imports only torch.

Variant ``fast`` is the same network done the way one would in production: the per-head
key/query/value projections fused into one Linear (its weight is their concatenation) and
``scaled_dot_product_attention`` with the causal flag, attention dropout and the lecture's
scale kept. It is converted from a freshly built reference model, so under the same seed both
variants start from identical weights and consume the random stream identically.
"""

import torch
import torch.nn as nn
from torch.nn import functional as F

VARIANTS = ("reference", "fast")

CONFIG = {
    "batch_size": 64,
    "block_size": 256,
    "learning_rate": 3e-4,
    "max_iters": 5000,
    "eval_interval": 500,
    "eval_iters": 200,
    "n_embd": 384,
    "n_head": 6,
    "n_layer": 6,
    "dropout": 0.2,
}


class Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, n_embd: int, head_size: int, block_size: int, dropout: float):
        super().__init__()
        self.key = nn.Linear(n_embd, head_size, bias=False)
        self.query = nn.Linear(n_embd, head_size, bias=False)
        self.value = nn.Linear(n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(block_size, block_size)))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        B, T, C = x.shape
        k = self.key(x)  # (B, T, hs)
        q = self.query(x)  # (B, T, hs)
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))
        wei = F.softmax(wei, dim=-1)
        wei = self.dropout(wei)
        v = self.value(x)  # (B, T, hs)
        return wei @ v  # (B, T, hs)


class MultiHeadAttention(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float):
        super().__init__()
        head_size = n_embd // n_head
        self.heads = nn.ModuleList(
            [Head(n_embd, head_size, block_size, dropout) for _ in range(n_head)]
        )
        self.proj = nn.Linear(head_size * n_head, n_embd)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)  # (B, T, C)
        return self.dropout(self.proj(out))


class FeedForward(nn.Module):
    def __init__(self, n_embd: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.ReLU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(dropout),
        )

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    """Transformer block: communication (attention) then computation (feed-forward)."""

    def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float):
        super().__init__()
        self.sa = MultiHeadAttention(n_embd, n_head, block_size, dropout)
        self.ffwd = FeedForward(n_embd, dropout)
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        return x + self.ffwd(self.ln2(x))


class GPTLanguageModel(nn.Module):
    def __init__(self, vocab_size: int, config: dict):
        super().__init__()
        n_embd, block_size = config["n_embd"], config["block_size"]
        self.block_size = block_size
        self.token_embedding_table = nn.Embedding(vocab_size, n_embd)
        self.position_embedding_table = nn.Embedding(block_size, n_embd)
        self.blocks = nn.Sequential(
            *[
                Block(n_embd, config["n_head"], block_size, config["dropout"])
                for _ in range(config["n_layer"])
            ]
        )
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size)
        self.apply(self._init_weights)

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        B, T = idx.shape
        tok_emb = self.token_embedding_table(idx)  # (B, T, C)
        pos_emb = self.position_embedding_table(torch.arange(T, device=idx.device))  # (T, C)
        x = self.blocks(tok_emb + pos_emb)  # (B, T, C)
        logits = self.lm_head(self.ln_f(x))  # (B, T, vocab)
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        loss = F.cross_entropy(logits.view(B * T, C), targets.view(B * T))
        return logits, loss

    @torch.no_grad()
    def generate(self, idx, max_new_tokens):
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.block_size :])  # crop: positions stop at block_size
            probs = F.softmax(logits[:, -1, :], dim=-1)  # (B, vocab)
            idx = torch.cat((idx, torch.multinomial(probs, num_samples=1)), dim=1)
        return idx


class CausalSelfAttention(nn.Module):
    """All heads at once: one fused QKV projection and scaled_dot_product_attention."""

    def __init__(self, qkv: nn.Linear, proj: nn.Linear, n_head: int, dropout: float):
        super().__init__()
        self.qkv = qkv  # (C -> 3C): rows are [queries of all heads; keys; values], no bias
        self.proj = proj
        self.dropout = nn.Dropout(dropout)
        self.n_head = n_head
        self.attn_dropout = dropout

    @classmethod
    def from_reference(cls, mha: MultiHeadAttention) -> CausalSelfAttention:
        """Fuse a reference block's per-head projections; shares proj, copies q/k/v weights."""
        weight = torch.cat(
            [
                torch.cat([getattr(h, name).weight for h in mha.heads])
                for name in ("query", "key", "value")
            ]
        )  # (3C, C)
        n_embd = weight.shape[1]
        # skip_init: no random init to overwrite, so building does not consume the RNG stream.
        qkv = torch.nn.utils.skip_init(
            nn.Linear, n_embd, 3 * n_embd, bias=False, device=weight.device, dtype=weight.dtype
        )
        with torch.no_grad():
            qkv.weight.copy_(weight)
        return cls(qkv, mha.proj, len(mha.heads), mha.dropout.p)

    def forward(self, x):
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        out = F.scaled_dot_product_attention(  # (B, nh, T, hs)
            q,
            k,
            v,
            dropout_p=self.attn_dropout if self.training else 0.0,
            is_causal=True,
            scale=(C // self.n_head) ** -0.5,
        )
        out = out.transpose(1, 2).reshape(B, T, C)  # heads side by side, as torch.cat did
        return self.dropout(self.proj(out))


def build(config: dict, vocab_size: int, variant: str = "reference") -> nn.Module:
    model = GPTLanguageModel(vocab_size, config)
    if variant == "fast":
        for block in model.blocks:
            block.sa = CausalSelfAttention.from_reference(block.sa)
    elif variant != "reference":
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    return model
