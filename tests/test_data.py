"""Training text: the corpus download through a real local HTTP server (never the internet),
local files, synthetic tokens, the character tokenizer, the 90/10 split and batches."""

from __future__ import annotations

import hashlib
import http.server
import threading
from functools import partial
from pathlib import Path

import pytest
import torch

from gpubench.core import data
from gpubench.core.data import (
    CORPUS_CHARS,
    CORPUS_VOCAB,
    CharTokenizer,
    TextSource,
    build_dataset,
    fetch_corpus,
    get_batch,
    read_text_file,
    resolve_source,
)
from gpubench.errors import CorpusUnavailable, DataError, UsageError
from tests.conftest import UNROUTABLE_CORPUS_URL

PAYLOAD = b"First Citizen:\nBefore we proceed any further, hear me speak.\n" * 50
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """A real HTTP server on 127.0.0.1 serving one folder, counting the requests it gets."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(Handler, directory=str(root))
        )
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/{name}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def served(tmp_path):
    """A local server whose ``input.txt`` is PAYLOAD."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "input.txt").write_bytes(PAYLOAD)
    server = _Server(root)
    yield server
    server.close()


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "cache"


def _files(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- download, verify, cache -------------------------------------------------------------


def test_download_with_matching_checksum_is_cached_and_not_fetched_again(served, cache):
    url = served.url("input.txt")
    path = fetch_corpus(url=url, sha256=PAYLOAD_SHA256, directory=cache)
    assert path == cache / "tinyshakespeare.txt"
    assert path.read_bytes() == PAYLOAD
    assert served.requests == ["/input.txt"]
    assert _files(cache) == ["tinyshakespeare.txt"]  # no temp file left behind

    again = fetch_corpus(url=url, sha256=PAYLOAD_SHA256, directory=cache)
    assert again == path
    assert served.requests == ["/input.txt"]  # served from the cache


def test_download_with_wrong_checksum_is_refused_and_nothing_cached(served, cache):
    url = served.url("input.txt")
    with pytest.raises(CorpusUnavailable) as caught:
        fetch_corpus(url=url, sha256="0" * 64, directory=cache)
    message = str(caught.value)
    assert f"the corpus downloaded from {url} has sha256 {PAYLOAD_SHA256[:12]}..." in message
    assert "expected 000000000000...; not using it" in message
    assert "--data FILE" in message
    assert _files(cache) == []
    assert not isinstance(caught.value, UsageError)  # an environment failure: exit 1


def test_offline_names_the_address_and_data_option(cache):
    with pytest.raises(CorpusUnavailable) as caught:
        fetch_corpus(directory=cache, timeout=5)  # the address from GPUBENCH_CORPUS_URL
    message = str(caught.value)
    assert message.startswith(f"could not download the corpus from {UNROUTABLE_CORPUS_URL} (")
    assert message.endswith("pass --data FILE to use a local text file")
    assert "\n" not in message
    assert _files(cache) == []


def test_http_error_is_corpus_unavailable(served, cache):
    url = served.url("missing.txt")
    with pytest.raises(
        CorpusUnavailable, match=r"could not download the corpus from .*missing\.txt"
    ):
        fetch_corpus(url=url, sha256=PAYLOAD_SHA256, directory=cache)
    assert served.requests == ["/missing.txt"]
    assert _files(cache) == []


def test_corrupt_cached_file_is_replaced(served, cache):
    cache.mkdir()
    (cache / "tinyshakespeare.txt").write_bytes(PAYLOAD[:-10] + b"corrupted!")
    path = fetch_corpus(url=served.url("input.txt"), sha256=PAYLOAD_SHA256, directory=cache)
    assert path.read_bytes() == PAYLOAD
    assert served.requests == ["/input.txt"]
    assert _files(cache) == ["tinyshakespeare.txt"]


def test_corrupt_cached_file_is_discarded_even_when_offline(cache):
    cache.mkdir()
    (cache / "tinyshakespeare.txt").write_bytes(b"truncated")
    with pytest.raises(CorpusUnavailable, match="could not download"):
        fetch_corpus(url=UNROUTABLE_CORPUS_URL, sha256=PAYLOAD_SHA256, directory=cache)
    assert _files(cache) == []


def test_cache_dir_and_url_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("GPUBENCH_CACHE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.setenv("GPUBENCH_CORPUS_URL", "http://127.0.0.1:9/mirror.txt")
    assert data.cache_dir() == tmp_path / "elsewhere"
    assert data.corpus_url() == "http://127.0.0.1:9/mirror.txt"
    monkeypatch.delenv("GPUBENCH_CORPUS_URL")
    assert data.corpus_url() == data.CORPUS_URL
    assert data.CORPUS_URL.startswith("https://")


def test_real_corpus_through_local_server_end_to_end(corpus_path, monkeypatch):
    """The default checksum, cache dir and URL from the environment, then resolve_source."""
    server = _Server(corpus_path.parent)
    try:
        monkeypatch.setenv("GPUBENCH_CORPUS_URL", server.url(corpus_path.name))
        source, warning = resolve_source(None, allow_synthetic_fallback=False)
        assert warning is None
        assert source.label == "tinyshakespeare"
        assert not source.synthetic
        assert len(source.text) == CORPUS_CHARS
        assert Path(source.path) == data.cache_dir() / "tinyshakespeare.txt"
        resolve_source(None, allow_synthetic_fallback=False)
        assert server.requests == [f"/{corpus_path.name}"]
    finally:
        server.close()
    dataset = build_dataset(source)
    assert dataset.vocab_size == CORPUS_VOCAB
    assert (len(dataset.train), len(dataset.val)) == (1_003_854, 111_540)


# --- local text files --------------------------------------------------------------------


def test_read_text_file_reads_utf8(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("naïve wörld\n", encoding="utf-8")
    assert read_text_file(path) == "naïve wörld\n"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"no such file"),
        (b"", r"the file is empty"),
        (b"PK\x03\x04\x00\x00binary", r"looks binary \(contains NUL bytes\); expected UTF-8 text"),
        (b"caf\xe9 latin-1", r"not UTF-8 text \(bad byte at offset 3\)"),
    ],
    ids=["missing", "empty", "binary", "not-utf8"],
)
def test_read_text_file_refuses_bad_files(tmp_path, content, message):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        read_text_file(path)
    assert str(caught.value).startswith(f"--data {path}: ")
    assert isinstance(caught.value, UsageError)  # exit code 2


def test_directory_is_not_a_data_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        read_text_file(tmp_path)


# --- choosing the source -----------------------------------------------------------------


def test_resolve_source_synthetic():
    source, warning = resolve_source("synthetic", allow_synthetic_fallback=False)
    assert (source.label, source.synthetic, source.text, warning) == ("synthetic", True, None, None)


def test_resolve_source_data_file(tiny_text_file, tiny_text):
    source, warning = resolve_source(str(tiny_text_file), allow_synthetic_fallback=False)
    assert warning is None
    assert source.text == tiny_text
    assert source.label == source.path == str(tiny_text_file)


def test_resolve_source_missing_data_file_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        resolve_source(str(tmp_path / "nope.txt"), allow_synthetic_fallback=True)


def test_resolve_source_from_gpubench_data(monkeypatch, tiny_text_file, tiny_text):
    monkeypatch.setenv("GPUBENCH_DATA", str(tiny_text_file))
    source, warning = resolve_source(None, allow_synthetic_fallback=False)
    assert (source.text, source.path, warning) == (tiny_text, str(tiny_text_file), None)
    monkeypatch.setenv("GPUBENCH_DATA", "synthetic")
    assert resolve_source(None, allow_synthetic_fallback=False)[0].synthetic


def test_data_option_wins_over_gpubench_data(monkeypatch, tiny_text_file):
    monkeypatch.setenv("GPUBENCH_DATA", str(tiny_text_file))
    source, _ = resolve_source("synthetic", allow_synthetic_fallback=False)
    assert source.synthetic


def test_offline_without_fallback_raises():
    with pytest.raises(CorpusUnavailable, match=r"127\.0\.0\.1:9/input\.txt.*--data FILE"):
        resolve_source(None, allow_synthetic_fallback=False)


def test_offline_with_fallback_warns_loudly_and_goes_synthetic():
    source, warning = resolve_source(None, allow_synthetic_fallback=True)
    assert source.synthetic and source.label == "synthetic"
    assert warning is not None and "\n" not in warning
    assert warning.startswith(f"could not download the corpus from {UNROUTABLE_CORPUS_URL}")
    assert "synthetic tokens of the same shape" in warning
    assert "losses are not meaningful" in warning
    assert "--data FILE" in warning


# --- tokenizer, split, batches -----------------------------------------------------------


def test_tokenizer_round_trip(tiny_text):
    tokenizer = CharTokenizer.from_text(tiny_text)
    assert tokenizer.chars == sorted(set(tiny_text))
    assert tokenizer.vocab_size == len(set(tiny_text))
    ids = tokenizer.encode(tiny_text)
    assert len(ids) == len(tiny_text)
    assert tokenizer.decode(ids) == tiny_text


def test_tokenizer_is_the_lectures_sorted_vocabulary():
    tokenizer = CharTokenizer.from_text("hello")
    assert tokenizer.chars == ["e", "h", "l", "o"]
    assert tokenizer.encode("hello") == [1, 0, 2, 2, 3]
    assert tokenizer.decode([3, 2, 0, 9]) == "ole?"


def test_build_dataset_splits_90_10(tiny_text):
    dataset = build_dataset(TextSource(label="tiny", text=tiny_text))
    assert len(tiny_text) == 4000
    assert (len(dataset.train), len(dataset.val)) == (3600, 400)
    encoded = torch.tensor(CharTokenizer.from_text(tiny_text).encode(tiny_text))
    assert torch.equal(torch.cat([dataset.train, dataset.val]), encoded)
    assert dataset.train.dtype == torch.long
    assert dataset.vocab_size == len(set(tiny_text))
    assert dataset.decode(dataset.val[:20].tolist()) == tiny_text[3600:3620]


def test_build_dataset_too_short_mentions_block_size():
    text = "abcdefghijklmnopqrst"  # 20 chars: 18 train, 2 val
    with pytest.raises(DataError) as caught:
        build_dataset(TextSource(label="short.txt", text=text), min_length=9)
    message = str(caught.value)
    assert message.startswith("--data short.txt: 20 characters give a 2-character split")
    assert "block_size + 1 = 9" in message
    assert build_dataset(TextSource(label="ok", text=text * 5), min_length=9).val.numel() == 10


def test_shortest_allowed_split_can_still_be_batched():
    text = "".join(chr(ord("a") + i % 26) for i in range(100))  # val split: 10 tokens
    dataset = build_dataset(TextSource(label="t", text=text), min_length=10)
    x, y = get_batch(dataset.val, 3, 9, "cpu")
    assert x.shape == y.shape == (3, 9)
    with pytest.raises(DataError, match=r"block_size \+ 1 = 11"):
        build_dataset(TextSource(label="t", text=text), min_length=11)


def test_synthetic_dataset_has_the_corpus_shape_and_is_labelled():
    dataset = build_dataset(TextSource(label="synthetic"))
    assert dataset.vocab_size == CORPUS_VOCAB
    assert len(dataset.train) + len(dataset.val) == CORPUS_CHARS
    assert int(dataset.train.max()) < CORPUS_VOCAB
    assert dataset.tokenizer is None
    assert dataset.decode([1, 2, 3]) == "<synthetic tokens: no text>"
    assert torch.equal(build_dataset(TextSource(label="synthetic")).val, dataset.val)


def test_get_batch_shapes_and_targets_shifted_by_one():
    data_ = torch.arange(1000)
    torch.manual_seed(0)
    x, y = get_batch(data_, 5, 8, "cpu")
    assert x.shape == y.shape == (5, 8)
    assert x.dtype == y.dtype == torch.long
    assert torch.equal(y, x + 1)  # targets are the next token
    assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # each row is one contiguous window
    assert int(y.max()) <= 999
    torch.manual_seed(0)
    x2, _ = get_batch(data_, 5, 8, "cpu")
    assert torch.equal(x, x2)  # the global seed decides the windows, as in the lecture


def test_get_batch_covers_the_last_window():
    data_ = torch.arange(10)
    x, y = get_batch(data_, 64, 9, "cpu")  # only one window fits
    assert torch.equal(x, torch.arange(9).expand(64, 9))
    assert torch.equal(y, torch.arange(1, 10).expand(64, 9))
