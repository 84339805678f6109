"""Shared fixtures: the real corpus (when present), tiny texts and configs, and no internet."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The shared corpus lives beside the checkout on these machines, never inside it.
CORPUS = PROJECT_ROOT / ".." / "shared" / "data" / "tinyshakespeare" / "input.txt"

# Where no test may ever connect: port 9 (discard) on the loopback address refuses at once.
UNROUTABLE_CORPUS_URL = "http://127.0.0.1:9/input.txt"

# `--set` overrides that make the lecture GPT tiny (seconds, not hours, on a CPU).
TINY_GPT_OVERRIDES = ["n_layer=1", "n_embd=32", "n_head=2", "block_size=16", "batch_size=4"]

_WORDS = ("the", "king", "shall", "speak", "to", "my", "lord", "and", "queen", "wörld",
          "naïve", "Thou", "art", "not", "dead", "yet,", "sir;", "go!")  # fmt: skip


def make_tiny_text(length: int = 4000, seed: int = 0) -> str:
    """Deterministic UTF-8 text of exactly ``length`` characters made of a few words (so a
    bigram has structure to learn), with some non-ASCII letters."""
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < length:
        word = rng.choice(_WORDS) + ("\n" if rng.random() < 0.1 else " ")
        parts.append(word)
        size += len(word)
    return "".join(parts)[:length]


@pytest.fixture(autouse=True)
def _offline_and_isolated_cache(tmp_path_factory, monkeypatch):
    """Never touch the internet or the user's cache; no GPUBENCH_DATA from the caller."""
    monkeypatch.setenv("GPUBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("GPUBENCH_CORPUS_URL", UNROUTABLE_CORPUS_URL)
    monkeypatch.delenv("GPUBENCH_DATA", raising=False)


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread for this test, then restore. Tiny models gain nothing from
    threads, and on a busy 2-core box OpenMP barriers can cost ~8 ms per op. Modules that
    train opt in with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def corpus_path() -> Path:
    """The real tiny shakespeare corpus; skips where ../shared/data is absent (a fresh clone)."""
    if not CORPUS.is_file():
        pytest.skip(f"needs the tiny shakespeare corpus at {CORPUS.resolve()} (absent here)")
    return CORPUS.resolve()


@pytest.fixture
def tiny_text() -> str:
    return make_tiny_text()


@pytest.fixture
def tiny_text_file(tmp_path, tiny_text) -> Path:
    path = tmp_path / "tiny.txt"
    path.write_text(tiny_text, encoding="utf-8")
    return path


@pytest.fixture
def tiny_gpt_overrides() -> list[str]:
    return list(TINY_GPT_OVERRIDES)


@pytest.fixture
def run_cli(monkeypatch, capsys):
    """Run the real entry point (``gpubench.cli.main``) in this process: returns
    (exit code, stdout, stderr). Usage errors that click itself raises (a bad choice) are one
    line only through it, as a user running ``gpubench`` sees them."""
    from gpubench.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.argv", ["gpubench", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        out = capsys.readouterr()
        return int(exited.value.code or 0), out.out, out.err

    return run
