"""The training text of a run, as a job and ``results.json`` name it; written and read only here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataSource:
    """The training text of a run: a file (by path), or synthetic tokens (no path)."""

    label: str
    path: str | None = None
    synthetic: bool = False

    def read_text(self) -> str | None:
        """The file's text, or None for synthetic tokens."""
        if self.synthetic or self.path is None:
            return None
        return Path(self.path).read_text(encoding="utf-8")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DataSource:
        if not data:
            return cls(label="unknown")
        return cls(
            label=str(data.get("label") or data.get("path") or "unknown"),
            path=data.get("path"),
            synthetic=bool(data.get("synthetic", False)),
        )
