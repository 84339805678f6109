"""The lecture's GPT: pre-LayerNorm transformer decoder, character level.

As in the lecture's final script: separate key/query/value projections per head without
bias, scores scaled by head_size ** -0.5, causal mask, dropout on the attention weights,
on the projections and in the 4x ReLU feed-forward, final LayerNorm, lm_head; weights
initialised normal(0, 0.02), biases zero. With vocab 65 it has 10,788,929 parameters.
Model-file contract as in bigram.py; imports only torch.

Variant ``fast`` is the same network done the way one would in production: the per-head
key/query/value projections fused into one Linear (its weight is their concatenation) and
``scaled_dot_product_attention`` with the causal flag, attention dropout and the lecture's
scale kept. Its machine-dependent options (FAST_OPTIONS: the attention path in training,
the dropout mask, running the batch in slices) are set with ``set_fast_options``; gpubench
picks them by timing them on the machine at hand. It is built as the reference is and then
converted, so under the same seed both variants start from identical weights.
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


# --- variant "fast" -------------------------------------------------------------------------
# Measured on 2-core AVX-512 CPUs (torch 2.13, lecture width, see benchmarks/README.md): the
# step's time outside the matmuls can go to drawing dropout masks (bernoulli_ took ~9 ns an
# element on one of them) and to page-faulting activations too large for the allocator to
# reuse (glibc mmaps blocks over 32 MiB and unmaps them on free: at the lecture's batch of 64
# the attention scores and the feed-forward's hidden layer are 100 MB each, in every layer,
# every step). With attention dropout, SDPA on CPU takes its math path. Which of these matters
# depends on the machine, so each remedy is an option, and gpubench times them on the machine
# at hand (docs/fast-variant.md).

FAST_OPTIONS = {  # option: its values; set_fast_options takes them by name
    "attention": ("sdpa", "explicit"),  # attention with dropout: SDPA, or the function below
    "dropout_mask": ("torch", "packed"),  # torch's dropout kernel, or keep_mask
    "batch_slices": (False, True),  # run the batch in slices of ACTIVATION_SLICE_BYTES
}
ACTIVATION_SLICE_BYTES = 16 * 2**20  # half glibc's largest mmap threshold, so blocks are reused


def keep_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """Bernoulli(1 - p) mask from 32-bit random lanes, two per 64-bit draw of torch's RNG.

    Same distribution as ``nn.Dropout``'s (to 2**-32) at well under half the cost of
    ``bernoulli_`` on one 2-core CPU (24 vs 57 ms for 6.3M elements); seeded by
    ``torch.manual_seed`` like everything else.
    """
    n = shape.numel()
    bits = torch.randint(-(2**63), 2**63 - 1, ((n + 1) // 2,), dtype=torch.int64, device=device)
    threshold = round((1.0 - p) * 2**32) - 2**31  # lanes are uniform on [-2**31, 2**31)
    return bits.view(torch.int32)[:n].view(shape) < threshold


def bernoulli_mask(shape: torch.Size, p: float, device: torch.device) -> torch.Tensor:
    """The same mask drawn the way ``nn.Dropout`` draws it."""
    return torch.empty(shape, device=device).bernoulli_(1.0 - p).bool()


class FastDropout(nn.Module):
    """``nn.Dropout`` whose mask is torch's dropout kernel or ``keep_mask`` (``mask``)."""

    def __init__(self, p: float, mask: str = "torch"):
        super().__init__()
        self.p = p
        self.mask = mask

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        if self.mask == "torch":
            return F.dropout(x, self.p, training=True)
        return (x * keep_mask(x.shape, self.p, x.device)).mul_(1.0 / (1.0 - self.p))


def causal_attention_with_dropout(
    q, k, v, dropout: float, scale: float, mask: str = "packed"
) -> torch.Tensor:
    """softmax(q·kᵀ·scale + causal mask), dropout on the weights, times v; as the lecture."""
    B, nh, T, hs = q.shape  # (B, nh, T, hs)
    n = B * nh
    draw = keep_mask if mask == "packed" else bernoulli_mask
    causal = torch.full((T, T), float("-inf"), device=q.device).triu_(1)  # 0 on and below
    att = torch.baddbmm(causal, q.reshape(n, T, hs), k.reshape(n, T, hs).mT, alpha=scale)
    att = att.softmax(dim=-1) * draw(att.shape, dropout, att.device)  # (n, T, T)
    out = torch.bmm(att, v.reshape(n, T, hs)).view(B, nh, T, hs)
    return out.mul_(1.0 / (1.0 - dropout))  # dropout's rescale, on the small side


class CausalSelfAttention(nn.Module):
    """All heads at once: one fused QKV projection, then scaled_dot_product_attention."""

    def __init__(self, qkv: nn.Linear, proj: nn.Linear, n_head: int, dropout: float):
        super().__init__()
        self.qkv = qkv  # (C -> 3C): rows are [queries of all heads; keys; values], no bias
        self.proj = proj
        self.dropout = FastDropout(dropout)
        self.n_head = n_head
        self.attn_dropout = dropout
        self.attention = "sdpa"  # FAST_OPTIONS["attention"]

    @classmethod
    def from_reference(cls, mha: MultiHeadAttention) -> "CausalSelfAttention":
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
        hs = C // self.n_head
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))
        dropout = self.attn_dropout if self.training else 0.0
        if dropout > 0.0 and self.attention == "explicit":  # SDPA without its math path
            out = causal_attention_with_dropout(q, k, v, dropout, hs**-0.5, self.dropout.mask)
        else:
            out = F.scaled_dot_product_attention(  # (B, nh, T, hs)
                q, k, v, dropout_p=dropout, is_causal=True, scale=hs**-0.5
            )
        out = out.transpose(1, 2).reshape(B, T, C)  # heads side by side, as torch.cat did
        return self.dropout(self.proj(out))


class FastGPTLanguageModel(GPTLanguageModel):
    """The lecture GPT with fused attention and the options of FAST_OPTIONS (see above)."""

    def __init__(self, vocab_size: int, config: dict):
        super().__init__(vocab_size, config)  # the reference's modules, init and RNG draws
        for block in self.blocks:
            block.sa = CausalSelfAttention.from_reference(block.sa)
            block.ffwd.net[3] = FastDropout(block.ffwd.net[3].p)
        self.batch_slices = False

    def set_fast_options(self, attention=None, dropout_mask=None, batch_slices=None):
        """Set the machine-dependent options (FAST_OPTIONS); None leaves one as it is."""
        for name, value in (("attention", attention), ("dropout_mask", dropout_mask),
                            ("batch_slices", batch_slices)):  # fmt: skip
            if value is not None and value not in FAST_OPTIONS[name]:
                raise ValueError(f"{name}={value!r}; expected one of {FAST_OPTIONS[name]}")
        for block in self.blocks:
            if attention is not None:
                block.sa.attention = attention
            if dropout_mask is not None:
                block.sa.dropout.mask = dropout_mask
                block.ffwd.net[3].mask = dropout_mask
        if batch_slices is not None:
            self.batch_slices = batch_slices
        return self

    def slice_rows(self, T: int) -> int:
        """Sequences per slice: the (rows·nh, T, T) scores and (rows·T, 4C) hidden layer
        each stay within ACTIVATION_SLICE_BYTES. Every op is per sequence, so slicing
        changes nothing but the order of the dropout draws."""
        n_embd, n_head = self.lm_head.in_features, self.blocks[0].sa.n_head
        per_sequence = max(n_head * T * T, T * 4 * n_embd) * self.lm_head.weight.element_size()
        return max(1, ACTIVATION_SLICE_BYTES // per_sequence)

    def forward(self, idx, targets=None):
        if not self.batch_slices:
            return super().forward(idx, targets)
        parts = idx.split(self.slice_rows(idx.shape[1]))
        logits = torch.cat([GPTLanguageModel.forward(self, part)[0] for part in parts])
        if targets is None:
            return logits, None
        B, T, C = logits.shape
        return logits, F.cross_entropy(logits.view(B * T, C), targets.view(B * T))


def build(config: dict, vocab_size: int, variant: str = "reference") -> nn.Module:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    model_class = FastGPTLanguageModel if variant == "fast" else GPTLanguageModel
    return model_class(vocab_size, config)
