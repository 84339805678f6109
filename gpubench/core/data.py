"""Training text: the tiny shakespeare corpus (downloaded, verified, cached), a local file,
or synthetic tokens; and the lecture's character tokenizer, 90/10 split and batch sampling.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpubench.errors import CorpusUnavailable, DataError

if TYPE_CHECKING:
    import torch

CORPUS_URL = (
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
)
CORPUS_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
CORPUS_CHARS = 1_115_394  # characters (all ASCII)
CORPUS_VOCAB = 65  # distinct characters
SYNTHETIC = "synthetic"


def cache_dir() -> Path:
    """Where the corpus is cached: the user cache dir (``~/.cache/gpubench`` on Linux)."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("GPUBENCH_CACHE_DIR") or user_cache_dir("gpubench"))


def corpus_url() -> str:
    """The canonical address; ``GPUBENCH_CORPUS_URL`` points at a mirror instead."""
    return os.environ.get("GPUBENCH_CORPUS_URL") or CORPUS_URL


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch_corpus(
    *, url: str | None = None, sha256: str = CORPUS_SHA256, directory: Path | None = None,
    timeout: float = 30.0,
) -> Path:  # fmt: skip
    """Return the cached corpus, downloading and verifying it first when needed.

    A cached file whose checksum does not match is discarded and fetched again; the
    download goes to a temporary file that is renamed into place only once verified.
    """
    url = url or corpus_url()
    directory = directory or cache_dir()
    target = directory / "tinyshakespeare.txt"
    if target.is_file():
        if _sha256(target) == sha256:
            return target
        target.unlink()
    directory.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=".download-")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                out.write(chunk)
        actual = _sha256(temp)
        if actual != sha256:
            raise CorpusUnavailable(
                f"the corpus downloaded from {url} has sha256 {actual[:12]}..., expected "
                f"{sha256[:12]}...; not using it"
            )
        os.replace(temp, target)
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise CorpusUnavailable(f"could not download the corpus from {url} ({reason})") from None
    finally:
        temp.unlink(missing_ok=True)
    return target


def read_text_file(path: Path) -> str:
    """Read a UTF-8 text file, refusing missing, empty or binary files with a clear error."""
    if not path.is_file():
        raise DataError(f"--data {path}: no such file")
    raw = path.read_bytes()
    if not raw:
        raise DataError(f"--data {path}: the file is empty")
    if b"\x00" in raw:
        raise DataError(f"--data {path}: looks binary (contains NUL bytes); expected UTF-8 text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"--data {path}: not UTF-8 text (bad byte at offset {error.start})"
        ) from None


@dataclass(frozen=True)
class TextSource:
    """Where the training tokens come from, and how outputs must label them."""

    label: str  # "tinyshakespeare", a file path, or "synthetic"
    text: str | None = field(default=None, repr=False)  # None for synthetic tokens
    path: str | None = None

    @property
    def synthetic(self) -> bool:
        return self.text is None


def resolve_source(
    data: str | None, *, allow_synthetic_fallback: bool
) -> tuple[TextSource, str | None]:  # noqa: E501
    """Pick the text to train on: ``--data``, then ``GPUBENCH_DATA``, then the corpus.

    Returns the source and a warning line when it fell back to synthetic tokens because
    the corpus could not be downloaded (allowed for timing runs only).
    """
    choice = data or os.environ.get("GPUBENCH_DATA")
    if choice == SYNTHETIC:
        return TextSource(label=SYNTHETIC), None
    if choice:
        path = Path(choice).expanduser()
        return TextSource(label=str(path), text=read_text_file(path), path=str(path)), None
    try:
        path = fetch_corpus()
    except CorpusUnavailable as error:
        if not allow_synthetic_fallback:
            raise
        warning = (
            f"{error.problem}; timing with synthetic tokens of the same shape; losses are not "
            "meaningful; pass --data FILE for real text"
        )
        return TextSource(label=SYNTHETIC), warning
    return TextSource(label="tinyshakespeare", text=read_text_file(path), path=str(path)), None


class CharTokenizer:
    """The lecture's character-level vocabulary: sorted distinct characters."""

    def __init__(self, chars: list[str]):
        self.chars = chars
        self._stoi = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        return [self._stoi[ch] for ch in text]

    def decode(self, ids: list[int]) -> str:
        return "".join(self.chars[i] if i < len(self.chars) else "?" for i in ids)


@dataclass
class Dataset:
    """Encoded tokens split 90/10 into train and validation, as the lecture does."""

    train: torch.Tensor
    val: torch.Tensor
    vocab_size: int
    tokenizer: CharTokenizer | None  # None for synthetic tokens
    source: TextSource

    def decode(self, ids: list[int]) -> str:
        if self.tokenizer is None:
            return "<synthetic tokens: no text>"
        return self.tokenizer.decode(ids)


def check_split_length(n_chars: int, min_length: int, label: str) -> None:
    """Both splits of the lecture's 90/10 split must hold ``min_length`` (block_size + 1)."""
    train = int(0.9 * n_chars)
    shortest = min(train, n_chars - train)
    if shortest < min_length:
        raise DataError(
            f"--data {label}: {n_chars} characters give a {shortest}-character split; each "
            f"split needs at least block_size + 1 = {min_length}, so the text has too few "
            "characters (the validation split is the last 10 %)"
        )


def build_dataset(source: TextSource, *, min_length: int = 2, seed: int = 1337) -> Dataset:
    """Encode the text (or draw synthetic tokens of the corpus's shape) and split it."""
    import torch

    if source.text is None:
        generator = torch.Generator().manual_seed(seed)
        data = torch.randint(CORPUS_VOCAB, (CORPUS_CHARS,), generator=generator, dtype=torch.long)
        tokenizer = None
        vocab_size = CORPUS_VOCAB
    else:
        tokenizer = CharTokenizer.from_text(source.text)
        data = torch.tensor(tokenizer.encode(source.text), dtype=torch.long)
        vocab_size = tokenizer.vocab_size
    check_split_length(len(data), min_length, source.label)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]
    return Dataset(train=train, val=val, vocab_size=vocab_size, tokenizer=tokenizer, source=source)


def get_batch(
    data: torch.Tensor, batch_size: int, block_size: int, device: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``batch_size`` random windows (inputs and next-token targets), as the lecture."""
    import torch

    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i : i + block_size] for i in ix])
    y = torch.stack([data[i + 1 : i + block_size + 1] for i in ix])
    return x.to(device), y.to(device)
