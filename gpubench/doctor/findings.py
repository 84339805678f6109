"""Findings: what a check concluded, as structured data (never printed text)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(str, Enum):
    """How much a finding matters; ``error`` makes the doctor exit 1."""

    OK = "ok"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return SEVERITY_ORDER.index(self)


SEVERITY_ORDER = (Severity.OK, Severity.INFO, Severity.WARN, Severity.ERROR)


@dataclass(frozen=True)
class Finding:
    """One conclusion of one check.

    ``code`` is a stable kebab-case slug (see doctor.md); ``fix`` holds exact commands, in the
    order to run them (lines starting with ``#`` are comments that belong to the commands).
    """

    code: str
    severity: Severity
    title: str
    detail: str = ""
    fix: tuple[str, ...] = ()
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["severity"] = self.severity.value
        data["fix"] = list(self.fix)
        return data


def ok(code: str, title: str, **evidence: Any) -> Finding:
    """A check that looked and found nothing wrong."""
    return Finding(code, Severity.OK, title, evidence=evidence)
