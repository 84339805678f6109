"""``--explain``: turn a pasted log (conda, pip, a Python traceback) into cause and fix.

The known errors live in log_patterns.py as data; this module runs them over a log, fills in
their templates and quotes the line that matched. Repeated errors are reported once, counted.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gpubench.doctor.log_patterns import LOG_PATTERNS

CONTEXT_LINES = 8
MAX_QUOTE = 300


@dataclass(frozen=True)
class ExplainContext:
    """What the fixes may refer to: this machine's Python and the torch wheel that fits it."""

    python: str = "3.11"
    env_name: str = "torch-env"
    torch_install: str = (
        "python -m pip install torch --index-url https://download.pytorch.org/whl/cu126"
    )


@dataclass(frozen=True)
class Explanation:
    """A pattern found in the log, with the first line that matched."""

    code: str
    title: str
    cause: str
    fix: tuple[str, ...]
    line_number: int
    line: str
    occurrences: int = 1
    fields: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "cause": self.cause,
            "fix": list(self.fix),
            "line_number": self.line_number,
            "line": self.line,
            "occurrences": self.occurrences,
        }


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _format(template: str, values: Mapping[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Fields(values))


def explain_text(text: str, context: ExplainContext | None = None) -> list[Explanation]:
    """Every known pattern in ``text``, in order of first appearance, each quoting its line."""
    context = context or ExplainContext()
    lines = text.splitlines()
    found: dict[tuple[str, str], Explanation] = {}
    superseded: set[str] = set()
    for index, line in enumerate(lines):
        for pattern in LOG_PATTERNS:
            match = pattern.trigger.search(line)
            if not match:
                continue
            fields = {key: value for key, value in match.groupdict().items() if value}
            following = "\n".join(lines[index + 1 : index + 1 + CONTEXT_LINES])
            for extra in pattern.context:
                more = extra.search(following) or extra.search(line)
                if more:
                    for key, value in more.groupdict().items():
                        if value and key not in fields:
                            fields[key] = value.strip()
            if pattern.enrich is not None:
                fields.update(pattern.enrich(fields, following))
            group = fields.get(pattern.group_by, "") if pattern.group_by else ""
            superseded.update(pattern.supersedes)
            if (pattern.code, group) in found:
                seen = found[(pattern.code, group)]
                found[(pattern.code, group)] = replace(seen, occurrences=seen.occurrences + 1)
                continue
            values = {
                "python": context.python,
                "env_name": context.env_name,
                "torch_install": context.torch_install,
                **fields,
            }
            found[(pattern.code, group)] = Explanation(
                code=pattern.code,
                title=pattern.title,
                cause=_format(pattern.cause, values),
                fix=tuple(_format(step, values) for step in pattern.fix),
                line_number=index + 1,
                line=line.strip()[:MAX_QUOTE],
                fields=fields,
            )
    explanations = [item for item in found.values() if item.code not in superseded]
    return sorted(explanations, key=lambda item: item.line_number)
