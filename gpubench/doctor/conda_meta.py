"""Read a conda env's ``conda-meta/*.json`` records and find what conda itself would trip over.

A record is ``conda-meta/<name>-<version>-<build>.json`` with ``name``, ``version``, ``build``,
``channel`` (a URL, with or without the platform subdir, or a bare channel name), ``url`` and
``files`` (paths relative to the prefix; newer records also carry ``paths_data.paths[]._path``).
Two records claiming one path is what makes conda raise ``ClobberError``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gpubench.doctor.facts import CondaFacts, CondaPackage, SharedFile

# Hosts that serve the official channels; any other host is a mirror.
ANACONDA_HOSTS = frozenset(
    {"conda.anaconda.org", "repo.anaconda.com", "repo.continuum.io", "anaconda.org"}
)
PLATFORM_SUBDIRS = frozenset(
    {
        "noarch",
        "linux-64",
        "linux-aarch64",
        "linux-ppc64le",
        "linux-32",
        "osx-64",
        "osx-arm64",
        "win-64",
        "win-32",
    }
)
# Channel path tails -> family. Source: the channels' own names on anaconda.org; "defaults" is
# Anaconda's pkgs/main, pkgs/r, pkgs/msys2 (and the retired pkgs/free, pkgs/pro).
CHANNEL_FAMILY_TAILS: tuple[tuple[str, str], ...] = (
    ("pkgs/main", "defaults"),
    ("pkgs/r", "defaults"),
    ("pkgs/free", "defaults"),
    ("pkgs/pro", "defaults"),
    ("pkgs/msys2", "defaults"),
    ("defaults", "defaults"),
    ("conda-forge", "conda-forge"),
    ("pytorch", "pytorch"),
    ("pytorch-nightly", "pytorch"),
    ("pytorch-test", "pytorch"),
    ("pytorch-lts", "pytorch"),
    ("nvidia", "nvidia"),
)
# The largest number of shared paths kept in the facts (the count is what matters).
MAX_SHARED_FILES = 200


@dataclass(frozen=True)
class Channel:
    """Where a package came from: its family, and the mirror host if it was not Anaconda's."""

    family: str
    mirror: str | None = None

    @property
    def label(self) -> str:
        return f"{self.family} via {self.mirror}" if self.mirror else self.family


def classify_channel(channel: str) -> Channel:
    """``https://mirrors.example.edu.cn/anaconda/pkgs/main/linux-64`` -> defaults via a mirror."""
    text = channel.strip().rstrip("/")
    if not text:
        return Channel("unknown")
    host: str | None = None
    path = text
    if "://" in text:
        parsed = urlparse(text)
        host = parsed.hostname or None
        path = parsed.path.strip("/")
    parts = [part for part in path.split("/") if part]
    if parts and parts[-1] in PLATFORM_SUBDIRS:
        parts = parts[:-1]
    if len(parts) >= 2 and parts[-2] == "label":  # e.g. conda-forge/label/cf202003
        parts = parts[:-2]
    tail = "/".join(parts)
    mirror = host if host and host not in ANACONDA_HOSTS else None
    for suffix, family in CHANNEL_FAMILY_TAILS:
        if tail == suffix or tail.endswith("/" + suffix):
            return Channel(family, mirror)
    family = parts[-1] if parts else (host or "unknown")
    return Channel(family, mirror)


def record_files(record: dict[str, Any]) -> list[str]:
    """The paths a record installs, from ``files`` or ``paths_data``."""
    files = record.get("files")
    if isinstance(files, list) and files:
        return [str(item) for item in files]
    paths = (record.get("paths_data") or {}).get("paths") or []
    return [str(item["_path"]) for item in paths if isinstance(item, dict) and "_path" in item]


def record_channel(record: dict[str, Any]) -> str:
    channel = record.get("channel")
    if isinstance(channel, str) and channel:
        return channel
    url = record.get("url")
    if isinstance(url, str) and "/" in url:
        return url.rsplit("/", 1)[0]  # drop the package file name
    schannel = record.get("schannel")
    return schannel if isinstance(schannel, str) else ""


def find_shared_files(files_by_package: dict[str, list[str]]) -> list[SharedFile]:
    """Paths claimed by more than one package, sorted by path."""
    owners: dict[str, list[str]] = defaultdict(list)
    for package, files in files_by_package.items():
        for path in set(files):
            owners[path].append(package)
    return [
        SharedFile(path=path, owners=sorted(names))
        for path, names in sorted(owners.items())
        if len(names) > 1
    ]


def read_conda_meta(prefix: Path) -> CondaFacts | None:
    """Read the records of a conda prefix; None when ``prefix`` has no conda-meta directory."""
    meta_dir = prefix / "conda-meta"
    if not meta_dir.is_dir():
        return None
    facts = CondaFacts(prefix=str(prefix), env_name=prefix.name)
    files_by_package: dict[str, list[str]] = {}
    for path in sorted(meta_dir.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            name = str(record["name"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            facts.unreadable_records.append(f"{path.name}: {type(error).__name__}")
            continue
        package = CondaPackage(
            name=name,
            version=str(record.get("version", "")),
            build=str(record.get("build", record.get("build_string", ""))),
            channel=record_channel(record),
        )
        facts.packages.append(package)
        files_by_package[package.record_id] = record_files(record)
    shared = find_shared_files(files_by_package)
    facts.shared_files = shared[:MAX_SHARED_FILES]
    facts.shared_file_count = len(shared)
    return facts
