"""Checks on what happens when work runs: smoke tests, busy GPUs, CPU threads."""

from __future__ import annotations

from gpubench.doctor.checks.common import human_bytes, torch_ok
from gpubench.doctor.facts import Facts, SmokeResult
from gpubench.doctor.findings import Finding, Severity, ok

BUSY_UTILIZATION = 10  # percent
BUSY_MEMORY_FRACTION = 0.10  # of the GPU's memory, beyond what an idle driver holds


def _smoke_summary(result: SmokeResult) -> str:
    names = {"matmul": "matmul 512²", "backward": "backward", "embedding-guard": "index guard"}
    parts = [names.get(step.name, step.name) for step in result.steps if step.ok]
    first = (
        f"; first result {result.first_result_seconds * 1000:.0f} ms"
        if result.first_result_seconds is not None
        else ""
    )
    memory = (
        f"; {human_bytes(result.memory_free)} of {human_bytes(result.memory_total)} free"
        if result.memory_total
        else ""
    )
    return f"{', '.join(parts)} ok{first}{memory}"


def check_smoke(facts: Facts) -> list[Finding]:
    """Each device must compute correct results, backpropagate, and raise on a bad index."""
    if not facts.smoke_requested:
        return [Finding("smoke", Severity.INFO, "skipped (--no-smoke)")]
    if not torch_ok(facts):
        return []
    findings = []
    for result in facts.smoke:
        code = f"smoke-{result.device.replace(':', '')}"
        evidence = {"device": result.device, "status": result.status}
        if result.status == "ok":
            findings.append(ok(code, _smoke_summary(result), **evidence))
            continue
        failed = [step for step in result.steps if not step.ok]
        if failed:
            detail = "\n".join(f"{step.name}: {step.detail}" for step in failed)
            title = f"{result.device}: {', '.join(step.name for step in failed)} failed"
        else:
            detail = result.error or result.status
            outcome = "hung" if result.status == "timeout" else "failed"
            title = f"{result.device}: the smoke test {outcome}"
        fix: tuple[str, ...] = ()
        if result.device.startswith("cuda"):
            fix = (
                "nvidia-smi  # errors, or a GPU in a bad state?",
                f"CUDA_LAUNCH_BLOCKING=1 python -m gpubench.doctor.smoke {result.device}",
            )
        findings.append(
            Finding(code, Severity.ERROR, title, detail=detail, fix=fix, evidence=evidence)
        )
    return findings


def check_gpu_busy(facts: Facts) -> list[Finding]:
    """Other work on a GPU skews every timing gpubench takes."""
    if facts.nvml.status != "ok" or not facts.nvml.gpus:
        return []
    busy = []
    for gpu in facts.nvml.gpus:
        reasons = []
        if gpu.processes:
            names = ", ".join(
                f"pid {proc.pid} {proc.name or '?'}"
                + (f" ({human_bytes(proc.used_memory)})" if proc.used_memory else "")
                for proc in gpu.processes
            )
            reasons.append(names)
        if gpu.utilization_gpu is not None and gpu.utilization_gpu >= BUSY_UTILIZATION:
            reasons.append(f"{gpu.utilization_gpu}% busy")
        if gpu.memory_total and gpu.memory_used > BUSY_MEMORY_FRACTION * gpu.memory_total:
            reasons.append(
                f"{human_bytes(gpu.memory_used)} of {human_bytes(gpu.memory_total)} used"
            )
        if reasons:
            busy.append(f"GPU {gpu.index} {gpu.name}: {'; '.join(reasons)}")
    if not busy:
        return [ok("gpu-busy", "no other processes on the GPU(s)")]
    return [
        Finding(
            "gpu-busy",
            Severity.WARN,
            "other work is using the GPU",
            detail="Benchmarks on a shared GPU measure the sharing too:\n" + "\n".join(busy),
            fix=(
                "nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv",
                "# wait for them, or pick an idle GPU: export CUDA_VISIBLE_DEVICES=<index>",
            ),
            evidence={"busy": busy},
        )
    ]


def check_cpu_threads(facts: Facts) -> list[Finding]:
    """torch's threads should match the cores this process may use; the clock should not wander."""
    threads = facts.torch.num_threads
    cpu = facts.cpu
    if not torch_ok(facts) or not threads:
        return []
    limits = [value for value in (cpu.physical_cores, cpu.usable_cores) if value]
    if cpu.cgroup_cpu_limit:
        limits.append(max(1, int(cpu.cgroup_cpu_limit)))
    cores = min(limits) if limits else None
    omp = facts.env.get("OMP_NUM_THREADS")
    notes = []
    severity = Severity.OK
    if cores and threads > cores:
        severity = Severity.WARN
        notes.append(
            f"torch uses {threads} threads but only {cores} cores are available to it"
            + (f" (container quota {cpu.cgroup_cpu_limit:g} CPUs)" if cpu.cgroup_cpu_limit else "")
            + ": threads fight over cores and CPU timings become slow and noisy."
        )
    elif cores and threads < cores:
        severity = Severity.INFO
        notes.append(f"torch uses {threads} of {cores} cores.")
    if omp:
        severity = max(severity, Severity.INFO, key=lambda item: item.rank)
        notes.append(f"OMP_NUM_THREADS={omp} sets torch's thread count.")
    if cpu.governor and cpu.governor != "performance":
        severity = max(severity, Severity.INFO, key=lambda item: item.rank)
        notes.append(
            f"CPU frequency governor is '{cpu.governor}': the clock varies, timings wander."
        )
    summary = f"torch uses {threads} threads on {cores or '?'} cores ({cpu.model or 'unknown CPU'})"
    if severity == Severity.OK:
        return [ok("cpu-threads", summary, threads=threads, cores=cores)]
    fix = []
    if cores and threads != cores:
        fix.append(f"export OMP_NUM_THREADS={cores}  # or: gpubench run --threads {cores}")
    if cpu.governor and cpu.governor != "performance":
        fix.append("sudo cpupower frequency-set -g performance  # for benchmarking only")
    return [
        Finding(
            "cpu-threads",
            severity,
            summary,
            detail=" ".join(notes),
            fix=tuple(fix),
            evidence={"threads": threads, "cores": cores, "governor": cpu.governor, "omp": omp},
        )
    ]
