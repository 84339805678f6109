"""The device probe worker: the matmul peak (per dtype) and the op model's machine
parameters, measured once per device and thread count, before the cells, in a process of its
own (docs/design.md, "Throughput and efficiency").

Measured inside a cell, after training with the model still in memory, the peak varied by
15 % between two cells of one run and could run a GPU out of memory and fail a cell whose
training fit. Here a failure or an out-of-memory error costs a peak (``None`` and a note),
never a cell. Started by the engine as ``python -m gpubench.bench.peak`` with a
``DeviceProbeJob`` (JSON) on stdin; it answers ``ready`` then ``result`` (JSON lines).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DeviceProbeJob:
    device: str
    threads: int | None = None  # CPU threads, as the cells use them
    dtypes: tuple[str, ...] = ("fp32",)
    peak_s: float = 0.5  # seconds of timed matmuls per dtype
    machine: bool = False  # also measure the op model's parameters (the profile phase's)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "dtypes": list(self.dtypes)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceProbeJob:
        return cls(
            device=str(data["device"]), threads=data.get("threads"),
            dtypes=tuple(data.get("dtypes", ("fp32",))), peak_s=float(data.get("peak_s", 0.5)),
            machine=bool(data.get("machine", False)),
        )  # fmt: skip


@dataclass
class DeviceProbeResult:
    peaks: dict[str, float | None] = field(default_factory=dict)  # dtype -> FLOP/s
    machine: dict[str, Any] | None = None  # MachineParams as a dict
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceProbeResult:
        return cls(
            peaks=dict(data.get("peaks", {})), machine=data.get("machine"),
            notes=list(data.get("notes", [])),
        )  # fmt: skip


def probe_device(job: DeviceProbeJob) -> DeviceProbeResult:
    """Each measurement guarded on its own: one that fails leaves a note and no figure."""
    import torch

    from gpubench.bench.flops import measure_peak_flops

    if job.threads:
        torch.set_num_threads(job.threads)
    result = DeviceProbeResult()
    for dtype in job.dtypes:
        try:
            result.peaks[dtype] = measure_peak_flops(job.device, dtype, seconds=job.peak_s)
        except Exception as error:  # an OOM or an unsupported dtype costs only this figure
            result.peaks[dtype] = None
            result.notes.append(
                f"matmul peak at {dtype} on {job.device} not measured "
                f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}); "
                "no MFU for its cells"
            )
        finally:
            _free(job.device)
    if job.machine:
        try:
            from gpubench.bench.profile import probe_machine

            result.machine = asdict(probe_machine(job.device))
        except Exception as error:
            result.notes.append(
                f"machine probe on {job.device} failed ({type(error).__name__}); "
                "each cell's profile probes it itself"
            )
        finally:
            _free(job.device)
    return result


def _free(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def main() -> int:
    stream = sys.stdout
    sys.stdout = sys.stderr  # stray prints must not corrupt the protocol
    job = DeviceProbeJob.from_dict(json.loads(sys.stdin.read()))
    import torch  # noqa: F401  (part of the probe's startup)

    stream.write(json.dumps({"event": "ready"}) + "\n")
    stream.flush()
    result = probe_device(job)
    stream.write(json.dumps({"event": "result", "result": asdict(result)}) + "\n")
    stream.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
