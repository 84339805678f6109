"""Worker: import torch and report its build and CUDA facts.

Run as ``python -m gpubench.doctor.torch_probe``.

Runs in its own process because importing torch can fail or crash and CUDA initialisation can
hang; the doctor's own process never imports torch. Prints one result line (see protocol.py).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

from gpubench.doctor.protocol import emit_result, emit_stage, traceback_tail


def _call(function: Any, default: Any = None) -> Any:
    """Call a torch function that may be missing or raise in some builds."""
    try:
        return function()
    except Exception:
        return default


def probe_build(torch: Any) -> dict[str, Any]:
    """Build facts that do not touch a GPU."""
    version = getattr(torch, "version", None)
    cudnn_compile = None
    cudnn_module = getattr(torch._C, "_cudnn", None)
    if cudnn_module is not None:
        compiled = _call(cudnn_module.getCompileVersion)
        if compiled:
            major, minor, patch = compiled
            # the same encoding as cudnn.version(): 9.x -> 90800, 8.x -> 8902
            scale = 10000 if major >= 9 else 1000
            cudnn_compile = major * scale + minor * 100 + patch
    mps = getattr(torch.backends, "mps", None)
    return {
        "version": str(torch.__version__),
        "file": getattr(torch, "__file__", None),
        "cuda": getattr(version, "cuda", None),
        "hip": getattr(version, "hip", None),
        "debug": bool(getattr(version, "debug", False)),
        "cudnn_version": _call(torch.backends.cudnn.version),
        "cudnn_compile_version": cudnn_compile,
        "cudnn_available": _call(torch.backends.cudnn.is_available),
        "arch_list": _call(torch.cuda.get_arch_list, []) or [],
        "mps_built": bool(mps and _call(mps.is_built, False)),
        "mps_available": bool(mps and _call(mps.is_available, False)),
        "num_threads": _call(torch.get_num_threads),
        "num_interop_threads": _call(torch.get_num_interop_threads),
    }


def probe_cuda(torch: Any) -> dict[str, Any]:
    """CUDA availability with torch's own warning text, then the devices it sees."""
    facts: dict[str, Any] = {"cuda_warnings": [], "devices": [], "device_count": 0}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            facts["cuda_available"] = bool(torch.cuda.is_available())
        except Exception as error:  # some broken installs raise instead of returning False
            facts["cuda_available"] = False
            facts["cuda_error"] = traceback_tail(error, limit=2)
        emit_stage("devices")
        if facts["cuda_available"]:
            try:
                facts["device_count"] = int(torch.cuda.device_count())
                for index in range(facts["device_count"]):
                    props = torch.cuda.get_device_properties(index)
                    facts["devices"].append(
                        {
                            "index": index,
                            "name": str(props.name),
                            "capability": f"{props.major}.{props.minor}",
                            "total_memory": int(props.total_memory),
                            "multi_processor_count": int(props.multi_processor_count),
                        }
                    )
            except Exception as error:
                facts["cuda_error"] = traceback_tail(error, limit=2)
    facts["cuda_warnings"] = [str(item.message) for item in caught]
    return facts


def main() -> None:
    started = time.perf_counter()
    emit_stage("import")
    try:
        import torch
    except ModuleNotFoundError as error:
        if error.name == "torch":
            emit_result({"status": "missing", "stage": "import", "error": str(error)})
            return
        emit_result(_import_failure(error))
        return
    except BaseException as error:  # a broken install raises anything: OSError, ImportError...
        emit_result(_import_failure(error))
        return
    result: dict[str, Any] = {"status": "ok", "import_seconds": time.perf_counter() - started}
    emit_stage("build")
    result.update(probe_build(torch))
    # a partial result first: if CUDA initialisation hangs or crashes, the build facts survive
    emit_result({**result, "stage": "cuda", "partial": True})
    emit_stage("cuda")
    result.update(probe_cuda(torch))
    result["stage"] = "done"
    result["probe_seconds"] = time.perf_counter() - started
    emit_result(result)


def _import_failure(error: BaseException) -> dict[str, Any]:
    return {
        "status": "import-failed",
        "stage": "import",
        "error": traceback_tail(error),
        "error_type": type(error).__name__,
    }


if __name__ == "__main__":
    main()
