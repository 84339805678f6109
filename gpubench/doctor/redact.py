"""Keep secrets and identities out of the doctor's output.

Only allow-listed environment variables are ever collected (secret names redacted at once),
token-like values are replaced when rendering (the checks need the real values), and the
paste-safe markdown additionally shows the home directory as ``~`` and drops the user and host
names wherever they appear.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import platform
import re
import socket
from collections.abc import Mapping
from pathlib import Path

REDACTED = "[redacted]"
# Variables collected as they are (values still pass the token filter). doctor.md, "Output".
ALLOWED_PREFIXES = ("CUDA_", "NVIDIA_", "PYTORCH_", "TORCH_", "CONDA_")
ALLOWED_NAMES = frozenset(
    {
        "LD_LIBRARY_PATH",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "VIRTUAL_ENV",
        "PYTHONPATH",
        "PYTHONNOUSERSITE",
        "HIP_VISIBLE_DEVICES",
        "ROCR_VISIBLE_DEVICES",
    }
)
# PATH is reduced to the entries that decide which python, conda or CUDA tools run.
PATH_ENTRY_MARKERS = ("cuda", "nvidia", "conda", "mamba", "venv", "python", "pyenv", "torch")
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|CREDENTIAL|AUTH|PRIVATE", re.I)
TOKEN_PATTERNS = (
    re.compile(r"\bhf_[A-Za-z0-9]{20,}"),  # Hugging Face
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"),  # GitHub
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bglpat-[A-Za-z0-9_-]{20,}"),  # GitLab
    re.compile(r"\bsk-[A-Za-z0-9_-]{20,}"),  # OpenAI-style keys
    re.compile(r"\bxox[abpr]-[A-Za-z0-9-]{10,}"),  # Slack
    re.compile(r"\bAKIA[0-9A-Z]{16}\b"),  # AWS access key id
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # JWT
    # any long run of letters and digits mixing both, e.g. an opaque API key; GPU and MIG
    # UUIDs (GPU-8-4-4-4-12 hex) are identifiers CUDA_VISIBLE_DEVICES needs, not secrets
    re.compile(
        r"(?<![A-Za-z0-9_/.-])(?!(?:GPU-|MIG-)+[0-9a-fA-F]{8}-)(?![0-9a-fA-F]{8}-[0-9a-fA-F]{4}-)"
        r"(?=[A-Za-z0-9_-]*\d)(?=[A-Za-z0-9_-]*[A-Za-z])[A-Za-z0-9_-]{32,}"
    ),
)


def redact_tokens(text: str) -> str:
    """Replace anything that looks like a credential."""
    for pattern in TOKEN_PATTERNS:
        text = pattern.sub(REDACTED, text)
    return text


def is_allowed(name: str) -> bool:
    return name in ALLOWED_NAMES or name.startswith(ALLOWED_PREFIXES) or name == "PATH"


def relevant_path_entries(value: str) -> list[str]:
    return [
        entry
        for entry in value.split(os.pathsep)
        if any(marker in entry.lower() for marker in PATH_ENTRY_MARKERS)
    ]


def allowed_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The allow-listed variables, with secrets by name redacted.

    Values are kept as they are otherwise: the checks compare them (CUDA_VISIBLE_DEVICES holds
    GPU UUIDs); token-like values are redacted when rendering (``redact_environment``).
    """
    collected: dict[str, str] = {}
    for name in sorted(environ):
        if not is_allowed(name):
            continue
        value = environ[name]
        if name == "PATH":
            value = os.pathsep.join(relevant_path_entries(value))
        if SECRET_NAME.search(name):
            value = REDACTED if value else value
        collected[name] = value
    return collected


def redact_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The collected variables as shown to people and tools: token-like values redacted."""
    return {name: redact_tokens(value) for name, value in env.items()}


class IdentityScrubber:
    """Replaces the home directory, user name and host name in text meant for public pastes."""

    def __init__(
        self, *, home: str | None = None, user: str | None = None, hosts: tuple[str, ...] = ()
    ) -> None:
        self.home = (home if home is not None else _home()).rstrip("/\\")
        self.user = user if user is not None else _user()
        self.hosts = hosts or _hosts()

    def scrub(self, text: str) -> str:
        if self.home and len(self.home) > 1:
            text = text.replace(self.home, "~")
            resolved = _resolve(self.home)
            if resolved and resolved != self.home:
                text = text.replace(resolved, "~")
        if self.user:
            user = re.escape(self.user)
            # other users' style of home paths, then any remaining standalone mention
            text = re.sub(rf"(/home/|/Users/|\\Users\\){user}(?=[/\\]|\b)", "~", text)
            text = re.sub(rf"(?<![\w.-]){user}(?![\w-])", "[user]", text)
        for host in self.hosts:
            if host:
                text = re.sub(rf"(?<![\w.-]){re.escape(host)}(?![\w-])", "[host]", text)
        return redact_tokens(text)


def _home() -> str:
    try:
        return str(Path.home())
    except (RuntimeError, KeyError):
        return ""


def _resolve(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return ""


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return os.environ.get("USER", "") or os.environ.get("USERNAME", "")


def _hosts() -> tuple[str, ...]:
    names = {platform.node()}
    with contextlib.suppress(OSError):
        names.add(socket.gethostname())
    expanded = set(names)
    for name in names:
        if name and "." in name:
            expanded.add(name.split(".", 1)[0])
    # longest first so a FQDN is replaced before its short form
    return tuple(sorted((name for name in expanded if name), key=len, reverse=True))
