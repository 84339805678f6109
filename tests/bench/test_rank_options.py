"""--nproc, --nnodes, --rdzv-endpoint and --node-rank: one-line usage errors (exit 2) before
anything runs, and the world sizes they make (docs/distributed.md)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gpubench.bench.plan import check_ranks, expand_plan
from gpubench.core.data import TextSource
from gpubench.errors import UsageError
from gpubench.options import parse_sweep_options
from gpubench.results.sweep_options import SweepOptions


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"nproc": "0"}, "--nproc '0': must be a whole number of at least 1"),
        ({"nproc": "1,,2"}, "no empty items"),
        ({"rdzv_endpoint": "h:1"}, "--rdzv-endpoint is for several machines"),
        ({"node_rank": 0}, "--node-rank is for several machines"),
        ({"nnodes": 2}, "needs --rdzv-endpoint HOST:PORT"),
        ({"nnodes": 2, "rdzv_endpoint": "nohost"}, "must be HOST:PORT"),
        ({"nnodes": 2, "rdzv_endpoint": "h:1", "node_rank": 2}, "must be in 0..1"),
        ({"nproc": "2", "variants": "compile"}, "not measured on several ranks"),
    ],
)
def test_bad_launch_options_are_one_line_usage_errors(options: dict, message: str) -> None:
    with pytest.raises(UsageError) as error:
        parse_sweep_options(**options)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_world_sizes_multiply_ranks_per_node_by_nodes() -> None:
    assert parse_sweep_options(nproc="4,1,2").world_sizes == (1, 2, 4)
    several = parse_sweep_options(nproc="1,2", nnodes=2, rdzv_endpoint="h:29400")
    assert several.world_sizes == (2, 4)
    assert SweepOptions.from_dict(several.to_dict()) == several  # --resume reads them back


def test_more_ranks_than_visible_gpus_is_refused() -> None:
    options = parse_sweep_options(nproc="1,2", devices="cuda")
    with pytest.raises(UsageError, match="--nproc 2: needs 2 visible GPUs on this node, found 1"):
        check_ranks(options, ["cuda:0"], ["cpu", "cuda:0"])
    check_ranks(options, ["cuda:0"], ["cpu", "cuda:0", "cuda:1"])  # enough: no error


def test_strong_scaling_needs_a_batch_the_ranks_can_split() -> None:
    options = parse_sweep_options(nproc="2", batch_sizes="15")
    with pytest.raises(UsageError, match="use multiples of 2"):
        check_ranks(options, ["cpu"], ["cpu"])


def test_the_cli_says_it_in_one_line_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpubench", "run", "--rdzv-endpoint", "h:29400"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "--rdzv-endpoint is for several machines" in lines[0]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "model 'gpt' has batch size 64: strong scaling splits it between 3 ranks; "
             "pass --batch-sizes with multiples of 3"),
        ({"overrides": ["batch_size=10"]}, "--set batch_size=10: strong scaling splits it "
                                           "between 3 ranks; use multiples of 3"),
    ],
)  # fmt: skip
def test_a_model_batch_size_strong_scaling_cannot_split_is_refused_before_any_cell(
    options: dict, message: str
) -> None:
    parsed = parse_sweep_options(models="gpt", nproc="1,3", devices="cpu", **options)
    with pytest.raises(UsageError) as error:
        expand_plan(parsed, TextSource(label="synthetic"), available_devices=["cpu"])
    assert message in str(error.value) and "\n" not in str(error.value)
    splittable = parse_sweep_options(models="gpt", nproc="1,2", devices="cpu", **options)
    expand_plan(splittable, TextSource(label="synthetic"), available_devices=["cpu"])


def test_the_cli_refuses_a_default_batch_size_three_ranks_cannot_split(tmp_path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gpubench", "run", "--models", "gpt", "--devices", "cpu",
         "--nproc", "3", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "model 'gpt' has batch size 64" in errors[0], done.stderr
    assert not any(tmp_path.iterdir())  # nothing ran, no run folder
