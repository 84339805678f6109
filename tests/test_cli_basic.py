"""The command line through typer's CliRunner and through a real ``python -m gpubench``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from gpubench import __version__
from gpubench.cli import app
from tests.conftest import UNROUTABLE_CORPUS_URL

pytestmark = pytest.mark.usefixtures("one_torch_thread")

EXIT_USAGE = 2
LOSS_LINE = re.compile(r"^step (\d+): train loss (\d+\.\d{4}), val loss (\d+\.\d{4})$", re.M)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _set(overrides: list[str]) -> list[str]:
    return [arg for item in overrides for arg in ("--set", item)]


def _assert_one_line_usage_error(result, *fragments: str) -> None:
    assert result.exit_code == EXIT_USAGE, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


# --- CliRunner ---------------------------------------------------------------------------


def test_help_lists_the_commands(runner):
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "Usage: gpubench" in result.stdout
    for command in ("models", "train"):
        assert re.search(rf"^│ {command} ", result.stdout, re.M), command
    assert "--version" in result.stdout


def test_no_command_prints_help(runner):
    result = runner.invoke(app, [])
    assert "Usage: gpubench" in result.output
    assert "train" in result.output and "models" in result.output


def test_version(runner):
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"gpubench {__version__}\n"
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_models_table_shows_the_exact_counts(runner):
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.stdout.splitlines() if "│" in line}
    assert "4,225" in rows["bigram"]
    assert "4,481" in rows["bigram-pos"]
    assert "10,788,929" in rows["gpt"]
    assert "vocabulary 65" in result.stdout


def test_models_json(runner):
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["schema"] == "gpubench.models/1"
    models = {m["name"]: m for m in document["models"]}
    assert list(models) == ["bigram", "bigram-pos", "gpt"]
    assert {n: m["parameters"] for n, m in models.items()} == {
        "bigram": 4_225,
        "bigram-pos": 4_481,
        "gpt": 10_788_929,
    }
    assert all(m["vocab_size"] == 65 for m in models.values())
    assert models["gpt"]["defaults"]["n_layer"] == 6
    assert models["gpt"]["variants"] == ["reference", "fast"]
    assert models["bigram"]["defaults"]["learning_rate"] == 0.01
    assert models["bigram-pos"]["path"].endswith("bigram_pos.py")


def test_train_tiny_gpt_prints_loss_lines_and_a_sample(runner, tiny_text_file, tiny_gpt_overrides):
    args = ["train", "--model", "gpt", "--iters", "12", "--data", str(tiny_text_file)]
    args += _set([*tiny_gpt_overrides, "eval_iters=2"]) + ["--generate", "40"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("Training gpt (reference) on cpu for 12 steps, batch 4, block 16")
    assert str(tiny_text_file) in out.replace("\n", "")
    steps = [int(m.group(1)) for m in LOSS_LINE.finditer(out)]
    assert steps == [0, 11]  # eval_interval 500: step 0 and the last step
    assert re.search(r"^0\.0\d{5} M parameters$", out, re.M)
    assert re.search(
        r"^trained in \d+\.\d s \(\d+\.\d\d ms/step, evaluations included\)$", out, re.M
    )
    sample = out.split(" sample ", 1)[1].split("\n", 1)[1]
    alphabet = set(tiny_text_file.read_text(encoding="utf-8"))
    assert len(sample.strip()) >= 10
    assert set(sample) <= alphabet | {"\n", " "}
    assert result.stderr == ""


def test_train_without_generate_prints_no_sample(runner, tiny_text_file):
    args = ["train", "--model", "bigram", "--iters", "3", "--data", str(tiny_text_file)]
    result = runner.invoke(app, args + _set(["eval_iters=1"]) + ["--generate", "0"])
    assert result.exit_code == 0, result.output
    assert [int(m.group(1)) for m in LOSS_LINE.finditer(result.stdout)] == [0, 2]
    assert " sample " not in result.stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--set", "n_embd=abc"], ["--set n_embd=abc: expected a whole number (default is 384)"]),
        (["--set", "n_layers=2"], ["--set n_layers: unknown key for model 'gpt'; known: "]),
        (["--set", "n_layer"], ["expected KEY=VALUE"]),
        (["--set", "n_embd=32"], ["n_embd=32 must be divisible by n_head=6"]),
        (["--set", "dropout=1.5"], ["dropout must be in [0, 1)"]),
        (["--iters", "0"], ["--iters '0': must be a whole number of at least 1"]),
        (["--iters", "-5"], ["--iters '-5': not a count"]),
        (["--iters", "abc"], ["--iters 'abc': not a count"]),
        (["--iters", "1,,2"], ["--iters '1,,2': not a count"]),
        (["--iters", ""], ["--iters '': not a count"]),
        (["--batch-size", "0"], ["--batch-size '0': must be a whole number of at least 1"]),
        (["--device", "gpu"], ["unknown device 'gpu'"]),
    ],
)
def test_train_bad_usage_is_one_line_and_exit_2(runner, tiny_text_file, args, fragments):
    # Were an argument wrongly accepted, the short run below keeps the failure quick.
    base = ["train", "--model", "gpt", "--data", str(tiny_text_file), "--iters", "1"]
    result = runner.invoke(app, [*base, "--set", "eval_iters=1", "--generate", "0", *args])
    _assert_one_line_usage_error(result, *fragments)


def test_train_unknown_model(runner, tiny_text_file):
    result = runner.invoke(app, ["train", "--model", "gpt3", "--data", str(tiny_text_file)])
    _assert_one_line_usage_error(result, "unknown model 'gpt3'; use one of bigram, bigram-pos, gpt")


def test_train_model_file_breaking_the_contract(runner, tmp_path, tiny_text_file):
    path = tmp_path / "broken.py"
    path.write_text("CONFIG = {}\n", encoding="utf-8")
    result = runner.invoke(app, ["train", "--model", str(path), "--data", str(tiny_text_file)])
    _assert_one_line_usage_error(result, str(path), "must define build(config, vocab_size)")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (None, "no such file"),
        (b"", "the file is empty"),
        (b"\x00\x01\x02", "looks binary"),
        (b"\xff\xfe\xfa", "not UTF-8 text"),
        (b"0123456789", "each split needs at least block_size + 1 = 9"),
    ],
    ids=["missing", "empty", "binary", "not-utf8", "too-short"],
)
def test_train_bad_data(runner, tmp_path, content, fragment):
    path = tmp_path / "data.txt"
    if content is not None:
        path.write_bytes(content)
    result = runner.invoke(app, ["train", "--model", "bigram", "--data", str(path)])
    _assert_one_line_usage_error(result, f"--data {path}", fragment)


def test_train_on_cuda_without_a_gpu_points_to_the_doctor(runner, tiny_text_file):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = runner.invoke(app, ["train", "--device", "cuda", "--data", str(tiny_text_file)])
    _assert_one_line_usage_error(result, "device 'cuda:0' is not usable here", "gpubench doctor")


def test_train_offline_without_data_names_the_address_and_data_option(runner):
    result = runner.invoke(app, ["train", "--model", "bigram"])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"gpubench: could not download the corpus from {UNROUTABLE_CORPUS_URL}")
    assert "--data" in line


# --- a real subprocess -------------------------------------------------------------------


def _gpubench(tmp_path, *args: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *extra, "-m", "gpubench", *args],
        cwd=tmp_path,
        env=dict(os.environ, COLUMNS="120"),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_subprocess_help_exits_0_without_importing_torch(tmp_path):
    done = _gpubench(tmp_path, "--help", extra=("-X", "importtime"))
    assert done.returncode == 0, done.stderr
    assert "Usage: python -m gpubench [OPTIONS] COMMAND" in done.stdout
    assert re.search(r"^│ train ", done.stdout, re.M)
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "gpubench.cli" in imported
    assert not [name for name in imported if name == "torch" or name.startswith("torch.")]


def test_help_in_process_leaves_torch_unimported(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        from typer.testing import CliRunner
        from gpubench.cli import app
        result = CliRunner().invoke(app, ["--help"])
        assert result.exit_code == 0, result.output
        result = CliRunner().invoke(app, ["train", "--help"])
        assert result.exit_code == 0, result.output
        heavy = sorted(m for m in ("torch", "pandas", "numpy") if m in sys.modules)
        print("heavy:", heavy)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "heavy: []"


def test_subprocess_version(tmp_path):
    done = _gpubench(tmp_path, "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"gpubench {__version__}\n"


def test_subprocess_train_offline_fails_with_one_line(tmp_path):
    done = _gpubench(tmp_path, "train", "--model", "bigram")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"gpubench: could not download the corpus from {UNROUTABLE_CORPUS_URL} ("
    )
    assert lines[0].endswith("pass --data FILE to use a local text file")
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["train", "--variant", "turbo"], ["'turbo' is not one of", "'reference'", "'compile'"]),
        (["run", "--protocol", "fastest"], ["'fastest' is not one of 'lecture', 'train'"]),
        (["report", "x", "--format", "yaml"], ["'yaml' is not one of", "'markdown'"]),
    ],
)
def test_a_bad_choice_is_one_line_and_exit_2(run_cli, args, fragments):
    code, out, err = run_cli(*args)
    assert code == EXIT_USAGE and out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.mark.parametrize(
    ("command", "choices"),
    [
        ("run", ["lecture|train", "reference|fast|compile"]),
        ("train", ["reference|fast|compile"]),
        ("report", ["table|markdown|csv|json"]),
    ],
)
def test_help_shows_the_choices(runner, command, choices):
    result = runner.invoke(app, [command, "--help"], terminal_width=200)
    assert result.exit_code == 0
    for choice in choices:
        assert choice in result.stdout


def test_shell_completion_is_offered(runner):
    result = runner.invoke(app, ["--help"], terminal_width=200)
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


@pytest.mark.parametrize(("stop", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stopped_train_prints_its_last_losses_and_time(tmp_path, tiny_text_file, stop, code):
    """Ctrl-C and SIGTERM during `gpubench train`: the last losses and the elapsed time, then
    130 / 143. The signal is sent once the first evaluation's line is out."""
    import signal
    import time

    process = subprocess.Popen(
        [sys.executable, "-m", "gpubench", "train", "--model", "bigram", "--iters", "100000000",
         "--data", str(tiny_text_file), "--set", "eval_interval=100000000", "--set",
         "eval_iters=2", "--generate", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:  # wait for the step-0 evaluation: the loop is running
        if line.startswith("step 0:") or time.monotonic() > deadline:
            break
    time.sleep(0.5)
    process.send_signal(getattr(signal, stop))
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "stopped after" in err and "of 100,000,000 steps in" in err
    assert "last evaluation (step 0): train loss" in err
    assert "training loss of the last steps" in err
