"""Reference models and the model-file loader: exact sizes, generation past block_size,
learning, the contract a model file must honour, and typed ``--set`` overrides."""

from __future__ import annotations

import textwrap

import pytest
import torch

from gpubench.core.data import TextSource, build_dataset
from gpubench.core.models import (
    REFERENCE_MODELS,
    ModelSpec,
    count_parameters,
    load_model,
    models_dir,
    parse_overrides,
    parse_value,
    resolve_config,
)
from gpubench.core.training import TrainingSession
from gpubench.errors import ModelFileError, UsageError
from tests.conftest import TINY_GPT_OVERRIDES, make_tiny_text

pytestmark = pytest.mark.usefixtures("one_torch_thread")

VOCAB = 65


def _config(name: str) -> dict:
    """The model's lecture config, or a tiny one for the GPT."""
    spec = load_model(name)
    overrides = parse_overrides(TINY_GPT_OVERRIDES) if name == "gpt" else {}
    return resolve_config(spec, overrides)


# --- exact sizes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "variant", "expected"),
    [
        ("bigram", "reference", 4_225),
        ("bigram-pos", "reference", 4_481),
        ("gpt", "reference", 10_788_929),
        ("gpt", "fast", 10_788_929),  # fused QKV keeps the count
    ],
)
def test_parameter_count_is_exact_with_vocab_65(name, variant, expected):
    spec = load_model(name)
    model = spec.build(spec.defaults, VOCAB, variant)
    assert count_parameters(model) == expected


def test_reference_models_are_found_by_path_not_by_import():
    directory = models_dir()
    assert sorted(p.name for p in directory.glob("*.py")) == [
        "bigram.py",
        "bigram_pos.py",
        "gpt.py",
    ]
    for name in REFERENCE_MODELS:
        spec = load_model(name)
        assert spec.name == name
        assert spec.path == (directory / f"{name.replace('-', '_')}.py").resolve()


def test_lecture_defaults_match_the_spec_table():
    expected = {
        "bigram": (32, 8, 1e-2, 3000, 300, 200),
        "bigram-pos": (32, 8, 1e-3, 5000, 500, 200),
        "gpt": (64, 256, 3e-4, 5000, 500, 200),
    }
    keys = ("batch_size", "block_size", "learning_rate", "max_iters", "eval_interval",
            "eval_iters")  # fmt: skip
    for name, values in expected.items():
        defaults = load_model(name).defaults
        assert tuple(defaults[k] for k in keys) == values, name
    gpt = load_model("gpt").defaults
    assert (gpt["n_layer"], gpt["n_head"], gpt["n_embd"], gpt["dropout"]) == (6, 6, 384, 0.2)
    assert load_model("bigram-pos").defaults["n_embd"] == 32


def test_variants_offered():
    for name in ("bigram", "bigram-pos", "gpt"):
        assert load_model(name).variants == ("reference", "fast")
    with pytest.raises(
        UsageError, match=r"model 'bigram' has no variant 'turbo'; it has: reference, fast"
    ):
        load_model("bigram").build(load_model("bigram").defaults, VOCAB, "turbo")


# --- generate past block_size ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "variant"),
    [("bigram", "reference"), ("bigram-pos", "reference"), ("gpt", "reference"), ("gpt", "fast")],
)
def test_generate_three_block_sizes_of_tokens(name, variant):
    """Regression: without the crop the position table is indexed past its rows."""
    spec = load_model(name)
    config = _config(name)
    torch.manual_seed(0)
    model = spec.build(config, VOCAB, variant).eval()
    new_tokens = 3 * config["block_size"]
    out = model.generate(torch.zeros((2, 1), dtype=torch.long), max_new_tokens=new_tokens)
    assert out.shape == (2, 1 + new_tokens)
    assert out.dtype == torch.long
    assert int(out.min()) >= 0 and int(out.max()) < VOCAB


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_forward_contract(name):
    spec = load_model(name)
    config = _config(name)
    model = spec.build(config, VOCAB)
    idx = torch.randint(VOCAB, (3, config["block_size"]))
    logits, loss = model(idx)
    assert logits.shape == (3, config["block_size"], VOCAB)
    assert loss is None
    logits, loss = model(idx, idx)
    assert loss.ndim == 0 and torch.isfinite(loss)


# --- learning ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", REFERENCE_MODELS)
def test_loss_falls(name):
    dataset = build_dataset(TextSource(label="tiny", text=make_tiny_text(3000)), min_length=17)
    spec = load_model(name)
    overrides = parse_overrides(TINY_GPT_OVERRIDES) if name == "gpt" else {}
    overrides |= {"learning_rate": "1e-2", "eval_iters": "8"}
    config = resolve_config(spec, overrides)
    session = TrainingSession(spec, config, dataset, "cpu")
    before = session.estimate_loss()
    for _ in range(60):
        session.step()
    after = session.estimate_loss()
    assert after["train"] < before["train"] - 0.3, (before, after)
    assert after["val"] < before["val"] - 0.3, (before, after)


# --- the model-file contract -------------------------------------------------------------

GOOD_FILE = """
    import torch.nn as nn

    CONFIG = {
        "batch_size": 2, "block_size": 4, "learning_rate": 0.1, "max_iters": 3,
        "eval_interval": 1, "eval_iters": 1, "width": 8,
    }

    def build(config, vocab_size):
        return nn.Embedding(vocab_size, config["width"])
"""


def _model_file(tmp_path, source: str, name: str = "mine.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    return path


def test_user_model_file_loads_by_path(tmp_path):
    path = _model_file(tmp_path, GOOD_FILE)
    spec = load_model(str(path))
    assert isinstance(spec, ModelSpec)
    assert spec.name == "mine"
    assert spec.path == path.resolve()
    assert spec.defaults["width"] == 8
    assert count_parameters(spec.build(spec.defaults, 10)) == 80


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def build(config, vocab_size): pass\n", r"must define CONFIG as a dict of defaults"),
        ("CONFIG = [1, 2]\ndef build(config, vocab_size): pass\n", r"must define CONFIG as a dict"),
        (
            "CONFIG = {'batch_size': 1, 'block_size': 1, 'learning_rate': 1.0, 'max_iters': 1,"
            " 'eval_interval': 1, 'eval_iters': 1}\n",
            r"must define build\(config, vocab_size\)",
        ),
        (
            "CONFIG = {'batch_size': 1}\ndef build(config, vocab_size): pass\n",
            r"CONFIG lacks block_size, learning_rate, max_iters, eval_interval, eval_iters",
        ),
        ("import no_such_module_for_gpubench_tests\n", r"failed to import: No module named"),
        ("raise RuntimeError('boom at import')\n", r"failed to import: boom at import"),
        ("def broken(:\n", r"failed to import"),
    ],
    ids=[
        "no-config",
        "config-not-dict",
        "no-build",
        "config-lacks-keys",
        "import-error",
        "raises",
        "syntax-error",
    ],
)
def test_model_file_breaking_the_contract_is_refused(tmp_path, source, message):
    path = _model_file(tmp_path, source)
    with pytest.raises(ModelFileError, match=message) as caught:
        load_model(str(path))
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, UsageError)  # exit code 2


@pytest.mark.parametrize("name", ["gpt2", "bigram_pos", "GPT", ""])
def test_unknown_model_name_lists_the_reference_models(name):
    expected = r"use one of bigram, bigram-pos, gpt or a path to a \.py model file"
    with pytest.raises(ModelFileError, match=expected):
        load_model(name)


def test_non_py_path_is_refused(tmp_path):
    path = _model_file(tmp_path, GOOD_FILE, name="mine.txt")
    with pytest.raises(ModelFileError, match=r"unknown model .*mine\.txt"):
        load_model(str(path))


def test_missing_py_path_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match=r"unknown model .*absent\.py"):
        load_model(str(tmp_path / "absent.py"))


def test_directory_named_like_a_py_file_is_refused(tmp_path):
    (tmp_path / "pkg.py").mkdir()
    with pytest.raises(ModelFileError, match="unknown model"):
        load_model(str(tmp_path / "pkg.py"))


# --- --set KEY=VALUE ---------------------------------------------------------------------


def test_int_override_accepts_exponent_notation():
    config = resolve_config(load_model("gpt"), {"max_iters": "1e3", "n_layer": "2"})
    assert config["max_iters"] == 1000 and type(config["max_iters"]) is int
    assert config["n_layer"] == 2 and type(config["n_layer"]) is int


@pytest.mark.parametrize("text", ["abc", "1.5", "2e-1", "", "nan", "inf", "true"])
def test_bad_int_override(text):
    with pytest.raises(
        UsageError, match=r"--set n_layer=.*: expected a whole number \(default is 6\)"
    ):
        parse_value("n_layer", text, 6)


def test_bad_int_override_through_resolve_config():
    with pytest.raises(UsageError, match=r"^--set n_embd=abc: expected a whole number"):
        resolve_config(load_model("gpt"), parse_overrides(["n_embd=abc"]))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_bool_override_forms(text, expected):
    assert parse_value("flag", text, not expected) is expected


@pytest.mark.parametrize("text", ["maybe", "2", "", "t"])
def test_bad_bool_override(text):
    with pytest.raises(UsageError, match=r"expected true or false \(default is False\)"):
        parse_value("flag", text, False)


def test_float_override():
    config = resolve_config(load_model("gpt"), {"learning_rate": "3e-3", "dropout": "0"})
    assert config["learning_rate"] == 0.003
    assert config["dropout"] == 0.0 and type(config["dropout"]) is float
    with pytest.raises(UsageError, match=r"--set learning_rate=fast: expected a number"):
        resolve_config(load_model("gpt"), {"learning_rate": "fast"})


def test_str_override_keeps_text():
    assert parse_value("act", "gelu", "relu") == "gelu"


def test_unknown_key_lists_the_known_ones():
    with pytest.raises(UsageError) as caught:
        resolve_config(load_model("gpt"), {"n_layers": "2"})
    assert str(caught.value) == (
        "--set n_layers: unknown key for model 'gpt'; known: batch_size, block_size, "
        "learning_rate, max_iters, eval_interval, eval_iters, n_embd, n_head, n_layer, dropout"
    )


def test_n_embd_must_divide_by_n_head():
    with pytest.raises(
        UsageError, match=r"n_embd=30 must be divisible by n_head=4 \(model 'gpt'\)"
    ):
        resolve_config(load_model("gpt"), {"n_embd": "30", "n_head": "4"})
    assert resolve_config(load_model("gpt"), {"n_embd": "32", "n_head": "4"})["n_embd"] == 32


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("n_layer", "-1", r"--set n_layer=-1: must be at least 1"),
        ("n_head", "0", r"--set n_head=0: must be at least 1"),
        ("batch_size", "0", r"--set batch_size=0: must be at least 1"),
        ("block_size", "-8", r"--set block_size=-8: must be at least 1"),
        ("eval_iters", "0", r"--set eval_iters=0: must be at least 1"),
        ("learning_rate", "-1e-3", r"learning_rate must be positive"),
        ("learning_rate", "0", r"learning_rate must be positive"),
        ("learning_rate", "nan", r"learning_rate must be positive"),
        ("learning_rate", "inf", r"learning_rate must be positive"),
        ("dropout", "-0.1", r"dropout must be in \[0, 1\)"),
        ("dropout", "1", r"dropout must be in \[0, 1\)"),
        ("dropout", "nan", r"dropout must be in \[0, 1\)"),
    ],
)
def test_out_of_range_values_are_refused(key, value, message):
    with pytest.raises(UsageError, match=message):
        resolve_config(load_model("gpt"), {key: value})


def test_overrides_do_not_touch_the_defaults():
    spec = load_model("gpt")
    config = resolve_config(spec, {"n_layer": "1"})
    assert config["n_layer"] == 1
    assert spec.defaults["n_layer"] == 6
    assert resolve_config(spec, {}) == spec.defaults


def test_parse_overrides_splits_and_strips():
    assert parse_overrides([" n_layer = 2 ", "dropout=0.1", "n_layer=3"]) == {
        "n_layer": "3",
        "dropout": "0.1",
    }
    assert parse_overrides(None) == {}
    assert parse_overrides(["expr=a=b"]) == {"expr": "a=b"}


@pytest.mark.parametrize("item", ["n_layer", "=2", "n_layer=", " = ", ""])
def test_parse_overrides_refuses_malformed_items(item):
    with pytest.raises(UsageError, match=r"expected KEY=VALUE, e\.g\. --set n_layer=2"):
        parse_overrides([item])
