"""List options such as ``--iters 500,5k,50k``: accepted forms and every bad one."""

from __future__ import annotations

import pytest

from gpubench.errors import UsageError
from gpubench.options import parse_count, parse_count_list, split_list


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
