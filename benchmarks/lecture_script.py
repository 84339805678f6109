"""The nano-GPT lecture's final script (gpt.py), transcribed for benchmark 2: its classes, its
get_batch and the body of its training loop, with nothing of gpubench in it.

The only change from the lecture: its module-level hyperparameters (n_embd, n_head, ...)
arrive as one ``Hyperparameters`` object, so the benchmark can use the same config as
gpubench. Names, layer order and initialisation are the lecture's (FeedFoward sic).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass(frozen=True)
class Hyperparameters:
    batch_size: int
    block_size: int
    learning_rate: float
    n_embd: int
    n_head: int
    n_layer: int
    dropout: float
    vocab_size: int
    device: str = "cpu"


class Head(nn.Module):
    """one head of self-attention"""

    def __init__(self, hp: Hyperparameters, head_size: int):
        super().__init__()
        self.key = nn.Linear(hp.n_embd, head_size, bias=False)
        self.query = nn.Linear(hp.n_embd, head_size, bias=False)
        self.value = nn.Linear(hp.n_embd, head_size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(hp.block_size, hp.block_size)))
        self.dropout = nn.Dropout(hp.dropout)

    def forward(self, x):
        # input of size (batch, time-step, channels)
        # output of size (batch, time-step, head size)
        B, T, C = x.shape
        k = self.key(x)  # (B,T,hs)
        q = self.query(x)  # (B,T,hs)
        # compute attention scores ("affinities")
        wei = q @ k.transpose(-2, -1) * k.shape[-1] ** -0.5  # (B, T, hs) @ (B, hs, T) -> (B, T, T)
        wei = wei.masked_fill(self.tril[:T, :T] == 0, float("-inf"))  # (B, T, T)
        wei = F.softmax(wei, dim=-1)  # (B, T, T)
        wei = self.dropout(wei)
        # perform the weighted aggregation of the values
        v = self.value(x)  # (B,T,hs)
        out = wei @ v  # (B, T, T) @ (B, T, hs) -> (B, T, hs)
        return out


class MultiHeadAttention(nn.Module):
    """multiple heads of self-attention in parallel"""

    def __init__(self, hp: Hyperparameters, num_heads: int, head_size: int):
        super().__init__()
        self.heads = nn.ModuleList([Head(hp, head_size) for _ in range(num_heads)])
        self.proj = nn.Linear(head_size * num_heads, hp.n_embd)
        self.dropout = nn.Dropout(hp.dropout)

    def forward(self, x):
        out = torch.cat([h(x) for h in self.heads], dim=-1)
        out = self.dropout(self.proj(out))
        return out


class FeedFoward(nn.Module):
    """a simple linear layer followed by a non-linearity"""

    def __init__(self, hp: Hyperparameters, n_embd: int):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_embd, 4 * n_embd),
            nn.ReLU(),
            nn.Linear(4 * n_embd, n_embd),
            nn.Dropout(hp.dropout),
        )

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    """Transformer block: communication followed by computation"""

    def __init__(self, hp: Hyperparameters, n_embd: int, n_head: int):
        # n_embd: embedding dimension, n_head: the number of heads we'd like
        super().__init__()
        head_size = n_embd // n_head
        self.sa = MultiHeadAttention(hp, n_head, head_size)
        self.ffwd = FeedFoward(hp, n_embd)
        self.ln1 = nn.LayerNorm(n_embd)
        self.ln2 = nn.LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.sa(self.ln1(x))
        x = x + self.ffwd(self.ln2(x))
        return x


class GPTLanguageModel(nn.Module):
    def __init__(self, hp: Hyperparameters):
        super().__init__()
        self.hp = hp
        # each token directly reads off the logits for the next token from a lookup table
        self.token_embedding_table = nn.Embedding(hp.vocab_size, hp.n_embd)
        self.position_embedding_table = nn.Embedding(hp.block_size, hp.n_embd)
        self.blocks = nn.Sequential(
            *[Block(hp, hp.n_embd, n_head=hp.n_head) for _ in range(hp.n_layer)]
        )
        self.ln_f = nn.LayerNorm(hp.n_embd)  # final layer norm
        self.lm_head = nn.Linear(hp.n_embd, hp.vocab_size)

        # better init, not covered in the original GPT video, but important, will cover in
        # followup video
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

        # idx and targets are both (B,T) tensor of integers
        tok_emb = self.token_embedding_table(idx)  # (B,T,C)
        pos_emb = self.position_embedding_table(torch.arange(T, device=self.hp.device))  # (T,C)
        x = tok_emb + pos_emb  # (B,T,C)
        x = self.blocks(x)  # (B,T,C)
        x = self.ln_f(x)  # (B,T,C)
        logits = self.lm_head(x)  # (B,T,vocab_size)

        if targets is None:
            loss = None
        else:
            B, T, C = logits.shape
            logits = logits.view(B * T, C)
            targets = targets.view(B * T)
            loss = F.cross_entropy(logits, targets)

        return logits, loss


class LectureTraining:
    """The lecture script's data loading, model, optimizer and loop body, nothing else."""

    def __init__(self, hp: Hyperparameters, train_data: torch.Tensor, seed: int = 1337):
        torch.manual_seed(seed)
        self.hp = hp
        self.train_data = train_data
        self.model = GPTLanguageModel(hp).to(hp.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=hp.learning_rate)

    def get_batch(self):
        # generate a small batch of data of inputs x and targets y
        data = self.train_data
        block_size, batch_size = self.hp.block_size, self.hp.batch_size
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([data[i : i + block_size] for i in ix])
        y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])
        x, y = x.to(self.hp.device), y.to(self.hp.device)
        return x, y

    def step(self):
        # the body of the lecture's `for iter in range(max_iters):` minus the evaluation
        xb, yb = self.get_batch()
        logits, loss = self.model(xb, yb)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
