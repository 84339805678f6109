"""The line protocol between the doctor and its worker processes (stdlib only).

A worker prints ``GPUBENCH-STAGE <name>`` before each step that may hang or crash and one
``GPUBENCH-RESULT <json>`` line at the end. Libraries may print their own lines too; only
these prefixes count. When a worker is killed, the last stage says where it stopped.
"""

from __future__ import annotations

import json
import sys
from typing import Any

STAGE_PREFIX = "GPUBENCH-STAGE "
RESULT_PREFIX = "GPUBENCH-RESULT "


def emit_stage(name: str) -> None:
    """Announce the step about to run (flushed at once so a kill cannot lose it)."""
    sys.stdout.write(f"{STAGE_PREFIX}{name}\n")
    sys.stdout.flush()


def emit_result(result: dict[str, Any]) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


def parse_doctor_line(line: str) -> dict[str, Any] | None:
    """``GPUBENCH-STAGE name`` and ``GPUBENCH-RESULT {json}`` as gpubench.runner events; other
    lines (libraries print their own) are ignored."""
    if line.startswith(STAGE_PREFIX):
        return {"event": "stage", "name": line[len(STAGE_PREFIX) :].strip()}
    if line.startswith(RESULT_PREFIX):
        try:
            parsed = json.loads(line[len(RESULT_PREFIX) :])
        except ValueError:
            return None
        return {"event": "result", "result": parsed} if isinstance(parsed, dict) else None
    return None


def traceback_tail(error: BaseException, limit: int = 6) -> str:
    """The exception's own message plus the last lines of its traceback, for the facts."""
    import traceback

    lines = traceback.format_exception(type(error), error, error.__traceback__)
    text = "".join(lines).strip().splitlines()
    return "\n".join(text[-limit:])
