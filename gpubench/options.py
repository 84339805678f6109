"""Parsing of list options (``--iters 500,5k,1e4``) into validated values."""

from __future__ import annotations

import re

from gpubench.errors import UsageError

# The sweep's defaults (spec README, "Defaults"); here so the CLI can show them without torch.
DEFAULT_MODELS = "bigram,gpt"
DEFAULT_ITERS = "500,5000,50000"
DEFAULT_BUDGET_S = 300.0

_COUNT = re.compile(r"^(\d+(?:\.\d+)?)([kKmM]?)$|^(\d+(?:\.\d+)?[eE]\+?\d+)$")
_SUFFIX = {"": 1, "k": 1_000, "m": 1_000_000}


def parse_count(text: str, *, option: str) -> int:
    """A positive whole count: ``500``, ``5k``, ``1.5k``, ``2M`` or ``1e4``."""
    cleaned = text.strip().replace("_", "")
    match = _COUNT.match(cleaned)
    if match is None:
        raise UsageError(f"{option} {text!r}: not a count; use whole numbers like 500, 5k or 1e4")
    if match.group(3):
        value = float(match.group(3))
    else:
        value = float(match.group(1)) * _SUFFIX[match.group(2).lower()]
    if not value.is_integer() or value < 1:
        raise UsageError(f"{option} {text!r}: must be a whole number of at least 1")
    return int(value)


def split_list(text: str, *, option: str) -> list[str]:
    """Split a comma-separated option, refusing empty items (``1,,2``) and empty lists."""
    items = [item.strip() for item in text.split(",")]
    if not text.strip() or any(not item for item in items):
        raise UsageError(f"{option} {text!r}: expected a comma-separated list with no empty items")
    return items


def parse_count_list(text: str, *, option: str) -> list[int]:
    """``500,5k,50k`` -> [500, 5000, 50000], sorted, duplicates removed."""
    return sorted({parse_count(item, option=option) for item in split_list(text, option=option)})
