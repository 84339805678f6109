"""JSON Schema of ``gpubench doctor --json`` output (``schema: gpubench.doctor/1``).

Consumers can validate against it; the test suite does. Add fields freely (objects stay open);
renaming or removing one needs ``gpubench.doctor/2``.
"""

from __future__ import annotations

from typing import Any

_STRING_LIST = {"type": "array", "items": {"type": "string"}}
_NULLABLE_STRING = {"type": ["string", "null"]}

FINDING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["code", "severity", "title", "detail", "fix", "evidence"],
    "properties": {
        "code": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$"},
        "severity": {"enum": ["ok", "info", "warn", "error"]},
        "title": {"type": "string"},
        "detail": {"type": "string"},
        "fix": _STRING_LIST,
        "evidence": {"type": "object"},
    },
}

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "line", "cuda_usable", "cuda_devices", "errors", "warnings", "facts"],
    "properties": {
        "kind": {"enum": ["cuda-ready", "cpu-only", "broken"]},
        "line": {"type": "string"},
        "cuda_usable": {"type": "boolean"},
        "cuda_devices": _STRING_LIST,
        "errors": _STRING_LIST,
        "warnings": _STRING_LIST,
        "facts": {"type": "object"},
    },
}

FACTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "schema",
        "platform",
        "environment",
        "torch_distributions",
        "torch",
        "nvml",
        "nvidia",
        "cpu",
        "toolkit",
        "library_path",
        "env",
        "conda",
        "smoke",
    ],
    "properties": {
        "schema": {"type": "integer"},
        "platform": {
            "type": "object",
            "required": ["system", "release", "machine", "python_version"],
        },
        "torch": {
            "type": "object",
            "required": ["status", "version", "cuda", "cuda_available"],
            "properties": {
                "status": {
                    "enum": ["ok", "missing", "import-failed", "timeout", "crashed", "not-probed"]
                },
                "version": _NULLABLE_STRING,
                "cuda": _NULLABLE_STRING,
            },
        },
        "nvml": {
            "type": "object",
            "required": ["status", "driver_version", "gpus"],
            "properties": {"gpus": {"type": "array", "items": {"type": "object"}}},
        },
        "env": {"type": "object", "additionalProperties": {"type": "string"}},
        "conda": {"type": ["object", "null"]},
        "smoke": {"type": "array", "items": {"type": "object", "required": ["device", "status"]}},
    },
}

DOCTOR_JSON_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "gpubench doctor report",
    "type": "object",
    "required": ["schema", "facts", "findings", "verdict"],
    "properties": {
        "schema": {"const": "gpubench.doctor/1"},
        "gpubench_version": {"type": "string"},
        "facts": FACTS_SCHEMA,
        "findings": {"type": "array", "items": FINDING_SCHEMA},
        "verdict": VERDICT_SCHEMA,
        "explanations": {
            "type": ["array", "null"],
            "items": {
                "type": "object",
                "required": ["code", "title", "cause", "fix", "line_number", "line"],
            },
        },
    },
}
