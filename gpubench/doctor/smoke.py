"""Smoke test of one device, in its own process (``python -m gpubench.doctor.smoke cuda:0``).

Three small jobs that catch what ``is_available()`` does not: a matmul checked against a float64
CPU reference, a backward pass checked against the CPU's gradients, and an embedding lookup one
past the table's end that must raise (on a GPU it surfaces as a device-side assert, the error
nanoGPT users meet when ``generate`` runs past ``block_size``). The guard runs last because a
device-side assert poisons the CUDA context for the rest of the process.
"""

from __future__ import annotations

import contextlib
import sys
import time
from typing import Any

from gpubench.doctor.protocol import emit_result, emit_stage, traceback_tail
from gpubench.doctor.workers import Worker

MATMUL_SIZE = 512
RELATIVE_TOLERANCE = 1e-3  # float32 (or TF32) against a float64 reference


def _synchronize(torch: Any, device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    elif device == "mps":
        torch.mps.synchronize()


def _relative_error(torch: Any, value: Any, reference: Any) -> float:
    scale = float(reference.abs().max()) or 1.0
    return float((value.double() - reference.double()).abs().max()) / scale


def check_matmul(torch: Any, device: str) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    b = torch.randn(MATMUL_SIZE, MATMUL_SIZE, generator=generator)
    reference = a.double() @ b.double()
    started = time.perf_counter()
    result = (a.to(device) @ b.to(device)).cpu()
    seconds = time.perf_counter() - started
    error = _relative_error(torch, result, reference)
    return {
        "name": "matmul",
        "ok": error <= RELATIVE_TOLERANCE,
        "detail": f"{MATMUL_SIZE}x{MATMUL_SIZE} float32, max relative error {error:.1e} "
        f"against a float64 CPU reference",
        "seconds": seconds,
    }


def _tiny_model_gradients(torch: Any, device: str) -> list[Any]:
    """A bigram-like model (embedding + linear + cross-entropy); its gradients on ``device``."""
    torch.manual_seed(0)
    vocab, width = 65, 32
    embedding = torch.nn.Embedding(vocab, width)
    head = torch.nn.Linear(width, vocab)
    idx = torch.randint(0, vocab, (4, 8), generator=torch.Generator().manual_seed(1))
    targets = torch.randint(0, vocab, (4, 8), generator=torch.Generator().manual_seed(2))
    embedding, head = embedding.to(device), head.to(device)
    logits = head(embedding(idx.to(device)))
    loss = torch.nn.functional.cross_entropy(logits.view(-1, vocab), targets.to(device).view(-1))
    loss.backward()
    return [param.grad.detach().cpu() for param in (*embedding.parameters(), *head.parameters())]


def check_backward(torch: Any, device: str) -> dict[str, Any]:
    started = time.perf_counter()
    gradients = _tiny_model_gradients(torch, device)
    seconds = time.perf_counter() - started
    reference = _tiny_model_gradients(torch, "cpu") if device != "cpu" else gradients
    finite = all(bool(torch.isfinite(grad).all()) for grad in gradients)
    error = max(_relative_error(torch, g, r) for g, r in zip(gradients, reference, strict=True))
    return {
        "name": "backward",
        "ok": finite and error <= RELATIVE_TOLERANCE,
        "detail": f"embedding + linear + cross-entropy gradients, max relative error {error:.1e} "
        "against the CPU" + ("" if finite else "; non-finite gradients"),
        "seconds": seconds,
    }


def check_embedding_guard(torch: Any, device: str) -> dict[str, Any]:
    size = 8
    table = torch.nn.Embedding(size, 4).to(device)
    index = torch.tensor([size], device=device)  # one past the end, like pos_emb past block_size
    started = time.perf_counter()
    try:
        table(index)
        _synchronize(torch, device)
    except Exception as error:  # IndexError on CPU, a device-side assert on CUDA
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        return {
            "name": "embedding-guard",
            "ok": True,
            "detail": f"index {size} into an Embedding({size}, 4) raised as it must: {first_line}",
            "seconds": time.perf_counter() - started,
        }
    return {
        "name": "embedding-guard",
        "ok": False,
        "detail": f"index {size} into an Embedding({size}, 4) did not raise: out-of-range "
        "indices go unnoticed on this device",
        "seconds": time.perf_counter() - started,
    }


def _memory(torch: Any, device: str) -> tuple[int | None, int | None]:
    if device.startswith("cuda"):
        free, total = torch.cuda.mem_get_info(torch.device(device))
        return int(free), int(total)
    try:
        import psutil

        memory = psutil.virtual_memory()
        return int(memory.available), int(memory.total)
    except Exception:
        return None, None


def run_smoke(device: str) -> dict[str, Any]:
    """Run the steps on ``device`` in this process and return a SmokeResult-shaped dict."""
    emit_stage("import")
    import torch

    result: dict[str, Any] = {"device": device, "status": "ok", "steps": []}
    started = time.perf_counter()
    for name, step in (("matmul", check_matmul), ("backward", check_backward)):
        emit_stage(name)
        try:
            outcome = step(torch, device)
        except Exception as error:
            outcome = {"name": name, "ok": False, "detail": traceback_tail(error, limit=2)}
        result["steps"].append(outcome)
        if name == "matmul":  # the first result includes CUDA context creation on a GPU
            result["first_result_seconds"] = outcome.get("seconds")
    emit_stage("memory")
    with contextlib.suppress(Exception):  # memory figures are informative only
        result["memory_free"], result["memory_total"] = _memory(torch, device)
    emit_stage("embedding-guard")
    try:
        result["steps"].append(check_embedding_guard(torch, device))
    except Exception as error:
        detail = traceback_tail(error, limit=2)
        result["steps"].append({"name": "embedding-guard", "ok": False, "detail": detail})
    result["seconds"] = time.perf_counter() - started
    if not all(step["ok"] for step in result["steps"]):
        result["status"] = "failed"
    return result


def start_smoke(device: str, *, timeout: float) -> Worker:
    """Start the smoke test of ``device`` in a worker process (collect it later)."""
    return Worker("gpubench.doctor.smoke", (device,), timeout=timeout)


def main() -> None:
    device = sys.argv[1] if len(sys.argv) > 1 else "cpu"
    emit_result(run_smoke(device))


if __name__ == "__main__":
    main()
