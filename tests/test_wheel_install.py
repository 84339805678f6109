"""The model loader from an installed wheel: build a wheel, install it with ``--target`` and
load the three reference models from a directory that is not the checkout."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.slow

EXPECTED = {"bigram": 4_225, "bigram-pos": 4_481, "gpt": 10_788_929}

LOAD_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path

    checkout, target = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    # The editable install puts the checkout on sys.path too; take it off so only the
    # installed copy can answer.
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != checkout]

    import gpubench
    from gpubench.core.models import count_parameters, load_model, models_dir

    counts = {}
    for name in ("bigram", "bigram-pos", "gpt"):
        spec = load_model(name)
        counts[name] = count_parameters(spec.build(spec.defaults, 65))
    models = importlib.util.find_spec("models")
    print(json.dumps({
        "gpubench": str(Path(gpubench.__file__).resolve()),
        "models_dir": str(models_dir()),
        "counts": counts,
        "top_level_models": list(models.submodule_search_locations or []) if models else [],
    }))
    """
)


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if importlib.util.find_spec("hatchling") is None:
        pytest.skip(
            "building the wheel needs the hatchling build backend importable in this "
            "environment: pip install hatchling"
        )
    out = tmp_path_factory.mktemp("dist")
    if importlib.util.find_spec("build") is not None:
        command = [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir"]
    else:
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w"]
    _run([*command, str(out), str(PROJECT_ROOT)], cwd=out)
    (built,) = out.glob("gpubench-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("site")
    _run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--target", str(target), str(wheel)],
    )  # fmt: skip
    return target


def test_wheel_ships_the_models_inside_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for file in ("bigram.py", "bigram_pos.py", "gpt.py"):
        assert f"gpubench/models/{file}" in names
    top_level = {name.split("/", 1)[0] for name in names}
    assert top_level == {"gpubench", wheel.name.split("-py3")[0] + ".dist-info"}, top_level
    assert not [name for name in names if name.startswith("models/")]


def test_installed_wheel_loads_all_three_models_outside_the_checkout(installed, tmp_path):
    assert not (installed / "models").exists()  # no top-level models package installed
    env = dict(os.environ, PYTHONPATH=str(installed))
    done = _run(
        [sys.executable, "-c", LOAD_SCRIPT, str(PROJECT_ROOT), str(installed)],
        cwd=tmp_path,
        env=env,
    )
    report = json.loads(done.stdout)
    package = installed.resolve() / "gpubench"
    assert Path(report["gpubench"]).is_relative_to(package), report
    assert Path(report["models_dir"]) == package / "models"
    assert report["counts"] == EXPECTED
    assert not [p for p in report["top_level_models"] if Path(p).is_relative_to(installed)]


def test_installed_cli_lists_the_models(installed, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(installed))
    done = _run([sys.executable, "-m", "gpubench", "models", "--json"], cwd=tmp_path, env=env)
    models = json.loads(done.stdout)["models"]
    assert {m["name"]: m["parameters"] for m in models} == EXPECTED
    for model in models:
        assert Path(model["path"]).is_relative_to(installed.resolve() / "gpubench" / "models")
