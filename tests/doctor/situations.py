"""The library of recorded situations: facts records (JSON) and the findings each must produce."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gpubench.doctor.facts import Facts

SITUATIONS_DIR = Path(__file__).parent / "fixtures" / "situations"


@dataclass(frozen=True)
class Situation:
    name: str
    description: str
    source: str
    facts: Facts
    expect: dict[str, Any]


def load_situation(path: Path) -> Situation:
    data = json.loads(path.read_text(encoding="utf-8"))
    return Situation(
        name=path.stem,
        description=data["description"],
        source=data["source"],
        facts=Facts.from_dict(data["facts"]),
        expect=data["expect"],
    )


def situation_paths() -> list[Path]:
    return sorted(SITUATIONS_DIR.glob("*.json"))


def situation(name: str) -> Situation:
    return load_situation(SITUATIONS_DIR / f"{name}.json")
