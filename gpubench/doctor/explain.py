"""``--explain``: turn a pasted log (conda, pip, a Python traceback) into cause and fix.

The known errors live in log_patterns.py as data; this module runs them over a log, fills in
their templates with what the log itself says (log_clues.py) and quotes the line that matched.
Repeated errors are reported once, counted; matching ignores letter case and follows a message a
terminal wrapped onto the next line.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from gpubench.doctor.log_clues import LogClues, install_from_clues, read_clues, with_companion
from gpubench.doctor.log_patterns import LOG_PATTERNS

CONTEXT_LINES = 8
MAX_QUOTE = 300


@dataclass(frozen=True)
class ExplainContext:
    """What fixes may refer to beyond the log: an env name to suggest, and overrides for tests.

    ``torch_install`` and ``python`` default to what the log itself says (log_clues.py); the
    machine running the doctor is not the machine the log came from.
    """

    python: str = ""
    env_name: str = "torch-env"
    torch_install: str = ""


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
    same_fix_as: str | None = None  # an earlier explanation with the very same fix

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "title": self.title,
            "cause": self.cause,
            "fix": list(self.fix),
            "line_number": self.line_number,
            "line": self.line,
            "occurrences": self.occurrences,
            "same_fix_as": self.same_fix_as,
        }


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


def _format(template: str, values: Mapping[str, str]) -> str:
    return string.Formatter().vformat(template, (), _Fields(values))


def _search_wrapped(trigger: re.Pattern[str], line: str, next_line: str) -> re.Match[str] | None:
    """A match that starts on ``line``, also where a terminal wrapped it onto the next line
    (at a space, or in the middle of a word)."""
    match = trigger.search(line)
    if match or not next_line:
        return match
    for joiner in (" ", ""):
        window = line.rstrip() + joiner + next_line.strip()
        match = trigger.search(window)
        if match and match.start() < len(line.rstrip()):
            return match
    return None


def _values(context: ExplainContext, clues: LogClues, fields: dict[str, str]) -> dict[str, str]:
    install = context.torch_install or install_from_clues(clues)
    return {
        "python": context.python or clues.python or "3.11",
        "env_name": context.env_name,
        "torch_install": install,
        "torch_install_vision": with_companion(install, "torchvision"),
        "cuda_major": clues.cuda_major or "12",
        "gpu": clues.gpu or "this GPU",
        **fields,
    }


def explain_text(text: str, context: ExplainContext | None = None) -> list[Explanation]:
    """Every known pattern in ``text``, in order of first appearance, each quoting its line.

    Fixes come from the log (log_clues.py): the GPU, CUDA and torch versions it names, and where
    it ran (WSL and Windows logs get advice for the Windows driver, never modprobe). A fix given
    in full once is referred to, not repeated.
    """
    context = context or ExplainContext()
    clues = read_clues(text)
    driver_on_windows = clues.wsl or clues.windows
    lines = text.splitlines()
    found: dict[tuple[str, str], Explanation] = {}
    superseded: set[str] = set()
    for index, line in enumerate(lines):
        next_line = lines[index + 1] if index + 1 < len(lines) else ""
        for pattern in LOG_PATTERNS:
            match = _search_wrapped(pattern.trigger, line, next_line)
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
            values = _values(context, clues, fields)
            steps = pattern.wsl_fix if driver_on_windows and pattern.wsl_fix else pattern.fix
            found[(pattern.code, group)] = Explanation(
                code=pattern.code,
                title=pattern.title,
                cause=_format(pattern.cause, values),
                fix=tuple(_format(step, values) for step in steps),
                line_number=index + 1,
                line=line.strip()[:MAX_QUOTE],
                fields=fields,
            )
    explanations = [item for item in found.values() if item.code not in superseded]
    return _refer_to_earlier_fixes(sorted(explanations, key=lambda item: item.line_number))


def _refer_to_earlier_fixes(explanations: list[Explanation]) -> list[Explanation]:
    first_with: dict[tuple[str, ...], str] = {}
    result = []
    for item in explanations:
        if item.fix in first_with:
            item = replace(item, same_fix_as=first_with[item.fix])
        else:
            first_with[item.fix] = item.code
        result.append(item)
    return result
