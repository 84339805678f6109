"""The layers stay apart: the results package needs no torch, and the report never reaches
into the package that runs workers (docs/design.md, "Layout")."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "gpubench"


def modules_loaded_by(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_importing_the_results_package_imports_no_torch_and_no_pandas():
    loaded = modules_loaded_by("import gpubench.results")
    assert "gpubench.results.io" in loaded
    assert "torch" not in loaded
    assert "pandas" not in loaded  # only frame() pays for it
    assert not any(name.startswith("gpubench.bench") for name in loaded)


def test_loading_a_run_needs_no_torch():
    sample = PACKAGE.parent / "reports" / "cpu-2core-xeon"
    loaded = modules_loaded_by(f"import gpubench; gpubench.load_run({str(sample)!r})")
    assert "torch" not in loaded


def imported_modules(folder: Path) -> dict[str, set[str]]:
    """Every gpubench module each file under ``folder`` imports (also inside functions)."""
    found: dict[str, set[str]] = {}
    for path in sorted(folder.rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                names.add(node.module)
            elif isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
        found[path.relative_to(PACKAGE.parent).as_posix()] = names
    return found


def test_the_report_imports_nothing_from_the_bench():
    offenders = {
        path: sorted(name for name in names if name.startswith("gpubench.bench"))
        for path, names in imported_modules(PACKAGE / "report").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_results_package_imports_no_torch_bench_or_report():
    forbidden = ("torch", "gpubench.bench", "gpubench.report", "gpubench.core.training")
    offenders = {
        path: sorted(name for name in names if name.startswith(forbidden))
        for path, names in imported_modules(PACKAGE / "results").items()
    }
    assert {path: names for path, names in offenders.items() if names} == {}
