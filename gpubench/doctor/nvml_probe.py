"""Worker: ask the NVIDIA driver what it sees, through NVML.

Run as ``python -m gpubench.doctor.nvml_probe``.

NVML answers without torch and without creating a CUDA context, but a wedged driver can make
it hang, so it runs in its own process like the torch probe.
"""

from __future__ import annotations

from typing import Any

from gpubench.doctor.protocol import emit_result, emit_stage
from gpubench.doctor.rules import decode_cuda_driver_version

# NVML return codes -> the status the checks read (codes from pynvml, see facts-cuda.md §6).
NVML_STATUS_BY_CODE = {
    12: "library-not-found",  # NVML_ERROR_LIBRARY_NOT_FOUND
    9: "driver-not-loaded",  # NVML_ERROR_DRIVER_NOT_LOADED
    18: "version-mismatch",  # NVML_ERROR_LIB_RM_VERSION_MISMATCH
    4: "no-permission",  # NVML_ERROR_NO_PERMISSION
}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _try(function: Any, *args: Any) -> Any:
    try:
        return function(*args)
    except Exception:
        return None


def _process_name(pid: int) -> str:
    try:
        import psutil

        return str(psutil.Process(pid).name())
    except Exception:
        return ""


def _processes(pynvml: Any, handle: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for kind, getter in (
        ("compute", "nvmlDeviceGetComputeRunningProcesses"),
        ("graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
    ):
        for item in _try(getattr(pynvml, getter), handle) or []:
            found.append(
                {
                    "pid": int(item.pid),
                    "name": _process_name(int(item.pid)),
                    "used_memory": item.usedGpuMemory,
                    "kind": kind,
                }
            )
    return found


def probe_gpu(pynvml: Any, index: int) -> dict[str, Any]:
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    gpu: dict[str, Any] = {"index": index, "name": _text(pynvml.nvmlDeviceGetName(handle))}
    gpu["uuid"] = _text(_try(pynvml.nvmlDeviceGetUUID, handle) or "")
    pci = _try(pynvml.nvmlDeviceGetPciInfo, handle)
    gpu["pci_bus_id"] = _text(pci.busId) if pci is not None else ""
    capability = _try(pynvml.nvmlDeviceGetCudaComputeCapability, handle)
    gpu["capability"] = f"{capability[0]}.{capability[1]}" if capability else ""
    memory = _try(pynvml.nvmlDeviceGetMemoryInfo, handle)
    if memory is not None:
        gpu.update(memory_total=memory.total, memory_used=memory.used, memory_free=memory.free)
    rates = _try(pynvml.nvmlDeviceGetUtilizationRates, handle)
    if rates is not None:
        gpu.update(utilization_gpu=rates.gpu, utilization_memory=rates.memory)
    gpu["processes"] = _processes(pynvml, handle)
    gpu["mig_uuids"] = _mig_uuids(pynvml, handle)
    return gpu


def _mig_uuids(pynvml: Any, handle: Any) -> list[str]:
    """UUIDs of the MIG instances of a GPU in MIG mode (CUDA_VISIBLE_DEVICES may name them)."""
    count = _try(pynvml.nvmlDeviceGetMaxMigDeviceCount, handle) or 0
    found = []
    for index in range(int(count)):
        mig = _try(pynvml.nvmlDeviceGetMigDeviceHandleByIndex, handle, index)
        uuid = _try(pynvml.nvmlDeviceGetUUID, mig) if mig is not None else None
        if uuid:
            found.append(_text(uuid))
    return found


def main() -> None:
    emit_stage("import")
    try:
        import pynvml
    except ImportError as error:
        emit_result({"status": "module-missing", "error": str(error)})
        return
    emit_stage("init")
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        code = getattr(error, "value", None)
        status = NVML_STATUS_BY_CODE.get(code, "error") if isinstance(code, int) else "error"
        emit_result({"status": status, "error_code": code, "error": str(error)})
        return
    try:
        emit_stage("query")
        result: dict[str, Any] = {"status": "ok"}
        result["driver_version"] = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = _try(pynvml.nvmlSystemGetCudaDriverVersion)
        if isinstance(cuda, int) and cuda > 0:
            result["cuda_driver_version"] = decode_cuda_driver_version(cuda)
        count = int(pynvml.nvmlDeviceGetCount())
        result["gpus"] = [probe_gpu(pynvml, index) for index in range(count)]
        emit_result(result)
    except pynvml.NVMLError as error:
        code = getattr(error, "value", None)
        emit_result({"status": "error", "error_code": code, "error": str(error)})
    finally:
        _try(pynvml.nvmlShutdown)


if __name__ == "__main__":
    main()
