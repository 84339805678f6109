"""``gpubench doctor``: is this PyTorch/CUDA setup right, and if not, what exactly to run.

Data flows one way: probe (facts, with worker processes for anything that touches torch or
the GPU) -> checks (pure functions) -> findings -> verdict -> render. This package never
imports torch in its own process and never imports gpubench.bench, gpubench.report or the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gpubench.doctor.verdict import Verdict


def __getattr__(name: str) -> Any:
    # Imported lazily: the worker processes (python -m gpubench.doctor.<worker>) import this
    # package first and should not pay for what they do not use.
    if name == "Verdict":
        from gpubench.doctor.verdict import Verdict

        return Verdict
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def fast_verdict(timeout: float = 15.0) -> Verdict:
    """Probe without smoke tests and return the verdict; never raises (a failure is 'broken')."""
    from gpubench.doctor.verdict import broken_verdict

    try:
        from gpubench.doctor.checks import run_checks
        from gpubench.doctor.probe import collect_facts
        from gpubench.doctor.verdict import decide_verdict

        facts = collect_facts(timeout=timeout, smoke=False)
        return decide_verdict(facts, run_checks(facts))
    except Exception as error:
        return broken_verdict(f"the doctor's probe failed: {type(error).__name__}: {error}")


__all__ = ["Verdict", "fast_verdict"]
