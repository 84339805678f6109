"""conda-meta records on disk: channels, shared files (ClobberError), and the checks on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpubench.doctor.checks.environment import check_conda_channel_mix, check_conda_clobber
from gpubench.doctor.conda_meta import classify_channel, find_shared_files, read_conda_meta
from gpubench.doctor.facts import Facts
from gpubench.doctor.findings import Severity
from tests.doctor.conftest import write_conda_record, write_seed_conda_prefix


@pytest.mark.parametrize(
    ("channel", "family", "mirror"),
    [
        ("https://conda.anaconda.org/pytorch/linux-64", "pytorch", None),
        ("https://conda.anaconda.org/pytorch-nightly/linux-64", "pytorch", None),
        ("https://conda.anaconda.org/nvidia", "nvidia", None),
        ("https://conda.anaconda.org/conda-forge/noarch", "conda-forge", None),
        ("https://conda.anaconda.org/conda-forge/label/cf202003/linux-64", "conda-forge", None),
        ("https://repo.anaconda.com/pkgs/main/linux-64", "defaults", None),
        ("https://repo.anaconda.com/pkgs/r/noarch", "defaults", None),
        ("pkgs/main", "defaults", None),
        ("defaults", "defaults", None),
        ("conda-forge", "conda-forge", None),
        (
            "https://mirrors.example.edu.cn/anaconda/pkgs/main/linux-64",
            "defaults",
            "mirrors.example.edu.cn",
        ),
        (
            "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud/pytorch/linux-64",
            "pytorch",
            "mirrors.tuna.tsinghua.edu.cn",
        ),
        ("https://conda.anaconda.org/bioconda/noarch", "bioconda", None),
        ("", "unknown", None),
    ],
)
def test_classify_channel(channel: str, family: str, mirror: str | None):
    result = classify_channel(channel)
    assert (result.family, result.mirror) == (family, mirror)


def test_find_shared_files():
    shared = find_shared_files({"a-1-0": ["x", "y", "y"], "b-1-0": ["y", "z"], "c-1-0": ["z", "w"]})
    assert [(item.path, item.owners) for item in shared] == [
        ("y", ["a-1-0", "b-1-0"]),
        ("z", ["b-1-0", "c-1-0"]),
    ]


def test_read_the_seeds_prefix_from_disk(tmp_path: Path):
    prefix = write_seed_conda_prefix(tmp_path / "envs" / "gpt")
    (prefix / "conda-meta" / "history").write_text("==> 2026-11-20 <==\n")  # not a record
    (prefix / "conda-meta" / "broken-1.0-0.json").write_text("{not json")
    facts = read_conda_meta(prefix)
    assert facts is not None
    assert facts.env_name == "gpt"
    assert {package.name for package in facts.packages} == {
        "python",
        "jpeg",
        "libpng",
        "libjpeg-turbo",
        "pytorch",
        "cuda-runtime",
    }
    assert facts.unreadable_records == ["broken-1.0-0.json: JSONDecodeError"]
    paths = [item.path for item in facts.shared_files]
    assert "share/man/man1/rdjpgcom.1" in paths and "bin/tjbench" not in paths
    assert facts.shared_file_count == 6
    assert facts.shared_files[0].owners == ["jpeg-9e-h5eee18b_1", "libjpeg-turbo-2.0.0-h9bf148f_0"]


def test_records_with_only_paths_data_and_a_url(tmp_path: Path):
    meta = tmp_path / "conda-meta"
    meta.mkdir()
    record = {
        "name": "zlib",
        "version": "1.3.1",
        "build": "hb9d3cd8_2",
        "url": "https://conda.anaconda.org/conda-forge/linux-64/zlib-1.3.1-hb9d3cd8_2.conda",
        "files": [],
        "paths_data": {"paths": [{"_path": "lib/libz.so.1"}], "paths_version": 1},
    }
    (meta / "zlib-1.3.1-hb9d3cd8_2.json").write_text(json.dumps(record))
    write_conda_record(tmp_path, "libzlib", "1.3.1", "0", "conda-forge", ["lib/libz.so.1"])
    facts = read_conda_meta(tmp_path)
    assert facts is not None
    zlib = next(package for package in facts.packages if package.name == "zlib")
    assert classify_channel(zlib.channel).family == "conda-forge"
    assert [item.path for item in facts.shared_files] == ["lib/libz.so.1"]


def test_a_directory_without_conda_meta_is_not_a_conda_env(tmp_path: Path):
    assert read_conda_meta(tmp_path) is None


def test_checks_on_the_prefix_read_from_disk(tmp_path: Path):
    facts = Facts()
    facts.conda = read_conda_meta(write_seed_conda_prefix(tmp_path / "gpt"))
    (clobber,) = check_conda_clobber(facts)
    assert clobber.severity == Severity.ERROR
    assert "jpeg 9e (defaults via mirrors.example.edu.cn)" in clobber.detail
    assert "libjpeg-turbo 2.0.0 (pytorch)" in clobber.detail
    assert "share/man/man1/rdjpgcom.1" in clobber.detail
    assert clobber.fix[0] == "conda clean --all -y"
    assert "conda create -n gpt-clean python=3.11 -y" in clobber.fix
    (mix,) = check_conda_channel_mix(facts)
    assert mix.severity == Severity.WARN
    assert "3 channel families" in mix.title
    assert "no longer published" in mix.detail
    assert mix.fix[0] == "conda config --env --set channel_priority strict"
