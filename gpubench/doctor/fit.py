"""Fit fix commands to the environment they are for: its installer, its interpreter, its shell.

Checks write commands in one plain form (``python -m pip install ...``, ``export X=...``); this
step rewrites them once, after the checks: uv environments have no pip inside (``uv pip``, with
``--torch-backend`` for torch's CUDA index), a diagnosed interpreter that is not the active one is
named by its absolute path, and Windows gets PowerShell instead of ``export`` and ``~/.bashrc``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Finding

TORCH_INDEX = re.compile(r"--index-url https://download\.pytorch\.org/whl/(cu\d+|cpu|rocm[\d.]+)")
ASSIGNMENT_PREFIX = re.compile(r"^([A-Z_][A-Z0-9_]*)=(\S+) (.+)$")


@dataclass(frozen=True)
class CommandStyle:
    """How commands must be written for one environment."""

    python: str = "python"  # the interpreter, as a command
    installer: str = "pip"  # pip | uv | conda
    powershell: bool = False


def style_for(facts: Facts) -> CommandStyle:
    """Name the interpreter by path when it is not the one a plain ``python`` would start."""
    interpreter = facts.interpreter
    python = "python"
    if interpreter.executable and (interpreter.other or not is_active(facts)):
        python = interpreter.executable
    powershell = facts.platform.system == "Windows"
    if powershell and " " in python:
        python = f'& "{python}"'
    return CommandStyle(python=python, installer=interpreter.installer, powershell=powershell)


def is_active(facts: Facts) -> bool:
    """Whether the diagnosed environment is the one the shell has active."""
    active = facts.interpreter.active_prefix
    if not active:
        return True
    return same_path(active, facts.environment.prefix)


def same_path(left: str, right: str) -> bool:
    """Two spellings of one folder (Windows: case and slashes aside)."""
    import os

    return os.path.normcase(os.path.normpath(left)) == os.path.normcase(os.path.normpath(right))


def fit_command(line: str, style: CommandStyle) -> str:
    """One fix line rewritten for ``style`` (comments are left alone)."""
    if line.startswith("#"):
        return line
    command, hash_, comment = line.partition("  #")
    command = _fit_python(command, style)
    if style.powershell:
        command = _powershell(command)
    return command + (hash_ + comment if hash_ else "")


def _fit_python(command: str, style: CommandStyle) -> str:
    if command.startswith("python -m pip ") and style.installer == "uv":
        rest = command.removeprefix("python -m pip ")
        verb, _, args = rest.partition(" ")
        args = args.replace("-y ", "", 1) if verb == "uninstall" else args
        target = f" --python {style.python}" if style.python != "python" else ""
        if verb == "install":
            args = TORCH_INDEX.sub(lambda match: f"--torch-backend={match.group(1)}", args)
        return f"uv pip {verb}{target} {args}".rstrip()
    if command.startswith("python ") and style.python != "python":
        return style.python + command.removeprefix("python")
    return command


def _powershell(command: str) -> str:
    if command.startswith("export "):
        name, _, value = command.removeprefix("export ").partition("=")
        return f'$env:{name} = "{value}"'
    if command.startswith("unset "):
        return "; ".join(f"Remove-Item Env:{name}" for name in command.split()[1:])
    if command.startswith("echo $"):
        return "echo $env:" + command.removeprefix("echo $")
    if command.startswith("grep -n "):
        name = command.split()[2]
        return f"[Environment]::GetEnvironmentVariable('{name}', 'User')  # set permanently?"
    assignment = ASSIGNMENT_PREFIX.match(command)
    if assignment:
        name, value, rest = assignment.groups()
        return f'$env:{name} = "{value}"; {rest}'
    return command


def fit_findings(findings: list[Finding], style: CommandStyle) -> list[Finding]:
    if style == CommandStyle():
        return findings
    return [
        replace(finding, fix=tuple(fit_command(line, style) for line in finding.fix))
        for finding in findings
    ]
