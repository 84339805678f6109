"""List options such as ``--iters 500,5k,50k``: accepted forms and every bad one."""

from __future__ import annotations

import pytest

from gpubench.errors import UsageError
from gpubench.options import parse_count, parse_count_list, parse_sweep_options, split_list
from gpubench.results.sweep_options import SweepOptions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500,5k,50k", [500, 5_000, 50_000]),
        ("1e4", [10_000]),
        ("1.5k", [1_500]),
        ("2M", [2_000_000]),
        ("5K", [5_000]),
        ("1E+3", [1_000]),
        ("1_000", [1_000]),
        (" 500 , 5k ", [500, 5_000]),
        ("50k,500,5k", [500, 5_000, 50_000]),  # sorted
        ("5k,5000,5e3", [5_000]),  # duplicates removed
        ("1", [1]),
        ("2.0", [2]),
    ],
)
def test_parse_count_list_accepts(text, expected):
    assert parse_count_list(text, option="--iters") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0", r"--iters '0': must be a whole number of at least 1"),
        ("0k", r"--iters '0k': must be a whole number of at least 1"),
        ("1.5", r"--iters '1.5': must be a whole number of at least 1"),
        ("1.0005k", r"--iters '1.0005k': must be a whole number of at least 1"),
        ("-5", r"--iters '-5': not a count; use whole numbers like 500, 5k or 1e4"),
        ("abc", r"--iters 'abc': not a count"),
        ("1e-3", r"--iters '1e-3': not a count"),
        ("5g", r"--iters '5g': not a count"),
        ("k", r"--iters 'k': not a count"),
        ("1e400", r"--iters '1e400': must be a whole number"),
        ("1,,2", r"--iters '1,,2': expected a comma-separated list with no empty items"),
        ("", r"--iters '': expected a comma-separated list with no empty items"),
        ("  ", r"expected a comma-separated list"),
        ("500,", r"--iters '500,': expected a comma-separated list"),
        (",500", r"expected a comma-separated list"),
        ("500,abc", r"--iters 'abc': not a count"),
    ],
)
def test_parse_count_list_refuses(text, message):
    with pytest.raises(UsageError, match=message) as caught:
        parse_count_list(text, option="--iters")
    assert "\n" not in str(caught.value)


def test_parse_count_names_its_option():
    assert parse_count("64", option="--batch-size") == 64
    with pytest.raises(UsageError, match=r"^--batch-size 'x': not a count"):
        parse_count("x", option="--batch-size")


def test_split_list_keeps_text_items():
    assert split_list("bigram, gpt", option="--models") == ["bigram", "gpt"]
    with pytest.raises(UsageError, match=r"^--models 'gpt,,': expected"):
        split_list("gpt,,", option="--models")


def test_sweep_options_are_parsed_once_into_a_typed_record():
    options = parse_sweep_options(
        models="gpt,bigram", devices="cuda,cpu,cuda:0", iters="5k,500", batch_sizes="64,16",
        protocol="train", variants="fast,reference,fast", budget_s=60, threads="4,1",
        overrides=["n_layer=2"], generate=50,
    )  # fmt: skip
    assert options == SweepOptions(
        models=("gpt", "bigram"), devices=("cuda:0", "cpu"), iters=(500, 5000),
        batch_sizes=(16, 64), protocol="train", variants=("fast", "reference"), budget_s=60.0,
        threads=(1, 4), overrides={"n_layer": "2"}, generate=50,
    )  # fmt: skip


def test_sweep_defaults_match_the_cli_defaults():
    options = parse_sweep_options()
    assert options == SweepOptions()
    assert options.devices == ("auto",) and options.threads == ()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"protocol": "fastest"}, "unknown protocol"),
        ({"variants": "turbo"}, "unknown variant"),
        ({"variants": "fast,,reference"}, "no empty items"),
        ({"devices": "tpu"}, "unknown device"),
        ({"devices": ""}, "--devices"),
        ({"budget_s": -1}, "positive"),
        ({"generate": -3}, "number of tokens"),
        ({"threads": "0"}, "at least 1"),
        ({"overrides": ["n_layer"]}, "KEY=VALUE"),
    ],
)
def test_bad_sweep_options_are_usage_errors(options, message):
    with pytest.raises(UsageError, match=message):
        parse_sweep_options(**options)
