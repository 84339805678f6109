"""The fast variant's machine-dependent choices, decided by timing them on the cell's shapes.

Whether bf16 autocast, SDPA with dropout, a cheaper dropout mask, batch slices or the fused
AdamW pay off depends on the CPU or GPU at hand (one CPU runs bf16 matmuls 8x faster than
fp32, another 0.8x), so no rule about CPU models decides: a short probe times each
candidate for a few steps from the same weights on the same batches and keeps the fastest
whose loss stays within tolerance. The choices are cached per machine and torch version,
keyed by the cell's shapes. See docs/fast-variant.md.
"""

from __future__ import annotations

import gc
import hashlib
import json
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpubench.results.io import write_json_atomic

if TYPE_CHECKING:
    import torch

    from gpubench.core.data import Dataset
    from gpubench.core.models import ModelSpec

CACHE_VERSION = 1  # 1: first format (machine, entries keyed by shapes)
# Per candidate: one step warms up (allocations, kernel setup), then up to 3 are timed, fewer
# once they pass PROBE_SECONDS (the lecture GPT takes seconds a step on a small CPU). The
# fastest timed step counts: on a shared machine other work only ever adds time.
PROBE_TIMED_STEPS = 3
PROBE_SECONDS = 3.0
MIN_GAIN = 0.03  # a candidate must be 3 % faster to replace the current choice (noise margin)
# The tolerance of the trajectory test (tests/test_fast_variant.py): the fast variant's loss
# within 2 % of the reference's.
LOSS_TOLERANCE = 0.02
NOT_TIMED = ("max_iters", "eval_interval", "eval_iters")  # config keys that do not shape a step

# The candidates per device, each option's first value the probe's starting point (the most
# exact or the previously shipped one). Probed in this order, one option at a time, keeping
# the others at the best found so far. Model options apply only where the model file declares
# them (FAST_OPTIONS in models/gpt.py).
CANDIDATES: dict[str, dict[str, tuple[Any, ...]]] = {
    "cpu": {
        "precision": ("fp32", "bf16"),
        "attention": ("explicit", "sdpa"),
        "dropout_mask": ("packed", "torch"),
        "batch_slices": (True, False),
        "adamw": ("fused", "foreach"),
    },
    "cuda": {
        "precision": ("tf32", "bf16"),
        "sdpa_backend": ("auto", "flash", "efficient", "cudnn"),
        "attention": ("sdpa", "explicit"),
        "dropout_mask": ("torch", "packed"),
        "adamw": ("fused", "foreach"),
    },
}

# How describe() names an option and its values.
OPTION_LABELS = {
    "precision": "precision",
    "attention": "attention with dropout",
    "dropout_mask": "dropout mask",
    "batch_slices": "batch in slices",
    "adamw": "AdamW",
    "sdpa_backend": "SDPA backend",
}


@dataclass(frozen=True)
class Trial:
    """One candidate timed: the full set of options it ran, and what came of it."""

    option: str  # the option this trial varies ("baseline" for the starting point)
    options: dict[str, Any]
    seconds_per_step: float | None  # fastest timed step; None when it failed
    losses: list[float]
    accepted: bool
    reason: str = ""  # why rejected: loss drift or the error it raised
    compared_with: float | None = None  # s/step of the choice it had to beat

    @property
    def value(self) -> Any:
        return self.options.get(self.option)

    def to_dict(self) -> dict[str, Any]:
        return {
            "option": self.option, "options": self.options,
            "seconds_per_step": self.seconds_per_step, "losses": self.losses,
            "accepted": self.accepted, "reason": self.reason,
            "compared_with": self.compared_with,
        }  # fmt: skip

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Trial:
        return cls(
            option=data["option"], options=dict(data["options"]),
            seconds_per_step=data["seconds_per_step"], losses=list(data["losses"]),
            accepted=bool(data["accepted"]), reason=data.get("reason", ""),
            compared_with=data.get("compared_with"),
        )  # fmt: skip


@dataclass(frozen=True)
class FastChoices:
    """The fast variant's options for one cell, with the timings and loss checks behind them."""

    options: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    from_cache: bool = False
    probe_seconds: float = 0.0  # wall time this call spent probing (0 on a cache hit)
    measured_seconds: float = 0.0  # wall time of the probe that measured them
    tolerance: float = LOSS_TOLERANCE

    def to_dict(self) -> dict[str, Any]:
        """The record for results.json."""
        return {
            "options": self.options,
            "from_cache": self.from_cache,
            "probe_seconds": round(self.probe_seconds, 3),
            "measured_seconds": round(self.measured_seconds, 3),
            "loss_tolerance": self.tolerance,
            "trials": [trial.to_dict() for trial in self.trials],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, from_cache: bool = False) -> FastChoices:
        return cls(
            options=dict(data["options"]),
            trials=[Trial.from_dict(t) for t in data.get("trials", [])],
            from_cache=from_cache,
            probe_seconds=0.0 if from_cache else float(data.get("probe_seconds", 0.0)),
            measured_seconds=float(data.get("measured_seconds", 0.0)),
            tolerance=float(data.get("loss_tolerance", LOSS_TOLERANCE)),
        )

    def describe(self) -> list[str]:
        """Report-note lines: what was chosen and why, with the timings."""
        origin = (
            f"from the cache (measured earlier in {self.measured_seconds:.1f} s)"
            if self.from_cache
            else f"measured in {self.probe_seconds:.1f} s"
        )
        method = (
            f"each candidate's fastest of up to {PROBE_TIMED_STEPS} steps, "
            "from the same weights on the same batches"
        )
        lines = [f"fast variant options {origin}; {method}"]
        baseline = next((t for t in self.trials if t.option == "baseline"), None)
        for option, chosen in self.options.items():
            lines.append(self._describe_option(option, chosen, baseline))
        return lines

    def _describe_option(self, option: str, chosen: Any, baseline: Trial | None) -> str:
        tried = [t for t in self.trials if t.option == option]
        if not tried or baseline is None:
            return f"{_headline(option, chosen)} (not measured)"
        # Each option was probed from its first value, as the baseline ran it.
        outcomes: dict[Any, str] = {baseline.options[option]: _seconds(tried[0].compared_with)}
        for trial in tried:
            outcomes[trial.value] = (
                _seconds(trial.seconds_per_step) if trial.accepted else f"rejected: {trial.reason}"
            )
        first = f"{_value_name(option, chosen)} step {outcomes.pop(chosen)}"
        others = [f"{_value_name(option, value)} {text}" for value, text in outcomes.items()]
        return f"{_headline(option, chosen)} — " + " vs ".join([first, *others])


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.3g} s"


def _headline(option: str, value: Any) -> str:
    if option == "precision":
        return "bf16 autocast: on" if value == "bf16" else f"bf16 autocast: off ({value})"
    return f"{OPTION_LABELS.get(option, option)}: {_value_name(option, value)}"


def _value_name(option: str, value: Any) -> str:
    if option == "batch_slices":
        return "on" if value else "off"
    return str(value)


# --- choosing ---------------------------------------------------------------------------------

RunTrial = Callable[[dict[str, Any]], tuple[float, list[float]]]  # options -> (s/step, losses)


def choose_options(
    candidates: dict[str, tuple[Any, ...]],
    run_trial: RunTrial,
    *,
    tolerance: float = LOSS_TOLERANCE,
    min_gain: float = MIN_GAIN,
) -> tuple[dict[str, Any], list[Trial]]:
    """One pass of coordinate descent: start from every option's first value (the baseline,
    whose losses are the yardstick), then per option try the other values with the rest at
    the best so far; a value replaces the current one when it is ``min_gain`` faster and its
    mean loss over the probe steps is within ``tolerance`` (relative) of the baseline's; a
    NaN loss never is.
    A candidate that raises (e.g. an SDPA backend the GPU lacks) is rejected with its error.
    """
    current = {option: values[0] for option, values in candidates.items()}
    seconds, losses = run_trial(dict(current))
    baseline = Trial("baseline", dict(current), seconds, losses, accepted=True)
    trials = [baseline]
    best = seconds
    for option, values in candidates.items():
        for value in values[1:]:
            options = current | {option: value}
            try:
                seconds, losses = run_trial(dict(options))
            except (RuntimeError, ValueError, NotImplementedError) as error:
                first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
                trials.append(Trial(option, options, None, [], False, first_line[:200], best))
                continue
            drift = loss_drift(losses, baseline.losses)
            if not drift <= tolerance:  # also catches nan
                reason = f"loss off by {drift:.1%} from the baseline's, over {tolerance:.0%}"
                trials.append(Trial(option, options, seconds, losses, False, reason, best))
                continue
            trials.append(Trial(option, options, seconds, losses, True, "", best))
            if seconds < best * (1.0 - min_gain):
                current, best = options, seconds
    return current, trials


def loss_drift(losses: list[float], yardstick: list[float]) -> float:
    """Relative difference of the mean losses over the steps both ran (inf if none)."""
    n = min(len(losses), len(yardstick))
    if n == 0:
        return float("inf")
    ours, theirs = statistics.fmean(losses[:n]), statistics.fmean(yardstick[:n])
    return abs(ours - theirs) / abs(theirs) if theirs else abs(ours - theirs)


# --- measuring --------------------------------------------------------------------------------


def candidates_for(spec: ModelSpec, device: torch.device) -> dict[str, tuple[Any, ...]]:
    """This device's candidates, limited to what the model declares and the device supports."""
    import torch

    from gpubench.core.training import SESSION_OPTIONS, model_fast_options

    table = dict(CANDIDATES.get(device.type, {"precision": ("fp32",), "adamw": ("foreach",)}))
    declared = model_fast_options(spec)
    table = {k: v for k, v in table.items() if k in SESSION_OPTIONS or k in declared}
    if device.type == "cuda" and not torch.cuda.is_bf16_supported(including_emulation=False):
        table["precision"] = ("tf32",)
    return table


def make_trial_runner(
    spec: ModelSpec,
    config: dict[str, Any],
    dataset: Dataset,
    device: torch.device,
    *,
    timed_steps: int = PROBE_TIMED_STEPS,
    budget_seconds: float = PROBE_SECONDS,
    clock: Callable[[], float] = time.perf_counter,
) -> RunTrial:
    """A runner that trains a fresh fast session (same seed, so same weights) on the same
    pre-drawn batches: one warm-up step, then timed steps (see PROBE_TIMED_STEPS); returns
    the fastest timed step and the losses of all steps."""
    import torch

    from gpubench.core.data import get_batch
    from gpubench.core.training import SEED, TrainingSession

    torch.manual_seed(SEED + 1)
    batch_size, block_size = int(config["batch_size"]), int(config["block_size"])
    batches = [
        get_batch(dataset.train, batch_size, block_size, device) for _ in range(1 + timed_steps)
    ]

    def run_trial(options: dict[str, Any]) -> tuple[float, list[float]]:
        choices = FastChoices(options=options)
        session = TrainingSession(spec, dict(config), dataset, device, variant="fast",
                                  fast_choices=choices)  # fmt: skip
        try:
            times: list[float] = []
            losses: list[float] = []
            for batch in batches:
                session.sync()
                start = clock()
                loss = session.step(batch)
                session.sync()
                times.append(clock() - start)
                losses.append(float(loss.item()))
                if len(times) > 1 and sum(times[1:]) >= budget_seconds:
                    break
        finally:
            del session
            gc.collect()
        return min(times[1:] or times), losses

    return run_trial


def tune_fast_variant(
    spec: ModelSpec,
    config: dict[str, Any],
    dataset: Dataset,
    device: str | torch.device,
    *,
    cache_dir: Path | None = None,
    retune: bool = False,
    clock: Callable[[], float] = time.perf_counter,
    run_trial: RunTrial | None = None,
) -> FastChoices:
    """The fast variant's options for this cell: from the cache, or measured now and cached.

    Leaves torch's random state as it found it, so a session built afterwards is the same
    with or without a probe. ``run_trial`` replaces the real measurement (tests).
    """
    import torch

    device = torch.device(device)
    cache = ChoiceCache(cache_dir or default_cache_dir(), machine_identity(device))
    key = shape_key(spec, config, dataset.vocab_size, device)
    if not retune:
        cached = cache.load(key)
        if cached is not None:
            return cached
    start = clock()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        runner = run_trial or make_trial_runner(spec, config, dataset, device, clock=clock)
        options, trials = choose_options(candidates_for(spec, device), runner)
    seconds = clock() - start
    choices = FastChoices(options, trials, False, seconds, seconds)
    cache.store(key, choices)
    return choices


# --- the cache --------------------------------------------------------------------------------


def default_cache_dir() -> Path:
    """``<user cache>/gpubench/fast-variant`` (``GPUBENCH_CACHE_DIR`` moves the root)."""
    from gpubench.core.data import cache_dir

    return cache_dir() / "fast-variant"


def cpu_identity() -> dict[str, str]:
    """CPU model name and a digest of its feature flags (Linux: /proc/cpuinfo)."""
    model, flags = "", ""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    for line in text.splitlines():
        name, _, value = (part.strip() for part in line.partition(":"))
        if name == "model name" and not model:
            model = value
        if name in ("flags", "Features") and not flags:
            flags = " ".join(sorted(value.split()))
    model = model or platform.processor() or platform.machine()
    return {"cpu_model": model, "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16]}


def machine_identity(device: torch.device) -> dict[str, Any]:
    """What the timings depend on beyond the shapes: CPU, accelerator, torch, threads."""
    import torch

    identity: dict[str, Any] = cpu_identity() | {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "device": device.type,
    }
    if device.type == "cuda":
        identity["gpu"] = torch.cuda.get_device_name(device)
        identity["capability"] = list(torch.cuda.get_device_capability(device))
    return identity


def shape_key(spec: ModelSpec, config: dict[str, Any], vocab_size: int, device: Any) -> str:
    """The cell's shapes and model file (its source digest: an edited file is probed anew)."""
    digest = hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()[:12]
    shapes = " ".join(f"{k}={config[k]}" for k in sorted(config) if k not in NOT_TIMED)
    return f"{spec.name}@{digest} vocab={vocab_size} {shapes}"


class ChoiceCache:
    """One JSON file per machine identity, entries keyed by shape; unreadable means empty."""

    def __init__(self, directory: Path, machine: dict[str, Any]):
        self.machine = machine
        name = hashlib.sha256(json.dumps(machine, sort_keys=True).encode()).hexdigest()[:16]
        self.path = Path(directory) / f"{name}.json"

    def _entries(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if data.get("version") != CACHE_VERSION or data.get("machine") != self.machine:
            return {}
        return dict(data.get("entries", {}))

    def load(self, key: str) -> FastChoices | None:
        entry = self._entries().get(key)
        return None if entry is None else FastChoices.from_dict(entry, from_cache=True)

    def store(self, key: str, choices: FastChoices) -> None:
        """Add or replace one entry; written atomically (a kill never leaves half a file)."""
        entries = self._entries() | {key: choices.to_dict()}
        data = {"version": CACHE_VERSION, "machine": self.machine, "entries": entries}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path, data)
