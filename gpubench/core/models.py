"""Find and load model files by path, and apply typed ``--set KEY=VALUE`` overrides.

Model files live in ``models/`` of the checkout; a wheel ships them as package data in
``gpubench/models/``. They are loaded by path, so no top-level ``models`` package exists.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from gpubench.errors import ModelFileError, UsageError

REFERENCE_MODELS = ("bigram", "bigram-pos", "gpt")
TRAINING_KEYS = ("batch_size", "block_size", "learning_rate", "max_iters", "eval_interval",
                 "eval_iters")  # fmt: skip


def models_dir() -> Path:
    """The folder holding the reference model files, installed or in a checkout."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir / "models", package_dir.parent / "models"):
        if (candidate / "gpt.py").is_file():
            return candidate
    raise ModelFileError(f"reference model files not found next to {package_dir}")


@dataclass(frozen=True)
class ModelSpec:
    """A loaded model file: its name, path, module and default config."""

    name: str
    path: Path
    module: ModuleType = field(repr=False, compare=False)

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.module.CONFIG)

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(getattr(self.module, "VARIANTS", ("reference",)))

    def build(self, config: dict[str, Any], vocab_size: int, variant: str = "reference") -> Any:
        """Build the module; a file that offers variants takes ``variant`` as a keyword."""
        if variant not in self.variants:
            raise UsageError(
                f"model {self.name!r} has no variant {variant!r}; "
                f"it has: {', '.join(self.variants)}"
            )
        if len(self.variants) > 1:
            return self.module.build(config, vocab_size, variant=variant)
        return self.module.build(config, vocab_size)


def _load_module(name: str, path: Path) -> ModuleType:
    module_name = f"gpubench_model_{name.replace('-', '_').replace('.', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ModelFileError(f"cannot load model file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses and pickling look modules up by name
    try:
        spec.loader.exec_module(module)
    except Exception as error:  # a user file may raise anything at import
        sys.modules.pop(module_name, None)
        raise ModelFileError(f"model file {path} failed to import: {error}") from error
    return module


def _check_contract(module: ModuleType, path: Path) -> None:
    config = getattr(module, "CONFIG", None)
    if not isinstance(config, dict):
        raise ModelFileError(f"model file {path} must define CONFIG as a dict of defaults")
    if not callable(getattr(module, "build", None)):
        raise ModelFileError(f"model file {path} must define build(config, vocab_size)")
    missing = [key for key in TRAINING_KEYS if key not in config]
    if missing:
        raise ModelFileError(f"model file {path}: CONFIG lacks {', '.join(missing)}")


def load_model(name_or_path: str) -> ModelSpec:
    """Load a reference model by name (``gpt``) or a user model file by path (runs that file)."""
    if name_or_path in REFERENCE_MODELS:
        path = models_dir() / f"{name_or_path.replace('-', '_')}.py"
        name = name_or_path
    else:
        path = Path(name_or_path).expanduser()
        if path.suffix != ".py" or not path.is_file():
            raise ModelFileError(
                f"unknown model {name_or_path!r}; use one of {', '.join(REFERENCE_MODELS)} "
                "or a path to a .py model file"
            )
        name = path.stem
    module = _load_module(name, path)
    _check_contract(module, path)
    return ModelSpec(name=name, path=path.resolve(), module=module)


def parse_value(key: str, text: str, default: Any) -> Any:
    """Convert ``text`` to the type of ``default`` (the config's own type decides)."""
    kind = type(default)
    if default is None:
        return text
    try:
        if kind is bool:
            lowered = text.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind is int:
            number = float(text)  # accepts 1e3
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        if kind is float:
            return float(text)
        return kind(text)
    except (ValueError, TypeError):
        expected = {bool: "true or false", int: "a whole number", float: "a number"}.get(
            kind, kind.__name__
        )
        raise UsageError(
            f"--set {key}={text}: expected {expected} (default is {default!r})"
        ) from None


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    """Split ``KEY=VALUE`` strings; values stay text until a model types them."""
    overrides: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise UsageError(f"--set {item!r}: expected KEY=VALUE, e.g. --set n_layer=2")
        overrides[key.strip()] = value.strip()
    return overrides


def resolve_config(spec: ModelSpec, overrides: dict[str, str]) -> dict[str, Any]:
    """The model's defaults with overrides applied, each typed and range-checked."""
    config = spec.defaults
    for key, text in overrides.items():
        if key not in config:
            raise UsageError(
                f"--set {key}: unknown key for model {spec.name!r}; known: {', '.join(config)}"
            )
        config[key] = parse_value(key, text, config[key])
    _check_values(spec.name, config)
    return config


def _check_values(name: str, config: dict[str, Any]) -> None:
    for key in ("batch_size", "block_size", "max_iters", "eval_interval", "eval_iters",
                "n_embd", "n_head", "n_layer"):  # fmt: skip
        if key in config and config[key] < 1:
            raise UsageError(f"--set {key}={config[key]}: must be at least 1 (model {name!r})")
    if not 0 < config.get("learning_rate", 1.0) < float("inf"):  # also refuses nan
        raise UsageError(f"learning_rate must be positive (model {name!r})")
    if not 0.0 <= config.get("dropout", 0.0) < 1.0:
        raise UsageError(f"dropout must be in [0, 1) (model {name!r})")
    if "n_head" in config and "n_embd" in config and config["n_embd"] % config["n_head"]:
        raise UsageError(
            f"n_embd={config['n_embd']} must be divisible by n_head={config['n_head']} "
            f"(model {name!r})"
        )


def count_parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())
